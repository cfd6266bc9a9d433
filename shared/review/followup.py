"""Following up on Petrel's own review threads after a new push.

A reviewer who fixes what Petrel pointed out should not have to wonder whether Petrel saw it. On
a new push, each open thread of Petrel's (its own review comment carrying a finding's marker, with
no follow-up reply of its own yet) whose lines changed since the last reviewed head is put to the
same check as a new finding (shared/review/verify.py), against the new code. When the check says
the finding no longer holds, Petrel replies once in that thread, "Addressed in `abc1234`.", with a
marker so that a redelivery never replies twice; when it still holds, or the check fails, Petrel
stays silent: a wrong "addressed" would mislead, silence costs nothing. The finding itself is never
posted again (its fingerprint is known, shared/review/findings.py).

Only comments by Petrel's own login count (shared/github/pulls.py reads them so): a comment by
anyone else that copies a marker is neither followed up nor taken for Petrel's reply.
"""

from __future__ import annotations

import logging
import re

from shared import diff
from shared.github import actions, markers
from shared.github.pulls import PostedFinding, PullSource
from shared.model.llm import BudgetExceeded, Model, ModelError
from shared.repo_config.schema import SEVERITIES
from shared.review import verify

log = logging.getLogger("petrel.review")

ADDRESSED = "Addressed in `{sha}`."
AROUND = 12  # lines of the head file shown on each side of a thread's line
_SEVERITY = re.compile(r"^\*\*(\w+)\*\*:\s*")


def open_threads(posted: list[PostedFinding]) -> list[PostedFinding]:
    """Petrel's findings not yet answered by a follow-up reply of its own (`posted` holds only
    Petrel's comments: its findings, and its replies)."""
    answered = {markers.addressed_in(p.body) for p in posted}
    return [p for p in posted if markers.fingerprint_of(p.body) and p.comment_id not in answered]


def touched(file: diff.FileDiff, line: int | None) -> bool:
    """True when the diff since the last reviewed head changes lines at or near `line` (a hunk's
    range on either side holds it, three lines of context included); a file whose lines are
    unknown (no patch, binary) or a comment on no line counts as touched."""
    if not file.hunks or line is None:
        return True
    return any(
        h.old_start <= line < h.old_start + max(h.old_length, 1)
        or h.new_start <= line < h.new_start + max(h.new_length, 1)
        for h in file.hunks
    )


def as_finding(thread: PostedFinding) -> dict:
    """A posted comment back into the finding it was made from: path, line, severity and text."""
    text = markers.strip(thread.body).strip()
    match = _SEVERITY.match(text)
    severity = match.group(1).lower() if match and match.group(1).lower() in SEVERITIES else "minor"
    return {
        "path": thread.path,
        "line": thread.line,
        "severity": severity,
        "body": text[match.end() :] if match else text,
    }


def around(pull: PullSource, threads: list[PostedFinding]) -> str:
    """The head file's lines around each thread's line, unnumbered, when the pull request can give
    them (`head_file`, shared/github/pulls.py)."""
    read = getattr(pull, "head_file", None)
    parts = []
    for thread in threads:
        text = read(thread.path) if read else None
        if not text:
            continue
        lines = text.splitlines()
        middle = thread.line or 1
        start, end = max(1, middle - AROUND), min(len(lines), middle + AROUND)
        parts.append(f"--- {thread.path} lines {start}-{end}\n" + "\n".join(lines[start - 1 : end]))
    return "\n\n".join(parts)


def plan_followups(pull: PullSource, model: Model, last_head: str | None) -> list[actions.Action]:
    """The replies to post in Petrel's threads whose findings the new push addressed."""
    info = pull.info()
    if not last_head or last_head == info.head_sha:
        return []
    threads = open_threads(pull.posted_findings())
    if not threads:
        return []
    since = pull.changes_since(last_head)
    if since is None:
        log.info("no follow-ups: the changes since %s are not known (force-push or too large)", last_head[:7])
        return []
    changed = {f.path: f for f in since}
    due = [t for t in threads if t.path in changed and touched(changed[t.path], t.line)]
    if not due:
        return []
    code = "\n\n".join(diff.render_file(changed[path]) for path in dict.fromkeys(t.path for t in due))
    try:
        verdicts = verify.ask(model, [as_finding(t) for t in due], code, around(pull, due))
    except (ModelError, BudgetExceeded) as error:
        log.warning("no follow-ups on %s#%s: %s", info.repository, info.number, error)
        return []
    return [
        actions.ReplyInThread(
            info.repository,
            info.number,
            thread.comment_id,
            markers.addressed(thread.comment_id),
            ADDRESSED.format(sha=info.head_sha[:7]),
        )
        for n, thread in enumerate(due, 1)
        if n in verdicts and not verdicts[n]["holds"]
    ]
