"""Tests for tests/fakes/ (the fake GitHub), driven through the real PyGithub client."""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.github import FakeGitHub
from github import Auth, BadCredentialsException, Github, GithubException, GithubIntegration, UnknownObjectException
from jwt.api_jws import PyJWS

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
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
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
    before = datetime.now(UTC).replace(microsecond=0)
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
    assert [(w["method"], w["by"], w["owner"]) for w in fake.foreign_writes] == [("PATCH", "alice", "octocat")]
    fake.foreign_writes.clear()  # recorded as it should be; stop() would otherwise fail this test

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

    # GitHub accepts APPROVE / REQUEST_CHANGES: the fake stores them with their state, so a
    # test can assert Petrel never sends one. An unknown event is refused and stores nothing.
    with pytest.raises(GithubException) as exc:
        pr.create_review(body="lgtm", event="MERGE")
    assert exc.value.status == 422
    assert len(fake.reviews(REPO, 2)) == 1
    pr.create_review(body="lgtm", event="APPROVE")
    assert [r["state"] for r in fake.reviews(REPO, 2)] == ["COMMENTED", "APPROVED"]
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


# --------------------------------------------------------------------------- pull request diffs, files, compare

BASE_SHA = "b" * 40
NEW_HEAD = "c" * 40
DIFF = "\n".join(
    [
        "diff --git a/src/app.py b/src/app.py",
        "index 3b18e51..a1b2c3d 100644",
        "--- a/src/app.py",
        "+++ b/src/app.py",
        "@@ -1,5 +1,6 @@",
        " import os",  # old 1, new 1
        "-import sys",  # old 2
        "+import sys, json",  # new 2
        "+import re",  # new 3
        " ",  # old 3, new 4 (an empty context line)
        " def main():",  # old 4, new 5
        "     return 0",  # old 5, new 6
        "@@ -20,3 +21,4 @@ def helper():",
        " a = 1",  # old 20, new 21
        " b = 2",
        " c = 3",  # old 22, new 23
        "+d = 4",  # new 24
        "diff --git a/old_name.py b/lib/new_name.py",
        "similarity index 90%",
        "rename from old_name.py",
        "rename to lib/new_name.py",
        "index e8823e1..5401050 100644",
        "--- a/old_name.py",
        "+++ b/lib/new_name.py",
        "@@ -12,3 +12,3 @@",
        " x = 12",
        "-y = 13",
        "+y = 14",
        " z = 15",
        "diff --git a/logo.png b/logo.png",
        "index 8352675..80d25bd 100644",
        "Binary files a/logo.png and b/logo.png differ",
        "diff --git a/docs/new.md b/docs/new.md",
        "new file mode 100644",
        "index 0000000..07f33c4",
        "--- /dev/null",
        "+++ b/docs/new.md",
        "@@ -0,0 +1,2 @@",
        "+# New",
        "+text",
        "diff --git a/gone.txt b/gone.txt",
        "deleted file mode 100644",
        "index d3bc718..0000000",
        "--- a/gone.txt",
        "+++ /dev/null",
        "@@ -1,2 +0,0 @@",
        "-gone",
        "-bye",
        "",
    ]
)
SECOND_DIFF = "\n".join(
    [
        "diff --git a/src/app.py b/src/app.py",
        "index 3b18e51..ffff000 100644",
        "--- a/src/app.py",
        "+++ b/src/app.py",
        "@@ -40,2 +40,3 @@",
        " tail = 1",  # new 40
        "+more = 2",  # new 41
        " end = 3",
        "",
    ]
)
LINE_422 = "Pull request review thread line must be part of the diff"
PATH_422 = "Pull request review thread path could not be resolved"


@pytest.fixture
def pulled(fake):
    fake.add_pull(
        REPO,
        5,
        diff=DIFF,
        base_sha=BASE_SHA,
        head_sha=HEAD_SHA,
        base_ref="develop",
        head_ref="topic/x",
        title="Add things",
        body="PR body",
        user="dependabot[bot]",
        user_type="Bot",
        draft=True,
        labels=("bug", "size/s"),
    )
    return fake


def raw_get(fake: FakeGitHub, path: str, accept: str, token: str = "user-token") -> requests.Response:
    return requests.get(fake.url + path, headers={"Authorization": f"token {token}", "Accept": accept}, timeout=5)


def post_review(fake: FakeGitHub, number: int, payload: dict, token: str = "user-token") -> requests.Response:
    return requests.post(
        f"{fake.url}/repos/{REPO}/pulls/{number}/reviews",
        json=payload,
        headers={"Authorization": f"token {token}"},
        timeout=5,
    )


def test_pull_diff_media_type_and_pull_json(pulled):
    for accept in ("application/vnd.github.v3.diff", "application/vnd.github.diff"):
        r = raw_get(pulled, f"/repos/{REPO}/pulls/5", accept)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert r.text == DIFF
    # PyGithub's requester, as Petrel might call it
    g = gh(pulled, "user-token")
    status, headers, body = g.requester.requestBlob(
        "GET", f"/repos/{REPO}/pulls/5", headers={"Accept": "application/vnd.github.v3.diff"}
    )
    assert status == 200 and body == DIFF

    pr = g.get_repo(REPO).get_pull(5)
    assert (pr.head.sha, pr.base.sha, pr.head.ref, pr.base.ref) == (HEAD_SHA, BASE_SHA, "topic/x", "develop")
    assert pr.draft is True and pr.body == "PR body" and pr.title == "Add things"
    assert (pr.user.login, pr.user.type) == ("dependabot[bot]", "Bot")
    assert [l.name for l in pr.labels] == ["bug", "size/s"]
    assert (pr.additions, pr.deletions, pr.changed_files) == (6, 4, 5)
    assert pr.mergeable is None
    assert g.get_repo(REPO).get_issue(5).pull_request is not None

    pulled.set_pull_head(REPO, 5, NEW_HEAD, SECOND_DIFF)
    assert raw_get(pulled, f"/repos/{REPO}/pulls/5", "application/vnd.github.v3.diff").text == SECOND_DIFF
    pr = g.get_repo(REPO).get_pull(5)
    assert pr.head.sha == NEW_HEAD and (pr.additions, pr.deletions, pr.changed_files) == (1, 0, 1)
    # a PR made by add_issue has an empty diff
    assert raw_get(pulled, f"/repos/{REPO}/pulls/2", "application/vnd.github.diff").text == ""


