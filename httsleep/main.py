"""The synchronous poller on requests: :class:`HttSleeper` and :func:`httsleep`.

This module keeps the names of httsleep 0.3.1: ``DEFAULT_POLLING_INTERVAL``,
``DEFAULT_MAX_RETRIES``, and ``sleep``, the function the loop calls to wait,
looked up at every call so that tests may patch ``httsleep.main.sleep``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from time import monotonic, sleep  # looked up at call time: patch httsleep.main.sleep / .monotonic
from typing import Any, Callable, Collection, Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

import requests
from requests.exceptions import ChunkedEncodingError, ConnectionError, ContentDecodingError, ReadTimeout
from urllib3.util import Timeout

from ._redact import redact_url, scrub_exception
from .conditions import ConditionSpec, compile_conditions
from .exceptions import StopPolling
from .policy import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_POLLING_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT,
    Attempt,
    Policy,
    PollRun,
    RequestTimeout,
    _exception_types,
    _max_retries,
)
from .resilience import CircuitBreaker
from .waits import WaitLike, as_wait

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_POLLING_INTERVAL",
    "DEFAULT_REQUEST_TIMEOUT",
    "HttSleeper",
    "httsleep",
    "sleep",
]

log = logging.getLogger("httsleep")

_CHUNK = 64 * 1024


class _Unset:
    """Marks a shorthand condition keyword that was not given (``None`` is a valid JSON value)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()
_SHORTHAND = ("status_code", "text", "json", "jsonpath", "callback")


class _ArgumentTypeError(TypeError, ValueError):
    """Wrong argument type; also a ValueError, which is what 0.3.1 raised."""


class _PolicyAttributes:
    """The 0.3.1 configuration attributes, read from and written to ``self._policy``.

    Shared by :class:`HttSleeper` and :class:`httsleep.aio.AsyncHttSleeper`.
    """

    _policy: Policy
    _polling_interval: WaitLike

    @property
    def until(self) -> List[dict]:
        """The success conditions, normalised copies in dict form."""
        return [condition.spec for condition in self._policy.until]

    @until.setter
    def until(self, value: ConditionSpec) -> None:
        compiled = compile_conditions(value, "until")
        if not compiled:
            raise ValueError("no success conditions given")
        self._policy.until = compiled

    @property
    def alarms(self) -> List[dict]:
        """The alarm conditions, normalised copies in dict form."""
        return [condition.spec for condition in self._policy.alarms]

    @alarms.setter
    def alarms(self, value: ConditionSpec) -> None:
        self._policy.alarms = compile_conditions(value, "alarms")

    @property
    def max_retries(self) -> Optional[int]:
        """See the ``max_retries`` parameter. Runs never change it (0.3.1 counted it down)."""
        return self._policy.max_retries

    @max_retries.setter
    def max_retries(self, value: Optional[int]) -> None:
        self._policy.max_retries = _max_retries(value)

    @property
    def polling_interval(self) -> WaitLike:
        """See the ``polling_interval`` parameter."""
        return self._polling_interval

    @polling_interval.setter
    def polling_interval(self, value: WaitLike) -> None:
        self._policy.wait = as_wait(value)
        self._polling_interval = value

    @property
    def ignore_exceptions(self) -> Tuple[Type[BaseException], ...]:
        """See the ``ignore_exceptions`` parameter (always a tuple)."""
        return self._policy.ignore_exceptions

    @ignore_exceptions.setter
    def ignore_exceptions(self, value: Optional[Iterable[Type[BaseException]]]) -> None:
        self._policy.ignore_exceptions = _exception_types(value, "ignore_exceptions")

    @property
    def policy(self) -> Policy:
        """The compiled configuration (shared with every run)."""
        return self._policy


def _shorthand_conditions(status_code: Any, text: Any, json: Any, jsonpath: Any, callback: Any) -> dict:
    """The shorthand condition keywords that were given, as one ``until`` dict."""
    return {
        key: value
        for key, value in zip(_SHORTHAND, (status_code, text, json, jsonpath, callback))
        if value is not _UNSET
    }


