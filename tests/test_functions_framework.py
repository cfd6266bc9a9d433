"""Each CloudEvent function alone under the real `functions-framework` CLI, as it is deployed.

A binary-mode CloudEvent (ce-* headers, the GitHub payload as the JSON body) is POSTed
over HTTP, exactly as Knative (or the webhook's K_SINK) delivers it. `commands` acts for
real on the fake GitHub server with a single token.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import payloads
import pytest
import requests
from conftest import ROOT, free_port, wait_for_port
from fakes.github import FakeGitHub

from shared.pipeline.worker import load_function

FUNCTIONS_FRAMEWORK = str(Path(sys.executable).parent / "functions-framework")
START_TIMEOUT = 30.0
REPO = "Codertocat/Hello-World"
HTTP = requests.Session()
HTTP.trust_env = False  # 127.0.0.1 is never reached through a proxy
TOKEN = "ghp_" + "T0k3n" * 7 + "x"  # ghp_ + 36 characters

# What each function subscribes to, written out by hand so that a wrong SUBSCRIBES fails here.
SUBSCRIBED = {
    "pr_review": {
        "pull_request.opened",
        "pull_request.reopened",
        "pull_request.ready_for_review",
        "pull_request.synchronize",
    },
    "pr_summary": {
        "pull_request.opened",
        "pull_request.reopened",
        "pull_request.ready_for_review",
        "pull_request.synchronize",
        "pull_request.edited",
    },
    "issue_triage": {"issues.opened"},
    "commands": {"issue_comment.created", "pull_request_review_comment.created"},
    "memory_indexer": {
        "installation.created",
        "installation.deleted",
        "installation_repositories.added",
        "installation_repositories.removed",
        "push",
        "issues.opened",
        "issues.edited",
        "issues.closed",
        "pull_request_review_thread.resolved",
    },
}


def _name(event: str, payload: dict) -> str:
    return f"{event}.{payload['action']}" if payload.get("action") else event


CASES = [
    (function, event, index, payload)
    for function, names in SUBSCRIBED.items()
    for event, index, payload in payloads.all_examples()
    if _name(event, payload) in names
]


def _help_text() -> str:
    return load_function("commands", module_name="commands_main_for_ff_tests").HELP


HELP = _help_text()


class FunctionServer:
    """`functions-framework --target handle --source functions/<name>/main.py` on a free port."""

    def __init__(self, name: str, workdir: Path, **settings: str):
        self.name = name
        self.port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "PETREL_", "OPENAI_")) and k not in ("DATABASE_URL", "K_SINK", "PORT")
        }
        env.update(PYTHONPATH=str(ROOT), **settings)
        self.log = workdir / f"{name}-{self.port}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    FUNCTIONS_FRAMEWORK,
                    "--target",
                    "handle",
                    "--source",
                    str(ROOT / "functions" / name / "main.py"),
                    "--signature-type",
                    "cloudevent",
                    "--port",
                    str(self.port),
                ],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the server and its worker stop together
            )
        self._wait_for_port()

    def _wait_for_port(self) -> None:
        wait_for_port(
            self.process,
            self.port,
            START_TIMEOUT,
            f"functions-framework for {self.name}",
            lambda: self.output,
            self.stop,
        )

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def post(
        self, payload: dict, event: str, *, delivery: str | None = None, kind: str | None = None
    ) -> requests.Response:
        """POST one binary-mode CloudEvent, as the webhook's K_SINK forwarding does."""
        headers = {
            "ce-specversion": "1.0",
            "ce-type": kind or f"com.github.{_name(event, payload)}",
            "ce-id": delivery or str(uuid.uuid4()),
            "ce-source": (payload.get("repository") or {}).get("html_url") or "urn:github",
            "Content-Type": "application/json",
        }
        number = (payload.get("issue") or payload.get("pull_request") or {}).get("number")
        if number is not None:
            headers["ce-subject"] = str(number)
        return HTTP.post(f"http://127.0.0.1:{self.port}/", data=json.dumps(payload), headers=headers, timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Start each configuration once for the module: servers(name, **settings)."""
    workdir = tmp_path_factory.mktemp("functions-framework")  # no stray .env is read
    started: dict[tuple, FunctionServer] = {}

    def get(name: str, **settings: str) -> FunctionServer:
        key = (name, tuple(sorted(settings.items())))
        if key not in started:
            started[key] = FunctionServer(name, workdir, **settings)
        return started[key]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def github():
    with FakeGitHub() as fake:
        fake.add_repo(REPO, installation_id=1)
        fake.add_issue(REPO, 1, title="Spelling error in the README file")
        fake.add_issue(REPO, 1001, title="an issue a bot comments on")
        fake.add_issue(REPO, 2002, title="an issue in dry-run")
        fake.add_token(TOKEN, login="petrel-bot")
        yield fake


@pytest.fixture(scope="module")
def commands_live(servers, github):
    """`commands` with a single token, sending to the fake GitHub."""
    return servers("commands", GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url, PETREL_GITHUB_WRITE_SPACING_SECONDS="0")


def test_every_function_has_a_recorded_payload_to_receive():
    assert {function for function, *_ in CASES} == set(SUBSCRIBED)


@pytest.mark.parametrize(
    "function,event,index,payload", CASES, ids=[f"{f}-{e}-{i}-{p.get('action', '')}" for f, e, i, p in CASES]
)
def test_function_accepts_each_subscribed_cloudevent(servers, function, event, index, payload):
    server = servers(function, PETREL_DRY_RUN="1")
    response = server.post(payload, event)
    assert response.status_code == 200, f"{response.status_code} {response.text}\n{server.output[-3000:]}"


@pytest.mark.parametrize("function", sorted(SUBSCRIBED))
def test_function_refuses_a_cloudevent_that_is_not_from_github(servers, function):
    # the 200s above come from the function itself: an event it cannot read is an error, not a silent OK
    server = servers(function, PETREL_DRY_RUN="1")
    response = server.post(payloads.example("push"), "push", kind="com.example.object.finalized")
    assert response.status_code == 500
    assert "not a GitHub CloudEvent" in server.output


def test_commands_answers_help_with_one_comment_and_a_repeat_adds_none(commands_live, github):
    payload = payloads.comment("/help")
    delivery = str(uuid.uuid4())
    first = commands_live.post(payload, "issue_comment", delivery=delivery)
    assert first.status_code == 200, commands_live.output[-3000:]
    [reply] = github.comments(REPO, 1)
    assert reply["body"].startswith("<!-- petrel:help -->")
    assert HELP in reply["body"]
    assert reply["user"]["login"] == "petrel-bot"  # written with GITHUB_TOKEN

    again = commands_live.post(payload, "issue_comment", delivery=delivery)  # the same event delivered twice
    assert again.status_code == 200, commands_live.output[-3000:]
    assert [c["id"] for c in github.comments(REPO, 1)] == [reply["id"]]
    assert github.comments(REPO, 1)[0]["body"] == reply["body"]


def test_commands_ignores_a_comment_written_by_a_bot(commands_live, github):
    payload = payloads.from_bot(payloads.comment("/help"))
    payload["issue"]["number"] = 1001
    response = commands_live.post(payload, "issue_comment")
    assert response.status_code == 200, commands_live.output[-3000:]
    assert github.comments(REPO, 1001) == []
    assert not [r for r in github.requests if "/issues/1001" in r.path]  # not even looked at


def test_commands_in_dry_run_sends_nothing_even_with_a_token(servers, github):
    server = servers("commands", PETREL_DRY_RUN="1", GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url)
    payload = payloads.comment("/help")
    payload["issue"]["number"] = 2002
    response = server.post(payload, "issue_comment")
    assert response.status_code == 200, server.output[-3000:]
    assert github.comments(REPO, 2002) == []
    assert not [r for r in github.requests if "/issues/2002" in r.path]
