"""Short-term memory: each thread's conversation, in Postgres, summarized when it grows.

A turn is stored once per delivery (a redelivered question adds nothing). `history` gives
the turns that fit a token budget; when older turns no longer fit, they are folded into a
summary written by the light model, which is stored and used from then on. Nothing expires.
"""

from __future__ import annotations

from collections.abc import Callable

from psycopg_pool import ConnectionPool

Summarizer = Callable[[str], str]


class Conversations:
    """The stored conversations of every thread, over one connection pool."""

    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def add(
        self,
        repository: str,
        number: int,
        thread: str,
        role: str,
        content: str,
        author: str | None = None,
        delivery_id: str | None = None,
    ) -> None:
        """Store one turn of a thread; a turn already stored for the same delivery and role is kept as it was."""
        with self.pool.connection() as conn:
            conn.execute(
                """INSERT INTO messages (repository, number, thread, role, author, content, delivery_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (delivery_id, role) DO NOTHING""",
                (repository, number, thread, role, author, content, delivery_id),
            )

    def _rows(self, repository: str, number: int, thread: str) -> list[tuple]:
        with self.pool.connection() as conn:
            return conn.execute(
                """SELECT id, role, author, content FROM messages
                   WHERE repository = %s AND number = %s AND thread = %s AND NOT summarized
                   ORDER BY role = 'summary' DESC, id""",  # the summary stands for what came before
                (repository, number, thread),
            ).fetchall()

    def history(
        self,
        repository: str,
        number: int,
        thread: str,
        budget_tokens: int,
        estimate: Callable[[str], int],
        summarize: Summarizer | None = None,
        before_delivery: str | None = None,
    ) -> list[dict]:
        """Earlier turns as chat messages, newest kept whole, older ones summarized past the budget."""
        rows = self._rows(repository, number, thread)
        if before_delivery:
            with self.pool.connection() as conn:
                mine = {
                    r[0] for r in conn.execute("SELECT id FROM messages WHERE delivery_id = %s", (before_delivery,))
                }
            rows = [r for r in rows if r[0] not in mine]
        kept, used = [], 0
        for row in reversed(rows):
            cost = estimate(row[3]) + 4
            if used + cost > budget_tokens and row[1] != "summary":
                break
            kept.append(row)
            used += cost
        kept.reverse()
        older = rows[: len(rows) - len(kept)]
        if older and summarize is not None:
            text = "\n".join(f"{r[2] or r[1]}: {r[3]}" for r in older)
            summary = summarize(text)
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("UPDATE messages SET summarized = true WHERE id = ANY(%s)", ([r[0] for r in older],))
                row = conn.execute(
                    """INSERT INTO messages (repository, number, thread, role, content) VALUES (%s, %s, %s, 'summary', %s)
                       RETURNING id, role, author, content""",
                    (repository, number, thread, summary),
                ).fetchone()
            kept.insert(0, row)
        return [
            {
                "role": "assistant" if r[1] == "assistant" else "user",
                "content": (
                    f"(Summary of the earlier conversation) {r[3]}"
                    if r[1] == "summary"
                    else f"{r[2]}: {r[3]}"
                    if r[1] == "user" and r[2]
                    else r[3]
                ),
            }
            for r in kept
        ]
