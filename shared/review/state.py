"""What Petrel last reviewed on each pull request, so the next push is reviewed incrementally, and
what its reviews cost so far (shared/review/cost.py), for the running total in each review's body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import ConnectionPool

from shared.review.cost import NOTHING, Cost


@dataclass(frozen=True)
class ReviewState:
    """The last review of a pull request: the head reviewed, when, what it covered, and what all
    the pull request's reviews cost together."""

    head_sha: str
    reviewed_at: datetime
    files_reviewed: int
    comments: int
    not_reviewed: int
    total: Cost = NOTHING


class ReviewStore:
    """The `reviews` table: one row per pull request, the last head reviewed and the running cost."""

    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def last(self, repository: str, number: int) -> ReviewState | None:
        """The last review of the pull request, or None if it was never reviewed."""
        with self.pool.connection() as conn:
            row = conn.execute(
                """SELECT head_sha, reviewed_at, files_reviewed, comments, not_reviewed, total_calls,
                          total_prompt_tokens, total_completion_tokens, total_cost_usd, total_reviews
                   FROM reviews WHERE repository = %s AND pull_number = %s""",
                (repository, number),
            ).fetchone()
        if not row:
            return None
        calls, prompt, completion, usd, reviews = row[5:]
        return ReviewState(*row[:5], Cost(calls, prompt, completion, float(usd), reviews))

    def save(
        self,
        repository: str,
        number: int,
        head_sha: str,
        files_reviewed: int,
        comments: int,
        not_reviewed: int,
        cost: Cost = NOTHING,
    ) -> None:
        """Record the review of the pull request at `head_sha`, replacing the previous one, and add
        what it cost (`cost`) to the pull request's running total."""
        with self.pool.connection() as conn:
            conn.execute(
                """INSERT INTO reviews (repository, pull_number, head_sha, files_reviewed, comments, not_reviewed,
                       total_calls, total_prompt_tokens, total_completion_tokens, total_cost_usd, total_reviews)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (repository, pull_number) DO UPDATE SET head_sha = excluded.head_sha,
                       reviewed_at = now(), files_reviewed = excluded.files_reviewed,
                       comments = excluded.comments, not_reviewed = excluded.not_reviewed,
                       total_calls = reviews.total_calls + excluded.total_calls,
                       total_prompt_tokens = reviews.total_prompt_tokens + excluded.total_prompt_tokens,
                       total_completion_tokens = reviews.total_completion_tokens + excluded.total_completion_tokens,
                       total_cost_usd = reviews.total_cost_usd + excluded.total_cost_usd,
                       total_reviews = reviews.total_reviews + excluded.total_reviews""",
                (
                    repository,
                    number,
                    head_sha,
                    files_reviewed,
                    comments,
                    not_reviewed,
                    cost.calls,
                    cost.prompt_tokens,
                    cost.completion_tokens,
                    cost.usd,
                    cost.reviews,
                ),
            )


class MemoryReviewStore:
    """The same, in memory: for the local CLI, which has no database."""

    def __init__(self):
        self.rows: dict[tuple[str, int], ReviewState] = {}

    def last(self, repository: str, number: int) -> ReviewState | None:
        """The last review of the pull request, or None if it was never reviewed."""
        return self.rows.get((repository, number))

    def save(self, repository, number, head_sha, files_reviewed, comments, not_reviewed, cost: Cost = NOTHING) -> None:
        """Record the review of the pull request at `head_sha`, replacing the previous one, and add
        what it cost to the running total."""
        before = self.rows.get((repository, number))
        total = (before.total if before else NOTHING) + cost
        self.rows[(repository, number)] = ReviewState(
            head_sha, datetime.now(), files_reviewed, comments, not_reviewed, total
        )
