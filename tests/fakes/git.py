"""Git data of the fake GitHub: blob, tree and commit shas as git computes them, and the
JSON of branches, commits, trees, files, comparisons and contents built from them.

A ref's files are hashed as git hashes them, so a client that checks shas sees real ones.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
from typing import Any

from fakes.diff import parse_diff
from fakes.state import (
    EMPTY_TREE_SHA,
    FAKE_COMMIT_AUTHOR,
    FAKE_COMMIT_DATE,
    FAKE_COMMIT_MESSAGE,
    MAX_COMPARE_FILES,
    MAX_CONTENT_SIZE,
    SUBMODULE_MODE,
    _iso,
    _node_id,
    _Repo,
    _TreeEntry,
)


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


class GitData:
    """The git-data half of `FakeGitHub`: refs, commits, trees and contents, hashed as git hashes."""

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
