"""Petrel benchmarks: `make bench`. Self-contained, loopback only, a few minutes at most.

What it measures, against its own embedded Postgres 16 + pgvector (pgserver, in a
temporary directory, deleted at the end):

1. Webhook throughput and acknowledgement latency. Signed `pull_request.opened`
   deliveries (a recorded payload from tests/fixtures, each with its own
   X-GitHub-Delivery) are POSTed over 127.0.0.1 by CONCURRENCY client threads, each
   with one keep-alive connection. Two servers, each in its own process, both up at once:
     - "make run": the Flask app of shared.modes.local served by werkzeug's threaded server,
       as `make run` serves it (no job workers, so the jobs stay queued);
     - "functions-framework": the webhook function alone under
       `functions-framework --target webhook --source functions/webhook/main.py`
       (gunicorn, its production server).
   After a warm-up they take turns, ROUNDS rounds of PER_ROUND deliveries each, every
   round from an empty queue, so both see the same database. Then GROWTH_ROUNDS rounds
   in a row against the first server without emptying the queue show how the rate
   depends on the size of the jobs table.
   After each round the database is counted: every delivery sent must be stored exactly
   once with exactly two jobs (pr_review, pr_summary). A lost or duplicated delivery
   makes the run exit 1; timings never do.
2. Cold start of the webhook function: from spawning functions-framework to its first
   2xx answer to a signed ping, and the peak RSS (VmHWM) of its processes. COLD_RUNS runs.
3. Import cost of each function module: a fresh interpreter loads
   functions/<name>/main.py with importlib; the import is timed inside the child
   (perf_counter), the whole process from outside, plus the child's peak RSS
   (ru_maxrss) and which heavy packages it pulled in. Same for `import github` and
   `import openai` alone, for context. The webhook must load neither (exit 1 if it does).

The report is printed as Markdown and written to bench/results/latest.md.
Every number is a median over runs made in this invocation; the machine is noisy, so
compare ratios measured in the same run rather than absolute values across runs.
"""

from __future__ import annotations

import datetime
import http.client
import itertools
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures" / "webhooks"
WEBHOOK_SOURCE = ROOT / "functions" / "webhook" / "main.py"
RESULTS = ROOT / "bench" / "results" / "latest.md"
SECRET = "bench-webhook-secret"

CONCURRENCY = 8          # client threads, one keep-alive connection each
WARMUP = 100             # deliveries before the measured rounds (stored and checked too)
ROUNDS = 5
PER_ROUND = 500          # ROUNDS * PER_ROUND = 2,500 measured deliveries per server
GROWTH_ROUNDS = 4        # then rounds without emptying the queue in between
COLD_RUNS = 5
IMPORT_RUNS = 5
READY_TIMEOUT_S = 30.0
FUNCTIONS = ("webhook", "commands", "pr_review", "pr_summary", "issue_triage", "memory_indexer")
HEAVY = ("flask", "psycopg", "github", "openai")
EXPECTED_JOBS = ["pr_review", "pr_summary"]
MIB = 1024 * 1024


# --------------------------------------------------------------------------- helpers

def median(values):
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no stray Petrel settings, the repo importable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "PETREL_", "OPENAI_")) and k not in ("DATABASE_URL", "K_SINK", "PORT")}
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
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- Postgres

def postgres_version(url: str) -> str:
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
    deliveries: int = 0
    jobs: int = 0
    complete: int = 0  # deliveries whose jobs are exactly pr_review + pr_summary

    def __add__(self, other: "Stored") -> "Stored":
        return Stored(self.deliveries + other.deliveries, self.jobs + other.jobs, self.complete + other.complete)


def count_jobs(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def count_stored(url: str, prefix: str) -> Stored:
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

    from shared.runtime import db
    from shared.runtime import settings
    from shared.modes.local import create_app

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
    name: str
    path: str          # where the webhook answers
    command: list[str]


def servers() -> list[Server]:
    functions_framework = Path(sys.executable).parent / "functions-framework"
    return [
        Server("make run (werkzeug threaded, shared.modes.local)", "/webhook",
               [sys.executable, str(Path(__file__).resolve()), "--serve-local", "{port}"]),
        Server("functions-framework (gunicorn, webhook alone)", "/",
               [str(functions_framework), "--target", "webhook", "--source", str(WEBHOOK_SOURCE),
                "--host", "127.0.0.1", "--port", "{port}"]),
    ]


def spawn(server: Server, port: int, url: str, workdir: Path, log: Path) -> subprocess.Popen:
    command = [part.replace("{port}", str(port)) for part in server.command]
    env = child_env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=url)
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


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


