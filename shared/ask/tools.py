"""The `/ask` tools over GitHub's REST API (PyGithub) and the repository's memory: read only.

Kept apart from the loop (shared/ask/loop.py) so the loop stays free of I/O and a test can give
it any `Tools`. Nothing here can write to GitHub: `GitHubTools` keeps a GET-only function and a
memory-search function, never the client nor an executor, and it calls nothing that writes.

The diff comes from the pull request's paginated files list, as the review reads it
(shared/github/pulls.py), not from the diff media type: GitHub refuses that diff (406) past
300 files or 20,000 lines, and `/ask` must work on a big pull request too.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable
from typing import Any

from shared import diff as diffs
from shared.ask.loop import MAX_FILE_LINES
from shared.github.pulls import FILES_PER_PAGE, MAX_LISTED_FILES, file_from_github

MAX_FILE_CHARS = 20_000  # characters one read_file call returns
MAX_LINE_CHARS = 2_000  # a longer line (minified code) is cut
MAX_DIFF_CHARS = 40_000  # characters of the numbered diff read_diff returns
MAX_ENTRIES = 300  # entries list_directory returns
MAX_ISSUE_CHARS = 12_000  # characters of an issue and its comments
MAX_COMMENTS = 30  # comments read_issue reads
MEMORY_HITS = 8  # hits search_memory asks for
MEMORY_TOKENS = 3_000  # and fits into this many (estimated) tokens
MAX_HIT_CHARS = 1_500  # characters of one hit's text


def _numbered(path: str, text: str, start_line: int, end_line: int | None) -> tuple[str, tuple[int, int] | None]:
    """The lines of a file, numbered, within the caps; and the range actually shown."""
    lines = text.split("\n")  # as git numbers lines (splitlines() also splits at \f, \x1c, U+2028...)
    if lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    total = len(lines)
    if total == 0:
        return f"{path} is empty.", None
    if start_line < 1:
        start_line = 1
    if start_line > total:
        return f"{path} has {total} lines; there is no line {start_line}.", None
    if end_line is not None and end_line < start_line:
        return f"end_line ({end_line}) is before start_line ({start_line}).", None
    last = min(total, end_line if end_line is not None else total, start_line + MAX_FILE_LINES - 1)
    out, used, shown = [], 0, start_line - 1
    for number in range(start_line, last + 1):
        line = lines[number - 1]
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " [line cut]"
        row = f"{number:>5} | {line}"
        if out and used + len(row) + 1 > MAX_FILE_CHARS:
            break
        out.append(row)
        used += len(row) + 1
        shown = number
    wanted = min(total, end_line if end_line is not None else total)
    header = f"{path}, lines {start_line}-{shown} of {total}:"
    if shown < wanted:
        by_lines = shown - start_line + 1 >= MAX_FILE_LINES
        reason = f"{MAX_FILE_LINES} lines" if by_lines else f"{MAX_FILE_CHARS} characters"
        out.append(f"[cut at {reason}: call read_file with start_line={shown + 1} to read on]")
    return header + "\n" + "\n".join(out), (start_line, shown)


def _clean_path(path: str) -> str:
    path = (path or "").strip().strip("/")
    while path.startswith("./"):
        path = path[2:]
    if path in (".", ""):
        return ""
    if any(part in ("..", ".") or not part for part in path.split("/")):
        raise ValueError(f"bad path {path!r}: use a path from the repository root, without '..'")
    return path


def render_diff(changes: diffs.Changes) -> str:
    """A pull request's changed files numbered as the review sees them (`shared.diff.render_file`),
    cut to MAX_DIFF_CHARS; a file without hunks says why, and files GitHub did not list are counted."""
    files = changes.files
    if not files:
        return "The pull request changes no files."
    out, used = [], 0
    for n, file in enumerate(files):
        note = "\n(binary file)" if file.binary else f"\n({file.no_patch})" if file.no_patch else ""
        rendered = diffs.render_file(file) + note
        if used + len(rendered) > MAX_DIFF_CHARS:
            rest = [f.path for f in files[n:]]
            if not out:
                out.append(rendered[:MAX_DIFF_CHARS] + "\n[cut]")
                rest = rest[1:]
            if rest:
                out.append(
                    f"[diff cut at {MAX_DIFF_CHARS} characters; files not shown: {', '.join(rest)}; "
                    f"read them with read_file]"
                )
            break
        out.append(rendered)
        used += len(rendered) + 2
    if changes.unlisted:
        out.append(f"[{changes.unlisted} more changed files: GitHub lists no more than {MAX_LISTED_FILES}]")
    return "\n\n".join(out)


def _get_only(client) -> Callable[..., Any]:
    """A function that makes GET requests through a PyGithub client's requester, and nothing else."""
    requester = client.requester

    def get(path: str, parameters: dict | None = None):
        _, data = requester.requestJsonAndCheck("GET", path, parameters=parameters)
        return data

    return get


