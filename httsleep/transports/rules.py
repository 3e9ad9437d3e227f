"""The rules of one attempt, written once for every HTTP library. No I/O.

An attempt is one request of a poll and the redirects it follows. Whatever
library sends it, these rules decide:

- **The next hop of a redirect.** A 301, 302, 303, 307 or 308 with a
  ``Location`` leads to another request: a 303 (for anything but ``HEAD``),
  and a 301 or 302 answering a ``POST``, become a ``GET`` without a body;
  the others keep the method and the body. At most :data:`MAX_REDIRECTS`
  hops (fewer if the caller's session or client says so); a location that
  cannot be requested (no host, a port out of range...) is refused. The
  library resolves the ``Location`` against the URL (its own parsing); the
  decisions are made here.
- **Where credentials go.** The caller's credentials (``auth=``, a password
  in the URL, sensitive headers such as ``Authorization`` or ``X-Api-Key``,
  and cookies set without a domain, which the libraries send to any host)
  are sent to the origin the poll was given, and only until a redirect
  leaves it: from the first hop to another origin (scheme, host, port; an
  upgrade from ``http`` to ``https`` on the same host is the same origin)
  to the end of the attempt, no hop carries them, even one that comes back.
  Cookies that a jar holds for a domain (set by a server, or by the caller
  with a domain) follow the jar's own rules on every hop.
- **The bounds.** The head of each hop (connecting, TLS, sending, the status
  line, the headers, any 1xx) within the connect plus the read timeout;
  each wait for body data within the read timeout; everything within the
  poll's deadline. The decoded bodies of all the hops together within
  ``max_body_size`` (see :class:`~httsleep._body.BodyReader`).
- **The wording of a failure.** A timeout or a connection failure reads the
  same on every front end: the request (method and URL, credentials
  hidden), then what did not happen and the bound that ran out. The
  exception keeps its library's class (code that catches
  ``requests.ConnectionError`` or ``httpx.ReadTimeout`` still does) and
  is raised from the library's own error.
- **What is asked for and how a body is read:** the library's own default
  ``Accept-Encoding`` when httsleep can decode every coding in it (see
  :func:`httsleep._body.accept_encoding`), and a body that cannot be read
  is the attempt's failure unless the response asks to come back later
  (:meth:`~httsleep.policy.PollRun.body_optional`).

Each transport module is the adapter between these rules and its library.
"""

from __future__ import annotations

import errno
import http.client
import pickle
import socket
import ssl
from typing import Any, Dict, NamedTuple, Optional, Tuple, cast
from urllib.parse import urlsplit

from .._body import BodyReader, accept_encoding
from .._request_checks import check_url
from ..messages import excerpt
from ..policy import PollRun, connect_and_read
from ..redaction import redact_url
from ..transient import exception_chain

__all__ = [
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "AttemptRules",
    "Bound",
    "Hop",
    "accept_encoding",
    "is_worded",
    "redirect_method",
    "reworded",
    "same_origin",
]

#: The most redirects one attempt follows (a session or client of the caller's may set fewer).
MAX_REDIRECTS = 20

#: The statuses that redirect (with a ``Location``).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(old: str, new: str) -> bool:
    """Whether ``new`` has the scheme, host and port of ``old`` (an upgrade from http to https counts as same)."""
    before, after = urlsplit(old), urlsplit(new)
    if (before.hostname or "").lower() != (after.hostname or "").lower():
        return False
    try:
        old_port = before.port or _DEFAULT_PORTS.get(before.scheme.lower())
        new_port = after.port or _DEFAULT_PORTS.get(after.scheme.lower())
    except ValueError:
        return False
    if before.scheme.lower() == after.scheme.lower():
        return old_port == new_port
    return before.scheme.lower() == "http" and after.scheme.lower() == "https" and (old_port, new_port) == (80, 443)


def redirect_method(status: int, method: str) -> Tuple[str, bool]:
    """The method of the request that follows a redirect, and whether it keeps the body.

    >>> redirect_method(303, "POST"), redirect_method(302, "POST"), redirect_method(307, "POST")
    (('GET', False), ('GET', False), ('POST', True))
    """
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", False
    return method, True


class Hop(NamedTuple):
    """The request a redirect leads to: where, how, and whether it may carry the caller's credentials."""

    url: str
    method: str
    keeps_body: bool
    credentials: bool


