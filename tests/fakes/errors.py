"""The fake GitHub's refusals: GitHub's error statuses and bodies, raised by any handler.

One exception (`_HTTPError`) carries status, body and headers to the dispatcher, which
answers with them; the helpers build the shapes GitHub answers with.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fakes.state import DOCS, _CIDict


class _HTTPError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _not_found() -> _HTTPError:
    return _HTTPError(404, {"message": "Not Found", "documentation_url": DOCS})


def _bad_credentials() -> _HTTPError:
    return _HTTPError(401, {"message": "Bad credentials", "documentation_url": DOCS})


def _jwt_error(message: str) -> _HTTPError:
    return _HTTPError(401, {"message": message, "documentation_url": DOCS})


def _validation(resource: str, field_name: str, code: str, message: str | None = None) -> _HTTPError:
    err: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message is not None:
        err["message"] = message
    return _HTTPError(422, {"message": "Validation Failed", "errors": [err], "documentation_url": DOCS})


def _default_message(status: int, headers: dict[str, str]) -> str:
    hdrs = _CIDict(headers)
    if status in (403, 429):
        if str(hdrs.get("x-ratelimit-remaining", "")) == "0":
            return "API rate limit exceeded for installation."
        if status == 429 or "retry-after" in hdrs:
            return "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        return "Resource not accessible by integration"
    return {
        400: "Problems parsing JSON",
        401: "Bad credentials",
        404: "Not Found",
        409: "Conflict",
        422: "Validation Failed",
        500: "Server Error",
        502: "Server Error",
        503: "Service Unavailable",
        504: "We couldn't respond to your request in time. Sorry about that.",
    }.get(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error")