def test_pull_files_list(pulled):
    files = list(gh(pulled, "user-token").get_repo(REPO).get_pull(5).get_files())
    by_name = {f.filename: f for f in files}
    assert [f.filename for f in files] == ["src/app.py", "lib/new_name.py", "logo.png", "docs/new.md", "gone.txt"]
    assert [by_name[n].status for n in by_name] == ["modified", "renamed", "modified", "added", "removed"]
    app = by_name["src/app.py"]
    assert (app.additions, app.deletions, app.changes) == (3, 1, 4)
    assert app.patch.startswith("@@ -1,5 +1,6 @@\n import os\n-import sys")
    assert app.patch.endswith("+d = 4") and "diff --git" not in app.patch
    assert by_name["lib/new_name.py"].previous_filename == "old_name.py"
    assert by_name["docs/new.md"].patch == "@@ -0,0 +1,2 @@\n+# New\n+text"
    assert (by_name["gone.txt"].additions, by_name["gone.txt"].deletions) == (0, 2)
    assert all(re.fullmatch(r"[0-9a-f]{40}", f.sha) for f in files)
    assert by_name["src/app.py"].sha.startswith("a1b2c3d")

    raw = raw_get(pulled, f"/repos/{REPO}/pulls/5/files", "application/vnd.github+json").json()
    binary = next(f for f in raw if f["filename"] == "logo.png")
    assert "patch" not in binary and binary["changes"] == 0
    assert "previous_filename" not in next(f for f in raw if f["filename"] == "src/app.py")

    r = raw_get(pulled, f"/repos/{REPO}/pulls/5/files?per_page=2&page=3", "application/json")
    assert [f["filename"] for f in r.json()] == ["gone.txt"] and 'rel="prev"' in r.headers["Link"]


def test_large_pull_files_capped_and_diff_refused(fake):
    many = "".join(
        f"diff --git a/f{i}.txt b/f{i}.txt\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/f{i}.txt\n@@ -0,0 +1 @@\n+{i}\n"
        for i in range(3005)
    )
    fake.add_pull(REPO, 9, diff=many, base_sha=BASE_SHA, head_sha=HEAD_SHA)
    r = raw_get(fake, f"/repos/{REPO}/pulls/9/files?per_page=100&page=30", "application/json")
    assert [f["filename"] for f in r.json()][-1] == "f2999.txt"
    assert "next" not in r.headers["Link"]
    assert raw_get(fake, f"/repos/{REPO}/pulls/9/files?per_page=100&page=31", "application/json").json() == []
    r = raw_get(fake, f"/repos/{REPO}/pulls/9", "application/vnd.github.v3.diff")
    assert r.status_code == 406
    assert r.json()["errors"] == [{"resource": "PullRequest", "field": "diff", "code": "too_large"}]
    assert "maximum number of files (300)" in r.json()["message"]


def test_diff_refused_past_20000_lines_and_large_patches_left_out(fake):
    big = "".join(f"+row {n}\n" for n in range(20_001))
    text = (
        f"diff --git a/big.txt b/big.txt\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,20001 @@\n{big}"
        "diff --git a/small.txt b/small.txt\nindex 2222222..3333333 100644\n"
        "--- a/small.txt\n+++ b/small.txt\n@@ -1 +1 @@\n-a\n+b\n"
    )
    fake.add_pull(REPO, 9, diff=text, base_sha=BASE_SHA, head_sha=HEAD_SHA)
    r = raw_get(fake, f"/repos/{REPO}/pulls/9", "application/vnd.github.v3.diff")
    assert r.status_code == 406
    assert r.json()["message"] == "Sorry, the diff exceeded the maximum number of lines (20000)"
    assert r.json()["errors"] == [{"resource": "PullRequest", "field": "diff", "code": "too_large"}]
    files = {f["filename"]: f for f in raw_get(fake, f"/repos/{REPO}/pulls/9/files", "application/json").json()}
    assert "patch" not in files["big.txt"] and (files["big.txt"]["additions"], files["big.txt"]["changes"]) == (
        20_001,
        20_001,
    )
    assert files["small.txt"]["patch"] == "@@ -1 +1 @@\n-a\n+b"
    # a comparison as large is refused the same way, and its files list leaves the patch out too
    fake.add_compare(REPO, BASE_SHA, HEAD_SHA, diff=text)
    r = raw_get(fake, f"/repos/{REPO}/compare/{BASE_SHA}...{HEAD_SHA}", "application/vnd.github.diff")
    assert r.status_code == 406 and "maximum number of lines" in r.json()["message"]
    compared = raw_get(fake, f"/repos/{REPO}/compare/{BASE_SHA}...{HEAD_SHA}", "application/json").json()
    assert ["patch" in f for f in compared["files"]] == [False, True]


def test_compare(pulled):
    pulled.add_compare(REPO, HEAD_SHA, NEW_HEAD, diff=SECOND_DIFF)
    pulled.add_compare(REPO, "main", "topic/x", diff=DIFF, status="diverged", ahead_by=3, behind_by=2)
    repo = gh(pulled, "user-token").get_repo(REPO)
    cmp = repo.compare(HEAD_SHA, NEW_HEAD)
    assert (cmp.status, cmp.ahead_by, cmp.behind_by, cmp.total_commits) == ("ahead", 1, 0, 1)
    assert cmp.base_commit.sha == HEAD_SHA and cmp.merge_base_commit.sha == HEAD_SHA
    assert [(f.filename, f.status, f.additions) for f in cmp.files] == [("src/app.py", "modified", 1)]
    assert cmp.files[0].patch == "@@ -40,2 +40,3 @@\n tail = 1\n+more = 2\n end = 3"

    div = repo.compare("main", "topic/x")  # refs with a slash
    assert (div.status, div.ahead_by, div.behind_by) == ("diverged", 3, 2)
    assert div.merge_base_commit.sha not in (div.base_commit.sha, HEAD_SHA)
    assert len(div.files) == 5

    r = raw_get(pulled, f"/repos/{REPO}/compare/{HEAD_SHA}...{NEW_HEAD}", "application/vnd.github.diff")
    assert r.status_code == 200 and r.text == SECOND_DIFF
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"

    # an unknown pair (e.g. a sha gone after a force-push) is 404
    with pytest.raises(UnknownObjectException):
        repo.compare(NEW_HEAD, HEAD_SHA).status
    r = raw_get(pulled, f"/repos/{REPO}/compare/{'d' * 40}...{NEW_HEAD}", "application/vnd.github.v3.diff")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


# --------------------------------------------------------------------------- review validation against the diff


def comment(path: str, line: int, side: str = "RIGHT", **extra) -> dict:
    return {"path": path, "line": line, "side": side, "body": f"on {path}:{line}", **extra}


