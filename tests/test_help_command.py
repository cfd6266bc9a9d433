"""End to end: a signed `/help` comment travels webhook -> queue -> worker -> commands -> GitHub.

GitHub is the fake server (real HTTP, real PyGithub, real App token flow); Postgres is real.
"""

from __future__ import annotations

import logging

import payloads
import pytest
from conftest import ROOT, jobs_of, signed
from fakes.github import FakeGitHub
from functions_framework import create_app

from shared.pipeline import queue
from shared.pipeline.worker import Worker, cloudevent_for, load_function, load_handler
from shared.runtime.db import make_pool

REPO = "Codertocat/Hello-World"
WEBHOOK = str(ROOT / "functions" / "webhook" / "main.py")


def _commands_module():
    return load_function("commands", module_name="commands_under_test")


commands = _commands_module()


@pytest.fixture
def github(app_key):
    fake = FakeGitHub(app_id=4242).start()
    fake.set_app_key(app_key[1])
    fake.add_repo(REPO, installation_id=1)
    fake.add_issue(REPO, 1, title="Spelling error in the README file")
    fake.add_issue(REPO, 2, title="A pull request", pull_request=True, head_sha="c" * 40)
    yield fake
    fake.stop()


@pytest.fixture
def pipeline(env, clean_db, github, app_key):
    """The webhook (under functions-framework) and one worker, configured as a GitHub App."""
    config = env(
        GITHUB_WEBHOOK_SECRET="s3cret",
        DATABASE_URL=clean_db,
        GITHUB_APP_ID=4242,
        GITHUB_PRIVATE_KEY=app_key[0],
        GITHUB_API_URL=github.url,
        PETREL_GITHUB_WRITE_SPACING_SECONDS=0,
    )
    webhook = create_app("webhook", WEBHOOK, "http").test_client()
    pool = make_pool(clean_db)
    # a failed job waits (the retry test makes it due by hand), so `work()` cannot race its backoff
    worker = Worker(pool, config, {"commands": load_handler("commands")}, backoff_base=30)

    class Pipeline:
        def deliver(self, payload, event="issue_comment", delivery=None):
            headers, body = signed(payload, event, delivery, secret="s3cret")
            response = webhook.post("/", data=body, headers=headers)
            assert response.status_code in (200, 202), response.get_data(as_text=True)
            return headers["X-GitHub-Delivery"]

        def work(self):
            ran = 0
            while worker.run_once():
                ran += 1
            return ran

    yield Pipeline()
    pool.close()


def petrel_comments(github, number):
    return [c for c in github.comments(REPO, number) if c["user"]["login"] == "petrel[bot]"]


def test_help_comment_is_answered_once_with_the_help_text(pipeline, github, clean_db):
    delivery = pipeline.deliver(payloads.comment("/help"))
    assert pipeline.work() == 1
    [reply] = petrel_comments(github, 1)
    assert reply["body"] == f"<!-- petrel:help -->\n{commands.HELP}"
    assert reply["user"]["type"] == "Bot"
    assert jobs_of(clean_db, delivery) == [(delivery, "commands", "done")]
    # the App token was fetched with a JWT, and every request named the delivery
    assert len(github.tokens_issued) == 1
    api_calls = [r for r in github.requests if r.path.startswith("/repos/")]
    assert api_calls and all(delivery in r.headers["user-agent"] for r in api_calls)


def test_redelivery_and_a_second_run_of_the_same_job_post_nothing_more(pipeline, github, clean_db):
    payload = payloads.comment("/help")
    delivery = pipeline.deliver(payload)
    pipeline.work()
    pipeline.deliver(payload, delivery=delivery)  # GitHub redelivers
    assert pipeline.work() == 0
    load_handler("commands")(cloudevent_for(_delivery(payload, delivery)))  # the same job run again
    assert len(petrel_comments(github, 1)) == 1
    assert not [r for r in github.requests if r.method == "PATCH"]  # unchanged: not even edited


def test_a_second_help_in_the_thread_updates_the_one_help_comment(pipeline, github):
    pipeline.deliver(payloads.comment("/help", comment_id=1))
    pipeline.work()
    [first] = petrel_comments(github, 1)
    github.add_comment(REPO, 1, "thanks!")
    pipeline.deliver(payloads.comment("please\n@petrel help", comment_id=2))
    pipeline.work()
    assert [c["id"] for c in petrel_comments(github, 1)] == [first["id"]]


def test_help_on_a_pull_request(pipeline, github):
    payload = payloads.pr_comment("/help")
    payload["issue"]["number"] = 2
    pipeline.deliver(payload)
    pipeline.work()
    assert len(petrel_comments(github, 2)) == 1 and petrel_comments(github, 1) == []


