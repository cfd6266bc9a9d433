"""One writer per artefact (shared/runtime/locks.py): the lock is shared, bounded by the job's time, and
released however its holder ends. The race it prevents is tested end to end in test_pr_functions."""

from __future__ import annotations

import threading

import psycopg
import pytest

from shared.github import actions
from shared.runtime import locks
from shared.runtime import scope as context
from shared.runtime.db import make_pool
from shared.runtime.scope import RetryLater


@pytest.fixture
def pool(clean_db):
    pool = make_pool(clean_db)
    yield pool
    pool.close()


def hold_in_thread(pool, key: str):
    """Hold `key` in another thread until the returned event is set."""
    held, release = threading.Event(), threading.Event()

    def holder():
        with locks.holding(pool, key):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    return release, thread


def test_artefact_keys_name_repository_number_and_marker():
    assert locks.artefact_key(actions.UpsertComment("Octo/App", 3, "summary", "x")) == "octo/app#3:summary"
    assert locks.artefact_key(actions.PostReview("o/a", 4, "f" * 40, "review:abc", "x")) == "o/a#4:review:abc"
    assert locks.artefact_key(actions.React("o/a", 99, "eyes")) is None  # idempotent on GitHub's side
    assert locks.artefact_key(actions.AddLabels("o/a", 3, ("bug",))) is None


@pytest.mark.parametrize("shared", [True, False], ids=["postgres", "in-process"])
def test_a_held_artefact_makes_the_next_writer_wait_then_retry_later(pool, shared):
    where = pool if shared else None
    release, thread = hold_in_thread(where, "o/a#1:summary")
    try:
        with context.working_on("d-wait", timeout_seconds=1), pytest.raises(RetryLater) as later:
            with locks.holding(where, "o/a#1:summary"):
                pytest.fail("entered a held lock")
        assert later.value.seconds == locks.BUSY_RETRY_SECONDS and "o/a#1:summary" in later.value.reason
        with context.working_on("d-other", timeout_seconds=1), locks.holding(where, "o/a#2:summary"):
            pass  # another artefact is not held up
    finally:
        release.set()
        thread.join()
    with context.working_on("d-after", timeout_seconds=1), locks.holding(where, "o/a#1:summary"):
        pass  # released with its holder


def test_the_lock_is_released_when_its_holder_fails(pool):
    with pytest.raises(RuntimeError):
        with locks.holding(pool, "o/a#1:review:abc"):
            raise RuntimeError("the post failed")
    with context.working_on("d-next", timeout_seconds=1), locks.holding(pool, "o/a#1:review:abc"):
        pass


def test_the_lock_is_released_when_its_connection_dies(clean_db, pool):
    doomed = psycopg.connect(clean_db, autocommit=True)
    doomed.execute("BEGIN")
    doomed.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (locks.LOCK_CLASS, "o/a#1:summary"))
    with psycopg.connect(clean_db, autocommit=True) as admin:  # its worker's process dies
        admin.execute("SELECT pg_terminate_backend(%s)", (doomed.info.backend_pid,))
    doomed.close()
    with context.working_on("d-next", timeout_seconds=5), locks.holding(pool, "o/a#1:summary"):
        pass


def test_no_wait_for_a_lock_once_the_job_must_stop(pool):
    with context.working_on("d-late", timeout_seconds=0), pytest.raises(context.DeadlineExceeded):
        with locks.holding(pool, "o/a#1:summary"):
            pass
