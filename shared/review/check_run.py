"""The review's check run "Petrel review": in progress while the review runs, then completed with
what it found, so that a team can make it a required check (`review.fail_on`).

Its conclusion is `neutral`, or `failure` when the repository sets `review.fail_on` and a finding
that severe or worse is open on the pull request: posted by this review (inline or in the body), or
an earlier thread of Petrel's that it has not answered "Addressed" (shared/review/followup.py), so
that a push reviewed incrementally, or with nothing to review, does not clear a failing check. A
review that could not run (the budget, the model down) concludes `neutral` with a title that says
so, unless open findings already fail it: a required check must not block merges because the model
server is down, and must not pass silently either. The actions are SetCheck
(shared/github/checks.py: a commit status stands in where GitHub refuses check runs), sent apart
from the review and never allowed to stop it: whatever goes wrong with the check is logged, and
the review goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from shared.github.checks import SetCheck
from shared.github.pulls import PAST_FILE_LIMIT, PullInfo
from shared.repo_config.schema import SEVERITIES, Config
from shared.review.plan import skip
from shared.review.report import Report, listed

log = logging.getLogger("petrel.review")

REVIEWING = "Reviewing"
REVIEWING_SUMMARY = "Petrel is reviewing `{sha}`."
NOTHING = "Nothing to review"
COULD_NOT = "Petrel could not review this pull request"
FAILS = "The check fails: `review.fail_on: {fail_on}`, and {count} finding(s) that severe or worse are open."
PASSES = "`review.fail_on: {fail_on}`: no finding that severe is open."
EARLIER = '{count} of them from earlier reviews: Petrel\'s threads not answered "Addressed" yet.'
UNCHECKED = "{count} finding(s) of this review could not be checked and were not posted: the check is neutral."
OPEN_FINDINGS = "Open findings fail `review.fail_on: {fail_on}`"


def will_review(info: PullInfo, config: Config, last_head: str | None, forced: bool) -> bool:
    """Whether the review will run rather than be skipped (plan_review's own tests, before it
    runs: a check run is started only for a review that runs)."""
    return skip(info, config, last_head, forced) is None


def severities(report: Report) -> Counter:
    """The findings posted, inline and in the body, counted by severity (each inline comment's as
    place_findings recorded it, shared/review/findings.py)."""
    return Counter(severity for _, _, severity, _ in report.in_body) + Counter(report.comment_severities)


def conclusion(report: Report | None, config: Config, earlier: Sequence[str] = ()) -> str:
    """`failure` when `review.fail_on` is set and a finding that severe or worse is open (posted by
    this review, or `earlier`: the severities of Petrel's earlier threads still open), else `neutral`."""
    return "failure" if _failing(report, config, earlier) else "neutral"


def _failing(report: Report | None, config: Config, earlier: Sequence[str] = ()) -> int:
    """How many open findings are at or above `review.fail_on` (0 when it is not set)."""
    if not config.review.fail_on:
        return 0
    floor = SEVERITIES.index(config.review.fail_on)
    counts = (severities(report) if report is not None else Counter()) + Counter(earlier)
    return sum(count for severity, count in counts.items() if SEVERITIES.index(severity) >= floor)


def _earlier_failing(config: Config, earlier: Sequence[str]) -> int:
    return _failing(None, config, earlier)


def title(report: Report) -> str:
    """The check run's title: the findings by severity, worst first."""
    counts = severities(report)
    if not counts:
        return "No findings"
    worst_first = [f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s]]
    return f"{sum(counts.values())} finding(s): {', '.join(worst_first)}"


def summary(report: Report, config: Config, earlier: Sequence[str] = ()) -> str:
    """The check run's summary: files reviewed, findings by severity, every file not reviewed, and why
    the conclusion is what it is."""
    counts = severities(report)
    lines = [
        f"Petrel reviewed `{report.info.head_sha[:7]}`: {len(report.reviewed)} file(s) reviewed, "
        f"{report.files_not_reviewed} file(s) not reviewed.",
        "",
        "**Findings by severity**: "
        + ", ".join(f"{s} {counts[s]}" for s in reversed(SEVERITIES))
        + f" ({len(report.comments)} inline, {len(report.in_body)} in the review's body)",
    ]
    if report.trivial:
        lines += ["", "**Skipped as trivial**", *listed(report.trivial)]
    if report.not_reviewed or report.unlisted:
        lines += ["", "**Not reviewed**"]
        if report.unlisted:
            lines.append(f"- {report.unlisted} more changed file(s): {PAST_FILE_LIMIT}")
        lines.extend(listed(report.not_reviewed))
    if config.review.fail_on:
        lines += ["", *_fail_on_lines(report, config, earlier)]
    return "\n".join(lines)


def _fail_on_lines(report: Report | None, config: Config, earlier: Sequence[str]) -> list[str]:
    failing = _failing(report, config, earlier)
    lines = [(FAILS if failing else PASSES).format(fail_on=config.review.fail_on, count=failing)]
    if _earlier_failing(config, earlier):
        lines.append(EARLIER.format(count=_earlier_failing(config, earlier)))
    if report is not None and report.unchecked and not failing:
        lines.append(UNCHECKED.format(count=report.unchecked))
    return lines


class CheckRun:
    """The check run of one review of `info`'s head: `start()` and `finish()` do nothing for a
    review that will be skipped (see will_review), and never raise; each returns its outcome."""

    def __init__(self, ctx, info: PullInfo, config: Config, last_head: str | None, forced: bool):
        self.ctx, self.info, self.config = ctx, info, config
        self.wanted = will_review(info, config, last_head, forced)

    def start(self) -> list[str]:
        """Set the check run in progress on the head commit."""
        if not self.wanted:
            return []
        return _send(
            self.ctx,
            _check(self.info, "in_progress", None, REVIEWING, REVIEWING_SUMMARY.format(sha=self.info.head_sha[:7])),
        )

    def finish(
        self,
        report: Report | None = None,
        skipped: str | None = None,
        error: str | None = None,
        earlier: Sequence[str] = (),
    ) -> list[str]:
        """Complete the check run: with the review's result, or with why nothing was reviewed
        (`skipped`) or why the review could not be done (`error`); `earlier` are the severities of
        Petrel's earlier threads still open, which `review.fail_on` counts in every case."""
        if not self.wanted:
            return []
        info, config = self.info, self.config
        if error is not None or skipped is not None or report is None:
            text = COULD_NOT if error is not None else NOTHING
            why = error if error is not None else f"Not reviewed: {skipped}."
            if _earlier_failing(config, earlier):
                heading = OPEN_FINDINGS.format(fail_on=config.review.fail_on)
                step = _check(
                    info,
                    "completed",
                    "failure",
                    heading,
                    f"{text}. {why}\n\n" + "\n".join(_fail_on_lines(None, config, earlier)),
                )
            else:
                step = _check(info, "completed", "neutral", text, why)
        else:
            step = _check(
                info, "completed", conclusion(report, config, earlier), title(report), summary(report, config, earlier)
            )
        return _send(self.ctx, step)


def _check(info: PullInfo, status: str, outcome: str | None, heading: str, text: str) -> SetCheck:
    return SetCheck(
        info.repository, info.number, info.head_sha, f"check:{info.head_sha}", status, outcome, heading, text
    )


def _send(ctx, step: SetCheck) -> list[str]:
    try:
        return ctx.act([step])
    except Exception as error:  # the check is a courtesy: nothing about it may stop or fail the review
        log.warning(
            "the check run %r could not be set (%s: %s); the review goes on", step.name, type(error).__name__, error
        )
        return [f"check run not set: {type(error).__name__}"]
