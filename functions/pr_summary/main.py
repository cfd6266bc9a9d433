"""Summarize pull requests in one comment, edited in place as the pull request changes.

Its behaviour arrives in a later issue; until then it receives its events and plans
nothing, so the pipeline (subscriptions, queue, CloudEvents) is real for it already.
"""

import logging

import functions_framework

from shared import function

SUBSCRIBES = ("pull_request.opened", "pull_request.reopened", "pull_request.ready_for_review", "pull_request.synchronize", "pull_request.edited")

log = logging.getLogger("petrel.pr_summary")


def plan(delivery) -> list:
    log.info("%s received; pr_summary plans no action yet", delivery.name)
    return []


@functions_framework.cloud_event
def handle(event):
    """Handle one subscribed GitHub event."""
    function.run(event, plan)
