"""What the code running now is working for: a delivery, a deadline, and (under a worker) a lease.

The delivery id is the correlation id: every log line and every GitHub request made
for an event carries it. The deadline is when the current job must be done; code that
would wait past it raises `RetryLater` so the queue reschedules the job instead, and the
GitHub and model clients stop at it (`check`, `capped`): a job never keeps working after
its time is up. The lease is the worker's claim on the job: once the worker cannot renew
it, another worker may take the job, so this one stops reaching GitHub or the model.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time

delivery_id: contextvars.ContextVar[str] = contextvars.ContextVar("delivery_id", default="-")
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
_lease: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("lease", default=None)

LEASE_SAFETY_SECONDS = 1.0  # a lease is treated as lost this long (at most a quarter of it) before it can lapse
MIN_REQUEST_SECONDS = 0.05  # the shortest timeout worth giving a request


class RetryLater(Exception):
    """The work cannot finish now (a rate limit, say); run the job again after `seconds`."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(f"{reason}; retry in {seconds:.0f}s")
        self.seconds = max(0.0, float(seconds))
        self.reason = reason


class JobStopped(Exception):
    """The job must stop now: its deadline passed, or its worker no longer holds its lease."""


class DeadlineExceeded(JobStopped):
    """The job's deadline passed: nothing more is sent to GitHub or the model."""


class LeaseLost(JobStopped):
    """The worker could not keep the job's lease: another worker may run it, so this one stops."""


class Lease:
    """The worker's lease on the running job, as its heartbeat last renewed it.

    `renewed(at)` records a renewal sent at monotonic time `at` (sent, not answered: the
    database set the new end no earlier than that); `lose()` records that another worker
    took the job. The job reads `seconds_left()`.
    """

    def __init__(self, seconds: float, renewed_at: float | None = None):
        self.seconds = float(seconds)
        self._renewed_at = time.monotonic() if renewed_at is None else renewed_at
        self._lost: str | None = None
        self._lock = threading.Lock()

    def renewed(self, at: float) -> None:
        """Record a renewal sent at monotonic time `at` (a late answer never moves the lease back)."""
        with self._lock:
            self._renewed_at = max(self._renewed_at, at)

    def lose(self, reason: str) -> None:
        """Record that the lease is lost, and why: `seconds_left()` is 0 from now on."""
        with self._lock:
            self._lost = reason

    def seconds_left(self) -> float:
        """Seconds the lease surely still holds, if not renewed again (0 once lost)."""
        with self._lock:
            if self._lost:
                return 0.0
            safety = min(LEASE_SAFETY_SECONDS, self.seconds / 4)
            return self._renewed_at + self.seconds - safety - time.monotonic()

    def why_lost(self) -> str:
        """Why the job lost its lease, for the LeaseLost message."""
        return self._lost or "its lease could not be renewed in time"


def seconds_left() -> float | None:
    """Seconds until the current deadline, or None when there is none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def check(what: str = "work") -> None:
    """Raise `DeadlineExceeded` or `LeaseLost` when the current job must not `what` any more."""
    left = seconds_left()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"the job's deadline has passed: not starting {what}")
    lease = _lease.get()
    if lease is not None and lease.seconds_left() <= 0:
        raise LeaseLost(f"the worker no longer holds the job's lease ({lease.why_lost()}): not starting {what}")


def capped(timeout: float) -> float:
    """`timeout`, cut to what is left of the deadline (after `check`). Not to the lease: the
    heartbeat renews it meanwhile, and a write still in flight when it lapses holds its
    artefact's lock (shared/runtime/locks.py), so the next worker finds that write."""
    left = seconds_left()
    return timeout if left is None else max(MIN_REQUEST_SECONDS, min(timeout, left))


@contextlib.contextmanager
def working_on(delivery: str, timeout_seconds: float | None = None, lease: Lease | None = None):
    """Run a block for one delivery, with an optional deadline and the worker's lease."""
    token_id = delivery_id.set(delivery)
    token_deadline = _deadline.set(None if timeout_seconds is None else time.monotonic() + timeout_seconds)
    token_lease = _lease.set(lease)
    try:
        yield
    finally:
        delivery_id.reset(token_id)
        _deadline.reset(token_deadline)
        _lease.reset(token_lease)
