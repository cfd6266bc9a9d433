"""How a Petrel function handles one CloudEvent: rebuild the delivery, plan, then act.

Each `functions/<name>/main.py` is a functions-framework CloudEvent function. The simple
ones are `return function.run(event, plan)`, where `plan(delivery)` returns a list of
actions; this module applies them (or logs them in dry-run mode). Functions that read
GitHub or the database first use the pieces directly: `delivery_of`, `job_scope`,
`github_client`, `database`, `act`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable

from shared.github import actions
from shared.runtime import scope as context
from shared.pipeline import events
from shared.runtime import settings
from shared.github.actions import Action

log = logging.getLogger("petrel.function")

Planner = Callable[[events.Delivery], list[Action]]

_access = None
_pool = None


def github_access():
    """The process's GitHub access (token cache and write spacing are shared)."""
    global _access
    if _access is None:
        from shared.github.client import GitHubAccess

        _access = GitHubAccess(settings.current())
    return _access


def github_client(delivery: events.Delivery):
    """A PyGithub client for the delivery's installation, or None without credentials."""
    if not settings.current().has_github_credentials:
        return None
    return github_access().client(delivery.installation_id)


def petrel_login() -> str | None:
    """Petrel's own login on GitHub (learned once per process), or None without credentials
    (dry-run), where nothing can be told to be Petrel's."""
    if not settings.current().has_github_credentials:
        return None
    return github_access().login()


def database():
    """The process's connection pool (`DATABASE_URL`, or the embedded Postgres)."""
    global _pool
    if _pool is None:
        from shared.runtime import db

        config = settings.current()
        url = db.resolve_url(config.database_url, config.data_dir)
        db.migrate(url)  # a function deployed alone still finds its tables (cheap once applied)
        _pool = db.make_pool(url, max_size=max(8, 2 * config.workers + 2))  # a write holds one (its lock)
    return _pool


def model(name: str, repository: str, config):
    """The model for function `name` on `repository`: usage recorded, the repository's daily
    budget and model choices applied."""
    from shared.model.llm import Model
    from shared.model.usage import PostgresLedger

    return Model(settings.current(), function=name, repository=repository, ledger=PostgresLedger(database()),
                 daily_budget=config.daily_token_budget,
                 names={"review": config.models.review, "light": config.models.light})


def open_pull(delivery: events.Delivery, number: int, work: str):
    """(client, pull, loaded config, first steps) for a pull request of the delivery's
    repository; the first steps report a broken config. None without GitHub credentials."""
    from shared.github import notices
    from shared.github.pulls import GitHubPull

    client = github_client(delivery)
    if client is None:
        log.info("dry-run without GitHub credentials: cannot read %s#%s to %s", delivery.repository, number, work)
        return None
    access = github_access()
    pull = GitHubPull(client, delivery.repository, number, me=access.login(),
                      may_steer=lambda login: access.may_steer(client, delivery.repository, login))
    loaded = pull.config()
    return client, pull, loaded, notices.config_error(delivery.repository, number, loaded)


PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


def delivery_of(cloud_event) -> events.Delivery:
    """The GitHub delivery in a CloudEvent: a binary-mode `com.github.*` event (K_SINK, Knative), or
    the Pub/Sub message the webhook published (PETREL_PUBSUB_TOPIC). functions-framework turns a
    Pub/Sub push request into a `messagePublished` CloudEvent whose data is {"message": {"data":
    base64 payload, "attributes": {type, id, source, subject}}}; Eventarc sends the same."""
    if cloud_event["type"] == PUBSUB_PUBLISHED:
        return events.delivery_from_pubsub(cloud_event.data)
    attributes = {key: cloud_event[key] for key in ("id", "type", "source")}
    return events.delivery_from_cloudevent(attributes, cloud_event.data)


@contextlib.contextmanager
def job_scope(delivery: events.Delivery):
    """The delivery id on every log line and request, and the job's deadline (unless the
    local worker has set both already)."""
    if context.delivery_id.get() == delivery.id:
        yield
        return
    with context.working_on(delivery.id, settings.current().job_timeout_seconds):
        yield


def act(delivery: events.Delivery, steps: list[Action], client=None) -> list[str]:
    """Apply a plan (or log it in dry-run mode); return the outcome of each action. Each
    artefact is written under its lock (shared/runtime/locks.py), from looking for it to posting it."""
    if not steps:
        log.info("%s: nothing to do", delivery.name)
        return []
    if not settings.current().sends_to_github:
        return actions.dry_run(steps)
    access = github_access()
    client = client or access.client(delivery.installation_id)
    # Petrel's login is asked (once per process) only for a plan that looks for its earlier writes
    me = access.login() if any(type(step) in actions._BY_AUTHOR for step in steps) else None
    outcomes = []
    for step in steps:
        with artefact_lock(step):
            outcomes += actions.execute([step], client, lambda: access.before_write(delivery.installation_id), me=me)
    return outcomes


def artefact_lock(step: Action):
    """The lock of the artefact `step` writes: a Postgres advisory lock when this process uses a
    database (`DATABASE_URL`, or the embedded Postgres it started), else one in this process;
    nothing for actions without a marker key."""
    from shared.runtime import db
    from shared.runtime import locks

    key = locks.artefact_key(step)
    if key is None:
        return contextlib.nullcontext()
    shared = settings.current().database_url or db.embedded() is not None
    return locks.holding(database() if shared else None, key)


def run(cloud_event, plan: Planner) -> list[str]:
    """Plan and act on one CloudEvent."""
    delivery = delivery_of(cloud_event)
    with job_scope(delivery):
        return act(delivery, plan(delivery))
