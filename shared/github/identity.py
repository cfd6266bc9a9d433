"""Who Petrel is on GitHub, and who may steer it.

A hidden marker (`<!-- petrel:... -->`) is plain text: anyone who can comment, on a public
repository anyone at all, can copy one from Petrel's comments. So a marker, a finding's
fingerprint or a posted finding counts only on a comment, review or review comment whose
author is Petrel's own account; everything else is ordinary text. That account is learned
once per process:
- as a GitHub App, from `GET /app` (it needs the App's JWT; an installation token may not
  call it): the App writes as `<slug>[bot]`;
- with a single token, from `GET /user`; a token that may not call it (an installation
  token, such as the `GITHUB_TOKEN` of a workflow) asks GraphQL's `viewer` instead, which
  names the App's bot user.

Feedback (👍/👎 on Petrel's findings, resolved review threads) counts only from people who
may steer Petrel: write, maintain or admin on the repository (`GET
/repos/{o}/{r}/collaborators/{user}/permission`). Each answer is kept for a while per
repository and user, so a pull request with many reactions asks once per person, and a
person whose access is withdrawn stops counting soon after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("petrel.identity")

STEERING_ROLES = frozenset({"admin", "maintain", "write"})  # who may steer Petrel with feedback
PERMISSION_TTL_SECONDS = 600.0  # how long one user's permission on one repository is trusted
VIEWER_QUERY = "query { viewer { login } }"


def same_login(a: str | None, b: str | None) -> bool:
    """GitHub logins compare without regard to case; an unknown login matches nothing."""
    return bool(a) and bool(b) and a.lower() == b.lower()


def token_login(client) -> str:
    """The login of the account a PyGithub client's token belongs to.

    `GET /user` answers for personal tokens; installation tokens get a 403 there, and
    GraphQL's `viewer` (which every token may ask) names the App's bot user instead.
    """
    from github import GithubException

    try:
        _, user = client.requester.requestJsonAndCheck("GET", "/user")
        return user["login"]
    except GithubException as error:
        if error.status != 403:
            raise
    _, data = client.requester.graphql_query(VIEWER_QUERY, {})
    return data["data"]["viewer"]["login"]


class Identity:
    """Petrel's own login, fetched once (and once at a time) per process."""

    def __init__(self, fetch: Callable[[], str]):
        self._fetch = fetch
        self._login: str | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def login(self) -> str:
        """The login Petrel writes as; the first caller fetches it, the others wait for it."""
        if self._login is not None:
            return self._login
        with self._lock:
            if self._login is None:
                login = self._fetch()
                if not login:
                    raise ValueError("GitHub named no login for Petrel's credentials")
                self.fetches += 1
                self._login = login
                log.info("Petrel writes on GitHub as %s", login)
            return self._login


class Permissions:
    """Who may steer Petrel on a repository: users with write permission or more, cached a while."""

    def __init__(self, ttl: float = PERMISSION_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._known: dict[tuple[str, str], tuple[bool, float]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self.lookups = 0

    def may_steer(self, client, repository: str, login: str | None) -> bool:
        """True when `login` has write, maintain or admin permission on `repository`."""
        if not login:
            return False
        key = (repository.lower(), login.lower())
        cached = self._fresh(key)
        if cached is not None:
            return cached
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one lookup per user and repository at a time
            cached = self._fresh(key)
            if cached is not None:
                return cached
            allowed = self._lookup(client, repository, login)
            self._known[key] = (allowed, self._clock() + self.ttl)
            return allowed

    def _fresh(self, key: tuple[str, str]) -> bool | None:
        entry = self._known.get(key)
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        return None

    def _lookup(self, client, repository: str, login: str) -> bool:
        from urllib.parse import quote

        from github import GithubException

        self.lookups += 1
        try:
            _, data = client.requester.requestJsonAndCheck(
                "GET", f"/repos/{repository}/collaborators/{quote(login, safe='')}/permission"
            )
        except GithubException as error:
            if error.status in (403, 404):  # no such user, or not one the token may ask about: not a steerer
                log.info(
                    "no permission on %s for %s (%s): their feedback does not count", repository, login, error.status
                )
                return False
            raise
        roles = {str(data.get("permission") or "").lower(), str(data.get("role_name") or "").lower()}
        return bool(roles & STEERING_ROLES)