def test_review_comments_on_added_context_and_removed_lines_pass(pulled):
    pr = gh(pulled, "user-token").get_repo(REPO).get_pull(5)
    review = pr.create_review(
        body="looks fine",
        event="COMMENT",
        comments=[
            comment("src/app.py", 3),  # added line "+import re"
            comment("src/app.py", 5),  # context line "def main():"
            comment("src/app.py", 24),  # added line in the second hunk
            comment("src/app.py", 2, "LEFT"),  # removed line "-import sys"
            comment("lib/new_name.py", 13),  # in the renamed file, by its new name
            comment("src/app.py", 23, start_line=21),  # multi-line, within one hunk
        ],
    )
    assert review.state == "COMMENTED" and review.commit_id == HEAD_SHA
    [stored] = pulled.reviews(REPO, 5)
    got = [(c["path"], c["line"], c["side"], c["start_line"]) for c in stored["comments"]]
    assert got == [
        ("src/app.py", 3, "RIGHT", None),
        ("src/app.py", 5, "RIGHT", None),
        ("src/app.py", 24, "RIGHT", None),
        ("src/app.py", 2, "LEFT", None),
        ("lib/new_name.py", 13, "RIGHT", None),
        ("src/app.py", 23, "RIGHT", 21),
    ]
    first = stored["comments"][0]
    assert first["diff_hunk"] == "@@ -1,5 +1,6 @@\n import os\n-import sys\n+import sys, json\n+import re"
    assert first["position"] == 4 and first["commit_id"] == HEAD_SHA

    listed = list(pr.get_review_comments())
    assert [(c.path, c.line, c.side, c.body) for c in listed][:2] == [
        ("src/app.py", 3, "RIGHT", "on src/app.py:3"),
        ("src/app.py", 5, "RIGHT", "on src/app.py:5"),
    ]
    assert all(c.commit_id == HEAD_SHA and c.user.login == "alice" and c.created_at for c in listed)
    assert all("in_reply_to_id" not in c.raw_data for c in listed)
    [listed_review] = list(pr.get_reviews())
    assert (listed_review.commit_id, listed_review.state, listed_review.body, listed_review.user.login) == (
        HEAD_SHA,
        "COMMENTED",
        "looks fine",
        "alice",
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        (comment("src/app.py", 12), LINE_422),  # between the two hunks
        (comment("src/app.py", 2, "RIGHT", body="x"), None),  # valid: control case (new line 2 is added)
        (comment("src/app.py", 7, "LEFT"), LINE_422),  # old 7 lies outside every hunk
        (comment("src/app.py", 24, "LEFT"), LINE_422),  # 24 is only a new-file number
        (comment("README.md", 1), PATH_422),  # not in the diff
        (comment("old_name.py", 13), PATH_422),  # a renamed file's old name
        (comment("logo.png", 1), LINE_422),  # a binary file has no lines
        (comment("src/app.py", 24, start_line=6), "start line must be part of the same hunk"),
        (comment("src/app.py", 21, start_line=23), "start line must precede the end line"),
    ],
)
def test_review_with_a_comment_outside_the_diff_is_refused_whole(pulled, bad, message):
    payload = {"body": "r", "event": "COMMENT", "commit_id": HEAD_SHA, "comments": [comment("src/app.py", 3), bad]}
    r = post_review(pulled, 5, payload)
    if message is None:
        assert r.status_code == 200 and len(pulled.reviews(REPO, 5)) == 1
        return
    assert r.status_code == 422, r.text
    data = r.json()
    assert data["message"] == "Unprocessable Entity" and data["status"] == "422"
    assert data["documentation_url"] == "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
    assert len(data["errors"]) == 1 and message in data["errors"][0]
    assert pulled.reviews(REPO, 5) == []  # nothing stored, not even the valid comment
    assert raw_get(pulled, f"/repos/{REPO}/pulls/5/comments", "application/json").json() == []


def test_review_commit_id_must_be_a_head_of_the_pull(pulled):
    r = post_review(pulled, 5, {"body": "r", "event": "COMMENT", "commit_id": "e" * 40})
    assert r.status_code == 422 and r.json()["errors"] == ["commit_id is not part of the pull request"]
    assert pulled.reviews(REPO, 5) == []

    pulled.set_pull_head(REPO, 5, NEW_HEAD, SECOND_DIFF)
    # new head: judged against the new diff
    r = post_review(pulled, 5, {"event": "COMMENT", "commit_id": NEW_HEAD, "comments": [comment("src/app.py", 41)]})
    assert r.status_code == 200 and r.json()["commit_id"] == NEW_HEAD
    r = post_review(pulled, 5, {"event": "COMMENT", "comments": [comment("src/app.py", 3)]})  # default: new head
    assert r.status_code == 422 and r.json()["errors"] == [LINE_422]
    # the previous head is still a valid commit_id, judged against its own diff
    r = post_review(pulled, 5, {"event": "COMMENT", "commit_id": HEAD_SHA, "comments": [comment("src/app.py", 3)]})
    assert r.status_code == 200 and r.json()["commit_id"] == HEAD_SHA
    assert [(rv["commit_id"], rv["comments"][0]["position"]) for rv in pulled.reviews(REPO, 5)] == [
        (NEW_HEAD, 2),
        (HEAD_SHA, None),  # outdated: no position on the current diff
    ]


def test_review_events_pending_and_approvals_are_stored_with_their_state(pulled):
    r = post_review(pulled, 5, {"body": "draft", "comments": [comment("src/app.py", 3)]})  # no event
    assert r.status_code == 200 and r.json()["state"] == "PENDING" and "submitted_at" not in r.json()
    again = post_review(pulled, 5, {"body": "another draft"})
    assert again.status_code == 422
    assert again.json()["errors"] == ["User can only have one pending review per pull request"]
    # a pending review and its comments are seen only by their author
    assert [x["state"] for x in raw_get(pulled, f"/repos/{REPO}/pulls/5/reviews", "application/json").json()] == [
        "PENDING"
    ]
    pulled.add_token("other-token", login="carol")
    assert raw_get(pulled, f"/repos/{REPO}/pulls/5/reviews", "application/json", token="other-token").json() == []
    assert raw_get(pulled, f"/repos/{REPO}/pulls/5/comments", "application/json", token="other-token").json() == []

    assert post_review(pulled, 5, {"event": "REQUEST_CHANGES"}).status_code == 422  # needs a body
    assert post_review(pulled, 5, {"event": "APPROVE"}).status_code == 200
    assert post_review(pulled, 5, {"event": "REQUEST_CHANGES", "body": "no"}).status_code == 200
    assert [x["state"] for x in pulled.reviews(REPO, 5)] == ["PENDING", "APPROVED", "CHANGES_REQUESTED"]


# --------------------------------------------------------------------------- repository contents


