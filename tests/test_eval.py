"""`make eval` (bench/eval.py): the evaluation set is well-formed, and with a scripted fake model the
runner counts recall, noise and precision right. This proves the machinery, not the score.
"""

from __future__ import annotations

import collections
import io
import json
import re
import socket

import pytest
from fakes.openai import FakeOpenAI

from bench import eval as evaluation
from bench.eval_build import HEAD_BYTES
from bench.eval_score import Outcome, score, table
from bench.eval_source import CASES, CasePull, load_cases
from shared import diff
from shared.model import llm
from shared.runtime import settings

ALL = load_cases()
DEFECTS = [c for c in ALL if c.defect]
MODEL = "eval-model"


def added_lines(file: diff.FileDiff) -> dict[int, str]:
    return {line.new: line.text for hunk in file.hunks for line in hunk.lines if line.kind == diff.ADDED}


def test_the_set_has_40_real_cases_30_with_one_defect_in_several_languages_and_classes():
    assert len(ALL) >= 40
    assert len(DEFECTS) == 30
    assert len({c.meta["language"] for c in ALL}) >= 5
    classes = collections.Counter(c.defect["class"] for c in DEFECTS)
    assert len(classes) >= 6 and all(count >= 2 for count in classes.values()), classes
    subset = load_cases(limit=16)  # a small run: both kinds, every project
    assert sum(1 for c in subset if c.defect) == 8 and len({c.meta["repository"] for c in subset}) == 8
    readme = (CASES / "README.md").read_text(encoding="utf-8")
    for case in ALL:
        assert re.fullmatch(r"[0-9a-f]{40}", case.meta["commit"]) and re.fullmatch(r"[0-9a-f]{40}", case.meta["parent"])
        assert case.meta["repository"] and case.meta["licence"] and case.meta["title"]
        assert f"`{case.name}`" in readme and case.meta["commit"][:12] in readme


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_each_case_is_well_formed(case):
    raw = (case.path / "pr.diff").read_text(encoding="utf-8")
    assert raw.startswith("diff --git ")
    files = {f.path: f for f in diff.parse(raw)}
    assert 1 <= len(files) <= 4
    changed = sum(f.changed for f in files.values())
    assert 3 <= changed <= 200
    pull = CasePull(case)
    for path, file in files.items():
        head = pull.head_file(path)
        if file.status == "removed":
            assert head is None
            continue
        if head is None:  # left out of the set as too large, never the defect's file
            assert not case.defect or path != case.defect["path"]
            continue
        assert len(head.encode()) <= HEAD_BYTES or (case.defect and path == case.defect["path"])
        lines = head.split("\n")
        for number, text in added_lines(file).items():
            assert lines[number - 1] == text, f"{path}:{number}"
    defect = case.defect
    if defect:
        added = added_lines(files[defect["path"]])
        assert added.get(defect["line"]) == defect["injected"], "the defect is not on an added line"
        assert defect["injected"] != defect["original"]
        assert pull.head_file(defect["path"]).split("\n")[defect["line"] - 1] == defect["injected"]
        assert defect["class"] and defect["description"]


def test_the_case_source_answers_every_pull_source_question():
    case = next(c for c in DEFECTS if c.name == "java-gson-duplicate-null-key")
    pull = CasePull(case, number=7)
    info = pull.info()
    assert (info.repository, info.number, info.head_sha, info.base_sha) == (
        "google/gson",
        7,
        case.meta["commit"],
        case.meta["parent"],
    )
    assert info.title.startswith("Fix duplicate key detection") and not info.author_is_bot
    assert pull.commit_messages() == [f"{case.meta['title']}\n\n{case.meta['body']}"]
    assert [f.path for f in pull.changes().files] == [f.path for f in diff.parse((case.path / "pr.diff").read_bytes())]
    assert pull.changes_since(case.meta["parent"]) is None
    assert pull.posted_findings() == []
    assert pull.config().config.review.verify is True
    assert pull.issue(3006) is None
    assert "containsValue(key)" in pull.head_file(case.defect["path"])
    assert pull.head_file("../case.json") is None
    assert pull.head_file("no/such/file.java") is None
    assert pull.default_file("README.md") is None


def test_the_scores_are_counted_as_documented():
    defect = {"path": "a.py", "line": 10}
    outcomes = [
        Outcome("d1", defect, [("a.py", 13), ("a.py", 30)], tokens=100, seconds=1.0),  # found, 1 of 2 near
        Outcome("d2", defect, [("b.py", 10)], tokens=300, seconds=3.0),  # right line, wrong file: missed
        Outcome("d3", defect, [], tokens=200, seconds=2.0),  # missed
        Outcome("d4", defect, [("a.py", 6)], error="model error: down"),  # failed: left out
        Outcome("c1", None, [("x.py", 1), ("x.py", 2)], tokens=50, seconds=0.5),
        Outcome("c2", None, [], tokens=70, seconds=0.7),
    ]
    scores = score(outcomes)
    assert (scores.cases, scores.defect_cases, scores.clean_cases, scores.failed) == (6, 3, 2, 1)
    assert scores.found == 1 and scores.recall == pytest.approx(1 / 3)
    assert scores.noise == pytest.approx(1.0)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.tokens == 100 and scores.seconds == pytest.approx(1.0)
    empty = score([Outcome("c", None)])
    assert (empty.recall, empty.precision, empty.noise) == (None, None, 0.0)
    rendered = table({"verify: true": scores, "verify: false": empty})
    assert "| recall (defect flagged within 3 lines) | 33% (1 of 3) | n/a |" in rendered


