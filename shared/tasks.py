"""The work Petrel does on one pull request or issue, whoever asks for it.

The functions run these on webhook events (`pr_review`, `pr_summary`, `issue_triage`), and
the commands function runs them on `/review`, `/describe` and `/triage` (forced, so a
config that turns the automatic run off does not stop an explicit request). Each gathers
what its planner needs (GitHub, the repository's config, memory, a model with the
repository's budget), applies the plan, and says in one line what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.repo_config import load as repo_config
from shared import context as function
from shared.github import notices
from shared.runtime import settings
from shared.model.embeddings import embedder_for
from shared.memory.feedback import Feedback
from shared.model.llm import BudgetExceeded, ModelError
from shared.memory.store import Memory
from shared.github.pulls import contents_fetcher
from shared.review.plan import memory_context, plan_review, skip_reason as pull_skip_reason
from shared.review.state import ReviewStore
from shared.summary import plan_summary, review_status
from shared.triage import issue_from_payload, plan_triage, skip_reason as issue_skip_reason

log = logging.getLogger("petrel.tasks")

NO_CREDENTIALS = "Petrel has no GitHub credentials here (dry-run), so it cannot read this"


@dataclass(frozen=True)
class TaskResult:
    outcomes: list[str]
    status: str           # one line for the person who asked
    failed: bool = False  # the work could not be done (budget, model): the status says why


def _could_not(delivery, steps, client, repository: str, number: int, work: str, error: Exception) -> TaskResult:
    """The work could not be done: say so on the thread (once), and to whoever asked."""
    if isinstance(error, BudgetExceeded):
        steps.append(notices.budget_spent(repository, number, error))
    else:
        steps.append(notices.model_unavailable(repository, number, str(error), work))
    return TaskResult(function.act(delivery, steps, client), str(error), failed=True)


def _memory() -> Memory:
    return Memory(function.database(), embedder_for(settings.current()))


def review_pull(delivery, number: int, forced: bool = False) -> TaskResult:
    """Review pull request `number` of the delivery's repository."""
    work = "review this pull request"
    opened = function.open_pull(delivery, number, work)
    if opened is None:
        return TaskResult([], NO_CREDENTIALS, failed=True)
    client, pull, loaded, steps = opened
    repository, config = delivery.repository, loaded.config
    if not config.review.auto and not forced:
        return TaskResult(function.act(delivery, steps, client), "automatic review is off in this repository's config")
    store = ReviewStore(function.database())
    last = store.last(repository, number)
    try:
        model = function.model("pr_review", repository, config)
        memory = _memory()
        context = memory_context(memory, repository, model.estimate)
        feedback = Feedback(memory, repository, delivery.installation_id)
        learn_from_reactions(feedback, pull.posted_findings())
        planned, report, skipped = plan_review(pull, model, config, last.head_sha if last else None, forced, context,
                                               feedback.rejected)
    except (BudgetExceeded, ModelError) as error:
        return _could_not(delivery, steps, client, repository, number, work, error)
    outcomes = function.act(delivery, steps + planned, client)
    if skipped:
        return TaskResult(outcomes, f"not reviewed: {skipped}")
    if settings.current().sends_to_github:
        store.save(repository, number, report.info.head_sha, len(report.reviewed), len(report.comments),
                   report.files_not_reviewed)
    return TaskResult(outcomes, f"reviewed `{report.info.head_sha[:7]}`: {len(report.reviewed)} file(s), "
                                f"{len(report.comments)} inline comment(s), {report.files_not_reviewed} file(s) not reviewed")


def learn_from_reactions(feedback: Feedback, posted) -> None:
    """Store the 👍/👎 on Petrel's earlier comments of this pull request as feedback (`posted` counts
    only Petrel's own comments, and only reactions of people who may steer it: shared/github/identity.py)."""
    for finding in posted:
        if finding.thumbs_down > finding.thumbs_up:
            feedback.record(finding.comment_id, "negative", finding.body, finding.path)
        elif finding.thumbs_up > finding.thumbs_down:
            feedback.record(finding.comment_id, "positive", finding.body, finding.path)


def summarize_pull(delivery, number: int, forced: bool = False) -> TaskResult:
    """Write or refresh the summary comment of pull request `number`."""
    work = "summarize this pull request"
    opened = function.open_pull(delivery, number, work)
    if opened is None:
        return TaskResult([], NO_CREDENTIALS, failed=True)
    client, pull, loaded, steps = opened
    repository, config = delivery.repository, loaded.config
    if not config.summary.auto and not forced:
        return TaskResult(function.act(delivery, steps, client), "automatic summaries are off in this repository's config")
    info = pull.info()
    status = review_status(pull_skip_reason(info, config), ReviewStore(function.database()).last(repository, number),
                           info.head_sha)
    try:
        steps += plan_summary(info, pull.changes(), function.model("pr_summary", repository, config), config, status)
    except (BudgetExceeded, ModelError) as error:
        return _could_not(delivery, steps, client, repository, number, work, error)
    return TaskResult(function.act(delivery, steps, client), f"summary of `{info.head_sha[:7]}` written")


def repository_labels(client, repository: str) -> dict[str, str]:
    """The repository's labels: name -> description."""
    return {label.name: label.description or "" for label in client.get_repo(repository, lazy=True).get_labels()}


def triage_issue(delivery, payload: dict, forced: bool = False) -> TaskResult:
    """Triage the issue of `payload` (an `issues` or `issue_comment` delivery)."""
    work = "triage this issue"
    issue = issue_from_payload(payload)
    client = function.github_client(delivery)
    if client is None:
        return TaskResult([], NO_CREDENTIALS, failed=True)
    loaded = repo_config.load(contents_fetcher(client), issue.repository)
    steps = notices.config_error(issue.repository, issue.number, loaded)
    config = loaded.config
    skipped = issue_skip_reason(issue) if not forced else None
    if skipped or (not config.triage.auto and not forced):
        reason = skipped or "automatic triage is off in this repository's config"
        return TaskResult(function.act(delivery, steps, client), f"not triaged: {reason}")
    try:
        model = function.model("issue_triage", issue.repository, config)
        planned, report = plan_triage(issue, _memory(), model, config, repository_labels(client, issue.repository))
    except (BudgetExceeded, ModelError) as error:
        return _could_not(delivery, steps, client, issue.repository, issue.number, work, error)
    log.info("triage of #%s: candidates %s, duplicate %s, related %s, labels %s", issue.number, report.candidates,
             report.duplicate, [n for n, _, _ in report.related], report.labels)
    parts = [f"duplicate of #{report.duplicate[0]}" if report.duplicate else "no duplicate found",
             f"labels: {', '.join(report.labels)}" if report.labels else "no label added"]
    return TaskResult(function.act(delivery, steps + planned, client), "triaged: " + "; ".join(parts))
