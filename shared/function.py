"""How a Petrel function handles one CloudEvent: rebuild the delivery, plan, then act.

Each `functions/<name>/main.py` is a functions-framework CloudEvent function whose body
is `return function.run(event, plan)`. `plan(delivery)` is the function's own logic and
returns a list of actions; this module applies them (or logs them in dry-run mode).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable

from shared import actions, context, events, settings
from shared.actions import Action

log = logging.getLogger("petrel.function")

Planner = Callable[[events.Delivery], list[Action]]

_access = None


def github_access():
    """The process's GitHub access (token cache and write spacing are shared)."""
    global _access
    if _access is None:
        from shared.github import GitHubAccess

        _access = GitHubAccess(settings.current())
    return _access


def run(cloud_event, plan: Planner) -> list[str]:
    """Plan and act on one CloudEvent; return the outcome of each action."""
    attributes = {key: cloud_event[key] for key in ("id", "type", "source")}
    delivery = events.delivery_from_cloudevent(attributes, cloud_event.data)
    config = settings.current()
    nested = context.delivery_id.get() == delivery.id  # the local worker already set the deadline
    scope = contextlib.nullcontext() if nested else context.working_on(delivery.id, config.job_timeout_seconds)
    with scope:
        steps = plan(delivery)
        if not steps:
            log.info("%s: nothing to do", delivery.name)
            return []
        if not config.sends_to_github:
            return actions.dry_run(steps)
        access = github_access()
        client = access.client(delivery.installation_id)
        return actions.execute(steps, client, lambda: access.before_write(delivery.installation_id))

