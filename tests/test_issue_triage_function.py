"""issue_triage end to end: signed issues.opened -> queue -> worker -> memory + fake model -> fake GitHub."""

from __future__ import annotations

import copy

import payloads
import pytest
from conftest import ROOT, signed
from fakes.github import FakeGitHub
from fakes.openai import FakeOpenAI
from functions_framework import create_app

from shared.github import markers
from shared.memory.store import Document, Memory
from shared.model import llm
from shared.model.embeddings import HashingEmbedder
from shared.pipeline.worker import Worker, load_handler
from shared.runtime.db import make_pool

TOKEN = "ghp_" + "t" * 36
WEBHOOK = str(ROOT / "functions" / "webhook" / "main.py")
PAYLOAD = payloads.with_installation(payloads.example("issues", "opened"))
REPO = PAYLOAD["repository"]["full_name"]
NUMBER = PAYLOAD["issue"]["number"]


@pytest.fixture
def world(env, clean_db):
    github = FakeGitHub().start()
    model = FakeOpenAI().start()
    llm._MODES.clear()
    answers = {
        "duplicates": {"candidates": [{"number": 7, "confidence": 0.9, "reason": "Same report."}]},
        "labels": {
            "labels": [
                {"name": "bug", "confidence": 0.9},
                {"name": "question", "confidence": 0.9},
                {"name": "wontfix", "confidence": 0.9},
            ]
        },
    }
    model.responder = lambda request: {"json": answers[request["response_format"]["json_schema"]["name"]]}
    github.add_repo(REPO, labels=("bug", "duplicate", "question"))
    github.add_issue(REPO, NUMBER, title=PAYLOAD["issue"]["title"], body=PAYLOAD["issue"]["body"] or "")
    github.add_token(TOKEN, repos=[REPO])
    config = env(
        GITHUB_WEBHOOK_SECRET="s",
        DATABASE_URL=clean_db,
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=github.url,
        PETREL_GITHUB_WRITE_SPACING_SECONDS=0,
        OPENAI_BASE_URL=model.url + "/v1",
        OPENAI_API_KEY="sk-test",
        PETREL_MODEL_MAX_RETRIES=0,
        PETREL_EMBEDDING_MODEL="offline",
    )
    pool = make_pool(clean_db)
    Memory(pool, HashingEmbedder()).replace(
        REPO,
        "issue",
        "7",
        [Document(REPO, "issue", "7", PAYLOAD["issue"]["title"], PAYLOAD["issue"]["body"] or "same", state="open")],
    )
    webhook = create_app("webhook", WEBHOOK, "http").test_client()
    worker = Worker(pool, config, {"issue_triage": load_handler("issue_triage")}, backoff_base=0.01)

    def deliver(payload=PAYLOAD, delivery=None):
        headers, body = signed(payload, "issues", delivery, secret="s")
        assert webhook.post("/", data=body, headers=headers).status_code in (200, 202)
        while worker.run_once():
            pass
        return headers["X-GitHub-Delivery"]

    yield github, model, deliver
    pool.close()
    github.stop()
    model.stop()


def test_new_issue_gets_labels_and_one_triage_comment(world):
    github, model, deliver = world
    delivery = deliver()
    # "bug" is on the issue already (the recorded payload has it); "wontfix" is not a label of the repository
    assert sorted(github.labels_on(REPO, NUMBER)) == ["duplicate", "question"]
    [comment] = github.comments(REPO, NUMBER)
    assert comment["body"].startswith(markers.make("triage") + "\nThis looks like a duplicate of #7")
    deliver(delivery=delivery)  # a redelivery
    again = copy.deepcopy(PAYLOAD)
    deliver(again)  # the same issue delivered anew: edits, never repeats
    assert len(github.comments(REPO, NUMBER)) == 1
    assert not [r for r in github.requests if r.method == "PATCH" and "/issues/" in r.path and "comments" not in r.path]


def test_issue_by_a_bot_is_not_triaged(world):
    github, model, deliver = world
    payload = copy.deepcopy(PAYLOAD)
    payload["issue"]["user"]["type"] = "Bot"
    deliver(payload)
    assert github.comments(REPO, NUMBER) == [] and model.chat_requests() == []


def test_a_comment_carrying_the_triage_marker_is_left_alone_and_petrel_writes_its_own(world):
    github, model, deliver = world
    forged = github.add_comment(REPO, NUMBER, f"{markers.make('triage')}\nmallory's triage", user="mallory")
    deliver()
    forged_now, mine = github.comments(REPO, NUMBER)
    assert forged_now == forged
    assert mine["user"]["login"] == "petrel-bot"
    assert mine["body"].startswith(markers.make("triage") + "\nThis looks like a duplicate of #7")
    assert github.foreign_writes == []
