"""shared/memory/chunking and filetypes: structure-aware chunks of source files and documents for long-term memory, and which files are indexed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shared.memory import filetypes
from shared.memory.chunking import Chunk, chunk_file
from shared.memory.filetypes import is_doc, is_indexable, looks_binary


def spans(chunks: list[Chunk]) -> list[tuple[int, int, str]]:
    return [(c.start_line, c.end_line, c.title) for c in chunks]


def chunk_with(chunks: list[Chunk], title: str) -> Chunk:
    found = [c for c in chunks if c.title == title]
    assert len(found) == 1, (title, [c.title for c in chunks])
    return found[0]


def assert_covers(text: str, chunks: list[Chunk], max_chars: int) -> None:
    """The chunks' ranges are sorted and disjoint, hold every non-blank line exactly once,
    and each chunk's text is exactly its lines (a lone line longer than max_chars, cut)."""
    lines = text.replace("\r\n", "\n").split("\n")
    previous_end = 0
    covered: set[int] = set()
    for chunk in chunks:
        assert previous_end < chunk.start_line <= chunk.end_line <= len(lines), (previous_end, chunk)
        source = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        assert len(chunk.text) <= max_chars
        if chunk.start_line == chunk.end_line and len(source) > max_chars:
            assert chunk.text == source[:max_chars]
        else:
            assert chunk.text == source
        assert lines[chunk.start_line - 1].strip() and lines[chunk.end_line - 1].strip()
        assert chunk.title
        covered.update(range(chunk.start_line, chunk.end_line + 1))
        previous_end = chunk.end_line
    missing = [n for n, line in enumerate(lines, 1) if line.strip() and n not in covered]
    assert not missing, missing[:10]


# --- Python --------------------------------------------------------------------------------

PY = '''"""Settings loader."""

import functools
import os

DEFAULT = {"a": 1}


# Load the configuration
# from the environment.
@functools.cache
@other(
    arg=1,
)
def load_config(path):
    return os.environ.get(path)


async def fetch(url):
    return url


class Review:
    """A review."""

    def post(self):
        return 1


if __name__ == "__main__":
    load_config("x")
'''


def test_python_splits_at_top_level_definitions():
    chunks = chunk_file("app/config.py", PY, min_chars=0)
    assert spans(chunks) == [
        (1, 6, "module preamble"),
        (9, 16, "def load_config"),
        (19, 20, "async def fetch"),
        (23, 27, "class Review"),
        (30, 31, "module code"),
    ]
    assert all(c.path == "app/config.py" for c in chunks)
    assert chunks[0].text.startswith('"""Settings loader."""') and chunks[0].text.endswith('DEFAULT = {"a": 1}')


def test_python_decorators_and_leading_comments_stay_with_their_function():
    chunks = chunk_file("app/config.py", PY, min_chars=0)
    load = chunk_with(chunks, "def load_config")
    assert load.text.splitlines()[:4] == [
        "# Load the configuration",
        "# from the environment.",
        "@functools.cache",
        "@other(",
    ]
    assert "@functools.cache" not in chunks[0].text and "# Load" not in chunks[0].text


def test_python_comment_separated_by_a_blank_line_is_not_attached():
    text = "import os\n\n# Section: helpers\n\ndef helper():\n    return os.sep\n"
    chunks = chunk_file("h.py", text, min_chars=0)
    assert spans(chunks) == [(1, 3, "module preamble"), (5, 6, "def helper")]


def big_class(methods: int = 8) -> str:
    body = "".join(
        f"    @property\n    def method_{i}(self):\n"
        + "".join(f"        value_{j} = {j}  # padding padding padding\n" for j in range(20))
        + "        return value_0\n\n"
        for i in range(methods)
    )
    return f'import os\n\n\nclass Big:\n    """Doc."""\n\n    LIMIT = 3\n\n{body}\ndef after():\n    return 1\n'


def test_python_class_larger_than_max_chars_is_split_into_methods():
    text = big_class()
    assert len(text) > 5000
    chunks = chunk_file("big.py", text, max_chars=2000, min_chars=0)
    assert [c.title for c in chunks] == [
        "module preamble",
        "class Big",
        *(f"class Big / def method_{i}" for i in range(8)),
        "def after",
    ]
    header = chunk_with(chunks, "class Big")
    assert header.text == 'class Big:\n    """Doc."""\n\n    LIMIT = 3'
    method = chunk_with(chunks, "class Big / def method_3")
    assert method.text.splitlines()[0] == "    @property"
    assert method.text.splitlines()[-1] == "        return value_0"
    assert_covers(text, chunks, 2000)


