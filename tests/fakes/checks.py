"""The fake GitHub's checks: check runs and commit statuses on a repository's commits.

Who may write them is GitHub's rule: a check run only through a GitHub App whose installation
has `checks: write` (a personal token gets 403 "You must authenticate via a GitHub App.", an
installation without the permission 403 "Resource not accessible by integration"), and only the
App that created a run may update it. A commit status needs `statuses: write` on an installation
token; a personal token may set one. `app_permissions` is what the App's installations grant
(GitHub's defaults for Petrel's App): drop `checks` from it to see the 403s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fakes.errors import _HTTPError, _not_found, _validation
from fakes.state import DOCS, _Ctx, _iso

CHECK_STATUSES = ("queued", "in_progress", "completed")
CHECK_CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")
STATUS_STATES = ("error", "failure", "pending", "success")
MAX_CHECK_SUMMARY = 65535
MAX_STATUS_DESCRIPTION = 140
NOT_AN_APP = "You must authenticate via a GitHub App."
NOT_ACCESSIBLE = "Resource not accessible by integration"


@dataclass
class _CheckRun:
    id: int
    repo: str  # lower full name
    head_sha: str
    name: str
    app_id: int
    status: str
    conclusion: str | None
    started_at: float
    completed_at: float | None
    output: dict[str, Any] = field(default_factory=dict)
    external_id: str = ""
    updates: int = 0  # PATCHes applied


class Checks:
    """Check runs and commit statuses of `FakeGitHub` (routes in dispatch.py)."""

    def _init_checks(self) -> None:
        self._check_runs: dict[int, _CheckRun] = {}
        self._statuses: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ introspection

    def check_runs(self, full_name: str, head_sha: str | None = None) -> list[dict]:
        """The check runs on the repository (on `head_sha` only, if given), oldest first, as GitHub
        gives them, each with an `updates` count of the PATCHes it took."""
        with self._lock:
            runs = [
                r
                for r in self._check_runs.values()
                if r.repo == full_name.lower() and (head_sha is None or r.head_sha == head_sha)
            ]
            return [{**self._check_run_json(r, self.url), "updates": r.updates} for r in runs]

    def statuses(self, full_name: str, sha: str | None = None) -> list[dict]:
        """The commit statuses set on the repository (on `sha` only, if given), oldest first."""
        with self._lock:
            return [
                dict(s) for s in self._statuses if s["repo"] == full_name.lower() and (sha is None or s["sha"] == sha)
            ]

    # ------------------------------------------------------------------ handlers

    def _h_list_check_runs(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        self._may(ctx, "checks", write=False)
        sha = self._commit_of(ctx, ctx.params["ref"])
        runs = [r for r in self._check_runs.values() if r.repo == ctx.repo.full_name.lower() and r.head_sha == sha]
        if "check_name" in ctx.query:
            runs = [r for r in runs if r.name == ctx.query["check_name"]]
        if "app_id" in ctx.query:
            runs = [r for r in runs if str(r.app_id) == ctx.query["app_id"]]
        if ctx.query.get("filter", "latest") == "latest":  # the newest run of each name
            newest = {r.name: r for r in sorted(runs, key=lambda r: r.id)}
            runs = list(newest.values())
        runs.sort(key=lambda r: -r.id)
        status, page, headers = self._paginate(ctx, [self._check_run_json(r, ctx.base) for r in runs])
        return status, {"total_count": len(runs), "check_runs": page}, headers

    def _h_create_check_run(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        self._may(ctx, "checks", write=True)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise _validation("CheckRun", "name", "missing_field")
        if not isinstance(body.get("head_sha"), str):
            raise _validation("CheckRun", "head_sha", "missing_field")
        now = time.time()
        run = _CheckRun(
            id=next(self._ids),
            repo=ctx.repo.full_name.lower(),
            head_sha=self._commit_of(ctx, body["head_sha"]),
            name=body["name"],
            app_id=self.app_id,
            status="queued",
            conclusion=None,
            started_at=now,
            completed_at=None,
        )
        self._apply_check(run, body)
        self._check_runs[run.id] = run
        return 201, self._check_run_json(run, ctx.base), {}

    def _h_update_check_run(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        self._may(ctx, "checks", write=True)
        run = self._check_runs.get(int(ctx.params["rid"]))
        if run is None or run.repo != ctx.repo.full_name.lower():
            raise _not_found()
        if run.app_id != self.app_id:  # only the App that created a run may update it
            raise _HTTPError(403, {"message": NOT_ACCESSIBLE, "documentation_url": DOCS})
        body = ctx.body if isinstance(ctx.body, dict) else {}
        self._apply_check(run, body)
        run.updates += 1
        return 200, self._check_run_json(run, ctx.base), {}

    def _h_create_status(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        self._may(ctx, "statuses", write=True)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if body.get("state") not in STATUS_STATES:
            raise _validation("Status", "state", "custom", f"state is not included in the list: {body.get('state')}")
        description = body.get("description") or ""
        if len(description) > MAX_STATUS_DESCRIPTION:
            raise _validation("Status", "description", "custom", "description is too long (maximum is 140 characters)")
        status = {
            "id": next(self._ids),
            "repo": ctx.repo.full_name.lower(),
            "sha": self._commit_of(ctx, ctx.params["sha"]),
            "state": body["state"],
            "context": body.get("context") or "default",
            "description": description,
            "target_url": body.get("target_url"),
            "creator": self._author(ctx.token),
            "created_at": _iso(time.time()),
        }
        self._statuses.append(status)
        return 201, {k: v for k, v in status.items() if k not in ("repo", "sha")}, {}

    # ------------------------------------------------------------------ internals

    def _may(self, ctx: _Ctx, permission: str, *, write: bool) -> None:
        """403 unless the token may read (or write) `permission`, as GitHub decides."""
        token = ctx.token
        if token is None or token.installation_id is None:  # a personal token
            if permission == "checks" and write:
                raise _HTTPError(403, {"message": NOT_AN_APP, "documentation_url": DOCS})
            return
        granted = token.permissions.get(permission)
        if granted != "write" and (write or granted != "read"):
            raise _HTTPError(403, {"message": NOT_ACCESSIBLE, "documentation_url": DOCS})

    def _commit_of(self, ctx: _Ctx, ref: str) -> str:
        """The full sha of `ref`: a pull request's head or base (any push), or a commit of the repository's files."""
        repo = ctx.repo
        for issue in repo.issues.values():
            for sha in (issue.head_sha, issue.base_sha, *(head for head, _ in issue.heads)):
                if sha and sha == ref:
                    return sha
        resolved = self._resolve_commit(repo, ref)
        if resolved is None:
            raise _HTTPError(422, {"message": f"No commit found for SHA: {ref}", "documentation_url": DOCS})
        return resolved[0]

    def _apply_check(self, run: _CheckRun, body: dict[str, Any]) -> None:
        status = body.get("status", run.status)
        conclusion = body.get("conclusion", run.conclusion)
        if status not in CHECK_STATUSES:
            raise _validation("CheckRun", "status", "invalid")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise _validation("CheckRun", "conclusion", "invalid")
        if "conclusion" in body and conclusion is not None:
            status = "completed"  # GitHub completes a run given a conclusion
        if status == "completed" and conclusion is None:
            raise _validation("CheckRun", "conclusion", "missing_field")
        output = body.get("output")
        if output is not None:
            if not isinstance(output, dict) or not output.get("title") or not isinstance(output.get("summary"), str):
                raise _validation("CheckRun", "output", "missing_field")
            if len(output["summary"]) > MAX_CHECK_SUMMARY:
                raise _validation("CheckRun", "output.summary", "custom", "summary is too long")
            run.output = {"title": output["title"], "summary": output["summary"], "text": output.get("text")}
        run.status = status
        run.conclusion = conclusion if status == "completed" else None
        run.completed_at = time.time() if status == "completed" else None
        run.external_id = body.get("external_id", run.external_id) or ""

    def _check_run_json(self, run: _CheckRun, base: str) -> dict[str, Any]:
        api = f"{base}/repos/{self._repos[run.repo].full_name}"
        app = self._app_json(base) if run.app_id == self.app_id else {"id": run.app_id, "slug": f"app-{run.app_id}"}
        return {
            "id": run.id,
            "head_sha": run.head_sha,
            "node_id": f"CR_{run.id}",
            "external_id": run.external_id,
            "url": f"{api}/check-runs/{run.id}",
            "html_url": f"https://github.com/{self._repos[run.repo].full_name}/runs/{run.id}",
            "details_url": None,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": _iso(run.started_at),
            "completed_at": _iso(run.completed_at) if run.completed_at else None,
            "output": {
                **run.output,
                "annotations_count": 0,
                "annotations_url": f"{api}/check-runs/{run.id}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": run.id + 1},
            "app": app,
            "pull_requests": [],
        }

    def add_check_run(self, full_name: str, head_sha: str, name: str, *, app_id: int, status: str = "completed") -> int:
        """A check run written by another App (`app_id`), as if it had run on the commit."""
        with self._lock:
            run = _CheckRun(
                id=next(self._ids),
                repo=full_name.lower(),
                head_sha=head_sha,
                name=name,
                app_id=app_id,
                status=status,
                conclusion="success" if status == "completed" else None,
                started_at=time.time(),
                completed_at=time.time() if status == "completed" else None,
                output={"title": "theirs", "summary": "theirs"},
            )
            self._check_runs[run.id] = run
            return run.id
