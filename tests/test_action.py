"""GitHub Action mode: `python -m shared.modes.github_action` as the workflow step runs it, in a real process.

The event payload is a recorded webhook payload without `installation` (Actions payloads carry
none), written where GITHUB_EVENT_PATH points. GitHub is the fake server, reached with a single
token as the workflow's GITHUB_TOKEN; the model is the fake model server; Postgres is the test
database, or the embedded one under RUNNER_TEMP as on a runner without DATABASE_URL.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import payloads
import pytest
from conftest import ROOT
from fakes.github import FakeGitHub
from fakes.openai import FakeOpenAI
from gitrepo import commit, diff, git, init
from test_review import SERVICE, edited_service, reviewer

from shared.github import markers
from shared.pipeline.worker import load_function

REPO = "Codertocat/Hello-World"
TOKEN = "ghs_" + "a" * 36  # what a workflow's GITHUB_TOKEN looks like
RUN_ID = "9100200300"
TIMEOUT = 90


def _commands_help() -> str:
    return load_function("commands", module_name="commands_for_action").HELP


@pytest.fixture
def github():
    fake = FakeGitHub().start()
    fake.add_repo(REPO)
    fake.add_token(TOKEN, login="github-actions[bot]", repos=[REPO])
    yield fake
    fake.stop()


@pytest.fixture
def model():
    fake = FakeOpenAI().start()
    fake.responder = reviewer
    yield fake
    fake.stop()


@pytest.fixture
def pull(github, tmp_path):
    """Pull request #1: a real git diff with one line the fake model calls a bug."""
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE, "README.md": "# Service\n"})
    base = git(repo, "rev-parse", "main")
    head = commit(repo, {"app/service.py": edited_service(one=1)}, "first push")
    github.add_pull(REPO, 1, diff=diff(repo, "main", head), base_sha=base, head_sha=head)
    return head


def pull_request_payload(head: str, action: str = "opened") -> dict:
    payload = copy.deepcopy(payloads.example("pull_request", "opened"))
    payload["action"] = action
    payload["number"] = payload["pull_request"]["number"] = 1
    payload["pull_request"]["head"]["sha"] = head
    return payload


def comment_payload(body: str) -> dict:
    payload = copy.deepcopy(payloads.example("issue_comment", "created"))
    payload["comment"]["body"] = body
    return payload


