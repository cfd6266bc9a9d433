"""Tests for tests/fakes/openai.py, driven through the real ``openai`` client (and raw HTTP)."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import math
import struct
import time
import urllib.error
import urllib.request

import openai
import pydantic
import pytest
from fakes.openai import DEFAULT_EMBEDDING_DIMENSIONS, FakeOpenAI, embedding_vector
from openai import OpenAI

MODEL = "gpt-test"
MSGS = [{"role": "user", "content": "hello"}]


@pytest.fixture
def fake():
    with FakeOpenAI() as f:
        yield f


def _client(fake: FakeOpenAI, **kw) -> OpenAI:
    opts = {"api_key": "sk-test", "max_retries": 0, "timeout": 5.0} | kw
    return OpenAI(base_url=fake.url + "/v1", **opts)


@pytest.fixture
def client(fake):
    c = _client(fake)
    yield c
    c.close()


def _chat(client: OpenAI, **kw):
    return client.chat.completions.create(**({"model": MODEL, "messages": MSGS} | kw))


def _raw(fake: FakeOpenAI, method: str, path: str, body=None, *, auth: str | None = "Bearer sk-test"):
    """(status, parsed JSON body, headers) for a raw HTTP request, bypassing the client."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(fake.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


def _assert_error_shape(payload: dict) -> None:
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]


# --------------------------------------------------------------------------- chat completions


def test_scripted_contents_are_served_in_order_then_default(fake, client):
    fake.reply("first")
    fake.reply("second", model="gpt-override")
    assert fake.pending() == 2
    a = _chat(client)
    b = _chat(client)
    c = _chat(client)
    assert [a.choices[0].message.content, b.choices[0].message.content] == ["first", "second"]
    assert c.choices[0].message.content == "OK"  # script empty, no responder
    assert fake.pending() == 0
    assert a.model == MODEL and b.model == "gpt-override"
    assert a.object == "chat.completion" and a.id.startswith("chatcmpl-") and a.id != b.id
    assert isinstance(a.created, int) and abs(a.created - time.time()) < 60
    choice = a.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.message.role == "assistant" and choice.message.tool_calls is None
    assert choice.message.refusal is None


def test_raw_response_shape(fake):
    fake.reply("hi")
    status, body, headers = _raw(fake, "POST", "/v1/chat/completions", {"model": MODEL, "messages": MSGS})
    assert status == 200 and headers["x-request-id"].startswith("req_")
    assert set(body) >= {"id", "object", "created", "model", "choices", "usage"}
    msg = body["choices"][0]["message"]
    assert msg == {"role": "assistant", "content": "hi", "refusal": None}  # no tool_calls key at all
    assert body["choices"][0]["logprobs"] is None


def test_json_answer_and_default_json(fake, client):
    fake.reply(json={"label": "bug", "score": 0.5})
    r = _chat(client, response_format={"type": "json_object"})
    assert json.loads(r.choices[0].message.content) == {"label": "bug", "score": 0.5}
    r = _chat(client, response_format={"type": "json_object"})  # nothing scripted, JSON asked for
    assert r.choices[0].message.content == "{}"
    assert fake.chat_requests()[0]["response_format"] == {"type": "json_object"}


def test_json_and_content_together_is_refused(fake):
    with pytest.raises(ValueError):
        fake.reply("x", json={"a": 1})


def test_tool_call_round_trip(fake, client):
    fake.reply(
        tool_calls=[
            {"name": "add_label", "arguments": {"label": "bug", "issue": 7}},
            {"name": "raw", "arguments": '{"not": "re-encoded"', "id": "call_fixed"},
        ]
    )
    fake.reply("done")
    tools = [{"type": "function", "function": {"name": "add_label", "parameters": {"type": "object"}}}]
    r = _chat(client, tools=tools)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    first, second = choice.message.tool_calls
    assert first.type == "function" and first.id.startswith("call_")
    assert first.function.name == "add_label"
    assert json.loads(first.function.arguments) == {"label": "bug", "issue": 7}
    assert second.id == "call_fixed" and second.function.arguments == '{"not": "re-encoded"'  # verbatim
    # send the tool result back; the fake records it and serves the next scripted answer
    messages = MSGS + [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": first.id, "content": "labelled"},
    ]
    r2 = _chat(client, messages=messages, tools=tools)
    assert r2.choices[0].message.content == "done"
    sent = fake.chat_requests()[1]
    assert sent["tools"] == tools
    assert sent["messages"][1]["tool_calls"][0]["id"] == first.id
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": first.id, "content": "labelled"}


