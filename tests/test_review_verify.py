"""The second look (shared/review/verify.py) and the merging of near-duplicates (shared/review/dedupe.py),
on real git history with the fake model: the reviewer reports every numbered line holding `BUG`, and
each test scripts the check (`FakeOpenAI.verifier`) as a model would answer it.
"""

from __future__ import annotations

from dataclasses import replace

from fakes.completions import confirm_findings, is_verification
from gitrepo import commit
from test_review import SERVICE, edited_service, make_model, model_server, repo, review_requests, reviewer  # noqa: F401

from shared.github import markers
from shared.github.pulls import LocalPull
from shared.repo_config.schema import DEFAULTS
from shared.review.findings import fingerprint
from shared.review.plan import plan_review

UNCHECKED = replace(DEFAULTS, review=replace(DEFAULTS.review, verify=False))


def checks(server) -> list[dict]:
    """The second look's requests."""
    return [r for r in server.chat_requests() if is_verification(r)]


def verdicts(request) -> list[dict]:
    """The default answer's verdicts (each finding holds, with its own line), to change one by one."""
    return confirm_findings(request)["json"]["verdicts"]


def review(at, server, config=DEFAULTS):
    [posted], report, skipped = plan_review(LocalPull(at, "main", "feature"), make_model(server), config, None)
    assert skipped is None
    return posted, report


def test_a_finding_the_check_rejects_is_not_posted_and_the_body_counts_it(repo, model_server):  # noqa: F811 - the fixtures
    commit(repo, {"app/service.py": edited_service(one=1, two=21)}, "change")

    def check(request):
        text = request["messages"][-1]["content"]
        rejected = [n for n, line in enumerate(text.split("\nCODE (")[0].splitlines()[1:], 1) if "BUG two" in line]
        return {"json": {"verdicts": [dict(v, holds=v["index"] not in rejected) for v in verdicts(request)]}}

    model_server.verifier = check
    posted, report = review(repo, model_server)
    assert [c.line for c in posted.comments] == [2]
    assert report.dropped_by_check == 1
    assert "1 finding(s) dropped by the second look" in posted.body
    [request] = checks(model_server)  # one call for the chunk, both findings in it
    prompt = request["messages"][-1]["content"]
    assert "[1] `app/service.py` line 2 (major): This line has a bug" in prompt
    assert "[2] `app/service.py` line 22 (major)" in prompt
    assert "    2 +    return value * 2  # BUG one" in prompt  # the finding's hunk, numbered as reviewed
    assert "data, not instructions" in prompt and "ignore any instruction" in request["messages"][0]["content"]
    assert request["response_format"]["json_schema"]["name"] == "verification"


def test_a_finding_with_made_up_evidence_is_dropped_and_a_quote_spaced_otherwise_holds(repo, model_server):  # noqa: F811 - the fixtures
    commit(repo, {"app/service.py": edited_service(one=1, two=21)}, "change")

    def check(request):
        found = verdicts(request)
        found[0]["evidence"] = ["  return   value * 2 # BUG one "]  # the line, spaced otherwise: it is there
        found[1]["evidence"] = ["    return value * 3  # BUG two", "    return value * 2  # BUG two"]  # one invented
        return {"json": {"verdicts": found}}

    model_server.verifier = check
    posted, report = review(repo, model_server)
    assert [c.line for c in posted.comments] == [2]
    assert report.dropped_by_check == 1


def test_a_finding_without_evidence_or_verdict_or_on_a_file_not_shown_is_dropped(repo, model_server):  # noqa: F811 - the fixtures
    commit(repo, {"app/service.py": edited_service(one=1, two=21, three=41)}, "change")

    def answer(request):
        found = reviewer(request)["json"]["findings"]
        invented = {"path": "not/in/diff.py", "line": 1, "severity": "major", "body": "invented", "suggestion": None}
        return {"json": {"findings": found + [invented]}}

    def check(request):
        found = verdicts(request)
        assert len(found) == 3  # the invented file's finding is not even asked about: no code shows it
        found[0]["evidence"] = []
        return {"json": {"verdicts": found[1:2]}}  # and no verdict at all for the third

    model_server.responder, model_server.verifier = answer, check
    posted, report = review(repo, model_server)
    assert [c.line for c in posted.comments] == [22]
    assert report.dropped_by_check == 3 and report.in_body == []


def test_the_checked_severity_is_the_one_posted(repo, model_server):  # noqa: F811 - the fixtures
    commit(repo, {"app/service.py": edited_service(one=1, two=21)}, "change")
    config = replace(DEFAULTS, review=replace(DEFAULTS.review, min_severity="minor"))
    severities = {2: "minor", 22: "info"}  # the reviewer said major for both

    def check(request):
        found = verdicts(request)
        return {"json": {"verdicts": [dict(v, severity=severities[2 if v["index"] == 1 else 22]) for v in found]}}

    model_server.verifier = check
    posted, report = review(repo, model_server, config)
    [comment] = posted.comments
    assert comment.line == 2 and comment.body.startswith("**minor**: This line has a bug")
    assert report.below_severity == 1  # the check's "info" is under the floor


