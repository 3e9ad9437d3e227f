"""The asyncio poller on httpx: :class:`AsyncHttSleeper` and :func:`async_httsleep`.

Thousands of polls can wait side by side on one event loop: a poll that
sleeps between attempts costs a suspended coroutine, not a thread.
Conditions, alarms, limits, wait strategies, ``Retry-After``, hooks and the
transient-error switch are those of :class:`httsleep.HttSleeper`, decided by
the same code (:class:`httsleep.policy.PollRun`); only sending and sleeping
differ. Callbacks receive an :class:`httpx.Response`, which offers the same
``status_code``, ``text``, ``json()`` and ``headers`` as
:class:`requests.Response`, so a callback written for the synchronous API
works here unchanged.

This module needs httpx, installed by the ``async`` extra::

    pip install 'httsleep[async]'

``sleep`` and ``monotonic`` are module-level names looked up at every call,
so tests may patch ``httsleep.aio.sleep`` (a coroutine function) and
``httsleep.aio.monotonic``.
"""

from __future__ import annotations

import os
import ssl
import time
from asyncio import sleep  # looked up at call time: patch httsleep.aio.sleep
from time import monotonic  # looked up at call time: patch httsleep.aio.monotonic
from typing import Any, Callable, Collection, Iterable, Optional, Sequence, Type, Union

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without httpx
    raise ImportError(
        "httsleep's asyncio API (AsyncHttSleeper, async_httsleep) needs httpx, "
        "which the 'async' extra installs: pip install 'httsleep[async]'"
    ) from exc

from ._frontend import UNSET, PolicyAttributes, check_verify, shorthand_conditions
from ._httpx_transport import HttpxTransport, httpx_timeout, new_client
from ._logs import log, redacting
from ._validate import ArgumentTypeError, log_level, shorten
from .conditions import ConditionSpec
from .exceptions import AsyncGaveUp
from .policy import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_POLLING_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT,
    Attempt,
    BreakerLike,
    Policy,
    RequestTimeout,
)
from .waits import WaitLike

__all__ = ["AsyncHttSleeper", "async_httsleep", "httpx_timeout", "monotonic", "sleep"]



class AsyncHttSleeper(PolicyAttributes):
    """Polls an HTTP endpoint from a coroutine until a response matches a success condition.

    The arguments are those of :class:`httsleep.HttSleeper`, with an
    :class:`httpx.AsyncClient` in place of the requests session:

    :param url_or_request: the URL to ``GET``, or an :class:`httpx.Request`
        (any method, body and headers), sent again on every attempt; the
        client's headers and cookies apply to both (the request's own win).
    :param until: the success conditions: a dict whose checks must all hold,
        or a list of such dicts of which one must hold; or give the checks
        of one dict as keywords (``status_code=200, json={...}``).
    :param alarms: error conditions in the same form, checked first on every
        response; a match raises :class:`~httsleep.exceptions.Alarm`.
    :param auth: a ``(username, password)`` tuple, an :class:`httpx.Auth`,
        or a callable that takes and returns an :class:`httpx.Request`.
    :param headers: HTTP headers, merged over the client's (these win; an
        :class:`httpx.Request`'s own headers win over these).
    :param client: an :class:`httpx.AsyncClient` to send with; it is left
        open, and its settings apply (including ``follow_redirects``).
        Without one, each :meth:`run` opens its own client (which follows
        redirects, as requests does) and closes it, even when cancelled.
    :param verify: ``True``/``False``, a CA bundle path or an
        :class:`ssl.SSLContext`, for the client :meth:`run` opens. With
        ``client=``, set it on that client instead (giving both is a
        ``ValueError``).
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

    :raises TypeError: at construction, for an argument of the wrong type.
    :raises ValueError: at construction, for an invalid value.
    """

    def __init__(
        self,
        url_or_request: Union[str, httpx.Request],
        until: ConditionSpec = None,
        alarms: ConditionSpec = None,
        auth: Any = None,
        headers: Optional[dict] = None,
        client: Optional[httpx.AsyncClient] = None,
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
        status_code: Any = None,
        text: Optional[str] = None,
        json: Any = UNSET,
        jsonpath: Any = None,
        callback: Optional[Callable[[httpx.Response], Any]] = None,
    ) -> None:
        shorthand = shorthand_conditions(status_code, text, json, jsonpath, callback)
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise ArgumentTypeError("client must be an httpx.AsyncClient, not {}".format(shorten(client)))
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
            circuit_breaker=circuit_breaker,
            max_body_size=max_body_size,
            conditional=conditional,
        )
        self._transport = HttpxTransport(url_or_request, headers, auth, client)
        self.request = self._transport.request
        self._polling_interval = polling_interval
        self.log = log
        if loglevel is not None:
            log.setLevel(log_level(loglevel))

    async def run(self) -> httpx.Response:
        """Poll until a success condition matches and return that response.

        Cancelling the task that awaits this (directly, or through
        :func:`asyncio.wait_for` / ``asyncio.timeout``) stops the poll at
        once, during a request or a wait, and closes the client the poll
        opened; a caller's client is left open.

        :raises httsleep.exceptions.Alarm: a response matched an alarm.
        :raises httsleep.exceptions.AsyncGaveUp: ``max_retries`` or
            ``timeout`` ran out (not a :class:`StopIteration`, which cannot
            leave a coroutine; catch :class:`~httsleep.exceptions.GaveUp`
            to handle the synchronous and the asyncio API alike).
        :raises Exception: whatever a request or a callback raised, unless
            it is ignored.
        """
        client = self.client
        if client is not None:
            return await self._poll(client)
        async with new_client(self.verify) as own_client:
            return await self._poll(own_client)

    async def _poll(self, client: httpx.AsyncClient) -> httpx.Response:
        transport = self._transport
        secrets = transport.secrets(client)
        request = self.request
        run = self._policy.start(
            monotonic,
            give_up=AsyncGaveUp,
            target="{} {}".format(request.method, request.url),
            wall=time.time,
            redact=secrets,
        )
        with redacting(secrets):
            while True:
                run.begin_attempt()
                try:
                    response = await transport.send(client, run)
                except Exception as exc:
                    decision = run.failed(exc, timed_out=isinstance(exc, httpx.TimeoutException))
                except BaseException:  # CancelledError...: free the circuit breaker's trial slot
                    run.abandon_attempt()
                    raise
                else:
                    decision = run.received(response)
                if decision.done:
                    return decision.response
                if decision.sleep > 0:  # testing mode: no trip through the scheduler (the I/O yields anyway)
                    await sleep(decision.sleep)

    def __repr__(self) -> str:
        return "<AsyncHttSleeper {} {}>".format(self.request.method, self._transport.redact(str(self.request.url)))


async def async_httsleep(
    url_or_request: Union[str, httpx.Request],
    until: ConditionSpec = None,
    alarms: ConditionSpec = None,
    auth: Any = None,
    headers: Optional[dict] = None,
    client: Optional[httpx.AsyncClient] = None,
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
    status_code: Any = None,
    text: Optional[str] = None,
    json: Any = UNSET,
    jsonpath: Any = None,
    callback: Optional[Callable[[httpx.Response], Any]] = None,
) -> httpx.Response:
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

    :raises httsleep.exceptions.Alarm: a response matched an alarm.
    :raises httsleep.exceptions.AsyncGaveUp: ``max_retries`` or ``timeout`` ran out.
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
        status_code=status_code,
        text=text,
        json=json,
        jsonpath=jsonpath,
        callback=callback,
    )
    return await sleeper.run()
