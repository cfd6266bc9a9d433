"""Settings from the environment (and a `.env` file), checked once at start-up.

Every problem is reported as one line that names the variable, so a misconfigured
deployment fails at start with a sentence, not later with a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}

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
    "PETREL_EMBEDDING_MODEL": "embeddings for memory (default text-embedding-3-small; offline: no server)",
    "DATABASE_URL": "Postgres with pgvector (default: embedded under .data/)",
    "PORT": "HTTP port of `make run`",
    "PETREL_DRY_RUN": "log planned actions instead of sending them",
    "K_SINK": "CloudEvents sink (Knative); replaces the local queue",
    "PETREL_PUBSUB_TOPIC": "Pub/Sub topic projects/P/topics/T (Cloud Run); replaces the local queue",
    "PUBSUB_EMULATOR_HOST": "host:port of a Pub/Sub emulator: plain HTTP, no credentials",
    "PETREL_METADATA_URL": "token URL of the metadata server (default: Google's; for tests)",
}

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_WEB_URL = "https://github.com"
# Pub/Sub's resource names: project ids 6-30 characters, topic ids 3-255 not starting with "goog".
PUBSUB_TOPIC = re.compile(r"^projects/[a-z][a-z0-9.:-]{3,61}[a-z0-9]/topics/(?!goog)[A-Za-z][A-Za-z0-9._~%+-]{2,254}$")


class SettingsError(ValueError):
    """A setting is missing, malformed or contradicts another; the message names it."""


MASK = "***"
# query parameters and key=value words that carry a credential (libpq, and URLs in general)
_CREDENTIAL_KEYS = r"password|passwd|pass|pwd|sslpassword|secret|token|key|api[_-]?key|access[_-]?token"
_QUERY_CREDENTIAL = re.compile(rf"([?&;](?:{_CREDENTIAL_KEYS})=)[^&#;]*", re.IGNORECASE)
_CONNINFO_PASSWORD = re.compile(r"(\b(?:password|sslpassword)\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE)


def mask_url(value: str) -> str:
    """`value` with every credential it carries replaced by ***: the password of `user:password@`
    (all of the user information when it is ambiguous), credential query parameters, and a libpq
    `password=` word. For showing a URL in an error message or a repr; it may mask too much, never
    too little."""
    text = str(value)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        userinfo, at, host = rest.rpartition("@")
        if at:
            name, colon, _ = userinfo.partition(":")
            plain = colon and not re.search(r"[/?#@]", name)
            text = f"{scheme}://{name + ':' + MASK if plain else MASK}@{host}"
        return _QUERY_CREDENTIAL.sub(lambda m: m.group(1) + MASK, text)
    return _CONNINFO_PASSWORD.sub(lambda m: m.group(1) + MASK, text)


def url_credentials(value: str | None) -> list[str]:
    """The secrets a URL carries (its password, credential query parameters), as written and decoded."""
    if not value:
        return []
    text = str(value)
    found = []
    if "://" in text:
        rest = text.split("://", 1)[1]
        for userinfo in (rest.rpartition("@")[0], rest.partition("@")[0] if "@" in rest else ""):
            found.append(userinfo.partition(":")[2] if ":" in userinfo else userinfo)  # https://TOKEN@host
        found += [m.group(0).split("=", 1)[1] for m in _QUERY_CREDENTIAL.finditer(text)]
    else:
        found += [m.group(2).strip("'") for m in _CONNINFO_PASSWORD.finditer(text)]
    return [v for w in found for v in dict.fromkeys((w, unquote(w))) if v]


_URL_FIELDS = ("api_url", "github_url", "database_url", "k_sink", "openai_base_url")
_SECRET_FIELDS = ("webhook_secrets", "private_key", "token", "openai_api_key")


@dataclass(frozen=True, repr=False)
class Settings:
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
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def has_github_credentials(self) -> bool:
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
        values = [*self.webhook_secrets, self.token, self.openai_api_key, self.private_key, _database_password(self.database_url)]
        if self.private_key:
            values += [line for line in self.private_key.splitlines() if "-----" not in line]
        for name in _URL_FIELDS:
            if name != "database_url":  # its password is libpq's reading of it, above; its user name is no secret
                values += url_credentials(getattr(self, name))
        return tuple(dict.fromkeys(v.strip() for v in values if v and len(v.strip()) >= 8))

    def require_webhook_secret(self) -> None:
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
        r"""^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*
            (?:"((?:[^"\\]|\\.)*)"|'([^'\n]*)'|([^\n#]*?))[ \t]*(?:\#[^\n]*)?$""",
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


def _base_url(env: Mapping[str, str]) -> str | None:
    value = (env.get("OPENAI_BASE_URL") or "").strip().rstrip("/") or None
    if value and not re.match(r"^https?://[^/\s]+", value):
        raise SettingsError(f"OPENAI_BASE_URL={mask_url(value)!r} is not an http(s) URL (e.g. http://localhost:11434/v1 for Ollama)")
    return value


DATABASE_URL_FORM = ("expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE, with any @ : / ? # in the "
                     "user or password written %40 %3A %2F %3F %23")


