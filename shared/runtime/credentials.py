"""What a configured value reveals, and how to hide it: the credentials in URLs and libpq words.

Settings hold secrets (the webhook secret, keys, tokens, the database password, a token in a
URL); anything Petrel logs, shows or posts is redacted against them (shared/runtime/log.py),
and an error that names a URL shows it masked. Finding the credentials a value carries, and
masking them, is one small concern kept apart from reading the environment.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

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


def database_password(url: str | None) -> str | None:
    """The password libpq reads from DATABASE_URL (or, without a driver, the URL's own credential)."""
    if not url:
        return None
    try:
        from psycopg.conninfo import conninfo_to_dict

        return conninfo_to_dict(url).get("password")
    except Exception:  # noqa: BLE001 - no driver here, or unparsable: the URL's own shape
        found = url_credentials(url)
        return found[-1] if found else None
