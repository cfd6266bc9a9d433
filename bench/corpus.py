"""The texts of bench/memory.py: real .py and .md files chunked as shared/memory/indexing.py chunks
them, with some held out to make the queries, and the embedder that adds up its own time. Apart
from the Postgres side so that what is stored can be read without a database.
"""

from __future__ import annotations

import sys
import sysconfig
import time
from pathlib import Path

from shared.memory import filetypes
from shared.memory.indexing import file_documents
from shared.memory.store import Document

REPOSITORY = "bench/memory"
INSTALLATION = 1
HELD_OUT = 25  # every 25th file is held out: queries, never stored
EXTENSIONS = (".py", ".md")


def log(message: str) -> None:
    """Progress, to stderr."""
    print(message, file=sys.stderr, flush=True)


class TimedEmbedder:
    """The embedder, with the time spent embedding added up."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.seconds = 0.0
        self.texts = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)


def source_files() -> list[tuple[str, Path]]:
    """(label, path) of every .py/.md file of site-packages and the standard library, sorted."""
    paths = sysconfig.get_paths()
    roots = [("site-packages", Path(paths["purelib"])), ("stdlib", Path(paths["stdlib"]))]
    files = []
    for name, root in roots:
        for path in root.rglob("*"):
            relative = path.relative_to(root)
            if name == "stdlib" and any(p in ("site-packages", "dist-packages") for p in relative.parts):
                continue
            if path.suffix in EXTENSIONS and path.is_file():
                files.append((f"{name}/{relative.as_posix()}", path))
    return sorted(files)


def read_documents(label: str, path: Path) -> list[Document]:
    """The file's chunks as Documents, as shared/memory/indexing.py makes them ([] when not indexable)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if filetypes.is_indexable(label, len(data)) or filetypes.looks_binary(data):
        return []
    text = data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return file_documents(REPOSITORY, label, text, f"{len(data):x}", INSTALLATION)


class Corpus:
    """Stored chunks, in order, endlessly (copies after the first pass); held-out chunks apart."""

    def __init__(self, files: list[tuple[str, Path]]):
        self.stored = [f for i, f in enumerate(files) if i % HELD_OUT != HELD_OUT // 2]
        self.held = [f for i, f in enumerate(files) if i % HELD_OUT == HELD_OUT // 2]
        self.seen: set[int] = set()
        self.files_read = 0
        self.passes = 1
        self._iterator = self._documents()

    def _documents(self):
        copy = 0
        while True:
            for label, path in self.stored:
                documents = read_documents(label, path)
                self.files_read += 1
                if copy:
                    documents = [
                        Document(
                            d.repository,
                            d.kind,
                            f"{d.source}~{copy}",
                            f"{d.title} (copy {copy})",
                            d.body,
                            chunk=d.chunk,
                            version=d.version,
                            installation_id=d.installation_id,
                            start_line=d.start_line,
                            end_line=d.end_line,
                        )
                        for d in documents
                    ]
                for document in documents:
                    key = hash(document.text_for_embedding())
                    if key not in self.seen:
                        self.seen.add(key)
                        yield document
            copy += 1
            self.passes = copy + 1

    def take(self, n: int) -> list[Document]:
        return [next(self._iterator) for _ in range(n)]

    def held_out(self) -> list[Document]:
        return [d for label, path in self.held for d in read_documents(label, path)]


def query_text(document: Document) -> str:
    """A query from a chunk: its title and, when the title does not already hold it, its first line."""
    first = next((line.strip() for line in document.body.splitlines() if line.strip()), "")
    parts = [document.title] if document.title else []
    if first and first.rstrip(":{ ") not in document.title:
        parts.append(first)
    return " ".join(parts)[:300]


def spread(items: list, n: int) -> list:
    """n items taken evenly across `items`."""
    if len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]
