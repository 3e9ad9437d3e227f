"""Conditional polling (``conditional=True``): the validators of the next request, and what a 304 stands for. No I/O.

A conditional poll sends ``If-None-Match`` (from the last full response's
``ETag``) or ``If-Modified-Since`` (from its ``Last-Modified``); a server
whose document has not changed answers ``304 Not Modified`` without the
body, and the verdict on the response it repeats stands.

The validators are part of the poll's :class:`~httsleep.state.PollState`
(a value that may be saved); the responses themselves (the full one the
validators came from, the 304 of the last attempt) only live in the process
that received them, in a :class:`Revalidation`.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, Optional, Tuple

from .state import sendable_validator

__all__ = ["Revalidation", "keep_out_secrets", "next_validators"]

Validators = Tuple[Tuple[str, str], ...]


def _strong_date(modified: str, date: Optional[str]) -> bool:
    """Whether a ``Last-Modified`` is at least a second older than the response's ``Date`` (both HTTP dates)."""
    if not date:
        return False
    try:
        return (parsedate_to_datetime(date) - parsedate_to_datetime(modified)).total_seconds() >= 1
    except (TypeError, ValueError, IndexError, OverflowError):  # unreadable, or naive against aware
        return False


def next_validators(current: Validators, headers: Any, unchanged: bool) -> Validators:
    """The validators for the next request, after a response with ``headers``.

    ``If-None-Match`` from an ``ETag``. ``If-Modified-Since`` from a
    ``Last-Modified`` only without an ETag, and only when it is at least a
    second older than the response's ``Date`` (RFC 9110 8.8.2.2: a date has
    a one-second resolution, so a document changed again in the same
    second would be "not modified" for ever). A full response without
    validators makes the next request unconditional; a 304 (``unchanged``)
    updates the validators it repeats and keeps the others.
    """
    validators: Dict[str, str] = dict(current) if unchanged else {}
    etag = headers.get("ETag")
    if etag:
        validators["If-None-Match"] = etag
        validators.pop("If-Modified-Since", None)
    elif "If-None-Match" not in validators:
        modified = headers.get("Last-Modified")
        if modified and _strong_date(modified, headers.get("Date")):
            validators["If-Modified-Since"] = modified
    return tuple(sorted(validators.items()))


class Revalidation:
    """The responses behind a conditional poll's validators, in the process that received them.

    :ivar repeated: the last full response, the one the validators came from.
    :ivar unchanged: the 304 of the last attempt, which repeats ``repeated``
        (``None`` when the last attempt was anything else).
    """

    __slots__ = ("repeated", "unchanged")

    def __init__(self) -> None:
        self.repeated: Any = None
        self.unchanged: Any = None

    def answers(self, validators: Validators, response: Any) -> bool:
        """Whether ``response`` is a 304 answering the validators that were sent."""
        return bool(validators) and response.status_code == 304

    def full_response(self, response: Any) -> None:
        """``response`` is a full one: the next validators come from it."""
        self.unchanged = None
        self.repeated = response

    def not_modified(self, response: Any) -> Any:
        """``response`` is a 304: return the response it repeats (``None`` after a resume, in a new process)."""
        self.unchanged = response
        return self.repeated

    def failed(self) -> None:
        """The last attempt raised: it repeats nothing."""
        self.unchanged = None

    def shown(self, last_response: Any) -> Any:
        """The response to describe as the last one: the 304 (which says what it repeats), else ``last_response``."""
        return self.unchanged if self.unchanged is not None else last_response


def keep_out_secrets(validators: Validators, redact: Callable[[str], str]) -> Validators:
    """``validators`` without any whose value holds a credential of the poll (a server may echo one in an ETag).

    A poll's state never holds a credential, nor a value that cannot be sent
    back as a header (too long, a line break): a validator dropped here only
    makes the next request unconditional.
    """
    return tuple(pair for pair in validators if sendable_validator(pair[1]) and redact(pair[1]) == pair[1])
