"""Commands end to end: signed comment -> queue -> worker -> commands -> fake model and fake GitHub.

Comments on pull requests are `issue_comment` deliveries whose issue has a `pull_request`
key: the recorded payloads have none, so tests/payloads.py derives them (see its docstring).
"""

from __future__ import annotations

import copy
import importlib.util
import sys

import psycopg
import pytest
from conftest import ROOT, signed
from fake_github import FakeGitHub
from fake_openai import FakeOpenAI
from functions_framework import create_app
from gitrepo import commit, diff, git, init
from test_review import SERVICE, edited_service, reviewer

import payloads
from shared import actions, function as function_module, llm
from shared.db import make_pool
from shared.worker import Worker, load_handler

REPO = "Codertocat/Hello-World"
TOKEN = "ghp_" + "c" * 36
WEBHOOK = str(ROOT / "functions" / "webhook" / "main.py")
spec = importlib.util.spec_from_file_location("commands_module", ROOT / "functions" / "commands" / "main.py")
commands = importlib.util.module_from_spec(spec)
spec.loader.exec_module(commands)


@pytest.fixture
def world(env, clean_db, tmp_path):
    github = FakeGitHub().start()
    model = FakeOpenAI().start()
    model.responder = lambda request: (
        {"json": {"labels": []}} if "labels" in str(request.get("response_format")) else
        {"json": {"candidates": []}} if "duplicates" in str(request.get("response_format")) else reviewer(request))
    llm._MODES.clear()
    github.add_repo(REPO, labels=("bug", "duplicate"))
    github.add_token(TOKEN, repos=[REPO])
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE})
    head = commit(repo, {"app/service.py": edited_service(one=1)}, "push")
    github.add_pull(REPO, 1, diff=diff(repo, "main", head), base_sha=git(repo, "rev-parse", "main"), head_sha=head)
    github.add_issue(REPO, 2, title="Crash on start", body="It crashes.")
    config = env(GITHUB_WEBHOOK_SECRET="s", DATABASE_URL=clean_db, GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url,
                 PETREL_GITHUB_WRITE_SPACING_SECONDS=0, OPENAI_BASE_URL=model.url + "/v1", OPENAI_API_KEY="sk-test",
                 PETREL_MODEL_MAX_RETRIES=0, PETREL_EMBEDDING_MODEL="offline")
    function_module._access = function_module._pool = None
    webhook = create_app("webhook", WEBHOOK, "http").test_client()
    pool = make_pool(clean_db)
    worker = Worker(pool, config, {"commands": load_handler("commands")}, backoff_base=0.01)

    def say(body, *, number=2, pull=False, association="OWNER", comment_id=None, delivery=None):
        payload = payloads.pr_comment(body) if pull else payloads.comment(body)
        payload["issue"]["number"] = number
        payload["comment"]["author_association"] = association
        # the comment exists on GitHub before its delivery does
        payload["comment"]["id"] = comment_id or github.add_comment(REPO, number, body, user="alice")["id"]
        headers, raw = signed(payload, "issue_comment", delivery, secret="s")
        assert webhook.post("/", data=raw, headers=headers).status_code in (200, 202)
        while worker.run_once():
            pass
        return payload["comment"]["id"], headers["X-GitHub-Delivery"]

    yield github, model, say, clean_db
    pool.close()
    if function_module._pool is not None:
        function_module._pool.close()
    function_module._pool = function_module._access = None
    sys.modules["main"]._pool and sys.modules["main"]._pool.close()
    github.stop()
    model.stop()


def reply(github, number, comment_id):
    found = [c["body"] for c in github.comments(REPO, number) if c["body"].startswith(actions.marker(f"reply:{comment_id}"))]
    assert len(found) <= 1
    return found[0].split("\n", 1)[1] if found else None


def eyes(github, comment_id):
    return [r for r in github.requests if r.method == "POST" and r.path.endswith(f"/comments/{comment_id}/reactions")
            and r.json == {"content": "eyes"}]


