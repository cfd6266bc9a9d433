"""Action: the only way anything reaches GitHub.

Functions return a plan, a list of typed actions; `execute` applies it. Every action is
idempotent: comments and reviews carry a hidden marker and are found and edited, not
posted again (found by marker and author: one written by anyone else is never edited, and
does not stand in for Petrel's, however well it copies the marker); labels are only ever chosen from the repository's existing set;
reactions are unique per user on GitHub's side. There is no action that approves,
requests changes, merges, closes or pushes, so nothing a model writes can do those.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shared.github import markers
from shared.github.checks import SetCheck, set_check
from shared.github.identity import same_login, token_login

log = logging.getLogger("petrel.actions")

REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})
MAX_COMMENT_CHARS = 65536  # GitHub refuses longer bodies


def _login(item) -> str | None:
    """The author's login of a PyGithub comment or review (None for a deleted account)."""
    user = getattr(item, "user", None)
    return getattr(user, "login", None) if user is not None else None


def _mine(item, key: str, me: str) -> bool:
    """`item` is Petrel's comment or review for `key`; one by anyone else that copies the marker is not."""
    if not (item.body or "").startswith(markers.make(key)):
        return False
    if same_login(_login(item), me):
        return True
    log.warning(
        "%s %s by %s carries Petrel's marker [%s] but is not Petrel's: ignored",
        type(item).__name__,
        item.id,
        _login(item),
        key,
    )
    return False


TRUNCATED = "\n\n_(truncated by Petrel)_"


def safe_text(text: str) -> str:
    """What Petrel posts, made harmless whatever the model or the content wrote in it: first
    every secret is redacted (the settings' values and anything shaped like a credential), then,
    outside code, no @-mention pings anyone and no image or link points to a host other than
    GitHub's (shared/github/harmless.py; checked by rendering with GitHub's own Markdown parser)."""
    from shared.github import harmless
    from shared.runtime import log, settings

    config = settings.current()  # loaded before redacting: its secret values are redacted too
    return harmless.make_harmless(log.redact(text), config.github_host)


def _marked(key: str, body: str) -> str:
    room = MAX_COMMENT_CHARS - len(markers.make(key)) - 1
    # the body is often the model's, which reads the pull request: only Petrel's own marker is kept
    text = safe_text(markers.strip(body))
    cut = room - len(TRUNCATED)
    while len(text) > room:
        # cut, then make harmless again: a cut can leave a code span open, and what it held is text now
        text = safe_text(text[:cut] + TRUNCATED)
        cut = max(cut - max(len(text) - room, 0) - 64, 0)
    return f"{markers.make(key)}\n{text}"


@dataclass(frozen=True)
class UpsertComment:
    """Create the issue/PR comment carrying `key`'s marker, or edit it if the body changed."""

    repository: str
    issue_number: int
    key: str
    body: str

    def describe(self) -> str:
        """One line saying what this action does, for logs and dry runs."""
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
        """One line saying what this action does, for logs and dry runs."""
        kind = "review comment" if self.review_comment else "comment"
        return f"react {self.content} on {kind} {self.comment_id} in {self.repository}"


@dataclass(frozen=True)
class AddLabels:
    """Add labels that already exist in the repository; others are dropped, never created."""

    repository: str
    issue_number: int
    labels: tuple[str, ...]

    def describe(self) -> str:
        """One line saying what this action does, for logs and dry runs."""
        return f"add labels {', '.join(self.labels)} to {self.repository}#{self.issue_number}"


@dataclass(frozen=True)
class ReviewComment:
    """One inline comment of a review: a line of a file, on the new (RIGHT) or old (LEFT) side."""

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
        """One line saying what this action does, for logs and dry runs."""
        return (
            f"post review [{self.key}] on {self.repository}#{self.pull_number} at {self.commit_sha[:7]} "
            f"with {len(self.comments)} inline comments"
        )


@dataclass(frozen=True)
class UpdateDescription:
    """Write a marked section into a pull request's description, leaving the author's text alone."""

    repository: str
    pull_number: int
    key: str
    text: str

    def describe(self) -> str:
        """One line saying what this action does, for logs and dry runs."""
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
        """One line saying what this action does, for logs and dry runs."""
        return f"reply [{self.key}] in the review thread of comment {self.comment_id} on {self.repository}#{self.pull_number}"


Action = UpsertComment | React | AddLabels | PostReview | UpdateDescription | ReplyInThread | SetCheck


def execute(
    plan: Iterable[Action], client, before_write: Callable[[], None] = lambda: None, me: str | None = None
) -> list[str]:
    """Apply a plan with a PyGithub client; return one outcome line per action.

    `before_write` is called before each write (it spaces writes per installation). `me` is
    Petrel's own login: only comments and reviews written by it are found and edited, never
    another's that carries the same marker. Without it, GitHub is asked whose the client's
    token is.
    """
    outcomes = []
    for action in plan:
        apply = _APPLY[type(action)]
        if type(action) in _BY_AUTHOR:
            me = me or token_login(client)
            outcome = apply(action, client, before_write, me=me)
        else:
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


