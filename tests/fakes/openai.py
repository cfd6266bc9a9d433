"""An in-process fake of the OpenAI HTTP API (chat completions, embeddings, models),
served over real HTTP so that the real ``openai`` client talks to it on 127.0.0.1::

    with FakeOpenAI() as fake:
        fake.reply("hello")
        fake.reply(json={"label": "bug"}, usage={"prompt_tokens": 10, "completion_tokens": 3})
        fake.reply(tool_calls=[{"name": "add_label", "arguments": {"label": "bug"}}])
        client = OpenAI(base_url=fake.url + "/v1", api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        assert fake.chat_requests()[0]["model"] == "gpt-x"

Scripted answers are consumed in order (one per chat completion); when the script is
empty ``responder`` (if set) is asked, otherwise the default answer is ``"OK"`` (``"{}"``
when the request asks for JSON). Petrel's second look at review findings is answered apart,
before the script, by ``verifier`` (default: every finding holds, with its own line as evidence;
set it to another callable to script the check, or to None to leave it to the script and the
responder), so that tests scripting the reviews need not script the checks. It refuses what OpenAI refuses (missing API key, missing
``model``/``messages``, streaming, unsupported ``response_format`` types) with OpenAI's
status codes and error shape ``{"error": {"message", "type", "param", "code"}}``, records
every request, and injects faults: ``fail`` (any status, e.g. 429 with ``retry-after``),
``hang`` (late answers, for client timeouts) and ``malformed`` (200 with a non-JSON body).

Only the standard library is used; the HTTP server is `fakes.server`'s, shared with the fake GitHub.
"""

from __future__ import annotations

import base64
import json as _json
import secrets
import struct
import time
import traceback
import urllib.parse
from collections.abc import Callable
from typing import Any

from fakes.completions import (
    _NOTHING,
    BAD_JSON_MESSAGE,
    CHAT_PATH,
    DEFAULT_EMBEDDING_DIMENSIONS,
    DEFAULT_MODELS,
    EMBEDDINGS_PATH,
    MALFORMED_BODY,
    MAX_EMBEDDING_DIMENSIONS,
    MODELS_PATH,
    NO_KEY_MESSAGE,
    _bad_request,
    _content_chars,
    _default_fault_body,
    _error,
    _Fault,
    _HTTPError,
    _Injection,
    _normalise_spec,
    _responder_spec,
    _tokens,
    _wants_json,
    confirm_findings,
    embedding_vector,
    is_verification,
)
from fakes.server import Answer, FakeServer, headers_out, take

__all__ = ["FakeOpenAI", "DEFAULT_MODELS", "DEFAULT_EMBEDDING_DIMENSIONS", "embedding_vector"]


