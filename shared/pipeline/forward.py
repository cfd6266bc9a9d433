"""Publishing deliveries to Google Cloud Pub/Sub (Cloud Run mode), with the standard library only."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request

from shared.pipeline import events

PUBSUB_API = "https://pubsub.googleapis.com"
METADATA_TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
TOKEN_MARGIN_SECONDS = 60.0  # a cached token is renewed this long before it expires


def pubsub_message(delivery: events.Delivery) -> dict:
    """The Pub/Sub message of a delivery: the payload as data, the CloudEvent attributes as attributes
    (type, id, source, subject), so that push subscriptions can filter on `attributes.type`."""
    attributes = {
        k: v for k, v in events.cloudevent_attributes(delivery).items() if k in ("type", "id", "source", "subject")
    }
    return {"data": base64.b64encode(delivery.payload_json.encode()).decode("ascii"), "attributes": attributes}


class PubSubPublisher:
    """Publishes deliveries with the Pub/Sub REST API (`topics.publish`), with the standard library only.

    With PUBSUB_EMULATOR_HOST the calls go to http://HOST:PORT without credentials, as Google's
    client libraries do. Otherwise the access token of the service account comes from the metadata
    server (Cloud Run, GKE, GCE) and is cached until shortly before it expires.
    """

    def __init__(
        self, topic: str, emulator_host: str | None = None, timeout: float = 5.0, metadata_url: str | None = None
    ):
        self.topic = topic
        self.emulator = bool(emulator_host)
        self.base = f"http://{emulator_host}" if emulator_host else PUBSUB_API
        self.timeout = timeout
        self.metadata_url = metadata_url or METADATA_TOKEN_URL
        self._token: tuple[str, float] | None = None  # (token, monotonic expiry)
        self._lock = threading.Lock()

    def publish(self, delivery: events.Delivery) -> str:
        """Publish one message; return its message id. OSError unless Pub/Sub accepts it."""
        headers = {"Content-Type": "application/json"}
        if not self.emulator:
            headers["Authorization"] = f"Bearer {self.access_token()}"
        body = json.dumps({"messages": [pubsub_message(delivery)]}).encode()
        request = urllib.request.Request(
            f"{self.base}/v1/{self.topic}:publish", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            if error.code == 401:
                self._token = None  # revoked or expired early: the next attempt fetches a new one
            raise OSError(f"HTTP {error.code} from Pub/Sub: {_reason(error)}") from None
        except ValueError:
            raise OSError("Pub/Sub answered with something that is not JSON") from None
        ids = answer.get("messageIds") if isinstance(answer, dict) else None
        if not ids:
            raise OSError("Pub/Sub answered without a message id")
        return str(ids[0])

    def access_token(self) -> str:
        """An access token from the metadata server, cached until shortly before it expires."""
        with self._lock:
            if self._token and time.monotonic() < self._token[1]:
                return self._token[0]
            request = urllib.request.Request(self.metadata_url, headers={"Metadata-Flavor": "Google"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = json.loads(response.read())
                token, lifetime = answer["access_token"], float(answer.get("expires_in", 0))
            except urllib.error.HTTPError as error:
                raise OSError(f"HTTP {error.code} from the metadata server for an access token") from None
            except (ValueError, KeyError, TypeError):
                raise OSError("the metadata server's answer holds no access_token") from None
            self._token = (token, time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS))
            return token


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read() or b"{}").get("error", {}).get("message")
    except (ValueError, AttributeError, OSError):
        detail = None
    return (detail or error.reason or "")[:200]
