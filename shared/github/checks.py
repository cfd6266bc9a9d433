"""The check run "Petrel review" on a pull request's head commit, or a commit status in its stead.

Apart from the other actions (shared/github/actions.py, whose executor applies these) because a
check has its own way to be refused: only a GitHub App may write check runs, so with a single
token, or an App installed without `checks: write`, GitHub answers 403. Then a commit status of the
same name stands in for it (pending, then success or failure); when that is refused too, nothing
is set. Either refusal is said once per process in the log, not at every review, and never stops
the review.

Idempotent like every action. The run Petrel creates carries the action's key as its
`external_id`, and its id is remembered in the process, so the completion updates that very run.
Another process (a redelivery, a retried job) finds it by its name, by the App that wrote it
(whose bot `<slug>[bot]` is Petrel's login) and by that `external_id`: the name and the App are
not enough, since in a GitHub Action Petrel's login is `github-actions[bot]`, the App of every
workflow job, and a job may be called "Petrel review" too. A run without Petrel's key is never
touched. Commit statuses need no lookup: GitHub keeps the latest of each context.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from shared.github.identity import same_login

log = logging.getLogger("petrel.checks")

CHECK_NAME = "Petrel review"
CONCLUSIONS = frozenset({"neutral", "failure", "success"})
STATUS_DESCRIPTION_CHARS = 140  # GitHub refuses a longer commit status description
SUMMARY_CHARS = 65_535  # GitHub refuses a longer check run summary
CHECKS_REFUSED = (
    "GitHub refused the check run {name!r} ({status}: {message}): only a GitHub App may write check runs, "
    "and it needs the `checks: write` permission (accept it on the App's installation page). Petrel sets a "
    "commit status instead, and says this once"
)
STATUS_REFUSED = (
    "GitHub refused the commit status {name!r} too ({status}: {message}): reviews go on without a check "
    "(give the token permission to write commit statuses, or run Petrel as a GitHub App with `checks: write`). "
    "Petrel says this once"
)

_told: set[str] = set()  # the refusals already said in this process's log
_told_lock = threading.Lock()
_created: dict[tuple[str, str, str, str], int] = {}  # (repository, head sha, name, key) -> the run Petrel created
_created_lock = threading.Lock()
REMEMBERED_RUNS = 1024


@dataclass(frozen=True)
class SetCheck:
    """Set the check run `name` on a pull request's head commit: `in_progress`, or `completed` with
    a conclusion (neutral, failure or success) and an output (a title and a Markdown summary)."""

    repository: str
    pull_number: int
    head_sha: str
    key: str  # the artefact's lock (shared/runtime/locks.py): one writer of this check at a time
    status: str
    conclusion: str | None = None
    title: str = ""
    summary: str = ""
    name: str = CHECK_NAME

    def __post_init__(self):
        if self.status not in ("in_progress", "completed"):
            raise ValueError(f"unknown check run status {self.status!r}")
        if (self.status == "completed") != (self.conclusion in CONCLUSIONS):
            raise ValueError(f"a completed check run needs one of {sorted(CONCLUSIONS)}, and only it")

    def describe(self) -> str:
        """One line saying what this action does, for logs and dry runs."""
        state = f"{self.status} ({self.conclusion})" if self.conclusion else self.status
        return f"check run {self.name!r} on {self.repository}@{self.head_sha[:7]}: {state}: {self.title}"


def tell_once(reason: str, message: str) -> None:
    """Log `message` as a warning the first time `reason` comes up in this process; later, only at debug."""
    with _told_lock:
        first = reason not in _told
        _told.add(reason)
    log.log(logging.WARNING if first else logging.DEBUG, message)


def set_check(action: SetCheck, client, before_write, *, me: str) -> str:
    """Apply a SetCheck: Petrel's check run, else a commit status, else nothing (each refusal said once)."""
    from github import GithubException

    from shared.github.actions import safe_text  # everything Petrel posts is made harmless there

    action = replace(action, title=safe_text(action.title), summary=harmless_summary(action.summary, safe_text))
    try:
        return _check_run(action, client, before_write, me)
    except GithubException as error:
        if error.status != 403:
            raise
        tell_once("checks", CHECKS_REFUSED.format(name=action.name, status=error.status, message=_message(error)))
    try:
        return _commit_status(action, client, before_write)
    except GithubException as error:
        if error.status not in (403, 404):  # 404: a token that may read the repository but not write to it
            raise
        tell_once("statuses", STATUS_REFUSED.format(name=action.name, status=error.status, message=_message(error)))
        return "no check run and no commit status: GitHub refused both"