class Bound(NamedTuple):
    """How long a wait may last: ``seconds``, and whether that is what remains of the poll's deadline."""

    seconds: float
    by_deadline: bool


class AttemptRules:
    """The rules of one attempt (see the module): one per attempt, kept by the transport while it sends.

    :param run: the poll (its deadline, request timeout, body limit, redaction).
    :param method: the method of the first request.
    :param url: the URL of the first request (its origin is where credentials may go).
    :param max_redirects: the caller's session's or client's own limit, if it has one.
    :param shown_url: the first request's URL as the caller gave it, for
        messages (a transport may have moved its userinfo to an auth header).
    """

    __slots__ = ("run", "method", "url", "shown_url", "origin", "limit", "hops", "left_origin", "earlier", "given")

    def __init__(
        self, run: PollRun, method: str, url: str, max_redirects: Optional[int] = None, shown_url: Optional[str] = None
    ) -> None:
        self.run = run
        self.method = method
        self.url = url  # the hop being sent
        self.shown_url = shown_url or url
        self.origin = url
        self.limit = MAX_REDIRECTS if max_redirects is None else min(max_redirects, MAX_REDIRECTS)
        self.hops = 0
        self.left_origin = False
        self.earlier = 0  # decoded bytes of the bodies read so far (the redirects before this hop)
        self.given = connect_and_read(run.request_timeout())  # the timeouts last handed to the library

    # -- redirects -------------------------------------------------------------------

    def next_hop(self, status: int, location: Optional[str], url: Optional[str]) -> Optional[Hop]:
        """Where the response just read leads, if anywhere; ``url`` is its ``Location`` resolved by the library.

        :raises ValueError: the location cannot be requested (the adapter
            raises its library's invalid-URL error with this message).
        :raises RedirectLimit: more than :attr:`limit` redirects.
        """
        if status not in REDIRECT_STATUSES or location is None or url is None:
            return None
        if self.hops >= self.limit:
            raise RedirectLimit(
                "{}: more than {} redirects (the last one to {})".format(
                    self.shown(), self.limit, excerpt(redact_url(url), 200, self.run.redact)
                )
            )
        try:
            check_url(url, "Location")
        except ValueError as error:
            raise ValueError(self.invalid_location_message(error)) from None
        method, keeps_body = redirect_method(status, self.method)
        if not same_origin(self.origin, url):
            self.left_origin = True
        self.hops += 1
        self.method, self.url = method, url
        self.shown_url = url
        return Hop(url, method, keeps_body, not self.left_origin)

    # -- bounds ------------------------------------------------------------------------

    def _bound(self, seconds: float) -> Bound:
        remaining = self.run.remaining()
        if remaining is not None and remaining <= seconds:
            return Bound(max(remaining, 0.0), True)
        return Bound(seconds, False)

    def timeouts(self) -> Tuple[float, float]:
        """The (connect, read) timeouts for a request starting now, cut to the deadline (hand these to the library)."""
        self.given = connect_and_read(self.run.request_timeout())
        return self.given

    def head_bound(self) -> Bound:
        """How long the head of the hop may take: the connect plus the read timeout, within the deadline."""
        connect, read = self.timeouts()
        return self._bound(connect + read)

    def read_bound(self) -> Bound:
        """How long one wait for body data may take: the read timeout, within the deadline."""
        return self._bound(self.timeouts()[1])

    # -- wording -------------------------------------------------------------------------

    def shown(self) -> str:
        """``METHOD URL`` of the hop being sent, credentials hidden, for a message."""
        return excerpt("{} {}".format(self.method, redact_url(self.shown_url)), 300, self.run.redact)

    def timeout_message(self, phase: str, bound: Optional[Bound] = None) -> str:
        """What ran out: ``phase`` is ``"resolve"``, ``"connect"``, ``"head"`` or ``"body"``; ``bound`` the one armed.

        Without ``bound``, the library's own timer ran out (a socket timeout):
        the read timeout for the head and the body, the connect timeout for
        connecting, as last handed to the library (:meth:`timeouts`); the
        deadline's, when it has passed.
        """
        connect, read = self.given
        if bound is None and self.run.deadline_reached():
            bound = Bound(0.0, True)
        if bound is not None and bound.by_deadline:
            what = {"resolve": "the host name did not resolve", "connect": "no connection",
                    "head": "no complete response head"}.get(phase, "the response body did not arrive")
            why = "{} before the deadline (timeout={:g}s)".format(what, self.run.policy.timeout or 0)
        elif phase == "resolve":
            why = "the host name did not resolve within {:g}s (the connect timeout)".format(
                bound.seconds if bound else connect)
        elif phase == "connect":
            why = "no connection within {:g}s (the connect timeout)".format(bound.seconds if bound else connect)
        elif phase == "head" and bound is not None:
            why = "no complete response head within {:g}s (the connect plus the read timeout)".format(bound.seconds)
        elif phase == "head":
            why = "no response within {:g}s (the read timeout)".format(read)
        else:
            why = "no data for the response body within {:g}s (the read timeout)".format(
                bound.seconds if bound else read
            )
        return "{}: {}".format(self.shown(), why)

    def invalid_location_message(self, reason: Any) -> str:
        """A redirect to a location no library can request (``http://[::1/x``), named with the request that got it."""
        return "{}: its redirect cannot be requested ({})".format(
            self.shown(), excerpt(str(reason), 200, self.run.redact)
        )

    def connection_message(self, error: BaseException) -> str:
        """A connection that failed, in one line: ``GET http://host/x: cannot connect to host:port: refused``."""
        return "{}: {}".format(self.shown(), _connection_problem(error, self.url))

    # -- bodies ---------------------------------------------------------------------------

    def body_reader(self, content_encoding: Optional[str], response: Any, decoding_error: Any) -> BodyReader:
        """The reader of the hop's body: decodes it, counting the bodies read before it against the limit."""
        return BodyReader(
            content_encoding, self.run.policy.max_body_size, response, decoding_error=decoding_error,
            earlier=self.earlier,
        )

    def body_read(self, body: bytes) -> None:
        """A hop's body was read whole (it counts against the limit of the bodies after it)."""
        self.earlier += len(body)

    def body_optional(self, response: Any) -> bool:
        """Whether a body that cannot be read may be left empty instead of failing the attempt."""
        return self.run.body_optional(response)


