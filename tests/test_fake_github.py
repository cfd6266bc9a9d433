"""Tests for tests/fake_github.py, driven through the real PyGithub client."""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, BadCredentialsException, Github, GithubException, GithubIntegration, UnknownObjectException
from jwt.api_jws import PyJWS

from tests.fake_github import FakeGitHub

APP_ID = 4242
INSTALLATION = 7
REPO = "acme/widgets"
OTHER_REPO = "acme/secret"
OTHER_INSTALL_REPO = "elsewhere/thing"
HEAD_SHA = "a" * 40
FAST = {"retry": None, "seconds_between_requests": None, "seconds_between_writes": None}


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return _pem_pair()


@pytest.fixture
def fake(keys):
    private, public = keys
    with FakeGitHub(app_id=APP_ID, app_slug="petrel") as f:
        f.set_app_key(public)
        f.add_repo(REPO, installation_id=INSTALLATION)
        f.add_repo(OTHER_REPO)  # not installed
        f.add_repo(OTHER_INSTALL_REPO, installation_id=99)
        f.add_issue(REPO, 1, title="an issue", body="issue body")
        f.add_issue(REPO, 2, title="a PR", pull_request=True, head_sha=HEAD_SHA)
        f.add_token("user-token", login="alice")
        f.add_token("narrow-token", login="bob", repos=[OTHER_REPO])
        yield f


def make_jwt(private: str, *, iat_offset: int = -60, exp_offset: int = 540, iss=APP_ID, alg="RS256", key=None) -> str:
    now = int(time.time())
    claims = {"iat": now + iat_offset, "exp": now + exp_offset, "iss": iss}
    # PyJWS signs the raw payload, so an integer ``iss`` (PyJWT's encode refuses one) is possible.
    return PyJWS().encode(json.dumps(claims).encode(), key if key is not None else private, algorithm=alg)


def install_token(fake: FakeGitHub, private: str, installation_id: int = INSTALLATION) -> str:
    r = requests.post(
        f"{fake.url}/app/installations/{installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {make_jwt(private)}", "Accept": "application/vnd.github+json"},
        timeout=5,
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


def gh(fake: FakeGitHub, token: str, base_url: str | None = None) -> Github:
    return Github(base_url=base_url or fake.url, auth=Auth.Token(token), **FAST)


# --------------------------------------------------------------------------- App auth


def test_github_integration_issues_installation_token(fake, keys):
    private, _ = keys
    integration = GithubIntegration(base_url=fake.url, auth=Auth.AppAuth(APP_ID, private), **FAST)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    auth = integration.get_access_token(INSTALLATION)
    assert auth.token.startswith("ghs_")
    assert before + timedelta(seconds=3590) <= auth.expires_at <= before + timedelta(seconds=3610)
    assert fake.tokens_issued == [
        {"installation_id": INSTALLATION, "token": auth.token, "expires_at": fake.tokens_issued[0]["expires_at"]}
    ]
    assert fake.tokens_issued[0]["expires_at"].endswith("Z")
    post = [r for r in fake.requests if r.method == "POST"][0]
    assert post.path == f"/app/installations/{INSTALLATION}/access_tokens"
    assert post.status == 201
    assert post.headers["authorization"].startswith("Bearer ")
    assert post.headers["Authorization"] == post.headers["authorization"]  # case-insensitive

    app = integration.get_app()
    assert (app.id, app.slug, app.name) == (APP_ID, "petrel", "Petrel")

    # The issued token works for the installation's repo, as the bot.
    comment = gh(fake, auth.token).get_repo(REPO).get_issue(1).create_comment("hello from the app")
    assert comment.user.login == "petrel[bot]"
    assert comment.user.type == "Bot"
    assert fake.comments(REPO, 1)[0]["user"]["login"] == "petrel[bot]"


def test_app_installation_auth_end_to_end(fake, keys):
    private, _ = keys
    auth = Auth.AppAuth(APP_ID, private).get_installation_auth(INSTALLATION)
    repo = Github(base_url=fake.url, auth=auth, **FAST).get_repo(REPO)
    assert repo.full_name == REPO and repo.default_branch == "main"
    repo.get_issue(1).create_comment("via AppInstallationAuth")
    assert len(fake.tokens_issued) == 1
    assert [c["body"] for c in fake.comments(REPO, 1)] == ["via AppInstallationAuth"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"iat_offset": -60, "exp_offset": 1200}, "too far in the future"),  # exp 20 minutes ahead
        ({"iat_offset": -700, "exp_offset": -100}, "'Expiration time' claim"),  # expired
        ({"iat_offset": 300, "exp_offset": 600}, "'Issued at' claim"),  # iat in the future
        ({"iss": 1}, "'Issuer' claim"),
    ],
)
def test_bad_jwt_claims_are_refused(fake, keys, kwargs, message):
    private, _ = keys
    r = requests.post(
        f"{fake.url}/app/installations/{INSTALLATION}/access_tokens",
        headers={"Authorization": f"Bearer {make_jwt(private, **kwargs)}"},
        timeout=5,
    )
    assert r.status_code == 401
    assert message in r.json()["message"]
    assert fake.tokens_issued == []


