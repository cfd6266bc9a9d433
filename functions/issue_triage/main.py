"""Triage new issues: duplicates from long-term memory, labels from the repository's own set,
and (when configured) a first answer from the repository's docs.

Runs on issues opened. The work and its planning are shared/triage.py (`triage_issue`, also run
by `/triage`). Petrel takes no bulk action on existing issues.
"""

import functions_framework

from shared import triage
from shared.context import Context

SUBSCRIBES = ("issues.opened",)
ENTRY = triage.triage_issue


@functions_framework.cloud_event
def handle(event):
    """Triage the issue of an issues.opened delivery."""
    with Context.of(event).scope() as ctx:
        ENTRY(ctx)
