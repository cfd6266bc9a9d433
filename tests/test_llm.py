"""shared/model/llm against the fake OpenAI-compatible server, with the real openai client."""

from __future__ import annotations

import pytest
from fakes.openai import FakeOpenAI

from shared.model import llm
from shared.model.llm import BudgetExceeded, Model, ModelError, UsageLedger
from shared.model.usage import PostgresLedger
from shared.runtime import scope as context
from shared.runtime import settings
from shared.runtime.scope import RetryLater

SCHEMA = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
        }
    },
}


class Ledger(UsageLedger):
    def __init__(self, spent: int = 0):
        self.rows, self.spent = [], spent

    def record(self, *row):
        self.rows.append(row)

    def spent_today(self, repository):
        return self.spent


@pytest.fixture
def fake():
    server = FakeOpenAI().start()
    llm._MODES.clear()
    yield server
    server.stop()
    llm._MODES.clear()


def model(fake, ledger=None, budget=None, **env) -> Model:
    values = {
        "OPENAI_BASE_URL": fake.url + "/v1",
        "OPENAI_API_KEY": "sk-test",
        "PETREL_MODEL": "big",
        "PETREL_LIGHT_MODEL": "small",
        "PETREL_MODEL_MAX_RETRIES": "0",
        "PETREL_MODEL_PRICE": "2/8",
        **env,
    }
    return Model(
        settings.from_env(values),
        function="pr_review",
        repository="o/r",
        ledger=ledger or Ledger(),
        daily_budget=budget,
    )


def test_no_model_configured_is_a_clear_error():
    with pytest.raises(ModelError, match="set OPENAI_API_KEY or OPENAI_BASE_URL"):
        Model(settings.from_env({}), function="pr_review")


def test_json_schema_answer_is_validated_and_usage_recorded(fake):
    ledger = Ledger()
    fake.reply(json={"items": [{"n": 1}, {"n": 2}]}, usage={"prompt_tokens": 1000, "completion_tokens": 10})
    answer = model(fake, ledger).json("review", "system", "user text", SCHEMA, "items")
    assert answer == {"items": [{"n": 1}, {"n": 2}]}
    request = fake.chat_requests()[0]
    assert request["model"] == "big" and request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"] == SCHEMA
    assert ledger.rows == [("o/r", "pr_review", "big", 1000, 10, (1000 * 2 + 10 * 8) / 1_000_000)]


@pytest.mark.parametrize("status", [422, 500])
def test_a_server_that_refuses_the_format_with_another_status_gets_json_mode(fake, status):
    # llama-cpp-python's server answers a json_schema format with 500 "Input should be 'text' or 'json_object'"
    fake.stop()
    server = FakeOpenAI(supports_json_schema=False, refuses_format_with=status).start()
    try:
        server.reply(json={"items": []})
        assert model(server).json("review", "system", "user", SCHEMA, "items") == {"items": []}
        formats = [r.get("response_format", {}).get("type") for r in server.chat_requests()]
        assert formats == ["json_schema", "json_object"]
    finally:
        server.stop()


def test_a_server_error_that_is_not_about_the_format_shows_the_servers_message(fake):
    fake.fail(500, body={"error": {"message": "CUDA out of memory", "type": "server_error"}})
    with pytest.raises(ModelError, match="CUDA out of memory"):
        model(fake).json("review", "system", "user", SCHEMA, "items")
    assert [r.get("response_format", {}).get("type") for r in fake.chat_requests()] == ["json_schema"]


def test_light_task_uses_the_light_model(fake):
    fake.reply("fine")
    assert model(fake).text("light", "s", "u") == "fine"
    assert fake.chat_requests()[0]["model"] == "small"


def test_servers_without_json_schema_get_json_mode_then_plain_text(fake):
    fake.stop()
    plain = FakeOpenAI(supports_json_schema=False, supports_json_mode=False).start()
    try:
        plain.reply('Sure! ```json\n{"items": []}\n```')
        assert model(plain).json("review", "system", "user", SCHEMA, "items") == {"items": []}
        formats = [r.get("response_format", {}).get("type") for r in plain.chat_requests()]
        assert formats == ["json_schema", "json_object", None]
        assert "JSON Schema" in plain.chat_requests()[-1]["messages"][0]["content"]
        plain.reply(json={"items": []})
        model(plain).json("review", "system", "user", SCHEMA, "items")
        assert plain.chat_requests()[-1].get("response_format") is None  # the mode was remembered
    finally:
        plain.stop()


def test_invalid_answer_is_repaired_once(fake):
    fake.reply(json={"items": [{"n": "one"}]})
    fake.reply(json={"items": [{"n": 1}]})
    assert model(fake).json("review", "s", "u", SCHEMA, "items") == {"items": [{"n": 1}]}
    repair = fake.chat_requests()[1]["messages"]
    assert repair[-1]["role"] == "user" and "$.items[0].n: expected integer" in repair[-1]["content"]


def test_garbage_twice_is_a_model_error(fake):
    fake.reply("I cannot do that")
    fake.reply('{"items": ')
    with pytest.raises(ModelError, match="invalid items twice"):
        model(fake).json("review", "s", "u", SCHEMA, "items")


def test_custom_validation_failures_are_repaired_too(fake):
    fake.reply(json={"items": [{"n": -5}]})
    fake.reply(json={"items": [{"n": 5}]})

    def positive(answer):
        if any(item["n"] < 0 for item in answer["items"]):
            raise ValueError("n must be positive")
        return answer

    assert model(fake).json("review", "s", "u", SCHEMA, "items", validate=positive) == {"items": [{"n": 5}]}


