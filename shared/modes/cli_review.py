"""`petrel review`: a review planned on a local git range, printed as GitHub would show it, nothing sent.

Apart from shared/modes/cli.py because it has two outputs of its own: a progress line on a terminal
(chunks reviewed of the total, model calls, tokens, elapsed; on stderr, redrawn in place) and, with
`--json`, the plan for scripts in one documented shape (docs/cli.md) and nothing else on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TextIO

from shared.runtime import settings

NOTHING_REVIEWED = "nothing could be reviewed: the model gave no review for any of the {chunks} chunk(s)"
NOTHING_REVIEWED_STATUS = 3  # 0: a review, or nothing to review; 2: a setting or input to fix

# the keys of `petrel review --json`, documented in docs/cli.md (a test holds the two together)
JSON_KEYS = ("repository", "base", "head", "status", "skipped", "comments", "body", "report", "cost")
# the report's counts, then what it lists (as counts, or as paths with their reasons)
REPORT_COUNTS = (
    "chunks",
    "lines_changed",
    "lines_to_model",
    "unlisted",
    "merged",
    "already_posted",
    "rejected_before",
    "below_severity",
    "over_limit",
    "dropped_by_check",
    "unchecked",
)
REPORT_KEYS = REPORT_COUNTS + ("findings_in_body", "moved", "reviewed", "not_reviewed", "trivial")

EXAMPLES = """examples:
  petrel review --repo ../my-project --range main..my-branch
  petrel review --repo ../my-project --payload saved-pull_request.json
  petrel review --repo . --range main..HEAD --since abc1234
  petrel review --repo . --range main..HEAD --json | jq '.comments[].path'

exit status: 0 reviewed (or nothing to review), 2 a setting or an input to fix,
3 nothing could be reviewed (every model call failed)."""


class Progress:
    """One line on `stream` saying how far the review is (chunks reviewed of the total, model calls,
    tokens, seconds elapsed), redrawn in place with a carriage return: after each chunk and, on a
    terminal, every `every` seconds meanwhile (the triage before the chunks and the second look after
    them call the model too; a log file gets no such repeats). Ends with a newline, so what is
    written after it starts on a line of its own."""

    def __init__(self, model, stream: TextIO, every: float = 0.5):
        self.model, self.stream, self.every = model, stream, every
        self.done, self.total = 0, None
        self.started = time.monotonic()
        self.width = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.ticker = threading.Thread(target=self._tick, name="petrel-progress", daemon=True)

    def line(self) -> str:
        """What the progress line says now."""
        chunks = f"{self.done}/{'?' if self.total is None else self.total} chunks reviewed"
        tokens = self.model.prompt_tokens + self.model.completion_tokens
        elapsed = time.monotonic() - self.started
        return f"petrel review: {chunks}, {self.model.calls} model call(s), {tokens:,} tokens, {elapsed:.0f}s elapsed"

    def draw(self) -> None:
        """Write the line over the previous one."""
        with self.lock:
            text = self.line()
            self.stream.write("\r" + text.ljust(self.width))
            self.stream.flush()
            self.width = len(text)

    def chunk_done(self, done: int, total: int) -> None:
        """plan_review's `progress` callback: `done` chunks of `total` have come back."""
        self.done, self.total = done, total
        self.draw()

    def _tick(self) -> None:
        while not self.stopped.wait(self.every):
            self.draw()

    def __enter__(self) -> Progress:
        self.draw()
        if self.stream.isatty():
            self.ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        if self.ticker.is_alive():
            self.ticker.join()
        self.draw()
        self.stream.write("\n")
        self.stream.flush()


def plan_json(repository: str, base: str, steps, report, skipped: str | None, model, status: str) -> dict:
    """The plan for scripts: the review's inline comments and body (as people read them, without
    Petrel's hidden markers), what the report counted, and what the model calls cost."""
    from shared.github import markers

    review = steps[0] if steps else None
    counts = {}
    if report is not None:
        counts = {key: getattr(report, key) for key in REPORT_COUNTS} | {
            "findings_in_body": len(report.in_body),
            "moved": len(report.moved),
            "reviewed": list(report.reviewed),
            "not_reviewed": [{"path": path, "reason": reason} for path, reason in report.not_reviewed],
            "trivial": [{"path": path, "reason": reason} for path, reason in report.trivial],
        }
    return {
        "repository": repository,
        "base": base,
        "head": report.info.head_sha if report is not None else None,
        "status": status,
        "skipped": skipped,
        "comments": [
            {"path": c.path, "line": c.line, "side": c.side, "body": markers.before(c.body)}
            for c in (review.comments if review else ())
        ],
        "body": markers.before(review.body) if review else None,
        "report": counts,
        "cost": {
            "model_calls": model.calls,
            "prompt_tokens": model.prompt_tokens,
            "completion_tokens": model.completion_tokens,
            "usd": round(model.cost, 6),
        },
    }


