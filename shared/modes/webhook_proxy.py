"""Webhooks to a laptop: replay a smee.io-style channel (PETREL_WEBHOOK_PROXY_URL) to our own /webhook.

GitHub cannot reach `make run` behind a router, so the App delivers to a public channel, as Probot
does with smee.io, and `make run` reads the channel's server-sent event stream and posts each
delivery to its own `/webhook`, where the signature is checked as for any other delivery.

The channel's format (probot/smee.io, and smee-client which replays it): each `message` event's
data is a JSON object whose keys are the original request's headers, lower-cased, plus `body`
(the JSON body, parsed) and `query`; `ready` and `ping` events carry nothing. The body is sent
again as smee-client sends it (compact JSON, as JavaScript's JSON.stringify writes it), which is
how GitHub wrote it; a gosmee server also sends the exact bytes, base64, as `bodyB`, used when
present. A delivery whose bytes changed on the way fails the signature check and is refused,
as it should be.

One thread reads the stream; it reconnects with a growing pause after any failure, and `stop()`
ends it at once by shutting the connection down.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from shared.runtime.credentials import mask_url

log = logging.getLogger("petrel.proxy")

READ_TIMEOUT = 90.0  # smee.io pings every 30 s: three missed pings and the stream is taken for dead
FIRST_PAUSE, LONGEST_PAUSE = 1.0, 60.0
# request headers that belong to the hop to the channel, not to the delivery
NOT_REPLAYED = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "accept-encoding", "content-encoding", "keep-alive"}
)
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # our own port is never reached through a proxy


def server_sent_events(lines: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    """(event type, data) of each event in a text/event-stream, as the EventSource standard reads it."""
    event, data = "message", []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)


def delivery_of(data: str) -> tuple[dict[str, str], bytes] | None:
    """The headers and body of the delivery a channel message carries, or None for anything else."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if not isinstance(message, dict) or not ("body" in message or "bodyB" in message):
        return None
    if isinstance(message.get("bodyB"), str):
        body = base64.b64decode(message["bodyB"])
    else:
        body = json.dumps(message["body"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {
        name: value
        for name, value in message.items()
        if isinstance(value, str) and name.lower() not in NOT_REPLAYED and name not in ("body", "bodyB", "query")
    }
    headers["content-type"] = "application/json"
    return headers, body


class WebhookProxy:
    """Reads the channel at `channel_url` and posts each delivery to `target_url`, until `stop()`."""

    def __init__(self, channel_url: str, target_url: str, first_pause: float = FIRST_PAUSE):
        self.channel_url = channel_url
        self.target_url = target_url
        self.first_pause = first_pause
        self.stopping = threading.Event()
        self.replayed = 0
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reading thread."""
        self._thread = threading.Thread(target=self.run, name="webhook-proxy", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the stream now and wait for the thread."""
        self.stopping.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Read the channel, reconnecting after each failure with a pause that doubles up to a minute."""
        pause = self.first_pause
        while not self.stopping.is_set():
            try:
                if self._follow():
                    pause = self.first_pause  # it was connected: the next failure starts from a short pause again
            except (OSError, http.client.HTTPException, ValueError) as error:
                if self.stopping.is_set():
                    break
                log.warning("webhook proxy %s: %s; again in %.0f s", mask_url(self._where()), error, pause)
            if self.stopping.wait(pause):
                break
            pause = min(pause * 2, LONGEST_PAUSE)

    def _where(self) -> str:
        parts = urlsplit(self.channel_url)
        return f"{parts.scheme}://{parts.netloc}/…"  # the channel's path is its key: never logged

    def _follow(self) -> bool:
        """Read one connection's events to its end; True when it was connected."""
        parts = urlsplit(self.channel_url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname, parts.port, timeout=READ_TIMEOUT)
        try:
            connection.connect()
            self._socket = connection.sock
            if self.stopping.is_set():
                return False
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(
                "GET",
                path,
                headers={"Accept": "text/event-stream", "Cache-Control": "no-cache", "User-Agent": "petrel"},
            )
            response = connection.getresponse()
            if response.status != 200:
                raise http.client.HTTPException(f"the channel answered {response.status} {response.reason}")
            log.info("webhook proxy: reading %s, replaying to %s", self._where(), self.target_url)
            for event, data in server_sent_events(iter(response.readline, b"")):
                if event == "message":
                    self.replay(data)
            return True
        finally:
            self._socket = None
            connection.close()

    def replay(self, data: str) -> int | None:
        """Post one channel message's delivery to the webhook; its answer's status (None: not a delivery)."""
        delivery = delivery_of(data)
        if delivery is None:
            return None
        headers, body = delivery
        request = urllib.request.Request(self.target_url, data=body, headers=headers, method="POST")
        try:
            with _LOCAL.open(request, timeout=30) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (urllib.error.URLError, OSError) as error:
            log.warning("webhook proxy: %s not replayed: %s", headers.get("x-github-delivery", "-"), error)
            return None
        self.replayed += 1
        log.info(
            "webhook proxy: %s %s -> %s",
            headers.get("x-github-event", "-"),
            headers.get("x-github-delivery", "-"),
            status,
        )
        return status