def test_python_class_within_max_chars_stays_whole():
    text = big_class(2)
    chunks = chunk_file("big.py", text, max_chars=6000, min_chars=0)
    assert [c.title for c in chunks] == ["module preamble", "class Big", "def after"]


def test_python_syntax_error_falls_back_to_line_windows():
    text = "def broken(:\n    pass\n\n" + "x = 1\n" * 50
    chunks = chunk_file("broken.py", text, max_chars=120, min_chars=0)
    assert chunks[0].title == f"lines 1-{chunks[0].end_line}"
    assert all(c.title == f"lines {c.start_line}-{c.end_line}" for c in chunks)
    assert len(chunks) > 1
    assert_covers(text, chunks, 120)


def test_large_function_is_split_at_line_boundaries():
    text = "def huge():\n" + "".join(f"    total_{i} = compute({i}, 'some argument text')\n" for i in range(200))
    chunks = chunk_file("huge.py", text, max_chars=1500, min_chars=0)
    n = len(chunks)
    assert n >= 5
    assert [c.title for c in chunks] == [f"def huge (part {i}/{n})" for i in range(1, n + 1)]
    assert_covers(text, chunks, 1500)  # every chunk is whole lines


def test_window_split_prefers_blank_lines():
    paragraphs = ["\n".join(f"Paragraph {p} sentence {s} says something." for s in range(8)) for p in range(10)]
    text = "\n\n".join(paragraphs) + "\n"
    chunks = chunk_file("notes.txt", text, max_chars=1000, min_chars=0)
    lines = text.split("\n")
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.title == f"lines {chunk.start_line}-{chunk.end_line}"
        # each chunk ends at the end of a paragraph: the next line is blank (or the end)
        assert chunk.end_line == len(lines) - 1 or not lines[chunk.end_line].strip()
    assert_covers(text, chunks, 1000)


# --- other languages -----------------------------------------------------------------------

JS = """import { x } from "./x.js";

const LIMIT = 3;

/**
 * Adds numbers.
 */
export function add(a, b) {
  return a + b;
}

export default class Counter {
  increment() {
    this.n += 1;
  }
}

const double = (n) => n * 2;

async function main() {
  await add(1, 2);
}

module.exports = { add };
"""

TS = """@Component({ selector: "app" })
export class AppComponent {
}

export interface User {
  name: string;
}

export type Id = string | number;

enum Color { Red, Green }
"""

GO = """package main

import "fmt"

// Server serves.
type Server struct {
\tAddr string
}

func (s *Server) Start() error {
\treturn nil
}

func main() {
\tfmt.Println("hi")
}
"""

RUST = """use std::fmt;

/// A point.
#[derive(Debug)]
pub struct Point {
    x: i32,
}

impl Point {
    pub fn new() -> Self {
        Point { x: 0 }
    }
}

pub(crate) async fn run() {}

fn main() {
    println!("hi");
}
"""

JAVA = """package app;

import java.util.List;

@Service
public class Users {
    private final List<String> names;

    public Users() {}
}

interface Repo {
}
"""

C = """#include <stdio.h>

struct point {
    int x;
};

static const int table[3] =
{
    1, 2, 3,
};

/* Adds. */
static int add(int a, int b)
{
    return a + b;
}

int main(void) {
    return add(1, 2);
}
"""

CPP = """#include <vector>

namespace util {
int helper();
}

template <typename T>
T max_of(T a, T b) {
    return a > b ? a : b;
}

class Widget {
public:
    void draw();
};
"""

RUBY = """require "json"

# A user.
class User
  def name
    "x"
  end
end

def helper
  1
end

module Tools
end
"""

PHP = """<?php

namespace App;

/** A service. */
final class Service
{
    public function run(): void {}
}

function helper(): int
{
    return 1;
}
"""

KOTLIN = """package app

import kotlin.math.max

data class User(val name: String)

/** Greets. */
fun greet(user: User): String {
    return "hi ${user.name}"
}

object Registry {
}
"""

SWIFT = """import Foundation

@MainActor
final class ViewModel {
    var count = 0
}

struct Point {
    let x: Int
}

func distance(_ a: Point) -> Int {
    return a.x
}
"""

CSHARP = """using System;

namespace App;

[Serializable]
public sealed class Order
{
    public int Id { get; set; }
}

public interface IStore
{
}
"""