def git_blob_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_contents_base64_blob_sha_and_404(fake):
    import base64
    import shutil
    import subprocess

    config = ("review:\n  enabled: true\n  # " + "long comment " * 20 + "\n").encode()
    fake.add_file(REPO, ".github/petrel.yml", config)
    repo = gh(fake, "user-token").get_repo(REPO)
    content = repo.get_contents(".github/petrel.yml")
    assert content.decoded_content == config
    assert (content.type, content.encoding, content.name) == ("file", "base64", "petrel.yml")
    assert content.path == ".github/petrel.yml"
    assert content.size == len(config)
    assert content.sha == git_blob_sha(config)
    if shutil.which("git"):
        out = subprocess.run(["git", "hash-object", "--stdin"], input=config, capture_output=True, check=True)
        assert content.sha == out.stdout.decode().strip()
    raw = content.raw_data["content"]
    assert all(len(line) == 60 for line in raw.split("\n")[:-2]) and raw.endswith("\n") and "\n" in raw
    assert base64.b64decode(raw) == config
    assert content.html_url == f"https://github.com/{REPO}/blob/main/.github/petrel.yml"
    assert content.download_url == f"https://raw.githubusercontent.com/{REPO}/main/.github/petrel.yml"

    with pytest.raises(UnknownObjectException):
        repo.get_contents(".github/missing.yml")
    r = raw_get(fake, f"/repos/{REPO}/contents/.github/missing.yml", "application/json")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    r = raw_get(fake, f"/repos/{REPO}/contents/.github/petrel.yml?ref=nope", "application/json")
    assert r.status_code == 404 and r.json()["message"] == "No commit found for the ref nope"


def test_contents_ref_selects_version_and_directories_list(fake):
    fake.add_file(REPO, ".github/petrel.yml", "on: main\n")
    fake.add_file(REPO, ".github/petrel.yml", "on: head\n", ref=HEAD_SHA)
    fake.add_file(REPO, ".github/workflows/ci.yml", b"\x00binary\xff")
    repo = gh(fake, "user-token").get_repo(REPO)
    assert repo.get_contents(".github/petrel.yml").decoded_content == b"on: main\n"
    assert repo.get_contents(".github/petrel.yml", ref=HEAD_SHA).decoded_content == b"on: head\n"
    assert repo.get_contents(".github/petrel.yml", ref="refs/heads/main").decoded_content == b"on: main\n"
    with pytest.raises(UnknownObjectException):
        repo.get_contents(".github/workflows/ci.yml", ref=HEAD_SHA)  # refs do not inherit files

    listing = repo.get_contents(".github")
    assert [(c.name, c.type) for c in listing] == [("petrel.yml", "file"), ("workflows", "dir")]
    assert listing[0].sha == git_blob_sha(b"on: main\n")
    assert re.fullmatch(r"[0-9a-f]{40}", listing[1].sha)
    assert repo.get_contents(".github/workflows/ci.yml").decoded_content == b"\x00binary\xff"


def test_contents_of_the_org_dot_github_repository(fake, keys):
    private, _ = keys
    fake.add_repo("acme/.github", installation_id=INSTALLATION)
    fake.add_file("acme/.github", ".github/petrel.yml", "org: defaults\n")
    g = gh(fake, install_token(fake, private))
    assert g.get_repo("acme/.github").get_contents(".github/petrel.yml").decoded_content == b"org: defaults\n"
    with pytest.raises(UnknownObjectException):
        g.get_repo(REPO).get_contents(".github/petrel.yml")  # not in the repo itself


# --------------------------------------------------------------------------- git data: branches, commits, trees, blobs

# path -> (content, mode); the names probe git's ordering ("src-x" < "src.txt" < "src/", "README" < "bin")
TREE_FILES = {
    "src/app.py": (b"print('hi')\n", "100644"),
    "README.md": (b"# widgets\n", "100644"),
    "src/util/helpers.py": (b"def h():\n    return 1\n", "100644"),
    "src.txt": (b"a file that sorts before the src tree\n", "100644"),
    "src-x/a.txt": (b"a\n", "100644"),
    "bin/run": (b"#!/bin/sh\necho run\n", "100755"),
    "docs/guide.md": ("# Guide\n\nÜnïcödé\n" * 20, "100644"),
    "logo.png": (b"\x89PNG\r\n\x1a\n\x00\xff" * 40, "100644"),
}
TREE_ORDER = [
    "README.md",
    "bin",
    "bin/run",
    "docs",
    "docs/guide.md",
    "logo.png",
    "src-x",
    "src-x/a.txt",
    "src.txt",
    "src",
    "src/app.py",
    "src/util",
    "src/util/helpers.py",
]
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Petrel Fake",
    "GIT_AUTHOR_EMAIL": "fake@example.invalid",
    "GIT_AUTHOR_DATE": "1704067200 +0000",
    "GIT_COMMITTER_NAME": "Petrel Fake",
    "GIT_COMMITTER_EMAIL": "fake@example.invalid",
    "GIT_COMMITTER_DATE": "1704067200 +0000",
}


def as_bytes(content) -> bytes:
    return content.encode() if isinstance(content, str) else content


@pytest.fixture
def tree_repo(fake):
    for path, (content, mode) in TREE_FILES.items():
        fake.add_file(REPO, path, content, mode=mode)
    return fake


def git_listing(tmp_path, files: dict) -> tuple[str, list[tuple[str, str, str, str]], str]:
    """What real git makes of ``files``: (root tree sha, [(path, type, mode, sha)] in ``ls-tree
    -r -t`` order, the sha of ``commit-tree`` with the fake's fixed author, date and message)."""
    import os
    import subprocess

    work = tmp_path / "git"
    work.mkdir()
    env = {**os.environ, **GIT_ENV}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=work, env=env, capture_output=True, check=True, text=True).stdout

    git("init", "-q")
    git("config", "core.fileMode", "true")
    for path, (content, mode) in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(as_bytes(content))
        target.chmod(0o755 if mode == "100755" else 0o644)
    git("add", "-A")
    tree = git("write-tree").strip()
    entries = []
    for line in git("ls-tree", "-r", "-t", tree).splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, sha = meta.split()
        entries.append((path, kind, mode, sha))
    commit = git("commit-tree", tree, "-m", "Files added with FakeGitHub.add_file").strip()
    return tree, entries, commit


