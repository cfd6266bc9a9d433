"""Nothing lost, nothing done twice: redelivery storms, a worker killed mid-job, Postgres down."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time

import payloads
import psycopg
import pytest
from conftest import ROOT, count, free_port, jobs_of, signed
from fakes.github import FakeGitHub
from werkzeug.serving import make_server

from shared.context import Context
from shared.modes.local import create_app
from shared.pipeline import queue
from shared.pipeline.worker import Worker, load_handler
from shared.runtime.db import make_pool

REPO = "Codertocat/Hello-World"
TOKEN = "ghp_" + "d" * 36


@pytest.fixture
def server(app_env):
    """The local HTTP app (what `make run` serves) on a free loopback port."""
    pool = make_pool(app_env.database_url)
    port = free_port()
    httpd = make_server("127.0.0.1", port, create_app({}, pool), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield port
    httpd.shutdown()
    pool.close()


def post(port: int, headers: dict, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/webhook", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def test_fifty_simultaneous_redeliveries_make_one_set_of_jobs(server, app_env):
    headers, body = signed(payloads.example("pull_request", "opened"), "pull_request")
    barrier = threading.Barrier(50)
    statuses = []

    def redeliver():
        barrier.wait()
        statuses.append(post(server, headers, body))

    threads = [threading.Thread(target=redeliver) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(statuses) == 50 and all(200 <= s < 300 for s in statuses), statuses
    assert statuses.count(202) == 1  # one stored it; the others were told it was a duplicate
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 1
    assert sorted(f for _, f, _ in jobs_of(app_env.database_url)) == ["pr_review", "pr_summary"]


def test_over_25_mb_is_refused_without_reading_the_body(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    conn.putrequest("POST", "/webhook")
    for name, value in {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "big",
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=00",
        "Content-Length": str(26 * 1024 * 1024),
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(b"{" * 1024)  # 1 KiB of the announced 26 MiB: the answer must not wait for the rest
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


WORKER_SCRIPT = """
import sys, threading
from shared.runtime import settings
from shared.runtime import log
from shared.runtime.db import make_pool
from shared.pipeline.worker import Worker, load_handler
log.setup()
config = settings.current()
pool = make_pool(config.database_url)
Worker(pool, config, {"commands": load_handler("commands")}, name="doomed").run(threading.Event(), idle=0.1)
"""


def test_worker_killed_mid_job_the_job_is_retried_and_finishes_once(clean_db, env):
    github = FakeGitHub().start()
    try:
        github.add_repo(REPO)
        github.add_issue(REPO, 1)
        github.add_token(TOKEN, repos=[REPO])
        values = dict(
            GITHUB_WEBHOOK_SECRET="s",
            DATABASE_URL=clean_db,
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL=github.url,
            PETREL_GITHUB_WRITE_SPACING_SECONDS="0",
            PETREL_JOB_LEASE_SECONDS="3",
        )
        config = env(**values)
        with psycopg.connect(clean_db, autocommit=True) as conn:
            from test_help_command import _delivery

            queue.accept(conn, _delivery(payloads.comment("/help"), "kill-1"), ["commands"], 5)
        # GitHub applies the comment but answers late: the worker dies before it hears back
        github.slow("POST", r"/issues/1/comments$", 30)
        child = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT],
            cwd=ROOT,
            env={**os.environ, **values, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert wait_until(lambda: len(github.comments(REPO, 1)) == 1), "the worker never wrote"
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        finally:
            child.kill()
        assert jobs_of(clean_db) == [("kill-1", "commands", "running")]  # the lease is still held by the dead
        pool = make_pool(clean_db)
        try:
            worker = Worker(pool, config, {"commands": load_handler("commands")}, name="survivor")
            assert wait_until(worker.run_once, timeout=15, interval=0.2)  # once the lease has expired
        finally:
            pool.close()
        with psycopg.connect(clean_db) as conn:
            status, attempts = conn.execute("SELECT status, attempts FROM jobs").fetchone()
        assert (status, attempts) == ("done", 2)
        assert len(github.comments(REPO, 1)) == 1  # found by its marker, not posted again
    finally:
        github.stop()


def opened(number: int):
    """A signed pull_request.opened for PR `number` (different PRs: none supersedes another)."""
    payload = payloads.example("pull_request", "opened")
    payload["pull_request"]["number"] = payload["number"] = number
    return signed(payload, "pull_request")


def stop_postgres(pg_server):
    from shared.runtime.db import pg_ctl_stop

    pg_ctl_stop(pg_server.pgdata)


def test_database_down_answers_503_then_recovers_and_loses_nothing(server, app_env, pg_server):
    pool = make_pool(app_env.database_url)
    stop, ran = threading.Event(), []

    def handler(event):
        ran.append(event["id"])

    worker = Worker(pool, app_env, {"pr_review": handler, "pr_summary": handler}, name="steady")
    thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle": 0.1}, daemon=True)
    thread.start()
    try:
        before = opened(1)
        assert post(server, *before) == 202
        assert wait_until(lambda: len(ran) == 2)

        stop_postgres(pg_server)
        try:
            during = opened(2)
            assert post(server, *during) == 503
        finally:
            pg_server.ensure_postgres_running()

        # GitHub (or the user) redelivers the refused delivery; a new one arrives too
        assert post(server, *during) == 202
        after = opened(3)
        assert post(server, *after) == 202
        assert wait_until(lambda: len(ran) == 6, timeout=30)
        assert wait_until(lambda: {s for _, _, s in jobs_of(app_env.database_url)} == {"done"}, timeout=30)
    finally:
        stop.set()
        thread.join(timeout=10)
        pool.close()
    ids = [h["X-GitHub-Delivery"] for h, _ in (before, during, after)]
    assert sorted(ran) == sorted(ids * 2)  # each delivery handled once per function
    assert {s for _, _, s in jobs_of(app_env.database_url)} == {"done"}
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 3


def test_a_burst_from_many_installations_is_stored_and_handled_once_each(server, app_env):
    sent = []
    for n in range(60):
        payload = payloads.with_installation(payloads.example("issues", "opened"), installation_id=1000 + n % 20)
        payload["repository"]["full_name"] = f"org{n % 20}/repo"
        payload["issue"]["number"] = n
        sent.append(signed(payload, "issues"))
    handled: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler_for(name):
        def handle(event):
            with lock:
                handled.append((event["id"], name))

        return handle

    pool = make_pool(app_env.database_url)
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=Worker(
                pool,
                app_env,
                {"issue_triage": handler_for("issue_triage"), "memory_indexer": handler_for("memory_indexer")},
                name=f"w{n}",
            ).run,
            args=(stop,),
            kwargs={"idle": 0.05},
            daemon=True,
        )
        for n in range(3)
    ]
    for w in workers:
        w.start()
    statuses = []
    try:
        senders = [threading.Thread(target=lambda h=h, b=b: statuses.append(post(server, h, b))) for h, b in sent]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        assert wait_until(lambda: len(handled) >= 120, timeout=60)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=10)
        pool.close()
    assert statuses.count(202) == 60
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 60
    assert len(handled) == len(set(handled)) == 120  # every job once, none twice
    assert {s for _, _, s in jobs_of(app_env.database_url)} == {"done"}


def test_a_job_whose_lease_was_taken_back_stops_writing(clean_db, env):
    from shared.github import actions
    from shared.runtime import scope as context

    github = FakeGitHub().start()
    try:
        github.add_repo(REPO)
        github.add_issue(REPO, 1)
        github.add_token(TOKEN, repos=[REPO])
        config = env(
            DATABASE_URL=clean_db,
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL=github.url,
            PETREL_GITHUB_WRITE_SPACING_SECONDS="0",
            PETREL_JOB_LEASE_SECONDS="1",
        )
        with psycopg.connect(clean_db, autocommit=True) as conn:
            from test_help_command import _delivery

            queue.accept(conn, _delivery(payloads.comment("/help"), "taken-1"), ["commands"], 5)
        stopped = []

        def slow_then_write(event):
            ctx = Context.of(event)
            with psycopg.connect(clean_db, autocommit=True) as conn:  # another worker took the job back
                conn.execute("UPDATE jobs SET lease_token = gen_random_uuid(), lease_until = now() + interval '1 hour'")
            threading.Event().wait(1.0)  # three heartbeats of this worker meanwhile
            try:
                ctx.act([actions.UpsertComment(REPO, 1, "help", "stale answer")])
            except context.LeaseLost as error:
                stopped.append(error)
                raise

        pool = make_pool(clean_db)
        try:
            assert Worker(pool, config, {"commands": slow_then_write}, name="stale").run_once()
        finally:
            pool.close()
        assert github.comments(REPO, 1) == []  # the stale worker wrote nothing
        assert len(stopped) == 1
        assert jobs_of(clean_db) == [("taken-1", "commands", "running")]  # left to the worker that holds it
    finally:
        github.stop()


def test_a_job_under_a_renewed_lease_writes_all_along(clean_db, env):
    """The other side of the above: a short lease, renewed by the heartbeat, never stops a job."""
    github = FakeGitHub().start()
    try:
        github.add_repo(REPO)
        github.add_issue(REPO, 1)
        github.add_token(TOKEN, repos=[REPO])
        config = env(
            DATABASE_URL=clean_db,
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL=github.url,
            PETREL_GITHUB_WRITE_SPACING_SECONDS="0",
            PETREL_JOB_LEASE_SECONDS="1",
        )
        with psycopg.connect(clean_db, autocommit=True) as conn:
            from test_help_command import _delivery

            queue.accept(conn, _delivery(payloads.comment("/help"), "renewed-1"), ["commands"], 5)

        def write_for_three_leases(event):
            from shared.github import actions

            ctx = Context.of(event)
            for n in range(6):
                ctx.act([actions.UpsertComment(REPO, 1, "help", f"answer {n}")])
                threading.Event().wait(0.5)

        pool = make_pool(clean_db)
        try:
            assert Worker(pool, config, {"commands": write_for_three_leases}, name="steady").run_once()
        finally:
            pool.close()
        [comment] = github.comments(REPO, 1)
        assert comment["body"].endswith("answer 5")
        assert jobs_of(clean_db) == [("renewed-1", "commands", "done")]
    finally:
        github.stop()
