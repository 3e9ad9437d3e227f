"""Rate limits: at most so many requests to one origin per period, shared by many pollers.

A rate is written as text (see :func:`parse_rate` for the grammar) or as a
:class:`Rate`. A rate limit is any object with a ``reserve(origin,
max_wait)`` method (:class:`RateLimitLike`): it books the next free slot
for a request to ``origin`` and says how long until it comes
(:class:`Reservation`). A poll asks it before every attempt and waits for
its slot; the wait is not an attempt.

- :class:`RateLimit`: in memory, for the pollers of one process (threads,
  asyncio tasks), one schedule per origin (GCRA: "generic cell rate
  algorithm", a leaky bucket kept as one time per origin).
- :func:`shared_rate_limit`: the process-wide :class:`RateLimit` of a rate,
  which ``rate_limit="10/second"`` on any poller uses: every poller of the
  process given the same rate shares one schedule per origin.
- :class:`LimitsRateLimit`: a strategy of the ``limits`` library (its
  storages reach Redis, Memcached, MongoDB...), for limits shared by
  processes (``pip install httsleep[limits]``).

Nothing here does network I/O but what a ``limits`` storage does; this
module imports no other httsleep module but ``exceptions`` (and, for its
checks, ``_validate``).
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import weakref
from typing import Any, Awaitable, Callable, Dict, NamedTuple, Optional, Protocol, Tuple, Union

from ._validate import MAX_SECONDS, ArgumentTypeError, callable_or_none, positive_int, shorten

__all__ = [
    "LimitsRateLimit",
    "Rate",
    "RateLimit",
    "RateLimitLike",
    "Reservation",
    "origin_of",
    "parse_rate",
    "rate_limit_argument",
    "shared_rate_limit",
]

#: Seconds in each unit a rate may be written with.
_UNITS: Dict[str, float] = {}
for _names, _seconds in (
    (("ms", "msec", "millisecond", "milliseconds"), 0.001),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
):
    for _name in _names:
        _UNITS[_name] = _seconds
del _names, _seconds, _name

_RATE_TEXT = re.compile(
    r"\s*(?P<limit>\d+)\s*(?:/|\s[Pp][Ee][Rr]\s)\s*(?P<amount>\d+(?:\.\d*)?|\.\d+)?\s*(?P<unit>[A-Za-z]+)\s*"
)

_GRAMMAR = (
    "COUNT/UNIT, COUNT/AMOUNT UNIT or COUNT per [AMOUNT] UNIT, e.g. '10/second', '100/minute', "
    "'5/10 seconds', '10 per second' (units: ms, s, min, h, day and their long forms)"
)


class Rate:
    """At most ``limit`` requests per ``period`` seconds. Immutable, hashable.

    :ivar limit: requests per period (>= 1).
    :ivar period: the period in seconds (> 0).
    """

    __slots__ = ("limit", "period")

    limit: int
    period: float

    def __init__(self, limit: int, period: float) -> None:
        limit = positive_int(limit, "the limit of a rate")
        if isinstance(period, bool) or not isinstance(period, (int, float)):
            raise ArgumentTypeError("the period of a rate must be a number of seconds, not {}".format(shorten(period)))
        period = float(period)
        if not (0 < period <= MAX_SECONDS):  # refuses nan and inf too
            raise ValueError("the period of a rate must be > 0 and finite seconds, not {}".format(shorten(period)))
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "period", period)

    @property
    def interval(self) -> float:
        """Seconds between two requests when they are spread evenly: ``period / limit``."""
        return self.period / self.limit

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Rate is immutable: cannot set {!r}".format(name))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Rate)
        return (self.limit, self.period) == (other.limit, other.period)

    def __hash__(self) -> int:
        return hash((Rate, self.limit, self.period))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Rate, (self.limit, self.period))

    def __repr__(self) -> str:
        return "Rate(limit={}, period={:g})".format(self.limit, self.period)

    def __str__(self) -> str:
        """The rate as :func:`parse_rate` reads it, in the largest unit that divides the period.

        >>> print(Rate(10, 1), Rate(100, 60), Rate(5, 10), Rate(3, 7200), Rate(4, 0.5))
        10/second 100/minute 5/10 seconds 3/2 hours 4/0.5 seconds
        """
        for unit, seconds in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0)):
            count = self.period / seconds
            if count >= 1 and count == int(count):
                if count == 1:
                    return "{}/{}".format(self.limit, unit)
                return "{}/{:g} {}s".format(self.limit, count, unit)
        return "{}/{:g} seconds".format(self.limit, self.period)


def parse_rate(text: Union[str, Rate]) -> Rate:
    """A :class:`Rate` from its text (a :class:`Rate` is returned as it is).

    The grammar (case and spaces do not matter)::

        rate   := COUNT sep [AMOUNT] UNIT
        sep    := "/" | "per"
        COUNT  := a whole number >= 1     (requests)
        AMOUNT := a number > 0            (how many UNITs in the period; default 1)
        UNIT   := ms | msec | millisecond(s) | s | sec(s) | second(s) | m | min(s) | minute(s)
                | h | hr(s) | hour(s) | d | day(s)

    >>> parse_rate("10/second")
    Rate(limit=10, period=1)
    >>> parse_rate("5/10 seconds").interval
    2.0
    >>> parse_rate("100 per minute")
    Rate(limit=100, period=60)

    :raises ArgumentTypeError: ``text`` is neither a string nor a :class:`Rate`.
    :raises ValueError: the text does not follow the grammar, or its count
        or period is zero.
    """
    if isinstance(text, Rate):
        return text
    if not isinstance(text, str):
        raise ArgumentTypeError("a rate must be a string such as '10/second' or a Rate, not {}".format(shorten(text)))
    match = _RATE_TEXT.fullmatch(text)
    unit = match and _UNITS.get(match.group("unit").lower())
    if match is None or unit is None:
        raise ValueError("not a rate: {}; write {}".format(shorten(text), _GRAMMAR))
    limit = int(match.group("limit"))
    amount = float(match.group("amount")) if match.group("amount") else 1.0
    if limit < 1 or amount <= 0:
        raise ValueError("not a rate: {}: the count and the period must be more than 0".format(shorten(text)))
    return Rate(limit, amount * unit)


class Reservation(NamedTuple):
    """What :meth:`RateLimitLike.reserve` answers.

    :ivar wait: seconds from now until the reserved slot (``0.0``: now).
    :ivar granted: ``True`` when the slot is reserved for the caller, who
        sends after ``wait`` without asking again. ``False``: nothing was
        reserved, because the slot would come after ``max_wait`` (``wait``
        then says when it would come), or because the limit cannot book
        ahead (a fixed-window counter that only says yes or no): the
        caller may ask again after ``wait`` if that is within its
        ``max_wait``, and a poll whose deadline comes first gives up.
    """

    wait: float
    granted: bool


class RateLimitLike(Protocol):
    """What a poll needs of ``rate_limit=``: a ``reserve()`` method.

    ``reserve(origin, max_wait)`` books the next free slot for one request
    to ``origin`` (``"scheme://host:port"`` of the polled URL; a limit with
    a fixed key may ignore it) if it comes within ``max_wait`` seconds
    (``None``: however late), and returns a :class:`Reservation`, or an
    awaitable of one (only on the asyncio front end). It must never raise
    for trouble of its backend (a storage that cannot be reached): it then
    grants at once, or waits a bounded time, as it sees fit.
    """

    def reserve(
        self, origin: str, max_wait: Optional[float]
    ) -> Union[Reservation, Awaitable[Reservation]]: ...


def origin_of(url: str) -> str:
    """``"scheme://host:port"`` of ``url``, the key a rate limit counts requests under.

    The port is always given (80 and 443 when the URL has none), the
    scheme and host in lower case; credentials, path and query are left out.

    >>> origin_of("https://user:pw@Example.org/jobs/1?x=2")
    'https://example.org:443'
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme, 0)
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address
        host = "[{}]".format(host)
    return "{}://{}:{}".format(scheme, host, port)


