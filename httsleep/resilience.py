"""Polling, retrying and a circuit breaker for any callable.

These are the helpers of the ``poll`` 1.0 package (seed 003), which no
longer imports on Python 3.10+, with the same names and call shapes:

- :func:`poll` / :func:`poll_`: call a function until its result satisfies
  a predicate, or raise :class:`PollTimeout` (a :class:`TimeoutError`).
- :func:`retry` / :func:`retry_`: call a function again while it raises
  one of the given exceptions, at most ``times`` calls.
- :func:`circuitbreaker` / :class:`CircuitBreaker`: stop calling a failing
  service for a while, then let one trial call through.

They work on any synchronous callable, not only HTTP requests. Intervals
accept the wait strategies of :mod:`httsleep.waits` (a number still means a
constant wait). Decorated functions keep their name, docstring and, for
type checkers, their signature.

Time is looked up when it is needed: the helpers call this module's
``sleep`` and ``monotonic``, so tests may replace
``httsleep.resilience.sleep`` / ``httsleep.resilience.monotonic``; a
:class:`CircuitBreaker` also takes a ``clock=``. In testing mode
(:mod:`httsleep.testing`) :func:`poll` and :func:`retry` skip their waits
and add the skipped time to the clock they measure the timeout with, as the
HTTP poller does.

A :class:`CircuitBreaker` can also be shared by many pollers:
``HttSleeper(url, ..., circuit_breaker=breaker)``. See the user guide page
:doc:`/resilience` for the rules.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import sys
import threading
import weakref
from collections import deque
from time import monotonic, sleep  # looked up at call time: patch httsleep.resilience.sleep / .monotonic
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from . import instrumentation, testing
from ._logs import log
from ._validate import (
    ArgumentTypeError,
    callable_or_none,
    check_callable,
    error_handler,
    exception_types,
    positive_int,
    required_exception_types,
    seconds,
    shorten,
    sync_function,
)
from .exceptions import CircuitBrokenError, GaveUp
from .messages import excerpt
from .waits import WaitLike, WaitStrategy, as_wait, never_ending, wait_seconds

if sys.version_info >= (3, 10):
    from typing import ParamSpec

    P = ParamSpec("P")
elif TYPE_CHECKING:  # type checkers always know typing_extensions; it is not needed at run time
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
else:  # pragma: no cover - Python 3.9 at run time: only ever used inside (unevaluated) annotations
    P = TypeVar("P")

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "CircuitBreaker",
    "PollTimeout",
    "Ticket",
    "circuitbreaker",
    "exec_",
    "monotonic",
    "poll",
    "poll_",
    "retry",
    "retry_",
    "sleep",
]


R = TypeVar("R")

#: What ``ex`` accepts: an exception class or an iterable of them.
ExceptionSpec = Union[Type[BaseException], Iterable[Type[BaseException]]]

#: The states of a :class:`CircuitBreaker`.
CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"

_RESULT_REPR_LIMIT = 200


class PollTimeout(GaveUp, TimeoutError):
    """:func:`poll` ran out of time before the result satisfied ``until``.

    It is a :class:`TimeoutError` (what ``poll`` 1.0 raised) and a
    :class:`~httsleep.exceptions.GaveUp`, so ``except GaveUp`` handles every
    way httsleep gives up. Besides the message it carries ``limit``
    (``"timeout"``), ``attempts``, ``elapsed``, and ``last_result``, the
    last value the function returned (also in ``last_response``).
    """

    @property
    def last_result(self) -> Any:
        """The last value the polled function returned."""
        return self.last_response


# -- validation --------------------------------------------------------------------


def _timeout(value: Any) -> Optional[float]:
    return None if value is None else seconds(value, "timeout", infinite=True, or_none=True)


def _interval(value: Any) -> WaitStrategy:
    """``interval``: seconds or a wait strategy. A negative number means no wait, as poll 1.0 accepted it."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        value = 0
    return as_wait(value, "interval")


