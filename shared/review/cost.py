"""What a review cost: its model calls, tokens and price, and the pull request's running total.

The Model of a review (shared/model/llm.py) counts every call it makes, the verification calls
included, so what it has counted when the body is written is what the review cost. The running
total is kept with the pull request's review state (shared/review/state.py), and the body says
both (shared/review/report.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Model calls, prompt and completion tokens and USD, of one review or summed over several
    (`reviews` counts them)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    reviews: int = 0

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.usd + other.usd,
            self.reviews + other.reviews,
        )


NOTHING = Cost()  # before the first review


def spent(model) -> Cost:
    """What `model` (a shared.model.llm.Model) has spent so far, as the cost of one review."""
    return Cost(model.calls, model.prompt_tokens, model.completion_tokens, model.cost, 1)


def priced(model) -> bool:
    """Whether a price is set for any of the model's tasks (PETREL_MODEL_PRICE, PETREL_LIGHT_MODEL_PRICE)."""
    return any(spec.price_in or spec.price_out for spec in model.specs.values())
