"""How a poll sends its requests: the contract each HTTP library's adapter fulfils, and how one is chosen.

A poller (:class:`httsleep.HttSleeper`, :class:`httsleep.AsyncHttSleeper`)
drives a :class:`~httsleep.policy.PollRun` and asks a *transport* to send
each attempt. A transport is the thin adapter between one HTTP library and
the rules of an attempt, which are written once, in
:mod:`httsleep.transports.rules` (redirect hops, where credentials go, the
bounds, the wording of failures, what is decoded). The contract:

- :class:`Transport`: made once per poller from what the caller gave
  (``url_or_request``, ``headers``, ``auth``, the client if any): it
  checks them at construction, knows the request's ``target`` and how to
  :meth:`~Transport.redact` it, gives a poll a client when the caller gave
  none (:meth:`~Transport.open_client`, a context manager: ``with`` on the
  synchronous front end, where it opens a session for the poll; ``async
  with`` on the asyncio one, where aiohttp's lends the event loop's shared
  session, see :mod:`httsleep.transports.shared`, and httpx's opens a
  client for the poll), and makes a :class:`Sender` for one poll on a
  client (:meth:`~Transport.start`; on a client polls share, the sender
  keeps the poll's cookies itself). An asyncio transport also gives many
  polls one client to share (:meth:`AsyncTransport.open_shared_client`,
  for :func:`httsleep.async_poll_many`).
- :class:`Sender`: ``send(run)`` sends one attempt (a coroutine on the
  asyncio front end) and returns the final response with its body read,
  or raises; a timeout raises one of the transport's ``timeout_errors``.
  Responses have ``status_code``, ``headers``, ``content``, ``text`` and
  ``json()``: conditions and callbacks need nothing else (the asyncio
  transports return an :class:`~httsleep.responses.AsyncResponse`).

:func:`transport_for` picks the transport for a client: requests for the
synchronous front end, httpx or aiohttp for the asyncio one, and the
in-memory transport of :mod:`httsleep.transports.memory` (no socket) on
both; :func:`register` adds another library. See docs/architecture.md.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, AsyncContextManager, Callable, ContextManager, List, Optional, Protocol, Tuple

__all__ = ["AsyncTransport", "OnClient", "Sender", "Transport", "library_transport", "register", "transport_for"]


class Sender(Protocol):
    """One poll's sending on one client (see the module). ``send`` is a coroutine on the asyncio front end."""

    def send(self, run: Any) -> Any: ...


class Transport(Protocol):
    """One poller's adapter to an HTTP library (see the module)."""

    #: what the poller was given, as the library's request (``sleeper.request``)
    request: Any
    #: what the transport raises when a bound runs out (a timeout, not a failure of the server)
    timeout_errors: Tuple[type, ...]

    @property
    def target(self) -> str:
        """``METHOD URL`` of the request, for messages (redact it before showing it)."""

    def redact(self, text: str) -> str:
        """``text`` without the request's own credentials."""

    def secrets(self, client: Any) -> Callable[[str], str]:
        """What keeps the request's and the client's credentials out of what a poll shows (worked out lazily)."""

    def open_client(self, verify: Any) -> ContextManager[Any]:
        """The client of a poll the caller gave none (an async context manager lending the loop's on asyncio)."""

    def start(self, client: Any) -> Sender:
        """The sender of one poll on ``client``."""


class AsyncTransport(Transport, Protocol):
    """A transport of the asyncio front end (see the module)."""

    def open_shared_client(self, verify: Any, concurrency: int) -> AsyncContextManager[Any]:
        """A client for many polls given none, ``concurrency`` requests in flight at most (``async with``).

        A client opened for them holds ``concurrency`` connections or
        fewer (a shared one keeps its own limit) and keeps no cookies
        (:meth:`start` gives each poll its own).
        """


# (front end, the client's top-level module, "module:Class" of the client, "module:Class" of the transport)
_Entry = Tuple[str, str, str, str]

_TRANSPORTS: List[_Entry] = [
    ("sync", "requests", "requests:Session", "httsleep.transports.requests_transport:RequestsTransport"),
    ("async", "httpx", "httpx:AsyncClient", "httsleep.transports.httpx_transport:HttpxTransport"),
    ("async", "aiohttp", "aiohttp:ClientSession", "httsleep.transports.aiohttp_transport:AiohttpTransport"),
    ("sync", "httsleep", "httsleep.transports.memory:MemoryClient", "httsleep.transports.memory:MemoryTransport"),
    ("async", "httsleep", "httsleep.transports.memory:MemoryClient", "httsleep.transports.memory:AsyncMemoryTransport"),
]


def register(front: str, client_class: str, transport_class: str) -> None:
    """Make ``client_class`` (``"module:Class"``) a ``session=`` (``front="sync"``) or ``client=`` (``"async"``).

    ``transport_class`` (``"module:Class"``) is called as
    ``Transport(url_or_request, headers, auth, client)`` and must fulfil
    :class:`Transport`. Both are imported only when a poller is given such
    a client. Registered last, matched first.
    """
    if front not in ("sync", "async"):
        raise ValueError("front must be 'sync' or 'async', not {!r}".format(front))
    for path in (client_class, transport_class):
        if not isinstance(path, str) or path.count(":") != 1:
            raise ValueError("expected 'module:Class', not {!r}".format(path))
    _TRANSPORTS.insert(0, (front, client_class.split(".")[0].split(":")[0], client_class, transport_class))


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def transport_for(client: Any, front: str) -> Optional[Any]:
    """The transport class for ``client`` on ``front`` (``"sync"`` or ``"async"``), or ``None`` if none fits.

    A subclass of a registered client class fits too. Nothing is imported
    to find out: a client is an instance of a library's class only if that
    library is imported already.
    """
    for entry_front, _, client_class, transport_class in _TRANSPORTS:
        if entry_front != front:
            continue
        module, _, name = client_class.partition(":")
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(client, cls):
            return _load(transport_class)
    return None


def library_transport(library: str, front: str) -> Any:
    """The transport class of ``library`` (``"requests"``, ``"httpx"``, ``"aiohttp"``) on ``front``."""
    for entry_front, entry_library, _, transport_class in _TRANSPORTS:
        if entry_front == front and entry_library == library:
            return _load(transport_class)
    raise LookupError("no {} transport for {}".format(front, library))


class OnClient:
    """The :class:`Sender` of a transport whose ``send(client, run)`` coroutine needs nothing per poll but a client."""

    __slots__ = ("transport", "client")

    def __init__(self, transport: Any, client: Any) -> None:
        self.transport = transport
        self.client = client

    async def send(self, run: Any) -> Any:
        """Send one attempt of ``run`` on the client."""
        return await self.transport.send(self.client, run)
