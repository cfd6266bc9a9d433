"""What a review did, and the body that says so: the files reviewed, the findings that could not
go inline, and every changed file not reviewed with the reason.

Apart from the planning (shared/review/plan.py) because it is the review's one text for people:
GitHub refuses a body over 65,536 characters, so each list of files is cut to LIST_CHARS and
says how many more there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.github import actions
from shared.github.pulls import PAST_FILE_LIMIT, PullInfo
from shared.review.cost import Cost

LIST_CHARS = 20_000  # for each list of files in a review body: GitHub refuses bodies over 65,536 characters
MORE_FILES = "- … and {count} more file(s), not listed here to keep this review within GitHub's size limit"
COST_LINE = "_This review: {this}. This pull request so far, over {reviews} review(s): {total}._"


@dataclass
class Report:
    """What a review did, for its body, the logs and the tests."""

    info: PullInfo
    incremental_from: str | None = None
    reviewed: list[str] = field(default_factory=list)
    trivial: list[tuple[str, str]] = field(default_factory=list)
    not_reviewed: list[tuple[str, str]] = field(default_factory=list)
    comments: list[actions.ReviewComment] = field(default_factory=list)
    comment_severities: list[str] = field(default_factory=list)  # each of `comments`, in order (for review.fail_on)
    in_body: list[tuple[str, int, str, str]] = field(default_factory=list)  # path, line, severity, text
    moved: list[tuple[str, int, int]] = field(default_factory=list)
    already_posted: int = 0
    rejected_before: int = 0
    below_severity: int = 0
    over_limit: int = 0
    dropped_by_check: int = 0  # rejected by the second look, or without evidence (shared/review/verify.py)
    unchecked: int = 0  # not posted because the second look itself failed
    check_error: str = ""
    merged: int = 0  # near-duplicates merged into another finding (shared/review/dedupe.py)
    chunks: int = 0
    lines_to_model: int = 0
    lines_changed: int = 0
    unlisted: int = 0  # changed files GitHub does not list (past its 3,000-file limit): not reviewed
    rules: list[tuple[str, str]] = field(default_factory=list)  # (kind, path or glob): shared/review/rules.py

    @property
    def files_not_reviewed(self) -> int:
        """Files not reviewed: those listed with a reason and those GitHub did not list."""
        return len(self.not_reviewed) + self.unlisted


def listed(entries: list[tuple[str, str]], limit: int = LIST_CHARS) -> list[str]:
    """`- path: reason` lines, as many as fit in `limit` characters, then how many more there are.
    A path is shown on one line and inside its code span, whatever characters its name holds."""
    lines, used = [], 0
    for n, (path, reason) in enumerate(entries):
        line = f"- {code(path)}: {reason}"
        if used + len(line) > limit:
            return lines + [MORE_FILES.format(count=len(entries) - n)]
        lines.append(line)
        used += len(line) + 1
    return lines


def code(text: str) -> str:
    """`text` in a code span, on one line, whatever characters it holds."""
    return f"`{' '.join(text.split()).replace('`', chr(39))}`"


def rules_applied(rules: list[tuple[str, str]]) -> str:
    """The line naming the repository's rules a review followed: config, files (shallowest first), path instructions."""
    order = {"config": 0, "file": 1, "path": 2}
    ranked = sorted(rules, key=lambda rule: (order.get(rule[0], 3), rule[1].count("/"), rule[1]))
    names = [f"path instructions for {code(name)}" if kind == "path" else code(name) for kind, name in ranked]
    return "Rules applied: " + ", ".join(names) + "."


def review_body(report: Report) -> str:
    """The review's body: what was reviewed, and every changed file that was not, with why."""
    info = report.info
    lines = []
    if report.incremental_from:
        lines.append(f"Petrel reviewed the changes since `{report.incremental_from[:7]}` (head `{info.head_sha[:7]}`).")
    else:
        lines.append(f"Petrel reviewed this pull request at `{info.head_sha[:7]}`.")
    count = len(report.comments)
    lines.append(f"{len(report.reviewed)} file(s) reviewed, {count} inline comment(s).")
    if report.rules:
        lines.append(rules_applied(report.rules))
    if report.in_body:
        lines.append("\n**Findings outside the diff's lines**")
        lines.extend(f"- `{path}` line {line} ({severity}): {text}" for path, line, severity, text in report.in_body)
    if report.moved:
        lines.append(
            "\n"
            + "; ".join(
                f"`{p}`: a comment for line {a} was placed on line {b}, the nearest line of the diff"
                for p, a, b in report.moved
            )
            + "."
        )
    if report.trivial:
        lines.append("\n**Skipped as trivial**")
        lines.extend(listed(report.trivial))
    if report.not_reviewed or report.unlisted:
        lines.append("\n**Not reviewed**")
        if report.unlisted:
            lines.append(f"- {report.unlisted} more changed file(s): {PAST_FILE_LIMIT}")
        lines.extend(listed(report.not_reviewed))
    notes = []
    if report.already_posted:
        notes.append(f"{report.already_posted} finding(s) already posted earlier were not repeated")
    if report.rejected_before:
        notes.append(f"{report.rejected_before} finding(s) like ones reviewers rejected before were left out")
    if report.below_severity:
        notes.append(f"{report.below_severity} finding(s) below the minimum severity were left out")
    if report.over_limit:
        notes.append(f"{report.over_limit} finding(s) over the inline comment limit are listed above")
    checked = (  # the second look and the merging of near-duplicates (shared/review/verify.py, dedupe.py)
        (report.dropped_by_check, "finding(s) dropped by the second look"),
        (report.unchecked, f"finding(s) not posted: the second look failed ({report.check_error})"),
        (report.merged, "near-duplicate finding(s) merged into another"),
    )
    notes += [f"{count} {text}" for count, text in checked if count]
    if notes:
        lines.append("\n" + "; ".join(notes) + ".")
    return "\n".join(lines)


def dollars(usd: float) -> str:
    """A price in USD: cents from a dollar up, else four decimals (a review often costs less than a cent)."""
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


def cost_line(this: Cost, total: Cost, priced: bool) -> str:
    """The body's last line: what this review cost (model calls, tokens, and the price when prices
    are set) and the pull request's running total over its reviews."""
    price = (lambda cost: f", {dollars(cost.usd)}") if priced else (lambda cost: "")
    return COST_LINE.format(
        this=f"{this.calls} model call(s), {this.tokens:,} tokens ({this.prompt_tokens:,} prompt + "
        f"{this.completion_tokens:,} completion){price(this)}",
        reviews=total.reviews,
        total=f"{total.calls} model call(s), {total.tokens:,} tokens{price(total)}",
    )


def with_cost(plan: list, line: str) -> list:
    """The plan with `line` at the end of its review's body (the body is written before the cost is
    known: the model calls end with the planning)."""
    return [
        replace(step, body=f"{step.body}\n\n{line}") if isinstance(step, actions.PostReview) else step for step in plan
    ]
