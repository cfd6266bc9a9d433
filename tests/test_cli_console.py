"""The `petrel` console script (pyproject.toml), run as a user runs it: the installed `.venv/bin/petrel`
in a subprocess. An example in every --help; `petrel review --json` holds one JSON object of the
shape docs/cli.md documents and nothing else; the progress line goes to stderr, on a terminal or
with --progress, and never into the JSON."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT
from fakes.openai import FakeOpenAI
from gitrepo import commit, init
from test_review import SERVICE, edited_service, reviewer

from shared.modes import cli_review

COMMANDS = ("run", "status", "retry", "plan", "review")
PROGRESS = re.compile(
    r"petrel review: (\d+)/(\d+|\?) chunks reviewed, (\d+) model call\(s\), [\d,]+ tokens, \d+s elapsed"
)


def petrel_script() -> str:
    """The installed `petrel` beside this interpreter (`make install`: `pip install -e .`)."""
    script = Path(sys.executable).parent / "petrel"
    if not script.exists():
        pytest.fail(f"no {script}: install the project into the venv (make install, or pip install -e .)")
    return str(script)


def petrel(args, model_server=None, cwd=None, stderr=subprocess.PIPE, pythonpath=True, extra=None):
    """Run the installed `petrel` with `args`: Petrel's code from this checkout, no GitHub, a
    model only when `model_server` is given, and the variables in `extra`. Returns the
    CompletedProcess, its output decoded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "OPENAI_", "PETREL_", "PYTHONPATH"))}
    env.update(PETREL_MODEL_MAX_RETRIES="0")
    if pythonpath:  # the script may have been installed from another checkout: test this one's code
        env.update(PYTHONPATH=str(ROOT))
    if model_server is not None:
        env.update(OPENAI_BASE_URL=model_server.url + "/v1", OPENAI_API_KEY="sk-test")
    env.update(extra or {})
    result = subprocess.run(
        [petrel_script(), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, timeout=60
    )
    # decoded here, not with text=True: that would turn the progress line's carriage returns into newlines
    result.stdout = result.stdout.decode()
    result.stderr = result.stderr.decode() if result.stderr is not None else None
    return result


@pytest.fixture
def model_server():
    server = FakeOpenAI().start()
    server.responder = reviewer
    yield server
    server.stop()


@pytest.fixture
def branch(tmp_path):
    """A repository whose `feature` branch changes one line of app/service.py."""
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE, "yarn.lock": "a\n"})
    commit(repo, {"app/service.py": edited_service(one=1), "yarn.lock": "b\n"}, "change")
    return repo


def test_the_installed_script_is_the_projects_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"petrel": "shared.modes.cli:main"}
    first = Path(petrel_script()).read_text().splitlines()[0]
    assert first.startswith("#!") and Path(first[2:].strip()).parent == Path(sys.executable).parent


