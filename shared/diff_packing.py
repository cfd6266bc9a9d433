"""Packing a pull request's ranked files into chunks, each small enough for one model call.

Nothing is dropped silently: what does not fit is listed in `Packing.not_reviewed` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from shared.diff import FileDiff, Hunk, render_file, render_hunk


@dataclass(frozen=True)
class Chunk:
    """Part of a pull request small enough for one model call."""

    files: tuple[FileDiff, ...]  # each holding only the hunks in this chunk
    text: str
    tokens: int

    @property
    def changed(self) -> int:
        """Lines added and removed in the chunk's files."""
        return sum(f.changed for f in self.files)


@dataclass(frozen=True)
class Packing:
    """The chunks of a pull request, and the files left out with the reason."""

    chunks: list[Chunk]
    not_reviewed: list[tuple[str, str]]  # (path, reason)


def pack(
    files: Iterable[FileDiff], chunk_tokens: int, estimate: Callable[[str], int], max_chunks: int | None = None
) -> Packing:
    """Pack ranked files into chunks of at most `chunk_tokens`; a large file is split by hunks.

    Binary files, files without hunks, hunks larger than a chunk, and whatever does not fit
    in `max_chunks` are reported in `not_reviewed` with the reason: nothing is dropped silently.
    """
    chunks: list[Chunk] = []
    not_reviewed: list[tuple[str, str]] = []
    current: list[tuple[FileDiff, list[Hunk]]] = []
    used = 0

    def close() -> None:
        nonlocal current, used
        if current:
            text = "\n\n".join(render_file(f, hs) for f, hs in current)
            chunks.append(Chunk(tuple(replace(f, hunks=tuple(hs)) for f, hs in current), text, used))
        current, used = [], 0

    for file in files:
        if file.no_patch:
            not_reviewed.append((file.path, file.no_patch))
            continue
        if file.binary:
            not_reviewed.append((file.path, "binary file"))
            continue
        if not file.hunks:
            not_reviewed.append(
                (file.path, "renamed without changes" if file.status == "renamed" else "no text changes")
            )
            continue
        header = estimate(render_file(file, []))
        placed, too_large, left_out = 0, [], 0
        for hunk in file.hunks:
            cost = estimate(render_hunk(hunk)) + 1
            if header + cost > chunk_tokens:
                too_large.append(hunk)
                continue
            opens_file = not (current and current[-1][0] is file)
            if used + cost + (header if opens_file else 0) > chunk_tokens:
                close()
                opens_file = True
            if max_chunks is not None and len(chunks) >= max_chunks:
                left_out += 1
                continue
            if opens_file:
                current.append((file, []))
                used += header
            current[-1][1].append(hunk)
            used += cost
            placed += 1
        if too_large:
            lines = ", ".join(f"{h.new_start}-{h.new_start + max(h.new_length, 1) - 1}" for h in too_large)
            not_reviewed.append((file.path, f"too large for one model call (lines {lines})"))
        if left_out:
            not_reviewed.append(
                (
                    file.path,
                    "review budget reached"
                    if not placed and not too_large
                    else f"partly reviewed: review budget reached ({left_out} of {len(file.hunks)} hunks left)",
                )
            )
    close()
    return Packing(chunks, not_reviewed)
