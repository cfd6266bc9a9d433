"""The webhook's work, independent of the HTTP framework: check, store, hand off, answer.

Never 2xx for a delivery that is not stored: if Postgres (or the K_SINK, or Pub/Sub) cannot
take it, the answer is 503 and GitHub keeps the failure visible for a redelivery.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from shared.pipeline import events, queue, subscriptions
from shared.pipeline.forward import PubSubPublisher
from shared.runtime import db
from shared.runtime import scope as context
from shared.runtime.settings import Settings

log = logging.getLogger("petrel.webhook")

DATABASE_DOWN = (
    "database unavailable: the delivery was not stored, redeliver it from the App's settings once Postgres is back"
)


@dataclass(frozen=True)
class Answer:
    """What the webhook answers GitHub: an HTTP status and a JSON body."""

    status: int
    body: dict

    def json(self) -> str:
        """The body as JSON text."""
        return json.dumps(self.body)


class Inbox:
    """Receives GitHub deliveries for one configuration and one connection pool."""

    def __init__(self, settings: Settings, pool: Callable[[], ConnectionPool]):
        settings.require_webhook_secret()
        self.settings = settings
        self._pool = pool
        self._publisher = (
            PubSubPublisher(
                settings.pubsub_topic,
                settings.pubsub_emulator_host,
                metadata_url=settings.raw.get("PETREL_METADATA_URL"),
            )
            if settings.pubsub_topic
            else None
        )

    def receive(
        self, method: str, headers: Mapping[str, str], read: Callable[[int], bytes], content_length: int | None
    ) -> Answer:
        """Answer one HTTP request to the webhook. `read(n)` reads at most n body bytes."""
        if method != "POST":
            return Answer(405, {"error": "the webhook accepts POST only"})
        limit = self.settings.max_body_bytes
        if content_length is not None and content_length > limit:
            return Answer(413, {"error": f"body over {limit} bytes"})
        body = _read_at_most(read, limit + 1)
        if len(body) > limit:
            return Answer(413, {"error": f"body over {limit} bytes"})
        try:
            events.verify_signature(body, headers.get("X-Hub-Signature-256"), self.settings.webhook_secrets)
            delivery = events.parse_delivery(headers, body)
        except events.WebhookError as error:
            log.warning("refused delivery %s: %s", headers.get("X-GitHub-Delivery", "-"), error.message)
            return Answer(error.status, {"error": error.message})

        with context.working_on(delivery.id):
            return self._store(delivery)

    def _store(self, delivery: events.Delivery) -> Answer:
        functions = subscriptions.subscribers(delivery.event, delivery.action)
        try:
            with self._pool().connection() as conn:
                if self.settings.k_sink or self._publisher:
                    return self._forward(conn, delivery, functions)
                accepted = queue.accept(conn, delivery, functions, self.settings.job_max_attempts)
        except psycopg.DataError as error:
            # JSON that Python reads but Postgres does not store (NaN, a lone surrogate, an id over 64 bits)
            log.warning("refused delivery %s: %s", delivery.id, str(error).strip().splitlines()[0])
            return Answer(400, {"error": f"the payload cannot be stored: {str(error).strip().splitlines()[0]}"})
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError, db.DatabaseUnavailable) as error:
            # Postgres down, unreachable, or (embedded) not started: 503, so GitHub shows a failure to redeliver
            log.error(
                "%s (%s)", DATABASE_DOWN, str(error).strip().splitlines()[0] if str(error) else type(error).__name__
            )
            return Answer(503, {"error": DATABASE_DOWN})
        if not accepted.stored:
            log.info("redelivery of %s: already stored, nothing to do", delivery.name)
            return Answer(200, {"delivery": delivery.id, "duplicate": True})
        log.info(
            "stored %s for %s: jobs %s", delivery.name, delivery.repository or "-", ",".join(accepted.jobs) or "none"
        )
        return _acknowledge(delivery, jobs=list(accepted.jobs))

    def _forward(self, conn: psycopg.Connection, delivery: events.Delivery, functions: list[str]) -> Answer:
        """K_SINK mode (Knative): store the delivery, then post one CloudEvent to the sink.
        Pub/Sub mode (Cloud Run): the same, publishing one message to PETREL_PUBSUB_TOPIC."""
        target = "Pub/Sub" if self._publisher else "K_SINK"
        with conn.transaction():
            queue.store_delivery(conn, delivery)
            row = conn.execute(
                "SELECT forwarded_at FROM deliveries WHERE id = %s FOR UPDATE", (delivery.id,)
            ).fetchone()
            if row[0] is not None:
                return Answer(200, {"delivery": delivery.id, "duplicate": True})
            if functions:
                try:
                    if self._publisher:
                        message_id = self._publisher.publish(delivery)
                        log.info(
                            "published %s to %s as message %s", delivery.name, self.settings.pubsub_topic, message_id
                        )
                    else:
                        post_cloudevent(self.settings.k_sink, delivery)
                except OSError as error:
                    log.error("%s refused %s: %s", target, delivery.name, error)
                    # the delivery stays stored with forwarded_at empty: a redelivery forwards it
                    return Answer(503, {"error": f"{target} did not accept the event ({error}); redeliver later"})
            conn.execute("UPDATE deliveries SET forwarded_at = now() WHERE id = %s", (delivery.id,))
        if self._publisher:
            return _acknowledge(delivery, published=bool(functions))
        return _acknowledge(delivery, sink=bool(functions))


def _acknowledge(delivery: events.Delivery, **details) -> Answer:
    """200 "pong" for GitHub's ping; 202 and what was done with the delivery for the rest."""
    if delivery.event == "ping":
        return Answer(200, {"delivery": delivery.id, "pong": True})
    return Answer(202, {"delivery": delivery.id, "event": delivery.name, **details})


def _read_at_most(read: Callable[[int], bytes], size: int) -> bytes:
    # a stream may return less than asked before its end: read until `size` or EOF
    chunks, total = [], 0
    while total < size:
        chunk = read(min(1 << 20, size - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def post_cloudevent(url: str, delivery: events.Delivery, timeout: float = 5.0) -> None:
    """POST a delivery as a binary-mode CloudEvent; raise OSError unless the sink answers 2xx."""
    headers = {f"ce-{k}": v for k, v in events.cloudevent_attributes(delivery).items() if k != "datacontenttype"}
    headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=delivery.payload_json.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise OSError(f"HTTP {error.code} from the sink") from None
