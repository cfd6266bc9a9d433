"""Real git repositories made in a test, for real diffs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str | bytes | None], message: str) -> str:
    """Write (or, for None, delete) files, commit them, and return the new head sha."""
    for name, content in files.items():
        path = repo / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def init(path: Path, files: dict[str, str | bytes]) -> Path:
    """A repository with `files` committed on main and a `feature` branch checked out."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    commit(path, files, "base")
    git(path, "checkout", "-q", "-b", "feature")
    return path


def diff(repo: Path, base: str, head: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "diff", "--find-renames", f"{base}...{head}"], check=True, capture_output=True
    ).stdout.decode("utf-8", errors="replace")
