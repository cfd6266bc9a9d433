"""shared/github/client against the fake GitHub: App JWT and tokens, single token, GHES, retries, rate limits."""

from __future__ import annotations

import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.github import FakeGitHub
from github import BadCredentialsException, GithubException

from shared.github import actions
from shared.github.client import GitHubAccess, GitHubRetry, Installations, WriteSpacing, app_jwt, rate_limit_wait
from shared.runtime import scope as context
from shared.runtime import settings
from shared.runtime.scope import RetryLater

REPO = "octo-org/app"
TOKEN = "ghp_" + "a" * 36


@pytest.fixture
def key(app_key):
    return app_key


@pytest.fixture
def fake(key):
    github = FakeGitHub(app_id=4242).start()
    github.set_app_key(key[1])
    github.add_repo(REPO, installation_id=7)
    github.add_issue(REPO, 1)
    github.add_token(TOKEN, login="octo-bot", repos=[REPO])
    yield github
    github.stop()


def access(fake, key=None, **extra) -> GitHubAccess:
    values = {"GITHUB_API_URL": fake.url, "PETREL_GITHUB_WRITE_SPACING_SECONDS": "0", **extra}
    if key:
        values.update(GITHUB_APP_ID="4242", GITHUB_PRIVATE_KEY=key[0])
    elif "GITHUB_TOKEN" not in extra:
        values["GITHUB_TOKEN"] = TOKEN
    return GitHubAccess(settings.from_env(values))