def _database_url(env: Mapping[str, str]) -> str | None:
    """DATABASE_URL, checked as libpq will read it; a problem is named without showing the value
    (it holds the password)."""
    value = (env.get("DATABASE_URL") or "").strip() or None
    if value is None:
        return None
    problem = _conninfo_problem(value)
    if problem:
        raise SettingsError(f"DATABASE_URL is malformed: {problem} ({DATABASE_URL_FORM})")
    return value


def _conninfo_problem(value: str) -> str | None:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("postgres", "postgresql"):
            return f"its scheme is {scheme[:20]!r}, not postgresql"
        end = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
        authority, tail = rest[:end], rest[end:]
        if authority.count("@") > 1:
            return "it has more than one @ before the host"
        if "@" in tail:
            return "it has an @ after the host"
        if re.search(r"%(?![0-9A-Fa-f]{2})", value):
            return "it has a % that is not followed by two hex digits"
        for host in authority.rpartition("@")[2].split(","):
            port = host.rsplit("]", 1)[-1].partition(":")[2] if host.startswith("[") else host.partition(":")[2]
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                return "its port is not a number from 1 to 65535"
    elif not re.match(r"^\s*[A-Za-z_]+\s*=", value):
        return "it is neither a postgresql:// URL nor libpq key=value words"
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # no driver in this process: the shape checks above are all
        return None
    try:
        conninfo_to_dict(value)
    except Exception:  # noqa: BLE001 - libpq's message quotes the value, password included
        return "libpq cannot parse it"
    return None


def _database_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        from psycopg.conninfo import conninfo_to_dict

        return conninfo_to_dict(url).get("password")
    except Exception:  # noqa: BLE001 - no driver here, or unparsable: the URL's own shape
        found = url_credentials(url)
        return found[-1] if found else None


def _web_url(env: Mapping[str, str], api_url: str) -> str:
    """GITHUB_URL, or GitHub's web address derived from the API's: https://HOST/api/v3 (Enterprise
    Server) -> https://HOST, api.SUBDOMAIN.ghe.com -> https://SUBDOMAIN.ghe.com, anything else
    (api.github.com, a proxy, a test server) -> https://github.com."""
    value = (env.get("GITHUB_URL") or "").strip().rstrip("/")
    if value:
        if not re.match(r"^https?://[^/\s@?#]+$", value):
            raise SettingsError(f"GITHUB_URL={mask_url(value)!r} is not an http(s) URL (e.g. https://github.example.com)")
        return value
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host.startswith("api.") and host.endswith(".ghe.com"):
        return f"https://{host[len('api.'):]}"
    if parts.path.rstrip("/").endswith("/api/v3"):
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return DEFAULT_WEB_URL


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None:
        return default
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean: use 1/0, true/false, yes/no")


def _number(env: Mapping[str, str], name: str, default, kind=int, minimum=0):
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a number") from None
    if number < minimum:
        raise SettingsError(f"{name}={value!r} must be at least {minimum}")
    return number


def _private_key(env: Mapping[str, str]) -> str | None:
    inline = env.get("GITHUB_PRIVATE_KEY") or None
    path = env.get("GITHUB_PRIVATE_KEY_PATH") or None
    if inline and path:
        raise SettingsError("GITHUB_PRIVATE_KEY and GITHUB_PRIVATE_KEY_PATH are both set: keep one")
    if path:
        try:
            inline = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(f"GITHUB_PRIVATE_KEY_PATH={path!r} cannot be read: {error.strerror}") from None
    if inline is None:
        return None
    inline = inline.replace("\\n", "\n").strip()
    if "-----BEGIN" not in inline or "PRIVATE KEY-----" not in inline:
        source = "GITHUB_PRIVATE_KEY_PATH" if path else "GITHUB_PRIVATE_KEY"
        raise SettingsError(f"{source} does not hold a PEM private key (expected '-----BEGIN ... PRIVATE KEY-----')")
    return inline + "\n"


def _price(env: Mapping[str, str], name: str) -> tuple[float, float]:
    value = (env.get(name) or "").strip()
    if not value:
        return (0.0, 0.0)
    try:
        prompt, _, completion = value.partition("/")
        price = (float(prompt), float(completion or prompt))
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a price: write prompt/completion USD per million tokens, e.g. 0.15/0.6") from None
    if min(price) < 0:
        raise SettingsError(f"{name}={value!r} must not be negative")
    return price


