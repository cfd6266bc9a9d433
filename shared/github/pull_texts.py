"""What a review reads on GitHub beside the diff: a pull request's commit messages, the issues it
names, and files of the default branch (the repository's review rules, and its Petrel config
through `contents_fetcher`).

Apart from shared/github/pulls.py so that GitHubPull stays the list of what a pull request gives,
and each reader here says once how GitHub answers it: the commits list stops at 250 commits; an
issue number may be a pull request (GitHub's issues endpoint answers for both), gone, or moved to
another repository (then only its new repository's answer comes, and is not taken); a path on
the default branch may be missing, a directory, a symbolic link, or over 1 MB (then GitHub sends
no content). Every "not there" answers None; any other error is raised, as for the diff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from shared.github import blobs
from shared.repo_config import load as repo_config
from shared.repo_config.schema import MAX_BYTES

log = logging.getLogger("petrel.review")
T = TypeVar("T")

COMMITS_PER_PAGE = 100
MAX_COMMITS = 250  # GitHub lists no more of a pull request's commits
GONE = blobs.GONE  # not found; issues turned off on the repository


def commit_messages(get: Callable[..., object], repository: str, number: int) -> list[str]:
    """The pull request's commit messages, oldest first (at most 250, as GitHub lists them).
    `get(path, parameters)` is one GET of the REST API answering its JSON."""
    messages: list[str] = []
    for page in range(1, MAX_COMMITS // COMMITS_PER_PAGE + 2):
        entries = get(f"/repos/{repository}/pulls/{number}/commits", {"per_page": COMMITS_PER_PAGE, "page": page})
        if not isinstance(entries, list):
            break
        messages += [str((entry.get("commit") or {}).get("message") or "") for entry in entries]
        if len(entries) < COMMITS_PER_PAGE:
            break
    return messages[:MAX_COMMITS]


def _found(get: Callable[..., object], path: str):
    """The JSON at `path`, or None when GitHub answers that it is not there (404, 410)."""
    from github import GithubException

    try:
        return get(path, None)
    except GithubException as error:
        if error.status in GONE:
            return None
        raise


def issue(get: Callable[..., object], repository: str, number: int) -> tuple[str, str] | None:
    """(title, body) of issue `number`, or None when there is none, when it is a pull request, or
    when it was moved to another repository: GitHub answers a transferred issue with 301 and the
    client follows it, maybe into a private repository of the same owner, so an answer counts only
    when its `repository_url` names this repository."""
    data = _found(get, f"/repos/{repository}/issues/{int(number)}")
    if not isinstance(data, dict) or data.get("pull_request"):
        return None
    if not str(data.get("repository_url") or "").lower().endswith(f"/repos/{repository.lower()}"):
        return None
    return str(data.get("title") or ""), str(data.get("body") or "")


def default_file(get: Callable[..., object], repository: str, path: str) -> str | None:
    """The text of the regular file `path` on the default branch (the contents API without a ref),
    or None: missing, a directory, a symbolic link, a submodule, over 1 MB, binary (blobs.contents)."""
    return blobs.contents(get, repository, path)


def or_none(read: Callable[[], T], what: str, then: str) -> T | None:
    """`read()`, or None when GitHub fails to answer it (an HTTP error, the connection), said in one
    log line "`what` (status): `then`": what a review reads beside the diff is not worth failing it."""
    from github import GithubException

    try:
        return read()
    except (GithubException, OSError) as error:
        status = error.status if isinstance(error, GithubException) else type(error).__name__
        log.warning("%s (%s): %s", what, status, then)
        return None


def contents_fetcher(client):
    """A config.Fetch over GitHub's contents API (default branch).

    Only a regular file is read. A directory (GitHub answers a list), a symbolic link (a
    `symlink` object; or, when the link names a file of the repository, GitHub answers with
    that file, whose path then differs from the one asked for), a submodule, and a file over
    the config size limit (GitHub sends no content above 1 MB) raise config.UnreadableFile,
    which says what was found and never what it holds.
    """
    from github import GithubException

    def fetch(repository: str, path: str):
        try:
            content = client.get_repo(repository, lazy=True).get_contents(path)
        except GithubException as error:
            if error.status == 404:
                return None
            raise
        if isinstance(content, list):
            raise repo_config.UnreadableFile(repo_config.NOT_A_FILE.format(what=repo_config.DIRECTORY))
        data = content.raw_data
        kind, sha = data.get("type"), data.get("sha")
        if kind == "symlink" or (kind == "file" and (data.get("path") or "").strip("/") != path.strip("/")):
            raise repo_config.UnreadableFile(repo_config.NOT_A_FILE.format(what=repo_config.SYMLINK), sha)
        if kind == "submodule":
            raise repo_config.UnreadableFile(repo_config.NOT_A_FILE.format(what=repo_config.SUBMODULE), sha)
        if kind != "file":
            raise repo_config.UnreadableFile(
                repo_config.NOT_A_FILE.format(what=f"a {kind or 'thing without a type'}"), sha
            )
        size = int(data.get("size") or 0)
        if size > MAX_BYTES:
            raise repo_config.UnreadableFile(repo_config.TOO_LARGE.format(size=size, limit=MAX_BYTES // 1024), sha)
        if data.get("encoding") != "base64":
            raise repo_config.UnreadableFile(repo_config.NOT_SENT, sha)
        return content.decoded_content.decode("utf-8", errors="replace"), sha

    return fetch
