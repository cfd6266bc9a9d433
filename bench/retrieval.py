"""The Postgres side of bench/memory.py: the embedded database, filling it by COPY, Memory.replace,
and the retrieval measurements (latency, recall@10 of HNSW against exact, query plans, the
search filtered by kind). bench/memory.py's docstring says what each measures.
"""

from __future__ import annotations

import math
import re
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
from corpus import (
    INSTALLATION,
    REPOSITORY,
    Corpus,
    TimedEmbedder,
    log,
    query_text,
    spread,
)
from psycopg import sql
from psycopg_pool import ConnectionPool

from shared.memory.store import CANDIDATES, KINDS, Document, Memory, _vector, index_name
from shared.runtime import db

DIMENSION = 384
K = 10
BATCH = 2_000  # rows a COPY transaction (and an embedding batch)
ISSUE_STEPS = (200, 2_000)  # issues stored for the filtered-search check (100,000 only)
ISSUE_QUERIES = 20
MAINTENANCE_WORK_MEM = "512MB"


def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


class Recording(psycopg.Connection):
    """A connection that keeps the statements it executes (to EXPLAIN Memory's own queries)."""

    statements: list = []

    def execute(self, query, params=None, **kwargs):
        Recording.statements.append((query, params))
        return super().execute(query, params, **kwargs)


# --------------------------------------------------------------------------- Postgres

COPY = (
    "COPY documents (installation_id, repository, kind, source, version, chunk, title, body, url, state, "
    "start_line, end_line, model, embedding) FROM STDIN"
)


def start_postgres(stack: ExitStack, directory: Path) -> str:
    """A throwaway Postgres (deleted when `stack` closes) tuned for index builds, with Petrel's schema."""
    server = stack.enter_context(db.throwaway(directory, migrated=False))
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET maintenance_work_mem = {}").format(
                sql.Identifier(database), sql.Literal(MAINTENANCE_WORK_MEM)
            )
        )
    db.migrate(url)
    return url


def settings(url: str) -> dict[str, str]:
    """The Postgres settings and pgvector version the report names."""
    with psycopg.connect(url) as conn:
        values = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
            for name in (
                "server_version",
                "shared_buffers",
                "maintenance_work_mem",
                "work_mem",
                "max_parallel_maintenance_workers",
            )
        }
        values["pgvector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    return values


def insert(url: str, documents: list[Document], vectors: list[list[float]], model: str) -> None:
    """COPY documents and their vectors in one transaction."""
    conn = psycopg.connect(url)
    db.configure(conn)  # COPY writes pgvector.Vector values
    with conn, conn.transaction(), conn.cursor() as cursor, cursor.copy(COPY) as copy:
        for d, v in zip(documents, vectors):
            copy.write_row(row_of(d, model, _vector(v)))


def row_of(d: Document, model: str, vector) -> tuple:
    """The columns of COPY (and of Memory.replace's INSERT) for one document, in their order."""
    columns = (d.installation_id, d.repository, d.kind, d.source, d.version, d.chunk, d.title, d.body, d.url)
    return (*columns, d.state, d.start_line, d.end_line, model, vector)


def vacuum(url: str) -> float:
    """VACUUM (ANALYZE) documents; the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) documents")
    return time.perf_counter() - started


def sizes(url: str, model: str) -> dict[str, int]:
    """Bytes of the table and of the HNSW index, and the rows of the benchmark repository."""
    with psycopg.connect(url) as conn:
        table = conn.execute("SELECT pg_total_relation_size('documents')").fetchone()[0]
        hnsw = conn.execute(
            "SELECT coalesce(pg_relation_size(to_regclass(%s)), 0)", (index_name(model, DIMENSION),)
        ).fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM documents WHERE repository = %s", (REPOSITORY,)).fetchone()[0]
    return {"table": table, "hnsw": hnsw, "rows": rows}


def drop_index(url: str, model: str) -> None:
    """Drop the HNSW index of `model`, so that the next fill inserts without it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index_name(model, DIMENSION))))


# --------------------------------------------------------------------------- 1. indexing


def fill(url: str, corpus: Corpus, embedder: TimedEmbedder, target: int, stored: int) -> dict:
    """Store chunks until the repository holds `target`; chunking, embedding and insert timed apart."""
    chunk_s = embed_s = insert_s = 0.0
    files_before = corpus.files_read
    while stored < target:
        n = min(BATCH, target - stored)
        t0 = time.perf_counter()
        documents = corpus.take(n)
        t1 = time.perf_counter()
        vectors = embedder.embed([d.text_for_embedding() for d in documents])
        t2 = time.perf_counter()
        insert(url, documents, vectors, embedder.name)
        t3 = time.perf_counter()
        chunk_s, embed_s, insert_s = chunk_s + t1 - t0, embed_s + t2 - t1, insert_s + t3 - t2
        stored += n
        log(
            f"  {stored:,} chunks stored (chunking {chunk_s:.1f} s, embedding {embed_s:.1f} s, insert {insert_s:.1f} s)"
        )
    return {
        "chunk_s": chunk_s,
        "embed_s": embed_s,
        "insert_s": insert_s,
        "files": corpus.files_read - files_before,
        "stored": stored,
    }