class FakeOpenAI(FakeServer):
    """A fake OpenAI-compatible server; see the module docstring."""

    thread_name = "fake-openai"
    server_version = "fake-openai"

    def __init__(
        self,
        *,
        supports_json_schema: bool = True,
        supports_json_mode: bool = True,
        refuses_format_with: int = 400,
        api_key: str | None = None,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
    ) -> None:
        """``api_key``: when set, only ``Bearer <api_key>`` is accepted (401 ``invalid_api_key``
        otherwise); when None any non-empty bearer key is accepted. ``models``: what
        ``GET /v1/models`` lists (requests may still name any model). ``refuses_format_with``: the
        status an unsupported ``response_format`` gets (llama-cpp-python's server answers 500, with a
        message that names the format)."""
        self.refuses_format_with = refuses_format_with
        self.supports_json_schema = supports_json_schema
        self.supports_json_mode = supports_json_mode
        self.api_key = api_key
        self.models = list(models)
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.responder: Callable[[dict], dict | str | None] | None = None
        self.verifier: Callable[[dict], dict | str | None] | None = confirm_findings
        self._script: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._hangs: list[_Injection] = []
        self._malformed: list[_Injection] = []
        self._created = int(time.time())

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Stop serving and close every kept-alive connection."""
        self._stop_serving()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _answer(self, method: str, target: str, headers: Any, raw_body: bytes) -> Answer:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            status, payload, extra, delay, raw, content_type = self._handle(method, target, lowered, raw_body)
        except Exception:  # a bug in the fake: answer 500 with the traceback rather than hang or print
            status, extra, delay, raw, content_type = 500, {}, 0.0, None, None
            payload = _error("fake_openai crashed:\n" + traceback.format_exc(), "server_error")
        data = raw if raw is not None else _json.dumps(payload).encode()
        fixed = [("x-request-id", f"req_{secrets.token_hex(16)}"), ("openai-processing-ms", "1")]
        return status, headers_out(content_type or "application/json", fixed + list(extra.items())), data, delay

    # ------------------------------------------------------------------ scripting

    def reply(
        self,
        content: str | None = None,
        *,
        json: object = None,
        tool_calls: list[dict] | None = None,
        usage: dict | None = None,
        finish_reason: str | None = None,
        model: str | None = None,
    ) -> None:
        """Script the next chat completion answer (answers are consumed in order).

        ``json=...`` makes the content ``json.dumps(json)``; ``tool_calls`` is a list of
        ``{"name": ..., "arguments": {...} | "raw string", "id"?: ...}`` (finish_reason
        becomes ``"tool_calls"``); ``usage`` overrides the computed token counts (keys
        given win, ``total_tokens`` defaults to their sum); ``model`` overrides the echoed
        model. With no content, json nor tool_calls the default answer is given."""
        spec = _normalise_spec(
            {
                "content": content,
                "json": json,
                "tool_calls": tool_calls,
                "usage": usage,
                "finish_reason": finish_reason,
                "model": model,
            }
        )
        with self._lock:
            self._script.append(spec)

    def pending(self) -> int:
        """How many scripted answers have not been consumed yet."""
        with self._lock:
            return len(self._script)

    def chat_requests(self) -> list[dict]:
        """The JSON bodies of every ``POST /v1/chat/completions`` (refused ones included)."""
        with self._lock:
            return [r["json"] for r in self.requests if r["method"] == "POST" and r["path"] == CHAT_PATH]

    def embedding_requests(self) -> list[dict]:
        """The JSON bodies of every ``POST /v1/embeddings``."""
        with self._lock:
            return [r["json"] for r in self.requests if r["method"] == "POST" and r["path"] == EMBEDDINGS_PATH]

    # ------------------------------------------------------------------ faults

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict | None = None,
        body: dict | None = None,
        path: str | None = CHAT_PATH,
    ) -> None:
        """The next ``times`` requests to ``path`` (None = any path) get ``status`` with
        ``headers`` (e.g. ``{"retry-after": "1"}``) and ``body`` (default: OpenAI's error
        shape for that status) instead of service. Applied before authentication and
        validation, and without consuming a scripted answer."""
        with self._lock:
            self._faults.append(
                _Fault(
                    path=path,
                    status=int(status),
                    remaining=times,
                    headers={str(k): str(v) for k, v in (headers or {}).items()},
                    body=body,
                )
            )

    def hang(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """The next ``times`` requests to ``path`` (None = any path) are answered ``seconds`` late.
        The request is handled (and a scripted answer consumed) when it arrives; only the
        answer is late, so a client that times out and retries gets the *next* scripted answer."""
        with self._lock:
            self._hangs.append(_Injection(path=path, remaining=times, seconds=float(seconds)))

    def malformed(
        self,
        *,
        times: int = 1,
        path: str | None = None,
        body: bytes | str | None = None,
        content_type: str = "application/json",
    ) -> None:
        """The next ``times`` requests to ``path`` (None = any path) get 200 with a body that is
        not JSON (default: truncated JSON labelled ``application/json``). No scripted answer is
        consumed."""
        raw = MALFORMED_BODY if body is None else (body.encode() if isinstance(body, str) else bytes(body))
        with self._lock:
            self._malformed.append(_Injection(path=path, remaining=times, body=raw, content_type=content_type))

    # ------------------------------------------------------------------ request handling

    @staticmethod
    def _take(queue: list, path: str) -> Any:
        return take(queue, lambda item: item.path is None or item.path == path)

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes):
        """Returns (status, payload, extra headers, delay seconds, raw body or None, content type)."""
        path = urllib.parse.urlsplit(raw_path).path
        if len(path) > 1:
            path = path.rstrip("/")
        body: Any = None
        body_error = False
        if raw_body:
            try:
                body = _json.loads(raw_body)
            except ValueError:
                body_error = True
        record = {
            "method": method,
            "path": path,
            "headers": headers,
            "json": body,
            "time": time.monotonic(),
            "status": None,
        }
        with self._lock:
            self.requests.append(record)
            hang = self._take(self._hangs, path)
            delay = hang.seconds if hang else 0.0
            fault = self._take(self._faults, path)
            if fault is not None:
                payload = fault.body if fault.body is not None else _default_fault_body(fault.status)
                record["status"] = fault.status
                return fault.status, payload, dict(fault.headers), delay, None, None
            bad = self._take(self._malformed, path)
            if bad is not None:
                record["status"] = 200
                return 200, None, {}, delay, bad.body, bad.content_type
            spec: Any = _NOTHING
            try:
                self._authenticate(headers)
                if body_error:
                    raise _bad_request(BAD_JSON_MESSAGE)
                if method == "POST" and path == CHAT_PATH:
                    self._validate_chat(body)
                    checking = self.verifier is not None and is_verification(body)
                    answerer = self.verifier if checking else self.responder
                    if checking:
                        pass  # the second look is answered apart from the script
                    elif self._script:
                        spec = self._script.pop(0)
                    elif self.responder is None:
                        spec = {}
                    payload = None
                elif method == "POST" and path == EMBEDDINGS_PATH:
                    payload = self._embeddings(body)
                elif method == "GET" and path == MODELS_PATH:
                    payload = {"object": "list", "data": [self._model(m) for m in self.models]}
                elif method == "GET" and path.startswith(MODELS_PATH + "/"):
                    model_id = urllib.parse.unquote(path[len(MODELS_PATH) + 1 :])
                    if model_id not in self.models:
                        raise _HTTPError(
                            404, _error(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
                        )
                    payload = self._model(model_id)
                else:
                    raise _HTTPError(404, _error(f"Invalid URL ({method} {path})"))
            except _HTTPError as exc:
                record["status"] = exc.status
                return exc.status, exc.body, dict(exc.headers), delay, None, None
            if payload is not None:
                record["status"] = 200
                return 200, payload, {}, delay, None, None
        # a chat completion: the responder (user code) runs outside the lock
        if spec is _NOTHING:
            try:
                spec = _normalise_spec(_responder_spec(answerer(body)))
            except Exception:  # a bug in the responder: answer 500 with the traceback
                record["status"] = 500
                payload = _error("responder raised:\n" + traceback.format_exc(), "server_error")
                return 500, payload, {}, delay, None, None
        payload = self._completion(body, spec)
        record["status"] = 200
        return 200, payload, {}, delay, None, None

    def _authenticate(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise _HTTPError(401, _error(NO_KEY_MESSAGE))
        if self.api_key is not None and key != self.api_key:
            shown = key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else "****"
            raise _HTTPError(
                401,
                _error(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                ),
            )

    def _validate_chat(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise _bad_request(BAD_JSON_MESSAGE)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _bad_request("you must provide a model parameter")
        if "messages" not in body:
            raise _bad_request("Missing required parameter: 'messages'.", "messages")
        messages = body["messages"]
        if not isinstance(messages, list):
            raise _bad_request(
                f"Invalid type for 'messages': expected an array, but got {type(messages).__name__} instead.",
                "messages",
            )
        if not messages:
            raise _bad_request(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but "
                "got an empty array instead.",
                "messages",
            )
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m:
                raise _bad_request(f"Missing required parameter: 'messages[{i}].role'.", f"messages[{i}].role")
        if body.get("stream"):
            raise _bad_request("streaming not supported by the fake", "stream")
        rf = body.get("response_format")
        if rf is not None:
            kind = rf.get("type") if isinstance(rf, dict) else None
            if kind == "json_schema":
                if not self.supports_json_schema:
                    raise self._format_refused("response_format type json_schema is not supported")
                if not isinstance(rf.get("json_schema"), dict):
                    raise _bad_request(
                        "Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema"
                    )
                if not rf["json_schema"].get("name"):
                    raise _bad_request(
                        "Missing required parameter: 'response_format.json_schema.name'.",
                        "response_format.json_schema.name",
                    )
            elif kind == "json_object":
                if not self.supports_json_mode:
                    raise self._format_refused("response_format type json_object is not supported")
            elif kind != "text":
                raise _bad_request(
                    f"Invalid value: {_json.dumps(kind)}. Supported values are: 'json_object', "
                    "'json_schema', and 'text'.",
                    "response_format.type",
                )

    def _format_refused(self, message: str) -> _HTTPError:
        """An unsupported response_format, refused with this server's status."""
        if self.refuses_format_with == 400:
            return _bad_request(message, "response_format")
        return _HTTPError(self.refuses_format_with, _error(message, "server_error"))

    def _completion(self, body: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        calls = spec.get("tool_calls")
        content = spec.get("content")
        if content is None and not calls:
            content = "{}" if _wants_json(body) else "OK"
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        completion_chars = len(content or "")
        if calls:
            message["tool_calls"] = calls
            completion_chars += sum(len(c["function"]["name"]) + len(c["function"]["arguments"]) for c in calls)
        finish = spec.get("finish_reason") or ("tool_calls" if calls else "stop")
        prompt_chars = sum(_content_chars(m.get("content")) for m in body["messages"])
        usage = {"prompt_tokens": _tokens(prompt_chars), "completion_tokens": _tokens(completion_chars, minimum=1)}
        given = spec.get("usage") or {}
        usage.update(given)
        if "total_tokens" not in given:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": spec.get("model") or body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }

    def _embeddings(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad_request(BAD_JSON_MESSAGE)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _bad_request("you must provide a model parameter")
        if "input" not in body:
            raise _bad_request("Missing required parameter: 'input'.", "input")
        raw = body["input"]
        invalid = _bad_request(
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            "input",
        )
        if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
            inputs = [raw]
        elif isinstance(raw, list) and raw:
            inputs = raw
        else:
            raise invalid
        texts: list[str] = []
        for item in inputs:
            if isinstance(item, str) and item:
                texts.append(item)
            elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
                texts.append("tokens:" + ",".join(map(str, item)))  # token arrays hash by their ids
            else:
                raise invalid
        dims = body.get("dimensions", DEFAULT_EMBEDDING_DIMENSIONS)
        if dims is None:
            dims = DEFAULT_EMBEDDING_DIMENSIONS
        if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= MAX_EMBEDDING_DIMENSIONS:
            raise _bad_request(
                f"Invalid value for 'dimensions' = {dims}. Must be between 1 and {MAX_EMBEDDING_DIMENSIONS}.",
                "dimensions",
            )
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise _bad_request(
                f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.", "encoding_format"
            )
        data = []
        for i, text in enumerate(texts):
            vec = embedding_vector(text, dims)
            emb: Any = vec if fmt == "float" else base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(_tokens(len(t), minimum=1) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _model(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": self._created, "owned_by": "fake-openai"}
