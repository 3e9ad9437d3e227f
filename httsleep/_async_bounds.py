"""Time bounds for the asyncio transports: an awaitable cut off after some seconds.

On an event loop a deadline needs no watchdog: the awaitable is cancelled
when its time is up, wherever it is waiting (connecting, TLS, the head, a
1xx response, the body), and :class:`DeadlinePassed` is raised in its place.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Awaitable, Optional, Tuple, TypeVar

if TYPE_CHECKING:
    from .policy import PollRun

__all__ = ["MIN_BOUND", "DeadlinePassed", "bound", "timed_out", "within"]

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


def bound(seconds: float, run: PollRun) -> Tuple[float, bool]:
    """``seconds``, or what remains of ``run``'s deadline if that is shorter; and whether it was."""
    remaining = run.remaining()
    if remaining is not None and remaining <= seconds:
        return max(remaining, 0.0), True
    return seconds, False


def timed_out(by_deadline: bool, run: PollRun, otherwise: str) -> str:
    """The message of a bound that ran out: the deadline's, or ``otherwise`` (the request timeout's)."""
    if by_deadline:
        return "no complete response before the deadline (timeout={:g}s)".format(run.policy.timeout or 0)
    return otherwise
