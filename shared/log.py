"""Logging with the delivery id on every line, and secrets kept out of it."""

from __future__ import annotations

import logging
import os
import re

from shared import context

# Tokens GitHub issues (ghp_, ghs_, gho_, ghu_, github_pat_), bearer values and keys.
_SECRET = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|(?i:bearer|token)\s+[A-Za-z0-9._\-]{20,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----|sk-[A-Za-z0-9_\-]{20,})"
)


def redact(text: str) -> str:
    """Replace anything that looks like a credential with `[redacted]`."""
    return _SECRET.sub("[redacted]", text)


class _DeliveryFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.delivery = context.delivery_id.get()
        return True


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup(level: str | None = None) -> None:
    """Configure the root logger once: time, level, logger, delivery id, message."""
    root = logging.getLogger()
    if any(getattr(h, "_petrel", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._petrel = True  # type: ignore[attr-defined]
    handler.addFilter(_DeliveryFilter())
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(delivery)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("PETREL_LOG_LEVEL", "INFO"))
    for noisy in ("werkzeug", "urllib3", "github", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
