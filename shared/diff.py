"""Diffs, without I/O: parse, classify, number, rank, render, and place comments (packing into
chunks is in `shared.diff_packing`).

The model sees each hunk with the new-side line numbers written in front of the lines it
may comment on; removed lines stay readable but carry no number. Whatever line the model
answers is checked here against the hunks before it is posted: GitHub refuses a review
comment on a line outside the diff (422), and Petrel never sends one.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import unidiff

ADDED, REMOVED, CONTEXT = "+", "-", " "

LANGUAGES = {
    ".py": "Python",
    ".pyi": "Python",
    ".js": "JavaScript",
    ".jsx": "JavaScript",
    ".mjs": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".go": "Go",
    ".rs": "Rust",
    ".java": "Java",
    ".kt": "Kotlin",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".hpp": "C++",
    ".cs": "C#",
    ".rb": "Ruby",
    ".php": "PHP",
    ".swift": "Swift",
    ".scala": "Scala",
    ".sh": "Shell",
    ".sql": "SQL",
    ".lua": "Lua",
    ".md": "Markdown",
    ".rst": "reStructuredText",
    ".txt": "text",
    ".yml": "YAML",
    ".yaml": "YAML",
    ".json": "JSON",
    ".toml": "TOML",
    ".ini": "INI",
    ".cfg": "INI",
    ".html": "HTML",
    ".css": "CSS",
}
DOC_EXTENSIONS = {".md", ".rst", ".txt", ".adoc"}
CONFIG_EXTENSIONS = {".yml", ".yaml", ".json", ".toml", ".ini", ".cfg", ".xml", ".properties"}
# Review order: what breaks things first.
KIND_ORDER = {"source": 0, "test": 1, "config": 2, "docs": 3}


@dataclass(frozen=True)
class Line:
    """One line of a hunk: its kind, its numbers in the old and new file, its text."""

    kind: str  # "+", "-" or " "
    old: int | None
    new: int | None
    text: str


@dataclass(frozen=True)
class Hunk:
    """One hunk of a file's diff: where it starts and ends on each side, and its lines."""

    old_start: int
    old_length: int
    new_start: int
    new_length: int
    section: str
    lines: tuple[Line, ...]

    @property
    def new_lines(self) -> list[int]:
        """New-side lines a RIGHT-side comment may target: added and context lines."""
        return [line.new for line in self.lines if line.new is not None]

    @property
    def added(self) -> int:
        """How many lines the hunk adds."""
        return sum(1 for line in self.lines if line.kind == ADDED)

    @property
    def removed(self) -> int:
        """How many lines the hunk removes."""
        return sum(1 for line in self.lines if line.kind == REMOVED)


@dataclass(frozen=True)
class FileDiff:
    """One file's change: its paths, status and hunks (none for a binary file or a missing patch)."""

    path: str
    old_path: str | None
    status: str  # added, removed, modified, renamed (GitHub's files lists also say copied, changed)
    binary: bool
    hunks: tuple[Hunk, ...] = field(default_factory=tuple)
    no_patch: str = ""  # why the file changed but its lines are unknown (GitHub gave no patch)
    stated: tuple[int, int] | None = None  # (added, removed) as the source counts them, for a file without hunks

    @property
    def added(self) -> int:
        """Lines added: counted in the hunks, or as the source states it when there are none."""
        if not self.hunks and self.stated is not None:
            return self.stated[0]
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        """Lines removed: counted in the hunks, or as the source states it when there are none."""
        if not self.hunks and self.stated is not None:
            return self.stated[1]
        return sum(h.removed for h in self.hunks)

    @property
    def changed(self) -> int:
        """Lines added and removed."""
        return self.added + self.removed

    @property
    def kind(self) -> str:
        """The file's kind, from its path."""
        return file_kind(self.path)

    @property
    def language(self) -> str:
        """The file's language from its extension, or '' when unknown."""
        return LANGUAGES.get(posixpath.splitext(self.path)[1].lower(), "")

    def commentable(self) -> set[int]:
        """The new file's line numbers inside a hunk (where GitHub accepts a review comment)."""
        return {n for h in self.hunks for n in h.new_lines}


