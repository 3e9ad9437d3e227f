"""Exceptions raised by httsleep.

Every exception httsleep raises on purpose derives from :class:`HttSleepError`::

    HttSleepError
    ├── Alarm                 a response matched an alarm condition
    ├── ArgumentTypeError     an argument has the wrong type (also a TypeError and a ValueError)
    ├── CircuitBrokenError    a circuit breaker refused the call
    ├── GaveUp                the poll ran out of attempts or time
    │   ├── StopPolling       ... raised by the synchronous API (also a StopIteration)
    │   ├── AsyncGaveUp       ... raised by the asyncio API
    │   └── PollTimeout       ... raised by httsleep.resilience.poll (also a TimeoutError)
    └── BodyError             a response body could not be used
        ├── BodyTooLarge      ... it is larger than max_body_size
        ├── BodyDecodingError ... it is not valid for its Content-Encoding
        └── JSONTooDeep       ... its JSON is nested too deeply (also a ValueError)

:class:`StopPolling` is a :class:`StopIteration` so that code written for
httsleep 0.3.1 (``except StopIteration:``) keeps working. A ``StopIteration``
cannot cross a coroutine boundary (PEP 479 turns it into ``RuntimeError``), so
the asyncio API raises :class:`AsyncGaveUp` instead. Catch :class:`GaveUp` to
handle both.
"""

from __future__ import annotations

from typing import Any, Optional

from ._compat import AlarmAttributes

__all__ = [
    "Alarm",
    "ArgumentTypeError",
    "AsyncGaveUp",
    "BodyDecodingError",
    "BodyError",
    "BodyTooLarge",
    "CircuitBrokenError",
    "GaveUp",
    "HttSleepError",
    "JSONTooDeep",
    "StopPolling",
]


