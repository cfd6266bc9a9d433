"""The jobs table: claiming, leases, retries, dead letters, supersession, one job per thread at a time."""

from __future__ import annotations

import json
import threading
import uuid

import payloads
import psycopg
import pytest
from conftest import jobs_of

from shared.pipeline import events, queue


def delivery_of(payload: dict, event: str, delivery_id: str | None = None) -> events.Delivery:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id or str(uuid.uuid4())}
    return events.parse_delivery(headers, json.dumps(payload).encode())


@pytest.fixture
def conn(clean_db):
    with psycopg.connect(clean_db, autocommit=True) as connection:
        yield connection


def age(conn, seconds: float = 3600) -> None:
    """Make every queued job due now (backoff delays are tested on their values)."""
    conn.execute("UPDATE jobs SET run_at = now() - make_interval(secs => %s) WHERE status = 'queued'", (seconds,))


def test_accept_stores_once_and_makes_one_job_per_function(conn):
    delivery = delivery_of(payloads.example("pull_request", "opened"), "pull_request")
    first = queue.accept(conn, delivery, ["pr_review", "pr_summary"], 5)
    second = queue.accept(conn, delivery, ["pr_review", "pr_summary"], 5)
    assert first == queue.Accepted(True, ("pr_review", "pr_summary"))
    assert second == queue.Accepted(False, ())
    assert [(f, s) for _, f, s in jobs_of(conn.info.dsn)] == [("pr_review", "queued"), ("pr_summary", "queued")]


def test_claim_complete(conn):
    delivery = delivery_of(payloads.example("issues", "opened"), "issues")
    queue.accept(conn, delivery, ["issue_triage"], 5)
    job = queue.claim(conn, lease_seconds=30)
    assert (job.function, job.delivery_id, job.attempts) == ("issue_triage", delivery.id, 1)
    assert queue.claim(conn, lease_seconds=30) is None  # the only job is leased
    assert queue.complete(conn, job)
    assert jobs_of(conn.info.dsn) == [(delivery.id, "issue_triage", "done")]