def _decode(diff: str | bytes) -> str:
    if isinstance(diff, str):
        return diff
    # A diff may mix encodings (a latin-1 file among UTF-8 ones). Undecodable bytes become
    # U+FFFD: line structure and numbering are unchanged, which is what comments depend on.
    return diff.decode("utf-8", errors="replace")


def _strip_prefix(name: str | None) -> str | None:
    if name is None or name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse(diff: str | bytes) -> list[FileDiff]:
    """Parse a unified (git) diff into files and hunks with old and new line numbers."""
    patch = unidiff.PatchSet(_decode(diff))
    files = []
    for patched in patch:
        old_path = _strip_prefix(patched.source_file)
        new_path = _strip_prefix(patched.target_file)
        if patched.is_added_file:
            status = "added"
        elif patched.is_removed_file:
            status = "removed"
        elif patched.is_rename:
            status = "renamed"
        else:
            status = "modified"
        hunks = tuple(
            Hunk(
                h.source_start,
                h.source_length,
                h.target_start,
                h.target_length,
                (h.section_header or "").strip(),
                tuple(
                    Line(line.line_type, line.source_line_no, line.target_line_no, line.value.rstrip("\r\n"))
                    for line in h
                    if line.line_type in (ADDED, REMOVED, CONTEXT)
                ),
            )
            for h in patched
        )
        path = new_path or old_path or patched.path
        files.append(
            FileDiff(path, old_path if old_path != path else None, status, bool(patched.is_binary_file), hunks)
        )
    return files


class PatchError(ValueError):
    """A file's patch that is not a readable set of hunks."""


def from_patch(path: str, status: str, patch: str, old_path: str | None = None) -> FileDiff:
    """A file of GitHub's files lists (a pull request's files, a comparison): `patch` holds only
    its hunks. Path and status come from GitHub's own fields, never from the patch text, so a
    file name cannot forge a diff header; a patch that does not parse raises PatchError."""
    text = f"--- a/file\n+++ b/file\n{patch}" + ("" if patch.endswith("\n") else "\n")
    try:
        parsed = parse(text)
    except unidiff.UnidiffParseError as error:
        raise PatchError(str(error)) from None
    if len(parsed) > 1:
        raise PatchError("a patch of one file holds more than one file")
    hunks = parsed[0].hunks if parsed else ()
    return FileDiff(path, old_path if old_path and old_path != path else None, status, False, hunks)


@dataclass(frozen=True)
class Changes:
    """A pull request's changed files, and how many more changed files its source did not list
    (GitHub lists at most 3,000)."""

    files: list[FileDiff]
    unlisted: int = 0


def file_kind(path: str) -> str:
    """source, test, config or docs, from the path alone."""
    lowered = path.lower()
    name = posixpath.basename(lowered)
    ext = posixpath.splitext(name)[1]
    parts = lowered.split("/")
    if (
        any(p in ("test", "tests", "spec", "specs", "__tests__", "testing") for p in parts[:-1])
        or name.startswith("test_")
        or posixpath.splitext(name)[0].endswith(("_test", ".test", "_spec", ".spec"))
    ):
        return "test"
    if (
        ext in DOC_EXTENSIONS
        or "docs" in parts[:-1]
        or "doc" in parts[:-1]
        or name in ("readme", "changelog", "license")
    ):
        return "docs"
    if ext in CONFIG_EXTENSIONS or name.startswith(".") or name in ("dockerfile", "makefile"):
        return "config"
    return "source"


def rank(files: Iterable[FileDiff]) -> list[FileDiff]:
    """Source before tests before config before docs; within a kind, most changed lines first."""
    return sorted(files, key=lambda f: (KIND_ORDER[f.kind], -f.changed, f.path))


