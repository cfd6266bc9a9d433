"""Whether a file's change is provably trivial: the proof Petrel asks for before it believes a
model that says a file needs no review.

The light model once marked every file of a pull request trivial, and none of its 274 changed
lines was reviewed. A model may propose; only these proofs accept, from the diff alone:

- a pure rename (no hunks);
- whitespace only: outside Python (read by its tokens), each line keeps its words as split by
  whitespace (`x = 1` to `x=1` is a change in a shell, `- if: a` to `- if:a` in YAML), and for
  YAML and Makefiles, whose indentation means something, the indentation of each line too;
- comments only: Python by its tokens (`tokenize`, so a `#` inside a string is no comment);
  other languages by their comment markers (`//`, `#`, `/* */`, `--`) and blank lines;
- docstrings and comments in Python, by comparing the syntax trees (`ast`) of the file at the
  head and of the same file with the hunks taken back, when the file at the head can be read.
  A hunk alone cannot prove a docstring: it may start inside a string, and then what looks like
  a docstring is code;
- a version string only: each changed line differs from the one it replaces only in version
  numbers (1.2.3 -> 1.2.4; two-part numbers only on a line that says "version"), inside string
  literals, or anywhere on a line of a package manifest (pyproject.toml, package.json, setup.cfg,
  Cargo.toml...). `if api_version >= 2.0:` to `3.0` is code.

A Python change proven by its hunks (whitespace, comments) is accepted only when the syntax-tree
proof holds too, so only when the file at the head can be read: a hunk may lie inside a multi-line
string, whose `#` lines and spaces are data.

A line that may change how the file is read (`#!`, a coding declaration) is never trivial, nor is
a hunk that holds a multi-line string's delimiter (triple quotes, backticks, raw strings, heredocs)
in a language read by markers, nor a block comment opened or closed by the change alone, nor a Lua
long bracket (`--[[`, `]]`), nor a `//` comment ending in a backslash (C joins the next line to it).
"""

from __future__ import annotations

import ast
import io
import posixpath
import re
import tokenize
from collections.abc import Callable
from dataclasses import replace

from shared import diff
from shared.memory.boundaries import parse_python

WHITESPACE, COMMENTS, VERSION, SYNTAX = "whitespace", "comments", "version string", "syntax tree"
LABELS = {
    WHITESPACE: "whitespace only",
    COMMENTS: "comments only",
    VERSION: "version string only",
    SYNTAX: "comments or docstrings only (same syntax tree)",
}

INDENTED = {".yml", ".yaml", ".mk", "makefile"}  # where indentation is meaning (Python: by its tokens)
PYTHON = (".py", ".pyi")
MANIFESTS = {  # files where a version number outside a string literal is still only a version
    "pyproject.toml",
    "package.json",
    "setup.cfg",
    "cargo.toml",
    "composer.json",
    "pubspec.yaml",
    "chart.yaml",
    ".pre-commit-config.yaml",
    "gemspec",
    "version",
    "version.txt",
}
# a Lua block comment (`--[[`) or long string (`[[`), which may run past the hunk
LUA_LONG_BRACKET = re.compile(r"\[=*\[|\]=*\]")
C_LIKE = (
    ".js .jsx .mjs .cjs .ts .tsx .go .rs .java .kt .kts .c .h .cc .cpp .cxx .hpp .cs .swift .scala .dart "
    ".groovy .scss .less"
).split()
COMMENT_MARKERS: dict[str, tuple[tuple[str, ...], bool]] = {  # extension: (line markers, /* */ blocks)
    **{ext: (("//",), True) for ext in C_LIKE},
    ".css": ((), True),
    ".php": (("//", "#"), True),
    **{ext: (("#",), False) for ext in ".sh .bash .zsh .rb .pl .r .toml .tf .cmake .ex .exs .jl .nix".split()},
    ".ini": (("#", ";"), False),
    ".cfg": (("#", ";"), False),
    "makefile": (("#",), False),
    "dockerfile": (("#",), False),
    **{ext: (("--",), False) for ext in ".sql .lua .hs .elm".split()},
}
# where a multi-line string may start (template and raw strings, heredocs where they exist): the
# marker rules cannot tell its lines from code
MULTILINE_STRING = re.compile(r'`|"""|\'\'\'|(?<!\w)R"[^(\s]*\(|(?<![\w"])r#*"')
HEREDOC = re.compile(r"<<[-~]?\s*['\"]?[A-Za-z_]")
HEREDOC_LANGUAGES = {".sh", ".bash", ".zsh", ".rb", ".pl", ".php", "dockerfile"}
NEVER_TRIVIAL = re.compile(r"^\s*#!|^\s*#.*coding[:=]")
VERSION_TOKEN = re.compile(r"(?<![\w.])v?\d+\.\d+\.\d+(?:[-+.]?[A-Za-z]+\.?\d*)?(?![\w.])")
SHORT_VERSION = re.compile(r"(?<![\w.])v?\d+\.\d+(?![\w.])")
STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')


