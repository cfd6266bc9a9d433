"""The end of GitHub's manifest flow: the code GitHub hands back becomes the App's credentials in `.env`.

GitHub makes the App from the manifest the start page posted, then sends the browser back with a
one-time `code`; `POST /app-manifests/{code}/conversions` (no authentication, within an hour, once)
answers with the App's id, slug, webhook secret and private key. They are checked as settings
before anything is written: then the key goes to a file of its own (mode 0600) and the four
settings into `.env`, or, on any failure, nothing is written at all.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from shared.github.app_manifest import conversion_path
from shared.runtime import dotenv_file, settings

CODE_REFUSED = (
    "GitHub did not accept the registration code: it was used already, or it is more than an hour old. "
    "Nothing was written. Register again from the start page (an App GitHub made on a first try is listed "
    "under Settings > Developer settings > GitHub Apps: delete the one you do not use)."
)
GITHUB_FAILED = (
    "GitHub answered {status} to the registration code ({message}). Nothing was written: try again from the start page."
)
GITHUB_UNREACHABLE = (
    "GitHub could not be reached at {url} ({error}). Nothing was written: check GITHUB_API_URL and try again."
)
NOT_AN_APP = "GitHub's answer to the registration code is not an App ({missing} missing). Nothing was written."
NOT_SAVED = "The App's credentials could not be saved: {error}. Nothing was written."
ENVIRONMENT_WINS = (
    "{name} is also set in the environment, which wins over .env: this process uses the new value, but unset it "
    "in your shell before the next start"
)
HEADER = "# The GitHub App registered from `make run`'s start page (GitHub's manifest flow)."


class RegistrationError(Exception):
    """The registration cannot be completed; the message says why, for the page, and that nothing was written."""


@dataclass(frozen=True, repr=False)
class RegisteredApp:
    """What GitHub answers to a manifest code: the new App and its credentials (the repr shows no secret)."""

    id: int
    slug: str
    name: str
    owner: str
    html_url: str
    webhook_secret: str
    pem: str

    def __repr__(self) -> str:
        """The App's id and slug, never its secrets."""
        return f"RegisteredApp(id={self.id}, slug={self.slug!r}, owner={self.owner!r})"


def convert(api_url: str, code: str, timeout: float = 20.0) -> RegisteredApp:
    """Exchange the manifest flow's `code` for the App's credentials (RegistrationError if GitHub refuses)."""
    url = api_url.rstrip("/") + conversion_path(code)
    request = urllib.request.Request(
        url,
        data=b"",
        method="POST",
        headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code in (404, 422):  # a used, expired or unknown code
            raise RegistrationError(CODE_REFUSED) from None
        raise RegistrationError(GITHUB_FAILED.format(status=error.code, message=_message(error))) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise RegistrationError(GITHUB_UNREACHABLE.format(url=api_url, error=error)) from None
    return _app(answer)


def _message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("message") or error.reason)[:200]
    except (ValueError, AttributeError, OSError):
        return str(error.reason)[:200]


def _app(answer: dict) -> RegisteredApp:
    wanted = ("id", "slug", "pem", "webhook_secret")
    missing = [key for key in wanted if not answer.get(key)] if isinstance(answer, dict) else list(wanted)
    if missing or not str(answer["id"]).isdigit():
        raise RegistrationError(NOT_AN_APP.format(missing=", ".join(missing) or "a numeric id"))
    return RegisteredApp(
        id=int(answer["id"]),
        slug=str(answer["slug"]),
        name=str(answer.get("name") or answer["slug"]),
        owner=str((answer.get("owner") or {}).get("login") or ""),
        html_url=str(answer.get("html_url") or ""),
        webhook_secret=str(answer["webhook_secret"]),
        pem=str(answer["pem"]),
    )


def key_path(data_dir: Path, app: RegisteredApp) -> Path:
    """Where the App's private key is kept: a file of its own under the data directory."""
    return data_dir / f"github-app-{app.slug}.private-key.pem"


def save(app: RegisteredApp, dotenv: Path, data_dir: Path) -> list[str]:
    """Write the App's key (mode 0600) and its settings into `dotenv`, keeping the file's other
    lines; then this process's environment agrees with it. Returns warnings for the page (a
    setting the shell's environment would override on the next start). All or nothing: on a
    failure nothing stays written (RegistrationError)."""
    key = key_path(data_dir, app)
    values = {
        "GITHUB_APP_ID": str(app.id),
        "PETREL_APP_SLUG": app.slug,
        "GITHUB_WEBHOOK_SECRET": app.webhook_secret,
        "GITHUB_PRIVATE_KEY_PATH": str(key),
    }
    would_be = {**settings.environment(dotenv), **values, "GITHUB_PRIVATE_KEY": app.pem}
    would_be.pop("GITHUB_PRIVATE_KEY_PATH")  # the key file is not there yet: check the key itself
    try:
        settings.from_env(would_be)
    except settings.SettingsError as error:
        raise RegistrationError(NOT_SAVED.format(error=error)) from None
    existed = key.exists()
    try:
        dotenv_file.write_atomically(key, app.pem if app.pem.endswith("\n") else app.pem + "\n", mode=0o600)
        dotenv_file.update(dotenv, values, HEADER)
    except OSError as error:
        if not existed:
            key.unlink(missing_ok=True)
        raise RegistrationError(NOT_SAVED.format(error=error)) from None
    warnings = []
    for name, value in values.items():
        if name in os.environ and os.environ[name] != value:
            warnings.append(ENVIRONMENT_WINS.format(name=name))
            os.environ[name] = value  # this process reads the new value; the shell keeps its own
    return warnings
