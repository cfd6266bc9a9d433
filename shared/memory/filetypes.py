"""Which files long-term memory indexes, without I/O: documentation, text formats, and
binary content caught by its bytes.

From the path alone `is_indexable` decides, and `is_doc` tells documentation apart (it is
indexed first); once the bytes are read, `looks_binary` catches binary content behind a text
extension.
"""

from __future__ import annotations

import posixpath

from shared.diff import CONFIG_EXTENSIONS, DOC_EXTENSIONS, LANGUAGES

# README, README.md, readme.rst, CONTRIBUTING.md ... (case-insensitive; "readme_utils.py" is not one).
DOC_NAMES = ("README", "CONTRIBUTING")
DOC_DIRS = ("docs", "doc")

BINARY_EXTENSIONS = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".ico",
        ".icns",
        ".webp",
        ".tif",
        ".tiff",
        ".psd",
        ".heic",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".eot",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".7z",
        ".rar",
        ".tar",
        ".jar",
        ".war",
        ".whl",
        ".egg",
        ".exe",
        ".dll",
        ".so",
        ".dylib",
        ".a",
        ".o",
        ".obj",
        ".lib",
        ".class",
        ".pyc",
        ".pyo",
        ".pyd",
        ".wasm",
        ".bin",
        ".mp3",
        ".mp4",
        ".m4a",
        ".wav",
        ".ogg",
        ".flac",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".pdf",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".odt",
        ".ods",
        ".sqlite",
        ".sqlite3",
        ".db",
        ".parquet",
        ".pkl",
        ".pickle",
        ".npy",
        ".npz",
        ".h5",
        ".onnx",
        ".pt",
        ".pth",
        ".safetensors",
        ".p12",
        ".pfx",
        ".der",
        ".keystore",
        ".jks",
    }
)
TEXT_EXTENSIONS = (
    frozenset(LANGUAGES)
    | DOC_EXTENSIONS
    | CONFIG_EXTENSIONS
    | {
        ".pyw",
        ".cjs",
        ".mts",
        ".cts",
        ".kts",
        ".sc",
        ".cxx",
        ".hh",
        ".hxx",
        ".m",
        ".mm",
        ".dart",
        ".ex",
        ".exs",
        ".erl",
        ".hrl",
        ".hs",
        ".ml",
        ".mli",
        ".clj",
        ".cljs",
        ".edn",
        ".r",
        ".jl",
        ".pl",
        ".pm",
        ".groovy",
        ".gradle",
        ".vue",
        ".svelte",
        ".astro",
        ".scss",
        ".sass",
        ".less",
        ".htm",
        ".graphql",
        ".gql",
        ".proto",
        ".thrift",
        ".tf",
        ".tfvars",
        ".hcl",
        ".nix",
        ".bash",
        ".zsh",
        ".fish",
        ".ps1",
        ".psm1",
        ".bat",
        ".cmd",
        ".mk",
        ".cmake",
        ".markdown",
        ".mdx",
        ".mkd",
        ".asciidoc",
        ".tex",
        ".bib",
        ".csv",
        ".tsv",
        ".env",
        ".conf",
        ".j2",
        ".jinja",
        ".tmpl",
        ".tpl",
        ".mustache",
        ".hbs",
        ".ipynb",
        ".zig",
        ".nim",
        ".v",
        ".sv",
        ".vhd",
        ".elm",
        ".fs",
        ".fsx",
    }
)
TEXT_NAMES = frozenset(
    {
        "makefile",
        "gnumakefile",
        "dockerfile",
        "containerfile",
        "gemfile",
        "rakefile",
        "procfile",
        "vagrantfile",
        "jenkinsfile",
        "brewfile",
        "podfile",
        "justfile",
        "license",
        "licence",
        "copying",
        "notice",
        "authors",
        "codeowners",
        "changelog",
        ".gitignore",
        ".gitattributes",
        ".gitmodules",
        ".dockerignore",
        ".editorconfig",
        ".env.example",
        ".npmrc",
        ".nvmrc",
        ".python-version",
        ".prettierrc",
        ".eslintrc",
        ".babelrc",
        ".flake8",
        ".pylintrc",
        ".rubocop.yml",
    }
)


def _name_ext(path: str) -> tuple[str, str]:
    name = posixpath.basename(path).lower()
    return name, posixpath.splitext(name)[1]


def _is_doc_name(name: str) -> bool:
    return any(name == doc.lower() or name.startswith(doc.lower() + ".") for doc in DOC_NAMES)


def is_doc(path: str) -> bool:
    """Documentation: README* / CONTRIBUTING*, anything under a docs/ (or doc/) folder, and
    *.md, *.rst, *.txt, *.adoc files."""
    name, ext = _name_ext(path)
    folders = path.lower().strip("/").split("/")[:-1]
    return ext in DOC_EXTENSIONS or _is_doc_name(name) or any(f in DOC_DIRS for f in folders)


def is_indexable(path: str, size: int, *, max_bytes: int = 200_000) -> str | None:
    """None when the file at `path` (of `size` bytes) should be indexed, else the reason not:
    "binary" (by extension), "too large", or "not a text format" (an extension or name that is
    not a known source, config or documentation format).

    From the path alone: once the bytes are read, `looks_binary` catches binary content
    behind a text extension.
    """
    name, ext = _name_ext(path)
    if ext in BINARY_EXTENSIONS:
        return "binary"
    if size > max_bytes:
        return "too large"
    if ext in TEXT_EXTENSIONS or name in TEXT_NAMES or name.startswith("dockerfile") or _is_doc_name(name):
        return None
    return "not a text format"


_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\b\x1b")


def looks_binary(data: bytes) -> bool:
    """True when `data` is not text: a NUL byte in its first 8 KB (Git's rule), or more than
    30% of those bytes being control characters other than whitespace. Bytes >= 0x80 count as
    text (UTF-8, latin-1). UTF-16 text has NULs, so it reads as binary."""
    head = data[:8192]
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if (byte < 0x20 or byte == 0x7F) and byte not in _TEXT_CONTROLS)
    return controls > 0.3 * len(head)
