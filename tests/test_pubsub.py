"""Pub/Sub (Cloud Run): the webhook stores each delivery and publishes it as one message with the
REST API; a function behind a push subscription reads it back through functions-framework.

Pub/Sub and the metadata server are small fakes here (http.server threads) that speak the
documented REST shapes; nothing in this file reaches Google Cloud.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import uuid

import payloads
import psycopg
import pytest
from conftest import ROOT, SECRET, count, free_port, signed
from fakes.github import FakeGitHub
from functions_framework import create_app
from test_functions_framework import HELP, HTTP, REPO, TOKEN, FunctionServer

from shared.context import delivery_of
from shared.pipeline import events
from shared.pipeline import forward as pubsub_module
from shared.runtime import settings

WEBHOOK_SOURCE = str(ROOT / "functions" / "webhook" / "main.py")
TOPIC = "projects/petrel-test/topics/petrel-events"
ACCESS_TOKEN = "ya29.fake-access-token"


class FakeServer:
    """An HTTP server on 127.0.0.1 that records each request and answers with `answer(request)`."""

    def __init__(self, answer, port: int = 0):
        self.requests: list[dict] = []
        self.answer = answer
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
                status, reply = fake.answer(request)
                request["answered"] = status
                fake.requests.append(request)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle  # noqa: N815 - http.server's naming

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakePubSub(FakeServer):
    """`POST /v1/projects/P/topics/T:publish`, as the Pub/Sub REST API (and its emulator) answer it."""

    def __init__(self, port: int = 0):
        self.status = 200
        self.published: list[dict] = []
        super().__init__(self._publish, port)

    def _publish(self, request):
        if self.status != 200:
            return self.status, {"error": {"code": self.status, "message": "the fake refuses", "status": "UNAVAILABLE"}}
        if request["method"] != "POST" or not request["path"].endswith(":publish"):
            return 404, {"error": {"code": 404, "message": "not found"}}
        messages = json.loads(request["body"])["messages"]
        ids = []
        for message in messages:
            self.published.append({"path": request["path"], "headers": request["headers"], **message})
            ids.append(str(len(self.published)))
        return 200, {"messageIds": ids}


class FakeMetadata(FakeServer):
    """The metadata server's token endpoint: a token for `Metadata-Flavor: Google` requests only."""

    def __init__(self, expires_in: int = 3599):
        self.expires_in = expires_in
        self.issued = 0
        super().__init__(self._token)

    def _token(self, request):
        if request["headers"].get("metadata-flavor") != "Google":
            return 403, {"error": "Missing Metadata-Flavor:Google header"}
        self.issued += 1
        return 200, {
            "access_token": f"{ACCESS_TOKEN}-{self.issued}",
            "expires_in": self.expires_in,
            "token_type": "Bearer",
        }

    @property
    def token_url(self) -> str:
        return f"{self.url}/computeMetadata/v1/instance/service-accounts/default/token"


@pytest.fixture
def pubsub():
    server = FakePubSub()
    yield server
    server.stop()


@pytest.fixture
def webhook_for(env, clean_db):
    """webhook_for(emulator_host): the webhook under functions-framework publishing to TOPIC there."""

    def make(host: str):
        env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=clean_db, PETREL_PUBSUB_TOPIC=TOPIC, PUBSUB_EMULATOR_HOST=host)
        return create_app("webhook", WEBHOOK_SOURCE, "http").test_client()

    yield make


def deliver(client, payload, event, delivery=None):
    headers, body = signed(payload, event, delivery)
    return client.post("/", data=body, headers=headers), headers["X-GitHub-Delivery"]


def forwarded_at(url: str, delivery: str):
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT forwarded_at FROM deliveries WHERE id = %s", (delivery,)).fetchone()
    assert row is not None, f"delivery {delivery} is not stored"
    return row[0]


def push_body(message: dict, message_id: str = "1") -> dict:
    """What a Pub/Sub push subscription POSTs to its endpoint (the wrapped format)."""
    return {
        "message": {
            **message,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2024-05-01T12:00:00.000Z",
            "publish_time": "2024-05-01T12:00:00.000Z",
        },
        "subscription": "projects/petrel-test/subscriptions/petrel-commands",
    }


# --- settings -----------------------------------------------------------------------------------


