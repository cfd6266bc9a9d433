"""Comments that tell people why Petrel did not do what they expected: said once, never silent.

Each notice is an upsert keyed by what it is about, so a repeated cause (the same broken
config file, the same exhausted day) edits one comment instead of adding more.
"""

from __future__ import annotations

from datetime import datetime, timezone

from shared.actions import UpsertComment
from shared.config import CONFIG_PATH, LoadedConfig
from shared.llm import BudgetExceeded

CONFIG_ERROR = ("Petrel could not use `{path}` ({source}): {error}\n\n"
                "Until it is fixed on the default branch, Petrel goes on with the default configuration.")
BUDGET_SPENT = ("Petrel did not {work}: this repository's daily token budget ({budget:,} tokens) is spent. "
                "It starts again at 00:00 UTC. To allow more, raise `daily_token_budget` in `{path}`.")
MODEL_UNAVAILABLE = "Petrel could not {work}: {reason}."


def config_error(repository: str, number: int, loaded: LoadedConfig) -> list[UpsertComment]:
    if not loaded.error:
        return []
    body = CONFIG_ERROR.format(path=CONFIG_PATH, source=loaded.source or repository, error=loaded.error)
    return [UpsertComment(repository, number, f"config-error:{loaded.sha or 'unknown'}", body)]


def budget_spent(repository: str, number: int, error: BudgetExceeded, work: str) -> UpsertComment:
    day = datetime.now(timezone.utc).date().isoformat()
    body = BUDGET_SPENT.format(work=work, budget=error.budget, path=CONFIG_PATH)
    return UpsertComment(repository, number, f"budget:{day}", body)


def model_unavailable(repository: str, number: int, reason: str, work: str) -> UpsertComment:
    return UpsertComment(repository, number, "model-unavailable", MODEL_UNAVAILABLE.format(work=work, reason=reason))
