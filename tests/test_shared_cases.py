"""Every scenario of ``tests/cases.py`` against every transport: same cases, same outcomes.

The synchronous front is :func:`httsleep.httsleep` on requests, the asyncio
front :func:`httsleep.async_httsleep` on httpx and on aiohttp (run with
``asyncio.run``); they poll a pytest-httpserver on loopback in testing mode
(no real waits). The same cases also run on both fronts through the
in-memory transport (:mod:`httsleep.transports.memory`) with every socket
refused: the transport contract is all a poll needs.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, Callable, Dict, List

import pytest
from cases import CASES, Alarmed, Case, GaveUp, Raised, Returned
from werkzeug import Request, Response

from httsleep import GaveUp as GaveUpError
from httsleep import async_httsleep, httsleep
from httsleep.exceptions import Alarm, AsyncGaveUp, StopPolling
from httsleep.testing import no_waiting
from httsleep.transports.memory import MemoryClient, MemoryResponse


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
GIVE_UP_ERROR = {"sync": StopPolling, "async": AsyncGaveUp, "aiohttp": AsyncGaveUp,
                 "memory-sync": StopPolling, "memory-async": AsyncGaveUp}


def _memory_responses(script: List[Dict[str, Any]]) -> List[MemoryResponse]:
    """The script as the in-memory server's responses (the same bodies and headers as _serve's)."""
    responses = []
    for item in script:
        headers = dict(item.get("headers", {}))
        if "json" in item:
            body, content_type = json.dumps(item["json"]).encode(), "application/json"
        else:
            body, content_type = item.get("text", "").encode(), "text/plain"
        headers["Content-Type"] = item.get("content_type", content_type)
        responses.append(MemoryResponse(item.get("status", 200), content=body, headers=headers))
    return responses


def _no_sockets(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the in-memory transport opened a socket")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("front", ["memory-sync", "memory-async"])
def test_case_through_the_memory_transport(front: str, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same outcome, request count and waits with no socket at all."""
    server = MemoryClient(_memory_responses(case.responses))
    monkeypatch.setattr(socket.socket, "connect", _no_sockets)
    monkeypatch.setattr(socket, "create_connection", _no_sockets)
    waits: List[float] = []
    kwargs = dict(case.kwargs, on_attempt=lambda attempt: waits.append(attempt.wait) if attempt.wait else None)
    url = "http://jobs.example/job"

    def poll() -> Any:
        if front == "memory-sync":
            return httsleep(url, session=server, **kwargs)
        return asyncio.run(async_httsleep(url, client=server, **kwargs))

    _check(front, case, poll, lambda: len(server.requests))
    assert len(server.requests) == case.requests
    if case.waits is not None:
        assert waits == case.waits


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
    _check(front, case, lambda: FRONTS[front](url, kwargs), lambda: len(served))

    assert case.requests is not None, "every case says how many requests it makes"
    assert len(served) == case.requests
    if case.waits is not None:
        assert waits == case.waits


def _check(front: str, case: Case, poll: Callable[[], Any], requests_made: Callable[[], int]) -> None:
    """Run ``poll`` in testing mode and check the outcome a user observes against ``case.expected``."""
    expected = case.expected
    with no_waiting():
        if isinstance(expected, Returned):
            response = poll()
            assert (response.status_code, response.text) == (expected.status, expected.text)
        elif isinstance(expected, Alarmed):
            with pytest.raises(Alarm) as alarm:
                poll()
            assert alarm.value.response.status_code == expected.status
        elif isinstance(expected, GaveUp):
            with pytest.raises(GIVE_UP_ERROR[front]) as gave_up:
                poll()
            assert isinstance(gave_up.value, GaveUpError)
            assert gave_up.value.limit == expected.limit
            assert gave_up.value.attempts == requests_made()
        else:
            assert isinstance(expected, Raised)
            with pytest.raises(expected.error):
                poll()


def test_async_give_up_is_not_a_stopiteration() -> None:
    """PEP 479: the asyncio give-up error must not be a StopIteration; both share GaveUp."""
    assert not issubclass(AsyncGaveUp, StopIteration)
    assert issubclass(StopPolling, StopIteration)
    assert issubclass(AsyncGaveUp, GaveUpError) and issubclass(StopPolling, GaveUpError)