class HttSleeper(_PolicyAttributes):
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
        open. Without one, each :meth:`run` opens its own and closes it.
    :param verify: ``True``/``False`` or a CA bundle path; when given it
        overrides the session's setting.
    :param polling_interval: seconds between attempts (fractions are
        honoured), or a wait strategy from :mod:`httsleep.waits`.
    :param max_retries: the number of requests made before giving up
        (as in 0.3.1: ``max_retries=5`` sends at most 5 requests, and 0 or 1
        send one); ``None`` for no limit.
    :param ignore_exceptions: exception classes that do not end the poll:
        the attempt counts and polling goes on.
    :param loglevel: if given, the level of the ``httsleep`` logger. The
        root logger is never touched.
    :param timeout: seconds the whole poll may take; ``None`` (the default)
        for no deadline. Polling never sleeps past it, and each request's
        timeout is cut to what remains.
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

    :raises TypeError: at construction, for an argument of the wrong type.
    :raises ValueError: at construction, for an invalid value.
    """

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
        circuit_breaker: Optional[CircuitBreaker] = None,
        status_code: Any = _UNSET,
        text: Any = _UNSET,
        json: Any = _UNSET,
        jsonpath: Any = _UNSET,
        callback: Any = _UNSET,
    ) -> None:
        shorthand = _shorthand_conditions(status_code, text, json, jsonpath, callback)
        self.request = _build_request(url_or_request, auth, headers)
        if session is not None and not isinstance(session, requests.Session):
            raise _ArgumentTypeError("session must be a requests.Session, not {!r}".format(session))
        self.session = session
        self.verify = verify
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
        )
        self._polling_interval = polling_interval
        self.log = log
        if loglevel is not None:
            log.setLevel(loglevel)

    @property
    def kwargs(self) -> dict:
        """The extra arguments given to ``Session.send`` (0.3.1 name)."""
        return {} if self.verify is None else {"verify": self.verify}

    # -- polling -------------------------------------------------------------------

    def run(self) -> requests.Response:
        """Poll until a success condition matches and return that response.

        :raises httsleep.exceptions.Alarm: a response matched an alarm.
        :raises httsleep.exceptions.StopPolling: ``max_retries`` or
            ``timeout`` ran out (a :class:`StopIteration`, as in 0.3.1).
        :raises Exception: whatever a request or a callback raised, unless
            it is ignored.
        """
        session = self.session
        if session is not None:
            return self._poll(session)
        with requests.Session() as own_session:
            return self._poll(own_session)

    def _poll(self, session: requests.Session) -> requests.Response:
        request = self.request
        run = self._policy.start(
            monotonic, give_up=StopPolling, target="{} {}".format(request.method, request.url), wall=time.time
        )
        # Proxy and CA settings from the environment, read once per URL per
        # poll rather than on every attempt (it scans os.environ twice).
        environment: Dict[str, Any] = {}
        while True:
            run.begin_attempt()
            try:
                response = self._send(session, run, environment)
            except Exception as exc:
                decision = run.failed(exc, timed_out=isinstance(exc, requests.Timeout))
            except BaseException:  # KeyboardInterrupt...: free the circuit breaker's trial slot
                run.abandon_attempt()
                raise
            else:
                decision = run.received(response)
            if decision.done:
                return decision.response
            if decision.sleep > 0:  # sleep(0) still costs a trip through the scheduler
                sleep(decision.sleep)

    def _send(self, session: requests.Session, run: PollRun, environment: Dict[str, Any]) -> requests.Response:
        prepared = session.prepare_request(self.request)
        url = str(prepared.url)
        settings = environment.get(url)
        if settings is None:
            settings = environment[url] = session.merge_environment_settings(url, {}, True, self.verify, None)
        timeout = run.request_timeout()
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if run.deadline is None:
            response = session.send(prepared, timeout=timeout, **settings)
            _read_body(response, run, read_timeout)
            return response

        # With a deadline, every hop of a redirect chain is bounded by it: each
        # request's timeout is cut to what remains when that request starts,
        # and each body is read under the deadline (by a response hook, which
        # runs before requests reads a redirect's body itself).
        def read_within_deadline(response: requests.Response, **kwargs: Any) -> None:
            _read_body(response, run, read_timeout)

        others = prepared.hooks.get("response") or []
        hooks = [read_within_deadline, *([others] if callable(others) else others)]
        prepared.hooks = dict(prepared.hooks, response=hooks)
        # requests passes a urllib3 Timeout through as it is (its stubs do not say so)
        return session.send(prepared, timeout=_DeadlineTimeout(run), **settings)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return "<HttSleeper {} {}>".format(self.request.method, redact_url(self.request.url))


def _build_request(url_or_request: Any, auth: Any, headers: Optional[dict]) -> requests.Request:
    if isinstance(url_or_request, str):
        request = requests.Request(method="GET", url=url_or_request, auth=auth, headers=headers)
        try:
            request.prepare()  # rejects a malformed URL now, not on the first attempt
        except requests.RequestException as exc:
            raise scrub_exception(exc) from None
        return request
    if isinstance(url_or_request, requests.Request):
        if auth is None and not headers:
            return url_or_request
        merged = dict(headers or {})
        merged.update(url_or_request.headers or {})
        return requests.Request(
            method=url_or_request.method,
            url=url_or_request.url,
            headers=merged,
            files=url_or_request.files,
            data=url_or_request.data,
            json=url_or_request.json,
            params=url_or_request.params,
            auth=url_or_request.auth or auth,
            cookies=url_or_request.cookies,
            hooks=url_or_request.hooks,
        )
    raise _ArgumentTypeError(
        "url_or_request must be a URL string or a requests.Request, not {!r}".format(url_or_request)
    )


class _DeadlineTimeout(Timeout):
    """A urllib3 timeout cut to what remains of the deadline each time a request starts.

    urllib3 clones the timeout at the start of every request, redirects
    included; the clone is the poll's request timeout as of that moment.
    """

    def __init__(self, run: PollRun) -> None:
        self._run = run
        connect, read = _pair(run.request_timeout())
        super().__init__(connect=connect, read=read)

    def clone(self) -> Timeout:
        connect, read = _pair(self._run.request_timeout())
        return Timeout(connect=connect, read=read)


def _pair(timeout: RequestTimeout) -> Tuple[float, float]:
    return timeout if isinstance(timeout, tuple) else (timeout, timeout)


def _read_body(response: requests.Response, run: PollRun, read_timeout: float) -> None:
    """Read the streamed body, never past the poll's deadline.

    A body that trickles in a byte at a time would pass every per-read
    timeout; with a deadline, each read waits for the read timeout or what
    remains of the deadline, whichever is shorter.
    """
    if getattr(response, "_content_consumed", False):
        return  # read already (by the response hook, or by a hook of the caller's)
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if run.deadline is None:
        _content(response)
        _check_complete(response)
        return
    if read1 is None:  # urllib3 1.x
        _read_before_deadline(response, run)
        _check_complete(response)
        return
    chunks = []
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    try:
        while True:
            remaining = run.remaining()
            if remaining is not None and remaining <= 0:
                response.close()
                raise ReadTimeout("the response body did not arrive before the deadline", response=response)
            if sock is not None:
                wait = max(remaining or 0.0, 0.01)
                sock.settimeout(min(read_timeout, wait))
            chunk = read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
    except ReadTimeout:
        raise
    except Exception as exc:  # translate like requests' iter_content does
        response.close()
        name = type(exc).__name__
        if name == "ReadTimeoutError" or isinstance(exc, TimeoutError):
            raise ReadTimeout(exc, response=response) from exc
        if name == "DecodeError":
            raise ContentDecodingError(exc, response=response) from exc
        if name in ("ProtocolError", "IncompleteRead"):
            raise ChunkedEncodingError(exc, response=response) from exc
        raise ConnectionError(exc, response=response) from exc
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]
    raw.release_conn()


def _content(response: requests.Response) -> None:
    """``response.content``, but a body that stalls past the read timeout is a :class:`ReadTimeout`.

    requests reports that stall as a ``ConnectionError`` wrapping urllib3's
    ``ReadTimeoutError``; the deadline-bounded reader reports it as a
    ``ReadTimeout``, so both paths say the same.
    """
    try:
        response.content  # noqa: B018 - reads and keeps the body
    except ConnectionError as exc:
        inner = exc.args[0] if exc.args else None
        if type(inner).__name__ == "ReadTimeoutError":
            raise ReadTimeout(inner, response=response) from exc
        raise


def _read_before_deadline(response: requests.Response, run: PollRun) -> None:
    """Read the body with urllib3 1.x (no ``read1``): a timer cuts the connection at the deadline."""
    remaining = run.remaining() or 0.0
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError, AttributeError):
            sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]

    timer = threading.Timer(max(remaining, 0.0), cut)
    timer.daemon = True
    if sock is not None:
        timer.start()
    try:
        _content(response)
    except Exception as exc:
        if expired.is_set():
            raise ReadTimeout("the response body did not arrive before the deadline", response=response) from exc
        raise
    finally:
        timer.cancel()
    left = run.remaining()
    if expired.is_set() or (left is not None and left <= 0):  # urllib3 1.x may return a partial body
        raise ReadTimeout("the response body did not arrive before the deadline", response=response)


def _check_complete(response: requests.Response) -> None:
    """Raise :class:`ChunkedEncodingError` for a body shorter than its Content-Length.

    urllib3 2 checks this itself; urllib3 1.x returned the truncated body.
    """
    missing = getattr(response.raw, "length_remaining", None)
    if isinstance(missing, int) and missing > 0:
        raise ChunkedEncodingError(
            "Connection broken: the body ended {} bytes short of its Content-Length".format(missing),
            response=response,
        )


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
    **options: Any,
) -> requests.Response:
    """Poll ``url_or_request`` until a response matches; return that response.

    A convenience wrapper: creates an :class:`HttSleeper` with the same
    arguments (see there, including the keyword-only options ``timeout``,
    ``request_timeout``, ``retry_after``, ``retry_transient``,
    ``on_attempt``, ``circuit_breaker`` and the shorthand conditions ``status_code``, ``text``,
    ``json``, ``jsonpath``, ``callback``) and runs it.
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
        **options,
    ).run()
