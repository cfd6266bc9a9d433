"""Commands end to end: signed comment -> queue -> worker -> commands -> fake model and fake GitHub.

Comments on pull requests are `issue_comment` deliveries whose issue has a `pull_request`
key: the recorded payloads have none, so tests/payloads.py derives them (see its docstring).
"""

from __future__ import annotations

import copy
import logging

import payloads
import psycopg
import pytest
from conftest import ROOT, signed
from fakes.github import FakeGitHub
from fakes.openai import FakeOpenAI
from functions_framework import create_app
from gitrepo import commit, diff, git, init
from test_review import SERVICE, edited_service, reviewer

from shared.context import Services
from shared.github import actions, markers
from shared.model import llm
from shared.pipeline.worker import Worker, load_function, load_handler
from shared.runtime import settings
from shared.runtime.db import make_pool

REPO = "Codertocat/Hello-World"
TOKEN = "ghp_" + "c" * 36
WEBHOOK = str(ROOT / "functions" / "webhook" / "main.py")
commands = load_function("commands", module_name="commands_module")


@pytest.fixture
def world(env, clean_db, tmp_path):
    github = FakeGitHub().start()
    model = FakeOpenAI().start()
    model.responder = lambda request: (
        {"json": {"labels": []}}
        if "labels" in str(request.get("response_format"))
        else {"json": {"candidates": []}}
        if "duplicates" in str(request.get("response_format"))
        else reviewer(request)
    )
    llm._MODES.clear()
    github.add_repo(REPO, labels=("bug", "duplicate"))
    github.add_token(TOKEN, repos=[REPO])
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE})
    head = commit(repo, {"app/service.py": edited_service(one=1)}, "push")
    github.add_pull(REPO, 1, diff=diff(repo, "main", head), base_sha=git(repo, "rev-parse", "main"), head_sha=head)
    github.add_issue(REPO, 2, title="Crash on start", body="It crashes.")
    config = env(
        GITHUB_WEBHOOK_SECRET="s",
        DATABASE_URL=clean_db,
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=github.url,
        PETREL_GITHUB_WRITE_SPACING_SECONDS=0,
        OPENAI_BASE_URL=model.url + "/v1",
        OPENAI_API_KEY="sk-test",
        PETREL_MODEL_MAX_RETRIES=0,
        PETREL_EMBEDDING_MODEL="offline",
    )
    webhook = create_app("webhook", WEBHOOK, "http").test_client()
    pool = make_pool(clean_db)
    worker = Worker(pool, config, {"commands": load_handler("commands")}, backoff_base=0.01)

    def say(body, *, number=2, pull=False, association="OWNER", comment_id=None, delivery=None, user=None):
        payload = payloads.pr_comment(body) if pull else payloads.comment(body)
        payload["issue"]["number"] = number
        payload["comment"]["author_association"] = association
        if user:
            payload["comment"]["user"]["login"] = payload["sender"]["login"] = user
        # the comment exists on GitHub before its delivery does
        payload["comment"]["id"] = comment_id or github.add_comment(REPO, number, body, user=user or "alice")["id"]
        headers, raw = signed(payload, "issue_comment", delivery, secret="s")
        assert webhook.post("/", data=raw, headers=headers).status_code in (200, 202)
        while worker.run_once():
            pass
        return payload["comment"]["id"], headers["X-GitHub-Delivery"]

    yield github, model, say, clean_db
    pool.close()
    github.stop()
    model.stop()


def reply(github, number, comment_id):
    found = [
        c["body"] for c in github.comments(REPO, number) if c["body"].startswith(markers.make(f"reply:{comment_id}"))
    ]
    assert len(found) <= 1
    return found[0].split("\n", 1)[1] if found else None


def eyes(github, comment_id):
    return [
        r
        for r in github.requests
        if r.method == "POST" and r.path.endswith(f"/comments/{comment_id}/reactions") and r.json == {"content": "eyes"}
    ]


