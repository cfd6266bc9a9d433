"""The evaluation set of `make eval` (tests/fixtures/eval/), read as pull requests Petrel can review.

Each case directory holds `case.json` (repository, commit, title, body, language, licence and the
injected defect or null), `pr.diff` (the change as git shows it) and `head/` (the changed files at
the head, a file too large for the set left out). `CasePull` is a PullSource over one directory, so
the review is planned exactly as on GitHub (shared/review/plan.py), only from these files.
bench/eval_build.py made them; tests/test_eval.py checks that each one is well-formed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shared import diff
from shared.github.pulls import PostedFinding, PullInfo
from shared.repo_config import load as repo_config

CASES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "eval"


@dataclass(frozen=True)
class Case:
    """One case of the set: its name, its directory and its case.json."""

    name: str
    path: Path
    meta: dict

    @property
    def defect(self) -> dict | None:
        """The injected defect (path, line, class, description, original, injected), or None: a clean case."""
        return self.meta.get("defect")


def load_cases(root: Path = CASES, match: str | None = None, limit: int | None = None) -> list[Case]:
    """The cases under `root`, by name; only names containing `match`, the first `limit` of them.

    With a limit the defect and clean cases are interleaved, each taken in turn from the projects,
    so that a small run has both kinds and every language it can."""
    cases = [
        Case(entry.name, entry, json.loads((entry / "case.json").read_text(encoding="utf-8")))
        for entry in sorted(root.iterdir())
        if (entry / "case.json").is_file() and (match is None or match in entry.name)
    ]
    if limit is not None:
        defects = by_project([c for c in cases if c.defect])
        clean = by_project([c for c in cases if not c.defect])
        mixed = [c for pair in zip(defects, clean) for c in pair]
        longer = defects if len(defects) > len(clean) else clean
        mixed += longer[min(len(defects), len(clean)) :]
        cases = mixed[:limit]
    return cases


def by_project(cases: list[Case]) -> list[Case]:
    """The cases taken in turn from each repository: the first of each, then the second of each, ..."""
    projects: dict[str, list[Case]] = {}
    for case in cases:
        projects.setdefault(case.meta["repository"], []).append(case)
    rounds = max((len(group) for group in projects.values()), default=0)
    return [group[n] for n in range(rounds) for group in projects.values() if n < len(group)]


class CasePull:
    """A PullSource over one case directory: the pull request is the case's commit, seen from its parent."""

    def __init__(self, case: Case, number: int = 1):
        self.case = case
        self.number = number
        self._read: dict[str, str | None] = {}

    def info(self) -> PullInfo:
        """Title and body from the commit message; the head is the case's commit."""
        meta = self.case.meta
        return PullInfo(
            repository=meta["repository"],
            number=self.number,
            title=meta.get("title") or "",
            body=meta.get("body") or "",
            draft=False,
            labels=(),
            author="eval",
            author_is_bot=False,
            head_sha=meta["commit"],
            base_sha=meta.get("parent") or "",
            base_ref="main",
        )

    def changes(self) -> diff.Changes:
        """The case's diff, parsed."""
        return diff.Changes(diff.parse((self.case.path / "pr.diff").read_bytes()))

    def changes_since(self, old_head: str) -> list[diff.FileDiff] | None:
        """None: a case has one head, so there is nothing to compare with."""
        return None

    def posted_findings(self) -> list[PostedFinding]:
        """Nothing: a case has no earlier review."""
        return []

    def config(self) -> repo_config.LoadedConfig:
        """The defaults: a case carries no configuration file (the evaluation sets its own)."""
        return repo_config.load(lambda repository, path: None, self.case.meta["repository"])

    def commit_messages(self) -> list[str]:
        """The case's one commit message (its title and body)."""
        title, body = self.case.meta.get("title") or "", self.case.meta.get("body") or ""
        return [f"{title}\n\n{body}".strip()]

    def issue(self, number: int) -> tuple[str, str] | None:
        """The linked issue's (title, body) when the case records it under `issues`, else None."""
        found = (self.case.meta.get("issues") or {}).get(str(number))
        return (found.get("title") or "", found.get("body") or "") if found else None

    def head_file(self, path: str) -> str | None:
        """A changed file's text at the head, or None when the set left it out (too large) or it was deleted."""
        if path not in self._read:
            target = (self.case.path / "head" / path).resolve()
            inside = target.is_relative_to((self.case.path / "head").resolve())
            self._read[path] = (
                target.read_bytes().decode("utf-8", errors="replace") if inside and target.is_file() else None
            )
        return self._read[path]

    def default_file(self, path: str) -> str | None:
        """None: a case holds no snapshot of the default branch."""
        return None
