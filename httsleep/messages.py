"""What httsleep says: server text made safe to show, and the wording of a poll's messages. No I/O.

Everything a poll shows (an alarm, a give-up, a log line, the CLI's
progress) goes through here: server text is redacted, made printable and
cut short (:func:`excerpt`, :func:`printable`), responses are described
the same way on every front end (:func:`describe_response`,
:func:`body_excerpt`), and the messages of :class:`~httsleep.policy.PollRun`
are worded once (:func:`give_up_message` and the others below).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Callable, Optional, Sequence

from ._body import text_encoding
from .redaction import redact_text

__all__ = [
    "body_excerpt",
    "describe_error",
    "describe_outcome",
    "describe_response",
    "excerpt",
    "give_up_message",
    "printable",
    "unreadable_body_error",
]


def printable(text: str) -> str:
    """``text`` with control and format characters escaped (``\\x1b``, ``\\u202e``...).

    Server text (a reason phrase, a body) goes through this before it is
    written to a terminal or a log, so that it cannot move the cursor,
    change colours or reorder what is shown. Newlines and tabs become
    ``\\n`` and ``\\t``: what is quoted stays on one line.

    >>> printable("ok\\x1b[2J\\n")
    'ok\\\\x1b[2J\\\\n'
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if unicodedata.category(char) == "Zs":  # a no-break space and the like: shown as a space
        return " "
    code = ord(char)
    if code < 0x100:
        return "\\x{:02x}".format(code)
    return "\\u{:04x}".format(code) if code < 0x10000 else "\\U{:08x}".format(code)


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TOKEN_DELIMITERS = " \t\r\n'\"<>`"


def excerpt(text: str, limit: int = 200, redact: Callable[[str], str] = redact_text, *, cut: bool = False) -> str:
    """At most ``limit`` characters of ``text``: redacted, made printable, with ``...`` when cut.

    The work is bounded by ``limit`` however long ``text`` is: only a window
    of it is redacted. When the window cuts a token that may be a URL with
    a userinfo (it holds ``@`` or ``://``), the window ends before that
    token instead, so that a password is never shown for lack of its ``@``.
    ``cut``: ``text`` is itself the start of something longer.
    """
    window = text[: limit * 4 + 256]
    cut = cut or len(window) < len(text)
    if cut:
        boundary = max(window.rfind(char) for char in _TOKEN_DELIMITERS)
        last = window[boundary + 1 :]
        if "@" in last or "://" in last:
            window = window[: boundary + 1]
    shown = printable(redact(window))
    if len(shown) > limit:
        return shown[: max(limit - 3, 0)] + "..."
    return shown + "..." if cut else shown


def describe_response(response: Any) -> str:
    """``HTTP 503 Service Unavailable`` for a requests or httpx response (the reason made printable, cut short)."""
    reason = getattr(response, "reason", None) or getattr(response, "reason_phrase", None) or ""
    if not isinstance(reason, str):
        reason = str(reason)
    return "HTTP {} {}".format(getattr(response, "status_code", "?"), excerpt(reason, 100)).rstrip()


def body_excerpt(response: Any, limit: int = 200, redact: Callable[[str], str] = redact_text) -> str:
    """The start of a response's body, as text on one line: redacted, made printable, at most ``limit`` characters.

    Only the first few hundred bytes are decoded, with the charset of the
    ``Content-Type`` (UTF-8 otherwise): no charset detection on megabytes.
    Runs of whitespace (the line breaks and indents of pretty-printed JSON)
    become one space.

    >>> class Response: content = b'{"status": "RUNNING", "token": "t0k3n-9f8e7d6c"}'; headers = {}
    >>> body_excerpt(Response())
    '{"status": "RUNNING", "token": "***"}'
    """
    content = getattr(response, "content", None)
    if not isinstance(content, (bytes, bytearray)) or not content:
        return ""
    window = bytes(content[: limit * 4 + 256])
    text = window.decode(text_encoding(getattr(response, "headers", None)), "replace")
    return excerpt(" ".join(text.split()), limit, redact, cut=len(window) < len(content))