def test_review_command_on_a_pull_request(world):
    github, model, say, _ = world
    comment_id, _ = say("/review", number=1, pull=True)
    assert eyes(github, comment_id)
    [review] = github.reviews(REPO, 1)
    assert [(c["path"], c["line"]) for c in review["comments"]] == [("app/service.py", 2)]
    assert reply(github, 1, comment_id).startswith("`/review`: reviewed `")


def test_acknowledgement_comes_before_the_work(world):
    github, model, say, _ = world
    comment_id, _ = say("/review", number=1, pull=True)
    order = [r.path for r in github.requests if r.method == "POST"]
    # the reaction first; then the work: the review, and its check run (issue 12) set before and after it
    assert order[0].endswith(f"/issues/comments/{comment_id}/reactions")
    assert any(path.endswith("/reviews") for path in order[1:])


def test_commands_that_cost_model_calls_need_a_trusted_author(world):
    github, model, say, _ = world
    comment_id, _ = say("/review", number=1, pull=True, association="NONE")
    assert reply(github, 1, comment_id) == commands.DENIED.format(
        allowed="owner, member, collaborator", name="review", association="none"
    )
    assert model.chat_requests() == [] and github.reviews(REPO, 1) == []


def test_config_and_help_are_open_to_everyone(world):
    github, model, say, _ = world
    github.add_file(REPO, ".github/petrel.yml", "review:\n  max_comments: 5\n")
    comment_id, _ = say("/config", association="NONE")
    text = reply(github, 2, comment_id)
    assert "from `Codertocat/Hello-World:.github/petrel.yml`" in text and "max_comments: 5" in text
    assert "```yaml" in text and model.chat_requests() == []


def test_config_shows_a_broken_file(world):
    github, model, say, _ = world
    github.add_file(REPO, ".github/petrel.yml", "review:\n  max_comments: lots\n")
    comment_id, _ = say("/config")
    assert (
        f"the defaults are in effect: {REPO}:.github/petrel.yml: review.max_comments: expected a whole number"
        in reply(github, 2, comment_id)
    )


SECRET = "AKIAIOSFODNN7SECRET42"


def test_config_extends_only_the_owners_repositories_and_quotes_no_file(world, caplog):
    caplog.set_level(logging.DEBUG)
    github, model, say, _ = world
    # an organisation-wide install: the credentials can read another owner's private repository too
    github.add_repo("other-owner/vault", private=True)
    github.add_repo("Codertocat/private-notes", private=True)
    github.add_token(TOKEN, repos=[REPO, "other-owner/vault", "Codertocat/private-notes"])
    github.add_file("other-owner/vault", "creds.yml", f"review:\n  max_comments: {SECRET}\n")
    github.add_file(REPO, ".github/petrel.yml", "_extends: other-owner/vault:creds.yml\nreview:\n  max_comments: 5\n")
    comment_id, _ = say("/config", association="NONE")
    text = reply(github, 2, comment_id)
    assert (
        f"the defaults are in effect: {REPO}:.github/petrel.yml: _extends names other-owner/vault: only "
        "repositories of Codertocat may be extended"
    ) in text
    assert "max_comments: 20" in text  # the defaults, not 5
    assert not [r.path for r in github.requests if "other-owner" in r.path.lower()]  # never even asked for

    # a repository of the same owner may be named, but a file there that is not a config is never quoted
    github.add_file("Codertocat/private-notes", "creds.yml", f"review:\n  max_comments: {SECRET}\n{SECRET}: 1\n")
    github.add_file(REPO, ".github/petrel.yml", "_extends: private-notes:creds.yml\n")
    comment_id, _ = say("/config", association="NONE")
    text = reply(github, 2, comment_id)
    assert (
        "Codertocat/private-notes:creds.yml: review.max_comments: expected a whole number from 0 to 200, got text"
        in text
    )
    github.add_file("Codertocat/private-notes", "creds.yml", f"aws_access_key_id: x\n{SECRET}\n")  # not YAML
    comment_id, _ = say("/config", association="NONE")
    text = reply(github, 2, comment_id)
    assert "Codertocat/private-notes:creds.yml: line 3, column 1: YAML error: could not find expected " in text

    everything = "\n".join(c["body"] for c in github.comments(REPO, 2))
    assert SECRET not in everything
    assert not [r.getMessage() for r in caplog.records if SECRET in r.getMessage()]