def test_git_tree_recursive_listing_matches_add_file_and_real_git(tree_repo, tmp_path):
    import shutil

    repo = gh(tree_repo, "user-token").get_repo(REPO)
    branch = repo.get_branch("main")
    tree_sha = branch.commit.commit.tree.sha
    assert re.fullmatch(r"[0-9a-f]{40}", tree_sha) and re.fullmatch(r"[0-9a-f]{40}", branch.commit.sha)
    assert tree_repo.head(REPO) == {"commit": branch.commit.sha, "tree": tree_sha}

    tree = repo.get_git_tree(tree_sha, recursive=True)
    assert tree.sha == tree_sha and tree.raw_data["truncated"] is False
    assert tree.raw_data["url"] == f"{tree_repo.url}/repos/{REPO}/git/trees/{tree_sha}"
    assert [e.path for e in tree.tree] == TREE_ORDER
    by_path = {e.path: e for e in tree.tree}
    for path, (content, mode) in TREE_FILES.items():
        e = by_path[path]
        data = as_bytes(content)
        assert (e.type, e.mode, e.sha, e.size) == ("blob", mode, git_blob_sha(data), len(data)), path
        assert e.url == f"{tree_repo.url}/repos/{REPO}/git/blobs/{e.sha}"
    for raw in tree.raw_data["tree"]:
        if raw["path"] not in TREE_FILES:
            assert (raw["type"], raw["mode"]) == ("tree", "040000") and "size" not in raw, raw
            assert raw["url"].endswith(f"/git/trees/{raw['sha']}")
    # the contents API agrees on blob and directory shas
    assert repo.get_contents("src/app.py").sha == by_path["src/app.py"].sha
    assert {c.path: c.sha for c in repo.get_contents("src")}["src/util"] == by_path["src/util"].sha

    if shutil.which("git"):
        git_tree, git_entries, git_commit = git_listing(tmp_path, TREE_FILES)
        assert tree_sha == git_tree
        assert [(e.path, e.type, e.mode, e.sha) for e in tree.tree] == git_entries
        assert branch.commit.sha == git_commit  # a real parentless commit of that tree


def test_git_tree_by_branch_commit_and_subtree_sha_and_truncation(tree_repo):
    repo = gh(tree_repo, "user-token").get_repo(REPO)
    head = tree_repo.head(REPO)
    top = repo.get_git_tree(head["tree"])  # not recursive: the root's own entries only
    assert [e.path for e in top.tree] == ["README.md", "bin", "docs", "logo.png", "src-x", "src.txt", "src"]
    for ref in ("main", "refs/heads/main", head["commit"]):  # GitHub takes a branch or commit too
        assert repo.get_git_tree(ref, recursive=True).sha == head["tree"], ref
    src = {e.path: e.sha for e in top.tree}["src"]
    sub = repo.get_git_tree(src, recursive=True)
    assert [e.path for e in sub.tree] == ["app.py", "util", "util/helpers.py"]

    # "recursive" with any value, even 0, lists the whole tree (GitHub's rule); without it, one level
    r = raw_get(tree_repo, f"/repos/{REPO}/git/trees/main?recursive=0", "application/json")
    assert len(r.json()["tree"]) == len(TREE_ORDER)
    assert len(raw_get(tree_repo, f"/repos/{REPO}/git/trees/main", "application/json").json()["tree"]) == 7

    tree_repo.tree_entry_limit = 4
    r = raw_get(tree_repo, f"/repos/{REPO}/git/trees/main?recursive=1", "application/json").json()
    assert r["truncated"] is True and [e["path"] for e in r["tree"]] == TREE_ORDER[:4]

    with pytest.raises(UnknownObjectException):
        repo.get_git_tree("f" * 40)
    r = raw_get(tree_repo, f"/repos/{REPO}/git/trees/no-such-branch", "application/json")
    assert r.status_code == 404 and r.json()["documentation_url"].endswith("#get-a-tree")

    # a default branch without files has git's empty tree
    empty = gh(tree_repo, "user-token").get_repo(OTHER_REPO).get_git_tree("main", recursive=True)
    assert empty.sha == "4b825dc642cb6eb9a060e54bf8d69288fbee4904" and empty.tree == []


def test_git_blob_content_round_trip(tree_repo):
    import base64

    big = bytes(range(256)) * 5000  # over the contents API's 1 MB: the blob API still serves it
    tree_repo.add_file(REPO, "data/big.bin", big)
    repo = gh(tree_repo, "user-token").get_repo(REPO)
    tree = repo.get_git_tree("main", recursive=True)
    blobs = {e.path: e.sha for e in tree.tree if e.type == "blob"}
    assert set(blobs) == set(TREE_FILES) | {"data/big.bin"}
    expected = {path: as_bytes(content) for path, (content, _) in TREE_FILES.items()} | {"data/big.bin": big}
    for path, sha in blobs.items():
        blob = repo.get_git_blob(sha)
        assert (blob.sha, blob.encoding, blob.size) == (sha, "base64", len(expected[path])), path
        assert base64.b64decode(blob.content) == expected[path], path
        assert blob.url == f"{tree_repo.url}/repos/{REPO}/git/blobs/{sha}"
    raw = raw_get(tree_repo, f"/repos/{REPO}/git/blobs/{blobs['logo.png']}", "application/json").json()
    assert set(raw) >= {"sha", "size", "encoding", "content", "url", "node_id"}
    assert all(len(line) == 60 for line in raw["content"].split("\n")[:-2]) and raw["content"].endswith("\n")

    with pytest.raises(UnknownObjectException):
        repo.get_git_blob(git_blob_sha(b"never added"))
    assert raw_get(tree_repo, f"/repos/{REPO}/git/blobs/{blobs['README.md'][:7]}", "x").status_code == 404
    with pytest.raises(UnknownObjectException):  # blobs belong to their repository
        gh(tree_repo, "user-token").get_repo(OTHER_REPO).get_git_blob(blobs["README.md"])


def test_branch_and_commit_point_at_the_tree(tree_repo):
    tree_repo.add_file(REPO, "feature.txt", "only on the branch\n", ref="feature/x")
    tree_repo.add_file(REPO, "pinned.txt", "at a pinned sha\n", ref=HEAD_SHA)
    repo = gh(tree_repo, "user-token").get_repo(REPO)
    head = tree_repo.head(REPO)

    main = repo.get_branch("main")
    assert (main.name, main.commit.sha, main.protected) == ("main", head["commit"], False)
    commit = repo.get_commit("main")
    assert (commit.sha, commit.commit.tree.sha) == (head["commit"], head["tree"])
    assert repo.get_commit(head["commit"]).commit.tree.sha == head["tree"]
    assert repo.get_commit(head["commit"][:7]).sha == head["commit"]  # an abbreviated sha
    assert commit.commit.author.name == "Petrel Fake" and commit.parents == []
    git_commit = repo.get_git_commit(head["commit"])
    assert (git_commit.sha, git_commit.tree.sha) == (head["commit"], head["tree"])

    feature = repo.get_branch("feature/x")
    assert feature.commit.sha != head["commit"]
    assert [e.path for e in repo.get_git_tree(feature.commit.commit.tree.sha).tree] == ["feature.txt"]
    assert repo.get_commit("feature/x").sha == feature.commit.sha
    assert [b.name for b in repo.get_branches()] == ["feature/x", "main"]  # a sha ref is no branch
    pinned = repo.get_commit(HEAD_SHA)  # a ref that is a sha is its own commit
    assert pinned.sha == HEAD_SHA
    assert [e.path for e in repo.get_git_tree(HEAD_SHA).tree] == ["pinned.txt"]

    with pytest.raises(UnknownObjectException) as exc:
        repo.get_branch("nope")
    assert exc.value.data["message"] == "Branch not found"
    with pytest.raises(GithubException) as exc:
        repo.get_commit("nope").sha
    assert exc.value.status == 422 and exc.value.data["message"] == "No commit found for SHA: nope"


