"""The job queue on one machine: a `jobs` table in Postgres.

A delivery and its jobs are stored in one transaction (the delivery id is the
idempotency key, so a redelivery adds nothing). Workers claim jobs with
`FOR UPDATE SKIP LOCKED` under a lease; a job whose worker died is taken back when
its lease runs out (the worker renews it for as long as the function runs). Failures
retry with exponential backoff and jitter, then go to the dead letter with their last
error; a job rescheduled for a rate limit (`RetryLater`) keeps its attempts. Jobs of one
function on one thread (issue or pull request) run one at a time, a busy thread never
stops the claim from reaching other threads' jobs, and a newer push to a pull request
supersedes older queued jobs of the same function.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

import psycopg

from shared.pipeline.events import Delivery

NOTIFY_CHANNEL = "petrel_jobs"
BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 3600.0
# pull_request actions whose jobs a newer push replaces while they wait
SUPERSEDABLE = {"opened", "reopened", "synchronize", "ready_for_review"}


@dataclass(frozen=True)
class Job:
    """One function's job for one delivery, as a worker claimed it (with the lease token that proves the claim)."""

    id: int
    delivery_id: str
    function: str
    attempts: int
    max_attempts: int
    lease_token: str


@dataclass(frozen=True)
class Accepted:
    """What storing a delivery did: `stored` is False for a redelivery."""

    stored: bool
    jobs: tuple[str, ...]


def _supersede_key(delivery: Delivery) -> str | None:
    if delivery.event == "pull_request" and delivery.action in SUPERSEDABLE and delivery.thread:
        return delivery.thread
    return None


def store_delivery(conn: psycopg.Connection, delivery: Delivery) -> bool:
    """Insert the delivery unless its id is known; True when it is new."""
    row = conn.execute(
        """INSERT INTO deliveries (id, event, action, installation_id, repository, payload)
           VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (id) DO NOTHING RETURNING id""",
        (
            delivery.id,
            delivery.event,
            delivery.action,
            delivery.installation_id,
            delivery.repository,
            delivery.payload_json,
        ),
    ).fetchone()
    return row is not None


def accept(conn: psycopg.Connection, delivery: Delivery, functions: list[str], max_attempts: int) -> Accepted:
    """Store a delivery and one job per subscribed function, atomically and at most once."""
    with conn.transaction():
        if not store_delivery(conn, delivery):
            return Accepted(False, ())
        supersede_key = _supersede_key(delivery)
        for function in functions:
            conn.execute(
                """INSERT INTO jobs (delivery_id, function, max_attempts, serial_key, supersede_key, event_time)
                   VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (delivery_id, function) DO NOTHING""",
                (
                    delivery.id,
                    function,
                    max_attempts,
                    f"{function}:{delivery.thread}" if delivery.thread else None,
                    supersede_key,
                    delivery.updated_at if supersede_key else None,
                ),
            )
            if supersede_key:
                supersede_older(conn, function, supersede_key)
        if functions:
            conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return Accepted(True, tuple(functions))


def supersede_older(conn: psycopg.Connection, function: str, key: str) -> int:
    """Mark queued jobs superseded when a newer job of the same pull request exists."""
    # The newest live job is found from the top of an index, so this costs the same
    # however many pushes the pull request has had. SKIP LOCKED: rows another worker is
    # claiming right now are left to that worker (it runs this check too).
    return conn.execute(
        """WITH newest AS (
               SELECT event_time, id FROM jobs
               WHERE function = %(function)s AND supersede_key = %(key)s
                 AND status IN ('queued', 'running', 'done')
               ORDER BY event_time DESC, id DESC LIMIT 1)
           UPDATE jobs SET status = 'superseded', finished_at = now(),
                  last_error = 'superseded by a newer push to the pull request'
           WHERE id IN (
               SELECT old.id FROM jobs AS old, newest
               WHERE old.function = %(function)s AND old.supersede_key = %(key)s AND old.status = 'queued'
                 AND (old.event_time, old.id) < (newest.event_time, newest.id)
               FOR UPDATE OF old SKIP LOCKED)""",
        {"function": function, "key": key},
    ).rowcount


