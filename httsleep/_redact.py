"""Keep credentials out of log lines and exception messages."""

from __future__ import annotations

import re
from typing import Any, Mapping

__all__ = ["SENSITIVE_HEADERS", "redact_headers", "redact_text", "redact_url"]

#: Header names whose values are never shown (compared case-insensitively).
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_AUTH_VALUE = re.compile(r"(?i)\b(Basic|Bearer|Digest|Token)\s+[A-Za-z0-9._~+/=-]+")


def redact_url(url: Any) -> str:
    """``https://user:secret@host/x`` becomes ``https://***@host/x``."""
    return _USERINFO.sub(r"\g<scheme>***@", str(url))


def redact_text(text: str) -> str:
    """Redact URL credentials and ``Basic``/``Bearer`` tokens inside free text."""
    return _AUTH_VALUE.sub(r"\1 ***", redact_url(text))


def redact_headers(headers: Mapping[str, Any]) -> dict:
    """A copy of ``headers`` with the sensitive values replaced by ``***``."""
    return {key: ("***" if str(key).lower() in SENSITIVE_HEADERS else value) for key, value in headers.items()}
