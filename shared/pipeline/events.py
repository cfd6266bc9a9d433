"""Perception, without I/O: verify a GitHub delivery, parse it, name it, turn it into a CloudEvent.

Everything here is a pure function of headers and bytes, so the webhook function, the
local runner and the tests share one implementation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB

MISSING_SIGNATURE = (
    "missing X-Hub-Signature-256 header: configure the webhook secret on GitHub and GITHUB_WEBHOOK_SECRET here"
)
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
BAD_SIGNATURE = "signature mismatch: check that GITHUB_WEBHOOK_SECRET matches the secret configured on GitHub"


class WebhookError(Exception):
    """A delivery Petrel refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Delivery:
    """One GitHub webhook delivery, parsed."""

    id: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None  # "owner/name"
    payload: dict
    payload_json: str  # the JSON text as received, stored as is

    @property
    def name(self) -> str:
        """`event.action`, or `event` for events without an action (push, ping)."""
        return f"{self.event}.{self.action}" if self.action else self.event

    @property
    def subject(self) -> str | None:
        """The issue or pull request number the delivery is about, if any."""
        for key in ("pull_request", "issue"):
            item = self.payload.get(key)
            if isinstance(item, dict) and item.get("number") is not None:
                return str(item["number"])
        number = self.payload.get("number")
        return str(number) if isinstance(number, int) else None

    @property
    def thread(self) -> str | None:
        """`owner/name#number`: the conversation this delivery belongs to."""
        if self.repository and self.subject:
            return f"{self.repository}#{self.subject}"
        return None

    @property
    def source(self) -> str:
        """The CloudEvent source: the repository's URL, else the installation's URN, else `urn:github`."""
        repo = self.payload.get("repository")
        if isinstance(repo, dict) and repo.get("html_url"):
            return repo["html_url"]
        if self.installation_id is not None:
            return f"urn:github:installation:{self.installation_id}"
        return "urn:github"

    @property
    def updated_at(self) -> str | None:
        """When the pull request last changed, to order competing `synchronize` deliveries."""
        pull = self.payload.get("pull_request")
        return pull.get("updated_at") if isinstance(pull, dict) else None


def verify_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Check `X-Hub-Signature-256` (HMAC-SHA256 of the raw body) against any of the secrets.

    Fails closed: no header, or no secret to check with, is a refusal.
    """
    if not header:
        raise WebhookError(401, MISSING_SIGNATURE)
    scheme, _, digest = header.partition("=")
    digest = digest.strip().lower()
    # any header bytes may arrive (the server decodes them as Latin-1): only 64 hex digits are
    # compared, so a malformed value is a refusal, never a TypeError from compare_digest
    if scheme != "sha256" or not _HEX_DIGEST.fullmatch(digest):
        raise WebhookError(401, BAD_SIGNATURE)
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode("ascii"), digest.encode("ascii")):
            return
    raise WebhookError(401, BAD_SIGNATURE)


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _payload_text(body: bytes, content_type: str) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError(400, "body is not UTF-8") from None
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        fields = parse_qs(text, keep_blank_values=True)
        if "payload" not in fields:
            raise WebhookError(400, "form-encoded delivery without a 'payload' field")
        return fields["payload"][0]
    return text


def _strip_nul(value: Any) -> Any:
    # Postgres jsonb cannot hold U+0000; GitHub content occasionally does.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    return value


def parse_delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    """Turn verified headers and body into a Delivery, or raise WebhookError(400)."""
    event = (headers.get("X-GitHub-Event") or "").strip()
    delivery_id = (headers.get("X-GitHub-Delivery") or "").strip()
    if not event:
        raise WebhookError(400, "missing X-GitHub-Event header")
    if not delivery_id:
        raise WebhookError(400, "missing X-GitHub-Delivery header")
    if len(delivery_id) > 200 or not delivery_id.isprintable():
        raise WebhookError(400, "X-GitHub-Delivery is not a delivery id")
    if len(event) > 100 or not all(c.isalnum() or c == "_" for c in event):
        raise WebhookError(400, "X-GitHub-Event is not an event name")

    text = _payload_text(body, headers.get("Content-Type") or "application/json")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise WebhookError(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise WebhookError(400, "body is not a JSON object")
    if "\\u0000" in text:
        payload = _strip_nul(payload)
        text = json.dumps(payload)

    action = payload.get("action")
    installation = payload.get("installation")
    repository = payload.get("repository")
    return Delivery(
        id=delivery_id,
        event=event,
        action=action if isinstance(action, str) and action else None,
        installation_id=installation.get("id")
        if isinstance(installation, dict) and _is_int(installation.get("id"))
        else None,
        repository=repository.get("full_name")
        if isinstance(repository, dict) and isinstance(repository.get("full_name"), str)
        else None,
        payload=payload,
        payload_json=text,
    )


def _is_int(value: Any) -> bool:
    # JSON true/false are Python bools, which are ints: Postgres refuses them for a bigint (a 500)
    return isinstance(value, int) and not isinstance(value, bool)


def cloudevent_attributes(delivery: Delivery) -> dict[str, str]:
    """The CloudEvent attributes of a delivery: type, id, source, subject."""
    attributes = {
        "specversion": "1.0",
        "type": f"com.github.{delivery.name}",
        "id": delivery.id,
        "source": delivery.source,
        "datacontenttype": "application/json",
    }
    if delivery.subject:
        attributes["subject"] = delivery.subject
    return attributes


def delivery_from_cloudevent(attributes: Mapping[str, Any], data: Any) -> Delivery:
    """Rebuild a Delivery from a CloudEvent made by `cloudevent_attributes`."""
    kind = str(attributes.get("type") or "")
    if not kind.startswith("com.github."):
        raise ValueError(f"not a GitHub CloudEvent: type {kind!r}")
    event, _, action = kind[len("com.github.") :].partition(".")
    payload = data if isinstance(data, dict) else json.loads(data or "{}")
    installation = payload.get("installation") or {}
    repository = payload.get("repository") or {}
    return Delivery(
        id=str(attributes["id"]),
        event=event,
        action=action or None,
        installation_id=installation.get("id") if isinstance(installation, dict) else None,
        repository=repository.get("full_name") if isinstance(repository, dict) else None,
        payload=payload,
        payload_json=json.dumps(payload),
    )


def delivery_from_pubsub(data: Any) -> Delivery:
    """Rebuild a Delivery from a Pub/Sub `messagePublished` event's data: {"message": {"data":
    base64 of the payload, "attributes": the CloudEvent attributes, ...}, ...}."""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        raise ValueError("not a Pub/Sub message: the event's data has no 'message'")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not str(attributes.get("type") or "").startswith("com.github."):
        raise ValueError(
            f"not a GitHub CloudEvent: Pub/Sub message with type {attributes.get('type')!r}"
            if isinstance(attributes, dict)
            else "not a GitHub CloudEvent: Pub/Sub attributes malformed"
        )
    if not attributes.get("id"):
        raise ValueError("Pub/Sub message from GitHub without an 'id' attribute (the delivery id)")
    try:
        text = base64.b64decode(message.get("data") or "", validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ValueError("Pub/Sub message data is not base64 of UTF-8 JSON") from None
    return delivery_from_cloudevent(attributes, text)
