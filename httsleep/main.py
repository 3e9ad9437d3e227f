"""The synchronous poller on requests: :class:`HttSleeper` and :func:`httsleep`.

This module keeps every name httsleep 0.3.1's ``httsleep.main`` offered:
``HttSleeper``, ``httsleep``, ``Alarm``, ``DEFAULT_POLLING_INTERVAL``,
``DEFAULT_MAX_RETRIES``, ``VALID_CONDITIONS``, ``DEFAULT_SESSION`` (see
:func:`httsleep._compat.main_module_attribute`) and ``sleep``, the function
the loop calls to wait, looked up at every call so that tests may patch
``httsleep.main.sleep``.

The loop is :meth:`HttSleeper._poll`: it asks the
:class:`~httsleep.policy.PollRun` what to do and a transport
(:mod:`httsleep.transports`) to send; requests' is the default.
"""

from __future__ import annotations

import copy
import os
import time
from time import monotonic, sleep  # looked up at call time: patch httsleep.main.sleep / .monotonic
from typing import Any, Callable, Collection, Iterable, Optional, Sequence, Type, Union

import requests

from ._compat import SessionAttributes, main_module_attribute
from ._logs import log, redacting
from ._offload import judged
from ._request_checks import check_verify
from ._validate import ArgumentTypeError, is_coroutine_function, log_level, shorten
from .conditions import CONDITION_KEYS, UNSET, ConditionSpec, shorthand_conditions
from .exceptions import Alarm, StopPolling
from .instrumentation import observe, prepare
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
from .transports import transport_for
from .transports.requests_transport import RequestsTransport, build_request, new_session
from .waits import WaitLike

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_POLLING_INTERVAL",
    "DEFAULT_REQUEST_TIMEOUT",
    "VALID_CONDITIONS",
    "Alarm",
    "HttSleeper",
    "httsleep",
    "sleep",
]


#: The condition keys (0.3.1 name; see :data:`httsleep.conditions.CONDITION_KEYS`).
VALID_CONDITIONS = list(CONDITION_KEYS)

__getattr__ = main_module_attribute  # DEFAULT_SESSION and the other 0.3.1 names made on first use


def _verify(value: Any) -> Union[bool, str, None]:
    check_verify(value, load=False)  # requests reads the bundle on an https request: 0.3.1 took any path
    return os.fspath(value) if isinstance(value, os.PathLike) else value


