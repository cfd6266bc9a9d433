"""Summarize pull requests in one comment, edited in place as the pull request changes.

Runs on pull_request opened, reopened, ready_for_review, synchronize, and edited when
the title changes. The work is shared/tasks.summarize_pull (also run by `/describe`).
"""

import logging

import functions_framework

from shared import context as function
from shared.tasks import summarize_pull

SUBSCRIBES = ("pull_request.opened", "pull_request.reopened", "pull_request.ready_for_review",
              "pull_request.synchronize", "pull_request.edited")

log = logging.getLogger("petrel.pr_summary")


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
        summarize_pull(delivery, int(delivery.payload["pull_request"]["number"]))
