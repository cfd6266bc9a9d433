"""A stateful, in-process fake of the GitHub REST API, served over real HTTP.

The real PyGithub client (or ``requests``) talks to it on 127.0.0.1::

    with FakeGitHub() as fake:
        fake.add_repo("acme/widgets", installation_id=7)
        fake.add_issue("acme/widgets", 1, pull_request=True)
        fake.add_token("tok")
        gh = Github(base_url=fake.url, auth=Auth.Token("tok"), retry=None)
        gh.get_repo("acme/widgets").get_issue(1).create_comment("hi")
        assert fake.comments("acme/widgets", 1)[0]["body"] == "hi"

It refuses what GitHub refuses (bad credentials, repositories the token cannot
see, invalid App JWTs, validation errors) with GitHub's status codes and error
shapes, paginates with RFC 5988 ``Link`` headers, records every request for
assertions and can inject faults (``fail``).

Pull requests made with ``add_pull`` carry a real unified diff: it is served by the diff media
type, ``/pulls/{n}/files`` and the PR's additions/deletions, and review comments are judged
against it as GitHub does (a comment off the diff refuses the whole review, 422). ``add_compare``
answers ``/compare/{base}...{head}`` (other pairs 404) and ``add_file`` serves
``/contents/{path}?ref=`` with git blob shas. GitHub's size limits hold: the diff media type is
refused (406) past 300 files or 20,000 changed lines, ``/files`` lists at most 3,000 files,
a comparison at most 300, and a file whose own diff is too large comes without ``patch``.
``add_symlink`` and ``add_submodule`` put what git
puts (mode 120000, and a "commit" entry with its URL in ``.gitmodules``), and the contents API
answers for them, and for directories and files over 1 MB, as GitHub does.

The files of each ref are also served as git data, hashed as git hashes them: ``/branches/{b}``,
``/commits/{ref}``, ``/git/commits/{sha}``, ``/git/trees/{sha}[?recursive=1]`` and
``/git/blobs/{sha}``. A ref's commit is a parentless commit derived from its tree (a ref that is
itself a 40-hex sha is its own commit). Trees, commits and blobs once seen stay resolvable after
``add_file``/``remove_file`` change the ref, as on GitHub. ``GET /repos/{o}/{r}/issues`` lists
issues and pull requests (filters, sorting, ``since``, pages) and ``PATCH /issues/{n}`` edits them.

Who is who: ``GET /app`` (App JWT) names the App, whose installation tokens write as
``<slug>[bot]``; ``GET /user`` names a personal token's user (an installation token gets 403
there) and GraphQL's ``{ viewer { login } }`` names either. ``set_permission`` gives users a role
on a repository, served by ``GET /repos/{o}/{r}/collaborators/{user}/permission``. Every attempt
to edit or delete a comment, review, review comment or reaction written by someone else is
refused (403) and recorded in ``foreign_writes``; ``stop()`` then fails the test.
The manifest flow (``registration``): ``POST /settings/apps/new`` makes an App from a manifest and
redirects back with a code, ``POST /app-manifests/{code}/conversions`` answers its credentials once.
Check runs and commit statuses (``check_runs``, ``statuses``) are written only by whom GitHub lets
write them: drop ``checks`` from ``app_permissions`` to see the 403 an App gets without it.

Only the standard library, PyJWT and cryptography are used. The fake is cut by concern: its
state (`state`), diffs (`diff`), checks (`checks`), git data (`git`), JSON (`render`), request path (`dispatch`),
endpoints (`handlers`), what a test sets up (`scenario`) and the HTTP server (`server`).
"""

from __future__ import annotations

import itertools
import json
import re
import time
import traceback
import urllib.parse
from typing import Any

from fakes.checks import Checks
from fakes.diff import parse_diff
from fakes.dispatch import Dispatch
from fakes.git import GitData
from fakes.handlers import Handlers
from fakes.registration import Registration
from fakes.render import Rendering
from fakes.scenario import Scenario
from fakes.server import Answer, FakeServer, headers_out
from fakes.state import (
    DEFAULT_LABEL_COLORS,
    DEFAULT_PERMISSIONS,
    MAX_COMMENT_BODY,
    MAX_TREE_ENTRIES,
    PERMISSION_OF_ROLE,
    REACTION_CONTENTS,
    Recorded,
    _CIDict,
    _Comment,
    _Fault,
    _Issue,
    _node_id,
    _Raw,
    _Repo,
    _Review,
    _Token,
)

__all__ = ["FakeGitHub", "Recorded", "REACTION_CONTENTS", "MAX_COMMENT_BODY", "parse_diff"]


