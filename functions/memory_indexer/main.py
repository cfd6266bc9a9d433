"""Keep the repository's long-term memory current: backfill on install, re-index on push.

Its behaviour arrives in a later issue; until then it receives its events and plans
nothing, so the pipeline (subscriptions, queue, CloudEvents) is real for it already.
"""

import logging

import functions_framework

from shared import function

SUBSCRIBES = ("installation.created", "installation.deleted", "installation_repositories.added", "installation_repositories.removed", "push", "issues.opened", "issues.edited", "issues.closed")

log = logging.getLogger("petrel.memory_indexer")


def plan(delivery) -> list:
    log.info("%s received; memory_indexer plans no action yet", delivery.name)
    return []


@functions_framework.cloud_event
def handle(event):
    """Handle one subscribed GitHub event."""
    function.run(event, plan)
