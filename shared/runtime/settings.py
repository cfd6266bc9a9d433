"""Settings from the environment (and a `.env` file), checked once at start-up.

Every problem is reported as one line that names the variable, so a misconfigured
deployment fails at start with a sentence, not later with a traceback. How one variable's
value is checked is in shared/runtime/variables.py; which values are secrets, and how a URL
is shown without its credentials, in shared/runtime/credentials.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from shared.runtime import dotenv_file
from shared.runtime.credentials import MASK, database_password, mask_url, url_credentials
from shared.runtime.variables import (
    DEFAULT_API_URL,
    DEFAULT_WEB_URL,
    PUBSUB_TOPIC,
    SettingsError,
    base_url,
    database_url,
    flag,
    http_url,
    number,
    price,
    private_key,
    temperature,
    web_url,
)

# Every variable Petrel reads, with what it is for: `make run` prints which are set.
KNOWN = {
    "GITHUB_WEBHOOK_SECRET": "verifies X-Hub-Signature-256 on each delivery",
    "GITHUB_WEBHOOK_SECRET_PREVIOUS": "also accepted while the secret is rotated",
    "GITHUB_APP_ID": "GitHub App id (with GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH)",
    "GITHUB_PRIVATE_KEY": "the App's private key, PEM text",
    "GITHUB_PRIVATE_KEY_PATH": "path of the App's private key file",
    "GITHUB_TOKEN": "a single token instead of an App",
    "GITHUB_API_URL": "GitHub API base URL (GitHub Enterprise Server: https://HOST/api/v3)",
    "GITHUB_URL": "GitHub's web address: links Petrel posts may go there only (default: from GITHUB_API_URL)",
    "OPENAI_API_KEY": "key of the OpenAI-compatible model server",
    "OPENAI_BASE_URL": "URL of the OpenAI-compatible model server (default: OpenAI)",
    "PETREL_MODEL": "model for reviews (default gpt-4o-mini)",
    "PETREL_LIGHT_MODEL": "model for cheap steps (default: PETREL_MODEL)",
    "PETREL_MODEL_CONTEXT_TOKENS": "context size of PETREL_MODEL (default 128000)",
    "PETREL_MODEL_PRICE": "USD per million tokens, prompt/completion, for cost records",
    "PETREL_MODEL_TEMPERATURE": "sampling temperature of every model call (default 0: reproducible reviews)",
    "PETREL_MODEL_CONCURRENCY": "model requests at once per model server, process-wide (default 4; 1 for a one-at-a-time server)",
    "PETREL_EMBEDDING_MODEL": "embeddings for memory (default text-embedding-3-small; offline: no server)",
    "DATABASE_URL": "Postgres with pgvector (default: embedded under .data/)",
    "PETREL_APP_SLUG": "the App's slug: `@<slug> help` is a command too (default petrel)",
    "PORT": "HTTP port of `make run`",
    "PETREL_PUBLIC_URL": "where GitHub reaches `make run` (https://HOST): its webhook URL, and it listens beyond localhost",
    "PETREL_WEBHOOK_PROXY_URL": "a smee.io channel `make run` replays to its own /webhook (webhooks on a laptop)",
    "PETREL_DRY_RUN": "log planned actions instead of sending them",
    "K_SINK": "CloudEvents sink (Knative); replaces the local queue",
    "PETREL_PUBSUB_TOPIC": "Pub/Sub topic projects/P/topics/T (Cloud Run); replaces the local queue",
    "PUBSUB_EMULATOR_HOST": "host:port of a Pub/Sub emulator: plain HTTP, no credentials",
    "PETREL_METADATA_URL": "token URL of the metadata server (default: Google's; for tests)",
}

_URL_FIELDS = ("api_url", "github_url", "database_url", "k_sink", "openai_base_url", "public_url")
# the proxy channel's URL is its only key: whoever has it reads the deliveries
_SECRET_FIELDS = ("webhook_secrets", "private_key", "token", "openai_api_key", "webhook_proxy_url")


@dataclass(frozen=True, repr=False)
class Settings:
    """Petrel's settings, as `from_env` reads them from the environment; the repr masks secrets."""

    webhook_secrets: tuple[str, ...] = ()
    app_id: int | None = None
    private_key: str | None = None
    token: str | None = None
    api_url: str = DEFAULT_API_URL
    github_url: str = DEFAULT_WEB_URL
    app_slug: str = "petrel"
    database_url: str | None = None
    data_dir: Path = Path(".data")
    port: int = 8080
    public_url: str | None = None
    webhook_proxy_url: str | None = None
    dry_run: bool = False
    k_sink: str | None = None
    pubsub_topic: str | None = None
    pubsub_emulator_host: str | None = None
    workers: int = 2
    job_max_attempts: int = 5
    job_lease_seconds: float = 60.0
    job_timeout_seconds: float = 600.0
    github_max_wait_seconds: float = 60.0
    github_write_spacing_seconds: float = 1.0
    github_timeout_seconds: float = 20.0
    max_body_bytes: int = 25 * 1024 * 1024
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    model: str = "gpt-4o-mini"
    light_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    model_context_tokens: int = 128_000
    light_model_context_tokens: int = 128_000
    model_price: tuple[float, float] = (0.0, 0.0)  # USD per million prompt / completion tokens
    light_model_price: tuple[float, float] = (0.0, 0.0)
    model_timeout_seconds: float = 120.0
    model_max_output_tokens: int = 4096
    model_max_retries: int = 2
    model_temperature: float | None = 0.0  # None: send none, the server's default applies
    model_concurrency: int = 4
    raw: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Every field but the raw environment, with secrets as *** and URLs without their credentials."""
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "raw":
                continue
            if item.name in _SECRET_FIELDS and value:
                value = tuple(MASK for _ in value) if isinstance(value, tuple) else MASK
            elif item.name in _URL_FIELDS and value:
                value = mask_url(value)
            shown.append(f"{item.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def github_host(self) -> str:
        """The host of GitHub's web pages (github.com, or the Enterprise Server's host): the only
        host that links and images in what Petrel posts may point to."""
        return (urlsplit(self.github_url).hostname or "github.com").lower()

    @property
    def has_model(self) -> bool:
        """Whether a model is configured (an OpenAI key or a compatible base URL)."""
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def has_github_credentials(self) -> bool:
        """Whether Petrel can call GitHub: a token, or an App id with its private key."""
        return bool(self.token or (self.app_id and self.private_key))

    @property
    def sends_to_github(self) -> bool:
        """False in dry-run: either asked for, or forced by missing credentials."""
        return self.has_github_credentials and not self.dry_run

    def secret_values(self) -> list[str]:
        """Every secret this process holds (long enough to be one), to keep them out of anything
        posted or logged: the webhook secrets, the token, the model key, the private key (and each
        line of it), the database password and any credential in a configured URL."""
        return list(self._secrets)

    @cached_property
    def _secrets(self) -> tuple[str, ...]:
        values = [
            *self.webhook_secrets,
            self.token,
            self.openai_api_key,
            self.private_key,
            self.webhook_proxy_url,
            database_password(self.database_url),
        ]
        if self.private_key:
            values += [line for line in self.private_key.splitlines() if "-----" not in line]
        for name in _URL_FIELDS:
            if name != "database_url":  # its password is libpq's reading of it, above; its user name is no secret
                values += url_credentials(getattr(self, name))
        return tuple(dict.fromkeys(v.strip() for v in values if v and len(v.strip()) >= 8))

    def require_webhook_secret(self) -> None:
        """Raise SettingsError unless a webhook secret is set: without one no delivery can be verified."""
        if not self.webhook_secrets:
            raise SettingsError(
                "GITHUB_WEBHOOK_SECRET is not set: the webhook cannot verify deliveries "
                "(set it to the secret configured on the GitHub App)"
            )


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes.

    Double-quoted values may span lines (a PEM key) and understand `\\n`.
    """
    values: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(
        dotenv_file.ASSIGNED + r"""(?:"((?:[^"\\]|\\.)*)"|'([^'\n]*)'|([^\n#]*?))[ \t]*(?:\#[^\n]*)?$""",
        re.MULTILINE | re.VERBOSE,
    )
    for match in pattern.finditer(text):
        name, double, single, bare = match.groups()
        if double is not None:
            value = double.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        elif single is not None:
            value = single
        else:
            value = bare.strip()
        values[name] = value
    return values