def test_jwt_string_iss_accepted_and_bad_signatures_refused(fake, keys):
    private, _ = keys
    str_iss = make_jwt(private, iss=str(APP_ID))
    ok = requests.get(f"{fake.url}/app", headers={"Authorization": f"Bearer {str_iss}"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["slug"] == "petrel"

    other_private, _ = _pem_pair()
    bad_tokens = [
        make_jwt(private, key=other_private),  # signed with another key
        make_jwt(private, alg="HS256", key="secret-secret-secret-secret-secret"),  # wrong algorithm
        "not.a.jwt",
    ]
    for token in bad_tokens:
        r = requests.get(f"{fake.url}/app", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert r.status_code == 401
        assert r.json()["message"] == "A JSON web token could not be decoded"
    # An installation token is not an App JWT.
    r = requests.get(f"{fake.url}/app", headers={"Authorization": "token user-token"}, timeout=5)
    assert r.status_code == 401


def test_unknown_installation_is_404_and_expired_installation_token_is_401(fake, keys):
    private, _ = keys
    r = requests.post(
        f"{fake.url}/app/installations/12345/access_tokens",
        headers={"Authorization": f"Bearer {make_jwt(private)}"},
        timeout=5,
    )
    assert r.status_code == 404 and r.json()["message"] == "Not Found"

    fake.token_ttl_seconds = 0
    token = install_token(fake, private)
    with pytest.raises(BadCredentialsException):
        gh(fake, token).get_repo(REPO)


# --------------------------------------------------------------------------- token auth and visibility


def test_bad_missing_and_narrow_tokens(fake, keys):
    private, _ = keys
    with pytest.raises(BadCredentialsException) as exc:
        gh(fake, "nope").get_repo(REPO)
    assert exc.value.status == 401
    assert exc.value.data["message"] == "Bad credentials" and "documentation_url" in exc.value.data

    r = requests.get(f"{fake.url}/repos/{REPO}", timeout=5)
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"

    # add_token with repos: sees only those repos
    narrow = gh(fake, "narrow-token")
    assert narrow.get_repo(OTHER_REPO).full_name == OTHER_REPO
    with pytest.raises(UnknownObjectException):
        narrow.get_repo(REPO)

    # installation tokens see only their installation's repos
    inst = gh(fake, install_token(fake, private))
    assert inst.get_repo(REPO).id
    for hidden in (OTHER_REPO, OTHER_INSTALL_REPO, "acme/missing"):
        with pytest.raises(UnknownObjectException):
            inst.get_repo(hidden)


def test_unknown_path_and_wrong_method_are_404(fake):
    h = {"Authorization": "token user-token"}
    for method, path in [
        ("GET", "/no/such/thing"),
        ("GET", f"/repos/{REPO}/issues/999"),
        ("GET", f"/repos/{REPO}/pulls/1"),  # an issue, not a PR
        ("DELETE", f"/repos/{REPO}/issues/1"),
        ("PUT", f"/repos/{REPO}"),
        ("POST", f"/repos/{REPO}/issues/1"),
    ]:
        r = requests.request(method, fake.url + path, headers=h, timeout=5)
        assert r.status_code == 404, (method, path)
        assert r.json()["message"] == "Not Found"
    with pytest.raises(UnknownObjectException):
        gh(fake, "user-token").get_repo(REPO).get_pull(1)


def test_every_response_has_github_headers(fake):
    for url, headers in [
        (f"{fake.url}/repos/{REPO}", {"Authorization": "token user-token"}),
        (f"{fake.url}/nowhere", {"Authorization": "token user-token"}),
        (f"{fake.url}/repos/{REPO}", {}),
    ]:
        r = requests.get(url, headers=headers, timeout=5)
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-github-request-id"):
            assert r.headers.get(name), name
        assert int(r.headers["x-ratelimit-reset"]) > time.time()
    assert [r.status for r in fake.requests] == [200, 404, 401]


# --------------------------------------------------------------------------- issues, PRs, comments


def test_issue_and_pull_shapes(fake):
    repo = gh(fake, "user-token").get_repo(REPO)
    issue = repo.get_issue(1)
    assert (issue.number, issue.title, issue.body, issue.user.login) == (1, "an issue", "issue body", "octocat")
    assert issue.pull_request is None
    assert issue.created_at.tzinfo is not None
    pr_issue = repo.get_issue(2)
    assert pr_issue.pull_request is not None
    pr = repo.get_pull(2)
    assert (pr.number, pr.head.sha, pr.base.ref, pr.draft, pr.state) == (2, HEAD_SHA, "main", False, "open")
    assert pr.user.login == "octocat"


def test_comments_paginate_across_pages(fake):
    for i in range(149):
        fake.add_comment(REPO, 1, f"seed {i}", user="carol")
    issue = gh(fake, "user-token").get_repo(REPO).get_issue(1)
    mine = issue.create_comment("the 150th")
    assert mine.user.login == "alice" and mine.user.type == "User"

    bodies = [c.body for c in issue.get_comments()]
    assert bodies == [f"seed {i}" for i in range(149)] + ["the 150th"]
    pages = [
        r.query.get("page", "1")
        for r in fake.requests
        if r.path == f"/repos/{REPO}/issues/1/comments" and r.method == "GET"
    ]
    assert pages == ["1", "2", "3", "4", "5"]  # 30 per page by default
    assert issue.get_comments().totalCount == 150

    h = {"Authorization": "token user-token"}
    r = requests.get(f"{fake.url}/repos/{REPO}/issues/1/comments", params={"per_page": 500}, headers=h, timeout=5)
    assert len(r.json()) == 100  # capped at 100
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.headers["Link"]))
    assert set(links) == {"next", "last"}
    assert "page=2" in links["next"] and "per_page=100" in links["next"] and "page=2" in links["last"]
    r2 = requests.get(links["next"], headers=h, timeout=5)
    assert [c["body"] for c in r2.json()] == [f"seed {i}" for i in range(100, 149)] + ["the 150th"]
    assert "next" not in r2.headers["Link"] and 'rel="prev"' in r2.headers["Link"]


def test_comment_get_and_edit_rules(fake):
    theirs = fake.add_comment(REPO, 1, "octocat wrote this")
    repo = gh(fake, "user-token").get_repo(REPO)
    mine = repo.get_issue(1).create_comment("draft")
    mine.edit("final")
    assert mine.body == "final"
    assert repo.get_issue(1).get_comment(mine.id).body == "final"
    assert [c["body"] for c in fake.comments(REPO, 1)] == ["octocat wrote this", "final"]

    with pytest.raises(GithubException) as exc:
        repo.get_issue(1).get_comment(theirs["id"]).edit("hijack")
    assert exc.value.status == 403
    assert fake.comments(REPO, 1)[0]["body"] == "octocat wrote this"

    with pytest.raises(GithubException) as exc:
        mine.edit("")
    assert exc.value.status == 422
    assert exc.value.data["message"] == "Validation Failed"
    assert exc.value.data["errors"][0]["field"] == "body"

    h = {"Authorization": "token user-token"}
    too_long = requests.post(
        f"{fake.url}/repos/{REPO}/issues/1/comments", json={"body": "x" * 65537}, headers=h, timeout=5
    )
    assert too_long.status_code == 422 and too_long.json()["errors"]
    at_limit = requests.post(
        f"{fake.url}/repos/{REPO}/issues/1/comments", json={"body": "x" * 65536}, headers=h, timeout=5
    )
    assert at_limit.status_code == 201
    missing = requests.patch(theirs["url"], json={}, headers={"Authorization": "token x"}, timeout=5)
    assert missing.status_code == 401
    # a comment id from another repo is not found under this repo
    fake.add_issue(OTHER_REPO, 1)
    elsewhere = fake.add_comment(OTHER_REPO, 1, "elsewhere")
    r = requests.get(f"{fake.url}/repos/{REPO}/issues/comments/{elsewhere['id']}", headers=h, timeout=5)
    assert r.status_code == 404


# --------------------------------------------------------------------------- reactions, labels, reviews


def test_reactions(fake, keys):
    private, _ = keys
    token = install_token(fake, private)
    comment = gh(fake, token).get_repo(REPO).get_issue(1).create_comment("react to me")
    reaction = comment.create_reaction("eyes")
    assert reaction.content == "eyes" and reaction.user.login == "petrel[bot]"

    url = f"{fake.url}/repos/{REPO}/issues/comments/{comment.id}/reactions"
    h = {"Authorization": f"token {token}"}
    again = requests.post(url, json={"content": "eyes"}, headers=h, timeout=5)
    assert again.status_code == 200 and again.json()["id"] == reaction.id
    other = requests.post(url, json={"content": "rocket"}, headers=h, timeout=5)
    assert other.status_code == 201
    bad = requests.post(url, json={"content": "thumbsup"}, headers=h, timeout=5)
    assert bad.status_code == 422 and bad.json()["message"] == "Validation Failed"

    assert [r["content"] for r in fake.reactions(REPO, comment.id)] == ["eyes", "rocket"]
    assert [r.content for r in comment.get_reactions()] == ["eyes", "rocket"]


def test_labels(fake):
    repo = gh(fake, "user-token").get_repo(REPO)
    issue = repo.get_issue(1)
    issue.add_to_labels("bug", "needs-triage")  # PyGithub sends a bare list
    issue.add_to_labels("BUG")  # case-insensitive, no duplicate
    r = requests.post(
        f"{fake.url}/repos/{REPO}/issues/1/labels",
        json={"labels": ["question"]},
        headers={"Authorization": "token user-token"},
        timeout=5,
    )
    assert r.status_code == 200
    assert [l["name"] for l in r.json()] == ["bug", "needs-triage", "question"]
    assert fake.labels_on(REPO, 1) == ["bug", "needs-triage", "question"]
    assert [l.name for l in repo.get_issue(1).labels] == ["bug", "needs-triage", "question"]
    names = [l.name for l in repo.get_labels()]
    assert names == ["bug", "enhancement", "duplicate", "question", "needs-triage"]
    assert fake.labels_on(REPO, 2) == []


def test_reviews(fake, keys):
    private, _ = keys
    token = install_token(fake, private)
    pr = gh(fake, token).get_repo(REPO).get_pull(2)
    review = pr.create_review(
        body="summary",
        event="COMMENT",
        comments=[{"path": "src/app.py", "line": 3, "side": "RIGHT", "body": "nit"}],
    )
    assert review.state == "COMMENTED" and review.commit_id == HEAD_SHA and review.user.login == "petrel[bot]"
    assert [(r.id, r.body) for r in pr.get_reviews()] == [(review.id, "summary")]
    stored = fake.reviews(REPO, 2)
    assert stored[0]["comments"][0]["path"] == "src/app.py" and stored[0]["comments"][0]["line"] == 3

    # reactions on the review comment go through /pulls/comments/{id}/reactions
    rc_id = stored[0]["comments"][0]["id"]
    h = {"Authorization": f"token {token}"}
    plus_one = {"content": "+1"}
    r = requests.post(f"{fake.url}/repos/{REPO}/pulls/comments/{rc_id}/reactions", json=plus_one, headers=h, timeout=5)
    assert r.status_code == 201
    assert [x["content"] for x in fake.reactions(REPO, rc_id)] == ["+1"]
    r = requests.post(f"{fake.url}/repos/{REPO}/issues/comments/{rc_id}/reactions", json=plus_one, headers=h, timeout=5)
    assert r.status_code == 404  # not an issue comment

    with pytest.raises(GithubException) as exc:
        pr.create_review(body="lgtm", event="APPROVE")
    assert exc.value.status == 422
    assert len(fake.reviews(REPO, 2)) == 1
    r = requests.post(f"{fake.url}/repos/{REPO}/pulls/1/reviews", json={"body": "x"}, headers=h, timeout=5)
    assert r.status_code == 404  # issue 1 is not a PR


# --------------------------------------------------------------------------- faults, GHES, concurrency, lifecycle


def test_fault_injection_once_then_normal(fake):
    reset = str(int(time.time()) + 30)
    fake.fail(
        "POST",
        r"/issues/\d+/comments$",
        403,
        headers={"retry-after": "7", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
    )
    h = {"Authorization": "token nobody-at-all"}  # faults apply before auth
    url = f"{fake.url}/repos/{REPO}/issues/1/comments"
    r = requests.post(url, json={"body": "x"}, headers=h, timeout=5)
    assert r.status_code == 403
    assert r.headers["retry-after"] == "7"
    assert r.headers["x-ratelimit-remaining"] == "0" and r.headers["x-ratelimit-reset"] == reset
    assert r.json()["message"].startswith("API rate limit exceeded")
    assert requests.post(url, json={"body": "x"}, headers=h, timeout=5).status_code == 401  # normal service again
    assert fake.comments(REPO, 1) == []

    fake.fail("GET", r"^/repos/acme/widgets$", 502, times=2, body={"message": "Server Error"})
    g = gh(fake, "user-token")
    for _ in range(2):
        with pytest.raises(GithubException) as exc:
            g.get_repo(REPO)
        assert exc.value.status == 502
    assert g.get_repo(REPO).full_name == REPO
    assert [r.status for r in fake.requests if r.path == f"/repos/{REPO}"] == [502, 502, 200]


def test_enterprise_api_v3_prefix(fake):
    g = gh(fake, "user-token", base_url=fake.url + "/api/v3")
    issue = g.get_repo(REPO).get_issue(1)
    assert issue.url == f"{fake.url}/api/v3/repos/{REPO}/issues/1"
    comment = issue.create_comment("ghes")
    comment.edit("ghes edited")  # PATCHes the URL the fake returned
    assert fake.comments(REPO, 1)[0]["body"] == "ghes edited"
    patch = [r for r in fake.requests if r.method == "PATCH"][0]
    assert patch.path == f"/repos/{REPO}/issues/comments/{comment.id}"
    assert patch.raw_path == "/api/v3" + patch.path


def test_concurrent_comments(fake):
    url = f"{fake.url}/repos/{REPO}/issues/1/comments"

    def post(i: int) -> int:
        with requests.Session() as s:
            r = s.post(url, json={"body": f"c{i}"}, headers={"Authorization": "token user-token"}, timeout=5)
            return r.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(post, range(40)))
    assert len(set(ids)) == 40
    assert sorted(c["body"] for c in fake.comments(REPO, 1)) == sorted(f"c{i}" for i in range(40))
    assert len(fake.requests) == 40


def test_stop_closes_server(keys):
    f = FakeGitHub().start()
    f.add_repo("o/r")
    f.add_token("t")
    url = f.url
    with requests.Session() as s:
        assert s.get(f"{url}/repos/o/r", headers={"Authorization": "token t"}, timeout=5).status_code == 200
        f.stop()
        with pytest.raises(requests.ConnectionError):
            s.get(f"{url}/repos/o/r", headers={"Authorization": "token t"}, timeout=2)
    f.stop()  # idempotent


def test_quiet_on_stderr(capfd):
    import socket

    with FakeGitHub() as f:
        f.add_repo("o/r")
        f.add_token("t")
        assert requests.get(f"{f.url}/repos/o/r", headers={"Authorization": "token t"}, timeout=5).status_code == 200
        assert requests.get(f"{f.url}/nope", timeout=5).status_code == 401
        port = int(f.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as raw:  # garbage request, then hang up
            raw.sendall(b"NONSENSE\r\n\r\n")
            raw.recv(1024)
        with socket.create_connection(("127.0.0.1", port)):  # connect and hang up at once
            pass
        assert requests.get(f"{f.url}/repos/o/r", headers={"Authorization": "token t"}, timeout=5).status_code == 200
    out, err = capfd.readouterr()
    assert err == "" and out == ""
