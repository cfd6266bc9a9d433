"""Source files, without I/O: split a file into chunks along its structure (which files are
indexed at all is shared/memory/filetypes.py).

Long-term memory stores a repository as chunks: a Python function, a class, a Markdown
section, a window of lines. Each chunk carries its path, its 1-based line range and a title
("def load_config", "class Review / def post", "## Installation", "lines 1-80"), so a
memory hit can be cited and opened at the right place.

Where a file's structure breaks (functions, classes, declarations, headings, by extension)
is shared/memory/boundaries.py. Here, the spans found there are made chunks: spans smaller
than `min_chars` are merged with a neighbour, and any span larger than `max_chars` is split
at line boundaries ("def f (part 2/3)"), at a blank line where possible, never mid-line,
except a single line longer than `max_chars`, whose text is cut to `max_chars`. No line is
lost: the chunks' line ranges are sorted, disjoint, and hold every non-blank line of the
file; blank lines at a chunk's edges are left out.

The text is a `str`: callers decode file contents themselves, with
`data.decode("utf-8", errors="replace")` so that a stray latin-1 byte becomes U+FFFD and
the line numbering stays that of the file. "\\r\\n" line ends are read as "\\n"; a lone
"\\r" is not a line end (Git and GitHub count lines by "\\n" too).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from shared.memory.boundaries import structure
from shared.memory.spans import Lines, Span, indentation

MAX_TITLE = 200  # characters; longer titles (a minified line) are clipped


@dataclass(frozen=True)
class Chunk:
    """A piece of one file for long-term memory and prompts."""

    path: str
    start_line: int  # 1-based, inclusive
    end_line: int  # inclusive
    title: str  # "def load_config", "class Review / def post", "## Installation", "lines 1-80"
    text: str  # the source lines start_line..end_line, joined by "\n"


# --- chunks --------------------------------------------------------------------------------


def _windows(lines: Lines, span: Span, max_chars: int) -> list[Span]:
    """`span` cut at line boundaries into trimmed pieces of at most `max_chars` (a single
    longer line is a piece of its own), titled "title (part i/n)"."""
    ranges = []
    start = span.start
    while start <= span.end:
        if lines.size(start, span.end) <= max_chars:
            ranges.append((start, span.end))
            break
        end = min(span.end, bisect.bisect_right(lines.ends, lines.ends[start - 1] + max_chars + 1) - 1)
        if end < start:  # one line longer than max_chars: alone; its text is cut later
            ranges.append((start, start))
            start += 1
            continue
        cut = _break(lines, start, end, max_chars)
        ranges.append((start, cut))
        start = cut + 1
    pieces = [p for p in (lines.trim(Span(a, b, span.title)) for a, b in ranges) if p]
    if span.title is None or len(pieces) < 2:
        return pieces
    return [Span(p.start, p.end, f"{span.title} (part {i}/{len(pieces)})") for i, p in enumerate(pieces, 1)]


def _break(lines: Lines, start: int, end: int, max_chars: int) -> int:
    """The last line of a window start..end (which fits in max_chars, with more after it):
    at a blank line in its second half if any, else before its least indented line."""
    low = min(end, max(start, bisect.bisect_left(lines.ends, lines.ends[start - 1] + max_chars // 2 + 1)))
    for k in range(end, low - 1, -1):
        if lines.blank(k) or lines.blank(k + 1):
            return k
    best, best_indent = end, indentation(lines.line(end + 1))
    for k in range(end - 1, low - 1, -1):
        indent = indentation(lines.line(k + 1))
        if indent < best_indent:
            best, best_indent = k, indent
    return best


def _merge(lines: Lines, spans: list[Span], min_chars: int, max_chars: int) -> list[list[Span]]:
    """Adjacent spans grouped while one side is smaller than min_chars and the whole fits."""
    groups: list[list[Span]] = []
    for span in spans:
        if groups:
            group = groups[-1]
            small = min(lines.size(group[0].start, group[-1].end), lines.size(span.start, span.end)) < min_chars
            if small and lines.size(group[0].start, span.end) <= max_chars:
                group.append(span)
                continue
        groups.append([span])
    return groups


def _title(group: list[Span]) -> str:
    labels: list[str] = []
    untitled: tuple[int, int] | None = None  # a run of untitled spans reads as one range
    for span in group:
        if span.title is None:
            untitled = (untitled[0] if untitled else span.start, span.end)
            continue
        if untitled:
            labels.append(f"lines {untitled[0]}-{untitled[1]}")
            untitled = None
        labels.append(span.title)
    if untitled:
        labels.append(f"lines {untitled[0]}-{untitled[1]}")
    title = "; ".join(labels) if len(labels) <= 3 else f"{labels[0]}; {labels[1]} and {len(labels) - 2} more"
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def chunk_file(path: str, text: str, *, max_chars: int = 6000, min_chars: int = 200) -> list[Chunk]:
    """Split one file's text into chunks along its structure (see the module docstring).

    Every chunk's text has at most `max_chars` characters; chunks smaller than `min_chars`
    are merged with a neighbour where the result fits (titles joined by "; "). The chunks'
    line ranges are sorted, disjoint and hold every non-blank line of the file. An empty or
    blank file gives [].
    `text` is already decoded (callers use errors="replace" for non-UTF-8 bytes).
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    lines = Lines(text)
    spans = []
    for span in structure(path, lines, max_chars):
        trimmed = lines.trim(span)
        if trimmed is None:
            continue
        if lines.size(trimmed.start, trimmed.end) > max_chars:
            spans.extend(_windows(lines, trimmed, max_chars))
        else:
            spans.append(trimmed)
    chunks = []
    for group in _merge(lines, spans, min_chars, max_chars):
        start, end = group[0].start, group[-1].end
        body = lines.text(start, end)
        chunks.append(Chunk(path, start, end, _title(group), body[:max_chars]))  # only a lone long line is cut
    return chunks