def replace_files(memory: Memory, embedder: TimedEmbedder, url: str, n_files: int) -> dict:
    """Memory.replace of n_files stored files (the indexer's path: delete + insert, HNSW present)."""
    with psycopg.connect(url) as conn:
        sources = [
            row[0]
            for row in conn.execute(
                "SELECT source FROM documents WHERE repository = %s AND kind = 'file' GROUP BY source "
                "HAVING count(*) > 1 ORDER BY md5(source) LIMIT %s",
                (REPOSITORY, n_files),
            )
        ]
        rows = conn.execute(
            "SELECT source, chunk, title, body, version, start_line, end_line FROM documents "
            "WHERE repository = %s AND kind = 'file' AND source = ANY(%s) ORDER BY source, chunk",
            (REPOSITORY, sources),
        ).fetchall()
    by_source: dict[str, list[Document]] = {}
    for source, chunk, title, body, version, start, end in rows:
        by_source.setdefault(source, []).append(
            Document(
                REPOSITORY,
                "file",
                source,
                title,
                body,
                chunk=chunk,
                version=version,
                installation_id=INSTALLATION,
                start_line=start,
                end_line=end,
            )
        )
    embedded_before = embedder.seconds
    started = time.perf_counter()
    count = sum(memory.replace(REPOSITORY, "file", source, documents) for source, documents in by_source.items())
    whole = time.perf_counter() - started
    embed_s = embedder.seconds - embedded_before
    return {"files": len(by_source), "chunks": count, "whole_s": whole, "embed_s": embed_s, "store_s": whole - embed_s}


# --------------------------------------------------------------------------- 2 and 3. retrieval


def timed(call):
    """Call `call()`; (its result, the seconds it took)."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def retrieval(memory: Memory, queries: list[str], warmup: list[str]) -> dict:
    """Latency of nearest (HNSW and exact), search and count over the queries, and recall@10 of HNSW against exact."""
    for q in warmup:
        memory.nearest(REPOSITORY, q, K, exact=False)
        memory.nearest(REPOSITORY, q, K, exact=True)
        memory.search(REPOSITORY, q, k=K)
    from memory_paths import pgvector_before_0_8

    def before_0_8(q):
        with pgvector_before_0_8():
            return memory.nearest(REPOSITORY, q, K, exact=False)

    lat = {"hnsw": [], "hnsw07": [], "exact": [], "search": [], "count": []}
    recall, tolerant, short_hnsw, short_exact, short_search = [], [], 0, 0, 0
    recall_of, short_of = {"hnsw": [], "hnsw07": []}, {"hnsw": 0, "hnsw07": 0}
    for i, q in enumerate(queries):
        calls = [
            ("hnsw", lambda q=q: memory.nearest(REPOSITORY, q, K, exact=False)),
            ("hnsw07", lambda q=q: before_0_8(q)),
            ("exact", lambda q=q: memory.nearest(REPOSITORY, q, K, exact=True)),
            ("search", lambda q=q: memory.search(REPOSITORY, q, k=K)),
        ]
        shift = i % len(calls)  # take turns at going first
        results = {}
        for name, call in calls[shift:] + calls[:shift]:
            results[name], seconds = timed(call)
            lat[name].append(seconds)
        if i % 4 == 0:
            lat["count"].append(timed(lambda: memory.count(REPOSITORY))[1])
        hnsw, exact = results["hnsw"], results["exact"]
        short_hnsw += len(hnsw) < K
        short_exact += len(exact) < K
        short_search += len(results["search"]) < K
        keys = {(r["kind"], r["source"], r["chunk"]) for r in exact}
        recall.append(len(keys & {(r["kind"], r["source"], r["chunk"]) for r in hnsw}) / max(1, len(exact)))
        floor = min(r["similarity"] for r in exact) - 1e-6 if exact else 1.0
        tolerant.append(sum(r["similarity"] >= floor for r in hnsw) / max(1, len(exact)))
        for name in recall_of:
            found = {(r["kind"], r["source"], r["chunk"]) for r in results[name]}
            recall_of[name].append(len(keys & found) / max(1, len(exact)))
            short_of[name] += len(results[name]) < K
        if (i + 1) % 50 == 0:
            log(f"  {i + 1}/{len(queries)} queries")
    return {
        "lat": lat,
        "recall": recall,
        "tolerant": tolerant,
        "queries": queries,
        "short_hnsw": short_hnsw,
        "short_exact": short_exact,
        "short_search": short_search,
        "recall_of": recall_of,
        "short_of": short_of,
    }


def explain(url: str, embedder, calls: dict) -> dict[str, str]:
    """The plans Postgres chooses for Memory's own statements: each call of `calls` (name: function of a
    Memory) is run on a recording connection, then its last statement EXPLAIN ANALYZE'd after the others."""
    plans = {}
    with ConnectionPool(
        url, connection_class=Recording, min_size=1, max_size=1, open=True, configure=db.configure
    ) as pool:
        memory = Memory(pool, embedder)
        for name, call in calls.items():
            Recording.statements = []
            call(memory)
            statements = list(Recording.statements)
            with pool.connection() as conn, conn.transaction():
                for statement, params in statements[:-1]:
                    conn.execute(statement, params)
                statement, params = statements[-1]
                prefix = "EXPLAIN (ANALYZE, COSTS OFF) "
                statement = sql.SQL(prefix) + statement if isinstance(statement, sql.Composable) else prefix + statement
                lines = [row[0] for row in conn.execute(statement, params)]
            nodes = []
            for line in lines:
                node = line.strip().removeprefix("->").strip()
                if node.startswith("Rows Removed by Filter") and nodes:
                    nodes[-1] += f", {node.split(':')[1].strip()} removed by the filter"
                elif " (actual " in node:
                    rows = re.search(r"rows=(\d+)", node)
                    nodes.append(f"{node.split(' (actual ')[0]} ({rows.group(1) if rows else '?'} rows")
            nodes = [node + ")" for node in nodes]
            timing = next((line for line in lines if line.startswith("Execution Time")), "")
            plans[name] = "; ".join(nodes) + (f" ({timing.lower()})" if timing else "")
    return plans


