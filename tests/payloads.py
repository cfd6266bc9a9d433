"""Real webhook payloads from tests/fixtures, and the few variants the recorded set lacks.

Each derived payload starts from a recorded one and changes only what GitHub would send
differently; the docstrings say what.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


@cache
def _load(event: str) -> tuple:
    return tuple(json.loads((FIXTURES / f"{event}.json").read_text(encoding="utf-8")))


def examples(event: str) -> list[dict]:
    """Every recorded example of one event (deep copies)."""
    return [copy.deepcopy(p) for p in _load(event)]


def all_examples() -> list[tuple[str, int, dict]]:
    """(event, index, payload) for every recorded example of every event in tests/fixtures."""
    return [(path.stem, i, p) for path in sorted(FIXTURES.glob("*.json")) for i, p in enumerate(examples(path.stem))]


def example(event: str, action: str | None = None) -> dict:
    """The first recorded example of `event` with `action`."""
    for payload in examples(event):
        if action is None or payload.get("action") == action:
            return payload
    raise LookupError(f"no recorded {event}.{action}")


def with_installation(payload: dict, installation_id: int = 1) -> dict:
    """Add the `installation` object that deliveries to a GitHub App carry."""
    payload = copy.deepcopy(payload)
    payload["installation"] = {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
    return payload


def comment(body: str, *, installation_id: int = 1, comment_id: int | None = None) -> dict:
    """A recorded `issue_comment.created` with another body (and an installation)."""
    payload = with_installation(example("issue_comment", "created"), installation_id)
    payload["comment"]["body"] = body
    if comment_id is not None:
        payload["comment"]["id"] = comment_id
    return payload


def pr_comment(body: str, **kwargs) -> dict:
    """A comment on a pull request: GitHub sends it as `issue_comment` whose issue has `pull_request`."""
    payload = comment(body, **kwargs)
    issue = payload["issue"]
    repo_url = payload["repository"]["url"]
    issue["pull_request"] = {
        "url": f"{repo_url}/pulls/{issue['number']}",
        "html_url": f"{payload['repository']['html_url']}/pull/{issue['number']}",
        "diff_url": f"{payload['repository']['html_url']}/pull/{issue['number']}.diff",
        "patch_url": f"{payload['repository']['html_url']}/pull/{issue['number']}.patch",
        "merged_at": None,
    }
    return payload


def from_bot(payload: dict, login: str = "petrel[bot]") -> dict:
    """The same delivery sent because a bot acted: sender and comment author are Bots."""
    payload = copy.deepcopy(payload)
    bot = {"login": login, "id": 9919, "type": "Bot", "node_id": "BOT_kgDOAAAAAQ"}
    payload["sender"] = dict(payload.get("sender") or {}, **bot)
    if "comment" in payload:
        payload["comment"]["user"] = dict(payload["comment"].get("user") or {}, **bot)
    return payload
