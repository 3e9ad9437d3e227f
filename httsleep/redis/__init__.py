"""Circuit breakers and rate limits a whole fleet shares, kept in Redis (``pip install 'httsleep[redis]'``).

>>> from httsleep.redis import RedisCircuitBreaker
>>> # jobs_api = RedisCircuitBreaker("redis://redis:6379/0", name="jobs-api", threshold=5, reset_timeout=60)

:class:`RedisCircuitBreaker` (blocking, for :class:`~httsleep.HttSleeper`)
and :class:`AsyncRedisCircuitBreaker` (for :class:`~httsleep.AsyncHttSleeper`)
make the decisions of :class:`~httsleep.CircuitBreaker` with one circuit per
``name`` shared through Redis; :class:`RedisRateLimit` and
:class:`AsyncRedisRateLimit` book the slots of a
:class:`~httsleep.ratelimit.RateLimit` in one schedule per origin that every
process shares. See the user guide page :doc:`/resilience`.

The names are imported on first use; importing this package without
redis-py (5 or newer) installed raises an :class:`ImportError` saying what
to install.
"""

from __future__ import annotations

import importlib as _importlib

TYPE_CHECKING = False

try:
    import redis as _redis
except ImportError as _missing:
    raise ImportError("httsleep.redis needs redis-py 5 or newer: pip install 'httsleep[redis]'",
                      name="redis") from _missing
if int(_redis.__version__.split(".")[0]) < 5:
    raise ImportError("httsleep.redis needs redis-py 5 or newer, not {}: pip install 'httsleep[redis]'".format(
        _redis.__version__), name="redis")

__all__ = [
    "AsyncRedisCircuitBreaker",
    "AsyncRedisRateLimit",
    "AsyncRedisTicket",
    "RedisCircuitBreaker",
    "RedisRateLimit",
    "RedisTicket",
    "RedisTimeoutWarning",
]

_HOMES = {
    "AsyncRedisCircuitBreaker": "_breaker",
    "AsyncRedisRateLimit": "_ratelimit",
    "AsyncRedisTicket": "_breaker",
    "RedisCircuitBreaker": "_breaker",
    "RedisRateLimit": "_ratelimit",
    "RedisTicket": "_breaker",
    "RedisTimeoutWarning": "_client",
}

if TYPE_CHECKING:
    from ._breaker import AsyncRedisCircuitBreaker, AsyncRedisTicket, RedisCircuitBreaker, RedisTicket
    from ._client import RedisTimeoutWarning
    from ._ratelimit import AsyncRedisRateLimit, RedisRateLimit


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError("module 'httsleep.redis' has no attribute {!r}".format(name))
    value = getattr(_importlib.import_module("." + home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
