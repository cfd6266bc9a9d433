"""Review pull requests: inline comments on the changed lines, incremental on new pushes.

Its behaviour arrives in a later issue; until then it receives its events and plans
nothing, so the pipeline (subscriptions, queue, CloudEvents) is real for it already.
"""

import logging

import functions_framework

from shared import function

SUBSCRIBES = ("pull_request.opened", "pull_request.reopened", "pull_request.ready_for_review", "pull_request.synchronize")

log = logging.getLogger("petrel.pr_review")


def plan(delivery) -> list:
    log.info("%s received; pr_review plans no action yet", delivery.name)
    return []


@functions_framework.cloud_event
def handle(event):
    """Handle one subscribed GitHub event."""
    function.run(event, plan)
