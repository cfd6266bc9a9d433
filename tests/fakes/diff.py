"""Unified diffs, as the fake GitHub reads them to judge review comments.

The fake judges review comments against the diff with its own small parser (it does not
import the project's code, so that it judges independently). GitHub's size limits on diffs
live here too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from fakes.errors import _HTTPError
from fakes.state import MAX_DIFF_FILES, MAX_DIFF_LINES, MAX_FILE_DIFF_BYTES, MAX_FILE_DIFF_LINES, REVIEW_DOCS

_HUNK_RE = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote_path(s: str) -> str:
    """Undo git's C-style quoting of a path ("a/t\303\244st" -> a/täst); plain paths pass through."""
    s = s.rstrip("\t")  # git appends a tab to ---/+++ names that contain a space
    if len(s) < 2 or not (s.startswith('"') and s.endswith('"')):
        return s
    out = bytearray()
    body, i = s[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.append(_C_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str) -> str | None:
    path = _unquote_path(path)
    if path == "/dev/null":
        return None
    if path[:2] in ("a/", "b/"):
        return path[2:]
    return path


def _split_git_header(rest: str) -> tuple[str | None, str | None]:
    """The two paths of ``diff --git a/X b/Y`` (ambiguous when names contain " b/"; the
    ---/+++ and rename lines, when present, override what this finds)."""
    if rest.startswith('"'):
        m = re.match(r'("(?:[^"\\]|\\.)*")\s+(.*)\Z', rest)
        if m:
            return _strip_prefix(m.group(1)), _strip_prefix(m.group(2))
    idx = rest.find(' "')
    if idx > 0 and rest.endswith('"'):
        return _strip_prefix(rest[:idx]), _strip_prefix(rest[idx + 1 :])
    if len(rest) % 2 == 1:  # "a/X b/X": the same name twice
        half = len(rest) // 2
        a, b = rest[:half], rest[half + 1 :]
        if rest[half] == " " and a[2:] == b[2:]:
            return _strip_prefix(a), _strip_prefix(b)
    idx = rest.find(" b/")
    if idx > 0:
        return _strip_prefix(rest[:idx]), _strip_prefix(rest[idx + 1 :])
    return None, None


@dataclass
class PatchLine:
    """One line of a file's patch. ``kind``: "@" (hunk header), " ", "+", "-" or "\\"."""

    kind: str
    text: str  # the line exactly as in the diff
    old: int | None  # old-file line number (context and removed lines)
    new: int | None  # new-file line number (context and added lines)
    hunk: int  # index of the hunk the line belongs to


@dataclass
class FileDiff:
    old_path: str | None = None
    new_path: str | None = None
    status: str = "modified"  # added, removed, modified, renamed, copied, changed
    binary: bool = False
    old_blob: str | None = None  # abbreviated, from the ``index`` line
    new_blob: str | None = None
    lines: list[PatchLine] = field(default_factory=list)  # hunk headers included; index = diff position
    additions: int = 0
    deletions: int = 0

    @property
    def filename(self) -> str:
        return self.new_path if self.new_path is not None else (self.old_path or "")

    @property
    def patch(self) -> str | None:
        """What GitHub's files APIs give as ``patch``: the hunks; None for binary or hunk-less files."""
        if self.binary or not self.lines:
            return None
        return "\n".join(line.text for line in self.lines)

    def find(self, side: str, number: int) -> int | None:
        """Index in ``lines`` of the diff line that is ``number`` on ``side`` (RIGHT: new-file
        numbers of context and added lines; LEFT: old-file numbers of context and removed lines)."""
        for i, line in enumerate(self.lines):
            if side == "RIGHT" and line.kind in (" ", "+") and line.new == number:
                return i
            if side == "LEFT" and line.kind in (" ", "-") and line.old == number:
                return i
        return None

    def hunk_text(self, index: int, start_index: int | None = None) -> str:
        """GitHub's ``diff_hunk`` of a comment: from the hunk header down to the commented line."""
        first = index if start_index is None else min(index, start_index)
        head = first
        while head > 0 and self.lines[head].kind != "@":
            head -= 1
        return "\n".join(line.text for line in self.lines[head : index + 1])


def parse_diff(text: str) -> list[FileDiff]:
    """Parse git's unified diff format (renames, copies, mode changes, binary files included)."""
    return list(_parse_diff_cached(text))


@functools.lru_cache(maxsize=64)
def _parse_diff_cached(text: str) -> tuple[FileDiff, ...]:
    lines = text.split("\n")
    files: list[FileDiff] = []
    cur: FileDiff | None = None
    flags: set[str] = set()
    in_binary_patch = False

    def finish() -> None:
        if cur is None:
            return
        if "new" in flags or (cur.old_path is None and cur.new_path is not None and "header" not in flags):
            cur.status = "added"
        elif "deleted" in flags or (cur.new_path is None and cur.old_path is not None and "header" not in flags):
            cur.status = "removed"
        elif "rename" in flags:
            cur.status = "renamed"
        elif "copy" in flags:
            cur.status = "copied"
        elif "mode" in flags and not cur.lines and not cur.binary:
            cur.status = "changed"
        else:
            cur.status = "modified"
        if cur.status == "added":
            cur.old_path = None
        if cur.status == "removed":
            cur.new_path = None

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            finish()
            cur = FileDiff()
            flags = {"header"}
            in_binary_patch = False
            cur.old_path, cur.new_path = _split_git_header(line[len("diff --git ") :])
            files.append(cur)
            i += 1
            continue
        if cur is None or in_binary_patch:
            i += 1
            continue
        m = _HUNK_RE.match(line)
        if m:
            old_no, new_no = int(m.group(1)), int(m.group(3))
            old_left = int(m.group(2)) if m.group(2) is not None else 1
            new_left = int(m.group(4)) if m.group(4) is not None else 1
            hunk = sum(1 for pl in cur.lines if pl.kind == "@")
            cur.lines.append(PatchLine("@", line, None, None, hunk))
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                body = lines[i]
                kind = body[:1] or " "  # an empty line is a context line whose space was stripped
                if body.startswith("diff --git ") or _HUNK_RE.match(body):
                    break
                if kind == "+" and new_left > 0:
                    cur.lines.append(PatchLine("+", body, None, new_no, hunk))
                    new_no, new_left = new_no + 1, new_left - 1
                    cur.additions += 1
                elif kind == "-" and old_left > 0:
                    cur.lines.append(PatchLine("-", body, old_no, None, hunk))
                    old_no, old_left = old_no + 1, old_left - 1
                    cur.deletions += 1
                elif kind == " " and old_left > 0 and new_left > 0:
                    cur.lines.append(PatchLine(" ", body, old_no, new_no, hunk))
                    old_no, new_no, old_left, new_left = old_no + 1, new_no + 1, old_left - 1, new_left - 1
                elif kind == "\\":
                    cur.lines.append(PatchLine("\\", body, None, None, hunk))
                else:
                    break  # malformed: the hunk is shorter than its header says
                i += 1
            while i < len(lines) and lines[i].startswith("\\"):  # "\ No newline at end of file"
                cur.lines.append(PatchLine("\\", lines[i], None, None, hunk))
                i += 1
            continue
        if not cur.lines:  # extended header lines, before the first hunk
            if line.startswith("new file mode"):
                flags.add("new")
            elif line.startswith("deleted file mode"):
                flags.add("deleted")
            elif line.startswith("old mode") or line.startswith("new mode"):
                flags.add("mode")
            elif line.startswith("rename from "):
                flags.add("rename")
                cur.old_path = _unquote_path(line[len("rename from ") :])
            elif line.startswith("rename to "):
                flags.add("rename")
                cur.new_path = _unquote_path(line[len("rename to ") :])
            elif line.startswith("copy from "):
                flags.add("copy")
                cur.old_path = _unquote_path(line[len("copy from ") :])
            elif line.startswith("copy to "):
                flags.add("copy")
                cur.new_path = _unquote_path(line[len("copy to ") :])
            elif line.startswith("index "):
                im = re.match(r"index ([0-9a-fA-F]+)\.\.([0-9a-fA-F]+)", line)
                if im:
                    cur.old_blob, cur.new_blob = im.group(1).lower(), im.group(2).lower()
            elif line.startswith("--- "):
                cur.old_path = _strip_prefix(line[4:])
            elif line.startswith("+++ "):
                cur.new_path = _strip_prefix(line[4:])
            elif line.startswith("Binary files "):
                cur.binary = True
            elif line.startswith("GIT binary patch"):
                cur.binary = True
                in_binary_patch = True
        i += 1
    finish()
    return tuple(files)


def _refuse_large_diff(text: str) -> None:
    """GitHub's 406 for a diff (media type) past 300 files or 20,000 changed lines."""
    files = parse_diff(text)
    if len(files) > MAX_DIFF_FILES:
        message = (
            f"Sorry, the diff exceeded the maximum number of files ({MAX_DIFF_FILES}). Consider using "
            "'List pull requests files' API or locally cloning the repository instead."
        )
    elif sum(f.additions + f.deletions for f in files) > MAX_DIFF_LINES:
        message = f"Sorry, the diff exceeded the maximum number of lines ({MAX_DIFF_LINES})"
    else:
        return
    raise _HTTPError(
        406,
        {
            "message": message,
            "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files",
            "status": "406",
        },
    )


def _patch_too_large(patch: str) -> bool:
    """A file's diff GitHub's files lists give no ``patch`` for (its counts stay)."""
    return patch.count("\n") + 1 > MAX_FILE_DIFF_LINES or len(patch.encode()) > MAX_FILE_DIFF_BYTES


def _unprocessable(*messages: str, docs: str = REVIEW_DOCS) -> _HTTPError:
    return _HTTPError(
        422, {"message": "Unprocessable Entity", "errors": list(messages), "documentation_url": docs, "status": "422"}
    )
