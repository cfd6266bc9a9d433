"""Where each finding lands: inline on a line of the diff, moved to the nearest diff line (and from
an unchanged line next to a change onto the change, unless it quotes that line), or in the review
body; and which findings are not posted at all (below the minimum severity, already posted, like
ones reviewers rejected, over the comment limit).

A finding's text is the model's, and the model reads the pull request: any `<!-- petrel:... -->`
marker in it is taken out before Petrel adds its own, or a comment posted under Petrel's login
would carry a marker Petrel then believes (a forged "addressed" reply, another fingerprint).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from shared import diff
from shared.github import actions, markers
from shared.repo_config.schema import SEVERITIES, Config
from shared.review.report import Report


def normal_words(text: str) -> list[str]:
    """A finding's words, lower case, without punctuation: what its fingerprint is made of, and
    what near-duplicates are compared by (shared/review/dedupe.py)."""
    return re.sub(r"[^\w\s]", " ", str(text or "").lower()).split()


def fingerprint(path: str, text: str) -> str:
    """Identifies a finding across runs and line moves: its file and its normalized words."""
    words = " ".join(normal_words(text))[:200]
    return hashlib.sha1(f"{path}\n{words}".encode()).hexdigest()[:12]


UNREAD_SEVERITY = "minor"  # a comment whose severity cannot be read (Petrel always writes one)
_SEVERITY = re.compile(r"^\*\*(\w+)\*\*:\s*")
_SUGGESTION = re.compile(r"```suggestion\n.*?```", re.DOTALL)


def parse_comment(body: str) -> tuple[str, str]:
    """A comment of Petrel's (as _comment_text writes it) back into its finding's severity and
    text: without the markers, the `**severity**:` prefix and the suggestion block."""
    text = _SUGGESTION.sub("", markers.strip(body or "")).strip()
    match = _SEVERITY.match(text)
    severity = match.group(1).lower() if match else ""
    return (severity if severity in SEVERITIES else UNREAD_SEVERITY), (text[match.end() :] if match else text).strip()


def _comment_text(severity: str, body: str, suggestion: str | None, key: str) -> str:
    text = f"**{severity}**: {markers.strip(body).strip()}"
    suggestion = markers.strip(suggestion or "")
    if suggestion.strip():
        text += f"\n\n```suggestion\n{suggestion.rstrip()}\n```"
    return f"{text}\n\n{markers.finding(key)}"


def _on_the_change(file: diff.FileDiff, line: int, finding: dict) -> int:
    """A comment on an unchanged line next to a change is about the change (small models put 19 of
    45 comments there): it moves to the nearest changed line, unless its text quotes the line."""
    changed = diff.nearest_change(file, line)
    if changed is None:
        return line
    code = " ".join((diff.text_at(file, line) or "").split())
    said = " ".join(f"{finding.get('body') or ''} {finding.get('suggestion') or ''}".split())
    quoted = len(code) >= 3 and any(c.isalnum() for c in code) and code in said
    return line if quoted else changed


def place_findings(
    findings: list[dict],
    files: dict[str, diff.FileDiff],
    config: Config,
    posted: set[str],
    report: Report,
    rejected: Callable[[str], bool] | None = None,
) -> None:
    """Check each finding against the diff; land it inline, move it, or put it in the body."""
    floor = SEVERITIES.index(config.review.min_severity)
    seen: set[tuple[str, int, str]] = set()
    ranked = sorted(findings, key=lambda f: -SEVERITIES.index(f["severity"]))
    for finding in ranked:
        path, line, severity = finding["path"], finding["line"], finding["severity"]
        body = markers.strip(finding["body"] or "").strip()  # the model's text carries no marker of Petrel's
        if not body:
            continue
        if SEVERITIES.index(severity) < floor:
            report.below_severity += 1
            continue
        key = fingerprint(path, body)
        if key in posted:
            report.already_posted += 1
            continue
        if rejected is not None and rejected(body):
            report.rejected_before += 1
            continue
        if finding.get("also"):  # the other places of merged near-duplicates (shared/review/dedupe.py)
            body = f"{body}\n\n{markers.strip(finding['also'])}"
        file = files.get(path)
        landing = diff.place(file, line) if file is not None and isinstance(line, int) else None
        if landing == line:  # the model named a line of the diff; one it named outside was moved already
            landing = _on_the_change(file, landing, finding)
        if landing is None:
            report.in_body.append((path, line, severity, body))
            continue
        if (path, landing, key) in seen:
            continue
        seen.add((path, landing, key))
        if len(report.comments) >= config.review.max_comments:
            report.over_limit += 1
            report.in_body.append((path, landing, severity, body))
            continue
        if landing != line:
            report.moved.append((path, line, landing))
        # a suggestion replaces the commented line: only where it is the line the model meant
        suggestion = finding.get("suggestion") if landing == line else None
        report.comments.append(actions.ReviewComment(path, landing, _comment_text(severity, body, suggestion, key)))
        report.comment_severities.append(severity)