def test_rate_limit_that_outlasts_retries_reschedules_the_job(fake):
    fake.fail(429, headers={"retry-after": "30"})
    with pytest.raises(RetryLater) as later:
        model(fake).text("review", "s", "u")
    assert later.value.seconds == 30


def test_rate_limit_within_retries_is_waited_out(fake):
    fake.fail(429, headers={"retry-after-ms": "10"})
    fake.reply("after the wait")
    assert model(fake, PETREL_MODEL_MAX_RETRIES="2").text("review", "s", "u") == "after the wait"
    assert [r["status"] for r in fake.requests if r["path"] == "/v1/chat/completions"] == [429, 200]


@pytest.mark.parametrize("fault", ["500", "timeout", "malformed"])
def test_unavailable_model_is_a_model_error(fake, fault):
    if fault == "500":
        fake.fail(500)
    elif fault == "timeout":
        fake.hang(3)
    else:
        fake.malformed()
    with pytest.raises(ModelError):
        model(fake, PETREL_MODEL_TIMEOUT_SECONDS="1").text("review", "s", "u")


def test_budget_spent_stops_calls_before_they_are_made(fake):
    with pytest.raises(BudgetExceeded) as error:
        model(fake, Ledger(spent=5000), budget=5000).text("review", "s", "u")
    assert error.value.budget == 5000 and "o/r" in str(error.value)
    assert fake.chat_requests() == []


def test_every_request_names_the_delivery(fake):
    fake.reply("ok")
    with context.working_on("delivery-42"):
        model(fake).text("review", "s", "u")
    assert fake.chat_requests() and fake.requests[-1]["headers"]["x-petrel-delivery"] == "delivery-42"


def test_token_estimate_learns_from_usage(fake):
    text = "word " * 400  # 2,000 characters: 500 tokens by the default estimate
    estimator = llm.TokenEstimator()
    assert estimator.estimate(text, "m") == 500
    estimator.learn("m", 2000, 1000)  # the server counted 2 characters a token
    learned = estimator.estimate(text, "m")
    assert learned > 500
    estimator.learn("m", 100, 1)  # too small a sample: ignored
    assert estimator.estimate(text, "m") == learned
    assert estimator.estimate(text, "other") == 500  # per model


def test_schema_check_messages():
    with pytest.raises(llm.SchemaError, match=r"\$.items\[1\]: missing 'n'"):
        llm.check({"items": [{"n": 1}, {}]}, SCHEMA)
    with pytest.raises(llm.SchemaError, match="expected integer"):
        llm.check({"items": [{"n": True}]}, SCHEMA)
    with pytest.raises(llm.SchemaError, match="is not one of"):
        llm.check("x", {"type": "string", "enum": ["a"]})


def test_postgres_ledger_sums_today_per_repository(clean_db):
    from shared.runtime.db import make_pool

    pool = make_pool(clean_db)
    try:
        ledger = PostgresLedger(pool)
        with context.working_on("d-7"):
            ledger.record("o/r", "pr_review", "big", 100, 20, 0.5)
        ledger.record("o/r", "pr_summary", "small", 30, 5, 0.1)
        ledger.record("o/other", "pr_review", "big", 999, 1, 0.1)
        assert ledger.spent_today("o/r") == 155
        assert ledger.spent_today("o/none") == 0
        with pool.connection() as conn:
            conn.execute("UPDATE usage SET created_at = now() - interval '2 days' WHERE function = 'pr_summary'")
            assert (
                conn.execute(
                    "SELECT delivery_id FROM usage WHERE function = 'pr_review' AND repository = 'o/r'"
                ).fetchone()[0]
                == "d-7"
            )
        assert ledger.spent_today("o/r") == 120
    finally:
        pool.close()


def test_chat_offers_tools_and_returns_tool_calls(fake):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
            },
        }
    ]
    fake.reply(tool_calls=[{"name": "read_file", "arguments": {"path": "README.md"}}])
    message = model(fake).chat("review", [{"role": "user", "content": "What is this?"}], tools)
    assert fake.chat_requests()[0]["tools"] == tools
    [call] = message.tool_calls
    assert call.function.name == "read_file" and call.function.arguments == '{"path": "README.md"}'


def test_no_model_call_once_the_deadline_has_passed(fake):
    with context.working_on("d-late", timeout_seconds=0), pytest.raises(context.DeadlineExceeded):
        model(fake).text("review", "s", "u")
    assert fake.requests == []


def test_a_model_call_and_its_retries_stop_at_the_deadline(fake):
    fake.hang(3, times=3)  # answers well within the 120 s timeout, but after the job's deadline
    slow = model(fake, PETREL_MODEL_TIMEOUT_SECONDS="120", PETREL_MODEL_MAX_RETRIES="2")
    with context.working_on("d-short", timeout_seconds=1.5), pytest.raises(ModelError, match="APITimeoutError"):
        slow.text("review", "s", "u")


def test_no_model_call_once_the_lease_is_lost(fake):
    lease = context.Lease(60)
    lease.lose("another worker took the job back")
    with context.working_on("d-taken", timeout_seconds=600, lease=lease), pytest.raises(context.LeaseLost):
        model(fake).text("review", "s", "u")
    assert fake.requests == []
