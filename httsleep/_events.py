"""The events of :mod:`httsleep.instrumentation`: small immutable values, one per thing a poll or breaker reports.

Kept apart so that the hooks (:mod:`httsleep._prometheus`, :mod:`httsleep._tracing`) and the module that
dispatches to them depend on these values, not on each other.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union
from urllib.parse import urlsplit

from ._values import Value

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


_set = object.__setattr__


class PollStarted(Value):
    """A poll (:meth:`~httsleep.HttSleeper.run`) or one step of it (:meth:`~httsleep.HttSleeper.step`) starts.

    :ivar name: the poll's ``name=``.
    :ivar step: whether this is one :meth:`~httsleep.HttSleeper.step`, not a whole run.

    What it requests is worked out when first asked for (hiding the poll's
    credentials costs a good part of a poll's set-up: a hook that does not
    look pays nothing): :attr:`method`, :attr:`url` (the poll's credentials
    replaced by ``***``), :attr:`server_address` (the host) and
    :attr:`server_port` (``None`` when the URL gives none).
    """

    __slots__ = ("name", "step", "_target", "_parts")

    name: str
    step: bool
    _target: Callable[[], str]
    _parts: Optional[Tuple[str, str, str, Optional[int]]]

    def __init__(self, name: str, step: bool, target: Callable[[], str]) -> None:
        _set(self, "name", name)
        _set(self, "step", step)
        _set(self, "_target", target)  # gives "METHOD URL", redacted
        _set(self, "_parts", None)

    def _fields(self) -> Tuple[Any, ...]:
        return (self.name, self.step) + self._request()

    def _request(self) -> Tuple[str, str, str, Optional[int]]:
        parts = self._parts
        if parts is None:
            method, _, url = self._target().partition(" ")
            try:
                split = urlsplit(url)
                host, port = split.hostname or "", split.port
            except ValueError:
                host, port = "", None
            parts = (method, url, host, port)
            _set(self, "_parts", parts)
        return parts

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_started, (self.name, self.step) + self._request())

    def __repr__(self) -> str:
        return "PollStarted(name={!r}, step={!r}, method={!r}, url={!r}, server_address={!r}, server_port={!r})".format(
            self.name, self.step, *self._request())

    @property
    def method(self) -> str:
        """The request's method."""
        return self._request()[0]

    @property
    def url(self) -> str:
        """The URL, the poll's credentials replaced by ``***``."""
        return self._request()[1]

    @property
    def server_address(self) -> str:
        """The URL's host."""
        return self._request()[2]

    @property
    def server_port(self) -> Optional[int]:
        """The URL's port, ``None`` when the URL gives none."""
        return self._request()[3]


def _started(name: str, step: bool, method: str, url: str, host: str, port: Optional[int]) -> PollStarted:
    """A :class:`PollStarted` unpickled: its request already worked out."""
    started = PollStarted(name, step, str)
    _set(started, "_parts", (method, url, host, port))
    return started


class AttemptEnded(Value):
    """An attempt ended: what ``on_attempt`` hooks are told (:class:`httsleep.Attempt`), without the objects.

    :ivar outcome: as :attr:`httsleep.Attempt.outcome`: ``"success"``,
        ``"alarm"``, ``"retry"``, ``"gave_up"``, ``"error"``, ``"refused"``
        (a circuit breaker refused it: nothing was sent), and ``"throttled"``
        (a rate limit held it back).
    :ivar status_code: the response's status, ``None`` without a response.
    :ivar error_type: the class name of the attempt's exception, or ``None``.
    """

    __slots__ = ("name", "number", "outcome", "elapsed", "wait", "wait_reason", "status_code", "error_type")

    name: str
    number: int
    outcome: str
    elapsed: float
    wait: Optional[float]
    wait_reason: Optional[str]
    status_code: Optional[int]
    error_type: Optional[str]

    def __init__(
        self,
        name: str,
        number: int,
        outcome: str,
        elapsed: float,
        wait: Optional[float],
        wait_reason: Optional[str],
        status_code: Optional[int],
        error_type: Optional[str],
    ) -> None:
        _set(self, "name", name)
        _set(self, "number", number)
        _set(self, "outcome", outcome)
        _set(self, "elapsed", elapsed)
        _set(self, "wait", wait)
        _set(self, "wait_reason", wait_reason)
        _set(self, "status_code", status_code)
        _set(self, "error_type", error_type)


