"""One writer per artefact: the lock held from "look for mine" to "posted".

Every comment, review, reply and description section Petrel writes is found again by its
marker key, so running a job twice changes nothing. That holds one job at a time only: two
jobs that write the same artefact at the same moment (`pr_review` and `/review` on one
pull request, `pr_summary` and `/describe`, `issue_triage` and `/triage`, or two functions
writing the same notice) can both look, both find nothing, and both post. So the executor
writes each keyed artefact under a lock named by repository, number and key: the second
writer waits, then finds the first one's artefact and edits it or leaves it be.

- With a database (the local workers, Knative and Cloud Run with `DATABASE_URL`, the Action
  with `database-url` or its embedded Postgres): a Postgres advisory lock, taken in a
  transaction (`pg_advisory_xact_lock`), so it is released however the holder ends, even
  when its process dies. Every process that shares the database shares the lock.
- Without one (no `DATABASE_URL` and no embedded Postgres): a lock in this process only.
  Other processes are kept apart only by the marker check.

The wait is bounded: at most `WAIT_CAP_SECONDS` and never past the job's deadline or lease;
past it the job is rescheduled (`RetryLater`, which spends no attempt).
"""

from __future__ import annotations

import contextlib
import threading
import zlib

from shared.runtime import scope as context
from shared.runtime.scope import RetryLater

LOCK_CLASS = 7_384_002  # first key of pg_advisory_xact_lock(int, int): Petrel's artefacts
WAIT_CAP_SECONDS = 120.0  # the longest wait for another job's write (a list and a post, or a rate-limit wait)
BUSY_RETRY_SECONDS = 30.0
BUSY = "another job is writing {key}"
_LOCAL = [threading.Lock() for _ in range(64)]  # without a database: stripes, keyed by a hash


def artefact_key(action) -> str | None:
    """The artefact an action writes, as `owner/name#number:key`; None for actions without a
    marker key (reactions and labels are idempotent on GitHub's side)."""
    key = getattr(action, "key", None)
    number = getattr(action, "issue_number", None) or getattr(action, "pull_number", None)
    repository = getattr(action, "repository", None)
    if not key or number is None or not repository:
        return None
    return f"{repository.lower()}#{number}:{key}"


def _wait_seconds() -> float:
    context.check("waiting for another job's write")
    return context.capped(WAIT_CAP_SECONDS)


@contextlib.contextmanager
def holding(pool, key: str):
    """Hold the lock of artefact `key` for the block (`pool`: a psycopg pool, or None for a
    lock in this process); `RetryLater` when another holder keeps it past the wait."""
    wait = _wait_seconds()
    if pool is None:
        lock = _LOCAL[zlib.crc32(key.encode()) % len(_LOCAL)]
        if not lock.acquire(timeout=wait):
            raise RetryLater(BUSY_RETRY_SECONDS, BUSY.format(key=key))
        try:
            yield
        finally:
            lock.release()
        return
    import psycopg

    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{max(1, int(wait * 1000))}ms",))
        try:
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, key))
        except psycopg.errors.LockNotAvailable:
            raise RetryLater(BUSY_RETRY_SECONDS, BUSY.format(key=key)) from None
        yield
