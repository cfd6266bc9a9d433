"""Long-term memory: a repository's files, issues, pull requests and feedback in pgvector.

- Every row belongs to one repository, and every query is filtered by it: nothing crosses
  repositories or installations.
- Each row stores the embedding model's name; a query compares only vectors of the
  current model. Rows of another model are re-embedded from their stored text
  (`reembed_stale`), never mixed in.
- Retrieval is hybrid: the nearest vectors (HNSW, cosine) and the best full-text matches
  (Postgres `tsvector`), fused by reciprocal rank, then cut to a token budget.
- HNSW indexes are partial, one per model and dimension, made on first use. A repository
  (and kinds) with few rows is searched exactly: cheaper than the index, and exact.
- Above that, with pgvector 0.8 or later (the embedded server has 0.8.5), the repository and
  kind filters are applied during the index scan (`hnsw.iterative_scan`), which goes on until
  `k` rows pass them. Older servers (`DATABASE_URL` may be any Postgres with pgvector 0.5 or
  later) filter after the scan, so an index search left short of `k` is asked again exactly.
  The version is asked once per pool (`db.vector_version`).
- Vectors go to Postgres as binary parameters (`pgvector.Vector`, registered on every pooled
  connection by `db.configure`), never formatted as text.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pgvector import Vector
from psycopg import sql
from psycopg_pool import ConnectionPool

from shared.model.embeddings import Embedder
from shared.runtime import db

log = logging.getLogger("petrel.memory")

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.)
CANDIDATES = 50  # per retriever, before fusion
EXACT_BELOW = 20_000  # rows of one repository and model under which search is exact
EF_SEARCH = 200  # HNSW candidate list when the index is used
# pgvector 0.8: relaxed_order lets the iterative scan return rows slightly out of distance order
# (better recall and speed than strict_order, pgvector's advice); the SQL sorts the k rows again
ITERATIVE_SCAN = "relaxed_order"
MAX_SCAN_TUPLES = 40_000  # index tuples an iterative scan may visit before it gives up (default 20,000)
TEXT_TERMS = 16  # words of a query given to full-text search
KINDS = ("file", "issue", "pull_request", "comment", "feedback")


@dataclass(frozen=True)
class Document:
    """One chunk of a source (a file, an issue, a pull request, a comment, a feedback), as stored in memory."""

    repository: str
    kind: str
    source: str
    title: str
    body: str
    chunk: int = 0
    version: str | None = None
    url: str | None = None
    state: str | None = None
    installation_id: int | None = None
    start_line: int | None = None
    end_line: int | None = None

    def text_for_embedding(self) -> str:
        """The text that is embedded: the title, if any, then the body."""
        return f"{self.title}\n{self.body}" if self.title else self.body


@dataclass(frozen=True)
class Hit:
    """A document found by a search, with its fusion score and (when the vector search found it) its similarity."""

    kind: str
    source: str
    chunk: int
    title: str
    body: str
    url: str | None
    state: str | None
    start_line: int | None
    end_line: int | None
    score: float  # reciprocal rank fusion score
    similarity: float | None = None  # cosine similarity, when the vector search found it
    ranks: dict = field(default_factory=dict)


def _vector(values: list[float]) -> Vector:
    """An embedding as pgvector's `Vector` (sent as a binary parameter, 4 bytes a component)."""
    return Vector(values)


def index_name(model: str, dimension: int) -> str:
    """The name of the HNSW index for vectors of `model` at `dimension` (one index per embedder)."""
    return f"documents_hnsw_{hashlib.sha1(f'{model}:{dimension}'.encode()).hexdigest()[:12]}"


