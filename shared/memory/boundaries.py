"""Where a file's structure breaks, without I/O: the spans of lines a chunk may start at.

Kept apart from the chunker (shared/memory/chunking.py, which merges small spans and cuts
large ones) because each language's boundaries are their own study. How a file is split
depends on its extension:

- Python: along top-level `def` / `async def` / `class` (from `ast`, decorators and the
  comment block right above included); the module preamble (docstring, imports,
  constants) is its own span; a class larger than `max_chars` is split into its methods
  ("class X / def m"). A file `ast` cannot parse falls back to one untitled span.
- JS/TS, Go, Rust, Java, Kotlin, Scala, Swift, C#, C/C++, Ruby, PHP: at lines that start a
  top-level declaration at column 0 (comments, decorators, annotations and attributes right
  above go with it); title = that line, trimmed, without a trailing "{". A declaration still larger than
  `max_chars` is split at its members (methods, nested types) the same way.
- Markdown, reStructuredText, AsciiDoc: at headings (not inside fenced code); title = the
  heading ("## Installation" in Markdown, the title text in reST).
- Anything else: one untitled span, which the chunker cuts into windows of lines.
"""

from __future__ import annotations

import ast
import posixpath
import re
import threading
import warnings
from dataclasses import dataclass

from shared.memory.spans import Lines, Span, indentation

# --- Python --------------------------------------------------------------------------------

_PY_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _py_title(node: ast.AST) -> str:
    kind = {ast.FunctionDef: "def", ast.AsyncFunctionDef: "async def", ast.ClassDef: "class"}[type(node)]
    return f"{kind} {node.name}"