def _times(value: Any) -> float:
    """``times``: a whole number (0 or less: one call, as with poll 1.0), or ``math.inf`` for no limit."""
    if isinstance(value, float) and math.isinf(value) and value > 0:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError("times must be a whole number or math.inf, not {}".format(shorten(value)))
    return max(value, 1)


def _describe(func: Any) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


def _short_repr(value: Any) -> str:
    return excerpt(repr(value), _RESULT_REPR_LIMIT)


# -- poll ----------------------------------------------------------------------------


def poll_(
    f: Callable[P, R],
    until: Callable[[R], object],
    timeout: Optional[float] = 15,
    interval: WaitLike = 1,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """Call ``f(*args, **kwargs)`` until ``until(result)`` is true; return that result.

    :param f: the function to call.
    :param until: a predicate on the result of ``f``; polling stops when it
        returns a true value.
    :param timeout: seconds the whole poll may take (``None``: no limit).
        Polling never sleeps past it: when the next wait would end after
        the deadline, :class:`PollTimeout` is raised at once. A call to
        ``f`` is never interrupted.
    :param interval: seconds between the end of one call and the start of
        the next, or a wait strategy from :mod:`httsleep.waits` (called with
        the number of calls made so far).
    :param args: positional arguments for ``f``.
    :param kwargs: keyword arguments for ``f``.
    :raises PollTimeout: (a :class:`TimeoutError`) the timeout passed; the
        message gives the number of calls and the time taken.
    :raises Exception: whatever ``f`` or ``until`` raised (not caught).
    """
    sync_function(f, "poll_")
    check_callable(until, "until")
    limit = _timeout(timeout)
    wait = _interval(interval)
    return _exec(f, (), until, math.inf, limit, wait, None, args, kwargs)


def poll(
    until: Callable[[Any], object], timeout: Optional[float] = 15, interval: WaitLike = 1
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: every call of the function polls it until ``until(result)`` is true.

    ::

        @poll(lambda response: response.status_code != 404, timeout=15, interval=1)
        def wait_until_exists(uri):
            return requests.get(uri)

    The arguments are those of :func:`poll_`, checked when the decorator is
    built. The decorated function keeps its name, docstring and signature.
    """
    check_callable(until, "until")
    limit = _timeout(timeout)
    wait = _interval(interval)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        sync_function(func, "poll")

        @functools.wraps(func)
        def polled(*args: P.args, **kwargs: P.kwargs) -> R:
            return _exec(func, (), until, math.inf, limit, wait, None, args, kwargs)

        return polled

    return decorate


# -- retry ---------------------------------------------------------------------------


def retry_(
    f: Callable[P, R],
    ex: ExceptionSpec,
    times: int = 3,
    interval: WaitLike = 1,
    on_error: Optional[Callable[..., Any]] = None,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """Call ``f(*args, **kwargs)``, again while it raises ``ex``; return its first result.

    :param f: the function to call.
    :param ex: the exception class, or an iterable of classes, that mean
        "try again". Any other exception propagates at once.
    :param times: the most calls made. When the last one raises ``ex``,
        that exception propagates unchanged. ``times=1`` (and, as with poll
        1.0, 0 or less) means one call and no retry.
    :param interval: seconds between a failed call and the next, or a wait
        strategy from :mod:`httsleep.waits` (called with the number of
        calls made so far).
    :param on_error: called for every exception ``f`` raises, matching
        ``ex`` or not, before the wait or before the exception propagates
        (as poll 1.0 did: it sees the error that ends the retries too). It
        may take no parameter, one (the exception) or two (the exception
        and the number of calls made before this one, counting from 0). If
        it raises, its exception propagates instead.
    :param args: positional arguments for ``f``.
    :param kwargs: keyword arguments for ``f``.
    :raises Exception: the last exception of ``f``, or any exception not
        matching ``ex``.
    """
    sync_function(f, "retry_")
    types = required_exception_types(ex, "ex")
    count = _times(times)
    wait = _interval(interval)
    return _exec(f, types, _always, count, None, wait, error_handler(on_error), args, kwargs)


def retry(
    ex: ExceptionSpec,
    times: int = 3,
    interval: WaitLike = 1,
    on_error: Optional[Callable[..., Any]] = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: every call of the function is retried while it raises ``ex``.

    ::

        @retry(requests.HTTPError, times=15, interval=1)
        def wait_until_succeeds(uri):
            response = requests.get(uri)
            response.raise_for_status()
            return response

    The arguments are those of :func:`retry_`, checked when the decorator is
    built. The decorated function keeps its name, docstring and signature.
    """
    types = required_exception_types(ex, "ex")
    count = _times(times)
    wait = _interval(interval)
    handler = error_handler(on_error)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        sync_function(func, "retry")

        @functools.wraps(func)
        def retried(*args: P.args, **kwargs: P.kwargs) -> R:
            return _exec(func, types, _always, count, None, wait, handler, args, kwargs)

        return retried

    return decorate


def exec_(
    f: Callable[..., R],
    ex: Any,
    until: Callable[[Any], object],
    times: float = 3,
    timeout: Optional[float] = 15,
    interval: WaitLike = 1,
    on_error: Optional[Callable[..., Any]] = None,
    *args: Any,
    **kwargs: Any,
) -> R:
    """The general loop behind :func:`poll_` and :func:`retry_` (poll 1.0's ``exec_``).

    Calls ``f(*args, **kwargs)`` until ``until(result)`` is true and returns
    that result. An exception matching ``ex`` counts as a failed call: after
    ``times`` of them the last one propagates. Any other exception
    propagates at once. ``on_error`` is called for every exception, as for
    :func:`retry_`. The whole loop may take ``timeout`` seconds (``None`` or
    ``math.inf``: no limit), then :class:`PollTimeout` is raised; as for
    :func:`poll_`, it never sleeps past the timeout.

    ``poll_(f, until, timeout, interval)`` is ``exec_(f, (), until,
    math.inf, timeout, interval)``, and ``retry_(f, ex, times, interval,
    on_error)`` is ``exec_(f, ex, lambda result: True, times, None,
    interval, on_error)``.

    :param ex: an exception class or an iterable of them (may be empty).
    :param times: the most failed calls (``math.inf`` for no limit).
    """
    sync_function(f, "exec_")
    check_callable(until, "until")
    types = exception_types(ex, "ex")
    return _exec(f, types, until, _times(times), _timeout(timeout), _interval(interval), error_handler(on_error),
                 args, kwargs)


def _always(result: Any) -> bool:
    return True


def _exec(
    func: Callable[..., R],
    types: Tuple[Type[BaseException], ...],
    until: Callable[[Any], object],
    times: float,
    timeout: Optional[float],
    wait: WaitStrategy,
    on_error: Optional[Callable[[BaseException, int], Any]],
    args: Tuple[Any, ...],
    kwargs: Dict[str, Any],
) -> R:
    """The one loop of poll, retry and exec_: call, judge, wait; never sleep past the deadline."""
    testing_mode = testing.is_testing()
    skipped = 0.0  # waits not slept in testing mode, added to the clock
    started = monotonic()
    deadline = None if timeout is None or math.isinf(timeout) else started + timeout
    calls = failures = 0
    while True:
        calls += 1
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:  # as poll 1.0: on_error sees every error, the last one included
            if on_error is not None:
                on_error(exc, failures)
            failures += 1
            if not isinstance(exc, types):
                raise
            if failures >= times:
                log.info("%s: call %d raised %s; no more tries", _describe(func), calls, type(exc).__name__)
                raise
            log.debug("%s: call %d raised %s; trying again", _describe(func), calls, type(exc).__name__)
            last = "last error: {}".format(_short_repr(exc))
            outcome: Any = None
        else:
            if until(result):
                return result
            log.debug("%s: result %d did not satisfy until", _describe(func), calls)
            last = "last result: {}".format(_short_repr(result))
            outcome = result
        pause = wait_seconds(wait, calls)
        now = monotonic() + skipped
        if deadline is not None and now + pause > deadline:
            elapsed = now - started
            message = "polled {} {} time{} in {:.2f}s without success: timeout={:g}s {}; {}".format(
                _describe(func),
                calls,
                "" if calls == 1 else "s",
                elapsed,
                deadline - started,
                "passed" if now >= deadline else "would pass during the next wait of {:g}s".format(pause),
                last,
            )
            log.info("%s", message)
            raise PollTimeout(message, limit="timeout", attempts=calls, elapsed=elapsed, last_response=outcome)
        if math.isinf(pause):
            raise never_ending(wait, calls)
        if testing_mode:
            skipped += pause
        else:
            sleep(pause)


# -- circuit breaker -------------------------------------------------------------------


class Ticket:
    """Permission for one call, given by :meth:`CircuitBreaker.admit`.

    Report the outcome exactly once: :meth:`success`, :meth:`failure` or
    :meth:`cancel` (the call neither succeeded nor failed as far as the
    service is concerned). Later reports are ignored, and so is the
    outcome of a call admitted before the breaker last changed state.
    """

    __slots__ = ("breaker", "trial", "_generation", "_id", "_settled")

    def __init__(self, breaker: CircuitBreaker, generation: int, trial: bool, ident: int) -> None:
        self.breaker = breaker
        #: Whether this is a half-open trial call.
        self.trial = trial
        self._generation = generation
        self._id = ident
        self._settled = False

    def success(self) -> None:
        """The call succeeded; a successful trial closes the circuit."""
        self.breaker._settle(self, "success")

    def failure(self, exc: Union[BaseException, str, None] = None) -> int:
        """The call failed; return the failures counted in the window before this one.

        ``exc``, the exception or a description of the failure (e.g.
        ``"HTTP 503 Service Unavailable"``), is only used in messages.
        """
        return self.breaker._settle(self, "failure", exc)

    def cancel(self) -> None:
        """Forget the call (it proved nothing about the service); frees a trial slot."""
        self.breaker._settle(self, "cancel")

    def __repr__(self) -> str:
        return "<Ticket {}{}>".format("trial " if self.trial else "", "settled" if self._settled else "open")


class CircuitBreaker:
    """Stops calling a failing service for a while; thread-safe, shareable.

    ``threshold`` failures within ``reset_timeout`` seconds break the
    circuit (a sliding window, the "leaky bucket" of ``poll`` 1.0: a failure
    more than ``reset_timeout`` old no longer counts, and successes do not
    empty the bucket). While it is broken (*open*), calls are refused with
    :class:`~httsleep.exceptions.CircuitBrokenError` without being made;
    its ``time_remaining`` says how long until a trial. ``reset_timeout``
    seconds after breaking it is *half-open*: up to ``half_open_trials``
    calls are let through at the same time, others are refused (with
    ``time_remaining == 0``). A successful trial closes the circuit and
    empties the bucket; a failed one breaks it again for ``reset_timeout``.

    Use it as a decorator (``@breaker``: all functions decorated with one
    breaker count against the same service), with :meth:`call`, or pass it
    to :class:`~httsleep.HttSleeper` as ``circuit_breaker=`` to protect a
    service polled by many pollers.

    The lock is held only to update the counts, never while the protected
    call runs, so callers do not wait for each other.

    :param ex: the exception class, or an iterable of them, that count as
        failures of calls made through the breaker (:meth:`call`, the
        decorator). Other exceptions propagate without counting either way
        (a trial ending in one frees its slot). Not used by
        :class:`~httsleep.HttSleeper`, which classifies its own outcomes.
    :param threshold: failures within ``reset_timeout`` that break the
        circuit (``>= 1``).
    :param reset_timeout: seconds the circuit stays broken, and the length
        of the failure window.
    :param on_error: called for every exception a call made by :meth:`call`
        or the decorator raises (counted as a failure or not, as poll 1.0
        did), with 0, 1 (the exception) or 2 (the exception, the failures
        counted in the window before this one) parameters.
    :param half_open_trials: how many trial calls may run at once when
        half-open (default 1). A trial that reports no outcome within
        ``reset_timeout`` frees its slot.
    :param name: a name for messages, logs and metrics (the ``name`` label
        of the ``httsleep_breaker_*`` series; an unnamed breaker is
        counted as ``"circuit_breaker"``). Every state change (closed to
        open, open to half-open when the breaker first notices it, at the
        next call, half-open to closed or open, and :meth:`reset`) and
        every refusal is reported to :mod:`httsleep.instrumentation`.
    :param clock: a function returning seconds (default: this module's
        ``monotonic``, looked up at every call).
    """

    def __init__(
        self,
        ex: ExceptionSpec = Exception,
        threshold: int = 5,
        reset_timeout: float = 60,
        on_error: Optional[Callable[..., Any]] = None,
        *,
        half_open_trials: int = 1,
        name: Optional[str] = None,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        self.exceptions = required_exception_types(ex, "ex")
        self.threshold = positive_int(threshold, "threshold")
        self.reset_timeout = seconds(reset_timeout, "reset_timeout", positive=True)
        self._on_error = error_handler(on_error)
        self.half_open_trials = positive_int(half_open_trials, "half_open_trials")
        if clock is not None:
            callable_or_none(clock, "clock")
        self._clock = clock
        self.name = name if name is not None else "circuit breaker {:#x}".format(id(self))
        self._label = name if name is not None else "circuit_breaker"  # for metrics: never an address
        self._reported = CLOSED  # the last state reported to instrumentation
        self._changes: Deque[Tuple[str, str]] = deque()  # changes made under the lock, reported after it
        self._lock = threading.Lock()
        _BREAKERS.add(self)  # its lock is made anew in a forked child (see _after_fork)
        self._failures: Deque[float] = deque()  # times of the failures in the window (closed state)
        self._opened_at: Optional[float] = None  # None: closed
        self._generation = 0  # bumped on every state change; stale outcomes are ignored
        self._trials: Dict[int, float] = {}  # trial id -> time admitted (half-open state)
        self._ids = itertools.count(1)
        self._last_failure = ""

    # -- state ----------------------------------------------------------------------

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else monotonic()

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        with self._lock:
            return self._state(self._now())

    def _state(self, now: float) -> str:
        if self._opened_at is None:
            return CLOSED
        return OPEN if now < self._opened_at + self.reset_timeout else HALF_OPEN

    @property
    def time_remaining(self) -> float:
        """Seconds until the open circuit lets a trial through (0 unless open)."""
        with self._lock:
            return self._time_remaining(self._now())

    def _time_remaining(self, now: float) -> float:
        if self._opened_at is None:
            return 0.0
        return max(self._opened_at + self.reset_timeout - now, 0.0)

    @property
    def failures(self) -> int:
        """Failures counted in the current window (0 once broken)."""
        with self._lock:
            self._forget_old_failures(self._now())
            return len(self._failures)

    def reset(self) -> None:
        """Close the circuit and empty the bucket, whatever the state."""
        with self._lock:
            self._close()
        self._report()

    def restore(self, state: str, *, time_remaining: float = 0.0, failures: int = 0, last_failure: str = "") -> None:
        """Put the breaker in ``state``, as another breaker reported it (e.g. a shared one that became unreachable).

        :param state: ``"closed"``, ``"open"`` or ``"half-open"``.
        :param time_remaining: for ``"open"``: seconds until a trial (at
            most ``reset_timeout``; 0 makes it half-open).
        :param failures: for ``"closed"``: failures to count in the window,
            as if they had just happened (at most ``threshold - 1``).
        :param last_failure: the description of the last failure, for messages.

        Outcomes of tickets given before are ignored afterwards.
        """
        if state not in (CLOSED, OPEN, HALF_OPEN):
            raise ValueError("state must be 'closed', 'open' or 'half-open', not {}".format(shorten(state)))
        remaining = min(seconds(time_remaining, "time_remaining"), self.reset_timeout)
        count = min(max(int(failures), 0), self.threshold - 1)
        with self._lock:
            now = self._now()
            self._close()
            if state == CLOSED:
                self._failures.extend([now] * count)
            else:
                self._opened_at = now - self.reset_timeout + (remaining if state == OPEN else 0.0)
            self._last_failure = excerpt(last_failure, _RESULT_REPR_LIMIT)

    # -- admission and outcomes -----------------------------------------------------------

    def admit(self) -> Ticket:
        """Ask to make one call; report its outcome on the returned :class:`Ticket`.

        :raises CircuitBrokenError: the circuit is open, or half-open with
            every trial slot taken; the call must not be made.
        """
        try:
            return self._admit()
        except CircuitBrokenError as refused:
            self._report()
            instrumentation.breaker_refused(self._label, OPEN if refused.time_remaining > 0 else HALF_OPEN,
                                            refused.time_remaining)
            raise
        finally:
            if self._changes:
                self._report()

    def _admit(self) -> Ticket:
        with self._lock:
            now = self._now()
            state = self._state(now)
            if state == CLOSED:
                return Ticket(self, self._generation, False, 0)
            if state == HALF_OPEN:
                self._changed(HALF_OPEN)  # noticed now: the clock moved past reset_timeout
                stale = [ident for ident, admitted in self._trials.items() if now - admitted >= self.reset_timeout]
                for ident in stale:
                    del self._trials[ident]
                if len(self._trials) < self.half_open_trials:
                    ident = next(self._ids)
                    self._trials[ident] = now
                    log.info("%s: half-open, letting trial call %d through", self.name, ident)
                    return Ticket(self, self._generation, True, ident)
                message = "{} is half-open and its trial call{} in progress".format(
                    self.name, " is" if self.half_open_trials == 1 else "s are"
                )
                remaining = 0.0
            else:
                remaining = self._time_remaining(now)
                message = "{} is open: {:.3g}s until a trial call".format(self.name, remaining)
            if self._last_failure:
                message += " (last failure: {})".format(self._last_failure)
        raise CircuitBrokenError(message, remaining)

    def _settle(self, ticket: Ticket, outcome: str, exc: Union[BaseException, str, None] = None) -> int:
        try:
            return self._settle_locked(ticket, outcome, exc)
        finally:
            if self._changes:
                self._report()

    def _settle_locked(self, ticket: Ticket, outcome: str, exc: Union[BaseException, str, None] = None) -> int:
        with self._lock:
            if ticket._settled:
                return 0
            ticket._settled = True
            if ticket.trial:
                was_pending = self._trials.pop(ticket._id, None) is not None
            if ticket._generation != self._generation or outcome == "cancel":
                return 0
            now = self._now()
            if ticket.trial:
                if not was_pending:  # the slot expired; another trial decides
                    return 0
                if outcome == "success":
                    self._close()
                    log.info("%s: trial call succeeded, circuit closed", self.name)
                else:
                    self._open(now, exc, "trial call failed")
                return 0
            if outcome == "success":
                return 0  # the bucket leaks with time only
            self._forget_old_failures(now)
            before = len(self._failures)
            self._failures.append(now)
            self._last_failure = _failure_text(exc)
            if len(self._failures) >= self.threshold:
                self._open(now, exc, "{} failures within {:g}s".format(len(self._failures), self.reset_timeout))
            return before

    def _forget_old_failures(self, now: float) -> None:
        failures = self._failures
        while failures and failures[0] < now - self.reset_timeout:  # exactly reset_timeout old still counts
            failures.popleft()

    def _open(self, now: float, exc: Union[BaseException, str, None], why: str) -> None:
        self._opened_at = now
        self._failures.clear()
        self._trials.clear()
        self._generation += 1
        self._last_failure = _failure_text(exc)
        self._changed(OPEN)
        log.warning("%s: circuit broken for %gs: %s", self.name, self.reset_timeout, why)

    def _close(self) -> None:
        self._opened_at = None
        self._failures.clear()
        self._trials.clear()
        self._generation += 1
        self._last_failure = ""
        self._changed(CLOSED)

    def _changed(self, new: str) -> None:
        """Under the lock: note a state change for :meth:`_report` (hooks are never called holding the lock)."""
        if new != self._reported:
            self._changes.append((self._reported, new))
            self._reported = new

    def _report(self) -> None:
        """Outside the lock: tell instrumentation the state changes noted, in order."""
        while self._changes:
            try:
                old, new = self._changes.popleft()
            except IndexError:  # another thread reported it
                return
            instrumentation.breaker_state_changed(self._label, old, new)

    # -- calling --------------------------------------------------------------------------

    def call(self, f: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``f(*args, **kwargs)`` through the breaker and return its result.

        :raises CircuitBrokenError: the circuit is broken; ``f`` was not called.
        :raises Exception: whatever ``f`` raised, unchanged (counted as a
            failure if it matches ``ex``).
        """
        ticket = self.admit()
        try:
            result = f(*args, **kwargs)
        except self.exceptions as exc:
            before = ticket.failure(exc)
            if self._on_error is not None:
                self._on_error(exc, before)
            raise
        except BaseException as exc:  # not a failure of the service; on_error sees it all the same (poll 1.0)
            ticket.cancel()
            if self._on_error is not None:
                self._on_error(exc, self.failures)
            raise
        ticket.success()
        return result

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func`` so that every call goes through this breaker."""
        sync_function(func, "circuitbreaker")

        @functools.wraps(func)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.call(func, *args, **kwargs)

        guarded.circuit_breaker = self  # type: ignore[attr-defined]
        return guarded

    def __repr__(self) -> str:
        return "<CircuitBreaker {!r} {} threshold={} reset_timeout={:g}>".format(
            self.name, self.state, self.threshold, self.reset_timeout
        )


#: Every CircuitBreaker of this process, to give each a new lock in a forked child.
_BREAKERS: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()


def _after_fork() -> None:  # pragma: no cover - runs in a forked child
    """A child forked while another thread held a breaker's lock would wait for it for ever: a lock of its own."""
    for breaker in list(_BREAKERS):
        breaker._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _failure_text(exc: Union[BaseException, str, None]) -> str:
    if isinstance(exc, str):
        return excerpt(exc, _RESULT_REPR_LIMIT)
    return "" if exc is None else _short_repr(exc)


def circuitbreaker(
    ex: ExceptionSpec,
    threshold: int,
    reset_timeout: float,
    on_error: Optional[Callable[..., Any]] = None,
) -> CircuitBreaker:
    """Decorator: stop calling the function for ``reset_timeout`` seconds after ``threshold`` failures.

    ::

        @circuitbreaker(requests.HTTPError, threshold=3, reset_timeout=60)
        def attempt(uri):
            response = requests.get(uri)
            response.raise_for_status()
            return response

    ``threshold`` exceptions matching ``ex`` within ``reset_timeout`` seconds
    break the circuit; then calls raise
    :class:`~httsleep.exceptions.CircuitBrokenError` (with
    ``time_remaining``) without calling the function, until
    ``reset_timeout`` has passed and one trial call is let through: success
    closes the circuit, failure breaks it again. The function's own
    exceptions always propagate unchanged.

    Returns a new :class:`CircuitBreaker` (see there for the parameters);
    every function it decorates shares it. The decorated function keeps its
    name, docstring and signature, and has a ``circuit_breaker`` attribute.
    """
    return CircuitBreaker(ex, threshold, reset_timeout, on_error)
