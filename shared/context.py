"""What the code running now is working for: a delivery, and a deadline.

The delivery id is the correlation id: every log line and every GitHub request made
for an event carries it. The deadline is when the current job must be done; code that
would wait past it raises `RetryLater` so the queue reschedules the job instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import time

delivery_id: contextvars.ContextVar[str] = contextvars.ContextVar("delivery_id", default="-")
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


class RetryLater(Exception):
    """The work cannot finish now (a rate limit, say); run the job again after `seconds`."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(f"{reason}; retry in {seconds:.0f}s")
        self.seconds = max(0.0, float(seconds))
        self.reason = reason


def seconds_left() -> float | None:
    """Seconds until the current deadline, or None when there is none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def working_on(delivery: str, timeout_seconds: float | None = None):
    """Run a block for one delivery, with an optional deadline."""
    token_id = delivery_id.set(delivery)
    token_deadline = _deadline.set(None if timeout_seconds is None else time.monotonic() + timeout_seconds)
    try:
        yield
    finally:
        delivery_id.reset(token_id)
        _deadline.reset(token_deadline)