def test_failure_backs_off_then_dead_letters_with_the_last_error(conn):
    queue.accept(conn, delivery_of(payloads.example("push"), "push"), ["memory_indexer"], 3)
    statuses = []
    for attempt in range(1, 4):
        age(conn)
        job = queue.claim(conn, 30)
        assert job.attempts == attempt
        statuses.append(queue.fail(conn, job, f"boom {attempt}", backoff_base=10))
        if attempt < 3:
            delay = conn.execute("SELECT extract(epoch FROM run_at - now()) FROM jobs").fetchone()[0]
            ceiling = 10 * 2 ** (attempt - 1)
            assert ceiling / 2 - 1 <= float(delay) <= ceiling
    assert statuses == ["queued", "queued", "dead"]
    [letter] = queue.dead_letters(conn)
    assert (letter.attempts, letter.last_error, letter.event) == (3, "boom 3", "push")
    assert queue.claim(conn, 30) is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    samples = [queue.backoff_seconds(n, base=10, cap=100) for n in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    by_attempt = [samples[i * 50 : (i + 1) * 50] for i in range(6)]
    assert all(5 <= s <= 10 for s in by_attempt[0])
    assert all(20 <= s <= 40 for s in by_attempt[2])
    assert all(50 <= s <= 100 for s in by_attempt[5])  # capped
    assert len(set(by_attempt[0])) > 1  # jittered


def test_dead_letter_can_be_retried(conn):
    queue.accept(conn, delivery_of(payloads.example("push"), "push"), ["memory_indexer"], 1)
    job = queue.claim(conn, 30)
    assert queue.fail(conn, job, "boom") == "dead"
    assert queue.retry_dead(conn, job.id)
    assert not queue.retry_dead(conn, job.id)  # no longer dead
    again = queue.claim(conn, 30)
    assert (again.id, again.attempts) == (job.id, 1)
    assert queue.counts(conn) == {"memory_indexer": {"running": 1}}


def test_expired_lease_is_taken_back_and_the_stale_worker_cannot_finish_it(conn):
    queue.accept(conn, delivery_of(payloads.example("push"), "push"), ["memory_indexer"], 5)
    stale = queue.claim(conn, 30)
    conn.execute("UPDATE jobs SET lease_until = now() - interval '1 second'")  # its worker died
    fresh = queue.claim(conn, 30)
    assert fresh.id == stale.id and fresh.attempts == 2 and fresh.lease_token != stale.lease_token
    assert not queue.complete(conn, stale)
    assert not queue.extend_lease(conn, stale, 30)
    assert queue.complete(conn, fresh)
    assert "lease expired" in conn.execute("SELECT last_error FROM jobs").fetchone()[0]


def test_lease_expiring_on_the_last_attempt_dead_letters(conn):
    queue.accept(conn, delivery_of(payloads.example("push"), "push"), ["memory_indexer"], 1)
    queue.claim(conn, 30)
    conn.execute("UPDATE jobs SET lease_until = now() - interval '1 second'")
    assert queue.claim(conn, 30) is None
    assert queue.counts(conn) == {"memory_indexer": {"dead": 1}}


def synchronize(updated_at: str, head: str) -> dict:
    payload = payloads.with_installation(payloads.example("pull_request", "synchronize"))
    payload["pull_request"]["updated_at"] = updated_at
    payload["pull_request"]["head"]["sha"] = head
    return payload


def test_newer_synchronize_supersedes_queued_jobs_of_the_same_function(conn):
    older = delivery_of(synchronize("2026-01-01T10:00:00Z", "a" * 40), "pull_request")
    newer = delivery_of(synchronize("2026-01-01T10:05:00Z", "b" * 40), "pull_request")
    queue.accept(conn, older, ["pr_review"], 5)
    queue.accept(conn, newer, ["pr_review"], 5)
    assert jobs_of(conn.info.dsn) == [(older.id, "pr_review", "superseded"), (newer.id, "pr_review", "queued")]
    assert queue.claim(conn, 30).delivery_id == newer.id


def test_late_older_synchronize_is_superseded_on_arrival(conn):
    newer = delivery_of(synchronize("2026-01-01T10:05:00Z", "b" * 40), "pull_request")
    older = delivery_of(synchronize("2026-01-01T10:00:00Z", "a" * 40), "pull_request")
    queue.accept(conn, newer, ["pr_review"], 5)
    job = queue.claim(conn, 30)
    queue.accept(conn, older, ["pr_review"], 5)  # arrives while the newer head is being reviewed
    assert dict((d, s) for d, _, s in jobs_of(conn.info.dsn)) == {newer.id: "running", older.id: "superseded"}
    assert queue.complete(conn, job)


def test_running_jobs_are_not_superseded(conn):
    older = delivery_of(synchronize("2026-01-01T10:00:00Z", "a" * 40), "pull_request")
    newer = delivery_of(synchronize("2026-01-01T10:05:00Z", "b" * 40), "pull_request")
    queue.accept(conn, older, ["pr_review"], 5)
    running = queue.claim(conn, 30)
    queue.accept(conn, newer, ["pr_review"], 5)
    assert dict((d, s) for d, _, s in jobs_of(conn.info.dsn)) == {older.id: "running", newer.id: "queued"}
    assert running.delivery_id == older.id


def test_jobs_of_one_thread_run_one_at_a_time(conn):
    first = delivery_of(payloads.comment("/help", comment_id=1), "issue_comment")
    second = delivery_of(payloads.comment("/help", comment_id=2), "issue_comment")
    other_thread = payloads.comment("/help", comment_id=3)
    other_thread["issue"]["number"] = 9999
    third = delivery_of(other_thread, "issue_comment")
    for d in (first, second, third):
        queue.accept(conn, d, ["commands"], 5)
    a = queue.claim(conn, 30)
    b = queue.claim(conn, 30)
    assert (a.delivery_id, b.delivery_id) == (first.id, third.id)  # second waits for first: same thread
    assert queue.claim(conn, 30) is None
    queue.complete(conn, a)
    assert queue.claim(conn, 30).delivery_id == second.id


def test_concurrent_claimers_never_take_the_same_job(clean_db):
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for _ in range(40):
            payload = payloads.example("push")
            queue.accept(conn, delivery_of(payload, "push"), ["memory_indexer"], 5)
    taken: list[int] = []
    lock = threading.Lock()

    def claimer():
        with psycopg.connect(clean_db, autocommit=True) as own:
            while (job := queue.claim(own, 30)) is not None:
                with lock:
                    taken.append(job.id)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(1, 41))