#: urllib3's wrapper around the error of its last try ("Max retries exceeded" counts urllib3's own
#: retries, not httsleep's ``max_retries``): the error it wraps is what happened.
_URLLIB3_RETRIES = re.compile(r"^\w+Pool\(host=.*?\): Max retries exceeded with url: \S* \(Caused by (.+)\)$", re.S)


def describe_error(exc: BaseException, redact: Callable[[str], str], target: str = "") -> str:
    """An attempt's error on one line: ``ConnectionError: connection to 127.0.0.1:1 refused (...)``, redacted.

    The class name, then the message; ``target`` (the poll's redacted
    ``"GET http://..."``) is left out of the message when it starts with it,
    as the sentence quoting the error already names the request. urllib3's
    ``...Pool(...): Max retries exceeded with url: ... (Caused by E)`` is
    shown as ``E``: its retries are not the poll's ``max_retries``.

    >>> describe_error(ConnectionError("GET http://h/: connection to h:80 refused"), str, "GET http://h/")
    'ConnectionError: connection to h:80 refused'
    """
    text = str(exc)
    wrapped = _URLLIB3_RETRIES.match(text[:4096])
    if wrapped is not None:
        text = wrapped.group(1)
    shown = excerpt(text, 300, redact)
    if target and shown.startswith(target + ": "):
        shown = shown[len(target) + 2 :]
    name = type(exc).__name__
    return "{}: {}".format(name, shown) if shown else name


def describe_outcome(response: Any, exc: Optional[BaseException], redact: Callable[[str], str],
                     unchanged_of: Any = None, target: str = "") -> str:
    """The last outcome of a poll for a message: ``HTTP 200 OK; body: {...}`` or the error, redacted.

    ``unchanged_of``: the full response that ``response`` (a 304) repeats.
    ``target``: the request the message names (see :func:`describe_error`).
    """
    if exc is not None:
        return describe_error(exc, redact, target)
    if unchanged_of is not None:
        return "{} (unchanged: {})".format(describe_response(response), describe_outcome(unchanged_of, None, redact))
    body = body_excerpt(response, redact=redact)
    return "{}; body: {}".format(describe_response(response), body) if body else describe_response(response)


def unreadable_body_error(error: ValueError, target: str, response: Any, redact: Callable[[str], str]) -> ValueError:
    """``error`` (a JSON condition could not read ``response``'s body) again, with a message that says where.

    ``GET http://host/job: HTTP 502 Bad Gateway, with a body a JSON condition cannot read (body:
    <html>...): Expecting value: line 1 column 1 (char 0)``. The new error is of the same class (a
    ``requests.exceptions.JSONDecodeError`` stays one, so ``except`` clauses and ``ignore_exceptions`` still
    catch it), keeps the original's attributes, and is caused by it. ``error`` itself is returned when its
    class cannot be built again from a message.
    """
    body = body_excerpt(response, redact=redact)
    where = "{}: {}, with a body a JSON condition cannot read ({})".format(
        target or "the endpoint", describe_response(response), "body: " + body if body else "an empty body"
    )
    try:
        if isinstance(error, json.JSONDecodeError):
            said: ValueError = type(error)("{}: {}".format(where, error.msg), error.doc, error.pos)
        else:
            said = type(error)("{}: {}".format(where, error))
    except Exception:  # a class whose constructor wants more than a message
        return error
    for name, value in vars(error).items():  # the response, the request...; not the message said has already
        if said.__dict__.get(name) is None:
            said.__dict__[name] = value
    said.__cause__ = error
    return said


def give_up_message(
    target: str,
    attempts: int,
    elapsed: float,
    why: str,
    last: str,
    until: Sequence[Any],
    redact: Callable[[str], str],
) -> str:
    """``gave up polling GET http://... after 3 attempts in 4.02s: <why>; <last> (waiting for <until>)``."""
    waiting_for = " or ".join(repr(condition) for condition in until)
    return "gave up polling {} after {} attempt{} in {:.2f}s: {}; {} (waiting for {})".format(
        target or "the endpoint",
        attempts,
        "" if attempts == 1 else "s",
        elapsed,
        why,
        last,
        excerpt(waiting_for, 300, redact),
    )
