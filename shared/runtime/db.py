"""The database: `DATABASE_URL`, or an embedded Postgres 16 with pgvector started on demand.

The embedded server is the PyPI package `pgserver`, with its data under `.data/postgres`.
Migrations are plain SQL files in `shared/runtime/migrations/`, applied in order, once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
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


class EmbeddedPostgres:
    """A pgserver-managed Postgres whose data lives in `data_dir`."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve()
        self._server = None
        self.started_here = False  # True when start() launched the server (False: it was running)

    def start(self) -> str:
        """Start (or attach to) the server and return its connection URI."""
        import pgserver  # heavy only when used; deployed functions get DATABASE_URL
        from pgserver.utils import PostmasterInfo

        if self._server is not None:
            return self._server.get_uri()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = PostmasterInfo.read_from_pgdata(self.data_dir)
        self.started_here = not (running is not None and running.is_running())
        self._server = pgserver.get_server(self.data_dir, cleanup_mode=None)
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return self._server.get_uri()

    def stop(self) -> None:
        """Stop the server cleanly (pg_ctl stop, fast mode)."""
        from pgserver._commands import pg_ctl

        if self._server is not None or (self.data_dir / "postmaster.pid").exists():
            server = self._server
            # as root, pgserver runs Postgres as the `pgserver` user (pg_ctl refuses to run as root)
            as_root = hasattr(os, "geteuid") and os.geteuid() == 0
            user = getattr(server, "system_user", None) if server else ("pgserver" if as_root else None)
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=user)
            self._server = None


NO_DATABASE = (
    "DATABASE_URL is not set and the embedded Postgres (the pgserver package) is not installed: "
    "set DATABASE_URL to a Postgres with pgvector"
)


def embedded_available() -> bool:
    """True where pgserver is installed (local runs); deployed bundles need DATABASE_URL."""
    import importlib.util

    return importlib.util.find_spec("pgserver") is not None


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


def make_pool(url: str, max_size: int = 8, timeout: float = 2.0) -> ConnectionPool:
    """A connection pool that checks each connection before lending it, so it survives restarts."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        open=True,
        check=ConnectionPool.check_connection,
        kwargs={"connect_timeout": 3},
        name="petrel",
    )


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
    """A temporary embedded Postgres 16 with pgvector, for tests and benchmarks: yields the pgserver
    server (its URL is `server.get_uri()`), with Petrel's migrations applied unless `migrated` is
    false, and deletes it and its data (`directory`, a new temporary one by default) on exit."""
    if not os.environ.get("XDG_RUNTIME_DIR"):  # pgserver asks platformdirs for one
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="petrel-xdg-")
    import pgserver  # heavy only when used; deployed functions never call this

    data = directory if directory is not None else Path(tempfile.mkdtemp(prefix="petrel-pg-"))
    server = pgserver.get_server(data, cleanup_mode="delete")
    try:
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        if migrated:
            migrate(url)
        yield server
    finally:
        server.cleanup()