LANGUAGES = {
    "web/app.js": (
        JS,
        [
            (1, 3, "preamble"),
            (5, 10, "export function add(a, b)"),
            (12, 16, "export default class Counter"),
            (18, 18, "const double = (n) => n * 2;"),
            (20, 22, "async function main()"),
            (24, 24, "module.exports = { add };"),
        ],
    ),
    "web/app.ts": (
        TS,
        [
            (1, 3, "export class AppComponent"),
            (5, 7, "export interface User"),
            (9, 9, "export type Id = string | number;"),
            (11, 11, "enum Color { Red, Green }"),
        ],
    ),
    "cmd/main.go": (
        GO,
        [
            (1, 3, "preamble"),
            (5, 8, "type Server struct"),
            (10, 12, "func (s *Server) Start() error"),
            (14, 16, "func main()"),
        ],
    ),
    "src/main.rs": (
        RUST,
        [
            (1, 1, "preamble"),
            (3, 7, "pub struct Point"),
            (9, 13, "impl Point"),
            (15, 15, "pub(crate) async fn run() {}"),
            (17, 19, "fn main()"),
        ],
    ),
    "src/Users.java": (
        JAVA,
        [
            (1, 3, "preamble"),
            (5, 10, "public class Users"),
            (12, 13, "interface Repo"),
        ],
    ),
    "src/add.c": (
        C,
        [
            (1, 1, "preamble"),
            (3, 5, "struct point"),
            (7, 10, "static const int table[3] ="),
            (12, 16, "static int add(int a, int b)"),
            (18, 20, "int main(void)"),
        ],
    ),
    "src/util.hpp": (
        CPP,
        [
            (1, 1, "preamble"),
            (3, 5, "namespace util"),
            (7, 10, "T max_of(T a, T b)"),
            (12, 15, "class Widget"),
        ],
    ),
    "lib/user.rb": (
        RUBY,
        [
            (1, 1, "preamble"),
            (3, 8, "class User"),
            (10, 12, "def helper"),
            (14, 15, "module Tools"),
        ],
    ),
    "src/Service.php": (
        PHP,
        [
            (1, 1, "preamble"),
            (3, 3, "namespace App;"),
            (5, 9, "final class Service"),
            (11, 14, "function helper(): int"),
        ],
    ),
    "src/App.kt": (
        KOTLIN,
        [
            (1, 3, "preamble"),
            (5, 5, "data class User(val name: String)"),
            (7, 10, "fun greet(user: User): String"),
            (12, 13, "object Registry"),
        ],
    ),
    "Sources/App.swift": (
        SWIFT,
        [
            (1, 1, "preamble"),
            (3, 6, "final class ViewModel"),
            (8, 10, "struct Point"),
            (12, 14, "func distance(_ a: Point) -> Int"),
        ],
    ),
    "src/Order.cs": (
        CSHARP,
        [
            (1, 1, "preamble"),
            (3, 3, "namespace App;"),
            (5, 9, "public sealed class Order"),
            (11, 13, "public interface IStore"),
        ],
    ),
}


@pytest.mark.parametrize("path", sorted(LANGUAGES))
def test_declarations_at_column_zero(path):
    text, expected = LANGUAGES[path]
    chunks = chunk_file(path, text, min_chars=0)
    assert spans(chunks) == expected
    assert_covers(text, chunks, 6000)


def test_comments_and_annotations_stay_with_their_declaration():
    js = chunk_with(chunk_file("web/app.js", JS, min_chars=0), "export function add(a, b)")
    assert js.text.startswith("/**\n * Adds numbers.\n */\nexport function add")
    rust = chunk_with(chunk_file("src/main.rs", RUST, min_chars=0), "pub struct Point")
    assert rust.text.startswith("/// A point.\n#[derive(Debug)]\npub struct Point")
    java = chunk_with(chunk_file("src/Users.java", JAVA, min_chars=0), "public class Users")
    assert java.text.startswith("@Service\npublic class Users")
    cpp = chunk_with(chunk_file("src/util.hpp", CPP, min_chars=0), "T max_of(T a, T b)")
    assert cpp.text.startswith("template <typename T>\nT max_of")


def test_large_declaration_is_split_into_members():
    methods = "".join(
        f"    public int method{i}(int value) {{\n"
        + "".join(f"        value += {j}; // padding padding padding\n" for j in range(20))
        + "        return value;\n    }\n\n"
        for i in range(6)
    )
    text = f"package app;\n\npublic class Big {{\n    private int count;\n\n{methods}}}\n"
    chunks = chunk_file("src/Big.java", text, max_chars=2000, min_chars=0)
    assert [c.title for c in chunks] == [
        "preamble",
        "public class Big",
        *(f"public class Big / public int method{i}(int value)" for i in range(6)),
    ]
    assert chunks[-1].text.endswith("    }\n\n}")  # the closing brace stays with the last method
    assert_covers(text, chunks, 2000)


