"""The GitHub App: its manifest (app.yml) and the HTML form that registers it through GitHub's
manifest flow. Apart from the Kubernetes objects because it describes the App, not the deploy.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import yaml
from knative_objects import ManifestError

ROOT = Path(__file__).resolve().parent.parent

# GitHub sends these to every App, subscribed or not, and refuses them in `default_events`.
ALWAYS_SENT = frozenset({"installation", "installation_repositories"})
# The App's permissions, from the calls Petrel makes, and nothing more.
PERMISSIONS = {
    # shared/github/actions.py: comments found by marker and edited, labels, reactions on issue comments;
    # shared/triage.py and /ask: issues and their comments read; shared/github/pull_texts.py: linked issues
    "issues": "write",
    # shared/github/actions.py: COMMENT reviews, replies in review threads, reactions on review comments, the
    # marked section of a description; shared/github/pulls.py: diffs, review comments, commits
    "pull_requests": "write",
    # shared/repo_config/load.py (.github/petrel.yml), shared/memory/indexing.py (trees, blobs), /ask (files),
    # shared/github/pulls.py (compare, for incremental reviews), shared/review/rules.py (AGENTS.md)
    "contents": "read",
    # GitHub grants it to every App
    "metadata": "read",
    # shared/github/checks.py: the "Petrel review" check run on a pull request's head commit
    "checks": "write",
}
# The permission without which GitHub does not deliver an event to an App.
EVENT_PERMISSION = {
    "issues": "issues",
    "issue_comment": "issues",
    "pull_request": "pull_requests",
    "pull_request_review": "pull_requests",
    "pull_request_review_comment": "pull_requests",
    "pull_request_review_thread": "pull_requests",
    "push": "contents",
    "create": "contents",
    "delete": "contents",
}


def app_manifest(table: dict[str, tuple[str, ...]]) -> dict:
    """The GitHub App manifest (the manifest flow's format, as Probot reads app.yml)."""
    events = sorted({name.partition(".")[0] for names in table.values() for name in names} - ALWAYS_SENT)
    missing = sorted({event for event in events if EVENT_PERMISSION.get(event) not in PERMISSIONS})
    if missing:
        raise ManifestError(
            f"no permission in PERMISSIONS lets GitHub deliver: {', '.join(missing)} "
            "(add it to EVENT_PERMISSION and PERMISSIONS in infra/github_app.py)"
        )
    return {
        "name": "petrel",
        "description": "Reviews pull requests, summarizes them, triages issues and answers commands in comments.",
        "url": "https://petrel.example.com",
        "hook_attributes": {"url": "https://petrel.example.com/webhook", "active": True},
        "redirect_url": "http://localhost:8080/",
        "public": False,
        "default_permissions": dict(PERMISSIONS),
        "default_events": events,
    }


def app_form(webhook_url: str, org: str | None = None, name: str | None = None, homepage: str | None = None) -> str:
    """An HTML page whose button POSTs app.yml's manifest to GitHub's manifest flow."""
    manifest = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    manifest["hook_attributes"]["url"] = webhook_url
    if name:
        manifest["name"] = name
    if homepage:
        manifest["url"] = homepage
    action = (
        f"https://github.com/organizations/{org}/settings/apps/new" if org else "https://github.com/settings/apps/new"
    )
    return (
        '<!doctype html>\n<meta charset="utf-8">\n<title>Register a Petrel GitHub App</title>\n'
        f'<form action="{html.escape(action)}" method="post">\n'
        f'  <input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">\n'
        f"  <p>Webhook: {html.escape(webhook_url)}</p>\n"
        f'  <button type="submit">Register {html.escape(manifest["name"])} on GitHub</button>\n'
        "</form>\n"
    )