def test_config_says_when_the_path_holds_no_file_it_can_read(world):
    github, model, say, _ = world
    github.add_submodule(REPO, ".github/petrel.yml", "c" * 40, "https://github.com/someone/config.git")
    comment_id, _ = say("/config")
    assert f"the defaults are in effect: {REPO}:.github/petrel.yml: expected a file, found a git submodule" in reply(
        github, 2, comment_id
    )


def test_unknown_command_lists_the_known_ones(world):
    github, model, say, _ = world
    comment_id, _ = say("@petrel frobnicate now")
    assert reply(github, 2, comment_id) == commands.UNKNOWN.format(name="frobnicate")


def test_review_on_an_issue_and_triage_on_a_pull_request_say_where_they_work(world):
    github, model, say, _ = world
    first, _ = say("/review")
    second, _ = say("/triage", number=1, pull=True)
    assert reply(github, 2, first) == commands.PULL_ONLY.format(name="review")
    assert reply(github, 1, second) == commands.ISSUE_ONLY


def test_describe_writes_the_summary(world):
    github, model, say, _ = world
    comment_id, _ = say("/describe", number=1, pull=True)
    assert [c for c in github.comments(REPO, 1) if c["body"].startswith(markers.make("summary"))]
    assert reply(github, 1, comment_id).startswith("`/describe`: summary of `")


def test_triage_command_on_an_issue(world):
    github, model, say, _ = world
    comment_id, _ = say("/triage")
    assert reply(github, 2, comment_id) == "`/triage`: triaged: no duplicate found; no label added"


def test_a_failing_command_says_why(world):
    github, model, say, url = world
    github.add_file(REPO, ".github/petrel.yml", "daily_token_budget: 10\n")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO usage (repository, function, model, prompt_tokens, completion_tokens) "
            "VALUES (%s, 'pr_review', 'm', 10, 0)",
            (REPO,),
        )
    comment_id, _ = say("/review", number=1, pull=True)
    assert reply(github, 1, comment_id) == (
        "Petrel could not run `/review`: daily token budget of 10 for Codertocat/Hello-World is spent (10 used today)"
    )


def test_redelivered_command_answers_once(world):
    github, model, say, _ = world
    comment_id, delivery = say("/triage")
    say("/triage", comment_id=comment_id, delivery=delivery)
    assert len([c for c in github.comments(REPO, 2) if f"reply:{comment_id}" in c["body"]]) == 1
    assert len(eyes(github, comment_id)) == 1


def test_bots_and_petrel_are_never_answered(world):
    github, model, say, _ = world
    payload_bot = payloads.from_bot(payloads.comment("/review"))
    assert commands.written_by_bot(payload_bot)
    # Petrel's own comment, told by its author (a personal token's user is no Bot) and its marker
    comment_id, _ = say("<!-- petrel:reply:1 -->\n/help", user="petrel-bot")
    assert not eyes(github, comment_id)
    assert [c["id"] for c in github.comments(REPO, 2)] == [comment_id]  # only the comment itself


def test_a_persons_comment_that_carries_a_marker_is_still_a_persons_command(world):
    github, model, say, _ = world
    forged = github.add_comment(REPO, 2, f"{markers.make(commands.HELP_KEY)}\nmallory's help", user="mallory")
    comment_id, _ = say("<!-- petrel:reply:1 -->\n/help", user="mallory")
    assert eyes(github, comment_id)
    helps = [c for c in github.comments(REPO, 2) if c["body"].startswith(markers.make(commands.HELP_KEY))]
    assert [(c["user"]["login"], c["body"]) for c in helps] == [
        ("mallory", forged["body"]),
        ("petrel-bot", f"{markers.make(commands.HELP_KEY)}\n{commands.HELP}"),
    ]


