"""The GitHub App Petrel is: its manifest (name, permissions, events) and the addresses of GitHub's
manifest flow (register, convert, install).

One description serves both ways of registering the App: `infra/manifests.py` writes it to
`app.yml` (and prints a registration form), and `make run`'s start page posts it to GitHub when
there are no credentials yet. Pure data: no I/O.
"""

from __future__ import annotations

import copy
from urllib.parse import quote, urlencode

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


class ManifestError(ValueError):
    """A subscription the App manifest cannot express."""


def app_manifest(table: dict[str, tuple[str, ...]]) -> dict:
    """The GitHub App manifest (the manifest flow's format, as Probot reads app.yml) for the
    subscriptions `table` (shared/pipeline/subscriptions.table())."""
    events = sorted({name.partition(".")[0] for names in table.values() for name in names} - ALWAYS_SENT)
    missing = sorted({event for event in events if EVENT_PERMISSION.get(event) not in PERMISSIONS})
    if missing:
        raise ManifestError(
            f"no permission in PERMISSIONS lets GitHub deliver: {', '.join(missing)} "
            "(add it to EVENT_PERMISSION and PERMISSIONS in shared/github/app_manifest.py)"
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


def for_webhook(
    manifest: dict,
    webhook_url: str,
    redirect_url: str | None = None,
    name: str | None = None,
    homepage: str | None = None,
) -> dict:
    """A copy of `manifest` that delivers to `webhook_url` and sends the browser back to
    `redirect_url` (with `?code=&state=`) once the App is made."""
    manifest = copy.deepcopy(manifest)
    manifest["hook_attributes"]["url"] = webhook_url
    if redirect_url:
        manifest["redirect_url"] = redirect_url
    if name:
        manifest["name"] = name
    if homepage:
        manifest["url"] = homepage
    return manifest


def registration_url(github_url: str, org: str | None = None, state: str | None = None) -> str:
    """Where the manifest is POSTed (field `manifest`): the personal account's new-App page, or an
    organisation's, on github.com or a GitHub Enterprise Server (`github_url`). GitHub sends
    `state` back to the redirect URL unchanged."""
    base = github_url.rstrip("/")
    where = f"/organizations/{quote(org, safe='')}/settings/apps/new" if org else "/settings/apps/new"
    return base + where + (f"?{urlencode({'state': state})}" if state else "")


def conversion_path(code: str) -> str:
    """The API path (under GITHUB_API_URL) that turns the manifest flow's code into the App's
    credentials; no authentication, and each code works once, within an hour."""
    return f"/app-manifests/{quote(code, safe='')}/conversions"


def install_url(github_url: str, slug: str) -> str:
    """The page where the App is installed on an account's repositories."""
    return f"{github_url.rstrip('/')}/apps/{quote(slug, safe='')}/installations/new"