def claim(conn: psycopg.Connection, lease_seconds: float) -> Job | None:
    """Take the next runnable job under a lease, or None.

    Runnable: queued and due, or running with an expired lease (its worker died). A job whose
    thread already has a running job is left out in the query itself, before the `LIMIT`:
    however many jobs one busy thread has queued, they cannot hide another thread's job.
    """
    with conn.transaction():
        candidates = conn.execute(
            """SELECT id, status, attempts, max_attempts, serial_key, supersede_key, function FROM jobs AS j
               WHERE ((status = 'queued' AND run_at <= now()) OR (status = 'running' AND lease_until < now()))
                 AND NOT (serial_key IS NOT NULL AND EXISTS (
                     SELECT 1 FROM jobs AS busy
                     WHERE busy.serial_key = j.serial_key AND busy.status = 'running'
                       AND busy.lease_until >= now() AND busy.id <> j.id))
               ORDER BY run_at, id LIMIT 20 FOR UPDATE SKIP LOCKED"""
        ).fetchall()
        for job_id, status, attempts, max_attempts, serial_key, supersede_key, function in candidates:
            if status == "running" and attempts >= max_attempts:
                conn.execute(
                    """UPDATE jobs SET status = 'dead', finished_at = now(), lease_until = NULL,
                              last_error = coalesce(last_error || '; ', '') || 'lease expired on the last attempt'
                       WHERE id = %s""",
                    (job_id,),
                )
                continue
            if (
                supersede_key
                and supersede_older(conn, function, supersede_key)
                and _status(conn, job_id) == "superseded"
            ):
                continue
            if serial_key:
                locked = conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (serial_key,)).fetchone()[0]
                if not locked:
                    continue
                busy = conn.execute(
                    """SELECT 1 FROM jobs WHERE serial_key = %s AND status = 'running'
                       AND lease_until >= now() AND id <> %s LIMIT 1""",
                    (serial_key, job_id),
                ).fetchone()
                if busy:
                    continue
            row = conn.execute(
                """UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(),
                          lease_until = now() + make_interval(secs => %s), lease_token = gen_random_uuid(),
                          last_error = CASE WHEN status = 'running'
                                            THEN coalesce(last_error || '; ', '') || 'lease expired: taken back'
                                            ELSE last_error END
                   WHERE id = %s
                   RETURNING id, delivery_id, function, attempts, max_attempts, lease_token::text""",
                (lease_seconds, job_id),
            ).fetchone()
            return Job(*row)
    return None


def _status(conn: psycopg.Connection, job_id: int) -> str:
    return conn.execute("SELECT status FROM jobs WHERE id = %s", (job_id,)).fetchone()[0]


def extend_lease(conn: psycopg.Connection, job: Job, lease_seconds: float) -> bool:
    """Push the lease forward while the job runs; False when the lease was lost."""
    return bool(
        conn.execute(
            """UPDATE jobs SET lease_until = now() + make_interval(secs => %s)
               WHERE id = %s AND lease_token = %s AND status = 'running'""",
            (lease_seconds, job.id, job.lease_token),
        ).rowcount
    )


def complete(conn: psycopg.Connection, job: Job) -> bool:
    """Mark the job done; False when another worker took it back meanwhile."""
    return bool(
        conn.execute(
            """UPDATE jobs SET status = 'done', finished_at = now(), lease_until = NULL
               WHERE id = %s AND lease_token = %s AND status = 'running'""",
            (job.id, job.lease_token),
        ).rowcount
    )


def backoff_seconds(attempts: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Exponential backoff with full jitter over its upper half: base * 2^(n-1), capped."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)


def fail(
    conn: psycopg.Connection,
    job: Job,
    error: str,
    retry_in: float | None = None,
    backoff_base: float = BACKOFF_BASE_SECONDS,
) -> str:
    """Record a failure: back to the queue after a delay, or to the dead letter. Returns the new status."""
    delay = retry_in if retry_in is not None else backoff_seconds(job.attempts, backoff_base)
    status = "dead" if job.attempts >= job.max_attempts else "queued"
    conn.execute(
        """UPDATE jobs SET status = %s, last_error = %s, lease_until = NULL, lease_token = NULL,
                  run_at = now() + make_interval(secs => %s),
                  finished_at = CASE WHEN %s = 'dead' THEN now() END
           WHERE id = %s AND lease_token = %s""",
        (status, error[:4000], delay, status, job.id, job.lease_token),
    )
    return status


def reschedule(conn: psycopg.Connection, job: Job, reason: str, retry_in: float) -> bool:
    """Put the job back in the queue for `retry_in` seconds without spending an attempt: waiting
    for a rate limit (`RetryLater`) is not a failure. False when the lease was lost meanwhile."""
    done = conn.execute(
        """UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), last_error = %s,
                  lease_until = NULL, lease_token = NULL, run_at = now() + make_interval(secs => %s)
           WHERE id = %s AND lease_token = %s AND status = 'running'""",
        (reason[:4000], retry_in, job.id, job.lease_token),
    ).rowcount
    return bool(done)


def counts(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """Jobs by function and status."""
    result: dict[str, dict[str, int]] = {}
    for function, status, n in conn.execute("SELECT function, status, count(*) FROM jobs GROUP BY 1, 2 ORDER BY 1, 2"):
        result.setdefault(function, {})[status] = n
    return result


@dataclass(frozen=True)
class DeadLetter:
    """A job that used up its attempts, with its delivery's event and last error, for the operator."""

    id: int
    function: str
    delivery_id: str
    event: str
    repository: str | None
    attempts: int
    last_error: str | None
    finished_at: datetime | None


def dead_letters(conn: psycopg.Connection, limit: int = 50) -> list[DeadLetter]:
    """The latest `limit` dead jobs, most recently finished first."""
    rows = conn.execute(
        """SELECT j.id, j.function, j.delivery_id,
                  d.event || coalesce('.' || d.action, ''), d.repository, j.attempts, j.last_error, j.finished_at
           FROM jobs j JOIN deliveries d ON d.id = j.delivery_id
           WHERE j.status = 'dead' ORDER BY j.finished_at DESC NULLS LAST LIMIT %s""",
        (limit,),
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


def retry_dead(conn: psycopg.Connection, job_id: int) -> bool:
    """Put a dead-lettered job back in the queue with fresh attempts."""
    with conn.transaction():
        done = conn.execute(
            """UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(), finished_at = NULL
               WHERE id = %s AND status = 'dead'""",
            (job_id,),
        ).rowcount
        if done:
            conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return bool(done)
