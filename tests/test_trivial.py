"""A model may only propose that a file is trivial; Petrel accepts it where the change is provably
trivial (shared/review/provably_trivial.py). On real diffs: the fixtures' releases, and git
repositories made here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from gitrepo import commit, git, init
from gitrepo import diff as git_diff
from test_review import make_model, model_server, review_requests, reviewer  # noqa: F401 - a fixture

from shared import diff
from shared.github.pulls import LocalPull
from shared.repo_config.schema import DEFAULTS
from shared.review.plan import plan_review
from shared.review.provably_trivial import whitespace_only, why_trivial
from shared.review.report import Report
from shared.review.trivial import triage

FIXTURES = Path(__file__).parent / "fixtures" / "diffs"


def everything_trivial(request: dict):
    """A light model that calls every file it is shown trivial."""
    if request["response_format"]["json_schema"]["name"] == "triage":
        text = request["messages"][-1]["content"]
        shown = [line[4:].split(" [")[0] for line in text.splitlines() if line.startswith("### ")]
        return {"json": {"trivial": [{"path": path, "reason": "trivial"} for path in shown]}}
    return reviewer(request)


def triage_requests(server) -> list[dict]:
    return [r for r in server.chat_requests() if r["response_format"]["json_schema"]["name"] == "triage"]


@pytest.fixture
def server(model_server):  # noqa: F811 - the fixture of test_review
    model_server.responder = everything_trivial
    return model_server


@pytest.mark.parametrize(
    "fixture,accepted",
    [
        ("python_small.diff", {"src/tomli/__init__.py": "trivial: version string only"}),
        (
            "large.diff",
            {
                ".pre-commit-config.yaml": "trivial: version string only",
                "pyproject.toml": "trivial: comments only",  # a comment block and a blank line removed
                # tests/test_testing.py only adds four comment lines, but a Python hunk is proven
                # only with the file at the head (it might lie inside a string), not given here
            },
        ),
    ],
)
def test_a_model_that_calls_every_file_trivial_gets_only_the_provable_ones(server, fixture, accepted):
    files = diff.parse((FIXTURES / fixture).read_bytes())
    report = Report(None)
    kept = triage(files, make_model(server), report, DEFAULTS)
    [request] = triage_requests(server)
    shown = [line for line in request["messages"][-1]["content"].splitlines() if line.startswith("### ")]
    assert len(shown) > len(accepted)  # the model did propose every file it was shown
    assert dict(report.trivial) == accepted
    assert {f.path for f in kept} == {f.path for f in files} - set(accepted)


SERVICE = '''"""The service."""

import json


def load(text):
    """Parse the text."""
    # the text is JSON
    return json.loads(text)


def dump(value):
    return json.dumps(value)
'''


@pytest.fixture
def repo(tmp_path):
    return init(
        tmp_path / "repo",
        {
            "app/service.py": SERVICE,
            "app/logic.py": SERVICE,
            "app/docs_only.py": SERVICE,
            "setup.cfg": "[metadata]\nname = app\nversion = 1.2.3\n",
            "web/main.js": "// entry\nfunction run() {\n  return start(1);\n}\n",
        },
    )


class HeadFiles(LocalPull):
    """A local pull request that reads its files at the head (as GitHubPull and LocalPull will)."""

    def head_file(self, path: str) -> str | None:
        return git(self.path, "show", f"{self.head}:{path}") + "\n"


class NoHeadFiles(LocalPull):
    """A pull request whose files cannot be read at the head."""

    def head_file(self, path: str) -> str | None:
        return None


def test_comments_docstrings_and_a_version_bump_are_set_aside_and_the_rest_is_reviewed(repo, server):
    commit(
        repo,
        {
            "app/service.py": SERVICE.replace("# the text is JSON", "# the text is JSON, from the request body"),
            "app/logic.py": SERVICE.replace("json.loads(text)", "json.loads(text or '{}')"),
            "app/docs_only.py": SERVICE.replace('"""Parse the text."""', '"""Parse the text as JSON."""'),
            "setup.cfg": "[metadata]\nname = app\nversion = 1.2.4\n",
            "web/main.js": "// entry point\nfunction run() {\n  /* one */\n  return start(1);\n}\n",
        },
        "change",
    )
    pull = HeadFiles(repo, "main", "feature")
    [review], report, _ = plan_review(pull, make_model(server), DEFAULTS, None)
    assert dict(report.trivial) == {
        "app/service.py": "trivial: comments only",
        "app/docs_only.py": "trivial: comments or docstrings only (same syntax tree)",
        "setup.cfg": "trivial: version string only",
        "web/main.js": "trivial: comments only",
    }
    assert report.reviewed == ["app/logic.py"]
    sent = "\n".join(r["messages"][-1]["content"] for r in review_requests(server))
    assert "### app/logic.py" in sent and "### app/service.py" not in sent
    # without the file at the head a docstring cannot be proven: a hunk may start inside a string
    [_], report, _ = plan_review(NoHeadFiles(repo, "main", "feature"), make_model(server), DEFAULTS, None)
    assert "app/docs_only.py" in report.reviewed


def test_review_triage_false_makes_no_light_call(repo, server):
    commit(repo, {"app/service.py": SERVICE.replace("# the text", "# all the text"), "setup.cfg": "x = 1\n"}, "c")
    config = replace(DEFAULTS, review=replace(DEFAULTS.review, triage=False))
    [_], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(server), config, None)
    assert triage_requests(server) == [] and report.trivial == []
    assert sorted(report.reviewed) == ["app/service.py", "setup.cfg"]


def proof(tmp_path, path: str, old: str, new: str, head: bool = False) -> str | None:
    """The proof for one file changed from `old` to `new` in a real git repository."""
    repo = init(tmp_path / "r", {path: old})
    commit(repo, {path: new}, "change")
    [file] = diff.parse(git_diff(repo, "main", "feature"))
    return why_trivial(file, (lambda p: new) if head else None)


@pytest.mark.parametrize(
    "path,old,new",
    [
        ("a.py", 'x = "a # b"\n', 'x = "a # c"\n'),  # a # inside a string is no comment
        ("a.py", "if ok:\n    run()\n    stop()\n", "if ok:\n    run()\nstop()\n"),  # indentation is code
        ("a.py", 'SQL = """\nSELECT 1\n"""\n', 'SQL = """\nSELECT 2\n"""\n'),  # a string, not a docstring
        ("a.py", "#!/usr/bin/env python2\nx = 1\n", "#!/usr/bin/env python3\nx = 1\n"),
        ("a.py", "timeout = 1.5\n", "timeout = 2.5\n"),  # a number, not a version
        ("a.c", "#define LIMIT 1\nint x;\n", "#define LIMIT 2\nint x;\n"),  # # is no comment in C
        ("a.js", "const s = `\n// a\n`;\n", "const s = `\n// b\n`;\n"),  # inside a template string
        ("a.js", 'const u = "http://a";\n', 'const u = "http://b";\n'),  # // inside a string
        ("a.sh", 'echo "a"\n', 'echo "a" && rm -rf /tmp/x\n'),
        ("a.sh", "echo $#\n", "echo $#; rm -rf /tmp/x\n"),  # $# is no comment
        ("a.sh", "cat <<EOF\n# a\nEOF\n", "cat <<EOF\n# b\nEOF\n"),  # a heredoc's lines are data
        ("a.ini", "[a]\nkey = a;b\n", "[a]\nkey = a;c\n"),
        ("a.rs", 'let s = r"\n// a\n";\n', 'let s = r"\n// b\n";\n'),  # a raw string
        ("a.txt", "some text\n", "other text\n"),
        # whitespace between a word and a symbol is a boundary outside Python
        ("ci.yml", "steps:\n  - if: x == 1\n", "steps:\n  - if:x == 1\n"),
        ("a.sh", "x = 1\n", "x=1\n"),  # a command `x` with two arguments; then an assignment
        ("a.sh", "rm -rf $dir\n", "rm -rf$dir\n"),
        ("a.c", "#define F (x)\nint y;\n", "#define F(x)\nint y;\n"),  # a constant; then a macro
        # a version number outside a string, on a line that says "version", is code
        ("a.py", "if api_version >= 2.0:\n    go()\n", "if api_version >= 3.0:\n    go()\n"),
        ("a.go", "if apiVersion >= 2.0 {\n}\n", "if apiVersion >= 3.0 {\n}\n"),
        # a Lua block comment and a C comment continued by a backslash comment out code
        (
            "a.lua",
            "x = 1\n-- a\ny = 2\n",
            "x = 1\n--[[ a\ny = 2\n",
        ),
        ("a.lua", "--[[ a\ny = 2\n]]\n", "--[[ a\ny = 2\n--]]\n"),
        ("a.c", "int a; // note\nfree(p);\n", "int a; // note \\\nfree(p);\n"),
    ],
)
def test_what_looks_like_a_comment_or_a_version_but_changes_code_is_not_trivial(tmp_path, path, old, new):
    assert proof(tmp_path, path, old, new) is None
    assert proof(tmp_path / "with-head", path, old, new, head=True) is None


def test_a_block_comment_opened_in_one_hunk_and_closed_in_another_is_not_trivial(tmp_path):
    body = "".join(f"int v{n} = {n};\n" for n in range(20))
    old = "int a;\n" + body + "int b;\n"
    new = "int a;\n/*\n" + body + "*/\nint b;\n"  # comments out the code between the hunks
    assert proof(tmp_path, "a.c", old, new) is None


@pytest.mark.parametrize(
    "path,old,new,why",
    [
        ("a.py", "def f(x):\n    return x+1\n", "def f(x):\n    return x + 1\n", "whitespace only"),
        ("a.py", "x = 1  # one\n", "x = 1  # the first\n", "comments only"),
        ("a.go", "func f() int {\n\treturn 1 // one\n}\n", "func f() int {\n\treturn 1 // uno\n}\n", "comments only"),
        ("a.sql", "-- all\nSELECT 1;\n", "-- every row\nSELECT 1;\n", "comments only"),
        ("a.c", "/* a */\nint x;\n", "/*\n * a, longer\n */\nint x;\n", "comments only"),
        ("a.cpp", 'std::cout << "bar";  // a\n', 'std::cout << "bar";  // b\n', "comments only"),
        ("a.sh", "run  --fast   # quick\n", "run --fast # quicker\n", "comments only"),
        ("package.json", '{\n  "version": "1.2.3"\n}\n', '{\n  "version": "1.3.0"\n}\n', "version string only"),
        # a version in a string or anywhere in a manifest; spaces between words
        ("a.py", '__version__ = "1.2"\n', '__version__ = "1.3"\n', "version string only"),
        ("setup.cfg", "[metadata]\nversion = 1.2\n", "[metadata]\nversion = 1.3\n", "version string only"),
        ("Cargo.toml", '[package]\nversion = "0.1.0"\n', '[package]\nversion = "0.2.0"\n', "version string only"),
        ("ci.yml", "steps:\n  - if: x == 1\n", "steps:\n  - if:  x  ==  1\n", "whitespace only"),
    ],
)
def test_provably_trivial_changes(tmp_path, path, old, new, why):
    # a Python hunk is proven only with the file at the head (it may lie inside a string); a version
    # string needs no more than its line
    python = path.endswith(".py")
    assert proof(tmp_path, path, old, new, head=python) == why
    if python and why != "version string only":
        assert proof(tmp_path / "no-head", path, old, new) is None


LINES = "".join(f"  line {n}\n" for n in range(12))
SPLIT_STRING = f'HELP = """\nusage:\n{LINES}# a heading\n  under it\n{LINES}"""\n'  # the hunk shows no quotes