# --------------------------------------------------------------------------- 1. load

@dataclass
class Round:
    sent: int
    wall_s: float
    latencies_s: list[float]
    statuses: dict[int | str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.wall_s


def send_round(port: int, path: str, body: bytes, prefix: str, n: int, concurrency: int) -> Round:
    """POST n signed deliveries with `concurrency` keep-alive connections; time each answer."""
    counter = itertools.count()  # next() is atomic under the GIL
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        start.wait()
        mine, codes = [], []
        while (i := next(counter)) < n:
            headers = signed_headers("pull_request", body, f"{prefix}-{i:06d}")
            for attempt in (1, 2):  # a dropped connection is retried once, as a redelivery
                t0 = time.perf_counter()
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    mine.append(time.perf_counter() - t0)
                    codes.append(response.status)
                    break
                except OSError:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    codes.append("connection error" if attempt == 1 else "gave up")
        conn.close()
        with lock:
            latencies.extend(mine)
            for code in codes:
                statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    return Round(n, time.perf_counter() - t0, latencies, statuses)


@dataclass
class LoadResult:
    server: str
    rounds: list[Round] = field(default_factory=list)  # measured rounds (warm-up excluded)
    sent: int = 0
    stored: Stored = field(default_factory=Stored)
    statuses: dict = field(default_factory=dict)

    def add(self, done: Round, stored: Stored, measured: bool) -> None:
        if measured:
            self.rounds.append(done)
        self.sent += done.sent
        self.stored = self.stored + stored
        for key, value in done.statuses.items():
            self.statuses[key] = self.statuses.get(key, 0) + value

    @property
    def lost(self) -> int:
        return max(0, self.sent - self.stored.deliveries)

    @property
    def duplicated(self) -> int:
        """Deliveries stored beyond those sent, or whose jobs are not exactly pr_review + pr_summary."""
        return max(0, self.stored.deliveries - self.sent) + (self.stored.deliveries - self.stored.complete)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0

    def rate(self) -> float:
        return median([r.rate for r in self.rounds])

    def p(self, q: float) -> float:
        return median([percentile(r.latencies_s, q) for r in self.rounds])


@dataclass
class Running:
    server: Server
    port: int
    result: LoadResult


def start_server(server: Server, url: str, workdir: Path, stack: ExitStack) -> Running:
    port = free_port()
    log = workdir / f"server-{port}.log"
    proc = spawn(server, port, url, workdir, log)
    stack.callback(stop_process, proc)
    wait_until_answering(proc, port, server.path, log)
    return Running(server, port, LoadResult(server.name))


def run_round(running: Running, result: LoadResult, url: str, body: bytes, n: int, measured: bool) -> Round:
    """One round of n deliveries, then count what the database holds for them."""
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    done = send_round(running.port, running.server.path, body, prefix, n, CONCURRENCY)
    result.add(done, count_stored(url, prefix), measured)
    return done


def load_tests(url: str, workdir: Path, body: bytes) -> tuple[list[LoadResult], LoadResult, list[int]]:
    """Both servers up at once; rounds alternate between them, each from an empty queue.

    Then GROWTH_ROUNDS more rounds against the first server without emptying the queue,
    to show how the acknowledgement rate depends on the size of the jobs table.
    """
    with ExitStack() as stack:
        running = [start_server(server, url, workdir, stack) for server in servers()]
        for each in running:
            empty_queue(url)
            run_round(each, each.result, url, body, WARMUP, measured=False)
        for r in range(ROUNDS):
            for each in (running if r % 2 == 0 else running[::-1]):  # alternate who goes first
                empty_queue(url)
                done = run_round(each, each.result, url, body, PER_ROUND, measured=True)
                print(f"  round {r + 1}/{ROUNDS} {each.server.name}: {done.rate:.0f} deliveries/s", file=sys.stderr)

        growth = LoadResult(f"{running[0].server.name}, queue not emptied")
        jobs_after = []
        empty_queue(url)
        for r in range(GROWTH_ROUNDS):
            done = run_round(running[0], growth, url, body, PER_ROUND, measured=True)
            jobs_after.append(count_jobs(url))
            print(f"  growth round {r + 1}/{GROWTH_ROUNDS}: {done.rate:.0f} deliveries/s, "
                  f"{jobs_after[-1]} jobs in the table", file=sys.stderr)
    return [each.result for each in running], growth, jobs_after


@dataclass
class Load:
    servers: list[LoadResult]
    growth: LoadResult
    jobs_after: list[int]  # jobs in the table after each growth round
    payload_bytes: int


# --------------------------------------------------------------------------- 2. cold start

@dataclass
class ColdStart:
    listening_s: float   # first TCP connection accepted (port bound)
    answered_s: float    # first 2xx to a signed ping
    rss_server: int      # VmHWM of the functions-framework process
    rss_tree: int        # summed VmHWM of it and its children (gunicorn worker)


def cold_start(url: str, workdir: Path, ping: bytes) -> ColdStart:
    server = servers()[1]
    port = free_port()
    log = workdir / f"cold-{port}.log"
    headers = signed_headers("ping", ping, f"bench-ping-{uuid.uuid4().hex}")
    t0 = time.perf_counter()
    proc = spawn(server, port, url, workdir, log)
    listening = None
    try:
        while time.perf_counter() - t0 < READY_TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError(f"functions-framework exited with {proc.returncode}:\n{tail(log)}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.connect()
            except OSError:
                time.sleep(0.005)
                continue
            listening = listening or time.perf_counter() - t0
            try:
                conn.request("POST", "/", body=ping, headers=headers)
                response = conn.getresponse()
                response.read()
            except OSError:
                time.sleep(0.005)
                continue
            finally:
                conn.close()
            if 200 <= response.status < 300:
                answered = time.perf_counter() - t0
                own, tree = peak_rss(proc.pid)
                return ColdStart(listening, answered, own, tree)
            time.sleep(0.005)
        raise RuntimeError(f"no 2xx answer to a ping within {READY_TIMEOUT_S:.0f}s:\n{tail(log)}")
    finally:
        stop_process(proc)


# --------------------------------------------------------------------------- 3. imports

CHILD = """
import importlib.util, json, resource, sys, time
t0 = time.perf_counter()
{target}
elapsed = time.perf_counter() - t0
print(json.dumps({{"import_s": elapsed,
                   "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                   "modules": {{name: name in sys.modules for name in {heavy!r}}}}}))
"""

LOAD_FILE = """spec = importlib.util.spec_from_file_location("petrel_functions.{name}", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)"""


@dataclass
class ImportCost:
    label: str
    import_s: float
    wall_s: float
    maxrss: int
    modules: dict[str, bool]


def import_once(target: str, workdir: Path) -> dict:
    code = CHILD.format(target=target, heavy=HEAVY)
    env = child_env(GITHUB_WEBHOOK_SECRET=SECRET)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"import of {target!r} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def import_cost(label: str, target: str, workdir: Path) -> ImportCost:
    import_once(target, workdir)  # warm-up: byte-code compiled, files in the page cache
    runs = [import_once(target, workdir) for _ in range(IMPORT_RUNS)]
    return ImportCost(label, median([r["import_s"] for r in runs]), median([r["wall_s"] for r in runs]),
                      int(median([r["maxrss"] for r in runs])), runs[-1]["modules"])


def import_costs(workdir: Path) -> list[ImportCost]:
    results = []
    for name in FUNCTIONS:
        path = str(ROOT / "functions" / name / "main.py")
        results.append(import_cost(f"functions/{name}/main.py", LOAD_FILE.format(name=name, path=path), workdir))
        print(f"  import {name}: {results[-1].import_s * 1000:.0f} ms", file=sys.stderr)
    for package in ("github", "openai"):
        results.append(import_cost(f"import {package}", f"import {package}", workdir))
    return results


# --------------------------------------------------------------------------- report

def machine() -> dict[str, str]:
    from importlib import metadata

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("functions-framework", "gunicorn", "Werkzeug", "Flask", "psycopg"))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} (nproc), {model}",
        "python": f"{platform.python_implementation()} {platform.python_version()} on {platform.platform()}",
        "packages": versions,
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def mib(size: float) -> str:
    return f"{size / MIB:.0f}"


