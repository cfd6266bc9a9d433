"""What a real model server needs from Petrel: a low temperature on every call, so that one diff
gets one review, and a bound on the requests it gets at once, across the whole process."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from gitrepo import commit, init
from test_review import make_model, model_server  # noqa: F401 - a fixture

from shared.github.pulls import LocalPull
from shared.repo_config.schema import DEFAULTS
from shared.review.plan import plan_review
from shared.runtime import scope, settings
from shared.runtime.scope import DeadlineExceeded
from shared.runtime.variables import SettingsError


@pytest.fixture
def server(model_server):  # noqa: F811 - the fixture of test_review
    return model_server


def every_kind_of_call(model) -> None:
    model.json("review", "s", "u", {"type": "object"}, "findings")
    model.text("light", "s", "u")
    model.chat("review", [{"role": "user", "content": "u"}], tools=[{"type": "function", "function": {"name": "t"}}])


def test_every_call_sends_a_low_temperature_by_default(server):
    every_kind_of_call(make_model(server))
    assert [r["temperature"] for r in server.chat_requests()] == [0.0, 0.0, 0.0]


def test_the_temperature_is_a_setting_and_default_sends_none(server):
    every_kind_of_call(make_model(server, PETREL_MODEL_TEMPERATURE="0.2"))
    assert [r["temperature"] for r in server.chat_requests()] == [0.2, 0.2, 0.2]
    every_kind_of_call(make_model(server, PETREL_MODEL_TEMPERATURE="default"))  # models that take no other
    assert ["temperature" in r for r in server.chat_requests()[3:]] == [False, False, False]


@pytest.mark.parametrize("value", ["-0.1", "2.5", "nan", "warm"])
def test_a_temperature_out_of_range_is_refused_at_start(value):
    with pytest.raises(SettingsError, match="PETREL_MODEL_TEMPERATURE"):
        settings.from_env({"PETREL_MODEL_TEMPERATURE": value})


def test_the_concurrency_setting_is_checked():
    assert settings.from_env({}).model_concurrency == 4
    with pytest.raises(SettingsError, match="PETREL_MODEL_CONCURRENCY='0' must be at least 1"):
        settings.from_env({"PETREL_MODEL_CONCURRENCY": "0"})


def many_chunks(tmp_path):
    """A pull request of six files, each too large to share a chunk with another."""
    files = {f"app/mod_{n}.py": "".join(f"def f_{i}():\n    return {i}\n" for i in range(60)) for n in range(6)}
    repo = init(tmp_path / "repo", files)
    commit(repo, {path: text.replace("return", "return 1 +") for path, text in files.items()}, "change")
    return LocalPull(repo, "main", "feature")


@pytest.mark.parametrize("limit", [1, 3])
def test_a_review_in_parallel_sends_no_more_requests_at_once_than_the_server_takes(tmp_path, server, limit):
    pull = many_chunks(tmp_path)
    server.delay = 0.2  # each answer takes a while, so parallel chunks overlap at the server
    config = replace(DEFAULTS, review=replace(DEFAULTS.review, concurrency=4, triage=False))
    model = make_model(server, PETREL_MODEL_CONCURRENCY=str(limit), PETREL_MODEL_CONTEXT_TOKENS="2048")
    _, report, _ = plan_review(pull, model, config, None)
    assert report.chunks >= 4 and len(report.reviewed) == 6
    assert server.max_in_flight <= limit
    assert server.max_in_flight > 1 or limit == 1  # the chunks did run in parallel where they could


def test_waiting_for_a_busy_server_stops_at_the_jobs_deadline(server):
    server.delay = 1.0
    holder = make_model(server, PETREL_MODEL_CONCURRENCY="1")
    busy = threading.Thread(target=holder.text, args=("review", "s", "the one the server is busy with"))
    busy.start()
    while not server.chat_requests():  # the first call holds the only slot
        threading.Event().wait(0.01)
    try:
        with scope.working_on("d-1", timeout_seconds=0.1):
            with pytest.raises(DeadlineExceeded):
                make_model(server, PETREL_MODEL_CONCURRENCY="1").text("review", "s", "never sent")
    finally:
        busy.join()
    assert [r["messages"][-1]["content"] for r in server.chat_requests()] == ["the one the server is busy with"]
