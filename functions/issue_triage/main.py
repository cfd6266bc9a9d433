"""Triage new issues: labels from the repository's own set, duplicates, first answers.

Its behaviour arrives in a later issue; until then it receives its events and plans
nothing, so the pipeline (subscriptions, queue, CloudEvents) is real for it already.
"""

import logging

import functions_framework

from shared import function

SUBSCRIBES = ("issues.opened",)

log = logging.getLogger("petrel.issue_triage")


def plan(delivery) -> list:
    log.info("%s received; issue_triage plans no action yet", delivery.name)
    return []


@functions_framework.cloud_event
def handle(event):
    """Handle one subscribed GitHub event."""
    function.run(event, plan)
