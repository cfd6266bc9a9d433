"""Model usage in Postgres: one row per call, summed per repository and UTC day for the budget."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from shared.model.llm import UsageLedger
from shared.runtime import scope as context


class PostgresLedger(UsageLedger):
    """Records each model call (delivery, function, model, tokens, cost) in the `usage` table."""

    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def record(self, repository, function, model, prompt_tokens, completion_tokens, cost) -> None:
        """Store one call's usage in `usage`, under the current delivery."""
        delivery = context.delivery_id.get()
        with self.pool.connection() as conn:
            conn.execute(
                """INSERT INTO usage (delivery_id, repository, function, model, prompt_tokens, completion_tokens, cost_usd)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (
                    None if delivery == "-" else delivery,
                    repository,
                    function,
                    model,
                    prompt_tokens,
                    completion_tokens,
                    cost,
                ),
            )

    def spent_today(self, repository: str) -> int:
        """Tokens (prompt and completion) `repository` used since 00:00 UTC."""
        with self.pool.connection() as conn:
            row = conn.execute(
                """SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage
                   WHERE repository = %s AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'""",
                (repository,),
            ).fetchone()
        return int(row[0])
