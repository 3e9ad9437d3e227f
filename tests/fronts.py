"""The three ways a poll can send its requests, for tests that run on every one.

- ``"sync"``: :class:`httsleep.HttSleeper` on requests;
- ``"async"``: :class:`httsleep.AsyncHttSleeper` on httpx (the client polls
  share when aiohttp is not installed, made the default here);
- ``"aiohttp"``: :class:`httsleep.AsyncHttSleeper` on aiohttp (the default:
  the session polls on one event loop share).
"""

from __future__ import annotations

import asyncio
import contextlib
import unittest.mock
from typing import Any, Iterator

import httsleep.aio
from httsleep import AsyncHttSleeper, HttSleeper

FRONTS = ["sync", "async", "aiohttp"]


@contextlib.contextmanager
def aiohttp_by_default(on: bool = True) -> Iterator[None]:
    """Make the asyncio polls given no client share an aiohttp session (``on``), else each open an httpx client.

    aiohttp is the default when installed; httpx is when it is not.
    """
    library = "aiohttp" if on else "httpx"
    with unittest.mock.patch.object(httsleep.aio, "_default_library", lambda: library):
        yield


def sleeper(front: str, url_or_request: Any, **options: Any) -> Any:
    """The poller of ``front``, built with ``options`` (construct it inside :func:`aiohttp_by_default`)."""
    return (HttSleeper if front == "sync" else AsyncHttSleeper)(url_or_request, **options)


def run(front: str, url_or_request: Any, **options: Any) -> Any:
    """Poll on ``front`` with the poll's own session or client; return the response (or raise)."""
    if front == "sync":
        return HttSleeper(url_or_request, **options).run()
    with aiohttp_by_default(front == "aiohttp"):
        return asyncio.run(AsyncHttSleeper(url_or_request, **options).run())
