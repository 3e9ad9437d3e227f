"""The polling decision, without any I/O.

:class:`Policy` holds a poller's validated configuration. For each poll a
driver (the loop of :mod:`httsleep.main` or :mod:`httsleep.aio`) calls
:meth:`Policy.start` to get a :class:`PollRun`, then loops::

    run = policy.start(monotonic, give_up=StopPolling, target="GET http://...")
    while True:
        throttled = run.throttle()   # asks the rate limit for a slot: wait for it first?
        if throttled is not None:
            sleep(throttled.sleep)   # not an attempt; the next turn sends without asking again
            continue
        run.begin_attempt()          # asks the circuit breaker, counts the attempt
        try:
            response = send(run)     # bounded by run.request_timeout() and run.remaining()
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
``Retry-After``, transient errors, conditional polling, hooks, testing
mode) live here, so the drivers cannot drift apart.

Where the poll stands is a value, :attr:`PollRun.state` (a
:class:`~httsleep.state.PollState`): every decision makes a new one, and a
poll can start from a saved one (``policy.start(..., state=saved)``): it
then makes the decisions the first process would have made. Times in it
are on the wall clock; within one process :meth:`PollRun.now` never steps
back (it advances with the monotonic clock the driver passes).

A circuit breaker may do I/O (one shared by a fleet): its ``admit()`` and
its ticket's ``success()``/``failure()``/``cancel()`` may then return
awaitables. :meth:`PollRun.begin_attempt` and :meth:`PollRun.settle` hand
those to the driver to await (the asyncio front end does; the synchronous
one refuses such breakers), so that the decision itself never blocks. So
does :meth:`PollRun.throttle` with a rate limit whose ``reserve()`` awaits.

A rate limit (``rate_limit=``) is asked for a slot before each attempt is
counted, by :meth:`PollRun.throttle`: a slot in the future is a wait the
core decides like any other (recorded as ``next_attempt_at``, with
``slot_reserved`` set in the state), not an attempt; a slot after the
deadline gives up at once. The circuit breaker is asked after that wait,
when the request is about to go: its answer then is about the moment of
sending, and a half-open trial slot is not held through a wait.

Waits are measured from the *end* of one attempt (its response evaluated
or its error handled) to the start of the next.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable as _AwaitableType
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import (
    Any,
    Awaitable,
    Callable,
    Collection,
    Dict,
    FrozenSet,
    Iterable,
    NamedTuple,
    NoReturn,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Type,
    Union,
)

from . import _validate as check
from . import instrumentation, testing
from ._compat import DEFAULT_MAX_RETRIES
from ._conditional import Revalidation, keep_out_secrets, next_validators
from ._logs import log
from ._validate import MAX_SECONDS
from .conditions import Condition, ConditionSpec, Verdict, compile_conditions, describe_findings, evaluate_response
from .exceptions import Alarm, CircuitBrokenError, GaveUp
from .messages import (
    body_excerpt,
    describe_outcome,
    describe_response,
    excerpt,
    give_up_message,
    unreadable_body_error,
)
from .ratelimit import RateLimitLike, Reservation, origin_of, rate_limit_argument
from .redaction import redact_text, scrub_exception
from .state import Attempt, PollState
from .transient import is_service_failure, is_temp_network_error
from .waits import WaitLike, as_wait, never_ending, wait_seconds

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_POLLING_INTERVAL",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RETRY_AFTER_STATUSES",
    "JUDGE_INLINE_MAX_BODY",
    "Attempt",
    "BreakerLike",
    "Checkpoint",
    "Decision",
    "Judgement",
    "Policy",
    "PollRun",
    "PollState",
    "Step",
    "TicketLike",
    "body_excerpt",
    "connect_and_read",
    "describe_response",
    "is_service_failure",
    "parse_retry_after",
    "refuse_awaitable",
]


#: Seconds between attempts when nothing else is said (as in 0.3.1).
DEFAULT_POLLING_INTERVAL = 2
#: Timeout of each request: 10 s to connect, 30 s between bytes of the answer.
DEFAULT_REQUEST_TIMEOUT: Tuple[float, float] = (10.0, 30.0)
#: Statuses whose ``Retry-After`` header is honoured by default.
DEFAULT_RETRY_AFTER_STATUSES: FrozenSet[int] = frozenset({202, 429, 503})
#: The longest wait a ``Retry-After`` header can ask for; longer values are cut to this.
DEFAULT_MAX_RETRY_AFTER = 300.0
#: The largest response body accepted, in decoded bytes (10 MiB): no status endpoint comes near it.
DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024

#: The largest body judged in the poll's own thread whatever happens (64 KiB): larger ones may be judged in a
#: worker thread (see :meth:`PollRun.judge_elsewhere`). Decoding and searching 64 KiB of JSON takes milliseconds.
JUDGE_INLINE_MAX_BODY = 64 * 1024

#: The smallest timeout ever handed to a transport (0 would mean "non-blocking").
_MIN_REQUEST_TIMEOUT = 0.01
#: A transport timeout this close to the deadline (or past it) means the deadline ran out
#: (event-loop timers may fire up to a clock tick early).
_DEADLINE_SLACK = 0.05
#: A step resumed this close before its next attempt is due makes the attempt (engines' timers round).
_DUE_SLACK = 0.05
#: The shortest wait before a rate limit that said "no" is asked again.
_MIN_THROTTLE = 0.01

RequestTimeout = Union[float, Tuple[float, float]]
#: What ``step(checkpoint=...)`` calls with the state once an attempt is counted, before it is sent.
Checkpoint = Callable[[PollState], Any]
#: What :meth:`PollRun.judge` returns: the conditions' verdict, or the exception a callback raised.
Judgement = Union[Verdict, Exception]
Hook = Callable[[Attempt], Any]


def refuse_awaitable(pending: Optional[Awaitable[Any]], what: str, owner: str = "circuit breaker") -> None:
    """Where nothing may be awaited (the synchronous front end): close ``pending``, if any, and say why.

    :raises TypeError: ``pending`` is an awaitable (a circuit breaker, or
        the ``owner`` named, whose ``what`` awaits).
    """
    if pending is None:
        return
    close = getattr(pending, "close", None)
    if close is not None:
        close()
    raise TypeError(
        "the {}'s {} is awaitable (it does asynchronous I/O): use it with httsleep.AsyncHttSleeper, "
        "or give HttSleeper a {} that does not await".format(
            owner, what, "breaker" if owner == "circuit breaker" else owner
        )
    )


class TicketLike(Protocol):
    """What a circuit breaker's ``admit()`` gives (see :class:`httsleep.resilience.Ticket`).

    Each method may return an awaitable (a breaker that does I/O); the
    asyncio front end awaits it.
    """

    def success(self) -> Any: ...

    def failure(self, exc: Union[BaseException, str, None] = None) -> Any: ...

    def cancel(self) -> Any: ...


class BreakerLike(Protocol):
    """What a poll needs of ``circuit_breaker=`` (see :class:`httsleep.CircuitBreaker`).

    ``admit()`` returns a :class:`TicketLike`, or an awaitable of one (only
    on the asyncio front end); it raises
    :class:`~httsleep.exceptions.CircuitBrokenError` when the call must not
    be made. ``time_remaining`` must not do I/O (a cached value).
    """

    name: str

    @property
    def time_remaining(self) -> float: ...

    def admit(self) -> Any: ...


def _described(value: Any) -> str:
    """What the fingerprint keeps of a value JSON cannot hold: a function by its name, anything else by repr."""
    name = getattr(value, "__qualname__", None)
    if callable(value) and isinstance(name, str):
        return "{}.{}".format(getattr(value, "__module__", "?"), name)
    return repr(value) if not hasattr(value, "find") else str(value)  # a compiled JSONPath: its text


class Step(NamedTuple):
    """What one :meth:`~httsleep.HttSleeper.step` did: one attempt at most, never a wait.

    :ivar done: the poll matched; ``response`` is the response that did.
    :ivar response: the matching response (``None`` until ``done``).
    :ivar wait: seconds to wait before the next step (``0.0`` when done);
        a job engine schedules the next step that far ahead.
    :ivar state: the poll's state after the step: save it (:meth:`PollState.to_json`)
        and pass it to the next step, in this process or another.
    """

    done: bool
    response: Any
    wait: float
    state: PollState


class Decision(NamedTuple):
    """What a driver does next: return ``response`` (``done``) or sleep ``sleep`` seconds.

    The poll's new state is :attr:`PollRun.state`.
    """

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


#: fingerprints of recent policies, by their compiled checks and limits (see Policy.fingerprint)
_FINGERPRINTS: Dict[Any, str] = {}


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
        rate_limit: Union[str, RateLimitLike, None] = None,
        name: Optional[str] = None,
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
        #: whether a condition calls the caller's code: such conditions are always judged in the poll's thread
        self.has_callbacks = any(check.key == "callback" for condition in self.until + self.alarms
                                 for check in condition.checks)
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
        self.rate_limit: Optional[RateLimitLike] = rate_limit_argument(rate_limit)
        self.name = instrumentation.check_name(name)  # the label of its metrics and spans, never from the URL
        self._fingerprint: Optional[str] = None

    def check_state(self, state: PollState) -> None:
        """Refuse a saved state that this policy cannot go on with (one made under other limits).

        :raises ValueError: the state has no deadline and this policy a
            ``timeout`` (or the other way round), a deadline that is not
            this ``timeout`` after its start, or conditional-request
            validators while this policy is not conditional.
        """
        if (state.deadline_at is None) != (self.timeout is None or math.isinf(self.timeout)):
            raise ValueError("this state was saved by a poll {} a timeout, and this one has {}".format(
                "without" if state.deadline_at is None else "with",
                "timeout={:g}s".format(self.timeout) if self.timeout is not None else "none"))
        if state.deadline_at is not None and self.timeout is not None and (
            abs(state.deadline_at - state.started_at - self.timeout) > 1e-3
        ):
            raise ValueError("this state was saved by a poll with timeout={:g}s, and this one has timeout={:g}s".format(
                state.deadline_at - state.started_at, self.timeout))
        if state.validators and not self.conditional:
            raise ValueError("this state holds conditional-request validators, and this poll is not conditional")
        if state.policy is not None and state.policy != self.fingerprint:
            raise ValueError(
                "this state was saved by a poll with other conditions or limits (policy {}; this poll's is {}): "
                "start a new poll, or resume with the policy that made it".format(state.policy, self.fingerprint)
            )

    @property
    def fingerprint(self) -> str:
        """A short hash of what a saved state's meaning depends on: the conditions, the alarms and the limits.

        ``until``, ``alarms`` (a callback by its module and name),
        ``max_retries``, ``timeout`` and ``conditional``. Waits, timeouts of
        each request, hooks, the breaker and the rate limit may change
        between the processes that carry one poll (a new release of the
        worker); these may not. (A rate limit paces the requests; it does
        not change what the counts and times of a state mean.)
        Holds no secret: a condition's values are hashed, never stored.
        """
        if self._fingerprint is None:
            # conditions compiled from equal specs share their checks (see compile_conditions): a fleet of polls
            # with the same conditions and limits hashes them once
            key = (tuple(c.checks for c in self.until), tuple(c.checks for c in self.alarms), self.max_retries,
                   self.timeout, self.conditional)
            known = _FINGERPRINTS.get(key)
            if known is None:
                known = self._hash()
                if len(_FINGERPRINTS) >= 256:
                    _FINGERPRINTS.clear()
                _FINGERPRINTS[key] = known
            self._fingerprint = known
        return self._fingerprint

    def _hash(self) -> str:
        import hashlib
        import json

        described = {
            "until": [condition.spec for condition in self.until],
            "alarms": [condition.spec for condition in self.alarms],
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "conditional": self.conditional,
        }
        text = json.dumps(described, sort_keys=True, default=_described, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def new_state(self, now: Optional[float] = None) -> PollState:
        """The state of a poll of this policy that starts ``now`` (epoch seconds; default: the time now).

        Nothing is sent: its deadline runs from ``now``, and it carries this
        policy's :attr:`fingerprint`. A job engine puts it in the first
        message, so that a worker that dies during the first request leaves a
        deadline behind it.
        """
        return PollState.start(time.time() if now is None else now, self.timeout, self.fingerprint)

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
        state: Optional[PollState] = None,
        origin: Optional[str] = None,
    ) -> PollRun:
        """Begin one poll, or go on with one from its saved ``state``; it lives in the returned :class:`PollRun`.

        ``clock`` is a monotonic clock (seconds) and ``wall`` the time since
        the epoch: the poll's times are on the wall clock, advanced by
        ``clock``. ``redact`` is applied to everything the poll says
        (messages, logs, the transport's errors); a driver passes one that
        knows the poll's own credentials (:class:`httsleep.redaction.Secrets`).
        ``origin``: what the rate limit counts the requests under (default:
        ``scheme://host:port`` of the URL in ``target``, ``"METHOD URL"``).
        """
        return PollRun(self, clock, give_up, target, wall, redact, state, origin)


class PollRun:
    """One poll: its :class:`~httsleep.state.PollState`, and the objects of this process (last response, ticket).

    :ivar state: where the poll stands (a value; each attempt and decision
        replaces it).
    :ivar last_response: the last response received in this process, or ``None``.
    :ivar last_exception: the exception of the last attempt, or ``None``.
    """

    def __init__(
        self,
        policy: Policy,
        clock: Callable[[], float],
        give_up: Type[GaveUp],
        target: str,
        wall: Callable[[], float],
        redact: Callable[[str], str] = redact_text,
        state: Optional[PollState] = None,
        origin: Optional[str] = None,
    ) -> None:
        self.policy = policy
        self._origin = origin
        self.name = policy.name
        self._clock = clock
        self._wall = wall
        self._give_up = give_up
        self.redact = redact
        self._target = target  # shown redacted (see target), worked out only if something is said
        self._shown_target: Optional[str] = None
        self._testing = testing.is_testing()
        self._skipped = 0.0  # waits not slept in testing mode, added to the clock
        self._epoch = wall() - clock()  # now() = this + clock(): wall time that never steps back within the run
        if state is not None:
            policy.check_state(state)
        self.resumed = state is not None  # went on with a saved state
        self.state = state if state is not None else policy.new_state(self.now())
        self.last_response: Any = None
        self.last_exception: Optional[BaseException] = None
        self._ticket: Any = None  # the circuit breaker's permission for the attempt in flight
        self._revalidation = Revalidation()
        self._unmatched_note = ""  # why the last response did not match, when it is not "it matched no condition"

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the polled URL: what the rate limit counts this poll's requests under."""
        if self._origin is None:
            self._origin = origin_of(self._target.partition(" ")[2])
        return self._origin

    @property
    def target(self) -> str:
        """``METHOD URL`` of the poll, redacted and shortened, for messages and logs."""
        if self._shown_target is None:
            self._shown_target = excerpt(self._target, 300, self.redact)
        return self._shown_target

    # -- time ----------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the epoch, as this poll counts them (waits skipped in testing mode included)."""
        return self._epoch + self._clock() + self._skipped

    def _skip(self, wait: float) -> None:
        """Testing mode: a wait not slept, added to this poll's clock (and to the process's count, see testing)."""
        self._skipped += wait
        testing.count_skipped(wait)

    @property
    def attempts(self) -> int:
        """Requests made so far (``state.attempts``)."""
        return self.state.attempts

    @property
    def started(self) -> float:
        """When the poll started, in seconds since the epoch."""
        return self.state.started_at

    @property
    def deadline(self) -> Optional[float]:
        """When ``timeout`` runs out, in seconds since the epoch (``None`` without one)."""
        return self.state.deadline_at

    def elapsed(self) -> float:
        """Seconds since the poll started."""
        return self.now() - self.state.started_at

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (``None`` without one)."""
        deadline = self.state.deadline_at
        return None if deadline is None else deadline - self.now()

    def not_due(self) -> float:
        """Seconds until the next attempt is due (``state.next_attempt_at``), ``0.0`` when it is.

        A poll resumed before the wait its last attempt asked for has run out
        sends nothing: :meth:`httsleep.HttSleeper.step` returns this wait
        instead. In testing mode the wait is skipped (added to the clock), as
        every wait is.
        """
        due = self.state.next_attempt_at
        wait = 0.0 if due is None else due - self.now()
        if wait <= _DUE_SLACK:  # an engine's timer a few milliseconds early: another round trip is not worth it
            return 0.0
        if self._testing:
            self._skip(wait)
            return 0.0
        return wait

    def deadline_reached(self) -> bool:
        """Whether the deadline has passed (or is too close for anything more: a timer may fire a tick early)."""
        remaining = self.remaining()
        return remaining is not None and remaining <= _DEADLINE_SLACK

    # -- the rate limit ---------------------------------------------------------

    def throttle(self, asynchronous: bool = False) -> Union[Decision, Awaitable[Optional[Decision]], None]:
        """Ask the rate limit for the next attempt's slot; call it before :meth:`begin_attempt`.

        Returns ``None`` when the attempt may be sent now (no rate limit, a
        slot free now, or one reserved before a wait that has been waited).
        Otherwise a :class:`Decision` to sleep until the slot: the driver
        sleeps, then calls this again, which returns ``None`` for a reserved
        slot without asking again (a limit that cannot book ahead is asked
        again). That wait is not an attempt: hooks see it as ``"throttled"``
        (attempt ``attempts + 1``, ``wait_reason="rate_limit"``), and the
        state records it (``next_attempt_at``, ``slot_reserved``), so that a
        job engine's next :meth:`~httsleep.HttSleeper.step` waits for it
        through :meth:`not_due`. In testing mode the wait is skipped.

        The limit is asked for a slot no later than the deadline: when the
        next one comes after it, the poll gives up at once
        (``GaveUp.limit == "rate_limit"``), sending nothing.

        When ``reserve()`` is awaitable and the driver is ``asynchronous``,
        the result is an awaitable of the above; a synchronous driver gets a
        ``TypeError`` for such a limit instead.
        """
        limit = self.policy.rate_limit
        if limit is None or self.state.slot_reserved:
            return None
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:  # begin_attempt gives up: the deadline has passed
            return None
        max_wait = None if remaining is None else max(remaining - _DEADLINE_SLACK, 0.0)
        reservation = limit.reserve(self.origin, max_wait)
        if isinstance(reservation, _AwaitableType):
            if asynchronous:
                return self._reserved_later(reservation, max_wait)
            refuse_awaitable(reservation, "reserve()", "rate limit")
        return self._reserved(reservation, max_wait)  # type: ignore[arg-type]

    async def _reserved_later(self, reserving: Awaitable[Reservation], max_wait: Optional[float]) -> Optional[Decision]:
        return self._reserved(await reserving, max_wait)

    def _reserved(self, reservation: Reservation, max_wait: Optional[float]) -> Optional[Decision]:
        """The decision on the rate limit's answer (see :meth:`throttle`)."""
        wait, granted = reservation
        wait = float(wait)
        if not wait > 0:  # 0, a negative number or nan: now
            wait = 0.0
        if granted and wait == 0:
            return None
        if not granted:
            if max_wait is not None and wait > max_wait:
                self._give_up_now("rate_limit", "the next slot of the rate limit comes in {:.3g}s, after the deadline "
                                  "(timeout={:g}s, {:.3g}s left)".format(wait, self.policy.timeout or 0, max_wait))
            wait = max(wait, _MIN_THROTTLE)  # a limit that says "no" without a wait: not a busy loop
        self.state = self.state.evolve(next_attempt_at=self.now() + wait, slot_reserved=bool(granted))
        self._notify("throttled", None, None, wait, "rate_limit", number=self.attempts + 1)
        if log.isEnabledFor(logging.INFO):
            log.info("%s: waiting %.3gs for a slot of the rate limit before attempt %d", self.target, wait,
                     self.attempts + 1)
        if self._testing:
            self._skip(wait)
            return Decision(False, None, 0.0)
        return Decision(False, None, wait)

    # -- the attempt ------------------------------------------------------------

    def begin_attempt(self, asynchronous: bool = False) -> Optional[Awaitable[None]]:
        """Count an attempt; call it just before sending the request.

        With a circuit breaker, ask it first: when it is open (or half-open
        with its trial calls taken) this raises
        :class:`~httsleep.exceptions.CircuitBrokenError` and the request
        must not be sent. The outcome is reported to the breaker by
        :meth:`settle` (or :meth:`received` / :meth:`failed`).

        Returns ``None``, or, when the breaker's ``admit()`` is awaitable and
        the driver is ``asynchronous``, an awaitable that does the above once
        awaited; a synchronous driver gets a ``TypeError`` for such a breaker
        instead, before anything is sent.
        """
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:  # a poll resumed after its deadline: nothing is sent
            self._give_up_now("timeout", "{}timeout={:g}s had run out before attempt {} was sent".format(
                "resumed {:.2f}s after its deadline: ".format(-remaining) if self.resumed else "",
                self.policy.timeout or 0, self.attempts + 1))
        breaker = self.policy.circuit_breaker
        if breaker is not None:
            self.settle()  # a previous attempt that never reported: forget it (cancel its ticket)
            try:
                ticket = breaker.admit()
            except CircuitBrokenError as refused:
                raise self._refused(refused) from self.last_exception
            if isinstance(ticket, _AwaitableType):
                if asynchronous:
                    return self._admitted(ticket)
                refuse_awaitable(ticket, "admit()")
            self._ticket = ticket
        self._count()
        return None

    async def _admitted(self, admitting: Awaitable[Any]) -> None:
        try:
            self._ticket = await admitting
        except CircuitBrokenError as refused:
            raise self._refused(refused) from self.last_exception
        self._count()

    def _count(self) -> None:
        self.state = self.state.evolve(attempts=self.state.attempts + 1, slot_reserved=False)
        instrumentation.sending(self.state.attempts, self.redact)  # its resend count, for the HTTP library's span

    def _refused(self, refused: CircuitBrokenError) -> CircuitBrokenError:
        message = "{}: attempt {} not sent: {}".format(self.target or "the endpoint", self.attempts + 1, refused)
        log.info("%s", message)
        error = CircuitBrokenError(message, refused.time_remaining)
        self._notify("refused", None, error, number=self.attempts + 1)  # not counted: nothing was sent
        return error

    def abandon_attempt(self) -> Optional[Awaitable[Any]]:
        """The attempt ends without an outcome (the driver was interrupted or cancelled).

        Frees the circuit breaker's permission at once, so that a half-open
        trial slot is not kept until it expires. Drivers call it when
        something other than an ``Exception`` (``KeyboardInterrupt``,
        ``asyncio.CancelledError``) leaves the attempt; harmless otherwise.
        Returns what the ticket's ``cancel()`` returned when it is awaitable.
        """
        return self.settle()

    def settle(
        self, response: Any = None, exc: Optional[BaseException] = None, timed_out: bool = False
    ) -> Optional[Awaitable[Any]]:
        """Tell the circuit breaker the attempt's outcome (a 5xx, a timeout or a network failure count against it).

        :meth:`received` and :meth:`failed` do it themselves; a driver whose
        breaker may return awaitables calls this first and awaits what it
        returns (``None`` otherwise, or when there is nothing to tell).
        """
        ticket, self._ticket = self._ticket, None
        if ticket is None:
            return None
        if response is None and exc is None:
            result = ticket.cancel()
        elif is_service_failure(response, exc, timed_out):
            result = ticket.failure(describe_response(response) if response is not None else exc)
        else:
            result = ticket.success()
        return result if isinstance(result, _AwaitableType) else None

    def _settle_now(self, response: Any = None, exc: Optional[BaseException] = None, timed_out: bool = False) -> None:
        refuse_awaitable(self.settle(response, exc, timed_out), "ticket (its outcome)")

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
        return dict(self.state.validators)

    def judge_elsewhere(self, response: Any, asynchronous: bool = False) -> bool:
        """Whether the driver should judge ``response`` in a worker thread (:meth:`judge`) and hand the verdict in.

        Decoding a large JSON body and searching it can take seconds (a
        10 MiB array, ``$..status``): an asyncio driver must not block its
        event loop that long, and no driver may overrun the deadline waiting.
        So bodies over :data:`JUDGE_INLINE_MAX_BODY` bytes are judged in a
        thread, on the asyncio front end always, on the synchronous one when
        there is a deadline to keep; the driver waits for the verdict at most
        until the deadline and calls :meth:`judging_ran_out` if it has not
        come. Conditions with a ``callback`` are always judged in the poll's
        own thread: the caller's code runs where the caller expects it.
        """
        if self.policy.has_callbacks or (not asynchronous and self.state.deadline_at is None):
            return False
        content = getattr(response, "content", None)
        return isinstance(content, (bytes, bytearray)) and len(content) > JUDGE_INLINE_MAX_BODY

    def judge(self, response: Any) -> Judgement:
        """What the conditions say about ``response``: its :class:`Verdict`, or the exception a callback raised.

        Changes nothing in the run: a driver may call it from a worker thread
        (see :meth:`judge_elsewhere`) and pass the result to :meth:`received`.
        """
        try:
            return evaluate_response(response, self.policy.alarms, self.policy.until)
        except Exception as exc:  # a callback raised
            return exc

    def judging_ran_out(self, response: Any) -> NoReturn:
        """The deadline passed while ``response`` was being judged elsewhere: give up (the judging is abandoned)."""
        self._settle_now(response=response)
        self.last_exception = None
        self.last_response = response
        self._record(response, None)
        self._unmatched_note = "which the conditions had no time to judge"
        self._give_up_now("timeout", "timeout={:g}s ran out while the conditions were checked on a body of {} "
                          "bytes".format(self.policy.timeout or 0, len(response.content)))

    def received(self, response: Any, judged: Optional[Judgement] = None) -> Decision:
        """Judge a response: raise :class:`Alarm`, finish, or say how long to wait.

        ``judged``: the response's :meth:`judge` result, when the driver had
        it judged in a worker thread (see :meth:`judge_elsewhere`).

        In a conditional poll, a ``304 Not Modified`` answering the
        validators of :meth:`conditional_headers` means the response before
        still holds: its verdict (it matched nothing) stands, no condition
        is evaluated on the empty body, hooks are told, and the poll waits
        and tries again. :attr:`last_response` stays the response it repeats.
        """
        self._settle_now(response=response)
        self.last_exception = None
        state = self.state
        if self.policy.conditional and self._revalidation.answers(state.validators, response):
            self.last_response = self._revalidation.not_modified(response)
            self._record(response, None, next_validators(state.validators, response.headers, unchanged=True))
            return self._retry(response, None)
        self._revalidation.failed()
        self.last_response = response
        self._unmatched_note = ""
        self._record(response, None)
        verdict = self.judge(response) if judged is None else judged
        if isinstance(verdict, Exception):  # a callback raised
            return self.failed(verdict, response=response)
        if verdict.alarm is not None:
            self._notify("alarm", response, None)
            alarm = Alarm(
                response, verdict.alarm.source, verdict.alarm, body_excerpt(response, redact=self.redact), self.target
            )
            log.info("%s", alarm)
            raise alarm
        if verdict.success:
            self._notify("success", response, None)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: attempt %d matched: %s", self.target, self.attempts, describe_response(response))
            return Decision(True, response, 0.0)
        if verdict.undecided is not None and self._retry_after(response) is None:
            if not self._temporary_failure(response):
                undecided = unreadable_body_error(verdict.undecided, self.target, response, self.redact)
                return self.failed(undecided, response=response)
            self._unmatched_note = "whose body a JSON condition cannot read (a temporary failure, retry_transient=True)"
        # not matched; or a JSON condition met a page (HTML, say) that asks to come back later (a 429/503 with
        # Retry-After) or that a failing server sent (a 5xx or 429, with retry_transient)
        if self.policy.conditional:
            self._revalidation.full_response(response)
            self._record(response, None, next_validators((), response.headers, unchanged=False))
        return self._retry(response, None)

    def _record(self, response: Any, exc: Optional[BaseException], validators: Any = None) -> None:
        """The summary of the outcome (and the next validators, if given) into the state."""
        status = getattr(response, "status_code", None) if response is not None else None
        last_status = status if isinstance(status, int) and not isinstance(status, bool) else None
        last_error = None if exc is None else type(exc).__name__
        state = self.state
        if validators is None:
            if state.last_status != last_status or state.last_error != last_error:  # (a poll's usual answer: same)
                self.state = state.evolve(last_status=last_status, last_error=last_error)
            return
        kept = keep_out_secrets(validators, self.redact) if validators else ()
        self.state = state.evolve(last_status=last_status, last_error=last_error, validators=kept)

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
        self._settle_now(response=response, exc=exc, timed_out=timed_out)
        if response is None:  # the transport's error: it may quote the URL with its password
            scrub_exception(exc, self.redact)
        self._revalidation.failed()
        self.last_response = response
        self.last_exception = exc
        self._record(response, exc)
        if timed_out and self.deadline_reached():
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

    def _temporary_failure(self, response: Any) -> bool:
        """Whether ``response`` is a server's temporary failure (a 5xx or a 429) that ``retry_transient`` polls through.

        Proxies and gateways answer those with an HTML page: a JSON
        condition that cannot read it is "not yet", as a network error is.
        """
        status = response.status_code
        return self.policy.retry_transient and isinstance(status, int) and (status >= 500 or status == 429)

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
        now = self.now()
        if self.deadline is not None and now + wait > self.deadline:
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
        self.state = self.state.evolve(next_attempt_at=now + wait)
        self._notify("retry", response, exc, wait, reason)
        if log.isEnabledFor(logging.INFO):  # the excerpt is redacted: not for a record nobody reads
            log.info(
                "%s: not ready after attempt %d (%s), waiting %gs",
                self.target,
                self.attempts,
                describe_outcome(
                    self._revalidation.shown(response), exc, self.redact, self._unchanged_of(response), self.target
                ),
                wait,
            )
        if self._testing:
            self._skip(wait)
            return Decision(False, None, 0.0)
        return Decision(False, None, wait)

    def _unchanged_of(self, response: Any) -> Any:
        """The full response a 304 ``response`` repeats (``None`` for any other response)."""
        if response is not None and response is self._revalidation.unchanged:
            return self.last_response
        return None

    def _give_up_now(self, limit: str, why: str) -> NoReturn:
        elapsed = self.elapsed()
        shown = self._revalidation.shown(self.last_response)
        if self.last_exception is not None:
            last = "last error: {}".format(describe_outcome(None, self.last_exception, self.redact, target=self.target))
        elif shown is not None:
            last = "last response: {}, {}".format(
                describe_outcome(shown, None, self.redact, self._unchanged_of(shown)), self._why_unmatched(shown)
            )
        elif self.state.last_outcome:  # resumed in this process: what the saved state says
            last = "last outcome: {}".format(self.state.last_outcome)
        elif self.attempts == 0:  # the rate limit had no slot before the deadline
            last = "no request was sent"
        else:  # pragma: no cover - an attempt always precedes giving up
            last = "no attempt finished"
        message = give_up_message(
            self.target, self.attempts, elapsed, why, last, self.policy.until, self.redact
        )
        self._notify("gave_up", shown, self.last_exception)
        instrumentation.gave_up(self.name, limit, self.attempts, elapsed)
        log.info("%s", message)
        raise self._give_up(
            message,
            limit=limit,
            attempts=self.attempts,
            elapsed=elapsed,
            last_response=self.last_response,
            last_exception=self.last_exception,
        ) from self.last_exception

    def _why_unmatched(self, shown: Any) -> str:
        """Why the last response did not end the poll, for the give-up message."""
        if self._unmatched_note:
            return self._unmatched_note
        findings = describe_findings(self.policy.until, self._unchanged_of(shown) or shown)
        return "which matched no condition" + (": " + findings if findings else "")

    def _notify(
        self,
        outcome: str,
        response: Any,
        exc: Optional[BaseException],
        wait: Optional[float] = None,
        reason: Optional[str] = None,
        number: Optional[int] = None,
    ) -> None:
        number = self.attempts if number is None else number
        elapsed = self.elapsed()
        instrumentation.attempt_ended(self.name, number, outcome, elapsed, wait, reason, response, exc)
        if not self.policy.hooks:
            return
        attempt = Attempt(number, elapsed, response, exc, outcome, wait, reason, self.state)
        for hook in self.policy.hooks:
            hook(attempt)
