"""shared/diff: parsing, numbering, ranking, packing, placement and incremental restriction."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import diff, diff_packing

DIFFS = Path(__file__).parent / "fixtures" / "diffs"

SMALL = """diff --git a/app/core.py b/app/core.py
index 83db48f..bf269f4 100644
--- a/app/core.py
+++ b/app/core.py
@@ -10,6 +10,7 @@ def load(path):
     with open(path) as handle:
         data = handle.read()
-    return parse(data)
+    result = parse(data)
+    return result or {}
 
 
 def parse(text):
@@ -40,3 +41,4 @@ def parse(text):
     for line in text.splitlines():
         yield line
     return
+# trailing
diff --git a/tests/test_core.py b/tests/test_core.py
index 1111111..2222222 100644
--- a/tests/test_core.py
+++ b/tests/test_core.py
@@ -1,2 +1,3 @@
 import core
+import pytest
 
diff --git a/README.md b/README.md
index 3333333..4444444 100644
--- a/README.md
+++ b/README.md
@@ -1 +1,2 @@
 # App
+More words.
diff --git a/old_name.py b/new_name.py
similarity index 100%
rename from old_name.py
rename to new_name.py
diff --git a/logo.png b/logo.png
index 5555555..6666666 100644
Binary files a/logo.png and b/logo.png differ
"""


def by_path(files):
    return {f.path: f for f in files}


def test_parse_numbers_both_sides():
    files = by_path(diff.parse(SMALL))
    core = files["app/core.py"]
    assert (core.status, core.added, core.removed) == ("modified", 3, 1)
    first = core.hunks[0]
    assert (first.old_start, first.new_start, first.section) == (10, 10, "def load(path):")
    assert (first.old_length, first.new_length) == (6, 7)
    assert [(l.kind, l.old, l.new) for l in first.lines[:5]] == [
        (" ", 10, 10),
        (" ", 11, 11),
        ("-", 12, None),
        ("+", None, 12),
        ("+", None, 13),
    ]
    assert core.commentable() == set(range(10, 17)) | set(range(41, 45))


def test_parse_statuses_renames_and_binaries():
    files = by_path(diff.parse(SMALL))
    assert files["new_name.py"].status == "renamed" and files["new_name.py"].old_path == "old_name.py"
    assert files["new_name.py"].hunks == ()
    assert files["logo.png"].binary and files["logo.png"].hunks == ()


def test_non_utf8_bytes_keep_the_line_structure():
    raw = SMALL.replace("More words.", "Caf\u00e9").encode("latin-1")
    files = by_path(diff.parse(raw))
    readme = files["README.md"]
    assert readme.added == 1 and readme.hunks[0].lines[1].text == "Caf\ufffd"


def test_render_hunk_numbers_new_lines_and_keeps_removed_lines_readable():
    core = by_path(diff.parse(SMALL))["app/core.py"]
    rendered = diff.render_hunk(core.hunks[0]).splitlines()
    assert rendered[0] == "@@ -10,6 +10,7 @@ def load(path):"
    assert rendered[3] == "      -    return parse(data)"
    assert rendered[4] == "   12 +    result = parse(data)"
    assert rendered[1].startswith("   10  ")


@pytest.mark.parametrize(
    "path,kind",
    [
        ("src/app.py", "source"),
        ("tests/test_app.py", "test"),
        ("pkg/app_test.go", "test"),
        ("web/app.spec.ts", "test"),
        ("docs/guide.md", "docs"),
        ("README.md", "docs"),
        ("setup.cfg", "config"),
        (".github/workflows/ci.yml", "config"),
        ("lib/core.c", "source"),
    ],
)
def test_file_kind(path, kind):
    assert diff.file_kind(path) == kind


def test_rank_puts_source_before_tests_before_docs_and_bigger_changes_first():
    ranked = [f.path for f in diff.rank(diff.parse(SMALL))]
    assert ranked[0] == "app/core.py"  # source with the most changed lines
    assert ranked.index("app/core.py") < ranked.index("tests/test_core.py") < ranked.index("README.md")


def test_pack_fits_chunks_and_lists_what_it_cannot_review():
    files = diff.rank(diff.parse(SMALL))
    estimate = len  # one token a character: easy to reason about
    packing = diff_packing.pack(files, chunk_tokens=400, estimate=estimate)
    assert all(c.tokens <= 400 for c in packing.chunks)
    packed = {f.path for c in packing.chunks for f in c.files}
    assert packed == {"app/core.py", "tests/test_core.py", "README.md"}
    assert dict(packing.not_reviewed) == {"new_name.py": "renamed without changes", "logo.png": "binary file"}


def test_pack_splits_a_large_file_by_hunks_and_reports_a_hunk_too_large():
    core = by_path(diff.parse(SMALL))["app/core.py"]
    sizes = [len(diff.render_hunk(h)) + 1 for h in core.hunks]
    header = len(diff.render_file(core, []))
    packing = diff_packing.pack([core], chunk_tokens=header + max(sizes), estimate=len)
    assert len(packing.chunks) == 2 and [len(c.files[0].hunks) for c in packing.chunks] == [1, 1]
    tight = diff_packing.pack([core], chunk_tokens=header + min(sizes), estimate=len)
    assert [len(c.files[0].hunks) for c in tight.chunks] == [1]
    assert tight.not_reviewed == [("app/core.py", "too large for one model call (lines 10-16)")]


def test_pack_respects_max_chunks_and_says_so():
    files = diff.rank(diff.parse(SMALL))
    packing = diff_packing.pack(files, chunk_tokens=200, estimate=len, max_chunks=1)
    assert len(packing.chunks) == 1
    reasons = dict(packing.not_reviewed)
    assert any("review budget reached" in r for r in reasons.values())
    every_text_file = {"app/core.py", "tests/test_core.py", "README.md"}
    packed = {f.path for c in packing.chunks for f in c.files}
    assert every_text_file <= packed | set(reasons)  # each file is reviewed or listed


@pytest.mark.parametrize(
    "line,expected",
    [
        (12, 12),  # an added line
        (10, 10),  # context
        (17, 16),  # just past the hunk: moved to its last line
        (19, 16),  # three past: still close enough
        (20, None),  # too far
        (30, None),  # between hunks
        (45, 44),
        (1, None),
    ],
)
def test_place(line, expected):
    core = by_path(diff.parse(SMALL))["app/core.py"]
    assert diff.place(core, line) == expected


def test_restrict_keeps_the_pull_request_hunks_touched_since_the_last_review():
    pr = diff.parse(SMALL)
    since = diff.parse("""diff --git a/app/core.py b/app/core.py