class RedirectLimit(Exception):
    """More redirects than the attempt follows (the adapter raises its library's error with this message)."""


# -- the wording of connection failures -------------------------------------------------------------

_ERRNO_WORDS: Dict[int, str] = {
    code: words
    for code, words in (
        (getattr(errno, "ECONNREFUSED", None), "connection to {} refused"),
        (getattr(errno, "ECONNRESET", None), "connection to {} reset"),
        (getattr(errno, "ECONNABORTED", None), "connection to {} aborted"),
        (getattr(errno, "EHOSTUNREACH", None), "no route to {}"),
        (getattr(errno, "ENETUNREACH", None), "no network to reach {}"),
        (getattr(errno, "ETIMEDOUT", None), "connection to {} timed out"),
        (getattr(errno, "EPIPE", None), "connection to {} closed while sending"),
    )
    if code is not None
}


def _connection_problem(error: BaseException, url: str) -> str:
    """What went wrong, in words, with the host and port, then the innermost error the library saw."""
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        port = None
    where = "{}:{}".format(parts.hostname or "?", port) if port else (parts.hostname or "the host")
    chain = list(exception_chain(error))
    proxy = _proxy_that_failed(chain)
    if proxy is not None:  # the connection that failed was the proxy's, not one to the URL's host
        where = proxy
    cause = _root_cause(chain)
    detail = " ({}: {})".format(type(cause).__name__, excerpt(str(cause), 200)) if cause is not None else ""
    for inner in chain:
        if isinstance(inner, socket.gaierror):
            return "cannot resolve the host name {}{}".format(parts.hostname or "?", detail)
        if isinstance(inner, ssl.SSLCertVerificationError):
            return "the TLS certificate of {} did not verify{}".format(where, detail)
        if isinstance(inner, http.client.RemoteDisconnected) or type(inner).__name__ == "ServerDisconnectedError" or (
            type(inner).__name__ == "RemoteProtocolError" and "disconnected" in str(inner).lower()
        ):
            if cause is None or cause is inner:
                detail = " ({}: {})".format(type(inner).__name__, excerpt(str(inner) or "no response", 200))
            return "{} closed the connection without answering{}".format(where, detail)
        if isinstance(inner, (http.client.BadStatusLine, http.client.LineTooLong)):
            return "{} did not answer in HTTP{}".format(where, detail)
        if isinstance(inner, OSError) and inner.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[inner.errno].format(where) + detail
    if cause is None:
        cause = chain[-1]
        detail = " ({}: {})".format(type(cause).__name__, excerpt(str(cause) or type(cause).__name__, 200))
    return "the connection to {} failed{}".format(where, detail)


