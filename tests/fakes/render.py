"""How the fake GitHub writes its records as GitHub's JSON (users, the App, repositories,
labels, issues, pull requests, comments, reviews, reactions, installations).

Kept apart from the handlers so that every endpoint answers a record in the same shape.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from typing import Any

from fakes.diff import FileDiff, _patch_too_large, parse_diff
from fakes.git import _full_sha, _git_blob_sha
from fakes.state import (
    DEFAULT_EVENTS,
    DEFAULT_PERMISSIONS,
    REACTION_CONTENTS,
    _Comment,
    _iso,
    _Issue,
    _node_id,
    _Repo,
    _Review,
)


class Rendering:
    """The JSON half of `FakeGitHub`: records written in GitHub's shapes."""

    # ------------------------------------------------------------------ internals: JSON rendering

    def _user_json(self, login: str, base: str) -> dict[str, Any]:
        uid, utype = self._user(login)
        q = urllib.parse.quote(login)
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("U" if utype != "Bot" else "BOT", uid),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "",
            "url": f"{base}/users/{q}",
            "html_url": f"https://github.com/{q}" if utype != "Bot" else f"https://github.com/apps/{self.app_slug}",
            "type": utype,
            "site_admin": False,
        }

    def _app_json(self, base: str) -> dict[str, Any]:
        owner = next(iter(self._installations.values()), "octo-org")
        ts = _iso(self._started_at)
        return {
            "id": self.app_id,
            "slug": self.app_slug,
            "client_id": f"Iv1.{self.app_id:016x}",
            "node_id": _node_id("A", self.app_id),
            "owner": self._user_json(owner, base),
            "name": self.app_name,
            "description": "",
            "external_url": "https://example.invalid/petrel",
            "html_url": f"https://github.com/apps/{self.app_slug}",
            "created_at": ts,
            "updated_at": ts,
            "permissions": dict(DEFAULT_PERMISSIONS),
            "events": list(DEFAULT_EVENTS),
            "installations_count": len(self._installations),
        }

    def _repo_json(self, repo: _Repo, base: str) -> dict[str, Any]:
        api = f"{base}/repos/{repo.full_name}"
        ts = _iso(repo.created_at)
        return {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user_json(repo.owner, base),
            "html_url": f"https://github.com/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "issues_url": f"{api}/issues{{/number}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "created_at": ts,
            "updated_at": ts,
            "pushed_at": ts,
            "default_branch": repo.default_branch,
            "visibility": "private" if repo.private else "public",
            "archived": False,
            "disabled": False,
            "has_issues": True,
            "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
        }

    def _label_json(self, repo: _Repo, label: dict[str, Any], base: str) -> dict[str, Any]:
        data = dict(label)
        data["url"] = f"{base}/repos/{repo.full_name}/labels/{urllib.parse.quote(label['name'])}"
        return data

    def _association(self, repo: _Repo, login: str) -> str:
        if login == repo.owner:
            return "OWNER"
        return "NONE"

    def _reactions_summary(self, reactions: list[dict[str, Any]], url: str) -> dict[str, Any]:
        summary: dict[str, Any] = {"url": url, "total_count": len(reactions)}
        for content in REACTION_CONTENTS:
            summary[content] = sum(1 for r in reactions if r["content"] == content)
        return summary

    def _issue_json(self, repo: _Repo, issue: _Issue, base: str) -> dict[str, Any]:
        api = f"{base}/repos/{repo.full_name}/issues/{issue.number}"
        kind = "pull" if issue.is_pr else "issues"
        data: dict[str, Any] = {
            "id": issue.id,
            "node_id": _node_id("I", issue.id),
            "url": api,
            "repository_url": f"{base}/repos/{repo.full_name}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"https://github.com/{repo.full_name}/{kind}/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "state_reason": None if issue.is_pr else self._state_reason(issue),
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json(issue.user, base),
            "labels": [self._label_json(repo, repo.labels[k], base) for k in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(issue.comment_ids),
            "closed_at": _iso(issue.closed_at) if issue.closed_at is not None else None,
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_by": self._user_json(issue.closed_by, base) if issue.closed_by else None,
            "author_association": self._association(repo, issue.user),
            "draft": issue.draft,
            "reactions": self._reactions_summary([], f"{api}/reactions"),
        }
        if issue.is_pr:
            pr_api = f"{base}/repos/{repo.full_name}/pulls/{issue.number}"
            data["pull_request"] = {
                "url": pr_api,
                "html_url": f"https://github.com/{repo.full_name}/pull/{issue.number}",
                "diff_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.diff",
                "patch_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.patch",
                "merged_at": None,
            }
        return data

    @staticmethod
    def _state_reason(issue: _Issue) -> str | None:
        if issue.state == "closed":
            return issue.state_reason or "completed"
        return issue.state_reason if issue.state_reason == "reopened" else None

    def _pull_json(self, repo: _Repo, issue: _Issue, base: str) -> dict[str, Any]:
        api = f"{base}/repos/{repo.full_name}/pulls/{issue.number}"
        issue_api = f"{base}/repos/{repo.full_name}/issues/{issue.number}"
        repo_json = self._repo_json(repo, base)
        head_ref = issue.head_ref or f"feature-{issue.number}"
        base_ref = issue.base_ref or repo.default_branch
        files = parse_diff(issue.diff) if issue.diff else []
        return {
            "id": issue.pr_id,
            "node_id": _node_id("PR", issue.pr_id),
            "url": api,
            "html_url": f"https://github.com/{repo.full_name}/pull/{issue.number}",
            "diff_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.diff",
            "patch_url": f"https://github.com/{repo.full_name}/pull/{issue.number}.patch",
            "issue_url": issue_api,
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{base}/repos/{repo.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue_api}/comments",
            "statuses_url": f"{base}/repos/{repo.full_name}/statuses/{issue.head_sha}",
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json(issue.user, base),
            "labels": [self._label_json(repo, repo.labels[k], base) for k in issue.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at) if issue.closed_at is not None else None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{repo.owner}:{head_ref}",
                "ref": head_ref,
                "sha": issue.head_sha,
                "user": self._user_json(repo.owner, base),
                "repo": repo_json,
            },
            "base": {
                "label": f"{repo.owner}:{base_ref}",
                "ref": base_ref,
                "sha": issue.base_sha,
                "user": self._user_json(repo.owner, base),
                "repo": repo_json,
            },
            "author_association": self._association(repo, issue.user),
            "auto_merge": None,
            "draft": issue.draft,
            "merged": False,
            "mergeable": None,
            "rebaseable": None,
            "mergeable_state": "unknown",
            "merged_by": None,
            "comments": len(issue.comment_ids),
            "review_comments": sum(len(self._reviews[r].comment_ids) for r in issue.review_ids),
            "maintainer_can_modify": False,
            "commits": len(issue.commits) or len(issue.heads) or 1,
            "additions": sum(f.additions for f in files),
            "deletions": sum(f.deletions for f in files),
            "changed_files": len(files),
        }

    def _file_json(self, repo: _Repo, f: FileDiff, ref: str, base: str) -> dict[str, Any]:
        """One entry of GET /pulls/{n}/files and of compare's ``files``."""
        blob = f.old_blob if f.status == "removed" else f.new_blob
        # the head's own blob sha when the test put the file at that ref, as GitHub gives it
        content = None if f.status == "removed" else repo.files.get(self._ref_key(repo, ref), {}).get(f.filename)
        name = urllib.parse.quote(f.filename)
        data: dict[str, Any] = {
            "sha": _git_blob_sha(content) if content is not None else _full_sha(blob, f.filename),
            "filename": f.filename,
            "status": f.status,
            "additions": f.additions,
            "deletions": f.deletions,
            "changes": f.additions + f.deletions,
            "blob_url": f"https://github.com/{repo.full_name}/blob/{ref}/{name}",
            "raw_url": f"https://github.com/{repo.full_name}/raw/{ref}/{name}",
            "contents_url": f"{base}/repos/{repo.full_name}/contents/{name}?ref={ref}",
        }
        patch = f.patch
        if patch is not None and not _patch_too_large(patch):
            data["patch"] = patch
        if f.status in ("renamed", "copied") and f.old_path is not None:
            data["previous_filename"] = f.old_path
        return data

    @staticmethod
    def _sha_of(ref: str) -> str:
        return ref.lower() if re.fullmatch(r"[0-9a-fA-F]{40}", ref) else hashlib.sha1(ref.encode()).hexdigest()

    def _performed_via(self, login: str, base: str) -> dict[str, Any] | None:
        return self._app_json(base) if login == self._bot_login else None

    def _comment_json(self, comment: _Comment, base: str) -> dict[str, Any]:
        repo = self._repos[comment.repo]
        issue = repo.issues[comment.number]
        api = f"{base}/repos/{repo.full_name}/issues/comments/{comment.id}"
        kind = "pull" if issue.is_pr else "issues"
        return {
            "id": comment.id,
            "node_id": _node_id("IC", comment.id),
            "url": api,
            "html_url": f"https://github.com/{repo.full_name}/{kind}/{comment.number}#issuecomment-{comment.id}",
            "issue_url": f"{base}/repos/{repo.full_name}/issues/{comment.number}",
            "body": comment.body,
            "user": self._user_json(comment.user, base),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "author_association": self._association(repo, comment.user),
            "performed_via_github_app": self._performed_via(comment.user, base),
            "reactions": self._reactions_summary(comment.reactions, f"{api}/reactions"),
        }

    def _review_comment_json(self, comment: _Comment, base: str) -> dict[str, Any]:
        repo = self._repos[comment.repo]
        api = f"{base}/repos/{repo.full_name}/pulls/comments/{comment.id}"
        html = f"https://github.com/{repo.full_name}/pull/{comment.number}#discussion_r{comment.id}"
        return {
            "id": comment.id,
            "node_id": _node_id("PRRC", comment.id),
            "url": api,
            "html_url": html,
            "pull_request_url": f"{base}/repos/{repo.full_name}/pulls/{comment.number}",
            "pull_request_review_id": comment.review_id,
            "diff_hunk": comment.diff_hunk,
            "path": comment.path,
            "position": comment.position,
            "original_position": comment.position,
            "line": None if comment.position is None else comment.line,  # outdated: GitHub gives no line
            "original_line": comment.line,
            "side": comment.side,
            "start_line": comment.start_line,
            "original_start_line": comment.start_line,
            "start_side": comment.start_side,
            "subject_type": "line",
            "commit_id": comment.commit_id,
            "original_commit_id": comment.commit_id,
            "body": comment.body,
            **({"in_reply_to_id": comment.in_reply_to} if comment.in_reply_to else {}),
            "user": self._user_json(comment.user, base),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "author_association": self._association(repo, comment.user),
            "reactions": self._reactions_summary(comment.reactions, f"{api}/reactions"),
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "pull_request": {"href": f"{base}/repos/{repo.full_name}/pulls/{comment.number}"},
            },
        }

    def _review_json(self, review: _Review, base: str) -> dict[str, Any]:
        repo = self._repos[review.repo]
        html = f"https://github.com/{repo.full_name}/pull/{review.number}#pullrequestreview-{review.id}"
        pr = f"{base}/repos/{repo.full_name}/pulls/{review.number}"
        data = {
            "id": review.id,
            "node_id": _node_id("PRR", review.id),
            "user": self._user_json(review.user, base),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pr,
            "author_association": self._association(repo, review.user),
            "submitted_at": _iso(review.submitted_at),
            "commit_id": review.commit_id,
            "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
        }
        if review.state == "PENDING":  # not submitted yet: GitHub gives no submitted_at
            del data["submitted_at"]
        return data

    def _reaction_json(self, reaction: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        return {
            "id": reaction["id"],
            "node_id": _node_id("REA", reaction["id"]),
            "user": self._user_json(reaction["user"], self.url if base is None else base),
            "content": reaction["content"],
            "created_at": _iso(reaction["created_at"]),
        }

    def _installation_json(self, installation_id: int, base: str) -> dict[str, Any]:
        account = self._installations[installation_id]
        ts = _iso(self._started_at)
        return {
            "id": installation_id,
            "account": self._user_json(account, base),
            "repository_selection": "selected",
            "access_tokens_url": f"{base}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{base}/installation/repositories",
            "html_url": f"https://github.com/organizations/{account}/settings/installations/{installation_id}",
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": self._user(account)[0],
            "target_type": "Organization",
            "permissions": dict(DEFAULT_PERMISSIONS),
            "events": list(DEFAULT_EVENTS),
            "created_at": ts,
            "updated_at": ts,
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }
