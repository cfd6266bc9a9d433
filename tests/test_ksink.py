"""K_SINK (Knative SinkBinding): the webhook stores each delivery and posts it to the sink as
a binary-mode CloudEvent instead of queueing jobs. The sink here is a real HTTP server."""

from __future__ import annotations

import http.server
import json
import threading

import payloads
import psycopg
import pytest
from cloudevents.http import from_http
from conftest import ROOT, SECRET, count, free_port, signed
from functions_framework import create_app

WEBHOOK_SOURCE = str(ROOT / "functions" / "webhook" / "main.py")


class Sink:
    """A CloudEvents sink on 127.0.0.1: records every request, answers `status` (202 unless told)."""

    def __init__(self, port: int = 0):
        self.received: list[dict] = []
        self.status = 202
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.received.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "answered": sink.status,
                    }
                )
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def accepted(self) -> list[dict]:
        return [r for r in self.received if 200 <= r["answered"] < 300]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.stop()


@pytest.fixture
def webhook_for(env, clean_db):
    """webhook_for(sink_url): the webhook under functions-framework with K_SINK=sink_url."""

    def make(sink_url: str):
        env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=clean_db, K_SINK=sink_url)
        return create_app("webhook", WEBHOOK_SOURCE, "http").test_client()

    return make


def deliver(client, payload, event, delivery=None):
    headers, body = signed(payload, event, delivery)
    return client.post("/", data=body, headers=headers), headers["X-GitHub-Delivery"]


def forwarded_at(url: str, delivery: str):
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT forwarded_at FROM deliveries WHERE id = %s", (delivery,)).fetchone()
    assert row is not None, f"delivery {delivery} is not stored"
    return row[0]


def test_subscribed_delivery_is_posted_to_the_sink_as_a_binary_cloudevent(webhook_for, sink, clean_db):
    client = webhook_for(sink.url)
    payload = payloads.with_installation(payloads.example("issues", "opened"), 77)
    response, delivery = deliver(client, payload, "issues")

    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json() == {"delivery": delivery, "event": "issues.opened", "sink": True}
    [posted] = sink.received
    headers = posted["headers"]
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "com.github.issues.opened"
    assert headers["ce-id"] == delivery
    assert headers["ce-source"] == payload["repository"]["html_url"]
    assert headers["ce-subject"] == str(payload["issue"]["number"])
    assert headers["content-type"] == "application/json"
    assert json.loads(posted["body"]) == payload
    # a CloudEvents SDK (what functions-framework uses) reads it back as the same event
    event = from_http(headers, posted["body"])
    assert (event["type"], event["id"], event.data) == ("com.github.issues.opened", delivery, payload)

    assert count(clean_db, "SELECT count(*) FROM jobs") == 0  # the sink replaces the local queue
    assert forwarded_at(clean_db, delivery) is not None


def test_delivery_without_a_subject_has_no_ce_subject(webhook_for, sink, clean_db):
    client = webhook_for(sink.url)
    response, delivery = deliver(client, payloads.example("push"), "push")
    assert response.status_code == 202
    [posted] = sink.received
    assert posted["headers"]["ce-type"] == "com.github.push" and posted["headers"]["ce-id"] == delivery
    assert "ce-subject" not in posted["headers"]


def test_redelivery_is_200_duplicate_and_not_posted_again(webhook_for, sink, clean_db):
    client = webhook_for(sink.url)
    payload = payloads.comment("/help")
    first, delivery = deliver(client, payload, "issue_comment")
    again, _ = deliver(client, payload, "issue_comment", delivery=delivery)
    assert first.status_code == 202
    assert again.status_code == 200 and again.get_json() == {"delivery": delivery, "duplicate": True}
    assert len(sink.received) == 1
    assert count(clean_db, "SELECT count(*) FROM deliveries WHERE id = %s", delivery) == 1
    assert count(clean_db, "SELECT count(*) FROM jobs") == 0


def test_sink_error_is_503_and_a_redelivery_after_it_recovers_forwards_once(webhook_for, sink, clean_db):
    client = webhook_for(sink.url)
    payload = payloads.example("pull_request", "opened")
    sink.status = 500
    refused, delivery = deliver(client, payload, "pull_request")
    assert refused.status_code == 503
    assert "redeliver" in refused.get_json()["error"]
    assert forwarded_at(clean_db, delivery) is None  # stored, not yet forwarded
    assert len(sink.received) == 1 and sink.accepted == []

    sink.status = 202
    recovered, _ = deliver(client, payload, "pull_request", delivery=delivery)
    assert recovered.status_code == 202, recovered.get_data(as_text=True)
    assert [r["headers"]["ce-id"] for r in sink.accepted] == [delivery]
    assert forwarded_at(clean_db, delivery) is not None

    once_more, _ = deliver(client, payload, "pull_request", delivery=delivery)
    assert once_more.status_code == 200 and once_more.get_json()["duplicate"] is True
    assert len(sink.accepted) == 1 and len(sink.received) == 2
    assert count(clean_db, "SELECT count(*) FROM deliveries") == 1
    assert count(clean_db, "SELECT count(*) FROM jobs") == 0


def test_unreachable_sink_is_503_and_a_redelivery_once_it_listens_forwards_once(webhook_for, clean_db):
    port = free_port()  # nothing listens there yet
    client = webhook_for(f"http://127.0.0.1:{port}/")
    payload = payloads.comment("/help")
    refused, delivery = deliver(client, payload, "issue_comment")
    assert refused.status_code == 503
    assert forwarded_at(clean_db, delivery) is None

    sink = Sink(port)
    try:
        recovered, _ = deliver(client, payload, "issue_comment", delivery=delivery)
        again, _ = deliver(client, payload, "issue_comment", delivery=delivery)
    finally:
        sink.stop()
    assert recovered.status_code == 202, recovered.get_data(as_text=True)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert [r["headers"]["ce-id"] for r in sink.received] == [delivery]
    assert forwarded_at(clean_db, delivery) is not None


def test_event_no_function_subscribes_to_is_stored_and_not_posted(webhook_for, sink, clean_db):
    client = webhook_for(sink.url)
    response, delivery = deliver(client, {"action": "created", "starred_at": None}, "star")
    assert response.status_code == 202
    assert response.get_json()["sink"] is False
    assert sink.received == []
    assert count(clean_db, "SELECT count(*) FROM deliveries WHERE id = %s AND event = 'star'", delivery) == 1
    assert count(clean_db, "SELECT count(*) FROM jobs") == 0


def test_ping_is_answered_200_in_sink_mode_too(webhook_for, sink, clean_db):
    client = webhook_for(sink.url)
    response, delivery = deliver(client, payloads.example("ping"), "ping")
    assert response.status_code == 200 and response.get_json() == {"delivery": delivery, "pong": True}
    assert sink.received == []