def test_topic_and_emulator_are_read_and_checked():
    config = settings.from_env({"PETREL_PUBSUB_TOPIC": TOPIC, "PUBSUB_EMULATOR_HOST": "localhost:8085"})
    assert (config.pubsub_topic, config.pubsub_emulator_host) == (TOPIC, "localhost:8085")
    for bad in (
        "petrel-events",
        "projects/p/topics/",
        "projects/petrel-test/subscriptions/x",
        "//pubsub/projects/a/topics/b",
    ):
        with pytest.raises(settings.SettingsError, match="^PETREL_PUBSUB_TOPIC=") as error:
            settings.from_env({"PETREL_PUBSUB_TOPIC": bad})
        assert "\n" not in str(error.value)
    with pytest.raises(settings.SettingsError, match="PETREL_PUBSUB_TOPIC and K_SINK"):
        settings.from_env({"PETREL_PUBSUB_TOPIC": TOPIC, "K_SINK": "http://broker/"})
    with pytest.raises(settings.SettingsError, match="^PUBSUB_EMULATOR_HOST="):
        settings.from_env({"PUBSUB_EMULATOR_HOST": "http://localhost:8085"})
    assert {"PETREL_PUBSUB_TOPIC", "PUBSUB_EMULATOR_HOST"} <= set(settings.KNOWN)


# --- the webhook publishes ----------------------------------------------------------------------


def test_subscribed_delivery_is_published_as_one_message(webhook_for, pubsub, clean_db):
    client = webhook_for(pubsub.host)
    payload = payloads.with_installation(payloads.example("issues", "opened"), 77)
    response, delivery = deliver(client, payload, "issues")

    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json() == {"delivery": delivery, "event": "issues.opened", "published": True}
    [message] = pubsub.published
    assert message["path"] == f"/v1/{TOPIC}:publish"
    assert "authorization" not in message["headers"]  # the emulator takes no credentials
    assert message["attributes"] == {
        "type": "com.github.issues.opened",
        "id": delivery,
        "source": payload["repository"]["html_url"],
        "subject": str(payload["issue"]["number"]),
    }
    assert json.loads(base64.b64decode(message["data"])) == payload
    assert set(message) == {"path", "headers", "data", "attributes"}  # no orderingKey
    assert count(clean_db, "SELECT count(*) FROM jobs") == 0
    assert forwarded_at(clean_db, delivery) is not None


def test_publish_failure_is_503_and_redeliveries_publish_exactly_once(webhook_for, pubsub, clean_db):
    client = webhook_for(pubsub.host)
    payload = payloads.comment("/help")
    pubsub.status = 503
    refused, delivery = deliver(client, payload, "issue_comment")
    assert refused.status_code == 503
    assert "Pub/Sub" in refused.get_json()["error"] and "redeliver" in refused.get_json()["error"]
    assert forwarded_at(clean_db, delivery) is None and pubsub.published == []

    pubsub.status = 200
    recovered, _ = deliver(client, payload, "issue_comment", delivery=delivery)
    again, _ = deliver(client, payload, "issue_comment", delivery=delivery)
    assert recovered.status_code == 202, recovered.get_data(as_text=True)
    assert again.status_code == 200 and again.get_json() == {"delivery": delivery, "duplicate": True}
    assert [m["attributes"]["id"] for m in pubsub.published] == [delivery]
    assert forwarded_at(clean_db, delivery) is not None
    assert count(clean_db, "SELECT count(*) FROM deliveries") == 1


def test_unreachable_pubsub_is_503_and_nothing_is_lost(webhook_for, clean_db):
    port = free_port()  # nothing listens there yet
    client = webhook_for(f"127.0.0.1:{port}")
    refused, delivery = deliver(client, payloads.example("pull_request", "opened"), "pull_request")
    assert refused.status_code == 503
    server = FakePubSub(port)
    try:
        recovered, _ = deliver(client, payloads.example("pull_request", "opened"), "pull_request", delivery=delivery)
    finally:
        server.stop()
    assert recovered.status_code == 202
    assert [m["attributes"]["id"] for m in server.published] == [delivery]


def test_unsubscribed_event_and_ping_are_not_published(webhook_for, pubsub, clean_db):
    client = webhook_for(pubsub.host)
    star, _ = deliver(client, {"action": "created", "starred_at": None}, "star")
    ping, delivery = deliver(client, payloads.example("ping"), "ping")
    assert star.status_code == 202 and star.get_json()["published"] is False
    assert ping.status_code == 200 and ping.get_json() == {"delivery": delivery, "pong": True}
    assert pubsub.published == []


# --- outside the emulator: the metadata server's token --------------------------------------------