def test_push_replace_and_remove_file_change_the_tree(tree_repo):
    import base64

    repo = gh(tree_repo, "user-token").get_repo(REPO)
    before = tree_repo.head(REPO)
    old_blob = {e.path: e.sha for e in repo.get_git_tree("main", recursive=True).tree}["src/app.py"]

    tree_repo.add_file(REPO, "src/app.py", b"print('bye')\n")  # replaces the file
    after_edit = tree_repo.head(REPO)
    listing = {e.path: e.sha for e in repo.get_git_tree("main", recursive=True).tree}
    assert listing["src/app.py"] == git_blob_sha(b"print('bye')\n") != old_blob
    assert after_edit["tree"] != before["tree"] and after_edit["commit"] != before["commit"]
    assert repo.get_branch("main").commit.sha == after_edit["commit"]
    assert base64.b64decode(repo.get_git_blob(old_blob).content) == b"print('hi')\n"  # old objects stay

    tree_repo.remove_file(REPO, "src/util/helpers.py")
    after_rm = tree_repo.head(REPO)
    paths = [e.path for e in repo.get_git_tree("main", recursive=True).tree]
    assert "src/util/helpers.py" not in paths and "src/util" not in paths  # the emptied directory goes
    assert paths == [p for p in TREE_ORDER if not p.startswith("src/util")]
    assert after_rm["tree"] != after_edit["tree"]
    with pytest.raises(UnknownObjectException):
        repo.get_contents("src/util/helpers.py")

    # the commit before the push is still there, with its tree, as on GitHub
    old = repo.get_commit(before["commit"])
    assert old.commit.tree.sha == before["tree"]
    assert "src/util/helpers.py" in [e.path for e in repo.get_git_tree(before["commit"], recursive=True).tree]
    assert repo.get_contents("src/app.py", ref=before["commit"]).decoded_content == b"print('hi')\n"

    # the same files hash to the same tree and commit again
    tree_repo.add_file(REPO, "src/util/helpers.py", TREE_FILES["src/util/helpers.py"][0])
    assert tree_repo.head(REPO) == after_edit

    with pytest.raises(KeyError):
        tree_repo.remove_file(REPO, "src/util/helpers.py", ref="feature/none")
    with pytest.raises(KeyError):
        tree_repo.remove_file(REPO, "no/such/file")
    with pytest.raises(ValueError):
        tree_repo.add_file(REPO, "README.md/inner", "a file cannot hold files")
    with pytest.raises(ValueError):
        tree_repo.add_file(REPO, "src", "a directory cannot become a file")
    with pytest.raises(ValueError):
        tree_repo.add_file(REPO, "x.sh", "x", mode="120000")


# --------------------------------------------------------------------------- issue listing and editing

T0 = datetime(2024, 3, 1, tzinfo=UTC).timestamp()


@pytest.fixture
def many_issues(fake):
    """#1 (open issue) and #2 (open PR) from ``fake``, made now; #3..#112 made a minute apart
    in 2024 (every third closed, every tenth labelled bug); #113 a closed PR."""
    for n in range(3, 113):
        fake.add_issue(
            REPO,
            n,
            title=f"issue {n}",
            state="closed" if n % 3 == 0 else "open",
            labels=("bug",) if n % 10 == 0 else (),
            created_at=T0 + 60 * n,
            updated_at=T0 + 60 * n + 30,
        )
    fake.add_issue(REPO, 113, title="old PR", pull_request=True, state="closed", created_at=T0 + 60 * 113)
    return fake


def listed_pages(fake: FakeGitHub) -> list[dict]:
    return [r.query for r in fake.requests if r.method == "GET" and r.path == f"/repos/{REPO}/issues"]


def test_issue_list_all_states_paginates_and_includes_pulls(many_issues):
    repo = gh(many_issues, "user-token").get_repo(REPO)
    issues = list(repo.get_issues(state="all"))
    newest_first = [2, 1, 113] + list(range(112, 2, -1))  # sort=created, direction=desc by default
    assert [i.number for i in issues] == newest_first
    queries = listed_pages(many_issues)
    assert [q.get("page", "1") for q in queries] == ["1", "2", "3", "4"]  # 30 a page
    assert all(q["state"] == "all" for q in queries)
    assert [i.number for i in issues if i.pull_request is not None] == [2, 113]
    assert all(("pull_request" in i.raw_data) == (i.number in (2, 113)) for i in issues)
    assert repo.get_issues(state="all").totalCount == 113

    by_number = {i.number: i for i in issues}
    assert by_number[9].state == "closed" and by_number[9].closed_at == by_number[9].updated_at
    assert by_number[10].created_at == datetime.fromtimestamp(T0 + 600, tz=UTC)
    assert [l.name for l in by_number[10].labels] == ["bug"] and by_number[11].labels == []

    r = raw_get(many_issues, f"/repos/{REPO}/issues?state=all&per_page=100", "application/json")
    assert len(r.json()) == 100
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.headers["Link"]))
    assert set(links) == {"next", "last"} and "state=all" in links["next"] and "page=2" in links["last"]
    rest = requests.get(links["next"], headers={"Authorization": "token user-token"}, timeout=5).json()
    assert [i["number"] for i in rest] == newest_first[100:]


def test_issue_list_state_sort_since_and_label_filters(many_issues):
    repo = gh(many_issues, "user-token").get_repo(REPO)
    closed = [n for n in range(3, 113) if n % 3 == 0]
    opened = [n for n in range(3, 113) if n % 3 != 0]
    assert [i.number for i in repo.get_issues()] == [2, 1] + opened[::-1]  # open by default
    assert "state" not in listed_pages(many_issues)[0]
    assert [i.number for i in repo.get_issues(state="closed")] == [113] + closed[::-1]
    assert [i.number for i in repo.get_issues(state="open", direction="asc")][:3] == opened[:3]

    since = datetime.fromtimestamp(T0 + 60 * 100, tz=UTC)  # updated_at = created + 30 s
    assert sorted(i.number for i in repo.get_issues(state="all", since=since)) == [1, 2] + list(range(100, 114))
    assert [i.number for i in repo.get_issues(state="all", labels=["BUG"])] == list(range(110, 9, -10))
    assert [i.number for i in repo.get_issues(state="all", creator="octocat")][:2] == [2, 1]
    assert list(repo.get_issues(state="all", creator="nobody")) == []

    many_issues.add_comment(REPO, 50, "first")
    many_issues.add_comment(REPO, 50, "second")
    assert repo.get_issue(50).comments == 2 and repo.get_issue(51).comments == 0
    assert [i.number for i in repo.get_issues(state="all", sort="comments")][0] == 50
    assert [i.number for i in repo.get_issues(state="all", sort="updated")][0] == 50  # a comment updates it
    assert [i.number for i in repo.get_issues(state="all", sort="updated", direction="asc")][0] == 3

    for bad in ("state=merged", "sort=title", "direction=up", "since=yesterday"):
        r = raw_get(many_issues, f"/repos/{REPO}/issues?{bad}", "application/json")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == bad.split("=")[0], bad


