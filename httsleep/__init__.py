"""httsleep: poll HTTP endpoints until the response matches declarative conditions.

>>> from httsleep import httsleep
>>> # response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200})

The public names below are imported on first use, so that ``import
httsleep`` (and the ``httsleep`` command starting up) does not pay for
requests or httpx until they are needed; this module itself imports
nothing but :mod:`importlib`. The asyncio API
(:class:`AsyncHttSleeper`, :func:`async_httsleep`, :func:`async_poll_many`) needs the ``async``
extra (``pip install httsleep[async]``).
"""

from __future__ import annotations

import importlib as _importlib

# typing.TYPE_CHECKING, without importing typing: type checkers take any TYPE_CHECKING as true
TYPE_CHECKING = False

__version__ = "1.0.0"

__all__ = [
    "Alarm",
    "ArgumentTypeError",
    "AsyncGaveUp",
    "AsyncHttSleeper",
    "Attempt",
    "BodyDecodingError",
    "BodyError",
    "BodyTooLarge",
    "CircuitBreaker",
    "CircuitBrokenError",
    "Constant",
    "Exponential",
    "FullJitter",
    "GaveUp",
    "HttSleepError",
    "HttSleeper",
    "JSONTooDeep",
    "PollState",
    "RateLimit",
    "Step",
    "StopPolling",
    "async_httsleep",
    "async_poll_many",
    "circuitbreaker",
    "exec_",
    "httsleep",
    "is_temp_network_error",
    "poll",
    "poll_",
    "poll_many",
    "retry",
    "retry_",
]

# name -> the module that defines it
_HOMES = {
    "Alarm": "exceptions",
    "AsyncGaveUp": "exceptions",
    "BodyDecodingError": "exceptions",
    "BodyError": "exceptions",
    "BodyTooLarge": "exceptions",
    "ArgumentTypeError": "exceptions",
    "CircuitBrokenError": "exceptions",
    "GaveUp": "exceptions",
    "HttSleepError": "exceptions",
    "JSONTooDeep": "exceptions",
    "StopPolling": "exceptions",
    "AsyncHttSleeper": "aio",
    "async_httsleep": "aio",
    "async_poll_many": "many",
    "poll_many": "many",
    "Attempt": "state",
    "PollState": "state",
    "Step": "policy",
    "RateLimit": "ratelimit",
    "CircuitBreaker": "resilience",
    "circuitbreaker": "resilience",
    "exec_": "resilience",
    "poll": "resilience",
    "poll_": "resilience",
    "retry": "resilience",
    "retry_": "resilience",
    "Constant": "waits",
    "Exponential": "waits",
    "FullJitter": "waits",
    "HttSleeper": "main",
    "httsleep": "main",
    "is_temp_network_error": "transient",
}
# submodules httsleep 0.3.1 code may reach as attributes after ``import httsleep``
_SUBMODULES = frozenset(
    {"aio", "conditions", "exceptions", "main", "messages", "policy", "ratelimit", "redaction", "resilience", "state",
     "testing", "transient", "waits"}
)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on first use
    from typing import Any, List

    from .aio import AsyncHttSleeper, async_httsleep
    from .exceptions import (
        Alarm,
        ArgumentTypeError,
        AsyncGaveUp,
        BodyDecodingError,
        BodyError,
        BodyTooLarge,
        CircuitBrokenError,
        GaveUp,
        HttSleepError,
        JSONTooDeep,
        StopPolling,
    )
    from .main import HttSleeper, httsleep
    from .many import async_poll_many, poll_many
    from .policy import Step
    from .ratelimit import RateLimit
    from .resilience import CircuitBreaker, circuitbreaker, exec_, poll, poll_, retry, retry_
    from .state import Attempt, PollState
    from .transient import is_temp_network_error
    from .waits import Constant, Exponential, FullJitter
del TYPE_CHECKING  # not a public name


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(_importlib.import_module("." + home, __name__), name)
        globals()[name] = value  # found directly from now on
        return value
    if name in _SUBMODULES:
        return _importlib.import_module("." + name, __name__)
    raise AttributeError("module 'httsleep' has no attribute {!r}".format(name))


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
