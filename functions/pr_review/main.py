"""Review pull requests: inline comments that land, any size, incremental on new pushes.

Runs on pull_request opened, reopened, ready_for_review and synchronize. The work is
shared/tasks.review_pull (also run by `/review`); the planning is in shared/review/plan.py.
"""

import functions_framework

from shared import context as function
from shared.tasks import review_pull

SUBSCRIBES = ("pull_request.opened", "pull_request.reopened", "pull_request.ready_for_review",
              "pull_request.synchronize")


@functions_framework.cloud_event
def handle(event):
    """Review the pull request of a pull_request delivery."""
    delivery = function.delivery_of(event)
    with function.job_scope(delivery):
        review_pull(delivery, int(delivery.payload["pull_request"]["number"]))
