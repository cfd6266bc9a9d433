"""Commands in comments: /review, /describe, /ask, /triage, /config, /help.

A command is a line that starts with `/<command>` or `@<app-slug> <command>`. Petrel
acknowledges it at once with a 👀 reaction, then answers in one reply (edited, never
repeated, on a redelivery). Commands that call the model need the commenter's
`author_association` to be one of `commands.allowed` (OWNER, MEMBER, COLLABORATOR by
default). A command that fails says why in its reply. Comments written by bots, Petrel's
own included, are never answered; edits are not commands (only `created` is subscribed).
Petrel's own comments are told by their author (its login, shared/github/identity.py) and marker:
a person's comment that quotes a marker is a person's comment.
"""

import logging
import re

import functions_framework
import yaml

from shared.context import Context
from shared.github import actions, markers
from shared.runtime import settings

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

KNOWN = ("review", "describe", "ask", "triage", "config", "help")
MODEL_COMMANDS = {"review", "describe", "ask", "triage"}
UNKNOWN = "Petrel does not know `/{name}`. The commands are: " + ", ".join(f"`/{c}`" for c in KNOWN) + "."
DENIED = (
    "Only {allowed} may run `/{name}` in this repository (you are {association}). "
    "`commands.allowed` in `.github/petrel.yml` sets who may."
)
PULL_ONLY = "`/{name}` works on pull requests only."
ISSUE_ONLY = "`/triage` works on issues only; on a pull request, use `/review`."
ASK_USAGE = "Write the question after the command: `/ask how is the config loaded?`"
FAILED = "Petrel could not run `/{name}`: {reason}"
DONE = "`/{name}`: {status}"


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


def written_by_bot(payload: dict, me: str | None = None) -> bool:
    """True for comments by any bot, or by Petrel (its login `me`, as with a personal token)."""
    comment = payload.get("comment") or {}
    sender = payload.get("sender") or {}
    return (
        sender.get("type") == "Bot"
        or (comment.get("user") or {}).get("type") == "Bot"
        or markers.written_by_petrel((comment.get("user") or {}).get("login"), comment.get("body"), me)
    )


def replies_to_petrel(ctx: Context) -> bool:
    """A reply in a review thread whose first comment is Petrel's: a conversation to continue."""
    delivery = ctx.delivery
    comment = delivery.payload.get("comment") or {}
    root = comment.get("in_reply_to_id")
    client = ctx.github if root else None
    if client is None:
        return False
    from github import GithubException

    try:
        _, first = client.requester.requestJsonAndCheck("GET", f"/repos/{delivery.repository}/pulls/comments/{root}")
    except GithubException:
        return False
    return markers.written_by_petrel((first.get("user") or {}).get("login"), first.get("body"), ctx.me())


class Thread:
    """Where the command was written, and how to answer there."""

    def __init__(self, delivery):
        payload = delivery.payload
        self.delivery = delivery
        self.comment = payload["comment"]
        self.in_review = delivery.event == "pull_request_review_comment"
        item = payload.get("pull_request") if self.in_review else payload.get("issue")
        self.number = int(item["number"])
        self.is_pull = self.in_review or bool((payload.get("issue") or {}).get("pull_request"))
        self.repository = delivery.repository

    @property
    def key(self) -> str:
        """The conversation: the issue or pull request (''), or a review thread (its root comment)."""
        if not self.in_review:
            return ""
        return str(self.comment.get("in_reply_to_id") or self.comment["id"])

    def react(self) -> actions.React:
        """The eyes reaction on the command's comment."""
        return actions.React(self.repository, int(self.comment["id"]), "eyes", review_comment=self.in_review)

    def reply(self, text: str) -> actions.Action:
        """The action answering in the thread: a reply in the review thread, or a comment on the conversation."""
        key = f"reply:{self.comment['id']}"
        if self.in_review:
            return actions.ReplyInThread(self.repository, self.number, int(self.comment["id"]), key, text)
        return actions.UpsertComment(self.repository, self.number, key, text)


