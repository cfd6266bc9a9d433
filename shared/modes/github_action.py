"""GitHub Action mode: `python -m shared.modes.github_action` runs Petrel's functions on the event that
triggered the workflow, in the job itself, with no server and no queue.

- The event is `GITHUB_EVENT_NAME` and its payload the JSON file at `GITHUB_EVENT_PATH`.
  Events that Actions names differently from webhooks are renamed (`pull_request_target`
  is a `pull_request`). The payload has no `installation`: the workflow's `GITHUB_TOKEN`
  is used in single-token mode.
- The delivery id is `GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT-event`: a re-run of the workflow is
  a new delivery, a step retried within the same attempt is not.
- Every function subscribed to the event runs in this process, one after another, through
  the same `handle` entry point and CloudEvent the workers use.
- The database is `DATABASE_URL` when given, else an embedded Postgres under
  `$RUNNER_TEMP/petrel` (`PETREL_DATA_DIR`), stopped at the end. That one starts empty on
  each run unless the data directory is kept with actions/cache (docs/action.md).
- One line per function is printed, and written to `$GITHUB_STEP_SUMMARY` when set. The
  exit status is 0 when every function finished, 1 when one failed or must be retried later
  (Actions has no queue to retry it), 2 when the run could not start (event, settings).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.pipeline import events
from shared.pipeline.subscriptions import subscribers
from shared.runtime import log as petrel_log
from shared.runtime import scope as context
from shared.runtime import settings
from shared.runtime.scope import RetryLater

log = logging.getLogger("petrel.action")

# Actions event names that GitHub Apps receive under another name (same payload).
RENAMED = {"pull_request_target": "pull_request"}
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
MAX_ERROR_CHARS = 400


class Unusable(Exception):
    """The run cannot start: the message says what is missing."""


@dataclass
class Outcome:
    """What one function did for the delivery: its status, time, detail and actions."""

    function: str
    status: str  # done, failed, retry later
    seconds: float
    detail: str = ""  # the error, or the wait
    actions: list[str] = field(default_factory=list)  # what reached GitHub (or would have, in dry-run)

    @property
    def ok(self) -> bool:
        """Whether the function finished."""
        return self.status == "done"


class _ActionLines(logging.Handler):
    """Collects the executor's lines (`petrel.actions`): what each function did on GitHub."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(petrel_log.redact(record.getMessage()))
        except Exception:  # noqa: BLE001 - a summary line is never worth a failure
            pass


def event_name(actions_event: str) -> str:
    """The webhook event name of an Actions event name."""
    return RENAMED.get(actions_event, actions_event)


def delivery_id(env: Mapping[str, str], actions_event: str) -> str:
    """A delivery id unique to the run, its attempt and the event (a fresh one outside Actions)."""
    run_id, attempt = env.get("GITHUB_RUN_ID"), env.get("GITHUB_RUN_ATTEMPT") or "1"
    if not run_id:  # outside Actions (trying it locally): every run is a new delivery
        return f"local-{uuid.uuid4()}-{actions_event}"
    return f"{run_id}-{attempt}-{actions_event}"


def read_delivery(env: Mapping[str, str]) -> events.Delivery:
    """The delivery of the workflow's triggering event."""
    actions_event = (env.get("GITHUB_EVENT_NAME") or "").strip()
    if not actions_event:
        raise Unusable("GITHUB_EVENT_NAME is not set: run this in a GitHub Actions job (or set it to the event name)")
    path = env.get("GITHUB_EVENT_PATH") or ""
    if not path:
        raise Unusable("GITHUB_EVENT_PATH is not set: it names the file holding the event's payload")
    try:
        body = Path(path).read_bytes()
    except OSError as error:
        raise Unusable(f"GITHUB_EVENT_PATH={path!r} cannot be read: {error.strerror}") from None
    headers = {
        "X-GitHub-Event": event_name(actions_event),
        "X-GitHub-Delivery": delivery_id(env, actions_event),
        "Content-Type": "application/json",
    }
    try:
        return events.parse_delivery(headers, body)
    except events.WebhookError as error:
        raise Unusable(f"the payload at GITHUB_EVENT_PATH cannot be used: {error.message}") from None


