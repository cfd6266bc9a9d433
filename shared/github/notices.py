"""Comments that tell people why Petrel did not do what they expected: said once, never silent.

Each notice is an upsert keyed by what it is about, so a repeated cause (the same broken
config file, the same exhausted day) edits one comment instead of adding more.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.github.actions import UpsertComment
from shared.model.llm import BudgetExceeded
from shared.repo_config.load import LoadedConfig
from shared.repo_config.schema import CONFIG_PATH

CONFIG_ERROR = (
    "Petrel could not use its configuration: {error}\n\n"  # the error names the file (never quotes it)
    "Until it is fixed on the default branch, Petrel goes on with the default configuration."
)
BUDGET_SPENT = (
    "Petrel is paused on this repository until 00:00 UTC: its daily token budget ({budget:,} tokens) "
    "is spent, so reviews, summaries and replies wait until then. To allow more, raise "
    "`daily_token_budget` in `{path}`."
)
MODEL_UNAVAILABLE = "Petrel could not {work}: {reason}."


def config_error(repository: str, number: int, loaded: LoadedConfig) -> list[UpsertComment]:
    """The comment saying the repository's configuration is unusable, or nothing when it loaded fine."""
    if not loaded.error:
        return []
    body = CONFIG_ERROR.format(error=loaded.error)
    return [UpsertComment(repository, number, f"config-error:{loaded.sha or 'unknown'}", body)]


def budget_spent(repository: str, number: int, error: BudgetExceeded) -> UpsertComment:
    """One notice per thread and day, whichever function met the limit first."""
    day = datetime.now(UTC).date().isoformat()
    body = BUDGET_SPENT.format(budget=error.budget, path=CONFIG_PATH)
    return UpsertComment(repository, number, f"budget:{day}", body)


def model_unavailable(repository: str, number: int, reason: str, work: str) -> UpsertComment:
    """One notice per kind of work (review, summary...) on the thread, edited as the reason changes."""
    key = f"model-unavailable:{work.split()[0]}"
    return UpsertComment(repository, number, key, MODEL_UNAVAILABLE.format(work=work, reason=reason))
