"""Planning a pull request review: which files, in which chunks, which findings land where.

1. Skip what should not be reviewed (drafts unless configured, bots, skip labels,
   `@petrel ignore`, a head already reviewed).
2. Take every changed file, or on a new push only what changed since the last reviewed head
   (everything again after a force-push, or when the comparison is too large for GitHub).
3. Filter paths, set aside whitespace-only files and what the light model proposes as trivial
   where that is provably so (`review.triage: false`: no such call).
4. Rank and pack the rest into chunks that fit the model; review chunks in parallel.
   A second look checks each chunk's findings (shared/review/verify.py); near-duplicates merge.
5. Check every finding's path and line against the diff: a line near the diff moves to the
   nearest diff line, the rest goes to the review body. Drop findings already posted.
6. One review, event COMMENT, whose body lists every changed file not reviewed and why
   (a file GitHub gives no patch for, the files past GitHub's 3,000-file limit), within
   GitHub's size limit for a body (shared/review/report.py).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shared import diff, diff_packing
from shared.github import actions, markers
from shared.github.pulls import PullInfo, PullSource
from shared.model.llm import Model, ModelError
from shared.repo_config.schema import Config
from shared.review.dedupe import merge_near_duplicates, near_open_threads
from shared.review.findings import place_findings
from shared.review.followup import as_finding, open_threads
from shared.review.intent import read_intent
from shared.review.prompt import (
    BACKGROUND_TOKENS_CAP,
    Background,
    chunk_budget,
    fit_reserved,
    review_chunk,
    system_prompt,
)
from shared.review.report import Report, review_body
from shared.review.rules import read_rules
from shared.review.surroundings import for_the_check, surrounding_code
from shared.review.trivial import select_files, triage
from shared.review.verify import second_look

log = logging.getLogger("petrel.review")

MAX_CHUNKS = 40

SKIP_WORD = "@petrel ignore"


def skip_reason(info: PullInfo, config: Config) -> str | None:
    """Why this pull request is not reviewed automatically, or None."""
    if info.draft and not config.review.drafts:
        return "draft pull request (set review.drafts: true to review drafts)"
    if info.author_is_bot:
        return f"opened by a bot ({info.author})"
    skip = {label.lower() for label in config.review.skip_labels}
    labelled = [label for label in info.labels if label.lower() in skip]
    if labelled:
        return f"labelled {labelled[0]!r}"
    if SKIP_WORD in info.body.lower():
        return f"the description says {SKIP_WORD}"
    return None


def skip(info: PullInfo, config: Config, last_head: str | None, forced: bool) -> str | None:
    """Why this review does not run (skip_reason, or a head already reviewed), or None; a forced
    review (`/petrel review`, `petrel review`) always runs."""
    if forced:
        return None
    reason = skip_reason(info, config)
    if reason is None and last_head == info.head_sha:
        return f"head {info.head_sha[:7]} was already reviewed"
    return reason


def plan_review(
    pull: PullSource,
    model: Model,
    config: Config,
    last_head: str | None,
    forced: bool = False,
    background: Background | None = None,
    rejected: Callable[[str], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[actions.Action], Report | None, str | None]:
    """The review to post: (actions, report, skip reason). `last_head` is the head reviewed before.
    `progress(done, total)` is told how many chunks have come back of how many (`petrel review`)."""
    info = pull.info()
    reason = skip(info, config, last_head, forced)
    if reason:
        return [], None, reason
    report = Report(info)
    changes = pull.changes()
    files = changes.files
    report.unlisted = changes.unlisted
    report.lines_changed = sum(f.changed for f in files)
    scope = files
    if last_head and config.review.incremental and last_head != info.head_sha:
        since = pull.changes_since(last_head)
        if since is not None:
            scope = diff.restrict(files, since)
            report.incremental_from = last_head
        else:
            log.info(
                "no changes since %s to be had (force-push, or too large a comparison): "
                "reviewing the whole pull request",
                last_head[:7],
            )
    selected = triage(select_files(scope, config, report), model, report, config, pull.head_file)
    system = system_prompt(config)
    intent = read_intent(pull, model) if selected else ""  # once per review: every chunk carries it
    rules = read_rules(pull, config, [f.path for f in selected], model)
    intent = fit_reserved(model, system, intent, rules)  # a small context: the intent and the rules give way
    budget = chunk_budget(model, system, model.estimate(intent) + rules.budget)
    packing = diff_packing.pack(diff.rank(selected), budget, lambda text: model.estimate(text), MAX_CHUNKS)
    background_budget = min(BACKGROUND_TOKENS_CAP, budget // 2)
    # what the chunk budget leaves (as much again) holds the code around the changes, then the background
    around = surrounding_code(pull.head_file, model.estimate, budget)
    report.not_reviewed.extend(packing.not_reviewed)
    report.chunks = len(packing.chunks)

    results: list[tuple[diff_packing.Chunk, list[dict] | ModelError]] = []
    with ThreadPoolExecutor(max_workers=max(1, config.review.concurrency)) as pool:
        # each chunk runs in a copy of this context: its model calls keep the delivery id
        futures = [
            (
                chunk,
                pool.submit(
                    contextvars.copy_context().run,
                    review_chunk,
                    model,
                    system + rules.prompt(f.path for f in chunk.files),
                    chunk,
                    background,
                    background_budget,
                    intent,
                    around,
                ),
            )
            for chunk in packing.chunks
        ]
        for chunk, future in futures:
            try:
                results.append((chunk, future.result()))
            except ModelError as error:
                results.append((chunk, error))
            if progress is not None:
                progress(len(results), len(futures))
    if config.review.verify:  # the second look: each chunk's findings checked before anything is posted
        results = second_look(model, results, report, config.review.concurrency, for_the_check(around))

    in_chunks: dict[str, diff.FileDiff] = {}
    findings: list[dict] = []
    failed: set[str] = set()
    for chunk, result in results:
        if isinstance(result, ModelError):
            failed.update(f.path for f in chunk.files)
            report.not_reviewed.extend((f.path, f"model error: {result}") for f in chunk.files)
            continue
        report.lines_to_model += chunk.changed
        for file in chunk.files:
            known = in_chunks.get(file.path)
            in_chunks[file.path] = (
                file
                if known is None
                else diff.FileDiff(file.path, file.old_path, file.status, file.binary, known.hunks + file.hunks)
            )
        findings.extend(result)
    report.reviewed = sorted(set(in_chunks) - failed)
    report.rules = rules.applied if report.reviewed else []
    # a finding may name any line of the file's whole diff, not only the chunk's hunks
    whole = {f.path: f for f in files if f.path in report.reviewed}
    findings, report.merged = merge_near_duplicates(findings)
    threads = pull.posted_findings()
    posted = {fp for fp in (markers.fingerprint_of(p.body) for p in threads) if fp}
    findings, report.already_posted = near_open_threads(findings, [as_finding(t) for t in open_threads(threads)])
    place_findings(findings, whole, config, posted, report, rejected)
    if not report.reviewed and not report.not_reviewed and not report.trivial and not report.unlisted:
        return [], report, "no changes to review"
    review = actions.PostReview(
        info.repository,
        info.number,
        info.head_sha,
        f"review:{info.head_sha}",
        review_body(report),
        tuple(report.comments),
    )
    return [review], report, None
