"""A changed file's text at a pull request's head, read once per blob sha.

A review shows the code around each change (shared/review/surroundings.py), so it needs the
changed files as they are at the head. A file split over several chunks, or unchanged between
two pushes, keeps its blob sha: the text is read once and kept in a small process-wide cache
keyed by (repository, blob sha), which holds what a blob sha names and nothing else. Two
chunks reviewed at the same time that need one blob wait for a single read.

Only text is kept: a file over `MAX_FILE_BYTES`, one with a NUL byte, or one that is mostly
not UTF-8 is None, as is anything that is not a regular file (a symbolic link, a submodule).
Only such definite answers are cached: a read that failed (the connection, a 5xx, a 403 of the
rate limit) gives None this time and is tried again the next time.

`contents` is the one reader of GitHub's contents API for both a head file (with its ref) and a
file of the default branch (pull_texts.default_file, without one): the same checks and the same
text for both.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("petrel.pulls")

MAX_FILE_BYTES = 1_000_000  # GitHub's contents API sends no content above 1 MB either
CACHE_CHARACTERS = 16_000_000
CACHE_ENTRIES = 256
GONE = (404, 410)  # not found; gone
Get = Callable[[str, dict | None], object]  # one GET of the REST API (a path, its parameters) -> its JSON


class NotRead(Exception):
    """A read that failed for now (not an answer about the file): never cached."""


def text_of(data: bytes) -> str | None:
    """The text of a file's bytes, or None for a binary or too large file. A stray non-UTF-8 byte
    (a latin-1 `©` in a comment) becomes U+FFFD; a file where more than 1 % of bytes are not
    UTF-8 is taken as binary."""
    if len(data) > MAX_FILE_BYTES or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        return text if text.count("\ufffd") * 100 <= len(data) else None


class BlobCache:
    """Texts by (repository, blob sha), least recently used first out, bounded in entries and
    characters; a key being read is read once, whoever else asks for it meanwhile."""

    def __init__(self, entries: int = CACHE_ENTRIES, characters: int = CACHE_CHARACTERS):
        self.entries, self.characters = entries, characters
        self._texts: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._reading: dict[tuple[str, str], threading.Lock] = {}

    def read(self, key: tuple[str, str], load: Callable[[], str | None]) -> str | None:
        """The text under `key`, loaded with `load()` the first time it is asked for. A `load` that
        raises NotRead gives None and keeps nothing: the next ask loads again."""
        with self._lock:
            if key in self._texts:
                self._texts.move_to_end(key)
                return self._texts[key]
            reading = self._reading.setdefault(key, threading.Lock())
        with reading:
            with self._lock:
                if key in self._texts:
                    return self._texts[key]
            try:
                text = load()
                self._keep(key, text)
            except NotRead:
                text = None
            finally:
                with self._lock:
                    self._reading.pop(key, None)
        return text

    def _keep(self, key: tuple[str, str], text: str | None) -> None:
        with self._lock:
            self._texts[key] = text
            self._size += len(text or "")
            while self._texts and (len(self._texts) > self.entries or self._size > self.characters):
                _, dropped = self._texts.popitem(last=False)
                self._size -= len(dropped or "")

    def clear(self) -> None:
        """Forget every text."""
        with self._lock:
            self._texts.clear()
            self._size = 0


CACHE = BlobCache()


def github_head(get: Get, repository: str, head: str, blob: str | None, path: str) -> str | None:
    """A changed file's text at the pull request's `head`, read once per `blob` sha (the sha the
    pull request's files list gives it); None without a blob sha (a removed file, not a changed one).
    A failed read (the connection, an HTTP error but 404) is logged and gives None, not cached: the
    review goes on without the code around that file's changes."""
    from github import GithubException

    if not blob:
        return None

    def load() -> str | None:
        try:
            return contents(get, repository, path, head)
        except OSError as error:  # the connection failed (requests' errors are OSErrors)
            log.warning("could not read %s at %s (%s): reviewing it without its surroundings", path, head[:7], error)
            raise NotRead(path) from error
        except GithubException as error:
            log.warning(
                "could not read %s at %s (HTTP %s): reviewing it without its surroundings", path, head[:7], error.status
            )
            raise NotRead(path) from error

    return CACHE.read((repository, blob), load)


def contents(get: Get, repository: str, path: str, ref: str | None = None) -> str | None:
    """A regular file's text from GitHub's contents API at `ref` (the default branch without one), or
    None: not there (404, 410), a directory, a submodule, a symbolic link (GitHub may answer with its
    target, whose path then differs), over 1 MB (GitHub sends no content), binary (text_of). Any
    other error is raised. `get(path, parameters)` is one GET of the REST API answering its JSON."""
    from github import GithubException

    path = path.strip("/")
    try:
        data = get(f"/repos/{repository}/contents/{urllib.parse.quote(path)}", {"ref": ref} if ref else None)
    except GithubException as error:
        if error.status in GONE:
            return None
        raise
    if not isinstance(data, dict) or data.get("type") != "file" or (data.get("path") or "").strip("/") != path:
        return None
    if int(data.get("size") or 0) > MAX_FILE_BYTES or data.get("encoding") != "base64":
        return None
    return text_of(base64.b64decode(data.get("content") or ""))


def local_text(repository: Path, commit: str, path: str) -> str | None:
    """A regular file's text at `commit` of a local git repository, read once per blob sha, or None."""
    listed = _git(repository, "--literal-pathspecs", "ls-tree", "-l", "-z", commit, "--", path)
    entry, _, name = (listed or b"").partition(b"\t")
    fields = entry.decode(errors="replace").split()
    if len(fields) != 4 or name.rstrip(b"\0").decode(errors="replace") != path:
        return None
    mode, kind, sha, size = fields
    if kind != "blob" or mode == "120000" or not size.isdigit() or int(size) > MAX_FILE_BYTES:
        return None

    def load() -> str | None:
        data = _git(repository, "cat-file", "blob", sha)
        if data is None:
            raise NotRead(path)  # git failed: try again next time
        return text_of(data)

    return CACHE.read((str(repository.resolve()), sha), load)


def _git(repository: Path, *args: str) -> bytes | None:
    result = subprocess.run(["git", "-C", str(repository), *args], capture_output=True)
    return result.stdout if result.returncode == 0 else None
