"""Where a pull request's facts come from: GitHub (PyGithub) or a local git repository.

Both give the same things to the review and the summary: the pull request's details,
its changed files (parsed), the files changed since an earlier head (None when that head
is gone, as after a force-push), the findings Petrel already posted, and the repository's
configuration.

On GitHub the changed files come from the paginated files list, not from the diff media
type: GitHub refuses that diff (406) past 300 files or 20,000 lines, and a big pull request
must be reviewed, not dropped. The files list gives up to 3,000 files, each with its own
patch when GitHub has one; a file without a patch, and the files past 3,000, are reported
as not reviewed, with the reason.

A posted finding is a review comment by Petrel's own login that carries a marker (one by
anyone else is ordinary text, whatever it copies), and its 👍/👎 count only the reactions of
people with write permission or more on the repository (shared/github/identity.py).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared import diff
from shared.github import blobs, pull_texts
from shared.github.markers import written_by_petrel
from shared.repo_config import load as repo_config

log = logging.getLogger("petrel.pulls")

FILES_PER_PAGE = 100  # the most GitHub gives in one page
MAX_LISTED_FILES = 3000  # GitHub lists no more of a pull request's files
MAX_COMPARED_FILES = 300  # a comparison lists no more files (it may have more)
NO_PATCH = "GitHub gives no patch for this file (too large or binary)"
UNREADABLE_PATCH = "GitHub's patch for this file could not be read"
PAST_FILE_LIMIT = "past GitHub's 3,000-file limit: GitHub does not list them, so they were not reviewed"


@dataclass(frozen=True)
class PullInfo:
    """What Petrel needs to know about a pull request, apart from its diff."""

    repository: str
    number: int
    title: str
    body: str
    draft: bool
    labels: tuple[str, ...]
    author: str
    author_is_bot: bool
    head_sha: str
    base_sha: str
    base_ref: str


@dataclass(frozen=True)
class PostedFinding:
    """A review comment Petrel already posted on the pull request, with the 👍 and 👎 of people who may steer Petrel."""

    path: str
    line: int | None
    body: str
    comment_id: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    outdated: bool = False  # its line is no longer in the diff: `line` is then the line at `commit`
    commit: str = ""  # the commit the comment was made on


class PullSource(Protocol):
    """Where a pull request comes from: GitHub (GitHubPull) or a local git repository (LocalPull)."""

    def info(self) -> PullInfo:
        """The pull request's title, author, labels and head and base commits."""

    def changes(self) -> diff.Changes:
        """The pull request's changes, base to head."""

    def changes_since(self, old_head: str) -> list[diff.FileDiff] | None:
        """The files changed since `old_head`, or None when that is unknown (a force-push, too large a comparison)."""

    def posted_findings(self) -> list[PostedFinding]:
        """The review comments Petrel has already posted on this pull request."""

    def config(self) -> repo_config.LoadedConfig:
        """The repository's Petrel configuration (see `repo_config.load`)."""

    # What a review needs beyond the diff (issue 12). Each answers None or [] when it cannot tell.

    def commit_messages(self) -> list[str]:
        """The pull request's commit messages, oldest first."""

    def issue(self, number: int) -> tuple[str, str] | None:
        """The title and body of issue `number` of the same repository, or None when there is none."""

    def head_file(self, path: str) -> str | None:
        """A changed file's text at the head, or None (deleted, binary, too large); read once per blob."""

    def default_file(self, path: str) -> str | None:
        """A file's text on the default branch (a pull request cannot rewrite it), or None."""


def info_from_payload(repository: str, pull: dict) -> PullInfo:
    """PullInfo from a webhook's or the REST API's pull request object."""
    user = pull.get("user") or {}
    return PullInfo(
        repository=repository,
        number=int(pull["number"]),
        title=pull.get("title") or "",
        body=pull.get("body") or "",
        draft=bool(pull.get("draft")),
        labels=tuple(label.get("name", "") for label in pull.get("labels") or []),
        author=user.get("login", ""),
        author_is_bot=user.get("type") == "Bot",
        head_sha=(pull.get("head") or {}).get("sha", ""),
        base_sha=(pull.get("base") or {}).get("sha", ""),
        base_ref=(pull.get("base") or {}).get("ref", ""),
    )


