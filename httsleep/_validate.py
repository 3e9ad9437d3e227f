"""Argument checks shared by every public entry point.

Each check takes the value and the name of the argument it came from, and
either returns the value in its normal form or raises an error whose
message names the argument and quotes the bad value. Wrong types raise
:class:`~httsleep.exceptions.ArgumentTypeError`, which is both a
:class:`TypeError` and a :class:`ValueError`: httsleep 0.3.1 raised
``ValueError`` for them (it converted with ``int()``), and code written for
it catches that.

Nothing here does I/O; the only httsleep module it imports is ``exceptions``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, FrozenSet, Iterable, Optional, Tuple, Type, cast

from .exceptions import ArgumentTypeError

__all__ = [
    "MAX_SECONDS",
    "ArgumentTypeError",
    "async_circuit_breaker",
    "callable_or_none",
    "check_callable",
    "circuit_breaker",
    "error_handler",
    "exception_types",
    "flag",
    "hooks",
    "is_coroutine_function",
    "iterable_of",
    "log_level",
    "max_body_size",
    "max_retries",
    "non_negative_int",
    "not_blocking",
    "optional_seconds",
    "positive_int",
    "request_timeout",
    "required_exception_types",
    "retry_after_statuses",
    "seconds",
    "shorten",
    "sync_function",
]

#: The longest duration any argument may give, in seconds (about 31 years).
#: Longer values overflow the operating system's timers (``time.sleep(1e10)``
#: raises ``OverflowError``); "no limit" is spelt ``None``.
MAX_SECONDS = 1e9


def shorten(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: messages quote arguments, never whole megabytes."""
    try:
        text = repr(value)
    except Exception:  # a repr that raises: say what it was instead
        text = "<{} object>".format(type(value).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def seconds(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    infinite: bool = False,
    allow_str: bool = False,
    or_none: bool = False,
) -> float:
    """``value`` as a number of seconds: the one check of every duration in httsleep.

    :param positive: 0 is refused too.
    :param infinite: ``inf`` is accepted (the caller treats it as "no limit");
        otherwise values above :data:`MAX_SECONDS` are refused.
    :param allow_str: a numeric string (``"5"``, from a config file or the
        environment) is converted, as httsleep 0.3.1's ``int()`` did.
    :param or_none: the caller accepts ``None`` (and handles it before
        calling): the message says so.
    :raises ArgumentTypeError: ``value`` is not a number (a bool is not one).
    :raises ValueError: ``value`` is out of range.
    """
    expected = "a number of seconds{}".format(" or None" if or_none else "")
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real) or (allow_str and isinstance(value, str))
    ):
        raise ArgumentTypeError("{} must be {}, not {}".format(name, expected, shorten(value)))
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("{} is too large: {}".format(name, shorten(value))) from None
    except (TypeError, ValueError):
        raise ValueError("{} must be {}, not {}".format(name, expected, shorten(value))) from None
    if math.isnan(number) or number < 0 or (positive and number == 0):
        raise ValueError(
            "{} must be a number {} 0, not {}".format(name, ">" if positive else ">=", shorten(value))
        )
    if math.isinf(number):
        if infinite:
            return number
        raise ValueError("{} must be finite, not {}".format(name, shorten(value)))
    if number > MAX_SECONDS and not infinite:
        raise ValueError(
            "{} must be at most {:g} seconds (about 31 years), not {}".format(name, MAX_SECONDS, shorten(value))
        )
    return number


def _whole_number(value: Any, name: str, expected: str) -> int:
    """An int from an int, a whole float or a numeric string; the error names ``expected``."""
    if isinstance(value, bool):
        raise ArgumentTypeError("{} must be {}, not {}".format(name, expected, shorten(value)))
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError("{} must be {}, not {}".format(name, expected, shorten(value))) from None
    if isinstance(value, numbers.Real):
        try:
            number = int(float(value))
        except (OverflowError, ValueError):  # inf, nan
            raise ValueError("{} must be {}, not {}".format(name, expected, shorten(value))) from None
        if number != value:
            raise ValueError("{} must be a whole number, not {}".format(name, shorten(value)))
        return number
    raise ArgumentTypeError("{} must be {}, not {}".format(name, expected, shorten(value)))


def max_retries(value: Any) -> Optional[int]:
    """``max_retries``: a whole number >= 0 (a numeric string too, as 0.3.1's ``int()`` took), or ``None``."""
    if value is None:
        return None
    number = _whole_number(value, "max_retries", "a whole number >= 0 or None")
    if number < 0:
        raise ValueError("max_retries must be >= 0 or None, not {}".format(shorten(value)))
    return number


