"""A stateful, in-process fake of the GitHub REST API, served over real HTTP.

The real PyGithub client (or ``requests``) talks to it on 127.0.0.1::

    with FakeGitHub() as fake:
        fake.add_repo("acme/widgets", installation_id=7)
        fake.add_issue("acme/widgets", 1, pull_request=True)
        fake.add_token("tok")
        gh = Github(base_url=fake.url, auth=Auth.Token("tok"), retry=None)
        gh.get_repo("acme/widgets").get_issue(1).create_comment("hi")
        assert fake.comments("acme/widgets", 1)[0]["body"] == "hi"

It refuses what GitHub refuses (bad credentials, repositories the token cannot
see, invalid App JWTs, validation errors) with GitHub's status codes and error
shapes, paginates with RFC 5988 ``Link`` headers, records every request for
assertions and can inject faults (``fail``).

Pull requests made with ``add_pull`` carry a real unified diff: it is served by the diff media
type, ``/pulls/{n}/files`` and the PR's additions/deletions, and review comments are judged
against it as GitHub does (a comment off the diff refuses the whole review, 422). ``add_compare``
answers ``/compare/{base}...{head}`` (other pairs 404) and ``add_file`` serves
``/contents/{path}?ref=`` with git blob shas. GitHub's size limits hold: the diff media type is
refused (406) past 300 files or 20,000 changed lines, ``/files`` lists at most 3,000 files,
a comparison at most 300, and a file whose own diff is too large comes without ``patch``.
``add_symlink`` and ``add_submodule`` put what git
puts (mode 120000, and a "commit" entry with its URL in ``.gitmodules``), and the contents API
answers for them, and for directories and files over 1 MB, as GitHub does.

The files of each ref are also served as git data, hashed as git hashes them: ``/branches/{b}``,
``/commits/{ref}``, ``/git/commits/{sha}``, ``/git/trees/{sha}[?recursive=1]`` and
``/git/blobs/{sha}``. A ref's commit is a parentless commit derived from its tree (a ref that is
itself a 40-hex sha is its own commit). Trees, commits and blobs once seen stay resolvable after
``add_file``/``remove_file`` change the ref, as on GitHub. ``GET /repos/{o}/{r}/issues`` lists
issues and pull requests (filters, sorting, ``since``, pages) and ``PATCH /issues/{n}`` edits them.

Who is who: ``GET /app`` (App JWT) names the App, whose installation tokens write as
``<slug>[bot]``; ``GET /user`` names a personal token's user (an installation token gets 403
there) and GraphQL's ``{ viewer { login } }`` names either. ``set_permission`` gives users a role
on a repository, served by ``GET /repos/{o}/{r}/collaborators/{user}/permission``. Every attempt
to edit or delete a comment, review, review comment or reaction written by someone else is
refused (403) and recorded in ``foreign_writes``; ``stop()`` then fails the test.

Only the standard library, PyJWT and cryptography are used.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import itertools
import json
import posixpath
import re
import secrets
import socket
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Callable

import jwt
from jwt.api_jws import PyJWS

__all__ = ["FakeGitHub", "Recorded", "REACTION_CONTENTS", "MAX_COMMENT_BODY", "parse_diff"]

DOCS = "https://docs.github.com/rest"
REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
MAX_COMMENT_BODY = 65536
TOO_LONG_MESSAGE = f"Body is too long (maximum is {MAX_COMMENT_BODY} characters)"
IAT_MESSAGE = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
EXP_MESSAGE = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
    "the assertion expires"
)
MAX_JWT_LIFETIME = 600  # GitHub's 10-minute maximum for App JWTs
JWT_CLOCK_SKEW = 60
RATE_LIMIT = 5000
API_PREFIX = "/api/v3"  # GitHub Enterprise Server style base URLs
DEFAULT_LABEL_COLORS = {
    "bug": "d73a4a",
    "documentation": "0075ca",
    "duplicate": "cfd3d7",
    "enhancement": "a2eeef",
    "good first issue": "7057ff",
    "help wanted": "008672",
    "invalid": "e4e669",
    "question": "d876e3",
    "wontfix": "ffffff",
}
DEFAULT_PERMISSIONS = {
    "issues": "write",
    "pull_requests": "write",
    "contents": "read",
    "metadata": "read",
}
DEFAULT_EVENTS = ["issue_comment", "issues", "pull_request", "pull_request_review_comment"]
MAX_PULL_FILES = 3000  # GET /pulls/{n}/files lists at most 3000 files
MAX_DIFF_FILES = 300  # the diff media type of a PR refuses more files than this (406)
MAX_COMPARE_FILES = 300  # compare lists at most 300 files
MAX_DIFF_LINES = 20_000  # the diff media type refuses more changed lines than this (406)
MAX_FILE_DIFF_LINES = 20_000  # a file's own diff past this (lines or bytes) comes without "patch"
MAX_FILE_DIFF_BYTES = 500 * 1024
MAX_CONTENT_SIZE = 1024 * 1024  # larger files come back with encoding "none" and empty content
REVIEW_DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
CONTENTS_DOCS = "https://docs.github.com/rest/repos/contents#get-repository-content"
COMPARE_DOCS = "https://docs.github.com/rest/commits/commits#compare-two-commits"
LINE_NOT_IN_DIFF = "Pull request review thread line must be part of the diff"
PATH_NOT_IN_DIFF = "Pull request review thread path could not be resolved"
START_NOT_IN_HUNK = "Pull request review thread start line must be part of the same hunk as the line."
START_AFTER_END = "Pull request review thread start line must precede the end line."
COMMIT_NOT_IN_PULL = "commit_id is not part of the pull request"
TREE_DOCS = "https://docs.github.com/rest/git/trees#get-a-tree"
BLOB_DOCS = "https://docs.github.com/rest/git/blobs#get-a-blob"
BRANCH_DOCS = "https://docs.github.com/rest/branches/branches#get-a-branch"
COMMIT_DOCS = "https://docs.github.com/rest/commits/commits#get-a-commit"
GIT_COMMIT_DOCS = "https://docs.github.com/rest/git/commits#get-a-commit-object"
ISSUES_DOCS = "https://docs.github.com/rest/issues/issues#list-repository-issues"
MAX_TREE_ENTRIES = 100_000  # a recursive tree listing stops here and says "truncated": true
EMPTY_TREE_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
FILE_MODES = ("100644", "100755")
SYMLINK_MODE = "120000"  # add_symlink: the blob is the link's target path
SUBMODULE_MODE = "160000"  # add_submodule: a "commit" tree entry, the URL in .gitmodules
FAKE_COMMIT_DATE = 1704067200  # 2024-01-01T00:00:00Z: fixed, so a ref's commit sha depends on its tree only
FAKE_COMMIT_AUTHOR = ("Petrel Fake", "fake@example.invalid")
FAKE_COMMIT_MESSAGE = "Files added with FakeGitHub.add_file"
DIFF_MEDIA_RE = re.compile(r"application/vnd\.github(?:\.v3)?\.diff")
# a repository role -> the `permission` GitHub's collaborator permission endpoint names for it
PERMISSION_OF_ROLE = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read",
                      "none": "none"}


class _CIDict(dict):
    """A dict whose string keys are looked up case-insensitively (keys stored lower-case)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        for k, v in dict(items).items():
            self[k] = v

    @staticmethod
    def _k(key: Any) -> Any:
        return key.lower() if isinstance(key, str) else key

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._k(key), value)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._k(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._k(key))

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._k(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._k(key), default)


@dataclass
class Recorded:
    """One request the fake received (fault-injected ones included)."""

    method: str
    path: str  # without query string and without any /api/v3 prefix
    query: dict[str, str]  # first value of each query parameter
    headers: dict[str, str]  # case-insensitive lookup
    json: Any  # parsed JSON body, or None (no body / not JSON)
    status: int
    timestamp: float  # time.monotonic() when the request arrived
    raw_path: str = ""  # the path exactly as received (prefix kept), without query


class _HTTPError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _not_found() -> _HTTPError:
    return _HTTPError(404, {"message": "Not Found", "documentation_url": DOCS})


def _bad_credentials() -> _HTTPError:
    return _HTTPError(401, {"message": "Bad credentials", "documentation_url": DOCS})


def _jwt_error(message: str) -> _HTTPError:
    return _HTTPError(401, {"message": message, "documentation_url": DOCS})


def _validation(resource: str, field_name: str, code: str, message: str | None = None) -> _HTTPError:
    err: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message is not None:
        err["message"] = message
    return _HTTPError(422, {"message": "Validation Failed", "errors": [err], "documentation_url": DOCS})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, ident: int) -> str:
    return f"{kind}_" + base64.b64encode(f"{kind}{ident}".encode()).decode().rstrip("=")


