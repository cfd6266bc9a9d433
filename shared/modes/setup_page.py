"""The start page of `make run` before Petrel has GitHub credentials: register the App from it.

As Probot does, the page posts Petrel's App manifest (shared/github/app_manifest.py) to GitHub's
manifest flow, for the personal account or an organisation, on github.com or the Enterprise Server
of GITHUB_URL. GitHub makes the App and sends the browser back to `/setup/callback` with a code,
which app_registration.py turns into credentials in `.env`; then `on_registered` switches the
running process to App mode and the page links to the App's installation.

A state token goes from the button to the callback: random, kept here, used once, so only a
registration started from this page is saved. Once credentials exist none of this is served.
Everything shown is escaped.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import flask

from shared.github import app_manifest
from shared.modes import app_registration
from shared.pipeline import subscriptions
from shared.runtime import settings

log = logging.getLogger("petrel.setup")

STATE_SECONDS = 3600.0  # GitHub's codes last an hour; a state need not outlive them
MAX_STATES = 32  # registrations started and not finished; the oldest is forgotten past that
BAD_STATE = (
    "This registration was not started from this Petrel's start page, or it was finished already "
    "(unknown or used state). Nothing was written: start again from the start page."
)
ALREADY = "Petrel has GitHub credentials already: nothing to register."
NOT_FROM_HERE = (
    "The App is registered from this machine only: open http://localhost:{port}/ in a browser here "
    "(for a remote server: ssh -L {port}:localhost:{port} SERVER, then the same address)."
)
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
NO_WEBHOOK_URL = (
    "Neither PETREL_PUBLIC_URL nor PETREL_WEBHOOK_PROXY_URL is set, so GitHub cannot reach this machine: "
    "the App will deliver to {url} until you change its webhook URL. For a laptop, make a channel on "
    "https://smee.io/new, set PETREL_WEBHOOK_PROXY_URL to it in .env and restart `make run` first."
)
PETREL = (
    "Petrel is a GitHub App that reviews pull requests, summarizes them, triages issues and answers "
    "/commands in comments. It has no GitHub credentials yet, so it runs in dry-run: register it as a "
    "GitHub App to connect it."
)

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1f2328}"
    "code{background:#f6f8fa;padding:0 .2em}.set{color:#1a7f37}.unset{color:#8c959f}"
    "button,.button{font-size:1rem;padding:.5rem 1rem;background:#1f883d;color:#fff;border:0;border-radius:6px;"
    "text-decoration:none;cursor:pointer}.warning{background:#fff8c5;padding:.5rem 1rem}"
    ".error{background:#ffebe9;padding:.5rem 1rem}input{font-size:1rem;padding:.3rem}ul.settings{columns:2;list-style:none;padding:0}"
)


def _page(title: str, body: str, status: int = 200, script: str = ""):
    text = (
        f'<!doctype html>\n<html lang="en"><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style>{script}<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    return flask.Response(text, status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


class PendingStates:
    """The state tokens of registrations started here: random, used once, forgotten after an hour."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._states: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def issue(self) -> str:
        """A new state token."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._states = {s: t for s, t in self._states.items() if now - t < STATE_SECONDS}
            while len(self._states) >= MAX_STATES:
                self._states.pop(next(iter(self._states)))
            self._states[token] = now
        return token

    def take(self, token: str | None) -> bool:
        """Whether `token` was issued here, within the hour, and not taken before (it is taken now)."""
        with self._lock:
            issued = self._states.pop(token or "", None)
        return issued is not None and self._clock() - issued < STATE_SECONDS


def from_this_machine(request: flask.Request) -> bool:
    """Whether a request comes from a browser on this machine, straight: a loopback address, a
    loopback Host (not a name rebound to 127.0.0.1 by another site) and no proxy's forwarding
    header (a tunnel or reverse proxy on this machine would make anyone look local)."""
    try:
        host = urlsplit("//" + (request.host or "")).hostname or ""
    except ValueError:
        return False
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    try:
        local_peer = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        local_peer = False
    forwarded = any(request.headers.get(name) for name in ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host"))
    return local_peer and not forwarded


def webhook_url(config: settings.Settings, here: str) -> str:
    """Where the App delivers: PETREL_PUBLIC_URL's /webhook, else the proxy channel, else this page's host."""
    if config.public_url:
        return config.public_url + "/webhook"
    return config.webhook_proxy_url or here.rstrip("/") + "/webhook"


def start_page(config: settings.Settings) -> flask.Response:
    """GET / without credentials: what Petrel is, the settings present (names only) and the button."""
    names = "".join(
        f'<li class="{"set" if config.raw.get(name) else "unset"}">{"&#10003;" if config.raw.get(name) else "&middot;"} '
        f"<code>{html.escape(name)}</code></li>"
        for name in settings.KNOWN
    )
    if not from_this_machine(flask.request):
        return _page("Petrel: connect it to GitHub", f"<p>{html.escape(PETREL)}</p>" + _elsewhere(config), 403)
    warning = ""
    if not config.public_url and not config.webhook_proxy_url:
        here = flask.request.host_url
        warning = f'<p class="warning">{html.escape(NO_WEBHOOK_URL.format(url=webhook_url(config, here)))}</p>'
    return _page(
        "Petrel: connect it to GitHub",
        f"<p>{html.escape(PETREL)}</p>{warning}"
        '<form action="/setup/register" method="post">'
        '<p><label>Organisation (empty: your personal account)<br><input name="org" id="org" size="30" '
        'placeholder="my-org" pattern="[A-Za-z0-9][A-Za-z0-9-]*"></label></p>'
        '<p><button type="submit" id="register">Register Petrel on GitHub</button></p></form>'
        f"<p>GitHub: <code>{html.escape(config.github_url)}</code><br>"
        f"Webhook: <code>{html.escape(webhook_url(config, flask.request.host_url))}</code></p>"
        f'<h2>Settings</h2><p>Set (&#10003;) or not, from the environment and <code>.env</code>; values are never shown.</p><ul class="settings">{names}</ul>',
    )


def to_github(config: settings.Settings, org: str, state: str, here: str) -> flask.Response:
    """The form that takes the manifest to GitHub (sent by itself; the button is there without script)."""
    manifest = app_manifest.for_webhook(
        app_manifest.app_manifest(subscriptions.table()),
        webhook_url(config, here),
        here.rstrip("/") + "/setup/callback",
    )
    action = app_manifest.registration_url(config.github_url, org or None, state)
    return _page(
        "Registering Petrel on GitHub",
        f'<form id="manifest-form" action="{html.escape(action)}" method="post">'
        f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">'
        f"<p>GitHub shows the App it is about to create{' for ' + html.escape(org) if org else ''}: "
        "choose its name there, then create it.</p>"
        '<p><button type="submit">Continue to GitHub</button></p></form>',
        script='<script>addEventListener("DOMContentLoaded",()=>document.forms[0].submit())</script>',
    )


def install(app: flask.Flask, on_registered: Callable[[app_registration.RegisteredApp], None], dotenv: Path) -> None:
    """Add the registration routes to `app`; `on_registered(app)` runs once the credentials are in `dotenv`."""
    states = PendingStates()

    @app.post("/setup/register")
    def setup_register():
        config = settings.current()
        if config.has_github_credentials:
            return _page("Petrel is connected", f"<p>{html.escape(ALREADY)}</p>", 409)
        if not from_this_machine(flask.request):
            return _page("Not from this machine", _elsewhere(config), 403)
        org = (flask.request.form.get("org") or "").strip()
        if org and not LOGIN.fullmatch(org):
            return _page("Not an organisation", f"<p>{html.escape(repr(org))} is not a GitHub login.</p>", 400)
        return to_github(config, org, states.issue(), flask.request.host_url)

    @app.get("/setup/callback")
    def setup_callback():
        config = settings.current()
        if config.has_github_credentials:
            return _page("Petrel is connected", f"<p>{html.escape(ALREADY)}</p>", 409)
        if not from_this_machine(flask.request):
            return _page("Not from this machine", _elsewhere(config), 403)
        if not states.take(flask.request.args.get("state")):
            return _failed(BAD_STATE, 400)
        try:
            registered = app_registration.convert(
                config.api_url, flask.request.args.get("code") or "", config.github_timeout_seconds
            )
            warnings = app_registration.save(registered, dotenv, config.data_dir)
        except app_registration.RegistrationError as error:
            log.warning("App registration failed: %s", error)
            return _failed(str(error), 502)
        on_registered(registered)
        return _registered(registered, warnings)


def _elsewhere(config: settings.Settings) -> str:
    return f'<p class="warning">{html.escape(NOT_FROM_HERE.format(port=config.port))}</p>'


def _failed(message: str, status: int) -> flask.Response:
    return _page(
        "Petrel was not registered",
        f'<p class="error">{html.escape(message)}</p><p><a href="/">Back to the start page</a></p>',
        status,
    )


def _registered(registered: app_registration.RegisteredApp, warnings: list[str]) -> flask.Response:
    link = app_manifest.install_url(settings.current().github_url, registered.slug)
    notes = "".join(f'<p class="warning">{html.escape(w)}</p>' for w in warnings)
    return _page(
        "Petrel is registered",
        f"<p>GitHub made the App <strong>{html.escape(registered.name)}</strong> (id {registered.id}). "
        "Its id, slug, webhook secret and private key file are in <code>.env</code>, and Petrel uses them "
        f"now: no restart needed.</p>{notes}"
        "<p>Last step: install it on the repositories it should review.</p>"
        f'<p><a class="button" id="install" href="{html.escape(link)}">Install {html.escape(registered.name)}</a></p>'
        "<p>Then open a pull request in one of them.</p>",
    )
