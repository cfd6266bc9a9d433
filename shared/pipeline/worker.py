"""Job workers: take a job, hand its delivery to the function as a CloudEvent, record the outcome.

The function is called in-process through the same entry point functions-framework
serves, with the same CloudEvent it would receive over HTTP. While it runs, a
heartbeat keeps the job's lease, until the function really returns (past its deadline
too: the job stops itself there, see shared/runtime/scope.py). If this process dies, the lease
runs out and another worker takes the job back; if the heartbeat cannot renew the lease,
the job stops reaching GitHub and the model before the lease can lapse.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

import psycopg
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool, PoolTimeout

from shared.pipeline import events, queue
from shared.pipeline.subscriptions import FUNCTIONS_DIR
from shared.runtime import scope as context
from shared.runtime.scope import RetryLater
from shared.runtime.settings import Settings

log = logging.getLogger("petrel.worker")

Handler = Callable[[CloudEvent], object]


def load_function(name: str, functions_dir: Path = FUNCTIONS_DIR, *, module_name: str | None = None) -> ModuleType:
    """Import `functions/<name>/main.py` afresh, as `petrel_functions.<name>` (or `module_name`,
    for a copy of its own), and return the module. Function folders are not packages, so they are
    loaded by path; the module is registered in `sys.modules`, so that whoever stops the app can
    find it (to close its pool) and what it defines can be found by its module's name."""
    spec = importlib.util.spec_from_file_location(
        module_name or f"petrel_functions.{name}", functions_dir / name / "main.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_handler(name: str, functions_dir: Path = FUNCTIONS_DIR) -> Handler:
    """Import `functions/<name>/main.py` and return its `handle` entry point."""
    return load_function(name, functions_dir).handle


def cloudevent_for(delivery: events.Delivery) -> CloudEvent:
    """The CloudEvent a function receives for `delivery`, as in production."""
    return CloudEvent(events.cloudevent_attributes(delivery), delivery.payload)


def load_delivery(conn: psycopg.Connection, delivery_id: str) -> events.Delivery:
    """The stored delivery `delivery_id`, read back from Postgres for a job."""
    event, action, installation_id, repository, payload = conn.execute(
        "SELECT event, action, installation_id, repository, payload FROM deliveries WHERE id = %s", (delivery_id,)
    ).fetchone()
    return events.Delivery(delivery_id, event, action, installation_id, repository, payload, "")


class Worker:
    """Runs jobs from the queue, one at a time, until told to stop."""

    def __init__(
        self,
        pool: ConnectionPool,
        settings: Settings,
        handlers: Mapping[str, Handler],
        name: str | None = None,
        backoff_base: float = queue.BACKOFF_BASE_SECONDS,
    ):
        self.pool = pool
        self.settings = settings
        self.handlers = handlers
        self.name = name or f"worker-{os.getpid()}"
        self.backoff_base = backoff_base

    def run_once(self) -> bool:
        """Claim and run one job; False when none was ready."""
        with self.pool.connection() as conn:
            conn.autocommit = True
            claimed_at = time.monotonic()  # the lease ends no earlier than this plus its length
            job = queue.claim(conn, self.settings.job_lease_seconds)
            if job is None:
                return False
            delivery = load_delivery(conn, job.delivery_id)
        self._run(job, delivery, context.Lease(self.settings.job_lease_seconds, claimed_at))
        return True

    def _run(self, job: queue.Job, delivery: events.Delivery, lease: context.Lease) -> None:
        stop_heartbeat = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(job, lease, stop_heartbeat), daemon=True)
        heartbeat.start()
        outcome, error, retry_in = "done", None, None
        with context.working_on(delivery.id, self.settings.job_timeout_seconds, lease):
            log.info(
                "%s: running %s for %s (attempt %d/%d)",
                self.name,
                job.function,
                delivery.name,
                job.attempts,
                job.max_attempts,
            )
            try:
                handler = self.handlers.get(job.function)
                if handler is None:
                    raise LookupError(f"no function named {job.function!r} is loaded")
                handler(cloudevent_for(delivery))
            except RetryLater as later:
                outcome, error, retry_in = "later", str(later), later.seconds
            except Exception as failure:  # noqa: BLE001 - any failure is recorded on the job, never lost
                outcome, error = "failed", f"{type(failure).__name__}: {failure}"
                log.debug("%s", traceback.format_exc())
            finally:
                stop_heartbeat.set()
                heartbeat.join()
            self._record(job, outcome, error, retry_in)

    def _record(self, job: queue.Job, outcome: str, error: str | None, retry_in: float | None) -> None:
        # The outcome of work already done must not be lost to a dropped connection (Postgres
        # restarting): try again for a while before leaving it to the lease.
        for attempt in range(10):
            try:
                return self._record_once(job, outcome, error, retry_in)
            except (PoolTimeout, psycopg.OperationalError) as failure:
                log.warning("could not record job %s (%s); trying again", job.id, str(failure).splitlines()[0])
                time.sleep(min(5.0, 0.2 * 2**attempt))
        log.error("job %s: outcome not recorded; its lease will lapse and it will run again", job.id)

    def _record_once(self, job: queue.Job, outcome: str, error: str | None, retry_in: float | None) -> None:
        with self.pool.connection() as conn:
            conn.autocommit = True
            if outcome == "done":
                if not queue.complete(conn, job):
                    log.warning("job %s finished after its lease was lost; another worker owns it", job.id)
                return
            if outcome == "later":  # a rate limit: not a failure, the attempt is given back
                if queue.reschedule(conn, job, error or "", retry_in or 0.0):
                    log.info("job %s (%s) rescheduled in %.0fs: %s", job.id, job.function, retry_in or 0.0, error)
                return
            status = queue.fail(conn, job, error or "", retry_in, self.backoff_base)
            level = logging.ERROR if status == "dead" else logging.WARNING
            log.log(
                level,
                "job %s (%s) %s: %s",
                job.id,
                job.function,
                "moved to the dead letter" if status == "dead" else "will be retried",
                error,
            )

    def _heartbeat(self, job: queue.Job, lease: context.Lease, stop: threading.Event) -> None:
        # The lease is renewed until the function returns, deadline or not: a job that is
        # still running is never handed to a second worker. The deadline is enforced inside
        # the job (shared/runtime/scope.py); a renewal that fails leaves `lease` to run out, and
        # the job stops itself before it can lapse.
        interval = self.settings.job_lease_seconds / 3
        overdue = time.monotonic() + self.settings.job_timeout_seconds + interval
        warned = False
        while not stop.wait(interval):
            if not warned and time.monotonic() > overdue:
                warned = True
                log.error(
                    "job %s is still running past its %.0fs deadline; its lease is kept until it returns",
                    job.id,
                    self.settings.job_timeout_seconds,
                )
            sent = time.monotonic()
            try:
                with self.pool.connection() as conn:
                    conn.autocommit = True
                    if not queue.extend_lease(conn, job, self.settings.job_lease_seconds):
                        lease.lose("another worker took the job back")
                        log.warning("job %s lost its lease: it stops writing", job.id)
                        return
                lease.renewed(sent)
            except (PoolTimeout, psycopg.Error) as error:
                log.warning("could not extend the lease of job %s: %s", job.id, error)

    def run(self, stop: threading.Event, wake: threading.Event | None = None, idle: float = 1.0) -> None:
        """Run jobs until `stop` is set; sleep `idle` seconds (or until `wake`) when there are none."""
        wake = wake or threading.Event()
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except (PoolTimeout, psycopg.OperationalError) as error:
                log.warning(
                    "%s: database unavailable (%s); waiting",
                    self.name,
                    str(error).splitlines()[0] if str(error) else "",
                )
                stop.wait(idle)
                continue
            wake.wait(idle)
            wake.clear()


def listen(url: str, wake: threading.Event, stop: threading.Event) -> None:
    """Set `wake` whenever a job is queued (Postgres NOTIFY), so idle workers start at once."""
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        wake.set()
        except psycopg.Error as error:
            log.debug("job listener reconnecting: %s", error)
            stop.wait(1.0)