class HttSleeper(SessionAttributes):
    """Polls an HTTP endpoint until a response matches a success condition.

    :param url_or_request: the URL to ``GET``, or a :class:`requests.Request`
        (any method, body, auth and headers).
    :param until: the success conditions: a dict whose checks must all hold,
        or a list of such dicts of which one must hold. Instead of ``until``,
        the checks of a single dict can be given as keywords
        (``status_code=200, json={...}``); giving both is a ``ValueError``.
    :param alarms: error conditions in the same form. They are checked
        before the success conditions on every response; a match raises
        :class:`~httsleep.exceptions.Alarm`.
    :param auth: a ``(username, password)`` tuple or a requests auth object.
    :param headers: HTTP headers, merged over the session's (these win).
    :param session: a :class:`requests.Session` to send with; it is left
        open. Without one, see :attr:`session`. (A client of another
        registered synchronous transport, such as
        :class:`httsleep.transports.memory.MemoryClient`, works too.)
    :param verify: ``True``/``False`` or a CA bundle path; when given it
        overrides the session's setting.
    :param polling_interval: seconds between attempts (fractions are
        honoured), or a wait strategy from :mod:`httsleep.waits`.
    :param max_retries: the number of requests made before giving up
        (as in 0.3.1: ``max_retries=5`` sends at most 5 requests, and 0 or 1
        send one); ``None`` for no limit. The default, 50, applies only
        without ``timeout=``: given alone, ``timeout`` is the poll's budget.
        Given both, whichever runs out first ends the poll.
    :param ignore_exceptions: exception classes that do not end the poll:
        the attempt counts and polling goes on.
    :param loglevel: if given, the level of the ``httsleep`` logger. The
        root logger is never touched.
    :param timeout: seconds the whole poll may take; ``None`` (the default)
        for no deadline. Polling never sleeps past it, and no part of a
        request outlives it.
    :param request_timeout: the timeout of each request, a number or a
        ``(connect, read)`` pair; default ``(10, 30)``.
    :param retry_after: honour the ``Retry-After`` header on 202, 429 and
        503 responses (``True``, the default), not at all (``False``), or on
        the given status codes.
    :param max_retry_after: the longest wait a ``Retry-After`` can ask for
        (default 300 s); longer values are cut to it.
    :param retry_transient: keep polling through temporary network failures
        (see :func:`httsleep.is_temp_network_error`) until a limit runs out.
    :param on_attempt: a callable, or a list of them, called with an
        :class:`~httsleep.policy.Attempt` after every attempt.
    :param circuit_breaker: a :class:`~httsleep.CircuitBreaker` asked
        before every request and told its outcome; share one between all
        the pollers of a service. 5xx responses, timeouts and connection
        failures count as failures (see
        :func:`httsleep.policy.is_service_failure`). While it is open, the
        poll fails fast with :class:`~httsleep.exceptions.CircuitBrokenError`
        instead of sending (also instead of a wait the breaker would outlast).
    :param max_body_size: the largest response body accepted, in decoded
        bytes (default 10 MiB; ``None`` for no limit). A larger body stops
        being read at the limit and raises
        :class:`~httsleep.exceptions.BodyTooLarge`.
    :param conditional: poll with conditional requests: send
        ``If-None-Match`` / ``If-Modified-Since`` from the last response's
        ``ETag`` / ``Last-Modified``. A ``304 Not Modified`` answer means
        "unchanged": the previous verdict stands, hooks see the attempt,
        and the poll waits and tries again, without the server sending the
        body again. Off by default.
    :param rate_limit: at most so many requests to the URL's origin
        (``scheme://host:port``): a rate such as ``"10/second"`` (see
        :func:`httsleep.ratelimit.parse_rate`), shared by every poller of
        the process given the same rate, or a rate limit object
        (:class:`httsleep.ratelimit.RateLimit`, or any
        :class:`~httsleep.ratelimit.RateLimitLike`, e.g. one shared by
        processes). Before each attempt the poll waits for its slot; that
        wait is not an attempt (hooks see it as ``"throttled"``), and a
        slot after the deadline ends the poll at once
        (``GaveUp.limit == "rate_limit"``). A limit whose ``reserve()``
        awaits needs :class:`httsleep.AsyncHttSleeper`.
    :param name: a short name for the poll's metrics and spans (the
        ``name`` label of the ``httsleep_*`` Prometheus series, the
        ``httsleep.name`` of its span; see :mod:`httsleep.instrumentation`),
        such as the service or job kind: ``"orders-api"``. Default
        ``"httsleep"``. Never derived from the URL: name polls by what they
        wait for, not by their URL, or every job becomes a series.

    Every argument is checked here, before any request is sent; the
    message of each error names the argument and quotes the value.

    :raises TypeError: an argument of the wrong type. A condition
        (``until=[42]``, ``callback=1``, ``text=5``) raises a plain
        ``TypeError``; any other argument (``timeout='soon'``,
        ``headers=[...]``, ``session=``, ``ignore_exceptions=[1]``, a
        ``circuit_breaker`` whose ``admit()`` is a coroutine function...)
        an :class:`~httsleep.exceptions.ArgumentTypeError`, which is also a
        ``ValueError``, as httsleep 0.3.1 raised.
    :raises ValueError: a value that cannot be used: no success condition,
        both ``until`` and a keyword condition, an unknown condition key, a
        ``status_code`` that is not a code, a class or a list of them, a
        JSONPath expression that does not parse, a number out of range
        (``max_retries=-1``, ``timeout=-1``, ``request_timeout=0``), an
        unknown ``loglevel`` name, an invalid header, a ``(username,
        password)`` that basic auth cannot encode; a URL that is not an
        absolute ``http``/``https`` URL with a valid host and port raises
        requests' ``MissingSchema``, ``InvalidSchema`` or ``InvalidURL``
        (all ``ValueError``).
    """

    _session: Any

    def __init__(
        self,
        url_or_request: Union[str, requests.Request],
        until: ConditionSpec = None,
        alarms: ConditionSpec = None,
        auth: Any = None,
        headers: Optional[dict] = None,
        session: Optional[requests.Session] = None,
        verify: Union[bool, str, None] = None,
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
        callback: Optional[Callable[[requests.Response], Any]] = None,
    ) -> None:
        shorthand = shorthand_conditions(status_code, text, json, jsonpath, callback)
        self.session = session  # None: created when first read
        self.request = build_request(url_or_request, auth, headers, session)
        self.verify = _verify(verify)
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
            rate_limit=rate_limit,
            name=name,
        )
        self._polling_interval = polling_interval
        self._cached_transport: Any = None
        breaker = self._policy.circuit_breaker
        if breaker is not None and is_coroutine_function(breaker.admit):
            raise ArgumentTypeError(
                "circuit_breaker: {} admits asynchronously (its admit() is a coroutine function); use it with "
                "httsleep.AsyncHttSleeper, or give HttSleeper a breaker that does not await".format(shorten(breaker))
            )
        limit = self._policy.rate_limit
        if limit is not None and is_coroutine_function(limit.reserve):
            raise ArgumentTypeError(
                "rate_limit: {} reserves asynchronously (its reserve() is a coroutine function); use it with "
                "httsleep.AsyncHttSleeper, or give HttSleeper a rate limit that does not await".format(shorten(limit))
            )
        self.log = log
        if loglevel is not None:
            log.setLevel(log_level(loglevel))

    @property
    def session(self) -> requests.Session:
        """The :class:`requests.Session` this poller sends with (0.3.1 attribute).

        The one given as ``session=``. Otherwise one of this poller's own,
        created the first time this attribute is read, so that code written
        for 0.3.1 can configure it (headers, auth, adapters, cookies); it is
        never shared with another poller, and it stays open until you close
        it. A poller whose session is never read opens a session for each
        :meth:`run` and closes it at the end, leaving no connection open.
        """
        session = self._session
        if session is None:
            session = new_session()
            self._session = session
        return session

    @session.setter
    def session(self, value: Optional[requests.Session]) -> None:
        if value is not None and not isinstance(value, requests.Session) and transport_for(value, "sync") is None:
            raise ArgumentTypeError("session must be a requests.Session, not {}".format(shorten(value)))
        self._session = value

    # -- polling -------------------------------------------------------------------

    def run(self, *, sleep_with: Optional[Callable[[float], Any]] = None) -> requests.Response:
        """Poll until a success condition matches and return that response.

        ``sleep_with``: the function the poll waits with instead of
        :func:`time.sleep` (one that returns early, or raises, stops a poll
        at its next wait: :func:`httsleep.poll_many` uses one).

        "Unless ignored" below means: unless the error's class is in
        ``ignore_exceptions``, or ``retry_transient=True`` and it is a
        temporary network failure (see :func:`httsleep.is_temp_network_error`);
        an ignored error counts as an attempt and polling goes on.

        :raises httsleep.exceptions.Alarm: a response matched an alarm
            condition (checked before the success conditions; never ignored).
        :raises httsleep.exceptions.StopPolling: ``max_retries`` or
            ``timeout`` ran out, or the ``rate_limit`` has no slot before the
            deadline; a :class:`StopIteration`, as in 0.3.1, and a
            :class:`~httsleep.exceptions.GaveUp`, raised ``from`` the last
            attempt's error if it had one.
        :raises httsleep.exceptions.CircuitBrokenError: the
            ``circuit_breaker`` is open: the request was not sent, or the
            breaker would stay open longer than the next wait.
        :raises httsleep.exceptions.BodyTooLarge: a body was larger than
            ``max_body_size`` (unless ignored).
        :raises httsleep.exceptions.BodyDecodingError: a body was not valid
            for its ``Content-Encoding`` (also requests'
            ``ContentDecodingError``; unless ignored).
        :raises ValueError: a ``json`` or ``jsonpath`` condition could not
            read a body that no other condition matched: requests'
            ``JSONDecodeError`` for a body that is not JSON (its message
            names the request, the status and the start of the body),
            :class:`~httsleep.exceptions.JSONTooDeep` for JSON nested too
            deeply. Unless ignored (``ignore_exceptions=[ValueError]``
            polls on), and not for a response that asks to come back later
            (a ``Retry-After`` this poll honours) or, with
            ``retry_transient=True``, a 5xx or 429: polling goes on. Also a
            wait strategy that asked to wait forever in a poll without
            ``timeout``.
        :raises requests.exceptions.RequestException: the request failed
            (``ConnectionError``, ``Timeout``, ``TooManyRedirects`` for more
            than 20 redirects, ``InvalidURL`` for a redirect to a URL no one can
            request...), with the URL's credentials hidden in its message
            (unless ignored).
        :raises Exception: whatever a ``callback`` condition raised (unless
            ignored), or an ``on_attempt`` hook raised (always propagated).
        """
        session = self._session
        transport = self._transport(session)
        if session is not None:
            return self._poll(transport, session, sleep_with)
        with transport.open_client(self.verify) as own_session:
            return self._poll(transport, own_session, sleep_with)

    def _transport(self, session: Any = None) -> Any:
        """The transport for the session, request and settings as they are now (0.3.1 code may reassign them)."""
        kind = RequestsTransport if session is None or type(session) is requests.Session else (
            transport_for(session, "sync") or RequestsTransport)
        transport = self._cached_transport
        if (type(transport) is not kind or transport.request is not self.request
                or transport.verify is not self.verify):
            transport = self._cached_transport = kind(self.request, self.verify)
        return transport

    def new_state(self) -> PollState:
        """The state of this poll before its first attempt: its deadline runs from now; nothing is sent.

        A job engine saves it with the first message of a poll, so that the
        deadline holds even if the first worker dies during its request.
        The next :meth:`step` given it sends the first request.
        """
        return self._policy.new_state()

    def step(self, state: Optional[PollState] = None, checkpoint: Optional[Checkpoint] = None) -> Step:
        """Make one attempt at most, never wait, and say where the poll stands: for job engines.

        A job engine holds the wait instead of a worker: run a step, save
        ``step.state`` (:meth:`PollState.to_json`), schedule the next step
        ``step.wait`` seconds ahead, and pass the saved state to it, in this
        process or another (see the docs page "Polling from a job engine").
        :meth:`run` is a loop over the same attempt.

        :param state: where the poll stands (``None``: a new poll starts).
            Resumed before its ``next_attempt_at``, nothing is sent and the
            remaining wait is returned; resumed after its deadline, the poll
            gives up without sending.
        :param checkpoint: called with the state once the attempt is counted,
            before the request is sent: an engine that saves it there counts
            the attempt even if the worker dies during the request.
        :returns: a :class:`~httsleep.policy.Step`: ``done`` and the
            ``response`` that matched, or the ``wait`` before the next step;
            and the new ``state``.
        :raises ValueError: ``state`` was made by a poll with other conditions
            or limits.
        :raises: what :meth:`run` raises, for this one attempt.
        """
        session = self._session
        transport = self._transport(session)
        if session is not None:
            return self._step(transport, session, state, checkpoint)
        with transport.open_client(self.verify) as own_session:
            return self._step(transport, own_session, state, checkpoint)

    def _step(self, transport: Any, session: Any, state: Optional[PollState], checkpoint: Optional[Checkpoint]
              ) -> Step:
        prepare()  # the default instrumentation hooks made before the clock starts, the first time
        secrets = transport.secrets(session)
        run = self._start(transport, secrets, state)
        with redacting(secrets), observe(run, step=True):
            wait = run.not_due()
            if wait > 0:
                return Step(False, None, wait, run.state)
            decision = _attempt(run, transport.start(session), transport, checkpoint)
        return Step(decision.done, decision.response, decision.sleep, run.state)

    def _start(self, transport: Any, secrets: Any, state: Optional[PollState] = None) -> PollRun:
        return self._policy.start(
            monotonic, give_up=StopPolling, target=transport.target, wall=time.time, redact=secrets, state=state
        )

    def _poll(self, transport: Any, session: Any, pause: Optional[Callable[[float], Any]] = None) -> requests.Response:
        prepare()  # the default instrumentation hooks made before the clock starts, the first time
        secrets = transport.secrets(session)
        run = self._start(transport, secrets)
        sender = transport.start(session)
        with redacting(secrets), observe(run):
            while True:
                decision = _attempt(run, sender, transport)
                if decision.done:
                    return decision.response
                if decision.sleep > 0:  # sleep(0) still costs a trip through the scheduler
                    (sleep if pause is None else pause)(decision.sleep)

    def for_url(self, url_or_request: Union[str, requests.Request]) -> HttSleeper:
        """A poller of another URL with this one's options, conditions and limits, compiled once and shared.

        Polling many URLs with the same conditions (see
        :func:`httsleep.poll_many`), each poller made this way costs a
        request object, not a compilation of the conditions. This poller's
        auth and headers apply, and its session (``None``: each run opens
        its own).
        """
        twin = copy.copy(self)
        twin.request = build_request(url_or_request, self.request.auth, self.request.headers, self._session)
        twin._cached_transport = None
        return twin

    def __repr__(self) -> str:
        return "<HttSleeper {} {}>".format(self.request.method, self._transport(self._session).redact(self.request.url))