def positive_int(value: Any, name: str) -> int:
    """An ``int`` >= 1 (no strings, no floats)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError("{} must be an integer, not {}".format(name, shorten(value)))
    if value < 1:
        raise ValueError("{} must be >= 1, not {}".format(name, shorten(value)))
    return int(value)


def non_negative_int(value: Any, name: str) -> int:
    """An ``int`` >= 0 (no strings, no floats)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError("{} must be an integer, not {}".format(name, shorten(value)))
    if value < 0:
        raise ValueError("{} must be >= 0, not {}".format(name, shorten(value)))
    return int(value)


def exception_types(value: Any, name: str) -> Tuple[Type[BaseException], ...]:
    """An exception class or an iterable of them, as a tuple (``None``: an empty one)."""
    if value is None:
        return ()
    items = (value,) if isinstance(value, type) else value
    if isinstance(items, (str, bytes)):
        raise ArgumentTypeError(
            "{} must be an exception class or an iterable of them, not {}".format(name, shorten(value))
        )
    try:
        items = tuple(items)
    except TypeError:
        raise ArgumentTypeError(
            "{} must be an exception class or an iterable of them, not {}".format(name, shorten(value))
        ) from None
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ArgumentTypeError("{} must contain exception classes, not {}".format(name, shorten(item)))
    return cast("Tuple[Type[BaseException], ...]", items)


def required_exception_types(value: Any, name: str) -> Tuple[Type[BaseException], ...]:
    """Like :func:`exception_types`, but at least one class: ``None`` and ``[]`` are refused."""
    if value is None:
        raise ArgumentTypeError("{} must be an exception class or an iterable of them, not None".format(name))
    items = exception_types(value, name)
    if not items:
        raise ValueError("{} must name at least one exception class, not {}".format(name, shorten(value)))
    return items


def is_coroutine_function(func: Any) -> bool:
    """Whether calling ``func`` makes a coroutine (``async def``, or an object whose ``__call__`` is one)."""
    import inspect  # here, not at the top: it costs every ``import httsleep`` ~3 ms

    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)


def sync_function(func: Any, helper: str) -> None:
    """Refuse anything but a synchronous callable (a coroutine function would never be awaited)."""
    if not callable(func):
        raise ArgumentTypeError("the function given to {}() must be callable, not {}".format(helper, shorten(func)))
    if is_coroutine_function(func):
        raise ArgumentTypeError(
            "{}() works on synchronous functions; {} is a coroutine function "
            "(for HTTP polling from asyncio use httsleep.AsyncHttSleeper)".format(helper, shorten(func))
        )


def check_callable(value: Any, name: str) -> None:
    """Refuse anything but a callable."""
    if not callable(value):
        raise ArgumentTypeError("{} must be callable, not {}".format(name, shorten(value)))


def callable_or_none(value: Any, name: str) -> None:
    """Refuse anything but a callable or ``None``."""
    if value is not None:
        check_callable(value, name)


def error_handler(on_error: Any, name: str = "on_error") -> Optional[Callable[[BaseException, int], Any]]:
    """Adapt ``on_error`` taking 0, 1 (exception) or 2 (exception, count) parameters to the 2-argument form."""
    import inspect  # here, not at the top: it costs every ``import httsleep`` ~3 ms

    if on_error is None:
        return None
    check_callable(on_error, name)
    try:
        signature = inspect.signature(on_error)
    except (TypeError, ValueError):  # some builtins have no signature: give them both arguments
        return cast("Callable[[BaseException, int], Any]", on_error)
    parameters = list(signature.parameters.values())
    positional = [
        parameter
        for parameter in parameters
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [parameter for parameter in positional if parameter.default is inspect.Parameter.empty]
    keyword_only = [
        parameter.name
        for parameter in parameters
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is inspect.Parameter.empty
    ]
    if len(required) > 2 or keyword_only:
        raise ArgumentTypeError(
            "{} must take 0, 1 (the exception) or 2 (the exception, the count) parameters; "
            "{} has the signature {}".format(name, shorten(on_error), signature)
        )
    takes_varargs = any(parameter.kind is inspect.Parameter.VAR_POSITIONAL for parameter in parameters)
    count = 2 if takes_varargs else min(len(positional), 2)
    if count == 2:
        return cast("Callable[[BaseException, int], Any]", on_error)
    if count == 1:
        return lambda exc, number: on_error(exc)
    return lambda exc, number: on_error()


def iterable_of(value: Any, name: str, what: str) -> Iterable[Any]:
    """``value`` as a tuple when it is a non-string iterable, else an :class:`ArgumentTypeError`."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ArgumentTypeError("{} must be {}, not {}".format(name, what, shorten(value)))
    return tuple(value)


def flag(value: Any, name: str) -> bool:
    """``True`` or ``False``, nothing else (``"no"`` would be true)."""
    if not isinstance(value, bool):
        raise ArgumentTypeError("{} must be True or False, not {}".format(name, shorten(value)))
    return value


def log_level(value: Any, name: str = "loglevel") -> Any:
    """A level :mod:`logging` knows: a number, or a name such as ``"DEBUG"``; returned as given."""
    import logging

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ArgumentTypeError(
            "{} must be a logging level such as logging.DEBUG or 'DEBUG', not {}".format(name, shorten(value))
        )
    if isinstance(value, int) and value < 0:
        raise ValueError("{} must not be negative, not {}".format(name, value))
    if isinstance(value, str) and not isinstance(logging.getLevelName(value), int):
        raise ValueError("{}: {} is not a logging level name (DEBUG, INFO, WARNING...)".format(name, shorten(value)))
    return value


# -- the options of a poll (HttSleeper, AsyncHttSleeper, the CLI) ----------------------------


def request_timeout(value: Any) -> Any:
    """``request_timeout``: seconds > 0, or a ``(connect, read)`` pair of them (a list is taken as a pair)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                "request_timeout must be a number or a (connect, read) pair, not {}".format(shorten(value))
            )
        return (
            seconds(value[0], "the connect timeout of request_timeout", positive=True),
            seconds(value[1], "the read timeout of request_timeout", positive=True),
        )
    return seconds(value, "request_timeout", positive=True)