class Step:
    """One run of the action's step: `python -m shared.modes.github_action` in a workspace of its own."""

    def __init__(self, tmp_path: Path, github: FakeGitHub, model: FakeOpenAI | None):
        self.tmp = tmp_path
        self.github, self.model = github, model
        self.summary = tmp_path / "step-summary.md"
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir(exist_ok=True)

    def env(self, event_name: str, payload: dict, **extra) -> dict[str, str]:
        event_path = self.tmp / f"event-{event_name}.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("GITHUB_", "PETREL_", "OPENAI_", "RUNNER_"))
            and name not in ("DATABASE_URL", "K_SINK", "PORT")
        }
        env.update(
            PYTHONPATH=str(ROOT),
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME=event_name,
            GITHUB_EVENT_PATH=str(event_path),
            GITHUB_RUN_ID=RUN_ID,
            GITHUB_RUN_ATTEMPT="1",
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL=self.github.url,
            GITHUB_STEP_SUMMARY=str(self.summary),
            RUNNER_TEMP=str(self.tmp / "runner"),
            PETREL_GITHUB_WRITE_SPACING_SECONDS="0",
            PETREL_MODEL_MAX_RETRIES="0",
            PETREL_EMBEDDING_MODEL="offline",
        )
        if self.model is not None:
            env.update(OPENAI_BASE_URL=self.model.url + "/v1", OPENAI_API_KEY="sk-test")
        env.update({name: str(value) for name, value in extra.items() if value is not None})
        for name in [name for name, value in extra.items() if value is None]:
            env.pop(name, None)
        return env

    def run(self, event_name: str, payload: dict, **extra) -> subprocess.CompletedProcess:
        (self.tmp / "runner").mkdir(exist_ok=True)
        return subprocess.run(
            [sys.executable, "-m", "shared.modes.github_action"],
            cwd=self.workspace,
            env=self.env(event_name, payload, **extra),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def step_summary(self) -> str:
        return self.summary.read_text(encoding="utf-8") if self.summary.exists() else ""


@pytest.fixture
def step(tmp_path, github, model):
    return Step(tmp_path, github, model)


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.mark.parametrize("event_name", ["pull_request", "pull_request_target"])
def test_pull_request_gets_its_review_and_summary(step, github, pull, clean_db, event_name):
    payload = pull_request_payload(pull)
    if event_name == "pull_request_target":  # what it is for: a fork's pull request, with a write token
        payload["pull_request"]["head"]["repo"]["full_name"] = "forker/Hello-World"
    result = step.run(event_name, payload, DATABASE_URL=clean_db)
    assert result.returncode == 0, explain(result)
    assert "comes from the fork" not in result.stderr
    [review] = github.reviews(REPO, 1)
    assert review["commit_id"] == pull and review["body"].startswith(markers.make(f"review:{pull}"))
    assert [(c["path"], c["line"]) for c in review["comments"]] == [("app/service.py", 2)]
    [summary] = [c for c in github.comments(REPO, 1) if c["body"].startswith(markers.make("summary"))]
    assert "| `app/service.py` |" in summary["body"]
    # every request was made for the run's delivery, with the workflow's token
    delivery = f"{RUN_ID}-1-{event_name}"
    calls = [r for r in github.requests if r.path.startswith("/repos/")]
    assert calls and all(f"(delivery {delivery})" in r.headers["user-agent"] for r in calls)
    assert all(r.headers["authorization"] == f"token {TOKEN}" for r in calls)
    report = step.step_summary()
    assert "| `pr_review` | ✅ done |" in report and "| `pr_summary` | ✅ done |" in report
    assert f"Delivery `{delivery}`" in report
    assert "post review [review:" in report  # what reached GitHub is listed
    assert "pr_review" in result.stdout and "pr_summary" in result.stdout


def test_a_retried_step_is_the_same_delivery_and_posts_nothing_more(step, github, pull, clean_db):
    payload = pull_request_payload(pull)
    for _ in range(2):
        result = step.run("pull_request", payload, DATABASE_URL=clean_db)
        assert result.returncode == 0, explain(result)
    assert len(github.reviews(REPO, 1)) == 1
    assert len([c for c in github.comments(REPO, 1) if c["body"].startswith(markers.make("summary"))]) == 1
    import psycopg

    with psycopg.connect(clean_db) as conn:
        deliveries = {d for (d,) in conn.execute("SELECT DISTINCT delivery_id FROM usage")}
    assert deliveries == {f"{RUN_ID}-1-pull_request"}  # review chunks' threads carry the delivery id too
    # a re-run of the workflow (attempt 2) is a new delivery
    result = step.run("pull_request", payload, DATABASE_URL=clean_db, GITHUB_RUN_ATTEMPT=2)
    assert result.returncode == 0, explain(result)
    assert any(f"(delivery {RUN_ID}-2-pull_request)" in r.headers["user-agent"] for r in github.requests)


def test_help_comment_is_answered(step, github, clean_db):
    github.add_issue(REPO, 1, title="Spelling error in the README file")
    result = step.run("issue_comment", comment_payload("/help"), DATABASE_URL=clean_db)
    assert result.returncode == 0, explain(result)
    [reply] = [c for c in github.comments(REPO, 1) if c["body"].startswith(markers.make("help"))]
    assert reply["body"] == f"{markers.make('help')}\n{_commands_help()}"
    assert "| `commands` | ✅ done |" in step.step_summary()


def test_event_nobody_subscribes_to_does_nothing(step, github, clean_db):
    labeled = payloads.example("issues", "labeled")
    assert "installation" not in labeled
    result = step.run("issues", labeled, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 0, explain(result)
    assert "no Petrel function subscribes to issues.labeled" in result.stdout
    assert github.requests == []
    assert "nothing to do" in step.step_summary()


def test_github_failing_every_request_fails_the_step_with_the_reason(step, github, clean_db):
    github.add_issue(REPO, 1)
    github.fail("*", r".*", 500, times=100)
    result = step.run("issue_comment", comment_payload("/help"), DATABASE_URL=clean_db)
    assert result.returncode == 1, explain(result)
    assert "petrel: commands failed: GithubException: Server Error: 500" in result.stderr
    assert "::error title=Petrel commands failed::GithubException: Server Error: 500" in result.stderr
    assert "| `commands` | ❌ failed |" in step.step_summary()
    assert github.comments(REPO, 1) == []


def test_rate_limit_fails_the_step_and_says_when_to_run_it_again(step, github, clean_db):
    github.add_issue(REPO, 1)
    reset = int(time.time()) + 3600
    github.fail("*", r".*", 403, times=100, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    result = step.run("issue_comment", comment_payload("/help"), DATABASE_URL=clean_db)
    assert result.returncode == 1, explain(result)
    assert "petrel: commands retry later: GitHub rate limit on POST" in result.stderr
    wait = int(result.stderr.split("re-run this job in ")[1].split("s")[0])
    assert 3500 < wait <= 3601
    assert "| `commands` | ⏳ retry later |" in step.step_summary()


def test_unusable_run_says_what_is_missing(step):
    result = step.run("issue_comment", comment_payload("/help"), GITHUB_EVENT_PATH="/nonexistent/event.json")
    assert result.returncode == 2, explain(result)
    assert "GITHUB_EVENT_PATH='/nonexistent/event.json' cannot be read" in result.stderr


def test_without_database_url_the_embedded_postgres_under_runner_temp_keeps_memory_in_its_data_dir(
    step, github, model, pull, tmp_path
):
    from test_local_run import stop_postgres

    data = tmp_path / "runner" / "petrel" / "postgres"
    try:
        first = step.run("pull_request", pull_request_payload(pull), DATABASE_URL=None, XDG_RUNTIME_DIR=None)
        assert first.returncode == 0, explain(first)
        assert "database: embedded Postgres under" in first.stdout
        assert (data / "PG_VERSION").exists()
        assert not (data / "postmaster.pid").exists()  # stopped cleanly at the end of the step
        assert len(github.reviews(REPO, 1)) == 1
        # the next run finds the data directory (as actions/cache restores it): the head is known
        second = step.run(
            "pull_request",
            pull_request_payload(pull, "reopened"),
            DATABASE_URL=None,
            XDG_RUNTIME_DIR=None,
            GITHUB_RUN_ID="9100200301",
        )
        assert second.returncode == 0, explain(second)
        assert len(github.reviews(REPO, 1)) == 1
        reviews = [r for r in model.chat_requests() if "findings" in str(r.get("response_format"))]
        assert len(reviews) == 1
    finally:
        stop_postgres(data)


def test_fork_pull_request_under_pull_request_fails_and_says_why(step, github, pull, clean_db):
    payload = pull_request_payload(pull)
    payload["pull_request"]["head"]["repo"]["full_name"] = "forker/Hello-World"
    # what GitHub answers a read-only token that tries to write
    github.fail("POST", r".*", 403, times=100, body={"message": "Resource not accessible by integration"})
    github.fail("PATCH", r".*", 403, times=100, body={"message": "Resource not accessible by integration"})
    result = step.run("pull_request", payload, DATABASE_URL=clean_db)
    assert result.returncode == 1, explain(result)
    assert "::warning title=Petrel::this pull request comes from the fork forker/Hello-World" in result.stderr
    assert "Use `pull_request_target`" in step.step_summary()
    assert (
        'petrel: pr_review failed: GithubException: 403 {"message": "Resource not accessible by integration"}'
        in result.stderr
    )


def test_without_a_model_the_pull_request_is_told_and_the_step_succeeds(tmp_path, github, pull, clean_db):
    step = Step(tmp_path, github, model=None)
    result = step.run("pull_request", pull_request_payload(pull), DATABASE_URL=clean_db)
    assert result.returncode == 0, explain(result)
    notices = [c for c in github.comments(REPO, 1) if c["body"].startswith(markers.make("model-unavailable:review"))]
    assert len(notices) == 1 and github.reviews(REPO, 1) == []


def test_action_yml_runs_this_module_with_every_input_as_a_setting():
    import yaml

    from shared.runtime import settings

    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    setup, install, run = action["runs"]["steps"]
    assert setup["uses"].startswith("actions/setup-python@") and setup["with"]["python-version"] == "3.11"
    assert "$GITHUB_ACTION_PATH/requirements.txt" in install["run"]
    assert run["run"].endswith("-m shared.modes.github_action'") or run["run"].endswith("-m shared.modes.github_action")
    assert run["env"]["PYTHONPATH"] == "${{ github.action_path }}"
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    wired = {value: name for name, value in run["env"].items()}
    values = {}
    for name in action["inputs"]:
        assert f"${{{{ inputs.{name} }}}}" in wired, f"input {name} is not passed to the step"
        values[wired[f"${{{{ inputs.{name} }}}}"]] = {
            "github-token": "t",
            "openai-base-url": "http://m/v1",
            "database-url": "postgresql://db.example/petrel",
            "dry-run": "true",
        }.get(name, f"v-{name}")
    config = settings.from_env(values)  # each variable is one Petrel reads
    assert (
        config.token,
        config.openai_api_key,
        config.openai_base_url,
        config.model,
        config.light_model,
        config.embedding_model,
        config.database_url,
        config.dry_run,
    ) == (
        "t",
        "v-openai-api-key",
        "http://m/v1",
        "v-model",
        "v-light-model",
        "v-embedding-model",
        "postgresql://db.example/petrel",
        True,
    )