class GitHubPull:
    """A pull request on GitHub, read through a PyGithub client."""

    def __init__(self, client, repository: str, number: int, me: str | None = None, may_steer=None):
        """`me` is Petrel's own login (asked of GitHub when not given); `may_steer(login)` says
        whose reactions count (by default: write permission or more, looked up here)."""
        self.client = client
        self.repository = repository
        self.number = number
        self._info: PullInfo | None = None
        self._me = me
        self._may_steer = may_steer
        self._head_blobs: dict[str, str] | None = None  # path -> blob sha at the head, from the files list
        self._since: dict[str, list[diff.FileDiff] | None] = {}  # old head -> the files changed since

    def _get(self, path: str, parameters: dict | None = None):
        """One GET of the REST API: the JSON answered (a GithubException on an HTTP error)."""
        return self.client.requester.requestJsonAndCheck("GET", path, parameters)[1]

    def info(self) -> PullInfo:
        """The pull request's PullInfo, read from GitHub once."""
        if self._info is None:
            self._info = info_from_payload(self.repository, self._get(f"/repos/{self.repository}/pulls/{self.number}"))
        return self._info

    def changes(self) -> diff.Changes:
        """Every changed file, from GitHub's files list (100 a page, up to 3,000 files); with
        3,000 listed, the pull request's own count says how many more GitHub left out."""
        from github.File import File
        from github.PaginatedList import PaginatedList

        path = f"/repos/{self.repository}/pulls/{self.number}"
        listed = PaginatedList(File, self.client.requester, f"{path}/files", {"per_page": FILES_PER_PAGE})
        entries = [entry.raw_data for entry in listed]
        self._head_blobs = {e.get("filename"): e.get("sha") for e in entries if e.get("status") != "removed"}
        files = [file_from_github(entry) for entry in entries]
        unlisted = 0
        if len(files) >= MAX_LISTED_FILES:
            unlisted = max(0, int(self._get(path).get("changed_files") or 0) - len(files))
        return diff.Changes(files, unlisted)

    def changes_since(self, old_head: str) -> list[diff.FileDiff] | None:
        """The files changed from `old_head` to the head, from the comparison's own files list, read
        from GitHub once per `old_head` (the review and its follow-up both ask). None (review
        everything) when the old head is gone or history was rewritten (a force-push), or when the
        comparison is too large for GitHub to list whole."""
        if old_head not in self._since:
            self._since[old_head] = self._compare(old_head)
        return self._since[old_head]

    def _compare(self, old_head: str) -> list[diff.FileDiff] | None:
        from github import GithubException

        head = self.info().head_sha
        try:
            comparison = self._get(f"/repos/{self.repository}/compare/{old_head}...{head}")
        except GithubException as error:
            if error.status == 404:
                return None  # the old head no longer exists: a force-push
            if error.status == 406:
                log.info("GitHub refuses the comparison %s...%s as too large", old_head[:7], head[:7])
                return None
            raise
        if comparison.get("status") not in ("ahead", "identical"):
            return None  # diverged or behind: history was rewritten
        entries = comparison.get("files") or []
        if len(entries) >= MAX_COMPARED_FILES:
            log.info(
                "the comparison %s...%s lists GitHub's maximum of %s files and may have more",
                old_head[:7],
                head[:7],
                MAX_COMPARED_FILES,
            )
            return None
        return [file_from_github(entry) for entry in entries]

    def posted_findings(self) -> list[PostedFinding]:
        """Petrel's review comments on this pull request, with their votes, read from GitHub once."""
        if getattr(self, "_posted", None) is None:
            self._posted = self._read_posted_findings()
        return self._posted

    def _read_posted_findings(self) -> list[PostedFinding]:
        from github.PaginatedList import PaginatedList
        from github.PullRequestComment import PullRequestComment

        from shared.github.identity import Permissions, token_login

        if self._me is None:
            self._me = token_login(self.client)
        if self._may_steer is None:
            permissions = Permissions()
            self._may_steer = lambda login: permissions.may_steer(self.client, self.repository, login)
        comments = PaginatedList(
            PullRequestComment, self.client.requester, f"/repos/{self.repository}/pulls/{self.number}/comments", None
        )
        found = []
        for c in comments:
            if written_by_petrel(c.user.login if c.user else None, c.body, self._me):
                up, down = self._votes(c)
                found.append(
                    PostedFinding(
                        c.path, c.line or c.original_line, c.body, c.id, up, down, c.line is None, c.original_commit_id
                    )
                )
        return found

    def _votes(self, comment) -> tuple[int, int]:
        """(👍, 👎) on a review comment from people who may steer Petrel; others' are ignored."""
        summary = comment.raw_data.get("reactions") or {}
        if not int(summary.get("+1") or 0) and not int(summary.get("-1") or 0):
            return 0, 0  # nothing to weigh: no need to list who reacted
        votes = {"+1": 0, "-1": 0}
        for reaction in comment.get_reactions():
            if reaction.content in votes and self._may_steer(reaction.user.login if reaction.user else None):
                votes[reaction.content] += 1
        return votes["+1"], votes["-1"]

    def config(self) -> repo_config.LoadedConfig:
        """The repository's Petrel configuration, read through this installation's client."""
        return repo_config.load(pull_texts.contents_fetcher(self.client), self.repository)

    def commit_messages(self) -> list[str]:
        """The pull request's commit messages, oldest first (GitHub lists at most 250)."""
        return pull_texts.commit_messages(self._get, self.repository, self.number)

    def issue(self, number: int) -> tuple[str, str] | None:
        """(title, body) of issue `number` of this repository; None when missing or a pull request."""
        return pull_texts.issue(self._get, self.repository, number)

    def default_file(self, path: str) -> str | None:
        """A regular file's text on the default branch (no ref), or None (see pull_texts.default_file)."""
        return pull_texts.default_file(self._get, self.repository, path)

    def head_file(self, path: str) -> str | None:
        """A changed file at the head, read once per blob sha (the files list's), or None (blobs.py)."""
        if self._head_blobs is None:
            self.changes()  # the files list names each changed file's blob
        return blobs.github_head(self._get, self.repository, self.info().head_sha, self._head_blobs.get(path), path)


