"""One environment variable's value, checked: flags, numbers, prices, the App's key, URLs.

Every problem is one SettingsError line that names the variable and says what to write, so
a misconfigured deployment fails at start with a sentence, not later with a traceback. A
value that may hold a credential (a URL, DATABASE_URL) is shown masked, or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from shared.runtime.credentials import mask_url

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_WEB_URL = "https://github.com"
# Pub/Sub's resource names: project ids 6-30 characters, topic ids 3-255 not starting with "goog".
PUBSUB_TOPIC = re.compile(r"^projects/[a-z][a-z0-9.:-]{3,61}[a-z0-9]/topics/(?!goog)[A-Za-z][A-Za-z0-9._~%+-]{2,254}$")


class SettingsError(ValueError):
    """A setting is missing, malformed or contradicts another; the message names it."""


def base_url(env: Mapping[str, str]) -> str | None:
    """OPENAI_BASE_URL without its trailing slash, or None; SettingsError unless it is http(s)."""
    value = (env.get("OPENAI_BASE_URL") or "").strip().rstrip("/") or None
    if value and not re.match(r"^https?://[^/\s]+", value):
        raise SettingsError(
            f"OPENAI_BASE_URL={mask_url(value)!r} is not an http(s) URL (e.g. http://localhost:11434/v1 for Ollama)"
        )
    return value


DATABASE_URL_FORM = (
    "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE, with any @ : / ? # in the "
    "user or password written %40 %3A %2F %3F %23"
)


def database_url(env: Mapping[str, str]) -> str | None:
    """DATABASE_URL, checked as libpq will read it; a problem is named without showing the value
    (it holds the password)."""
    value = (env.get("DATABASE_URL") or "").strip() or None
    if value is None:
        return None
    problem = conninfo_problem(value)
    if problem:
        raise SettingsError(f"DATABASE_URL is malformed: {problem} ({DATABASE_URL_FORM})")
    return value


def conninfo_problem(value: str) -> str | None:
    """Why libpq cannot read DATABASE_URL, in words that never quote it, or None."""
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


def web_url(env: Mapping[str, str], api_url: str) -> str:
    """GITHUB_URL, or GitHub's web address derived from the API's: https://HOST/api/v3 (Enterprise
    Server) -> https://HOST, api.SUBDOMAIN.ghe.com -> https://SUBDOMAIN.ghe.com, anything else
    (api.github.com, a proxy, a test server) -> https://github.com."""
    value = (env.get("GITHUB_URL") or "").strip().rstrip("/")
    if value:
        if not re.match(r"^https?://[^/\s@?#]+$", value):
            raise SettingsError(
                f"GITHUB_URL={mask_url(value)!r} is not an http(s) URL (e.g. https://github.example.com)"
            )
        return value
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host.startswith("api.") and host.endswith(".ghe.com"):
        return f"https://{host[len('api.') :]}"
    if parts.path.rstrip("/").endswith("/api/v3"):
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return DEFAULT_WEB_URL


def http_url(env: Mapping[str, str], name: str) -> str | None:
    """An optional http(s) URL with a host (PETREL_PUBLIC_URL, PETREL_WEBHOOK_PROXY_URL), or None."""
    value = (env.get(name) or "").strip()
    if value and not re.match(r"^https?://[^/\s?#]+(/\S*)?$", value):
        raise SettingsError(f"{name}={mask_url(value)!r} is not an http(s) URL (e.g. https://example.com/...)")
    return value or None


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """The boolean variable `name` (1/0, true/false, yes/no, on/off), or `default` when unset."""
    value = env.get(name)
    if value is None:
        return default
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean: use 1/0, true/false, yes/no")


def number(env: Mapping[str, str], name: str, default, kind=int, minimum=0):
    """The number variable `name` (read by `kind`, at least `minimum`), or `default` when unset or empty."""
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


def temperature(env: Mapping[str, str]) -> float | None:
    """PETREL_MODEL_TEMPERATURE: 0 to 2 (default 0, so that a review of one diff can be reproduced),
    or `default` to send none and leave it to the server (models that accept no other value)."""
    value = (env.get("PETREL_MODEL_TEMPERATURE") or "").strip()
    if value.lower() == "default":
        return None
    chosen = number(env, "PETREL_MODEL_TEMPERATURE", 0.0, float, minimum=0)
    if not chosen <= 2:  # and not NaN
        raise SettingsError(f"PETREL_MODEL_TEMPERATURE={value!r} must be at most 2 (or `default`: send none)")
    return chosen


def private_key(env: Mapping[str, str]) -> str | None:
    """The App's PEM private key, from GITHUB_PRIVATE_KEY or the file GITHUB_PRIVATE_KEY_PATH names, or None."""
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


def price(env: Mapping[str, str], name: str) -> tuple[float, float]:
    """The price variable `name`: (prompt, completion) USD per million tokens; (0, 0) when unset."""
    value = (env.get(name) or "").strip()
    if not value:
        return (0.0, 0.0)
    try:
        prompt, _, completion = value.partition("/")
        price = (float(prompt), float(completion or prompt))
    except ValueError:
        raise SettingsError(
            f"{name}={value!r} is not a price: write prompt/completion USD per million tokens, e.g. 0.15/0.6"
        ) from None
    if min(price) < 0:
        raise SettingsError(f"{name}={value!r} must not be negative")
    return price
