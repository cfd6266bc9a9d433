"""The check run "Petrel review", end to end: signed delivery -> queue -> worker -> pr_review -> fake GitHub.

As a GitHub App (installation 1, `checks: write`), the review sets its check run in progress, then
completes it with the findings by severity and the files not reviewed, `neutral` or `failure` by
`review.fail_on`. With a single token (GitHub refuses check runs to anything but an App) a commit
status stands in; refused that too, the review is posted all the same and the log says why once.
"""

from __future__ import annotations

import logging

import psycopg
import pytest
from test_pr_functions import REPO, world  # noqa: F401 (the world fixture: webhook, worker, fakes)
from test_review import edited_service, reviewer

from shared.context import Services
from shared.github import actions, checks
from shared.repo_config.schema import SEVERITIES
from shared.review import check_run
from shared.runtime import settings


def severe(request: dict):
    """The fake reviewer, with the severity each bug names (`# BUG critical`)."""
    answer = reviewer(request)
    for finding in (answer.get("json") or {}).get("findings") or []:
        named = finding["body"].split("BUG ")[-1].split()[0]
        finding["severity"] = named if named in SEVERITIES else finding["severity"]
    return answer


@pytest.fixture
def app_world(world, app_key, monkeypatch):  # noqa: F811 (the imported fixture)
    """The same world with Petrel as a GitHub App installed on the repository, not a single token."""
    world.github.set_app_key(app_key[1])
    world.github.add_repo(REPO, installation_id=1)  # the same repository (still empty), now with the App on it
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("GITHUB_APP_ID", str(world.github.app_id))
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", app_key[0])
    settings.reset()
    Services.reset()
    world.model.responder = severe
    return world


@pytest.fixture(autouse=True)
def untold(monkeypatch):
    """Each test is a fresh process as far as 'said once' goes."""
    monkeypatch.setattr(checks, "_told", set())


def check_requests(place) -> list[tuple[str, str | None]]:
    """(method, status sent) of each write to a check run, in order."""
    return [
        (r.method, r.json.get("status"))
        for r in place.github.requests
        if r.method in ("POST", "PATCH") and "/check-runs" in r.path
    ]


def writes(place) -> list[str]:
    """Each write to GitHub, named by what it wrote, in order."""
    names = {"check-runs": "check", "reviews": "review", "statuses": "status"}
    return [
        next((name for part, name in names.items() if f"/{part}" in r.path), r.path)
        for r in place.github.requests
        if r.method in ("POST", "PATCH")
        and "access_tokens" not in r.path
        and r.path.startswith("/repos/")
        and "/comments" not in r.path
    ]


def test_the_check_run_goes_from_in_progress_to_completed_with_the_review_s_summary(app_world):
    head = app_world.open_pull(
        {"app/service.py": edited_service(major=1), "package-lock.json": "{}\n", "README.md": "#  Service\n"}
    )
    app_world.deliver("opened")
    [review] = app_world.reviews()
    [run] = app_world.github.check_runs(REPO, head)
    assert run["name"] == "Petrel review" and run["app"]["slug"] == "petrel"
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    assert check_requests(app_world) == [("POST", "in_progress"), ("PATCH", "completed")]
    assert writes(app_world) == ["check", "review", "check"]  # in progress before the review, done after it
    assert run["output"]["title"] == "1 finding(s): 1 major"
    summary = run["output"]["summary"]
    assert f"Petrel reviewed `{head[:7]}`: 1 file(s) reviewed, 1 file(s) not reviewed." in summary
    assert (
        "**Findings by severity**: critical 0, major 1, minor 0, info 0 (1 inline, 0 in the review's body)" in summary
    )
    assert "**Skipped as trivial**\n- `README.md`: whitespace only" in summary
    assert "**Not reviewed**\n- `package-lock.json`: " in summary
    assert "fail_on" not in summary
    assert review["commit_id"] == head


@pytest.mark.parametrize(
    ("fail_on", "bug", "conclusion"),
    [
        ("major", "major", "failure"),
        ("major", "critical", "failure"),
        ("critical", "major", "neutral"),
        ("critical", "critical", "failure"),
    ],
)
def test_fail_on_fails_the_check_run_when_a_finding_that_severe_is_posted(app_world, fail_on, bug, conclusion):
    app_world.github.add_file(REPO, ".github/petrel.yml", f"review:\n  fail_on: {fail_on}\n")
    head = app_world.open_pull({"app/service.py": edited_service(**{bug: 1})})
    app_world.deliver("opened")
    [run] = app_world.github.check_runs(REPO, head)
    assert run["conclusion"] == conclusion
    expected = check_run.FAILS if conclusion == "failure" else check_run.PASSES
    assert expected.format(fail_on=fail_on, count=1) in run["output"]["summary"]


