"""`python -m shared.modes.cli run` (what `make run` starts), as a real process in a fresh directory.

Embedded Postgres, real HTTP, real signals: first run writes `.env` and serves the webhook
and the workers; Ctrl-C stops everything, Postgres included; a second run finds the data
of the first; a bad setting stops `run` with one line naming the variable.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import payloads
import psutil
import pytest
import requests
from conftest import ROOT, free_port, signed

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="petrel-xdg-"))

START_TIMEOUT = 60.0  # seconds for `run` to start (initdb on a first run included)
STOP_TIMEOUT = 60.0
READY_LINE = "Ctrl-C stops everything."
REPO = "Codertocat/Hello-World"
HTTP = requests.Session()
HTTP.trust_env = False  # 127.0.0.1 is never reached through a proxy


def petrel_env(port: int | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any Petrel setting, plus PYTHONPATH and `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GITHUB_", "PETREL_", "OPENAI_")) and name not in ("DATABASE_URL", "K_SINK", "PORT")
    }
    env["PYTHONPATH"] = str(ROOT)
    if port is not None:
        env["PORT"] = str(port)
    env.update(extra)
    return env


def postgres_serving(data_dir: Path) -> list[int]:
    """Pids of live `postgres` processes whose command line names `data_dir`."""
    needle = str(data_dir.resolve())
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE or not info["cmdline"]:
            continue
        if "postgres" in (info["name"] or "") and any(needle in part for part in info["cmdline"]):
            found.append(process.pid)
    return found


def stop_postgres(data_dir: Path) -> None:
    """Stop an embedded Postgres a failed test may have left running under `data_dir`."""
    from shared.runtime.db import EmbeddedPostgres

    if (data_dir / "postmaster.pid").exists():
        try:
            EmbeddedPostgres(data_dir).stop()
        except Exception:  # noqa: BLE001 - teardown: the kill below is the last resort
            pass
    for pid in postgres_serving(data_dir):
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass


class Run:
    """One `python -m shared.modes.cli run` in `workdir`, its output in files next to it."""

    count = 0

    def __init__(self, workdir: Path, port: int, **extra: str):
        Run.count += 1
        self.workdir = workdir
        self.port = port
        self.env = petrel_env(port, **extra)
        logs = workdir.parent / "logs"
        logs.mkdir(exist_ok=True)
        self.stdout_path = logs / f"run-{Run.count}.out"
        self.stderr_path = logs / f"run-{Run.count}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared.modes.cli", "run"],
                cwd=workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while READY_LINE not in self.stdout:
            if self.process.poll() is not None:
                pytest.fail(
                    f"`run` exited with {self.process.returncode} before it was ready\n"
                    f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"`run` not ready after {START_TIMEOUT}s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")
            time.sleep(0.1)

    def interrupt(self) -> int:
        """Ctrl-C, and the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"`run` still running {STOP_TIMEOUT}s after SIGINT\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def health(self) -> dict:
        response = HTTP.get(self.url("/healthz"), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_jobs(self, expected: dict) -> dict:
        deadline = time.monotonic() + 30
        jobs = self.health()["jobs"]
        while jobs != expected and time.monotonic() < deadline:
            time.sleep(0.2)
            jobs = self.health()["jobs"]
        return jobs


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shared.modes.cli", *args],
        cwd=workdir,
        env=petrel_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def secret_in(dotenv: Path) -> str:
    [secret] = re.findall(r"^GITHUB_WEBHOOK_SECRET=(\S*)$", dotenv.read_text(encoding="utf-8"), re.MULTILINE)
    return secret


# ---------------------------------------------------------------------------------- a first run


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A fresh directory to run in; whatever Postgres a test left there is stopped at the end."""
    workdir = tmp_path_factory.mktemp("local-run") / "project"
    workdir.mkdir()
    yield workdir
    stop_postgres(workdir / ".data" / "postgres")


@pytest.fixture(scope="module")
def first_run(project):
    """`run` started without `.env`, with one signed `/help` comment delivered to it."""
    run = Run(project, free_port())
    try:
        run.wait_ready()
        payload = payloads.comment("/help")
        headers, body = signed(payload, "issue_comment", secret=secret_in(project / ".env"))
        run.delivery = headers["X-GitHub-Delivery"]
        run.response = HTTP.post(run.url("/webhook"), data=body, headers=headers, timeout=30)
        yield run
    finally:
        run.kill()
        stop_postgres(project / ".data" / "postgres")


@pytest.fixture(scope="module")
def first_run_stopped(first_run):
    """The first run after Ctrl-C: (exit status, stdout)."""
    if not hasattr(first_run, "exit_status"):
        first_run.env_text = (first_run.workdir / ".env").read_text(encoding="utf-8")
        first_run.env_mtime = (first_run.workdir / ".env").stat().st_mtime_ns
        first_run.exit_status = first_run.interrupt()
    return first_run


def test_first_run_writes_a_private_env_with_a_fresh_secret_and_says_so(first_run):
    dotenv = first_run.workdir / ".env"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}", secret_in(dotenv))
    assert "Wrote .env with a new GITHUB_WEBHOOK_SECRET" in first_run.stdout
    assert secret_in(dotenv) not in first_run.stdout + first_run.stderr  # the secret itself is never printed


def test_first_run_prints_the_webhook_url_and_dry_run_without_credentials(first_run):
    out = first_run.stdout
    assert f"http://localhost:{first_run.port}/webhook" in out
    [mode] = [line for line in out.splitlines() if line.strip().startswith("mode:")]
    assert "dry-run" in mode and "no GitHub credentials" in mode
    assert "embedded Postgres" in out
    assert (first_run.workdir / ".data" / "postgres" / "PG_VERSION").is_file()  # data under <cwd>/.data
    assert postgres_serving(first_run.workdir / ".data" / "postgres")


def test_signed_delivery_is_accepted_and_its_job_is_done_by_the_workers(first_run):
    assert first_run.response.status_code == 202, first_run.response.text
    assert first_run.response.json() == {
        "delivery": first_run.delivery,
        "event": "issue_comment.created",
        "jobs": ["commands"],
    }
    assert first_run.wait_for_jobs({"commands": {"done": 1}}) == {"commands": {"done": 1}}
    # dry-run: the commands function planned its /help answer and logged it instead of sending it
    assert f"[{first_run.delivery}] dry-run, not sent: upsert comment [help] on {REPO}#1" in first_run.stderr


def test_unsigned_delivery_is_refused(first_run):
    headers, body = signed(payloads.comment("/help"), "issue_comment", secret="not-the-secret-in-dotenv")
    response = HTTP.post(first_run.url("/webhook"), data=body, headers=headers, timeout=30)
    assert response.status_code == 401


def test_sigint_stops_run_and_postgres_with_status_0(first_run_stopped):
    data_dir = first_run_stopped.workdir / ".data" / "postgres"
    assert first_run_stopped.exit_status == 0, first_run_stopped.stderr
    assert first_run_stopped.stdout.rstrip().endswith("Stopped.")
    assert "Traceback" not in first_run_stopped.stderr
    assert postgres_serving(data_dir) == []
    assert not (data_dir / "postmaster.pid").exists()  # a clean shutdown, not a crash
    with pytest.raises(requests.ConnectionError):
        HTTP.get(first_run_stopped.url("/healthz"), timeout=5)


# ---------------------------------------------------------------------------------- a second run


def test_second_run_reuses_the_data_and_the_env(first_run_stopped):
    project = first_run_stopped.workdir
    data_dir = project / ".data" / "postgres"
    run = Run(project, free_port())
    try:
        run.wait_ready()
        assert "Wrote .env" not in run.stdout
        assert (project / ".env").read_text(encoding="utf-8") == first_run_stopped.env_text
        assert (project / ".env").stat().st_mtime_ns == first_run_stopped.env_mtime
        assert run.health()["jobs"] == {"commands": {"done": 1}}  # the first run's job, from the same database

        status = cli(project, "status")  # attaches to the Postgres `run` serves
        assert status.returncode == 0, status.stderr
        assert "deliveries stored: 1" in status.stdout.splitlines()
        assert re.search(r"^commands\s+done=1$", status.stdout, re.MULTILINE), status.stdout
        assert run.health()["ok"] is True  # `status` left the server `run` serves running

        # the first delivery is known: GitHub redelivering it adds nothing
        payload = payloads.comment("/help")
        headers, body = signed(payload, "issue_comment", first_run_stopped.delivery, secret=secret_in(project / ".env"))
        again = HTTP.post(run.url("/webhook"), data=body, headers=headers, timeout=30)
        assert again.status_code == 200 and again.json()["duplicate"] is True

        assert run.interrupt() == 0, run.stderr
        assert postgres_serving(data_dir) == []
    finally:
        run.kill()
        stop_postgres(data_dir)


def test_status_alone_starts_postgres_for_itself_and_stops_it(first_run_stopped):
    project = first_run_stopped.workdir
    data_dir = project / ".data" / "postgres"
    assert postgres_serving(data_dir) == []
    status = cli(project, "status")
    assert status.returncode == 0, status.stderr
    assert "deliveries stored: 1" in status.stdout.splitlines()
    assert postgres_serving(data_dir) == []


# ---------------------------------------------------------------------------------- refusals


BAD_SETTINGS = {
    "app-id-not-a-number": ({"GITHUB_APP_ID": "abc"}, None, ["GITHUB_APP_ID"]),
    "token-and-app": (
        {"GITHUB_TOKEN": "ghp_" + "a" * 36, "GITHUB_APP_ID": "123"},
        None,
        ["GITHUB_APP_ID", "GITHUB_TOKEN"],
    ),
    "port-not-a-number": ({"PORT": "http"}, None, ["PORT"]),
    "app-id-in-dotenv": ({}, "GITHUB_WEBHOOK_SECRET=s3cret\nGITHUB_APP_ID=abc\n", ["GITHUB_APP_ID"]),
}


@pytest.mark.parametrize("variables,dotenv,named", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_setting_stops_run_with_one_line_naming_it(tmp_path, variables, dotenv, named):
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    env = petrel_env(free_port())
    env.update(variables)
    result = subprocess.run(
        [sys.executable, "-m", "shared.modes.cli", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("petrel: ")
        assert all(name in lines[0] for name in named), lines[0]
        assert "Petrel is running" not in result.stdout
        assert not (tmp_path / ".data").exists()  # refused before any Postgres was started
    finally:
        stop_postgres(tmp_path / ".data" / "postgres")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://petrel:hunter2-Secret@db.example@127.0.0.1:1/petrel",
        "postgresql://petrel:hunter2-Secret@127.0.0.1:1/petrel?bogus_option=on",
    ],
    ids=["two-at", "unknown-parameter"],
)
def test_malformed_database_url_stops_run_with_one_line_and_no_password(tmp_path, url):
    env = petrel_env(free_port(), GITHUB_WEBHOOK_SECRET="s3cret", DATABASE_URL=url)
    result = subprocess.run(
        [sys.executable, "-m", "shared.modes.cli", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("petrel: DATABASE_URL is malformed: ")
    assert "hunter2" not in result.stderr + result.stdout and "Secret" not in result.stderr + result.stdout


def test_port_in_use_stops_run_and_leaves_no_postgres(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "shared.modes.cli", "run"],
            cwd=tmp_path,
            env=petrel_env(port),
            capture_output=True,
            text=True,
            timeout=120,
        )
    data_dir = tmp_path / ".data" / "postgres"
    try:
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"petrel: PORT {port} is in use: stop what listens there or set PORT to a free port"
        ]
        assert "Traceback" not in result.stderr
        assert "Petrel is running" not in result.stdout
        assert postgres_serving(data_dir) == []  # checked before Postgres starts: none left running
    finally:
        stop_postgres(data_dir)