def report(info: dict, load: "Load", colds: list[ColdStart], imports: list[ImportCost]) -> str:
    sections = [header(info), load_section(load), cold_section(colds), import_section(imports),
                ["## Checks", ""] + [f"- {line}" for line in checks(load, imports)[1]]]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def header(info: dict) -> list[str]:
    return [
        "# Petrel benchmark",
        "",
        f"- date: {info['date']}",
        f"- CPUs: {info['cpus']}",
        f"- Python: {info['python']}",
        f"- Postgres: {info['postgres']} (pgserver, embedded, Unix socket)",
        f"- packages: {info['packages']}",
        f"- load average (1/5/15 min) when the benchmark started: {info['load']} (other work on the machine adds noise)",
    ]


def load_section(load: "Load") -> list[str]:
    a, b = load.servers
    lines = [
        "## 1. Webhook throughput and acknowledgement latency (loopback)",
        "",
        f"Signed `pull_request.opened` deliveries ({load.payload_bytes:,} bytes, each with its own X-GitHub-Delivery, "
        f"all for the same pull request) sent by {CONCURRENCY} client threads with keep-alive connections. Both "
        f"servers run at once; after {WARMUP} warm-up deliveries each, they take turns for {ROUNDS} rounds of "
        f"{PER_ROUND}, each round starting from an empty queue; medians over the rounds. Latency: from sending the "
        "request to reading the whole answer. The client is another process on the same cores as the server "
        "and Postgres.",
        "",
        "| server | deliveries/s | p50 ms | p99 ms | sent | stored | jobs | lost | duplicated | answers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in (a, b, load.growth):
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items(), key=lambda kv: str(kv[0])))
        lines.append(f"| {r.server} | {r.rate():.0f} | {ms(r.p(50))} | {ms(r.p(99))} | {r.sent} | "
                     f"{r.stored.deliveries} | {r.stored.jobs} | {r.lost} | {r.duplicated} | {answers} |")
    paired = list(zip(a.rounds, b.rounds))
    lines += [
        "",
        f"- per round, deliveries/s: {a.server}: " + ", ".join(f"{x.rate:.0f}" for x in a.rounds)
        + f"; {b.server}: " + ", ".join(f"{x.rate:.0f}" for x in b.rounds),
        "- functions-framework / make run, median of the per-round ratios: throughput "
        f"x{median([y.rate / x.rate for x, y in paired]):.2f}, p50 latency "
        f"x{median([percentile(y.latencies_s, 50) / percentile(x.latencies_s, 50) for x, y in paired]):.2f}, "
        f"p99 latency x{median([percentile(y.latencies_s, 99) / percentile(x.latencies_s, 99) for x, y in paired]):.2f}",
        f"- queue not emptied ({a.server}, {GROWTH_ROUNDS} rounds of {PER_ROUND} in a row), deliveries/s per round: "
        + ", ".join(f"{x.rate:.0f} ({jobs} jobs after)" for x, jobs in zip(load.growth.rounds, load.jobs_after))
        + f"; last / first round: x{load.growth.rounds[-1].rate / load.growth.rounds[0].rate:.2f}",
    ]
    return lines


