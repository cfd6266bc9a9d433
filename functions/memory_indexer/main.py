"""Keep each repository's long-term memory current.

- installation created, repositories added: backfill each repository (its docs and code on
  the default branch, its most recent issues and pull requests);
- push to the default branch: re-index the files whose blob sha changed, drop removed ones;
- issues opened, edited, closed: keep that issue's thread current;
- installation deleted, repositories removed: delete their memory;
- a review thread Petrel started is resolved: store it as feedback (shared/memory/feedback.py), when
  the thread's first comment is by Petrel's own login and the person who resolved it has
  write permission or more (shared/github/identity.py); any other resolution steers nothing.
"""

import logging

import functions_framework

from shared.context import Context
from shared.github import markers
from shared.memory.feedback import Feedback
from shared.memory.indexing import RepositoryIndexer

SUBSCRIBES = (
    "installation.created",
    "installation.deleted",
    "installation_repositories.added",
    "installation_repositories.removed",
    "push",
    "issues.opened",
    "issues.edited",
    "issues.closed",
    "pull_request_review_thread.resolved",
)

log = logging.getLogger("petrel.memory_indexer")


def indexer(ctx: Context, repository: str) -> RepositoryIndexer | None:
    """The indexer of `repository` (with its config), or None without GitHub credentials."""
    if ctx.github is None:
        log.info("no GitHub credentials: cannot read %s to index it", repository)
        return None
    config = ctx.config(repository).config
    return RepositoryIndexer(ctx.github, ctx.memory(), repository, ctx.delivery.installation_id, config, me=ctx.me())


def record_resolution(ctx: Context) -> None:
    """A resolved thread that Petrel started: feedback. No code change since the comment means
    the finding was dismissed (negative); a change means it was acted on (positive)."""
    delivery = ctx.delivery
    payload = delivery.payload
    comments = (payload.get("thread") or {}).get("comments") or []
    me = ctx.me()
    if me is None:
        log.info("no GitHub credentials: cannot tell whose thread was resolved, no feedback recorded")
        return
    if not comments or not markers.written_by_petrel(
        (comments[0].get("user") or {}).get("login"), comments[0].get("body"), me
    ):
        return
    first = comments[0]
    resolver = (payload.get("sender") or {}).get("login")
    if not ctx.may_steer(resolver):
        log.info(
            "review thread of comment %s resolved by %s, who may not steer Petrel: no feedback", first["id"], resolver
        )
        return
    head = ((payload.get("pull_request") or {}).get("head") or {}).get("sha")
    verdict = "negative" if first.get("commit_id") == head else "positive"
    Feedback(ctx.memory(), delivery.repository, delivery.installation_id).record(
        int(first["id"]), verdict, first.get("body") or "", first.get("path")
    )
    log.info("review thread of comment %s resolved: %s feedback", first["id"], verdict)


def index(ctx: Context) -> None:
    """Update long-term memory for the delivery (the `memory_indexer` function's entry point)."""
    delivery = ctx.delivery
    payload = delivery.payload
    if delivery.event == "installation" and delivery.action == "deleted":
        removed = ctx.memory().delete_installation(delivery.installation_id)
        log.info("installation %s deleted: %d rows of memory removed", delivery.installation_id, removed)
    elif delivery.event == "installation_repositories" and delivery.action == "removed":
        for repo in payload.get("repositories_removed") or []:
            log.info(
                "%s removed: %d rows of memory removed",
                repo["full_name"],
                ctx.memory().delete_repository(repo["full_name"]),
            )
    elif delivery.event in ("installation", "installation_repositories"):
        for repo in payload.get("repositories") or payload.get("repositories_added") or []:
            work = indexer(ctx, repo["full_name"])
            if work is not None:
                work.files()
                work.issues()
    elif delivery.event == "push":
        repository = payload.get("repository") or {}
        if payload.get("ref") != f"refs/heads/{repository.get('default_branch')}" or payload.get("deleted"):
            log.info("push to %s, not the default branch: memory unchanged", payload.get("ref"))
            return
        work = indexer(ctx, delivery.repository)
        if work is not None:
            work.files()
    elif delivery.event == "pull_request_review_thread":
        record_resolution(ctx)
    elif delivery.event == "issues":
        work = indexer(ctx, delivery.repository)
        if work is not None:
            work.thread(int(payload["issue"]["number"]), payload["issue"])


ENTRY = index


@functions_framework.cloud_event
def handle(event):
    """Update long-term memory for one subscribed GitHub event."""
    with Context.of(event).scope() as ctx:
        ENTRY(ctx)
