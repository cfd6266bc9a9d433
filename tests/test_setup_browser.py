"""The start page in a real browser: Debian's headless `chromium` registers Petrel against the fake GitHub.

The browser opens `make run`'s start page (the real Flask app over HTTP), presses "Register Petrel
on GitHub", is taken to the fake GitHub's new-App page (GITHUB_URL is the fake), comes back to
Petrel with the code, and sees the link that installs the App. It is driven over the DevTools
protocol through a pipe (`--remote-debugging-pipe`: JSON messages ended by a NUL byte on file
descriptors 3 and 4), so no websocket client is needed.

Screenshots of the start page and of the page with the install link are taken each run; with
SCREENSHOTS_TO_DOCS=1 they are written to docs/ (docs/setup-page.png is the README's).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT
from test_setup_page import PUBLIC, USER_DOTENV, Local

from shared.runtime import settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no `chromium` on PATH: install Debian's (apt-get install -y chromium); .ci/run does"
)
PNG = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 60.0
TO_DOCS = os.environ.get("SCREENSHOTS_TO_DOCS") == "1"  # read before the env fixture clears the environment


def _high(fd: int) -> int:
    """`fd` moved above the descriptors the child gets (3 and 4), so that the redirections cannot clobber it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """Headless chromium and one page of it, driven over the DevTools protocol through a pipe."""

    def __init__(self, profile: Path):
        to_child, self._to_browser = (_high(fd) for fd in os.pipe())
        self._from_browser, from_child = (_high(fd) for fd in os.pipe())

        # the protocol's pipe is the browser's fds 3 (commands) and 4 (answers): bash puts them there
        # (no preexec_fn: this process runs threads)
        self.process = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec "$0" "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-',
                CHROMIUM,
                "--headless",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--window-size=900,1000",
                "about:blank",
            ],
            pass_fds=(to_child, from_child),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                raise RuntimeError(f"chromium closed the DevTools pipe (exit status {self.process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, session: bool = False, **params) -> dict:
        """Call one DevTools method and return its result (events met meanwhile are kept)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._message()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str):
        """Poll `expression` until it is truthy; its value."""
        deadline = time.monotonic() + TIMEOUT
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                pytest.fail(f"the browser did not get to {what}; it shows {self.evaluate('location.href')!r}")
            time.sleep(0.1)
        return value

    def screenshot(self) -> bytes:
        """The page as it looks, PNG."""
        return base64.b64decode(self.send("Page.captureScreenshot", session=True, format="png")["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        os.close(self._to_browser)
        os.close(self._from_browser)


def keep(png: bytes, name: str, tmp_path: Path) -> None:
    assert png.startswith(PNG) and len(png) > 10_000  # a page, not an empty frame
    (tmp_path / name).write_bytes(png)
    if TO_DOCS:
        (ROOT / "docs" / name).write_bytes(png)


def test_a_browser_registers_petrel_and_sees_the_install_link(env, clean_db, tmp_path):
    from fakes.github import FakeGitHub

    (tmp_path / ".env").write_text(USER_DOTENV, encoding="utf-8")
    with FakeGitHub() as fake:
        env(DATABASE_URL=clean_db, GITHUB_API_URL=fake.url, GITHUB_URL=fake.url, PETREL_PUBLIC_URL=PUBLIC)
        local = Local(tmp_path / ".env")
        browser = Browser(tmp_path / "profile")
        try:
            browser.send("Page.navigate", session=True, url=local.url + "/")
            browser.wait_for("document.readyState == 'complete' && !!document.querySelector('#register')", "the page")
            assert browser.evaluate("document.querySelector('#register').textContent") == "Register Petrel on GitHub"
            keep(browser.screenshot(), "setup-page.png", tmp_path)

            browser.evaluate("document.querySelector('#register').click()")
            link = browser.wait_for("(document.querySelector('#install') || {}).href", "the install link")
            assert link == f"{fake.url}/apps/{fake.app_slug}/installations/new"
            assert browser.evaluate("location.pathname") == "/setup/callback"
            keep(browser.screenshot(), "setup-registered.png", tmp_path)
        finally:
            browser.close()
            local.server.shutdown()
        assert [owner for owner, _ in fake.manifests] == ["octocat"]
        assert settings.current().app_id == fake.app_id