def cold_section(colds: list[ColdStart]) -> list[str]:
    return [
        "## 2. Cold start of the webhook function",
        "",
        "`functions-framework --target webhook --source functions/webhook/main.py` with DATABASE_URL set: "
        "from spawning the process to its first 2xx answer to a signed ping (which also opens the connection "
        f"pool), median of {len(colds)} runs. Peak RSS is VmHWM, read right after that answer: of the "
        "functions-framework process (gunicorn master, which imported the app) and summed with its gunicorn "
        "worker (forked: shared pages are counted twice).",
        "",
        "| port open ms | first 2xx ms | peak RSS, master MiB | peak RSS, master + worker MiB |",
        "|---:|---:|---:|---:|",
        f"| {median([c.listening_s for c in colds]) * 1000:.0f} | {median([c.answered_s for c in colds]) * 1000:.0f} | "
        f"{mib(median([c.rss_server for c in colds]))} | {mib(median([c.rss_tree for c in colds]))} |",
        "",
        "- first 2xx per run (ms): " + ", ".join(f"{c.answered_s * 1000:.0f}" for c in colds),
    ]


def import_section(imports: list[ImportCost]) -> list[str]:
    lines = [
        "## 3. Import cost of each function module",
        "",
        "A fresh `python -c` loads the file with importlib (GITHUB_WEBHOOK_SECRET set, no DATABASE_URL: the "
        f"pool is lazy); median of {IMPORT_RUNS} runs after one warm-up. `import` is timed inside the child, "
        "`process` is the child's whole wall time (interpreter start included), RSS is the child's ru_maxrss.",
        "",
        "| module | import ms | process ms | peak RSS MiB | " + " | ".join(HEAVY) + " |",
        "|---|---:|---:|---:|" + "|".join(":-:" for _ in HEAVY) + "|",
    ]
    for c in imports:
        marks = " | ".join("yes" if c.modules[name] else "-" for name in HEAVY)
        lines.append(f"| {c.label} | {ms(c.import_s)} | {c.wall_s * 1000:.0f} | {mib(c.maxrss)} | {marks} |")
    return lines


