"""What every part of `make bench` (bench/run.py) stands on: statistics, signed deliveries, child
processes and their peak memory, the embedded Postgres and what it holds, and the two webhook
servers under test. Kept apart so that each measurement module reads as the measurement alone.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bench" / "run.py"  # the servers' child mode (--serve-local) is run.py's
FIXTURES = ROOT / "tests" / "fixtures" / "webhooks"
WEBHOOK_SOURCE = ROOT / "functions" / "webhook" / "main.py"
SECRET = "bench-webhook-secret"
READY_TIMEOUT_S = 30.0
EXPECTED_JOBS = ["pr_review", "pr_summary"]
MIB = 1024 * 1024


def median(values):
    """The median of a list of numbers."""
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no stray Petrel settings, the repo importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "PETREL_", "OPENAI_")) and k not in ("DATABASE_URL", "K_SINK", "PORT")
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def load_payload(event: str, action: str | None = None) -> bytes:
    """The first recorded payload of `event`(.`action`), preferring one sent to an App (with installation)."""
    payloads = json.loads((FIXTURES / f"{event}.json").read_text(encoding="utf-8"))
    matching = [p for p in payloads if action is None or p.get("action") == action]
    chosen = next((p for p in matching if "installation" in p), matching[0])
    return json.dumps(chosen).encode()


def signed_headers(event: str, body: bytes, delivery: str) -> dict[str, str]:
    """The headers GitHub sends with a delivery, signed with the bench's webhook secret."""
    from shared.pipeline import events

    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": events.sign(body, SECRET),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
    }


def peak_rss(pid: int) -> tuple[int, int]:
    """(VmHWM of `pid`, sum of VmHWM over `pid` and its descendants), in bytes."""
    import psutil

    def hwm(p: int) -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    try:
        children = [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        children = []
    own = hwm(pid)
    return own, own + sum(hwm(c) for c in children)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM the process (gunicorn stops its workers), then SIGKILL what is left."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in children:
        try:
            child.wait(timeout=5)
        except psutil.TimeoutExpired:
            child.kill()
        except psutil.Error:
            pass


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- Postgres


def postgres_version(url: str) -> str:
    """The server version of the Postgres at `url`."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def empty_queue(url: str) -> None:
    """Each server starts from an empty inbox: the queue's cost grows with the jobs table."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE deliveries, jobs RESTART IDENTITY CASCADE")
        conn.execute("VACUUM ANALYZE deliveries, jobs")


@dataclass(frozen=True)
class Stored:
    """What the database holds for some deliveries: how many, their jobs, how many have exactly the expected jobs."""

    deliveries: int = 0
    jobs: int = 0
    complete: int = 0  # deliveries whose jobs are exactly pr_review + pr_summary

    def __add__(self, other: Stored) -> Stored:
        return Stored(self.deliveries + other.deliveries, self.jobs + other.jobs, self.complete + other.complete)


def count_jobs(url: str) -> int:
    """How many jobs the table holds."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def count_stored(url: str, prefix: str) -> Stored:
    """What the database holds for the deliveries whose id starts with `prefix`."""
    import psycopg

    with psycopg.connect(url) as conn:
        deliveries = conn.execute("SELECT count(*) FROM deliveries WHERE starts_with(id, %s)", (prefix,)).fetchone()[0]
        jobs = conn.execute("SELECT count(*) FROM jobs WHERE starts_with(delivery_id, %s)", (prefix,)).fetchone()[0]
        complete = conn.execute(
            """SELECT count(*) FROM (SELECT delivery_id FROM jobs WHERE starts_with(delivery_id, %s)
                                     GROUP BY delivery_id HAVING array_agg(function ORDER BY function) = %s) AS ok""",
            (prefix, EXPECTED_JOBS),
        ).fetchone()[0]
    return Stored(deliveries, jobs, complete)


# --------------------------------------------------------------------------- servers


def serve_local(port: int) -> None:
    """Child mode: serve shared.modes.local's Flask app the way `make run` does, until SIGTERM."""
    from werkzeug.serving import make_server

    from shared.modes.local import create_app
    from shared.runtime import db, settings

    settings.reset()
    config = settings.current()
    pool = db.make_pool(config.database_url, max_size=config.workers + 4)  # as shared.modes.cli.command_run
    server = make_server("127.0.0.1", port, create_app({}, pool), threaded=True)

    def stop(*_):
        raise KeyboardInterrupt  # werkzeug's serve_forever returns on it

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        pool.close()


@dataclass
class Server:
    """A webhook server under test: its name, the path it answers on, and the command that starts it."""

    name: str
    path: str  # where the webhook answers
    command: list[str]


def servers() -> list[Server]:
    """The two servers compared: `make run`'s Flask app and the webhook alone under functions-framework."""
    functions_framework = Path(sys.executable).parent / "functions-framework"
    return [
        Server(
            "make run (werkzeug threaded, shared.modes.local)",
            "/webhook",
            [sys.executable, str(RUN), "--serve-local", "{port}"],
        ),
        Server(
            "functions-framework (gunicorn, webhook alone)",
            "/",
            [
                str(functions_framework),
                "--target",
                "webhook",
                "--source",
                str(WEBHOOK_SOURCE),
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
            ],
        ),
    ]


def spawn(server: Server, port: int, url: str, workdir: Path, log: Path) -> subprocess.Popen:
    """Start a server on `port` against the Postgres at `url`, its output to `log`."""
    command = [part.replace("{port}", str(port)) for part in server.command]
    env = child_env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=url)
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def wait_until_answering(proc: subprocess.Popen, port: int, path: str, log: Path) -> None:
    """Until the server answers any HTTP request (GET on the webhook is a 405)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not answer within {READY_TIMEOUT_S:.0f}s:\n{tail(log)}")