def prepare_environment(env: dict[str, str]) -> dict[str, str]:
    """Defaults for a runner: the embedded Postgres's data under $RUNNER_TEMP/petrel, and a
    runtime directory for it where the runner has none."""
    runner_temp = env.get("RUNNER_TEMP") or tempfile.gettempdir()
    if not env.get("DATABASE_URL") and not env.get("PETREL_DATA_DIR"):
        env["PETREL_DATA_DIR"] = str(Path(runner_temp) / "petrel")
    if not env.get("XDG_RUNTIME_DIR"):
        runtime = Path(runner_temp) / "petrel-runtime"
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)  # pgserver reads it when imported
    return env


def load_settings(env: Mapping[str, str]) -> settings.Settings:
    """The settings from the job's environment only: a `.env` in the workspace (which may be the
    pull request's checkout) is not read."""
    config = settings.from_env(env)
    settings.install(config)  # what the functions' settings.current() answers in this process
    return config


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().replace("\n", " ")
    text = petrel_log.redact(text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def run_function(name: str, delivery: events.Delivery, config: settings.Settings) -> Outcome:
    """Run one function's `handle` on the delivery, in this process."""
    from shared.pipeline.worker import cloudevent_for, load_handler

    lines = _ActionLines()
    executor = logging.getLogger("petrel.actions")
    executor.addHandler(lines)
    started = time.monotonic()
    status, detail = "done", ""
    with context.working_on(delivery.id, config.job_timeout_seconds):
        log.info("running %s for %s", name, delivery.name)
        try:
            load_handler(name)(cloudevent_for(delivery))
        except RetryLater as later:
            status = "retry later"
            detail = (
                f"{later.reason}; GitHub Actions has no queue to retry it: re-run this job in "
                f"{later.seconds:.0f}s or later"
            )
        except Exception as failure:  # noqa: BLE001 - every failure is reported, then the next function runs
            status, detail = "failed", _short(failure)
            log.debug("%s", traceback.format_exc())
        finally:
            executor.removeHandler(lines)
    return Outcome(name, status, time.monotonic() - started, detail, lines.lines)


def fork_warning(actions_event: str, delivery: events.Delivery) -> str | None:
    """Why a fork's pull request under `pull_request` will fail: the token is read-only."""
    if actions_event != "pull_request":
        return None
    pull = delivery.payload.get("pull_request") or {}
    head = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
    base = ((pull.get("base") or {}).get("repo") or {}).get("full_name")
    if not (head and base and head != base):
        return None
    return (
        f"this pull request comes from the fork {head}: on `pull_request` its workflow gets a read-only token "
        f"and no secrets, so Petrel cannot comment or review. Use `pull_request_target` "
        f"(see docs/action.md, Pull requests from forks)"
    )


def headline(delivery: events.Delivery, actions_event: str) -> str:
    """One line naming the event, its action and where it happened."""
    where = delivery.repository or "?"
    if delivery.subject:
        where += f"#{delivery.subject}"
    renamed = f" (as {delivery.event})" if actions_event != delivery.event else ""
    return f"Petrel: {actions_event}{'.' + delivery.action if delivery.action else ''}{renamed} on {where}"


def text_report(outcomes: list[Outcome]) -> str:
    """The outcomes as plain text, one line per function followed by its actions."""
    lines = []
    for outcome in outcomes:
        line = f"  {outcome.function:16} {outcome.status:12} {outcome.seconds:6.1f}s"
        if outcome.detail:
            line += f"  {outcome.detail}"
        lines.append(line)
        lines += [f"      {action}" for action in outcome.actions]
    return "\n".join(lines)


def markdown_report(
    title: str, delivery: events.Delivery, outcomes: list[Outcome], mode: str, warning: str | None = None
) -> str:
    """The outcomes as Markdown for the step summary, with the warning if any."""
    icon = {"done": "✅", "failed": "❌", "retry later": "⏳"}
    parts = [f"### {title}", "", f"Delivery `{delivery.id}`, {mode}.", ""]
    if warning:
        parts += [f"> **Warning:** {warning}.", ""]
    if not outcomes:
        parts.append("No Petrel function subscribes to this event: nothing to do.")
        return "\n".join(parts) + "\n"
    parts += ["| function | result | time | details |", "|---|---|---|---|"]
    for outcome in outcomes:
        detail = outcome.detail.replace("|", "\\|").replace("`", "'")
        parts.append(
            f"| `{outcome.function}` | {icon.get(outcome.status, '')} {outcome.status} | "
            f"{outcome.seconds:.1f} s | {detail} |"
        )
    done = [o for o in outcomes if o.actions]
    if done:
        parts += ["", "<details><summary>Actions on GitHub</summary>", "", "```"]
        for outcome in done:
            parts += [f"{outcome.function}: {action}" for action in outcome.actions]
        parts += ["```", "", "</details>"]
    return "\n".join(parts) + "\n"


def annotation(text: str) -> str:
    """Text for a workflow command (`::error::`), escaped as the runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def write_step_summary(env: Mapping[str, str], text: str) -> None:
    """Append `text` to the step summary when Actions gives one; a failure to write is logged."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(text)
    except OSError as error:
        print(f"petrel: cannot write GITHUB_STEP_SUMMARY ({error.strerror})", file=sys.stderr)


def _close_database() -> None:
    """Close the pool, then stop an embedded Postgres this run started (so that a cache of its
    data directory saved after the job holds a clean shutdown)."""
    from shared.runtime import db

    db.close_pool()
    embedded = db.embedded()
    if embedded is not None and embedded.started_here:
        embedded.stop()


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run the functions for the Actions event in the environment; returns the exit status."""
    env = prepare_environment(dict(os.environ if environ is None else environ))
    petrel_log.setup()
    try:
        delivery = read_delivery(env)
        config = load_settings(env)
    except (Unusable, settings.SettingsError) as error:
        print(f"petrel: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    actions_event = env["GITHUB_EVENT_NAME"].strip()
    title = headline(delivery, actions_event)
    names = subscribers(delivery.event, delivery.action)
    mode = (
        "sending to GitHub"
        if config.sends_to_github
        else "dry-run (PETREL_DRY_RUN): planned actions are logged, nothing is sent"
        if config.has_github_credentials
        else "dry-run: no GITHUB_TOKEN, planned actions are logged, nothing is sent"
    )
    if not names:
        print(f"{title}: no Petrel function subscribes to {delivery.name}; nothing to do.", flush=True)
        write_step_summary(env, markdown_report(title, delivery, [], mode))
        return EXIT_OK
    where = "DATABASE_URL" if config.database_url else f"embedded Postgres under {config.data_dir / 'postgres'}"
    print(f"{title}: running {', '.join(names)} (delivery {delivery.id}; {mode}; database: {where})", flush=True)
    warning = fork_warning(actions_event, delivery)
    if warning:
        print(f"petrel: warning: {warning}", file=sys.stderr, flush=True)
        if env.get("GITHUB_ACTIONS") == "true":
            print(f"::warning title=Petrel::{annotation(warning)}", file=sys.stderr, flush=True)
    outcomes = []
    try:
        for name in names:
            outcomes.append(run_function(name, delivery, config))
    finally:
        try:
            _close_database()
        except Exception as error:  # noqa: BLE001 - the outcomes matter more than a clean stop
            print(f"petrel: could not stop the embedded Postgres cleanly: {_short(error)}", file=sys.stderr)
    print(f"{title}:\n{text_report(outcomes)}", flush=True)
    write_step_summary(env, markdown_report(title, delivery, outcomes, mode, warning))
    failed = [o for o in outcomes if not o.ok]
    for outcome in failed:
        print(f"petrel: {outcome.function} {outcome.status}: {outcome.detail}", file=sys.stderr)
        if env.get("GITHUB_ACTIONS") == "true":  # an annotation on the workflow run
            print(
                f"::error title=Petrel {outcome.function} {outcome.status}::{annotation(outcome.detail)}",
                file=sys.stderr,
            )
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
