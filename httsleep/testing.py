"""Run code that polls without really waiting, in your own test suite.

In testing mode every wait httsleep would sleep is skipped, and the skipped
time is added to the poll's clock, so limits behave exactly as they would
for real: ``max_retries`` runs out after the same number of requests, a
``timeout`` after the same number of waits, and hooks see the waits that
would have been slept. Only the sleeping is gone.

Use it as a context manager or switch it on for a whole session::

    import httsleep.testing

    with httsleep.testing.no_waiting():
        ...  # code that calls httsleep()

    # or, e.g. in conftest.py:
    httsleep.testing.set_testing(True)

It applies to polls started while it is on, in every thread, for the
synchronous and the asyncio API alike. Patching ``httsleep.main.sleep``, as
with httsleep 0.3.1, still works too (for the synchronous API).

The in-memory rate limit (:class:`httsleep.ratelimit.RateLimit` without a
``clock=``) counts the waits skipped by every poll of the process
(:func:`skipped`) as time passed: a poller's skipped waits pass for its rate
limit too, so that testing mode does not make up waits for a slot that
the real poll would not have had.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

__all__ = ["count_skipped", "is_testing", "no_waiting", "set_testing", "skipped"]

_enabled = False
_skipped = 0.0
_skipped_lock = threading.Lock()


def set_testing(enabled: bool) -> None:
    """Switch testing mode on or off for the whole process."""
    global _enabled
    _enabled = bool(enabled)


def is_testing() -> bool:
    """Whether testing mode is on."""
    return _enabled


@contextlib.contextmanager
def no_waiting() -> Iterator[None]:
    """Testing mode inside a ``with`` block; the previous setting is restored after."""
    previous = is_testing()
    set_testing(True)
    try:
        yield
    finally:
        set_testing(previous)


def count_skipped(seconds: float) -> None:
    """Count ``seconds`` of a wait that a poll skipped in testing mode (the polls call it)."""
    global _skipped
    with _skipped_lock:
        _skipped += seconds


def skipped() -> float:
    """Seconds of waits skipped in testing mode so far, by every poll of the process (never decreases)."""
    return _skipped