class HttSleepError(Exception):
    """Base class of every exception httsleep raises on purpose.

    They all survive being sent to another process, attributes included:

    - pickling (a ``ProcessPoolExecutor`` worker, Celery's pickle
      serializer), with every attribute;
    - ``type(e)(*e.args)``, which is how job engines rebuild an exception
      from JSON (Celery's JSON result backend, RQ, Dramatiq): ``args`` holds
      the message first, then the attributes that are plain data (``limit``,
      ``attempts``, ``time_remaining``...); objects such as the last
      response are left out of ``args`` and are ``None`` after such a
      rebuild. ``str(e)`` is the message, however many ``args`` there are.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> Any:
        # Rebuilt without calling __init__ (an attribute that is not plain data, such as a response,
        # is not in args), then given every attribute back.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type, args: tuple) -> BaseException:
    error: BaseException = cls.__new__(cls, *args)
    error.args = args
    return error


class ArgumentTypeError(HttSleepError, TypeError, ValueError):
    """An argument has the wrong type: ``timeout='5'``, ``headers=[...]``, ``max_retries=2.5``.

    It is a :class:`TypeError`, and also a :class:`ValueError` because
    httsleep 0.3.1 raised ``ValueError`` for such arguments (it converted
    them with ``int()``), so code written for it catches this too. The
    message names the argument and quotes the value it was given.
    """


class Alarm(AlarmAttributes, HttSleepError):
    """A response matched an alarm condition.

    :ivar response: the response that matched.
    :ivar alarm: the alarm condition that matched, as the caller wrote it
        (the dict passed in ``alarms``).
    :ivar condition: the compiled :class:`~httsleep.conditions.Condition`,
        whose ``repr`` names every check it made.
    :ivar body: the start of the response's body (at most 200 characters),
        redacted and made printable by the poll that raised the alarm;
        ``""`` when the body is empty.
    :ivar target: the poll's request, ``"GET http://host/job/1"``, with its
        credentials redacted; ``""`` when the alarm was built without it.

    The message names the request (with 100 polls running, which job
    failed), the condition, the status, and what the server said: the start
    of the body.
    """

    def __init__(
        self,
        response: Any,
        alarm_condition: Any = None,
        condition: Any = None,
        body: str = "",
        target: str = "",
        status: Optional[int] = None,
    ) -> None:
        if isinstance(response, str):  # rebuilt from args: (message, alarm, None, body, target, status)
            message, response = response, None
        else:
            message = ""
        self.response = response
        self.alarm = alarm_condition
        self.condition = condition
        self.body = body
        self.target = target
        #: the status code of the response that matched (kept when the response is not)
        self.status = getattr(response, "status_code", None) if response is not None else status
        if not message:
            message = self._message()
        super().__init__(message, alarm_condition, None, body, target, self.status)

    def _message(self) -> str:
        described = self.condition if self.condition is not None else self.alarm
        message = "response matched an alarm condition: {!r}".format(described)
        if self.target:
            message = "{}: {}".format(self.target, message)
        said = ["HTTP {}".format(self.status)] if self.status is not None else []
        if self.body:
            said.append("body: {}".format(self.body))
        if said:
            message += " ({})".format("; ".join(said))
        return message


class CircuitBrokenError(HttSleepError):
    """A circuit breaker is open and refused the call without making it.

    :ivar time_remaining: seconds until the breaker lets a trial call through.

    Both arguments are optional, as in poll 1.0 (``CircuitBrokenError()``).
    """

    def __init__(self, message: str = "", time_remaining: float = 0.0) -> None:
        super().__init__(message, time_remaining)
        self.time_remaining = time_remaining


class GaveUp(HttSleepError):
    """The poll stopped without a match because a limit ran out.

    Do not raise this class directly: the synchronous API raises
    :class:`StopPolling`, the asyncio API :class:`AsyncGaveUp`. Both carry:

    :ivar limit: which limit ran out: ``"max_retries"``, ``"timeout"``, or
        ``"rate_limit"`` (the rate limit had no slot before the deadline).
    :ivar attempts: how many requests were made.
    :ivar elapsed: seconds from the start of the poll until giving up.
    :ivar last_response: the last response received, or ``None``.
    :ivar last_exception: the exception of the last attempt, or ``None``
        if the last attempt produced a response. The give-up error is also
        raised ``from`` it.
    """

    def __init__(
        self,
        message: str,
        limit: str = "",
        attempts: int = 0,
        elapsed: float = 0.0,
        last_response: Any = None,
        last_exception: Optional[BaseException] = None,
    ) -> None:
        super().__init__(message, limit, attempts, elapsed)
        self.args = (message, limit, attempts, elapsed)  # an OSError base (PollTimeout) keeps only two of them
        self.limit = limit
        self.attempts = attempts
        self.elapsed = elapsed
        self.last_response = last_response
        self.last_exception = last_exception


class StopPolling(GaveUp, StopIteration):
    """Raised by :func:`httsleep.httsleep` and :meth:`HttSleeper.run` on giving up.

    It is a :class:`StopIteration`, as httsleep 0.3.1 documented, and a
    :class:`GaveUp` with the context of the last attempt.
    """


class AsyncGaveUp(GaveUp):
    """Raised by the asyncio API on giving up (not a :class:`StopIteration`)."""


class BodyError(HttSleepError):
    """A response arrived, but its body could not be used.

    None of these is a network error: :func:`httsleep.is_temp_network_error`
    says ``False`` and ``retry_transient=True`` does not retry them (list
    them in ``ignore_exceptions`` to keep polling through them).

    :ivar response: the response whose body it is (for :class:`BodyTooLarge`
        and :class:`BodyDecodingError`, without its body), or ``None``.
    """

    response: Any = None


class BodyTooLarge(BodyError):
    """The decoded body is larger than ``max_body_size``; reading stopped there.

    The rest of the body was not read: the connection is closed. The
    limit counts decoded bytes, so a small gzip body that inflates past it
    is refused too.

    The bodies of the redirects an attempt followed count too: ``limit``
    bounds the whole attempt, not each hop.

    :ivar limit: the limit in bytes (``max_body_size``).
    :ivar size: how many decoded bytes had arrived when reading stopped
        (more than ``limit``), the redirects' bodies included.
    :ivar earlier: how many of those came with the redirects before this
        response (0 without redirects).
    :ivar raw: the raw (content-encoded) bytes received, when they are what
        ran over: a body that keeps sending bytes that decode to nothing
        stops after ``2 * max_body_size + 1 MiB`` of them; else ``None``.
    """

    def __init__(
        self,
        limit: int,
        size: int,
        response: Any = None,
        earlier: int = 0,
        raw: Optional[int] = None,
        status: Optional[int] = None,
    ) -> None:
        if response is not None:
            status = getattr(response, "status_code", None)
        where = " (HTTP {})".format(status) if status is not None else ""
        if raw is not None:
            message = ("the response body{} sent more than {} content-encoded bytes (2 x max_body_size={} + 1 MiB) "
                       "that decoded to {} bytes: reading stopped".format(where, raw, limit, size))
        else:
            message = "the response body{} is larger than max_body_size={} bytes: reading stopped after {} bytes{}"
            message = message.format(
                where, limit, size, ", {} of them in the redirects before it".format(earlier) if earlier else ""
            )
        super().__init__(message)
        self.args = (limit, size, None, earlier, raw, status)  # what rebuilds it: type(e)(*e.args)
        self._message = message
        self.limit = limit
        self.size = size
        self.earlier = earlier
        self.raw = raw
        self.status = status
        self.response = response

    def __str__(self) -> str:
        return self._message


class BodyDecodingError(BodyError):
    """The body is not valid for its ``Content-Encoding`` (a broken gzip or deflate stream).

    The error a poll raises is also its HTTP library's own decoding error:
    ``requests.exceptions.ContentDecodingError`` on the synchronous API,
    ``httpx.DecodingError`` on the asyncio API.
    """


class JSONTooDeep(BodyError, ValueError):
    """The body is JSON nested too deeply to decode or search (Python's recursion limit).

    It is a ``ValueError``, like the error of a body that is not JSON at
    all, and is treated the same way: a ``json`` or ``jsonpath`` condition
    cannot be judged on this response, so the others decide, and if none
    matched it propagates; ``ignore_exceptions=[ValueError]`` polls on.
    """

    def __init__(self, message: str = "the JSON body is nested too deeply to decode", response: Any = None) -> None:
        super().__init__(message)
        self.response = response
