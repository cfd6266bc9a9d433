"""How many requests one model server gets at once, across the whole process.

A review sends its chunks in parallel (`review.concurrency`), several jobs run at once, and a
summary or a triage may run beside them: all of them reach the same server. A local server
such as llama.cpp's serves one request at a time (or a few slots) and queues the rest; a
request waiting in that queue spends its own timeout there and fails. So Petrel queues them
itself instead: each model server (by its base URL) has PETREL_MODEL_CONCURRENCY slots, and a
request waits for a free one before it is sent. That wait stops at the job's deadline and
lease (shared/runtime/scope.py) like everything else a job does; the request's own timeout
starts once it holds a slot.

A slot is held for the whole call, the client's retries and the waits between them included:
a server that just answered 429 or 503 is the one these slots are for, and letting another
request in during the back-off would only add to what it refused.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from shared.runtime import scope

OPENAI_URL = "https://api.openai.com/v1"  # the openai client's default base URL
WAIT_SLICE_SECONDS = 1.0  # how often a waiting request looks at the job's lease again

_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_lock = threading.Lock()


def _semaphore(base_url: str | None, limit: int) -> threading.BoundedSemaphore:
    # keyed by the limit too: the settings are read once per process, so in production one URL has
    # one limit; a test that changes the setting gets its own slots rather than a resized semaphore
    key = ((base_url or OPENAI_URL).rstrip("/"), max(1, limit))
    with _lock:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(key[1])
        return _slots[key]


@contextlib.contextmanager
def server_slot(base_url: str | None, limit: int, what: str = "a model request") -> Iterator[None]:
    """Hold one of the `limit` slots of the model server at `base_url` for the block.

    Waits for a free slot, but not past the job's deadline nor once its lease is lost: then it
    raises `DeadlineExceeded` or `LeaseLost` (shared/runtime/scope.py) without sending anything.
    """
    semaphore = _semaphore(base_url, limit)
    while True:
        scope.check(what)
        left = scope.seconds_left()
        wait = WAIT_SLICE_SECONDS if left is None else max(0.0, min(WAIT_SLICE_SECONDS, left))
        if semaphore.acquire(timeout=wait):
            break
    try:
        yield
    finally:
        semaphore.release()
