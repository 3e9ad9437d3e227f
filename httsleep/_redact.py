"""Keep credentials out of log lines and exception messages."""

from __future__ import annotations

import re
from typing import Any

from .transient import _chain

__all__ = ["SENSITIVE_HEADERS", "redact_text", "redact_url", "scrub_exception"]

#: Header names whose values are never shown (compared case-insensitively).
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})

# Up to the *last* "@" of the authority: a password may contain a raw "@"
# ("user:p@ss@host"), which requests and urllib3 accept and split off at the last one.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s]*@")
# "user:secret@host" without a scheme (requests quotes such URLs in its errors)
_BARE_USERINFO = re.compile(r"(?<![\w/:.@*+-])[\w.~%!$&+,;=-]+:[^\s/?#'\"]*@(?=[\w\[])")
_AUTH_VALUE = re.compile(r"(?i)\b(Basic|Bearer|Digest|Token)\s+[A-Za-z0-9._~+/=-]+")


def redact_url(url: Any) -> str:
    """``https://user:secret@host/x`` becomes ``https://***@host/x``.

    >>> redact_url("https://user:secret@host/x")
    'https://***@host/x'
    >>> redact_url("No connection adapters were found for 'user:secret@host/x'")
    "No connection adapters were found for '***@host/x'"
    """
    return _BARE_USERINFO.sub("***@", _USERINFO.sub(r"\g<scheme>***@", str(url)))


def redact_text(text: str) -> str:
    """Redact URL credentials and ``Basic``/``Bearer`` tokens inside free text."""
    return _AUTH_VALUE.sub(r"\1 ***", redact_url(text))


def scrub_exception(exc: BaseException) -> BaseException:
    """Redact credentials in the string arguments of ``exc``, in place; return it.

    Used on exceptions raised by the transport for a request httsleep made,
    before they reach the caller, so that neither ``str(exc)`` nor a printed
    traceback shows a password from the URL or an ``Authorization`` value.
    """
    for current in _chain(exc):  # each exception is scrubbed before what it wraps is looked at
        args = current.args
        try:
            scrubbed = tuple(redact_text(arg) if isinstance(arg, str) else arg for arg in args)
            if scrubbed != args:
                current.args = scrubbed
        except Exception:  # pragma: no cover - an exception type with read-only args
            pass
    return exc


