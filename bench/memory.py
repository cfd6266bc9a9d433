"""Benchmark: long-term memory (shared/memory/store.py) for one repository of 10,000 and 100,000 chunks.

Self-contained: its own embedded Postgres 16 + pgvector (pgserver, in a temporary
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
"""

from __future__ import annotations

import math
import os
import re
import statistics
import sys
import sysconfig
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402

from shared.memory import chunking  # noqa: E402
from shared.runtime import db
from shared.model.embeddings import HashingEmbedder  # noqa: E402
from shared.memory.indexing import file_documents  # noqa: E402
from shared.memory.store import CANDIDATES, EXACT_BELOW, KINDS, Document, Memory, _vector, index_name  # noqa: E402

SIZES = (10_000, 100_000)
REPOSITORY = "bench/memory"
INSTALLATION = 1
DIMENSION = 384
K = 10
QUERIES = 200
WARMUP = 10
HELD_OUT = 25              # every 25th file is held out: queries, never stored
BATCH = 2_000              # rows a COPY transaction (and an embedding batch)
REPLACE_FILES = 40         # files re-stored with Memory.replace at each size
ISSUE_STEPS = (200, 2_000)  # issues stored for the filtered-search check (100,000 only)
ISSUE_QUERIES = 20
MAINTENANCE_WORK_MEM = "512MB"
EXTENSIONS = (".py", ".md")
MIB = 1024 * 1024


# --------------------------------------------------------------------------- helpers

def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class TimedEmbedder:
    """The embedder, with the time spent embedding added up."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.seconds = 0.0
        self.texts = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)


class Recording(psycopg.Connection):
    """A connection that keeps the statements it executes (to EXPLAIN Memory's own queries)."""

    statements: list = []

    def execute(self, query, params=None, **kwargs):
        Recording.statements.append((query, params))
        return super().execute(query, params, **kwargs)


# --------------------------------------------------------------------------- corpus

def source_files() -> list[tuple[str, Path]]:
    """(label, path) of every .py/.md file of site-packages and the standard library, sorted."""
    paths = sysconfig.get_paths()
    roots = [("site-packages", Path(paths["purelib"])), ("stdlib", Path(paths["stdlib"]))]
    files = []
    for name, root in roots:
        for path in root.rglob("*"):
            relative = path.relative_to(root)
            if name == "stdlib" and any(p in ("site-packages", "dist-packages") for p in relative.parts):
                continue
            if path.suffix in EXTENSIONS and path.is_file():
                files.append((f"{name}/{relative.as_posix()}", path))
    return sorted(files)


def read_documents(label: str, path: Path) -> list[Document]:
    """The file's chunks as Documents, as shared/memory/indexing.py makes them ([] when not indexable)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if chunking.is_indexable(label, len(data)) or chunking.looks_binary(data):
        return []
    text = data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return file_documents(REPOSITORY, label, text, f"{len(data):x}", INSTALLATION)


class Corpus:
    """Stored chunks, in order, endlessly (copies after the first pass); held-out chunks apart."""

    def __init__(self, files: list[tuple[str, Path]]):
        self.stored = [f for i, f in enumerate(files) if i % HELD_OUT != HELD_OUT // 2]
        self.held = [f for i, f in enumerate(files) if i % HELD_OUT == HELD_OUT // 2]
        self.seen: set[int] = set()
        self.files_read = 0
        self.passes = 1
        self._iterator = self._documents()

    def _documents(self):
        copy = 0
        while True:
            for label, path in self.stored:
                documents = read_documents(label, path)
                self.files_read += 1
                if copy:
                    documents = [Document(d.repository, d.kind, f"{d.source}~{copy}", f"{d.title} (copy {copy})",
                                          d.body, chunk=d.chunk, version=d.version, installation_id=d.installation_id,
                                          start_line=d.start_line, end_line=d.end_line) for d in documents]
                for document in documents:
                    key = hash(document.text_for_embedding())
                    if key not in self.seen:
                        self.seen.add(key)
                        yield document
            copy += 1
            self.passes = copy + 1

    def take(self, n: int) -> list[Document]:
        return [next(self._iterator) for _ in range(n)]

    def held_out(self) -> list[Document]:
        return [d for label, path in self.held for d in read_documents(label, path)]


def query_text(document: Document) -> str:
    """A query from a chunk: its title and, when the title does not already hold it, its first line."""
    first = next((line.strip() for line in document.body.splitlines() if line.strip()), "")
    parts = [document.title] if document.title else []
    if first and first.rstrip(":{ ") not in document.title:
        parts.append(first)
    return " ".join(parts)[:300]


def spread(items: list, n: int) -> list:
    """n items taken evenly across `items`."""
    if len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


# --------------------------------------------------------------------------- Postgres

COPY = ("COPY documents (installation_id, repository, kind, source, version, chunk, title, body, url, state, "
        "start_line, end_line, model, embedding) FROM STDIN")


def start_postgres(stack: ExitStack, directory: Path) -> str:
    """A throwaway Postgres (deleted when `stack` closes) tuned for index builds, with Petrel's schema."""
    server = stack.enter_context(db.throwaway(directory, migrated=False))
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("ALTER DATABASE {} SET maintenance_work_mem = {}").format(
            sql.Identifier(database), sql.Literal(MAINTENANCE_WORK_MEM)))
    db.migrate(url)
    return url


