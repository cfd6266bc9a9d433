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
when the request asks for JSON). It refuses what OpenAI refuses (missing API key, missing
``model``/``messages``, streaming, unsupported ``response_format`` types) with OpenAI's
status codes and error shape ``{"error": {"message", "type", "param", "code"}}``, records
every request, and injects faults: ``fail`` (any status, e.g. 429 with ``retry-after``),
``hang`` (late answers, for client timeouts) and ``malformed`` (200 with a non-JSON body).

Only the standard library is used.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import itertools
import json as _json
import math
import secrets
import socket
import struct
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable

__all__ = ["FakeOpenAI", "DEFAULT_MODELS", "DEFAULT_EMBEDDING_DIMENSIONS"]

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
        return _error("Incorrect API key provided: sk-****. You can find your API key at "
                      "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
    if status == 403:
        return _error("You are not allowed to sample from this model", code="model_not_allowed")
    if status == 404:
        return _error("The model does not exist or you do not have access to it.", code="model_not_found")
    if status == 429:
        return _error("Rate limit reached for requests. Please try again later.", "requests", None,
                      "rate_limit_exceeded")
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


class FakeOpenAI:
    """A fake OpenAI-compatible server; see the module docstring."""

    def __init__(
        self,
        *,
        supports_json_schema: bool = True,
        supports_json_mode: bool = True,
        api_key: str | None = None,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
    ) -> None:
        """``api_key``: when set, only ``Bearer <api_key>`` is accepted (401 ``invalid_api_key``
        otherwise); when None any non-empty bearer key is accepted. ``models``: what
        ``GET /v1/models`` lists (requests may still name any model)."""
        self.supports_json_schema = supports_json_schema
        self.supports_json_mode = supports_json_mode
        self.api_key = api_key
        self.models = list(models)
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self.responder: Callable[[dict], dict | str | None] | None = None
        self._lock = threading.Lock()
        self._script: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._hangs: list[_Injection] = []
        self._malformed: list[_Injection] = []
        self._created = int(time.time())
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeOpenAI":
        if self._server is not None:
            return self

        class Handler(_Handler):
            pass

        Handler.fake = self
        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:  # close kept-alive connections so nothing is served after stop()
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

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
            {"content": content, "json": json, "tool_calls": tool_calls, "usage": usage,
             "finish_reason": finish_reason, "model": model}
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
                _Fault(path=path, status=int(status), remaining=times,
                       headers={str(k): str(v) for k, v in (headers or {}).items()}, body=body)
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
        for item in queue:
            if item.remaining > 0 and (item.path is None or item.path == path):
                item.remaining -= 1
                queue[:] = [i for i in queue if i.remaining > 0]
                return item
        return None

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
        record = {"method": method, "path": path, "headers": headers, "json": body, "time": time.monotonic(),
                  "status": None}
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
                    if self._script:
                        spec = self._script.pop(0)
                    elif self.responder is None:
                        spec = {}
                    payload = None
                elif method == "POST" and path == EMBEDDINGS_PATH:
                    payload = self._embeddings(body)
                elif method == "GET" and path == MODELS_PATH:
                    payload = {"object": "list", "data": [self._model(m) for m in self.models]}
                elif method == "GET" and path.startswith(MODELS_PATH + "/"):
                    model_id = urllib.parse.unquote(path[len(MODELS_PATH) + 1:])
                    if model_id not in self.models:
                        raise _HTTPError(404, _error(f"The model '{model_id}' does not exist", param="model",
                                                     code="model_not_found"))
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
                spec = _normalise_spec(_responder_spec(self.responder(body)))
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
            raise _HTTPError(401, _error(
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.", code="invalid_api_key"))

    def _validate_chat(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise _bad_request(BAD_JSON_MESSAGE)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _bad_request("you must provide a model parameter")
        if "messages" not in body:
            raise _bad_request("Missing required parameter: 'messages'.", "messages")
        messages = body["messages"]
        if not isinstance(messages, list):
            raise _bad_request(f"Invalid type for 'messages': expected an array, but got "
                               f"{type(messages).__name__} instead.", "messages")
        if not messages:
            raise _bad_request("Invalid 'messages': empty array. Expected an array with minimum length 1, but "
                               "got an empty array instead.", "messages")
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
                    raise _bad_request("response_format type json_schema is not supported", "response_format")
                if not isinstance(rf.get("json_schema"), dict):
                    raise _bad_request("Missing required parameter: 'response_format.json_schema'.",
                                       "response_format.json_schema")
                if not rf["json_schema"].get("name"):
                    raise _bad_request("Missing required parameter: 'response_format.json_schema.name'.",
                                       "response_format.json_schema.name")
            elif kind == "json_object":
                if not self.supports_json_mode:
                    raise _bad_request("response_format type json_object is not supported", "response_format")
            elif kind != "text":
                raise _bad_request(f"Invalid value: {_json.dumps(kind)}. Supported values are: 'json_object', "
                                   "'json_schema', and 'text'.", "response_format.type")

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
        invalid = _bad_request("'$.input' is invalid. Please check the API reference: "
                               "https://platform.openai.com/docs/api-reference.", "input")
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
            raise _bad_request(f"Invalid value for 'dimensions' = {dims}. Must be between 1 and "
                               f"{MAX_EMBEDDING_DIMENSIONS}.", "dimensions")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise _bad_request(f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.",
                               "encoding_format")
        data = []
        for i, text in enumerate(texts):
            vec = embedding_vector(text, dims)
            emb: Any = vec if fmt == "float" else base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(_tokens(len(t), minimum=1) for t in texts)
        return {"object": "list", "data": data, "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def _model(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": self._created, "owned_by": "fake-openai"}


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
            calls.append({
                "id": call.get("id") or f"call_{secrets.token_hex(12)}",
                "type": "function",
                "function": {"name": call["name"], "arguments": args if isinstance(args, str) else _json.dumps(args)},
            })
    return {"content": content, "tool_calls": calls, "usage": spec.get("usage"),
            "finish_reason": spec.get("finish_reason"), "model": spec.get("model")}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops SYNs under concurrent connects (1 s retransmit)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet (client resets etc.)
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body go out in one write (flushed after each request)
    disable_nagle_algorithm = True
    server_version = "fake-openai"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def log_error(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload, extra, delay, raw, content_type = self.fake._handle(
                self.command, self.path, headers, raw_body)
        except Exception:  # a bug in the fake: answer 500 with the traceback rather than hang or print
            status, extra, delay, raw, content_type = 500, {}, 0.0, None, None
            payload = _error("fake_openai crashed:\n" + traceback.format_exc(), "server_error")
        if delay:  # the request was handled; only the answer is late (a client may give up meanwhile)
            time.sleep(delay)
        data = raw if raw is not None else _json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("x-request-id", f"req_{secrets.token_hex(16)}")
        self.send_header("openai-processing-ms", "1")
        for k, v in extra.items():
            if k.lower() not in ("content-type", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
