"""Filling long-term memory from GitHub: a repository's docs and source, its issues and pull requests.

Files are compared by blob sha with what memory holds, so indexing the default branch
again (after a push, or a retried backfill) fetches only the files that changed and
deletes the ones that are gone. An issue or pull request is one unit: its title, body and
comments together, stored as one or more chunks and replaced whenever it is updated.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field

from shared import diff
from shared.github.markers import written_by_petrel
from shared.memory import chunking, filetypes
from shared.memory.store import Document, Memory
from shared.repo_config.paths import path_excluded
from shared.repo_config.schema import Config

log = logging.getLogger("petrel.indexing")

MAX_FILES = 3000  # files indexed per repository, docs first
THREAD_CHUNK_CHARS = 6000  # an issue thread longer than this is stored in several chunks
MAX_COMMENTS = 50  # comments read per issue or pull request


@dataclass
class IndexReport:
    """What one indexing run did: sources indexed, unchanged, deleted and skipped (with why), and chunks stored."""

    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    chunks: int = 0


def wanted_file(path: str, size: int, config: Config) -> str | None:
    """None when the file belongs in memory (docs and code), else why not."""
    reason = path_excluded(path, config.paths)
    if reason:
        return reason
    reason = filetypes.is_indexable(path, size, max_bytes=config.memory.max_file_bytes)
    if reason:
        return reason
    if not filetypes.is_doc(path) and diff.file_kind(path) not in ("source", "test"):
        return "neither docs nor code"
    return None


def file_documents(repository: str, path: str, text: str, sha: str, installation_id: int | None) -> list[Document]:
    """The documents of one file: one per chunk, with its lines, at blob `sha`."""
    return [
        Document(
            repository,
            "file",
            path,
            chunk.title,
            chunk.text,
            chunk=n,
            version=sha,
            installation_id=installation_id,
            start_line=chunk.start_line,
            end_line=chunk.end_line,
        )
        for n, chunk in enumerate(chunking.chunk_file(path, text))
    ]


def thread_documents(
    repository: str,
    kind: str,
    number: int,
    title: str,
    body: str,
    comments: list[str],
    state: str,
    url: str,
    version: str,
    installation_id: int | None,
) -> list[Document]:
    """An issue or pull request and its comments, as one unit cut into chunks."""
    text = "\n\n".join([body.strip(), *(c.strip() for c in comments if c and c.strip())]).strip() or title
    pieces = [text[i : i + THREAD_CHUNK_CHARS] for i in range(0, len(text), THREAD_CHUNK_CHARS)] or [title]
    return [
        Document(
            repository,
            kind,
            str(number),
            title,
            piece,
            chunk=n,
            version=version,
            url=url,
            state=state,
            installation_id=installation_id,
        )
        for n, piece in enumerate(pieces)
    ]


class RepositoryIndexer:
    """Indexes one repository through a PyGithub client into memory."""

    def __init__(
        self,
        client,
        memory: Memory,
        repository: str,
        installation_id: int | None,
        config: Config,
        me: str | None = None,
    ):
        self.client = client
        self.me = me  # Petrel's own login: its comments are not the project's knowledge
        self.memory = memory
        self.repository = repository
        self.installation_id = installation_id
        self.config = config
        self.repo = client.get_repo(repository)

    def files(self) -> IndexReport:
        """Bring the default branch's docs and code in memory up to date."""
        report = IndexReport()
        tree = self.repo.get_git_tree(self.repo.default_branch, recursive=True)
        if getattr(tree, "raw_data", {}).get("truncated"):
            log.warning("%s: the tree is too large for one listing; indexing what GitHub returned", self.repository)
        wanted = {}
        for entry in tree.tree:
            if entry.type != "blob":
                continue
            reason = wanted_file(entry.path, entry.size or 0, self.config)
            if reason:
                report.skipped[entry.path] = reason
            else:
                wanted[entry.path] = entry.sha
        if len(wanted) > MAX_FILES:
            ranked = sorted(wanted, key=lambda p: (not filetypes.is_doc(p), p))
            for path in ranked[MAX_FILES:]:
                report.skipped[path] = f"over {MAX_FILES} files"
            wanted = {p: wanted[p] for p in ranked[:MAX_FILES]}
        stored = self.memory.versions(self.repository, "file")
        for path, sha in sorted(wanted.items(), key=lambda item: (not filetypes.is_doc(item[0]), item[0])):
            if stored.get(path) == sha:
                report.unchanged += 1
                continue
            data = base64.b64decode(self.repo.get_git_blob(sha).content or "")
            if filetypes.looks_binary(data):
                report.skipped[path] = "binary"
                self.memory.delete_source(self.repository, "file", path)
                continue
            documents = file_documents(
                self.repository, path, data.decode("utf-8", errors="replace"), sha, self.installation_id
            )
            report.chunks += self.memory.replace(self.repository, "file", path, documents)
            report.indexed.append(path)
        for path in sorted(set(stored) - set(wanted)):
            self.memory.delete_source(self.repository, "file", path)
            report.deleted.append(path)
        self.memory.reembed_stale(self.repository)
        log.info(
            "%s files: %d indexed (%d chunks), %d unchanged, %d deleted, %d skipped",
            self.repository,
            len(report.indexed),
            report.chunks,
            report.unchanged,
            len(report.deleted),
            len(report.skipped),
        )
        return report

    def issues(self) -> IndexReport:
        """The most recently updated issues and pull requests, up to `memory.issues`."""
        report = IndexReport()
        cap = self.config.memory.issues
        if not cap:
            return report
        stored = {
            **self.memory.versions(self.repository, "issue"),
            **self.memory.versions(self.repository, "pull_request"),
        }
        for n, issue in enumerate(self.repo.get_issues(state="all", sort="updated", direction="desc")):
            if n >= cap:
                break
            version = issue.raw_data.get("updated_at") or ""  # as webhooks give it
            if stored.get(str(issue.number)) == version:
                report.unchanged += 1
                continue
            report.chunks += self.thread(issue.number, issue.raw_data, version)
            report.indexed.append(str(issue.number))
        log.info("%s issues: %d indexed, %d unchanged", self.repository, len(report.indexed), report.unchanged)
        return report

    def thread(self, number: int, item: dict, version: str | None = None) -> int:
        """Index one issue or pull request (a REST or webhook `issue` object) with its comments."""
        kind = "pull_request" if item.get("pull_request") else "issue"
        comments = []
        if item.get("comments"):
            for n, comment in enumerate(self.repo.get_issue(number).get_comments()):
                if n >= MAX_COMMENTS:
                    break
                author = comment.user.login if comment.user else None
                if (comment.user and comment.user.type == "Bot") or written_by_petrel(author, comment.body, self.me):
                    continue  # Petrel's own words and other bots' are not the project's knowledge
                comments.append(comment.body or "")
        documents = thread_documents(
            self.repository,
            kind,
            number,
            item.get("title") or "",
            item.get("body") or "",
            comments,
            item.get("state") or "open",
            item.get("html_url") or "",
            version or item.get("updated_at") or "",
            self.installation_id,
        )
        other = "issue" if kind == "pull_request" else "pull_request"
        self.memory.delete_source(self.repository, other, str(number))
        return self.memory.replace(self.repository, kind, str(number), documents)