def test_add_issue_times_states_and_validation(fake):
    made = fake.add_issue(
        REPO, 7, state="closed", created_at="2024-05-01T10:00:00Z", updated_at=1714600000.0, state_reason="not_planned"
    )
    assert (made["created_at"], made["updated_at"], made["closed_at"]) == (
        "2024-05-01T10:00:00Z",
        "2024-05-01T21:46:40Z",
        "2024-05-01T21:46:40Z",
    )
    assert (made["state"], made["state_reason"], made["comments"]) == ("closed", "not_planned", 0)
    only_created = fake.add_issue(REPO, 8, created_at=datetime(2024, 1, 2, 3, 4, 5))
    assert only_created["created_at"] == only_created["updated_at"] == "2024-01-02T03:04:05Z"
    assert fake.add_issue(REPO, 9, state="closed")["state_reason"] == "completed"
    with pytest.raises(ValueError):
        fake.add_issue(REPO, 10, state="merged")
    with pytest.raises(ValueError):
        fake.add_issue(REPO, 11, created_at=T0 + 10, updated_at=T0)
    with pytest.raises(ValueError):
        fake.add_issue(REPO, 12, created_at="not a time")
    for refused in (10, 11, 12):  # nothing was stored for a refused add_issue
        with pytest.raises(KeyError):
            fake.issue(REPO, refused)


def test_patch_issue_state_title_body_labels(fake):
    repo = gh(fake, "user-token").get_repo(REPO)
    issue = repo.get_issue(1)
    issue.edit(state="closed", title="renamed", body="new body", labels=["bug", "triaged"])
    stored = fake.issue(REPO, 1)
    assert (stored["state"], stored["title"], stored["body"]) == ("closed", "renamed", "new body")
    assert [l["name"] for l in stored["labels"]] == ["bug", "triaged"]
    assert stored["closed_by"]["login"] == "alice" and stored["state_reason"] == "completed"
    assert stored["closed_at"] is not None
    assert (issue.state, issue.title) == ("closed", "renamed")  # the PATCH response
    patches = [r for r in fake.requests if r.method == "PATCH"]
    assert [(r.path, r.json["state"]) for r in patches] == [(f"/repos/{REPO}/issues/1", "closed")]
    assert [i.number for i in repo.get_issues(state="closed")] == [1]

    issue.edit(state="open", labels=[])
    stored = fake.issue(REPO, 1)
    assert (stored["state"], stored["state_reason"], stored["closed_at"], stored["labels"]) == (
        "open",
        "reopened",
        None,
        [],
    )
    assert stored["title"] == "renamed"  # untouched fields keep their values

    h = {"Authorization": "token user-token"}
    url = f"{fake.url}/repos/{REPO}/issues/1"
    for bad in ({"state": "merged"}, {"title": ""}, {"labels": "bug"}, {"state_reason": "bored"}):
        r = requests.patch(url, json=bad, headers=h, timeout=5)
        assert r.status_code == 422 and r.json()["message"] == "Validation Failed", bad
    assert fake.issue(REPO, 1)["state"] == "open" and fake.issue(REPO, 1)["title"] == "renamed"
    r = requests.patch(url, json={"state": "closed", "state_reason": "not_planned"}, headers=h, timeout=5)
    assert r.status_code == 200 and r.json()["state_reason"] == "not_planned"
    pr = requests.patch(f"{fake.url}/repos/{REPO}/issues/2", json={"state": "closed"}, headers=h, timeout=5)
    assert pr.status_code == 200 and "pull_request" in pr.json() and repo.get_pull(2).state == "closed"
    assert requests.patch(f"{fake.url}/repos/{REPO}/issues/404", json={}, headers=h, timeout=5).status_code == 404


# --------------------------------------------------------------------------- installation repositories


def test_installation_repositories_paginate_with_metadata(fake, keys):
    private, _ = keys
    for i in range(105):
        fake.add_repo(f"acme/r{i:03d}", installation_id=INSTALLATION, private=i % 2 == 0, default_branch="trunk")
    integration = GithubIntegration(base_url=fake.url, auth=Auth.AppAuth(APP_ID, private), **FAST)
    repos = list(integration.get_app_installation(INSTALLATION).get_repos())
    names = [r.full_name for r in repos]
    assert names == [f"acme/r{i:03d}" for i in range(105)] + [REPO]  # the installation's repos only
    assert all(r.private == (r.full_name != REPO and int(r.name[1:]) % 2 == 0) for r in repos)
    assert {r.default_branch for r in repos} == {"trunk", "main"}
    assert repos[0].raw_data["visibility"] == "private" and repos[-1].raw_data["visibility"] == "public"
    pages = [r.query.get("page", "1") for r in fake.requests if r.path == "/installation/repositories"]
    assert pages == ["1", "2", "3", "4"]

    token = install_token(fake, private)
    r = requests.get(
        f"{fake.url}/installation/repositories?per_page=100", headers={"Authorization": f"token {token}"}, timeout=5
    )
    body = r.json()
    assert body["total_count"] == 106 and len(body["repositories"]) == 100
    assert 'rel="next"' in r.headers["Link"] and "page=2" in r.headers["Link"]


# --------------------------------------------------------------------------- contents: symlinks, submodules, large files


