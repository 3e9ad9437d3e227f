"""The progress line shown by the command line and the demo.

:class:`Progress` is an ``on_attempt`` hook. On a terminal it keeps one
status line up to date (rewritten in place with a carriage return); on
anything else it writes one line per attempt when ``verbose``, and nothing
otherwise, so logs and pipes stay clean.
"""

from __future__ import annotations

import os
from typing import IO, Any, Callable, Optional

from .policy import Attempt, describe_response
from .redaction import printable, redact_text

__all__ = ["Progress", "describe_attempt"]


def describe_attempt(attempt: Attempt, detail: Optional[Callable[[Any], str]] = None) -> str:
    """``attempt 2 | 0.41s elapsed | HTTP 200 OK status="RUNNING" | next try in 0.20s``."""
    if attempt.response is not None:
        last = describe_response(attempt.response)
        if detail is not None:
            extra = detail(attempt.response)
            if extra:
                last += " " + extra
    elif attempt.exception is not None:
        last = type(attempt.exception).__name__
    else:  # pragma: no cover - an attempt has a response or an exception
        last = "no response"
    parts = ["attempt {}".format(attempt.number), "{:.2f}s elapsed".format(attempt.elapsed), last]
    if attempt.outcome == "retry":
        parts.append("next try in {:.2f}s{}".format(
            attempt.wait or 0.0, " (Retry-After)" if attempt.wait_reason == "Retry-After" else ""
        ))
    else:
        parts.append(
            {"success": "matched", "alarm": "ALARM", "gave_up": "gave up", "error": "failed"}.get(
                attempt.outcome, attempt.outcome
            )
        )
    return printable(redact_text(" | ".join(parts)))


class Progress:
    """An ``on_attempt`` hook that reports each attempt on ``stream``.

    :param stream: a text stream, usually ``sys.stderr``.
    :param live: rewrite one line in place; default: whether ``stream`` is a terminal.
    :param verbose: when not live, write one line per attempt (else nothing).
    :param detail: called with each response; its text is added after the status.
    :param prefix: put in front of every line.
    :param redact: applied to every line before it is written (e.g. to hide secrets).

    Call :meth:`finish` when the poll is over: it ends the live line.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        live: Optional[bool] = None,
        verbose: bool = False,
        detail: Optional[Callable[[Any], str]] = None,
        prefix: str = "",
        redact: Callable[[str], str] = redact_text,
    ) -> None:
        self.stream = stream
        self.live = _is_terminal(stream) if live is None else live
        self.verbose = verbose
        self.detail = detail
        self.prefix = prefix
        self.redact = redact
        self._shown = 0  # length of the live line on screen, 0 when none
        #: the last attempt reported
        self.last: Optional[Attempt] = None

    def __call__(self, attempt: Attempt) -> None:
        self.last = attempt
        line = self.redact(self.prefix + describe_attempt(attempt, self.detail))
        if self.live:
            width = _width(self.stream)
            if width is not None and len(line) >= width:  # a wrapped line could not be rewritten
                line = line[: width - 4] + "..."
            self.stream.write("\r" + line.ljust(self._shown))
            self._shown = len(line)
        elif self.verbose:
            self.stream.write(line + "\n")
        else:
            return
        self.stream.flush()

    def finish(self) -> None:
        """End the live line (a newline), so what follows starts on a fresh line."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _width(stream: Any) -> Optional[int]:
    """The terminal's width, or ``None`` when unknown (a new pty reports 0 columns)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None
    return max(columns, 20) if columns > 0 else None
