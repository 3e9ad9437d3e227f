"""Judging a large response in a worker thread, within the poll's deadline (see ``PollRun.judge_elsewhere``).

Each judging that leaves the poll's thread gets a daemon thread of its own,
not a slot in a shared pool: one that overruns the deadline is abandoned
(Python cannot stop it) and finishes on its own, without holding up the
judging of other polls or the event loop's default executor (where asyncio
resolves host names).
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

if TYPE_CHECKING:
    from .policy import Judgement, PollRun

__all__ = ["judged", "judged_async"]

T = TypeVar("T")


def _in_thread(function: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
    """Start ``function(*args)`` in a new daemon thread; its result comes in the future."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # pragma: no cover - judge() returns the errors it meets
            future.set_exception(exc)

    threading.Thread(target=work, name="httsleep-judge", daemon=True).start()
    return future


def judged(run: PollRun, response: Any) -> Optional[Judgement]:
    """The synchronous driver's verdict on ``response``: judged in a thread within the deadline, or ``None``.

    ``None`` means "judge it in this thread" (a small body, a callback
    condition, or no deadline): :meth:`PollRun.received` does. When the
    deadline passes first, ``run.judging_ran_out`` gives up.
    """
    if not run.judge_elsewhere(response):
        return None
    future = _in_thread(run.judge, response)
    try:
        return future.result(max(run.remaining() or 0.0, 0.0))
    except concurrent.futures.TimeoutError:
        run.judging_ran_out(response)


async def judged_async(run: PollRun, response: Any) -> Optional[Judgement]:
    """The asyncio driver's verdict on ``response``: a large body is judged off the event loop, within the deadline."""
    import asyncio  # here: the synchronous front end does not import asyncio

    if not run.judge_elsewhere(response, asynchronous=True):
        return None
    remaining = run.remaining()
    future = asyncio.wrap_future(_in_thread(run.judge, response))
    try:
        return await asyncio.wait_for(future, None if remaining is None else max(remaining, 0.0))
    except asyncio.TimeoutError:
        run.judging_ran_out(response)
