"""Summarize pull requests in one comment, edited in place as the pull request changes.

Runs on pull_request opened, reopened, ready_for_review, synchronize and edited. The
planning is in shared/summary.py; this module reads the pull request and its config,
and asks the review state for the status line.
"""

import logging

import functions_framework

from shared import function, notices
from shared.llm import BudgetExceeded, ModelError
from shared.review import skip_reason
from shared.reviews import ReviewStore
from shared.summary import plan_summary, review_status

SUBSCRIBES = ("pull_request.opened", "pull_request.reopened", "pull_request.ready_for_review",
              "pull_request.synchronize", "pull_request.edited")

log = logging.getLogger("petrel.pr_summary")
WORK = "summarize this pull request"


def summarize(delivery, number: int, forced: bool = False) -> list[str]:
    opened = function.open_pull(delivery, number, WORK)
    if opened is None:
        return []
    client, pull, loaded, steps = opened
    repository, config = delivery.repository, loaded.config
    if config.summary.auto or forced:
        info = pull.info()
        last = ReviewStore(function.database()).last(repository, number)
        status = review_status(skip_reason(info, config), last, info.head_sha)
        try:
            model = function.model("pr_summary", repository, config)
            steps += plan_summary(info, pull.diff(), model, config, status)
        except BudgetExceeded as error:
            steps.append(notices.budget_spent(repository, number, error))
        except ModelError as error:
            steps.append(notices.model_unavailable(repository, number, str(error), WORK))
    return function.act(delivery, steps, client)


@functions_framework.cloud_event
def handle(event):
    """Write or refresh the summary of the pull request of a pull_request delivery."""
    delivery = function.delivery_of(event)
    with function.job_scope(delivery):
        if delivery.action == "edited" and (
                "title" not in (delivery.payload.get("changes") or {})
                or (delivery.payload.get("sender") or {}).get("type") == "Bot"):
            # the summary depends on the title, not on the description (which Petrel may have
            # just edited itself: answering that edit would loop)
            log.info("edit without a new title: the summary stays")
            return
        summarize(delivery, int(delivery.payload["pull_request"]["number"]))
