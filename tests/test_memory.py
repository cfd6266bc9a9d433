"""Long-term memory on real Postgres with pgvector: isolation, models, hybrid search, budgets."""

from __future__ import annotations

import psycopg
import pytest
from fakes.openai import FakeOpenAI

from shared.memory.store import Document, Memory, fit, index_name
from shared.model.embeddings import HashingEmbedder, OpenAIEmbedder
from shared.runtime import settings
from shared.runtime.db import configure, make_pool


@pytest.fixture
def pool(clean_db):
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("TRUNCATE documents")
    pool = make_pool(clean_db)
    yield pool
    pool.close()


@pytest.fixture
def memory(pool):
    return Memory(pool, HashingEmbedder())


def issue(repo, number, title, body, state="open", installation=1):
    return Document(
        repo,
        "issue",
        str(number),
        title,
        body,
        url=f"https://github.com/{repo}/issues/{number}",
        state=state,
        installation_id=installation,
        version="2026-01-01T00:00:00Z",
    )


ISSUES = [
    (1, "Crash when the config file is missing", "Starting the app without config.yml raises FileNotFoundError."),
    (2, "Dark mode for the settings page", "Please add a dark theme to the settings screen."),
    (3, "Login fails with SSO", "Single sign-on redirects back to the login page forever."),
    (4, "Typo in README", "The word 'recieve' in the README should be 'receive'."),
]


def fill(memory, repo="o/r", installation=1):
    for number, title, body in ISSUES:
        memory.replace(repo, "issue", str(number), [issue(repo, number, title, body, installation=installation)])


def test_search_finds_the_similar_issue_first(memory):
    fill(memory)
    hits = memory.search("o/r", "App crashes on start if config file missing", k=3)
    assert hits[0].source == "1" and hits[0].kind == "issue"
    assert hits[0].similarity > hits[-1].similarity or len(hits) == 1
    assert set(hits[0].ranks) == {"vector", "text"}  # found by both retrievers


def test_no_result_crosses_repositories(memory):
    fill(memory, "o/r", installation=1)
    memory.replace(
        "x/y", "issue", "9", [issue("x/y", 9, "Crash when the config file is missing", "same words", installation=2)]
    )
    hits = memory.search("o/r", "config file missing crash", k=10)
    assert {h.source for h in hits} <= {"1", "2", "3", "4"}
    assert [h.source for h in memory.search("x/y", "config file missing crash", k=10)] == ["9"]


def test_replace_keeps_one_version_of_a_source(memory, pool):
    fill(memory)
    memory.replace("o/r", "issue", "1", [issue("o/r", 1, "Crash (fixed title)", "new body")])
    with pool.connection() as conn:
        rows = conn.execute("SELECT title FROM documents WHERE repository = 'o/r' AND source = '1'").fetchall()
    assert rows == [("Crash (fixed title)",)]
    assert memory.delete_source("o/r", "issue", "1") == 1
    assert memory.count("o/r") == 3


def test_deleting_an_installation_removes_only_its_rows(memory):
    fill(memory, "o/r", installation=1)
    fill(memory, "p/q", installation=2)
    assert memory.delete_installation(1) == 4
    assert memory.count("o/r") == 0 and memory.count("p/q") == 4


def test_exclude_and_kind_filters(memory):
    fill(memory)
    memory.replace(
        "o/r",
        "file",
        "docs/config.md",
        [
            Document(
                "o/r",
                "file",
                "docs/config.md",
                "Configuration",
                "Put config.yml next to the app; without it the app stops.",
            )
        ],
    )
    hits = memory.search("o/r", "config file missing", k=5, kinds=("issue",), exclude=[("issue", "1")])
    assert "1" not in {h.source for h in hits} and {h.kind for h in hits} == {"issue"}
    files = memory.search("o/r", "config file missing", k=5, kinds=("file",))
    assert [h.source for h in files] == ["docs/config.md"]


def test_vectors_of_another_model_are_never_compared_and_are_re_embedded(pool):
    old = Memory(pool, HashingEmbedder(128))
    old.replace("o/r", "issue", "1", [issue("o/r", 1, *ISSUES[0][1:])])
    new = Memory(pool, HashingEmbedder(384))
    assert new.search("o/r", "config file missing", k=5) == []  # the old model's rows are not mixed in
    assert new.versions("o/r", "issue") == {}
    assert new.reembed_stale("o/r") == 1
    assert [h.source for h in new.search("o/r", "config file missing", k=5)] == ["1"]
    assert old.search("o/r", "config file missing", k=5) == []


def test_hnsw_index_per_model_is_made_and_used_for_large_repositories(memory, pool):
    fill(memory)
    name = index_name(memory.embedder.name, memory.embedder.dimension)
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s", (name,)).fetchone()[0] == 1
    approximate = memory.nearest("o/r", "login sso redirect", 2, exact=False)
    exact = memory.nearest("o/r", "login sso redirect", 2, exact=True)
    assert [r["source"] for r in exact][0] == "3" and [r["source"] for r in approximate][0] == "3"
    with pool.connection() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN SELECT 1 FROM documents WHERE model = %s ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT 5",
            (memory.embedder.name, "[" + ",".join(["0.05"] * 384) + "]"),
        ).fetchall()
    assert any(name in line for (line,) in plan)


def test_openai_embeddings_from_the_fake_server(pool):
    server = FakeOpenAI().start()
    try:
        config = settings.from_env(
            {
                "OPENAI_BASE_URL": server.url + "/v1",
                "OPENAI_API_KEY": "sk-test",
                "PETREL_EMBEDDING_MODEL": "text-embedding-3-small",
                "PETREL_MODEL_MAX_RETRIES": "0",
            }
        )
        memory = Memory(pool, OpenAIEmbedder(config, "text-embedding-3-small"))
        fill(memory)
        hits = memory.search("o/r", ISSUES[2][1] + "\n" + ISSUES[2][2], k=2)
        assert hits[0].source == "3"  # identical text: identical vector from the fake
        assert memory.embedder.name == "openai:text-embedding-3-small"
        assert server.embedding_requests()
    finally:
        server.stop()


def test_fit_keeps_the_best_hits_within_the_budget(memory):
    fill(memory)
    hits = memory.search("o/r", "config crash login typo dark", k=4)
    kept = fit(hits, budget_tokens=60, estimate=lambda text: len(text) // 4)
    assert 0 < len(kept) < len(hits)
    assert sum(len(f"{h.title}\n{h.body}") // 4 + 8 for h in kept) <= 60


def test_a_small_kind_among_many_rows_is_not_lost_by_the_filtered_index(clean_db, monkeypatch):
    from psycopg_pool import ConnectionPool

    from shared.memory import store as memory_module

    # a planner that takes the HNSW index, as it does for a large table
    pool = ConnectionPool(
        clean_db,
        min_size=1,
        max_size=2,
        open=True,
        configure=configure,
        kwargs={"options": "-c enable_seqscan=off -c enable_sort=off"},
    )
    memory = Memory(pool, HashingEmbedder())
    for n in range(60):
        memory.replace(
            "o/r",
            "file",
            f"src/m{n}.py",
            [Document("o/r", "file", f"src/m{n}.py", f"def f{n}", f"config loader number {n} reads yaml files")],
        )
    fill(memory)
    monkeypatch.setattr(memory_module, "EF_SEARCH", 5)  # a small candidate list, as a big repository gives
    try:
        rows = memory.nearest("o/r", "crash config file missing", 4, kinds=["issue"], exact=False)
    finally:
        pool.close()
    assert len(rows) == 4 and {r["kind"] for r in rows} == {"issue"}  # asked again exactly, nothing lost