def plans_for(url: str, embedder, query: str) -> dict[str, str]:
    """The plans Postgres chooses for Memory's own statements on one query."""
    return explain(
        url,
        embedder,
        {
            "nearest, exact=False": lambda m: m.nearest(REPOSITORY, query, K, exact=False),
            "nearest, exact=True": lambda m: m.nearest(REPOSITORY, query, K, exact=True),
            "full text of search (`_text`, 50 candidates)": lambda m: m._text(REPOSITORY, query, 50, list(KINDS), []),
        },
    )


def issue_check(memory: Memory, pool_of: list[Document], url: str, embedder) -> list[dict]:
    """Issues among the repository's file chunks, ISSUE_STEPS of them in turn; some looked for by their own title."""
    kinds = ["issue", "pull_request"]
    issues: list[Document] = []
    steps = []
    for target in ISSUE_STEPS:
        while len(issues) < target:  # held-out chunks as issues (again, numbered in the title, if they run out)
            n = len(issues)
            d = pool_of[n % len(pool_of)]
            title = d.title if n < len(pool_of) else f"{d.title} #{n}"
            issues.append(
                Document(
                    REPOSITORY, "issue", str(100_000 + n), title, d.body, state="open", installation_id=INSTALLATION
                )
            )
            memory.replace(REPOSITORY, "issue", issues[-1].source, [issues[-1]])
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE documents")
        hits = {"hnsw": [], "exact": [], "hnsw50": [], "exact50": [], "search_vector": [], "search": []}
        found = {name: [] for name in hits}
        for d in spread(issues, ISSUE_QUERIES):
            q = query_text(d)
            for name, rows in (
                ("hnsw", memory.nearest(REPOSITORY, q, K, kinds, exact=False)),
                ("exact", memory.nearest(REPOSITORY, q, K, kinds, exact=True)),
                ("hnsw50", memory.nearest(REPOSITORY, q, CANDIDATES, kinds, exact=False)),
                ("exact50", memory.nearest(REPOSITORY, q, CANDIDATES, kinds, exact=True)),
            ):
                hits[name].append(len(rows))
                found[name].append(any(r["source"] == d.source for r in rows))
            result = memory.search(REPOSITORY, q, k=K, kinds=kinds)
            vector = [h for h in result if "vector" in h.ranks]
            hits["search"].append(len(result))
            hits["search_vector"].append(len(vector))
            found["search"].append(any(h.source == d.source for h in result))
            found["search_vector"].append(any(h.source == d.source for h in vector))
        q = query_text(issues[0])
        plans = explain(
            url,
            embedder,
            {
                f"nearest, {K} wanted": lambda m, q=q: m.nearest(REPOSITORY, q, K, kinds, exact=False),
                f"nearest, {CANDIDATES} wanted (as in search)": lambda m, q=q: m.nearest(
                    REPOSITORY, q, CANDIDATES, kinds, exact=False
                ),
            },
        )
        steps.append(
            {"issues": target, "hits": hits, "found": found, "count": memory.count(REPOSITORY), "plans": plans}
        )
        log(f"  {target} issues: HNSW hits {hits['hnsw']}")
    return steps
