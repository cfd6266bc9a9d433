"""Planning reviews on real git history (a repository made here) with the fake model server.

The fake model answers like a reviewer that reads the numbered diff: it reports every line
that contains `BUG` at the number Petrel wrote in front of it. So a finding lands only if
the numbering, the packing and the placement all work.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from fakes.openai import FakeOpenAI
from gitrepo import commit, git, init

from shared.github.pulls import LocalPull, PostedFinding
from shared.model import llm
from shared.model.llm import Model
from shared.repo_config.schema import DEFAULTS, PathsConfig
from shared.review.findings import fingerprint
from shared.review.plan import plan_review, skip_reason
from shared.runtime import settings

SERVICE = "\n".join(f"def step_{n}(value):\n    return value + {n}\n" for n in range(40))


@pytest.fixture
def repo(tmp_path):
    return init(
        tmp_path / "repo",
        {
            "app/service.py": SERVICE,
            "README.md": "# Service\n",
            "old.txt": "to be removed\n",
            "package-lock.json": "{}\n",
        },
    )


def reviewer(request: dict):
    """The fake model: findings at every numbered line containing BUG; nothing trivial."""
    schema = (request.get("response_format") or {}).get("json_schema", {}).get("name")
    text = request["messages"][-1]["content"]
    if schema == "triage":
        return {"json": {"trivial": []}}
    if schema == "summary":
        return {"json": {"walkthrough": "w", "files": []}}
    findings, path = [], None
    for line in text.splitlines():
        header = re.match(r"### (\S+)", line)
        if header:
            path = header.group(1)
        numbered = re.match(r"\s*(\d+) \+(.*)$", line)
        if numbered and "BUG" in numbered.group(2):
            findings.append(
                {
                    "path": path,
                    "line": int(numbered.group(1)),
                    "severity": "major",
                    "body": f"This line has a bug: {numbered.group(2).strip()}",
                    "suggestion": None,
                }
            )
    return {"json": {"findings": findings}}


@pytest.fixture
def model_server():
    server = FakeOpenAI().start()
    server.responder = reviewer
    llm._MODES.clear()
    yield server
    server.stop()


def make_model(server, **env) -> Model:
    values = {
        "OPENAI_BASE_URL": server.url + "/v1",
        "OPENAI_API_KEY": "sk-test",
        "PETREL_MODEL_MAX_RETRIES": "0",
        **env,
    }
    return Model(settings.from_env(values), function="pr_review", repository="local/repository")


def review_requests(server) -> list[dict]:
    return [
        r
        for r in server.chat_requests()
        if (r.get("response_format") or {}).get("json_schema", {}).get("name") == "findings"
    ]


def edited_service(**bugs: int) -> str:
    lines = SERVICE.splitlines()
    for text, index in bugs.items():
        lines[index] = f"    return value * 2  # BUG {text}"
    return "\n".join(lines) + "\n"


def test_findings_land_on_the_numbered_lines_and_every_file_is_accounted_for(repo, model_server):
    commit(
        repo,
        {
            "app/service.py": edited_service(first=1),
            "README.md": "# Service\n\nUsage.\n",
            "old.txt": None,
            "package-lock.json": '{"v": 2}\n',
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x01",
        },
        "change",
    )
    steps, report, skipped = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    assert skipped is None
    [review] = steps
    assert [(c.path, c.line) for c in review.comments] == [("app/service.py", 2)]
    assert review.comments[0].body.startswith("**major**: This line has a bug")
    assert "<!-- petrel:finding:" in review.comments[0].body
    assert review.key == f"review:{report.info.head_sha}" and review.commit_sha == report.info.head_sha
    assert report.reviewed == ["README.md", "app/service.py"]
    assert dict(report.not_reviewed) == {
        "old.txt": "deleted",
        "package-lock.json": "excluded by default (lock file)",
        "logo.png": "excluded by default (binary)",
    }
    for path in ("old.txt", "package-lock.json", "logo.png"):
        assert f"`{path}`" in review.body
    assert (report.lines_to_model, report.lines_changed) == (4, 7)  # not the deleted line nor the lock file's two


def test_model_lines_outside_the_diff_move_or_go_to_the_body(repo, model_server):
    commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    near, far = 5, 60  # line 5 is 3 lines from the hunk's last line (2 + 3 context lines is 5)
    model_server.responder = lambda request: {
        "json": {
            "findings": [
                {
                    "path": "app/service.py",
                    "line": 7,
                    "severity": "major",
                    "body": "near the diff",
                    "suggestion": "x = 1",
                },
                {
                    "path": "app/service.py",
                    "line": far,
                    "severity": "critical",
                    "body": "far from the diff",
                    "suggestion": None,
                },
                {"path": "not/in/diff.py", "line": 1, "severity": "major", "body": "invented file", "suggestion": None},
            ]
        }
    }
    # placement alone: with the second look on, the invented file's finding has no code to show it and
    # is dropped (tests/test_review_verify.py)
    unchecked = replace(DEFAULTS, review=replace(DEFAULTS.review, verify=False))
    steps, report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), unchecked, None)
    [review] = steps
    assert [(c.path, c.line) for c in review.comments] == [("app/service.py", near)]
    assert "```suggestion" not in review.comments[0].body  # it was meant for another line
    assert report.moved == [("app/service.py", 7, near)]
    assert {(p, l) for p, l, _, _ in report.in_body} == {("app/service.py", far), ("not/in/diff.py", 1)}
    assert "far from the diff" in review.body and "invented file" in review.body


def test_suggestions_become_suggestion_blocks(repo, model_server):
    commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    model_server.responder = lambda request: {
        "json": {
            "findings": [
                {
                    "path": "app/service.py",
                    "line": 2,
                    "severity": "minor",
                    "body": "Use addition.",
                    "suggestion": "    return value + 1",
                }
            ]
        }
    }
    [review], _, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    assert "```suggestion\n    return value + 1\n```" in review.comments[0].body


def test_garbage_from_the_model_lists_the_files_as_not_reviewed(repo, model_server):
    commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    model_server.responder = lambda request: "I am not JSON at all"
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    assert review.comments == ()
    assert report.not_reviewed == [
        ("app/service.py", "model error: the model (gpt-4o-mini) returned invalid findings twice")
    ]
    assert "model error" in review.body


def test_severity_floor_and_comment_limit(repo, model_server):
    commit(repo, {"app/service.py": edited_service(a=1, b=5, c=9, d=13)}, "change")
    config = replace(DEFAULTS, review=replace(DEFAULTS.review, max_comments=2, min_severity="major"))
    severities = iter(["info", "major", "critical", "major"])

    def answer(request):
        found = reviewer(request)["json"]["findings"]
        return {"json": {"findings": [dict(f, severity=next(severities)) for f in found]}}

    model_server.responder = answer
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), config, None)
    assert len(review.comments) == 2 and review.comments[0].body.startswith("**critical**")
    assert (report.below_severity, report.over_limit) == (1, 1)
    assert len(report.in_body) == 1  # the third finding above the floor: listed, not lost


def test_incremental_review_sends_only_what_changed_since_the_last_head(repo, model_server):
    first = commit(repo, {"app/service.py": edited_service(one=1)}, "first push")
    plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    commit(repo, {"app/service.py": edited_service(one=1, two=61)}, "second push")
    before = len(review_requests(model_server))
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, first)
    sent = "\n".join(r["messages"][-1]["content"] for r in review_requests(model_server)[before:])
    assert "BUG two" in sent and "BUG one" not in sent
    assert [(c.path, c.line) for c in review.comments] == [("app/service.py", 62)]
    assert report.incremental_from == first and f"since `{first[:7]}`" in review.body


def test_force_push_dropping_the_reviewed_head_reviews_everything(repo, model_server):
    gone = commit(repo, {"app/service.py": edited_service(one=1)}, "first push")
    git(repo, "reset", "-q", "--hard", "main")
    commit(repo, {"app/service.py": edited_service(one=1, two=61)}, "rewritten")
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, gone)
    assert report.incremental_from is None
    assert sorted(c.line for c in review.comments) == [2, 62]


def test_head_already_reviewed_is_skipped(repo, model_server):
    head = commit(repo, {"app/service.py": edited_service(one=1)}, "push")
    steps, report, skipped = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, head)
    assert steps == [] and "already reviewed" in skipped
    assert model_server.chat_requests() == []


def test_findings_posted_before_are_not_repeated(repo, model_server):
    commit(repo, {"app/service.py": edited_service(one=1, two=61)}, "push")

    class Posted(LocalPull):
        def posted_findings(self):
            text = "This line has a bug: return value * 2  # BUG one"
            return [
                PostedFinding("app/service.py", 9, f"x <!-- petrel:finding:{fingerprint('app/service.py', text)} -->")
            ]

    [review], report, _ = plan_review(Posted(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    assert [c.line for c in review.comments] == [62]
    assert report.already_posted == 1 and "already posted" in review.body


def test_whitespace_and_trivial_files_skip_the_heavy_pass(repo, model_server):
    commit(
        repo,
        {
            "app/service.py": SERVICE.replace("value + 3", "value  +  3"),
            "app/other.py": "x = 1  # BUG\n",
            "app/version.py": "VERSION = '2'\n",
        },
        "push",
    )

    def answer(request):
        if request["response_format"]["json_schema"]["name"] == "triage":
            return {
                "json": {
                    "trivial": [
                        {"path": "app/version.py", "reason": "version bump"},
                        {"path": "app/service.py", "reason": "spaces"},
                        {"path": "invented.py", "reason": "not shown"},
                    ]
                }
            }
        return reviewer(request)

    model_server.responder = answer
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    # the model's word alone sets nothing aside (issue 12): a new file is no provable version bump
    # Python whitespace is set aside only by the triage, whose proof reads the file at the head (a
    # hunk alone may lie inside a multi-line string)
    assert dict(report.trivial) == {"app/service.py": "trivial: whitespace only"}
    sent = "\n".join(r["messages"][-1]["content"] for r in review_requests(model_server))
    assert "app/version.py" in sent and "app/service.py" not in sent and "app/other.py" in sent
    assert "**Skipped as trivial**" in review.body


def test_path_filters_from_config(repo, model_server):
    commit(repo, {"app/service.py": edited_service(one=1), "docs/guide.md": "BUG in docs\n"}, "push")
    config = replace(DEFAULTS, paths=PathsConfig(exclude=("docs/**",)))
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), config, None)
    assert ("docs/guide.md", "excluded by paths.exclude: docs/**") in report.not_reviewed


@pytest.mark.parametrize(
    "change,reason",
    [
        (dict(draft=True), "draft"),
        (dict(author_is_bot=True, author="dependabot[bot]"), "bot"),
        (dict(labels=("No-Review",)), "labelled"),
        (dict(body="WIP\n@petrel ignore"), "@petrel ignore"),
    ],
)
def test_skip_reasons(repo, change, reason):
    head = commit(repo, {"app/service.py": edited_service(one=1)}, "push")
    info = replace(LocalPull(repo, "main", "feature").info(), **change)
    assert reason in skip_reason(info, DEFAULTS)
    assert skip_reason(replace(info, draft=False, author_is_bot=False, labels=(), body=""), DEFAULTS) is None
    assert head


def test_non_utf8_and_renamed_files(repo, model_server):
    git(repo, "mv", "app/service.py", "app/renamed.py")
    commit(repo, {"app/renamed.py": edited_service(one=1), "data/latin.txt": "Caf\xe9 BUG\n".encode("latin-1")}, "push")
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    assert ("app/renamed.py", 2) in [(c.path, c.line) for c in review.comments]
    assert ("data/latin.txt", 1) in [(c.path, c.line) for c in review.comments]


def test_review_prompt_carries_repository_context_from_memory(repo, model_server, clean_db):
    from shared.memory.store import Document, Memory
    from shared.model.embeddings import HashingEmbedder
    from shared.review.prompt import memory_context
    from shared.runtime.db import make_pool

    pool = make_pool(clean_db)
    try:
        memory = Memory(pool, HashingEmbedder())
        memory.replace(
            "local/repository",
            "file",
            "app/limits.py",
            [
                Document(
                    "local/repository",
                    "file",
                    "app/limits.py",
                    "def step_limit",
                    "STEP_LIMIT = 10  # step_1 must never return more than value + STEP_LIMIT",
                    start_line=1,
                    end_line=1,
                )
            ],
        )
        memory.replace(
            "local/repository",
            "file",
            "app/service.py",
            [Document("local/repository", "file", "app/service.py", "old copy", "the file under review itself")],
        )
        memory.replace(
            "elsewhere/repo",
            "file",
            "secret.py",
            [Document("elsewhere/repo", "file", "secret.py", "def step_1", "another repository's step_1 value")],
        )
        commit(repo, {"app/service.py": edited_service(one=1)}, "change")
        model = make_model(model_server)
        plan_review(
            LocalPull(repo, "main", "feature"),
            model,
            DEFAULTS,
            None,
            background=memory_context(memory, "local/repository", model.estimate),
        )
    finally:
        pool.close()
    [prompt] = [r["messages"][-1]["content"] for r in review_requests(model_server)]
    # the pull request's intent comes first (issue 12), then the repository context, then the diff
    assert prompt.startswith("What this pull request says it does")
    assert prompt.split(">>>\n\n", 1)[1].startswith("Repository context")
    assert "--- app/limits.py lines 1-1 (def step_limit)" in prompt
    assert "the file under review itself" not in prompt and "another repository" not in prompt
    assert prompt.index("DIFF TO REVIEW:") < prompt.index("### app/service.py")


def test_an_answer_far_over_the_expected_size_still_gives_a_bounded_review(repo, model_server):
    from shared.github.actions import MAX_COMMENT_CHARS, PostReview, _marked

    commit(repo, {"app/service.py": edited_service(one=1)}, "change")
    flood = [
        {
            "path": "app/service.py",
            "line": 2 + (n % 3),
            "severity": "major",
            # distinct points (near-duplicates would merge): each its own words
            "body": f"finding {n} " + " ".join(f"n{n}w{k}" for k in range(250)),
            "suggestion": None,
        }
        for n in range(400)
    ]
    model_server.responder = lambda request: {"json": {"findings": flood}}
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    assert isinstance(review, PostReview) and len(review.comments) == DEFAULTS.review.max_comments
    assert report.over_limit == 400 - DEFAULTS.review.max_comments
    assert len(_marked(review.key, review.body)) <= MAX_COMMENT_CHARS  # what is posted fits GitHub's limit


def test_a_long_not_reviewed_list_stays_within_githubs_size_and_says_how_many_more():
    from shared.github import actions
    from shared.github.pulls import PullInfo
    from shared.review.report import MORE_FILES, Report, review_body

    report = Report(PullInfo("o/r", 1, "t", "", False, (), "a", False, "f" * 40, "e" * 40, "main"))
    report.not_reviewed = [(f"generated/very/deep/path/file_{n:05}.py", "review budget reached") for n in range(3000)]
    report.unlisted = 7
    body = review_body(report)
    assert len(body) < actions.MAX_COMMENT_CHARS
    shown = body.count("review budget reached")
    assert 0 < shown < 3000 and body.endswith(MORE_FILES.format(count=3000 - shown))
    assert "- 7 more changed file(s): past GitHub's 3,000-file limit" in body


def test_a_listed_path_cannot_break_out_of_its_line():
    from shared.review.report import listed

    assert listed([("a\n**Approved** `x`.py", "binary file")]) == ["- `a **Approved** 'x'.py`: binary file"]
