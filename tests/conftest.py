"""Shared test fixtures: a real embedded Postgres with pgvector, settings, signed deliveries."""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared.pipeline import events
from shared.runtime import (
    db,  # noqa: E402
    settings,
)

SECRET = "test-webhook-secret"


@pytest.fixture(scope="session")
def pg_server():
    """One embedded Postgres 16 + pgvector for the whole run, deleted afterwards."""
    with db.throwaway(migrated=False) as server:
        yield server


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    url = pg_server.get_uri()
    db.migrate(url)
    return url


@pytest.fixture
def clean_db(pg_url):
    """An empty inbox and queue for each test that uses the database."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("TRUNCATE deliveries, jobs, usage, reviews, documents, messages RESTART IDENTITY CASCADE")
    return pg_url


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Set environment variables for Petrel (and reset its cached settings)."""

    def apply(**values):
        for name in list(os.environ):
            if name.startswith(("GITHUB_", "PETREL_", "OPENAI_")) or name in (
                "DATABASE_URL",
                "K_SINK",
                "PORT",
                "PUBSUB_EMULATOR_HOST",
            ):
                monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            if value is not None:
                monkeypatch.setenv(name, str(value))
        settings.reset()
        return settings.current()

    monkeypatch.chdir(tmp_path)  # no stray .env is read
    yield apply
    settings.reset()


@pytest.fixture
def app_env(env, clean_db):
    """Settings for the webhook against the test database, dry-run, fast retries."""
    return env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=clean_db, PETREL_JOB_LEASE_SECONDS=30)


@pytest.fixture(scope="session")
def app_key() -> tuple[str, str]:
    """A GitHub App key pair made for the run: (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(autouse=True)
def services():
    """Each test starts and ends without the process's services (the pool, GitHub access and its
    token cache): the one place they are reset."""
    from shared.context import Services

    Services.reset()
    yield
    Services.reset()


def modules_on_the_way(monkeypatch, module, name: str) -> list[tuple[tuple, list[str]]]:
    """Record, at each call of `module.name`, its arguments and the project's modules on the call
    stack, outermost first, one entry per run of frames in the same module (docs/architecture.md (two paths) counts them)."""
    import traceback

    seen: list[list[str]] = []
    original = getattr(module, name)

    def recording(*args, **kwargs):
        path = []
        for frame in traceback.extract_stack():
            file = Path(frame.filename).resolve()
            if ROOT in file.parents and file.parts[len(ROOT.parts)] in ("shared", "functions"):
                where = str(file.relative_to(ROOT))
                if not path or path[-1] != where:
                    path.append(where)
        seen.append((args, [*path, str(Path(module.__file__).resolve().relative_to(ROOT))]))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return seen


def signed(payload, event: str, delivery: str | None = None, secret: str = SECRET, form: bool = False):
    """(headers, body) of a delivery as GitHub signs and sends it."""
    text = json.dumps(payload) if not isinstance(payload, (bytes, str)) else payload
    if form:
        from urllib.parse import urlencode

        body = urlencode({"payload": text}).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        body = text.encode() if isinstance(text, str) else text
        content_type = "application/json"
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": events.sign(body, secret),
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/test",
    }
    return headers, body


def wait_for_port(process, port: int, timeout: float, what: str, output, stop) -> None:
    """Wait until `process` listens on `port`; fail the test (with its output) if it exits or is too slow."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                stop()
                pytest.fail(f"{what} not listening after {timeout}s:\n{output()}")
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jobs_of(url: str, delivery_id: str | None = None) -> list[tuple]:
    """(delivery_id, function, status) of every job, or of one delivery's jobs."""
    with psycopg.connect(url) as conn:
        query = "SELECT delivery_id, function, status FROM jobs"
        if delivery_id:
            return conn.execute(query + " WHERE delivery_id = %s ORDER BY function", (delivery_id,)).fetchall()
        return conn.execute(query + " ORDER BY id").fetchall()


def count(url: str, sql: str, *params) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]