def _upsert_comment(action: UpsertComment, client, before_write, *, me: str) -> str:
    issue = client.get_repo(action.repository, lazy=True).get_issue(action.issue_number)
    body = _marked(action.key, action.body)
    for comment in issue.get_comments():
        if _mine(comment, action.key, me):
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
            "POST",
            f"/repos/{action.repository}/{kind}/{action.comment_id}/reactions",
            input={"content": action.content},
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


def _post_review(action: PostReview, client, before_write, *, me: str) -> str:
    from github import GithubException
    from github.PaginatedList import PaginatedList
    from github.PullRequestReview import PullRequestReview

    path = f"/repos/{action.repository}/pulls/{action.pull_number}/reviews"
    for review in PaginatedList(PullRequestReview, client.requester, path, None):
        if _mine(review, action.key, me):
            return f"review {review.id} already posted"
    comments = [{"path": c.path, "line": c.line, "side": c.side, "body": safe_text(c.body)} for c in action.comments]
    body = action.body
    try:
        before_write()
        _, data = client.requester.requestJsonAndCheck(
            "POST",
            path,
            input={
                "commit_id": action.commit_sha,
                "body": _marked(action.key, body),
                "event": "COMMENT",
                "comments": comments,
            },
        )
        return f"posted review {data.get('id')} with {len(comments)} inline comments"
    except GithubException as error:
        if error.status != 422 or not comments:
            raise
        # GitHub refused an inline comment (the diff moved since it was read): the review is
        # not lost; its comments go into the body, and the body says so.
        log.warning("GitHub refused the review's inline comments (%s): posting them in the body", error.data)
        moved = "\n".join(f"- `{c.path}` line {c.line}: {_first_line(c.body)}" for c in action.comments)
        body += f"\n\n**GitHub refused these as inline comments, so they are here instead**\n{moved}"
        before_write()
        _, data = client.requester.requestJsonAndCheck(
            "POST",
            path,
            input={
                "commit_id": action.commit_sha,
                "body": _marked(action.key, body),
                "event": "COMMENT",
                "comments": [],
            },
        )
        return f"posted review {data.get('id')}; {len(comments)} inline comments moved to its body after a 422"


def _first_line(text: str) -> str:
    return markers.before(text).replace("\n", " ")[:500]


def description_with_section(current: str, key: str, text: str) -> str:
    """The description `current` with Petrel's section for `key` holding `text`.

    The author writes the description, so its markers may be anywhere, repeated or unpaired.
    Petrel's section is a start marker followed by an end marker with no other marker of
    `key` between them; only text inside such a pair is Petrel's. The first pair is
    replaced, later pairs are removed (so there is one section), and everything outside
    the pairs, unpaired markers included, is kept as the author wrote it. With no pair the
    section is added at the end. Markers in `text` are dropped, so the section read back is
    the one written and a second run changes nothing.
    """
    start, end = markers.make(key), markers.closing(key)
    text = markers.strip(text).strip()
    section = f"{start}\n{text}\n{end}"
    tokens = sorted(
        [(m.start(), start) for m in re.finditer(re.escape(start), current)]
        + [(m.start(), end) for m in re.finditer(re.escape(end), current)]
    )
    pairs = [
        (at, following + len(end))
        for (at, kind), (following, next_kind) in zip(tokens, tokens[1:])
        if kind == start and next_kind == end
    ]
    if not pairs:
        return f"{current.rstrip()}\n\n{section}" if current.strip() else section
    (first, last), *others = pairs
    parts, kept_from = [current[:first], section], last
    for at, until in others:
        parts.append(current[kept_from:at])
        kept_from = until
    parts.append(current[kept_from:])
    return "".join(parts)


def _update_description(action: UpdateDescription, client, before_write) -> str:
    path = f"/repos/{action.repository}/pulls/{action.pull_number}"
    _, pull = client.requester.requestJsonAndCheck("GET", path)
    current = pull.get("body") or ""
    updated = description_with_section(current, action.key, safe_text(action.text.strip()))
    if updated == current:
        return "description unchanged"
    before_write()
    client.requester.requestJsonAndCheck("PATCH", path, input={"body": updated})
    return "description updated"


def _reply_in_thread(action: ReplyInThread, client, before_write, *, me: str) -> str:
    from github.PaginatedList import PaginatedList
    from github.PullRequestComment import PullRequestComment

    path = f"/repos/{action.repository}/pulls/{action.pull_number}/comments"
    for comment in PaginatedList(PullRequestComment, client.requester, path, None):
        if _mine(comment, action.key, me):
            return f"reply {comment.id} already posted"
    before_write()
    _, data = client.requester.requestJsonAndCheck(
        "POST", f"{path}/{action.comment_id}/replies", input={"body": _marked(action.key, action.body)}
    )
    return f"replied {data.get('id')}"


_APPLY = {
    UpsertComment: _upsert_comment,
    React: _react,
    AddLabels: _add_labels,
    PostReview: _post_review,
    UpdateDescription: _update_description,
    ReplyInThread: _reply_in_thread,
    SetCheck: set_check,  # shared/github/checks.py: a check run, or a commit status in its stead
}
_BY_AUTHOR = frozenset(
    {UpsertComment, PostReview, ReplyInThread, SetCheck}
)  # find Petrel's own earlier write by its author