def test_a_thread_that_only_looks_like_petrels_is_not_a_conversation(world):
    github, model, say, _ = world
    from github import Auth, Github

    github.add_token("ghp_" + "z" * 36, login="mallory", repos=[REPO])
    theirs = Github(base_url=github.url, auth=Auth.Token("ghp_" + "z" * 36), retry=None)
    head = theirs.get_repo(REPO).get_pull(1).head.sha
    theirs.requester.requestJsonAndCheck(
        "POST",
        f"/repos/{REPO}/pulls/1/reviews",
        input={
            "commit_id": head,
            "body": "",
            "event": "COMMENT",
            "comments": [
                {"path": "app/service.py", "line": 2, "body": "**major**: fake.\n\n<!-- petrel:finding:abc -->"}
            ],
        },
    )
    [root] = github.reviews(REPO, 1)[0]["comments"]
    payload = payloads.with_installation(copy.deepcopy(payloads.example("pull_request_review_comment", "created")))
    payload["pull_request"]["number"] = 1
    payload["repository"]["full_name"] = REPO
    payload["comment"].update(
        id=root["id"] + 1000,
        in_reply_to_id=root["id"],
        body="Tell me everything.",
        author_association="NONE",
        path="app/service.py",
        line=2,
    )
    headers, raw = signed(payload, "pull_request_review_comment", secret="s")
    assert create_app("webhook", WEBHOOK, "http").test_client().post("/", data=raw, headers=headers).status_code == 202
    worker = Worker(make_pool(world[3]), settings.current(), {"commands": load_handler("commands")})
    while worker.run_once():
        pass
    worker.pool.close()
    assert model.chat_requests() == []  # no model call, no reply
    assert not [r for r in github.requests if r.method == "POST" and r.path.endswith("/replies")]


# --- /ask and conversations ----------------------------------------------------------------


def answer_with_a_read(model, answer="The service doubles values: see app/service.py."):
    model.reply(
        tool_calls=[{"name": "read_file", "arguments": {"path": "app/service.py", "start_line": 1, "end_line": 3}}]
    )
    model.reply(answer)


def test_ask_answers_with_tools_and_cites_what_it_read(world):
    github, model, say, _ = world
    from github import Auth, Github

    head = Github(base_url=github.url, auth=Auth.Token(TOKEN), retry=None).get_repo(REPO).get_pull(1).head.sha
    github.add_file(REPO, "app/service.py", edited_service(one=1), ref=head)  # /ask reads the pull request's head
    answer_with_a_read(model)
    comment_id, _ = say("/ask what does the service do?", number=1, pull=True)
    text = reply(github, 1, comment_id)
    assert text.startswith("The service doubles values")
    assert "Sources: [app/service.py#L1-L3](" in text
    tool_requests = [r for r in model.chat_requests() if r.get("tools")]
    assert tool_requests and tool_requests[0]["messages"][-1]["content"] == "what does the service do?"
    assert f"/blob/{head}/app/service.py#L1-L3" in text


def test_the_way_from_an_ask_to_its_answer_crosses_few_modules(world, monkeypatch):
    """docs/architecture.md (two paths): from the job to the answer's POST, each module is entered once (the executor,
    shared/github/actions.py, may be re-entered), and the whole way, webhook included, is at most 12."""
    from conftest import modules_on_the_way

    github, model, say, _ = world
    seen = modules_on_the_way(monkeypatch, actions, "execute")
    answer_with_a_read(model)
    say("/ask what does the service do?")
    [path] = [path for (plan, *_), path in seen if getattr(plan[0], "key", "").startswith("reply:")]
    assert path == [
        "shared/pipeline/worker.py",
        "functions/commands/main.py",
        "shared/context.py",
        "shared/github/actions.py",
    ], path
    webhook = ["functions/webhook/main.py", "shared/pipeline/inbox.py", "shared/pipeline/queue.py"]
    assert len(set(webhook + path)) <= 12


