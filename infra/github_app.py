"""The GitHub App: the HTML form that registers it from app.yml through GitHub's manifest flow.
The manifest itself (permissions, events) is shared/github/app_manifest.py, which `make run`'s
start page uses too. Apart from the Kubernetes objects because it describes the App, not the deploy.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import yaml

from shared.github.app_manifest import (  # noqa: F401  (app_manifest and the tables: this module's API)
    ALWAYS_SENT,
    EVENT_PERMISSION,
    PERMISSIONS,
    app_manifest,
    for_webhook,
    registration_url,
)

ROOT = Path(__file__).resolve().parent.parent


def app_form(webhook_url: str, org: str | None = None, name: str | None = None, homepage: str | None = None) -> str:
    """An HTML page whose button POSTs app.yml's manifest to GitHub's manifest flow."""
    manifest = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    manifest = for_webhook(manifest, webhook_url, name=name, homepage=homepage)
    action = registration_url("https://github.com", org)
    return (
        '<!doctype html>\n<meta charset="utf-8">\n<title>Register a Petrel GitHub App</title>\n'
        f'<form action="{html.escape(action)}" method="post">\n'
        f'  <input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">\n'
        f"  <p>Webhook: {html.escape(webhook_url)}</p>\n"
        f'  <button type="submit">Register {html.escape(manifest["name"])} on GitHub</button>\n'
        "</form>\n"
    )
