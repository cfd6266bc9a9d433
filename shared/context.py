"""One Context per delivery: what a feature needs to handle it, gathered in one place.

Each `functions/<name>/main.py` is a functions-framework CloudEvent function whose `handle(event)`
builds a Context for the delivery and calls one feature entry point (shared/review/run.py,
shared/summary.py, shared/triage.py, shared/ask/run.py) with it. The Context holds the delivery,
the GitHub client of its installation, the repository's config (loaded once), the database pool,
and makes the model and the long-term memory; `act(plan)` is the only way a plan reaches GitHub.
Process-wide services (GitHub access with its token cache and write spacing, the pool) live in
`Services`, the one registry a Context reads, which tests reset in one fixture. Tests and
`petrel plan` build a Context from fakes, or one whose act() only collects the plan.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from shared.github import actions
from shared.github.actions import Action
from shared.pipeline import events
from shared.runtime import scope, settings

log = logging.getLogger("petrel.function")

NO_CREDENTIALS = "Petrel has no GitHub credentials here (dry-run), so it cannot read this"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


@dataclass(frozen=True)
class Result:
    """What a feature entry point did: the outcome of each action applied, one line for the person
    who asked, and whether the work could not be done (budget, model, no credentials: the status
    says why)."""

    outcomes: list[str]
    status: str
    failed: bool = False


class Services:
    """The process-wide services every Context of this process shares: GitHub access (its token
    cache and write spacing) and the database pool (shared/runtime/db.py). `reset()` forgets both
    (tests call it between tests, in one fixture)."""

    _access = None

    @classmethod
    def github_access(cls):
        """The process's GitHub access, made on first use from the current settings."""
        if cls._access is None:
            from shared.github.client import GitHubAccess

            cls._access = GitHubAccess(settings.current())
        return cls._access

    @classmethod
    def reset(cls) -> None:
        """Close the pool and forget GitHub access: the next Context starts afresh."""
        from shared.runtime import db  # psycopg only when a pool is used: the commands function starts light

        db.close_pool()
        cls.forget_github()

    @classmethod
    def forget_github(cls) -> None:
        """Forget GitHub access only (the pool stays open): the next use reads the settings again,
        as after the start page has registered the App."""
        cls._access = None


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
    if scope.delivery_id.get() == delivery.id:
        yield
        return
    with scope.working_on(delivery.id, settings.current().job_timeout_seconds):
        yield


