"""What the fake OpenAI server says, apart from serving it: its paths, limits and messages,
OpenAI's error shape, token estimates, deterministic embedding vectors and scripted replies.

Pure functions of data, so `fakes.openai` is left with the server's state and its answers.
"""

from __future__ import annotations

import hashlib
import itertools
import json as _json
import math
import re
import secrets
import struct
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
DEFAULT_MODELS = ("gpt-4o-mini", "text-embedding-3-small")
DEFAULT_EMBEDDING_DIMENSIONS = 64
MAX_EMBEDDING_DIMENSIONS = 4096
NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username and password. You can "
    "obtain an API key from https://platform.openai.com/account/api-keys."
)
BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
    "have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
MALFORMED_BODY = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess'
_REPLY_KEYS = frozenset({"content", "json", "tool_calls", "usage", "finish_reason", "model"})
_NOTHING = object()


def _error(message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _HTTPError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _bad_request(message: str, param: str | None = None, code: str | None = None) -> _HTTPError:
    return _HTTPError(400, _error(message, "invalid_request_error", param, code))


def _default_fault_body(status: int) -> dict[str, Any]:
    if status == 400:
        return _error("Bad request (injected by FakeOpenAI).")
    if status == 401:
        return _error(
            "Incorrect API key provided: sk-****. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    if status == 403:
        return _error("You are not allowed to sample from this model", code="model_not_allowed")
    if status == 404:
        return _error("The model does not exist or you do not have access to it.", code="model_not_found")
    if status == 429:
        return _error(
            "Rate limit reached for requests. Please try again later.", "requests", None, "rate_limit_exceeded"
        )
    if status == 503:
        return _error("The engine is currently overloaded, please try again later.", "server_error")
    if status >= 500:
        return _error("The server had an error while processing your request. Sorry about that!", "server_error")
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return _error(phrase)


def _tokens(chars: int, *, minimum: int = 0) -> int:
    return max(minimum, math.ceil(chars / 4))


def _content_chars(content: Any) -> int:
    """Characters of a message ``content``: a string, or a list of parts (text parts counted)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, str):
                total += len(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"])
        return total
    return 0


def _wants_json(body: dict[str, Any]) -> bool:
    rf = body.get("response_format")
    return isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")


def embedding_vector(text: str, dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS) -> list[float]:
    """The fake's deterministic unit vector for ``text`` (float32-exact values): a pure function
    of the text and the dimension count, so tests can compute expected vectors themselves."""
    raw = b""
    for block in itertools.count():
        if len(raw) >= 4 * dimensions:
            break
        raw += hashlib.sha256(f"{block}:{text}".encode()).digest()
    ints = struct.unpack(f"<{dimensions}I", raw[: 4 * dimensions])
    values = [(i / 0xFFFFFFFF) * 2.0 - 1.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # round-trip through float32 so the "float" and "base64" encodings give identical numbers
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{dimensions}f", packed))


def _responder_spec(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, str):
        return {"content": result}
    if isinstance(result, dict):
        unknown = set(result) - _REPLY_KEYS
        if unknown:
            raise ValueError(f"responder returned unknown keys {sorted(unknown)}; allowed: {sorted(_REPLY_KEYS)}")
        return result
    raise TypeError(f"responder must return a dict, a str or None, not {type(result).__name__}")


def _normalise_spec(spec: dict[str, Any]) -> dict[str, Any]:
    content = spec.get("content")
    if spec.get("json") is not None:
        if content is not None:
            raise ValueError("give content or json, not both")
        content = _json.dumps(spec["json"])
    if content is not None and not isinstance(content, str):
        raise TypeError(f"content must be a str, not {type(content).__name__}")
    calls = None
    if spec.get("tool_calls"):
        calls = []
        for call in spec["tool_calls"]:
            if "name" not in call:
                raise ValueError(f"a tool call needs a name: {call!r}")
            args = call.get("arguments", {})
            calls.append(
                {
                    "id": call.get("id") or f"call_{secrets.token_hex(12)}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": args if isinstance(args, str) else _json.dumps(args),
                    },
                }
            )
    return {
        "content": content,
        "tool_calls": calls,
        "usage": spec.get("usage"),
        "finish_reason": spec.get("finish_reason"),
        "model": spec.get("model"),
    }


# fault rules: fail / hang / malformed, consumed in order by fakes.server.take
@dataclass
class _Fault:
    path: str | None  # None = any path
    status: int
    remaining: int
    headers: dict[str, str]
    body: Any


@dataclass
class _Injection:  # hang / malformed
    path: str | None
    remaining: int
    seconds: float = 0.0
    body: bytes = MALFORMED_BODY
    content_type: str = "application/json"


# The second look (shared/review/verify.py): its answers are recognised by the schema's name, or by
# its "verdicts" key in the system prompt when the server took no json_schema format.
VERIFICATION_SCHEMA_NAME = "verification"
FINDING_LINE = re.compile(r"^\[(\d+)\] `([^`]*)` line (\S+) \((\w+)\): ")
NUMBERED_LINE = re.compile(r"^\s*(\d+) [+ ](.*)$")


def is_verification(body: dict[str, Any]) -> bool:
    """True for a chat request of Petrel's second look at findings."""
    rf = body.get("response_format") or {}
    if isinstance(rf, dict) and (rf.get("json_schema") or {}).get("name") == VERIFICATION_SCHEMA_NAME:
        return True
    messages = body.get("messages") or [{}]
    return rf.get("type") != "json_schema" and '"verdicts"' in str(messages[0].get("content") or "")


def confirm_findings(body: dict[str, Any]) -> dict[str, Any]:
    """The fake's default second look: every finding holds, at its own severity, with its own line
    as evidence (the numbered line it names in its file's section of the code shown; else, or when
    that line is blank, the section's first line with code; else no evidence, as a model that
    cannot find the code would give)."""
    text = str(body["messages"][-1]["content"])
    findings = [m.groups() for m in map(FINDING_LINE.match, text.splitlines()) if m]
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.split("\nCODE (", 1)[-1].splitlines():
        if line.startswith("### "):
            current = sections.setdefault(line[4:].split(" [")[0].split(" (renamed")[0], [])
        elif current is not None and (numbered := NUMBERED_LINE.match(line)):
            current.append(numbered.groups())
    verdicts = []
    for index, path, line, severity in findings:
        shown = [(number, code) for number, code in sections.get(path, []) if code.strip()]
        own = [code for number, code in shown if number == line] or [code for _, code in shown[:1]]
        verdicts.append({"index": int(index), "holds": True, "evidence": own[:1], "severity": severity})
    return {"json": {"verdicts": verdicts}}