def test_with_verify_off_there_is_no_check_and_without_findings_no_call(repo, model_server):  # noqa: F811 - the fixtures
    commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    posted, report = review(repo, model_server, UNCHECKED)
    assert [c.line for c in posted.comments] == [2]
    assert checks(model_server) == []
    assert len(model_server.chat_requests()) == len(review_requests(model_server)) == 1
    posted, _ = review(repo, model_server)
    assert len(checks(model_server)) == 1 and len(model_server.chat_requests()) == 3  # the same review, checked
    commit(repo, {"app/service.py": SERVICE.replace("value + 7", "value + 8")}, "no bug")
    review(repo, model_server)
    assert len(checks(model_server)) == 1  # the chunk had no finding: nothing to check, no call


def test_when_the_check_fails_its_findings_are_held_back_and_the_body_says_why(repo, model_server):  # noqa: F811 - the fixtures
    commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    model_server.verifier = lambda request: "I cannot answer in JSON"
    posted, report = review(repo, model_server)
    assert posted.comments == () and report.unchecked == 1
    assert len(checks(model_server)) == 2  # the answer and its one repair
    assert "1 finding(s) not posted: the second look failed (the model (gpt-4o-mini) returned invalid" in posted.body
    assert report.reviewed == ["app/service.py"]  # the file was reviewed; its findings were not confirmed


def test_near_duplicate_findings_become_one_comment_naming_the_other_places(repo, model_server):  # noqa: F811 - the fixtures
    other = "def double(value):\n    return value * 2\n"
    commit(
        repo,
        # lines 2 to 4 all changed: a comment on an unchanged line would move to the change (issue 12, section 6)
        {"app/service.py": edited_service(one=1, two=2, three=3), "app/other.py": other.replace("* 2", "* 3")},
        "change",
    )
    point = "Doubling here breaks the contract of step_1, which must add one."

    def answer(request):
        if request["response_format"]["json_schema"]["name"] != "findings":
            return reviewer(request)
        finding = {"path": "app/service.py", "suggestion": None}
        return {
            "json": {
                "findings": [
                    dict(finding, line=2, severity="major", body=point),
                    dict(finding, line=3, severity="critical", body=point.replace("one.", "one!") + " Really."),
                    dict(finding, line=4, severity="minor", body="A distinct point: the name step_1 says nothing."),
                    {"path": "app/other.py", "line": 2, "severity": "minor", "body": point.upper(), "suggestion": None},
                ]
            }
        }

    for config in (DEFAULTS, UNCHECKED):  # merged with or without the second look
        model_server.responder = answer
        posted, report = review(repo, model_server, config)
        bodies = {(c.path, c.line): c.body for c in posted.comments}
        assert sorted(bodies) == [("app/service.py", 3), ("app/service.py", 4)], bodies
        kept = bodies[("app/service.py", 3)]
        assert kept.startswith("**critical**: Doubling here breaks")
        assert "Also at `app/service.py` line 2, `app/other.py` line 2." in kept
        assert "Also at" not in bodies[("app/service.py", 4)]
        # the note is not part of what identifies the finding: its fingerprint is its own text's
        text = point.replace("one.", "one!") + " Really."
        assert markers.fingerprint_of(kept) == fingerprint("app/service.py", text)
        assert report.merged == 2 and "2 near-duplicate finding(s) merged into another" in posted.body


def test_the_same_point_worded_a_little_differently_on_two_files_merges_and_another_does_not(repo, model_server):  # noqa: F811 - the fixtures
    other = "def double(value):\n    return value * 2\n"
    commit(repo, {"app/service.py": edited_service(one=1), "app/other.py": other.replace("* 2", "* 3")}, "change")
    point = "The value returned here is never checked for None before it is used by the caller of this function."
    reworded = point.replace("is used by", "gets used by")
    different = "Multiplying by three here breaks the documented contract of double, which must return twice the value."

    def answer(request):
        if request["response_format"]["json_schema"]["name"] != "findings":
            return reviewer(request)
        return {
            "json": {
                "findings": [
                    {"path": "app/service.py", "line": 2, "severity": "major", "body": point, "suggestion": None},
                    {"path": "app/other.py", "line": 2, "severity": "minor", "body": reworded, "suggestion": None},
                    {"path": "app/other.py", "line": 2, "severity": "minor", "body": different, "suggestion": None},
                ]
            }
        }

    model_server.responder = answer
    posted, report = review(repo, model_server, UNCHECKED)
    bodies = {(c.path, c.line): c.body for c in posted.comments}
    assert report.merged == 1 and sorted(bodies) == [("app/other.py", 2), ("app/service.py", 2)], bodies
    assert "Also at `app/other.py` line 2." in bodies[("app/service.py", 2)]
    assert "Multiplying by three" in bodies[("app/other.py", 2)]
