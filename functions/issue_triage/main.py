"""Triage new issues: duplicates from long-term memory, labels from the repository's own set,
and (when configured) a first answer from the repository's docs.

Runs on issues opened. The work is shared/tasks.triage_issue (also run by `/triage`); the
planning is in shared/triage.py. Petrel takes no bulk action on existing issues.
"""

import functions_framework

from shared import context as function
from shared.tasks import triage_issue

SUBSCRIBES = ("issues.opened",)


@functions_framework.cloud_event
def handle(event):
    """Triage the issue of an issues.opened delivery."""
    delivery = function.delivery_of(event)
    with function.job_scope(delivery):
        triage_issue(delivery, delivery.payload)
