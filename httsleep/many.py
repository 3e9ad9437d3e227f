"""Many URLs, one poller: :func:`poll_many` (threads) and :func:`async_poll_many` (asyncio).

The fleet case: "poll these 10,000 job URLs with the same conditions".
Both compile the conditions and limits once (one
:class:`~httsleep.policy.Policy` shared by every URL's poll), poll the URLs
side by side, and yield ``(url, outcome)`` pairs as the polls end, not in
the order given. ``outcome`` is the matching response, or the exception
that ended that URL's poll (an :class:`~httsleep.exceptions.Alarm`, a
:class:`~httsleep.exceptions.GaveUp`, a request error...), as
``asyncio.gather(..., return_exceptions=True)`` reports them: one failing
URL never stops the others, and httsleep's messages name the URL.

What ``concurrency`` bounds differs with the front end, as what a waiting
poll costs does:

- :func:`async_poll_many`: the requests in flight. A poll holds a slot
  only around each attempt (request, body and judging), never across a
  wait, so 10,000 polls that wait 30 s between attempts all make progress
  with ``concurrency=100``, on at most ``concurrency`` connections of the
  client they share (the caller's, or
  :meth:`~httsleep.aio.AsyncHttSleeper.shared_client`). A URL is taken
  from ``urls`` only when a slot is free for its first attempt.
- :func:`poll_many`: the polls in progress, one thread each; a thread
  sleeps through its poll's waits (a thread cannot be shared by waiting
  polls), so ``concurrency`` polls wait and request at once, on at most
  ``concurrency`` connections.

Only the standard library is imported here, and not :mod:`asyncio`: the
front end's module (:mod:`httsleep.main` or :mod:`httsleep.aio`) is
imported by the first call, so that ``httsleep.poll_many`` costs what
``httsleep.httsleep`` does.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any, AsyncGenerator, Callable, Generator, Iterable, Iterator, Set, Tuple, TypeVar

from ._validate import positive_int

if TYPE_CHECKING:
    import asyncio

    import aiohttp
    import httpx
    import requests

    from .aio import AsyncHttSleeper
    from .main import HttSleeper

__all__ = ["async_poll_many", "poll_many"]

#: What a URL of ``urls`` is (a string, or a request object): given back as it was, with its outcome.
Target = TypeVar("Target")

#: The URL of the poller whose options every URL's poller shares; it is never requested.
_TEMPLATE_URL = "http://poll-many.invalid/"


# -- asyncio ---------------------------------------------------------------------------------------


def async_poll_many(
    urls: Iterable[Target],
    until: Any = None,
    alarms: Any = None,
    *,
    concurrency: int = 100,
    client: httpx.AsyncClient | aiohttp.ClientSession | None = None,
    **options: Any,
) -> AsyncGenerator[Tuple[Target, Any], None]:
    """Poll every URL of ``urls`` with the same conditions; yield ``(url, outcome)`` as each poll ends.

    >>> import asyncio
    >>> from httsleep import async_poll_many
    >>> urls = ['http://myendpoint/jobs/{}'.format(n) for n in range(3)]
    >>> done = {'expression': 'status', 'value': 'SUCCESS'}
    >>> async def statuses():
    ...     polls = async_poll_many(urls, jsonpath=[done], timeout=600, concurrency=2)
    ...     return [outcome.json()['status'] async for url, outcome in polls]
    >>> asyncio.run(statuses())
    ['SUCCESS', 'SUCCESS', 'SUCCESS']

    ``outcome`` is the response that matched (as :func:`async_httsleep`
    returns it), or the exception that ended that URL's poll: an
    :class:`~httsleep.exceptions.Alarm`, an
    :class:`~httsleep.exceptions.AsyncGaveUp`, the HTTP library's error, a
    ``ValueError`` for a URL that cannot be polled... (what
    :meth:`AsyncHttSleeper.run <httsleep.aio.AsyncHttSleeper.run>` raises).
    Every URL is yielded exactly once, as it was given, in the order the
    polls end.

    :param urls: the URLs (or :class:`httpx.Request` objects), any
        iterable; a generator is read lazily, one URL each time a slot is
        free for a new poll's first attempt.
    :param until: the success conditions, as for :class:`~httsleep.aio.AsyncHttSleeper`.
    :param alarms: the alarm conditions, as for :class:`~httsleep.aio.AsyncHttSleeper`.
    :param concurrency: the most requests in flight at once (default 100).
        A poll holds a slot for each attempt (its request, body and
        judging), never while it waits between attempts: every poll started
        makes progress, and the client holds at most ``concurrency``
        connections.
    :param client: an :class:`httpx.AsyncClient` or an
        :class:`aiohttp.ClientSession` every poll sends with; left open. Its
        own limits apply too: give it at least ``concurrency`` connections
        (aiohttp's default is 100; httpx's 100, of which 20 kept alive).
        Without one, the polls share a client: on aiohttp the event loop's
        shared session, as every :class:`~httsleep.aio.AsyncHttSleeper`
        without ``client=`` does (see :doc:`/async`); on httpx one opened
        for them, its pool capped at ``concurrency`` connections, closed
        when the iteration ends, however it ends. Each poll keeps its own
        cookies. Their requests in flight, bounded by ``concurrency``, bound
        the connections they use. The outcomes are
        :class:`~httsleep.responses.AsyncResponse` objects whatever the
        library.
    :param options: every other keyword of
        :class:`~httsleep.aio.AsyncHttSleeper` (the shorthand conditions,
        ``max_retries``, ``timeout``, ``polling_interval``, ``headers``,
        ``auth``, ``verify``, ``on_attempt``...), applied to every URL.
        Hooks run on the event loop, a breaker is shared by all the polls,
        and so is a ``rate_limit`` (a rate as text: the process-wide limit
        of that rate); a poll waiting for its slot holds none of the
        ``concurrency`` slots.
    :returns: an asynchronous generator. Leaving the ``async for`` early
        (``break``, an exception) or cancelling the task that iterates
        stops the polls still running: at once when cancelled; on
        ``break``, when the generator is closed,
        which asyncio does soon after (``await results.aclose()``, or
        from Python 3.10 :func:`contextlib.aclosing`, has it done before
        the next line).

    The conditions and every option are checked here, before any request
    is sent and before ``urls`` is read; each URL when its turn comes (a
    URL that cannot be polled is yielded with its ``ValueError``).

    :raises TypeError: ``urls`` is not iterable; an option that
        :class:`~httsleep.aio.AsyncHttSleeper` does not take, or of the
        wrong type (an :class:`~httsleep.exceptions.ArgumentTypeError`
        also for ``concurrency``, which must be an integer).
    :raises ValueError: an option that cannot be used (as for
        :class:`~httsleep.aio.AsyncHttSleeper`), or ``concurrency`` < 1.
    :raises ImportError: no ``client=`` was given and neither aiohttp nor
        httpx is installed.
    :raises Exception: while iterating, what ``urls`` raised; no URL's
        outcome is ever raised.
    """
    from .aio import AsyncHttSleeper

    slots = positive_int(concurrency, "concurrency")
    template = AsyncHttSleeper(_TEMPLATE_URL, until, alarms, client=client, **options)
    return _polled_on_loop(template, iter(urls), slots)


async def _polled_on_loop(
    template: AsyncHttSleeper, urls: Iterator[Target], concurrency: int
) -> AsyncGenerator[Tuple[Target, Any], None]:
    """The generator :func:`async_poll_many` returns: a task admitting the URLs, and their outcomes as they come."""
    import asyncio  # here: the threads of poll_many do without it

    async with template.shared_client(concurrency) as client:
        slots = asyncio.Semaphore(concurrency)
        ended: asyncio.Queue[Any] = asyncio.Queue()
        running: Set[asyncio.Future[None]] = set()
        admitting = asyncio.ensure_future(_admit(template, urls, client, slots, ended, running))
        admitting.add_done_callback(lambda _: ended.put_nowait(_ALL_ENDED))
        try:
            while True:
                item = await ended.get()
                if item is _ALL_ENDED:
                    break
                yield item
            admitting.result()  # what the caller's iterable raised, if it did
        finally:
            tasks = [admitting, *running]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


#: Put on the queue of outcomes when every URL has been taken and every poll has ended.
_ALL_ENDED = object()


async def _admit(
    template: AsyncHttSleeper,
    urls: Iterator[Any],
    client: Any,
    slots: asyncio.Semaphore,
    ended: asyncio.Queue[Any],
    running: Set[asyncio.Future[None]],
) -> None:
    """Start a poll for each URL once a slot is free for its first attempt; return when all have ended."""
    import asyncio

    while True:
        await slots.acquire()
        try:
            url = next(urls)
        except BaseException as error:  # StopIteration: every URL taken; anything else: the caller's iterable failed
            slots.release()
            if isinstance(error, StopIteration):
                break
            raise
        try:
            sleeper = template.for_url(url, client)
        except Exception as error:  # a URL that cannot be polled: its outcome
            slots.release()
            ended.put_nowait((url, error))
            continue
        task = asyncio.ensure_future(_poll_one(url, sleeper, _Slot(slots), ended))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(set(running))


async def _poll_one(url: Any, sleeper: AsyncHttSleeper, slot: _Slot, ended: asyncio.Queue[Any]) -> None:
    """Poll one URL, a slot held around each attempt; put ``(url, outcome)`` on ``ended``."""
    try:
        outcome = await sleeper.run(slot=slot)
    except Exception as error:  # the poll's end, reported with its URL (CancelledError is not one)
        outcome = error
    finally:
        slot.give_back()
    ended.put_nowait((url, outcome))


class _Slot:
    """A poll's use of the shared slots: one taken for each attempt, released before every wait.

    A new poll starts holding the slot its admission took (see
    :func:`_admit`): its first attempt uses that one.
    """

    __slots__ = ("_slots", "_admitted")

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._admitted = True

    async def __aenter__(self) -> None:
        if self._admitted:
            self._admitted = False
            return
        await self._slots.acquire()

    async def __aexit__(self, *exc_info: Any) -> None:
        self._slots.release()

    def give_back(self) -> None:
        """Release the admission's slot if the poll ended before its first attempt used it."""
        if self._admitted:
            self._admitted = False
            self._slots.release()