def print_review(source, base: str, review, report, model) -> None:
    """The review as GitHub would show it: one block per inline comment (path:line, then the
    comment without its hidden marker), then the review's body."""
    from shared.github import markers

    print(
        f"Review of {source.repository} {base[:12]}..{report.info.head_sha[:12]}: "
        f"{report.chunks} chunk(s), {model.calls} model call(s), "
        f"{model.prompt_tokens + model.completion_tokens} tokens, "
        f"{report.lines_to_model} of {report.lines_changed} changed lines sent to the model\n"
    )
    for comment in review.comments:
        print(f"--- {comment.path}:{comment.line}\n{markers.before(comment.body)}\n")
    print("--- review body\n" + review.body)


def local_pull(args):
    """The LocalPull to review and its base: a `BASE..HEAD` range, or a saved payload's shas."""
    from shared.github.pulls import LocalPull

    if args.payload:
        payload = json.loads(Path(args.payload).read_text(encoding="utf-8"))
        pull = payload.get("pull_request") or {}
        base, head = pull["base"]["sha"], pull["head"]["sha"]
        repository = (payload.get("repository") or {}).get("full_name", "local/repository")
        number, title, body = int(pull["number"]), pull.get("title") or "", pull.get("body") or ""
        return LocalPull(args.repo, base, head, repository, number, title, body), base
    base, _, head = args.range.partition("..")
    return LocalPull(args.repo, base, head.lstrip(".") or "HEAD"), base


def command_review(args) -> int:
    """Plan a review of a local `base..head` (or of a saved pull_request payload's shas in a
    local clone) and print it. Nothing is sent to GitHub; the model is called. Exits 3 when there
    were files to review and the model reviewed none of them (every chunk a model error)."""
    from shared.model.llm import Model, ModelError
    from shared.review.plan import plan_review

    config = settings.current()
    source, base = local_pull(args)
    loaded = source.config()
    if loaded.error:
        print(f"petrel: {loaded.error} (going on with the defaults)", file=sys.stderr)
    try:
        model = Model(
            config,
            function="cli",
            repository=source.repository,
            names={"review": loaded.config.models.review, "light": loaded.config.models.light},
        )
        shown = args.progress if args.progress is not None else sys.stderr.isatty()
        progress = Progress(model, sys.stderr) if shown else None
        if progress is not None:
            with progress:
                planned = plan_review(source, model, loaded.config, args.since, True, progress=progress.chunk_done)
        else:
            planned = plan_review(source, model, loaded.config, args.since, forced=True)
        steps, report, skipped = planned
    except (ModelError, ValueError) as error:
        print(f"petrel: {error}", file=sys.stderr)
        return 2
    failed = bool(not skipped and report.chunks and not report.reviewed)  # sent to the model, none came back
    status = "nothing to review" if skipped else ("nothing reviewed" if failed else "reviewed")
    if args.json:
        print(json.dumps(plan_json(source.repository, base, steps, report, skipped, model, status), indent=2))
    elif skipped:
        print(f"nothing to review: {skipped}")
    else:
        print_review(source, base, steps[0], report, model)
    if failed:
        errors = [reason for _, reason in report.not_reviewed if reason.startswith("model error")]
        why = f": {errors[0]}" if errors else ""
        print(f"petrel: {NOTHING_REVIEWED.format(chunks=report.chunks)}{why}", file=sys.stderr)
        return NOTHING_REVIEWED_STATUS
    return 0


def add_review_command(sub) -> None:
    """The `review` subcommand and its options, on the parser's subcommands `sub`."""
    review = sub.add_parser(
        "review",
        help="plan a review of a local git range and print it (nothing is sent)",
        description=textwrap.fill(
            "Plan a review of a local git range and print it as GitHub would show it, with progress on "
            "a terminal. The model is called; nothing is sent to GitHub.",
            88,
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    review.add_argument("--repo", default=".", help="path of a local git repository (default: here)")
    target = review.add_mutually_exclusive_group(required=True)
    target.add_argument("--range", help="BASE..HEAD, e.g. main..my-branch")
    target.add_argument("--payload", help="a saved pull_request webhook payload: its base and head shas")
    review.add_argument("--since", help="review only what changed since this commit (an earlier reviewed head)")
    review.add_argument(
        "--json", action="store_true", help="print the plan as JSON for scripts (docs/cli.md), and nothing else"
    )
    review.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress on stderr (default: only when stderr is a terminal)",
    )
    review.set_defaults(func=command_review)
