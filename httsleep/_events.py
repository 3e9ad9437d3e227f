"""The events of :mod:`httsleep.instrumentation`: small immutable values, one per thing a poll or breaker reports.

Kept apart so that the hooks (:mod:`httsleep._prometheus`, :mod:`httsleep._tracing`) and the module that
dispatches to them depend on these values, not on each other.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

__all__ = [
    "AttemptEnded",
    "BreakerRefused",
    "BreakerStateChanged",
    "Event",
    "Hook",
    "PollEnded",
    "PollGaveUp",
    "PollStarted",
    "Waited",
]


class PollStarted(NamedTuple):
    """A poll (:meth:`~httsleep.HttSleeper.run`) or one step of it (:meth:`~httsleep.HttSleeper.step`) starts.

    :ivar name: the poll's ``name=``.
    :ivar method: the request's method.
    :ivar url: the URL, the poll's credentials replaced by ``***``.
    :ivar server_address: the URL's host.
    :ivar server_port: the URL's port, ``None`` when the URL gives none.
    :ivar step: whether this is one :meth:`~httsleep.HttSleeper.step`, not a whole run.
    """

    name: str
    method: str
    url: str
    server_address: str
    server_port: Optional[int]
    step: bool


class AttemptEnded(NamedTuple):
    """An attempt ended: what ``on_attempt`` hooks are told (:class:`httsleep.Attempt`), without the objects.

    :ivar outcome: as :attr:`httsleep.Attempt.outcome`: ``"success"``,
        ``"alarm"``, ``"retry"``, ``"gave_up"``, ``"error"``, ``"refused"``
        (a circuit breaker refused it: nothing was sent), and ``"throttled"``
        (a rate limit held it back).
    :ivar status_code: the response's status, ``None`` without a response.
    :ivar error_type: the class name of the attempt's exception, or ``None``.
    """

    name: str
    number: int
    outcome: str
    elapsed: float
    wait: Optional[float]
    wait_reason: Optional[str]
    status_code: Optional[int]
    error_type: Optional[str]


class Waited(NamedTuple):
    """A poll decided to wait ``seconds`` before its next attempt.

    :ivar reason: ``"interval"`` (the polling interval or wait strategy),
        ``"Retry-After"`` (the server asked) or ``"rate_limit"``. In testing
        mode the wait is skipped, and reported all the same.
    """

    name: str
    seconds: float
    reason: str


class PollGaveUp(NamedTuple):
    """A poll gave up: ``limit`` (``"max_retries"`` or ``"timeout"``) ran out."""

    name: str
    limit: str
    attempts: int
    elapsed: float


class PollEnded(NamedTuple):
    """A poll (or a step) ended.

    :ivar outcome: ``"success"`` (it returned), ``"alarm"``, ``"gave_up"``,
        ``"refused"`` (a circuit breaker stopped it), ``"error"`` (another
        exception) or ``"cancelled"`` (a ``CancelledError``,
        ``KeyboardInterrupt``...). A step that returns without a match is a
        ``"success"`` of the step.
    :ivar error_type: the class name of the exception that ended it, or ``None``.
    """

    name: str
    outcome: str
    attempts: int
    elapsed: float
    step: bool
    error_type: Optional[str]


class BreakerRefused(NamedTuple):
    """A circuit breaker refused a call (``state``: ``"open"``, or ``"half-open"`` with its trials taken)."""

    breaker: str
    state: str
    time_remaining: float


class BreakerStateChanged(NamedTuple):
    """A circuit breaker went from ``old`` to ``new`` (``"closed"``, ``"open"``, ``"half-open"``)."""

    breaker: str
    old: str
    new: str


Event = Union[PollStarted, AttemptEnded, Waited, PollGaveUp, PollEnded, BreakerRefused, BreakerStateChanged]
#: An instrumentation hook: called with every event; what it returns from a :class:`PollStarted`, if a context
#: manager, is held for the poll.
Hook = Callable[[Event], Any]