def _kind(path: str) -> str:
    """The file's extension, or its lower-cased name for files known by name (Makefile)."""
    name = posixpath.basename(path).lower()
    return name if name in ("makefile", "dockerfile") else posixpath.splitext(name)[1]


def _words(text: str) -> str:
    """A line's words as whitespace splits them, one space apart. Whitespace between a word and a
    symbol is kept a boundary: a shell's `x = 1` is not `x=1`, nor `rm -rf $dir` `rm -rf$dir`."""
    return " ".join(text.split())


def _layout(lines: list[str], indented: bool) -> list[str]:
    return [
        (line[: len(line) - len(line.lstrip())] if indented else "") + _words(line) for line in lines if line.strip()
    ]


def _without_marked_comments(lines: list[str], kind: str) -> list[str] | None:
    """The code lines of a hunk's side with comments taken out by their markers, or None when that
    cannot be told (a multi-line string may start or end in the hunk)."""
    markers, blocks = COMMENT_MARKERS[kind]
    heredoc = kind in HEREDOC_LANGUAGES
    if any(MULTILINE_STRING.search(line) or (heredoc and HEREDOC.search(line)) for line in lines):
        return None
    code, in_block = [], False
    if blocks:  # a `*/` before any `/*`: the hunk starts inside a comment block
        first_close = next((n for n, line in enumerate(lines) if "*/" in line or "/*" in line), None)
        in_block = first_close is not None and "*/" in lines[first_close] and "/*" not in lines[first_close]
    for line in lines:
        text = line.strip()
        if in_block:
            if "*/" in text:
                in_block, text = False, text.split("*/", 1)[1].strip()
            else:
                continue
        if blocks and text.startswith("/*"):
            rest = text[2:]
            if "*/" not in rest:
                in_block = True
                continue
            text = rest.split("*/", 1)[1].strip()
        for marker in markers:
            # a marker starts a comment at the line's start or after a space, outside the line's string
            # literals, with no quote left open before it (`$#` in a shell, `a;b` in an INI value,
            # `"http://"` are no comments)
            masked = STRING.sub(lambda literal: "_" * len(literal.group()), text)
            found = re.search(rf"(?:^|(?<=\s)){re.escape(marker)}", masked)
            if found and not re.search(r"[\"'`]", masked[: found.start()]):
                text = text[: found.start()].rstrip()
        if text:
            code.append(line[: len(line) - len(line.lstrip())] + text)
    return code


def _python_code(lines: list[str], levels: list[str], comments: bool) -> list[tuple[int, str]] | None:
    """The tokens of a hunk's side of Python (comments too, or not), without the line breaks that
    end no statement, or None when it does not tokenize. The indentation `levels` (both sides')
    are opened first, so that a hunk may start inside a block."""
    prefix, previous = [], ""
    for level in levels:
        if not level.startswith(previous):
            return None  # tabs and spaces mixed: no proof
        if level:
            prefix.append(previous + "if 1:")
            previous = level
    prefix.append(previous + "pass")
    source = "\n".join(prefix + lines) + "\n"
    skip = {tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER} | (set() if comments else {tokenize.COMMENT})
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    structure = (tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE)
    return [
        (t.type, "" if t.type in structure else t.string)
        for t in tokens
        if t.start[0] > len(prefix) and t.type not in skip
    ]


def _python_proof(old: list[str], new: list[str]) -> str | None:
    levels = sorted({line[: len(line) - len(line.lstrip())] for line in old + new if line.strip()}, key=len)
    for kind, comments in ((WHITESPACE, True), (COMMENTS, False)):
        code = _python_code(old, levels, comments)
        if code is not None and code == _python_code(new, levels, comments):
            return kind
    return None


def _marked_proof(old: list[str], new: list[str], removed: list[str], added: list[str], kind: str) -> str | None:
    if kind == ".lua" and any(LUA_LONG_BRACKET.search(line) for line in old + new):
        return None  # `--[[` opens a block comment (or `[[` a long string) that may run past the hunk
    if _layout(old, kind in INDENTED) == _layout(new, kind in INDENTED):
        return WHITESPACE
    if kind not in COMMENT_MARKERS:
        return None
    markers, blocks = COMMENT_MARKERS[kind]
    if "//" in markers and any("//" in line and line.rstrip().endswith("\\") for line in old + new):
        return None  # a `//` comment ending in a backslash takes the next line into the comment
    if blocks and any(("/*" in line or "*/" in line) and re.search(r"[\"'`]", line) for line in old + new):
        return None  # a block marker and a string on one line: which one holds the other is not told here
    if blocks and any("".join(side).count("/*") != "".join(side).count("*/") for side in (removed, added)):
        return None  # a block opened or closed by the change itself may comment out code beyond the hunk
    before, after = _without_marked_comments(old, kind), _without_marked_comments(new, kind)
    if before is not None and after is not None and _layout(before, False) == _layout(after, False):
        return COMMENTS
    return None