def _py_start(lines: Lines, node: ast.AST, floor: int) -> int:
    """First line of a definition: its decorators, and the comment block right above them
    (not reaching line `floor`, the end of the statement before)."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list), lines.n])
    while start - 1 > floor and lines.line(start - 1).lstrip().startswith("#"):
        start -= 1
    return max(start, floor + 1)


def _py_marks(
    lines: Lines, body: list[ast.stmt], floor: int, prefix: str, gap: str
) -> tuple[dict[int, str | None], dict[int, ast.AST]]:
    """Start line -> title for the definitions in `body` and for the code after each one;
    and start line -> definition."""
    marks: dict[int, str | None] = {}
    defs: dict[int, ast.AST] = {}
    for node in body:
        if isinstance(node, _PY_DEFS):
            start = _py_start(lines, node, floor)
            marks[start] = prefix + _py_title(node)
            marks[node.end_lineno + 1] = gap
            defs[start] = node
        floor = node.end_lineno
    return marks, defs


_PARSING = threading.Lock()


def parse_python(source: str) -> ast.Module | None:
    """Python's syntax tree of `source`, or None when it does not parse. One parse at a time in
    the process: CPython 3.11 can fail ("AST constructor recursion depth mismatch") when two
    threads parse at once, as two chunks of one review or a review beside the indexer would."""
    try:
        with _PARSING, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _python(lines: Lines, max_chars: int) -> list[Span] | None:
    tree = parse_python(lines.source)
    if tree is None:
        return None
    marks, defs = _py_marks(lines, tree.body, 0, "", "module code")
    out = []
    for span in lines.segments(marks, 1, lines.n, "module preamble"):
        node = defs.get(span.start)
        trimmed = lines.trim(span)
        if isinstance(node, ast.ClassDef) and trimmed and lines.size(trimmed.start, trimmed.end) > max_chars:
            title = _py_title(node)
            members, _ = _py_marks(lines, node.body, node.lineno, title + " / ", title)
            out.extend(lines.segments(members, span.start, span.end, title))
        else:
            out.append(span)
    return out


# --- other languages: declarations at column 0 ---------------------------------------------


@dataclass(frozen=True)
class _Language:
    top: re.Pattern  # a line (at column 0) that starts a top-level declaration
    member: re.Pattern | None  # an indented line (stripped) that starts a member declaration
    attach: re.Pattern  # a line (stripped) right above a declaration that belongs to it


_COMMENT = r"//|/\*|\*"

_JS_TOP = (
    r"(export\s+(default\s+)?)?(declare\s+)?(async\s+)?function\b"
    r"|(export\s+(default\s+)?)?(declare\s+)?(abstract\s+)?class\b"
    r"|(export\s+)?(declare\s+)?(interface|enum|namespace)\s+[\w$]"
    r"|(export\s+)?(declare\s+)?type\s+[\w$]+\s*(<[^=]*>)?\s*="
    r"|(const|let|var)\s+[\w$]+\s*(:[^=]+)?=\s*(async\s+)?(function\b|(\([^)]*\)|[\w$]+)\s*(:[^=]+)?=>|\([^)]*$)"
    r"|export\s+(default|const|let|var|enum)\b"
    r"|module\.exports\b"
)
_JS_MEMBER = (
    r"(?!(if|for|while|switch|catch|return|function|else|do|with|new|await|typeof|delete|throw|yield)\b)"
    r"((public|private|protected|static|readonly|async|override|abstract|get|set|declare)\s+)*"
    r"\*?[#\w$]+\s*(<[^>]*>)?\s*\([^;]*\)\s*(:\s*[^;{]+)?\{\s*$"
)
_JAVA_MODS = r"public|protected|private|static|final|abstract|synchronized|native|default|strictfp|sealed|non-sealed"
_CS_MODS = (
    r"public|private|protected|internal|static|abstract|sealed|partial|readonly|unsafe|file|ref|new"
    r"|virtual|override|async|extern|const|volatile"
)
_KOTLIN_MODS = (
    r"public|private|protected|internal|open|abstract|final|sealed|data|inline|value|enum|annotation"
    r"|inner|suspend|tailrec|operator|infix|external|expect|actual|const|override|lateinit|companion|fun"
)
_SWIFT_MODS = (
    r"public|private|fileprivate|internal|open|final|static|class|override|convenience|required"
    r"|mutating|nonmutating|indirect|lazy|weak|unowned|dynamic|nonisolated|@\w+(\([^)]*\))?"
)
_SCALA_MODS = r"private|protected|final|sealed|abstract|implicit|lazy|case|override|inline|opaque|transparent|open"
_RUST_TOP = (
    r"(pub(\s*\([^)]*\))?\s+)?((default|async|const|unsafe|extern(\s+\"[^\"]*\")?)\s+)*"
    r"(fn|struct|enum|trait|impl|mod|type|union|static|const)\b|macro_rules!"
)
_C_NOT = (
    r"(?!(if|else|for|while|switch|return|do|case|goto|sizeof|using|typedef|delete|new|throw"
    r"|public|private|protected)\b)"
)
_C_TYPES = r"((static|extern|inline|const|constexpr|typedef|export)\s+)*(struct|class|union|enum|namespace)\b"
_C_TOP = (
    _C_TYPES + r"|((static|extern|const)\s+)+[^;(=]*=\s*\{?\s*$"  # static tables
    r"|" + _C_NOT + r"[A-Za-z_][\w:<>,\*&\s~]*\([^;]*$"
)
_C_MEMBER = (
    _C_TYPES + "|" + _C_NOT + r"((static|virtual|inline|explicit|constexpr|const|friend|unsigned|signed"
    r"|long|short)\s+)*[A-Za-z_][\w:<>,\*&]*[\s\*&]+[~\w:]+\s*\([^;]*$"
)
_TYPED_MEMBER = r"(({mods})\s+)+(<[^>]+>\s+)?([\w<>\[\],.?]+\s+)?\w+\s*(<[^>]*>)?\s*\("


def _language(top: str, member: str | None, attach: str) -> _Language:
    return _Language(re.compile(top), re.compile(member) if member is not None else None, re.compile(attach))


_JS = _language(_JS_TOP, _JS_TOP + "|" + _JS_MEMBER, _COMMENT + r"|@[\w$]")
_JAVA_TOP = rf"(({_JAVA_MODS})\s+)*(class|interface|enum|record|@interface)\b"
_CS_TOP = rf"(({_CS_MODS})\s+)*(class|interface|enum|struct|record|namespace|delegate)\b"
_KOTLIN = rf"(({_KOTLIN_MODS})\s+)*(class|interface|object|fun|val|var|typealias|init|constructor)\b"
_SWIFT = (
    rf"(({_SWIFT_MODS})\s+)*"
    r"(class|struct|enum|protocol|extension|func|actor|typealias|init|deinit|subscript|let|var)\b"
)
_SCALA = rf"(({_SCALA_MODS})(\[[^\]]*\])?\s+)*(class|trait|object|def|val|var|type|enum|given|extension)\b"
_C = _language(_C_TOP, _C_MEMBER, _COMMENT + r"|template\s*<|[A-Za-z_][\w\s\*&<>,:]*[\w\*&>]$")

_REGEX_LANGUAGES: dict[str, _Language] = {
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"), _JS),
    ".go": _language(r"(func|type|var|const)\b", None, r"//"),
    ".rs": _language(_RUST_TOP, _RUST_TOP, _COMMENT + r"|#!?\["),
    ".java": _language(_JAVA_TOP, _JAVA_TOP + "|" + _TYPED_MEMBER.format(mods=_JAVA_MODS), _COMMENT + r"|@\w"),
    ".cs": _language(_CS_TOP, _CS_TOP + "|" + _TYPED_MEMBER.format(mods=_CS_MODS), _COMMENT + r"|\["),
    **dict.fromkeys((".kt", ".kts"), _language(_KOTLIN, _KOTLIN, _COMMENT + r"|@\w")),
    ".swift": _language(_SWIFT, _SWIFT, _COMMENT + r"|@\w"),
    **dict.fromkeys((".scala", ".sc"), _language(_SCALA, _SCALA, _COMMENT + r"|@\w")),
    **dict.fromkeys((".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"), _C),
    ".rb": _language(r"(class|module|def)\b", r"((private|protected|public)\s+)?(class|module|def)\b", r"#"),
    ".php": _language(
        r"((abstract|final|readonly)\s+)*(class|interface|trait|enum|function)\b|namespace\b",
        r"((public|protected|private|static|abstract|final|readonly)\s+)*"
        r"(class|interface|trait|enum|function)\b",
        _COMMENT + r"|#",
    ),
}
_MAX_DEPTH = 3  # member levels a large declaration is split into


def _declaration_title(line: str) -> str:
    """The declaration line, trimmed, without the "{" that opens its body."""
    return line.strip().removesuffix("{").rstrip() or line.strip()


def _attach(lines: Lines, i: int, floor: int, language: _Language) -> int:
    """Line i extended upward over the comments/annotations right above it (above `floor`)."""
    start = i
    while start - 1 > floor and not lines.blank(start - 1) and language.attach.match(lines.line(start - 1).strip()):
        start -= 1
    return start


def _declarations(lines: Lines, language: _Language) -> list[Span]:
    marks: dict[int, str | None] = {}
    floor = 0
    for i, line in enumerate(lines.lines, 1):
        if language.top.match(line):
            marks[_attach(lines, i, floor, language)] = _declaration_title(line)
            floor = i
    return lines.segments(marks, 1, lines.n, "preamble")


def _members(
    lines: Lines, span: Span, language: _Language, max_chars: int, indent: int = 0, depth: int = 0
) -> list[Span]:
    """A declaration larger than max_chars, split at its least indented member declarations."""
    trimmed = lines.trim(span)
    if (
        trimmed is None
        or language.member is None
        or depth >= _MAX_DEPTH
        or lines.size(trimmed.start, trimmed.end) <= max_chars
    ):
        return [span]
    found = [
        (i, indentation(lines.line(i)))
        for i in range(trimmed.start + 1, trimmed.end + 1)
        if indentation(lines.line(i)) > indent and language.member.match(lines.line(i).strip())
    ]
    if not found:
        return [span]
    level = min(column for _, column in found)
    parent = span.title or "preamble"
    marks: dict[int, str | None] = {}
    floor = trimmed.start
    for i, column in found:
        if column == level:
            marks[_attach(lines, i, floor, language)] = f"{parent} / {_declaration_title(lines.line(i))}"
            floor = i
    return [
        piece
        for sub in lines.segments(marks, span.start, span.end, span.title)
        for piece in _members(lines, sub, language, max_chars, level, depth + 1)
    ]


# --- documents -----------------------------------------------------------------------------

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r" {0,3}(#{1,6})\s+(.+?)(\s+#+)?\s*$")
_SETEXT = re.compile(r" {0,3}(=+|-+)\s*$")
_NOT_SETEXT_TEXT = re.compile(r"\s{4}|\s*([-*+>|]\s|\d+[.)]\s|#|`{3}|~{3})")
_RST_ADORNMENT = re.compile(r"([=\-`:'\"~^_*+#<>.])\1{2,}\s*$")
_ADOC = re.compile(r"={1,6}\s+\S")


def _markdown(lines: Lines) -> list[Span]:
    marks: dict[int, str | None] = {}
    first = 1
    if lines.n and lines.line(1).strip() == "---":  # YAML front matter
        for i in range(2, lines.n + 1):
            if lines.line(i).strip() in ("---", "..."):
                first = i + 1
                break
    fence: str | None = None
    for i in range(first, lines.n + 1):
        line = lines.line(i)
        opening = _FENCE.match(line)
        if fence is not None:
            if (
                opening
                and opening.group(1)[0] == fence[0]
                and len(opening.group(1)) >= len(fence)
                and not line.strip()[len(opening.group(1)) :].strip()
            ):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _ATX.match(line)
        if heading:
            marks[i] = f"{heading.group(1)} {heading.group(2).strip()}"
            continue
        underline = _SETEXT.match(line)
        if (
            underline
            and i - 1 >= first
            and i - 1 not in marks
            and not lines.blank(i - 1)
            and not _NOT_SETEXT_TEXT.match(lines.line(i - 1))
            and (i - 2 < first or lines.blank(i - 2))
        ):
            level = "#" if underline.group(1)[0] == "=" else "##"
            marks[i - 1] = f"{level} {lines.line(i - 1).strip()}"
    return lines.segments(marks, 1, lines.n, "preamble")


def _rst(lines: Lines) -> list[Span]:
    marks: dict[int, str | None] = {}
    for i in range(2, lines.n + 1):
        adornment = _RST_ADORNMENT.match(lines.line(i))
        title = lines.line(i - 1)
        if (
            not adornment
            or lines.blank(i - 1)
            or title[0].isspace()
            or _RST_ADORNMENT.match(title)
            or len(lines.line(i).rstrip()) < len(title.rstrip())
        ):
            continue
        if i - 2 >= 1 and lines.line(i - 2).rstrip() == lines.line(i).rstrip():  # overline
            marks[i - 2] = title.strip()
        elif i - 2 < 1 or lines.blank(i - 2):
            marks[i - 1] = title.strip()
    return lines.segments(marks, 1, lines.n, "preamble")


def _asciidoc(lines: Lines) -> list[Span]:
    marks: dict[int, str | None] = {i: line.strip() for i, line in enumerate(lines.lines, 1) if _ADOC.match(line)}
    return lines.segments(marks, 1, lines.n, "preamble")


_DOC_SPLITTERS = {
    **dict.fromkeys((".md", ".markdown", ".mdx", ".mkd"), _markdown),
    ".rst": _rst,
    **dict.fromkeys((".adoc", ".asciidoc"), _asciidoc),
}


# --- the whole file ------------------------------------------------------------------------


_PYTHON = (".py", ".pyi", ".pyw")


def _extension(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path).lower())[1]


def structured(path: str) -> bool:
    """Whether files of this name are split along declarations or headings (else: one untitled span)."""
    ext = _extension(path)
    return ext in _PYTHON or ext in _REGEX_LANGUAGES or ext in _DOC_SPLITTERS


def structure(path: str, lines: Lines, max_chars: int) -> list[Span]:
    """Spans covering the whole file, along its structure (one untitled span if none)."""
    ext = _extension(path)
    if ext in _PYTHON:
        spans = _python(lines, max_chars)
        if spans is not None:
            return spans
    elif ext in _REGEX_LANGUAGES:
        language = _REGEX_LANGUAGES[ext]
        return [
            piece for span in _declarations(lines, language) for piece in _members(lines, span, language, max_chars)
        ]
    elif ext in _DOC_SPLITTERS:
        return _DOC_SPLITTERS[ext](lines)
    return [Span(1, lines.n, None)]