def _proxy_that_failed(chain: Any) -> Optional[str]:
    """``the proxy host:port`` when ``chain`` is the failure of a connection to a proxy, else ``None``.

    requests wraps it in a ``ProxyError`` around urllib3's ``NewConnectionError``, which holds the
    connection it tried; aiohttp raises ``ClientProxyConnectionError``, which has the proxy's host and
    port. (httpx's ``ConnectError`` does not say that it was the proxy.)
    """
    if not any(type(inner).__name__ in ("ProxyError", "ClientProxyConnectionError") for inner in chain):
        return None
    for inner in chain:
        found = getattr(inner, "__dict__", {})
        attempted = found.get("conn") or found.get("pool")  # urllib3 2 / 1.26, without the
        if attempted is None and type(inner).__name__ == "ClientProxyConnectionError":  # deprecated property
            attempted = inner
        host, port = getattr(attempted, "host", None), getattr(attempted, "port", None)
        if isinstance(host, str) and host:
            return "the proxy {}:{}".format(host, port) if port else "the proxy " + host
    return "the proxy"


def _root_cause(chain: Any) -> Optional[BaseException]:
    """The innermost error of the operating system, the TLS layer or the HTTP parser in ``chain``, if any."""
    found = None
    for inner in chain:
        if isinstance(inner, (OSError, http.client.HTTPException)) and type(inner).__module__ in (
            "builtins", "socket", "ssl", "http.client"
        ):
            found = inner
    return found


# -- keeping the library's exception class, with httsleep's words -------------------------------------

_REWORDED: Dict[type, type] = {}


def reworded(error: BaseException, message: str) -> BaseException:
    """A copy of ``error`` whose ``str()`` is ``message``, of a subclass of its class (``except`` clauses still match).

    Raise it ``from error``: the library's own words stay in the chain.
    """
    cls = type(error)
    subclass = _REWORDED.get(cls)
    if subclass is None:
        subclass = _REWORDED[cls] = type(cls.__name__, (cls,), {
            "__str__": _message_str,
            "__repr__": _message_repr,
            "__reduce__": _message_reduce,
            "_httsleep_worded": True,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        })
    copy: BaseException = cast(Any, cls).__new__(cls)  # no __init__: the library's may want other arguments
    copy.__dict__.update(error.__dict__)
    if isinstance(error, OSError):  # kept outside __dict__: errno == ECONNREFUSED must still hold
        for name in ("errno", "strerror", "filename", "filename2"):
            setattr(copy, name, getattr(error, name))
    copy.__class__ = subclass
    copy.args = (message,)
    copy.__traceback__ = None
    return copy


def is_worded(error: BaseException) -> bool:
    """Whether ``error`` is in the words of these rules already (made by :func:`reworded`)."""
    return getattr(type(error), "_httsleep_worded", False)


def _message_str(self: BaseException) -> str:
    return str(self.args[0]) if self.args else ""


def _message_repr(self: BaseException) -> str:
    return "{}({!r})".format(type(self).__name__, _message_str(self))


def _message_reduce(self: BaseException) -> Any:
    os_error = None
    if isinstance(self, OSError):
        os_error = (self.errno, self.strerror, self.filename, self.filename2)
    return (_rebuild, (type(self).__mro__[1], _message_str(self), _picklable(self.__dict__), os_error))


def _picklable(attributes: Dict[str, Any]) -> Dict[str, Any]:
    """The attributes that pickle (aiohttp's request info holds a header proxy that does not): the rest is left out."""
    kept = {}
    for name, value in attributes.items():
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001 - whatever a library's object raises, it is left behind
            continue
        kept[name] = value
    return kept


def _rebuild(cls: type, message: str, attributes: Dict[str, Any], os_error: Any = None) -> BaseException:
    error: BaseException = cast(Any, cls).__new__(cls)
    error.__dict__.update(attributes)
    for name, value in zip(("errno", "strerror", "filename", "filename2"), os_error or ()):
        setattr(error, name, value)
    return reworded(error, message)

