"""2 and 3. What starting a function costs: the webhook's cold start under functions-framework,
and the import of each function module in a fresh interpreter (bench/run.py's docstring says how).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness import (
    READY_TIMEOUT_S,
    ROOT,
    SECRET,
    child_env,
    free_port,
    median,
    peak_rss,
    servers,
    signed_headers,
    spawn,
    stop_process,
    tail,
)

COLD_RUNS = 5
IMPORT_RUNS = 5
FUNCTIONS = ("webhook", "commands", "pr_review", "pr_summary", "issue_triage", "memory_indexer")
HEAVY = ("flask", "psycopg", "github", "openai")


@dataclass
class ColdStart:
    """One cold start of the webhook under functions-framework: its times and peak memory."""

    listening_s: float  # first TCP connection accepted (port bound)
    answered_s: float  # first 2xx to a signed ping
    rss_server: int  # VmHWM of the functions-framework process
    rss_tree: int  # summed VmHWM of it and its children (gunicorn worker)


def cold_start(url: str, workdir: Path, ping: bytes) -> ColdStart:
    """Spawn functions-framework and POST a signed ping until the first 2xx: times and peak RSS."""
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
    """What loading one module costs in a fresh interpreter: times, peak RSS, heavy packages pulled in."""

    label: str
    import_s: float
    wall_s: float
    maxrss: int
    modules: dict[str, bool]


def import_once(target: str, workdir: Path) -> dict:
    """Run `target` in a fresh interpreter; its import time, peak RSS, heavy modules and wall time."""
    code = CHILD.format(target=target, heavy=HEAVY)
    env = child_env(GITHUB_WEBHOOK_SECRET=SECRET)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"import of {target!r} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def import_cost(label: str, target: str, workdir: Path) -> ImportCost:
    """The median cost of `target` over IMPORT_RUNS runs, after one warm-up run."""
    import_once(target, workdir)  # warm-up: byte-code compiled, files in the page cache
    runs = [import_once(target, workdir) for _ in range(IMPORT_RUNS)]
    return ImportCost(
        label,
        median([r["import_s"] for r in runs]),
        median([r["wall_s"] for r in runs]),
        int(median([r["maxrss"] for r in runs])),
        runs[-1]["modules"],
    )


def import_costs(workdir: Path) -> list[ImportCost]:
    """The import cost of every function module, then of `import github` and `import openai`."""
    results = []
    for name in FUNCTIONS:
        path = str(ROOT / "functions" / name / "main.py")
        results.append(import_cost(f"functions/{name}/main.py", LOAD_FILE.format(name=name, path=path), workdir))
        print(f"  import {name}: {results[-1].import_s * 1000:.0f} ms", file=sys.stderr)
    for package in ("github", "openai"):
        results.append(import_cost(f"import {package}", f"import {package}", workdir))
    return results