def test_contents_of_symlinks_submodules_and_large_files_answer_like_github(fake, tmp_path):
    import shutil
    import subprocess

    fake.add_file(REPO, "docs/real.yml", "language: French\n")
    fake.add_symlink(REPO, ".github/petrel.yml", "../docs/real.yml")
    fake.add_symlink(REPO, ".github/dangling.yml", "../nope.yml")
    fake.add_submodule(REPO, "vendor/lib", "a" * 40, "https://github.com/acme/lib.git")
    fake.add_file(REPO, "big.yml", "x" * (1024 * 1024 + 1))
    repo = gh(fake, "user-token").get_repo(REPO)

    followed = repo.get_contents(".github/petrel.yml")  # a link to a file: GitHub answers with that file
    assert (followed.type, followed.path, followed.decoded_content) == ("file", "docs/real.yml", b"language: French\n")
    link = repo.get_contents(".github/dangling.yml")  # a link to nothing: the link itself
    assert (link.type, link.path, link.target, link.size) == ("symlink", ".github/dangling.yml", "../nope.yml", 11)
    assert link.sha == git_blob_sha(b"../nope.yml") and "content" not in link.raw_data
    module = repo.get_contents("vendor/lib")
    assert (module.type, module.sha, module.size, module.download_url) == ("submodule", "a" * 40, 0, None)
    assert module.raw_data["submodule_git_url"] == "https://github.com/acme/lib.git"
    big = repo.get_contents("big.yml")
    assert (big.type, big.encoding, big.raw_data["content"], big.size) == ("file", "none", "", 1024 * 1024 + 1)
    assert [(c.name, c.type) for c in repo.get_contents(".github")] == [
        ("dangling.yml", "symlink"),
        ("petrel.yml", "symlink"),
    ]
    assert [(c.name, c.type, c.sha) for c in repo.get_contents("vendor")] == [
        ("lib", "file", "a" * 40)
    ]  # as v3 lists it

    tree = repo.get_git_tree(fake.head(REPO)["tree"], recursive=True).tree
    modes = {e.path: (e.mode, e.type) for e in tree}
    assert modes[".github/petrel.yml"] == ("120000", "blob") and modes["vendor/lib"] == ("160000", "commit")
    if shutil.which("git"):  # the same tree, hashed by git itself
        git = ["git", "-C", str(tmp_path)]
        subprocess.run([*git, "init", "-q"], check=True)
        (tmp_path / "docs").mkdir()
        (tmp_path / ".github").mkdir()
        (tmp_path / "docs" / "real.yml").write_text("language: French\n")
        (tmp_path / ".github" / "petrel.yml").symlink_to("../docs/real.yml")
        (tmp_path / ".github" / "dangling.yml").symlink_to("../nope.yml")
        (tmp_path / ".gitmodules").write_bytes(repo.get_contents(".gitmodules").decoded_content)
        (tmp_path / "big.yml").write_text("x" * (1024 * 1024 + 1))
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "update-index", "--add", "--cacheinfo", f"160000,{'a' * 40},vendor/lib"], check=True)
        tree_sha = subprocess.run([*git, "write-tree"], capture_output=True, check=True, text=True).stdout.strip()
        assert tree_sha == fake.head(REPO)["tree"]


# --------------------------------------------------------------------------- identity, permissions, foreign writes


def test_who_am_i_answers_as_github_does(fake, keys):
    private, _ = keys
    app = install_token(fake, private)
    assert gh(fake, "user-token").get_user().login == "alice"
    with pytest.raises(GithubException) as exc:  # an installation token is not a user
        gh(fake, app).requester.requestJsonAndCheck("GET", "/user")
    assert exc.value.status == 403 and exc.value.data["message"] == "Resource not accessible by integration"
    assert gh(fake, app).requester.graphql_query("query { viewer { login } }", {})[1] == {
        "data": {"viewer": {"login": "petrel[bot]"}}
    }
    assert gh(fake, "user-token").requester.graphql_query("{ viewer { login } }", {})[1]["data"]["viewer"] == {
        "login": "alice"
    }
    r = requests.get(f"{fake.url}/app", headers={"Authorization": "token user-token"}, timeout=5)
    assert r.status_code == 401  # GET /app takes the App's JWT, not a token
    r = requests.get(f"{fake.url}/app", headers={"Authorization": f"Bearer {make_jwt(private)}"}, timeout=5)
    assert r.json()["slug"] == "petrel"


def test_collaborator_permission_by_role(fake):
    fake.set_permission(REPO, "alice", "maintain")
    fake.set_permission(REPO, "carol", "triage")
    requester = gh(fake, "user-token").requester

    def ask(login):
        return requester.requestJsonAndCheck("GET", f"/repos/{REPO}/collaborators/{login}/permission")[1]

    assert (ask("alice")["permission"], ask("alice")["role_name"]) == ("write", "maintain")
    assert ask("alice")["user"]["permissions"]["push"] is True
    assert (ask("carol")["permission"], ask("carol")["role_name"]) == ("read", "triage")
    assert ask("bob")["permission"] == "read"  # not a collaborator of a public repository
    assert ask("acme")["permission"] == "admin"  # the owner
    with pytest.raises(UnknownObjectException):
        ask("nobody-at-all")
    assert fake.permission_lookups(REPO) == [
        "alice",
        "alice",
        "alice",
        "carol",
        "carol",
        "bob",
        "acme",
        "nobody-at-all",
    ]


def test_edits_and_deletes_of_anothers_words_are_refused_and_recorded(keys):
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        fake.add_issue(REPO, 2, pull_request=True, head_sha=HEAD_SHA)
        fake.add_token("alice-token", login="alice")
        fake.add_token("mallory-token", login="mallory")
        _, review = gh(fake, "alice-token").requester.requestJsonAndCheck(
            "POST",
            f"/repos/{REPO}/pulls/2/reviews",
            input={
                "commit_id": HEAD_SHA,
                "body": "mine",
                "event": "COMMENT",
                "comments": [{"path": "a.py", "line": 1, "body": "inline"}],
            },
        )
        [inline] = fake.reviews(REPO, 2)[0]["comments"]
        reaction = fake.add_reaction(REPO, inline["id"], "+1", user="alice")
        theirs = gh(fake, "mallory-token").requester
        attempts = [
            ("PATCH", f"/repos/{REPO}/pulls/comments/{inline['id']}", {"body": "x"}),
            ("DELETE", f"/repos/{REPO}/pulls/comments/{inline['id']}", None),
            ("PUT", f"/repos/{REPO}/pulls/2/reviews/{review['id']}", {"body": "x"}),
            ("DELETE", f"/repos/{REPO}/pulls/2/reviews/{review['id']}", None),
            ("DELETE", f"/repos/{REPO}/pulls/comments/{inline['id']}/reactions/{reaction['id']}", None),
        ]
        for method, path, body in attempts:
            with pytest.raises(GithubException) as exc:
                theirs.requestJsonAndCheck(method, path, input=body)
            assert exc.value.status == 403
        assert [(w["method"], w["kind"], w["by"], w["owner"]) for w in fake.foreign_writes] == [
            ("PATCH", "review comment", "mallory", "alice"),
            ("DELETE", "review comment", "mallory", "alice"),
            ("PUT", "review", "mallory", "alice"),
            ("DELETE", "review", "mallory", "alice"),
            ("DELETE", "reaction", "mallory", "alice"),
        ]
        assert (
            fake.reviews(REPO, 2)[0]["body"] == "mine" and fake.reviews(REPO, 2)[0]["comments"][0]["body"] == "inline"
        )
        # the author may edit their own words, which records nothing
        gh(fake, "alice-token").requester.requestJsonAndCheck(
            "PATCH", f"/repos/{REPO}/pulls/comments/{inline['id']}", input={"body": "edited"}
        )
        assert len(fake.foreign_writes) == 5
        with pytest.raises(AssertionError, match="attempts to edit or delete what another user wrote"):
            fake.stop()
    assert fake.foreign_writes == []
