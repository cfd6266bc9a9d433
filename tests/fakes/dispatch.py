"""The fake GitHub's request path: route table, rate-limit headers, fault injection,
authentication (tokens and App JWTs), repository visibility and pagination.

Everything a request meets before its handler, in the order GitHub applies it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import jwt
from jwt.api_jws import PyJWS

from fakes.errors import _bad_credentials, _default_message, _HTTPError, _jwt_error, _not_found
from fakes.registration import CONVERSION
from fakes.server import take
from fakes.state import (
    API_PREFIX,
    DOCS,
    EXP_MESSAGE,
    IAT_MESSAGE,
    JWT_CLOCK_SKEW,
    MAX_JWT_LIFETIME,
    RATE_LIMIT,
    Recorded,
    _CIDict,
    _Comment,
    _Ctx,
    _Issue,
    _Repo,
    _Token,
)


class Dispatch:
    """The request path of `FakeGitHub`: faults, authentication and routing before a handler."""

    # ------------------------------------------------------------------ internals: request handling

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any, dict[str, str]]]]]:
        R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        N = r"(?P<number>\d+)"
        C = r"(?P<cid>\d+)"
        spec = [
            ("GET", r"/app", self._h_get_app),
            ("POST", r"/app-manifests/(?P<code>[^/]+)/conversions", self._h_manifest_conversion),
            ("GET", r"/app/installations", self._h_list_installations),
            ("GET", r"/app/installations/(?P<iid>\d+)", self._h_get_installation),
            ("POST", r"/app/installations/(?P<iid>\d+)/access_tokens", self._h_access_token),
            ("GET", R + r"/installation", self._h_repo_installation),
            ("GET", r"/installation/repositories", self._h_installation_repos),
            ("GET", r"/rate_limit", self._h_rate_limit),
            ("GET", R, self._h_get_repo),
            ("GET", R + r"/labels", self._h_list_labels),
            ("GET", R + r"/issues", self._h_list_issues),
            ("GET", R + r"/issues/" + N, self._h_get_issue),
            ("PATCH", R + r"/issues/" + N, self._h_edit_issue),
            ("GET", R + r"/issues/" + N + r"/comments", self._h_list_comments),
            ("POST", R + r"/issues/" + N + r"/comments", self._h_create_comment),
            ("GET", R + r"/issues/" + N + r"/labels", self._h_issue_labels),
            ("POST", R + r"/issues/" + N + r"/labels", self._h_add_labels),
            ("GET", R + r"/issues/comments/" + C, self._h_get_comment),
            ("PATCH", R + r"/issues/comments/" + C, self._h_edit_comment),
            ("GET", R + r"/issues/comments/" + C + r"/reactions", self._h_list_reactions_issue),
            ("POST", R + r"/issues/comments/" + C + r"/reactions", self._h_create_reaction_issue),
            ("GET", R + r"/pulls/" + N, self._h_get_pull),
            ("PATCH", R + r"/pulls/" + N, self._h_edit_pull),
            ("GET", R + r"/pulls/" + N + r"/reviews", self._h_list_reviews),
            ("POST", R + r"/pulls/" + N + r"/reviews", self._h_create_review),
            ("GET", R + r"/pulls/" + N + r"/comments", self._h_list_review_comments),
            ("POST", R + r"/pulls/" + N + r"/comments/" + C + r"/replies", self._h_reply_review_comment),
            ("GET", R + r"/pulls/" + N + r"/files", self._h_pull_files),
            ("GET", R + r"/pulls/" + N + r"/commits", self._h_pull_commits),
            ("GET", R + r"/compare/(?P<basehead>.+?)", self._h_compare),
            ("GET", R + r"/contents(?:/(?P<path>.*?))?", self._h_contents),
            ("GET", R + r"/branches", self._h_list_branches),
            ("GET", R + r"/branches/(?P<branch>.+?)", self._h_get_branch),
            # checks (fakes/checks.py): before commits/{ref}, which would take check-runs for a ref
            ("GET", R + r"/commits/(?P<ref>[^/]+)/check-runs", self._h_list_check_runs),
            ("POST", R + r"/check-runs", self._h_create_check_run),
            ("PATCH", R + r"/check-runs/(?P<rid>\d+)", self._h_update_check_run),
            ("POST", R + r"/statuses/(?P<sha>[^/]+)", self._h_create_status),
            ("GET", R + r"/commits/(?P<ref>.+?)", self._h_get_commit),
            ("GET", R + r"/git/commits/(?P<sha>[^/]+)", self._h_get_git_commit),
            ("GET", R + r"/git/trees/(?P<sha>.+?)", self._h_get_tree),
            ("GET", R + r"/git/blobs/(?P<sha>[^/]+)", self._h_get_blob),
            ("GET", R + r"/pulls/comments/" + C, self._h_get_review_comment),
            ("GET", R + r"/pulls/comments/" + C + r"/reactions", self._h_list_reactions_review),
            ("POST", R + r"/pulls/comments/" + C + r"/reactions", self._h_create_reaction_review),
            # identity, permissions, and writes to what another user wrote (recorded in foreign_writes)
            ("GET", r"/user", self._h_get_user),
            ("POST", r"/graphql", self._h_graphql),
            ("GET", R + r"/collaborators/(?P<username>[^/]+)/permission", self._h_collaborator_permission),
            ("DELETE", R + r"/issues/comments/" + C, self._h_delete_comment),
            ("PATCH", R + r"/pulls/comments/" + C, self._h_edit_review_comment),
            ("DELETE", R + r"/pulls/comments/" + C, self._h_delete_review_comment),
            ("PUT", R + r"/pulls/" + N + r"/reviews/(?P<rid>\d+)", self._h_update_review),
            ("DELETE", R + r"/pulls/" + N + r"/reviews/(?P<rid>\d+)", self._h_delete_review),
            ("DELETE", R + r"/issues/comments/" + C + r"/reactions/(?P<reaction>\d+)", self._h_delete_reaction_issue),
            ("DELETE", R + r"/pulls/comments/" + C + r"/reactions/(?P<reaction>\d+)", self._h_delete_reaction_review),
        ]
        return [(m, re.compile(p + r"/?\Z"), h) for m, p, h in spec]

    def _rate_headers(self) -> dict[str, str]:
        self._request_count += 1
        remaining = max(RATE_LIMIT - self._request_count, 1)
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(RATE_LIMIT - remaining),
            "x-ratelimit-reset": str(int(self._started_at) + 3600),
            "x-ratelimit-resource": "core",
            "x-github-request-id": f"{secrets.token_hex(2).upper()}:{secrets.token_hex(3).upper()}:"
            f"{secrets.token_hex(4).upper()}:{secrets.token_hex(4).upper()}:{secrets.token_hex(4).upper()}",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-media-type": "github.v3; format=json",
        }

    def _handle(
        self, method: str, raw_path: str, query_string: str, headers: _CIDict, raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Returns (status, json body, extra headers). Called with the lock held."""
        page = self._web_page(method, raw_path, query_string, headers, raw_body)  # fakes/registration.py
        if page is not None:
            return page
        path = raw_path
        prefix = ""
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            prefix = API_PREFIX
            path = path[len(API_PREFIX) :] or "/"
        query = {k: v[0] for k, v in urllib.parse.parse_qs(query_string, keep_blank_values=True).items()}
        body: Any = None
        body_error = False
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body_error = True
        record = Recorded(
            method=method,
            path=path,
            query=query,
            headers=headers,
            json=body,
            status=0,
            timestamp=time.monotonic(),
            raw_path=raw_path,
        )
        self.requests.append(record)
        rate = self._rate_headers()

        status, payload, extra = self._dispatch(method, path, prefix, raw_path, query, headers, body, body_error)
        record.status = status
        out_headers = dict(rate)
        out_headers.update(extra)
        return status, payload, out_headers

    def _dispatch(
        self,
        method: str,
        path: str,
        prefix: str,
        raw_path: str,
        query: dict[str, str],
        headers: _CIDict,
        body: Any,
        body_error: bool,
    ) -> tuple[int, Any, dict[str, str]]:
        # 1. fault injection, before auth and routing
        fault = take(
            self._faults, lambda f: f.method in ("*", method) and bool(f.regex.search(path) or f.regex.search(raw_path))
        )
        if fault is not None:
            payload = (
                fault.body
                if fault.body is not None
                else {
                    "message": _default_message(fault.status, fault.headers),
                    "documentation_url": DOCS,
                }
            )
            return fault.status, payload, dict(fault.headers)

        base = self.url + prefix
        try:
            # 2. authentication
            auth = headers.get("authorization", "")
            scheme, _, credential = auth.strip().partition(" ")
            scheme = scheme.lower()
            credential = credential.strip()
            is_app_path = (
                path == "/app"
                or path.startswith("/app/")
                or re.fullmatch(r"/repos/[^/]+/[^/]+/installation/?", path) is not None
            )
            token: _Token | None = None
            if CONVERSION.fullmatch(path):
                pass  # the manifest flow's code is the credential (fakes/registration.py)
            elif is_app_path:
                if scheme != "bearer" or not credential:
                    raise _jwt_error("A JSON web token could not be decoded")
                self._verify_jwt(credential)
            else:
                if scheme not in ("token", "bearer") or not credential:
                    raise _bad_credentials()
                token = self._tokens.get(credential)
                if token is None:
                    raise _bad_credentials()
                if token.expires_at is not None and time.time() >= token.expires_at:
                    raise _bad_credentials()
                if token.installation_id is not None and token.installation_id not in self._installations:
                    raise _bad_credentials()

            # 3. routing (unknown path or wrong method -> 404, as GitHub does)
            route_as = "GET" if method == "HEAD" else method
            for route_method, pattern, handler in self._routes:  # noqa: B007 (the matched handler is used below)
                m = pattern.match(path)
                if m and route_method == route_as:
                    break
            else:
                raise _not_found()
            if body_error:
                raise _HTTPError(400, {"message": "Problems parsing JSON", "documentation_url": DOCS})
            ctx = _Ctx(
                base=base,
                query=query,
                body=body,
                token=token,
                params=m.groupdict(),
                method=method,
                path=path,
                headers=headers,
            )
            if "owner" in ctx.params:
                ctx.repo = self._visible_repo(ctx.params["owner"], ctx.params["repo"], token)
            return handler(ctx)
        except _HTTPError as e:
            return e.status, e.body, dict(e.headers)

    def _verify_jwt(self, token: str) -> dict[str, Any]:
        undecodable = "A JSON web token could not be decoded"
        if self._app_key is None:
            raise _jwt_error(undecodable)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _jwt_error(undecodable) from None
        if header.get("alg") != "RS256":
            raise _jwt_error(undecodable)
        try:
            # Verify the signature only (RS256 only); claims are checked below by hand so that
            # an integer ``iss`` (which GitHub accepts) is not refused by PyJWT's own checks.
            payload = PyJWS().decode(token, self._app_key, algorithms=["RS256"])
            claims = json.loads(payload)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _jwt_error(undecodable) from None
        if not isinstance(claims, dict):
            raise _jwt_error(undecodable)

        def numeric(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        now = time.time()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not numeric(iat):
            raise _jwt_error(IAT_MESSAGE)
        if not numeric(exp):
            raise _jwt_error(EXP_MESSAGE)
        if iss is None:
            raise _jwt_error("Missing 'issuer' claim ('iss') in JWT")
        if str(iss) != str(self.app_id) or isinstance(iss, bool):
            raise _jwt_error(f"'Issuer' claim ('iss') {iss!r} does not match this GitHub App's ID")
        if exp - iat > MAX_JWT_LIFETIME:
            raise _jwt_error("'Expiration time' claim ('exp') is too far in the future")
        if exp <= now:
            raise _jwt_error(EXP_MESSAGE)
        if iat > now + JWT_CLOCK_SKEW:
            raise _jwt_error("'Issued at' claim ('iat') must be an Integer representing a time in the past")
        return claims

    def _visible_repo(self, owner: str, name: str, token: _Token | None) -> _Repo:
        full = f"{urllib.parse.unquote(owner)}/{urllib.parse.unquote(name)}".lower()
        repo = self._repos.get(full)
        if repo is None:
            raise _not_found()
        if token is None:  # App JWT endpoints: the app sees repos it is installed on
            if repo.installation_id is None:
                raise _not_found()
            return repo
        if token.installation_id is not None and repo.installation_id != token.installation_id:
            raise _not_found()
        if token.repos is not None and full not in token.repos:
            raise _not_found()
        return repo

    def _author(self, token: _Token | None) -> str:
        assert token is not None
        if token.installation_id is not None:
            self._user(self._bot_login, "Bot")
            return self._bot_login
        return token.login

    def _paginate(self, ctx: _Ctx, items: list[Any]) -> tuple[int, Any, dict[str, str]]:
        def as_int(name: str, default: int) -> int:
            try:
                return int(ctx.query.get(name, default))
            except (TypeError, ValueError):
                return default

        per_page = min(max(as_int("per_page", 30), 1), 100)
        page = max(as_int("page", 1), 1)
        total = len(items)
        last = max((total + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        extra: dict[str, str] = {}
        if total > per_page:
            others = {k: v for k, v in ctx.query.items() if k not in ("page", "per_page")}

            def link(p: int, rel: str) -> str:
                q = urllib.parse.urlencode({**others, "per_page": per_page, "page": p})
                return f'<{ctx.base}{ctx.path}?{q}>; rel="{rel}"'

            links = []
            if page > 1:
                links.append(link(min(page - 1, last), "prev"))
            if page < last:
                links.append(link(page + 1, "next"))
                links.append(link(last, "last"))
            if page > 1:
                links.append(link(1, "first"))
            if links:
                extra["Link"] = ", ".join(links)
        return 200, chunk, extra

    def _issue(self, ctx: _Ctx) -> _Issue:
        issue = ctx.repo.issues.get(int(ctx.params["number"]))
        if issue is None:
            raise _not_found()
        return issue

    def _pull(self, ctx: _Ctx) -> _Issue:
        issue = self._issue(ctx)
        if not issue.is_pr:
            raise _not_found()
        return issue

    def _comment(self, ctx: _Ctx, kind: str) -> _Comment:
        comment = self._comments.get(int(ctx.params["cid"]))
        if comment is None or comment.kind != kind or comment.repo != ctx.repo.full_name.lower():
            raise _not_found()
        return comment
