"""The fake GitHub's manifest flow: the web pages that make an App from a manifest, and the
API call that turns the flow's code into the App's credentials.

- `POST /settings/apps/new?state=S` (or `/organizations/ORG/settings/apps/new`), form field
  `manifest`: GitHub shows a page where the user names the App and creates it; here the App is
  made at once and the browser is sent back (302) to the manifest's `redirect_url` with
  `?code=C&state=S`, as GitHub does after the click. A manifest GitHub would refuse (not JSON,
  no `url`, no `hook_attributes.url`, no `redirect_url`) gets 422.
- `POST /app-manifests/{code}/conversions` (no authentication): the App, its webhook secret and a
  new private key; from then on the fake is that App (`GET /app` with a JWT of the new key). Each
  code works once: a used or unknown one gets 404, as on GitHub.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.parse
from typing import Any

from fakes.errors import _not_found
from fakes.state import _CIDict, _Ctx, _iso, _node_id, _Raw

NEW_APP_PAGE = re.compile(r"/(?:organizations/(?P<org>[^/]+)/)?settings/apps/new/?")
CONVERSION = re.compile(r"/app-manifests/[^/]+/conversions/?")


def _page(status: int, text: str, headers: dict[str, str] | None = None) -> tuple[int, _Raw, dict[str, str]]:
    return status, _Raw(f"<!doctype html><title>GitHub</title><p>{text}</p>", "text/html; charset=utf-8"), headers or {}


class Registration:
    """The manifest flow, mixed into FakeGitHub. `manifests` holds (owner login, manifest) as received."""

    def _init_registration(self) -> None:
        self.manifests: list[tuple[str, dict]] = []
        self._manifest_codes: dict[str, tuple[str, dict]] = {}  # code -> (owner login, manifest)

    def _web_page(self, method: str, path: str, query: str, headers: _CIDict, raw_body: bytes):
        """The answer to a request for one of GitHub's web pages (not the API), or None."""
        page = NEW_APP_PAGE.fullmatch(path)
        if page is None or method != "POST":
            return None
        form = urllib.parse.parse_qs(raw_body.decode("utf-8", errors="replace"))
        try:
            manifest = json.loads(form.get("manifest", [""])[0])
        except ValueError:
            return _page(422, "Invalid manifest: not JSON")
        if not isinstance(manifest, dict):
            return _page(422, "Invalid manifest")
        missing = [
            name
            for name, value in (
                ("url", manifest.get("url")),
                ("hook_attributes.url", (manifest.get("hook_attributes") or {}).get("url")),
                ("redirect_url", manifest.get("redirect_url")),
            )
            if not value
        ]
        if missing:
            return _page(422, f"Invalid manifest: {', '.join(missing)} missing")
        owner = urllib.parse.unquote(page.group("org")) if page.group("org") else "octocat"
        self._user(owner, "Organization" if page.group("org") else "User")
        code = secrets.token_hex(10)
        self._manifest_codes[code] = (owner, manifest)
        self.manifests.append((owner, manifest))
        back = {"code": code}
        state = urllib.parse.parse_qs(query).get("state")
        if state:
            back["state"] = state[0]
        location = manifest["redirect_url"] + ("&" if "?" in manifest["redirect_url"] else "?")
        return _page(302, "Created the App; redirecting", {"Location": location + urllib.parse.urlencode(back)})

    def _h_manifest_conversion(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        pending = self._manifest_codes.pop(ctx.params["code"], None)
        if pending is None:
            raise _not_found()
        owner, manifest = pending
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
        self._app_key = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        self.app_id = next(self._ids)
        self.app_name = str(manifest.get("name") or "petrel")
        self.app_slug = re.sub(r"[^a-z0-9]+", "-", self.app_name.lower()).strip("-") or "petrel"
        now = _iso(time.time())
        return (
            201,
            {
                "id": self.app_id,
                "slug": self.app_slug,
                "node_id": _node_id("A", self.app_id),
                "client_id": f"Iv1.{self.app_id:016x}",
                "owner": self._user_json(owner, ctx.base),
                "name": self.app_name,
                "description": manifest.get("description") or "",
                "external_url": manifest["url"],
                "html_url": f"https://github.com/apps/{self.app_slug}",
                "created_at": now,
                "updated_at": now,
                "permissions": dict(manifest.get("default_permissions") or {}),
                "events": list(manifest.get("default_events") or []),
                "installations_count": 0,
                "client_secret": secrets.token_hex(20),
                "webhook_secret": secrets.token_hex(20),
                "pem": pem,
            },
            {},
        )