--- a/app/core.py
+++ b/app/core.py
@@ -42,2 +42,3 @@ def parse(text):
         yield line
     return
+# trailing
""")
    restricted = diff.restrict(pr, since)
    assert [f.path for f in restricted] == ["app/core.py"]
    assert [h.new_start for h in restricted[0].hunks] == [41]


# --- real diffs from public projects' history (tests/fixtures/diffs/README.md) ---------------

FIXTURES = {  # file: (files, added, removed) as `git diff --shortstat` counts them
    "python_small.diff": (5, 151, 68),
    "rename.diff": (17, 82, 24),
    "rename_pure.diff": (21, 208, 138),
    "binary.diff": (26, 295, 116),
    "binary_nopatch.diff": (26, 295, 116),
    "latin1.diff": (35, 824, 292),
    "large.diff": (114, 5102, 2116),
    "added_removed.diff": (23, 280, 233),
}


def fixture(name: str) -> list[diff.FileDiff]:
    return diff.parse((DIFFS / name).read_bytes())


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_real_diffs_parse_with_their_git_counts(name):
    files = fixture(name)
    assert (len(files), sum(f.added for f in files), sum(f.removed for f in files)) == FIXTURES[name]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_line_offered_to_the_model_is_one_github_accepts(name):
    """Cross-check with the fake GitHub's own, independent diff parser: a comment on any line
    Petrel numbers for the model must be accepted (RIGHT side), and no other line is numbered."""
    from fakes.diff import parse_diff

    text = (DIFFS / name).read_bytes().decode("utf-8", errors="replace")
    theirs = {f.filename: f for f in parse_diff(text)}
    for file in diff.parse(text):
        accepted = {line.new for line in theirs[file.path].lines if line.kind in (" ", "+")}
        assert file.commentable() == accepted, file.path


def test_renames_binaries_and_mode_changes():
    renamed = [f for f in fixture("rename.diff") if f.status == "renamed"]
    assert len(renamed) == 2 and all(f.old_path and f.old_path != f.path for f in renamed)
    pure = [f for f in fixture("rename_pure.diff") if f.status == "renamed"]
    assert len(pure) == 1 and pure[0].hunks == ()
    for name in ("binary.diff", "binary_nopatch.diff"):
        assert len([f for f in fixture(name) if f.binary]) == 3
    statuses = {f.status for f in fixture("added_removed.diff")}
    assert {"added", "removed", "modified"} <= statuses


def test_non_utf8_lines_are_kept_with_their_numbers():
    sheet = {f.path: f for f in fixture("latin1.diff")}["xlrd/sheet.py"]
    changed = [l for h in sheet.hunks for l in h.lines if l.kind != diff.CONTEXT and "\ufffd" in l.text]
    assert [(l.kind, l.old, l.new) for l in changed] == [("-", 4, None), ("+", None, 4)]
    assert changed[1].text.endswith("2005-2013 Stephen John Machin, Lingfo Pty Ltd</p>")


def test_large_diff_every_changed_file_is_packed_or_listed():
    files = diff.rank(fixture("large.diff"))
    estimate = lambda text: len(text) // 4  # noqa: E731
    packing = diff_packing.pack(files, chunk_tokens=8000, estimate=estimate, max_chunks=6)
    packed = {}
    for chunk in packing.chunks:
        assert chunk.tokens <= 8000
        for f in chunk.files:
            packed[f.path] = packed.get(f.path, 0) + len(f.hunks)
    listed = {path for path, _ in packing.not_reviewed}
    for f in files:
        assert f.path in packed or f.path in listed, f.path
        if f.path in packed and packed[f.path] < len(f.hunks):
            assert f.path in listed  # partly reviewed files say so
    # ranking: the chunks hold source before tests before docs
    kinds = [diff.file_kind(f.path) for c in packing.chunks for f in c.files]
    assert kinds == sorted(kinds, key=lambda k: diff.KIND_ORDER[k])


def test_restrict_keeps_a_file_changed_since_whose_lines_are_unknown():
    pr = diff.parse(SMALL) + [diff.FileDiff("data/big.csv", None, "added", False, (), "no patch", (30_000, 0))]
    since = [
        diff.FileDiff("app/core.py", None, "modified", False, (), "no patch", (3, 1)),
        diff.FileDiff("data/big.csv", None, "added", False, (), "no patch", (30_000, 0)),
    ]
    restricted = {f.path: f for f in diff.restrict(pr, since)}
    assert [h.new_start for h in restricted["app/core.py"].hunks] == [10, 41]  # all of it: where is unknown
    assert restricted["data/big.csv"].no_patch == "no patch"  # kept, so its reason is listed
    packing = diff_packing.pack(list(restricted.values()), 10_000, len)
    assert packing.not_reviewed == [("data/big.csv", "no patch")]


def test_from_patch_numbers_a_github_patch_and_takes_the_path_from_github():
    patch = "@@ -10,3 +10,4 @@ def load(path):\n     with open(path) as handle:\n-    x\n+    y\n+    z\n     end"
    file = diff.from_patch("src/new name.py", "renamed", patch, "src/old.py")
    assert (file.path, file.old_path, file.status, file.added, file.removed) == (
        "src/new name.py",
        "src/old.py",
        "renamed",
        2,
        1,
    )
    assert file.commentable() == {10, 11, 12, 13}
    with pytest.raises(diff.PatchError):
        diff.from_patch("a.py", "modified", "@@ -1 +1,3 @@\n+one")
