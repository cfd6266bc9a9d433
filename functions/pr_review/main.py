"""Review pull requests: inline comments that land, any size, incremental on new pushes.

Runs on pull_request opened, reopened, ready_for_review and synchronize. The work is
shared/review/run.py (also run by `/review`); the planning is in shared/review/plan.py.
"""

import functions_framework

from shared.context import Context
from shared.review import run as review

SUBSCRIBES = (
    "pull_request.opened",
    "pull_request.reopened",
    "pull_request.ready_for_review",
    "pull_request.synchronize",
)
ENTRY = review.on_pull_request


@functions_framework.cloud_event
def handle(event):
    """Review the pull request of a pull_request delivery."""
    with Context.of(event).scope() as ctx:
        ENTRY(ctx)
