"""Review pull requests: inline comments that land, any size, incremental on new pushes.

Runs on pull_request opened, reopened, ready_for_review and synchronize. The planning
is in shared/review.py; this module gathers what it needs (the pull request from GitHub,
the repository's config, the last reviewed head, a model with the repository's budget),
then posts the review and remembers the head it reviewed.
"""

import logging

import functions_framework

from shared import function, notices, settings
from shared.llm import BudgetExceeded, ModelError
from shared.embeddings import embedder_for
from shared.memory import Memory
from shared.review import memory_context, plan_review
from shared.reviews import ReviewStore

SUBSCRIBES = ("pull_request.opened", "pull_request.reopened", "pull_request.ready_for_review",
              "pull_request.synchronize")

log = logging.getLogger("petrel.pr_review")
WORK = "review this pull request"


def review(delivery, number: int, forced: bool = False) -> list[str]:
    """Review pull request `number` of the delivery's repository; return the action outcomes."""
    opened = function.open_pull(delivery, number, WORK)
    if opened is None:
        return []
    client, pull, loaded, steps = opened
    repository, config = delivery.repository, loaded.config
    if not config.review.auto and not forced:
        log.info("automatic review is off in this repository's config")
        return function.act(delivery, steps, client)
    store = ReviewStore(function.database())
    last = store.last(repository, number)
    report = None
    try:
        model = function.model("pr_review", repository, config)
        memory = Memory(function.database(), embedder_for(settings.current()))
        context = memory_context(memory, repository, model.estimate)
        review_steps, report, skipped = plan_review(pull, model, config, last.head_sha if last else None, forced,
                                                    context)
        if skipped:
            log.info("not reviewed: %s", skipped)
        steps += review_steps
    except BudgetExceeded as error:
        steps.append(notices.budget_spent(repository, number, error))
    except ModelError as error:
        steps.append(notices.model_unavailable(repository, number, str(error), WORK))
    outcomes = function.act(delivery, steps, client)
    if report is not None and settings.current().sends_to_github:
        store.save(repository, number, report.info.head_sha, len(report.reviewed), len(report.comments),
                   len(report.not_reviewed))
    return outcomes


@functions_framework.cloud_event
def handle(event):
    """Review the pull request of a pull_request delivery."""
    delivery = function.delivery_of(event)
    with function.job_scope(delivery):
        review(delivery, int(delivery.payload["pull_request"]["number"]))