def effective_config(ctx: Context, repository: str) -> str:
    """The reply to `/config`: the repository's config in effect, and where it comes from."""
    loaded = ctx.config(repository)
    text = yaml.safe_dump(loaded.config.to_dict(), sort_keys=False, allow_unicode=True).strip()
    source = f"from `{loaded.source}`" if loaded.source else "the defaults (no `.github/petrel.yml`)"
    problem = f"\n\nThe file has a problem, so the defaults are in effect: {loaded.error}" if loaded.error else ""
    return f"Configuration in effect, {source}:\n\n```yaml\n{text}\n```{problem}"


def run_command(ctx: Context, name: str, arguments: str, thread: Thread) -> str | None:
    """Do the command's work; return the reply's text (None: the work answered itself)."""
    # imported when a command needs them, so that the commands function starts fast
    from shared import summary, triage
    from shared.review import run as review

    if name == "review":
        if not thread.is_pull:
            return PULL_ONLY.format(name=name)
        result = review.review_pull(ctx, thread.number, forced=True)
    elif name == "describe":
        if not thread.is_pull:
            return PULL_ONLY.format(name=name)
        result = summary.summarize_pull(ctx, thread.number, forced=True)
    elif name == "triage":
        if thread.is_pull:
            return ISSUE_ONLY
        result = triage.triage_issue(ctx, forced=True)
    elif name == "ask":
        if not arguments:
            return ASK_USAGE
        from shared.ask import run as asking

        result = asking.ask(ctx, thread, arguments, thread_key=thread.key)
        return FAILED.format(name=name, reason=result.status) if result.failed else result.status
    else:
        raise ValueError(name)
    return (FAILED if result.failed else DONE).format(name=name, reason=result.status, status=result.status)


def handle_comment(ctx: Context) -> list[str]:
    """Answer the command in the comment of the delivery, if it has one (the `commands` function)."""
    delivery = ctx.delivery
    payload = delivery.payload
    body = (payload.get("comment") or {}).get("body")
    # only a comment with a marker can be Petrel's own: the others need no identity (the 👀 comes first)
    if written_by_bot(payload, ctx.me() if markers.present(body) else None):
        log.info("comment by a bot: ignored")
        return []
    command = parse_command((payload.get("comment") or {}).get("body") or "", settings.current().app_slug)
    if command is None:
        if delivery.event == "pull_request_review_comment" and replies_to_petrel(ctx):
            command = ("ask", payload["comment"]["body"].strip())
        else:
            return []
    name, arguments = command
    thread = Thread(delivery)
    if name not in KNOWN and thread.in_review:
        # "@petrel why is this a bug?" in a review thread is a question, not an unknown command
        name, arguments = "ask", f"{name} {arguments}".strip()
    outcomes = ctx.act([thread.react()])  # acknowledged before any slow work
    if name == "help":
        return outcomes + ctx.act([actions.UpsertComment(thread.repository, thread.number, HELP_KEY, HELP)])
    if name not in KNOWN:
        return outcomes + ctx.act([thread.reply(UNKNOWN.format(name=name))])
    if ctx.github is None:
        log.info("dry-run without GitHub credentials: /%s cannot read the repository", name)
        return outcomes
    if name == "config":
        return outcomes + ctx.act([thread.reply(effective_config(ctx, thread.repository))])
    allowed = ctx.config(thread.repository).config.commands.allowed
    association = thread.comment.get("author_association") or "NONE"
    if association not in allowed:
        text = DENIED.format(allowed=", ".join(a.lower() for a in allowed), name=name, association=association.lower())
        return outcomes + ctx.act([thread.reply(text)])
    if name == "ask" and thread.in_review and thread.comment.get("in_reply_to_id"):
        from shared.ask import run as asking

        result = asking.ask(
            ctx, thread, arguments, thread_key=thread.key, context=asking.thread_context(thread.comment)
        )
        text = FAILED.format(name=name, reason=result.status) if result.failed else result.status
        return outcomes + ctx.act([thread.reply(text)])
    text = run_command(ctx, name, arguments, thread)
    return outcomes + ctx.act([thread.reply(text)]) if text else outcomes


ENTRY = handle_comment


@functions_framework.cloud_event
def handle(event):
    """Answer a command in an issue, pull request or review comment."""
    with Context.of(event).scope() as ctx:
        ENTRY(ctx)