# -- threads ---------------------------------------------------------------------------------------


def poll_many(
    urls: Iterable[Target],
    until: Any = None,
    alarms: Any = None,
    *,
    concurrency: int = 10,
    session: requests.Session | None = None,
    **options: Any,
) -> Generator[Tuple[Target, Any], None, None]:
    """Poll every URL of ``urls`` with the same conditions, in threads; yield ``(url, outcome)`` as each poll ends.

    >>> from httsleep import poll_many
    >>> urls = ['http://myendpoint/jobs/{}'.format(n) for n in range(3)]
    >>> done = {'expression': 'status', 'value': 'SUCCESS'}
    >>> [outcome.json()['status'] for url, outcome in poll_many(urls, jsonpath=[done], timeout=600)]
    ['SUCCESS', 'SUCCESS', 'SUCCESS']

    ``outcome`` is the response that matched (as :func:`httsleep.httsleep`
    returns it), or the exception that ended that URL's poll: an
    :class:`~httsleep.exceptions.Alarm`, a
    :class:`~httsleep.exceptions.StopPolling`, requests' error, a
    ``ValueError`` for a URL that cannot be polled... (what
    :meth:`HttSleeper.run <httsleep.HttSleeper.run>` raises). Every URL is
    yielded exactly once, as it was given, in the order the polls end.

    :param urls: the URLs (or :class:`requests.Request` objects), any
        iterable; a generator is read lazily, one URL each time a thread is
        free.
    :param until: the success conditions, as for :class:`~httsleep.HttSleeper`.
    :param alarms: the alarm conditions, as for :class:`~httsleep.HttSleeper`.
    :param concurrency: the threads, each running one poll from its first
        request to its end, waits included (default 10): the most polls in
        progress, and connections open, at once. For thousands of polls
        that wait, use :func:`async_poll_many`, whose waits hold nothing.
    :param session: a :class:`requests.Session` shared by every poll; left
        open. requests does not promise that a session is safe to use from
        several threads: its cookies are shared by all the polls, and its
        connection pool keeps 10 connections per host unless you mount an
        adapter with ``pool_maxsize=concurrency``. Without one (the default,
        and the safe choice), each poll opens a session of its own and
        closes it when it ends.
    :param options: every other keyword of :class:`~httsleep.HttSleeper`
        (the shorthand conditions, ``max_retries``, ``timeout``,
        ``polling_interval``, ``headers``, ``auth``, ``on_attempt``...),
        applied to every URL. Hooks and callbacks run in the polls' threads,
        several at once. A ``rate_limit`` is shared by all the polls (a rate
        as text: the process-wide limit of that rate).
    :returns: a generator. Leaving the ``for`` loop early (``break``, an
        exception) or closing it stops taking URLs, drops those not started,
        and waits for the polls running: each ends at its next wait, or
        when its request in flight ends (bounded by ``request_timeout``).
        Waits are made with a :class:`threading.Event`, not
        ``httsleep.main.sleep``: in tests, use
        :func:`httsleep.testing.no_waiting`.

    The conditions and every option are checked here, before any request
    is sent and before ``urls`` is read; each URL when its turn comes (a
    URL that cannot be polled is yielded with its ``ValueError``).

    :raises TypeError: ``urls`` is not iterable; an option that
        :class:`~httsleep.HttSleeper` does not take, or of the wrong type
        (an :class:`~httsleep.exceptions.ArgumentTypeError` also for
        ``concurrency``, which must be an integer).
    :raises ValueError: an option that cannot be used (as for
        :class:`~httsleep.HttSleeper`), or ``concurrency`` < 1.
    :raises Exception: while iterating, what ``urls`` raised; no URL's
        outcome is ever raised.
    """
    from .main import HttSleeper

    threads = positive_int(concurrency, "concurrency")
    template = HttSleeper(_TEMPLATE_URL, until, alarms, session=session, **options)
    return _polled_in_threads(template, iter(urls), threads)


