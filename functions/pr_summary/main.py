"""Summarize pull requests in one comment, edited in place as the pull request changes.

Runs on pull_request opened, reopened, ready_for_review, synchronize, and edited when
the title changes. The work is shared/summary.py's `summarize_pull` (also run by `/describe`).
"""

import functions_framework

from shared import summary
from shared.context import Context

SUBSCRIBES = (
    "pull_request.opened",
    "pull_request.reopened",
    "pull_request.ready_for_review",
    "pull_request.synchronize",
    "pull_request.edited",
)
ENTRY = summary.on_pull_request


@functions_framework.cloud_event
def handle(event):
    """Write or refresh the summary of the pull request of a pull_request delivery."""
    with Context.of(event).scope() as ctx:
        ENTRY(ctx)
