"""A file's lines and spans of them, without I/O: what shared/memory/boundaries.py finds
breaks in and shared/memory/chunking.py makes chunks of.

`Lines` reads "\\r\\n" line ends as "\\n" and drops a leading byte order mark; lines are
counted from 1, and the characters of any range of lines are counted in O(1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Lines start..end (1-based, inclusive) of a file, and the title of what they hold."""

    start: int
    end: int
    title: str | None  # None: untitled, shown as "lines A-B"


def indentation(line: str) -> int:
    """The width of a line's leading whitespace."""
    return len(line) - len(line.lstrip())


class Lines:
    """The file's lines with 1-based access and O(1) character counts of line ranges."""

    def __init__(self, text: str):
        text = text.replace("\r\n", "\n")
        if text.startswith("\ufeff"):
            text = text[1:]
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.lines = lines
        self.n = len(lines)
        self.source = "\n".join(lines) + "\n"
        self.ends = [0]
        for line in lines:
            self.ends.append(self.ends[-1] + len(line) + 1)

    def line(self, i: int) -> str:
        """Line `i` (counted from 1)."""
        return self.lines[i - 1]

    def blank(self, i: int) -> bool:
        """Whether line `i` (counted from 1) holds only whitespace."""
        return not self.lines[i - 1].strip()

    def size(self, start: int, end: int) -> int:
        """Characters of lines start..end joined by newlines."""
        return self.ends[end] - self.ends[start - 1] - 1

    def text(self, start: int, end: int) -> str:
        """Lines start..end (counted from 1, inclusive) joined by newlines."""
        return "\n".join(self.lines[start - 1 : end])

    def trim(self, span: Span) -> Span | None:
        """The span without blank lines at its edges; None when it holds only blank lines."""
        start, end = span.start, span.end
        while start <= end and self.blank(start):
            start += 1
        while end >= start and self.blank(end):
            end -= 1
        return Span(start, end, span.title) if start <= end else None

    def segments(self, marks: dict[int, str | None], first: int, last: int, title: str | None) -> list[Span]:
        """Split first..last at the marked lines (line -> title of the segment it starts);
        the segment before the first mark is titled `title`. Covers first..last exactly."""
        starts = sorted(line for line in marks if first < line <= last)
        bounds = [first, *starts, last + 1]
        return [Span(a, b - 1, marks.get(a, title) if a == first else marks[a]) for a, b in zip(bounds, bounds[1:])]
