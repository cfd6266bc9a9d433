"""The code around each change: what the review model is shown beside the hunks, and what it may not target.

Real diffs (a fixture diff with its head files from the same release, and diffs git makes in a
repository made here), read through GitHubPull from the fake GitHub over HTTP or through
LocalPull, with the fake model server. The model's prompt must hold the function, declaration or
heading section around each change, with those lines unnumbered; a finding on one of them never
lands there as a diff comment.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
from fakes.completions import is_verification
from github import Auth, Github
from gitrepo import commit, init
from gitrepo import diff as git_diff
from test_pulls import REPO, TOKEN, github  # noqa: F401 (a fixture)
from test_review import make_model, model_server, review_requests, reviewer  # noqa: F401 (a fixture)

from shared import diff, diff_packing
from shared.github import blobs
from shared.github.pulls import GitHubPull, LocalPull
from shared.memory.spans import Lines
from shared.repo_config.schema import DEFAULTS
from shared.review import verify
from shared.review.enclosing import innermost, outline
from shared.review.plan import plan_review
from shared.review.prompt import chunk_budget, system_prompt
from shared.review.surroundings import INTRO, diff_with_surroundings, for_the_check, surrounding_code

FIXTURES = Path(__file__).parent / "fixtures"
BASE_SHA, HEAD_SHA = "b" * 40, "d" * 40
NUMBERED = re.compile(r"\s*\d+ [ +]")


@pytest.fixture(autouse=True)
def fresh_blobs():
    blobs.CACHE.clear()  # the cache is process-wide: each test counts its own reads
    yield
    blobs.CACHE.clear()


def github_pull(fake) -> GitHubPull:
    return GitHubPull(Github(base_url=fake.url, auth=Auth.Token(TOKEN), retry=None), REPO, 1, me="petrel-bot")


def prompts(server) -> list[str]:
    return [r["messages"][-1]["content"] for r in review_requests(server)]


def unnumbered(prompt: str, text: str) -> bool:
    """`text` is in the prompt as a surrounding line (after a bar) and never after a line number."""
    return f"| {text}" in prompt.splitlines() and not any(
        NUMBERED.match(line) and line.rstrip().endswith(text) for line in prompt.splitlines()
    )


def test_the_fixture_head_files_are_the_ones_the_diffs_were_made_against():
    for diff_name, head in (("python_small", "src/tomli/_parser.py"), ("python_small", "README.md")):
        data = (FIXTURES / "heads" / diff_name / f"{head}.head").read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        text = (FIXTURES / "diffs" / f"{diff_name}.diff").read_text()
        assert re.search(rf"diff --git a/{re.escape(head)} .*\nindex \w+\.\.{blob[:7]} ", text), head
    data = (FIXTURES / "heads" / "large" / "coverage/ctracer/tracer.c.head").read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().startswith("ce54a5a")


def test_a_real_pull_request_on_github_shows_the_enclosing_function_and_heading_section(github, model_server):  # noqa: F811 (the fixture)
    heads = FIXTURES / "heads" / "python_small"
    github.add_pull(
        REPO, 1, diff=(FIXTURES / "diffs" / "python_small.diff").read_text(), base_sha=BASE_SHA, head_sha=HEAD_SHA
    )
    for path in ("src/tomli/_parser.py", "README.md"):
        github.add_file(REPO, path, (heads / f"{path}.head").read_bytes(), ref=HEAD_SHA)

    steps, report, skipped = plan_review(github_pull(github), make_model(model_server), DEFAULTS, None)
    assert skipped is None and "src/tomli/_parser.py" in report.reviewed
    prompt = "\n".join(prompts(model_server))
    parser = prompt[prompt.index("### src/tomli/_parser.py") :]
    # the hunk at new lines 71-82 sits in `def loads`: its loop, far below the hunk, is shown unnumbered
    assert parser.index(INTRO) < parser.index("@@ -7,7 +7,7 @@")
    assert "| (in def loads)" in parser
    for line in (
        "def loads(__s: str, *, parse_float: ParseFloat = float) -> dict[str, Any]:  # noqa: C901",
        "        # 1. Skip line leading whitespace",
        "    return out.data.dict",
    ):
        assert unnumbered(prompt, line), line
    # a changed line is in the diff, numbered, and not repeated among the surroundings
    assert "   74 +    try:" in parser and "|     try:\n|         src = " not in parser
    assert "| ⋮ @@ -71,7 +71,12 @@: in the diff below" in parser
    # a function no hunk touches is not shown
    assert "def skip_chars" not in parser.split("\n@@ ")[0]
    # Markdown: the heading section around a change
    readme = prompt[prompt.index("### README.md") :]
    assert "| (in ## Performance" in readme
    assert unnumbered(prompt, "The benchmark can be run with `tox -e benchmark-pypi`.")


def test_each_head_blob_is_read_once_even_when_two_chunks_need_it(tmp_path, github, model_server):  # noqa: F811 (the fixture)
    body = [f"    total = total + {n}  # keep step {n}" for n in range(600)]
    head = body[:]
    head[100:135] = [f"    total = total * {n} + len(names)  # reworked step {n} of the first pass" for n in range(35)]
    head[450:485] = [f"    total = total * {n} - len(names)  # reworked step {n} of the second pass" for n in range(35)]
    repo = init(tmp_path / "repo", {"app/steps.py": "def run(total, names):\n" + "\n".join(body) + "\n"})
    commit(repo, {"app/steps.py": "def run(total, names):\n" + "\n".join(head) + "\n"}, "rework")
    github.add_pull(REPO, 1, diff=git_diff(repo, "main", "feature"), base_sha=BASE_SHA, head_sha=HEAD_SHA)
    github.add_file(REPO, "app/steps.py", (repo / "app/steps.py").read_bytes(), ref=HEAD_SHA)
    model = make_model(model_server, PETREL_MODEL_CONTEXT_TOKENS="8192")

    _, report, _ = plan_review(github_pull(github), model, DEFAULTS, None)
    assert (report.chunks, report.reviewed, report.not_reviewed) == (2, ["app/steps.py"], [])
    reads = [r for r in github.requests if r.path == f"/repos/{REPO}/contents/app/steps.py"]
    assert len(reads) == 1 and reads[0].query == {"ref": HEAD_SHA}
    # both chunks were shown the code around their own hunk, from that one read
    first, second = sorted(prompts(model_server), key=lambda prompt: "first pass" not in prompt)
    assert unnumbered(first, "    total = total + 90  # keep step 90") and "keep step 440" not in first
    assert unnumbered(second, "    total = total + 440  # keep step 440") and "keep step 90\n" not in second
    # another review of the same head reads nothing again
    plan_review(github_pull(github), model, DEFAULTS, None, forced=True)
    assert len([r for r in github.requests if r.path == f"/repos/{REPO}/contents/app/steps.py"]) == 1


CHECK = (
    "def check_limit(value, limit):\n"
    '    """Say whether value stays within limit."""\n'
    "    if limit is None:\n"
    '        raise ValueError("no limit")\n'
    + "".join(f"    value = value + {n}  # adjust {n}\n" for n in range(12))
    + "    total = value + 1\n"
    + "".join(f"    total = total - {n}  # settle {n}\n" for n in range(12))
    + "    return total <= limit\n"
)


def test_a_finding_on_a_surrounding_line_is_never_posted_on_that_line(tmp_path, model_server):  # noqa: F811 (the fixture)
    repo = init(tmp_path / "repo", {"app/limits.py": CHECK})
    commit(repo, {"app/limits.py": CHECK.replace("total = value + 1", "total = value + 2")}, "change")
    head = (repo / "app/limits.py").read_text().splitlines()
    far = head.index('        raise ValueError("no limit")') + 1  # line 4: more than 3 lines from the hunk
    near = head.index("    total = total - 4  # settle 4") + 1  # line 22: 2 lines below the hunk's last line

    def answer(request: dict):
        if (request.get("response_format") or {}).get("json_schema", {}).get("name") != "findings":
            return reviewer(request)
        prompt = request["messages"][-1]["content"]
        assert unnumbered(prompt, head[far - 1]) and unnumbered(prompt, head[near - 1])
        return {
            "json": {
                "findings": [
                    {
                        "path": "app/limits.py",
                        "line": n,
                        "severity": "major",
                        "body": f"about line {n}",
                        "suggestion": "x",
                    }
                    for n in (far, near)
                ]
            }
        }

    model_server.responder = answer
    [review], report, _ = plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    hunk = diff.parse(git_diff(repo, "main", "feature"))[0].hunks[0]
    assert max(hunk.new_lines) == near - 2
    assert [(c.path, c.line) for c in review.comments] == [("app/limits.py", near - 2)]
    assert "```suggestion" not in review.comments[0].body  # moved: its suggestion was for another line
    assert report.moved == [("app/limits.py", near, near - 2)]
    assert [(path, line) for path, line, _, _ in report.in_body] == [("app/limits.py", far)]
    # the second look was shown the same code around the change, as plain code its quotes compare with
    [check] = [r["messages"][-1]["content"] for r in model_server.chat_requests() if is_verification(r)]
    around = check[check.index("SURROUNDING CODE") :]
    assert "--- app/limits.py\n" in around and f"\n{head[far - 1]}\n" in around and "| " not in around


JS = (
    'import { price } from "./price.js";\n\n'
    "export function total(items, discount) {\n"
    "  let sum = 0;\n"
    "  for (const item of items) {\n"
    "    sum += price(item) * item.quantity;\n"
    "  }\n"
    + "".join(f"  sum = round(sum, {n});\n" for n in range(8))
    + "  if (discount) {\n    sum = sum - discount;\n  }\n"
    + "".join(f"  log(sum, {n});\n" for n in range(8))
    + "  return Math.max(sum, 0);\n}\n\n"
    "export function count(items) {\n  return items.length;\n}\n"
)
GO = (
    'package server\n\nimport "net/http"\n\n'
    "// Health answers the load balancer.\n"
    "func Health(w http.ResponseWriter, r *http.Request) {\n\tw.WriteHeader(http.StatusOK)\n}\n\n"
    "// Serve greets by name.\n"
    "func Serve(w http.ResponseWriter, r *http.Request) {\n"
    '\tname := r.URL.Query().Get("name")\n'
    '\tif name == "" {\n\t\thttp.Error(w, "no name", http.StatusBadRequest)\n\t\treturn\n\t}\n'
    + "".join(f"\tname = clean(name, {n})\n" for n in range(8))
    + '\tw.Write([]byte("hello " + name))\n'
    + "".join(f"\taudit(r, {n})\n" for n in range(8))
    + "}\n"
)


@pytest.mark.parametrize(
    "case",
    [
        (
            "web/cart.js",
            JS,
            JS.replace("sum = sum - discount;", "sum = sum - discount * 2;"),
            [
                "export function total(items, discount) {",
                "    sum += price(item) * item.quantity;",
                "  return Math.max(sum, 0);",
            ],
            ["export function count(items) {"],
        ),
        (
            "server/serve.go",
            GO,
            GO.replace('"hello " + name', '"hello, " + name'),
            ["// Serve greets by name.", "func Serve(w http.ResponseWriter, r *http.Request) {", '\tif name == "" {'],
            ["func Health(w http.ResponseWriter, r *http.Request) {"],
        ),
    ],
)
def test_other_languages_show_the_declaration_around_the_change(tmp_path, model_server, case):  # noqa: F811
    path, before, after, shown, not_shown = case
    repo = init(tmp_path / "repo", {path: before})
    commit(repo, {path: after}, "change")
    plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), DEFAULTS, None)
    [prompt] = prompts(model_server)
    assert prompt.index(INTRO) < prompt.index("@@ ")
    for line in shown:
        assert unnumbered(prompt, line), line
    for line in not_shown:
        assert line not in prompt


def test_a_c_function_of_a_real_diff_is_found_by_its_declaration():
    [tracer] = [f for f in diff.parse((FIXTURES / "diffs" / "large.diff").read_bytes()) if f.path.endswith("tracer.c")]
    head = (FIXTURES / "heads" / "large" / "coverage/ctracer/tracer.c.head").read_text()
    chunk = diff_packing.pack([tracer], 24_000, lambda text: len(text) // 4).chunks[0]
    around, left = surrounding_code(lambda path: head if path == tracer.path else None, lambda t: len(t) // 4, 6000)(
        chunk
    )
    text = around[tracer.path]
    assert "| (in CTracer_record_pair(CTracer *self, int l1, int l2))" in text
    assert "| static int\n| CTracer_record_pair(CTracer *self, int l1, int l2)\n| {" in text
    assert "|     if (PySet_Add(self->pcur_entry->file_data, packed_obj) < 0) {" in text
    assert left == 6000 - len(text) // 4
    # a smaller room: a window of the function, then nothing; never more than the room
    estimate = lambda text: len(text) // 4  # noqa: E731
    for room, expected in ((150, "| ⋮\n"), (20, None), (0, None)):
        small, rest = surrounding_code(lambda path: head, estimate, room)(chunk)
        used = sum(estimate(t) for t in small.values())
        assert used <= room and rest == room - used
        assert (expected in small[tracer.path]) if expected else small == {}
    rendered = diff_with_surroundings(chunk, around)
    assert rendered.index("### coverage/ctracer/tracer.c") < rendered.index(INTRO) < rendered.index("@@ -184,14")
    assert diff_with_surroundings(chunk, {}) == chunk.text


def test_a_huge_function_is_shown_as_a_window_within_the_budget(tmp_path, model_server):  # noqa: F811 (the fixture)
    def step(n: int, sign: str = "+") -> str:
        return f"    x = x {sign} {n}  # step {n} " + "of a long computation, " * 8

    body = [step(n) for n in range(3000)]
    repo = init(tmp_path / "repo", {"app/huge.py": "\n".join(["def huge(x):", *body, "    return x", ""])})
    body[1500] = step(1500, "-")
    commit(repo, {"app/huge.py": "\n".join(["def huge(x):", *body, "    return x", ""])}, "change")
    model = make_model(model_server, PETREL_MODEL_CONTEXT_TOKENS="8192")
    plan_review(LocalPull(repo, "main", "feature"), model, DEFAULTS, None)
    [request] = review_requests(model_server)
    prompt = request["messages"][-1]["content"]
    # the hunk is new lines 1499-1505: a window of its neighbours is shown, not the whole function
    assert "| (in def huge)" in prompt and "| ⋮" in prompt.splitlines()
    assert unnumbered(prompt, step(1492).rstrip()) and unnumbered(prompt, step(1508).rstrip())
    assert "# step 10 " not in prompt and "# step 1300 " not in prompt and "# step 2900 " not in prompt
    # within its budget, and the whole prompt with the answer's reserve within the model's context
    around = prompt[prompt.index(INTRO) : prompt.index("\n@@ ")]
    assert model.estimate(around) <= chunk_budget(model, system_prompt(DEFAULTS)) < model.estimate(body_text(body))
    sent = sum(len(m["content"]) for m in request["messages"])
    assert sent / 4 + model.settings.model_max_output_tokens <= 8192


def body_text(lines: list[str]) -> str:
    return "\n".join(lines)


def test_head_files_that_cannot_be_shown(tmp_path, github):  # noqa: F811 (the fixture)
    repo = init(tmp_path / "repo", {"a.py": "a = 1\n", "gone.py": "b = 1\n"})
    commit(
        repo,
        {
            "a.py": "a = 2\n",
            "gone.py": None,
            "blob.bin": b"\x00\x01",
            "big.py": "x = 1\n" * 200_000,
            "latin.py": b"# \xa9 2013\n" + b"x = 1\n" * 30,
        },
        "change",
    )
    local = LocalPull(repo, "main", "feature")
    assert local.head_file("a.py") == "a = 2\n"
    assert local.head_file("latin.py") == "# \ufffd 2013\n" + "x = 1\n" * 30  # one stray byte is still text
    assert [local.head_file(p) for p in ("gone.py", "blob.bin", "big.py", "nowhere.py")] == [None] * 4

    github.add_pull(REPO, 1, diff=git_diff(repo, "main", "feature"), base_sha=BASE_SHA, head_sha=HEAD_SHA)
    for name in ("a.py", "blob.bin", "big.py"):
        github.add_file(REPO, name, (repo / name).read_bytes(), ref=HEAD_SHA)
    pull = github_pull(github)
    assert pull.head_file("a.py") == "a = 2\n"  # the files list, read first, names its blob
    files_lists = [r for r in github.requests if r.path == f"/repos/{REPO}/pulls/1/files"]
    assert [pull.head_file(p) for p in ("gone.py", "blob.bin", "big.py", "latin.py")] == [None] * 4
    # the files list names each head file by its blob sha, and each sha is read once
    assert pull.head_file("a.py") == "a = 2\n"
    assert len([r for r in github.requests if r.path == f"/repos/{REPO}/contents/a.py"]) == 1
    assert [r for r in github.requests if r.path == f"/repos/{REPO}/pulls/1/files"] == files_lists  # listed once


def test_the_innermost_python_block_includes_its_decorators_and_nests():
    lines = Lines(
        "import functools\n\n\nclass Cache:\n    size = 3\n\n    @functools.cache\n    @staticmethod\n"
        "    def get(key):\n        return key\n"
    )
    blocks = outline("cache.py", lines, 6000)
    assert innermost(blocks, 10).title == "class Cache / def get" and innermost(blocks, 10).start == 7
    assert innermost(blocks, 5).title == "class Cache" and innermost(blocks, 1) is None
    assert outline("config.yml", Lines("a: 1\n"), 6000) == [] and outline("bad.py", Lines("def (:\n"), 6000) == []


def test_a_config_without_surroundings_reviews_as_before(tmp_path, model_server):  # noqa: F811 (the fixture)
    repo = init(tmp_path / "repo", {"settings.yml": "a: 1\nb: 2\n", "app.py": "def f():\n    return 1\n"})
    commit(repo, {"settings.yml": "a: 1\nb: 3\n", "app.py": "def f():\n    return 2\n"}, "change")
    config = replace(DEFAULTS, review=replace(DEFAULTS.review, concurrency=1))
    plan_review(LocalPull(repo, "main", "feature"), make_model(model_server), config, None)
    [prompt] = prompts(model_server)
    # nothing outside the diff to show: each file's header is followed by its hunks alone
    assert INTRO not in prompt
    assert "### app.py [modified, +1 -1]\n@@ -1,2 +1,2 @@\n    1  def f():\n" in prompt
    assert prompt.endswith("### settings.yml [modified, +1 -1]\n@@ -1,2 +1,2 @@\n    1  a: 1\n      -b: 2\n    2 +b: 3")


def test_a_failed_head_read_is_tried_again_and_only_definite_answers_are_kept(tmp_path, github):  # noqa: F811
    repo = init(tmp_path / "repo", {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    commit(repo, {"a.py": "a = 2\n", "b.py": "b = 2\n"}, "change")
    github.add_pull(REPO, 1, diff=git_diff(repo, "main", "feature"), base_sha=BASE_SHA, head_sha=HEAD_SHA)
    github.add_file(REPO, "a.py", (repo / "a.py").read_bytes(), ref=HEAD_SHA)  # b.py is not there: 404
    github.fail("GET", r"/contents/a\.py$", 502)
    limit = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}
    github.fail("GET", r"/contents/a\.py$", 403, headers=limit, body={"message": "API rate limit exceeded"})
    pull = github_pull(github)
    assert pull.head_file("a.py") is None and pull.head_file("a.py") is None  # a 502, then the rate limit
    assert pull.head_file("a.py") == "a = 2\n" == pull.head_file("a.py")  # read again, then kept
    assert pull.head_file("b.py") is None and pull.head_file("b.py") is None  # a 404 is an answer: kept
    reads = [r.path for r in github.requests if "/contents/" in r.path]
    assert reads == [f"/repos/{REPO}/contents/a.py"] * 3 + [f"/repos/{REPO}/contents/b.py"]


def test_the_lines_that_say_where_code_is_are_no_evidence_for_the_check():
    [tracer] = [f for f in diff.parse((FIXTURES / "diffs" / "large.diff").read_bytes()) if f.path.endswith("tracer.c")]
    head = (FIXTURES / "heads" / "large" / "coverage/ctracer/tracer.c.head").read_text()
    chunk = diff_packing.pack([tracer], 24_000, lambda text: len(text) // 4).chunks[0]
    around = surrounding_code(lambda path: head if path == tracer.path else None, lambda t: len(t) // 4, 150)
    text = for_the_check(around)(chunk)
    markers = [line for line in text.splitlines() if line.startswith(("(in ", "⋮", "--- "))]
    assert {line.split(" ")[0] for line in markers} == {"(in", "⋮", "---"}  # each kind is shown
    shown = verify.code_lines([tracer], text)
    assert not any(verify.evidence_found([line], shown) for line in markers)
    code = next(line for line in text.splitlines() if line not in markers and len(line.strip()) > 20)
    assert verify.evidence_found([code], shown)
    removed = next(
        line.text for h in tracer.hunks for line in h.lines if line.kind == diff.REMOVED and len(line.text) > 20
    )
    assert verify.evidence_found([removed], shown)  # "this removal breaks X" quotes a removed line


def test_each_chunks_surroundings_are_fitted_once_for_the_prompt_and_the_check(tmp_path):
    repo = init(tmp_path / "repo", {"app/limits.py": CHECK})
    commit(repo, {"app/limits.py": CHECK.replace("total = value + 1", "total = value + 2")}, "change")
    local = LocalPull(repo, "main", "feature")
    [chunk] = diff_packing.pack(local.changes().files, 10_000, lambda text: len(text) // 4).chunks
    measured: list[str] = []

    def estimate(text: str) -> int:
        measured.append(text)
        return len(text) // 4

    around = surrounding_code(local.head_file, estimate, 4_000)
    found, left = around(chunk)
    assert "def check_limit(value, limit):" in found["app/limits.py"] and left < 4_000
    fitted = len(measured)
    # the review's prompt asked first; the second look asks again and gets the same, without fitting again
    assert around(chunk) == (found, left)
    assert "def check_limit(value, limit):" in for_the_check(around)(chunk)
    assert len(measured) == fitted
