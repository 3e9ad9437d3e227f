"""The polling decision, without any I/O.

:class:`Policy` holds a poller's validated configuration. For each poll a
driver (the requests loop in :mod:`httsleep.main`, the httpx loop in
:mod:`httsleep.aio`) calls :meth:`Policy.start` to get a :class:`PollRun`,
then loops::

    run = policy.start(clock, give_up=StopPolling, target="GET http://...")
    while True:
        run.begin_attempt()
        try:
            response = send(timeout=run.request_timeout())
        except Exception as exc:
            decision = run.failed(exc, timed_out=is_timeout(exc))
        else:
            decision = run.received(response)
        if decision.done:
            return decision.response
        sleep(decision.sleep)

``received``/``failed`` raise :class:`~httsleep.exceptions.Alarm`, the
give-up error, or an exception that is not to be ignored; otherwise they
say whether the poll is done or how long to sleep. All the rules (alarms
before success, undecidable JSON, retry limits, deadline, wait strategy,
``Retry-After``, transient errors, hooks, testing mode) live here, so the
two drivers cannot drift apart.

Waits are measured from the *end* of one attempt (its response evaluated
or its error handled) to the start of the next.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    FrozenSet,
    Iterable,
    NamedTuple,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Type,
    Union,
)

from . import _validate as check
from . import testing
from ._body import text_encoding
from ._logs import log
from ._validate import MAX_SECONDS
from .conditions import Condition, ConditionSpec, compile_conditions, evaluate_response
from .exceptions import Alarm, BodyError, CircuitBrokenError, GaveUp
from .redaction import excerpt, redact_text, scrub_exception
from .transient import is_temp_network_error
from .waits import WaitLike, as_wait, never_ending, wait_seconds

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_POLLING_INTERVAL",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RETRY_AFTER_STATUSES",
    "Attempt",
    "Decision",
    "Policy",
    "PollRun",
    "body_excerpt",
    "connect_and_read",
    "describe_response",
    "is_service_failure",
    "parse_retry_after",
]


#: Seconds between attempts when nothing else is said (as in 0.3.1).
DEFAULT_POLLING_INTERVAL = 2
class _DefaultMaxRetries(int):
    """50, and a marker: ``max_retries`` was not given (then ``timeout=`` alone limits the poll)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "50"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        return (_default_max_retries, ())


def _default_max_retries() -> int:
    return DEFAULT_MAX_RETRIES


#: Requests made before giving up when nothing else is said (as in 0.3.1). When
#: ``timeout=`` is given and ``max_retries`` is not, there is no such limit: the
#: deadline ends the poll.
DEFAULT_MAX_RETRIES: int = _DefaultMaxRetries(50)
#: Timeout of each request: 10 s to connect, 30 s between bytes of the answer.
DEFAULT_REQUEST_TIMEOUT: Tuple[float, float] = (10.0, 30.0)
#: Statuses whose ``Retry-After`` header is honoured by default.
DEFAULT_RETRY_AFTER_STATUSES: FrozenSet[int] = frozenset({202, 429, 503})
#: The longest wait a ``Retry-After`` header can ask for; longer values are cut to this.
DEFAULT_MAX_RETRY_AFTER = 300.0
#: The largest response body accepted, in decoded bytes (10 MiB): no status endpoint comes near it.
DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024

#: The smallest timeout ever handed to a transport (0 would mean "non-blocking").
_MIN_REQUEST_TIMEOUT = 0.01
#: A transport timeout this close to the deadline (or past it) means the deadline ran out
#: (event-loop timers may fire up to a clock tick early).
_DEADLINE_SLACK = 0.05

RequestTimeout = Union[float, Tuple[float, float]]
Hook = Callable[["Attempt"], Any]


class TicketLike(Protocol):
    """What a circuit breaker's :meth:`admit` returns (see :class:`httsleep.resilience.Ticket`)."""

    def success(self) -> None: ...

    def failure(self, exc: Union[BaseException, str, None] = None) -> int: ...

    def cancel(self) -> None: ...


