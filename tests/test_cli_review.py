"""`petrel review` (the installed script): a review planned on a local git range, printed, nothing sent."""

from __future__ import annotations

import json

import payloads
import test_cli_console
from gitrepo import commit, git, init
from test_cli_console import petrel
from test_review import SERVICE, edited_service

model_server = test_cli_console.model_server  # the fake model server fixture, answering as a reviewer


def run_cli(args, model_server, cwd):
    """`petrel review ARGS` through the installed script, this checkout's code, no GitHub."""
    return petrel(["review", *args], model_server, cwd)


def test_review_of_a_local_range_prints_comments_and_coverage(tmp_path, model_server):
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE, "yarn.lock": "a\n"})
    commit(repo, {"app/service.py": edited_service(one=1), "yarn.lock": "b\n"}, "change")
    result = run_cli(["--repo", str(repo), "--range", "main..feature"], model_server, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "--- app/service.py:2\n**major**: This line has a bug" in out
    assert "`yarn.lock`: excluded by default (lock file)" in out
    # one file left after the filter: no triage call; the chunk's review and its second look
    assert "1 chunk(s), 2 model call(s)" in out
    assert "2 of 4 changed lines sent to the model" in out
    assert "petrel:finding" not in out  # the hidden marker is for GitHub, not for people


def test_review_of_a_saved_payload_uses_its_shas(tmp_path, model_server):
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE})
    head = commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    commit(repo, {"app/service.py": edited_service(one=1, two=61)}, "later, not in the payload")
    payload = payloads.example("pull_request", "opened")
    payload["pull_request"]["base"]["sha"] = git(repo, "rev-parse", "main")
    payload["pull_request"]["head"]["sha"] = head
    path = tmp_path / "pr.json"
    path.write_text(json.dumps(payload))
    result = run_cli(["--repo", str(repo), "--payload", str(path)], model_server, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "app/service.py:2" in result.stdout and "app/service.py:62" not in result.stdout
    assert payload["repository"]["full_name"] in result.stdout


def test_without_a_model_it_says_what_to_set(tmp_path):
    repo = init(tmp_path / "repo", {"a.py": "x = 1\n"})
    commit(repo, {"a.py": "x = 2\n"}, "change")
    result = run_cli(["--repo", str(repo), "--range", "main..feature"], None, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "petrel: no model configured: set OPENAI_API_KEY or OPENAI_BASE_URL"


def test_unknown_revision_is_one_clear_line(tmp_path, model_server):
    repo = init(tmp_path / "repo", {"a.py": "x = 1\n"})
    result = run_cli(["--repo", str(repo), "--range", "main..nope"], model_server, tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("petrel: git ") and "Traceback" not in result.stderr


def test_a_model_that_fails_every_call_makes_the_review_exit_non_zero_and_say_why(tmp_path, model_server):
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE})
    commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    model_server.fail(500, times=100, body={"error": {"message": "Input should be 'sunny'", "type": "server_error"}})
    result = run_cli(["--repo", str(repo), "--range", "main..feature"], model_server, tmp_path)
    assert result.returncode == 3
    assert result.stderr.startswith("petrel: nothing could be reviewed: the model gave no review for any of the 1")
    assert "500" in result.stderr and "Input should be 'sunny'" in result.stderr  # the server's own words
    assert "`app/service.py`: model error" in result.stdout  # the review is still printed


def test_nothing_to_review_is_not_a_failure(tmp_path, model_server):
    repo = init(tmp_path / "repo", {"yarn.lock": "a\n"})
    commit(repo, {"yarn.lock": "b\n"}, "only a lock file")
    model_server.fail(500, times=100)
    result = run_cli(["--repo", str(repo), "--range", "main..feature"], model_server, tmp_path)
    assert result.returncode == 0, result.stderr
    assert model_server.chat_requests() == []