class Waited(Value):
    """A poll decided to wait ``seconds`` before its next attempt.

    :ivar reason: ``"interval"`` (the polling interval or wait strategy),
        ``"Retry-After"`` (the server asked) or ``"rate_limit"``. In testing
        mode the wait is skipped, and reported all the same.
    """

    __slots__ = ("name", "seconds", "reason")

    name: str
    seconds: float
    reason: str

    def __init__(self, name: str, seconds: float, reason: str) -> None:
        _set(self, "name", name)
        _set(self, "seconds", seconds)
        _set(self, "reason", reason)


class PollGaveUp(Value):
    """A poll gave up: ``limit`` (``"max_retries"`` or ``"timeout"``) ran out."""

    __slots__ = ("name", "limit", "attempts", "elapsed")

    name: str
    limit: str
    attempts: int
    elapsed: float

    def __init__(self, name: str, limit: str, attempts: int, elapsed: float) -> None:
        _set(self, "name", name)
        _set(self, "limit", limit)
        _set(self, "attempts", attempts)
        _set(self, "elapsed", elapsed)


class PollEnded(Value):
    """A poll (or a step) ended.

    :ivar outcome: ``"success"`` (it returned), ``"alarm"``, ``"gave_up"``,
        ``"refused"`` (a circuit breaker stopped it), ``"error"`` (another
        exception) or ``"cancelled"`` (a ``CancelledError``,
        ``KeyboardInterrupt``...). A step that returns without a match is a
        ``"success"`` of the step.
    :ivar error_type: the class name of the exception that ended it, or ``None``.
    """

    __slots__ = ("name", "outcome", "attempts", "elapsed", "step", "error_type")

    name: str
    outcome: str
    attempts: int
    elapsed: float
    step: bool
    error_type: Optional[str]

    def __init__(
        self,
        name: str,
        outcome: str,
        attempts: int,
        elapsed: float,
        step: bool,
        error_type: Optional[str],
    ) -> None:
        _set(self, "name", name)
        _set(self, "outcome", outcome)
        _set(self, "attempts", attempts)
        _set(self, "elapsed", elapsed)
        _set(self, "step", step)
        _set(self, "error_type", error_type)


class BreakerRefused(Value):
    """A circuit breaker refused a call (``state``: ``"open"``, or ``"half-open"`` with its trials taken)."""

    __slots__ = ("breaker", "state", "time_remaining")

    breaker: str
    state: str
    time_remaining: float

    def __init__(self, breaker: str, state: str, time_remaining: float) -> None:
        _set(self, "breaker", breaker)
        _set(self, "state", state)
        _set(self, "time_remaining", time_remaining)


class BreakerStateChanged(Value):
    """A circuit breaker went from ``old`` to ``new`` (``"closed"``, ``"open"``, ``"half-open"``)."""

    __slots__ = ("breaker", "old", "new")

    breaker: str
    old: str
    new: str

    def __init__(self, breaker: str, old: str, new: str) -> None:
        _set(self, "breaker", breaker)
        _set(self, "old", old)
        _set(self, "new", new)


Event = Union[PollStarted, AttemptEnded, Waited, PollGaveUp, PollEnded, BreakerRefused, BreakerStateChanged]
#: An instrumentation hook: called with every event; what it returns from a :class:`PollStarted`, if a context
#: manager, is held for the poll.
Hook = Callable[[Event], Any]