class BreakerLike(Protocol):
    """What a poll needs of ``circuit_breaker=`` (see :class:`httsleep.CircuitBreaker`)."""

    name: str

    @property
    def time_remaining(self) -> float: ...

    def admit(self) -> TicketLike: ...


class Attempt:
    """What hooks (``on_attempt=``) are told after every attempt. Immutable.

    :ivar number: 1 for the first request.
    :ivar elapsed: seconds since the poll started.
    :ivar response: the response, or ``None`` if the attempt raised.
    :ivar exception: the exception of the attempt, or ``None``.
    :ivar outcome: ``"success"``, ``"alarm"``, ``"retry"`` (another attempt
        follows after ``wait``), ``"gave_up"`` or ``"error"`` (an exception
        that is not ignored is about to propagate).
    :ivar wait: seconds until the next attempt (only for ``"retry"``).
    :ivar wait_reason: ``"interval"`` or ``"Retry-After"`` (only for ``"retry"``).
    """

    # A plain slotted class, not a dataclass: importing dataclasses (and the
    # inspect module it pulls in) would cost every ``import httsleep`` ~3 ms.
    __slots__ = ("number", "elapsed", "response", "exception", "outcome", "wait", "wait_reason")

    number: int
    elapsed: float
    response: Any
    exception: Optional[BaseException]
    outcome: str
    wait: Optional[float]
    wait_reason: Optional[str]

    def __init__(
        self,
        number: int,
        elapsed: float,
        response: Any,
        exception: Optional[BaseException],
        outcome: str,
        wait: Optional[float] = None,
        wait_reason: Optional[str] = None,
    ) -> None:
        for name, value in zip(self.__slots__, (number, elapsed, response, exception, outcome, wait, wait_reason)):
            object.__setattr__(self, name, value)

    def _fields(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Attempt is immutable: cannot set {!r}".format(name))

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Attempt is immutable: cannot delete {!r}".format(name))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> Tuple[Any, ...]:
        # copy, deepcopy and pickle would otherwise set the slots one by one, which __setattr__ refuses
        return (self.__class__, self._fields())

    def __repr__(self) -> str:
        return "Attempt({})".format(
            ", ".join("{}={!r}".format(name, value) for name, value in zip(self.__slots__, self._fields()))
        )


class Decision(NamedTuple):
    """What a driver does next: return ``response`` (``done``) or sleep ``sleep`` seconds."""

    done: bool
    response: Any = None
    sleep: float = 0.0


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` if absent or unreadable.

    Both forms of RFC 9110 are understood: delta-seconds (``"120"``) and an
    HTTP-date, taken relative to ``now`` (a UNIX timestamp). A date in the
    past means no wait.

    >>> parse_retry_after("3", now=0)
    3.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=30)
    30.0
    >>> parse_retry_after("soon", now=0) is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²": a Latin-1 header may hold digits float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - depends on the Python version
        return None
    if when.tzinfo is None:  # asctime() form, or "-0000": HTTP dates are always GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - now, 0.0)


def connect_and_read(timeout: RequestTimeout) -> Tuple[float, float]:
    """A ``request_timeout`` as a ``(connect, read)`` pair (a number is both).

    >>> connect_and_read(5), connect_and_read((3.05, 27))
    ((5, 5), (3.05, 27))
    """
    return timeout if isinstance(timeout, tuple) else (timeout, timeout)


# Errors that are the caller's fault, not the service's: never a breaker failure.
_CALLER_FAULTS = frozenset(
    {"InvalidURL", "InvalidSchema", "MissingSchema", "InvalidHeader", "URLRequired", "UnsupportedProtocol"}
)
# httpx's transport errors are not OSErrors (requests' are); matched by name, httpx need not be installed.
_SERVICE_FAILURES = frozenset({"TransportError", "TimeoutException", "RequestError"})


def is_service_failure(response: Any = None, exc: Optional[BaseException] = None, timed_out: bool = False) -> bool:
    """Whether an attempt's outcome counts as a failure for a circuit breaker.

    Failures: a response with a 5xx status; a timeout; a connection failure
    or other error of the transport (refused, reset, DNS, TLS, broken body).
    Not failures: any other response (a 2xx or 4xx that is merely not what
    the poll waits for), an error raised by the caller's own code (a
    callback), and a request the transport rejects before sending it (an
    invalid URL).
    """
    if response is not None:
        status = getattr(response, "status_code", None)
        return isinstance(status, int) and status >= 500
    if exc is None or isinstance(exc, BodyError):  # the service answered; the body was the problem
        return False
    if timed_out:
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _CALLER_FAULTS:
        return False
    return isinstance(exc, OSError) or bool(names & _SERVICE_FAILURES) or is_temp_network_error(exc)


def describe_response(response: Any) -> str:
    """``HTTP 503 Service Unavailable`` for a requests or httpx response (the reason made printable, cut short)."""
    reason = getattr(response, "reason", None) or getattr(response, "reason_phrase", None) or ""
    if not isinstance(reason, str):
        reason = str(reason)
    return "HTTP {} {}".format(getattr(response, "status_code", "?"), excerpt(reason, 100)).rstrip()


def body_excerpt(response: Any, limit: int = 200, redact: Callable[[str], str] = redact_text) -> str:
    """The start of a response's body, as text on one line: redacted, made printable, at most ``limit`` characters.

    Only the first few hundred bytes are decoded, with the charset of the
    ``Content-Type`` (UTF-8 otherwise): no charset detection on megabytes.
    Runs of whitespace (the line breaks and indents of pretty-printed JSON)
    become one space.

    >>> class Response: content = b'{"status": "RUNNING", "token": "t0k3n"}'; headers = {}
    >>> body_excerpt(Response())
    '{"status": "RUNNING", "token": "***"}'
    """
    content = getattr(response, "content", None)
    if not isinstance(content, (bytes, bytearray)) or not content:
        return ""
    window = bytes(content[: limit * 4 + 256])
    text = window.decode(text_encoding(getattr(response, "headers", None)), "replace")
    return excerpt(" ".join(text.split()), limit, redact, cut=len(window) < len(content))


def _strong_date(modified: str, date: Optional[str]) -> bool:
    """Whether a ``Last-Modified`` is at least a second older than the response's ``Date`` (both HTTP dates)."""
    if not date:
        return False
    try:
        return (parsedate_to_datetime(date) - parsedate_to_datetime(modified)).total_seconds() >= 1
    except (TypeError, ValueError, IndexError, OverflowError):  # unreadable, or naive against aware
        return False


class Policy:
    """A poller's configuration, validated and compiled once.

    The arguments are those of :class:`httsleep.HttSleeper` beyond the
    request itself; see there. ``shorthand`` holds the shorthand condition
    keywords (``status_code=200``...), which form one AND condition and
    cannot be combined with ``until``.
    """

    def __init__(
        self,
        until: ConditionSpec = None,
        alarms: ConditionSpec = None,
        *,
        shorthand: Optional[dict] = None,
        polling_interval: WaitLike = DEFAULT_POLLING_INTERVAL,
        max_retries: Optional[int] = DEFAULT_MAX_RETRIES,
        timeout: Optional[float] = None,
        request_timeout: RequestTimeout = DEFAULT_REQUEST_TIMEOUT,
        retry_after: Union[bool, Collection[int]] = True,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        ignore_exceptions: Optional[Iterable[Type[BaseException]]] = None,
        retry_transient: bool = False,
        on_attempt: Union[Hook, Sequence[Hook], None] = None,
        circuit_breaker: Optional[BreakerLike] = None,
        max_body_size: Optional[int] = DEFAULT_MAX_BODY_SIZE,
        conditional: bool = False,
    ) -> None:
        if shorthand:
            if until is not None:
                raise ValueError(
                    "give success conditions either as until=... or as keywords ({}), not both".format(
                        ", ".join("{}=...".format(key) for key in shorthand)
                    )
                )
            until = dict(shorthand)
        self.until: Tuple[Condition, ...] = compile_conditions(until, "until")
        if not self.until:
            raise ValueError("no success conditions given: pass until={...} or a keyword such as status_code=200")
        self.alarms: Tuple[Condition, ...] = compile_conditions(alarms, "alarms")
        self.wait = as_wait(polling_interval)
        self.timeout = check.optional_seconds(timeout, "timeout")
        if max_retries is DEFAULT_MAX_RETRIES and self.timeout is not None:
            max_retries = None  # timeout= is a time budget: the deadline, not 50 requests, ends the poll
        self.max_retries = check.max_retries(max_retries)
        self.request_timeout: RequestTimeout = check.request_timeout(request_timeout)
        self.retry_after_statuses = check.retry_after_statuses(retry_after, DEFAULT_RETRY_AFTER_STATUSES)
        max_wait = check.optional_seconds(max_retry_after, "max_retry_after")
        self.max_retry_after = DEFAULT_MAX_RETRY_AFTER if max_wait is None else max_wait
        self.ignore_exceptions = check.exception_types(ignore_exceptions, "ignore_exceptions")
        self.retry_transient = check.flag(retry_transient, "retry_transient")
        self.hooks: Tuple[Hook, ...] = check.hooks(on_attempt)
        self.circuit_breaker: Optional[BreakerLike] = check.circuit_breaker(circuit_breaker)
        self.max_body_size = check.max_body_size(max_body_size)
        self.conditional = check.flag(conditional, "conditional")

    @property
    def max_attempts(self) -> Optional[int]:
        """Requests made at most: ``max_retries``, at least 1 (as in 0.3.1); ``None`` for no limit."""
        return None if self.max_retries is None else max(self.max_retries, 1)

    def start(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        give_up: Type[GaveUp],
        target: str = "",
        wall: Callable[[], float] = time.time,
        redact: Callable[[str], str] = redact_text,
    ) -> PollRun:
        """Begin one poll; all its state lives in the returned :class:`PollRun`.

        ``redact`` is applied to everything the poll says (messages, logs,
        the transport's errors); a driver passes one that knows the poll's
        own credentials (:class:`httsleep.redaction.Secrets`).
        """
        return PollRun(self, clock, give_up, target, wall, redact)


class PollRun:
    """The state of one poll: attempts made, start time, last outcome."""

    def __init__(
        self,
        policy: Policy,
        clock: Callable[[], float],
        give_up: Type[GaveUp],
        target: str,
        wall: Callable[[], float],
        redact: Callable[[str], str] = redact_text,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._wall = wall
        self._give_up = give_up
        self.redact = redact
        self._target = target  # shown redacted (see target), worked out only if something is said
        self._shown_target: Optional[str] = None
        self._testing = testing.is_testing()
        self._skipped = 0.0  # waits not slept in testing mode, added to the clock
        self.started = clock()
        self.deadline = None if policy.timeout is None else self.started + policy.timeout
        self.attempts = 0
        self.last_response: Any = None
        self.last_exception: Optional[BaseException] = None
        self._ticket: Optional[TicketLike] = None  # the circuit breaker's permission for the attempt in flight
        self._validators: Dict[str, str] = {}  # conditional polling: the headers of the next request
        self._unchanged: Any = None  # the 304 of the last attempt, which repeats _repeated
        self._repeated: Any = None  # the full response the validators came from

    @property
    def target(self) -> str:
        """``METHOD URL`` of the poll, redacted and shortened, for messages and logs."""
        if self._shown_target is None:
            self._shown_target = excerpt(self._target, 300, self.redact)
        return self._shown_target

    # -- time ----------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self._skipped

    def elapsed(self) -> float:
        return self.now() - self.started

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (``None`` without one)."""
        return None if self.deadline is None else self.deadline - self.now()

    # -- the attempt ------------------------------------------------------------

    def begin_attempt(self) -> None:
        """Count an attempt; call it just before sending the request.

        With a circuit breaker, ask it first: when it is open (or half-open
        with its trial calls taken) this raises
        :class:`~httsleep.exceptions.CircuitBrokenError` and the request
        must not be sent. The outcome is reported to the breaker by
        :meth:`received` or :meth:`failed`.
        """
        breaker = self.policy.circuit_breaker
        if breaker is not None:
            self._settle_ticket()  # a previous attempt that never reported: forget it
            try:
                self._ticket = breaker.admit()
            except CircuitBrokenError as refused:
                message = "{}: attempt {} not sent: {}".format(
                    self.target or "the endpoint", self.attempts + 1, refused
                )
                log.info("%s", message)
                raise CircuitBrokenError(message, refused.time_remaining) from self.last_exception
        self.attempts += 1

    def abandon_attempt(self) -> None:
        """The attempt ends without an outcome (the driver was interrupted or cancelled).

        Frees the circuit breaker's permission at once, so that a half-open
        trial slot is not kept until it expires. Drivers call it when
        something other than an ``Exception`` (``KeyboardInterrupt``,
        ``asyncio.CancelledError``) leaves the attempt; harmless otherwise.
        """
        self._settle_ticket()

    def request_timeout(self) -> RequestTimeout:
        """The timeout for the request about to be sent, cut to the time left."""
        configured = self.policy.request_timeout
        remaining = self.remaining()
        if remaining is None:
            return configured
        remaining = max(remaining, _MIN_REQUEST_TIMEOUT)
        if isinstance(configured, tuple):
            connect, read = configured
            return (min(connect, remaining), min(read, remaining))
        return min(configured, remaining)

    def conditional_headers(self) -> Dict[str, str]:
        """The headers that make the next request conditional: ``If-None-Match``, ``If-Modified-Since``.

        Empty unless the poll is conditional (``conditional=True``) and the
        last full response carried an ``ETag`` or a ``Last-Modified``. A
        transport adds them to every request it sends.
        """
        return self._validators

    def received(self, response: Any) -> Decision:
        """Judge a response: raise :class:`Alarm`, finish, or say how long to wait.

        In a conditional poll, a ``304 Not Modified`` answering the
        validators of :meth:`conditional_headers` means the response before
        still holds: its verdict (it matched nothing) stands, no condition
        is evaluated on the empty body, hooks are told, and the poll waits
        and tries again. :attr:`last_response` stays the response it repeats.
        """
        self._settle_ticket(response=response)
        self.last_exception = None
        if self._validators and response.status_code == 304:
            self._unchanged = response
            self.last_response = self._repeated  # what the 304 stands for (an error since does not change it)
            self._remember_validators(response, unchanged=True)
            return self._retry(response, None)
        self._unchanged = None
        self.last_response = response
        try:
            verdict = evaluate_response(response, self.policy.alarms, self.policy.until)
        except Exception as exc:  # a callback raised
            return self.failed(exc, response=response)
        if verdict.alarm is not None:
            self._notify("alarm", response, None)
            alarm = Alarm(response, verdict.alarm.source, verdict.alarm, body_excerpt(response, redact=self.redact))
            log.info("%s: %s", self.target, alarm)
            raise alarm
        if verdict.success:
            self._notify("success", response, None)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: attempt %d matched: %s", self.target, self.attempts, describe_response(response))
            return Decision(True, response)
        if verdict.undecided is not None and self._retry_after(response) is None:
            return self.failed(verdict.undecided, response=response)
        # not matched; or a JSON condition met a 429/503 page (HTML, say) that asks to come back later
        if self.policy.conditional:
            self._repeated = response
            self._remember_validators(response)
        return self._retry(response, None)

    def _remember_validators(self, response: Any, unchanged: bool = False) -> None:
        """Take the next request's conditional headers from ``response``.

        ``If-None-Match`` from an ``ETag``. ``If-Modified-Since`` from a
        ``Last-Modified`` only without an ETag, and only when it is at least
        a second older than the response's ``Date`` (RFC 9110 8.8.2.2: a
        date has a one-second resolution, so a document changed again in the
        same second would be "not modified" for ever). A full response
        without validators makes the next request unconditional; a 304
        updates the validators it repeats and keeps the others.
        """
        headers = response.headers
        validators = dict(self._validators) if unchanged else {}
        etag = headers.get("ETag")
        if etag:
            validators["If-None-Match"] = etag
            validators.pop("If-Modified-Since", None)
        elif "If-None-Match" not in validators:
            modified = headers.get("Last-Modified")
            if modified and _strong_date(modified, headers.get("Date")):
                validators["If-Modified-Since"] = modified
        self._validators = validators

    def body_optional(self, response: Any) -> bool:
        """Whether the poll can do without ``response``'s body: it asks to come back later.

        A 429 or 503 (the ``retry_after`` statuses) with a ``Retry-After``
        this poll honours is waited for whatever its body is. A transport
        that cannot read such a body (larger than ``max_body_size``, not
        valid for its ``Content-Encoding``, cut short) hands the response to
        :meth:`received` with an empty body instead of failing the attempt.
        """
        return self._retry_after(response) is not None

    def failed(self, exc: BaseException, *, response: Any = None, timed_out: bool = False) -> Decision:
        """Handle an attempt that raised: re-raise it, give up, or say how long to wait.

        ``timed_out`` tells that the transport gave up waiting; when the
        deadline has passed by then (the request timeout had been cut to it,
        or a body trickled in), the deadline is what ran out and the poll
        gives up. A timeout with time left (say a connect timeout shorter
        than the deadline, while only the read timeout was cut) is the
        request's own and is handled like any other error.
        """
        self._settle_ticket(response=response, exc=exc, timed_out=timed_out)
        if response is None:  # the transport's error: it may quote the URL with its password
            scrub_exception(exc, self.redact)
        self._unchanged = None
        self.last_response = response
        self.last_exception = exc
        remaining = self.remaining()
        if timed_out and remaining is not None and remaining <= _DEADLINE_SLACK:
            self._give_up_now(
                "timeout", "timeout={:g}s ran out during attempt {}".format(self.policy.timeout or 0, self.attempts)
            )
        if not self._ignorable(exc):
            self._notify("error", response, exc)
            raise exc
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: attempt %d failed: %s", self.target, self.attempts, excerpt(repr(exc), 300, self.redact))
        return self._retry(response, exc)

    # -- internals ---------------------------------------------------------------

    def _settle_ticket(
        self, response: Any = None, exc: Optional[BaseException] = None, timed_out: bool = False
    ) -> None:
        ticket, self._ticket = self._ticket, None
        if ticket is None:
            return
        if response is None and exc is None:
            ticket.cancel()
        elif is_service_failure(response, exc, timed_out):
            ticket.failure(describe_response(response) if response is not None else exc)
        else:
            ticket.success()

    def _ignorable(self, exc: BaseException) -> bool:
        if isinstance(exc, self.policy.ignore_exceptions):
            return True
        return self.policy.retry_transient and is_temp_network_error(exc)

    def _retry_after(self, response: Any) -> Optional[float]:
        if response is None or response.status_code not in self.policy.retry_after_statuses:
            return None
        seconds = parse_retry_after(response.headers.get("Retry-After"), self._wall())
        return None if seconds is None else min(seconds, self.policy.max_retry_after)

    def _retry(self, response: Any, exc: Optional[BaseException]) -> Decision:
        limit = self.policy.max_attempts
        if limit is not None and self.attempts >= limit:
            self._give_up_now("max_retries", "max_retries={} reached".format(self.policy.max_retries))
        wait = wait_seconds(self.policy.wait, self.attempts)
        reason = "interval"
        server_wait = self._retry_after(response)
        if server_wait is not None and server_wait > wait:
            wait, reason = server_wait, "Retry-After"
            if wait > MAX_SECONDS:  # max_retry_after=inf and a server that asks for centuries
                wait = math.inf
        if math.isinf(wait) and self.deadline is None:
            self._notify("error", response, exc)
            raise never_ending(self.policy.wait, self.attempts) from exc
        if self.deadline is not None and self.now() + wait > self.deadline:
            self._give_up_now(
                "timeout",
                "timeout={:g}s would pass during the next wait of {:g}s ({})".format(
                    self.policy.timeout or 0, wait, reason
                ),
            )
        breaker = self.policy.circuit_breaker
        if breaker is not None:
            refused_for = breaker.time_remaining
            if refused_for > wait:  # the next attempt would be refused: fail fast, without the wait
                message = "{}: {} is open for {:.3g}s, longer than the next wait of {:g}s".format(
                    self.target or "the endpoint", breaker.name, refused_for, wait
                )
                refused = CircuitBrokenError(message, refused_for)
                self._notify("error", response, refused)
                log.info("%s", message)
                raise refused from exc
        self._notify("retry", response, exc, wait, reason)
        if log.isEnabledFor(logging.INFO):  # the excerpt is redacted: not for a record nobody reads
            log.info(
                "%s: not ready after attempt %d (%s), waiting %gs",
                self.target,
                self.attempts,
                self._describe(response) if response is not None else excerpt(repr(exc), 200, self.redact),
                wait,
            )
        if self._testing:
            self._skipped += wait
            return Decision(False, None, 0.0)
        return Decision(False, None, wait)

    def _describe(self, response: Any) -> str:
        """``HTTP 200 OK; body: {...}``: the status and what the server said."""
        if response is self._unchanged and self.last_response is not None:
            return "{} (unchanged: {})".format(describe_response(response), self._describe(self.last_response))
        body = body_excerpt(response, redact=self.redact)
        return "{}; body: {}".format(describe_response(response), body) if body else describe_response(response)

    def _give_up_now(self, limit: str, why: str) -> None:
        elapsed = self.elapsed()
        if self.last_exception is not None:
            last = "last error: {}".format(excerpt(repr(self.last_exception), 300, self.redact))
        elif self.last_response is not None:
            last = "last response: {}, which matched no condition".format(
                self._describe(self._unchanged if self._unchanged is not None else self.last_response)
            )
        else:  # pragma: no cover - an attempt always precedes giving up
            last = "no attempt finished"
        waiting_for = " or ".join(repr(condition) for condition in self.policy.until)
        message = "gave up polling {} after {} attempt{} in {:.2f}s: {}; {} (waiting for {})".format(
            self.target or "the endpoint",
            self.attempts,
            "" if self.attempts == 1 else "s",
            elapsed,
            why,
            last,
            excerpt(waiting_for, 300, self.redact),
        )
        self._notify("gave_up", self._unchanged if self._unchanged is not None else self.last_response,
                     self.last_exception)
        log.info("%s", message)
        raise self._give_up(
            message,
            limit=limit,
            attempts=self.attempts,
            elapsed=elapsed,
            last_response=self.last_response,
            last_exception=self.last_exception,
        ) from self.last_exception

    def _notify(
        self,
        outcome: str,
        response: Any,
        exc: Optional[BaseException],
        wait: Optional[float] = None,
        reason: Optional[str] = None,
    ) -> None:
        if not self.policy.hooks:
            return
        attempt = Attempt(self.attempts, self.elapsed(), response, exc, outcome, wait, reason)
        for hook in self.policy.hooks:
            hook(attempt)
