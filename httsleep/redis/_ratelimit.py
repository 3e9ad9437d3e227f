"""Rate limits kept in Redis: every process booking slots for one origin shares one schedule.

:class:`RedisRateLimit` (blocking) and :class:`AsyncRedisRateLimit`
(:mod:`redis.asyncio`) are :class:`~httsleep.ratelimit.RateLimitLike`: the
GCRA of :class:`~httsleep.ratelimit.RateLimit` (one time per origin, the
time its next request is due), kept in one Redis string per origin (or per
``key``) and moved by one Lua script per reservation, on Redis' clock. A
slot is booked first come, first served, possibly in the future (the
caller waits for it without asking again); never one that comes after
``max_wait``. While Redis does not answer, a local
:class:`~httsleep.ratelimit.RateLimit` books the slots of this process
(the fleet may then send up to once the rate per process), and Redis is
probed again as for the breakers (:mod:`httsleep.redis._backend`).
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Union

import redis
import redis.asyncio

from .._validate import ArgumentTypeError, positive_int, shorten
from ..ratelimit import Rate, RateLimit, Reservation, parse_rate
from ._backend import Backend
from ._client import BACKEND_ERRORS, DEFAULT_SOCKET_TIMEOUT, async_client, sync_client
from ._client import socket_timeout as check_socket_timeout

__all__ = ["AsyncRedisRateLimit", "RedisRateLimit"]

DEFAULT_KEY_PREFIX = "httsleep:rate:"
DEFAULT_PROBE_INTERVAL = 5.0

# ARGV: offset, interval, tolerance, max_wait (microseconds; max_wait < 0: no limit).
# Returns {microseconds until the slot, 1 if booked}. The string holds when the next request is due; it
# expires once that time has passed (an idle origin costs nothing).
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) + tonumber(ARGV[1])
local interval, tolerance, max_wait = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local due = redis.call('GET', KEYS[1])
if due then due = tonumber(due) else due = now end
if due < now then due = now end
local wait = due - tolerance - now
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait then return {math.floor(wait), 0} end
local following = due + interval
redis.call('SET', KEYS[1], string.format('%.0f', following), 'PX', math.floor((following - now) / 1000) + 1)
return {math.floor(wait), 1}
"""


class _Schedule:
    """The arguments of one limit, its keys and its fallback; no I/O."""

    def __init__(self, rate: Any, key: Any, burst: Any, key_prefix: Any, probe_interval: Any, on_backend: Any,
                 time_offset: Any) -> None:
        self.rate: Rate = parse_rate(rate)
        self.burst = positive_int(burst, "burst")
        if key is not None and (not isinstance(key, str) or not key):
            raise ArgumentTypeError("key must be a non-empty string or None, not {}".format(shorten(key)))
        if key is not None and ("{" in key or "}" in key):
            raise ValueError("key must not contain braces (it becomes the Redis Cluster hash tag), not {}".format(
                shorten(key)))
        if not isinstance(key_prefix, str):
            raise ArgumentTypeError("key_prefix must be a string, not {}".format(shorten(key_prefix)))
        if isinstance(time_offset, bool) or not isinstance(time_offset, (int, float)):
            raise ArgumentTypeError("time_offset must be a number of seconds, not {}".format(shorten(time_offset)))
        self.key = key
        self.key_prefix = key_prefix
        self.time_offset = float(time_offset)
        self.backend = Backend("rate limit {}".format(self.rate), probe_interval, on_backend)
        self.local = RateLimit(self.rate, self.burst)

    def redis_key(self, origin: str) -> str:
        """The key of the schedule: ``key_prefix + "{" + (key or origin) + "}"`` (one Redis Cluster slot)."""
        return "{}{{{}}}".format(self.key_prefix, self.key if self.key is not None else origin.replace("{", "%7B")
                                 .replace("}", "%7D"))

    def args(self, max_wait: Optional[float]) -> List[Any]:
        interval = self.rate.interval * 1e6
        return [int(round(self.time_offset * 1e6)), repr(interval), repr((self.burst - 1) * interval),
                -1 if max_wait is None else repr(max(max_wait, 0.0) * 1e6)]

    def booked(self, reply: Sequence[Any]) -> Reservation:
        self.backend.answered()
        wait_us, granted = reply
        return Reservation(int(wait_us) / 1e6, bool(int(granted)))

    def failed(self, exc: BaseException) -> None:
        self.backend.failed(exc, _nothing, "a RateLimit of this process")

    def locally(self, origin: str, max_wait: Optional[float]) -> Reservation:
        return self.local.reserve(self.key if self.key is not None else origin, max_wait)


def _nothing() -> None:
    """Falling back needs no preparation: the local RateLimit keeps its own schedule all along."""