def from_env(env: Mapping[str, str]) -> Settings:
    """Build and check the settings from a mapping of environment variables."""
    secrets = tuple(s for s in (env.get("GITHUB_WEBHOOK_SECRET"), env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS")) if s)
    if env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS") and not env.get("GITHUB_WEBHOOK_SECRET"):
        raise SettingsError(
            "GITHUB_WEBHOOK_SECRET_PREVIOUS is set without GITHUB_WEBHOOK_SECRET: set the new secret too"
        )

    app_id = env.get("GITHUB_APP_ID") or None
    if app_id is not None:
        if not app_id.strip().isdigit():
            raise SettingsError(f"GITHUB_APP_ID={app_id!r} is not a number (find it on the App's settings page)")
        app_id = int(app_id)
    key = private_key(env)
    token = env.get("GITHUB_TOKEN") or None
    if app_id and token:
        raise SettingsError("GITHUB_APP_ID and GITHUB_TOKEN are both set: use the App or a single token, not both")
    if app_id and not key:
        raise SettingsError("GITHUB_APP_ID is set but GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH) is not")
    if key and not app_id:
        raise SettingsError("GITHUB_PRIVATE_KEY is set but GITHUB_APP_ID is not")

    api_url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", api_url):
        raise SettingsError(f"GITHUB_API_URL={mask_url(api_url)!r} is not an http(s) URL")

    k_sink = env.get("K_SINK") or None
    if k_sink and not re.match(r"^https?://", k_sink):
        raise SettingsError(f"K_SINK={mask_url(k_sink)!r} is not an http(s) URL")

    pubsub_topic = (env.get("PETREL_PUBSUB_TOPIC") or "").strip() or None
    if pubsub_topic and not PUBSUB_TOPIC.match(pubsub_topic):
        raise SettingsError(
            f"PETREL_PUBSUB_TOPIC={pubsub_topic!r} is not a topic name: write projects/PROJECT/topics/TOPIC"
        )
    if pubsub_topic and k_sink:
        raise SettingsError(
            "PETREL_PUBSUB_TOPIC and K_SINK are both set: the webhook hands deliveries to one of them, keep one"
        )
    emulator = (env.get("PUBSUB_EMULATOR_HOST") or "").strip() or None
    if emulator and not re.match(r"^[^/\s:]+:\d{1,5}$", emulator):
        raise SettingsError(f"PUBSUB_EMULATOR_HOST={emulator!r} is not host:port (e.g. localhost:8085)")

    public_url, proxy_url = (http_url(env, name) for name in ("PETREL_PUBLIC_URL", "PETREL_WEBHOOK_PROXY_URL"))
    model = (env.get("PETREL_MODEL") or "gpt-4o-mini").strip()
    port = number(env, "PORT", 8080, minimum=1)
    if port > 65535:
        raise SettingsError(f"PORT={port} is not a TCP port (1-65535)")

    return Settings(
        webhook_secrets=secrets,
        app_id=app_id,
        private_key=key,
        token=token,
        api_url=api_url,
        github_url=web_url(env, api_url),
        app_slug=(env.get("PETREL_APP_SLUG") or "petrel").strip(),
        database_url=database_url(env),
        data_dir=Path(env.get("PETREL_DATA_DIR") or ".data"),
        port=port,
        public_url=public_url.rstrip("/") if public_url else None,
        webhook_proxy_url=proxy_url,
        dry_run=flag(env, "PETREL_DRY_RUN", False),
        k_sink=k_sink,
        pubsub_topic=pubsub_topic,
        pubsub_emulator_host=emulator,
        workers=number(env, "PETREL_WORKERS", 2, minimum=0),
        job_max_attempts=number(env, "PETREL_JOB_MAX_ATTEMPTS", 5, minimum=1),
        job_lease_seconds=number(env, "PETREL_JOB_LEASE_SECONDS", 60.0, float, minimum=1),
        job_timeout_seconds=number(env, "PETREL_JOB_TIMEOUT_SECONDS", 600.0, float, minimum=1),
        github_max_wait_seconds=number(env, "PETREL_GITHUB_MAX_WAIT_SECONDS", 60.0, float),
        github_write_spacing_seconds=number(env, "PETREL_GITHUB_WRITE_SPACING_SECONDS", 1.0, float),
        github_timeout_seconds=number(env, "PETREL_GITHUB_TIMEOUT_SECONDS", 20.0, float, minimum=1),
        max_body_bytes=number(env, "PETREL_MAX_BODY_BYTES", 25 * 1024 * 1024, minimum=1),
        openai_api_key=env.get("OPENAI_API_KEY") or None,
        openai_base_url=base_url(env),
        model=model,
        light_model=(env.get("PETREL_LIGHT_MODEL") or model).strip(),
        embedding_model=(env.get("PETREL_EMBEDDING_MODEL") or "text-embedding-3-small").strip(),
        model_context_tokens=number(env, "PETREL_MODEL_CONTEXT_TOKENS", 128_000, minimum=2048),
        light_model_context_tokens=number(
            env,
            "PETREL_LIGHT_MODEL_CONTEXT_TOKENS",
            number(env, "PETREL_MODEL_CONTEXT_TOKENS", 128_000, minimum=2048),
            minimum=2048,
        ),
        model_price=price(env, "PETREL_MODEL_PRICE"),
        light_model_price=price(env, "PETREL_LIGHT_MODEL_PRICE")
        if env.get("PETREL_LIGHT_MODEL_PRICE")
        else price(env, "PETREL_MODEL_PRICE"),
        model_timeout_seconds=number(env, "PETREL_MODEL_TIMEOUT_SECONDS", 120.0, float, minimum=1),
        model_max_output_tokens=number(env, "PETREL_MODEL_MAX_OUTPUT_TOKENS", 4096, minimum=64),
        model_max_retries=number(env, "PETREL_MODEL_MAX_RETRIES", 2, minimum=0),
        model_temperature=temperature(env),
        model_concurrency=number(env, "PETREL_MODEL_CONCURRENCY", 4, minimum=1),
        raw=dict(env),
    )


def environment(dotenv: Path | None = Path(".env")) -> dict[str, str]:
    """The process environment over the `.env` file's values (the environment wins)."""
    values: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        values.update(read_dotenv(dotenv))
    values.update(os.environ)
    return values


_current: Settings | None = None


def current() -> Settings:
    """The settings of this process, read once."""
    global _current
    if _current is None:
        _current = from_env(environment())
    return _current


def install(settings: Settings) -> None:
    """Use these settings for this process (the Action mode builds them from its environment only)."""
    global _current
    _current = settings


def reset() -> None:
    """Forget the cached settings (tests, and `make run` after writing `.env`)."""
    global _current
    _current = None