class Memory:
    """Long-term memory over one connection pool and one embedder."""

    def __init__(self, pool: ConnectionPool, embedder: Embedder):
        self.pool = pool
        self.embedder = embedder
        self._indexed: set[tuple[str, int]] = set()

    # -- writing ---------------------------------------------------------------------------

    def ensure_index(self) -> None:
        """The partial HNSW index for the current model and dimension (made once)."""
        key = (self.embedder.name, self.embedder.dimension)
        if key in self._indexed:
            return
        statement = sql.SQL(
            "CREATE INDEX IF NOT EXISTS {name} ON documents USING hnsw "
            "((embedding::vector({dim})) vector_cosine_ops) WHERE model = {model}"
        ).format(name=sql.Identifier(index_name(*key)), dim=sql.Literal(key[1]), model=sql.Literal(key[0]))
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('petrel-memory-index'))")
            conn.execute(statement)
        self._indexed.add(key)

    def replace(self, repository: str, kind: str, source: str, documents: list[Document]) -> int:
        """Make `documents` the only rows of one source (a file, an issue), embedding them."""
        vectors = self.embedder.embed([d.text_for_embedding() for d in documents]) if documents else []
        if documents:
            self.ensure_index()
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM documents WHERE repository = %s AND kind = %s AND source = %s", (repository, kind, source)
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    """INSERT INTO documents (installation_id, repository, kind, source, version, chunk, title, body,
                                              url, state, start_line, end_line, model, embedding)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %b)""",
                    [
                        (
                            d.installation_id,
                            repository,
                            kind,
                            source,
                            d.version,
                            d.chunk,
                            d.title,
                            d.body,
                            d.url,
                            d.state,
                            d.start_line,
                            d.end_line,
                            self.embedder.name,
                            _vector(v),
                        )
                        for d, v in zip(documents, vectors)
                    ],
                )
        return len(documents)

    def delete_source(self, repository: str, kind: str, source: str) -> int:
        """Delete every chunk of one source (e.g. a deleted file); returns the rows deleted."""
        with self.pool.connection() as conn:
            return conn.execute(
                "DELETE FROM documents WHERE repository = %s AND kind = %s AND source = %s", (repository, kind, source)
            ).rowcount

    def delete_repository(self, repository: str) -> int:
        """Delete everything stored for `repository`; returns the rows deleted."""
        with self.pool.connection() as conn:
            return conn.execute("DELETE FROM documents WHERE repository = %s", (repository,)).rowcount

    def delete_installation(self, installation_id: int) -> int:
        """Delete everything stored for an installation (it was uninstalled); returns the rows deleted."""
        with self.pool.connection() as conn:
            return conn.execute("DELETE FROM documents WHERE installation_id = %s", (installation_id,)).rowcount

    def versions(self, repository: str, kind: str) -> dict[str, str | None]:
        """The stored version (blob sha, updated_at) of each source of one kind, current model only."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                """SELECT source, min(version) FROM documents
                   WHERE repository = %s AND kind = %s AND model = %s GROUP BY source""",
                (repository, kind, self.embedder.name),
            ).fetchall()
        return dict(rows)

    def reembed_stale(self, repository: str, limit: int = 500) -> int:
        """Re-embed rows written by another model, from their stored text."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                """SELECT id, title, body FROM documents WHERE repository = %s AND model <> %s
                   ORDER BY id LIMIT %s""",
                (repository, self.embedder.name, limit),
            ).fetchall()
        if not rows:
            return 0
        self.ensure_index()
        vectors = self.embedder.embed([f"{title}\n{body}" if title else body for _, title, body in rows])
        with self.pool.connection() as conn, conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE documents SET model = %s, embedding = %b, updated_at = now() WHERE id = %s",
                [(self.embedder.name, _vector(v), row[0]) for row, v in zip(rows, vectors)],
            )
        log.info("re-embedded %d rows of %s with %s", len(rows), repository, self.embedder.name)
        return len(rows)

    # -- reading ---------------------------------------------------------------------------

    def count(self, repository: str, kinds: Iterable[str] | None = None) -> int:
        """How many chunks of these kinds (all by default) `repository` has for the current model."""
        with self.pool.connection() as conn:
            return conn.execute(
                "SELECT count(*) FROM documents WHERE repository = %s AND model = %s AND kind = ANY(%s)",
                (repository, self.embedder.name, list(kinds or KINDS)),
            ).fetchone()[0]

    def search(
        self,
        repository: str,
        query: str,
        k: int = 10,
        kinds: Iterable[str] | None = None,
        exclude: Iterable[tuple[str, str]] = (),
    ) -> list[Hit]:
        """The `k` best rows of `repository` for `query`: vector and full-text ranks fused."""
        kinds = list(kinds or KINDS)
        excluded = [f"{kind}:{source}" for kind, source in exclude]
        vector_hits = self.nearest(repository, query, CANDIDATES, kinds, excluded)
        text_hits = self._text(repository, query, CANDIDATES, kinds, excluded)
        fused: dict[tuple, dict] = {}
        for name, hits in (("vector", vector_hits), ("text", text_hits)):
            for rank, row in enumerate(hits, start=1):
                key = (row["kind"], row["source"], row["chunk"])
                entry = fused.setdefault(key, dict(row, score=0.0, ranks={}))
                entry["score"] += 1.0 / (RRF_K + rank)
                entry["ranks"][name] = rank
                if name == "vector":
                    entry["similarity"] = row["similarity"]
        ranked = sorted(fused.values(), key=lambda e: -e["score"])[:k]
        return [
            Hit(
                e["kind"],
                e["source"],
                e["chunk"],
                e["title"],
                e["body"],
                e["url"],
                e["state"],
                e["start_line"],
                e["end_line"],
                e["score"],
                e.get("similarity"),
                e["ranks"],
            )
            for e in ranked
        ]

    def nearest(
        self,
        repository: str,
        query: str,
        k: int,
        kinds: list[str] | None = None,
        excluded: list[str] | None = None,
        exact: bool | None = None,
    ) -> list[dict]:
        """Nearest rows by cosine similarity (with `similarity` = 1 - cosine distance)."""
        [vector] = self.embedder.embed([query])
        dim = self.embedder.dimension
        kinds = list(kinds or KINDS)
        if exact is None:
            exact = self.count(repository, kinds) < EXACT_BELOW
        iterative = not exact and db.vector_version(self.pool) >= db.VECTOR_ITERATIVE
        distance = sql.SQL("(embedding::vector({dim}) <=> %(q)b::vector({dim}))").format(dim=sql.Literal(dim))
        filters = sql.SQL(
            "repository = %(repo)s AND model = %(model)s AND kind = ANY(%(kinds)s) "
            "AND NOT (kind || ':' || source = ANY(%(excluded)s))"
        )
        columns = sql.SQL("kind, source, chunk, title, body, url, state, start_line, end_line")
        if exact or iterative:
            # exact: a materialized CTE keeps the planner off the (approximate) index; iterative: the
            # index scan inside it, whose relaxed order the outer query sorts
            query_sql = sql.SQL(
                "WITH rows AS MATERIALIZED (SELECT {columns}, {distance} AS distance FROM documents WHERE {filters}"
                "{limit}) SELECT *, 1 - distance AS similarity FROM rows ORDER BY distance LIMIT %(k)s"
            ).format(
                columns=columns,
                distance=distance,
                filters=filters,
                limit=sql.SQL("" if exact else " ORDER BY distance LIMIT %(k)s"),
            )
        else:
            query_sql = sql.SQL(
                "SELECT {columns}, 1 - {distance} AS similarity FROM documents WHERE {filters} "
                "ORDER BY {distance} LIMIT %(k)s"
            ).format(columns=columns, distance=distance, filters=filters)
        params = {
            "q": _vector(vector),
            "repo": repository,
            "model": self.embedder.name,
            "kinds": kinds,
            "excluded": list(excluded or []),
            "k": k,
        }
        with self.pool.connection() as conn, conn.transaction():
            if not exact:  # the index's settings for this transaction, in one round trip
                settings = {"hnsw.ef_search": max(EF_SEARCH, k * 2)}
                if iterative:
                    settings |= {"hnsw.iterative_scan": ITERATIVE_SCAN, "hnsw.max_scan_tuples": MAX_SCAN_TUPLES}
                conn.execute(
                    sql.SQL("SELECT {}").format(
                        sql.SQL(", ").join(
                            sql.SQL("set_config({}, {}, true)").format(sql.Literal(name), sql.Literal(str(value)))
                            for name, value in settings.items()
                        )
                    )
                )
            cursor = conn.execute(query_sql, params)
            names = [c.name for c in cursor.description]
            rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        if not exact and not iterative and len(rows) < k:
            # pgvector before 0.8 filters after the index scan: when the filters (repository, kind)
            # leave fewer than k of its candidates, ask again exactly rather than lose results
            return self.nearest(repository, query, k, kinds, excluded, exact=True)
        return rows

    def _text(self, repository: str, query: str, k: int, kinds: list[str], excluded: list[str]) -> list[dict]:
        with self.pool.connection() as conn:
            cursor = conn.execute(
                """SELECT kind, source, chunk, title, body, url, state, start_line, end_line,
                          ts_rank_cd(tsv, q) AS rank
                   FROM documents, websearch_to_tsquery('english', %(query)s) AS q
                   WHERE repository = %(repo)s AND model = %(model)s AND kind = ANY(%(kinds)s)
                     AND NOT (kind || ':' || source = ANY(%(excluded)s)) AND tsv @@ q
                   ORDER BY rank DESC LIMIT %(k)s""",
                {
                    "query": _or_query(query),
                    "repo": repository,
                    "model": self.embedder.name,
                    "kinds": kinds,
                    "excluded": excluded,
                    "k": k,
                },
            )
            names = [c.name for c in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]


def _or_query(text: str) -> str:
    """websearch syntax where any word may match (an issue rarely repeats every word of another)."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text.lower()).split() if len(w) > 2]
    # the longest distinct words carry the most: a few of them keep the match selective
    # (every row of a code base contains "def" or "self")
    chosen = sorted(dict.fromkeys(words), key=lambda w: (-len(w), words.index(w)))[:TEXT_TERMS]
    return " or ".join(chosen)


def fit(hits: list[Hit], budget_tokens: int, estimate: Callable[[str], int]) -> list[Hit]:
    """The best hits whose text fits in `budget_tokens`, in rank order."""
    kept, used = [], 0
    for hit in hits:
        cost = estimate(f"{hit.title}\n{hit.body}") + 8
        if used + cost > budget_tokens:
            continue
        kept.append(hit)
        used += cost
    return kept