def test_top_level_help_lists_every_command_with_an_example(tmp_path):
    result = petrel(["--help"], cwd=tmp_path, pythonpath=False)  # as installed, from anywhere
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert re.search(rf"^    {command}\s+\S", result.stdout, re.M), command  # listed, with what it does
        assert re.search(rf"^  petrel {command} ", result.stdout, re.M), command  # and an example


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_ending_with_an_example(command, tmp_path):
    result = petrel([command, "--help"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: petrel {command} ")
    examples = result.stdout.split("\nexample")[-1]
    assert "\nexample" in result.stdout and f"\n  petrel {command} " in examples


def test_make_targets_call_the_petrel_script():
    result = subprocess.run(
        ["make", "-n", "run", "status", "retry", "JOB=7"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for line in (".venv/bin/petrel run", ".venv/bin/petrel status", ".venv/bin/petrel retry 7"):
        assert line in result.stdout.splitlines(), result.stdout
    install = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e ." in install


def documented_keys() -> list[str]:
    """The keys docs/cli.md lists in the tables of its `petrel review --json` section."""
    section = (ROOT / "docs" / "cli.md").read_text().split("## `petrel review --json`")[1]
    return re.findall(r"^\| `(\w+)` \|", section, re.M)


def test_json_prints_the_documented_plan_and_nothing_else(branch, tmp_path, model_server):
    result = petrel(["review", "--repo", str(branch), "--range", "main..feature", "--json", "--progress"], model_server)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)  # the whole of stdout is the one object
    assert list(plan) == list(cli_review.JSON_KEYS)
    assert list(plan["report"]) == list(cli_review.REPORT_KEYS)
    assert list(plan["cost"]) == ["model_calls", "prompt_tokens", "completion_tokens", "usd"]
    assert plan["comments"] and list(plan["comments"][0]) == ["path", "line", "side", "body"]
    shown = set(plan) | set(plan["report"]) | set(plan["cost"]) | set(plan["comments"][0])
    assert set(documented_keys()) == shown  # docs/cli.md says what each key is, no more, no less

    assert plan["status"] == "reviewed" and plan["skipped"] is None
    assert plan["repository"] == "local/repository" and plan["base"] == "main" and len(plan["head"]) == 40
    assert plan["comments"][0] == {
        "path": "app/service.py",
        "line": 2,
        "side": "RIGHT",
        "body": plan["comments"][0]["body"],
    }
    assert plan["comments"][0]["body"].startswith("**major**: This line has a bug")
    assert "petrel:" not in result.stdout  # no hidden marker: the text as people read it
    assert plan["report"]["chunks"] == 1 and plan["report"]["reviewed"] == ["app/service.py"]
    assert {"path": "yarn.lock", "reason": "excluded by default (lock file)"} in plan["report"]["not_reviewed"]
    assert plan["report"]["lines_to_model"] == 2 and plan["report"]["lines_changed"] == 4
    assert plan["cost"]["model_calls"] == 2 == len(model_server.chat_requests())
    assert plan["cost"]["prompt_tokens"] > 0
    assert "1 file(s) reviewed, 1 inline comment(s)." in plan["body"]
    # --progress: the line went to stderr, in place (carriage returns), ended by a newline
    assert PROGRESS.search(result.stderr) and "\r" in result.stderr and result.stderr.endswith("\n")
    assert "petrel review:" not in result.stdout


def test_progress_counts_chunks_model_calls_and_tokens(branch, model_server):
    result = petrel(["review", "--repo", str(branch), "--range", "main..feature", "--progress"], model_server)
    assert result.returncode == 0, result.stderr
    lines = [PROGRESS.search(part) for part in result.stderr.split("\r") if part.strip()]
    assert lines and all(lines), result.stderr
    last = lines[-1]
    assert (last.group(1), last.group(2), last.group(3)) == ("1", "1", "2")  # one chunk, its review and second look
    assert "--- app/service.py:2\n**major**: This line has a bug" in result.stdout  # the review, as GitHub shows it
    assert "petrel review:" not in result.stdout


def test_no_progress_where_stderr_is_not_a_terminal(branch, model_server):
    result = petrel(["review", "--repo", str(branch), "--range", "main..feature"], model_server)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "--- review body\n" in result.stdout


def test_progress_by_default_on_a_terminal_and_not_with_no_progress(branch, model_server):
    def on_a_terminal(*extra: str) -> tuple[subprocess.CompletedProcess, str]:
        leader, follower = pty.openpty()
        seen: list[bytes] = []

        def read() -> None:
            while True:
                try:
                    data = os.read(leader, 4096)
                except OSError:  # the terminal's other end closed
                    return
                if not data:
                    return
                seen.append(data)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            args = ["review", "--repo", str(branch), "--range", "main..feature", *extra]
            result = petrel(args, model_server, stderr=follower)
        finally:
            os.close(follower)
            reader.join(timeout=30)
            os.close(leader)
        return result, b"".join(seen).decode()

    result, terminal = on_a_terminal()
    assert result.returncode == 0
    assert PROGRESS.search(terminal), terminal
    assert "petrel review:" not in result.stdout

    result, terminal = on_a_terminal("--no-progress")
    assert result.returncode == 0
    assert "petrel review:" not in terminal


def test_json_when_the_model_reviewed_nothing_still_prints_the_plan_and_exits_3(branch, model_server):
    model_server.fail(500, times=100, body={"error": {"message": "overloaded", "type": "server_error"}})
    result = petrel(["review", "--repo", str(branch), "--range", "main..feature", "--json"], model_server)
    assert result.returncode == cli_review.NOTHING_REVIEWED_STATUS
    plan = json.loads(result.stdout)
    assert plan["status"] == "nothing reviewed" and plan["report"]["reviewed"] == []
    assert any(entry["reason"].startswith("model error") for entry in plan["report"]["not_reviewed"])
    assert result.stderr.startswith("petrel: nothing could be reviewed")


def test_json_with_nothing_to_review(branch, model_server):
    result = petrel(["review", "--repo", str(branch), "--range", "feature..feature", "--json"], model_server)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["status"] == "nothing to review" and plan["skipped"] == "no changes to review"
    assert plan["comments"] == [] and plan["body"] is None and plan["cost"]["model_calls"] == 0


def test_json_on_a_usage_error_prints_nothing_on_stdout(branch, model_server):
    result = petrel(["review", "--repo", str(branch), "--range", "main..nope", "--json"], model_server)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("petrel: git ")
