"""Old and new side by side, in the same run of bench/memory.py: Memory's vector search as it runs
on pgvector 0.8 (filters inside the HNSW scan, `hnsw.iterative_scan`) and as it runs on an older
server (filters after the scan, an exact search when the scan comes back short: forced here by
answering (0, 7, 0) from `db.vector_version`, the detection Memory asks), and vectors inserted as
text (how Memory formatted them before) and as binary `pgvector.Vector` parameters (now).
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time

from corpus import REPOSITORY, log
from pgvector import Vector
from retrieval import K, percentile, row_of

from shared.memory.store import CANDIDATES, Document, Memory
from shared.runtime import db

INSERT_REPOSITORY = "bench/insert"  # rows of the insert comparison, deleted after each round
INSERT_ROUNDS = 4  # text and binary take turns at going first
INSERT = (
    "INSERT INTO documents (installation_id, repository, kind, source, version, chunk, title, body, url, state, "
    "start_line, end_line, model, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {})"
)
KINDS = ["issue", "pull_request"]


@contextlib.contextmanager
def pgvector_before_0_8():
    """Memory as it runs on a server with pgvector 0.7: filters after the index scan, exact fallback."""
    real = db.vector_version
    db.vector_version = lambda pool: (0, 7, 0)
    try:
        yield
    finally:
        db.vector_version = real


def text_vector(values: list[float]) -> str:
    """A vector as Memory formatted it before the pgvector package (`%s::vector`)."""
    return "[" + ",".join(f"{v:.6g}" for v in values) + "]"


def insert_both_ways(pool, documents: list[Document], vectors: list[list[float]], model: str) -> dict:
    """Seconds to insert the documents by executemany (one transaction, Memory.replace's statement),
    vectors as text and as binary, INSERT_ROUNDS times each, taking turns; the rows deleted after each."""
    seconds = {"text": [], "binary": []}
    for round_ in range(INSERT_ROUNDS):
        for way in ("text", "binary") if round_ % 2 == 0 else ("binary", "text"):
            rows = [
                row_of(
                    dataclasses.replace(d, repository=INSERT_REPOSITORY, source=f"{d.source}#{i}"),
                    model,
                    text_vector(v) if way == "text" else Vector(v),
                )
                for i, (d, v) in enumerate(zip(documents, vectors))
            ]
            statement = INSERT.format("%s::vector" if way == "text" else "%b")
            started = time.perf_counter()
            with pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(statement, rows)
            seconds[way].append(time.perf_counter() - started)
            with pool.connection() as conn:
                conn.execute("DELETE FROM documents WHERE repository = %s", (INSERT_REPOSITORY,))
        log(f"  insert round {round_ + 1}: text {seconds['text'][-1]:.2f} s, binary {seconds['binary'][-1]:.2f} s")
    return {"chunks": len(documents), "seconds": seconds}


def issue_queries(pool, n: int) -> list[str]:
    """The title and first line of n stored issues, spread over them."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT title, body FROM documents WHERE repository = %s AND kind = 'issue' ORDER BY md5(source) LIMIT %s",
            (REPOSITORY, n),
        ).fetchall()
    return [f"{title}\n{(body.strip().splitlines() or [''])[0]}" for title, body in rows]


def filtered_paths(memory: Memory, queries: list[str]) -> dict:
    """nearest(kinds issue + pull_request, exact=False) at k = K and k = CANDIDATES on both paths,
    against the exact answer: recall@k, hits returned, latency."""
    result = {}
    for k in (K, CANDIDATES):
        exact = [memory.nearest(REPOSITORY, q, k, KINDS, exact=True) for q in queries]
        for name, context in (
            ("iterative scan (0.8)", contextlib.nullcontext),
            ("exact fallback (< 0.8)", pgvector_before_0_8),
        ):
            latencies, recall, hits = [], [], []
            with context():
                memory.nearest(REPOSITORY, queries[0], k, KINDS, exact=False)  # warm-up
                for q, truth in zip(queries, exact):
                    started = time.perf_counter()
                    rows = memory.nearest(REPOSITORY, q, k, KINDS, exact=False)
                    latencies.append(time.perf_counter() - started)
                    keys = {(r["kind"], r["source"], r["chunk"]) for r in truth}
                    recall.append(len(keys & {(r["kind"], r["source"], r["chunk"]) for r in rows}) / max(1, len(truth)))
                    hits.append(len(rows))
            result[(k, name)] = {
                "recall": statistics.mean(recall),
                "hits": statistics.median(hits),
                "short": sum(h < k for h in hits),
                "p50": percentile(latencies, 50),
                "p99": percentile(latencies, 99),
            }
    return result


def report(inserts: dict | None, unfiltered: list[dict], filtered: dict | None, issues: int, n: int) -> list[str]:
    """The Markdown lines of the side-by-side section."""
    lines = ["", "### pgvector 0.8 beside the path for older servers, and vectors as text beside binary", ""]
    if unfiltered:
        lines += [
            "`nearest(exact=False)` over the whole repository (the repository filter keeps every row), "
            "on both paths, same queries as above; recall@10 against `nearest(exact=True)`:",
            "",
            "| chunks | path | p50 ms | p99 ms | recall@10 | queries with < 10 hits |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for r in unfiltered:
            for name, key in (("iterative scan (0.8)", "hnsw"), ("exact fallback (< 0.8)", "hnsw07")):
                lines.append(
                    f"| {r['n']:,} | {name} | {percentile(r['lat'][key], 50) * 1000:.1f} | "
                    f"{percentile(r['lat'][key], 99) * 1000:.1f} | {statistics.mean(r['recall_of'][key]):.3f} | "
                    f"{r['short_of'][key]} |"
                )
    if filtered:
        lines += [
            "",
            f"A search filtered by kind (issue + pull_request: {issues:,} issues among {n:,} file chunks, 2% of "
            f"the rows), `nearest(exact=False)` forced onto the index, {len(filtered['queries'])} issues looked for "
            "by their title and first line; recall against `nearest(exact=True)` with the same k:",
            "",
            "| k | path | recall@k | hits returned (median) | queries short of k | p50 ms | p99 ms |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for (k, name), v in filtered["paths"].items():
            lines.append(
                f"| {k} | {name} | {v['recall']:.3f} | {v['hits']:.0f} | {v['short']}/{len(filtered['queries'])} | "
                f"{v['p50'] * 1000:.1f} | {v['p99'] * 1000:.1f} |"
            )
    if inserts:
        text, binary = (sum(inserts["seconds"][w]) / len(inserts["seconds"][w]) for w in ("text", "binary"))
        c = inserts["chunks"]
        lines += [
            "",
            f"Inserting {c:,} chunks by `executemany` in one transaction (Memory.replace's statement, no HNSW index "
            f"yet, the `tsv` column and the btree and GIN indexes maintained), {INSERT_ROUNDS} rounds each, taking "
            "turns, mean of the rounds:",
            "",
            "| vectors sent as | s | chunks/s |",
            "|---|---:|---:|",
            f"| text, `%s::vector` (before) | {text:.2f} | {c / text:,.0f} |",
            f"| binary `pgvector.Vector`, `%b` (now) | {binary:.2f} | {c / binary:,.0f} |",
        ]
    return lines