class RateLimit:
    """A rate limit kept in memory: at most ``rate`` requests per origin, for the pollers of this process.

    Thread-safe; share one object among pollers (threads, or tasks of any
    event loop: :meth:`reserve` never blocks but on a lock held for
    microseconds). Each origin has its own schedule: the time its next
    request is due (GCRA), so that requests are spread
    ``rate.interval`` apart. ``burst`` requests may be made at once after a
    quiet spell; in any window of ``rate.period`` seconds at most
    ``rate.limit + burst`` requests start (with ``burst=1``, ``"10/second"``
    lets 11 through in a closed window of one second: one at each end).

    :param rate: a :class:`Rate` or its text (``"10/second"``, see
        :func:`parse_rate`).
    :param burst: slots that may be taken at once (>= 1).
    :param clock: a function returning monotonic seconds (default:
        :func:`time.monotonic`, looked up at every call).
    """

    def __init__(
        self, rate: Union[str, Rate], burst: int = 1, *, clock: Optional[Callable[[], float]] = None
    ) -> None:
        self.rate = parse_rate(rate)
        self.burst = positive_int(burst, "burst")
        callable_or_none(clock, "clock")
        self._clock = clock
        self._lock = threading.Lock()
        _LIMITS.add(self)  # its lock is made anew in a forked child
        self._due: Dict[str, float] = {}  # origin -> theoretical arrival time of its next request

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else time.monotonic()

    def reserve(self, origin: str, max_wait: Optional[float] = None) -> Reservation:
        """Book the next free slot for a request to ``origin`` if it comes within ``max_wait`` seconds.

        Returns the :class:`Reservation`: ``wait`` seconds until the slot,
        ``granted=False`` (nothing booked) when that is more than ``max_wait``.
        """
        interval = self.rate.interval
        tolerance = (self.burst - 1) * interval
        with self._lock:
            now = self._now()
            due = self._due.get(origin, now)
            if due < now:
                due = now
            wait = max(due - tolerance - now, 0.0)
            if max_wait is not None and wait > max_wait:
                return Reservation(wait, False)
            self._due[origin] = due + interval
            if len(self._due) > _FORGET_ABOVE:
                self._forget_idle(now)
        return Reservation(wait, True)

    def _forget_idle(self, now: float) -> None:
        """Drop the origins whose schedule has run out (they are as good as never seen)."""
        for origin in [origin for origin, due in self._due.items() if due <= now]:
            del self._due[origin]

    def reset(self) -> None:
        """Forget every origin's schedule."""
        with self._lock:
            self._due.clear()

    def __repr__(self) -> str:
        return "<RateLimit {} burst={}>".format(self.rate, self.burst)


