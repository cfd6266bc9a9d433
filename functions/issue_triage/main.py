"""Triage new issues: duplicates from long-term memory, labels from the repository's own set,
and (when configured) a first answer from the repository's docs.

Runs on issues opened. The planning is in shared/triage.py; this module gathers the
repository's config and labels, the memory and a model, and applies the plan. It acts on
one issue at a time: Petrel takes no bulk action on a repository's existing issues.
"""

import logging

import functions_framework

from shared import function, notices, settings
from shared.embeddings import embedder_for
from shared.llm import BudgetExceeded, ModelError
from shared.memory import Memory
from shared.pulls import contents_fetcher
from shared import config as repo_config
from shared.triage import issue_from_payload, plan_triage, skip_reason

SUBSCRIBES = ("issues.opened",)

log = logging.getLogger("petrel.issue_triage")
WORK = "triage this issue"


def repository_labels(client, repository: str) -> dict[str, str]:
    """The repository's labels: name -> description."""
    return {label.name: label.description or "" for label in client.get_repo(repository, lazy=True).get_labels()}


def triage(delivery, payload: dict, forced: bool = False) -> list[str]:
    """Triage the issue of `payload` (an issues or issue_comment delivery)."""
    issue = issue_from_payload(payload)
    client = function.github_client(delivery)
    if client is None:
        log.info("dry-run without GitHub credentials: cannot read %s to triage #%s", issue.repository, issue.number)
        return []
    loaded = repo_config.load(contents_fetcher(client), issue.repository)
    steps = notices.config_error(issue.repository, issue.number, loaded)
    config = loaded.config
    skipped = skip_reason(issue)
    if (not config.triage.auto and not forced) or skipped:
        log.info("not triaged: %s", skipped or "automatic triage is off in this repository's config")
        return function.act(delivery, steps, client)
    try:
        memory = Memory(function.database(), embedder_for(settings.current()))
        model = function.model("issue_triage", issue.repository, config)
        planned, report = plan_triage(issue, memory, model, config, repository_labels(client, issue.repository))
        log.info("triage of #%s: candidates %s, duplicate %s, related %s, labels %s", issue.number, report.candidates,
                 report.duplicate, [n for n, _, _ in report.related], report.labels)
        steps += planned
    except BudgetExceeded as error:
        steps.append(notices.budget_spent(issue.repository, issue.number, error))
    except ModelError as error:
        steps.append(notices.model_unavailable(issue.repository, issue.number, str(error), WORK))
    return function.act(delivery, steps, client)


@functions_framework.cloud_event
def handle(event):
    """Triage the issue of an issues.opened delivery."""
    delivery = function.delivery_of(event)
    with function.job_scope(delivery):
        triage(delivery, delivery.payload)
