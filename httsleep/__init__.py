"""httsleep: poll HTTP endpoints until the response matches declarative conditions.

>>> from httsleep import httsleep
>>> # response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200})

The asyncio API (:class:`AsyncHttSleeper`, :func:`async_httsleep`) needs
the ``async`` extra (``pip install httsleep[async]``) and is imported on
first use.
"""

from __future__ import annotations

import logging
from typing import Any

from .exceptions import Alarm, AsyncGaveUp, CircuitBrokenError, GaveUp, HttSleepError, StopPolling
from .main import HttSleeper, httsleep
from .policy import Attempt
from .resilience import CircuitBreaker, circuitbreaker, poll, poll_, retry, retry_
from .transient import is_temp_network_error
from .waits import Constant, Exponential, FullJitter

__version__ = "1.0.0"

__all__ = [
    "Alarm",
    "AsyncGaveUp",
    "AsyncHttSleeper",
    "Attempt",
    "CircuitBreaker",
    "CircuitBrokenError",
    "Constant",
    "Exponential",
    "FullJitter",
    "GaveUp",
    "HttSleepError",
    "HttSleeper",
    "StopPolling",
    "async_httsleep",
    "circuitbreaker",
    "httsleep",
    "is_temp_network_error",
    "poll",
    "poll_",
    "retry",
    "retry_",
]

logging.getLogger("httsleep").addHandler(logging.NullHandler())

_ASYNC_NAMES = ("AsyncHttSleeper", "async_httsleep")


def __getattr__(name: str) -> Any:
    if name in _ASYNC_NAMES:
        from . import aio

        return getattr(aio, name)
    raise AttributeError("module 'httsleep' has no attribute {!r}".format(name))
