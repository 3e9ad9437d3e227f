"""The clients httsleep owns on an event loop: one pooled aiohttp session per ``verify``, shared by its polls.

An asyncio poll on aiohttp given no ``client=`` borrows the loop's shared
session (:func:`shared_client`) for as long as it runs. (On httpx each poll
opens a client of its own: httpcore's pool slows down as one client's
requests and connections grow.) The client is opened by the
first poll that needs it and closed:

- when the event loop shuts down: :func:`asyncio.run`, :class:`asyncio.Runner`
  and the test runners close a loop's asynchronous generators before closing
  it (``loop.shutdown_asyncgens()``), and each loop's clients are held open
  by one such generator;
- when no poll on the loop has used it for :data:`IDLE_TIMEOUT` seconds;
- by :func:`close_shared_clients`, for a loop closed without
  ``shutdown_asyncgens()``.

A client httsleep shares among polls keeps no cookies of its own: each poll
keeps its own (:func:`is_shared`; the transports give each poll a jar), as it
did with a client of its own, so that one poll's session cookie never goes
out with another poll's request.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any, AsyncContextManager, AsyncGenerator, Callable, Dict, Hashable, Optional, Set, Tuple

from .._logs import log

__all__ = ["IDLE_TIMEOUT", "close_shared_clients", "is_shared", "mark_shared", "shared_client"]

#: seconds a loop's shared clients stay open after the last poll using them ended
IDLE_TIMEOUT = 30.0

_Key = Tuple[str, Hashable]

#: the clients httsleep opened to be shared among polls
_SHARED: weakref.WeakSet[Any] = weakref.WeakSet()


def is_shared(client: Any) -> bool:
    """Whether ``client`` is shared by polls that must not share cookies (the transports give each poll a jar)."""
    try:
        return client in _SHARED
    except TypeError:  # not weak-referenceable: no client of httsleep's
        return False


def mark_shared(client: Any) -> Any:
    """Mark ``client`` (one httsleep opened) as shared by several polls; returns it."""
    _SHARED.add(client)
    return client


def _verify_key(verify: Any) -> Hashable:
    """What tells two ``verify`` values apart: ``None`` and ``True`` are one; a context by identity."""
    if verify is None or verify is True:
        return True
    if isinstance(verify, (bool, str)):
        return verify
    return ("context", id(verify))


class _LoopClients:
    """The shared clients of one event loop, the polls using them, and what closes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.clients: Dict[_Key, Any] = {}
        self.keep: Dict[_Key, Any] = {}  # the verify values keyed by identity (an SSLContext): alive while used
        self.users = 0
        self.idle: Optional[asyncio.TimerHandle] = None
        self.keeper: Any = None  # the asynchronous generator the loop's shutdown closes (see _keeper)

    def lease(self) -> None:
        self.users += 1
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None

    def release(self) -> None:
        self.users -= 1
        if self.users == 0 and not self.loop.is_closed():
            self.idle = self.loop.call_later(IDLE_TIMEOUT, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self.idle = None
        if self.users == 0 and self.clients:
            task = self.loop.create_task(self.close())
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

    async def close(self) -> None:
        """Close every client (in the order opened); the next poll opens new ones."""
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        clients, self.clients, self.keep = list(self.clients.values()), {}, {}
        for client in clients:
            await _close(client)
        with _LOCK:
            last = _LOOPS.get(self.loop) is self and not self.clients
            if last:
                del _LOOPS[self.loop]
        if last:
            keeper, self.keeper = self.keeper, None
            if keeper is not None and keeper.ag_running is False and keeper.ag_frame is not None:
                await keeper.aclose()  # nothing left to close at shutdown


async def _close(client: Any) -> None:
    closing = getattr(client, "aclose", None) or client.close  # httpx: aclose(); aiohttp: close()
    try:
        await closing()
    except Exception as exc:  # noqa: BLE001 - closing must not fail a poll or the loop's shutdown
        log.warning("closing httsleep's shared client %r failed: %r", client, exc)


async def _keeper(clients: _LoopClients) -> AsyncGenerator[None, None]:
    """Suspended for the loop's life; the loop's ``shutdown_asyncgens()`` closes it, and it closes the clients."""
    try:
        yield
    finally:
        if clients.clients:
            await clients.close()


#: the event loops with shared clients (a loop's entry goes when its clients are closed); loops run in many threads
_LOOPS: Dict[asyncio.AbstractEventLoop, _LoopClients] = {}
_LOCK = threading.Lock()
#: idle closes under way (a task is only weakly referenced by its loop)
_CLOSING: Set[Any] = set()


def _clients_of(loop: asyncio.AbstractEventLoop) -> _LoopClients:
    with _LOCK:
        clients = _LOOPS.get(loop)
        if clients is None:
            for old in [old for old in _LOOPS if old.is_closed()]:  # closed by hand without shutting down: forget
                del _LOOPS[old]
            clients = _LOOPS[loop] = _LoopClients(loop)
        return clients


def shared_client(library: str, verify: Any, new_client: Callable[[Any], Any]) -> AsyncContextManager[Any]:
    """Lend the running loop's shared client of ``library`` for ``verify`` (``new_client(verify)`` opens it)."""
    return _Lease(library, verify, new_client)


class _Lease:
    """One poll's use of its loop's shared client, from ``async with`` to its end (however it ends)."""

    __slots__ = ("_key", "_verify", "_new_client", "_clients")

    def __init__(self, library: str, verify: Any, new_client: Callable[[Any], Any]) -> None:
        self._key = (library, _verify_key(verify))
        self._verify = verify
        self._new_client = new_client
        self._clients: Optional[_LoopClients] = None

    async def __aenter__(self) -> Any:
        clients = _clients_of(asyncio.get_running_loop())
        client = clients.clients.get(self._key)
        if client is None:
            client = clients.clients[self._key] = mark_shared(self._new_client(self._verify))
            clients.keep[self._key] = self._verify
            if clients.keeper is None:
                keeper = _keeper(clients)
                await keeper.asend(None)  # started on this loop: its shutdown_asyncgens() will close it
                clients.keeper = keeper
        clients.lease()
        self._clients = clients
        return client

    async def __aexit__(self, *exc_info: Any) -> None:
        clients, self._clients = self._clients, None
        if clients is not None:
            clients.release()


async def close_shared_clients() -> None:
    """Close the running loop's shared clients now (the next poll opens new ones).

    :func:`asyncio.run` and :class:`asyncio.Runner` close them when the loop
    shuts down; call this before closing a loop you run by hand without
    ``loop.shutdown_asyncgens()``, or to drop connections at once.
    """
    clients = _LOOPS.get(asyncio.get_running_loop())
    if clients is not None:
        await clients.close()