class FakeGitHub(Scenario, GitData, Rendering, Dispatch, Handlers, Checks, Registration, FakeServer):
    """A fake GitHub REST API server for tests. See the module docstring."""

    thread_name = "fake-github"
    server_version = "GitHub.com"

    def __init__(self, app_id: int = 4242, app_slug: str = "petrel") -> None:
        super().__init__()
        self.app_id = app_id
        self.app_slug = app_slug
        self.app_name = app_slug[:1].upper() + app_slug[1:]
        self.token_ttl_seconds: int = 3600
        self.tree_entry_limit: int = MAX_TREE_ENTRIES  # lower it to see "truncated": true
        self.app_permissions: dict[str, str] = dict(DEFAULT_PERMISSIONS)  # what installation tokens may do
        self.requests: list[Recorded] = []
        self.tokens_issued: list[dict[str, Any]] = []
        self.foreign_writes: list[dict[str, Any]] = []  # edits/deletes of another's words (stop() fails on any)
        self._permissions: dict[tuple[str, str], str] = {}  # (lower repo, lower login) -> role
        self._ids = itertools.count(1_000_001)
        self._repos: dict[str, _Repo] = {}
        self._installations: dict[int, str] = {}  # installation id -> account login
        self._users: dict[str, tuple[int, str]] = {}  # login -> (id, type)
        self._comments: dict[int, _Comment] = {}
        self._reviews: dict[int, _Review] = {}
        self._tokens: dict[str, _Token] = {}
        self._faults: list[_Fault] = []
        self._slow: list[list] = []
        self._app_key: str | None = None
        self._started_at = time.time()
        self._request_count = 0
        self._routes = self._build_routes()
        self._init_checks()
        self._init_registration()

    # ------------------------------------------------------------------ lifecycle

    def stop(self, check: bool = True) -> None:
        """Stop serving; then, unless `check` is false, fail (AssertionError) if anyone tried to
        edit or delete a comment, review, review comment or reaction written by someone else."""
        self._stop_serving()
        if check and self.foreign_writes:
            writes, self.foreign_writes = self.foreign_writes, []
            raise AssertionError(f"attempts to edit or delete what another user wrote: {writes}")

    def __exit__(self, *exc: Any) -> None:
        self.stop(check=exc[0] is None)  # an error already raised is not hidden behind this one

    def _answer(self, method: str, target: str, headers: Any, raw_body: bytes) -> Answer:
        split = urllib.parse.urlsplit(target)
        request_headers = _CIDict({k: v for k, v in headers.items()})
        try:
            with self._lock:
                status, payload, extra = self._handle(method, split.path, split.query, request_headers, raw_body)
        except Exception:  # a bug in the fake: answer 500 with the traceback rather than hang or print
            status, extra = 500, {}
            payload = {"message": "Server Error", "fake_github_traceback": traceback.format_exc()}
        delay = self._response_delay(method, split.path)
        content_type = "application/json; charset=utf-8"
        if isinstance(payload, _Raw):
            data, content_type = payload.data, payload.content_type
        else:
            data = b"" if payload is None else json.dumps(payload).encode()
        return status, headers_out(content_type, extra.items()), data, delay

    # ------------------------------------------------------------------ setup: credentials and faults

    def set_app_key(self, public_key_pem: str) -> None:
        if isinstance(public_key_pem, bytes):
            public_key_pem = public_key_pem.decode()
        with self._lock:
            self._app_key = public_key_pem

    def add_token(self, token: str, *, login: str = "petrel-bot", repos: list[str] | None = None) -> None:
        with self._lock:
            self._user(login, "User")
            self._tokens[token] = _Token(
                token=token,
                login=login,
                installation_id=None,
                repos=None if repos is None else {r.lower() for r in repos},
                expires_at=None,
            )

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        headers: dict | None = None,
        body: dict | None = None,
    ) -> None:
        """The next ``times`` requests whose method matches (``"*"`` = any) and whose path
        ``re.search``-matches ``path_regex`` (tried on the path without and with any /api/v3
        prefix, query excluded) get ``status`` with ``headers`` and ``body`` instead of service.
        Applied before authentication and routing; faults are consumed in the order added."""
        with self._lock:
            self._faults.append(
                _Fault(
                    method=method.upper(),
                    regex=re.compile(path_regex),
                    status=status,
                    remaining=times,
                    headers={str(k): str(v) for k, v in (headers or {}).items()},
                    body=body,
                )
            )

    def slow(self, method: str, path_regex: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` matching requests are applied at once but answered ``seconds`` late:
        what a client sees when GitHub did the write and the answer never reached it in time."""
        with self._lock:
            self._slow.append([method.upper(), re.compile(path_regex), seconds, times])

    def _response_delay(self, method: str, path: str) -> float:
        with self._lock:
            for rule in self._slow:
                if rule[3] > 0 and rule[0] in ("*", method) and rule[1].search(path):
                    rule[3] -= 1
                    return rule[2]
        return 0.0

    def revoke_token(self, token: str) -> None:
        """Revoke a token before it expires (as GitHub does when an App's tokens are reset, or an
        installation token is revoked): requests with it get 401 Bad credentials from now on."""
        with self._lock:
            self._tokens.pop(token, None)

    # ------------------------------------------------------------------ introspection

    def comments(self, full_name: str, number: int) -> list[dict]:
        with self._lock:
            repo = self._repo_for_setup(full_name)
            issue = repo.issues[number]
            return [self._comment_json(self._comments[c], self.url) for c in issue.comment_ids]

    def reactions(self, full_name: str, comment_id: int) -> list[dict]:
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or comment.repo != full_name.lower():
                raise KeyError(f"no comment {comment_id} in {full_name}")
            return [self._reaction_json(r) for r in comment.reactions]

    def reviews(self, full_name: str, number: int) -> list[dict]:
        """Reviews as GitHub returns them, plus a ``comments`` key with their review comments."""
        with self._lock:
            repo = self._repo_for_setup(full_name)
            issue = repo.issues[number]
            out = []
            for rid in issue.review_ids:
                review = self._reviews[rid]
                data = self._review_json(review, self.url)
                data["comments"] = [self._review_comment_json(self._comments[c], self.url) for c in review.comment_ids]
                out.append(data)
            return out

    def issue(self, full_name: str, number: int) -> dict:
        """The issue (or PR's issue) JSON as ``GET /issues/{n}`` gives it now."""
        with self._lock:
            repo = self._repo_for_setup(full_name)
            return self._issue_json(repo, repo.issues[number], self.url)

    def labels_on(self, full_name: str, number: int) -> list[str]:
        with self._lock:
            repo = self._repo_for_setup(full_name)
            return [repo.labels[k]["name"] for k in repo.issues[number].labels]

    # ------------------------------------------------------------------ internals: state helpers

    def _repo_for_setup(self, full_name: str) -> _Repo:
        repo = self._repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"unknown repo {full_name!r}; add_repo first")
        return repo

    def _user(self, login: str, user_type: str = "User") -> tuple[int, str]:
        if login not in self._users:
            self._users[login] = (next(self._ids), user_type)
        return self._users[login]

    def _create_label(self, repo: _Repo, name: str) -> dict[str, Any]:
        key = name.lower()
        if key not in repo.labels:
            lid = next(self._ids)
            repo.labels[key] = {
                "id": lid,
                "node_id": _node_id("LA", lid),
                "name": name,
                "color": DEFAULT_LABEL_COLORS.get(key, "ededed"),
                "default": key in DEFAULT_LABEL_COLORS,
                "description": None,
            }
        return repo.labels[key]

    def _new_issue_comment(self, repo: _Repo, issue: _Issue, body: str, user: str) -> _Comment:
        now = time.time()
        comment = _Comment(
            id=next(self._ids),
            repo=repo.full_name.lower(),
            number=issue.number,
            body=body,
            user=user,
            created_at=now,
            updated_at=now,
        )
        self._comments[comment.id] = comment
        issue.comment_ids.append(comment.id)
        issue.updated_at = now
        return comment

    @property
    def _bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    # ------------------------------------------------------------------ identity, permissions, foreign writes

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        """`login`'s role on the repository: admin, maintain, write, triage, read or none.
        Unset: the owner is admin, anyone else read (none on a private repository)."""
        if role not in PERMISSION_OF_ROLE:
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            repo = self._repo_for_setup(full_name)
            self._user(login)
            self._permissions[(repo.full_name.lower(), login.lower())] = role

    def add_reaction(self, full_name: str, comment_id: int, content: str, *, user: str = "octocat") -> dict:
        """A reaction by `user` on an issue or review comment, as if they had clicked it."""
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or comment.repo != full_name.lower():
                raise KeyError(f"no comment {comment_id} in {full_name}")
            if content not in REACTION_CONTENTS:
                raise ValueError(f"unknown reaction {content!r}")
            self._user(user)
            reaction = {"id": next(self._ids), "user": user, "content": content, "created_at": time.time()}
            comment.reactions.append(reaction)
            return self._reaction_json(reaction)

    def permission_lookups(self, full_name: str | None = None) -> list[str]:
        """The logins whose permission was asked (GET .../collaborators/{user}/permission), in order."""
        return [
            r.path.split("/")[-2]
            for r in self.requests
            if r.method == "GET"
            and r.path.endswith("/permission")
            and "/collaborators/" in r.path
            and (full_name is None or r.path.lower().startswith(f"/repos/{full_name.lower()}/"))
        ]
