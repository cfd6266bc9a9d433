"""PETREL_WEBHOOK_PROXY_URL: `make run` replays a smee.io-style channel to its own /webhook
(shared/modes/webhook_proxy.py).

A local channel server speaks smee.io's protocol (a `ready` event, `ping`s, and one `message` per
delivery whose data holds the original headers lower-cased, `body` parsed and `query`); the real
LocalStack of `make run` reads it, and its webhook stores what is well signed and refuses the rest.
"""

from __future__ import annotations

import base64
import http.server
import json
import queue
import threading
import time

import payloads
from conftest import SECRET, count, free_port, signed
from werkzeug.serving import make_server

from shared.modes.local import LocalStack, create_app
from shared.modes.webhook_proxy import WebhookProxy, delivery_of, server_sent_events
from shared.runtime import db

CLOSE = object()  # put on the channel: the server ends the current stream


class Channel:
    """A smee.io channel on 127.0.0.1: `send(headers, body)` posts a delivery to every reader."""

    def __init__(self):
        self.events: queue.Queue = queue.Queue()
        self.connections = 0
        self.accepts: list[str] = []
        channel = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                channel.connections += 1
                channel.accepts.append(self.headers.get("Accept", ""))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"id: 0\nevent: ready\ndata: {}\n\n: a comment\n\n")
                self.wfile.flush()
                while True:
                    try:
                        event = channel.events.get(timeout=0.2)
                    except queue.Empty:
                        if channel.stopped:
                            return
                        continue
                    if event is CLOSE:
                        return
                    self.wfile.write(event)
                    self.wfile.flush()

            def log_message(self, *args):
                pass

        self.stopped = False
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/AbCdEf0123456789"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def send(self, headers: dict, body: bytes, raw: bool = False) -> None:
        """One delivery as smee.io sends it (`raw`: as gosmee does, with the exact bytes in `bodyB`)."""
        message = {name.lower(): value for name, value in headers.items()}
        message.update({"host": "smee.io", "content-length": str(len(body)), "query": {}, "timestamp": 1})
        if raw:
            message["bodyB"] = base64.b64encode(body).decode()
        else:
            message["body"] = json.loads(body)
        self.events.put(b"id: 1\nevent: ping\ndata: {}\n\n")
        self.events.put(("data: " + json.dumps(message) + "\n\n").encode())

    def stop(self):
        self.stopped = True
        self.server.shutdown()


def wait_until(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {seconds}s"
        time.sleep(0.05)


def compact(payload) -> bytes:
    """A payload as GitHub writes it: compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def test_make_run_replays_the_channel_to_its_webhook_and_stops_the_proxy_on_exit(env, clean_db):
    channel = Channel()
    config = env(
        GITHUB_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=clean_db,
        PETREL_WORKERS=0,
        PORT=free_port(),
        PETREL_WEBHOOK_PROXY_URL=channel.url,
    )
    pool = db.make_pool(clean_db)
    stack = LocalStack(config, clean_db, pool, host="127.0.0.1")
    stack.start()
    try:
        payload = payloads.example("push")
        payload["head_commit"]["message"] = 'déjà vu: ünïcödé and a "quote" </script>'
        headers, body = signed(compact(payload), "push", delivery="d-proxied")
        channel.send(headers, body)
        wait_until(lambda: count(clean_db, "SELECT count(*) FROM deliveries WHERE id = 'd-proxied'") == 1, "stored")
        tampered, _ = signed(body, "push", delivery="d-tampered")
        channel.send(tampered, body.replace(b"Hello-World", b"Hello-Moon!"), raw=True)  # bytes changed on the way
        wait_until(lambda: stack.proxy.replayed == 2, "replayed")
        assert count(clean_db, "SELECT count(*) FROM deliveries WHERE id = 'd-tampered'") == 0
        assert channel.accepts == ["text/event-stream"]
    finally:
        stack.stop()
        pool.close()
        channel.stop()
    assert not stack.proxy._thread.is_alive()  # stopped with the rest, mid-stream


def test_the_proxy_reconnects_after_the_stream_ends_and_uses_exact_bytes_when_sent(env, clean_db):
    env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=clean_db)
    server = make_server("127.0.0.1", 0, create_app({}, db.pool()), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    channel = Channel()
    proxy = WebhookProxy(channel.url, f"http://127.0.0.1:{server.server_port}/webhook", first_pause=0.05)
    proxy.start()
    try:
        wait_until(lambda: channel.connections == 1, "connected")
        channel.events.put(CLOSE)
        wait_until(lambda: channel.connections == 2, "connected again")
        pretty = json.dumps(payloads.example("push"), indent=2).encode()  # not compact: only `bodyB` keeps it
        headers, body = signed(pretty, "push", delivery="d-exact")
        channel.send(headers, body, raw=True)
        wait_until(lambda: count(clean_db, "SELECT count(*) FROM deliveries WHERE id = 'd-exact'") == 1, "stored")
    finally:
        proxy.stop()
        server.shutdown()
        channel.stop()
    assert not proxy._thread.is_alive()


def test_server_sent_events_are_read_as_eventsource_reads_them():
    stream = [b"event: ready\n", b"data: {}\n", b"\n", b": keep-alive\n", b"\r\n", b"data: a\n", b"data:b\r\n", b"\n"]
    assert list(server_sent_events(stream)) == [("ready", "{}"), ("message", "a\nb")]
    assert delivery_of("ready") is None and delivery_of("{}") is None and delivery_of("[1]") is None
    headers, body = delivery_of(json.dumps({"x-github-event": "ping", "host": "smee.io", "body": {"a": "é"}, "n": 1}))
    assert headers == {"x-github-event": "ping", "content-type": "application/json"}
    assert body == '{"a":"é"}'.encode()
