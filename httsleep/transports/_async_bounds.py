"""Time bounds for the asyncio transports: an awaitable cut off after some seconds.

On an event loop a deadline needs no watchdog: the awaitable is cancelled
when its time is up, wherever it is waiting (connecting, TLS, the head, a
1xx response, the body), and :class:`DeadlinePassed` is raised in its place;
:func:`bounded` waits by the bounds of :class:`~httsleep.transports.rules.AttemptRules`
and raises the transport's timeout in the rules' words.

The bound is :func:`asyncio.timeout` (Python 3.11+), else async-timeout's
``timeout()``, its backport. Not :func:`asyncio.wait_for`: before 3.12 it
can swallow a cancellation that arrives as the awaitable finishes
(python/cpython#86296), so that a task cancelled at that moment goes on
polling; a poll without limits then runs for ever.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable, Optional, TypeVar

if sys.version_info >= (3, 11):
    _timeout: Callable[[float], Any] = asyncio.timeout
else:  # pragma: no cover - Python 3.9 and 3.10 (tox)
    from async_timeout import timeout as _timeout

from .rules import AttemptRules, reworded

__all__ = ["MIN_BOUND", "DeadlinePassed", "bounded", "within"]

_T = TypeVar("_T")

#: The shortest bound handed to the event loop (as for request timeouts).
MIN_BOUND = 0.01


class DeadlinePassed(Exception):
    """The bound given to :func:`within` ran out before the awaitable finished."""


async def within(awaitable: Awaitable[_T], seconds: Optional[float]) -> _T:
    """Await ``awaitable``, raising :class:`DeadlinePassed` after ``seconds`` (``None``: no bound).

    A ``TimeoutError`` raised by the awaitable itself (not by the bound)
    propagates unchanged.
    """
    if seconds is None:
        return await awaitable
    scope = _timeout(max(seconds, MIN_BOUND))
    try:
        async with scope:
            return await awaitable
    except asyncio.TimeoutError:  # TimeoutError from Python 3.11
        expired = scope.expired
        if expired() if callable(expired) else expired:  # a method of asyncio's; a property of async-timeout's
            raise DeadlinePassed() from None
        raise


async def bounded(
    awaitable: Awaitable[_T], rules: AttemptRules, phase: str, timeout_error: Callable[[], BaseException]
) -> _T:
    """Await ``awaitable`` within the rules' bound for ``phase`` (``"head"``: the whole head; ``"body"``: one read).

    Past the bound, ``timeout_error()`` (the transport's timeout class) is
    raised in the rules' words.
    """
    bound = rules.head_bound() if phase == "head" else rules.read_bound()
    try:
        return await within(awaitable, bound.seconds)
    except DeadlinePassed:
        raise reworded(timeout_error(), rules.timeout_message(phase, bound)) from None