def _delivery(event="issues", action="opened") -> events.Delivery:
    payload = payloads.example(event, action)
    return events.parse_delivery(
        {"X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4())}, json.dumps(payload).encode()
    )


def test_outside_the_emulator_a_metadata_token_is_sent_and_cached(pubsub):
    metadata = FakeMetadata()
    try:
        publisher = pubsub_module.PubSubPublisher(TOPIC, metadata_url=metadata.token_url)
        assert publisher.base == "https://pubsub.googleapis.com"
        publisher.base = pubsub.url  # the real API is not reached from the tests
        first, second = _delivery(), _delivery()
        assert publisher.publish(first) == "1" and publisher.publish(second) == "2"
    finally:
        metadata.stop()
    assert metadata.issued == 1  # cached between publishes
    assert [m["headers"]["authorization"] for m in pubsub.published] == [f"Bearer {ACCESS_TOKEN}-1"] * 2
    assert [m["attributes"]["id"] for m in pubsub.published] == [first.id, second.id]


def test_a_token_is_renewed_shortly_before_it_expires_and_after_a_401(pubsub):
    metadata = FakeMetadata(expires_in=30)  # inside the renewal margin: every publish fetches one
    try:
        publisher = pubsub_module.PubSubPublisher(TOPIC, metadata_url=metadata.token_url)
        publisher.base = pubsub.url
        publisher.publish(_delivery())
        publisher.publish(_delivery())
        assert metadata.issued == 2

        metadata.expires_in = 3599
        pubsub.status = 401
        with pytest.raises(OSError, match="HTTP 401"):
            publisher.publish(_delivery())
        pubsub.status = 200
        publisher.publish(_delivery())
    finally:
        metadata.stop()
    assert metadata.issued == 4  # the refused token was dropped
    assert pubsub.published[-1]["headers"]["authorization"] == f"Bearer {ACCESS_TOKEN}-4"


def test_without_a_metadata_server_publishing_fails_as_oserror():
    publisher = pubsub_module.PubSubPublisher(TOPIC, metadata_url=f"http://127.0.0.1:{free_port()}/token", timeout=2)
    with pytest.raises(OSError):
        publisher.publish(_delivery())


def test_the_default_metadata_url_is_googles():
    assert (
        pubsub_module.PubSubPublisher(TOPIC).metadata_url
        == "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
    )


# --- a function behind a push subscription, under the real functions-framework --------------------


def test_delivery_of_unwraps_what_functions_framework_makes_of_a_push_request():
    from functions_framework import event_conversion

    delivery = _delivery()
    body = push_body(pubsub_module.pubsub_message(delivery))
    import flask  # the conversion functions-framework's cloudevent view applies to a non-CloudEvent POST

    with flask.Flask(__name__).test_request_context("/", method="POST", json=body):
        event = event_conversion.background_event_to_cloud_event(flask.request)
    assert event["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    rebuilt = delivery_of(event)
    assert (rebuilt.id, rebuilt.name, rebuilt.repository, rebuilt.payload) == (
        delivery.id,
        delivery.name,
        delivery.repository,
        delivery.payload,
    )


def test_a_pubsub_message_not_from_github_is_refused():
    from cloudevents.http import CloudEvent

    event = CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub.googleapis.com/"},
        {"message": {"data": base64.b64encode(b"{}").decode(), "attributes": {"type": "com.example.x"}}},
    )
    with pytest.raises(ValueError, match="not a GitHub CloudEvent"):
        delivery_of(event)


@pytest.fixture(scope="module")
def github():
    with FakeGitHub() as fake:
        fake.add_repo(REPO, installation_id=1)
        fake.add_issue(REPO, 1, title="Spelling error in the README file")
        fake.add_token(TOKEN, login="petrel-bot")
        yield fake


def test_commands_behind_a_push_subscription_answers_help_once(tmp_path, github, pubsub):
    # the webhook publishes; the message it published is pushed to `commands`, as a subscription would
    payload = payloads.comment("/help")
    delivery = events.parse_delivery(
        {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": str(uuid.uuid4())}, json.dumps(payload).encode()
    )
    publisher = pubsub_module.PubSubPublisher(TOPIC, pubsub.host)
    publisher.publish(delivery)
    [published] = pubsub.published
    message = {"data": published["data"], "attributes": published["attributes"]}

    server = FunctionServer(
        "commands", tmp_path, GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url, PETREL_GITHUB_WRITE_SPACING_SECONDS="0"
    )
    try:
        url = f"http://127.0.0.1:{server.port}/"
        first = HTTP.post(url, json=push_body(message, "101"), timeout=60)
        assert first.status_code == 200, f"{first.text}\n{server.output[-3000:]}"
        [reply] = github.comments(REPO, 1)
        assert reply["body"].startswith("<!-- petrel:help -->") and HELP in reply["body"]

        # Pub/Sub delivers at least once: the same message again adds no comment
        again = HTTP.post(url, json=push_body(message, "101"), timeout=60)
        assert again.status_code == 200, server.output[-3000:]
        assert [c["id"] for c in github.comments(REPO, 1)] == [reply["id"]]

        # a message that is not a GitHub delivery is an error (nack: Pub/Sub retries, then dead-letters)
        foreign = {"data": base64.b64encode(b"{}").decode(), "attributes": {"type": "com.example.thing"}}
        refused = HTTP.post(url, json=push_body(foreign, "102"), timeout=60)
        assert refused.status_code == 500
        assert "not a GitHub CloudEvent" in server.output
    finally:
        server.stop()