_ARGUMENTS_DOC = """
    :param rate: a :class:`~httsleep.ratelimit.Rate` or its text (``"10/second"``).
    :param redis_url_or_client: a Redis URL (the client built from it waits
        ``socket_timeout`` at most and does not retry), or a client of your own.
    :param key: one schedule under this key for every origin (e.g. an API
        spread over several hosts); default: one schedule per origin.
    :param burst: slots that may be taken at once after a quiet spell (>= 1).
    :param key_prefix: the start of the Redis keys; the key is
        ``key_prefix + "{" + (key or origin) + "}"``.
    :param probe_interval: seconds between attempts to reach Redis again
        while a local :class:`~httsleep.ratelimit.RateLimit` stands in.
    :param on_backend: called with ``"degraded"`` and ``"recovered"``.
    :param socket_timeout: the connect and read timeout of a client built from a URL.
    :param time_offset: seconds added to Redis' clock (tests only).
"""


class _Limit:
    """What both rate limits show."""

    _schedule: _Schedule
    rate: Rate
    burst: int

    @property
    def degraded(self) -> bool:
        """Whether Redis did not answer and a local RateLimit books the slots."""
        return self._schedule.backend.degraded

    @property
    def time_offset(self) -> float:
        """Seconds added to Redis' clock (tests only); may be changed at any time."""
        return self._schedule.time_offset

    @time_offset.setter
    def time_offset(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArgumentTypeError("time_offset must be a number of seconds, not {}".format(shorten(value)))
        self._schedule.time_offset = float(value)

    def __repr__(self) -> str:
        return "<{} {} burst={}>".format(type(self).__name__, self.rate, self.burst)


class RedisRateLimit(_Limit):
    """At most ``rate`` requests per origin for every process sharing the Redis; a :class:`RateLimitLike`.

    ::

        jobs_api = RedisRateLimit("10/second", "redis://redis:6379/0")
        httsleep(url, status_code=200, rate_limit=jobs_api)

    Each :meth:`reserve` is one Lua call, on Redis' clock. It blocks on the
    network: on the asyncio front end use :class:`AsyncRedisRateLimit`.
    """ + _ARGUMENTS_DOC

    #: What the asyncio front end should be given instead.
    asyncio_counterpart = "httsleep.redis.AsyncRedisRateLimit"

    def __init__(
        self,
        rate: Union[str, Rate],
        redis_url_or_client: Union[str, redis.Redis],
        *,
        key: Optional[str] = None,
        burst: int = 1,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        on_backend: Optional[Callable[[str], Any]] = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        time_offset: float = 0.0,
    ) -> None:
        self._schedule = _Schedule(rate, key, burst, key_prefix, probe_interval, on_backend, time_offset)
        self.rate = self._schedule.rate
        self.burst = self._schedule.burst
        self.client = sync_client(redis_url_or_client, check_socket_timeout(socket_timeout), type(self).__name__)
        self._own_client = isinstance(redis_url_or_client, str)
        self._script = self.client.register_script(_RESERVE)

    def reserve(self, origin: str, max_wait: Optional[float] = None) -> Reservation:
        """Book the next free slot for a request to ``origin`` if it comes within ``max_wait`` seconds.

        Never raises for Redis trouble: a local RateLimit answers instead.
        """
        schedule = self._schedule
        if schedule.backend.use_redis():
            try:
                reply = self._script(keys=[schedule.redis_key(origin)], args=schedule.args(max_wait))
            except BACKEND_ERRORS as exc:
                schedule.failed(exc)
            else:
                return schedule.booked(reply)
        return schedule.locally(origin, max_wait)

    def close(self) -> None:
        """Close the connections of the client built from a URL (a client you gave is yours to close)."""
        if self._own_client:
            self.client.close()


class AsyncRedisRateLimit(_Limit):
    """:class:`RedisRateLimit` for asyncio: :meth:`reserve` is a coroutine; same keys, same schedule.""" + (
        _ARGUMENTS_DOC)

    def __init__(
        self,
        rate: Union[str, Rate],
        redis_url_or_client: Union[str, redis.asyncio.Redis],
        *,
        key: Optional[str] = None,
        burst: int = 1,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        on_backend: Optional[Callable[[str], Any]] = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        time_offset: float = 0.0,
    ) -> None:
        self._schedule = _Schedule(rate, key, burst, key_prefix, probe_interval, on_backend, time_offset)
        self.rate = self._schedule.rate
        self.burst = self._schedule.burst
        self.client = async_client(redis_url_or_client, check_socket_timeout(socket_timeout), type(self).__name__)
        self._own_client = isinstance(redis_url_or_client, str)
        self._script = self.client.register_script(_RESERVE)

    async def reserve(self, origin: str, max_wait: Optional[float] = None) -> Reservation:
        """Book the next free slot for a request to ``origin`` if it comes within ``max_wait`` seconds."""
        schedule = self._schedule
        if schedule.backend.use_redis():
            try:
                reply = await self._script(keys=[schedule.redis_key(origin)], args=schedule.args(max_wait))
            except BACKEND_ERRORS as exc:
                schedule.failed(exc)
            else:
                return schedule.booked(reply)
        return schedule.locally(origin, max_wait)

    async def aclose(self) -> None:
        """Close the connections of the client built from a URL (a client you gave is yours to close)."""
        if self._own_client:
            await self.client.aclose()
