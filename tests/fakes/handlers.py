"""The fake GitHub's request handlers: one method per REST endpoint it serves.

The test fakes' handler table: it refuses what GitHub refuses (422 for a review comment off
the diff, 403 for edits of what another user wrote) with GitHub's status codes and shapes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from fakes.diff import _refuse_large_diff, _unprocessable, parse_diff
from fakes.errors import _HTTPError, _not_found, _validation
from fakes.git import _base64_lines, _git_blob_sha, _git_trees, _is_full_sha
from fakes.state import (
    BLOB_DOCS,
    BRANCH_DOCS,
    COMMIT_DOCS,
    COMMIT_NOT_IN_PULL,
    COMPARE_DOCS,
    CONTENTS_DOCS,
    DOCS,
    GIT_COMMIT_DOCS,
    ISSUES_DOCS,
    LINE_NOT_IN_DIFF,
    MAX_COMMENT_BODY,
    MAX_PULL_FILES,
    PATH_NOT_IN_DIFF,
    PERMISSION_OF_ROLE,
    RATE_LIMIT,
    REACTION_CONTENTS,
    START_AFTER_END,
    START_NOT_IN_HUNK,
    TOO_LONG_MESSAGE,
    TREE_DOCS,
    _Comment,
    _Ctx,
    _epoch,
    _iso,
    _Issue,
    _node_id,
    _Raw,
    _Repo,
    _Review,
    _Token,
)


class Handlers:
    """The REST endpoints of `FakeGitHub`, one `_h_*` method each."""

    # ------------------------------------------------------------------ handlers

    def _h_get_app(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return 200, self._app_json(ctx.base), {}

    def _h_list_installations(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        items = [self._installation_json(i, ctx.base) for i in sorted(self._installations)]
        return self._paginate(ctx, items)

    def _h_get_installation(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        iid = int(ctx.params["iid"])
        if iid not in self._installations:
            raise _not_found()
        return 200, self._installation_json(iid, ctx.base), {}

    def _h_repo_installation(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        assert ctx.repo.installation_id is not None
        return 200, self._installation_json(ctx.repo.installation_id, ctx.base), {}

    def _h_access_token(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        iid = int(ctx.params["iid"])
        if iid not in self._installations:
            raise _not_found()
        body = ctx.body if isinstance(ctx.body, dict) else {}
        repos: set[str] | None = None
        names = body.get("repositories")
        if names:
            repos = set()
            for name in names:
                full = f"{self._installations[iid]}/{name}".lower() if "/" not in str(name) else str(name).lower()
                r = self._repos.get(full)
                if r is None or r.installation_id != iid:
                    raise _validation(
                        "Installation",
                        "repositories",
                        "invalid",
                        "There is at least one repository that does not exist or is not accessible "
                        "to the parent installation.",
                    )
                repos.add(full)
        permissions = body.get("permissions") or dict(self.app_permissions)
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "b")[:36]
        expires = time.time() + self.token_ttl_seconds
        self._tokens[token] = _Token(
            token=token,
            login=self._bot_login,
            installation_id=iid,
            repos=repos,
            expires_at=expires,
            permissions=permissions,
        )
        self._user(self._bot_login, "Bot")
        expires_iso = _iso(expires)
        self.tokens_issued.append({"installation_id": iid, "token": token, "expires_at": expires_iso})
        data: dict[str, Any] = {
            "token": token,
            "expires_at": expires_iso,
            "permissions": permissions,
            "repository_selection": "selected",
        }
        if repos is not None:
            data["repositories"] = [self._repo_json(self._repos[r], ctx.base) for r in sorted(repos)]
        return 201, data, {}

    def _h_installation_repos(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        token = ctx.token
        assert token is not None
        repos = [
            r
            for key, r in sorted(self._repos.items())
            if (token.installation_id is None or r.installation_id == token.installation_id)
            and (token.repos is None or key in token.repos)
        ]
        status, chunk, extra = self._paginate(ctx, [self._repo_json(r, ctx.base) for r in repos])
        return status, {"total_count": len(repos), "repository_selection": "selected", "repositories": chunk}, extra

    def _h_rate_limit(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        remaining = max(RATE_LIMIT - self._request_count, 1)
        core = {
            "limit": RATE_LIMIT,
            "remaining": remaining,
            "reset": int(self._started_at) + 3600,
            "used": RATE_LIMIT - remaining,
        }
        return 200, {"resources": {"core": core}, "rate": core}, {}

    def _h_get_repo(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return 200, self._repo_json(ctx.repo, ctx.base), {}

    def _h_list_labels(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return self._paginate(ctx, [self._label_json(ctx.repo, l, ctx.base) for l in ctx.repo.labels.values()])

    def _h_get_issue(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        moved = ctx.repo.moved.get(int(ctx.params["number"]))
        if moved is not None:  # a transferred issue: GitHub answers 301 to its new place
            location = f"{ctx.base}{moved}"
            return 301, {"message": "Moved Permanently", "url": location}, {"Location": location}
        return 200, self._issue_json(ctx.repo, self._issue(ctx), ctx.base), {}

    def _h_get_pull(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        if ctx.wants_diff():
            text = issue.diff or ""
            _refuse_large_diff(text)
            return 200, _Raw(text), {"x-github-media-type": "github.v3; param=diff"}
        return 200, self._pull_json(ctx.repo, issue, ctx.base), {}

    def _h_reply_review_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        """Reply in a review thread: the reply joins the thread of the comment it answers."""
        issue = self._pull(ctx)
        parent = self._comments.get(int(ctx.params["cid"]))
        if (
            parent is None
            or parent.kind != "review"
            or parent.number != issue.number
            or parent.repo != ctx.repo.full_name.lower()
        ):
            raise _not_found()
        body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
        if not isinstance(body, str) or not body.strip():
            raise _validation("PullRequestReviewComment", "body", "missing_field")
        now = time.time()
        root = parent.in_reply_to or parent.id
        comment = _Comment(
            id=next(self._ids),
            repo=parent.repo,
            number=issue.number,
            body=body,
            user=self._author(ctx.token),
            created_at=now,
            updated_at=now,
            kind="review",
            review_id=parent.review_id,
            path=parent.path,
            line=parent.line,
            side=parent.side,
            commit_id=parent.commit_id,
            position=parent.position,
            diff_hunk=parent.diff_hunk,
            in_reply_to=root,
        )
        self._comments[comment.id] = comment
        return 201, self._review_comment_json(comment, ctx.base), {}

    def _h_edit_pull(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _validation("PullRequest", "title", "missing_field")
            issue.title = body["title"]
        if "body" in body:
            if body["body"] is not None and not isinstance(body["body"], str):
                raise _validation("PullRequest", "body", "invalid")
            issue.body = body["body"] or ""
        issue.updated_at = time.time()
        return 200, self._pull_json(ctx.repo, issue, ctx.base), {}

    def _h_pull_files(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        files = parse_diff(issue.diff or "")[:MAX_PULL_FILES]
        return self._paginate(ctx, [self._file_json(ctx.repo, f, issue.head_sha, ctx.base) for f in files])

    def _h_pull_commits(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        """The pull request's commits, oldest first, the last one its head; at most 250, as GitHub lists."""
        issue = self._pull(ctx)
        messages = issue.commits or [issue.title]  # a pull request has at least one commit
        items, parent = [], issue.base_sha
        for n, message in enumerate(messages[:250]):
            sha = (
                issue.head_sha if n == len(messages) - 1 else hashlib.sha1(f"{issue.head_sha}:{n}".encode()).hexdigest()
            )
            item = self._commit_json(ctx.repo, sha, hashlib.sha1(sha.encode()).hexdigest(), ctx.base, full=False)
            item["commit"]["message"] = message
            item["parents"] = [{"sha": parent, "url": f"{ctx.base}/repos/{ctx.repo.full_name}/commits/{parent}"}]
            items.append(item)
            parent = sha
        return self._paginate(ctx, items)

    def _h_compare(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        basehead = urllib.parse.unquote(ctx.params["basehead"])
        base, sep, head = basehead.partition("...")
        if not sep:
            base, sep, head = basehead.partition("..")
        rec = ctx.repo.compares.get((base, head)) if sep else None
        if rec is None:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": COMPARE_DOCS, "status": "404"})
        if ctx.wants_diff():
            _refuse_large_diff(rec["diff"])  # modelled on the pull request's answer
            return 200, _Raw(rec["diff"]), {"x-github-media-type": "github.v3; param=diff"}
        return 200, self._compare_json(ctx.repo, rec, ctx.base), {}

    def _known_refs(self, repo: _Repo) -> set[str]:
        refs = set(repo.files) | {repo.default_branch}
        for issue in repo.issues.values():
            if issue.is_pr:
                refs.update({issue.base_sha, issue.head_ref or f"feature-{issue.number}", issue.base_ref or ""})
                refs.update(sha for sha, _ in issue.heads)
        return refs

    def _h_contents(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        repo = ctx.repo
        ref = self._ref_key(repo, ctx.query.get("ref"))
        path = urllib.parse.unquote(ctx.params.get("path") or "").strip("/")
        if ref in self._known_refs(repo):
            files, modes = repo.files.get(ref, {}), repo.modes.get(ref, {})
        else:  # a commit sha the git data API has given out (e.g. a branch's commit before a push)
            resolved = self._resolve_commit(repo, ref)
            if resolved is None:
                message = f"No commit found for the ref {ref}"
                raise _HTTPError(404, {"message": message, "documentation_url": CONTENTS_DOCS, "status": "404"})
            files, modes = self._files_in_tree(repo, resolved[1])
        if path in files:
            special = self._special_content(repo, ref, path, files, modes, ctx.base)
            return 200, special or self._content_json(repo, ref, path, files[path], ctx.base), {}
        prefix = path + "/" if path else ""
        children: dict[str, str] = {}  # name -> "file" | "dir"
        for p in files:
            if p.startswith(prefix):
                name, _, deeper = p[len(prefix) :].partition("/")
                children[name] = "dir" if deeper else "file"
        if not children and path:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": CONTENTS_DOCS, "status": "404"})
        dirs = _git_trees(files, modes)[2] if "dir" in children.values() else {}
        entries = []
        for name in sorted(children):
            child = prefix + name
            if children[name] == "file":
                entry = self._content_links(repo, ref, child, _git_blob_sha(files[child]), "file", ctx.base)
                entry["size"] = len(files[child])
                self._special_entry(entry, modes.get(child), files[child])
            else:
                entry = self._content_links(repo, ref, child, dirs[child], "dir", ctx.base)
                entry["size"] = 0
            entries.append(entry)
        return 200, entries, {}

    def _h_list_branches(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        items = []
        for name in self._branch_names(ctx.repo):
            commit, _ = self._head(ctx.repo, name)
            url = f"{ctx.base}/repos/{ctx.repo.full_name}/commits/{commit}"
            items.append({"name": name, "commit": {"sha": commit, "url": url}, "protected": False})
        return self._paginate(ctx, items)

    def _h_get_branch(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        name = urllib.parse.unquote(ctx.params["branch"])
        if name not in self._branch_names(ctx.repo):
            raise _HTTPError(404, {"message": "Branch not found", "documentation_url": BRANCH_DOCS, "status": "404"})
        return 200, self._branch_json(ctx.repo, name, ctx.base), {}

    def _h_get_commit(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        ref = urllib.parse.unquote(ctx.params["ref"])
        resolved = self._resolve_commit(ctx.repo, ref)
        if resolved is None:
            message = f"No commit found for SHA: {ref}"
            raise _HTTPError(422, {"message": message, "documentation_url": COMMIT_DOCS, "status": "422"})
        return 200, self._commit_json(ctx.repo, *resolved, ctx.base, full=True), {}

    def _h_get_git_commit(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        sha = ctx.params["sha"].lower()
        self._sync_git(ctx.repo)
        if sha not in ctx.repo.commits:  # a full sha only, not a ref
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": GIT_COMMIT_DOCS, "status": "404"})
        return 200, self._git_commit_json(ctx.repo, sha, ctx.repo.commits[sha], ctx.base), {}

    def _h_get_tree(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        """A tree by its sha, or the root tree of a commit sha or branch name, as GitHub
        accepts. ``recursive`` given with any value (even 0 or false) lists the whole tree."""
        repo = ctx.repo
        key = urllib.parse.unquote(ctx.params["sha"])
        self._sync_git(repo)
        tree: str | None = key.lower() if key.lower() in repo.trees else None
        if tree is None:
            resolved = self._resolve_commit(repo, key)
            tree = resolved[1] if resolved else None
        if tree is None:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": TREE_DOCS, "status": "404"})
        recursive = "recursive" in ctx.query
        limit = max(self.tree_entry_limit, 0)
        api = f"{ctx.base}/repos/{repo.full_name}/git"
        items: list[dict[str, Any]] = []
        truncated = False

        def walk(sha: str, prefix: str) -> None:
            nonlocal truncated
            for e in repo.trees[sha]:
                if len(items) >= limit:
                    truncated = True
                    return
                item: dict[str, Any] = {"path": prefix + e.name, "mode": e.mode, "type": e.type, "sha": e.sha}
                if e.type == "blob":
                    item["size"] = e.size
                item["url"] = f"{api}/{'blobs' if e.type == 'blob' else 'trees'}/{e.sha}"
                items.append(item)
                if recursive and e.type == "tree":
                    walk(e.sha, f"{prefix}{e.name}/")
                    if truncated:
                        return

        walk(tree, "")
        return 200, {"sha": tree, "url": f"{api}/trees/{tree}", "tree": items, "truncated": truncated}, {}

    def _h_get_blob(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        sha = ctx.params["sha"].lower()
        data = ctx.repo.blobs.get(sha) if _is_full_sha(sha) else None
        if data is None:
            raise _HTTPError(404, {"message": "Not Found", "documentation_url": BLOB_DOCS, "status": "404"})
        return (
            200,
            {
                "sha": sha,
                "node_id": _node_id("B", int(sha[:8], 16)),
                "size": len(data),
                "url": f"{ctx.base}/repos/{ctx.repo.full_name}/git/blobs/{sha}",
                "content": _base64_lines(data),
                "encoding": "base64",
            },
            {},
        )

    def _h_list_issues(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        """Issues and pull requests (PRs carry ``pull_request``), as GitHub lists them."""
        q = ctx.query

        def invalid(name: str) -> _HTTPError:
            err = {"value": q.get(name), "resource": "Issue", "field": name, "code": "invalid"}
            return _HTTPError(422, {"message": "Validation Failed", "errors": [err], "documentation_url": ISSUES_DOCS})

        state = q.get("state") or "open"
        sort = q.get("sort") or "created"
        direction = q.get("direction") or "desc"
        if state not in ("open", "closed", "all"):
            raise invalid("state")
        if sort not in ("created", "updated", "comments"):
            raise invalid("sort")
        if direction not in ("asc", "desc"):
            raise invalid("direction")
        since: float | None = None
        if q.get("since"):
            try:
                since = _epoch(q["since"])
            except (TypeError, ValueError):
                raise invalid("since") from None
        issues = [i for i in ctx.repo.issues.values() if state == "all" or i.state == state]
        if since is not None:
            issues = [i for i in issues if i.updated_at >= since]
        if q.get("labels"):
            wanted = {n.strip().lower() for n in q["labels"].split(",") if n.strip()}
            issues = [i for i in issues if wanted <= set(i.labels)]
        if q.get("creator"):
            issues = [i for i in issues if i.user.lower() == q["creator"].lower()]
        for name in ("assignee", "milestone"):  # the fake has no assignees or milestones
            if q.get(name) and q[name] != "none":
                issues = []
        keys: dict[str, Callable[[_Issue], Any]] = {
            "created": lambda i: (i.created_at, i.number),
            "updated": lambda i: (i.updated_at, i.number),
            "comments": lambda i: (len(i.comment_ids), i.number),
        }
        issues.sort(key=keys[sort], reverse=direction == "desc")
        return self._paginate(ctx, [self._issue_json(ctx.repo, i, ctx.base) for i in issues])

    def _h_edit_issue(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if "title" in body:
            title = body["title"]
            if isinstance(title, bool) or not isinstance(title, (str, int)) or not str(title).strip():
                raise _validation("Issue", "title", "missing_field")
        if "body" in body and body["body"] is not None and not isinstance(body["body"], str):
            raise _validation("Issue", "body", "invalid")
        if len(body.get("body") or "") > MAX_COMMENT_BODY:
            raise _validation("Issue", "body", "custom", TOO_LONG_MESSAGE)
        if "state" in body and body["state"] not in ("open", "closed"):
            raise _validation("Issue", "state", "invalid")
        if body.get("state_reason") not in (None, "completed", "not_planned", "reopened"):
            raise _validation("Issue", "state_reason", "invalid")
        names: list[str] | None = None
        if "labels" in body:
            raw = body["labels"] if body["labels"] is not None else []
            if not isinstance(raw, list):
                raise _validation("Issue", "labels", "invalid")
            names = []
            for item in raw:
                if isinstance(item, dict):
                    item = item.get("name")
                if not isinstance(item, str) or not item.strip():
                    raise _validation("Label", "name", "invalid")
                names.append(item.strip())
        # valid: apply
        now = time.time()
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = body["body"] or ""
        if names is not None:
            issue.labels = []
            for name in names:
                key = self._create_label(ctx.repo, name)["name"].lower()
                if key not in issue.labels:
                    issue.labels.append(key)
        new_state = body.get("state", issue.state)
        if new_state == "closed" and issue.state != "closed":
            issue.state, issue.closed_at, issue.closed_by = "closed", now, self._author(ctx.token)
            issue.state_reason = body.get("state_reason") or "completed"
        elif new_state == "open" and issue.state != "open":
            issue.state, issue.closed_at, issue.closed_by = "open", None, None
            issue.state_reason = "reopened"
        elif body.get("state_reason") is not None and issue.state == "closed":
            issue.state_reason = body["state_reason"]
        issue.updated_at = now
        return 200, self._issue_json(ctx.repo, issue, ctx.base), {}

    def _h_list_comments(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        return self._paginate(ctx, [self._comment_json(self._comments[c], ctx.base) for c in issue.comment_ids])

    def _check_body(self, ctx: _Ctx, resource: str) -> str:
        body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
        if body is None or body == "":
            raise _validation(resource, "body", "missing_field")
        if not isinstance(body, str):
            raise _validation(resource, "body", "invalid")
        if len(body) > MAX_COMMENT_BODY:
            raise _validation(resource, "body", "custom", TOO_LONG_MESSAGE)
        return body

    def _h_create_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        body = self._check_body(ctx, "IssueComment")
        comment = self._new_issue_comment(ctx.repo, issue, body, self._author(ctx.token))
        data = self._comment_json(comment, ctx.base)
        return 201, data, {"Location": data["url"]}

    def _h_get_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return 200, self._comment_json(self._comment(ctx, "issue"), ctx.base), {}

    def _h_edit_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "issue")
        self._refuse_foreign(ctx, comment.user, "issue comment", comment.id)
        body = self._check_body(ctx, "IssueComment")
        comment.body = body
        comment.updated_at = time.time()
        return 200, self._comment_json(comment, ctx.base), {}

    def _list_reactions(self, ctx: _Ctx, kind: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, kind)
        items = comment.reactions
        content = ctx.query.get("content")
        if content:
            items = [r for r in items if r["content"] == content]
        return self._paginate(ctx, [self._reaction_json(r, ctx.base) for r in items])

    def _create_reaction(self, ctx: _Ctx, kind: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, kind)
        content = ctx.body.get("content") if isinstance(ctx.body, dict) else None
        if content is None:
            raise _validation("Reaction", "content", "missing_field")
        if content not in REACTION_CONTENTS:
            raise _validation("Reaction", "content", "invalid")
        user = self._author(ctx.token)
        for existing in comment.reactions:
            if existing["user"] == user and existing["content"] == content:
                return 200, self._reaction_json(existing, ctx.base), {}
        reaction = {"id": next(self._ids), "user": user, "content": content, "created_at": time.time()}
        comment.reactions.append(reaction)
        return 201, self._reaction_json(reaction, ctx.base), {}

    def _h_list_reactions_issue(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return self._list_reactions(ctx, "issue")

    def _h_create_reaction_issue(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return self._create_reaction(ctx, "issue")

    def _h_list_reactions_review(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return self._list_reactions(ctx, "review")

    def _h_create_reaction_review(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return self._create_reaction(ctx, "review")

    def _h_issue_labels(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        return self._paginate(ctx, [self._label_json(ctx.repo, ctx.repo.labels[k], ctx.base) for k in issue.labels])

    def _h_add_labels(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(ctx)
        raw = ctx.body
        if isinstance(raw, dict):
            raw = raw.get("labels")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            raise _validation("Label", "labels", "missing_field")
        names: list[str] = []
        for item in raw:
            if isinstance(item, dict):
                item = item.get("name")
            if not isinstance(item, str) or not item.strip():
                raise _validation("Label", "name", "invalid")
            names.append(item.strip())
        for name in names:
            label = self._create_label(ctx.repo, name)  # GitHub creates unknown labels here
            key = label["name"].lower()
            if key not in issue.labels:
                issue.labels.append(key)
        if names:
            issue.updated_at = time.time()
        return 200, [self._label_json(ctx.repo, ctx.repo.labels[k], ctx.base) for k in issue.labels], {}

    def _visible_reviews(self, ctx: _Ctx, issue: _Issue) -> list[_Review]:
        """A PENDING review is seen only by its author."""
        me = self._author(ctx.token)
        reviews = [self._reviews[r] for r in issue.review_ids]
        return [r for r in reviews if r.state != "PENDING" or r.user == me]

    def _h_list_reviews(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        return self._paginate(ctx, [self._review_json(r, ctx.base) for r in self._visible_reviews(ctx, issue)])

    def _h_list_review_comments(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        visible = self._visible_reviews(ctx, issue)
        ids = [c for r in visible for c in r.comment_ids]
        # replies in a thread (POST .../replies) belong to no review's list, but GitHub lists them too
        shown = {r.id for r in visible}
        ids += [c.id for c in self._comments.values() if c.in_reply_to and c.kind == "review" and c.review_id in shown]
        return self._paginate(ctx, [self._review_comment_json(self._comments[c], ctx.base) for c in sorted(ids)])

    def _h_get_review_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return 200, self._review_comment_json(self._comment(ctx, "review"), ctx.base), {}

    def _h_create_review(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        issue = self._pull(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        event = body.get("event")
        states = {
            None: "PENDING",  # GitHub: no event leaves the review pending (unsubmitted)
            "COMMENT": "COMMENTED",
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
        }
        if event not in states:
            raise _validation("PullRequestReview", "event", "invalid")
        text = body.get("body") or ""
        if not isinstance(text, str):
            raise _validation("PullRequestReview", "body", "invalid")
        if len(text) > MAX_COMMENT_BODY:
            raise _validation("PullRequestReview", "body", "custom", TOO_LONG_MESSAGE)
        commit_id = body.get("commit_id") or issue.head_sha
        if not isinstance(commit_id, str) or not re.fullmatch(r"[0-9a-fA-F]{7,40}", commit_id):
            raise _validation("PullRequestReview", "commit_id", "invalid")
        raw_comments = body.get("comments") or []
        if not isinstance(raw_comments, list):
            raise _validation("PullRequestReview", "comments", "invalid")
        for rc in raw_comments:
            if not isinstance(rc, dict):
                raise _validation("PullRequestReviewComment", "comments", "invalid")
            if not isinstance(rc.get("path"), str) or not rc["path"]:
                raise _validation("PullRequestReviewComment", "path", "missing_field")
            if not isinstance(rc.get("body"), str) or not rc["body"]:
                raise _validation("PullRequestReviewComment", "body", "missing_field")
            if len(rc["body"]) > MAX_COMMENT_BODY:
                raise _validation("PullRequestReviewComment", "body", "custom", TOO_LONG_MESSAGE)
            for key in ("line", "position", "start_line"):
                v = rc.get(key)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                    raise _validation("PullRequestReviewComment", key, "invalid")
            if rc.get("line") is None and rc.get("position") is None:
                raise _validation("PullRequestReviewComment", "line", "invalid")
            for key in ("side", "start_side"):
                if rc.get(key) is not None and rc[key] not in ("LEFT", "RIGHT"):
                    raise _validation("PullRequestReviewComment", key, "invalid")
        if not text and not raw_comments and event in ("COMMENT", "REQUEST_CHANGES"):
            raise _unprocessable(f"Review body is required when event is {event}")
        user = self._author(ctx.token)
        if event is None and any(
            self._reviews[r].state == "PENDING" and self._reviews[r].user == user for r in issue.review_ids
        ):
            raise _unprocessable("User can only have one pending review per pull request")

        # A PR made by add_pull is judged against the diff at commit_id; one made by
        # add_issue(pull_request=True) has no diff and its comments are taken as given.
        diff: str | None = None
        if any(d is not None for _, d in issue.heads):
            matches = [(sha, d) for sha, d in issue.heads if sha.lower().startswith(commit_id.lower())]
            if not matches:
                raise _unprocessable(COMMIT_NOT_IN_PULL)
            commit_id, diff = matches[-1]
        placed = self._place_review_comments(raw_comments, diff, outdated=commit_id != issue.head_sha)

        now = time.time()
        review = _Review(
            id=next(self._ids),
            repo=ctx.repo.full_name.lower(),
            number=issue.number,
            user=user,
            body=text,
            state=states[event],
            commit_id=commit_id,
            submitted_at=now,
        )
        for rc, where in zip(raw_comments, placed):
            comment = _Comment(
                id=next(self._ids),
                repo=review.repo,
                number=issue.number,
                body=rc["body"],
                user=user,
                created_at=now,
                updated_at=now,
                kind="review",
                review_id=review.id,
                path=rc["path"],
                commit_id=commit_id,
                **where,
            )
            self._comments[comment.id] = comment
            review.comment_ids.append(comment.id)
        self._reviews[review.id] = review
        issue.review_ids.append(review.id)
        issue.updated_at = now
        return 200, self._review_json(review, ctx.base), {}

    def _place_review_comments(
        self, raw_comments: list[dict[str, Any]], diff: str | None, *, outdated: bool
    ) -> list[dict[str, Any]]:
        """Where each comment lands (line, side, start_line, start_side, position, diff_hunk),
        judged as GitHub does; any bad comment refuses the whole review (422, every reason)."""
        if diff is None:  # no diff to judge against: keep what was sent
            return [
                {
                    "line": rc.get("line", rc.get("position")),
                    "side": rc.get("side") or "RIGHT",
                    "start_line": rc.get("start_line"),
                    "start_side": (rc.get("start_side") or rc.get("side") or "RIGHT")
                    if rc.get("start_line") is not None
                    else None,
                    "position": rc.get("line", rc.get("position")),
                }
                for rc in raw_comments
            ]
        files = {f.filename: f for f in parse_diff(diff)}
        errors: list[str] = []
        placed: list[dict[str, Any]] = []

        def fail(message: str) -> None:
            if message not in errors:
                errors.append(message)

        for rc in raw_comments:
            f = files.get(rc["path"])
            if f is None:
                fail(PATH_NOT_IN_DIFF)
                placed.append({})
                continue
            if rc.get("line") is not None:
                side = rc.get("side") or "RIGHT"
                index = f.find(side, rc["line"])
            else:  # the legacy diff position: lines down from the file's first @@ header
                pos = rc["position"]
                index = pos if pos < len(f.lines) and f.lines[pos].kind in (" ", "+", "-") else None
                side = "LEFT" if index is not None and f.lines[index].kind == "-" else "RIGHT"
            if index is None:
                fail(LINE_NOT_IN_DIFF)
                placed.append({})
                continue
            line = f.lines[index].old if side == "LEFT" else f.lines[index].new
            start_index = None
            start_side = None
            if rc.get("start_line") is not None:
                start_side = rc.get("start_side") or side
                start_index = f.find(start_side, rc["start_line"])
                if start_index is None:
                    fail(LINE_NOT_IN_DIFF)
                elif f.lines[start_index].hunk != f.lines[index].hunk:
                    fail(START_NOT_IN_HUNK)
                elif start_index >= index:
                    fail(START_AFTER_END)
            placed.append(
                {
                    "line": line,
                    "side": side,
                    "start_line": rc.get("start_line"),
                    "start_side": start_side,
                    "position": None if outdated else index,
                    "diff_hunk": f.hunk_text(index, start_index),
                }
            )
        if errors:
            raise _unprocessable(*errors)
        return placed

    def _refuse_foreign(self, ctx: _Ctx, owner: str, kind: str, ident: int) -> None:
        """An edit or delete of what `owner` wrote by anyone else: recorded, then refused as GitHub
        refuses an integration (403). Petrel must never try it; stop() fails the test if it did."""
        actor = self._author(ctx.token)
        if actor.lower() == owner.lower():
            return
        self.foreign_writes.append(
            {"method": ctx.method, "path": ctx.path, "kind": kind, "id": ident, "by": actor, "owner": owner}
        )
        raise _HTTPError(403, {"message": "Resource not accessible by integration", "documentation_url": DOCS})

    def _h_get_user(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        assert ctx.token is not None
        if ctx.token.installation_id is not None:  # an installation token is not a user
            raise _HTTPError(
                403,
                {
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                    "status": "403",
                },
            )
        data = self._user_json(ctx.token.login, ctx.base)
        data.update(
            {
                "name": None,
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "bio": None,
                "public_repos": 0,
                "followers": 0,
                "following": 0,
                "created_at": _iso(self._started_at),
                "updated_at": _iso(self._started_at),
            }
        )
        return 200, data, {}

    def _h_graphql(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        """Only `{ viewer { login } }`: it names the token's user, or the App's bot for an installation."""
        query = ctx.body.get("query") if isinstance(ctx.body, dict) else None
        if not isinstance(query, str) or re.sub(r"\s+", "", query) not in ("query{viewer{login}}", "{viewer{login}}"):
            return 200, {"errors": [{"message": "the fake GraphQL API answers only { viewer { login } }"}]}, {}
        return 200, {"data": {"viewer": {"login": self._author(ctx.token)}}}, {}

    def _h_collaborator_permission(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        login = urllib.parse.unquote(ctx.params["username"])
        known = {name.lower(): name for name in self._users}
        if login.lower() not in known and login.lower() != ctx.repo.owner.lower():
            raise _not_found()
        login = known.get(login.lower(), login)
        role = self._permissions.get((ctx.repo.full_name.lower(), login.lower()))
        if role is None:
            role = "admin" if login.lower() == ctx.repo.owner.lower() else ("none" if ctx.repo.private else "read")
        user = self._user_json(login, ctx.base)
        order = ["none", "read", "triage", "write", "maintain", "admin"]
        user["permissions"] = {
            name: order.index(role) >= order.index(level)
            for name, level in (
                ("pull", "read"),
                ("triage", "triage"),
                ("push", "write"),
                ("maintain", "maintain"),
                ("admin", "admin"),
            )
        }
        user["role_name"] = role
        return 200, {"permission": PERMISSION_OF_ROLE[role], "role_name": role, "user": user}, {}

    def _h_delete_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "issue")
        self._refuse_foreign(ctx, comment.user, "issue comment", comment.id)
        del self._comments[comment.id]
        self._repos[comment.repo].issues[comment.number].comment_ids.remove(comment.id)
        return 204, None, {}

    def _h_edit_review_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "review")
        self._refuse_foreign(ctx, comment.user, "review comment", comment.id)
        comment.body = self._check_body(ctx, "PullRequestReviewComment")
        comment.updated_at = time.time()
        return 200, self._review_comment_json(comment, ctx.base), {}

    def _h_delete_review_comment(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, "review")
        self._refuse_foreign(ctx, comment.user, "review comment", comment.id)
        del self._comments[comment.id]
        review = self._reviews.get(comment.review_id or 0)
        if review is not None and comment.id in review.comment_ids:
            review.comment_ids.remove(comment.id)
        return 204, None, {}

    def _review_of(self, ctx: _Ctx) -> _Review:
        issue = self._pull(ctx)
        review = self._reviews.get(int(ctx.params["rid"]))
        if review is None or review.number != issue.number or review.repo != ctx.repo.full_name.lower():
            raise _not_found()
        return review

    def _h_update_review(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        review = self._review_of(ctx)
        self._refuse_foreign(ctx, review.user, "review", review.id)
        review.body = self._check_body(ctx, "PullRequestReview")
        return 200, self._review_json(review, ctx.base), {}

    def _h_delete_review(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        review = self._review_of(ctx)
        self._refuse_foreign(ctx, review.user, "review", review.id)
        if review.state != "PENDING":
            raise _unprocessable(
                "Can not delete a non-pending pull request review",
                docs="https://docs.github.com/rest/pulls/reviews#delete-a-pending-review-for-a-pull-request",
            )
        del self._reviews[review.id]
        self._repos[review.repo].issues[review.number].review_ids.remove(review.id)
        return 200, self._review_json(review, ctx.base), {}

    def _delete_reaction(self, ctx: _Ctx, kind: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(ctx, kind)
        reaction = next((r for r in comment.reactions if r["id"] == int(ctx.params["reaction"])), None)
        if reaction is None:
            raise _not_found()
        self._refuse_foreign(ctx, reaction["user"], "reaction", reaction["id"])
        comment.reactions.remove(reaction)
        return 204, None, {}

    def _h_delete_reaction_issue(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return self._delete_reaction(ctx, "issue")

    def _h_delete_reaction_review(self, ctx: _Ctx) -> tuple[int, Any, dict[str, str]]:
        return self._delete_reaction(ctx, "review")