def harmless_summary(summary: str, safe_text) -> str:
    """The summary made harmless (`safe_text`) within SUMMARY_CHARS: cut first, then made harmless
    again, since a cut can leave a code span open and what it held is text then."""
    text = safe_text(summary)
    cut = SUMMARY_CHARS
    while len(text) > SUMMARY_CHARS:
        text = safe_text(summary[:cut])
        cut = max(cut - max(len(text) - SUMMARY_CHARS, 0) - 64, 0)
    return text


def _check_run(action: SetCheck, client, before_write, me: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict = {"status": action.status, "output": {"title": action.title, "summary": action.summary}}
    if action.conclusion:
        body.update(conclusion=action.conclusion, completed_at=now)
    remembered = (action.repository, action.head_sha, action.name, action.key)
    with _created_lock:
        run_id = _created.pop(remembered, None)
    if run_id is not None and action.status == "completed" and _update(action, client, run_id, body, before_write):
        return f"updated check run {run_id}: {action.status}"
    # not created here (or gone), or a new review (a completed run stays the record of the one before)
    run_id = _find(action, client, me)
    if run_id is not None and _update(action, client, run_id, body, before_write):
        return f"updated check run {run_id}: {action.status}"
    body.update(name=action.name, head_sha=action.head_sha, started_at=now, external_id=action.key)
    before_write()
    _, created = client.requester.requestJsonAndCheck("POST", f"/repos/{action.repository}/check-runs", input=body)
    if created.get("id"):
        _remember(remembered, int(created["id"]))
    return f"created check run {created.get('id')}: {action.status}"


def _update(action: SetCheck, client, run_id: int, body: dict, before_write) -> bool:
    """PATCH the run and remember it; False when it is not there (404)."""
    from github import GithubException

    before_write()
    try:
        client.requester.requestJsonAndCheck("PATCH", f"/repos/{action.repository}/check-runs/{run_id}", input=body)
    except GithubException as error:
        if error.status != 404:
            raise
        return False
    _remember((action.repository, action.head_sha, action.name, action.key), run_id)
    return True


def _find(action: SetCheck, client, me: str) -> int | None:
    """The newest run Petrel made for this action on the commit (not yet completed, for a new
    review), or None: found by name, App and Petrel's key (`external_id`)."""
    _, found = client.requester.requestJsonAndCheck(
        "GET",
        f"/repos/{action.repository}/commits/{action.head_sha}/check-runs",
        parameters={"check_name": action.name, "filter": "all", "per_page": 100},
    )
    mine = [run for run in (found or {}).get("check_runs") or [] if _petrels(run, action, me)]
    if action.status == "in_progress":
        mine = [run for run in mine if run.get("status") != "completed"]
    return max(run["id"] for run in mine) if mine else None


def _remember(key: tuple[str, str, str, str], run_id: int) -> None:
    with _created_lock:
        _created[key] = run_id
        while len(_created) > REMEMBERED_RUNS:
            _created.pop(next(iter(_created)))


def _petrels(run: dict, action: SetCheck, me: str) -> bool:
    """The run is named as the action's, carries its key as `external_id` (a workflow job of the
    same name does not), and was written by Petrel's App (its bot is Petrel's login)."""
    app = run.get("app") or {}
    return (
        run.get("name") == action.name
        and run.get("external_id") == action.key
        and bool(app.get("slug"))
        and same_login(f"{app['slug']}[bot]", me)
    )


def _commit_status(action: SetCheck, client, before_write) -> str:
    state = "pending" if action.status == "in_progress" else "failure" if action.conclusion == "failure" else "success"
    before_write()
    client.requester.requestJsonAndCheck(
        "POST",
        f"/repos/{action.repository}/statuses/{action.head_sha}",
        input={"state": state, "context": action.name, "description": action.title[:STATUS_DESCRIPTION_CHARS]},
    )
    return f"commit status {state} (no check run: GitHub refused it)"


def _message(error) -> str:
    data = error.data if isinstance(error.data, dict) else {}
    return str(data.get("message") or error.data or "")[:200]
