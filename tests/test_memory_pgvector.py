"""pgvector on real Postgres: filters inside the index (0.8) or the exact fallback (before 0.8),
the version asked once per pool, and vectors sent as binary parameters."""

from __future__ import annotations

import psycopg
import pytest
from pgvector import Vector
from psycopg_pool import ConnectionPool

from shared.memory.store import Document, Memory
from shared.model.embeddings import HashingEmbedder
from shared.runtime import db


class Recording(psycopg.Connection):
    """A real connection that keeps the statements (as text) and parameters it executes."""

    statements: list = []

    def execute(self, query, params=None, **kwargs):
        text = query.as_string(self) if isinstance(query, psycopg.sql.Composable) else str(query)
        Recording.statements.append((text, params))
        return super().execute(query, params, **kwargs)


@pytest.fixture
def index_pool(clean_db):
    """A pool whose planner takes the HNSW index, as it does for a large table, recording its statements."""
    pool = ConnectionPool(
        clean_db,
        min_size=1,
        max_size=2,
        open=True,
        connection_class=Recording,
        configure=db.configure,
        kwargs={"options": "-c enable_seqscan=off -c enable_sort=off"},
    )
    yield pool
    pool.close()


def few_issues_among_many_files(memory: Memory) -> None:
    """60 file chunks about a config loader, then 4 issues: a kind filter that few rows pass."""
    for n in range(60):
        path = f"src/m{n}.py"
        memory.replace(
            "o/r", "file", path, [Document("o/r", "file", path, f"def f{n}", f"config loader number {n} reads yaml")]
        )
    for number, title in enumerate(("Crash when config is missing", "Dark mode", "Login fails", "Typo"), start=1):
        memory.replace("o/r", "issue", str(number), [Document("o/r", "issue", str(number), title, title.lower())])


def searched(monkeypatch, pool) -> tuple[list[dict], list[str]]:
    """nearest(k=4, kinds=issue) through the index with a tiny candidate list; (rows, the searches run,
    as (text, parameters))."""
    from shared.memory import store

    memory = Memory(pool, HashingEmbedder())
    few_issues_among_many_files(memory)
    monkeypatch.setattr(store, "EF_SEARCH", 5)  # a small candidate list, as a big repository gives
    Recording.statements = []
    rows = memory.nearest("o/r", "crash config file missing", 4, kinds=["issue"], exact=False)
    return rows, list(Recording.statements)


def test_pgvector_0_8_filters_inside_the_index_scan(index_pool, monkeypatch):
    assert db.vector_version(index_pool) >= db.VECTOR_ITERATIVE  # the embedded server: pgvector 0.8.x
    rows, recorded = searched(monkeypatch, index_pool)
    statements = [text for text, _ in recorded]
    assert len(rows) == 4 and {r["kind"] for r in rows} == {"issue"}
    assert any("set_config('hnsw.iterative_scan', 'relaxed_order', true)" in s for s in statements)
    assert any("set_config('hnsw.max_scan_tuples'" in s for s in statements)
    searches = [(t, p) for t, p in recorded if "FROM documents WHERE repository" in t]
    assert len(searches) == 1  # found in one index scan: no exact search after it
    [(text, params)] = searches
    assert "ORDER BY distance LIMIT" in text  # the index's relaxed order sorted again outside
    with index_pool.connection() as conn:
        plan = conn.execute("EXPLAIN " + text, params).fetchall()
    assert any("documents_hnsw_" in line for (line,) in plan)
    distances = [1 - r["similarity"] for r in rows]
    assert distances == sorted(distances)


def test_before_pgvector_0_8_a_short_index_search_is_asked_again_exactly(index_pool, monkeypatch):
    monkeypatch.setattr(db, "vector_version", lambda pool: (0, 7, 4))  # a user's older Postgres
    rows, recorded = searched(monkeypatch, index_pool)
    statements = [text for text, _ in recorded]
    assert len(rows) == 4 and {r["kind"] for r in rows} == {"issue"}  # nothing lost
    assert not any("iterative_scan" in s for s in statements)
    searches = [s for s in statements if "FROM documents WHERE repository" in s]
    assert len(searches) == 2 and "MATERIALIZED" not in searches[0] and "MATERIALIZED" in searches[1]


def test_the_extension_version_is_asked_once_per_pool(index_pool):
    Recording.statements = []
    first = db.vector_version(index_pool)
    assert db.vector_version(index_pool) == first and first[:2] == (0, 8)
    assert sum("pg_extension" in text for text, _ in Recording.statements) == 1
    assert db.parse_version("0.8.5") == (0, 8, 5) and db.parse_version("0.9.0-dev") == (0, 9)
    assert db.parse_version("0.5.1") < db.VECTOR_ITERATIVE <= db.parse_version("0.8.0")


def test_vectors_are_binary_parameters_and_come_back_as_vectors(index_pool):
    memory = Memory(index_pool, HashingEmbedder())
    document = Document("o/r", "issue", "1", "Crash", "when the config is missing")
    Recording.statements = []
    memory.replace("o/r", "issue", "1", [document])
    [expected] = memory.embedder.embed([document.text_for_embedding()])
    with index_pool.connection() as conn:
        stored = conn.execute("SELECT embedding FROM documents WHERE source = '1'").fetchone()[0]
    assert isinstance(stored, Vector)
    assert stored.to_list() == pytest.approx(expected, abs=1e-6)  # float4 on both sides, no text rounding
    Recording.statements = []
    memory.nearest("o/r", "config missing", 1, exact=True)
    [(text, params)] = [(t, p) for t, p in Recording.statements if "FROM documents WHERE repository" in t]
    assert isinstance(params["q"], Vector) and "%(q)b" in text


def test_the_embedded_server_is_postgres_16_with_pgvector_0_8(pg_url):
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        extension = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    assert int(version) // 10000 == db.EMBEDDED_POSTGRES and int(version) > 160002  # newer than pgserver's 16.2
    assert db.parse_version(extension) >= db.VECTOR_ITERATIVE