class Context:
    """Everything the handling of one delivery needs: `delivery`, `github` (the PyGithub client of
    its installation, None without credentials), `config()` (the repository's, loaded once),
    `pool()`, `model(function)`, `memory()`, and `act(plan)`."""

    def __init__(self, delivery: events.Delivery):
        self.delivery = delivery
        self._github = None
        self._configs: dict = {}
        self._memory = None

    @classmethod
    def of(cls, cloud_event) -> Context:
        """The Context of the delivery a CloudEvent carries."""
        return cls(delivery_of(cloud_event))

    @contextlib.contextmanager
    def scope(self):
        """The delivery's job scope: its id on every log line, and its deadline."""
        with job_scope(self.delivery):
            yield self

    @property
    def has_github(self) -> bool:
        """Whether this process may read GitHub (it has credentials)."""
        return settings.current().has_github_credentials

    @property
    def github(self):
        """The PyGithub client of the delivery's installation (made once), or None without credentials."""
        if self._github is None and self.has_github:
            self._github = Services.github_access().client(self.delivery.installation_id)
        return self._github

    @property
    def sends(self) -> bool:
        """Whether act() sends to GitHub (False in dry-run, and for a PlanningContext)."""
        return settings.current().sends_to_github

    def me(self) -> str | None:
        """Petrel's own login on GitHub (learned once per process), or None without credentials
        (dry-run), where nothing can be told to be Petrel's."""
        return Services.github_access().login() if self.has_github else None

    def may_steer(self, login: str | None, repository: str | None = None) -> bool:
        """Whether `login` may steer Petrel in the repository (write permission or more)."""
        return Services.github_access().may_steer(self.github, repository or self.delivery.repository, login)

    def config(self, repository: str | None = None):
        """The repository's loaded config (shared/repo_config/load.py), read from GitHub once per
        delivery. Needs GitHub credentials."""
        from shared.github.pull_texts import contents_fetcher
        from shared.repo_config import load as repo_config

        repository = repository or self.delivery.repository
        if repository not in self._configs:
            self._configs[repository] = repo_config.load(contents_fetcher(self.github), repository)
        return self._configs[repository]

    def pull(self, number: int, work: str):
        """Pull request `number` of the delivery's repository (a GitHubPull), or None without
        GitHub credentials (then says in the log that it cannot read it to do `work`)."""
        from shared.github.pulls import GitHubPull

        if self.github is None:
            log.info(
                "dry-run without GitHub credentials: cannot read %s#%s to %s", self.delivery.repository, number, work
            )
            return None
        client, repository = self.github, self.delivery.repository
        return GitHubPull(
            client, repository, number, me=self.me(), may_steer=lambda login: self.may_steer(login, repository)
        )

    def open_pull(self, number: int, work: str, auto, off: str, forced: bool):
        """Start `work` on pull request `number`: ((pull request, its repository's config, first steps),
        None) to go on with, the first steps reporting a broken config; or (None, the Result to give at
        once) without GitHub credentials, or when `auto(config)` says the repository turned the automatic
        run off (`off` says so) and nobody asked for it (`forced`)."""
        from shared.github import notices

        pull = self.pull(number, work)
        if pull is None:
            return None, Result([], NO_CREDENTIALS, failed=True)
        loaded = self.config()
        steps = notices.config_error(self.delivery.repository, number, loaded)
        if not auto(loaded.config) and not forced:
            return None, Result(self.act(steps), off)
        return (pull, loaded.config, steps), None

    def pool(self):
        """The process's database pool (shared/runtime/db.py)."""
        from shared.runtime import db

        return db.pool()

    def model(self, function: str, repository: str | None = None):
        """The model for `function` on the repository: usage recorded, the repository's daily budget
        and model choices applied."""
        from shared.model.llm import Model
        from shared.model.usage import PostgresLedger

        repository = repository or self.delivery.repository
        config = self.config(repository).config
        return Model(
            settings.current(),
            function=function,
            repository=repository,
            ledger=PostgresLedger(self.pool()),
            daily_budget=config.daily_token_budget,
            names={"review": config.models.review, "light": config.models.light},
        )

    def memory(self):
        """The long-term memory (shared/memory/store.py), with the configured embedder."""
        if self._memory is None:
            from shared.memory.store import Memory
            from shared.model.embeddings import embedder_for

            self._memory = Memory(self.pool(), embedder_for(settings.current()))
        return self._memory

    def act(self, steps: list[Action]) -> list[str]:
        """Apply a plan (or log it in dry-run mode); return the outcome of each action. Each
        artefact is written under its lock (shared/runtime/locks.py), from looking for it to posting it."""
        delivery = self.delivery
        if not steps:
            log.info("%s: nothing to do", delivery.name)
            return []
        if not self.sends:
            return actions.dry_run(steps)
        access = Services.github_access()
        client = self.github
        # Petrel's login is asked (once per process) only for a plan that looks for its earlier writes
        me = access.login() if any(type(step) in actions._BY_AUTHOR for step in steps) else None
        outcomes = []
        for step in steps:
            with artefact_lock(step):
                outcomes += actions.execute(
                    [step], client, lambda: access.before_write(delivery.installation_id), me=me
                )
        return outcomes

    def could_not(self, steps: list[Action], repository: str, number: int, work: str, error: Exception) -> Result:
        """The work could not be done (budget spent, model unavailable): say so on the thread (once,
        after `steps`), and to whoever asked."""
        from shared.github import notices
        from shared.model.llm import BudgetExceeded

        if isinstance(error, BudgetExceeded):
            steps.append(notices.budget_spent(repository, number, error))
        else:
            steps.append(notices.model_unavailable(repository, number, str(error), work))
        return Result(self.act(steps), str(error), failed=True)


class PlanningContext(Context):
    """A Context whose act() sends nothing: it keeps each plan in `plans` and prints its steps
    (`petrel plan`). With GitHub credentials it still reads GitHub."""

    def __init__(self, delivery: events.Delivery, out=None):
        super().__init__(delivery)
        self.plans: list[Action] = []
        self.out = out

    @property
    def sends(self) -> bool:
        """Never: a planning Context sends nothing."""
        return False

    def act(self, steps: list[Action]) -> list[str]:
        """Keep and print the plan; nothing is sent."""
        self.plans += steps
        for step in steps:
            print(step.describe(), file=self.out, flush=True)
        return ["planned"] * len(steps)


def artefact_lock(step: Action):
    """The lock of the artefact `step` writes: a Postgres advisory lock when this process uses a
    database (`DATABASE_URL`, or the embedded Postgres it started), else one in this process;
    nothing for actions without a marker key."""
    from shared.runtime import db, locks

    key = locks.artefact_key(step)
    if key is None:
        return contextlib.nullcontext()
    shared = settings.current().database_url or db.embedded() is not None
    return locks.holding(db.pool() if shared else None, key)
