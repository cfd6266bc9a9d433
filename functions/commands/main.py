"""Commands in comments: `/help` (more commands arrive with the conversations issue).

A command is a line that starts with `/<command>` or `@<app-slug> <command>`. Comments
written by bots, Petrel's own included, are never answered.
"""

import logging
import re

import functions_framework

from shared import actions, function, settings

SUBSCRIBES = ("issue_comment.created", "pull_request_review_comment.created")

log = logging.getLogger("petrel.commands")

HELP_KEY = "help"
HELP = """### Petrel

Petrel reviews pull requests, summarizes them and triages issues. Write a command on its own line in a comment:

| command | what it does |
|---|---|
| `/review` | review this pull request |
| `/describe` | write or refresh this pull request's summary |
| `/ask <question>` | answer a question about this pull request or the repository |
| `/triage` | suggest labels and look for duplicates of this issue |
| `/config` | show the configuration in effect for this repository |
| `/help` | show this message |

You can also mention the app: `@petrel help`. Configure Petrel in `.github/petrel.yml` on the default branch."""


def parse_command(body: str, app_slug: str) -> tuple[str, str] | None:
    """The first command in a comment: (`name`, `arguments`), or None.

    Lines inside fenced code blocks and quoted lines are not commands.
    """
    mention = re.compile(rf"^@{re.escape(app_slug)}(?:\[bot\])?\s+(\w[\w-]*)\s*(.*)$", re.IGNORECASE)
    slash = re.compile(r"^/(\w[\w-]*)(?:\s+(.*))?$")
    fenced = False
    for raw in (body or "").splitlines():
        line = raw.strip()
        if line.startswith("```") or line.startswith("~~~"):
            fenced = not fenced
            continue
        if fenced or line.startswith(">"):
            continue
        match = slash.match(line) or mention.match(line)
        if match:
            return match.group(1).lower(), (match.group(2) or "").strip()
    return None


def written_by_bot(payload: dict) -> bool:
    """True for comments by any bot (Petrel included) or carrying Petrel's marker."""
    comment = payload.get("comment") or {}
    sender = payload.get("sender") or {}
    return (
        sender.get("type") == "Bot"
        or (comment.get("user") or {}).get("type") == "Bot"
        or actions.has_marker(comment.get("body"))
    )


def plan(delivery) -> list:
    payload = delivery.payload
    if written_by_bot(payload):
        log.info("comment by a bot: ignored")
        return []
    command = parse_command((payload.get("comment") or {}).get("body") or "", settings.current().app_slug)
    if command is None:
        return []
    name, _ = command
    if name != "help":
        log.info("command /%s is not available yet", name)
        return []
    number = (payload.get("issue") or payload.get("pull_request") or {}).get("number")
    if not delivery.repository or not number:
        return []
    return [actions.UpsertComment(delivery.repository, int(number), HELP_KEY, HELP)]


@functions_framework.cloud_event
def handle(event):
    """Answer a command in an issue or pull request comment."""
    function.run(event, plan)
