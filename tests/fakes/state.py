"""The fake GitHub's state: its limits and messages, what it records, and the records it keeps.

Repositories, issues (pull requests are issues with a diff), comments, reviews, tokens and
injected faults are plain records held by `FakeGitHub`; the constants are GitHub's own limits
and error texts, in one place so the handlers and the tests name the same numbers.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


DEFAULT_PERMISSIONS = {  # Petrel's App (app.yml); FakeGitHub.app_permissions is what its installations grant
    "issues": "write",
    "pull_requests": "write",
    "contents": "read",
    "metadata": "read",
    "checks": "write",
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
PERMISSION_OF_ROLE = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


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


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, ident: int) -> str:
    return f"{kind}_" + base64.b64encode(f"{kind}{ident}".encode()).decode().rstrip("=")


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
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise TypeError(f"{what} must be a number, an ISO 8601 string or a datetime")


class _Raw:
    """A non-JSON response body (the diff media type)."""

    def __init__(self, data: str | bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.data = data.encode() if isinstance(data, str) else data
        self.content_type = content_type


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    installation_id: int | None
    created_at: float
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower name -> label record
    issues: dict[int, _Issue] = field(default_factory=dict)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # ref -> path -> content
    compares: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (base, head) -> record
    private: bool = False
    moved: dict[int, str] = field(default_factory=dict)  # issue number -> where GET answers 301 to
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
    commits: list[str] = field(default_factory=list)  # a PR's commit messages, oldest first (none: its title)


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


@dataclass(frozen=True)
class _TreeEntry:
    name: str
    mode: str  # as the API gives it: 100644, 100755, 120000 (symlink), 160000 (submodule) or 040000
    type: str  # "blob", "tree" or "commit" (a submodule)
    sha: str
    size: int | None  # blobs only
