"""The review of one pull request, whoever asks for it: the entry point of `pr_review` and `/review`.

It gathers what the planner (shared/review/plan.py) needs from the Context (the pull request, the
repository's config, long-term memory and feedback, a model with the repository's budget), acts
on the plan, remembers the head it reviewed (shared/review/state.py) and says in one line what
happened. Around it, the check run "Petrel review" (shared/review/check_run.py); at the end of the
body, what the review cost (shared/review/cost.py). `forced` (a `/review`) runs even when the config turns automatic reviews off.
"""

from __future__ import annotations

import logging

from shared.context import Context, Result
from shared.memory.feedback import Feedback
from shared.model.llm import BudgetExceeded, ModelError
from shared.review.check_run import CheckRun
from shared.review.cost import NOTHING, priced, spent
from shared.review.followup import plan_followups, still_open
from shared.review.plan import plan_review
from shared.review.prompt import memory_context
from shared.review.report import cost_line, with_cost
from shared.review.state import ReviewStore

log = logging.getLogger("petrel.review")

REVIEW_OFF = "automatic review is off in this repository's config"


def on_pull_request(ctx: Context) -> Result:
    """Review the pull request of a `pull_request` delivery (the `pr_review` function)."""
    return review_pull(ctx, int(ctx.delivery.payload["pull_request"]["number"]))


def review_pull(ctx: Context, number: int, forced: bool = False) -> Result:
    """Review pull request `number` of the delivery's repository."""
    work = "review this pull request"
    opened, done = ctx.open_pull(number, work, lambda c: c.review.auto, REVIEW_OFF, forced)
    if done:
        return done
    pull, config, steps = opened
    repository = ctx.delivery.repository
    store = ReviewStore(ctx.pool())
    last = store.last(repository, number)
    check = CheckRun(ctx, pull.info(), config, last.head_sha if last else None, forced)
    outcomes = check.start()
    posted, planned = [], []
    try:
        model = ctx.model("pr_review")
        memory = ctx.memory()
        background = memory_context(memory, repository, model.estimate)
        feedback = Feedback(memory, repository, ctx.delivery.installation_id)
        posted = pull.posted_findings()
        learn_from_reactions(feedback, posted)
        planned, report, skipped = plan_review(
            pull, model, config, last.head_sha if last else None, forced, background, feedback.rejected
        )
        if report is not None:  # reviewed, or nothing left to review: a reply in each thread the push addressed
            planned += plan_followups(pull, model, last.head_sha if last else None)
    except (BudgetExceeded, ModelError) as error:
        done = ctx.could_not(steps, repository, number, work, error)
        check.finish(error=str(error), earlier=still_open(posted))
        return done
    cost = spent(model)  # the body ends with what the review cost, and the pull request's running total
    planned = with_cost(planned, cost_line(cost, (last.total if last else NOTHING) + cost, priced(model)))
    outcomes += ctx.act(steps + planned)
    outcomes += check.finish(report, skipped, earlier=still_open(posted, planned))
    if skipped:
        return Result(outcomes, f"not reviewed: {skipped}")
    if ctx.sends:
        store.save(
            repository,
            number,
            report.info.head_sha,
            len(report.reviewed),
            len(report.comments),
            report.files_not_reviewed,
            cost,
        )
    return Result(
        outcomes,
        f"reviewed `{report.info.head_sha[:7]}`: {len(report.reviewed)} file(s), "
        f"{len(report.comments)} inline comment(s), {report.files_not_reviewed} file(s) not reviewed",
    )


def learn_from_reactions(feedback: Feedback, posted) -> None:
    """Store the 👍/👎 on Petrel's earlier comments of this pull request as feedback (`posted` counts
    only Petrel's own comments, and only reactions of people who may steer it: shared/github/identity.py)."""
    for finding in posted:
        if finding.thumbs_down > finding.thumbs_up:
            feedback.record(finding.comment_id, "negative", finding.body, finding.path)
        elif finding.thumbs_up > finding.thumbs_down:
            feedback.record(finding.comment_id, "positive", finding.body, finding.path)