PICKED = {
    "found twice": "java-gson-duplicate-null-key",  # flagged on the line, and once far away
    "found": "go-cobra-no-duplicate-args",  # flagged on the line
    "missed": "rs-anyhow-cargo-env",  # not flagged
    "noisy": "py-tomli-error-module",  # clean, one finding
    "quiet": "c-cjson-minify-comment",  # clean, no finding
}


def scripted(cases: dict[str, object]):
    """A fake reviewer that flags the injected line of the 'found' cases (and a line 10 further
    for 'found twice'), and one added line of the 'noisy' clean case."""
    flag = {cases["found"].defect["injected"].strip(): 0, cases["found twice"].defect["injected"].strip(): 10}
    flag['TOMLDecodeError.__module__ = "tomli"'] = 0  # an added line of the 'noisy' case

    def answer(request: dict):
        name = (request.get("response_format") or {}).get("json_schema", {}).get("name")
        if name == "triage":
            return {"json": {"trivial": []}}
        if name != "findings":
            return None
        findings, path = [], None
        for line in request["messages"][-1]["content"].splitlines():
            header = re.match(r"### (\S+)", line)
            path = header.group(1) if header else path
            numbered = re.match(r"\s*(\d+) \+(.*)$", line)
            if numbered and numbered.group(2).strip() in flag:
                at = int(numbered.group(1))
                for line_number in {at, at + flag[numbered.group(2).strip()]}:
                    # distinct words: the same words twice in one review would be merged as a duplicate
                    body = "A bug." if line_number == at else f"Another problem, on line {line_number}."
                    findings.append({"path": path, "line": line_number, "severity": "major", "body": body})
        return {"json": {"findings": findings}}

    return answer


@pytest.fixture
def model_server():
    server = FakeOpenAI(models=(MODEL,)).start()
    llm._MODES.clear()
    yield server
    server.stop()


def environment(server) -> dict[str, str]:
    return {"OPENAI_BASE_URL": server.url + "/v1", "OPENAI_API_KEY": "sk-test", "PETREL_MODEL": MODEL}


def test_a_scripted_model_gives_the_recall_noise_and_precision_it_was_scripted_for(model_server):
    cases = {role: next(c for c in ALL if c.name == name) for role, name in PICKED.items()}
    model_server.responder = scripted(cases)
    results = evaluation.run(list(cases.values()), settings.from_env(environment(model_server)), (False,))
    scores, outcomes = results["verify: false"]
    by_case = {o.case: o for o in outcomes}
    assert by_case[PICKED["found twice"]].found and len(by_case[PICKED["found twice"]].findings) == 2
    assert by_case[PICKED["found"]].found and not by_case[PICKED["missed"]].found
    assert (scores.defect_cases, scores.clean_cases, scores.failed) == (3, 2, 0)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.noise == pytest.approx(0.5)
    assert scores.precision == pytest.approx(2 / 3)  # 2 near of 3 findings on defect cases
    assert scores.tokens > 0 and all(o.tokens > 0 for o in outcomes)
    assert any(r["model"] == MODEL for r in model_server.chat_requests())


def quiet_reviewer(request: dict):
    """A fake reviewer that finds nothing."""
    name = (request.get("response_format") or {}).get("json_schema", {}).get("name")
    return {"json": {"trivial": []}} if name == "triage" else {"json": {"findings": []}} if name == "findings" else None


def test_make_eval_names_the_model_and_server_and_runs_both_verify_values(model_server, capsys):
    model_server.responder = quiet_reviewer
    out = io.StringIO()
    code = evaluation.main(["--match", "rs-anyhow", "--cases", "2", "--quiet"], env=environment(model_server), out=out)
    assert code == 0
    text = out.getvalue()
    assert f"Model: {MODEL}" in text and model_server.url in text and "cases: 2" in text
    assert "| | verify: true | verify: false |" in text
    assert "| cases reviewed (defect / clean) | 1 / 1 | 1 / 1 |" in text
    out = io.StringIO()
    assert (
        evaluation.main(
            ["--match", "rs-anyhow", "--cases", "1", "--verify", "off", "--json", "--quiet"],
            env=environment(model_server),
            out=out,
        )
        == 0
    )
    document = json.loads(out.getvalue())
    assert document["model"] == MODEL and list(document["runs"]) == ["verify: false"]
    assert document["runs"]["verify: false"]["scores"]["cases"] == 1


def test_make_eval_fails_in_one_line_when_no_model_server_answers(capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code = evaluation.main([], env={"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "k"})
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"no model server reachable at http://127.0.0.1:{port}/v1" in err
    assert evaluation.main([], env={}) == 2
    assert "no model configured" in capsys.readouterr().err


def test_every_review_failing_makes_make_eval_fail(model_server, capsys):
    model_server.fail(503, times=100)
    env = {**environment(model_server), "PETREL_MODEL_MAX_RETRIES": "0"}
    code = evaluation.main(["--match", "c-cjson-minify", "--verify", "off", "--quiet"], env=env, out=io.StringIO())
    assert code == 1
    assert "every review failed" in capsys.readouterr().err
