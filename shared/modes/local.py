"""The whole app on one machine: every function behind one HTTP port, plus the job workers.

- `POST /webhook`: the webhook function (functions/webhook/main.py), unchanged.
- `POST /functions/<name>`: each CloudEvent function over the CloudEvents HTTP binding,
  as functions-framework would serve it alone.
- `GET /healthz`: queue counts.
- `GET /`: without GitHub credentials, the start page that registers the App (setup_page.py);
  with them, what is served and in which mode.
The workers call the same entry points in-process with the same CloudEvents. With
PETREL_WEBHOOK_PROXY_URL, a thread replays a smee.io channel to `/webhook` (webhook_proxy.py).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import flask
from cloudevents.exceptions import GenericException as CloudEventError
from cloudevents.http import from_http
from werkzeug.serving import make_server

from shared.modes import setup_page
from shared.modes.webhook_proxy import WebhookProxy
from shared.pipeline import queue, subscriptions
from shared.pipeline.worker import Worker, listen, load_function, load_handler
from shared.runtime import settings
from shared.runtime.scope import RetryLater

log = logging.getLogger("petrel.local")


def switch_to_app_mode(webhook: dict, registered=None) -> None:
    """Use the settings now in `.env` from the next request on, without a restart: the cached
    settings and GitHub access are forgotten, and the webhook function is loaded again so that
    it verifies deliveries with the App's own secret."""
    from shared.context import Services

    settings.reset()
    Services.forget_github()
    webhook["function"] = load_function("webhook").webhook
    if registered is not None:
        log.info("registered the GitHub App %s (id %s): App mode from now on", registered.slug, registered.id)


def create_app(handlers: dict, pool, dotenv: Path = Path(".env")) -> flask.Flask:
    """The Flask app serving the webhook, every function and the start page (which writes `dotenv`)."""
    app = flask.Flask("petrel")
    webhook = {"function": load_function("webhook").webhook}

    @app.route("/webhook", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def receive():
        return webhook["function"](flask.request)

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
        config = settings.current()
        if not config.has_github_credentials:
            return setup_page.start_page(config)
        github = {"app_id": config.app_id, "app_slug": config.app_slug} if config.app_id else {"token": True}
        return {
            "webhook": "/webhook",
            "github": github,
            "functions": {n: list(s) for n, s in subscriptions.table().items()},
        }

    setup_page.install(app, lambda registered: switch_to_app_mode(webhook, registered), dotenv)
    return app


class LocalStack:
    """HTTP server and workers for `make run`; `stop()` ends both cleanly."""

    def __init__(self, settings, url: str, pool, host: str = "0.0.0.0", dotenv: Path = Path(".env")):
        self.settings = settings
        self.url = url
        self.pool = pool
        self.handlers = {name: load_handler(name) for name in subscriptions.table()}
        self.server = make_server(host, settings.port, create_app(self.handlers, pool, dotenv), threaded=True)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.threads: list[threading.Thread] = []
        self.proxy = (
            WebhookProxy(settings.webhook_proxy_url, f"http://127.0.0.1:{self.server.server_port}/webhook")
            if settings.webhook_proxy_url
            else None
        )

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
        if self.proxy is not None:
            self.proxy.start()

    def stop(self) -> None:
        """Stop the proxy and the HTTP server, wake and stop the threads, and wait for them."""
        if self.proxy is not None:
            self.proxy.stop()
        self.server.shutdown()
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout=30)


def bind_host(config) -> str:
    """Where `make run` listens: this machine only, unless PETREL_PUBLIC_URL says GitHub reaches it directly."""
    return "0.0.0.0" if config.public_url else "127.0.0.1"


def addresses(config) -> str:
    """The lines of `make run`'s banner that say where to go: the start page, and the webhook's URL."""
    local = f"http://localhost:{config.port}"
    lines = []
    if not config.has_github_credentials:
        lines.append(f"  start page:  {local}/  (open it to register Petrel as a GitHub App)")
    if config.public_url:
        lines.append(f"  webhook URL: {config.public_url}/webhook  (listening on every interface)")
    elif config.webhook_proxy_url:
        lines.append(f"  webhook URL: {local}/webhook  (PETREL_WEBHOOK_PROXY_URL's deliveries are replayed to it)")
    else:
        lines.append(
            f"  webhook URL: {local}/webhook  (this machine only: set PETREL_WEBHOOK_PROXY_URL or PETREL_PUBLIC_URL)"
        )
    return "\n".join(lines)
