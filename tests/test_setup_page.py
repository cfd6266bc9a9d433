"""`make run`'s start page registers the GitHub App (shared/modes/setup_page.py, app_registration.py).

The real Flask app of `make run` (shared/modes/local.py) is served over HTTP by werkzeug in a thread,
against the fake GitHub's manifest flow (tests/fakes/registration.py): the page, the form GitHub
receives, the redirect back with a code, the conversion, `.env` and the key file, and App mode
without a restart. Every refusal (bad state, used code, GitHub down) writes nothing.
"""

from __future__ import annotations

import html
import json
import os
import stat
import threading
from html.parser import HTMLParser
from pathlib import Path

import payloads
import pytest
import requests
import yaml
from conftest import ROOT, SECRET, signed
from fakes.github import FakeGitHub
from werkzeug.serving import make_server

from shared.context import Services
from shared.github import app_manifest
from shared.modes import app_registration, setup_page
from shared.modes.local import bind_host, create_app
from shared.runtime import db, dotenv_file, settings

PUBLIC = "https://petrel.example.net"
USER_DOTENV = (
    "# my own notes, kept as they are\n"
    "OPENAI_BASE_URL=http://localhost:11434/v1   # ollama\n"
    f"GITHUB_WEBHOOK_SECRET={SECRET}\n"
    "# GITHUB_APP_ID=\n"
    "PETREL_MODEL=qwen2.5-coder\n"
)


class Forms(HTMLParser):
    """The forms of a page: action, and the values of their inputs; and the links by id."""

    def __init__(self, text: str):
        super().__init__()
        self.forms: list[dict] = []
        self.links: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "inputs": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"][attrs.get("name")] = attrs.get("value")
        elif tag == "a" and attrs.get("id"):
            self.links[attrs["id"]] = attrs["href"]


