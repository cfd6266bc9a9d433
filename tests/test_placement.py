"""Where a finding lands when the model names an unchanged line next to a change: on the change,
unless the finding quotes the line it named. On real diffs: a release of tomli, and a git
repository made here."""

from __future__ import annotations

from pathlib import Path

from gitrepo import commit, init
from test_review import SERVICE, make_model, model_server  # noqa: F401 - a fixture

from shared import diff
from shared.github.pulls import LocalPull, PostedFinding
from shared.repo_config.schema import DEFAULTS
from shared.review.check_run import severities
from shared.review.findings import parse_comment, place_findings
from shared.review.followup import as_finding, still_open
from shared.review.plan import plan_review
from shared.review.report import Report, review_body
from shared.review.verify import check_prompt

TOMLI = {f.path: f for f in diff.parse((Path(__file__).parent / "fixtures/diffs/python_small.diff").read_bytes())}
PARSER = "src/tomli/_parser.py"  # its third hunk: context 71-73, lines 74-79 added, context 80-82


def finding(path: str, line: int, body: str, suggestion: str | None = None) -> dict:
    return {"path": path, "line": line, "severity": "major", "body": body, "suggestion": suggestion}


def landed(findings: list[dict]) -> tuple[dict[str, int], Report]:
    report = Report(None)
    place_findings(findings, TOMLI, DEFAULTS, set(), report)
    return {c.body.split(": ", 1)[1].split("\n")[0]: c.line for c in report.comments}, report


def test_a_comment_on_a_context_line_next_to_a_change_moves_onto_the_change():
    lines, report = landed(
        [
            finding(PARSER, 81, "The error loses its cause."),  # context, 2 lines after the last added line
            finding(PARSER, 82, "This raise should chain."),  # context, 3 lines after
            finding(PARSER, 71, "Guard the input first."),  # a blank context line, 3 lines before the first
            finding(PARSER, 76, "Catching AttributeError hides bugs."),  # an added line: stays
        ]
    )
    assert lines == {
        "The error loses its cause.": 79,
        "This raise should chain.": 79,
        "Guard the input first.": 74,
        "Catching AttributeError hides bugs.": 76,
    }
    assert sorted(report.moved) == [(PARSER, 71, 74), (PARSER, 81, 79), (PARSER, 82, 79)]


def test_a_comment_that_quotes_its_context_line_stays_there():
    lines, report = landed(
        [
            finding(PARSER, 80, "`pos  =  0` is reset after the try block, so the error path skips it."),
            finding(PARSER, 81, "Reuse the flags.", suggestion="    out = Output(NestedDict(), Flags())"),
        ]
    )
    assert lines == {
        "`pos  =  0` is reset after the try block, so the error path skips it.": 80,
        "Reuse the flags.": 81,
    }
    assert report.moved == []


def test_a_comment_next_to_a_removal_only_stays_where_it_is():
    lines, report = landed([finding("pyproject.toml", 20, "Keep 3.8 listed.")])  # that hunk only removes lines
    assert lines == {"Keep 3.8 listed.": 20} and report.moved == []


def test_a_comment_on_an_added_blank_line_moves_to_the_added_code_and_the_body_says_so(tmp_path, model_server):  # noqa: F811
    repo = init(tmp_path / "repo", {"app/service.py": SERVICE})
    lines = SERVICE.splitlines()
    lines[1:2] = ["    checked = value + 1", "", "    return checked"]  # lines 2-4 added, 3 blank
    commit(repo, {"app/service.py": "\n".join(lines) + "\n"}, "change")
    model_server.responder = lambda request: {
        "json": {"findings": [finding("app/service.py", 3, "This can overflow."), finding("app/service.py", 6, "Why?")]}
    }
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    assert sorted(c.line for c in review.comments) == [2, 4]  # the blank line 3 and the context line 6, moved
    assert "a comment for line 3 was placed on line 2" in review_body(report)
    assert "a comment for line 6 was placed on line 4" in review_body(report)


def test_a_thread_and_a_new_comment_are_read_the_same_way_and_without_the_suggestion():
    # the severity review.fail_on counts for this review's comment is the one it counts for the same
    # comment as an open thread on the next push; the text the check reads has no suggestion block
    report = Report(None)
    findings = [
        {
            **finding(PARSER, 76, "Catching AttributeError hides bugs.", "        except KeyError:"),
            "severity": "critical",
        },
        finding(PARSER, 74, "Guard the input first."),
    ]
    place_findings(findings, TOMLI, DEFAULTS, set(), report)
    assert "```suggestion" in report.comments[0].body
    threads = [PostedFinding(c.path, c.line, c.body, comment_id=n) for n, c in enumerate(report.comments, 1)]
    assert sorted(still_open(threads)) == sorted(severities(report).elements()) == ["critical", "major"]
    thread = as_finding(threads[0])
    assert thread["severity"] == "critical" and thread["body"] == "Catching AttributeError hides bugs."
    assert "suggestion" not in check_prompt([thread], "") and "except KeyError" not in check_prompt([thread], "")
    assert parse_comment("no severity here <!-- petrel:finding:abc -->") == ("minor", "no severity here")