#: A RateLimit tidies its schedules when it holds more origins than this.
_FORGET_ABOVE = 1024

#: Every RateLimit of this process, to give each a new lock in a forked child.
_LIMITS: weakref.WeakSet[RateLimit] = weakref.WeakSet()

#: The process-wide rate limits behind ``rate_limit="..."``, by rate.
_SHARED: Dict[Rate, RateLimit] = {}
_SHARED_LOCK = threading.Lock()


def _after_fork() -> None:  # pragma: no cover - runs in a forked child
    """A child forked while another thread held a lock would wait for it for ever: new locks."""
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for limit in list(_LIMITS):
        limit._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def shared_rate_limit(rate: Union[str, Rate]) -> RateLimit:
    """The process-wide :class:`RateLimit` of ``rate`` (``burst=1``), made on first use.

    Every poller of the process given ``rate_limit=`` the same rate (in any
    spelling: ``"10/s"`` and ``"10 per second"`` are one rate) shares it,
    so together they send at most that rate to each origin. Pollers in
    other processes are not counted: use :class:`LimitsRateLimit` (or
    another shared :class:`RateLimitLike`) for that.
    """
    parsed = parse_rate(rate)
    with _SHARED_LOCK:
        limit = _SHARED.get(parsed)
        if limit is None:
            limit = _SHARED[parsed] = RateLimit(parsed)
        return limit


