"""The progress report of the command line and the demo: an ``on_attempt`` hook.

:class:`Progress` writes to a text stream (stderr, for the command line) in
one of three ways:

- **live**, on a terminal: one status line, rewritten in place after every
  attempt, and every second while it waits for the next one ("next try in
  42s"), so that a long ``Retry-After`` (or a wait for a slot of the rate
  limit: "rate limit: sending in 3s") does not look like a hang;
- **lines**, anywhere else (a CI log, a file): one line per attempt, at
  most one every ``every`` seconds (every attempt with ``every=0``), and
  always the last one, so that a log shows the poll is alive without
  filling up;
- **quiet**: nothing.

Every line is redacted and made printable: server text cannot move the
cursor of the terminal it is written to.

:class:`BestEffortStream` wraps a stream that nobody may be reading (the
command's stderr): what cannot be written is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from typing import IO, Any, Callable, Optional, Protocol

from .policy import Attempt, describe_response
from .redaction import printable, redact_text

__all__ = ["LINES", "LIVE", "QUIET", "BestEffortStream", "Progress", "TextSink", "describe_attempt"]

LIVE = "live"
LINES = "lines"
QUIET = "quiet"

_FINAL = ("success", "alarm", "gave_up", "error")


class TextSink(Protocol):
    """What :class:`Progress` writes to: a text stream, or a :class:`BestEffortStream`."""

    def write(self, text: str) -> Any: ...  # pragma: no cover - a protocol

    def flush(self) -> Any: ...  # pragma: no cover - a protocol


class BestEffortStream:
    """A text stream for messages nobody may be reading: what cannot be written is dropped.

    The command's stderr can be closed (``2>&-``: ``sys.stderr`` is then
    ``None``), full (``2>/dev/full``), or a pipe whose reader has gone. The
    outcome of a poll must not depend on it: the first write or flush that
    fails marks the stream :attr:`broken`, and from then on everything is
    dropped, silently (there is nowhere left to say so).

    :param stream: the stream to write to, or ``None`` when there is none.
    """

    def __init__(self, stream: Optional[IO[str]]) -> None:
        self.stream = stream
        #: ``True`` once writing failed (or from the start, without a stream)
        self.broken = stream is None
        #: the error that broke it, if any
        self.error: Optional[Exception] = None

    def write(self, text: str) -> int:
        """Write ``text`` and flush it, or drop it; return its length either way.

        Flushed at once: a buffered write "succeeds" even into a full disk,
        and the failure would only come when Python flushes its streams on
        exit, turning the command's exit code into 120.
        """
        if self.stream is not None and not self.broken:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError) as error:  # ValueError: the stream was closed by its owner
                self._break(error)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None and not self.broken:
            try:
                self.stream.flush()
            except (OSError, ValueError) as error:
                self._break(error)

    def _break(self, error: Exception) -> None:
        """Stop writing; what the stream still buffers goes to the null device when Python flushes it on exit."""
        self.broken, self.error = True, error
        with contextlib.suppress(OSError, ValueError, AttributeError):
            descriptor = self.stream.fileno() if self.stream is not None else -1
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, descriptor)
            finally:
                os.close(devnull)

    def isatty(self) -> bool:
        return not self.broken and _is_terminal(self.stream)

    def fileno(self) -> int:
        """The underlying stream's file descriptor (for the terminal's width)."""
        if self.stream is None:
            raise OSError(errno.EBADF, "no stream")
        return self.stream.fileno()


def describe_attempt(
    attempt: Attempt, detail: Optional[Callable[[Any], str]] = None, wait: Optional[float] = None
) -> str:
    """``attempt 2 | 0.41s elapsed | HTTP 200 OK status="RUNNING" | next try in 0.20s``.

    A wait for a slot of the rate limit (``"throttled"``, nothing sent yet):
    ``attempt 3 | 0.62s elapsed | rate limit: sending in 0.10s``.

    ``wait``: the seconds left before the next try, if not the whole wait.
    """
    if attempt.outcome == "throttled":
        left = (attempt.wait or 0.0) if wait is None else wait
        return redact_text(" | ".join([
            "attempt {}".format(attempt.number),
            "{:.2f}s elapsed".format(attempt.elapsed),
            "rate limit: sending in {}".format("{:.2f}s".format(left) if wait is None else "{:.0f}s".format(left)),
        ]))
    if attempt.response is not None:
        last = describe_response(attempt.response)
        if attempt.response.status_code == 304:
            last += " (unchanged)"
        elif detail is not None:
            extra = detail(attempt.response)
            if extra:
                last += " " + extra
    elif attempt.exception is not None:
        last = type(attempt.exception).__name__
    else:  # pragma: no cover - an attempt has a response or an exception
        last = "no response"
    parts = ["attempt {}".format(attempt.number), "{:.2f}s elapsed".format(attempt.elapsed), last]
    if attempt.outcome == "retry":
        left = (attempt.wait or 0.0) if wait is None else wait
        parts.append("next try in {}{}".format(
            "{:.2f}s".format(left) if wait is None else "{:.0f}s".format(left),
            " (Retry-After)" if attempt.wait_reason == "Retry-After" else "",
        ))
    else:
        parts.append(
            {"success": "matched", "alarm": "ALARM", "gave_up": "gave up", "error": "failed"}.get(
                attempt.outcome, attempt.outcome
            )
        )
    return redact_text(" | ".join(parts))


class Progress:
    """An ``on_attempt`` hook that reports each attempt on ``stream``.

    :param stream: a text stream, usually ``sys.stderr`` (the command line
        passes it wrapped in a :class:`BestEffortStream`).
    :param mode: :data:`LIVE`, :data:`LINES` or :data:`QUIET`; default: live
        on a terminal, lines elsewhere.
    :param every: in lines mode, the fewest seconds (of the poll's clock)
        between two lines (the first attempt and the last are always shown;
        0: every attempt).
    :param detail: called with each response; its text is added after the status.
    :param prefix: put in front of every line.
    :param redact: applied to every line before it is written (e.g. to hide secrets).
    :param clock: seconds, for the countdown.
    :param tick: seconds between two updates of the live line while waiting
        (0: no countdown).

    Call :meth:`finish` when the poll is over: it ends the live line and stops the countdown.
    """

    def __init__(
        self,
        stream: TextSink,
        *,
        mode: Optional[str] = None,
        every: float = 0.0,
        detail: Optional[Callable[[Any], str]] = None,
        prefix: str = "",
        redact: Callable[[str], str] = redact_text,
        clock: Callable[[], float] = time.monotonic,
        tick: float = 1.0,
    ) -> None:
        self.stream = stream
        self.mode = mode if mode is not None else (LIVE if _is_terminal(stream) else LINES)
        self.every = every
        self.detail = detail
        self.prefix = prefix
        self.redact = redact
        self.clock = clock
        self.tick = tick
        self._shown = 0  # length of the live line on screen, 0 when none
        self._last_line: Optional[float] = None  # when the last line was written, in lines mode
        self._lock = threading.Lock()
        self._waiting: Optional[threading.Event] = None  # set to stop the countdown
        self._until = 0.0  # when the current wait ends (clock)
        #: the last attempt reported
        self.last: Optional[Attempt] = None

    def say(self, message: str) -> None:
        """Write one line (not in quiet mode), ending the live line first."""
        if self.mode == QUIET:
            return
        with self._lock:
            self._end_live_line()
            self.stream.write(self._clean(self.prefix + message) + "\n")
            self.stream.flush()

    def __call__(self, attempt: Attempt) -> None:
        self._stop_countdown()
        self.last = attempt
        if self.mode == QUIET:
            return
        with self._lock:
            if self.mode == LIVE:
                self._live(describe_attempt(attempt, self.detail))
            else:  # the poll's own clock: in testing mode it counts the waits it skipped
                due = self._last_line is None or attempt.elapsed - self._last_line >= self.every
                if not (due or attempt.outcome in _FINAL):
                    return
                self._last_line = attempt.elapsed
                self.stream.write(self._clean(self.prefix + describe_attempt(attempt, self.detail)) + "\n")
                self.stream.flush()
        if (self.mode == LIVE and attempt.outcome in ("retry", "throttled") and self.tick > 0
                and (attempt.wait or 0) >= 2 * self.tick):
            self._start_countdown(attempt)

    def finish(self) -> None:
        """End the live line (a newline), so what follows starts on a fresh line."""
        self._stop_countdown()
        with self._lock:
            self._end_live_line()

    # -- the live line --------------------------------------------------------------

    def _clean(self, line: str) -> str:
        return printable(self.redact(line))

    def _live(self, text: str) -> None:
        line = self._clean(self.prefix + text)
        width = _width(self.stream)
        if width is not None and len(line) >= width:  # a wrapped line could not be rewritten
            line = line[: width - 4] + "..."
        self.stream.write("\r" + line.ljust(self._shown))
        self.stream.flush()
        self._shown = len(line)

    def _end_live_line(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0

    def _start_countdown(self, attempt: Attempt) -> None:
        self._until = self.clock() + (attempt.wait or 0.0)
        stop = self._waiting = threading.Event()
        countdown = threading.Thread(target=self._count_down, args=(attempt, stop), name="httsleep-progress")
        countdown.daemon = True
        countdown.start()

    def _count_down(self, attempt: Attempt, stop: threading.Event) -> None:
        while not stop.wait(self.tick):
            self.show_countdown(attempt, stop)

    def show_countdown(self, attempt: Attempt, stop: Optional[threading.Event] = None) -> None:
        """Rewrite the live line with the seconds left before the next try (the countdown thread calls it)."""
        with self._lock:
            if (stop is not None and stop.is_set()) or self.last is not attempt:
                return
            left = max(self._until - self.clock(), 0.0)
            self._live(describe_attempt(attempt, self.detail, wait=left))

    def _stop_countdown(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.set()


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
