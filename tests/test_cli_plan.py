"""`petrel plan FUNCTION EVENT PAYLOAD`: a function's entry point run on a saved
payload with a Context that prints the plan; nothing is sent to GitHub."""

from __future__ import annotations

import copy
import json

import payloads
import pytest
from fakes.github import FakeGitHub
from fakes.openai import FakeOpenAI
from gitrepo import commit, diff, git, init
from test_cli_console import petrel
from test_review import SERVICE, edited_service, reviewer

from shared.model import llm
from shared.modes import cli

REPO = "Codertocat/Hello-World"
TOKEN = "ghp_" + "p" * 36


@pytest.fixture
def saved(tmp_path):
    """A recorded pull_request.opened payload for pull request 1, saved to a file."""

    def save(head: str | None = None):
        payload = payloads.with_installation(copy.deepcopy(payloads.example("pull_request", "opened")))
        payload["pull_request"]["number"] = payload["number"] = 1
        if head:
            payload["pull_request"]["head"]["sha"] = head
        path = tmp_path / "payload.json"
        path.write_text(json.dumps(payload))
        return str(path)

    return save


def test_plan_prints_the_review_a_pull_request_would_get_and_sends_nothing(env, clean_db, tmp_path, saved, capsys):
    github = FakeGitHub().start()
    model = FakeOpenAI().start()
    model.responder = reviewer
    llm._MODES.clear()
    try:
        github.add_repo(REPO)
        github.add_token(TOKEN, repos=[REPO])
        repo = init(tmp_path / "repo", {"app/service.py": SERVICE})
        head = commit(repo, {"app/service.py": edited_service(one=1)}, "push")
        github.add_pull(REPO, 1, diff=diff(repo, "main", head), base_sha=git(repo, "rev-parse", "main"), head_sha=head)
        env(
            DATABASE_URL=clean_db,
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL=github.url,
            OPENAI_BASE_URL=model.url + "/v1",
            OPENAI_API_KEY="sk-test",
            PETREL_MODEL_MAX_RETRIES=0,
            PETREL_EMBEDDING_MODEL="offline",
        )
        assert cli.main(["plan", "pr_review", "pull_request.opened", saved(head)]) == 0
        out = capsys.readouterr().out
        assert f"post review [review:{head}] on {REPO}#1 at {head[:7]} with 1 inline comments" in out, out
        assert f"--- reviewed `{head[:7]}`" in out
        assert github.reviews(REPO, 1) == []
        assert not [r for r in github.requests if r.method not in ("GET", "HEAD") and "access_tokens" not in r.path]
    finally:
        github.stop()
        model.stop()


def test_plan_without_github_credentials_says_it_cannot_read(env, clean_db, saved, capsys):
    env(DATABASE_URL=clean_db)
    assert cli.main(["plan", "pr_review", "pull_request.opened", saved()]) == 0
    captured = capsys.readouterr()
    assert cli.NO_GITHUB_TO_READ in captured.err
    assert "--- Petrel has no GitHub credentials here (dry-run), so it cannot read this" in captured.out


def test_plan_of_a_command_prints_its_answer(env, clean_db, tmp_path, capsys):
    """The README's example: `plan commands issue_comment.created payload.json`."""
    env(DATABASE_URL=clean_db)
    path = tmp_path / "comment.json"
    path.write_text(json.dumps(payloads.comment("/help")))
    assert cli.main(["plan", "commands", "issue_comment.created", str(path)]) == 0
    out = capsys.readouterr().out
    assert "react eyes on comment" in out and f"upsert comment [help] on {REPO}#" in out, out


def test_the_petrel_script_prints_a_commands_plan(clean_db, tmp_path):
    """The same README example through the installed `petrel` script, in a process of its own."""
    path = tmp_path / "comment.json"
    path.write_text(json.dumps(payloads.comment("/help")))
    result = petrel(
        ["plan", "commands", "issue_comment.created", str(path)], cwd=tmp_path, extra={"DATABASE_URL": clean_db}
    )
    assert result.returncode == 0, result.stderr
    assert "react eyes on comment" in result.stdout and f"upsert comment [help] on {REPO}#" in result.stdout
    assert cli.NO_GITHUB_TO_READ in result.stderr