# --- documents -----------------------------------------------------------------------------

MARKDOWN = """Intro text before any heading.

# Petrel

Some words.

## Installation

```bash
# not a heading
pip install petrel
```

Setext Title
============

Body.

### Usage ###

Text.
"""

RST = """=====
Title
=====

Intro.

Section One
-----------

Text.

.. code-block:: python

    # not a title
    x = 1

Section Two
~~~~~~~~~~~

More.
"""


def test_markdown_splits_at_headings_outside_code_fences():
    chunks = chunk_file("README.md", MARKDOWN, min_chars=0)
    assert spans(chunks) == [
        (1, 1, "preamble"),
        (3, 5, "# Petrel"),
        (7, 12, "## Installation"),
        (14, 17, "# Setext Title"),
        (19, 21, "### Usage"),
    ]
    assert "# not a heading" in chunk_with(chunks, "## Installation").text


def test_restructuredtext_splits_at_underlined_titles():
    chunks = chunk_file("docs/index.rst", RST, min_chars=0)
    assert spans(chunks) == [(1, 5, "Title"), (7, 15, "Section One"), (17, 20, "Section Two")]


def test_asciidoc_splits_at_headings():
    text = "= Guide\n\nIntro.\n\n== Setup\n\nSteps.\n"
    assert spans(chunk_file("guide.adoc", text, min_chars=0)) == [(1, 3, "= Guide"), (5, 7, "== Setup")]


# --- merging, long lines, edge cases -------------------------------------------------------


