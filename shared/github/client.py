"""GitHub access: App authentication, installation tokens, retries and rate limits.

- App: a JWT (RS256, `iat` 60 s back for clock drift, `exp` 9 minutes on) buys an
  installation token; tokens are replaced while they still have a whole job deadline
  left (`PETREL_JOB_TIMEOUT_SECONDS` plus a minute), so none expires under a running
  job, and concurrent requests for one installation share one fetch. A client reads the
  installation's current token at each request, and a 401 (a token revoked early, say)
  drops the cached token, fetches a new one and sends the request once more.
- Single token: `GITHUB_TOKEN`, for one account.
- Retries: 5xx on idempotent requests (a POST that failed with a 502 may still have
  been applied, so it is not repeated here: the job retries and the actions find their
  own markers). Rate limits (403/429 with `retry-after`, or `x-ratelimit-remaining: 0`)
  are waited out for any method, up to a cap and never past the job's deadline; beyond
  that `RetryLater` reschedules the job.
- Writes are spaced per installation (GitHub's guidance against secondary rate limits).
- The job's deadline and lease (shared/runtime/scope.py): every request is refused once the
  job must stop, and its timeout is cut to the time the job has left.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from github import Auth, Github, GithubException
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester, RequestsResponse
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from shared.github.identity import Identity, Permissions, token_login
from shared.runtime import scope as context
from shared.runtime.scope import RetryLater
from shared.runtime.settings import Settings

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = 300  # seconds before expiry at which a cached token is replaced (by default)
TOKEN_SLACK_SECONDS = 60.0  # added to the job deadline for the margin GitHubAccess uses
MIN_TOKEN_USE_SECONDS = 60.0  # a token is kept at least this long, whatever the margin
SECONDARY_RATE_WAIT = 60.0  # GitHub's advice when a secondary limit names no time
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
USER_AGENT = "petrel/0.1"


def app_jwt(app_id: int, private_key: str, now: float | None = None) -> str:
    """A GitHub App JWT: issued 60 s in the past, valid 9 minutes (GitHub allows 10)."""
    now = int(time.time() if now is None else now)
    return jwt.encode({"iat": now - 60, "exp": now + 540, "iss": str(app_id)}, private_key, algorithm="RS256")


def rate_limit_wait(status: int, headers, body: bytes | None, now: float | None = None) -> float | None:
    """Seconds to wait before retrying a rate-limited response, or None if it is not one.

    `retry-after` first, then `x-ratelimit-reset` when the quota is spent, else 60 s
    for a secondary limit that names no time.
    """
    if status not in (403, 429):
        return None
    now = time.time() if now is None else now
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return SECONDARY_RATE_WAIT
    if headers.get("x-ratelimit-remaining") == "0" and (headers.get("x-ratelimit-reset") or "").isdigit():
        return max(0.0, int(headers["x-ratelimit-reset"]) - now) + 1
    message = ""
    if body:
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = body.decode("utf-8", "replace")
    if "rate limit" in message.lower():
        return SECONDARY_RATE_WAIT
    if status == 429:
        return SECONDARY_RATE_WAIT
    return None


class GitHubRetry(Retry):
    """urllib3 retry policy for GitHub (see the module docstring)."""

    def __init__(self, max_wait: float = 60.0, refetch=None, **kwargs):
        kwargs.setdefault("total", 4)
        kwargs.setdefault("backoff_factor", 0.5)
        kwargs["status_forcelist"] = (403, 429, 500, 502, 503, 504)
        kwargs["allowed_methods"] = None  # decided per response in increment()
        kwargs["respect_retry_after_header"] = False  # we compute the wait ourselves
        kwargs["raise_on_status"] = False
        super().__init__(**kwargs)
        self.max_wait = max_wait
        self.refetch = refetch  # installation token after a 401 (`_watched`): refetch(refused) -> new token
        self.wait = 0.0

    def new(self, **kwargs):
        """A copy for the next attempt (urllib3 makes one per retry), keeping `max_wait` and `refetch`."""
        retry = super().new(**kwargs)
        retry.max_wait = self.max_wait
        retry.refetch = self.refetch
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        """Decide whether and when to send a failed request again (a write that may have reached GitHub: never)."""
        context.check(f"{method} {_path(url)} again")  # no retry once the job must stop
        if response is not None:
            if response.status in (403, 429):
                return self._rate_limited(method, url, response, error, _pool, _stacktrace)
            if method not in IDEMPOTENT:
                raise MaxRetryError(_pool, url or "", None)  # urllib3 hands the response back as is
        elif error is not None and method not in IDEMPOTENT and not self._is_connection_error(error):
            raise error  # the request may have reached GitHub: do not send it twice
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        retry.wait = 0.0
        return retry

    def _rate_limited(self, method, url, response, error, _pool, _stacktrace):
        body = None
        wait = rate_limit_wait(response.status, response.headers, None)
        if wait is None:
            body = response.data  # only the body can tell a secondary rate limit from a refusal
            wait = rate_limit_wait(response.status, response.headers, body)
        if wait is None:
            if body is None:
                raise MaxRetryError(_pool, url or "", None)
            # the body was read to decide, so raise here with it, as PyGithub would
            raise GithubException(response.status, _json(body), dict(response.headers))
        left = context.seconds_left()
        cap = self.max_wait if left is None else min(self.max_wait, left - 5)
        if wait > cap:
            raise RetryLater(wait, f"GitHub rate limit on {method} {_path(url)}")
        try:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError:
            raise RetryLater(wait, f"GitHub rate limit on {method} {_path(url)}, retries spent") from None
        log.warning("GitHub rate limit on %s %s: waiting %.0fs", method, _path(url), wait)
        retry.wait = wait
        return retry

    pause = staticmethod(time.sleep)  # tests record the waits instead of sleeping

    def sleep(self, response=None):
        """Wait before the next attempt: as long as a rate limit asked, else the usual backoff."""
        if self.wait:
            self.pause(self.wait)
        else:
            self._sleep_backoff()


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return {"message": body.decode("utf-8", "replace")}


def _path(url: str | None) -> str:
    return (url or "").split("?")[0]


@dataclass
class _Token:
    value: str
    expires_at: float
    fetched_at: float = 0.0


class Installations:
    """Installation tokens for a GitHub App, cached and fetched once at a time per installation.

    A cached token is replaced once less than `margin` seconds of it are left (but a token is
    always kept `MIN_TOKEN_USE_SECONDS`, should GitHub grant shorter ones than the margin).
    """

    def __init__(
        self, app_id: int, private_key: str, api_url: str, margin: float = TOKEN_REFRESH_MARGIN, clock=time.time
    ):
        self.app_id = app_id
        self.private_key = private_key
        self.api_url = api_url
        self.margin = margin
        self._clock = clock
        self._tokens: dict[int, _Token] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.fetches = 0

    def _fresh(self, cached: _Token | None) -> bool:
        if cached is None:
            return False
        margin = min(self.margin, max(0.0, cached.expires_at - cached.fetched_at - MIN_TOKEN_USE_SECONDS))
        return cached.expires_at - margin > self._clock()

    def _lock(self, installation_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(installation_id, threading.Lock())

    def refetch(self, installation_id: int, refused: str) -> str:
        """A new token after GitHub refused `refused` (401): the cached one is dropped if it is
        still that one (concurrent refusals share one fetch), then fetched again."""
        with self._lock(installation_id):
            cached = self._tokens.get(installation_id)
            if cached is not None and cached.value == refused:
                del self._tokens[installation_id]
                log.warning("GitHub refused the token of installation %s (401): fetching a new one", installation_id)
        return self.token(installation_id)

    def token(self, installation_id: int) -> str:
        """An installation token for `installation_id`, fetched once and reused until shortly before it expires."""
        cached = self._tokens.get(installation_id)
        if self._fresh(cached):
            return cached.value
        with self._lock(installation_id):  # concurrent callers wait for the one fetch
            cached = self._tokens.get(installation_id)
            if self._fresh(cached):
                return cached.value
            app = Github(
                base_url=self.api_url,
                auth=Auth.AppAuthToken(app_jwt(self.app_id, self.private_key)),
                retry=GitHubRetry(),
                user_agent=USER_AGENT,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            _, grant = app.requester.requestJsonAndCheck("POST", f"/app/installations/{installation_id}/access_tokens")
            expires_at = datetime.fromisoformat(grant["expires_at"].replace("Z", "+00:00")).timestamp()
            self._tokens[installation_id] = _Token(grant["token"], expires_at, self._clock())
            self.fetches += 1
            log.info(
                "fetched a token for installation %s, valid until %s",
                installation_id,
                datetime.fromtimestamp(expires_at, UTC).isoformat(),
            )
            return grant["token"]


class WriteSpacing:
    """Keeps writes at least `seconds` apart per installation (within this process)."""

    def __init__(self, seconds: float, clock=time.monotonic, sleep=time.sleep):
        self.seconds = seconds
        self._clock = clock
        self._sleep = sleep
        self._next: dict[object, float] = {}
        self._lock = threading.Lock()

    def wait(self, key: object) -> None:
        """Sleep until this writer's slot for `key` comes, booking the next one."""
        with self._lock:  # each writer books the next free slot, then sleeps until it
            now = self._clock()
            slot = max(now, self._next.get(key, 0.0))
            self._next[key] = slot + self.seconds
        if slot > now:
            self._sleep(slot - now)