class GitHubTools:
    """The tools over GitHub's REST API (PyGithub) and the repository's memory, read only.

    Files are read at `ref` (the pull request's head sha, or the default branch). Only a GET
    function and a memory search function are kept: no client, no executor, no write method.
    """

    def __init__(
        self,
        client,
        memory,
        repository: str,
        ref: str,
        pull_number: int | None = None,
        server_url: str = "https://github.com",
    ):
        self._get = _get_only(client)
        self._search = (lambda query, k: memory.search(repository, query, k=k)) if memory is not None else None
        self._estimate = lambda text: len(text) // 4 + 1
        self.repository = repository
        self.ref = ref
        self.pull_number = pull_number
        self.server_url = server_url.rstrip("/")
        self.reads: list[tuple[str, int, int]] = []

    def link(self, path: str, start: int, end: int) -> str:
        """A Markdown link to lines of a file at `ref`."""
        quoted = urllib.parse.quote(path)
        lines = f"L{start}" if start == end else f"L{start}-L{end}"
        label = f"{path}#{lines}"
        return f"[{label}]({self.server_url}/{self.repository}/blob/{self.ref or 'HEAD'}/{quoted}#{lines})"

    def _contents(self, path: str):
        from github import GithubException

        url = f"/repos/{self.repository}/contents" + (f"/{urllib.parse.quote(path)}" if path else "")
        try:
            return self._get(url, {"ref": self.ref} if self.ref else None)
        except GithubException as error:
            if error.status == 404:
                return None
            raise

    def search_memory(self, query: str) -> str:
        """The memory's passages nearest to `query`, as many as fit, or why there are none."""
        if self._search is None:
            return "The memory is not available for this repository."
        if not query.strip():
            return "Give a query to search for."
        hits = self._search(query, MEMORY_HITS)
        kept, used = [], 0
        for hit in hits:
            where = f"{hit.kind} {hit.source}"
            if hit.start_line:
                where += f" lines {hit.start_line}-{hit.end_line or hit.start_line}"
            body = hit.body if len(hit.body) <= MAX_HIT_CHARS else hit.body[:MAX_HIT_CHARS] + " [cut]"
            entry = "\n".join(
                x
                for x in (
                    f"## {where}" + (f" ({hit.state})" if hit.state else ""),
                    f"title: {hit.title}" if hit.title else "",
                    f"url: {hit.url}" if hit.url else "",
                    body,
                )
                if x
            )
            cost = self._estimate(entry)
            if used + cost > MEMORY_TOKENS:
                continue
            kept.append(entry)
            used += cost
        if not kept:
            return f"Nothing in the memory of {self.repository} matches {query!r}."
        note = "Memory may lag behind the revision asked about: read a file before citing it.\n\n"
        return note + "\n\n".join(kept)

    def read_file(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """The file's lines `start_line` to `end_line` at the ref, numbered, or why it cannot be read."""
        path = _clean_path(path)
        if not path:
            return "Give a file's path; use list_directory to see the root."
        data = self._contents(path)
        if data is None:
            return f"There is no file {path} at {self.ref or 'the default branch'}."
        if isinstance(data, list):
            return f"{path} is a directory; use list_directory to see what it holds."
        if data.get("type") != "file":
            return f"{path} is a {data.get('type')}, not a file."
        if data.get("encoding") != "base64":
            return f"{path} is too large to read here ({data.get('size', '?')} bytes)."
        raw = base64.b64decode(data.get("content") or "")
        if b"\0" in raw[:8000]:
            return f"{path} is a binary file ({len(raw)} bytes)."
        text, shown = _numbered(path, raw.decode("utf-8", errors="replace"), start_line, end_line)
        if shown:
            self.reads.append((path, *shown))
        return text

    def list_directory(self, path: str = "") -> str:
        """The entries of the directory at `path` at the ref (the root when empty)."""
        path = _clean_path(path)
        data = self._contents(path)
        if data is None:
            return f"There is no directory {path or '/'} at {self.ref or 'the default branch'}."
        if isinstance(data, dict):
            return f"{path} is a file; use read_file to read it."
        entries = sorted(data, key=lambda e: (e.get("type") != "dir", e.get("name", "")))
        rows = [
            f"{e['name']}/" if e.get("type") == "dir" else f"{e['name']} ({e.get('size', 0)} bytes)"
            for e in entries[:MAX_ENTRIES]
        ]
        if len(entries) > MAX_ENTRIES:
            rows.append(f"[{len(entries) - MAX_ENTRIES} more entries not shown]")
        return f"{path or '/'} ({len(entries)} entries):\n" + "\n".join(rows) if rows else f"{path or '/'} is empty."

    def read_diff(self) -> str:
        """The pull request's diff, rendered file by file, or why there is none."""
        from github import GithubException

        if not self.pull_number:
            return "not a pull request"
        try:
            changes = self._changes()
        except GithubException as error:
            if error.status == 404:
                return "not a pull request"
            raise
        return render_diff(changes)

    def _changes(self) -> diffs.Changes:
        """The pull request's changed files from its files list, page by page (100 a page, up to
        GitHub's 3,000), as the review reads them; with 3,000 listed, the pull request's own
        count says how many more GitHub left out."""
        path = f"/repos/{self.repository}/pulls/{self.pull_number}"
        files: list[diffs.FileDiff] = []
        for page in range(1, MAX_LISTED_FILES // FILES_PER_PAGE + 1):
            entries = self._get(f"{path}/files", {"per_page": FILES_PER_PAGE, "page": page}) or []
            files += [file_from_github(entry) for entry in entries]
            if len(entries) < FILES_PER_PAGE:
                break
        unlisted = 0
        if len(files) >= MAX_LISTED_FILES:
            unlisted = max(0, int(self._get(path).get("changed_files") or 0) - len(files))
        return diffs.Changes(files, unlisted)

    def read_issue(self, number: int) -> str:
        """The issue or pull request `number`: its title, state, body and first comments."""
        from github import GithubException

        try:
            issue = self._get(f"/repos/{self.repository}/issues/{int(number)}")
            comments = (
                self._get(f"/repos/{self.repository}/issues/{int(number)}/comments", {"per_page": MAX_COMMENTS})
                if issue.get("comments")
                else []
            )
        except GithubException as error:
            if error.status in (404, 410):
                return f"There is no issue or pull request #{number} in {self.repository}."
            raise
        kind = "Pull request" if issue.get("pull_request") else "Issue"
        labels = ", ".join(label.get("name", "") for label in issue.get("labels") or []) or "none"
        parts = [
            f"{kind} #{issue.get('number')}: {issue.get('title') or ''}",
            f"state: {issue.get('state')}; author: {(issue.get('user') or {}).get('login', '?')}; "
            f"labels: {labels}; comments: {issue.get('comments', 0)}",
            "",
            (issue.get("body") or "(no description)").strip(),
        ]
        for comment in comments or []:
            parts += [
                "",
                f"--- comment by {(comment.get('user') or {}).get('login', '?')}:",
                (comment.get("body") or "").strip(),
            ]
        text = "\n".join(parts)
        if len(text) > MAX_ISSUE_CHARS:
            text = text[:MAX_ISSUE_CHARS] + f"\n[cut at {MAX_ISSUE_CHARS} characters]"
        return text
