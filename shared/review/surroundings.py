"""The code around each change, shown to the review model before that file's hunks.

A hunk alone hides what a changed line sits in: the function's arguments, the check three
lines above, the value it returns. So each hunk of a chunk comes with the function or class
that encloses it as it is at the head (or its declaration, or its heading section:
shared/review/enclosing.py). The blocks of one file are merged where they overlap, and the
lines already in the chunk's hunks are not repeated: a marker names the hunk instead.

These lines carry no number, only a bar, so the model has no line to target on them; a
finding that names one anyway is placed like any line outside the diff
(shared/review/findings.py): moved to the nearest diff line within three lines, else written
in the review body.

The surrounding code has its own budget within the room a chunk leaves (at most
`SURROUNDINGS_TOKENS_CAP`), taken before the repository context from memory, which gets what is
left. When the blocks do not fit, the largest is cut to a window of lines around its hunks,
step by step; what still does not fit is left out, the files reviewed first keeping theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from shared import diff
from shared.diff_packing import Chunk
from shared.memory.boundaries import structured
from shared.memory.spans import Lines
from shared.review.enclosing import Block, innermost, outline

log = logging.getLogger("petrel.review")

SURROUNDINGS_TOKENS_CAP = 8_000
WINDOWS: tuple[int | None, ...] = (None, 40, 20, 10, 5, 2)  # lines kept each side of a hunk: all, then fewer
MAX_LINE_CHARS = 300  # a longer line (minified code) is cut
CHARS_PER_TOKEN = 4  # to size the declarations boundaries.py may keep whole
BAR = "|"
INTRO = (
    "Code around these changes at the head, for reading only "
    "(lines with a bar and no number are not in the diff: never comment on them):"
)

Surroundings = Callable[[Chunk], tuple[dict[str, str], int]]  # chunk -> ({path: code around}, tokens left)


@dataclass
class _Region:
    """Merged blocks of one file, with the chunk's hunks inside them, rendered at a window size."""

    path: str
    lines: Lines
    start: int
    end: int
    title: str
    hunks: list[tuple[int, int, str]] = field(default_factory=list)  # first, last new line, header
    window: int = 0  # index in WINDOWS
    text: str = ""

    def render(self) -> str:
        """The region's lines outside its hunks, each after a bar; markers for hunks and cuts."""
        keep = WINDOWS[self.window]
        title = self.title if len(self.title) <= MAX_LINE_CHARS else self.title[:MAX_LINE_CHARS] + "…"
        out = [f"{BAR} (in {title})"]
        n, cut = self.start, False
        while n <= self.end:
            hunk = next((h for h in self.hunks if h[0] <= n <= h[1]), None)
            if hunk is not None:
                out.append(f"{BAR} ⋮ {hunk[2]}: in the diff below")
                n, cut = hunk[1] + 1, False
                continue
            if keep is None or any(first - keep <= n <= last + keep for first, last, _ in self.hunks):
                line = self.lines.line(n)
                line = line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"
                out.append(f"{BAR} {line}".rstrip())
                cut = False
            elif not cut:
                out.append(f"{BAR} ⋮")
                cut = True
            n += 1
        self.text = "\n".join(out)
        return self.text


def _anchors(hunk: diff.Hunk) -> list[int]:
    """The new-side lines a hunk changes: its added lines, and where its removed lines were."""
    anchors, previous = [], None
    for line in hunk.lines:
        if line.kind == diff.ADDED:
            anchors.append(line.new)
        elif line.kind == diff.REMOVED:
            anchors.append(previous if previous is not None else max(hunk.new_start, 1))
        if line.new is not None:
            previous = line.new
    return anchors


def _matches(file: diff.FileDiff, lines: Lines) -> bool:
    """Whether the head's text is the one the diff was made against (its lines where the diff has them)."""
    return all(
        line.new <= lines.n and lines.line(line.new).rstrip("\r") == line.text.rstrip("\r")
        for hunk in file.hunks
        for line in hunk.lines
        if line.new is not None
    )


def _merge(blocks: list[Block]) -> list[Block]:
    """Overlapping or touching blocks as one; a block inside another takes the outer one's title."""
    merged: list[Block] = []
    for block in sorted(set(blocks), key=lambda b: (b.start, -b.end)):
        if merged and block.start <= merged[-1].end + 1:
            last = merged[-1]
            title = last.title if block.end <= last.end else f"{last.title}; {block.title}"
            merged[-1] = Block(last.start, max(last.end, block.end), title)
        else:
            merged.append(block)
    return merged


