"""The whole app on one machine: every function behind one HTTP port, plus the job workers.

- `POST /webhook`: the webhook function (functions/webhook/main.py), unchanged.
- `POST /functions/<name>`: each CloudEvent function over the CloudEvents HTTP binding,
  as functions-framework would serve it alone.
- `GET /healthz`: queue counts.
The workers call the same entry points in-process with the same CloudEvents.
"""

from __future__ import annotations

import logging
import threading

import flask
from cloudevents.exceptions import GenericException as CloudEventError
from cloudevents.http import from_http
from werkzeug.serving import make_server

from shared.pipeline import queue, subscriptions
from shared.pipeline.worker import Worker, listen, load_function, load_handler
from shared.runtime.scope import RetryLater

log = logging.getLogger("petrel.local")


def create_app(handlers: dict, pool) -> flask.Flask:
    """The Flask app serving the webhook and every function."""
    app = flask.Flask("petrel")
    webhook = load_function("webhook").webhook

    @app.route("/webhook", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def receive():
        return webhook(flask.request)

    @app.post("/functions/<name>")
    def function(name: str):
        handler = handlers.get(name)
        if handler is None:
            return {"error": f"no function named {name!r}"}, 404
        try:
            event = from_http(dict(flask.request.headers), flask.request.get_data())
        except CloudEventError as error:
            return {"error": f"not a CloudEvent: {error}"}, 400
        try:
            handler(event)
        except RetryLater as later:
            return {"error": str(later)}, 429, {"Retry-After": str(int(later.seconds))}
        return "", 204

    @app.get("/healthz")
    def health():
        with pool.connection() as conn:
            return {"ok": True, "jobs": queue.counts(conn)}

    @app.get("/")
    def index():
        return {"webhook": "/webhook", "functions": {n: list(s) for n, s in subscriptions.table().items()}}

    return app


class LocalStack:
    """HTTP server and workers for `make run`; `stop()` ends both cleanly."""

    def __init__(self, settings, url: str, pool, host: str = "0.0.0.0"):
        self.settings = settings
        self.url = url
        self.pool = pool
        self.handlers = {name: load_handler(name) for name in subscriptions.table()}
        self.server = make_server(host, settings.port, create_app(self.handlers, pool), threaded=True)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the listener, the workers and the HTTP server, each in its own thread."""
        listener = threading.Thread(
            target=listen, args=(self.url, self.wake, self.stopping), name="listener", daemon=True
        )
        self.threads.append(listener)
        for n in range(self.settings.workers):
            worker = Worker(self.pool, self.settings, self.handlers, name=f"worker-{n + 1}")
            self.threads.append(
                threading.Thread(target=worker.run, args=(self.stopping, self.wake), name=worker.name, daemon=True)
            )
        for thread in self.threads:
            thread.start()
        server = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        server.start()
        self.threads.append(server)

    def stop(self) -> None:
        """Stop the HTTP server, wake and stop the threads, and wait for them."""
        self.server.shutdown()
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout=30)
