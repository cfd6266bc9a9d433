"""The part every fake shares: a threaded HTTP server on 127.0.0.1, started and stopped with the
fake, that hands each request to the fake and writes its answer; plus the queue of injected faults.

Each fake only says what a request gets (`_answer`); starting, keeping-alive, answering late
and closing every connection on stop are written once, here.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

# (status, headers in the order sent, body, seconds to wait before answering)
Answer = tuple[int, list[tuple[str, str]], bytes, float]


def take(queue: list, matches: Callable[[Any], bool]) -> Any:
    """The first rule of `queue` that has uses left and `matches`, with one use counted (spent
    rules leave the queue), or None. Faults are consumed in the order they were added."""
    for item in queue:
        if item.remaining > 0 and matches(item):
            item.remaining -= 1
            queue[:] = [i for i in queue if i.remaining > 0]
            return item
    return None


def headers_out(content_type: str, extra: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of an answer: its Content-Type, then `extra` but for Content-Type and
    Content-Length (the server sets the length from the body)."""
    return [("Content-Type", content_type)] + [
        (k, v) for k, v in extra if k.lower() not in ("content-type", "content-length")
    ]


class FakeServer:
    """A fake service served over real HTTP on 127.0.0.1 by a thread: ``with Fake() as fake:``
    starts it (``fake.url`` is then its base URL) and stops it, closing kept-alive connections.
    Subclasses answer requests in ``_answer`` and record them in ``requests``."""

    thread_name = "fake-server"
    server_version = "fake"  # the Server header

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Any] = []  # every request received, in order
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self.delay = 0.0  # seconds every answer waits before it is sent (on top of any injected lateness)
        self.in_flight = 0  # requests received and not yet answered
        self.max_in_flight = 0  # the most there ever were at once

    def _answer(self, method: str, target: str, headers: Any, raw_body: bytes) -> Answer:
        raise NotImplementedError

    def start(self) -> Any:
        """Serve on a free port of 127.0.0.1 (again a no-op when serving); returns the fake."""
        if self._server is not None:
            return self

        class Handler(_Handler):
            pass

        Handler.fake = self
        Handler.server_version = self.server_version
        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def _stop_serving(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:  # close kept-alive connections so nothing is served after stop()
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops SYNs under concurrent connects (1 s retransmit)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet (client resets etc.)
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body go out in one write (flushed after each request)
    disable_nagle_algorithm = True
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def log_error(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        fake = self.fake
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            status, headers, data, delay = fake._answer(self.command, self.path, self.headers, raw_body)
            if delay or fake.delay:  # the request was handled; only the answer is late (a client may give up)
                time.sleep(delay + fake.delay)
        finally:
            # counted out before the answer is written: once the client has it, it may send the next one
            with fake._lock:
                fake.in_flight -= 1
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve
