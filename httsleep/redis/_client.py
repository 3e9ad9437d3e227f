"""The Redis clients of :mod:`httsleep.redis`: built from a URL with short timeouts, or checked when given.

redis-py's defaults suit a cache, not a circuit breaker asked before every
request: with them a refused port costs seconds of retries, and a Redis
that hangs (stopped, swapping, behind a black hole) hangs each call for as
long as its socket timeout allows, which may be for ever. A breaker must
answer quickly or fall back, so a client built here from a URL gets
:data:`DEFAULT_SOCKET_TIMEOUT` to connect and to read, and no retries. A
client given by the caller is used as it is; one without a socket timeout
is warned about (:class:`RedisTimeoutWarning`).

Nothing here talks to Redis: clients connect on first use.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._validate import seconds, shorten

__all__ = [
    "DEFAULT_SOCKET_TIMEOUT",
    "BACKEND_ERRORS",
    "RedisTimeoutWarning",
    "async_client",
    "socket_timeout",
    "sync_client",
]

#: Seconds a client built from a URL waits to connect, and for each reply.
DEFAULT_SOCKET_TIMEOUT = 0.25

#: What a call to Redis may raise when Redis is down, slow or confused: the breaker falls back on these.
BACKEND_ERRORS = (redis.RedisError, OSError)


class RedisTimeoutWarning(UserWarning):
    """A Redis client given to :mod:`httsleep.redis` has no socket timeout: a hung Redis would hang the polls."""


def sync_client(url_or_client: Any, timeout: float, owner: str) -> redis.Redis:
    """A blocking client: built from a ``redis://``, ``rediss://`` or ``unix://`` URL, or the one given (checked).

    :param timeout: the socket timeout (connect and read) of a client built from a URL.
    :param owner: the class asking, for messages.
    :raises TypeError: not a URL nor a blocking redis-py client (an asyncio one names the class to use).
    """
    if isinstance(url_or_client, str):
        return redis.Redis.from_url(url_or_client, **_quick(timeout, Retry))
    if isinstance(url_or_client, redis.asyncio.Redis) or _is_async_cluster(url_or_client):
        raise TypeError(
            "{}: {} is an asyncio client; use httsleep.redis.Async{} with it, or pass a redis.Redis".format(
                owner, shorten(url_or_client), owner
            )
        )
    if not callable(getattr(url_or_client, "register_script", None)):
        raise TypeError(
            "{}: expected a Redis URL or a redis.Redis client, not {}".format(owner, shorten(url_or_client))
        )
    _check_timeout(url_or_client, owner)
    return url_or_client


def async_client(url_or_client: Any, timeout: float, owner: str) -> redis.asyncio.Redis:
    """An asyncio client (:mod:`redis.asyncio`): built from a URL, or the one given (checked).

    :raises TypeError: not a URL nor an asyncio redis-py client (a blocking one names the class to use).
    """
    if isinstance(url_or_client, str):
        return redis.asyncio.Redis.from_url(url_or_client, **_quick(timeout, AsyncRetry))
    if isinstance(url_or_client, redis.Redis) or _is_sync_cluster(url_or_client):
        raise TypeError(
            "{}: {} is a blocking client, which would stall the event loop; pass a redis.asyncio.Redis, "
            "or use httsleep.redis.{} with it".format(owner, shorten(url_or_client), owner[len("Async"):])
        )
    if not callable(getattr(url_or_client, "register_script", None)):
        raise TypeError(
            "{}: expected a Redis URL or a redis.asyncio.Redis client, not {}".format(owner, shorten(url_or_client))
        )
    _check_timeout(url_or_client, owner)
    return url_or_client


def socket_timeout(value: Any) -> float:
    """``timeout``: the socket timeout of a client built from a URL, in seconds (``> 0``)."""
    return seconds(value, "timeout", positive=True)


def _quick(timeout: float, retry_class: Any) -> dict:
    """The keyword arguments of a client that fails fast: short timeouts, no retries."""
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry_class(NoBackoff(), 0),
        "retry_on_timeout": False,
        "retry_on_error": [],
    }


def _connection_kwargs(client: Any) -> Optional[dict]:
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if kwargs is None:  # a cluster client keeps them on its nodes manager
        kwargs = getattr(getattr(client, "nodes_manager", None), "connection_kwargs", None)
    return kwargs if isinstance(kwargs, dict) else None


def _check_timeout(client: Any, owner: str) -> None:
    kwargs = _connection_kwargs(client)
    if kwargs is not None and kwargs.get("socket_timeout") is None:
        warnings.warn(
            "{}: the Redis client has no socket timeout: while Redis hangs, every poll asking the breaker "
            "hangs too. Give it one (e.g. socket_timeout={:g}, socket_connect_timeout={:g}), or pass a URL".format(
                owner, DEFAULT_SOCKET_TIMEOUT, DEFAULT_SOCKET_TIMEOUT
            ),
            RedisTimeoutWarning,
            stacklevel=4,
        )


def _is_async_cluster(client: Any) -> bool:
    cluster = getattr(redis.asyncio, "RedisCluster", None)
    return cluster is not None and isinstance(client, cluster)


def _is_sync_cluster(client: Any) -> bool:
    cluster = getattr(redis, "RedisCluster", None)
    return cluster is not None and isinstance(client, cluster)