def rate_limit_argument(value: Any, name: str = "rate_limit") -> Optional[RateLimitLike]:
    """Check ``rate_limit=``: ``None``, a rate's text (see :func:`shared_rate_limit`) or a :class:`RateLimitLike`.

    :raises ArgumentTypeError: ``value`` is none of those (a :class:`Rate`
        is refused too: say ``RateLimit(rate)`` to get a limit of one's own,
        or pass its text to share the process-wide one).
    :raises ValueError: the text is not a rate.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shared_rate_limit(value)
        except ValueError as error:
            raise ValueError("{}: {}".format(name, error)) from None
    if isinstance(value, type) or not callable(getattr(value, "reserve", None)):
        raise ArgumentTypeError(
            "{} must be a rate such as '10/second', a httsleep.ratelimit.RateLimit or None, not {}".format(
                name, shorten(value)
            )
        )
    return value


class LimitsRateLimit:
    """A strategy of the ``limits`` library as a :class:`RateLimitLike` (``pip install httsleep[limits]``).

    ``limits`` keeps its counters in a storage (memory, Redis, Memcached,
    MongoDB...), so pollers in many processes can share one limit. Its
    strategies only say yes or no; the wait for the next slot comes from
    the strategy's window statistics (when the window resets): a poll
    refused a slot waits that long and asks again, without counting an
    attempt.

    :param limiter: a ``limits.strategies`` rate limiter (e.g.
        ``MovingWindowRateLimiter(storage)``), or a ``limits`` storage (a
        ``MovingWindowRateLimiter`` is made on it).
    :param rate: a :class:`Rate`, its text, or a ``limits.RateLimitItem``.
    :param key: counts every origin under this one key instead of one key
        per origin (e.g. one limit for a whole API spread over hosts).

    Trouble with the storage (a Redis that cannot be reached) grants the
    slot at once: a rate limit must never fail the poll it protects.
    """

    def __init__(self, limiter: Any, rate: Any, *, key: Optional[str] = None) -> None:
        import limits  # the extra: httsleep[limits]
        import limits.strategies

        if isinstance(limiter, limits.strategies.RateLimiter):
            self.limiter = limiter
        elif hasattr(limiter, "incr") and hasattr(limiter, "get"):  # a storage
            self.limiter = limits.strategies.MovingWindowRateLimiter(limiter)
        else:
            raise ArgumentTypeError(
                "limiter must be a limits strategy or storage, not {}".format(shorten(limiter))
            )
        if isinstance(rate, limits.RateLimitItem):
            self.item = rate
        else:
            parsed = parse_rate(rate)
            self.item = _limits_item(parsed)
        self.key = key

    def reserve(self, origin: str, max_wait: Optional[float] = None) -> Reservation:
        """Take a slot now if the window has one; else say how long until it resets (nothing taken)."""
        key = self.key if self.key is not None else origin
        try:
            if self.limiter.hit(self.item, "httsleep", key):
                return Reservation(0.0, True)
            reset_at, _remaining = self.limiter.get_window_stats(self.item, "httsleep", key)
        except Exception:  # the storage's trouble: let the request through (see the class docstring)
            return Reservation(0.0, True)
        wait = max(float(reset_at) - time.time(), 0.0)
        # not granted: nothing is reserved, whether or not the wait fits in max_wait; the poll asks again after it
        return Reservation(wait if wait > 0 else min(self.item.get_expiry(), 0.01), False)

    def __repr__(self) -> str:
        return "<LimitsRateLimit {} on {}>".format(self.item, type(self.limiter).__name__)


def _limits_item(rate: Rate) -> Any:
    """The ``limits.RateLimitItem`` of ``rate`` (``limits`` counts whole seconds at least)."""
    import limits

    period = rate.period
    if period == int(period):
        return limits.RateLimitItemPerSecond(rate.limit, int(period))
    # limits has no sub-second windows: scale to a whole number of seconds
    scale = math.ceil(1 / period) if period < 1 else 1
    return limits.RateLimitItemPerSecond(rate.limit * scale, max(int(round(period * scale)), 1))
