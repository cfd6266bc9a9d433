"""Which block of a file encloses a line, without I/O: the innermost function or class (Python,
by its syntax tree, decorators included), the declaration (the other languages whose declaration
boundaries shared/memory/boundaries.py finds: JS/TS, Go, Rust, Java, C/C++ and more), or the
heading section (Markdown, reStructuredText, AsciiDoc).

Kept apart from the rendering (shared/review/surroundings.py) because finding a block is a
question about one language's structure, and rendering is a question about the prompt.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from shared.memory.boundaries import parse_python, structure, structured
from shared.memory.spans import Lines

_DEFS = {ast.FunctionDef: "def", ast.AsyncFunctionDef: "async def", ast.ClassDef: "class"}
_PYTHON = (".py", ".pyi", ".pyw")
# what boundaries.py calls the code between declarations: not a block that encloses anything
_NOT_BLOCKS = {None, "preamble", "module preamble", "module code"}


@dataclass(frozen=True)
class Block:
    """Lines start..end (1-based, inclusive) of a file: one function, class, declaration or section."""

    start: int
    end: int
    title: str  # "def loads", "class Parser / def parse", "func (s *Server) Serve(l net.Listener) error", "## Usage"


def outline(path: str, lines: Lines, max_chars: int) -> list[Block]:
    """Every block of the file that may enclose a change; Python's nest (a method in its class).
    A declaration larger than `max_chars` is cut at its members (see boundaries.structure).
    [] for a file whose structure is unknown (YAML, JSON, text) or that does not parse."""
    if not structured(path):
        return []
    if path.lower().endswith(_PYTHON):
        return _python(lines)
    blocks = []
    for span in structure(path, lines, max_chars):
        trimmed = lines.trim(span)
        if trimmed is not None and span.title not in _NOT_BLOCKS:
            blocks.append(Block(trimmed.start, trimmed.end, span.title))
    return blocks


def _python(lines: Lines) -> list[Block]:
    tree = parse_python(lines.source)
    if tree is None:
        return []
    blocks = []
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:  # no recursion: a deeply nested expression must not exhaust the stack
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            kind = _DEFS.get(type(child))
            if kind is None:
                stack.append((child, prefix))
                continue
            title = f"{prefix}{kind} {child.name}"
            start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            blocks.append(Block(start, child.end_lineno or child.lineno, title))
            stack.append((child, title + " / "))
    return blocks


def innermost(blocks: list[Block], line: int) -> Block | None:
    """The smallest block holding `line`, or None (module-level code, a preamble)."""
    holding = [b for b in blocks if b.start <= line <= b.end]
    return min(holding, key=lambda b: (b.end - b.start, -b.start)) if holding else None