class _InstallationAuth(Auth.Token):
    """The installation's current token, read at each request: a long job never sends one
    that the cache has replaced."""

    def __init__(self, installations: Installations, installation_id: int):
        self._installations = installations
        self._installation_id = installation_id
        super().__init__(installations.token(installation_id))

    @property
    def token(self) -> str:
        return self._installations.token(self._installation_id)


def _watched(base):
    """PyGithub's connection class `base`, with each request checked against the job
    (`context.check`), its timeout cut to the time the job has left, and a 401 answered by
    one new token and one more try when the client's `GitHubRetry` can refetch one."""

    class Connection(base):
        def getresponse(self):
            response = self._send()
            refetch = getattr(self.retry, "refetch", None)
            if response.status_code == 401 and refetch is not None:
                used = (self.headers.get("Authorization") or "").partition(" ")[2]
                self.headers["Authorization"] = f"token {refetch(used)}"
                response = self._send()  # GitHub refused it unread: sending it again is safe
            return RequestsResponse(response)

        def _send(self):
            context.check(f"{self.verb} {_path(self.url)}")
            timeout = None if self.timeout is None else context.capped(self.timeout)
            return getattr(self.session, self.verb.lower())(
                f"{self.protocol}://{self.host}:{self.port}{self.url}",
                headers=self.headers,
                data=self.input,
                timeout=timeout,
                verify=self.verify,
                allow_redirects=False,
            )

    Connection.__name__ = Connection.__qualname__ = f"Watched{base.__name__}"
    return Connection