def test_review_command_on_a_pull_request(world):
    github, model, say, _ = world
    comment_id, _ = say("/review", number=1, pull=True)
    assert eyes(github, comment_id)
    [review] = github.reviews(REPO, 1)
    assert [(c["path"], c["line"]) for c in review["comments"]] == [("app/service.py", 2)]
    assert reply(github, 1, comment_id).startswith("`/review`: reviewed `")


def test_acknowledgement_comes_before_the_work(world):
    github, model, say, _ = world
    comment_id, _ = say("/review", number=1, pull=True)
    order = [r.path for r in github.requests if r.method == "POST"]
    assert order[0].endswith(f"/issues/comments/{comment_id}/reactions") and order[1].endswith("/reviews")


def test_commands_that_cost_model_calls_need_a_trusted_author(world):
    github, model, say, _ = world
    comment_id, _ = say("/review", number=1, pull=True, association="NONE")
    assert reply(github, 1, comment_id) == commands.DENIED.format(
        allowed="owner, member, collaborator", name="review", association="none")
    assert model.chat_requests() == [] and github.reviews(REPO, 1) == []


def test_config_and_help_are_open_to_everyone(world):
    github, model, say, _ = world
    github.add_file(REPO, ".github/petrel.yml", "review:\n  max_comments: 5\n")
    comment_id, _ = say("/config", association="NONE")
    text = reply(github, 2, comment_id)
    assert "from `Codertocat/Hello-World:.github/petrel.yml`" in text and "max_comments: 5" in text
    assert "```yaml" in text and model.chat_requests() == []


def test_config_shows_a_broken_file(world):
    github, model, say, _ = world
    github.add_file(REPO, ".github/petrel.yml", "review:\n  max_comments: lots\n")
    comment_id, _ = say("/config")
    assert "the defaults are in effect: review.max_comments: expected a whole number" in reply(github, 2, comment_id)


def test_unknown_command_lists_the_known_ones(world):
    github, model, say, _ = world
    comment_id, _ = say("@petrel frobnicate now")
    assert reply(github, 2, comment_id) == commands.UNKNOWN.format(name="frobnicate")


def test_review_on_an_issue_and_triage_on_a_pull_request_say_where_they_work(world):
    github, model, say, _ = world
    first, _ = say("/review")
    second, _ = say("/triage", number=1, pull=True)
    assert reply(github, 2, first) == commands.PULL_ONLY.format(name="review")
    assert reply(github, 1, second) == commands.ISSUE_ONLY


def test_describe_writes_the_summary(world):
    github, model, say, _ = world
    comment_id, _ = say("/describe", number=1, pull=True)
    assert [c for c in github.comments(REPO, 1) if c["body"].startswith(actions.marker("summary"))]
    assert reply(github, 1, comment_id).startswith("`/describe`: summary of `")


def test_triage_command_on_an_issue(world):
    github, model, say, _ = world
    comment_id, _ = say("/triage")
    assert reply(github, 2, comment_id) == "`/triage`: triaged: no duplicate found; no label added"


def test_a_failing_command_says_why(world):
    github, model, say, url = world
    github.add_file(REPO, ".github/petrel.yml", "daily_token_budget: 10\n")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO usage (repository, function, model, prompt_tokens, completion_tokens) "
                     "VALUES (%s, 'pr_review', 'm', 10, 0)", (REPO,))
    comment_id, _ = say("/review", number=1, pull=True)
    assert reply(github, 1, comment_id) == (
        "Petrel could not run `/review`: daily token budget of 10 for Codertocat/Hello-World is spent (10 used today)")


def test_redelivered_command_answers_once(world):
    github, model, say, _ = world
    comment_id, delivery = say("/triage")
    say("/triage", comment_id=comment_id, delivery=delivery)
    assert len([c for c in github.comments(REPO, 2) if f"reply:{comment_id}" in c["body"]]) == 1
    assert len(eyes(github, comment_id)) == 1


def test_bots_and_petrel_are_never_answered(world):
    github, model, say, _ = world
    payload_bot = payloads.from_bot(payloads.comment("/review"))
    assert commands.written_by_bot(payload_bot)
    comment_id, _ = say("<!-- petrel:reply:1 -->\n/help")
    assert not eyes(github, comment_id)
    assert [c["id"] for c in github.comments(REPO, 2)] == [comment_id]  # only the comment itself
