"""Resolving a host name and connecting to it within the attempt's bound, under urllib3 (the sync transport).

urllib3 resolves a host name with ``socket.getaddrinfo`` in the calling
thread, with no limit at all, then tries each address in turn, each with
the whole connect timeout: a resolver that takes 2 s, or three addresses
that drop connection attempts, held a ``timeout=1`` poll for seconds. The
transport's watchdog cannot help there: until a connection has a socket,
there is nothing for it to cut.

:class:`BoundedConnect` takes over one connection's next ``_new_conn`` (the
method urllib3 calls to open the socket), for the one request httsleep is
sending on it:

- the name is resolved in a thread of its own, which the poll stops waiting
  for after the connect timeout (a resolver cannot be interrupted: the
  thread finishes on its own, and its answer is dropped);
- each address is then tried with urllib3's own ``_new_conn``, pointed at
  that one address (``_dns_host``), with the connect timeout, as urllib3
  tries them, so urllib3 still builds the socket, applies its socket
  options and raises its own errors;
- all of it within the bound of the response head (the connect plus the
  read timeout, and the deadline): what is left of it cuts the resolver's
  wait and each connect.

A host
that is an IP address is left to urllib3 (there is nothing to resolve, and
one address). As with :mod:`._http1`, the method is put back after the one
call, and a connection whose ``_new_conn`` is not urllib3's is left alone.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

import urllib3.connection
import urllib3.exceptions
import urllib3.util.connection

__all__ = ["BoundedConnect", "ResolutionTimeout", "resolve_within"]

_AddressInfo = Tuple[Any, ...]  # what socket.getaddrinfo returns, one entry


class ResolutionTimeout(socket.timeout):
    """The resolver had not answered within the time the connect had (a ``socket.timeout``)."""


def resolve_within(host: str, port: int, seconds: Optional[float]) -> List[_AddressInfo]:
    """``socket.getaddrinfo(host, port, ..., SOCK_STREAM)``, waited for at most ``seconds`` (``None``: for ever).

    :raises ResolutionTimeout: the resolver had not answered by then.
    :raises socket.gaierror: the name does not resolve.
    """
    result: List[Any] = []
    done = threading.Event()

    def resolve() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, urllib3.util.connection.allowed_gai_family(),
                                             socket.SOCK_STREAM))
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            result.append(error)
        finally:
            done.set()

    threading.Thread(target=resolve, name="httsleep-resolve", daemon=True).start()
    if not done.wait(None if seconds is None else max(seconds, 0.0)):
        raise ResolutionTimeout("resolving {} took longer than {:.3g}s".format(host, seconds or 0.0))
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return list(outcome)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class BoundedConnect:
    """One connection's next ``_new_conn``: resolve and connect within the seconds ``budget()`` gives.

    ``budget`` returns, when the connect starts, the seconds the whole of it
    may take (what is left of the bound of the response head), or ``None``
    for no limit; each step also keeps to the connection's connect timeout.
    ``phase`` is told where the connect is: ``"resolve"``, ``"connect"``,
    then ``"connected"`` once the connection has its socket.
    """

    def __init__(self, connection: Any, budget: Callable[[], Optional[float]], phase: Callable[[str], None]) -> None:
        self._connection = connection
        self._budget = budget
        self._phase = phase

    @classmethod
    def install(cls, connection: Any, budget: Callable[[], Optional[float]],
                phase: Callable[[str], None]) -> Optional[BoundedConnect]:
        """Bound ``connection``'s next connect; ``None`` when there is nothing to bound or it is not urllib3's."""
        if (not isinstance(connection, urllib3.connection.HTTPConnection) or getattr(connection, "sock", None)
                or "_new_conn" in vars(connection) or type(connection)._new_conn is not _URLLIB3_NEW_CONN):
            return None  # connected already, or a connection class that connects its own way (SOCKS)
        host = getattr(connection, "_dns_host", None)
        if not isinstance(host, str) or not host or _is_address(host):
            return None
        installed = cls(connection, budget, phase)
        vars(connection)["_new_conn"] = installed  # this connection only, until it is called
        return installed

    def release(self) -> None:
        """Give the connection urllib3's own ``_new_conn`` back (idempotent)."""
        attributes = vars(self._connection)
        if attributes.get("_new_conn") is self:
            del attributes["_new_conn"]

    def __call__(self) -> socket.socket:
        self.release()
        connection = self._connection
        host, timeout = connection._dns_host, connection.timeout
        started = time.monotonic()
        budget = self._budget()
        self._phase("resolve")
        try:
            addresses = resolve_within(host, connection.port, _least(timeout, budget))
        except socket.timeout as stalled:
            raise urllib3.exceptions.ConnectTimeoutError(
                connection, "Connection to {} timed out: {} (connect timeout={})".format(host, stalled, timeout)
            ) from stalled
        except socket.gaierror as unknown:
            name_error = getattr(urllib3.exceptions, "NameResolutionError", None)
            if name_error is not None:
                raise name_error(connection.host, connection, unknown) from unknown
            raise urllib3.exceptions.NewConnectionError(  # urllib3 1.26's error for a name that does not resolve
                connection, "Failed to establish a new connection: {}".format(unknown)) from unknown
        self._phase("connect")
        last: Optional[BaseException] = None
        try:
            for address in _unique(addresses):
                left = None if budget is None else budget - (time.monotonic() - started)
                if left is not None and left <= 0:
                    break
                connection._dns_host = address
                connection.timeout = _least(timeout, left)
                try:
                    sock = type(connection)._new_conn(connection)
                except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as error:
                    last = error
                    continue
                connection.sock = sock  # what a cut needs from now on (urllib3 sets it too, just after)
                self._phase("connected")
                return sock
        finally:
            connection._dns_host, connection.timeout = host, timeout
        if last is not None and not isinstance(last, urllib3.exceptions.ConnectTimeoutError):
            raise last  # every address refused (or was unreachable): the last error says how
        raise urllib3.exceptions.ConnectTimeoutError(
            connection, "Connection to {} timed out. (connect timeout={})".format(host, timeout)
        ) from last


def _least(*seconds: Optional[float]) -> Optional[float]:
    """The smallest of the limits given (``None``: no limit)."""
    limits = [limit for limit in seconds if limit is not None]
    return min(limits) if limits else None


def _unique(addresses: List[_AddressInfo]) -> List[str]:
    """The addresses to try, in the resolver's order, each once (it may list one per socket type)."""
    seen: List[str] = []
    for _family, _type, _proto, _name, sockaddr in addresses:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


#: urllib3's own _new_conn (a connection class that overrides it, as SOCKS's does, is left alone).
_URLLIB3_NEW_CONN = urllib3.connection.HTTPConnection._new_conn
