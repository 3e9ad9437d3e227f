"""httsleep's logger, and keeping a poll's credentials out of the HTTP libraries' own log records.

:data:`log` is the ``httsleep`` logger every module logs to; it has a
``NullHandler``, as a library's logger should, so that nothing is printed
unless the application configures logging.

urllib3 logs each request line with its query string at DEBUG, httpx logs
each URL at INFO, httpcore logs response headers (``Set-Cookie`` among
them) at DEBUG. While a poll runs, :func:`redacting` makes a filter on
those loggers pass every record through the poll's redaction: the record's
message is rendered, redacted, and stored back. Records logged outside a
poll are left alone, and a filter costs nothing for a logger whose level
drops the record before filtering.

The poll is known by a context variable: a thread's own, and an asyncio
task's own, so that concurrent polls each redact with their own secrets.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Callable, Optional

__all__ = ["LIBRARY_LOGGERS", "log", "redacting"]

#: The ``httsleep`` logger.
log = logging.getLogger("httsleep")
log.addHandler(logging.NullHandler())

#: The loggers of the HTTP libraries that a poll's records may come from.
LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "urllib3.http2.connection",
    "httpx",
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp.client",
    "aiohttp.internal",
)

_ACTIVE: contextvars.ContextVar[Optional[Callable[[str], str]]] = contextvars.ContextVar(
    "httsleep_redaction", default=None
)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact = _ACTIVE.get()
        if redact is not None:
            try:
                message = record.getMessage()
            except Exception:  # a broken record: let logging report it as it would
                return True
            record.msg = redact(message)
            record.args = None
        return True


_FILTER = _RedactingFilter()


def _install() -> None:
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class redacting:  # noqa: N801 - used as a function: ``with redacting(secrets):``
    """While the block runs (in this thread or task), the libraries' records go through ``redact``.

    A class rather than a generator-based context manager: every poll in
    flight holds one, and this is one object instead of four.
    """

    __slots__ = ("_redact", "_token")

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact
        self._token: Optional[contextvars.Token[Optional[Callable[[str], str]]]] = None

    def __enter__(self) -> None:
        if self._token is not None:
            raise RuntimeError("a redacting() block cannot be entered again while it runs; make another")
        self._token = _ACTIVE.set(self._redact)

    def __exit__(self, *exc_info: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            _ACTIVE.reset(token)


_install()