@pytest.mark.parametrize(
    "payload",
    [
        payloads.from_bot(payloads.comment("<!-- petrel:help -->\n/help")),
        payloads.from_bot(payloads.comment("/help"), login="dependabot[bot]"),
    ],
    ids=["petrel", "other-bot"],
)
def test_comments_from_bots_and_from_petrel_are_ignored(pipeline, github, clean_db, payload):
    delivery = pipeline.deliver(payload)
    assert pipeline.work() == 1
    assert jobs_of(clean_db, delivery) == [(delivery, "commands", "done")]
    assert petrel_comments(github, 1) == []
    assert not [r for r in github.requests if r.method != "GET" and r.path.startswith("/repos/")]


def test_github_failure_is_retried_and_still_posts_once(pipeline, github, clean_db):
    github.fail("POST", r"/issues/1/comments$", 502)
    delivery = pipeline.deliver(payloads.comment("/help"))
    pipeline.work()
    assert jobs_of(clean_db, delivery) == [(delivery, "commands", "queued")]
    assert petrel_comments(github, 1) == []
    import psycopg

    with psycopg.connect(clean_db, autocommit=True) as conn:
        assert "502" in conn.execute("SELECT last_error FROM jobs").fetchone()[0]
        conn.execute("UPDATE jobs SET run_at = now()")
    pipeline.work()
    assert jobs_of(clean_db, delivery) == [(delivery, "commands", "done")]
    assert len(petrel_comments(github, 1)) == 1
    # the failed POST was not repeated inside the request: one failed, one succeeded
    assert [r.status for r in github.requests if r.method == "POST" and r.path.endswith("/comments")] == [502, 201]


def test_dry_run_without_credentials_logs_the_plan_and_sends_nothing(env, clean_db, github, caplog):
    config = env(GITHUB_WEBHOOK_SECRET="s3cret", DATABASE_URL=clean_db, GITHUB_API_URL=github.url)
    assert not config.sends_to_github
    pool = make_pool(clean_db)
    try:
        import psycopg

        payload = payloads.comment("/help")
        with psycopg.connect(clean_db, autocommit=True) as conn:
            queue.accept(conn, _delivery(payload, "dry-1"), ["commands"], 5)
        with caplog.at_level(logging.INFO):
            assert Worker(pool, config, {"commands": load_handler("commands")}).run_once()
    finally:
        pool.close()
    assert github.requests == []
    assert any(
        "dry-run, not sent: upsert comment [help] on Codertocat/Hello-World#1" in r.getMessage() for r in caplog.records
    )
    assert jobs_of(clean_db) == [("dry-1", "commands", "done")]


def _delivery(payload, delivery_id):
    import json

    from shared.pipeline import events

    return events.parse_delivery(
        {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": delivery_id}, json.dumps(payload).encode()
    )


@pytest.mark.parametrize(
    "body,expected",
    [
        ("/help", ("help", "")),
        ("  /HELP  ", ("help", "")),
        ("thanks\n/ask why is this slow?", ("ask", "why is this slow?")),
        ("@petrel help", ("help", "")),
        ("@Petrel[bot] review now", ("review", "now")),
        ("@someone-else help", None),
        ("see /help for details", None),
        ("> /help", None),
        ("```\n/help\n```", None),
        ("", None),
    ],
)
def test_parse_command(body, expected):
    assert commands.parse_command(body, "petrel") == expected


def test_other_commands_get_their_own_reply_not_the_help_comment(pipeline, github):
    pipeline.deliver(payloads.comment("/review"))
    pipeline.work()
    [reply] = petrel_comments(github, 1)
    assert reply["body"].startswith("<!-- petrel:reply:") and "works on pull requests only" in reply["body"]


def test_a_persons_comment_carrying_petrels_marker_is_answered_as_a_persons(pipeline, github):
    """Only the App's bot user writes Petrel's comments: a person quoting a marker is a person."""
    github.add_comment(REPO, 1, "<!-- petrel:help -->\nnot Petrel's", user="Codertocat")
    pipeline.deliver(payloads.comment("<!-- petrel:help -->\n/help"))
    pipeline.deliver(payloads.comment("/help"))
    pipeline.work()
    [reply] = petrel_comments(github, 1)
    assert reply["body"] == f"<!-- petrel:help -->\n{commands.HELP}"
    app_reads = [r for r in github.requests if r.path == "/app"]
    assert len(app_reads) == 1 and app_reads[0].headers["authorization"].startswith("Bearer ")  # once, with the JWT
