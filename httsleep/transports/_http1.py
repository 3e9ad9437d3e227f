"""Reading an HTTP/1.x response head under requests as the asyncio front end's libraries read it.

``http.client``, which urllib3 (and so requests) reads every response head
with, differs from httpx and aiohttp in two ways that matter to a poll:

- it skips only ``100 Continue`` before the final response: ``102
  Processing``, ``103 Early Hints`` (sent by Node, Go and Puma) or any other
  interim response is taken for the final one, and the poll never sees the
  answer that follows it;
- it refuses a status line whose version is ``HTTP/2.0``, which some
  servers and proxies write on an HTTP/1.1 connection (``UnknownProtocol``).

:class:`FinalResponse` is ``http.client``'s response with both changed: it
reads past every interim response (100 to 199, except ``101 Switching
Protocols``, which is final), dropping their headers, and reads an
``HTTP/2.0`` status line as an ``HTTP/1.1`` one (the same framing rules).
At most :data:`MAX_INTERIM_RESPONSES` interim responses are skipped; each is
bounded as a response head is (a line of 64 KiB, 100 headers), and the
transport's bound on the whole head (its watchdog) covers them all.

Only the requests httsleep sends read their response so:
:meth:`NextResponse.install` makes one connection build a
:class:`FinalResponse` for its next response only, and then gives the
connection its own response class back. A caller's session, its adapters
and its connections are otherwise left as they are.
"""

from __future__ import annotations

import http.client
import threading
from typing import Any, Optional, Tuple

__all__ = ["MAX_INTERIM_RESPONSES", "FinalResponse", "NextResponse", "is_interim"]

#: The most interim (1xx) responses read before a final one; more is a broken or hostile server.
MAX_INTERIM_RESPONSES = 100

#: Status-line versions read as HTTP/1.1 (httpx and aiohttp accept them on an HTTP/1.x connection).
_READ_AS_HTTP_1_1 = frozenset({"HTTP/2.0"})

_SWITCHING_PROTOCOLS = 101


def is_interim(status: int) -> bool:
    """Whether ``status`` is an interim response, which a final response follows (1xx but 101)."""
    return 100 <= status < 200 and status != _SWITCHING_PROTOCOLS


class FinalResponse(http.client.HTTPResponse):
    """``http.client``'s response, read past every interim response, an ``HTTP/2.0`` status line accepted.

    ``HTTPResponse.begin()`` reads the status line with ``_read_status()``,
    then the headers: this class's ``_read_status()`` returns the status line
    of the final response, having read and dropped every interim response
    before it, so that their headers never reach the final response's.
    """

    def _read_status(self) -> Tuple[str, int, str]:
        for _ in range(MAX_INTERIM_RESPONSES + 1):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if version in _READ_AS_HTTP_1_1:
                version = "HTTP/1.1"
            if not is_interim(status):
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim response's headers: read (bounded), dropped
        raise http.client.HTTPException(
            "got more than {} interim (1xx) responses".format(MAX_INTERIM_RESPONSES)
        )


class NextResponse:
    """The response class of one connection for its next response only: a :class:`FinalResponse`.

    ``http.client`` builds a connection's response with
    ``connection.response_class(sock, ...)``; :meth:`install` sets an
    instance of this class there, just before the response is read. Called,
    it removes itself, so the connection's own class is back for the
    response after. Should the connection reach anyone else first (urllib3
    returns a connection to its pool when the request fails), called from
    another thread or after :meth:`release`, it builds the connection's own
    response, as if it had never been there.
    """

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection
        self._thread = threading.get_ident()
        self._active = True

    @classmethod
    def install(cls, connection: Any) -> Optional[NextResponse]:
        """Make ``connection`` read its next response as a :class:`FinalResponse`; return what to release.

        ``None`` (nothing installed) when the connection builds its responses
        with a class of its own instead of ``http.client``'s, or refuses a new
        attribute.
        """
        current = getattr(connection, "response_class", None)
        if isinstance(current, NextResponse):  # left by an earlier request that never read its response
            current.release()
            current = getattr(connection, "response_class", None)
        if current is not http.client.HTTPResponse:
            return None
        installed = cls(connection)
        try:
            connection.response_class = installed
        except (AttributeError, TypeError):  # pragma: no cover - a connection class with __slots__
            return None
        return installed

    def __call__(self, sock: Any, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
        ours = self._active and threading.get_ident() == self._thread
        self.release()
        if ours:
            return FinalResponse(sock, *args, **kwargs)
        return http.client.HTTPResponse(sock, *args, **kwargs)

    def release(self) -> None:
        """Give the connection its own response class back, if this is still in its place (idempotent)."""
        self._active = False
        attributes = vars(self._connection)
        if attributes.get("response_class") is self:
            attributes.pop("response_class", None)