def _default_message(status: int, headers: dict[str, str]) -> str:
    hdrs = _CIDict(headers)
    if status in (403, 429):
        if str(hdrs.get("x-ratelimit-remaining", "")) == "0":
            return "API rate limit exceeded for installation."
        if status == 429 or "retry-after" in hdrs:
            return "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        return "Resource not accessible by integration"
    return {
        400: "Problems parsing JSON",
        401: "Bad credentials",
        404: "Not Found",
        409: "Conflict",
        422: "Validation Failed",
        500: "Server Error",
        502: "Server Error",
        503: "Service Unavailable",
        504: "We couldn't respond to your request in time. Sorry about that.",
    }.get(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error")


# --------------------------------------------------------------------------- unified diffs
#
# The fake judges review comments against the diff with its own small parser (it does not
# import the project's code, so that it judges independently).

_HUNK_RE = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote_path(s: str) -> str:
    """Undo git's C-style quoting of a path ("a/t\303\244st" -> a/täst); plain paths pass through."""
    s = s.rstrip("\t")  # git appends a tab to ---/+++ names that contain a space
    if len(s) < 2 or not (s.startswith('"') and s.endswith('"')):
        return s
    out = bytearray()
    body, i = s[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.append(_C_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str) -> str | None:
    path = _unquote_path(path)
    if path == "/dev/null":
        return None
    if path[:2] in ("a/", "b/"):
        return path[2:]
    return path


def _split_git_header(rest: str) -> tuple[str | None, str | None]:
    """The two paths of ``diff --git a/X b/Y`` (ambiguous when names contain " b/"; the
    ---/+++ and rename lines, when present, override what this finds)."""
    if rest.startswith('"'):
        m = re.match(r'("(?:[^"\\]|\\.)*")\s+(.*)\Z', rest)
        if m:
            return _strip_prefix(m.group(1)), _strip_prefix(m.group(2))
    idx = rest.find(' "')
    if idx > 0 and rest.endswith('"'):
        return _strip_prefix(rest[:idx]), _strip_prefix(rest[idx + 1 :])
    if len(rest) % 2 == 1:  # "a/X b/X": the same name twice
        half = len(rest) // 2
        a, b = rest[:half], rest[half + 1 :]
        if rest[half] == " " and a[2:] == b[2:]:
            return _strip_prefix(a), _strip_prefix(b)
    idx = rest.find(" b/")
    if idx > 0:
        return _strip_prefix(rest[:idx]), _strip_prefix(rest[idx + 1 :])
    return None, None


@dataclass
class PatchLine:
    """One line of a file's patch. ``kind``: "@" (hunk header), " ", "+", "-" or "\\"."""

    kind: str
    text: str  # the line exactly as in the diff
    old: int | None  # old-file line number (context and removed lines)
    new: int | None  # new-file line number (context and added lines)
    hunk: int  # index of the hunk the line belongs to


@dataclass
class FileDiff:
    old_path: str | None = None
    new_path: str | None = None
    status: str = "modified"  # added, removed, modified, renamed, copied, changed
    binary: bool = False
    old_blob: str | None = None  # abbreviated, from the ``index`` line
    new_blob: str | None = None
    lines: list[PatchLine] = field(default_factory=list)  # hunk headers included; index = diff position
    additions: int = 0
    deletions: int = 0

    @property
    def filename(self) -> str:
        return self.new_path if self.new_path is not None else (self.old_path or "")

    @property
    def patch(self) -> str | None:
        """What GitHub's files APIs give as ``patch``: the hunks; None for binary or hunk-less files."""
        if self.binary or not self.lines:
            return None
        return "\n".join(line.text for line in self.lines)

    def find(self, side: str, number: int) -> int | None:
        """Index in ``lines`` of the diff line that is ``number`` on ``side`` (RIGHT: new-file
        numbers of context and added lines; LEFT: old-file numbers of context and removed lines)."""
        for i, line in enumerate(self.lines):
            if side == "RIGHT" and line.kind in (" ", "+") and line.new == number:
                return i
            if side == "LEFT" and line.kind in (" ", "-") and line.old == number:
                return i
        return None

    def hunk_text(self, index: int, start_index: int | None = None) -> str:
        """GitHub's ``diff_hunk`` of a comment: from the hunk header down to the commented line."""
        first = index if start_index is None else min(index, start_index)
        head = first
        while head > 0 and self.lines[head].kind != "@":
            head -= 1
        return "\n".join(line.text for line in self.lines[head : index + 1])


def parse_diff(text: str) -> list[FileDiff]:
    """Parse git's unified diff format (renames, copies, mode changes, binary files included)."""
    return list(_parse_diff_cached(text))


@functools.lru_cache(maxsize=64)
def _parse_diff_cached(text: str) -> tuple[FileDiff, ...]:
    lines = text.split("\n")
    files: list[FileDiff] = []
    cur: FileDiff | None = None
    flags: set[str] = set()
    in_binary_patch = False

    def finish() -> None:
        if cur is None:
            return
        if "new" in flags or (cur.old_path is None and cur.new_path is not None and "header" not in flags):
            cur.status = "added"
        elif "deleted" in flags or (cur.new_path is None and cur.old_path is not None and "header" not in flags):
            cur.status = "removed"
        elif "rename" in flags:
            cur.status = "renamed"
        elif "copy" in flags:
            cur.status = "copied"
        elif "mode" in flags and not cur.lines and not cur.binary:
            cur.status = "changed"
        else:
            cur.status = "modified"
        if cur.status == "added":
            cur.old_path = None
        if cur.status == "removed":
            cur.new_path = None

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            finish()
            cur = FileDiff()
            flags = {"header"}
            in_binary_patch = False
            cur.old_path, cur.new_path = _split_git_header(line[len("diff --git ") :])
            files.append(cur)
            i += 1
            continue
        if cur is None or in_binary_patch:
            i += 1
            continue
        m = _HUNK_RE.match(line)
        if m:
            old_no, new_no = int(m.group(1)), int(m.group(3))
            old_left = int(m.group(2)) if m.group(2) is not None else 1
            new_left = int(m.group(4)) if m.group(4) is not None else 1
            hunk = sum(1 for pl in cur.lines if pl.kind == "@")
            cur.lines.append(PatchLine("@", line, None, None, hunk))
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                body = lines[i]
                kind = body[:1] or " "  # an empty line is a context line whose space was stripped
                if body.startswith("diff --git ") or _HUNK_RE.match(body):
                    break
                if kind == "+" and new_left > 0:
                    cur.lines.append(PatchLine("+", body, None, new_no, hunk))
                    new_no, new_left = new_no + 1, new_left - 1
                    cur.additions += 1
                elif kind == "-" and old_left > 0:
                    cur.lines.append(PatchLine("-", body, old_no, None, hunk))
                    old_no, old_left = old_no + 1, old_left - 1
                    cur.deletions += 1
                elif kind == " " and old_left > 0 and new_left > 0:
                    cur.lines.append(PatchLine(" ", body, old_no, new_no, hunk))
                    old_no, new_no, old_left, new_left = old_no + 1, new_no + 1, old_left - 1, new_left - 1
                elif kind == "\\":
                    cur.lines.append(PatchLine("\\", body, None, None, hunk))
                else:
                    break  # malformed: the hunk is shorter than its header says
                i += 1
            while i < len(lines) and lines[i].startswith("\\"):  # "\ No newline at end of file"
                cur.lines.append(PatchLine("\\", lines[i], None, None, hunk))
                i += 1
            continue
        if not cur.lines:  # extended header lines, before the first hunk
            if line.startswith("new file mode"):
                flags.add("new")
            elif line.startswith("deleted file mode"):
                flags.add("deleted")
            elif line.startswith("old mode") or line.startswith("new mode"):
                flags.add("mode")
            elif line.startswith("rename from "):
                flags.add("rename")
                cur.old_path = _unquote_path(line[len("rename from ") :])
            elif line.startswith("rename to "):
                flags.add("rename")
                cur.new_path = _unquote_path(line[len("rename to ") :])
            elif line.startswith("copy from "):
                flags.add("copy")
                cur.old_path = _unquote_path(line[len("copy from ") :])
            elif line.startswith("copy to "):
                flags.add("copy")
                cur.new_path = _unquote_path(line[len("copy to ") :])
            elif line.startswith("index "):
                im = re.match(r"index ([0-9a-fA-F]+)\.\.([0-9a-fA-F]+)", line)
                if im:
                    cur.old_blob, cur.new_blob = im.group(1).lower(), im.group(2).lower()
            elif line.startswith("--- "):
                cur.old_path = _strip_prefix(line[4:])
            elif line.startswith("+++ "):
                cur.new_path = _strip_prefix(line[4:])
            elif line.startswith("Binary files "):
                cur.binary = True
            elif line.startswith("GIT binary patch"):
                cur.binary = True
                in_binary_patch = True
        i += 1
    finish()
    return tuple(files)


def _full_sha(abbrev: str | None, salt: str) -> str:
    """A 40-hex sha that starts with ``abbrev`` (deterministic), or ``abbrev`` itself if full."""
    abbrev = (abbrev or "").lower()
    if re.fullmatch(r"[0-9a-f]{40}", abbrev):
        return abbrev
    digest = hashlib.sha1(f"{salt}\0{abbrev}".encode()).hexdigest()
    return abbrev + digest[len(abbrev) :]


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _base64_lines(data: bytes) -> str:
    """Base64 as GitHub's contents API gives it: 60 characters a line, each line ending in \\n."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def _is_full_sha(text: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]{40}", text) is not None


@dataclass(frozen=True)
class _TreeEntry:
    name: str
    mode: str  # as the API gives it: 100644, 100755, 120000 (symlink), 160000 (submodule) or 040000
    type: str  # "blob", "tree" or "commit" (a submodule)
    sha: str
    size: int | None  # blobs only


def _tree_order(entry: _TreeEntry) -> bytes:
    """git sorts a tree's entries by name bytes, a subtree's name as if it ended in "/"."""
    return entry.name.encode() + (b"/" if entry.type == "tree" else b"")


def _git_trees(
    files: dict[str, bytes], modes: dict[str, str] | None = None, *, blobs: dict[str, bytes] | None = None
) -> tuple[str, dict[str, tuple[_TreeEntry, ...]], dict[str, str]]:
    """The git trees of a snapshot, hashed as git hashes them: (root tree sha, tree sha ->
    its entries in git's order, directory path -> tree sha; "" is the root). Each blob is
    also put in ``blobs`` (sha -> content) when given."""
    modes = modes or {}
    root: dict[str, Any] = {}
    for path, data in files.items():
        parts = path.split("/")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (modes.get(path, "100644"), data)
    trees: dict[str, tuple[_TreeEntry, ...]] = {}
    dirs: dict[str, str] = {}

    def build(node: dict[str, Any], prefix: str) -> str:
        entries = []
        for name, value in node.items():
            if isinstance(value, dict):
                sha = build(value, f"{prefix}{name}/")
                entries.append(_TreeEntry(name, "040000", "tree", sha, None))
            elif value[0] == SUBMODULE_MODE:  # a submodule: a commit of another repository, no blob
                entries.append(_TreeEntry(name, SUBMODULE_MODE, "commit", value[1].decode(), None))
            else:
                mode, data = value
                sha = _git_blob_sha(data)
                if blobs is not None:
                    blobs[sha] = data
                entries.append(_TreeEntry(name, mode, "blob", sha, len(data)))
        entries.sort(key=_tree_order)
        body = b"".join(
            e.mode.lstrip("0").encode() + b" " + e.name.encode() + b"\0" + bytes.fromhex(e.sha) for e in entries
        )
        sha = hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()
        trees[sha] = tuple(entries)
        dirs[prefix.rstrip("/")] = sha
        return sha

    return build(root, ""), trees, dirs


def _git_commit_sha(tree_sha: str) -> str:
    """The sha of a real git commit object: ``tree_sha``, no parent, fixed author and date."""
    name, email = FAKE_COMMIT_AUTHOR
    who = f"{name} <{email}> {FAKE_COMMIT_DATE} +0000"
    body = f"tree {tree_sha}\nauthor {who}\ncommitter {who}\n\n{FAKE_COMMIT_MESSAGE}\n".encode()
    return hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()


def _epoch(value: Any, what: str = "time") -> float:
    """Seconds since the epoch from a number, an ISO 8601 string or a datetime (naive = UTC)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, an ISO 8601 string or a datetime")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what}: not an ISO 8601 time: {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    raise TypeError(f"{what} must be a number, an ISO 8601 string or a datetime")


class _Raw:
    """A non-JSON response body (the diff media type)."""

    def __init__(self, data: str | bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.data = data.encode() if isinstance(data, str) else data
        self.content_type = content_type


def _refuse_large_diff(text: str) -> None:
    """GitHub's 406 for a diff (media type) past 300 files or 20,000 changed lines."""
    files = parse_diff(text)
    if len(files) > MAX_DIFF_FILES:
        message = (f"Sorry, the diff exceeded the maximum number of files ({MAX_DIFF_FILES}). Consider using "
                   "'List pull requests files' API or locally cloning the repository instead.")
    elif sum(f.additions + f.deletions for f in files) > MAX_DIFF_LINES:
        message = f"Sorry, the diff exceeded the maximum number of lines ({MAX_DIFF_LINES})"
    else:
        return
    raise _HTTPError(406, {
        "message": message,
        "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files",
        "status": "406",
    })


def _patch_too_large(patch: str) -> bool:
    """A file's diff GitHub's files lists give no ``patch`` for (its counts stay)."""
    return patch.count("\n") + 1 > MAX_FILE_DIFF_LINES or len(patch.encode()) > MAX_FILE_DIFF_BYTES


def _unprocessable(*messages: str, docs: str = REVIEW_DOCS) -> _HTTPError:
    return _HTTPError(
        422, {"message": "Unprocessable Entity", "errors": list(messages), "documentation_url": docs, "status": "422"}
    )


# --------------------------------------------------------------------------- state records


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    installation_id: int | None
    created_at: float
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower name -> label record
    issues: dict[int, "_Issue"] = field(default_factory=dict)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # ref -> path -> content
    compares: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (base, head) -> record
    private: bool = False
    modes: dict[str, dict[str, str]] = field(default_factory=dict)  # ref -> path -> mode (absent: 100644)
    versions: dict[str, int] = field(default_factory=dict)  # ref -> bumped on every add_file/remove_file
    # git objects: every one ever added or seen stays resolvable (GitHub keeps unreachable objects)
    blobs: dict[str, bytes] = field(default_factory=dict)  # blob sha -> content
    trees: dict[str, tuple[_TreeEntry, ...]] = field(default_factory=dict)  # tree sha -> entries
    commits: dict[str, str] = field(default_factory=dict)  # commit sha -> root tree sha
    git_cache: dict[str, tuple[int, str, str, dict[str, str]]] = field(default_factory=dict)
    # ref -> (version, commit sha, root tree sha, directory path -> tree sha)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class _Issue:
    id: int
    pr_id: int
    number: int
    title: str
    body: str
    user: str
    is_pr: bool
    head_sha: str
    base_sha: str
    created_at: float
    updated_at: float
    labels: list[str] = field(default_factory=list)  # lower-case keys into _Repo.labels
    comment_ids: list[int] = field(default_factory=list)
    review_ids: list[int] = field(default_factory=list)
    state: str = "open"
    draft: bool = False
    base_ref: str | None = None  # None: the repo's default branch
    head_ref: str | None = None  # None: feature-{number}
    diff: str | None = None  # None: a PR made by add_issue, whose review comments are not judged
    heads: list[tuple[str, str | None]] = field(default_factory=list)  # (head sha, diff) of every push
    closed_at: float | None = None
    state_reason: str | None = None  # None on a closed issue reads "completed"
    closed_by: str | None = None


@dataclass
class _Comment:
    id: int
    repo: str  # lower full name
    number: int
    body: str
    user: str
    created_at: float
    updated_at: float
    kind: str = "issue"  # "issue" or "review"
    review_id: int | None = None
    path: str | None = None
    line: int | None = None
    side: str | None = None
    commit_id: str | None = None
    reactions: list[dict[str, Any]] = field(default_factory=list)
    start_line: int | None = None
    start_side: str | None = None
    position: int | None = None
    diff_hunk: str = ""
    in_reply_to: int | None = None


@dataclass
class _Review:
    id: int
    repo: str
    number: int
    user: str
    body: str
    state: str
    commit_id: str
    submitted_at: float
    comment_ids: list[int] = field(default_factory=list)


@dataclass
class _Token:
    token: str
    login: str
    installation_id: int | None  # None for add_token tokens
    repos: set[str] | None  # lower full names; None = all (of the installation)
    expires_at: float | None
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    method: str
    regex: re.Pattern[str]
    status: int
    remaining: int
    headers: dict[str, str]
    body: dict[str, Any] | None


# --------------------------------------------------------------------------- the fake


class FakeGitHub:
    """A fake GitHub REST API server for tests. See the module docstring."""

    def __init__(self, app_id: int = 4242, app_slug: str = "petrel") -> None:
        self.app_id = app_id
        self.app_slug = app_slug
        self.app_name = app_slug[:1].upper() + app_slug[1:]
        self.url = ""
        self.token_ttl_seconds: int = 3600
        self.tree_entry_limit: int = MAX_TREE_ENTRIES  # lower it to see "truncated": true
        self.requests: list[Recorded] = []
        self.tokens_issued: list[dict[str, Any]] = []
        self.foreign_writes: list[dict[str, Any]] = []  # edits/deletes of another's words (stop() fails on any)
        self._permissions: dict[tuple[str, str], str] = {}  # (lower repo, lower login) -> role
        self._lock = threading.Lock()
        self._ids = itertools.count(1_000_001)
        self._repos: dict[str, _Repo] = {}
        self._installations: dict[int, str] = {}  # installation id -> account login
        self._users: dict[str, tuple[int, str]] = {}  # login -> (id, type)
        self._comments: dict[int, _Comment] = {}
        self._reviews: dict[int, _Review] = {}
        self._tokens: dict[str, _Token] = {}
        self._faults: list[_Fault] = []
        self._slow: list[list] = []
        self._app_key: str | None = None
        self._started_at = time.time()
        self._request_count = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeGitHub":
        if self._server is not None:
            return self
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, check: bool = True) -> None:
        """Stop serving; then, unless `check` is false, fail (AssertionError) if anyone tried to
        edit or delete a comment, review, review comment or reaction written by someone else."""
        self._stop_serving()
        if check and self.foreign_writes:
            writes, self.foreign_writes = self.foreign_writes, []
            raise AssertionError(f"attempts to edit or delete what another user wrote: {writes}")

    def _stop_serving(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:  # close kept-alive connections so nothing is served after stop()
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeGitHub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop(check=exc[0] is None)  # an error already raised is not hidden behind this one

    # ------------------------------------------------------------------ setup

    def add_repo(
        self,
        full_name: str,
        *,
        installation_id: int | None = None,
        default_branch: str = "main",
        labels: tuple[str, ...] | list[str] = ("bug", "enhancement", "duplicate", "question"),
        private: bool = False,
    ) -> dict:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"full_name must be 'owner/repo', got {full_name!r}")
        with self._lock:
            self._user(owner, "Organization")
            repo = _Repo(
                id=next(self._ids),
                owner=owner,
                name=name,
                default_branch=default_branch,
                installation_id=installation_id,
                created_at=time.time(),
                private=private,
            )
            for label in labels:
                self._create_label(repo, label)
            self._repos[full_name.lower()] = repo
            if installation_id is not None:
                self._installations.setdefault(installation_id, owner)
            return self._repo_json(repo, self.url)

    def add_installation(self, installation_id: int, *, account: str = "octo-org") -> None:
        """Register an installation that may have no repositories (yet)."""
        with self._lock:
            self._user(account, "Organization")
            self._installations.setdefault(installation_id, account)

    def add_issue(
        self,
        full_name: str,
        number: int,
        *,
        title: str = "t",
        body: str = "",
        user: str = "octocat",
        pull_request: bool = False,
        head_sha: str | None = None,
        state: str = "open",
        labels: tuple[str, ...] | list[str] = (),
        created_at: float | str | datetime | None = None,
        updated_at: float | str | datetime | None = None,
        state_reason: str | None = None,
    ) -> dict:
        """An issue (or, with ``pull_request``, a PR without a diff). ``created_at``/``updated_at``
        take epoch seconds, ISO 8601 or a datetime (default: now; ``updated_at`` defaults to
        ``created_at``). A closed issue is closed at ``updated_at``. Returns the issue JSON."""
        if state not in ("open", "closed"):
            raise ValueError(f"state must be 'open' or 'closed', got {state!r}")
        if state_reason not in (None, "completed", "not_planned", "reopened"):
            raise ValueError(f"bad state_reason {state_reason!r}")
        if isinstance(labels, str):
            raise TypeError("labels must be a list or tuple of names, not a str")
        created = time.time() if created_at is None else _epoch(created_at, "created_at")
        updated = created if updated_at is None else _epoch(updated_at, "updated_at")
        if created_at is None and updated_at is not None:
            created = min(created, updated)
        if updated < created:
            raise ValueError("updated_at must not be before created_at")
        with self._lock:
            repo = self._repo_for_setup(full_name)
            if number in repo.issues:
                raise ValueError(f"{full_name}#{number} already exists")
            self._user(user, "User")
            issue = _Issue(
                id=next(self._ids),
                pr_id=next(self._ids),
                number=number,
                title=title,
                body=body,
                user=user,
                is_pr=pull_request,
                head_sha=head_sha or secrets.token_hex(20),
                base_sha=secrets.token_hex(20),
                created_at=created,
                updated_at=updated,
                state=state,
                closed_at=updated if state == "closed" else None,
                state_reason=state_reason,
            )
            issue.heads.append((issue.head_sha, None))
            for name in labels:
                key = self._create_label(repo, name)["name"].lower()
                if key not in issue.labels:
                    issue.labels.append(key)
            repo.issues[number] = issue
            return self._issue_json(repo, issue, self.url)

    def add_pull(
        self,
        full_name: str,
        number: int,
        *,
        diff: str,
        base_sha: str,
        head_sha: str,
        base_ref: str = "main",
        head_ref: str = "feature",
        title: str = "t",
        body: str = "",
        user: str = "octocat",
        user_type: str = "User",
        draft: bool = False,
        labels: tuple[str, ...] | list[str] = (),
        state: str = "open",
    ) -> dict:
        """A pull request (issue and PR) whose ``diff`` (git's unified format) is served by the
        diff media type and /files, and against which review comments are judged as GitHub
        does. Returns the PR JSON."""
        if state not in ("open", "closed"):
            raise ValueError(f"state must be 'open' or 'closed', got {state!r}")
        if not isinstance(diff, str):
            raise TypeError("diff must be str")
        with self._lock:
            repo = self._repo_for_setup(full_name)
            if number in repo.issues:
                raise ValueError(f"{full_name}#{number} already exists")
            uid, _ = self._user(user, user_type)
            self._users[user] = (uid, user_type)
            now = time.time()
            issue = _Issue(
                id=next(self._ids),
                pr_id=next(self._ids),
                number=number,
                title=title,
                body=body,
                user=user,
                is_pr=True,
                head_sha=head_sha,
                base_sha=base_sha,
                created_at=now,
                updated_at=now,
                state=state,
                draft=draft,
                base_ref=base_ref,
                head_ref=head_ref,
                diff=diff,
                closed_at=now if state == "closed" else None,
            )
            issue.heads.append((head_sha, diff))
            for name in labels:
                key = self._create_label(repo, name)["name"].lower()
                if key not in issue.labels:
                    issue.labels.append(key)
            repo.issues[number] = issue
            return self._pull_json(repo, issue, self.url)

    def set_pull_head(self, full_name: str, number: int, head_sha: str, diff: str) -> dict:
        """A new push: the PR's head becomes ``head_sha`` and its whole diff ``diff``. Earlier
        heads stay valid ``commit_id``s for reviews (judged against their own diff)."""
        with self._lock:
            repo = self._repo_for_setup(full_name)
            issue = repo.issues.get(number)
            if issue is None or not issue.is_pr:
                raise KeyError(f"{full_name}#{number} is not a pull request")
            issue.head_sha = head_sha
            issue.diff = diff
            issue.heads.append((head_sha, diff))
            issue.updated_at = time.time()
            return self._pull_json(repo, issue, self.url)

    def add_compare(
        self,
        full_name: str,
        base: str,
        head: str,
        *,
        diff: str,
        status: str = "ahead",
        ahead_by: int | None = None,
        behind_by: int | None = None,
    ) -> dict:
        """Make ``GET /compare/{base}...{head}`` answer (any other pair is 404, as GitHub answers
        for a sha that no longer exists). ``ahead_by``/``behind_by`` default from ``status``."""
        if status not in ("ahead", "behind", "diverged", "identical"):
            raise ValueError(f"bad compare status {status!r}")
        defaults = {"ahead": (1, 0), "behind": (0, 1), "diverged": (1, 1), "identical": (0, 0)}[status]
        with self._lock:
            repo = self._repo_for_setup(full_name)
            repo.compares[(base, head)] = {
                "base": base,
                "head": head,
                "diff": diff,
                "status": status,
                "ahead_by": defaults[0] if ahead_by is None else ahead_by,
                "behind_by": defaults[1] if behind_by is None else behind_by,
            }
            return self._compare_json(repo, repo.compares[(base, head)], self.url)

    def add_file(
        self,
        full_name: str,
        path: str,
        content: str | bytes,
        *,
        ref: str | None = None,
        mode: str = "100644",
    ) -> dict:
        """Put a file at ``path`` in ``ref`` (default: the repo's default branch), replacing any
        file already there. Each ref is its own snapshot: files are not inherited between refs.
        ``mode`` is git's: 100644, or 100755 (executable). Returns the contents JSON."""
        data = content.encode() if isinstance(content, str) else bytes(content)
        path = path.strip("/")
        if not path:
            raise ValueError("path must not be empty")
        if any(part in ("", ".", "..", ".git") for part in path.split("/")):
            raise ValueError(f"bad path {path!r}")
        if mode not in FILE_MODES:
            raise ValueError(f"mode must be one of {FILE_MODES}, got {mode!r}")
        with self._lock:
            repo = self._repo_for_setup(full_name)
            ref_key = self._ref_key(repo, ref)
            files = repo.files.setdefault(ref_key, {})
            parts = path.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in files:
                    raise ValueError(f"{'/'.join(parts[:i])!r} is a file in {ref_key}; it cannot hold {path!r}")
            if path not in files and any(p.startswith(path + "/") for p in files):
                raise ValueError(f"{path!r} is a directory in {ref_key}")
            files[path] = data
            modes = repo.modes.setdefault(ref_key, {})
            if mode == "100644":
                modes.pop(path, None)
            else:
                modes[path] = mode
            repo.blobs[_git_blob_sha(data)] = data
            repo.versions[ref_key] = repo.versions.get(ref_key, 0) + 1
            return self._content_json(repo, ref_key, path, data, self.url)

    def remove_file(self, full_name: str, path: str, *, ref: str | None = None) -> None:
        """Delete the file at ``path`` from ``ref`` (default: the default branch), as a push would:
        the ref's tree and commit change; the old blob, trees and commit stay resolvable by sha.
        A directory left empty disappears. KeyError if there is no such file."""
        path = path.strip("/")
        with self._lock:
            repo = self._repo_for_setup(full_name)
            ref_key = self._ref_key(repo, ref)
            files = repo.files.get(ref_key, {})
            if path not in files:
                raise KeyError(f"no file {path!r} in {full_name} at {ref_key}")
            del files[path]
            repo.modes.get(ref_key, {}).pop(path, None)
            repo.versions[ref_key] = repo.versions.get(ref_key, 0) + 1

    # ------------------------------------------------------------------ symlinks and submodules

    def add_symlink(self, full_name: str, path: str, target: str, *, ref: str | None = None) -> None:
        """Put a symbolic link at ``path`` whose target is ``target`` (relative to the link's
        directory, as git stores it: the blob is the target's text, mode 120000). The contents
        API answers as GitHub documents: the target file's own JSON when the link resolves to a
        regular file of the same ref, otherwise ``"type": "symlink"`` with ``target``."""
        self.add_file(full_name, path, target, ref=ref)
        with self._lock:
            repo = self._repo_for_setup(full_name)
            ref_key = self._ref_key(repo, ref)
            repo.modes.setdefault(ref_key, {})[path.strip("/")] = SYMLINK_MODE
            repo.versions[ref_key] = repo.versions.get(ref_key, 0) + 1

    def add_submodule(self, full_name: str, path: str, commit: str, url: str, *, ref: str | None = None) -> None:
        """Put a git submodule at ``path``: a "commit" tree entry (mode 160000) for ``commit``,
        with its ``url`` in ``.gitmodules``, as ``git submodule add`` does. The contents API
        answers ``"type": "submodule"`` with ``submodule_git_url``."""
        if not _is_full_sha(commit):
            raise ValueError(f"commit must be a 40-hex sha, got {commit!r}")
        path = path.strip("/")
        self.add_file(full_name, path, commit.lower(), ref=ref)
        with self._lock:
            repo = self._repo_for_setup(full_name)
            ref_key = self._ref_key(repo, ref)
            repo.modes.setdefault(ref_key, {})[path] = SUBMODULE_MODE
            modules = repo.files.get(ref_key, {}).get(".gitmodules", b"").decode()
        modules += f'[submodule "{path}"]\n\tpath = {path}\n\turl = {url}\n'
        self.add_file(full_name, ".gitmodules", modules, ref=ref)

    def _special_content(self, repo: _Repo, ref: str, path: str, files: dict[str, bytes], modes: dict[str, str],
                         base: str) -> dict[str, Any] | None:
        """The contents JSON of a symlink or a submodule at ``path``; None for a regular file."""
        mode = modes.get(path)
        if mode == SYMLINK_MODE:
            target = files[path].decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if not target.startswith("/") and resolved in files and modes.get(resolved) in (None, *FILE_MODES):
                return self._content_json(repo, ref, resolved, files[resolved], base)  # GitHub follows it
            out = self._content_links(repo, ref, path, _git_blob_sha(files[path]), "file", base)
            out.update(type="symlink", target=target, size=len(files[path]))
            return out
        if mode == SUBMODULE_MODE:
            commit = files[path].decode()
            out = self._content_links(repo, ref, path, commit, "dir", base)
            out.update(type="submodule", size=0, download_url=None, submodule_git_url=self._submodule_url(files, path))
            return out
        return None

    def _special_entry(self, entry: dict[str, Any], mode: str | None, data: bytes) -> None:
        """A directory listing's entry for a symlink ("symlink") or a submodule (listed as
        "file", as GitHub's v3 API does for backwards compatibility)."""
        if mode == SYMLINK_MODE:
            entry["type"] = "symlink"
        elif mode == SUBMODULE_MODE:
            entry.update(sha=data.decode(), size=0, download_url=None)

    @staticmethod
    def _submodule_url(files: dict[str, bytes], path: str) -> str | None:
        text = files.get(".gitmodules", b"").decode("utf-8", "replace")
        for section in re.split(r"^\[submodule ", text, flags=re.MULTILINE):
            found = dict(re.findall(r"^\s*(path|url)\s*=\s*(.*?)\s*$", section, flags=re.MULTILINE))
            if found.get("path") == path:
                return found.get("url")
        return None

    def head(self, full_name: str, ref: str | None = None) -> dict:
        """Where ``ref`` (default: the default branch) points now: ``{"commit": sha, "tree": sha}``."""
        with self._lock:
            repo = self._repo_for_setup(full_name)
            commit, tree = self._head(repo, self._ref_key(repo, ref))
            return {"commit": commit, "tree": tree}

    def add_comment(
        self, full_name: str, number: int, body: str, *, user: str = "octocat", user_type: str = "User"
    ) -> dict:
        with self._lock:
            repo = self._repo_for_setup(full_name)
            issue = repo.issues.get(number)
            if issue is None:
                raise KeyError(f"{full_name}#{number} does not exist; add_issue first")
            uid, _ = self._user(user, user_type)
            self._users[user] = (uid, user_type)
            comment = self._new_issue_comment(repo, issue, body, user)
            return self._comment_json(comment, self.url)

    def set_app_key(self, public_key_pem: str) -> None:
        if isinstance(public_key_pem, bytes):
            public_key_pem = public_key_pem.decode()
        with self._lock:
            self._app_key = public_key_pem

    def add_token(self, token: str, *, login: str = "petrel-bot", repos: list[str] | None = None) -> None:
        with self._lock:
            self._user(login, "User")
            self._tokens[token] = _Token(
                token=token,
                login=login,
                installation_id=None,
                repos=None if repos is None else {r.lower() for r in repos},
                expires_at=None,
            )

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        headers: dict | None = None,
        body: dict | None = None,
    ) -> None:
        """The next ``times`` requests whose method matches (``"*"`` = any) and whose path
        ``re.search``-matches ``path_regex`` (tried on the path without and with any /api/v3
        prefix, query excluded) get ``status`` with ``headers`` and ``body`` instead of service.
        Applied before authentication and routing; faults are consumed in the order added."""
        with self._lock:
            self._faults.append(
                _Fault(
                    method=method.upper(),
                    regex=re.compile(path_regex),
                    status=status,
                    remaining=times,
                    headers={str(k): str(v) for k, v in (headers or {}).items()},
                    body=body,
                )
            )

    def slow(self, method: str, path_regex: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` matching requests are applied at once but answered ``seconds`` late:
        what a client sees when GitHub did the write and the answer never reached it in time."""
        with self._lock:
            self._slow.append([method.upper(), re.compile(path_regex), seconds, times])

    def _response_delay(self, method: str, path: str) -> float:
        with self._lock:
            for rule in self._slow:
                if rule[3] > 0 and rule[0] in ("*", method) and rule[1].search(path):
                    rule[3] -= 1
                    return rule[2]
        return 0.0

    def revoke_token(self, token: str) -> None:
        """Revoke a token before it expires (as GitHub does when an App's tokens are reset, or an
        installation token is revoked): requests with it get 401 Bad credentials from now on."""
        with self._lock:
            self._tokens.pop(token, None)

    # ------------------------------------------------------------------ introspection

    def comments(self, full_name: str, number: int) -> list[dict]:
        with self._lock:
            repo = self._repo_for_setup(full_name)
            issue = repo.issues[number]
            return [self._comment_json(self._comments[c], self.url) for c in issue.comment_ids]

    def reactions(self, full_name: str, comment_id: int) -> list[dict]:
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or comment.repo != full_name.lower():
                raise KeyError(f"no comment {comment_id} in {full_name}")
            return [self._reaction_json(r) for r in comment.reactions]

    def reviews(self, full_name: str, number: int) -> list[dict]:
        """Reviews as GitHub returns them, plus a ``comments`` key with their review comments."""
        with self._lock:
            repo = self._repo_for_setup(full_name)
            issue = repo.issues[number]
            out = []
            for rid in issue.review_ids:
                review = self._reviews[rid]
                data = self._review_json(review, self.url)
                data["comments"] = [self._review_comment_json(self._comments[c], self.url) for c in review.comment_ids]
                out.append(data)
            return out

    def issue(self, full_name: str, number: int) -> dict:
        """The issue (or PR's issue) JSON as ``GET /issues/{n}`` gives it now."""
        with self._lock:
            repo = self._repo_for_setup(full_name)
            return self._issue_json(repo, repo.issues[number], self.url)

    def labels_on(self, full_name: str, number: int) -> list[str]:
        with self._lock:
            repo = self._repo_for_setup(full_name)
            return [repo.labels[k]["name"] for k in repo.issues[number].labels]

    # ------------------------------------------------------------------ internals: state helpers

    def _repo_for_setup(self, full_name: str) -> _Repo:
        repo = self._repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"unknown repo {full_name!r}; add_repo first")
        return repo

    def _user(self, login: str, user_type: str = "User") -> tuple[int, str]:
        if login not in self._users:
            self._users[login] = (next(self._ids), user_type)
        return self._users[login]

    def _create_label(self, repo: _Repo, name: str) -> dict[str, Any]:
        key = name.lower()
        if key not in repo.labels:
            lid = next(self._ids)
            repo.labels[key] = {
                "id": lid,
                "node_id": _node_id("LA", lid),
                "name": name,
                "color": DEFAULT_LABEL_COLORS.get(key, "ededed"),
                "default": key in DEFAULT_LABEL_COLORS,
                "description": None,
            }
        return repo.labels[key]

    def _new_issue_comment(self, repo: _Repo, issue: _Issue, body: str, user: str) -> _Comment:
        now = time.time()
        comment = _Comment(
            id=next(self._ids),
            repo=repo.full_name.lower(),
            number=issue.number,
            body=body,
            user=user,
            created_at=now,
            updated_at=now,
        )
        self._comments[comment.id] = comment
        issue.comment_ids.append(comment.id)
        issue.updated_at = now
        return comment

    @property
    def _bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    # ------------------------------------------------------------------ internals: JSON rendering

    def _user_json(self, login: str, base: str) -> dict[str, Any]:
        uid, utype = self._user(login)
        q = urllib.parse.quote(login)
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("U" if utype != "Bot" else "BOT", uid),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "",
            "url": f"{base}/users/{q}",
            "html_url": f"https://github.com/{q}" if utype != "Bot" else f"https://github.com/apps/{self.app_slug}",
            "type": utype,
            "site_admin": False,
        }

    def _app_json(self, base: str) -> dict[str, Any]:
        owner = next(iter(self._installations.values()), "octo-org")
        ts = _iso(self._started_at)
        return {
            "id": self.app_id,
            "slug": self.app_slug,
            "client_id": f"Iv1.{self.app_id:016x}",
            "node_id": _node_id("A", self.app_id),
            "owner": self._user_json(owner, base),
            "name": self.app_name,
            "description": "",
            "external_url": "https://example.invalid/petrel",
            "html_url": f"https://github.com/apps/{self.app_slug}",
            "created_at": ts,
            "updated_at": ts,
            "permissions": dict(DEFAULT_PERMISSIONS),
            "events": list(DEFAULT_EVENTS),
            "installations_count": len(self._installations),
        }

    def _repo_json(self, repo: _Repo, base: str) -> dict[str, Any]:
        api = f"{base}/repos/{repo.full_name}"
        ts = _iso(repo.created_at)
        return {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user_json(repo.owner, base),
            "html_url": f"https://github.com/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "issues_url": f"{api}/issues{{/number}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "created_at": ts,
            "updated_at": ts,
            "pushed_at": ts,
            "default_branch": repo.default_branch,
            "visibility": "private" if repo.private else "public",
            "archived": False,
            "disabled": False,
            "has_issues": True,
            "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
        }

    def _label_json(self, repo: _Repo, label: dict[str, Any], base: str) -> dict[str, Any]:
        data = dict(label)
        data["url"] = f"{base}/repos/{repo.full_name}/labels/{urllib.parse.quote(label['name'])}"
        return data

    def _association(self, repo: _Repo, login: str) -> str:
        if login == repo.owner:
            return "OWNER"
        return "NONE"

    def _reactions_summary(self, reactions: list[dict[str, Any]], url: str) -> dict[str, Any]:
        summary: dict[str, Any] = {"url": url, "total_count": len(reactions)}
        for content in REACTION_CONTENTS:
            summary[content] = sum(1 for r in reactions if r["content"] == content)
        return summary

    def _issue_json(self, repo: _Repo, issue: _Issue, base: str) -> dict[str, Any]:
        api = f"{base}/repos/{repo.full_name}/issues/{issue.number}"
        kind = "pull" if issue.is_pr else "issues"
        data: dict[str, Any] = {
            "id": issue.id,
            "node_id": _node_id("I", issue.id),
            "url": api,
            "repository_url": f"{base}/repos/{repo.full_name}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"https://github.com/{repo.full_name}/{kind}/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "state_reason": None if issue.is_pr else self._state_reason(issue),
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json(issue.user, base),
            "labels": [self._label_json(repo, repo.labels[k], base) for k in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(issue.comment_ids),
            "closed_at": _iso(issue.closed_at) if issue.closed_at is not None else None,
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_by": self._user_json(issue.closed_by, base) if issue.closed_by else None,
            "author_association": self._association(repo, issue.user),
            "draft": issue.draft,
            "reactions": self._reactions_summary([], f"{api}/reactions"),
        }
        if issue.is_pr:
            pr_api = f"{base}/repos/{repo.full_name}/pulls/{issue.number}"
            data["pull_request"] = {
                "url": pr_api,
                "html_url": f"https://github.com/{repo.full_name}/pull/{issue.number}",
                "diff_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.diff",
                "patch_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.patch",
                "merged_at": None,
            }
        return data

    @staticmethod
    def _state_reason(issue: _Issue) -> str | None:
        if issue.state == "closed":
            return issue.state_reason or "completed"
        return issue.state_reason if issue.state_reason == "reopened" else None

    def _pull_json(self, repo: _Repo, issue: _Issue, base: str) -> dict[str, Any]:
        api = f"{base}/repos/{repo.full_name}/pulls/{issue.number}"
        issue_api = f"{base}/repos/{repo.full_name}/issues/{issue.number}"
        repo_json = self._repo_json(repo, base)
        head_ref = issue.head_ref or f"feature-{issue.number}"
        base_ref = issue.base_ref or repo.default_branch
        files = parse_diff(issue.diff) if issue.diff else []
        return {
            "id": issue.pr_id,
            "node_id": _node_id("PR", issue.pr_id),
            "url": api,
            "html_url": f"https://github.com/{repo.full_name}/pull/{issue.number}",
            "diff_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.diff",
            "patch_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.patch",
            "issue_url": issue_api,
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{base}/repos/{repo.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue_api}/comments",
            "statuses_url": f"{base}/repos/{repo.full_name}/statuses/{issue.head_sha}",
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json(issue.user, base),
            "labels": [self._label_json(repo, repo.labels[k], base) for k in issue.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at) if issue.closed_at is not None else None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{repo.owner}:{head_ref}",
                "ref": head_ref,
                "sha": issue.head_sha,
                "user": self._user_json(repo.owner, base),
                "repo": repo_json,
            },
            "base": {
                "label": f"{repo.owner}:{base_ref}",
                "ref": base_ref,
                "sha": issue.base_sha,
                "user": self._user_json(repo.owner, base),
                "repo": repo_json,
            },
            "author_association": self._association(repo, issue.user),
            "auto_merge": None,
            "draft": issue.draft,
            "merged": False,
            "mergeable": None,
            "rebaseable": None,
            "mergeable_state": "unknown",
            "merged_by": None,
            "comments": len(issue.comment_ids),
            "review_comments": sum(len(self._reviews[r].comment_ids) for r in issue.review_ids),
            "maintainer_can_modify": False,
            "commits": len(issue.heads) or 1,
            "additions": sum(f.additions for f in files),
            "deletions": sum(f.deletions for f in files),
            "changed_files": len(files),
        }

    def _file_json(self, repo: _Repo, f: FileDiff, ref: str, base: str) -> dict[str, Any]:
        """One entry of GET /pulls/{n}/files and of compare's ``files``."""
        blob = f.old_blob if f.status == "removed" else f.new_blob
        name = urllib.parse.quote(f.filename)
        data: dict[str, Any] = {
            "sha": _full_sha(blob, f.filename),
            "filename": f.filename,
            "status": f.status,
            "additions": f.additions,
            "deletions": f.deletions,
            "changes": f.additions + f.deletions,
            "blob_url": f"https://github.com/{repo.full_name}/blob/{ref}/{name}",
            "raw_url": f"https://github.com/{repo.full_name}/raw/{ref}/{name}",
            "contents_url": f"{base}/repos/{repo.full_name}/contents/{name}?ref={ref}",
        }
        patch = f.patch
        if patch is not None and not _patch_too_large(patch):
            data["patch"] = patch
        if f.status in ("renamed", "copied") and f.old_path is not None:
            data["previous_filename"] = f.old_path
        return data

    @staticmethod
    def _sha_of(ref: str) -> str:
        return ref.lower() if re.fullmatch(r"[0-9a-fA-F]{40}", ref) else hashlib.sha1(ref.encode()).hexdigest()

    def _commit_stub(self, repo: _Repo, sha: str, base: str) -> dict[str, Any]:
        return {
            "sha": sha,
            "node_id": _node_id("C", int(sha[:8], 16)),
            "url": f"{base}/repos/{repo.full_name}/commits/{sha}",
            "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
            "parents": [],
        }

    def _compare_json(self, repo: _Repo, rec: dict[str, Any], base: str) -> dict[str, Any]:
        base_sha, head_sha = self._sha_of(rec["base"]), self._sha_of(rec["head"])
        merge_base = {
            "ahead": base_sha,
            "identical": base_sha,
            "behind": head_sha,
            "diverged": hashlib.sha1(f"merge-base {base_sha} {head_sha}".encode()).hexdigest(),
        }[rec["status"]]
        basehead = f"{rec['base']}...{rec['head']}"
        html = f"https://github.com/{repo.full_name}/compare/{basehead}"
        files = parse_diff(rec["diff"])[:MAX_COMPARE_FILES]
        return {
            "url": f"{base}/repos/{repo.full_name}/compare/{basehead}",
            "html_url": html,
            "permalink_url": f"https://github.com/{repo.full_name}/compare/"
            f"{repo.owner}:{base_sha}...{repo.owner}:{head_sha}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": self._commit_stub(repo, base_sha, base),
            "merge_base_commit": self._commit_stub(repo, merge_base, base),
            "status": rec["status"],
            "ahead_by": rec["ahead_by"],
            "behind_by": rec["behind_by"],
            "total_commits": rec["ahead_by"],
            "commits": [],
            "files": [self._file_json(repo, f, head_sha, base) for f in files],
        }

    def _ref_key(self, repo: _Repo, ref: str | None) -> str:
        if not ref:
            return repo.default_branch
        for prefix in ("refs/heads/", "refs/tags/", "heads/", "tags/"):
            if ref.startswith(prefix):
                return ref[len(prefix) :]
        return ref

    def _content_links(self, repo: _Repo, ref: str, path: str, sha: str, kind: str, base: str) -> dict[str, Any]:
        q = urllib.parse.quote(path)
        url = f"{base}/repos/{repo.full_name}/contents/{q}?ref={urllib.parse.quote(ref, safe='')}"
        git_url = f"{base}/repos/{repo.full_name}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}"
        html_url = f"https://github.com/{repo.full_name}/{'blob' if kind == 'file' else 'tree'}/{ref}/{q}"
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{q}" if kind == "file" else None,
            "type": kind,
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def _content_json(self, repo: _Repo, ref: str, path: str, data: bytes, base: str) -> dict[str, Any]:
        out = self._content_links(repo, ref, path, _git_blob_sha(data), "file", base)
        out["size"] = len(data)
        if len(data) > MAX_CONTENT_SIZE:
            out["content"], out["encoding"] = "", "none"
        else:
            out["content"], out["encoding"] = _base64_lines(data), "base64"
        return out

    def _tree_sha(self, files: dict[str, bytes], prefix: str) -> str:
        """The git tree sha of directory ``prefix`` ("" = root), as git computes it."""
        return _git_trees(files)[2].get(prefix, EMPTY_TREE_SHA)

    # ------------------------------------------------------------------ internals: git data

    def _head(self, repo: _Repo, ref_key: str) -> tuple[str, str]:
        """(commit sha, root tree sha) of a ref's snapshot; its objects are registered as seen."""
        version = repo.versions.get(ref_key, 0)
        cached = repo.git_cache.get(ref_key)
        if cached is None or cached[0] != version:
            files = repo.files.get(ref_key, {})
            tree, trees, dirs = _git_trees(files, repo.modes.get(ref_key), blobs=repo.blobs)
            commit = ref_key.lower() if _is_full_sha(ref_key) else _git_commit_sha(tree)
            repo.trees.update(trees)
            repo.commits[commit] = tree
            cached = (version, commit, tree, dirs)
            repo.git_cache[ref_key] = cached
        return cached[1], cached[2]

    def _branch_names(self, repo: _Repo) -> list[str]:
        return sorted({repo.default_branch} | {r for r in repo.files if not _is_full_sha(r)})

    def _sync_git(self, repo: _Repo) -> None:
        """Register the objects of every ref's current snapshot."""
        for ref_key in set(repo.files) | {repo.default_branch}:
            self._head(repo, ref_key)

    def _resolve_commit(self, repo: _Repo, ref: str) -> tuple[str, str] | None:
        """(commit sha, root tree sha) for a branch name (``refs/heads/`` optional) or a commit sha
        (abbreviated to 7+ hex digits if unique); None if unknown."""
        self._sync_git(repo)
        key = self._ref_key(repo, ref)
        if key in repo.files or key == repo.default_branch:
            return self._head(repo, key)
        low = key.lower()
        if re.fullmatch(r"[0-9a-f]{7,40}", low):
            matches = [c for c in repo.commits if c.startswith(low)]
            if len(matches) == 1:
                return matches[0], repo.commits[matches[0]]
        return None

    def _files_in_tree(self, repo: _Repo, tree: str) -> tuple[dict[str, bytes], dict[str, str]]:
        """(path -> content, path -> mode if not 100644) of a registered tree."""
        files: dict[str, bytes] = {}
        modes: dict[str, str] = {}

        def walk(sha: str, prefix: str) -> None:
            for e in repo.trees[sha]:
                if e.type == "tree":
                    walk(e.sha, f"{prefix}{e.name}/")
                elif e.type == "commit":  # a submodule: its commit sha stands for its content
                    files[prefix + e.name] = e.sha.encode()
                    modes[prefix + e.name] = e.mode
                else:
                    files[prefix + e.name] = repo.blobs[e.sha]
                    if e.mode != "100644":
                        modes[prefix + e.name] = e.mode
        walk(tree, "")
        return files, modes

    def _git_person(self) -> dict[str, Any]:
        name, email = FAKE_COMMIT_AUTHOR
        return {"name": name, "email": email, "date": _iso(FAKE_COMMIT_DATE)}

    def _git_commit_json(self, repo: _Repo, commit: str, tree: str, base: str) -> dict[str, Any]:
        """``GET /git/commits/{sha}``."""
        api = f"{base}/repos/{repo.full_name}"
        return {
            "sha": commit,
            "node_id": _node_id("C", int(commit[:8], 16)),
            "url": f"{api}/git/commits/{commit}",
            "html_url": f"https://github.com/{repo.full_name}/commit/{commit}",
            "author": self._git_person(),
            "committer": self._git_person(),
            "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
            "message": FAKE_COMMIT_MESSAGE,
            "parents": [],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def _commit_json(self, repo: _Repo, commit: str, tree: str, base: str, *, full: bool) -> dict[str, Any]:
        """``GET /commits/{ref}`` (``full``: with stats and files) and a branch's ``commit``."""
        api = f"{base}/repos/{repo.full_name}"
        git = self._git_commit_json(repo, commit, tree, base)
        data: dict[str, Any] = {
            "sha": commit,
            "node_id": git["node_id"],
            "commit": {
                "author": git["author"],
                "committer": git["committer"],
                "message": git["message"],
                "tree": git["tree"],
                "url": git["url"],
                "comment_count": 0,
                "verification": git["verification"],
            },
            "url": f"{api}/commits/{commit}",
            "html_url": git["html_url"],
            "comments_url": f"{api}/commits/{commit}/comments",
            "author": None,
            "committer": None,
            "parents": [],
        }
        if full:
            data["stats"] = {"total": 0, "additions": 0, "deletions": 0}
            data["files"] = []
        return data

    def _branch_json(self, repo: _Repo, name: str, base: str) -> dict[str, Any]:
        commit, tree = self._head(repo, name)
        api = f"{base}/repos/{repo.full_name}/branches/{urllib.parse.quote(name)}"
        return {
            "name": name,
            "commit": self._commit_json(repo, commit, tree, base, full=False),
            "_links": {"self": api, "html": f"https://github.com/{repo.full_name}/tree/{name}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
            },
            "protection_url": f"{api}/protection",
        }

    def _performed_via(self, login: str, base: str) -> dict[str, Any] | None:
        return self._app_json(base) if login == self._bot_login else None

    def _comment_json(self, comment: _Comment, base: str) -> dict[str, Any]:
        repo = self._repos[comment.repo]
        issue = repo.issues[comment.number]
        api = f"{base}/repos/{repo.full_name}/issues/comments/{comment.id}"
        kind = "pull" if issue.is_pr else "issues"
        return {
            "id": comment.id,
            "node_id": _node_id("IC", comment.id),
            "url": api,
            "html_url": f"https://github.com/{repo.full_name}/{kind}/{comment.number}#issuecomment-{comment.id}",
            "issue_url": f"{base}/repos/{repo.full_name}/issues/{comment.number}",
            "body": comment.body,
            "user": self._user_json(comment.user, base),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "author_association": self._association(repo, comment.user),
            "performed_via_github_app": self._performed_via(comment.user, base),
            "reactions": self._reactions_summary(comment.reactions, f"{api}/reactions"),
        }

    def _review_comment_json(self, comment: _Comment, base: str) -> dict[str, Any]:
        repo = self._repos[comment.repo]
        api = f"{base}/repos/{repo.full_name}/pulls/comments/{comment.id}"
        html = f"https://github.com/{repo.full_name}/pull/{comment.number}#discussion_r{comment.id}"
        return {
            "id": comment.id,
            "node_id": _node_id("PRRC", comment.id),
            "url": api,
            "html_url": html,
            "pull_request_url": f"{base}/repos/{repo.full_name}/pulls/{comment.number}",
            "pull_request_review_id": comment.review_id,
            "diff_hunk": comment.diff_hunk,
            "path": comment.path,
            "position": comment.position,
            "original_position": comment.position,
            "line": comment.line,
            "original_line": comment.line,
            "side": comment.side,
            "start_line": comment.start_line,
            "original_start_line": comment.start_line,
            "start_side": comment.start_side,
            "subject_type": "line",
            "commit_id": comment.commit_id,
            "original_commit_id": comment.commit_id,
            "body": comment.body,
            **({"in_reply_to_id": comment.in_reply_to} if comment.in_reply_to else {}),
            "user": self._user_json(comment.user, base),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "author_association": self._association(repo, comment.user),
            "reactions": self._reactions_summary(comment.reactions, f"{api}/reactions"),
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "pull_request": {"href": f"{base}/repos/{repo.full_name}/pulls/{comment.number}"},
            },
        }

    def _review_json(self, review: _Review, base: str) -> dict[str, Any]:
        repo = self._repos[review.repo]
        html = f"https://github.com/{repo.full_name}/pull/{review.number}#pullrequestreview-{review.id}"
        pr = f"{base}/repos/{repo.full_name}/pulls/{review.number}"
        data = {
            "id": review.id,
            "node_id": _node_id("PRR", review.id),
            "user": self._user_json(review.user, base),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pr,
            "author_association": self._association(repo, review.user),
            "submitted_at": _iso(review.submitted_at),
            "commit_id": review.commit_id,
            "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
        }
        if review.state == "PENDING":  # not submitted yet: GitHub gives no submitted_at
            del data["submitted_at"]
        return data

    def _reaction_json(self, reaction: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        return {
            "id": reaction["id"],
            "node_id": _node_id("REA", reaction["id"]),
            "user": self._user_json(reaction["user"], self.url if base is None else base),
            "content": reaction["content"],
            "created_at": _iso(reaction["created_at"]),
        }

    def _installation_json(self, installation_id: int, base: str) -> dict[str, Any]:
        account = self._installations[installation_id]
        ts = _iso(self._started_at)
        return {
            "id": installation_id,
            "account": self._user_json(account, base),
            "repository_selection": "selected",
            "access_tokens_url": f"{base}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{base}/installation/repositories",
            "html_url": f"https://github.com/organizations/{account}/settings/installations/{installation_id}",
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": self._user(account)[0],
            "target_type": "Organization",
            "permissions": dict(DEFAULT_PERMISSIONS),
            "events": list(DEFAULT_EVENTS),
            "created_at": ts,
            "updated_at": ts,
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    # ------------------------------------------------------------------ internals: request handling

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any, dict[str, str]]]]]:
        R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        N = r"(?P<number>\d+)"
        C = r"(?P<cid>\d+)"
        spec = [
            ("GET", r"/app", self._h_get_app),
            ("GET", r"/app/installations", self._h_list_installations),
            ("GET", r"/app/installations/(?P<iid>\d+)", self._h_get_installation),
            ("POST", r"/app/installations/(?P<iid>\d+)/access_tokens", self._h_access_token),
            ("GET", R + r"/installation", self._h_repo_installation),
            ("GET", r"/installation/repositories", self._h_installation_repos),
            ("GET", r"/rate_limit", self._h_rate_limit),
            ("GET", R, self._h_get_repo),
            ("GET", R + r"/labels", self._h_list_labels),
            ("GET", R + r"/issues", self._h_list_issues),
            ("GET", R + r"/issues/" + N, self._h_get_issue),
            ("PATCH", R + r"/issues/" + N, self._h_edit_issue),
            ("GET", R + r"/issues/" + N + r"/comments", self._h_list_comments),
            ("POST", R + r"/issues/" + N + r"/comments", self._h_create_comment),
            ("GET", R + r"/issues/" + N + r"/labels", self._h_issue_labels),
            ("POST", R + r"/issues/" + N + r"/labels", self._h_add_labels),
            ("GET", R + r"/issues/comments/" + C, self._h_get_comment),
            ("PATCH", R + r"/issues/comments/" + C, self._h_edit_comment),
            ("GET", R + r"/issues/comments/" + C + r"/reactions", self._h_list_reactions_issue),
            ("POST", R + r"/issues/comments/" + C + r"/reactions", self._h_create_reaction_issue),
            ("GET", R + r"/pulls/" + N, self._h_get_pull),
            ("PATCH", R + r"/pulls/" + N, self._h_edit_pull),
            ("GET", R + r"/pulls/" + N + r"/reviews", self._h_list_reviews),
            ("POST", R + r"/pulls/" + N + r"/reviews", self._h_create_review),
            ("GET", R + r"/pulls/" + N + r"/comments", self._h_list_review_comments),
            ("POST", R + r"/pulls/" + N + r"/comments/" + C + r"/replies", self._h_reply_review_comment),
            ("GET", R + r"/pulls/" + N + r"/files", self._h_pull_files),
            ("GET", R + r"/compare/(?P<basehead>.+?)", self._h_compare),
            ("GET", R + r"/contents(?:/(?P<path>.*?))?", self._h_contents),
            ("GET", R + r"/branches", self._h_list_branches),
            ("GET", R + r"/branches/(?P<branch>.+?)", self._h_get_branch),
            ("GET", R + r"/commits/(?P<ref>.+?)", self._h_get_commit),
            ("GET", R + r"/git/commits/(?P<sha>[^/]+)", self._h_get_git_commit),
            ("GET", R + r"/git/trees/(?P<sha>.+?)", self._h_get_tree),
            ("GET", R + r"/git/blobs/(?P<sha>[^/]+)", self._h_get_blob),
            ("GET", R + r"/pulls/comments/" + C, self._h_get_review_comment),
            ("GET", R + r"/pulls/comments/" + C + r"/reactions", self._h_list_reactions_review),
            ("POST", R + r"/pulls/comments/" + C + r"/reactions", self._h_create_reaction_review),
            # identity, permissions, and writes to what another user wrote (recorded in foreign_writes)
            ("GET", r"/user", self._h_get_user),
            ("POST", r"/graphql", self._h_graphql),
            ("GET", R + r"/collaborators/(?P<username>[^/]+)/permission", self._h_collaborator_permission),
            ("DELETE", R + r"/issues/comments/" + C, self._h_delete_comment),
            ("PATCH", R + r"/pulls/comments/" + C, self._h_edit_review_comment),
            ("DELETE", R + r"/pulls/comments/" + C, self._h_delete_review_comment),
            ("PUT", R + r"/pulls/" + N + r"/reviews/(?P<rid>\d+)", self._h_update_review),
            ("DELETE", R + r"/pulls/" + N + r"/reviews/(?P<rid>\d+)", self._h_delete_review),
            ("DELETE", R + r"/issues/comments/" + C + r"/reactions/(?P<reaction>\d+)", self._h_delete_reaction_issue),
            ("DELETE", R + r"/pulls/comments/" + C + r"/reactions/(?P<reaction>\d+)", self._h_delete_reaction_review),
        ]
        return [(m, re.compile(p + r"/?\Z"), h) for m, p, h in spec]

    def _rate_headers(self) -> dict[str, str]:
        self._request_count += 1
        remaining = max(RATE_LIMIT - self._request_count, 1)
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(RATE_LIMIT - remaining),
            "x-ratelimit-reset": str(int(self._started_at) + 3600),
            "x-ratelimit-resource": "core",
            "x-github-request-id": f"{secrets.token_hex(2).upper()}:{secrets.token_hex(3).upper()}:"
            f"{secrets.token_hex(4).upper()}:{secrets.token_hex(4).upper()}:{secrets.token_hex(4).upper()}",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-media-type": "github.v3; format=json",
        }

    def _handle(
        self, method: str, raw_path: str, query_string: str, headers: _CIDict, raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Returns (status, json body, extra headers). Called with the lock held."""
        path = raw_path
        prefix = ""
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            prefix = API_PREFIX
            path = path[len(API_PREFIX) :] or "/"
        query = {k: v[0] for k, v in urllib.parse.parse_qs(query_string, keep_blank_values=True).items()}
        body: Any = None
        body_error = False
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body_error = True
        record = Recorded(
            method=method,
            path=path,
            query=query,
            headers=headers,
            json=body,
            status=0,
            timestamp=time.monotonic(),
            raw_path=raw_path,
        )
        self.requests.append(record)
        rate = self._rate_headers()

        status, payload, extra = self._dispatch(method, path, prefix, raw_path, query, headers, body, body_error)
        record.status = status
        out_headers = dict(rate)
        out_headers.update(extra)
        return status, payload, out_headers

    def _dispatch(
        self,
        method: str,
        path: str,
        prefix: str,
        raw_path: str,
        query: dict[str, str],
        headers: _CIDict,
        body: Any,
        body_error: bool,
    ) -> tuple[int, Any, dict[str, str]]:
        # 1. fault injection, before auth and routing
        for fault in self._faults:
            if fault.remaining <= 0:
                continue
            if fault.method not in ("*", method):
                continue
            if not (fault.regex.search(path) or fault.regex.search(raw_path)):
                continue
            fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining > 0]
            payload = fault.body if fault.body is not None else {
                "message": _default_message(fault.status, fault.headers),
                "documentation_url": DOCS,
            }
            return fault.status, payload, dict(fault.headers)

        base = self.url + prefix
        try:
            # 2. authentication
            auth = headers.get("authorization", "")
            scheme, _, credential = auth.strip().partition(" ")
            scheme = scheme.lower()
            credential = credential.strip()
            is_app_path = (
                path == "/app"
                or path.startswith("/app/")
                or re.fullmatch(r"/repos/[^/]+/[^/]+/installation/?", path) is not None
            )
            token: _Token | None = None
            if is_app_path:
                if scheme != "bearer" or not credential:
                    raise _jwt_error("A JSON web token could not be decoded")
                self._verify_jwt(credential)
            else:
                if scheme not in ("token", "bearer") or not credential:
                    raise _bad_credentials()
                token = self._tokens.get(credential)
                if token is None:
                    raise _bad_credentials()
                if token.expires_at is not None and time.time() >= token.expires_at:
                    raise _bad_credentials()
                if token.installation_id is not None and token.installation_id not in self._installations:
                    raise _bad_credentials()

            # 3. routing (unknown path or wrong method -> 404, as GitHub does)
            route_as = "GET" if method == "HEAD" else method
            for route_method, pattern, handler in self._routes:
                m = pattern.match(path)
                if m and route_method == route_as:
                    break
            else:
                raise _not_found()
            if body_error:
                raise _HTTPError(400, {"message": "Problems parsing JSON", "documentation_url": DOCS})
            ctx = _Ctx(
                base=base,
                query=query,
                body=body,
                token=token,
                params=m.groupdict(),
                method=method,
                path=path,
                headers=headers,
            )
            if "owner" in ctx.params:
                ctx.repo = self._visible_repo(ctx.params["owner"], ctx.params["repo"], token)
            return handler(ctx)
        except _HTTPError as e:
            return e.status, e.body, dict(e.headers)

    def _verify_jwt(self, token: str) -> dict[str, Any]:
        undecodable = "A JSON web token could not be decoded"
        if self._app_key is None:
            raise _jwt_error(undecodable)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _jwt_error(undecodable) from None
        if header.get("alg") != "RS256":
            raise _jwt_error(undecodable)
        try:
            # Verify the signature only (RS256 only); claims are checked below by hand so that
            # an integer ``iss`` (which GitHub accepts) is not refused by PyJWT's own checks.
            payload = PyJWS().decode(token, self._app_key, algorithms=["RS256"])
            claims = json.loads(payload)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _jwt_error(undecodable) from None
        if not isinstance(claims, dict):
            raise _jwt_error(undecodable)

        def numeric(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        now = time.time()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not numeric(iat):
            raise _jwt_error(IAT_MESSAGE)
        if not numeric(exp):
            raise _jwt_error(EXP_MESSAGE)
        if iss is None:
            raise _jwt_error("Missing 'issuer' claim ('iss') in JWT")
        if str(iss) != str(self.app_id) or isinstance(iss, bool):
            raise _jwt_error(f"'Issuer' claim ('iss') {iss!r} does not match this GitHub App's ID")
        if exp - iat > MAX_JWT_LIFETIME:
            raise _jwt_error("'Expiration time' claim ('exp') is too far in the future")
        if exp <= now:
            raise _jwt_error(EXP_MESSAGE)
        if iat > now + JWT_CLOCK_SKEW:
            raise _jwt_error("'Issued at' claim ('iat') must be an Integer representing a time in the past")
        return claims

    def _visible_repo(self, owner: str, name: str, token: _Token | None) -> _Repo:
        full = f"{urllib.parse.unquote(owner)}/{urllib.parse.unquote(name)}".lower()
        repo = self._repos.get(full)
        if repo is None:
            raise _not_found()
        if token is None:  # App JWT endpoints: the app sees repos it is installed on
            if repo.installation_id is None:
                raise _not_found()
            return repo
        if token.installation_id is not None and repo.installation_id != token.installation_id:
            raise _not_found()
        if token.repos is not None and full not in token.repos:
            raise _not_found()
        return repo

    def _author(self, token: _Token | None) -> str:
        assert token is not None
        if token.installation_id is not None:
            self._user(self._bot_login, "Bot")
            return self._bot_login
        return token.login

    def _paginate(self, ctx: "_Ctx", items: list[Any]) -> tuple[int, Any, dict[str, str]]:
        def as_int(name: str, default: int) -> int:
            try:
                return int(ctx.query.get(name, default))
            except (TypeError, ValueError):
                return default

        per_page = min(max(as_int("per_page", 30), 1), 100)
        page = max(as_int("page", 1), 1)
        total = len(items)
        last = max((total + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        extra: dict[str, str] = {}
        if total > per_page:
            others = {k: v for k, v in ctx.query.items() if k not in ("page", "per_page")}

            def link(p: int, rel: str) -> str:
                q = urllib.parse.urlencode({**others, "per_page": per_page, "page": p})
                return f'<{ctx.base}{ctx.path}?{q}>; rel="{rel}"'

            links = []
            if page > 1:
                links.append(link(min(page - 1, last), "prev"))
            if page < last:
                links.append(link(page + 1, "next"))
                links.append(link(last, "last"))
            if page > 1:
                links.append(link(1, "first"))
            if links:
                extra["Link"] = ", ".join(links)
        return 200, chunk, extra

    def _issue(self, ctx: "_Ctx") -> _Issue:
        issue = ctx.repo.issues.get(int(ctx.params["number"]))
        if issue is None:
            raise _not_found()
        return issue

    def _pull(self, ctx: "_Ctx") -> _Issue:
        issue = self._issue(ctx)
        if not issue.is_pr:
            raise _not_found()
        return issue

    def _comment(self, ctx: "_Ctx", kind: str) -> _Comment:
        comment = self._comments.get(int(ctx.params["cid"]))
        if comment is None or comment.kind != kind or comment.repo != ctx.repo.full_name.lower():
            raise _not_found()
        return comment

    # ------------------------------------------------------------------ handlers

    def _h_get_app(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return 200, self._app_json(ctx.base), {}

    def _h_list_installations(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        items = [self._installation_json(i, ctx.base) for i in sorted(self._installations)]
        return self._paginate(ctx, items)

    def _h_get_installation(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        iid = int(ctx.params["iid"])
        if iid not in self._installations:
            raise _not_found()
        return 200, self._installation_json(iid, ctx.base), {}

    def _h_repo_installation(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        assert ctx.repo.installation_id is not None
        return 200, self._installation_json(ctx.repo.installation_id, ctx.base), {}

    def _h_access_token(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        iid = int(ctx.params["iid"])
        if iid not in self._installations:
            raise _not_found()
        body = ctx.body if isinstance(ctx.body, dict) else {}
        repos: set[str] | None = None
        names = body.get("repositories")
        if names:
            repos = set()
            for name in names:
                full = f"{self._installations[iid]}/{name}".lower() if "/" not in str(name) else str(name).lower()
                r = self._repos.get(full)
                if r is None or r.installation_id != iid:
                    raise _validation(
                        "Installation",
                        "repositories",
                        "invalid",
                        "There is at least one repository that does not exist or is not accessible "
                        "to the parent installation.",
                    )
                repos.add(full)
        permissions = body.get("permissions") or dict(DEFAULT_PERMISSIONS)
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "b")[:36]
        expires = time.time() + self.token_ttl_seconds
        self._tokens[token] = _Token(
            token=token,
            login=self._bot_login,
            installation_id=iid,
            repos=repos,
            expires_at=expires,
            permissions=permissions,
        )
        self._user(self._bot_login, "Bot")
        expires_iso = _iso(expires)
        self.tokens_issued.append({"installation_id": iid, "token": token, "expires_at": expires_iso})
        data: dict[str, Any] = {
            "token": token,
            "expires_at": expires_iso,
            "permissions": permissions,
            "repository_selection": "selected",
        }
        if repos is not None:
            data["repositories"] = [self._repo_json(self._repos[r], ctx.base) for r in sorted(repos)]
        return 201, data, {}

    def _h_installation_repos(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        token = ctx.token
        assert token is not None
        repos = [
            r
            for key, r in sorted(self._repos.items())
            if (token.installation_id is None or r.installation_id == token.installation_id)
            and (token.repos is None or key in token.repos)
        ]
        status, chunk, extra = self._paginate(ctx, [self._repo_json(r, ctx.base) for r in repos])
        return status, {"total_count": len(repos), "repository_selection": "selected", "repositories": chunk}, extra

    def _h_rate_limit(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        remaining = max(RATE_LIMIT - self._request_count, 1)
        core = {
            "limit": RATE_LIMIT,
            "remaining": remaining,
            "reset": int(self._started_at) + 3600,
            "used": RATE_LIMIT - remaining,
        }
        return 200, {"resources": {"core": core}, "rate": core}, {}

    def _h_get_repo(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return 200, self._repo_json(ctx.repo, ctx.base), {}

    def _h_list_labels(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return self._paginate(ctx, [self._label_json(ctx.repo, l, ctx.base) for l in ctx.repo.labels.values()])

    def _h_get_issue(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return 200, self._issue_json(ctx.repo, self._issue(ctx), ctx.base), {}

    def _h_get_pull(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        if ctx.wants_diff():
            text = issue.diff or ""
            _refuse_large_diff(text)
            return 200, _Raw(text), {"x-github-media-type": "github.v3; param=diff"}
        return 200, self._pull_json(ctx.repo, issue, ctx.base), {}

    def _h_reply_review_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        """Reply in a review thread: the reply joins the thread of the comment it answers."""
        issue = self._pull(ctx)
        parent = self._comments.get(int(ctx.params["cid"]))
        if parent is None or parent.kind != "review" or parent.number != issue.number \
                or parent.repo != ctx.repo.full_name.lower():
            raise _not_found()
        body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
        if not isinstance(body, str) or not body.strip():
            raise _validation("PullRequestReviewComment", "body", "missing_field")
        now = time.time()
        root = parent.in_reply_to or parent.id
        comment = _Comment(id=next(self._ids), repo=parent.repo, number=issue.number, body=body,
                           user=self._author(ctx.token), created_at=now, updated_at=now, kind="review",
                           review_id=parent.review_id, path=parent.path, line=parent.line, side=parent.side,
                           commit_id=parent.commit_id, position=parent.position, diff_hunk=parent.diff_hunk,
                           in_reply_to=root)
        self._comments[comment.id] = comment
        return 201, self._review_comment_json(comment, ctx.base), {}

    def _h_edit_pull(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _validation("PullRequest", "title", "missing_field")
            issue.title = body["title"]
        if "body" in body:
            if body["body"] is not None and not isinstance(body["body"], str):
                raise _validation("PullRequest", "body", "invalid")
            issue.body = body["body"] or ""
        issue.updated_at = time.time()
        return 200, self._pull_json(ctx.repo, issue, ctx.base), {}

    def _h_pull_files(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        files = parse_diff(issue.diff or "")[:MAX_PULL_FILES]
        return self._paginate(ctx, [self._file_json(ctx.repo, f, issue.head_sha, ctx.base) for f in files])

    def _h_compare(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        basehead = urllib.parse.unquote(ctx.params["basehead"])
        base, sep, head = basehead.partition("...")
        if not sep:
            base, sep, head = basehead.partition("..")
        rec = ctx.repo.compares.get((base, head)) if sep else None
        if rec is None:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": COMPARE_DOCS, "status": "404"})
        if ctx.wants_diff():
            _refuse_large_diff(rec["diff"])  # modelled on the pull request's answer
            return 200, _Raw(rec["diff"]), {"x-github-media-type": "github.v3; param=diff"}
        return 200, self._compare_json(ctx.repo, rec, ctx.base), {}

    def _known_refs(self, repo: _Repo) -> set[str]:
        refs = set(repo.files) | {repo.default_branch}
        for issue in repo.issues.values():
            if issue.is_pr:
                refs.update({issue.base_sha, issue.head_ref or f"feature-{issue.number}", issue.base_ref or ""})
                refs.update(sha for sha, _ in issue.heads)
        return refs

    def _h_contents(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        repo = ctx.repo
        ref = self._ref_key(repo, ctx.query.get("ref"))
        path = urllib.parse.unquote(ctx.params.get("path") or "").strip("/")
        if ref in self._known_refs(repo):
            files, modes = repo.files.get(ref, {}), repo.modes.get(ref, {})
        else:  # a commit sha the git data API has given out (e.g. a branch's commit before a push)
            resolved = self._resolve_commit(repo, ref)
            if resolved is None:
                message = f"No commit found for the ref {ref}"
                raise _HTTPError(404, {"message": message, "documentation_url": CONTENTS_DOCS, "status": "404"})
            files, modes = self._files_in_tree(repo, resolved[1])
        if path in files:
            special = self._special_content(repo, ref, path, files, modes, ctx.base)
            return 200, special or self._content_json(repo, ref, path, files[path], ctx.base), {}
        prefix = path + "/" if path else ""
        children: dict[str, str] = {}  # name -> "file" | "dir"
        for p in files:
            if p.startswith(prefix):
                name, _, deeper = p[len(prefix) :].partition("/")
                children[name] = "dir" if deeper else "file"
        if not children and path:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": CONTENTS_DOCS, "status": "404"})
        dirs = _git_trees(files, modes)[2] if "dir" in children.values() else {}
        entries = []
        for name in sorted(children):
            child = prefix + name
            if children[name] == "file":
                entry = self._content_links(repo, ref, child, _git_blob_sha(files[child]), "file", ctx.base)
                entry["size"] = len(files[child])
                self._special_entry(entry, modes.get(child), files[child])
            else:
                entry = self._content_links(repo, ref, child, dirs[child], "dir", ctx.base)
                entry["size"] = 0
            entries.append(entry)
        return 200, entries, {}

    def _h_list_branches(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        items = []
        for name in self._branch_names(ctx.repo):
            commit, _ = self._head(ctx.repo, name)
            url = f"{ctx.base}/repos/{ctx.repo.full_name}/commits/{commit}"
            items.append({"name": name, "commit": {"sha": commit, "url": url}, "protected": False})
        return self._paginate(ctx, items)

    def _h_get_branch(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        name = urllib.parse.unquote(ctx.params["branch"])
        if name not in self._branch_names(ctx.repo):
            raise _HTTPError(404, {"message": "Branch not found", "documentation_url": BRANCH_DOCS, "status": "404"})
        return 200, self._branch_json(ctx.repo, name, ctx.base), {}

    def _h_get_commit(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        ref = urllib.parse.unquote(ctx.params["ref"])
        resolved = self._resolve_commit(ctx.repo, ref)
        if resolved is None:
            message = f"No commit found for SHA: {ref}"
            raise _HTTPError(422, {"message": message, "documentation_url": COMMIT_DOCS, "status": "422"})
        return 200, self._commit_json(ctx.repo, *resolved, ctx.base, full=True), {}

    def _h_get_git_commit(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        sha = ctx.params["sha"].lower()
        self._sync_git(ctx.repo)
        if sha not in ctx.repo.commits:  # a full sha only, not a ref
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": GIT_COMMIT_DOCS, "status": "404"})
        return 200, self._git_commit_json(ctx.repo, sha, ctx.repo.commits[sha], ctx.base), {}

    def _h_get_tree(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        """A tree by its sha, or the root tree of a commit sha or branch name, as GitHub
        accepts. ``recursive`` given with any value (even 0 or false) lists the whole tree."""
        repo = ctx.repo
        key = urllib.parse.unquote(ctx.params["sha"])
        self._sync_git(repo)
        tree: str | None = key.lower() if key.lower() in repo.trees else None
        if tree is None:
            resolved = self._resolve_commit(repo, key)
            tree = resolved[1] if resolved else None
        if tree is None:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": TREE_DOCS, "status": "404"})
        recursive = "recursive" in ctx.query
        limit = max(self.tree_entry_limit, 0)
        api = f"{ctx.base}/repos/{repo.full_name}/git"
        items: list[dict[str, Any]] = []
        truncated = False

        def walk(sha: str, prefix: str) -> None:
            nonlocal truncated
            for e in repo.trees[sha]:
                if len(items) >= limit:
                    truncated = True
                    return
                item: dict[str, Any] = {"path": prefix + e.name, "mode": e.mode, "type": e.type, "sha": e.sha}
                if e.type == "blob":
                    item["size"] = e.size
                item["url"] = f"{api}/{'blobs' if e.type == 'blob' else 'trees'}/{e.sha}"
                items.append(item)
                if recursive and e.type == "tree":
                    walk(e.sha, f"{prefix}{e.name}/")
                    if truncated:
                        return

        walk(tree, "")
        return 200, {"sha": tree, "url": f"{api}/trees/{tree}", "tree": items, "truncated": truncated}, {}

    def _h_get_blob(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        sha = ctx.params["sha"].lower()
        data = ctx.repo.blobs.get(sha) if _is_full_sha(sha) else None
        if data is None:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": BLOB_DOCS, "status": "404"})
        return 200, {
            "sha": sha,
            "node_id": _node_id("B", int(sha[:8], 16)),
            "size": len(data),
            "url": f"{ctx.base}/repos/{ctx.repo.full_name}/git/blobs/{sha}",
            "content": _base64_lines(data),
            "encoding": "base64",
        }, {}

    def _h_list_issues(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        """Issues and pull requests (PRs carry ``pull_request``), as GitHub lists them."""
        q = ctx.query

        def invalid(name: str) -> _HTTPError:
            err = {"value": q.get(name), "resource": "Issue", "field": name, "code": "invalid"}
            return _HTTPError(422, {"message": "Validation Failed", "errors": [err], "documentation_url": ISSUES_DOCS})

        state = q.get("state") or "open"
        sort = q.get("sort") or "created"
        direction = q.get("direction") or "desc"
        if state not in ("open", "closed", "all"):
            raise invalid("state")
        if sort not in ("created", "updated", "comments"):
            raise invalid("sort")
        if direction not in ("asc", "desc"):
            raise invalid("direction")
        since: float | None = None
        if q.get("since"):
            try:
                since = _epoch(q["since"])
            except (TypeError, ValueError):
                raise invalid("since") from None
        issues = [i for i in ctx.repo.issues.values() if state == "all" or i.state == state]
        if since is not None:
            issues = [i for i in issues if i.updated_at >= since]
        if q.get("labels"):
            wanted = {n.strip().lower() for n in q["labels"].split(",") if n.strip()}
            issues = [i for i in issues if wanted <= set(i.labels)]
        if q.get("creator"):
            issues = [i for i in issues if i.user.lower() == q["creator"].lower()]
        for name in ("assignee", "milestone"):  # the fake has no assignees or milestones
            if q.get(name) and q[name] != "none":
                issues = []
        keys: dict[str, Callable[[_Issue], Any]] = {
            "created": lambda i: (i.created_at, i.number),
            "updated": lambda i: (i.updated_at, i.number),
            "comments": lambda i: (len(i.comment_ids), i.number),
        }
        issues.sort(key=keys[sort], reverse=direction == "desc")
        return self._paginate(ctx, [self._issue_json(ctx.repo, i, ctx.base) for i in issues])

    def _h_edit_issue(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if "title" in body:
            title = body["title"]
            if isinstance(title, bool) or not isinstance(title, (str, int)) or not str(title).strip():
                raise _validation("Issue", "title", "missing_field")
        if "body" in body and body["body"] is not None and not isinstance(body["body"], str):
            raise _validation("Issue", "body", "invalid")
        if len(body.get("body") or "") > MAX_COMMENT_BODY:
            raise _validation("Issue", "body", "custom", TOO_LONG_MESSAGE)
        if "state" in body and body["state"] not in ("open", "closed"):
            raise _validation("Issue", "state", "invalid")
        if body.get("state_reason") not in (None, "completed", "not_planned", "reopened"):
            raise _validation("Issue", "state_reason", "invalid")
        names: list[str] | None = None
        if "labels" in body:
            raw = body["labels"] if body["labels"] is not None else []
            if not isinstance(raw, list):
                raise _validation("Issue", "labels", "invalid")
            names = []
            for item in raw:
                if isinstance(item, dict):
                    item = item.get("name")
                if not isinstance(item, str) or not item.strip():
                    raise _validation("Label", "name", "invalid")
                names.append(item.strip())
        # valid: apply
        now = time.time()
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = body["body"] or ""
        if names is not None:
            issue.labels = []
            for name in names:
                key = self._create_label(ctx.repo, name)["name"].lower()
                if key not in issue.labels:
                    issue.labels.append(key)
        new_state = body.get("state", issue.state)
        if new_state == "closed" and issue.state != "closed":
            issue.state, issue.closed_at, issue.closed_by = "closed", now, self._author(ctx.token)
            issue.state_reason = body.get("state_reason") or "completed"
        elif new_state == "open" and issue.state != "open":
            issue.state, issue.closed_at, issue.closed_by = "open", None, None
            issue.state_reason = "reopened"
        elif body.get("state_reason") is not None and issue.state == "closed":
            issue.state_reason = body["state_reason"]
        issue.updated_at = now
        return 200, self._issue_json(ctx.repo, issue, ctx.base), {}

    def _h_list_comments(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        return self._paginate(ctx, [self._comment_json(self._comments[c], ctx.base) for c in issue.comment_ids])

    def _check_body(self, ctx: "_Ctx", resource: str) -> str:
        body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
        if body is None or body == "":
            raise _validation(resource, "body", "missing_field")
        if not isinstance(body, str):
            raise _validation(resource, "body", "invalid")
        if len(body) > MAX_COMMENT_BODY:
            raise _validation(resource, "body", "custom", TOO_LONG_MESSAGE)
        return body

    def _h_create_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        body = self._check_body(ctx, "IssueComment")
        comment = self._new_issue_comment(ctx.repo, issue, body, self._author(ctx.token))
        data = self._comment_json(comment, ctx.base)
        return 201, data, {"Location": data["url"]}

    def _h_get_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return 200, self._comment_json(self._comment(ctx, "issue"), ctx.base), {}

    def _h_edit_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "issue")
        self._refuse_foreign(ctx, comment.user, "issue comment", comment.id)
        body = self._check_body(ctx, "IssueComment")
        comment.body = body
        comment.updated_at = time.time()
        return 200, self._comment_json(comment, ctx.base), {}

    def _list_reactions(self, ctx: "_Ctx", kind: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, kind)
        items = comment.reactions
        content = ctx.query.get("content")
        if content:
            items = [r for r in items if r["content"] == content]
        return self._paginate(ctx, [self._reaction_json(r, ctx.base) for r in items])

    def _create_reaction(self, ctx: "_Ctx", kind: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, kind)
        content = ctx.body.get("content") if isinstance(ctx.body, dict) else None
        if content is None:
            raise _validation("Reaction", "content", "missing_field")
        if content not in REACTION_CONTENTS:
            raise _validation("Reaction", "content", "invalid")
        user = self._author(ctx.token)
        for existing in comment.reactions:
            if existing["user"] == user and existing["content"] == content:
                return 200, self._reaction_json(existing, ctx.base), {}
        reaction = {"id": next(self._ids), "user": user, "content": content, "created_at": time.time()}
        comment.reactions.append(reaction)
        return 201, self._reaction_json(reaction, ctx.base), {}

    def _h_list_reactions_issue(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return self._list_reactions(ctx, "issue")

    def _h_create_reaction_issue(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return self._create_reaction(ctx, "issue")

    def _h_list_reactions_review(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return self._list_reactions(ctx, "review")

    def _h_create_reaction_review(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return self._create_reaction(ctx, "review")

    def _h_issue_labels(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        return self._paginate(ctx, [self._label_json(ctx.repo, ctx.repo.labels[k], ctx.base) for k in issue.labels])

    def _h_add_labels(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        raw = ctx.body
        if isinstance(raw, dict):
            raw = raw.get("labels")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            raise _validation("Label", "labels", "missing_field")
        names: list[str] = []
        for item in raw:
            if isinstance(item, dict):
                item = item.get("name")
            if not isinstance(item, str) or not item.strip():
                raise _validation("Label", "name", "invalid")
            names.append(item.strip())
        for name in names:
            label = self._create_label(ctx.repo, name)  # GitHub creates unknown labels here
            key = label["name"].lower()
            if key not in issue.labels:
                issue.labels.append(key)
        if names:
            issue.updated_at = time.time()
        return 200, [self._label_json(ctx.repo, ctx.repo.labels[k], ctx.base) for k in issue.labels], {}

    def _visible_reviews(self, ctx: "_Ctx", issue: _Issue) -> list[_Review]:
        """A PENDING review is seen only by its author."""
        me = self._author(ctx.token)
        reviews = [self._reviews[r] for r in issue.review_ids]
        return [r for r in reviews if r.state != "PENDING" or r.user == me]

    def _h_list_reviews(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        return self._paginate(ctx, [self._review_json(r, ctx.base) for r in self._visible_reviews(ctx, issue)])

    def _h_list_review_comments(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        ids = [c for r in self._visible_reviews(ctx, issue) for c in r.comment_ids]
        return self._paginate(ctx, [self._review_comment_json(self._comments[c], ctx.base) for c in ids])

    def _h_get_review_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return 200, self._review_comment_json(self._comment(ctx, "review"), ctx.base), {}

    def _h_create_review(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        event = body.get("event")
        states = {
            None: "PENDING",  # GitHub: no event leaves the review pending (unsubmitted)
            "COMMENT": "COMMENTED",
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
        }
        if event not in states:
            raise _validation("PullRequestReview", "event", "invalid")
        text = body.get("body") or ""
        if not isinstance(text, str):
            raise _validation("PullRequestReview", "body", "invalid")
        if len(text) > MAX_COMMENT_BODY:
            raise _validation("PullRequestReview", "body", "custom", TOO_LONG_MESSAGE)
        commit_id = body.get("commit_id") or issue.head_sha
        if not isinstance(commit_id, str) or not re.fullmatch(r"[0-9a-fA-F]{7,40}", commit_id):
            raise _validation("PullRequestReview", "commit_id", "invalid")
        raw_comments = body.get("comments") or []
        if not isinstance(raw_comments, list):
            raise _validation("PullRequestReview", "comments", "invalid")
        for rc in raw_comments:
            if not isinstance(rc, dict):
                raise _validation("PullRequestReviewComment", "comments", "invalid")
            if not isinstance(rc.get("path"), str) or not rc["path"]:
                raise _validation("PullRequestReviewComment", "path", "missing_field")
            if not isinstance(rc.get("body"), str) or not rc["body"]:
                raise _validation("PullRequestReviewComment", "body", "missing_field")
            if len(rc["body"]) > MAX_COMMENT_BODY:
                raise _validation("PullRequestReviewComment", "body", "custom", TOO_LONG_MESSAGE)
            for key in ("line", "position", "start_line"):
                v = rc.get(key)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                    raise _validation("PullRequestReviewComment", key, "invalid")
            if rc.get("line") is None and rc.get("position") is None:
                raise _validation("PullRequestReviewComment", "line", "invalid")
            for key in ("side", "start_side"):
                if rc.get(key) is not None and rc[key] not in ("LEFT", "RIGHT"):
                    raise _validation("PullRequestReviewComment", key, "invalid")
        if not text and not raw_comments and event in ("COMMENT", "REQUEST_CHANGES"):
            raise _unprocessable(f"Review body is required when event is {event}")
        user = self._author(ctx.token)
        if event is None and any(
            self._reviews[r].state == "PENDING" and self._reviews[r].user == user for r in issue.review_ids
        ):
            raise _unprocessable("User can only have one pending review per pull request")

        # A PR made by add_pull is judged against the diff at commit_id; one made by
        # add_issue(pull_request=True) has no diff and its comments are taken as given.
        diff: str | None = None
        if any(d is not None for _, d in issue.heads):
            matches = [(sha, d) for sha, d in issue.heads if sha.lower().startswith(commit_id.lower())]
            if not matches:
                raise _unprocessable(COMMIT_NOT_IN_PULL)
            commit_id, diff = matches[-1]
        placed = self._place_review_comments(raw_comments, diff, outdated=commit_id != issue.head_sha)

        now = time.time()
        review = _Review(
            id=next(self._ids),
            repo=ctx.repo.full_name.lower(),
            number=issue.number,
            user=user,
            body=text,
            state=states[event],
            commit_id=commit_id,
            submitted_at=now,
        )
        for rc, where in zip(raw_comments, placed):
            comment = _Comment(
                id=next(self._ids),
                repo=review.repo,
                number=issue.number,
                body=rc["body"],
                user=user,
                created_at=now,
                updated_at=now,
                kind="review",
                review_id=review.id,
                path=rc["path"],
                commit_id=commit_id,
                **where,
            )
            self._comments[comment.id] = comment
            review.comment_ids.append(comment.id)
        self._reviews[review.id] = review
        issue.review_ids.append(review.id)
        issue.updated_at = now
        return 200, self._review_json(review, ctx.base), {}

    def _place_review_comments(
        self, raw_comments: list[dict[str, Any]], diff: str | None, *, outdated: bool
    ) -> list[dict[str, Any]]:
        """Where each comment lands (line, side, start_line, start_side, position, diff_hunk),
        judged as GitHub does; any bad comment refuses the whole review (422, every reason)."""
        if diff is None:  # no diff to judge against: keep what was sent
            return [
                {
                    "line": rc.get("line", rc.get("position")),
                    "side": rc.get("side") or "RIGHT",
                    "start_line": rc.get("start_line"),
                    "start_side": (rc.get("start_side") or rc.get("side") or "RIGHT")
                    if rc.get("start_line") is not None
                    else None,
                    "position": rc.get("line", rc.get("position")),
                }
                for rc in raw_comments
            ]
        files = {f.filename: f for f in parse_diff(diff)}
        errors: list[str] = []
        placed: list[dict[str, Any]] = []

        def fail(message: str) -> None:
            if message not in errors:
                errors.append(message)

        for rc in raw_comments:
            f = files.get(rc["path"])
            if f is None:
                fail(PATH_NOT_IN_DIFF)
                placed.append({})
                continue
            if rc.get("line") is not None:
                side = rc.get("side") or "RIGHT"
                index = f.find(side, rc["line"])
            else:  # the legacy diff position: lines down from the file's first @@ header
                pos = rc["position"]
                index = pos if pos < len(f.lines) and f.lines[pos].kind in (" ", "+", "-") else None
                side = "LEFT" if index is not None and f.lines[index].kind == "-" else "RIGHT"
            if index is None:
                fail(LINE_NOT_IN_DIFF)
                placed.append({})
                continue
            line = f.lines[index].old if side == "LEFT" else f.lines[index].new
            start_index = None
            start_side = None
            if rc.get("start_line") is not None:
                start_side = rc.get("start_side") or side
                start_index = f.find(start_side, rc["start_line"])
                if start_index is None:
                    fail(LINE_NOT_IN_DIFF)
                elif f.lines[start_index].hunk != f.lines[index].hunk:
                    fail(START_NOT_IN_HUNK)
                elif start_index >= index:
                    fail(START_AFTER_END)
            placed.append(
                {
                    "line": line,
                    "side": side,
                    "start_line": rc.get("start_line"),
                    "start_side": start_side,
                    "position": None if outdated else index,
                    "diff_hunk": f.hunk_text(index, start_index),
                }
            )
        if errors:
            raise _unprocessable(*errors)
        return placed

    # ------------------------------------------------------------------ identity, permissions, foreign writes

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        """`login`'s role on the repository: admin, maintain, write, triage, read or none.
        Unset: the owner is admin, anyone else read (none on a private repository)."""
        if role not in PERMISSION_OF_ROLE:
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            repo = self._repo_for_setup(full_name)
            self._user(login)
            self._permissions[(repo.full_name.lower(), login.lower())] = role

    def add_reaction(self, full_name: str, comment_id: int, content: str, *, user: str = "octocat") -> dict:
        """A reaction by `user` on an issue or review comment, as if they had clicked it."""
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or comment.repo != full_name.lower():
                raise KeyError(f"no comment {comment_id} in {full_name}")
            if content not in REACTION_CONTENTS:
                raise ValueError(f"unknown reaction {content!r}")
            self._user(user)
            reaction = {"id": next(self._ids), "user": user, "content": content, "created_at": time.time()}
            comment.reactions.append(reaction)
            return self._reaction_json(reaction)

    def permission_lookups(self, full_name: str | None = None) -> list[str]:
        """The logins whose permission was asked (GET .../collaborators/{user}/permission), in order."""
        return [r.path.split("/")[-2] for r in self.requests
                if r.method == "GET" and r.path.endswith("/permission") and "/collaborators/" in r.path
                and (full_name is None or r.path.lower().startswith(f"/repos/{full_name.lower()}/"))]

    def _refuse_foreign(self, ctx: "_Ctx", owner: str, kind: str, ident: int) -> None:
        """An edit or delete of what `owner` wrote by anyone else: recorded, then refused as GitHub
        refuses an integration (403). Petrel must never try it; stop() fails the test if it did."""
        actor = self._author(ctx.token)
        if actor.lower() == owner.lower():
            return
        self.foreign_writes.append({"method": ctx.method, "path": ctx.path, "kind": kind, "id": ident,
                                    "by": actor, "owner": owner})
        raise _HTTPError(403, {"message": "Resource not accessible by integration", "documentation_url": DOCS})

    def _h_get_user(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        assert ctx.token is not None
        if ctx.token.installation_id is not None:  # an installation token is not a user
            raise _HTTPError(403, {"message": "Resource not accessible by integration",
                                   "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                                   "status": "403"})
        data = self._user_json(ctx.token.login, ctx.base)
        data.update({"name": None, "company": None, "blog": "", "location": None, "email": None, "bio": None,
                     "public_repos": 0, "followers": 0, "following": 0,
                     "created_at": _iso(self._started_at), "updated_at": _iso(self._started_at)})
        return 200, data, {}

    def _h_graphql(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        """Only `{ viewer { login } }`: it names the token's user, or the App's bot for an installation."""
        query = ctx.body.get("query") if isinstance(ctx.body, dict) else None
        if not isinstance(query, str) or re.sub(r"\s+", "", query) not in ("query{viewer{login}}", "{viewer{login}}"):
            return 200, {"errors": [{"message": "the fake GraphQL API answers only { viewer { login } }"}]}, {}
        return 200, {"data": {"viewer": {"login": self._author(ctx.token)}}}, {}

    def _h_collaborator_permission(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        login = urllib.parse.unquote(ctx.params["username"])
        known = {name.lower(): name for name in self._users}
        if login.lower() not in known and login.lower() != ctx.repo.owner.lower():
            raise _not_found()
        login = known.get(login.lower(), login)
        role = self._permissions.get((ctx.repo.full_name.lower(), login.lower()))
        if role is None:
            role = "admin" if login.lower() == ctx.repo.owner.lower() else ("none" if ctx.repo.private else "read")
        user = self._user_json(login, ctx.base)
        order = ["none", "read", "triage", "write", "maintain", "admin"]
        user["permissions"] = {name: order.index(role) >= order.index(level) for name, level in
                               (("pull", "read"), ("triage", "triage"), ("push", "write"), ("maintain", "maintain"),
                                ("admin", "admin"))}
        user["role_name"] = role
        return 200, {"permission": PERMISSION_OF_ROLE[role], "role_name": role, "user": user}, {}

    def _h_delete_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "issue")
        self._refuse_foreign(ctx, comment.user, "issue comment", comment.id)
        del self._comments[comment.id]
        self._repos[comment.repo].issues[comment.number].comment_ids.remove(comment.id)
        return 204, None, {}

    def _h_edit_review_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "review")
        self._refuse_foreign(ctx, comment.user, "review comment", comment.id)
        comment.body = self._check_body(ctx, "PullRequestReviewComment")
        comment.updated_at = time.time()
        return 200, self._review_comment_json(comment, ctx.base), {}

    def _h_delete_review_comment(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "review")
        self._refuse_foreign(ctx, comment.user, "review comment", comment.id)
        del self._comments[comment.id]
        review = self._reviews.get(comment.review_id or 0)
        if review is not None and comment.id in review.comment_ids:
            review.comment_ids.remove(comment.id)
        return 204, None, {}

    def _review_of(self, ctx: "_Ctx") -> _Review:
        issue = self._pull(ctx)
        review = self._reviews.get(int(ctx.params["rid"]))
        if review is None or review.number != issue.number or review.repo != ctx.repo.full_name.lower():
            raise _not_found()
        return review

    def _h_update_review(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        review = self._review_of(ctx)
        self._refuse_foreign(ctx, review.user, "review", review.id)
        review.body = self._check_body(ctx, "PullRequestReview")
        return 200, self._review_json(review, ctx.base), {}

    def _h_delete_review(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        review = self._review_of(ctx)
        self._refuse_foreign(ctx, review.user, "review", review.id)
        if review.state != "PENDING":
            raise _unprocessable("Can not delete a non-pending pull request review",
                                 docs="https://docs.github.com/rest/pulls/reviews#delete-a-pending-review-for-a-pull-request")
        del self._reviews[review.id]
        self._repos[review.repo].issues[review.number].review_ids.remove(review.id)
        return 200, self._review_json(review, ctx.base), {}

    def _delete_reaction(self, ctx: "_Ctx", kind: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, kind)
        reaction = next((r for r in comment.reactions if r["id"] == int(ctx.params["reaction"])), None)
        if reaction is None:
            raise _not_found()
        self._refuse_foreign(ctx, reaction["user"], "reaction", reaction["id"])
        comment.reactions.remove(reaction)
        return 204, None, {}

    def _h_delete_reaction_issue(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return self._delete_reaction(ctx, "issue")

    def _h_delete_reaction_review(self, ctx: "_Ctx") -> tuple[int, Any, dict[str, str]]:
        return self._delete_reaction(ctx, "review")


@dataclass
class _Ctx:
    base: str
    query: dict[str, str]
    body: Any
    token: _Token | None
    params: dict[str, str]
    method: str
    path: str
    repo: Any = None  # _Repo when the route has owner/repo
    headers: Any = None  # the request's headers (case-insensitive)

    def wants_diff(self) -> bool:
        accept = (self.headers or {}).get("accept", "") or ""
        return any(DIFF_MEDIA_RE.fullmatch(part.split(";")[0].strip().lower()) for part in accept.split(","))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops SYNs under concurrent connects (1 s retransmit)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet (client resets etc.)
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: FakeGitHub
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body go out in one write (flushed after each request)
    disable_nagle_algorithm = True
    server_version = "GitHub.com"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def log_error(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        split = urllib.parse.urlsplit(self.path)
        headers = _CIDict({k: v for k, v in self.headers.items()})
        try:
            with self.fake._lock:
                status, payload, extra = self.fake._handle(self.command, split.path, split.query, headers, raw_body)
        except Exception:  # a bug in the fake: answer 500 with the traceback rather than hang or print
            status, extra = 500, {}
            payload = {"message": "Server Error", "fake_github_traceback": traceback.format_exc()}
        delay = self.fake._response_delay(self.command, split.path)
        if delay:  # the request was applied; only the answer is late (a client may give up meanwhile)
            time.sleep(delay)
        content_type = "application/json; charset=utf-8"
        if isinstance(payload, _Raw):
            data, content_type = payload.data, payload.content_type
        else:
            data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in extra.items():
            if k.lower() not in ("content-type", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve
