"""Action: the only way anything reaches GitHub.

Functions return a plan, a list of typed actions; `execute` applies it. Every action is
idempotent: comments and reviews carry a hidden marker and are found and edited, not
posted again; labels are only ever chosen from the repository's existing set;
reactions are unique per user on GitHub's side. There is no action that approves,
requests changes, merges, closes or pushes, so nothing a model writes can do those.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

log = logging.getLogger("petrel.actions")

REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})
MAX_COMMENT_CHARS = 65536  # GitHub refuses longer bodies


def marker(key: str) -> str:
    """The hidden HTML comment that identifies one of Petrel's comments."""
    return f"<!-- petrel:{key} -->"


def has_marker(body: str | None) -> bool:
    """True for text Petrel wrote (so Petrel never answers itself)."""
    return bool(body) and "<!-- petrel:" in body


TRUNCATED = "\n\n_(truncated by Petrel)_"


def safe_text(text: str) -> str:
    """What Petrel posts, made harmless whatever the model or the content wrote in it: first
    every secret is redacted (the settings' values and anything shaped like a credential), then,
    outside code, no @-mention pings anyone and no image or link points to a host other than
    GitHub's (shared/harmless.py; checked by rendering with GitHub's own Markdown parser)."""
    from shared import harmless, log, settings

    config = settings.current()  # loaded before redacting: its secret values are redacted too
    return harmless.make_harmless(log.redact(text), config.github_host)


def _marked(key: str, body: str) -> str:
    room = MAX_COMMENT_CHARS - len(marker(key)) - 1
    text = safe_text(body)
    cut = room - len(TRUNCATED)
    while len(text) > room:
        # cut, then make harmless again: a cut can leave a code span open, and what it held is text now
        text = safe_text(text[:cut] + TRUNCATED)
        cut = max(cut - max(len(text) - room, 0) - 64, 0)
    return f"{marker(key)}\n{text}"


@dataclass(frozen=True)
class UpsertComment:
    """Create the issue/PR comment carrying `key`'s marker, or edit it if the body changed."""

    repository: str
    issue_number: int
    key: str
    body: str

    def describe(self) -> str:
        return f"upsert comment [{self.key}] on {self.repository}#{self.issue_number}: {self.body[:80]!r}"


@dataclass(frozen=True)
class React:
    """Add a reaction to an issue comment or a pull request review comment."""

    repository: str
    comment_id: int
    content: str
    review_comment: bool = False

    def __post_init__(self):
        if self.content not in REACTIONS:
            raise ValueError(f"unknown reaction {self.content!r}")

    def describe(self) -> str:
        kind = "review comment" if self.review_comment else "comment"
        return f"react {self.content} on {kind} {self.comment_id} in {self.repository}"


@dataclass(frozen=True)
class AddLabels:
    """Add labels that already exist in the repository; others are dropped, never created."""

    repository: str
    issue_number: int
    labels: tuple[str, ...]

    def describe(self) -> str:
        return f"add labels {', '.join(self.labels)} to {self.repository}#{self.issue_number}"


@dataclass(frozen=True)
class ReviewComment:
    path: str
    line: int
    body: str
    side: str = "RIGHT"