def file_from_github(entry: dict) -> diff.FileDiff:
    """One file of GitHub's files lists (a pull request's files, a comparison's): its hunks from
    `patch`, its path and status from GitHub's fields. A changed file without a patch (too large,
    binary) or with a patch that does not parse gets the reason, and GitHub's line counts."""
    path = str(entry.get("filename") or "")
    status = str(entry.get("status") or "modified")
    old_path = entry.get("previous_filename") if status in ("renamed", "copied") else None
    stated = (int(entry.get("additions") or 0), int(entry.get("deletions") or 0))
    patch = entry.get("patch")
    if isinstance(patch, str) and patch:
        try:
            return diff.from_patch(path, status, patch, old_path)
        except diff.PatchError as error:
            log.warning("the patch of %s could not be read: %s", path, error)
            return diff.FileDiff(path, old_path, status, False, (), UNREADABLE_PATCH, stated)
    # Without a patch, only a pure rename or copy, or a mode change, is known to change no line. A
    # binary or empty file, one too large, or one past a response's own limit all look alike.
    unchanged = status in ("renamed", "copied", "changed", "unchanged") and not sum(stated)
    return diff.FileDiff(path, old_path, status, False, (), "" if unchanged else NO_PATCH, stated)


class LocalPull:
    """A `base..head` range of a local git repository, seen as a pull request."""

    def __init__(
        self,
        path: str | Path,
        base: str,
        head: str,
        repository: str = "local/repository",
        number: int = 0,
        title: str = "",
        body: str = "",
    ):
        self.path = Path(path)
        self.base, self.head = base, head
        self.repository, self.number = repository, number
        self.title, self.body = title, body

    def _git(self, *args: str) -> str:
        result = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True)
        if result.returncode != 0:
            raise ValueError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode("utf-8", errors="replace")

    def info(self) -> PullInfo:
        """A PullInfo for the range: the title defaults to the head commit's subject."""
        head = self._git("rev-parse", self.head).strip()
        base = self._git("merge-base", self.base, self.head).strip()
        title = self.title or self._git("log", "-1", "--format=%s", head).strip()
        return PullInfo(
            self.repository, self.number, title, self.body, False, (), "local", False, head, base, self.base
        )

    def diff(self) -> str:
        """The unified diff from the merge base to head, as `git diff base...head` gives it."""
        return self._git("diff", "--find-renames", f"{self.base}...{self.head}")

    def diff_since(self, old_head: str) -> str | None:
        """The diff from `old_head` to head, or None when `old_head` is not an ancestor of head."""
        if (
            subprocess.run(
                ["git", "-C", str(self.path), "merge-base", "--is-ancestor", old_head, self.head], capture_output=True
            ).returncode
            != 0
        ):
            return None
        return self._git("diff", "--find-renames", f"{old_head}..{self.head}")

    def changes(self) -> diff.Changes:
        """The range's changes, parsed from `diff()`."""
        return diff.Changes(diff.parse(self.diff()))

    def changes_since(self, old_head: str) -> list[diff.FileDiff] | None:
        """The files changed since `old_head`, or None when `old_head` is not an ancestor of head."""
        since = self.diff_since(old_head)
        return None if since is None else diff.parse(since)

    def posted_findings(self) -> list[PostedFinding]:
        """Nothing: a local range has no comments."""
        return []

    def commit_messages(self) -> list[str]:
        """The messages of the range's commits, oldest first."""
        text = self._git("log", "--reverse", "-z", "--format=%B", f"{self.base}..{self.head}")
        return [message.strip() for message in text.split("\0") if message.strip()]

    def issue(self, number: int) -> tuple[str, str] | None:
        """Nothing: a local repository has no issues."""
        return None

    def default_file(self, path: str) -> str | None:
        """A regular text file at the base (what the range cannot rewrite), or None (blobs.local_text)."""
        return blobs.local_text(self.path, self.base, path.strip("/"))

    def config(self) -> repo_config.LoadedConfig:
        """The configuration as committed at the base (only this repository's own file is found)."""

        def fetch(repository: str, path: str):
            if repository != self.repository:
                return None
            try:
                text = self._git("show", f"{self.base}:{path}")
            except ValueError:
                return None
            return text, self._git("rev-parse", f"{self.base}:{path}").strip()

        return repo_config.load(fetch, self.repository)

    def head_file(self, path: str) -> str | None:
        """A file at the head, read once per blob sha, or None (see blobs.local_text)."""
        return blobs.local_text(self.path, self.head, path)