def test_a_finding_in_the_body_counts_for_fail_on(app_world):
    app_world.github.add_file(REPO, ".github/petrel.yml", "review:\n  fail_on: major\n  max_comments: 0\n")
    head = app_world.open_pull({"app/service.py": edited_service(major=1)})
    app_world.deliver("opened")
    [review] = app_world.reviews()
    assert review["comments"] == [] and "This line has a bug" in review["body"]
    [run] = app_world.github.check_runs(REPO, head)
    assert run["conclusion"] == "failure" and "(0 inline, 1 in the review's body)" in run["output"]["summary"]


def test_a_redelivery_creates_no_second_check_run(app_world):
    head = app_world.open_pull({"app/service.py": edited_service(major=1)})
    delivery = app_world.deliver("opened")
    app_world.deliver("opened", delivery=delivery)
    app_world.deliver("reopened")  # a new delivery for the head already reviewed: skipped, no check run
    assert len(app_world.github.check_runs(REPO, head)) == 1
    assert check_requests(app_world) == [("POST", "in_progress"), ("PATCH", "completed")]


def test_a_review_run_again_after_a_failure_takes_up_its_own_check_run(app_world, clean_db):
    head = app_world.open_pull({"app/service.py": edited_service(major=1)})
    app_world.github.fail("POST", r"/pulls/1/reviews$", 403, headers={"retry-after": "120"})  # rescheduled
    app_world.deliver("opened")
    [run] = app_world.github.check_runs(REPO, head)
    assert run["status"] == "in_progress"
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("UPDATE jobs SET run_at = now() WHERE function = 'pr_review'")
    app_world.work()
    [run] = app_world.github.check_runs(REPO, head)
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    assert check_requests(app_world) == [("POST", "in_progress"), ("PATCH", "in_progress"), ("PATCH", "completed")]


def test_another_app_s_check_run_of_the_same_name_is_left_alone(app_world):
    head = app_world.open_pull({"app/service.py": edited_service(major=1)})
    theirs = app_world.github.add_check_run(REPO, head, "Petrel review", app_id=99, status="in_progress")
    app_world.deliver("opened")
    runs = {run["id"]: run for run in app_world.github.check_runs(REPO, head)}
    assert len(runs) == 2 and runs[theirs]["updates"] == 0 and runs[theirs]["status"] == "in_progress"
    [mine] = [run for run in runs.values() if run["id"] != theirs]
    assert (mine["status"], mine["conclusion"]) == ("completed", "neutral")


@pytest.mark.parametrize(("fail_on", "last"), [(None, "success"), ("major", "failure")])
def test_with_a_single_token_a_commit_status_stands_in(world, fail_on, last):  # noqa: F811 (the imported fixture)
    world.model.responder = severe
    if fail_on:
        world.github.add_file(REPO, ".github/petrel.yml", f"review:\n  fail_on: {fail_on}\n")
    head = world.open_pull({"app/service.py": edited_service(major=1)})
    world.deliver("opened")
    assert world.github.check_runs(REPO) == [] and len(world.reviews()) == 1
    statuses = world.github.statuses(REPO, head)
    assert [(s["state"], s["context"]) for s in statuses] == [("pending", "Petrel review"), (last, "Petrel review")]
    assert statuses[-1]["description"] == "1 finding(s): 1 major"
    refused = [r for r in world.github.requests if r.method == "POST" and r.path.endswith("/check-runs")]
    assert [r.status for r in refused] == [403, 403]


def test_refused_both_the_review_is_posted_and_the_log_says_why_once(app_world, caplog):
    caplog.set_level(logging.DEBUG, logger="petrel.checks")
    del app_world.github.app_permissions["checks"]  # an installation that has not accepted `checks: write`
    app_world.open_pull({"app/service.py": edited_service(major=1)})
    app_world.deliver("opened")
    app_world.push({"app/service.py": edited_service(major=1, minor=61)})
    app_world.deliver("synchronize")
    assert len(app_world.reviews()) == 2
    assert app_world.github.check_runs(REPO) == [] and app_world.github.statuses(REPO) == []
    warned = [r.getMessage() for r in caplog.records if r.name == "petrel.checks" and r.levelno == logging.WARNING]
    assert len(warned) == 2, warned
    assert warned[0].startswith(
        "GitHub refused the check run 'Petrel review' (403: Resource not accessible by integration)"
    )
    assert "`checks: write`" in warned[0]
    assert warned[1].startswith("GitHub refused the commit status 'Petrel review' too (403")
    repeats = [r for r in caplog.records if r.name == "petrel.checks" and r.levelno == logging.DEBUG]
    assert len(repeats) == 6  # four check runs and four statuses refused, each said once