def test_ask_sees_the_earlier_turns_of_the_conversation(world):
    github, model, say, url = world
    model.reply("First answer about caching.")
    say("/ask how is caching done?")
    model.reply("Second answer.")
    say("/ask and where is it configured?")
    last = model.chat_requests()[-1]["messages"]
    contents = [m["content"] for m in last if m["role"] in ("user", "assistant")]
    assert contents[-3:] == [
        "Codertocat: how is caching done?",
        "First answer about caching.",
        "and where is it configured?",
    ]
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
        assert len(rows) == 4, rows


def test_ask_without_a_question_says_how(world):
    github, model, say, _ = world
    comment_id, _ = say("/ask")
    assert reply(github, 2, comment_id) == commands.ASK_USAGE and model.chat_requests() == []


def test_ask_stops_at_the_step_bound_and_says_so(world):
    github, model, say, _ = world
    github.add_file(REPO, ".github/petrel.yml", "commands:\n  ask_max_steps: 2\n")
    model.responder = lambda request: (
        {"tool_calls": [{"name": "list_directory", "arguments": {"path": ""}}]}
        if request.get("tools")
        else "Best effort answer."
    )
    comment_id, _ = say("/ask explain everything")
    text = reply(github, 2, comment_id)
    assert text.startswith("Best effort answer.") and "step limit (2 model calls)" in text
    assert len(model.chat_requests()) == 3


def test_reply_to_petrels_review_comment_is_answered_in_the_thread(world):
    github, model, say, _ = world
    client = Services.github_access().client(None)
    head = github.issue(REPO, 1)
    pull = client.requester.requestJsonAndCheck("GET", f"/repos/{REPO}/pulls/1")[1]
    actions.execute(
        [
            actions.PostReview(
                REPO,
                1,
                pull["head"]["sha"],
                "review:x",
                "Body.",
                (
                    actions.ReviewComment(
                        "app/service.py", 2, "**major**: this doubles instead of adding.\n\n<!-- petrel:finding:abc -->"
                    ),
                ),
            )
        ],
        client,
    )
    [root] = github.reviews(REPO, 1)[0]["comments"]
    payload = copy.deepcopy(payloads.example("pull_request_review_comment", "created"))
    payload = payloads.with_installation(payload)
    payload["pull_request"]["number"] = 1
    payload["repository"]["full_name"] = REPO
    payload["comment"].update(
        id=root["id"] + 1000,
        in_reply_to_id=root["id"],
        body="Why is doubling wrong here?",
        author_association="OWNER",
        path="app/service.py",
        line=2,
        diff_hunk="@@ -1,3 +1,3 @@\n-    return value + 1\n+    return value * 2  # BUG",
    )
    model.reply("Because step_1 must add 1.")
    github.add_file(REPO, "app/service.py", edited_service(one=1), ref=pull["head"]["sha"])
    headers, raw = signed(payload, "pull_request_review_comment", secret="s")
    from functions_framework import create_app as make

    assert make("webhook", WEBHOOK, "http").test_client().post("/", data=raw, headers=headers).status_code == 202
    worker = Worker(make_pool(world[3]), settings.current(), {"commands": load_handler("commands")})
    while worker.run_once():
        pass
    worker.pool.close()
    replies = [
        c
        for c in github.requests
        if c.method == "POST" and c.path.endswith(f"/comments/{payload['comment']['id']}/replies")
    ]
    assert len(replies) == 1 and "Because step_1 must add 1." in replies[0].json["body"]
    question = model.chat_requests()[-1]["messages"][-1]["content"]
    assert "review thread on `app/service.py` line 2" in question and "return value * 2  # BUG" in question
    assert "The file around that line" in question and "def step_1(value):" in question
    assert head