@dataclass(frozen=True)
class PostReview:
    """Post a review with event COMMENT (never APPROVE or REQUEST_CHANGES), once per key."""

    repository: str
    pull_number: int
    commit_sha: str
    key: str
    body: str
    comments: tuple[ReviewComment, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        return (f"post review [{self.key}] on {self.repository}#{self.pull_number} at {self.commit_sha[:7]} "
                f"with {len(self.comments)} inline comments")


@dataclass(frozen=True)
class UpdateDescription:
    """Write a marked section into a pull request's description, leaving the author's text alone."""

    repository: str
    pull_number: int
    key: str
    text: str

    def describe(self) -> str:
        return f"update the [{self.key}] section of {self.repository}#{self.pull_number}'s description"


@dataclass(frozen=True)
class ReplyInThread:
    """Answer in a pull request review thread, once per key (a redelivery finds its reply)."""

    repository: str
    pull_number: int
    comment_id: int  # the review comment being answered
    key: str
    body: str

    def describe(self) -> str:
        return f"reply [{self.key}] in the review thread of comment {self.comment_id} on {self.repository}#{self.pull_number}"


Action = Union[UpsertComment, React, AddLabels, PostReview, UpdateDescription, ReplyInThread]


def execute(plan: Iterable[Action], client, before_write: Callable[[], None] = lambda: None) -> list[str]:
    """Apply a plan with a PyGithub client; return one outcome line per action.

    `before_write` is called before each write (it spaces writes per installation).
    """
    outcomes = []
    for action in plan:
        apply = _APPLY[type(action)]
        outcome = apply(action, client, before_write)
        log.info("%s: %s", action.describe(), outcome)
        outcomes.append(outcome)
    return outcomes


def dry_run(plan: Iterable[Action]) -> list[str]:
    """Log the plan instead of applying it."""
    outcomes = []
    for action in plan:
        log.info("dry-run, not sent: %s", action.describe())
        outcomes.append("dry-run")
    return outcomes


def _upsert_comment(action: UpsertComment, client, before_write) -> str:
    issue = client.get_repo(action.repository, lazy=True).get_issue(action.issue_number)
    body = _marked(action.key, action.body)
    for comment in issue.get_comments():
        if (comment.body or "").startswith(marker(action.key)):
            if comment.body == body:
                return f"unchanged comment {comment.id}"
            before_write()
            comment.edit(body)
            return f"edited comment {comment.id}"
    before_write()
    created = issue.create_comment(body)
    return f"created comment {created.id}"


def _react(action: React, client, before_write) -> str:
    from github import GithubException

    kind = "pulls/comments" if action.review_comment else "issues/comments"
    before_write()
    # one POST, no read first: GitHub answers 200 with the existing reaction on a repeat
    try:
        headers, data = client.requester.requestJsonAndCheck(
            "POST", f"/repos/{action.repository}/{kind}/{action.comment_id}/reactions", input={"content": action.content}
        )
    except GithubException as error:
        if error.status in (404, 410):  # the comment is gone: nothing to react to, the rest goes on
            return "comment no longer exists: no reaction"
        raise
    return f"reaction {data.get('id')}"


def _add_labels(action: AddLabels, client, before_write) -> str:
    repo = client.get_repo(action.repository, lazy=True)
    existing = {label.name.lower(): label.name for label in repo.get_labels()}
    chosen = [existing[name.lower()] for name in action.labels if name.lower() in existing]
    dropped = [name for name in action.labels if name.lower() not in existing]
    if dropped:
        log.warning("labels not in %s, not added: %s", action.repository, ", ".join(dropped))
    if not chosen:
        return "no existing label to add"
    before_write()
    client.requester.requestJsonAndCheck(
        "POST", f"/repos/{action.repository}/issues/{action.issue_number}/labels", input={"labels": chosen}
    )
    return f"labels {', '.join(chosen)}"


def _post_review(action: PostReview, client, before_write) -> str:
    from github import GithubException
    from github.PaginatedList import PaginatedList
    from github.PullRequestReview import PullRequestReview

    path = f"/repos/{action.repository}/pulls/{action.pull_number}/reviews"
    for review in PaginatedList(PullRequestReview, client.requester, path, None):
        if (review.body or "").startswith(marker(action.key)):
            return f"review {review.id} already posted"
    comments = [{"path": c.path, "line": c.line, "side": c.side, "body": safe_text(c.body)} for c in action.comments]
    body = action.body
    try:
        before_write()
        _, data = client.requester.requestJsonAndCheck(
            "POST", path, input={"commit_id": action.commit_sha, "body": _marked(action.key, body),
                                 "event": "COMMENT", "comments": comments})
        return f"posted review {data.get('id')} with {len(comments)} inline comments"
    except GithubException as error:
        if error.status != 422 or not comments:
            raise
        # GitHub refused an inline comment (the diff moved since it was read): the review is
        # not lost; its comments go into the body, and the body says so.
        log.warning("GitHub refused the review's inline comments (%s): posting them in the body", error.data)
        moved = "\n".join(f"- `{c.path}` line {c.line}: {_first_line(c.body)}" for c in action.comments)
        body += (f"\n\n**GitHub refused these as inline comments, so they are here instead**\n{moved}")
        before_write()
        _, data = client.requester.requestJsonAndCheck(
            "POST", path, input={"commit_id": action.commit_sha, "body": _marked(action.key, body),
                                 "event": "COMMENT", "comments": []})
        return f"posted review {data.get('id')}; {len(comments)} inline comments moved to its body after a 422"


def _first_line(text: str) -> str:
    return text.split("\n\n<!-- petrel:")[0].replace("\n", " ")[:500]


def _update_description(action: UpdateDescription, client, before_write) -> str:
    path = f"/repos/{action.repository}/pulls/{action.pull_number}"
    _, pull = client.requester.requestJsonAndCheck("GET", path)
    start, end = marker(action.key), marker(f"/{action.key}")
    current = pull.get("body") or ""
    section = f"{start}\n{safe_text(action.text.strip())}\n{end}"
    if start in current and end in current:
        updated = current[: current.index(start)] + section + current[current.index(end) + len(end):]
    else:
        updated = f"{current.rstrip()}\n\n{section}" if current.strip() else section
    if updated == current:
        return "description unchanged"
    before_write()
    client.requester.requestJsonAndCheck("PATCH", path, input={"body": updated})
    return "description updated"


def _reply_in_thread(action: ReplyInThread, client, before_write) -> str:
    from github.PaginatedList import PaginatedList
    from github.PullRequestComment import PullRequestComment

    path = f"/repos/{action.repository}/pulls/{action.pull_number}/comments"
    for comment in PaginatedList(PullRequestComment, client.requester, path, None):
        if (comment.body or "").startswith(marker(action.key)):
            return f"reply {comment.id} already posted"
    before_write()
    _, data = client.requester.requestJsonAndCheck(
        "POST", f"{path}/{action.comment_id}/replies", input={"body": _marked(action.key, action.body)})
    return f"replied {data.get('id')}"


_APPLY = {UpsertComment: _upsert_comment, React: _react, AddLabels: _add_labels, PostReview: _post_review,
          UpdateDescription: _update_description, ReplyInThread: _reply_in_thread}