def test_a_check_run_that_fails_otherwise_never_stops_the_review(app_world, caplog):
    head = app_world.open_pull({"app/service.py": edited_service(major=1)})
    app_world.github.fail("*", r"/check-runs", 500, times=100)
    app_world.deliver("opened")
    [review] = app_world.reviews()
    assert review["commit_id"] == head and app_world.github.check_runs(REPO) == []
    assert "the check run 'Petrel review' could not be set" in caplog.text


def test_a_review_that_cannot_be_done_completes_its_check_run_neutral_and_says_why(app_world, monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):  # no model configured
        monkeypatch.delenv(name)
    settings.reset()
    head = app_world.open_pull({"app/service.py": edited_service(major=1)})
    app_world.deliver("opened")
    assert app_world.reviews() == []
    [run] = app_world.github.check_runs(REPO, head)
    assert (run["status"], run["conclusion"], run["output"]["title"]) == ("completed", "neutral", check_run.COULD_NOT)
    assert "no model configured: set OPENAI_API_KEY or OPENAI_BASE_URL" in run["output"]["summary"]


def test_a_run_of_the_same_name_and_app_without_petrels_key_is_left_alone(app_world):
    # in a GitHub Action Petrel's login is github-actions[bot], whose App writes every workflow job's
    # run: a job called "Petrel review" is the same name and the same App, but not Petrel's run
    head = app_world.open_pull({"app/service.py": edited_service(major=1)})
    job = app_world.github.add_check_run(
        REPO, head, "Petrel review", app_id=app_world.github.app_id, status="in_progress"
    )
    app_world.deliver("opened")
    runs = {run["id"]: run for run in app_world.github.check_runs(REPO, head)}
    assert len(runs) == 2 and runs[job]["updates"] == 0 and runs[job]["status"] == "in_progress"
    [mine] = [run for run in runs.values() if run["id"] != job]
    assert (mine["status"], mine["conclusion"], mine["external_id"]) == ("completed", "neutral", f"check:{head}")
    assert check_requests(app_world) == [("POST", "in_progress"), ("PATCH", "completed")]


def test_the_summary_is_made_harmless_after_it_is_cut():
    # a mention inside a code span is left as it is; a cut through the span would make it a ping
    summary = "a" * (checks.SUMMARY_CHARS - 8) + " `@octocat says hi`"
    text = checks.harmless_summary(summary, actions.safe_text)
    assert len(text) <= checks.SUMMARY_CHARS
    assert all(text[n + 1] == "\u200b" for n, char in enumerate(text) if char == "@")


def test_fail_on_counts_petrels_open_threads_until_a_push_addresses_them(app_world):
    from test_review_followup import careful_check, fixed

    app_world.model.verifier = careful_check
    app_world.github.add_file(REPO, ".github/petrel.yml", "review:\n  fail_on: major\n")
    app_world.open_pull({"app/service.py": edited_service(major=1)})
    app_world.deliver("opened")
    # a push far from the finding: the incremental review finds nothing new, the thread is still open
    second = app_world.push({"app/service.py": edited_service(major=1).replace("value + 30", "value + 31")})
    app_world.deliver("synchronize")
    [run] = app_world.github.check_runs(REPO, second)
    assert run["conclusion"] == "failure" and run["output"]["title"] == "No findings"
    assert check_run.EARLIER.format(count=1) in run["output"]["summary"]
    # a push that fixes it: Petrel answers "Addressed" and the check passes
    third = app_world.push({"app/service.py": fixed().replace("value + 30", "value + 31")})
    app_world.deliver("synchronize")
    [run] = app_world.github.check_runs(REPO, third)
    assert run["conclusion"] == "neutral"
    assert check_run.PASSES.format(fail_on="major") in run["output"]["summary"]


def test_a_push_with_nothing_to_review_keeps_the_check_failing_and_follows_up(app_world):
    from test_review import SERVICE
    from test_review_followup import careful_check, reply_posts

    app_world.model.verifier = careful_check
    app_world.github.add_file(REPO, ".github/petrel.yml", "review:\n  fail_on: major\n")
    app_world.open_pull({"app/service.py": edited_service(major=1), "app/extra.py": "x = 1\n"})
    app_world.deliver("opened")
    # the push puts the file back as it was: nothing left to review, and the thread's finding is gone
    head = app_world.push({"app/service.py": SERVICE})
    app_world.deliver("synchronize")
    [run] = app_world.github.check_runs(REPO, head)
    assert len(reply_posts(app_world)) == 1  # the follow-up ran although the review was skipped
    assert run["conclusion"] == "neutral" and run["output"]["title"] == check_run.NOTHING
