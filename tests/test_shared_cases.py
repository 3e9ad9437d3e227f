"""Every scenario of ``tests/cases.py`` against every transport: same cases, same outcomes.

The synchronous front is :func:`httsleep.httsleep` on requests, the asyncio
front :func:`httsleep.async_httsleep` on httpx and on aiohttp (run with
``asyncio.run``); all poll a pytest-httpserver on loopback in testing mode
(no real waits).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, List

import pytest
from cases import CASES, Alarmed, Case, GaveUp, Raised, Returned
from werkzeug import Request, Response

from httsleep import GaveUp as GaveUpError
from httsleep import async_httsleep, httsleep
from httsleep.exceptions import Alarm, AsyncGaveUp, StopPolling
from httsleep.testing import no_waiting


def _sync(url: str, kwargs: Dict[str, Any]) -> Any:
    return httsleep(url, **kwargs)


def _async(url: str, kwargs: Dict[str, Any]) -> Any:
    return asyncio.run(async_httsleep(url, **kwargs))


def _aiohttp(url: str, kwargs: Dict[str, Any]) -> Any:
    import aiohttp

    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            return await async_httsleep(url, client=session, **kwargs)

    return asyncio.run(main())


FRONTS: Dict[str, Callable[[str, Dict[str, Any]], Any]] = {"sync": _sync, "async": _async, "aiohttp": _aiohttp}
GIVE_UP_ERROR = {"sync": StopPolling, "async": AsyncGaveUp, "aiohttp": AsyncGaveUp}


def _serve(httpserver: Any, script: List[Dict[str, Any]]) -> List[int]:
    """Answer ``script`` in order (the last repeating); returns the list that counts requests."""
    served: List[int] = []

    def handler(request: Request) -> Response:
        item = script[min(len(served), len(script) - 1)]
        served.append(1)
        if "json" in item:
            body, content_type = json.dumps(item["json"]), "application/json"
        else:
            body, content_type = item.get("text", ""), "text/plain"
        return Response(
            body,
            status=item.get("status", 200),
            headers=item.get("headers", {}),
            content_type=item.get("content_type", content_type),
        )

    httpserver.expect_request("/job").respond_with_handler(handler)
    return served


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("front", sorted(FRONTS))
def test_case(front: str, case: Case, httpserver: Any) -> None:
    """Both fronts observe the same outcome, request count and waits for each scenario."""
    served = _serve(httpserver, case.responses)
    waits: List[float] = []
    kwargs = dict(case.kwargs, on_attempt=lambda attempt: waits.append(attempt.wait) if attempt.wait else None)
    url = httpserver.url_for("/job")
    expected = case.expected

    with no_waiting():
        if isinstance(expected, Returned):
            response = FRONTS[front](url, kwargs)
            assert (response.status_code, response.text) == (expected.status, expected.text)
        elif isinstance(expected, Alarmed):
            with pytest.raises(Alarm) as alarm:
                FRONTS[front](url, kwargs)
            assert alarm.value.response.status_code == expected.status
        elif isinstance(expected, GaveUp):
            with pytest.raises(GIVE_UP_ERROR[front]) as gave_up:
                FRONTS[front](url, kwargs)
            assert isinstance(gave_up.value, GaveUpError)
            assert gave_up.value.limit == expected.limit
            assert gave_up.value.attempts == len(served)
        else:
            assert isinstance(expected, Raised)
            with pytest.raises(expected.error):
                FRONTS[front](url, kwargs)

    assert case.requests is not None, "every case says how many requests it makes"
    assert len(served) == case.requests
    if case.waits is not None:
        assert waits == case.waits


def test_async_give_up_is_not_a_stopiteration() -> None:
    """PEP 479: the asyncio give-up error must not be a StopIteration; both share GaveUp."""
    assert not issubclass(AsyncGaveUp, StopIteration)
    assert issubclass(StopPolling, StopIteration)
    assert issubclass(AsyncGaveUp, GaveUpError) and issubclass(StopPolling, GaveUpError)