def settings(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        values = {name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
                  for name in ("server_version", "shared_buffers", "maintenance_work_mem", "work_mem",
                               "max_parallel_maintenance_workers")}
        values["pgvector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    return values


def insert(url: str, documents: list[Document], vectors: list[list[float]], model: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction(), conn.cursor() as cursor, cursor.copy(COPY) as copy:
        for d, v in zip(documents, vectors):
            copy.write_row((d.installation_id, d.repository, d.kind, d.source, d.version, d.chunk, d.title, d.body,
                            d.url, d.state, d.start_line, d.end_line, model, _vector(v)))


def vacuum(url: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) documents")
    return time.perf_counter() - started


def sizes(url: str, model: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        table = conn.execute("SELECT pg_total_relation_size('documents')").fetchone()[0]
        hnsw = conn.execute("SELECT coalesce(pg_relation_size(to_regclass(%s)), 0)",
                            (index_name(model, DIMENSION),)).fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM documents WHERE repository = %s", (REPOSITORY,)).fetchone()[0]
    return {"table": table, "hnsw": hnsw, "rows": rows}


def drop_index(url: str, model: str) -> None:
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
        log(f"  {stored:,} chunks stored (chunking {chunk_s:.1f} s, embedding {embed_s:.1f} s, insert {insert_s:.1f} s)")
    return {"chunk_s": chunk_s, "embed_s": embed_s, "insert_s": insert_s, "files": corpus.files_read - files_before,
            "stored": stored}


def replace_files(memory: Memory, embedder: TimedEmbedder, url: str, n_files: int) -> dict:
    """Memory.replace of n_files stored files (the indexer's path: delete + insert, HNSW present)."""
    with psycopg.connect(url) as conn:
        sources = [row[0] for row in conn.execute(
            "SELECT source FROM documents WHERE repository = %s AND kind = 'file' GROUP BY source "
            "HAVING count(*) > 1 ORDER BY md5(source) LIMIT %s", (REPOSITORY, n_files))]
        rows = conn.execute(
            "SELECT source, chunk, title, body, version, start_line, end_line FROM documents "
            "WHERE repository = %s AND kind = 'file' AND source = ANY(%s) ORDER BY source, chunk",
            (REPOSITORY, sources)).fetchall()
    by_source: dict[str, list[Document]] = {}
    for source, chunk, title, body, version, start, end in rows:
        by_source.setdefault(source, []).append(Document(REPOSITORY, "file", source, title, body, chunk=chunk,
                                                         version=version, installation_id=INSTALLATION,
                                                         start_line=start, end_line=end))
    embedded_before = embedder.seconds
    started = time.perf_counter()
    count = sum(memory.replace(REPOSITORY, "file", source, documents) for source, documents in by_source.items())
    whole = time.perf_counter() - started
    embed_s = embedder.seconds - embedded_before
    return {"files": len(by_source), "chunks": count, "whole_s": whole, "embed_s": embed_s,
            "store_s": whole - embed_s}


# --------------------------------------------------------------------------- 2 and 3. retrieval

def timed(call):
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def retrieval(memory: Memory, queries: list[str], warmup: list[str]) -> dict:
    for q in warmup:
        memory.nearest(REPOSITORY, q, K, exact=False)
        memory.nearest(REPOSITORY, q, K, exact=True)
        memory.search(REPOSITORY, q, k=K)
    lat = {"hnsw": [], "exact": [], "search": [], "count": []}
    recall, tolerant, short_hnsw, short_exact, short_search = [], [], 0, 0, 0
    for i, q in enumerate(queries):
        calls = [
            ("hnsw", lambda: memory.nearest(REPOSITORY, q, K, exact=False)),
            ("exact", lambda: memory.nearest(REPOSITORY, q, K, exact=True)),
            ("search", lambda: memory.search(REPOSITORY, q, k=K)),
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
        if (i + 1) % 50 == 0:
            log(f"  {i + 1}/{len(queries)} queries")
    return {"lat": lat, "recall": recall, "tolerant": tolerant, "queries": queries, "short_hnsw": short_hnsw,
            "short_exact": short_exact, "short_search": short_search}


def explain(url: str, embedder, calls: dict) -> dict[str, str]:
    """The plans Postgres chooses for Memory's own statements: each call of `calls` (name: function of a
    Memory) is run on a recording connection, then its last statement EXPLAIN ANALYZE'd after the others."""
    plans = {}
    with ConnectionPool(url, connection_class=Recording, min_size=1, max_size=1, open=True) as pool:
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
    return explain(url, embedder, {
        "nearest, exact=False": lambda m: m.nearest(REPOSITORY, query, K, exact=False),
        "nearest, exact=True": lambda m: m.nearest(REPOSITORY, query, K, exact=True),
        "full text of search (`_text`, 50 candidates)": lambda m: m._text(REPOSITORY, query, 50, list(KINDS), []),
    })


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
            issues.append(Document(REPOSITORY, "issue", str(100_000 + n), title, d.body, state="open",
                                   installation_id=INSTALLATION))
            memory.replace(REPOSITORY, "issue", issues[-1].source, [issues[-1]])
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE documents")
        hits = {"hnsw": [], "exact": [], "hnsw50": [], "exact50": [], "search_vector": [], "search": []}
        found = {name: [] for name in hits}
        for d in spread(issues, ISSUE_QUERIES):
            q = query_text(d)
            for name, rows in (("hnsw", memory.nearest(REPOSITORY, q, K, kinds, exact=False)),
                               ("exact", memory.nearest(REPOSITORY, q, K, kinds, exact=True)),
                               ("hnsw50", memory.nearest(REPOSITORY, q, CANDIDATES, kinds, exact=False)),
                               ("exact50", memory.nearest(REPOSITORY, q, CANDIDATES, kinds, exact=True))):
                hits[name].append(len(rows))
                found[name].append(any(r["source"] == d.source for r in rows))
            result = memory.search(REPOSITORY, q, k=K, kinds=kinds)
            vector = [h for h in result if "vector" in h.ranks]
            hits["search"].append(len(result))
            hits["search_vector"].append(len(vector))
            found["search"].append(any(h.source == d.source for h in result))
            found["search_vector"].append(any(h.source == d.source for h in vector))
        q = query_text(issues[0])
        plans = explain(url, embedder, {
            f"nearest, {K} wanted": lambda m: m.nearest(REPOSITORY, q, K, kinds, exact=False),
            f"nearest, {CANDIDATES} wanted (as in search)":
                lambda m: m.nearest(REPOSITORY, q, CANDIDATES, kinds, exact=False),
        })
        steps.append({"issues": target, "hits": hits, "found": found, "count": memory.count(REPOSITORY),
                      "plans": plans})
        log(f"  {target} issues: HNSW hits {hits['hnsw']}")
    return steps


# --------------------------------------------------------------------------- report

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(info: dict, runs: list[dict], issues: dict | None, notes: list[str]) -> str:
    lines = [
        "## 5. Long-term memory",
        "",
        f"One repository in an embedded Postgres {info['server_version']} with pgvector {info['pgvector']} "
        f"(pgserver; shared_buffers {info['shared_buffers']}, work_mem {info['work_mem']}, maintenance_work_mem "
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
            f"{r['vacuum_s']:.1f} | {r['hnsw_s']:.1f} | {r['sizes']['hnsw'] / MIB:.0f} | {r['sizes']['table'] / MIB:.0f} |")
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
        lines.append(f"| {r['n']:,} | {p['files']} | {p['chunks']} | {p['store_s']:.2f} | "
                     f"{p['chunks'] / p['store_s']:,.0f} | {p['embed_s']:.2f} |")
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
        for name, label, short in (("hnsw", "`nearest(exact=False)` (HNSW)", t["short_hnsw"]),
                                   ("exact", "`nearest(exact=True)`", t["short_exact"]),
                                   ("search", f"`search` (hybrid, vector part {path})", t["short_search"]),
                                   ("count", "`count` alone (run inside `search`)", None)):
            values = t["lat"][name]
            lines.append(f"| {r['n']:,} | {label} | {ms(percentile(values, 50))} | {ms(percentile(values, 99))} | "
                         f"{'' if short is None else short} |")
    lines += [
        "",
        "| chunks | recall@10, HNSW vs exact (mean) | queries with recall 1 | lowest | tie-tolerant recall@10 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        t = r["retrieval"]
        lines.append(f"| {r['n']:,} | {statistics.mean(t['recall']):.3f} | "
                     f"{sum(x == 1 for x in t['recall'])}/{len(t['recall'])} | {min(t['recall']):.1f} | "
                     f"{statistics.mean(t['tolerant']):.3f} |")
    for r in runs:
        t = r["retrieval"]
        worst = sorted(zip(t["recall"], t["queries"]))[:3]
        worst = [(x, q) for x, q in worst if x < 1]
        if worst:
            lines.append(f"\nLowest recall at {r['n']:,}: " + "; ".join(f"{x:.1f} for `{q[:80]}`" for x, q in worst))
    lines += ["", "Plans Postgres chose for Memory's own statements (EXPLAIN ANALYZE of the recorded SQL, one query):", ""]
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
            for name, label, wanted in (("hnsw", "`nearest(exact=False)`", K), ("exact", "`nearest(exact=True)`", K),
                                        ("hnsw50", "`nearest(exact=False)`, as `search` asks", CANDIDATES),
                                        ("exact50", "`nearest(exact=True)`, as `search` asks", CANDIDATES),
                                        ("search", "`search`, all hits", K),
                                        ("search_vector", "`search`, hits with a vector rank (similarity)", K)):
                lines.append(f"| {step['issues']:,} | {label} | {wanted} | {statistics.median(h[name]):.0f} | "
                             f"{sum(x < wanted for x in h[name])}/{n} | {sum(f[name])}/{n} |")
        lines.append("")
        for step in issues:
            for name, plan in step["plans"].items():
                lines.append(f"- {step['issues']:,} issues, plan of {name}, kinds issue + pull_request: {plan}")
    lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main

def main() -> int:
    started = time.perf_counter()
    notes: list[str] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="petrel-bench-memory-",
                                                                       ignore_cleanup_errors=True)))
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
        warmup, queries = [query_text(d) for d in picked[:WARMUP]], [query_text(d) for d in picked[WARMUP:WARMUP + QUERIES]]
        chosen = {id(d) for d in picked}
        issue_documents = [d for d in held if id(d) not in chosen]
        log(f"{len(files):,} files, {len(held):,} held-out chunks, {len(queries)} queries")

        embedder = TimedEmbedder(HashingEmbedder(DIMENSION))
        info["model"] = embedder.name
        pool = stack.enter_context(db.make_pool(url, max_size=4, timeout=30.0))
        runs, stored, issues, failed = [], 0, None, False
        for n in SIZES:
            log(f"filling to {n:,} chunks...")
            drop_index(url, embedder.name)
            filled = fill(url, corpus, embedder, n, stored)
            loaded, stored = filled["stored"] - stored, filled["stored"]
            vacuum_s = vacuum(url)
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
            runs.append({"n": n, "loaded": loaded, "fill": filled, "vacuum_s": vacuum_s, "hnsw_s": hnsw_s,
                         "sizes": table, "retrieval": result, "plans": plans, "replace": replaced})
            if n >= EXACT_BELOW and issue_documents:
                log("  filtered search...")
                issues = issue_check(memory, issue_documents, url, embedder)
        info["files"] = len(files)
        info["copies"] = (f"; the files were used {corpus.passes} times, the later passes with \" (copy N)\" in "
                          "titles and \"~N\" in paths") if corpus.passes > 1 else ""
    elapsed = time.perf_counter() - started
    notes.append(f"whole benchmark, Postgres start and clean-up included: {elapsed:.0f} s.")
    print(report(info, runs, issues, notes), end="")
    return 1 if failed or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