def test_finish_reason_can_be_scripted(fake, client):
    fake.reply("trunc", finish_reason="length")
    assert _chat(client).choices[0].finish_reason == "length"


def test_usage_is_computed_from_characters(fake, client):
    fake.reply("abcdefghi")  # 9 chars -> 3 tokens
    msgs = [
        {"role": "system", "content": "x" * 10},
        {"role": "user", "content": [{"type": "text", "text": "y" * 7}]},
    ]  # 17 chars -> 5 tokens
    u = _chat(client, messages=msgs).usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (5, 3, 8)
    fake.reply("")  # completion tokens are at least 1
    u = _chat(client, messages=[{"role": "user", "content": "abcd"}]).usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1, 1, 2)


def test_usage_can_be_scripted(fake, client):
    fake.reply("x", usage={"prompt_tokens": 100, "completion_tokens": 20})
    fake.reply("x", usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 99})
    u = _chat(client).usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (100, 20, 120)
    assert _chat(client).usage.total_tokens == 99


class Verdict(pydantic.BaseModel):
    label: str
    confidence: float


def test_json_schema_accepted_when_supported(fake, client):
    fake.reply(json={"label": "bug", "confidence": 0.9})
    parsed = client.chat.completions.parse(model=MODEL, messages=MSGS, response_format=Verdict)
    assert parsed.choices[0].message.parsed == Verdict(label="bug", confidence=0.9)
    rf = fake.chat_requests()[0]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Verdict"
    # nothing is enforced: invalid JSON is returned as scripted
    fake.reply("not json at all")
    r = _chat(client, response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": {}}})
    assert r.choices[0].message.content == "not json at all"


def test_json_schema_refused_when_unsupported():
    with FakeOpenAI(supports_json_schema=False) as fake, _client(fake) as client:
        fake.reply("never served")
        with pytest.raises(openai.BadRequestError) as exc:
            _chat(client, response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": {}}})
        assert exc.value.status_code == 400
        assert "json_schema is not supported" in exc.value.message
        assert exc.value.param == "response_format"
        # json_object mode still works, and the refused request did not consume the script
        r = _chat(client, response_format={"type": "json_object"})
        assert r.choices[0].message.content == "never served"


def test_json_mode_refused_when_unsupported():
    with FakeOpenAI(supports_json_mode=False) as fake, _client(fake) as client:
        with pytest.raises(openai.BadRequestError, match="json_object is not supported"):
            _chat(client, response_format={"type": "json_object"})
        fake.reply(json={"ok": True})
        r = _chat(client, response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": {}}})
        assert json.loads(r.choices[0].message.content) == {"ok": True}


def test_request_validation(fake):
    status, body, _ = _raw(fake, "POST", "/v1/chat/completions", {"messages": MSGS})
    assert status == 400 and "model" in body["error"]["message"]
    _assert_error_shape(body)
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] is None
    status, body, _ = _raw(fake, "POST", "/v1/chat/completions", {"model": MODEL})
    assert status == 400 and body["error"]["param"] == "messages"
    status, body, _ = _raw(fake, "POST", "/v1/chat/completions", {"model": MODEL, "messages": []})
    assert status == 400 and body["error"]["param"] == "messages"
    status, body, _ = _raw(fake, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400 and "parse the JSON body" in body["error"]["message"]
    status, body, _ = _raw(
        fake, "POST", "/v1/chat/completions", {"model": MODEL, "messages": MSGS, "response_format": {"type": "yaml"}}
    )
    assert status == 400 and body["error"]["param"] == "response_format.type"


def test_streaming_is_refused(fake, client):
    with pytest.raises(openai.BadRequestError, match="streaming not supported by the fake"):
        _chat(client, stream=True)


def test_responder_sees_the_request(fake, client):
    seen = []

    def responder(body):
        seen.append(body)
        last = body["messages"][-1]["content"]
        if last == "tool":
            return {"tool_calls": [{"name": "f", "arguments": {"q": last}}]}
        if last == "default":
            return None
        return last.upper()

    fake.responder = responder
    fake.reply("scripted first")  # the script wins while it lasts
    assert _chat(client, messages=[{"role": "user", "content": "echo"}]).choices[0].message.content == "scripted first"
    assert seen == []
    assert _chat(client, messages=[{"role": "user", "content": "echo"}]).choices[0].message.content == "ECHO"
    r = _chat(client, messages=[{"role": "user", "content": "tool"}], temperature=0.2)
    assert json.loads(r.choices[0].message.tool_calls[0].function.arguments) == {"q": "tool"}
    assert _chat(client, messages=[{"role": "user", "content": "default"}]).choices[0].message.content == "OK"
    assert len(seen) == 3 and seen[1]["temperature"] == 0.2 and seen[0]["model"] == MODEL


def test_responder_error_becomes_500(fake, client):
    fake.responder = lambda body: 1 / 0
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        _chat(client)


# --------------------------------------------------------------------------- faults


def test_rate_limit_once_then_normal_service(fake, client):
    fake.fail(429, headers={"retry-after": "1"})
    fake.reply("after the storm")
    with pytest.raises(openai.RateLimitError) as exc:
        _chat(client)
    assert exc.value.status_code == 429
    assert exc.value.response.headers["retry-after"] == "1"
    assert exc.value.code == "rate_limit_exceeded"
    assert _chat(client).choices[0].message.content == "after the storm"  # the fault did not eat the script
    assert [r["status"] for r in fake.requests] == [429, 200]


def test_client_retry_honours_retry_after_ms(fake):
    fake.fail(429, headers={"retry-after-ms": "150"})
    fake.reply("retried")
    with _client(fake, max_retries=1) as client:
        assert _chat(client).choices[0].message.content == "retried"
    first, second = fake.requests
    assert (first["status"], second["status"]) == (429, 200)
    assert first["headers"].get("x-stainless-retry-count") in (None, "0")


def test_server_error(fake, client):
    fake.fail(500, times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as exc:
            _chat(client)
        assert exc.value.status_code == 500 and exc.value.type == "server_error"
    assert _chat(client).choices[0].message.content == "OK"


def test_fail_with_custom_body_and_path(fake, client):
    fake.fail(
        400,
        body={
            "error": {
                "message": "context too long",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    )
    fake.fail(503, path="/v1/embeddings")
    with pytest.raises(openai.BadRequestError) as exc:
        _chat(client)
    assert exc.value.code == "context_length_exceeded" and exc.value.message.endswith("context too long")
    assert _chat(client).choices[0].message.content == "OK"  # the embeddings fault did not match chat
    with pytest.raises(openai.InternalServerError) as exc:
        client.embeddings.create(model="emb", input="x")
    assert exc.value.status_code == 503
    assert len(client.embeddings.create(model="emb", input="x").data) == 1


def test_hang_makes_the_client_time_out(fake):
    fake.hang(2)
    fake.reply("late")
    fake.reply("on time")
    with _client(fake, timeout=0.5) as client:
        with pytest.raises(openai.APITimeoutError):
            _chat(client)
        # the hung request consumed its scripted answer; the next one is served at once
        assert _chat(client).choices[0].message.content == "on time"
    assert len(fake.chat_requests()) == 2


def test_short_hang_is_just_slow(fake, client):
    fake.hang(0.3)
    start = time.monotonic()
    assert _chat(client).choices[0].message.content == "OK"
    assert time.monotonic() - start >= 0.3


def test_malformed_body(fake, client):
    fake.malformed()
    fake.reply("kept")
    # the client hands the JSON content type to the JSON decoder and lets its error through
    with pytest.raises(json.JSONDecodeError):
        _chat(client)
    assert _chat(client).choices[0].message.content == "kept"  # malformed did not consume the script
    # a non-JSON content type (a proxy's error page): the client returns the text itself
    fake.malformed(body="<html>502 Bad Gateway</html>", content_type="text/html")
    assert _chat(client) == "<html>502 Bad Gateway</html>"


# --------------------------------------------------------------------------- embeddings


def _norm(v) -> float:
    return math.sqrt(sum(x * x for x in v))


def test_embeddings_deterministic_unit_vectors(fake, client):
    a = client.embeddings.create(model="emb", input=["alpha", "beta", "alpha"])
    assert a.object == "list" and a.model == "emb"
    assert [d.index for d in a.data] == [0, 1, 2]
    v0, v1, v2 = (d.embedding for d in a.data)
    assert len(v0) == DEFAULT_EMBEDDING_DIMENSIONS
    assert v0 == v2 and v0 != v1
    assert abs(_norm(v0) - 1) < 1e-5 and abs(_norm(v1) - 1) < 1e-5
    again = client.embeddings.create(model="emb", input="alpha")  # a single string
    assert again.data[0].embedding == v0 == embedding_vector("alpha")
    # the client asks for base64 by default; the float encoding gives the same numbers
    assert fake.embedding_requests()[0]["encoding_format"] == "base64"
    floats = client.embeddings.create(model="emb", input="alpha", encoding_format="float")
    assert floats.data[0].embedding == v0
    assert a.usage.prompt_tokens == a.usage.total_tokens == 5  # ceil(len/4) per text: 2 + 1 + 2


def test_embeddings_dimensions(fake, client):
    r = client.embeddings.create(model="emb", input="gamma", dimensions=16)
    v = r.data[0].embedding
    assert len(v) == 16 and abs(_norm(v) - 1) < 1e-5
    assert v == embedding_vector("gamma", 16)
    status, body, _ = _raw(
        fake, "POST", "/v1/embeddings", {"model": "emb", "input": "x", "dimensions": 3, "encoding_format": "base64"}
    )
    assert status == 200
    decoded = struct.unpack("<3f", base64.b64decode(body["data"][0]["embedding"]))
    assert list(decoded) == embedding_vector("x", 3)


def test_embeddings_refuse_empty_input(fake, client):
    for bad in ("", [], [""]):
        with pytest.raises(openai.BadRequestError) as exc:
            client.embeddings.create(model="emb", input=bad)
        assert exc.value.param == "input"
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="emb", input="x", dimensions=0)


# --------------------------------------------------------------------------- auth, routing, log


def test_missing_auth_is_refused(fake):
    fake.reply("secret")
    with _client(fake, default_headers={"Authorization": ""}) as anon:
        with pytest.raises(openai.AuthenticationError) as exc:
            _chat(anon)
    assert exc.value.status_code == 401 and "didn't provide an API key" in exc.value.message
    status, body, _ = _raw(fake, "GET", "/v1/models", auth=None)
    assert status == 401
    _assert_error_shape(body)
    assert fake.pending() == 1  # refused requests consume nothing


def test_wrong_key_is_refused_when_a_key_is_set():
    with FakeOpenAI(api_key="sk-right") as fake:
        with _client(fake, api_key="sk-wrong-key") as bad, pytest.raises(openai.AuthenticationError) as exc:
            _chat(bad)
        assert exc.value.code == "invalid_api_key"
        with _client(fake, api_key="sk-right") as good:
            assert _chat(good).choices[0].message.content == "OK"


def test_models_and_unknown_paths(fake, client):
    ids = [m.id for m in client.models.list()]
    assert len(ids) >= 2 and "gpt-4o-mini" in ids
    assert client.models.retrieve(ids[0]).id == ids[0]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    status, body, _ = _raw(fake, "POST", "/v1/nowhere", {"x": 1})
    assert status == 404 and body["error"]["message"] == "Invalid URL (POST /v1/nowhere)"
    _assert_error_shape(body)


def test_request_log_records_everything(fake, client):
    fake.fail(500)
    with pytest.raises(openai.InternalServerError):
        _chat(client)
    _chat(client, messages=[{"role": "user", "content": "logged"}])
    client.embeddings.create(model="emb", input="e")
    _raw(fake, "GET", "/v1/unknown")
    log = fake.requests
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/v1/chat/completions", 500),
        ("POST", "/v1/chat/completions", 200),
        ("POST", "/v1/embeddings", 200),
        ("GET", "/v1/unknown", 404),
    ]
    assert all(set(r) >= {"method", "path", "headers", "json", "time"} for r in log)
    assert log[1]["headers"]["authorization"] == "Bearer sk-test"
    assert all(k == k.lower() for r in log for k in r["headers"])
    assert log[1]["json"]["messages"] == [{"role": "user", "content": "logged"}]
    assert log[3]["json"] is None
    times = [r["time"] for r in log]
    assert times == sorted(times)
    assert fake.chat_requests() == [log[0]["json"], log[1]["json"]]


def test_concurrent_requests_each_get_one_scripted_answer(fake):
    n = 40
    for i in range(n):
        fake.reply(f"answer-{i}")
    with _client(fake) as client:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda _: _chat(client).choices[0].message.content, range(n)))
    assert sorted(results) == sorted(f"answer-{i}" for i in range(n))
    assert fake.pending() == 0 and len(fake.requests) == n


def test_stop_refuses_further_connections():
    fake = FakeOpenAI().start()
    url = fake.url
    fake.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/v1/models", timeout=1)