class _Stopped(Exception):
    """Ends a poll at its next wait once the caller has stopped iterating (never yielded)."""


def _polled_in_threads(
    template: HttSleeper, urls: Iterator[Target], threads: int
) -> Generator[Tuple[Target, Any], None, None]:
    """The generator :func:`poll_many` returns: tops the pool up from ``urls``, yields outcomes as they come."""
    from concurrent.futures import ThreadPoolExecutor

    stopping = threading.Event()
    ended: queue.SimpleQueue[Tuple[Any, Any]] = queue.SimpleQueue()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="httsleep-poll-many")
    running = 0
    try:
        for url in urls:
            try:
                sleeper = template.for_url(url)  # type: ignore[arg-type]  # a URL or a Request: checked there
            except Exception as error:  # a URL that cannot be polled: its outcome
                yield url, error
                continue
            pool.submit(_poll_in_thread, url, sleeper, stopping, ended.put)
            running += 1
            if running == threads:  # a thread is free only once a poll has ended
                running -= 1
                yield _outcome(ended.get())
        while running:
            running -= 1
            yield _outcome(ended.get())
    finally:
        stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _poll_in_thread(url: Any, sleeper: HttSleeper, stopping: threading.Event, report: Callable[[Any], None]) -> None:
    """Poll one URL in a worker thread, waiting on ``stopping``; report ``(url, outcome)``, whatever happens."""

    def pause(seconds: float) -> None:
        if stopping.wait(seconds):
            raise _Stopped()

    try:
        outcome: Any = sleeper.run(sleep_with=pause)
    except BaseException as error:  # noqa: BLE001 - reported to the caller's thread, which decides
        outcome = error
    report((url, outcome))


def _outcome(item: Tuple[Any, Any]) -> Tuple[Any, Any]:
    """A poll's ``(url, outcome)``; an outcome that is no ``Exception`` (``SystemExit`` in a hook) is raised."""
    if isinstance(item[1], BaseException) and not isinstance(item[1], Exception):
        raise item[1]
    return item
