"""What a test sets up in the fake GitHub: repositories, installations, issues, pull requests
with their diffs, comparisons, files, symlinks, submodules and comments.
"""

from __future__ import annotations

import posixpath
import re
import secrets
import time
from datetime import datetime
from typing import Any

from fakes.git import _git_blob_sha, _is_full_sha
from fakes.state import FILE_MODES, SUBMODULE_MODE, SYMLINK_MODE, _epoch, _Issue, _Repo


class Scenario:
    """The setup half of `FakeGitHub`: what a test puts on the fake before it runs."""

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

    def move_issue(self, full_name: str, number: int, to_full_name: str, to_number: int) -> None:
        """Issue `number` was transferred to `to_full_name`: GET of it answers 301 to the new place."""
        with self._lock:
            self._repo_for_setup(to_full_name)
            self._repo_for_setup(full_name).moved[number] = f"/repos/{to_full_name}/issues/{to_number}"

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
        commits: tuple[str, ...] | list[str] = (),
    ) -> dict:
        """A pull request (issue and PR) whose ``diff`` (git's unified format) is served by the
        diff media type and /files, and against which review comments are judged as GitHub
        does; ``commits`` are its commit messages, oldest first. Returns the PR JSON."""
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
                commits=list(commits),
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

    def _special_content(
        self, repo: _Repo, ref: str, path: str, files: dict[str, bytes], modes: dict[str, str], base: str
    ) -> dict[str, Any] | None:
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
