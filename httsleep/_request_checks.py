"""Checks of a request's parts, made when a poller is built. No I/O.

:func:`check_url`, :func:`check_headers`, :func:`check_method`,
:func:`check_auth`, :func:`check_verify`: the checks of a request's parts
made at construction, so that a bad header, method, URL or CA bundle is
reported then, naming the argument, and never quoting a credential. Every
front end (and the CLI) uses them.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import ssl
from typing import Any, Collection, Dict, Optional, Tuple, Type
from urllib.parse import SplitResult, urlsplit

from ._validate import ArgumentTypeError, shorten
from .redaction import Secrets, is_sensitive_header

__all__ = [
    "check_auth",
    "check_ca_bundle",
    "check_headers",
    "check_method",
    "check_url",
    "check_verify",
]


# -- request parts ------------------------------------------------------------------


def _header_part(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def check_headers(headers: Any, name: str = "headers") -> Optional[Dict[str, Any]]:
    """Check a headers mapping at construction; return it as a dict (``None`` stays ``None``).

    Names and values must be strings (or bytes) that HTTP/1.1 can carry:
    Latin-1, no line breaks, no leading or trailing whitespace in a value.
    A sensitive header's value is never quoted in the error.

    :raises ArgumentTypeError: ``headers`` is not a mapping, or a name or value is not text.
    :raises ValueError: a name or value HTTP cannot carry.
    """
    if headers is None:
        return None
    if not hasattr(headers, "items") or not callable(headers.items):
        raise ArgumentTypeError("{} must be a dict of header names and values, not {}".format(name, shorten(headers)))
    checked: Dict[Any, Any] = {}
    for key, value in headers.items():
        if not isinstance(key, (str, bytes)):
            raise ArgumentTypeError("{}: a header name must be a string, not {}".format(name, shorten(key)))
        header = _header_part(key)
        if not header or any(char in header for char in ":\r\n\0") or header != header.strip():
            raise ValueError("{}: {} is not a valid header name".format(name, shorten(header)))
        if not isinstance(value, (str, bytes)):
            raise ArgumentTypeError(
                "{}: the value of {!r} must be a string, not {}".format(
                    name, header, "a {}".format(type(value).__name__) if is_sensitive_header(header) else shorten(value)
                )
            )
        problem = _header_value_problem(_header_part(value))
        if problem is not None:
            shown = "" if is_sensitive_header(header) else " ({})".format(shorten(value))
            raise ValueError("{}: the value of {!r}{} {}".format(name, header, shown, problem))
        if not header.isascii():
            raise ValueError("{}: the header name {!r} is not ASCII".format(name, header))
        checked[key] = value
    return checked


def _header_value_problem(value: str) -> Optional[str]:
    if value[-1:] in ("\r", "\n"):
        return "ends with a line break (read from a file? strip it)"
    if value[:1] in (" ", "\t"):
        return "starts with whitespace"
    if "\r" in value or "\n" in value:
        return "contains a line break"
    if "\0" in value:
        return "contains a NUL character"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as error:
        return "contains {!r}, which HTTP headers cannot carry (only Latin-1 characters)".format(value[error.start])
    return None


def check_auth(auth: Any, auth_class: type, encoding: Optional[str] = None) -> None:
    """``auth=``: a ``(username, password)`` pair of strings, an ``auth_class`` object, or a callable.

    ``encoding``: the one the HTTP library encodes a pair's strings in for
    basic auth (requests: Latin-1), if it cannot encode every string. The
    password is never quoted in the error.
    """
    if auth is None or isinstance(auth, auth_class) or (callable(auth) and not isinstance(auth, type)):
        return
    if isinstance(auth, (tuple, list)) and len(auth) == 2:
        if all(isinstance(part, (str, bytes)) for part in auth):
            if encoding is not None and not all(_encodable(part, encoding) for part in auth):
                raise ValueError(
                    "the username or the password given as auth has characters that basic authentication, as "
                    "sent here, cannot carry (only {}); pass them as bytes, encoded as the server expects "
                    "(UTF-8, say)".format(encoding)
                )
            return
        raise ArgumentTypeError(
            "auth: the username and password must be strings, not a {} and a {}".format(
                type(auth[0]).__name__, type(auth[1]).__name__
            )
        )
    expected = "{}.{}".format(auth_class.__module__.split(".")[0], auth_class.__qualname__)
    raise ArgumentTypeError(
        "auth must be a (username, password) tuple, a {} object or a callable, not a {}".format(
            expected, type(auth).__name__
        )
    )


def _encodable(text: Any, encoding: str) -> bool:
    if isinstance(text, bytes):
        return True
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


# the characters of an HTTP method (RFC 9110 "token")
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_method(method: Any, name: str = "url_or_request") -> None:
    """The method of a request: a non-empty HTTP token (``GET``, ``POST``...); no space, no line break."""
    if isinstance(method, bytes):
        method = method.decode("latin-1")
    if not isinstance(method, str):
        raise ArgumentTypeError("{}: the Request's method must be a string such as 'GET', not {}".format(
            name, shorten(method)))
    if not method or not set(method) <= _TOKEN:
        raise ValueError("{}: {} is not an HTTP method (letters, digits and !#$%&'*+-.^_`|~ only)".format(
            name, shorten(method)))


def check_verify(verify: Any, contexts: Tuple[type, ...] = (), load: bool = True) -> None:
    """``verify=``: ``None``, ``True``/``False``, an instance of ``contexts``, or the path of a CA bundle.

    With ``load``, a path must name a file of PEM certificates that loads,
    or a directory of them (OpenSSL's ``CApath``): a file is loaded once
    here, so that a wrong path is reported at construction instead of on
    the first request. (The synchronous API does not load it: httsleep
    0.3.1 took any path, and only an ``https`` request reads it.)
    """
    if verify is None or isinstance(verify, bool) or (contexts and isinstance(verify, contexts)):
        return
    if not isinstance(verify, (str, os.PathLike)):
        what = "True, False{} or the path of a CA bundle".format(", an ssl.SSLContext" if contexts else "")
        raise ArgumentTypeError("verify must be {}, not {}".format(what, shorten(verify)))
    if load:
        check_ca_bundle(os.fspath(verify), "verify")


def check_ca_bundle(path: str, name: str) -> None:
    """``path`` names a directory, or a file of CA certificates that loads; a ValueError naming ``name`` otherwise."""
    if os.path.isdir(path):
        return
    if not os.path.isfile(path):
        raise ValueError("{}: no such CA bundle: {}".format(name, shorten(path)))
    problem = _ca_bundle_problem(path, os.stat(path).st_mtime_ns)
    if problem is not None:
        raise ValueError("{}: {} is not a CA bundle: {}".format(name, shorten(path), problem))


@functools.lru_cache(maxsize=32)
def _ca_bundle_problem(path: str, mtime: int) -> Optional[str]:
    """Why the file at ``path`` (as of ``mtime``) cannot be loaded as CA certificates, or ``None``."""
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as error:
        return str(error) or type(error).__name__
    return None


_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def check_url(
    url: str,
    name: str = "url_or_request",
    schemes: Collection[str] = ("http", "https"),
    *,
    invalid: Type[ValueError] = ValueError,
    missing_scheme: Type[ValueError] = ValueError,
    invalid_scheme: Type[ValueError] = ValueError,
) -> SplitResult:
    r"""Check an absolute URL at construction; return it split.

    The error classes may be given, so that a front end raises its HTTP
    library's own (all of them are ``ValueError``\ s).

    :raises ValueError: not absolute (``missing_scheme``), a scheme outside
        ``schemes`` (``invalid_scheme``); no host, a host or port that
        cannot be connected to (a label longer than 63 characters, a port
        outside 1-65535), whitespace or control characters (``invalid``).
        The message quotes the URL with its credentials hidden.
    """

    def error(why: str, kind: Type[ValueError] = invalid) -> ValueError:
        shown = Secrets.of_request(url)(url)
        if len(shown) > 200:
            shown = shown[:197] + "..."
        return kind("{}: {} {!r}".format(name, why, shown))

    if _BLANK_OR_CONTROL.search(url):
        raise error("whitespace or a control character in the URL")
    try:
        parts = urlsplit(url)
    except ValueError as problem:
        raise error("invalid URL ({})".format(str(problem).split(":")[0]))
    scheme = parts.scheme.lower()
    if not scheme or not url[len(parts.scheme) :].startswith("://"):
        raise error("expected an absolute URL such as http://host/path, got", missing_scheme)
    if scheme not in schemes:
        expected = " or ".join(known + "://" for known in schemes)
        raise error("expected a URL starting with {}, got".format(expected), invalid_scheme)
    host = parts.hostname
    if not host:
        raise error("no host in the URL")
    _check_host(host, error)
    try:
        port = parts.port
    except ValueError:
        raise error("the port is not a number from 1 to 65535 in")
    if port is not None and not 1 <= port <= 65535:
        raise error("the port is not a number from 1 to 65535 in")
    return parts


#: A host name of ASCII labels of 1 to 63 characters (and so any IPv4 address): valid as it is.
_PLAIN_HOST = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*\.?\Z", re.IGNORECASE | re.ASCII)


def _check_host(host: str, invalid: Any) -> None:
    if len(host) <= 253 and _PLAIN_HOST.match(host):  # the common case, without parsing an address
        return
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
        return
    except ValueError:
        if ":" in host:  # only an IPv6 literal has a colon in its host (Python 3.9's urlsplit does not check it)
            raise invalid("the host is not a valid IPv6 address in") from None
    try:
        encoded = host.encode("idna")
    except UnicodeError:
        raise invalid("the host name is not valid (each dot-separated label must be 1 to 63 characters) in")
    if len(encoded) > 253 or any(not 1 <= len(label) <= 63 for label in encoded.rstrip(b".").split(b".")):
        raise invalid("the host name is not valid (each dot-separated label must be 1 to 63 characters) in")