class Local:
    """`make run`'s Flask app on 127.0.0.1 in a thread, and a session that talks to it."""

    def __init__(self, dotenv: Path):
        self.server = make_server("127.0.0.1", 0, create_app({}, db.pool(), dotenv), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.http = requests.Session()
        self.http.trust_env = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def start(self, org: str = "") -> tuple[str, str]:
        """Press the button: (the URL the manifest goes to, the manifest's JSON)."""
        answer = self.http.get(self.url + "/")
        assert answer.status_code == 200 and "Register Petrel on GitHub" in answer.text
        answer = self.http.post(self.url + "/setup/register", data={"org": org})
        assert answer.status_code == 200, answer.text
        [form] = Forms(answer.text).forms
        return form["action"], form["inputs"]["manifest"]

    def to_github(self, action: str, manifest: str, follow: bool = True) -> requests.Response:
        """What the browser does with the form: POST it to GitHub, and follow GitHub's redirect back."""
        return self.http.post(action, data={"manifest": manifest}, allow_redirects=follow)


@pytest.fixture
def fake():
    with FakeGitHub() as github:
        yield github


@pytest.fixture
def local(env, clean_db, fake, tmp_path):
    (tmp_path / ".env").write_text(USER_DOTENV, encoding="utf-8")
    env(DATABASE_URL=clean_db, GITHUB_API_URL=fake.url, GITHUB_URL=fake.url, PETREL_PUBLIC_URL=PUBLIC)
    server = Local(tmp_path / ".env")
    yield server
    server.server.shutdown()


def shown(answer: requests.Response) -> str:
    """The text of a page as a browser shows it (entities decoded)."""
    return html.unescape(answer.text)


def nothing_written(tmp_path: Path) -> None:
    assert (tmp_path / ".env").read_text(encoding="utf-8") == USER_DOTENV
    assert not (tmp_path / ".data").exists() or not list((tmp_path / ".data").glob("*.pem"))
    assert settings.current().app_id is None


def test_register_install_link_dotenv_and_app_mode_without_restart(local, fake, tmp_path):
    action, manifest = local.start()
    state = action.partition("?state=")[2]
    assert action == f"{fake.url}/settings/apps/new?state={state}" and len(state) >= 40
    app_yml = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    assert json.loads(manifest) == {
        **app_yml,
        "hook_attributes": {"url": PUBLIC + "/webhook", "active": True},
        "redirect_url": local.url + "/setup/callback",
    }
    answer = local.to_github(action, manifest)
    assert answer.status_code == 200, answer.text
    assert answer.url.startswith(local.url + "/setup/callback?code=")
    assert fake.manifests == [("octocat", json.loads(manifest))]
    assert Forms(answer.text).links["install"] == f"{fake.url}/apps/{fake.app_slug}/installations/new"
    assert "no restart needed" in answer.text

    written = (tmp_path / ".env").read_text(encoding="utf-8")
    values = settings.read_dotenv(tmp_path / ".env")
    key = tmp_path / values["GITHUB_PRIVATE_KEY_PATH"]
    assert values["GITHUB_APP_ID"] == str(fake.app_id) and values["PETREL_APP_SLUG"] == fake.app_slug
    assert values["GITHUB_WEBHOOK_SECRET"] != SECRET and values["OPENAI_BASE_URL"] == "http://localhost:11434/v1"
    lines = written.splitlines()
    assert lines[:2] == USER_DOTENV.splitlines()[:2] and lines[3] == f"GITHUB_APP_ID={fake.app_id}"
    assert "PETREL_MODEL=qwen2.5-coder" in lines and SECRET not in written
    assert key.parent == tmp_path / ".data" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in written and key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")

    # App mode, in this process, without a restart: the App's own key signs its JWT
    assert settings.current().app_id == fake.app_id
    assert Services.github_access().login() == f"{fake.app_slug}[bot]"
    status = local.http.get(local.url + "/")
    assert status.json()["github"] == {"app_id": fake.app_id, "app_slug": fake.app_slug}
    # and the webhook verifies with the App's secret, no longer with the one it had
    headers, body = signed(payloads.example("push"), "push", secret=values["GITHUB_WEBHOOK_SECRET"])
    assert local.http.post(local.url + "/webhook", data=body, headers=headers).status_code == 202
    headers, body = signed(payloads.example("push"), "push")
    assert local.http.post(local.url + "/webhook", data=body, headers=headers).status_code == 401
    # once registered, the registration is closed
    again = local.http.post(local.url + "/setup/register", data={"org": ""})
    assert again.status_code == 409 and setup_page.ALREADY in shown(again)


def test_an_organisation_and_an_enterprise_server_host(env, clean_db, fake, tmp_path):
    (tmp_path / ".env").write_text(USER_DOTENV, encoding="utf-8")
    env(DATABASE_URL=clean_db, GITHUB_API_URL=fake.url + "/api/v3")  # GitHub Enterprise Server: the host is GitHub's
    local = Local(tmp_path / ".env")
    try:
        page = local.http.get(local.url + "/").text
        assert setup_page.NO_WEBHOOK_URL.split(",")[0] in html.unescape(
            page
        )  # GitHub cannot reach it: the page says so
        action, manifest = local.start(org="acme-corp")
        assert action.startswith(f"{fake.url}/organizations/acme-corp/settings/apps/new?state=")
        assert json.loads(manifest)["hook_attributes"]["url"] == local.url + "/webhook"
        answer = local.to_github(action, manifest)
        assert answer.status_code == 200, answer.text
        assert fake.manifests[0][0] == "acme-corp"
        assert [r.raw_path for r in fake.requests if "/app-manifests/" in r.path][0].startswith("/api/v3/")
        assert settings.current().app_id == fake.app_id
    finally:
        local.server.shutdown()
    assert app_manifest.registration_url("https://ghe.example.com/", "my org", "s t") == (
        "https://ghe.example.com/organizations/my%20org/settings/apps/new?state=s+t"
    )
    assert app_manifest.install_url("https://ghe.example.com", "petrel") == (
        "https://ghe.example.com/apps/petrel/installations/new"
    )


def test_a_callback_without_the_pages_state_writes_nothing_and_a_state_is_used_once(local, fake, tmp_path):
    action, manifest = local.start()
    back = local.to_github(action, manifest, follow=False)
    assert back.status_code == 302
    callback = back.headers["Location"]
    forged = callback.replace("state=", "state=x")
    answer = local.http.get(forged)
    assert answer.status_code == 400 and setup_page.BAD_STATE in shown(answer)
    nothing_written(tmp_path)
    missing = local.http.get(callback.split("&state=")[0])
    assert missing.status_code == 400
    # the state is taken by its first use, even one that fails: the same callback again is refused
    code = callback.partition("code=")[2].partition("&")[0]
    assert local.http.get(callback.replace(code, "not-a-code")).status_code == 502
    assert setup_page.BAD_STATE in shown(local.http.get(callback))
    nothing_written(tmp_path)


def test_a_used_code_writes_nothing(local, fake, tmp_path):
    action, manifest = local.start()
    callback = local.to_github(action, manifest, follow=False).headers["Location"]
    code = callback.partition("code=")[2].partition("&")[0]
    assert requests.post(f"{fake.url}/app-manifests/{code}/conversions").status_code == 201  # someone was faster
    answer = local.http.get(callback)
    assert answer.status_code == 502 and app_registration.CODE_REFUSED in shown(answer)
    nothing_written(tmp_path)


def test_github_failing_writes_nothing(local, fake, tmp_path):
    action, manifest = local.start()
    fake.fail("POST", r"/app-manifests/", 502)
    answer = local.to_github(action, manifest)
    assert answer.status_code == 502
    assert "GitHub answered 502 to the registration code (Server Error). Nothing was written" in shown(answer)
    nothing_written(tmp_path)


def test_with_credentials_the_page_is_not_served(env, clean_db, tmp_path):
    env(DATABASE_URL=clean_db, GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN="ghp_" + "x" * 36)
    local = Local(tmp_path / ".env")
    try:
        status = local.http.get(local.url + "/")
        assert status.headers["Content-Type"] == "application/json" and status.json()["github"] == {"token": True}
        assert local.http.post(local.url + "/setup/register").status_code == 409
        assert local.http.get(local.url + "/setup/callback?code=c&state=s").status_code == 409
    finally:
        local.server.shutdown()
    assert not (tmp_path / ".env").exists()


def test_the_page_names_settings_never_values_and_escapes_what_it_shows(local):
    page = local.http.get(local.url + "/").text
    assert "<code>OPENAI_BASE_URL</code>" in page and "<code>GITHUB_APP_ID</code>" in page
    assert SECRET not in page and "11434" not in page and "qwen" not in page
    hostile = local.http.post(local.url + "/setup/register", data={"org": "<script>alert(1)</script>"})
    assert hostile.status_code == 400 and "<script>alert" not in hostile.text and "&lt;script&gt;" in hostile.text


def test_the_app_is_registered_only_from_a_browser_on_this_machine(local):
    """Not through a tunnel or a reverse proxy (forwarding headers), not from a page whose name was
    rebound to 127.0.0.1 (its Host is not a loopback name)."""
    for headers in ({"Host": "evil.example"}, {"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        page = local.http.get(local.url + "/", headers=headers)
        assert page.status_code == 403 and "Register Petrel on GitHub" not in page.text
        assert "ssh -L" in page.text
        assert local.http.post(local.url + "/setup/register", data={"org": ""}, headers=headers).status_code == 403
        assert local.http.get(local.url + "/setup/callback?code=c&state=s", headers=headers).status_code == 403
    assert local.http.get(f"http://localhost:{local.server.server_port}/").status_code == 200


def test_make_run_listens_beyond_localhost_only_with_a_public_url(env):
    assert bind_host(env()) == "127.0.0.1"
    assert bind_host(env(PETREL_PUBLIC_URL=PUBLIC)) == "0.0.0.0"
    with pytest.raises(settings.SettingsError, match="PETREL_PUBLIC_URL"):
        env(PETREL_PUBLIC_URL="petrel.example.net")


def test_dotenv_update_keeps_every_other_line_and_removes_a_whole_multiline_value(tmp_path):
    text = (
        "A=1\n"
        'GITHUB_PRIVATE_KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----"\n'
        "# GITHUB_APP_ID=\n"
        "export B='two words'\n"
        "GITHUB_PRIVATE_KEY=again\n"
    )
    new = dotenv_file.updated_text(
        text, {"GITHUB_PRIVATE_KEY": "", "GITHUB_APP_ID": "7", "PETREL_APP_SLUG": 'my "app"'}, "# added"
    )
    assert new == (
        'A=1\nGITHUB_PRIVATE_KEY=\nGITHUB_APP_ID=7\nexport B=\'two words\'\n\n# added\nPETREL_APP_SLUG="my \\"app\\""\n'
    )
    path = tmp_path / ".env"
    path.write_text(new)
    path.chmod(0o640)
    dotenv_file.update(path, {"A": "2"})
    assert settings.read_dotenv(path) == {
        "A": "2",
        "GITHUB_PRIVATE_KEY": "",
        "GITHUB_APP_ID": "7",
        "B": "two words",
        "PETREL_APP_SLUG": 'my "app"',
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and [p.name for p in tmp_path.iterdir()] == [".env"]


def test_a_state_is_random_used_once_and_forgotten_after_an_hour():
    now = [0.0]
    states = setup_page.PendingStates(clock=lambda: now[0])
    first, second = states.issue(), states.issue()
    assert first != second
    assert states.take(first) and not states.take(first) and not states.take(None) and not states.take("x")
    now[0] = setup_page.STATE_SECONDS + 1
    assert not states.take(second)


def test_make_run_writes_a_new_dotenv_private_from_the_start(env, tmp_path):
    from shared.modes.cli import ensure_dotenv

    env()
    dotenv = tmp_path / ".env"
    before = os.umask(0)  # a plain write would make it readable by everyone
    try:
        assert ensure_dotenv(dotenv)
    finally:
        os.umask(before)
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600 and [p.name for p in tmp_path.iterdir()] == [".env"]
    assert len(settings.read_dotenv(dotenv)["GITHUB_WEBHOOK_SECRET"]) == 64
    assert "# GITHUB_APP_ID=\n" in dotenv.read_text(encoding="utf-8")  # the start page fills it in
    assert not ensure_dotenv(dotenv)


def test_make_run_adds_a_webhook_secret_to_a_dotenv_written_by_hand_before_the_app_exists(env, tmp_path):
    from shared.modes.cli import ensure_dotenv

    env()
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# mine\nPETREL_WEBHOOK_PROXY_URL=https://smee.io/AbC\nGITHUB_WEBHOOK_SECRET=\n", encoding="utf-8"
    )
    assert ensure_dotenv(dotenv)
    values = settings.read_dotenv(dotenv)
    assert len(values["GITHUB_WEBHOOK_SECRET"]) == 64 and values["PETREL_WEBHOOK_PROXY_URL"] == "https://smee.io/AbC"
    assert dotenv.read_text(encoding="utf-8").startswith("# mine\nPETREL_WEBHOOK_PROXY_URL=https://smee.io/AbC\n")
    assert not ensure_dotenv(dotenv)  # it has one now
    dotenv.write_text("GITHUB_APP_ID=12\n", encoding="utf-8")
    assert not ensure_dotenv(dotenv)  # an App's secret is the App's: never made up
    assert dotenv.read_text(encoding="utf-8") == "GITHUB_APP_ID=12\n"
