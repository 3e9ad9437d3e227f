"""The asyncio poller: :class:`AsyncHttSleeper` and :func:`async_httsleep`, on httpx or aiohttp.

Thousands of polls can wait side by side on one event loop: a poll that
sleeps between attempts costs a suspended coroutine, not a thread.
Conditions, alarms, limits, wait strategies, ``Retry-After``, hooks and the
transient-error switch are those of :class:`httsleep.HttSleeper`, decided by
the same code (:class:`httsleep.policy.PollRun`); only sending and sleeping
differ.

Two HTTP clients can send the requests:

- **aiohttp** (``pip install 'httsleep[async]'``), the default: without
  ``client=``, the polls on one event loop share one pooled
  :class:`aiohttp.ClientSession` that httsleep opens on first use and
  closes when the loop shuts down (or after 30 s without a poll; see
  :func:`close_shared_clients`). Each poll keeps its own cookies. Or pass
  your own session as ``client=``.
- **httpx** (``pip install 'httsleep[httpx]'``): pass an
  :class:`httpx.AsyncClient` as ``client=``; without aiohttp installed,
  each poll given no client opens an httpx client of its own (httpcore's
  pool slows down when one client serves many polls), on one SSL context
  shared by all.

Polls return an :class:`~httsleep.responses.AsyncResponse` on both: the
``status_code``, ``headers``, ``text``, ``json()`` and ``content`` of the
other responses (so a callback works on every front end), and the
library's own response as ``.raw``. A poll on aiohttp costs about a third
of the CPU per attempt of one on httpx (see :doc:`/performance`).

``sleep`` and ``monotonic`` are module-level names looked up at every call,
so tests may patch ``httsleep.aio.sleep`` (a coroutine function) and
``httsleep.aio.monotonic``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib.util
import os
import ssl
import time
from asyncio import sleep  # looked up at call time: patch httsleep.aio.sleep
from inspect import isawaitable
from time import monotonic  # looked up at call time: patch httsleep.aio.monotonic
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncContextManager,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Optional,
    Sequence,
    Set,
    Type,
    Union,
)

from ._compat import PolicyAttributes
from ._logs import log, redacting
from ._offload import judged_async
from ._request_checks import check_verify
from ._validate import ArgumentTypeError, async_circuit_breaker, log_level, not_blocking, positive_int, shorten
from .conditions import UNSET, ConditionSpec, shorthand_conditions
from .exceptions import AsyncGaveUp
from .instrumentation import observe, ready
from .policy import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_POLLING_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT,
    Attempt,
    BreakerLike,
    Checkpoint,
    Decision,
    Policy,
    PollRun,
    PollState,
    RequestTimeout,
    Step,
)
from .ratelimit import RateLimitLike
from .responses import AsyncResponse
from .transports import library_transport, transport_for
from .transports.shared import close_shared_clients
from .waits import WaitLike

if TYPE_CHECKING:
    import aiohttp
    import httpx

    from .many import async_poll_many
    from .transports.aiohttp_transport import AiohttpResponse
    from .transports.httpx_transport import httpx_timeout

__all__ = [
    "AiohttpResponse",
    "AsyncHttSleeper",
    "AsyncResponse",
    "async_httsleep",
    "async_poll_many",
    "close_shared_clients",
    "httpx_timeout",
    "monotonic",
    "sleep",
]

# name -> the module that defines it, imported on first use (each transport needs its HTTP library)
_LAZY = {
    "AiohttpResponse": ".transports.aiohttp_transport",
    "httpx_timeout": ".transports.httpx_transport",
    "async_poll_many": ".many",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError("module 'httsleep.aio' has no attribute {!r}".format(name))
    return getattr(importlib.import_module(home, __package__), name)


@contextlib.asynccontextmanager
async def _lent(client: Any) -> AsyncIterator[Any]:
    """``client`` for an ``async with``, left open (``contextlib.nullcontext`` is not asynchronous before 3.10)."""
    yield client


def _default_library() -> str:
    """The library of the polls given no client: aiohttp (a shared session) if installed, else httpx.

    aiohttp costs about a third of httpx's CPU per request (``benchmarks/``,
    see :doc:`/performance`), and ``httsleep[async]`` installs it.
    """
    for library in ("aiohttp", "httpx"):
        if importlib.util.find_spec(library) is not None:
            return library
    raise ImportError(
        "httsleep's asyncio API needs aiohttp or httpx: pip install 'httsleep[async]' (aiohttp) "
        "or 'httsleep[httpx]'"
    )


class AsyncHttSleeper(PolicyAttributes):
    """Polls an HTTP endpoint from a coroutine until a response matches a success condition.

    The arguments are those of :class:`httsleep.HttSleeper`, with an
    :class:`httpx.AsyncClient` or an :class:`aiohttp.ClientSession` in place
    of the requests session:

    :param url_or_request: the URL to ``GET``, or an :class:`httpx.Request`
        (any method, body and headers; with an aiohttp session too), sent
        again on every attempt; the client's headers and cookies apply to
        both (the request's own win).
    :param until: the success conditions: a dict whose checks must all hold,
        or a list of such dicts of which one must hold; or give the checks
        of one dict as keywords (``status_code=200, json={...}``).
    :param alarms: error conditions in the same form, checked first on every
        response; a match raises :class:`~httsleep.exceptions.Alarm`.
    :param auth: a ``(username, password)`` tuple; with httpx also an
        :class:`httpx.Auth` or a callable that takes and returns an
        :class:`httpx.Request`, with aiohttp an :class:`aiohttp.BasicAuth`.
    :param headers: HTTP headers, merged over the client's (these win; an
        :class:`httpx.Request`'s own headers win over these).
    :param client: an :class:`httpx.AsyncClient` or an
        :class:`aiohttp.ClientSession` to send with; it is left open, and
        its settings apply (httpx's ``follow_redirects`` included; on
        aiohttp, httsleep follows redirects itself, up to 20). Without
        one, each :meth:`run` borrows the event loop's shared aiohttp
        session (at most 100 connections), with cookies of the poll's own;
        without aiohttp installed, it opens an httpx client of its own.
        Both follow redirects, as requests does: see :doc:`/async`.
    :param verify: ``True``/``False``, a CA bundle path or an
        :class:`ssl.SSLContext`, for the client httsleep opens (each setting
        has a shared session of its own). With ``client=``, set it on that client instead (giving
        both is a ``ValueError``).
    :param polling_interval: seconds between attempts, or a wait strategy
        from :mod:`httsleep.waits`.
    :param max_retries: the number of requests made before giving up
        (``None``: no limit); 50 by default, unless ``timeout=`` is given alone.
    :param ignore_exceptions: exception classes that do not end the poll.
    :param loglevel: if given, the level of the ``httsleep`` logger.
    :param timeout: seconds the whole poll may take (``None``: no deadline).
        Polling never sleeps past it, and a request in flight, body
        included, is abandoned when it runs out.
    :param request_timeout: the timeout of each request, a number or a
        ``(connect, read)`` pair (see :func:`httpx_timeout`); default ``(10, 30)``.
    :param retry_after: honour ``Retry-After`` on 202, 429 and 503
        (``True``), never (``False``), or on the given status codes.
    :param max_retry_after: the longest wait a ``Retry-After`` can ask for.
    :param retry_transient: keep polling through temporary network failures.
    :param on_attempt: a callable, or a list of them, called with an
        :class:`~httsleep.policy.Attempt` after every attempt.
    :param circuit_breaker: a :class:`~httsleep.CircuitBreaker` asked before
        every request and told its outcome, as for :class:`httsleep.HttSleeper`
        (one breaker may be shared by synchronous and asyncio pollers).
    :param max_body_size: the largest response body accepted, in decoded
        bytes (default 10 MiB; ``None`` for no limit).
    :param conditional: poll with conditional requests, as for
        :class:`httsleep.HttSleeper` (off by default).
    :param rate_limit: at most so many requests to the URL's origin, as for
        :class:`httsleep.HttSleeper`: a rate such as ``"10/second"`` (one
        limit per rate for the whole process, shared with synchronous
        pollers) or a :class:`~httsleep.ratelimit.RateLimitLike`, whose
        ``reserve()`` may be a coroutine function here. The wait for a slot
        holds no ``slot=`` (see :meth:`run`).
    :param name: a short name for the poll's metrics and spans, as for
        :class:`httsleep.HttSleeper` (default ``"httsleep"``).

    Every argument is checked here, before any request is sent, as by
    :class:`httsleep.HttSleeper`.

    :raises TypeError: an argument of the wrong type: a plain ``TypeError``
        for a condition, an :class:`~httsleep.exceptions.ArgumentTypeError`
        (also a ``ValueError``) for any other argument, ``client=`` included
        (neither an :class:`httpx.AsyncClient` nor an
        :class:`aiohttp.ClientSession`).
    :raises ValueError: a value that cannot be used, as for
        :class:`httsleep.HttSleeper` (conditions, numbers out of range,
        headers, a URL that is not an absolute ``http``/``https`` URL with a
        valid host and port); also ``verify=`` given together with
        ``client=``, or a ``verify`` path that is not a CA bundle.
    :raises ImportError: no ``client=`` was given and neither aiohttp nor
        httpx is installed; the message says which extra to install.
    """

    def __init__(
        self,
        url_or_request: Union[str, httpx.Request],
        until: ConditionSpec = None,
        alarms: ConditionSpec = None,
        auth: Any = None,
        headers: Optional[dict] = None,
        client: Union[httpx.AsyncClient, aiohttp.ClientSession, None] = None,
        verify: Union[bool, str, ssl.SSLContext, None] = None,
        polling_interval: WaitLike = DEFAULT_POLLING_INTERVAL,
        max_retries: Optional[int] = DEFAULT_MAX_RETRIES,
        ignore_exceptions: Optional[Iterable[Type[BaseException]]] = None,
        loglevel: Optional[int] = None,
        *,
        timeout: Optional[float] = None,
        request_timeout: RequestTimeout = DEFAULT_REQUEST_TIMEOUT,
        retry_after: Union[bool, Collection[int]] = True,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        retry_transient: bool = False,
        on_attempt: Union[Callable[[Attempt], Any], Sequence[Callable[[Attempt], Any]], None] = None,
        circuit_breaker: Optional[BreakerLike] = None,
        max_body_size: Optional[int] = DEFAULT_MAX_BODY_SIZE,
        conditional: bool = False,
        rate_limit: Union[str, RateLimitLike, None] = None,
        name: Optional[str] = None,
        status_code: Any = None,
        text: Optional[str] = None,
        json: Any = UNSET,
        jsonpath: Any = None,
        callback: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        shorthand = shorthand_conditions(status_code, text, json, jsonpath, callback)
        kind = transport_for(client, "async") if client is not None else library_transport(_default_library(), "async")
        if kind is None:
            raise ArgumentTypeError(
                "client must be an httpx.AsyncClient or an aiohttp.ClientSession, not {}".format(shorten(client))
            )
        if client is not None and verify is not None:
            raise ValueError(
                "verify={!r} applies to the client httsleep opens; "
                "with client=..., set verify on that AsyncClient instead".format(verify)
            )
        check_verify(verify, (ssl.SSLContext,))
        self.client = client
        self.verify = os.fspath(verify) if isinstance(verify, os.PathLike) else verify
        self.auth = auth
        self._headers = headers
        self._policy = Policy(
            until,
            alarms,
            shorthand=shorthand,
            polling_interval=polling_interval,
            max_retries=max_retries,
            timeout=timeout,
            request_timeout=request_timeout,
            retry_after=retry_after,
            max_retry_after=max_retry_after,
            ignore_exceptions=ignore_exceptions,
            retry_transient=retry_transient,
            on_attempt=on_attempt,
            circuit_breaker=async_circuit_breaker(circuit_breaker),
            max_body_size=max_body_size,
            conditional=conditional,
            rate_limit=not_blocking(rate_limit, "rate_limit"),
            name=name,
        )
        self._transport = kind(url_or_request, headers, auth, client)
        self.request = self._transport.request
        self._polling_interval = polling_interval
        self.log = log
        if loglevel is not None:
            log.setLevel(log_level(loglevel))

    async def run(self, *, slot: Optional[AsyncContextManager[Any]] = None) -> Any:
        """Poll until a success condition matches and return that response.

        ``slot``: an async context manager held around each attempt (the
        request, its body, the judging) and never across a wait, e.g. an
        :class:`asyncio.Semaphore` shared by many polls to bound the requests
        they have in flight at once (:func:`httsleep.async_poll_many` does).

        The response is an :class:`~httsleep.responses.AsyncResponse`,
        whichever library sent it (typed ``Any``, as the responses of the
        synchronous front end and of the memory transport are).

        Cancelling the task that awaits this (directly, or through
        :func:`asyncio.wait_for` / ``asyncio.timeout``) stops the poll at
        once, during a request or a wait; the connection of a request in
        flight is closed, and the client stays open for the other polls.

        "Unless ignored" below means as for :meth:`httsleep.HttSleeper.run`:
        unless the error's class is in ``ignore_exceptions``, or
        ``retry_transient=True`` and it is a temporary network failure.

        :raises httsleep.exceptions.Alarm: a response matched an alarm
            condition (never ignored).
        :raises httsleep.exceptions.AsyncGaveUp: ``max_retries`` or
            ``timeout`` ran out, a request in flight included (not a
            :class:`StopIteration`, which cannot leave a coroutine; catch
            :class:`~httsleep.exceptions.GaveUp` to handle the synchronous
            and the asyncio API alike).
        :raises httsleep.exceptions.CircuitBrokenError: the
            ``circuit_breaker`` is open: the request was not sent, or the
            breaker would stay open longer than the next wait.
        :raises httsleep.exceptions.BodyTooLarge: a body was larger than
            ``max_body_size`` (unless ignored).
        :raises httsleep.exceptions.BodyDecodingError: a body was not valid
            for its ``Content-Encoding`` (on httpx also an
            ``httpx.DecodingError``; unless ignored).
        :raises ValueError: a ``json`` or ``jsonpath`` condition could not
            read a body that no other condition matched
            (:class:`json.JSONDecodeError`, or
            :class:`~httsleep.exceptions.JSONTooDeep`), except in the cases
            where :meth:`httsleep.HttSleeper.run` polls on (ignored, a
            ``Retry-After`` honoured, a 5xx or 429 with
            ``retry_transient=True``); a wait strategy that asked to wait
            forever in a poll without ``timeout``; on aiohttp, a session
            with an ``auth`` of its own while the poll sends an
            ``Authorization`` header too.
        :raises Exception: the HTTP library's error when a request failed
            (on httpx an ``httpx.RequestError`` such as ``ConnectError``, a
            timeout or ``TooManyRedirects``, or ``httpx.InvalidURL`` for a
            redirect to a URL no one can request; on aiohttp a
            ``ClientError`` or a ``TimeoutError``), with the URL's
            credentials hidden in its message (unless ignored); whatever a
            ``callback`` condition raised (unless ignored), or an
            ``on_attempt`` hook raised (always propagated).
        :raises asyncio.CancelledError: the task awaiting the poll was
            cancelled.
        """
        client = self.client
        if client is not None:
            return await self._poll(client, slot)
        async with self._transport.open_client(self.verify) as own:
            return await self._poll(own, slot)

    def new_state(self) -> PollState:
        """The state of this poll before its first attempt: its deadline runs from now; nothing is sent.

        A job engine saves it with the first message of a poll, so that the
        deadline holds even if the first worker dies during its request.
        The next :meth:`step` given it sends the first request.
        """
        return self._policy.new_state()

    async def step(self, state: Optional[PollState] = None, checkpoint: Optional[Checkpoint] = None) -> Step:
        """Make one attempt at most, never wait, and say where the poll stands: for job engines.

        The asyncio twin of :meth:`httsleep.HttSleeper.step`, with the same
        arguments and result (``checkpoint`` may also be a coroutine
        function: it is awaited). :meth:`run` is a loop over the same attempt.

        :raises ValueError: ``state`` was made by a poll with other conditions
            or limits.
        :raises: what :meth:`run` raises, for this one attempt.
        """
        client = self.client
        if client is not None:
            return await self._step(client, state, checkpoint)
        async with self._transport.open_client(self.verify) as own:
            return await self._step(own, state, checkpoint)

    async def _step(self, client: Any, state: Optional[PollState], checkpoint: Optional[Checkpoint]) -> Step:
        await ready()  # the default instrumentation hooks made off the loop, before the clock starts
        secrets = self._transport.secrets(client)
        run = self._start(secrets, state)
        with redacting(secrets), observe(run, step=True):
            wait = run.not_due()
            if wait > 0:
                return Step(False, None, wait, run.state)
            decision = await _attempt(run, self._transport.start(client), self._transport, checkpoint)
        return Step(decision.done, decision.response, decision.sleep, run.state)

    def _start(self, secrets: Any, state: Optional[PollState] = None) -> PollRun:
        return self._policy.start(
            monotonic, give_up=AsyncGaveUp, target=self._transport.target, wall=time.time, redact=secrets, state=state
        )

    async def _poll(self, client: Any, slot: Optional[AsyncContextManager[Any]] = None) -> Any:
        """The loop of :meth:`run`; ``slot``, if given, is held around each attempt, never across a wait."""
        await ready()  # the default instrumentation hooks made off the loop, before the clock starts
        secrets = self._transport.secrets(client)
        run = self._start(secrets)
        sender = self._transport.start(client)
        with redacting(secrets), observe(run):
            while True:
                if slot is None:
                    decision = await _attempt(run, sender, self._transport)
                else:
                    async with slot:
                        decision = await _attempt(run, sender, self._transport)
                if decision.done:
                    return decision.response
                if decision.sleep > 0:  # testing mode: no trip through the scheduler (the I/O yields anyway)
                    await sleep(decision.sleep)

    def shared_client(self, concurrency: int) -> AsyncContextManager[Any]:
        """The client for many pollers made by :meth:`for_url`, at most ``concurrency`` requests in flight.

        ``async with sleeper.shared_client(100) as client:``, then
        ``sleeper.for_url(url, client)`` for each URL (as
        :func:`httsleep.async_poll_many` does). With ``client=``, that
        client, left open (its own cookie jar and limits apply). Without:
        on aiohttp, the event loop's shared session (100 connections, shared
        with the loop's other polls); on httpx, a client opened on entry,
        its pool capped at ``concurrency`` connections, closed on exit. On
        those two, each poll keeps its own cookies.

        Keeping the requests in flight within ``concurrency`` is the
        caller's part: hold one ``asyncio.Semaphore(concurrency)`` around
        each attempt with ``run(slot=...)``, as ``async_poll_many`` does (on
        httpx, requests beyond the pool wait in httpcore's queue, which
        slows down as it grows).

        :raises TypeError: ``concurrency`` is not an integer
            (:class:`~httsleep.exceptions.ArgumentTypeError`).
        :raises ValueError: ``concurrency`` < 1.
        """
        concurrency = positive_int(concurrency, "concurrency")
        if self.client is not None:
            return _lent(self.client)
        return self._transport.open_shared_client(self.verify, concurrency)

    def for_url(self, url_or_request: Union[str, Any], client: Any = None) -> AsyncHttSleeper:
        """A poller of another URL with this one's options, conditions and limits, compiled once and shared.

        Polling many URLs with the same conditions (see
        :func:`httsleep.async_poll_many`), each poller made this way costs a
        request object, not a compilation of the conditions.

        :param url_or_request: as for :class:`AsyncHttSleeper`; this poller's
            ``auth`` and ``headers`` apply.
        :param client: the client the new poller sends with (``None``: this
            poller's, or one of its own per run if this one has none).
        :raises TypeError: ``client`` is neither an ``httpx.AsyncClient`` nor
            an ``aiohttp.ClientSession``.
        """
        kind: Optional[Type[Any]] = type(self._transport)
        if client is None:
            client = self.client
        else:
            kind = transport_for(client, "async")
        if kind is None:
            raise ArgumentTypeError(
                "client must be an httpx.AsyncClient or an aiohttp.ClientSession, not {}".format(shorten(client))
            )
        twin = copy.copy(self)
        twin.client = client
        twin._transport = kind(url_or_request, self._headers, self.auth, client)
        twin.request = twin._transport.request
        return twin

    def __repr__(self) -> str:
        return "<AsyncHttSleeper {}>".format(self._transport.redact(self._transport.target))


async def _attempt(run: PollRun, sender: Any, transport: Any, checkpoint: Optional[Checkpoint] = None) -> Decision:
    """One attempt, for :meth:`AsyncHttSleeper.run` and :meth:`AsyncHttSleeper.step` alike.

    Or, first, the wait for the rate limit's slot (not an attempt: nothing is sent).
    """
    throttled = run.throttle(asynchronous=True)
    if isawaitable(throttled):  # a rate limit that reserves asynchronously (one shared on a network)
        throttled = await throttled
    if isinstance(throttled, Decision):
        return throttled
    admitting = run.begin_attempt(asynchronous=True)
    if admitting is not None:  # a circuit breaker that admits asynchronously (one shared on a network)
        await admitting
    if checkpoint is not None:
        saved = checkpoint(run.state)
        if isawaitable(saved):
            await saved
    try:
        response = await sender.send(run)
    except Exception as exc:
        timed_out = isinstance(exc, transport.timeout_errors)
        await _settled(run.settle(exc=exc, timed_out=timed_out))
        return run.failed(exc, timed_out=timed_out)
    except BaseException:  # CancelledError...: free the circuit breaker's trial slot
        await _finish(run.abandon_attempt())
        raise
    await _settled(run.settle(response=response))
    return run.received(response, await judged_async(run, response))


async def _settled(pending: Optional[Awaitable[Any]]) -> None:
    """Await what a circuit breaker's ticket returned, if it was awaitable (a breaker doing I/O)."""
    if pending is not None:
        await pending


#: a ticket's cancel() still running after the attempt it frees was cancelled (a reference keeps it alive)
_FINISHING: Set[Any] = set()


async def _finish(pending: Optional[Awaitable[Any]]) -> None:
    """Let a ticket's awaitable ``cancel()`` finish, even though the attempt itself is being cancelled.

    It is shielded: cancelling the poll again does not cut it short (it goes
    on as a task of its own, kept until it ends). Its own failure is logged,
    never raised over the cancellation.
    """
    if pending is None:
        return
    task = asyncio.ensure_future(pending)
    _FINISHING.add(task)
    task.add_done_callback(_finished)
    try:
        await asyncio.shield(task)
    except BaseException:  # noqa: BLE001 - cancelled again, or cancel() failed: logged by _finished
        pass


def _finished(task: Any) -> None:
    _FINISHING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("the circuit breaker's cancel() failed: %r", task.exception())


async def async_httsleep(
    url_or_request: Union[str, httpx.Request],
    until: ConditionSpec = None,
    alarms: ConditionSpec = None,
    auth: Any = None,
    headers: Optional[dict] = None,
    client: Union[httpx.AsyncClient, aiohttp.ClientSession, None] = None,
    verify: Union[bool, str, ssl.SSLContext, None] = None,
    polling_interval: WaitLike = DEFAULT_POLLING_INTERVAL,
    max_retries: Optional[int] = DEFAULT_MAX_RETRIES,
    ignore_exceptions: Optional[Iterable[Type[BaseException]]] = None,
    loglevel: Optional[int] = None,
    *,
    timeout: Optional[float] = None,
    request_timeout: RequestTimeout = DEFAULT_REQUEST_TIMEOUT,
    retry_after: Union[bool, Collection[int]] = True,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    retry_transient: bool = False,
    on_attempt: Union[Callable[[Attempt], Any], Sequence[Callable[[Attempt], Any]], None] = None,
    circuit_breaker: Optional[BreakerLike] = None,
    max_body_size: Optional[int] = DEFAULT_MAX_BODY_SIZE,
    conditional: bool = False,
    rate_limit: Union[str, RateLimitLike, None] = None,
    name: Optional[str] = None,
    status_code: Any = None,
    text: Optional[str] = None,
    json: Any = UNSET,
    jsonpath: Any = None,
    callback: Optional[Callable[[Any], Any]] = None,
) -> Any:
    """Poll ``url_or_request`` until a response matches; return that response.

    The coroutine counterpart of :func:`httsleep.httsleep`, a shortcut for
    ``await AsyncHttSleeper(...).run()``: the arguments are those of
    :class:`AsyncHttSleeper`, where each one is described (``client=``
    takes the place of ``session=``).

    >>> import asyncio
    >>> from httsleep import async_httsleep
    >>> done = {'expression': 'status', 'value': 'SUCCESS'}
    >>> response = asyncio.run(async_httsleep('http://myendpoint/jobs/1',
    ...                                       jsonpath=[done], timeout=600))
    >>> response.json()['status']
    'SUCCESS'

    :raises TypeError: an argument of the wrong type, before any request
        is sent (see :class:`AsyncHttSleeper`).
    :raises ValueError: an argument that cannot be used, before any
        request is sent (see :class:`AsyncHttSleeper`); or, while polling,
        a ``json`` or ``jsonpath`` condition that could not read a body
        (see :meth:`AsyncHttSleeper.run`).
    :raises ImportError: neither aiohttp nor httpx is installed, and no
        ``client=`` was given.
    :raises httsleep.exceptions.Alarm: a response matched an alarm.
    :raises httsleep.exceptions.AsyncGaveUp: ``max_retries`` or ``timeout``
        ran out.
    :raises httsleep.exceptions.CircuitBrokenError: the ``circuit_breaker``
        is open.
    :raises httsleep.exceptions.BodyError: a body larger than
        ``max_body_size`` (:class:`~httsleep.exceptions.BodyTooLarge`) or
        not valid for its ``Content-Encoding``, unless ignored.
    :raises Exception: the HTTP library's error when a request failed, what
        a ``callback`` raised (unless ignored), or what an ``on_attempt``
        hook raised. :meth:`AsyncHttSleeper.run` describes each case.
    """
    sleeper = AsyncHttSleeper(
        url_or_request,
        until,
        alarms,
        auth,
        headers,
        client,
        verify,
        polling_interval,
        max_retries,
        ignore_exceptions,
        loglevel,
        timeout=timeout,
        request_timeout=request_timeout,
        retry_after=retry_after,
        max_retry_after=max_retry_after,
        retry_transient=retry_transient,
        on_attempt=on_attempt,
        circuit_breaker=circuit_breaker,
        max_body_size=max_body_size,
        conditional=conditional,
        rate_limit=rate_limit,
        name=name,
        status_code=status_code,
        text=text,
        json=json,
        jsonpath=jsonpath,
        callback=callback,
    )
    return await sleeper.run()