def optional_seconds(value: Any, name: str) -> Optional[float]:
    """Seconds >= 0, infinity included (as good as no limit), or ``None``."""
    return None if value is None else seconds(value, name, infinite=True, or_none=True)


def max_body_size(value: Any) -> Optional[int]:
    """``max_body_size``: a whole number of bytes >= 0, or ``None`` for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError("max_body_size must be a number of bytes or None, not {}".format(shorten(value)))
    if value < 0:
        raise ValueError("max_body_size must be >= 0 or None, not {}".format(shorten(value)))
    return value


def retry_after_statuses(value: Any, default: FrozenSet[int]) -> FrozenSet[int]:
    """``retry_after``: ``True`` (``default``), ``False``/``None`` (none), or a collection of status codes."""
    if value is True:
        return default
    if value is False or value is None:
        return frozenset()
    codes = iterable_of(value, "retry_after", "True, False or a collection of status codes")
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int):
            raise ArgumentTypeError("retry_after must contain integer status codes, not {}".format(shorten(code)))
    return frozenset(codes)


def hooks(value: Any) -> Tuple[Callable[..., Any], ...]:
    """``on_attempt``: a plain callable or a list of them (never a coroutine function), as a tuple."""
    if value is None:
        return ()
    if callable(value):
        value = [value]
    found = tuple(iterable_of(value, "on_attempt", "a callable or a list of callables"))
    for hook in found:
        if not callable(hook):
            raise ArgumentTypeError(
                "on_attempt must be a callable or a list of callables, not {}".format(shorten(hook))
            )
    for hook in found:
        if is_coroutine_function(hook):
            raise ArgumentTypeError(
                "on_attempt: {} is a coroutine function, which would never be awaited: hooks are called between "
                "attempts, on both front ends; use a plain function".format(shorten(hook))
            )
    return found


def circuit_breaker(value: Any) -> Any:
    """``circuit_breaker``: ``None``, or an object with an ``admit()`` method (not a class)."""
    if value is None:
        return None
    if not callable(getattr(value, "admit", None)) or isinstance(value, type):
        raise ArgumentTypeError(
            "circuit_breaker must be a httsleep.CircuitBreaker or None, not {}".format(shorten(value))
        )
    return value


def async_circuit_breaker(value: Any) -> Any:
    """``circuit_breaker`` of the asyncio front end: as :func:`circuit_breaker`, and not one that blocks on I/O."""
    return not_blocking(circuit_breaker(value), "circuit_breaker")


def not_blocking(value: Any, name: str) -> Any:
    """An argument of the asyncio front end that must not block the event loop (a breaker, a rate limit).

    A class whose objects block on network I/O (the Redis ones) says so
    with an ``asyncio_counterpart`` attribute naming the class to use
    instead; such an object is refused.

    :raises ArgumentTypeError: ``value`` blocks.
    """
    counterpart = getattr(value, "asyncio_counterpart", None)
    if counterpart and not isinstance(value, type):
        raise ArgumentTypeError(
            "{}: {} blocks on network I/O and would stall the event loop; give AsyncHttSleeper "
            "a {} instead (same arguments, same state)".format(name, type(value).__name__, counterpart)
        )
    return value