def _without_versions(line: str, manifest: bool) -> str:
    """The line with its version numbers masked: in a manifest all of them, elsewhere only those
    inside string literals (`__version__ = "1.2"`; `if api_version >= 2.0:` is code)."""
    short = "version" in line.lower()

    def masked(text: str) -> str:
        text = VERSION_TOKEN.sub("<v>", text)
        return SHORT_VERSION.sub("<v>", text) if short else text

    return masked(line) if manifest else STRING.sub(lambda literal: masked(literal.group()), line)


def _versions_only(removed: list[str], added: list[str], path: str) -> bool:
    """Each added line replaces one removed line and differs from it only in version numbers."""
    if not removed or len(removed) != len(added):
        return False
    name = posixpath.basename(path).lower()
    manifest = name in MANIFESTS or name.endswith(".gemspec")
    return all(
        old != new and _without_versions(old, manifest) == _without_versions(new, manifest)
        for old, new in zip(removed, added, strict=True)
    )


def hunk_proof(hunk: diff.Hunk, path: str) -> str | None:
    """What the hunk provably changes only (WHITESPACE, COMMENTS or VERSION), or None."""
    kind = _kind(path)
    old = [line.text for line in hunk.lines if line.kind != diff.ADDED]
    new = [line.text for line in hunk.lines if line.kind != diff.REMOVED]
    removed = [line.text for line in hunk.lines if line.kind == diff.REMOVED]
    added = [line.text for line in hunk.lines if line.kind == diff.ADDED]
    if any(NEVER_TRIVIAL.search(text) for text in removed + added):
        return None
    python = kind in PYTHON
    proof = _python_proof(old, new) if python else _marked_proof(old, new, removed, added, kind)
    if proof:
        return proof
    if _versions_only([_words(t) for t in removed if t.strip()], [_words(t) for t in added if t.strip()], path):
        return VERSION
    return None


def taken_back(text: str, file: diff.FileDiff) -> str | None:
    """The file before its hunks: `text` (the file at the head) with each hunk's new lines put back
    to its old ones, or None when the text does not hold the hunks' new lines."""
    lines = text.splitlines()
    for hunk in sorted(file.hunks, key=lambda h: h.new_start, reverse=True):
        new = [line.text for line in hunk.lines if line.kind != diff.REMOVED]
        start = hunk.new_start - 1 if new else hunk.new_start
        if lines[start : start + len(new)] != new:
            return None
        lines[start : start + len(new)] = [line.text for line in hunk.lines if line.kind != diff.ADDED]
    return "\n".join(lines) + "\n"


def _syntax(source: str) -> str | None:
    """The syntax tree of Python `source` without docstrings, as text, or None when it does not parse
    (or is too deep to: then nothing is proven). Parsed under the process-wide lock of parse_python."""
    tree = parse_python(source)
    if tree is None:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    try:
        return ast.dump(tree, include_attributes=False)
    except (RecursionError, MemoryError):
        return None


def why_trivial(file: diff.FileDiff, head_text: Callable[[str], str | None] | None = None) -> str | None:
    """Why the file's change is provably trivial, in words for the review body, or None.

    `head_text(path)` reads the file at the head (None when it cannot): with it, a Python file is
    also proven by its syntax tree, which takes docstrings too.
    """
    if file.binary or file.no_patch or file.status in ("added", "removed"):
        return None
    if not file.hunks:
        return "renamed without changes" if file.status == "renamed" else None
    proofs = [hunk_proof(hunk, file.path) for hunk in file.hunks]
    if _kind(file.path) not in PYTHON:
        return " and ".join(LABELS[kind] for kind in dict.fromkeys(sorted(proofs))) if all(proofs) else None
    # Python: a hunk alone may lie inside a multi-line string, so every hunk not proven a version
    # string must keep the syntax tree, which needs the file at the head
    others = tuple(hunk for hunk, kind in zip(file.hunks, proofs, strict=True) if kind != VERSION)
    if others and (head_text is None or not _same_syntax(replace(file, hunks=others), head_text)):
        return None
    return " and ".join(LABELS[kind] for kind in dict.fromkeys(sorted(kind or SYNTAX for kind in proofs)))


def _same_syntax(file: diff.FileDiff, head_text: Callable[[str], str | None]) -> bool:
    """The Python file at the head and the same file with its hunks taken back have one syntax tree."""
    changed = [t.text for h in file.hunks for t in h.lines if t.kind != diff.CONTEXT]
    if any(map(NEVER_TRIVIAL.search, changed)):
        return False
    text = head_text(file.path)
    before = taken_back(text, file) if text is not None else None
    tree = _syntax(before) if before is not None else None
    return tree is not None and tree == _syntax(text)


def whitespace_only(file: diff.FileDiff) -> bool:
    """True when every hunk of the file only moves whitespace, indentation kept where it means
    something. Never for Python: without the file at the head a hunk may lie inside a string
    (the triage's proof, `why_trivial`, reads the head and may set it aside)."""
    if _kind(file.path) in PYTHON:
        return False
    return bool(file.hunks) and all(hunk_proof(hunk, file.path) == WHITESPACE for hunk in file.hunks)
