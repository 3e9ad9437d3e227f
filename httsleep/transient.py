"""Which failures are which: temporary network trouble worth trying again, and failures of the service.

The classification follows dugong's ``is_temp_network_error`` (seed 004):
timeouts, connection resets, refusals and aborts, broken pipes, the errno
codes of an unreachable or downed network, and TLS connections that end
without a proper close. It looks through the wrappers that requests, urllib3
and httpx put around the original error.

Not temporary: name-resolution failures (except the resolver's own "try
again", ``EAI_AGAIN``), a proxy that refuses the credentials it was given
(``407``: trying again locks accounts), invalid or unsupported URLs, certificate errors, a
server that answers something that is not HTTP (or more headers than HTTP
clients accept), and a body that cannot be used (too large, undecodable):
trying again would get the same.

:func:`is_service_failure` says which outcomes count against a circuit
breaker. Both match the HTTP libraries' exception classes by name, along
the MRO, so that none of the libraries has to be imported here.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from typing import Any, Iterator, List, Optional

from .exceptions import BodyError

__all__ = ["TEMPORARY_ERRNOS", "exception_chain", "is_service_failure", "is_temp_network_error"]

#: errno codes that mean "the network, not the request, is the problem".
TEMPORARY_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in (
            "EPIPE",
            "ESHUTDOWN",
            "ECONNRESET",
            "ECONNABORTED",
            "ECONNREFUSED",
            "ETIMEDOUT",
            "EHOSTDOWN",
            "EHOSTUNREACH",
            "ENETDOWN",
            "ENETRESET",
            "ENETUNREACH",
            "ENOTCONN",
            "EAGAIN",
            "ENOLINK",
            "ENONET",
            "ENXIO",
            "EREMCHG",
        )
    )
    if code is not None
)

_TEMPORARY_TYPES = (
    InterruptedError,  # a system call interrupted by a signal (dugong: temporary)
    TimeoutError,  # socket.timeout is an alias of it on 3.10+
    socket.timeout,
    ConnectionError,  # resets, refusals, aborts, broken pipes
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    ssl.SSLSyscallError,
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
)

# Names of wrapper and leaf types from requests, urllib3, httpx and aiohttp, matched by
# class name along the MRO so that none of them has to be imported here.
_TEMPORARY_NAMES = frozenset(
    {
        # requests
        "Timeout",
        "ConnectTimeout",
        "ReadTimeout",
        "ChunkedEncodingError",
        # urllib3
        "TimeoutError",
        "IncompleteRead",
        "ProxyError",
        # httpx / httpcore
        "TimeoutException",
        "PoolTimeout",
        # aiohttp (which httsleep asks for raw bodies: a payload error is a transfer that broke off)
        "ServerDisconnectedError",
        "ClientPayloadError",
    }
)

_PERMANENT_NAMES = frozenset(
    {
        # requests
        "InvalidURL",
        "InvalidSchema",
        "MissingSchema",
        "InvalidHeader",
        "URLRequired",
        "TooManyRedirects",
        "SSLError",
        # urllib3
        "NameResolutionError",
        "LocationParseError",
        "LocationValueError",
        "HeaderParsingError",
        # httpx
        "UnsupportedProtocol",
        "LocalProtocolError",
    }
)

# Wrappers (requests' ConnectionError, urllib3's MaxRetryError, ProtocolError
# and NewConnectionError, httpx's and httpcore's transport errors): the
# verdict comes from what they wrap (a reset or refusal is temporary, a DNS
# failure or a status line that is not HTTP is not); with nothing
# recognisable inside, a connection-level failure counts as temporary.
_WRAPPER_NAMES = frozenset(
    {
        "ConnectionError",
        "MaxRetryError",
        "ProtocolError",
        "NewConnectionError",
        "RequestError",
        "TransportError",
        "ConnectError",
        "ReadError",
        "WriteError",
        "CloseError",
        "RemoteProtocolError",
    }
)

# TLS connections that ended without a proper close: temporary, even inside
# requests' and urllib3's SSLError wrappers (other TLS errors are not).
_TLS_EOFS = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def _names(exc: BaseException) -> List[str]:
    return [cls.__name__ for cls in type(exc).__mro__]


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then everything it wraps (cause, context, reason, args)."""
    seen = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        pending.extend(item for item in inner if isinstance(item, BaseException))


def _proxy_refused(exc: BaseException) -> bool:
    """A proxy that answered ``407 Proxy Authentication Required`` to a ``CONNECT`` (requests' and httpx's words)."""
    if not any("Proxy" in name for name in _names(exc)) and not isinstance(exc, OSError):
        return False
    text = str(exc)
    return "407" in text and "roxy" in text


def _is_dns_try_again(exc: BaseException) -> bool:
    return isinstance(exc, socket.gaierror) and exc.errno == getattr(socket, "EAI_AGAIN", object())


def _verdict(exc: BaseException) -> Optional[bool]:
    """True/False for a leaf we recognise, None for a wrapper or unknown."""
    names = _names(exc)
    if isinstance(exc, (MemoryError, BodyError)):  # a body too big to hold: another try gets the same
        return False
    if type(exc) is http.client.HTTPException:  # "got more than 100 headers": a hostile or broken server
        return False
    if isinstance(exc, socket.gaierror):
        return _is_dns_try_again(exc)
    if isinstance(exc, socket.herror):
        return False
    if isinstance(exc, http.client.RemoteDisconnected):  # also a BadStatusLine, but a closed connection
        return True
    if isinstance(exc, (ssl.SSLCertVerificationError, http.client.BadStatusLine, http.client.LineTooLong,
                        http.client.UnknownProtocol)):  # "HTTP/2 200": a version no front end reads
        return False
    if names[0] == "SSLError" and not isinstance(exc, ssl.SSLError):  # requests' and urllib3's wrappers
        return any(isinstance(inner, _TLS_EOFS) for inner in exception_chain(exc))
    if names[0] == "NameResolutionError":  # urllib3: permanent, unless the resolver said "try again"
        return any(_is_dns_try_again(inner) for inner in exception_chain(exc))
    if names[0] == "RemoteProtocolError" and type(exc).__module__.startswith("h11"):
        # h11 (under httpx): a peer that closed mid-message is temporary; an answer that is not HTTP is not
        text = str(exc).lower()
        return "peer closed" in text or "disconnected" in text
    if names[0] in _PERMANENT_NAMES:
        return False
    if isinstance(exc, _TEMPORARY_TYPES) or names[0] in _TEMPORARY_NAMES:
        return True
    if names[0] in _WRAPPER_NAMES:  # e.g. urllib3's NewConnectionError is also a "ConnectTimeoutError"
        return None
    if isinstance(exc, OSError) and exc.errno in TEMPORARY_ERRNOS:
        return True
    if any(name in _PERMANENT_NAMES for name in names[1:]) and not any(
        name in _TEMPORARY_NAMES or name in _WRAPPER_NAMES for name in names
    ):
        return False
    if any(name in _TEMPORARY_NAMES for name in names[1:]):
        return True
    return None


def is_temp_network_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a temporary network failure, worth retrying.

    >>> import errno, socket
    >>> is_temp_network_error(ConnectionResetError())
    True
    >>> is_temp_network_error(OSError(errno.EHOSTUNREACH, "No route to host"))
    True
    >>> is_temp_network_error(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    False
    >>> is_temp_network_error(ValueError("not a network error"))
    False

    Wrapped errors are unwrapped: a ``requests.exceptions.ConnectionError``
    caused by a refused connection is temporary; one caused by a failed DNS
    lookup is not.
    """
    wrapped = False
    for current in exception_chain(exc):
        if _proxy_refused(current):  # the same credentials would be refused again (and lock the account)
            return False
        verdict = _verdict(current)
        if verdict is not None:
            return verdict
        wrapped = wrapped or any(name in _WRAPPER_NAMES for name in _names(current))
    return wrapped


# -- what counts against a circuit breaker ------------------------------------------------------

# Errors that are the caller's fault, not the service's: never a breaker failure.
_CALLER_FAULTS = frozenset(
    {"InvalidURL", "InvalidSchema", "MissingSchema", "InvalidHeader", "URLRequired", "UnsupportedProtocol"}
)
# httpx's transport errors are not OSErrors (requests' are); matched by name, httpx need not be installed.
_SERVICE_FAILURES = frozenset({"TransportError", "TimeoutException", "RequestError"})


def is_service_failure(response: Any = None, exc: Optional[BaseException] = None, timed_out: bool = False) -> bool:
    """Whether an attempt's outcome counts as a failure for a circuit breaker.

    Failures: a response with a 5xx status; a timeout; a connection failure
    or other error of the transport (refused, reset, DNS, TLS, broken body).
    Not failures: any other response (a 2xx or 4xx that is merely not what
    the poll waits for), an error raised by the caller's own code (a
    callback), and a request the transport rejects before sending it (an
    invalid URL).
    """
    if response is not None:
        status = getattr(response, "status_code", None)
        return isinstance(status, int) and status >= 500
    if exc is None or isinstance(exc, BodyError):  # the service answered; the body was the problem
        return False
    if timed_out:
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _CALLER_FAULTS:
        return False
    return isinstance(exc, OSError) or bool(names & _SERVICE_FAILURES) or is_temp_network_error(exc)
