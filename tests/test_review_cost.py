"""What a review cost, at the end of its body: model calls, tokens and price, with the pull request's
running total over its reviews (kept in the `reviews` table), end to end through pr_review.

The fake model serves every call with the same usage, so what the body says can be checked
against what the fake served.
"""

from __future__ import annotations

import psycopg
import pytest
from fakes.completions import confirm_findings
from test_pr_functions import REPO, world  # noqa: F401 (the world fixture: webhook, worker, fakes)
from test_review import edited_service, reviewer

from shared.review.cost import Cost
from shared.review.report import cost_line
from shared.review.state import MemoryReviewStore
from shared.runtime import settings

PROMPT, COMPLETION = 700, 40  # the usage the fake model reports for every call
ONLY_REVIEWS = "summary:\n  auto: false\n"  # no summary: every model call is the review's


@pytest.fixture
def served(world):  # noqa: F811 (the imported fixture)
    """The world, its model reporting PROMPT and COMPLETION tokens for every call, and no summary."""
    world.model.responder = lambda request: {**reviewer(request), "usage": usage()}
    world.model.verifier = lambda request: {**confirm_findings(request), "usage": usage()}  # the second look too
    world.github.add_file(REPO, ".github/petrel.yml", ONLY_REVIEWS)
    return world


def usage() -> dict:
    return {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION}


def last_line(review: dict) -> str:
    return review["body"].rstrip().splitlines()[-1]


def calls(place) -> int:
    return len(place.model.chat_requests())


def test_the_body_ends_with_the_calls_and_tokens_the_model_served(served):
    served.open_pull({"app/service.py": edited_service(one=1)})
    served.deliver("opened")
    [review] = served.reviews()
    n = calls(served)
    assert n >= 1
    tokens = f"{n * (PROMPT + COMPLETION):,} tokens ({n * PROMPT:,} prompt + {n * COMPLETION:,} completion)"
    assert last_line(review) == (
        f"_This review: {n} model call(s), {tokens}. This pull request so far, over 1 review(s): "
        f"{n} model call(s), {n * (PROMPT + COMPLETION):,} tokens._"
    )
    assert "$" not in last_line(review)  # no price is set


def test_the_price_is_shown_when_prices_are_set(served, monkeypatch):
    monkeypatch.setenv("PETREL_MODEL_PRICE", "3/15")  # USD per million prompt / completion tokens
    settings.reset()
    served.open_pull({"app/service.py": edited_service(one=1)})
    served.deliver("opened")
    [review] = served.reviews()
    n = calls(served)
    price = n * (PROMPT * 3 + COMPLETION * 15) / 1_000_000
    assert f"completion), ${price:.4f}. This pull request so far" in last_line(review)
    assert last_line(review).endswith(f"tokens, ${price:.4f}._")


def test_the_running_total_adds_up_over_two_pushes(served, clean_db):
    served.open_pull({"app/service.py": edited_service(one=1)})
    served.deliver("opened")
    first = calls(served)
    served.push({"app/service.py": edited_service(one=1, two=61)})
    served.deliver("synchronize")
    second = calls(served) - first
    assert second >= 1
    old, new = served.reviews()
    assert f"_This review: {second} model call(s), {second * (PROMPT + COMPLETION):,} tokens" in last_line(new)
    total = first + second
    assert last_line(new).endswith(
        f"This pull request so far, over 2 review(s): {total} model call(s), {total * (PROMPT + COMPLETION):,} tokens._"
    )
    assert "over 1 review(s)" in last_line(old)
    with psycopg.connect(clean_db) as conn:
        row = conn.execute(
            "SELECT total_reviews, total_calls, total_prompt_tokens, total_completion_tokens FROM reviews"
        ).fetchone()
    assert row == (2, total, total * PROMPT, total * COMPLETION)


def test_the_local_store_keeps_the_running_total_too():
    store = MemoryReviewStore()
    store.save("o/r", 1, "a" * 40, 1, 0, 0, Cost(2, 100, 10, 0.5, 1))
    store.save("o/r", 1, "b" * 40, 1, 0, 0, Cost(3, 200, 20, 0.25, 1))
    assert store.last("o/r", 1).total == Cost(5, 300, 30, 0.75, 2)


def test_the_cost_line_prices_in_cents_from_a_dollar():
    line = cost_line(Cost(1, 1000, 100, 0.00042, 1), Cost(40, 900_000, 90_000, 12.5, 9), priced=True)
    assert line == (
        "_This review: 1 model call(s), 1,100 tokens (1,000 prompt + 100 completion), $0.0004. "
        "This pull request so far, over 9 review(s): 40 model call(s), 990,000 tokens, $12.50._"
    )
