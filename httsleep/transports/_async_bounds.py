"""Time bounds for the asyncio transports: an awaitable cut off after some seconds.

On an event loop a deadline needs no watchdog: the awaitable is cancelled
when its time is up, wherever it is waiting (connecting, TLS, the head, a
1xx response, the body), and :class:`DeadlinePassed` is raised in its place;
:func:`bounded` waits by the bounds of :class:`~httsleep.transports.rules.AttemptRules`
and raises the transport's timeout in the rules' words.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Optional, TypeVar

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
    seconds = max(seconds, MIN_BOUND)
    scope_factory = getattr(asyncio, "timeout", None)
    if scope_factory is None:  # Python < 3.11
        try:
            return await asyncio.wait_for(awaitable, seconds)
        except asyncio.TimeoutError:
            raise DeadlinePassed() from None
    scope = scope_factory(seconds)
    try:
        async with scope:
            return await awaitable
    except TimeoutError:
        if scope.expired():
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