def _attempt(run: PollRun, sender: Any, transport: Any, checkpoint: Optional[Checkpoint] = None) -> Decision:
    """One attempt, for :meth:`HttSleeper.run` and :meth:`HttSleeper.step` alike: count it, send it, judge it.

    Or, first, the wait for the rate limit's slot (not an attempt: nothing is sent).
    """
    throttled = run.throttle()  # synchronous: a Decision or None, never an awaitable
    if isinstance(throttled, Decision):
        return throttled
    run.begin_attempt()
    if checkpoint is not None:
        checkpoint(run.state)
    try:
        response = sender.send(run)
    except Exception as exc:
        return run.failed(exc, timed_out=isinstance(exc, transport.timeout_errors))
    except BaseException:  # KeyboardInterrupt...: free the circuit breaker's trial slot
        run.abandon_attempt()
        raise
    return run.received(response, judged(run, response))


def httsleep(
    url_or_request: Union[str, requests.Request],
    until: ConditionSpec = None,
    alarms: ConditionSpec = None,
    auth: Any = None,
    headers: Optional[dict] = None,
    session: Optional[requests.Session] = None,
    verify: Union[bool, str, None] = None,
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
    callback: Optional[Callable[[requests.Response], Any]] = None,
) -> requests.Response:
    """Poll ``url_or_request`` until a response matches; return that response.

    A shortcut for ``HttSleeper(...).run()``: the arguments are those of
    :class:`HttSleeper`, where each one is described. In short: the
    conditions (``until``, ``alarms``, or the keywords ``status_code``,
    ``text``, ``json``, ``jsonpath``, ``callback`` for one condition), the
    request (``auth``, ``headers``, ``session``, ``verify``), the pace and
    limits (``polling_interval``, ``max_retries``, ``timeout``,
    ``request_timeout``, ``retry_after``, ``max_retry_after``,
    ``max_body_size``, ``rate_limit``), what counts as a failure worth
    polling through (``ignore_exceptions``, ``retry_transient``), and
    ``on_attempt``, ``circuit_breaker``, ``loglevel``, ``name`` (for metrics
    and spans).

    >>> from httsleep import httsleep
    >>> done = {'expression': 'status', 'value': 'SUCCESS'}
    >>> failed = {'expression': 'status', 'value': 'ERROR'}
    >>> response = httsleep('http://myendpoint/jobs/1', jsonpath=[done],
    ...                     alarms={'jsonpath': [failed]}, timeout=600)
    >>> response.json()['status']
    'SUCCESS'

    :raises TypeError: an argument of the wrong type, before any request
        is sent (see :class:`HttSleeper`).
    :raises ValueError: an argument that cannot be used, before any
        request is sent (see :class:`HttSleeper`); or, while polling, a
        ``json`` or ``jsonpath`` condition that could not read a body (see
        :meth:`HttSleeper.run`).
    :raises httsleep.exceptions.Alarm: a response matched an alarm.
    :raises httsleep.exceptions.StopPolling: ``max_retries`` or ``timeout``
        ran out (a :class:`StopIteration`), or the ``rate_limit`` has no slot
        before the deadline.
    :raises httsleep.exceptions.CircuitBrokenError: the ``circuit_breaker``
        is open.
    :raises httsleep.exceptions.BodyError: a body larger than
        ``max_body_size`` (:class:`~httsleep.exceptions.BodyTooLarge`) or
        not valid for its ``Content-Encoding``, unless ignored.
    :raises requests.exceptions.RequestException: a request failed, unless
        ignored.
    :raises Exception: what a ``callback`` raised (unless ignored) or an
        ``on_attempt`` hook raised. :meth:`HttSleeper.run` describes each case.
    """
    return HttSleeper(
        url_or_request,
        until,
        alarms,
        auth,
        headers,
        session,
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
    ).run()