def test_tiny_chunks_are_merged_with_their_neighbours():
    text = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(5))
    assert [c.title for c in chunk_file("tiny.py", text, min_chars=0)] == [f"def f{i}" for i in range(5)]
    merged = chunk_file("tiny.py", text)
    assert spans(merged) == [(1, 18, "def f0; def f1 and 3 more")]
    assert (
        chunk_file("tiny.py", "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(2)))[0].title
        == "def f0; def f1"
    )


def test_merging_never_exceeds_max_chars():
    big = "def big():\n" + "    x = 1  # padding padding padding padding\n" * 20
    text = "def small():\n    pass\n\n\n" + big + "\n\ndef tail():\n    pass\n"
    max_chars = len(big.rstrip("\n")) + 5  # room for the big function, not for a neighbour
    chunks = chunk_file("m.py", text, max_chars=max_chars, min_chars=200)
    assert [c.title for c in chunks] == ["def small", "def big", "def tail"]
    assert_covers(text, chunks, max_chars)


def test_a_single_line_longer_than_max_chars_is_cut():
    long_line = "x = '" + "a" * 10_000 + "'"
    text = f"first line\n{long_line}\nlast line\n"
    chunks = chunk_file("data.txt", text, max_chars=1000, min_chars=0)
    assert spans(chunks) == [(1, 1, "lines 1-1"), (2, 2, "lines 2-2"), (3, 3, "lines 3-3")]
    assert chunks[1].text == long_line[:1000]
    assert_covers(text, chunks, 1000)


def test_empty_and_blank_files_give_no_chunks():
    assert chunk_file("empty.py", "") == []
    assert chunk_file("blank.md", "\n\n   \n\t\n") == []
    assert chunk_file("blank.txt", "\n") == []


def test_crlf_line_ends_and_non_utf8_replacement():
    text = b"def a():\r\n    return '\xe9'\r\n".decode("utf-8", errors="replace")
    chunks = chunk_file("a.py", text, min_chars=0)
    assert spans(chunks) == [(1, 2, "def a")]
    assert chunks[0].text == "def a():\n    return '\ufffd'"


def test_unknown_extension_uses_line_windows():
    text = "key: value\n" * 300
    chunks = chunk_file("config.yml", text, max_chars=1000)
    assert len(chunks) == 4
    assert [c.title for c in chunks] == [f"lines {c.start_line}-{c.end_line}" for c in chunks]
    assert_covers(text, chunks, 1000)


# --- the coverage property on real files ---------------------------------------------------


def package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    path = Path(spec.submodule_search_locations[0]) / relative
    assert path.is_file(), path
    return path


REAL_FILES = [
    ("github", "Repository.py"),
    ("github", "MainClass.py"),
    ("_pytest", "python.py"),
    ("yaml", "__init__.py"),
    ("werkzeug", "debug/shared/debugger.js"),
    ("urllib3", "contrib/emscripten/emscripten_fetch_worker.js"),
    ("openai", "lib/responses_websocket/README.md"),
    ("flask", "sansio/README.md"),
]


@pytest.mark.parametrize("max_chars", [6000, 1200, 300])
@pytest.mark.parametrize("package, relative", REAL_FILES)
def test_chunks_cover_every_line_of_real_files(package, relative, max_chars):
    path = package_file(package, relative)
    text = path.read_bytes().decode("utf-8", errors="replace")
    chunks = chunk_file(relative, text, max_chars=max_chars)
    assert chunks
    assert_covers(text, chunks, max_chars)


@pytest.mark.parametrize(
    "text", [PY, big_class(), JS, TS, GO, RUST, JAVA, C, CPP, RUBY, PHP, KOTLIN, SWIFT, CSHARP, MARKDOWN, RST]
)
@pytest.mark.parametrize(
    "ext", [".py", ".js", ".go", ".rs", ".java", ".c", ".rb", ".php", ".kt", ".swift", ".cs", ".md", ".rst", ".txt"]
)
def test_chunks_cover_every_line_of_samples_in_any_language(text, ext):
    for max_chars in (6000, 80, 20):
        assert_covers(text, chunk_file("sample" + ext, text, max_chars=max_chars, min_chars=50), max_chars)


def test_big_real_class_is_split_into_its_methods():
    text = package_file("github", "Repository.py").read_text(encoding="utf-8")
    chunks = chunk_file("github/Repository.py", text)
    titles = [c.title for c in chunks]
    assert len(chunks) > 20
    assert any(t.startswith("class Repository / def get_pulls") for t in titles)
    assert all(len(c.text) <= 6000 for c in chunks)


def test_real_markdown_keeps_fenced_comments_inside_sections():
    text = package_file("openai", "lib/responses_websocket/README.md").read_text(encoding="utf-8")
    chunks = chunk_file("README.md", text)
    titles = [c.title for c in chunks]
    assert titles[0].startswith("# Responses WebSocket sessions")
    assert not any("Choose budgets" in t for t in titles)  # "# Choose budgets ..." is a code comment


# --- what to index -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, size, reason",
    [
        ("src/app.py", 1_000, None),
        ("README", 10, None),
        ("Makefile", 10, None),
        ("docs/guide.md", 10, None),
        ("assets/logo.png", 10, "binary"),
        ("dist/app.zip", 10_000_000, "binary"),
        ("src/huge.py", 300_000, "too large"),
        ("data/blob.xyz", 10, "not a text format"),
        ("Cargo.lock", 10, "not a text format"),
    ],
)
def test_is_indexable(path, size, reason):
    assert is_indexable(path, size) == reason


def test_is_indexable_max_bytes():
    assert is_indexable("src/huge.py", 300_000, max_bytes=1_000_000) is None
    assert is_indexable("src/app.py", 101, max_bytes=100) == "too large"


@pytest.mark.parametrize(
    "data, binary",
    [
        (b"", False),
        (b"def f():\n    return 1\n", False),
        ("h\u00e9llo w\u00f6rld\n".encode("latin-1"), False),
        ("h\u00e9llo w\u00f6rld\n".encode("utf-8"), False),
        (b"\x1b[31mred\x1b[0m log line\n" * 20, False),
        (b"abc\x00def", True),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", True),
        (bytes(range(1, 32)) * 50, True),
        (b"a" * 9000 + b"\x00", False),  # only the first 8 KB are read
    ],
)
def test_looks_binary(data, binary):
    assert looks_binary(data) is binary


@pytest.mark.parametrize(
    "path, doc",
    [
        ("README", True),
        ("README.md", True),
        ("readme.rst", True),
        ("CONTRIBUTING.md", True),
        ("docs/conf.py", True),
        ("pkg/docs/api.yml", True),
        ("guide.adoc", True),
        ("notes.txt", True),
        ("src/app.py", False),
        ("readme_utils.py", False),
        ("documents/app.py", False),
        ("Makefile", False),
    ],
)
def test_is_doc(path, doc):
    assert is_doc(path) is doc


def test_doc_names():
    assert "README" in filetypes.DOC_NAMES and "CONTRIBUTING" in filetypes.DOC_NAMES