def checks(load: "Load", imports: list[ImportCost]) -> tuple[bool, list[str]]:
    """Correctness only, never timing: no delivery lost or duplicated, webhook stays light."""
    ok, lines = True, []
    for r in (*load.servers, load.growth):
        if r.ok:
            lines.append(f"PASS {r.server}: {r.sent} sent, {r.stored.deliveries} stored, {r.stored.jobs} jobs "
                         f"(2 per delivery), 0 lost, 0 duplicated")
        else:
            ok = False
            lines.append(f"FAIL {r.server}: {r.sent} sent, {r.stored.deliveries} stored, {r.stored.jobs} jobs, "
                         f"{r.stored.complete} with exactly {EXPECTED_JOBS}: {r.lost} lost, {r.duplicated} duplicated")
    webhook = next(c for c in imports if c.label.startswith("functions/webhook/"))
    heavy = [name for name in ("github", "openai") if webhook.modules[name]]
    if heavy:
        ok = False
        lines.append(f"FAIL the webhook imports {', '.join(heavy)}")
    else:
        lines.append("PASS the webhook imports neither github nor openai")
    return ok, lines


# --------------------------------------------------------------------------- main

def main() -> int:
    if "--serve-local" in sys.argv:
        serve_local(int(sys.argv[sys.argv.index("--serve-local") + 1]))
        return 0

    started = time.perf_counter()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="petrel-bench-", ignore_cleanup_errors=True)))
        if not os.environ.get("XDG_RUNTIME_DIR"):
            runtime = workdir / "xdg"
            runtime.mkdir(mode=0o700)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)

        info = machine()
        print("starting embedded Postgres...", file=sys.stderr)
        from shared.runtime import db

        url = stack.enter_context(db.throwaway(workdir / "pgdata")).get_uri()
        info["postgres"] = postgres_version(url)

        print("load...", file=sys.stderr)
        body = load_payload("pull_request", "opened")
        load = Load(*load_tests(url, workdir, body), payload_bytes=len(body))

        print("cold start...", file=sys.stderr)
        ping = load_payload("ping")
        colds = [cold_start(url, workdir, ping) for _ in range(COLD_RUNS)]

        print("imports...", file=sys.stderr)
        imports = import_costs(workdir)

        text = report(info, load, colds, imports)
    text += f"\nWhole benchmark, Postgres start and clean-up included: {time.perf_counter() - started:.0f} s.\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    print(f"(written to {RESULTS.relative_to(ROOT)})", file=sys.stderr)
    ok, _ = checks(load, imports)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
