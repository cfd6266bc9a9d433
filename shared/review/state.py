"""What Petrel last reviewed on each pull request, so the next push is reviewed incrementally."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class ReviewState:
    """The last review of a pull request: the head reviewed, when, and what it covered."""

    head_sha: str
    reviewed_at: datetime
    files_reviewed: int
    comments: int
    not_reviewed: int


class ReviewStore:
    """The `reviews` table: one row per pull request, the last head reviewed."""

    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def last(self, repository: str, number: int) -> ReviewState | None:
        """The last review of the pull request, or None if it was never reviewed."""
        with self.pool.connection() as conn:
            row = conn.execute(
                """SELECT head_sha, reviewed_at, files_reviewed, comments, not_reviewed FROM reviews
                   WHERE repository = %s AND pull_number = %s""",
                (repository, number),
            ).fetchone()
        return ReviewState(*row) if row else None

    def save(
        self, repository: str, number: int, head_sha: str, files_reviewed: int, comments: int, not_reviewed: int
    ) -> None:
        """Record the review of the pull request at `head_sha`, replacing the previous one."""
        with self.pool.connection() as conn:
            conn.execute(
                """INSERT INTO reviews (repository, pull_number, head_sha, files_reviewed, comments, not_reviewed)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (repository, pull_number) DO UPDATE SET head_sha = excluded.head_sha,
                       reviewed_at = now(), files_reviewed = excluded.files_reviewed,
                       comments = excluded.comments, not_reviewed = excluded.not_reviewed""",
                (repository, number, head_sha, files_reviewed, comments, not_reviewed),
            )


class MemoryReviewStore:
    """The same, in memory: for the local CLI, which has no database."""

    def __init__(self):
        self.rows: dict[tuple[str, int], ReviewState] = {}

    def last(self, repository: str, number: int) -> ReviewState | None:
        """The last review of the pull request, or None if it was never reviewed."""
        return self.rows.get((repository, number))

    def save(self, repository, number, head_sha, files_reviewed, comments, not_reviewed) -> None:
        """Record the review of the pull request at `head_sha`, replacing the previous one."""
        self.rows[(repository, number)] = ReviewState(head_sha, datetime.now(), files_reviewed, comments, not_reviewed)
