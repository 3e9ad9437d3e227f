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
"""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["is_testing", "no_waiting", "set_testing"]

_enabled = False


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
