"""Petrel's command line, the `petrel` script (pyproject.toml): run | status | retry JOB | plan | review.

`run` is what `make run` starts: settings check, embedded Postgres, migrations, the
HTTP server and the workers. Ctrl-C stops it all, Postgres included. `review` lives in
shared/modes/cli_review.py; `python -m shared.modes.cli` works as well as `petrel`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import signal
import socket
import sys
import textwrap
import threading
from pathlib import Path

from shared.modes.cli_review import add_review_command
from shared.runtime import db, dotenv_file, log, settings

DOTENV = Path(".env")
PLACEHOLDER_SECRET = "change-me"


def ensure_dotenv(path: Path = DOTENV) -> bool:
    """Write a `.env` with a fresh webhook secret if there is none, or add one to a `.env` that has
    neither a secret nor GitHub credentials (one made by hand before the App is registered: the
    start page replaces the secret with the App's); True when written."""
    if path.exists():
        values = settings.environment(path)
        if any(values.get(name) for name in ("GITHUB_WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_TOKEN")):
            return False
        dotenv_file.update(path, {"GITHUB_WEBHOOK_SECRET": secrets.token_hex(32)})
        return True
    # a file holding a secret: made 0600 from the start (dotenv_file, as the branch above writes it)
    dotenv_file.write_atomically(
        path,
        "# Written by `make run`. Put the same secret in your GitHub App's webhook settings.\n"
        f"GITHUB_WEBHOOK_SECRET={secrets.token_hex(32)}\n"
        "# GITHUB_APP_ID=\n# GITHUB_PRIVATE_KEY_PATH=\n# GITHUB_TOKEN=\n",
    )
    return True


def load_settings() -> settings.Settings:
    """The settings, or one line naming the variable and exit status 2."""
    try:
        config = settings.current()
        config.require_webhook_secret()
        return config
    except settings.SettingsError as error:
        print(f"petrel: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def settings_report(config: settings.Settings) -> str:
    """One line per known setting: whether it is set, its name and meaning (never its value)."""
    lines = []
    for name, meaning in settings.KNOWN.items():
        present = bool(config.raw.get(name))
        lines.append(f"  {'set    ' if present else 'not set'}  {name:32} {meaning}")
    return "\n".join(lines)


def database(config: settings.Settings) -> str:
    """The database URL, migrated; exits with status 2 when the database cannot be reached."""
    try:
        url = db.resolve_url(config.database_url, config.data_dir)
        db.migrate(url)
        return url
    except db.DatabaseUnavailable as error:
        print(log.redact(f"petrel: cannot reach DATABASE_URL: {error}"), file=sys.stderr)
        raise SystemExit(2) from None


def port_is_free(port: int, host: str = "0.0.0.0") -> bool:
    """Whether the HTTP server could bind `port` on `host` (all interfaces by default)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server will
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


NO_GITHUB_TO_READ = (
    "petrel: no GitHub credentials (GITHUB_TOKEN, or GITHUB_APP_ID and a private key): "
    "the plan cannot read GitHub, so it stops where it would read it"
)


def command_run(args) -> int:
    """`petrel run`: serve the webhook and the functions and run the workers until stopped."""
    wrote = ensure_dotenv()
    settings.reset()
    config = load_settings()
    log.setup()
    if wrote:
        print(
            f"Wrote {DOTENV} with a new GITHUB_WEBHOOK_SECRET: use the same secret in your GitHub App's webhook settings."
        )
    from shared.modes import local

    if not port_is_free(config.port, local.bind_host(config)):
        print(
            f"petrel: PORT {config.port} is in use: stop what listens there or set PORT to a free port", file=sys.stderr
        )
        return 2
    url = database(config)
    where = "DATABASE_URL" if config.database_url else f"embedded Postgres under {config.data_dir / 'postgres'}"
    try:  # whatever happens from here on (port in use, Ctrl-C during start-up), Postgres is stopped
        pool = db.pool()  # the one pool of the process: the workers' and the functions' they run

        stack = local.LocalStack(config, url, pool, host=local.bind_host(config), dotenv=DOTENV)
        stack.start()
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        mode = (
            "sending to GitHub"
            if config.sends_to_github
            else (
                "dry-run (PETREL_DRY_RUN)"
                if config.has_github_credentials
                else "dry-run: no GitHub credentials, planned actions are logged, nothing is sent"
            )
        )
        print(
            f"Petrel is running.\n"
            f"{local.addresses(config)}\n"
            f"  database:    {where}\n"
            f"  workers:     {config.workers}\n"
            f"  mode:        {mode}\n"
            f"Settings:\n{settings_report(config)}\n"
            f"Ctrl-C stops everything.",
            flush=True,
        )
        stopped.wait()
        print("Stopping: HTTP server, workers (finishing their current job), Postgres...", flush=True)
        stack.stop()
    finally:
        db.close_pool()
        if db.embedded() is not None:
            db.embedded().stop()
    print("Stopped.", flush=True)
    return 0


@contextlib.contextmanager
def _pool_for_tools():
    """A connection for status/retry; an embedded Postgres they had to start is stopped after."""
    config = settings.current()
    try:
        with db.connect(database(config), autocommit=True) as conn:
            yield conn
    finally:
        embedded = db.embedded()
        if embedded is not None and embedded.started_here:  # not when `make run` is serving it
            embedded.stop()


def command_status(args) -> int:
    """`petrel status`: print the deliveries stored, the queue counts and the dead letters."""
    from shared.pipeline import queue

    with _pool_for_tools() as conn:
        counts = queue.counts(conn)
        deliveries = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        print(f"deliveries stored: {deliveries}")
        if not counts:
            print("no jobs")
        for function, by_status in counts.items():
            print(f"{function:16} " + "  ".join(f"{status}={n}" for status, n in sorted(by_status.items())))
        dead = queue.dead_letters(conn)
        if dead:
            print("\ndead letters (retry with: make retry JOB=<id>):")
            for letter in dead:
                print(
                    f"  job {letter.id}  {letter.function}  {letter.event}  {letter.repository or '-'}  "
                    f"delivery {letter.delivery_id}  attempts {letter.attempts}\n    last error: {letter.last_error}"
                )
    return 0


def command_retry(args) -> int:
    """`petrel retry JOB`: queue a dead-lettered job again; 1 if it is not in the dead letter."""
    from shared.pipeline import queue

    with _pool_for_tools() as conn:
        if queue.retry_dead(conn, args.job):
            print(f"job {args.job} is queued again")
            return 0
    print(f"job {args.job} is not in the dead letter", file=sys.stderr)
    return 1


def command_plan(args) -> int:
    """Run one function's entry point on a saved payload with a Context that prints the plan
    instead of acting on it: nothing is sent. With GitHub credentials it reads GitHub."""
    from shared import context
    from shared.pipeline import events
    from shared.pipeline.worker import load_function

    config = settings.current()
    payload = json.loads(Path(args.payload).read_text(encoding="utf-8"))
    event, _, action = args.event.partition(".")
    if action and "action" not in payload:
        payload["action"] = action
    delivery = events.parse_delivery(
        {"X-GitHub-Event": event, "X-GitHub-Delivery": "local-plan"}, json.dumps(payload).encode()
    )
    entry = load_function(args.function).ENTRY  # the feature entry point its handle() calls
    if not config.has_github_credentials:
        print(NO_GITHUB_TO_READ, file=sys.stderr)
    ctx = context.PlanningContext(delivery)
    try:
        with ctx.scope():
            result = entry(ctx)
    except db.DatabaseUnavailable as error:
        print(log.redact(f"petrel: cannot reach DATABASE_URL: {error}"), file=sys.stderr)
        return 2
    finally:
        db.close_pool()
        embedded = db.embedded()
        if embedded is not None and embedded.started_here:
            embedded.stop()
    if isinstance(result, context.Result):
        print(f"--- {result.status}")
    if not ctx.plans:
        print("(no actions)")
    return 0


EXAMPLES = {
    "run": "example:\n  petrel run                 # Ctrl-C stops it; `make run` runs this",
    "status": "example:\n  petrel status              # `make status` runs this",
    "retry": "example:\n  petrel retry 42            # a job id from `petrel status`; `make retry JOB=42`",
    "plan": "examples:\n"
    "  petrel plan commands issue_comment.created comment.json\n"
    "  petrel plan pr_review pull_request.opened saved-pull_request.json",
}
OVERVIEW = """commands, one example each (`petrel COMMAND --help` says more):
  petrel run                                          serve Petrel on this machine
  petrel status                                       deliveries, jobs, dead letters
  petrel retry 42                                     queue dead-lettered job 42 again
  petrel review --repo . --range main..my-branch      review a local range, print it
  petrel plan commands issue_comment.created c.json   what a function plans for a payload"""


def command_parser(sub, name: str, help: str, description: str):
    """A subcommand whose --help ends with its example (EXAMPLES), line breaks kept."""
    return sub.add_parser(
        name,
        help=help,
        description=textwrap.fill(description, 88),
        epilog=EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parser() -> argparse.ArgumentParser:
    """The `petrel` command line: run, status, retry, plan, review; an example in every --help."""
    top = argparse.ArgumentParser(
        prog="petrel",
        description=textwrap.fill(
            "Petrel, a lightweight GitHub App: serve it on this machine, look after its jobs, "
            "and see what it would do with a pull request or a saved webhook payload.",
            88,
        ),
        epilog=OVERVIEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = command_parser(
        sub,
        "run",
        "serve the webhook and the functions, run the workers",
        "Serve the webhook and every function on PORT and run the job workers, with the embedded "
        "Postgres unless DATABASE_URL is set. Writes a .env with a webhook secret when there is none.",
    )
    run.set_defaults(func=command_run)
    status = command_parser(
        sub,
        "status",
        "queue counts and dead letters",
        "Print the deliveries stored, the jobs by status, the dead letters.",
    )
    status.set_defaults(func=command_status)
    retry = command_parser(sub, "retry", "queue a dead-lettered job again", "Queue a dead-lettered job again.")
    retry.add_argument("job", type=int, help="the job's id, as `petrel status` lists it")
    retry.set_defaults(func=command_retry)
    plan = command_parser(
        sub,
        "plan",
        "print the plan a function makes for a saved payload",
        "Run one function on a saved webhook payload and print the actions it plans; nothing is "
        "sent to GitHub. With GitHub credentials it reads GitHub; with a model it calls the model.",
    )
    plan.add_argument("function", help="a folder of functions/, e.g. pr_review or commands")
    plan.add_argument("event", help="event or event.action, e.g. issue_comment.created")
    plan.add_argument("payload", help="path of a JSON payload")
    plan.set_defaults(func=command_plan)
    add_review_command(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command; returns the exit status (the `petrel` script's)."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except settings.SettingsError as error:
        print(f"petrel: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
