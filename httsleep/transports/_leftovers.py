"""Bytes that answer no request: kept from answering the next one (the asyncio transports).

HTTP/1.1 tells which request a response answers by its order on the
connection, nothing else. A server, or something between it and the poll,
that sends a second response after the first one's body leaves bytes on
the keep-alive connection that answer no request; a library that reuses
the connection as it is takes them as the answer to the next request sent
on it: the next attempt of the same poll, or an attempt of another poll
sharing the client. A poll must never match them, so a connection holding
such bytes is closed, never reused:

- **httpx** (httpcore and h11): the bytes that came in the same read as
  the end of a body wait in h11's receive buffer, and h11 parses them as
  the next response. :func:`discard_if_leftovers` looks there when a body
  has been read, before the response is closed; if anything is left, the
  connection is marked failed, and httpcore closes it instead of pooling
  it. Bytes that arrive later, while the connection is idle, are httpcore's
  own business: it closes an idle connection whose socket is readable
  before handing it to a request.
- **aiohttp**: its protocol reads the socket while the connection is idle
  in the pool and queues any response it parses there, and the connector
  hands the connection to the next request as it is (aiohttp issue 13656).
  :func:`guard_pool` wraps the connector's choice of a pooled connection:
  one with anything queued, or otherwise not reusable by aiohttp's own
  test (``should_close``), is closed and the next one is taken.
  (Bytes that come with the end of a body are aiohttp's own business: it
  closes such a connection when the response is released.)

Neither library offers a public way to do this. What each reaches into is
in one function here, with a safe fallback when the library has changed:
on httpx, the connection is closed after every response; the aiohttp
sessions httsleep opens reuse no connection (a new connection per attempt,
never a wrong answer). ``tests/test_connection_reuse.py`` fails when a
probe finds nothing to reach.

What no client can do: bytes that arrive after the next request has been
written are indistinguishable from its answer.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any, Optional

__all__ = ["discard_if_leftovers", "guard_pool", "h11_state"]


# the attributes from an httpx response's stream down to httpcore's HTTP/1.1 connection, which holds h11's state:
# httpx's BoundAsyncStream._stream -> AsyncResponseStream._httpcore_stream -> httpcore's PoolByteStream._stream
# -> HTTP11ConnectionByteStream._connection -> AsyncHTTP11Connection._h11_state
_INNER_STREAMS = ("_stream", "_httpcore_stream")
_MAX_DEPTH = 8  # streams wrapped in streams (a user's transport may add its own)


def h11_state(response: Any) -> Optional[Any]:
    """The :class:`h11.Connection` under an httpx ``response`` sent on httpcore's HTTP/1.1, or ``None``.

    Private attributes of httpx and httpcore, walked here and nowhere else.
    """
    import h11

    stream = getattr(response, "stream", None)
    for _ in range(_MAX_DEPTH):
        if stream is None:
            return None
        state = getattr(getattr(stream, "_connection", None), "_h11_state", None)
        if isinstance(state, h11.Connection):
            return state
        stream = next((inner for inner in (getattr(stream, name, None) for name in _INNER_STREAMS) if inner), None)
    return None


async def discard_if_leftovers(response: Any) -> bool:
    """Make sure the connection of an httpx ``response`` is not reused if it holds bytes past the response.

    Call it when the body has been read (or given up on), before the
    response is closed. Returns whether the connection will be closed for
    that reason. A response that did not come over an HTTP/1 socket (HTTP/2
    frames name their stream; a mock transport has no connection) is left
    alone; one whose h11 state cannot be reached has its connection closed.
    """
    state = h11_state(response)
    if state is not None:
        import h11

        at_end = state.our_state is h11.DONE and state.their_state is h11.DONE
        if not at_end or not state.trailing_data[0]:
            return False  # nothing left; or not at the end of the exchange, when httpcore closes the connection itself
        state.send_failed()  # h11's state becomes ERROR: httpcore closes the connection when the response is
        return True
    if not str(getattr(response, "http_version", "")).startswith("HTTP/1"):
        return False
    stream = getattr(response, "extensions", {}).get("network_stream")
    if stream is None:
        return False
    await stream.aclose()  # the fallback: httpcore drops a pooled connection whose socket is closed
    return True


def guard_pool(connector: Any) -> bool:
    """Make ``connector`` (an aiohttp connector) never hand out a pooled connection with bytes queued on it.

    Idempotent; returns whether the guard is in place (``False``: the
    connector is not one this knows; see :func:`~httsleep.transports.aiohttp_transport.new_session`).
    It replaces the connector's private ``_get`` (the next reusable pooled
    connection or ``None``: ``async _get(key, traces)`` returning a
    ``Connection`` since aiohttp 3.11, ``_get(key)`` returning the protocol
    in 3.10) on that one connector: a connection whose protocol says it
    ``should_close`` (what aiohttp asks when a response releases it) is
    closed, and the next one is taken. Honest idle connections are reused
    as before.
    """
    current = getattr(connector, "_get", None)
    if isinstance(current, _PoolGuard):
        return True
    original = getattr(type(connector), "_get", None)
    if current is None or original is None or "_get" in getattr(connector, "__dict__", {"_get": None}):
        return False  # not aiohttp's, or changed by someone else: left alone
    guard = _AsyncPoolGuard if inspect.iscoroutinefunction(original) else _PoolGuard
    connector._get = guard(connector, original)
    return True


class _PoolGuard:
    """A connector's ``_get`` that skips (and closes) the pooled connections aiohttp itself would not pool now.

    This one is aiohttp 3.10's (it returns a protocol, not yet acquired);
    :class:`_AsyncPoolGuard` is the later one's. The connector is held
    weakly: it is not kept alive by its own attribute.
    """

    __slots__ = ("_connector", "_get")

    def __init__(self, connector: Any, get: Any) -> None:
        self._connector = weakref.ref(connector)
        self._get = get

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        connector = self._connector()
        while True:
            protocol = self._get(connector, *args, **kwargs)
            if protocol is None or not getattr(protocol, "should_close", False):
                return protocol
            protocol.close()


class _AsyncPoolGuard(_PoolGuard):
    """:class:`_PoolGuard` for aiohttp 3.11 and later: ``_get`` is a coroutine returning an acquired ``Connection``."""

    __slots__ = ()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        connector = self._connector()
        while True:
            connection = await self._get(connector, *args, **kwargs)
            protocol = getattr(connection, "protocol", None)
            if protocol is None or not protocol.should_close:
                return connection
            connection.close()  # queued bytes answer no request of ours: the connection goes, not the bytes
