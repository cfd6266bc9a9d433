"""How CommonMark, as cmark-gfm reads it, sees a text: the parts that decide what is code,
a link, an autolink or raw HTML. Reading only; what to keep is shared/github/harmless.py's.

A hand-written scanner, not the parser: it follows cmark-gfm for the constructs that matter to
what Petrel posts (fenced code blocks, HTML blocks, tables split into cells, code spans, link
brackets and destinations, autolinks, bare URLs), and shared/github/html_check.py renders the
result with cmark-gfm itself to catch whatever this misreads. Every scan here is linear: bracket
pairs and code spans are indexed once, and a link destination is read to a limit.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Callable, Iterator

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_BLANK = re.compile(r"^[ \t]*$")
_BLOCK_START = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)]|#{1,6})(?:[ \t]|$)")
# HTML blocks (CommonMark's kinds 1, 2, 6 and 7) whose first tag this scanner keeps: raw HTML up to their end
_HTML_BLOCK_NAMES = frozenset(
    (
        "address",
        "article",
        "aside",
        "base",
        "basefont",
        "blockquote",
        "body",
        "caption",
        "center",
        "col",
        "colgroup",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "frame",
        "frameset",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "header",
        "hr",
        "html",
        "iframe",
        "legend",
        "li",
        "link",
        "main",
        "menu",
        "menuitem",
        "nav",
        "noframes",
        "ol",
        "optgroup",
        "option",
        "p",
        "param",
        "section",
        "source",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "title",
        "tr",
        "track",
        "ul",
    )
)
_HTML_START = re.compile(r"^ {0,3}<(/?)([A-Za-z][A-Za-z0-9\-]*)(?=[\s/>]|$)")
# a thematic break or a setext underline: the paragraph above ends there
_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*|-+[ \t]*)$")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
AT_ENTITY = re.compile(r"&(?:#0*64|#[xX]0*40|commat);")
URI_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*)>")
EMAIL_AUTOLINK = re.compile(
    r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*>"
)
_ATTRIBUTE = r"""(?:\s+[A-Za-z_:][A-Za-z0-9_.:\-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?)"""
OPEN_TAG = re.compile(rf"<([A-Za-z][A-Za-z0-9\-]*)({_ATTRIBUTE}*)\s*/?>")
CLOSE_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9\-]*)\s*>")
ATTRIBUTE_NAME = re.compile(r"""\s+([A-Za-z_:][A-Za-z0-9_.:\-]*)(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?""")
COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)  # in raw HTML: anything to the first -->
# in a paragraph, CommonMark's (0.29) comment: not starting with > or ->, no --, not ending with -
INLINE_COMMENT = re.compile(r"<!--(?!-?>)((?:(?!--).)*?)(?<!-)-->", re.DOTALL)
BARE_URL = re.compile(r"(?:https?://|ftp://|www\.)", re.IGNORECASE)
TASK = re.compile(r"^[ \t]*(?:>[ \t]*)*(?:[-+*]|\d{1,9}[.)])[ \t]+$")


# --------------------------------------------------------------------------- blocks


def _html_block(line: str, in_paragraph: bool, comment_closes: bool, kept: Callable[[re.Match], bool]) -> str | None:
    """The end condition of the HTML block `line` starts ("pre", "comment" or "blank"), or None.
    Only blocks whose opening tag `kept` keeps count: any other tag is escaped, and the line is
    then a paragraph's."""
    if re.match(r"^ {0,3}<!--", line):
        if re.match(r"^ {0,3}<!---?>", line) or not comment_closes:
            return None  # <!--> or unclosed: its <!-- is escaped below, and the line is a paragraph's
        return "comment"
    start = _HTML_START.match(line)
    if not start:
        return None
    name = start.group(2).lower()
    tag = (CLOSE_TAG if start.group(1) else OPEN_TAG).match(line, line.index("<"))
    if not tag or not kept(tag):
        return None
    if name == "pre" and not start.group(1):
        return "pre"
    if name in _HTML_BLOCK_NAMES:
        return "blank"
    if not in_paragraph and not line[tag.end() :].strip():  # kind 7: a lone complete tag, not inside a paragraph
        return "blank"
    return None


def blocks(text: str, kept: Callable[[re.Match], bool]) -> Iterator[tuple[str, str]]:
    """(kind, text) pieces: "code" (a fenced code block, opening line to closing line), "html"
    (an HTML block: raw, no Markdown in it) and "text", cut where no code span or link can cross:
    at blank lines, before a list item, a heading or a break, and around each cell of a table
    (GitHub splits a table's rows at | first). `kept(tag)` says whether a raw HTML tag is kept
    (an HTML block starts only at a kept tag)."""
    pending: list[str] = []
    fence: tuple[str, int] | None = None
    html: str | None = None
    table = False
    lines = _LINE.findall(text)  # CommonMark's line endings only (str.splitlines knows more)
    last_comment_end = max((n for n, line in enumerate(lines) if "-->" in line), default=-1)
    for number, line in enumerate(lines):
        bare = line.rstrip("\r\n")
        if fence is not None:
            pending.append(line)
            char, length = fence
            if re.match(rf"^ {{0,3}}{re.escape(char)}{{{length},}}[ \t]*$", bare):
                yield "code", "".join(pending)
                pending, fence = [], None
            continue
        if html is not None:
            if html == "blank" and _BLANK.match(bare):
                yield "html", "".join(pending)
                pending, html = [], None
            else:
                pending.append(line)
                if _html_ends(html, bare):
                    yield "html", "".join(pending)
                    pending, html = [], None
                continue
        opening = _FENCE_OPEN.match(bare)
        starts_fence = opening and not (opening.group(2)[0] == "`" and "`" in opening.group(3))
        starts_html = _html_block(bare, bool(pending) and not table, number <= last_comment_end, kept)
        quote = bool(re.match(r"^ {0,3}>", bare)) and not (pending and re.match(r"^ {0,3}>", pending[-1]))
        if starts_fence or starts_html or quote or _BLANK.match(bare) or _BLOCK_START.match(bare) or _BREAK.match(bare):
            if pending:
                yield "text", "".join(pending)
            pending, table = [], False
        if starts_html:
            pending, html = [line], starts_html
            if _html_ends(html, bare):
                yield "html", line
                pending, html = [], None
            continue
        if _BREAK.match(bare) or _BLANK.match(bare):
            yield "text", line
            continue
        if starts_fence:
            pending, fence = [line], (opening.group(2)[0], len(opening.group(2)))
            continue
        following = lines[number + 1].rstrip("\r\n") if number + 1 < len(lines) else ""
        table = table or ("|" in bare and bool(_TABLE_DELIMITER.match(following)))
        if table:
            if pending:
                yield "text", "".join(pending)
                pending = []
            for cell in re.split(r"((?<!\\)\|)", line):
                if cell:
                    yield "text", cell
            continue
        pending.append(line)
    if pending:
        yield "code" if fence is not None else "html" if html is not None else "text", "".join(pending)


def _html_ends(kind: str, line: str) -> bool:
    if kind == "pre":
        return bool(re.search(r"</(?:script|pre|style)>", line, re.IGNORECASE))
    if kind == "comment":
        return "-->" in line
    return False


# --------------------------------------------------------------------------- inlines


def unescape(value: str) -> str:
    """A link destination as the browser gets it: backslash escapes and entities resolved."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", value))


def backtick_run(s: str, i: int) -> int:
    """The length of the run of backticks at `i`."""
    j = i
    while j < len(s) and s[j] == "`":
        j += 1
    return j - i


def _code_span_ends(s: str) -> dict[int, int]:
    """Start of each backtick run that opens a code span -> the span's end (CommonMark's rule:
    the next run of the same length closes it; runs inside a span open nothing)."""
    runs = [(run.start(), len(run.group(0))) for run in re.finditer(r"`+", s)]
    by_length: dict[int, list[int]] = {}
    for start, length in runs:
        by_length.setdefault(length, []).append(start)
    ends: dict[int, int] = {}
    covered = 0
    for start, length in runs:
        if start < covered:
            continue
        starts = by_length[length]
        k = bisect.bisect_right(starts, start)
        if k < len(starts):
            ends[start] = covered = starts[k] + length
    return ends


def _raw_tag_end(s: str, i: int) -> int | None:
    """End of an autolink or a raw HTML tag starting at `i` (they take precedence over code spans)."""
    for pattern in (URI_AUTOLINK, EMAIL_AUTOLINK, OPEN_TAG, CLOSE_TAG, INLINE_COMMENT):
        match = pattern.match(s, i)
        if match:
            return match.end()
    return None


def bracket_pairs(s: str) -> dict[int, int]:
    """Each `[` -> its `]` (balanced, skipping escapes, code spans, autolinks and tags), in one pass."""
    spans = _code_span_ends(s)
    pairs, stack, j, n = {}, [], 0, len(s)
    while j < n:
        c = s[j]
        if c == "\\" and j + 1 < n and s[j + 1] in PUNCTUATION:
            j += 2
            continue
        if c == "`":
            run = backtick_run(s, j)
            j = spans.get(j, j + run)
            continue
        if c == "<":
            end = _raw_tag_end(s, j)
            if end is not None:
                j = end
                continue
        if c == "[":
            stack.append(j)
        elif c == "]" and stack:
            pairs[stack.pop()] = j
        j += 1
    return pairs


def link_destination(s: str, k: int, limit: int = 4096) -> tuple[str, int] | None:
    """(destination, end after the closing parenthesis) of an inline link whose `(` is at k - 1
    (None past `limit` characters: the caller escapes the `[`, which is always safe)."""
    n = min(len(s), k + limit)
    j = k
    while j < n and s[j] in " \t\n":
        j += 1
    if j < n and s[j] == "<":
        end = j + 1
        while end < n and s[end] not in "<>\n":
            end += 2 if s[end] == "\\" else 1
        if end >= n or s[end] != ">":
            return None
        destination, j = s[j + 1 : end], end + 1
    else:
        start, depth = j, 0
        while j < n and s[j] > " ":
            c = s[j]
            if c == "\\" and j + 1 < n and s[j + 1] in PUNCTUATION:
                j += 2
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            j += 1
        destination = s[start:j]
    spaced = j
    while j < n and s[j] in " \t\n":
        j += 1
    if j < n and s[j] in "\"'(" and j > spaced:
        close = ")" if s[j] == "(" else s[j]
        j += 1
        while j < n and s[j] != close:
            j += 2 if s[j] == "\\" else 1
        if j >= n:
            return None
        j += 1
        while j < n and s[j] in " \t\n":
            j += 1
    if j < n and s[j] == ")":
        return destination, j + 1
    return None


def url_end(s: str, i: int, early: bool = False) -> int:
    """End of a bare URL starting at `i` as cmark-gfm's autolink finds it (to a space or a `<`,
    less trailing punctuation). `early`: also stop at a quote, `>` or backtick, for a URL about
    to become a code span (what follows it is then read alike by this scanner and by cmark)."""
    stops = "<>\"'`" if early else "<"
    j = i
    while j < len(s) and not s[j].isspace() and s[j] not in stops:
        j += 1
    unbalanced = s.count(")", i, j) - s.count("(", i, j)
    while j > i:
        last = s[j - 1]
        if last in "?!.,:*_~'\"":
            j -= 1
        elif last == ")" and unbalanced > 0:
            j -= 1
            unbalanced -= 1
        elif last == ";" and re.search(r"&[A-Za-z0-9]{1,32};$", s[max(i, j - 34) : j]):
            j -= len(re.search(r"&[A-Za-z0-9]{1,32};$", s[max(i, j - 34) : j]).group(0))
        else:
            break
    return j