# PyGithub (pinned) has no per-request hook and clones its requester for lazy objects, so
# the connection classes every requester builds are replaced, once, here. Outside a job
# and without a refetch they behave as PyGithub's own (tests/test_github.py covers both).
Requester._Requester__httpConnectionClass = _watched(HTTPRequestsConnectionClass)
Requester._Requester__httpsConnectionClass = _watched(HTTPSRequestsConnectionClass)


class GitHubAccess:
    """Builds PyGithub clients for installations (or for the single token)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # a token is replaced while it still outlasts a whole job started now
        margin = settings.job_timeout_seconds + TOKEN_SLACK_SECONDS
        self.installations = (
            Installations(settings.app_id, settings.private_key, settings.api_url, margin=margin)
            if settings.app_id and settings.private_key
            else None
        )
        self.spacing = WriteSpacing(settings.github_write_spacing_seconds)
        self.identity = Identity(self._learn_login)
        self.permissions = Permissions()

    def client(self, installation_id: int | None) -> Github:
        """A client authenticated for the installation; each request names the delivery."""
        refetch = None
        if self.settings.token:
            auth = Auth.Token(self.settings.token)
        elif self.installations is not None:
            if installation_id is None:
                raise ValueError("this delivery names no installation: a GitHub App cannot act on it")
            auth = _InstallationAuth(self.installations, installation_id)
            installations = self.installations

            def refetch(refused: str) -> str:
                return installations.refetch(installation_id, refused)
        else:
            raise ValueError("no GitHub credentials: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY, or GITHUB_TOKEN")
        return Github(
            base_url=self.settings.api_url,
            auth=auth,
            retry=GitHubRetry(max_wait=self.settings.github_max_wait_seconds, refetch=refetch),
            user_agent=f"{USER_AGENT} (delivery {context.delivery_id.get()})",
            seconds_between_requests=None,
            seconds_between_writes=None,
            timeout=max(1, round(self.settings.github_timeout_seconds)),  # PyGithub takes whole seconds
        )

    def before_write(self, installation_id: int | None) -> None:
        """Called before each write: stop if the job must stop, then keep the installation's writes spaced."""
        context.check("a write to GitHub")
        self.spacing.wait(installation_id)

    def login(self) -> str:
        """Petrel's own login on GitHub, learned once per process (shared/github/identity.py)."""
        return self.identity.login()

    def may_steer(self, client, repository: str, login: str | None) -> bool:
        """True when `login` has write permission or more on `repository` (cached a while)."""
        return self.permissions.may_steer(client, repository, login)

    def _learn_login(self) -> str:
        if self.settings.token:
            return token_login(self.client(None))
        if self.installations is None:
            raise ValueError("no GitHub credentials: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY, or GITHUB_TOKEN")
        # GET /app takes the App's JWT (an installation token is refused there)
        app = Github(
            base_url=self.settings.api_url,
            auth=Auth.AppAuthToken(app_jwt(self.settings.app_id, self.settings.private_key)),
            retry=GitHubRetry(max_wait=self.settings.github_max_wait_seconds),
            user_agent=USER_AGENT,
            seconds_between_requests=None,
            seconds_between_writes=None,
            timeout=max(1, round(self.settings.github_timeout_seconds)),
        )
        _, data = app.requester.requestJsonAndCheck("GET", "/app")
        return f"{data['slug']}[bot]"