def from_env(env: Mapping[str, str]) -> Settings:
    """Build and check the settings from a mapping of environment variables."""
    secrets = tuple(s for s in (env.get("GITHUB_WEBHOOK_SECRET"), env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS")) if s)
    if env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS") and not env.get("GITHUB_WEBHOOK_SECRET"):
        raise SettingsError("GITHUB_WEBHOOK_SECRET_PREVIOUS is set without GITHUB_WEBHOOK_SECRET: set the new secret too")

    app_id = env.get("GITHUB_APP_ID") or None
    if app_id is not None:
        if not app_id.strip().isdigit():
            raise SettingsError(f"GITHUB_APP_ID={app_id!r} is not a number (find it on the App's settings page)")
        app_id = int(app_id)
    private_key = _private_key(env)
    token = env.get("GITHUB_TOKEN") or None
    if app_id and token:
        raise SettingsError("GITHUB_APP_ID and GITHUB_TOKEN are both set: use the App or a single token, not both")
    if app_id and not private_key:
        raise SettingsError("GITHUB_APP_ID is set but GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH) is not")
    if private_key and not app_id:
        raise SettingsError("GITHUB_PRIVATE_KEY is set but GITHUB_APP_ID is not")

    api_url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", api_url):
        raise SettingsError(f"GITHUB_API_URL={mask_url(api_url)!r} is not an http(s) URL")

    k_sink = env.get("K_SINK") or None
    if k_sink and not re.match(r"^https?://", k_sink):
        raise SettingsError(f"K_SINK={mask_url(k_sink)!r} is not an http(s) URL")

    pubsub_topic = (env.get("PETREL_PUBSUB_TOPIC") or "").strip() or None
    if pubsub_topic and not PUBSUB_TOPIC.match(pubsub_topic):
        raise SettingsError(f"PETREL_PUBSUB_TOPIC={pubsub_topic!r} is not a topic name: write projects/PROJECT/topics/TOPIC")
    if pubsub_topic and k_sink:
        raise SettingsError("PETREL_PUBSUB_TOPIC and K_SINK are both set: the webhook hands deliveries to one of them, keep one")
    emulator = (env.get("PUBSUB_EMULATOR_HOST") or "").strip() or None
    if emulator and not re.match(r"^[^/\s:]+:\d{1,5}$", emulator):
        raise SettingsError(f"PUBSUB_EMULATOR_HOST={emulator!r} is not host:port (e.g. localhost:8085)")

    model = (env.get("PETREL_MODEL") or "gpt-4o-mini").strip()
    port = _number(env, "PORT", 8080, minimum=1)
    if port > 65535:
        raise SettingsError(f"PORT={port} is not a TCP port (1-65535)")

    return Settings(
        webhook_secrets=secrets,
        app_id=app_id,
        private_key=private_key,
        token=token,
        api_url=api_url,
        github_url=_web_url(env, api_url),
        app_slug=(env.get("PETREL_APP_SLUG") or "petrel").strip(),
        database_url=_database_url(env),
        data_dir=Path(env.get("PETREL_DATA_DIR") or ".data"),
        port=port,
        dry_run=_flag(env, "PETREL_DRY_RUN", False),
        k_sink=k_sink,
        pubsub_topic=pubsub_topic,
        pubsub_emulator_host=emulator,
        workers=_number(env, "PETREL_WORKERS", 2, minimum=0),
        job_max_attempts=_number(env, "PETREL_JOB_MAX_ATTEMPTS", 5, minimum=1),
        job_lease_seconds=_number(env, "PETREL_JOB_LEASE_SECONDS", 60.0, float, minimum=1),
        job_timeout_seconds=_number(env, "PETREL_JOB_TIMEOUT_SECONDS", 600.0, float, minimum=1),
        github_max_wait_seconds=_number(env, "PETREL_GITHUB_MAX_WAIT_SECONDS", 60.0, float),
        github_write_spacing_seconds=_number(env, "PETREL_GITHUB_WRITE_SPACING_SECONDS", 1.0, float),
        github_timeout_seconds=_number(env, "PETREL_GITHUB_TIMEOUT_SECONDS", 20.0, float, minimum=1),
        max_body_bytes=_number(env, "PETREL_MAX_BODY_BYTES", 25 * 1024 * 1024, minimum=1),
        openai_api_key=env.get("OPENAI_API_KEY") or None,
        openai_base_url=_base_url(env),
        model=model,
        light_model=(env.get("PETREL_LIGHT_MODEL") or model).strip(),
        embedding_model=(env.get("PETREL_EMBEDDING_MODEL") or "text-embedding-3-small").strip(),
        model_context_tokens=_number(env, "PETREL_MODEL_CONTEXT_TOKENS", 128_000, minimum=2048),
        light_model_context_tokens=_number(env, "PETREL_LIGHT_MODEL_CONTEXT_TOKENS",
                                           _number(env, "PETREL_MODEL_CONTEXT_TOKENS", 128_000, minimum=2048), minimum=2048),
        model_price=_price(env, "PETREL_MODEL_PRICE"),
        light_model_price=_price(env, "PETREL_LIGHT_MODEL_PRICE") if env.get("PETREL_LIGHT_MODEL_PRICE") else _price(env, "PETREL_MODEL_PRICE"),
        model_timeout_seconds=_number(env, "PETREL_MODEL_TIMEOUT_SECONDS", 120.0, float, minimum=1),
        model_max_output_tokens=_number(env, "PETREL_MODEL_MAX_OUTPUT_TOKENS", 4096, minimum=64),
        model_max_retries=_number(env, "PETREL_MODEL_MAX_RETRIES", 2, minimum=0),
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