def test_a_job_past_its_timeout_keeps_its_lease_until_it_returns(clean_db):
    from shared.pipeline.worker import Worker
    from shared.runtime import scope as context
    from shared.runtime import settings
    from shared.runtime.db import make_pool

    config = settings.from_env({"PETREL_JOB_LEASE_SECONDS": "1", "PETREL_JOB_TIMEOUT_SECONDS": "1"})
    claims = []

    def slow_job(event):
        # runs on well past its deadline and past a lease length: another worker keeps trying
        # to take the job meanwhile
        with psycopg.connect(clean_db, autocommit=True) as other_worker:
            while context.seconds_left() > -2.5:
                claims.append(queue.claim(other_worker, 30))
                threading.Event().wait(0.1)

    pool = make_pool(clean_db)
    try:
        with psycopg.connect(clean_db, autocommit=True) as conn:
            queue.accept(conn, delivery_of(payloads.example("push"), "push"), ["memory_indexer"], 5)
        assert Worker(pool, config, {"memory_indexer": slow_job}).run_once()
        with psycopg.connect(clean_db, autocommit=True) as conn:
            assert conn.execute("SELECT status, attempts FROM jobs").fetchone() == ("done", 1)
    finally:
        pool.close()
    assert len(claims) > 20 and claims == [None] * len(claims)  # nobody else ever took it


def test_a_rate_limited_job_keeps_its_attempts(clean_db):
    from shared.pipeline.worker import Worker
    from shared.runtime import settings
    from shared.runtime.db import make_pool
    from shared.runtime.scope import RetryLater

    def limited(event):
        raise RetryLater(30, "GitHub rate limit on POST /repos/o/r/issues/1/comments")

    pool = make_pool(clean_db)
    try:
        with psycopg.connect(clean_db, autocommit=True) as conn:
            queue.accept(conn, delivery_of(payloads.example("push"), "push"), ["memory_indexer"], 2)
            worker = Worker(pool, settings.from_env({}), {"memory_indexer": limited})
            for _ in range(4):  # twice the attempts allowed: waiting is not failing
                age(conn)
                assert worker.run_once()
            status, attempts, error, wait = conn.execute(
                "SELECT status, attempts, last_error, extract(epoch FROM run_at - now()) FROM jobs"
            ).fetchone()
    finally:
        pool.close()
    assert (status, attempts) == ("queued", 0)
    assert "rate limit" in error and 20 < float(wait) <= 30


def test_real_errors_still_spend_attempts_after_a_rate_limit(clean_db):
    from shared.pipeline.worker import Worker
    from shared.runtime import settings
    from shared.runtime.db import make_pool
    from shared.runtime.scope import RetryLater

    outcomes = iter([RetryLater(1, "model rate limit (m)"), RuntimeError("boom"), RuntimeError("boom again")])

    def flaky(event):
        raise next(outcomes)

    pool = make_pool(clean_db)
    try:
        with psycopg.connect(clean_db, autocommit=True) as conn:
            queue.accept(conn, delivery_of(payloads.example("push"), "push"), ["memory_indexer"], 2)
            worker = Worker(pool, settings.from_env({}), {"memory_indexer": flaky}, backoff_base=0.01)
            for _ in range(3):
                age(conn)
                assert worker.run_once()
            assert conn.execute("SELECT status, attempts, last_error FROM jobs").fetchone() == (
                "dead",
                2,
                "RuntimeError: boom again",
            )
    finally:
        pool.close()


def test_a_busy_thread_in_front_of_the_queue_does_not_hide_another_repository(conn):
    def command(number: int, comment_id: int, repository: str = "Codertocat/Hello-World") -> events.Delivery:
        payload = payloads.comment("/review", comment_id=comment_id)
        payload["issue"]["number"] = number
        payload["repository"]["full_name"] = repository
        return delivery_of(payload, "issue_comment")

    queue.accept(conn, command(1, 1), ["commands"], 5)
    running = queue.claim(conn, 30)  # the thread is busy from now on
    for n in range(300):  # then a flood of comments on that same thread
        queue.accept(conn, command(1, 100 + n), ["commands"], 5)
    other = command(7, 9999, repository="octo-org/other")
    queue.accept(conn, other, ["commands"], 5)
    job = queue.claim(conn, 30)
    assert job is not None and job.delivery_id == other.id
    assert queue.claim(conn, 30) is None  # the thread's own jobs still wait for the running one
    queue.complete(conn, running)
    assert queue.claim(conn, 30) is not None