def regions(file: diff.FileDiff, lines: Lines, blocks: list[Block]) -> list[_Region]:
    """The merged blocks enclosing the file's changes, with the hunks inside each; only those that
    show at least one line outside the hunks."""
    found = _merge([b for h in file.hunks for n in _anchors(h) if (b := innermost(blocks, n)) is not None])
    out = []
    for block in found:
        region = _Region(file.path, lines, block.start, block.end, block.title)
        for h in file.hunks:
            first, last = max(h.new_start, block.start), min(h.new_start + h.new_length - 1, block.end)
            if h.new_length and first <= last:
                region.hunks.append((first, last, f"@@ -{h.old_start},{h.old_length} +{h.new_start},{h.new_length} @@"))
        inside = {n for first, last, _ in region.hunks for n in range(first, last + 1)}
        if any(n not in inside and not lines.blank(n) for n in range(block.start, block.end + 1)):
            region.render()
            out.append(region)
    return out


def _texts(found: list[_Region]) -> dict[str, str]:
    texts: dict[str, list[str]] = {}
    for region in found:
        texts.setdefault(region.path, [INTRO]).append(region.text)
    return {path: "\n".join(parts) for path, parts in texts.items()}


def fit(found: list[_Region], estimate: Callable[[str], int], budget: int) -> dict[str, str]:
    """The regions' texts per path within `budget` tokens: the largest region cut to a smaller
    window while they do not fit, then the last ones (of the files reviewed last) left out."""
    found = list(found)
    while found:
        texts = _texts(found)
        if sum(estimate(t) for t in texts.values()) <= budget:
            return texts
        cuttable = [r for r in found if r.window < len(WINDOWS) - 1]
        if cuttable:
            largest = max(cuttable, key=lambda r: len(r.text))
            largest.window += 1
            largest.render()
        else:
            found.pop()
    return {}


def surrounding_code(read: Callable[[str], str | None], estimate: Callable[[str], int], room: int) -> Surroundings:
    """What gives each chunk the code around its changes: `read(path)` is the file at the head
    (PullSource.head_file), within min(SURROUNDINGS_TOKENS_CAP, room) tokens; with it, the tokens
    left of `room` for the repository context. Made once per review: each chunk's answer is kept."""
    budget = max(0, min(SURROUNDINGS_TOKENS_CAP, room))
    outlines: dict[str, tuple[Lines, list[Block]] | None] = {}  # a file split over chunks is parsed once

    def structure_of(file: diff.FileDiff) -> tuple[Lines, list[Block]] | None:
        if file.path not in outlines:
            text = read(file.path)
            lines = Lines(text) if text is not None else None
            if lines is not None and not _matches(file, lines):
                log.warning("%s at the head is not the diff's: reviewed without its surroundings", file.path)
                lines = None
            outlines[file.path] = (
                None if lines is None else (lines, outline(file.path, lines, budget * CHARS_PER_TOKEN))
            )
        return outlines[file.path]

    made: dict[int, tuple[Chunk, tuple[dict[str, str], int]]] = {}  # id -> (the chunk, kept alive; its answer)

    def around(chunk: Chunk) -> tuple[dict[str, str], int]:
        # the review's prompt and its second look (for_the_check) both ask: fit each chunk's once
        if id(chunk) not in made:
            made[id(chunk)] = (chunk, fitted(chunk))
        return made[id(chunk)][1]

    def fitted(chunk: Chunk) -> tuple[dict[str, str], int]:
        if not budget:
            return {}, room
        found: list[_Region] = []
        for file in chunk.files:
            # a new file is all in the diff; a removed, binary or unstructured one has nothing around
            if file.status in ("added", "removed") or file.binary or not file.hunks:
                continue
            known = structure_of(file) if structured(file.path) else None  # else: no read
            if known is not None:
                found.extend(regions(file, *known))
        texts = fit(found, estimate, budget)
        return texts, room - sum(estimate(t) for t in texts.values())

    return around


def diff_with_surroundings(chunk: Chunk, around: dict[str, str]) -> str:
    """The chunk's diff with, after each file's header and before its hunks, the code around them."""
    if not around:
        return chunk.text
    return "\n\n".join(
        "\n".join(
            [
                diff.render_file(f, []),
                *([around[f.path]] if f.path in around else []),
                *(diff.render_hunk(h) for h in f.hunks),
            ]
        )
        for f in chunk.files
    )


def for_the_check(around: Surroundings) -> Callable[[Chunk], str]:
    """The code around a chunk's changes as the second look reads it (shared/review/verify.py): each
    file's after its path and without the bars, so that a quote of it compares as code."""

    def text(chunk: Chunk) -> str:
        found, _ = around(chunk)
        return "\n\n".join(
            f"--- {path}\n"
            + "\n".join(line[2:] if line.startswith(f"{BAR} ") else line.lstrip(BAR) for line in block.splitlines()[1:])
            for path, block in found.items()
        )

    return text