@pytest.mark.parametrize(
    "new",
    [
        SPLIT_STRING.replace("# a heading", "# another heading"),  # a `#` line of a string: data, not a comment
        SPLIT_STRING.replace("# a heading", "#  a heading"),  # spaces inside a string
    ],
)
def test_a_python_hunk_inside_a_multi_line_string_is_not_trivial(tmp_path, new):
    assert proof(tmp_path, "a.py", SPLIT_STRING, new, head=True) is None
    assert proof(tmp_path / "no-head", "a.py", SPLIT_STRING, new) is None
    repo = init(tmp_path / "r2", {"a.py": SPLIT_STRING})
    commit(repo, {"a.py": new}, "change")
    [file] = diff.parse(git_diff(repo, "main", "feature"))
    assert not whitespace_only(file)


@pytest.mark.parametrize("depth", [1_000, 10_000])  # too deep to dump (RecursionError), to parse (MemoryError)
def test_a_python_file_too_deep_for_the_syntax_tree_is_not_provable_and_breaks_nothing(tmp_path, depth):
    code = "x = " + "-" * depth + "1\n"
    old, new = f'"""One."""\n{code}', f'"""One, longer."""\n{code}'  # a docstring: only the tree proves it
    assert proof(tmp_path, "a.py", old, new, head=True) is None