def test_app_jwt_claims(key):
    now = 1_800_000_000
    claims = jwt.decode(
        app_jwt(4242, key[0], now=now), key[1], algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {"iat": now - 60, "exp": now + 540, "iss": "4242"}
    assert claims["exp"] - claims["iat"] <= 600


def test_installation_token_is_fetched_once_and_cached(fake, key):
    installations = Installations(4242, key[0], fake.url)
    first = installations.token(7)
    assert installations.token(7) == first
    assert [t["installation_id"] for t in fake.tokens_issued] == [7]
    assert fake.tokens_issued[0]["token"] == first


def test_token_is_replaced_while_it_still_outlasts_a_job(fake, key):
    now = [time.time()]
    installations = access(fake, key, PETREL_JOB_TIMEOUT_SECONDS="600").installations
    installations._clock = lambda: now[0]
    first = installations.token(7)  # valid for an hour
    now[0] += 3600 - 700  # 700 s left: more than the job's 600 s plus a minute
    assert installations.token(7) == first
    now[0] += 50  # 650 s left: a job started now could outlive it
    assert installations.token(7) != first
    assert len(fake.tokens_issued) == 2


def test_a_token_is_kept_a_minute_even_when_tokens_are_shorter_than_a_job(fake, key):
    fake.token_ttl_seconds = 299  # GitHub grants less than the margin: refetching would not help
    installations = Installations(4242, key[0], fake.url, margin=660)
    installations.token(7)
    installations.token(7)
    assert len(fake.tokens_issued) == 1


def test_concurrent_requests_for_one_installation_share_one_fetch(fake, key):
    installations = Installations(4242, key[0], fake.url)
    barrier = threading.Barrier(12)
    tokens = []

    def fetch():
        barrier.wait()
        tokens.append(installations.token(7))

    threads = [threading.Thread(target=fetch) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and len(tokens) == 12
    assert len(fake.tokens_issued) == 1


def test_wrong_app_key_is_refused(fake):
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(GithubException) as error:
        Installations(4242, other, fake.url).token(7)
    assert error.value.status == 401


def test_app_client_acts_as_the_installation(fake, key):
    client = access(fake, key).client(7)
    comment = client.get_repo(REPO).get_issue(1).create_comment("hello")
    assert comment.user.login == "petrel[bot]"


def test_app_client_needs_an_installation(fake, key):
    with pytest.raises(ValueError, match="names no installation"):
        access(fake, key).client(None)


def test_single_token_mode(fake):
    client = access(fake).client(None)
    assert client.get_repo(REPO).get_issue(1).create_comment("hi").user.login == "octo-bot"
    with pytest.raises(BadCredentialsException):
        access(fake, GITHUB_TOKEN="ghp_" + "b" * 36).client(None).get_repo(REPO).get_issue(1)


def test_github_enterprise_server_base_url(fake):
    client = access(fake, GITHUB_API_URL=fake.url + "/api/v3").client(None)
    assert client.get_repo(REPO).full_name == REPO
    assert fake.requests[-1].raw_path == f"/api/v3/repos/{REPO}"


def test_unknown_path_is_404(fake):
    client = access(fake).client(None)
    with pytest.raises(GithubException) as error:
        client.get_repo("octo-org/missing")
    assert error.value.status == 404


def test_server_errors_on_reads_are_retried(fake):
    fake.fail("GET", rf"^/repos/{REPO}$", 502, times=2)
    assert access(fake).client(None).get_repo(REPO).full_name == REPO
    assert [r.status for r in fake.requests if r.path == f"/repos/{REPO}"] == [502, 502, 200]


def test_server_error_on_a_write_is_not_repeated(fake):
    fake.fail("POST", r"/issues/1/comments$", 502)
    issue = access(fake).client(None).get_repo(REPO).get_issue(1)
    with pytest.raises(GithubException) as error:
        issue.create_comment("once")
    assert error.value.status == 502
    assert len([r for r in fake.requests if r.method == "POST"]) == 1


@pytest.fixture
def waits(monkeypatch):
    """The rate-limit waits GitHubRetry makes, recorded instead of slept."""
    recorded = []
    monkeypatch.setattr(GitHubRetry, "pause", staticmethod(recorded.append))
    return recorded


def test_secondary_rate_limit_with_retry_after_is_waited_out_then_written_once(fake, waits):
    fake.fail("POST", r"/issues/1/comments$", 403, headers={"retry-after": "3"})
    issue = access(fake).client(None).get_repo(REPO).get_issue(1)
    issue.create_comment("after the limit")
    posts = [r for r in fake.requests if r.method == "POST"]
    assert [r.status for r in posts] == [403, 201]
    assert waits == [3.0]
    assert [c["body"] for c in fake.comments(REPO, 1)] == ["after the limit"]


def test_primary_rate_limit_waits_until_the_reset(fake, waits):
    reset = int(time.time()) + 20
    fake.fail("GET", rf"^/repos/{REPO}$", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    assert access(fake).client(None).get_repo(REPO).full_name == REPO
    calls = [r for r in fake.requests if r.path == f"/repos/{REPO}"]
    assert [r.status for r in calls] == [403, 200]
    assert len(waits) == 1 and 19 <= waits[0] <= 21  # until the reset, plus a second


def test_rate_limit_beyond_the_cap_reschedules_the_job(fake):
    fake.fail("POST", r"/issues/1/comments$", 429, headers={"retry-after": "120"})
    issue = access(fake, PETREL_GITHUB_MAX_WAIT_SECONDS="60").client(None).get_repo(REPO).get_issue(1)
    with pytest.raises(RetryLater) as later:
        issue.create_comment("later")
    assert later.value.seconds == 120
    assert fake.comments(REPO, 1) == []


def test_rate_limit_past_the_job_deadline_reschedules_the_job(fake):
    fake.fail("GET", rf"^/repos/{REPO}$", 403, headers={"retry-after": "30"})
    client = access(fake, PETREL_GITHUB_MAX_WAIT_SECONDS="60").client(None)
    with context.working_on("d-1", timeout_seconds=10), pytest.raises(RetryLater) as later:
        client.get_repo(REPO)
    assert later.value.seconds == 30


def test_secondary_rate_limit_named_only_in_the_body_waits_60s(fake):
    fake.fail("GET", rf"^/repos/{REPO}$", 403, body={"message": "You have exceeded a secondary rate limit."})
    client = access(fake, PETREL_GITHUB_MAX_WAIT_SECONDS="10").client(None)
    with pytest.raises(RetryLater) as later:
        client.get_repo(REPO)
    assert later.value.seconds == 60


def test_forbidden_that_is_not_a_rate_limit_fails_at_once(fake):
    fake.fail("GET", rf"^/repos/{REPO}$", 403, body={"message": "Resource not accessible by integration"})
    with pytest.raises(GithubException) as error:
        access(fake).client(None).get_repo(REPO)
    assert error.value.status == 403 and "not accessible" in error.value.data["message"]
    assert len([r for r in fake.requests if r.path == f"/repos/{REPO}"]) == 1


@pytest.mark.parametrize(
    "status,headers,body,expected",
    [
        (403, {"retry-after": "7"}, None, 7.0),
        (429, {"retry-after": "0"}, None, 0.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000"}, None, 11.0),
        (403, {}, b'{"message": "secondary rate limit"}', 60.0),
        (429, {}, None, 60.0),
        (403, {}, b'{"message": "Must have admin rights"}', None),
        (404, {"retry-after": "5"}, None, None),
    ],
)
def test_rate_limit_wait(status, headers, body, expected):
    assert rate_limit_wait(status, headers, body, now=990) == expected


def test_writes_are_spaced_per_installation():
    now = [100.0]
    slept = []
    spacing = WriteSpacing(1.0, clock=lambda: now[0], sleep=slept.append)
    spacing.wait(7)  # first write: at once
    spacing.wait(7)  # second: one second after the first
    now[0] += 0.25
    spacing.wait(7)  # third: booked after the second, 1.75 s from now
    spacing.wait(8)  # another installation is not held back
    now[0] += 5
    spacing.wait(7)  # long after: at once
    assert slept == [1.0, 1.75]


def test_the_executor_spaces_every_write_and_only_writes(fake):
    calls = []
    client = access(fake).client(None)
    plan = [actions.UpsertComment(REPO, 1, f"k{n}", "text") for n in range(3)]
    plan.append(actions.UpsertComment(REPO, 1, "k0", "text"))  # unchanged: no write
    actions.execute(plan, client, lambda: calls.append(len([r for r in fake.requests if r.method == "POST"])))
    assert calls == [0, 1, 2]  # called before each of the three POSTs, never for reads


def test_a_read_that_times_out_is_retried(fake):
    fake.slow("GET", rf"^/repos/{REPO}$", 3)
    client = access(fake, PETREL_GITHUB_TIMEOUT_SECONDS="1").client(None)
    assert client.get_repo(REPO).full_name == REPO
    assert len([r for r in fake.requests if r.path == f"/repos/{REPO}"]) == 2


def test_a_write_that_times_out_is_not_sent_again(fake):
    fake.slow("POST", r"/issues/1/comments$", 3)
    issue = access(fake, PETREL_GITHUB_TIMEOUT_SECONDS="1").client(None).get_repo(REPO).get_issue(1)
    with pytest.raises(Exception):  # noqa: B017 (a timeout, as PyGithub or requests raises it)
        issue.create_comment("once")
    time.sleep(0.1)
    assert len([r for r in fake.requests if r.method == "POST"]) == 1  # the job retries; its marker finds this one


# --- who Petrel is, and who may steer it (shared/github/identity.py) ---------------------------------


def test_the_apps_identity_is_learned_once_from_get_app_with_the_jwt(fake, key):
    github = access(fake, key)
    logins = []
    threads = [threading.Thread(target=lambda: logins.append(github.login())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert logins == ["petrel[bot]"] * 8
    [read] = [r for r in fake.requests if r.path == "/app"]
    assert read.status == 200 and read.headers["authorization"].startswith("Bearer ")  # the JWT
    assert github.identity.fetches == 1


def test_a_single_tokens_identity_is_its_user(fake):
    github = access(fake)
    assert github.login() == github.login() == "octo-bot"
    assert [r.path for r in fake.requests] == ["/user"]


def test_an_installation_token_as_the_single_token_is_named_by_graphql(fake, key):
    # the GITHUB_TOKEN of a workflow is such a token: GET /user refuses it, GraphQL's viewer names the bot
    token = Installations(4242, key[0], fake.url).token(7)
    assert access(fake, GITHUB_TOKEN=token).login() == "petrel[bot]"
    assert [(r.method, r.path, r.status) for r in fake.requests[1:]] == [
        ("GET", "/user", 403),
        ("POST", "/graphql", 200),
    ]


def test_permission_to_steer_is_write_or_more_and_is_cached_for_a_while(fake):
    from shared.github.identity import Permissions

    for login, role in (("ada", "admin"), ("max", "maintain"), ("wes", "write"), ("tia", "triage"), ("rey", "read")):
        fake.set_permission(REPO, login, role)
    now = [0.0]
    permissions = Permissions(ttl=600, clock=lambda: now[0])
    client = access(fake).client(None)
    steer = {login: permissions.may_steer(client, REPO, login) for login in ("ada", "max", "wes", "tia", "rey")}
    assert steer == {"ada": True, "max": True, "wes": True, "tia": False, "rey": False}
    assert permissions.may_steer(client, REPO, "no-such-user") is False  # 404: nobody
    assert permissions.may_steer(client, REPO.upper(), "WES") is True  # cached: names compare without case
    assert fake.permission_lookups() == ["ada", "max", "wes", "tia", "rey", "no-such-user"]
    fake.set_permission(REPO, "wes", "read")  # access withdrawn: it counts until the cache expires
    assert permissions.may_steer(client, REPO, "wes") is True
    now[0] += 601
    assert permissions.may_steer(client, REPO, "wes") is False
    assert permissions.lookups == 7


# --- the job's deadline and lease -----------------------------------------------------------


def test_no_request_is_sent_once_the_deadline_has_passed(fake):
    client = access(fake).client(None)
    with context.working_on("d-late", timeout_seconds=0), pytest.raises(context.DeadlineExceeded):
        client.get_repo(REPO).get_issue(1).create_comment("too late")
    assert fake.requests == [] and fake.comments(REPO, 1) == []


def test_a_request_timeout_is_cut_to_the_time_the_job_has_left(fake):
    fake.slow("GET", rf"^/repos/{REPO}$", 3, times=5)  # within the 20 s request timeout
    client = access(fake, PETREL_GITHUB_TIMEOUT_SECONDS="20").client(None)
    with context.working_on("d-short", timeout_seconds=1), pytest.raises(context.DeadlineExceeded):
        client.get_repo(REPO)  # times out at the deadline, and is not tried again past it
    assert len([r for r in fake.requests if r.path == f"/repos/{REPO}"]) == 1


def test_a_job_whose_lease_ran_out_writes_nothing(fake):
    lapsed = context.Lease(30, renewed_at=time.monotonic() - 31)  # its heartbeat could not renew it
    client = access(fake).client(None)
    issue = client.get_repo(REPO).get_issue(1)
    with context.working_on("d-lapsed", timeout_seconds=600, lease=lapsed), pytest.raises(context.LeaseLost):
        actions.execute([actions.UpsertComment(REPO, 1, "k", "text")], client)
    taken = context.Lease(30)
    taken.lose("another worker took the job back")
    with context.working_on("d-taken", timeout_seconds=600, lease=taken), pytest.raises(context.LeaseLost):
        issue.create_comment("not mine any more")
    assert fake.comments(REPO, 1) == []


def test_a_revoked_installation_token_is_fetched_again_once(fake, key):
    client = access(fake, key).client(7)
    issue = client.get_repo(REPO).get_issue(1)
    fake.revoke_token(fake.tokens_issued[0]["token"])
    issue.create_comment("after the revocation")  # 401, a new token, the same request again
    assert len(fake.tokens_issued) == 2
    assert [r.status for r in fake.requests if r.method == "POST" and r.path.endswith("/comments")] == [401, 201]
    issue.create_comment("with the new token")  # the client uses the new token from now on
    assert [c["body"] for c in fake.comments(REPO, 1)] == ["after the revocation", "with the new token"]
    assert len(fake.tokens_issued) == 2


def test_a_second_401_is_not_fetched_for_again(fake, key):
    client = access(fake, key).client(7)
    fake.fail("GET", rf"^/repos/{REPO}$", 401, times=5)
    with pytest.raises(BadCredentialsException):
        client.get_repo(REPO)
    assert len(fake.tokens_issued) == 2  # the first, and one more after the first 401
    assert len([r for r in fake.requests if r.path == f"/repos/{REPO}"]) == 2


def test_a_401_with_the_single_token_is_not_retried(fake):
    client = access(fake).client(None)
    fake.fail("GET", rf"^/repos/{REPO}$", 401, times=5)
    with pytest.raises(BadCredentialsException):
        client.get_repo(REPO)
    assert len([r for r in fake.requests if r.path == f"/repos/{REPO}"]) == 1
