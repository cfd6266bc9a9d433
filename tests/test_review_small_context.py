"""A review on a small model (an 8k context) keeps every request within the context: the prompt
and the `max_tokens` it asks for (PETREL_MODEL_MAX_OUTPUT_TOKENS), however long the pull request's
description and the repository's rules are (shared/review/prompt.py: fit_reserved, chunk_budget);
and so does the summary's request on a small light model (shared/summary.py, Model.room).
"""

from __future__ import annotations

from gitrepo import commit, init
from test_review import make_model, model_server  # noqa: F401 - the fixture
from test_review_rules import big_module

from shared.github.pulls import LocalPull
from shared.repo_config.schema import DEFAULTS
from shared.review.intent import read_intent
from shared.review.plan import plan_review
from shared.summary import SUMMARY_SCHEMA, plan_summary


def test_long_intent_and_rules_give_way_on_an_8k_context(tmp_path, model_server):  # noqa: F811
    huge = "Rule: " + "be careful with every single line. " * 4000
    repo = init(
        tmp_path / "repo",
        {"AGENTS.md": huge, "src/AGENTS.md": huge, "src/engine.py": "y = 0\n", "tools/build.py": "z = 0\n"},
    )
    commit(repo, {"src/engine.py": big_module("engine", 50), "tools/build.py": big_module("build", 50)}, "big")
    context, output = 8192, 5500
    model = make_model(
        model_server, PETREL_MODEL_CONTEXT_TOKENS=str(context), PETREL_MODEL_MAX_OUTPUT_TOKENS=str(output)
    )
    pull = LocalPull(repo, "main", "feature", body="Description " * 20_000)
    _, report, _ = plan_review(pull, model, DEFAULTS, None)
    assert report.reviewed == ["src/engine.py", "tools/build.py"], report.not_reviewed
    requests = model_server.chat_requests()
    assert {r["response_format"]["json_schema"]["name"] for r in requests} >= {"findings"}
    for request in requests:
        assert request["max_tokens"] == output
        prompt = sum(model.estimate(m["content"]) for m in request["messages"])
        assert prompt + request["max_tokens"] <= context
    first = [r for r in requests if r["response_format"]["json_schema"]["name"] == "findings"][0]
    assert (
        "### src/engine.py" in first["messages"][-1]["content"]
        or "### tools/build.py" in first["messages"][-1]["content"]
    )


def test_the_summary_request_stays_within_an_8k_light_context(tmp_path, model_server):  # noqa: F811
    names = [f"src/part_{n:02}.py" for n in range(30)]  # many files: the summary takes as many as fit
    repo = init(tmp_path / "repo", {name: "y = 0\n" for name in names})
    commit(repo, {name: big_module(f"part_{n}", 12) for n, name in enumerate(names)}, "big")
    context = 8192
    model = make_model(model_server, PETREL_LIGHT_MODEL_CONTEXT_TOKENS=str(context))
    model_server.responder = lambda request: {"json": {"walkthrough": "A change.", "files": []}}
    pull = LocalPull(repo, "main", "feature", body="Description " * 20_000)
    plan_summary(pull.info(), pull.changes(), model, DEFAULTS, "Review pending.", read_intent(pull, model, "light"))
    [request] = [r for r in model_server.chat_requests() if r["response_format"]["json_schema"]["name"] == "summary"]
    assert request["response_format"]["json_schema"]["schema"] == SUMMARY_SCHEMA
    assert "### src/part_00.py" in request["messages"][-1]["content"]  # the diff was sent, as much as fits
    prompt = sum(model.estimate(m["content"], "light") for m in request["messages"])
    assert prompt + request["max_tokens"] <= context