def render_hunk(hunk: Hunk) -> str:
    """A hunk for the model: new-side numbers on the lines it may comment on."""
    out = [f"@@ -{hunk.old_start},{hunk.old_length} +{hunk.new_start},{hunk.new_length} @@ {hunk.section}".rstrip()]
    for line in hunk.lines:
        number = f"{line.new:>5}" if line.new is not None else "     "
        out.append(f"{number} {line.kind}{line.text}")
    return "\n".join(out)


def render_file(file: FileDiff, hunks: Iterable[Hunk] | None = None) -> str:
    """The file's header and its hunks (all, or those given) as text for the model."""
    header = f"### {file.path}"
    if file.old_path:
        header += f" (renamed from {file.old_path})"
    header += f" [{file.status}, +{file.added} -{file.removed}]"
    return "\n".join([header, *(render_hunk(h) for h in (file.hunks if hunks is None else hunks))])


def hunk_at(file: FileDiff, line: int, slack: int = 0) -> Hunk | None:
    """The hunk whose new-side range holds `line` (widened by `slack` lines)."""
    for hunk in file.hunks:
        lines = hunk.new_lines
        if lines and lines[0] - slack <= line <= lines[-1] + slack:
            return hunk
    return None


def place(file: FileDiff, line: int, max_move: int = 3) -> int | None:
    """Where a comment for `line` may land: the line itself if it is in the diff, else the
    nearest line of the same hunk within `max_move` lines, else None (it goes to the body)."""
    hunk = hunk_at(file, line, slack=max_move)
    if hunk is None:
        return None
    nearest = min(hunk.new_lines, key=lambda n: (abs(n - line), n))
    return nearest if abs(nearest - line) <= max_move else None


def nearest_change(file: FileDiff, line: int, max_move: int = 3) -> int | None:
    """For a comment on an unchanged line of a hunk (a context line, or an added blank line): the
    nearest added line with text in the same hunk within `max_move` lines (the earlier on a tie),
    or None when `line` is such a line itself or none is near."""
    hunk = hunk_at(file, line)
    if hunk is None:
        return None
    changed = [l.new for l in hunk.lines if l.kind == ADDED and l.text.strip()]
    if line in changed or not changed:
        return None
    nearest = min(changed, key=lambda n: (abs(n - line), n))
    return nearest if abs(nearest - line) <= max_move else None


def text_at(file: FileDiff, line: int) -> str | None:
    """The text of the new file's `line`, where a hunk shows it."""
    hunk = hunk_at(file, line)
    return next((l.text for l in hunk.lines if l.new == line), None) if hunk else None


def changed_new_lines(file: FileDiff) -> set[int]:
    """The new file's numbers of the lines the diff adds."""
    return {line.new for h in file.hunks for line in h.lines if line.kind == ADDED}


def restrict(files: list[FileDiff], since: list[FileDiff]) -> list[FileDiff]:
    """The parts of a pull request's diff that changed in `since` (the diff from the last
    reviewed head to the new head): hunks that overlap lines added or removed since then.

    Comments still land on the pull request's own diff, so they stay valid for GitHub. A file
    that changed since but whose lines are unknown (no hunks: binary, or no patch given) counts
    as changed everywhere; a touched file without hunks is kept, so its reason gets listed.
    """
    touched: dict[str, set[int] | None] = {}
    for file in since:
        if not file.hunks:
            touched[file.path] = None
            continue
        lines = changed_new_lines(file)
        for hunk in file.hunks:
            if hunk.removed and not hunk.added:  # a pure removal touches the line where it was
                lines.add(max(hunk.new_start, 1))
        touched[file.path] = lines
    result = []
    for file in files:
        if file.path not in touched:
            continue
        lines = touched[file.path]
        if lines is None or not file.hunks:
            result.append(file)
            continue
        kept = tuple(
            h for h in file.hunks if lines.intersection(range(h.new_start, h.new_start + max(h.new_length, 1)))
        )
        if kept:
            result.append(replace(file, hunks=kept))
    return result
