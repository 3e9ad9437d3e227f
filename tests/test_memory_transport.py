"""The in-memory transport: polls answered by a function or a script, with every rule of a real attempt.

What a user of :mod:`httsleep.transports.memory` meets in their own tests:
responses in order, exceptions as failed attempts, redirects by the same
rules as on the network (credentials stay behind), bodies decoded and
bounded, and no client of its own.
"""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest
import requests

from httsleep import AsyncHttSleeper, BodyTooLarge, HttSleeper, StopPolling, httsleep
from httsleep.transports import register, transport_for
from httsleep.transports.memory import (
    AsyncMemoryTransport,
    MemoryClient,
    MemoryRedirectError,
    MemoryRequest,
    MemoryResponse,
    MemoryTimeout,
    MemoryTransport,
)

URL = "http://jobs.example/1"
DONE = {"expression": "status", "value": "DONE"}


def test_a_script_is_answered_in_order_and_its_last_response_repeats():
    server = MemoryClient([MemoryResponse(202, json={"status": "RUNNING"}), MemoryResponse(json={"status": "RUNNING"})])
    with pytest.raises(StopPolling):
        httsleep(URL, jsonpath=[DONE], session=server, max_retries=4, polling_interval=0)
    assert [request.method for request in server.requests] == ["GET"] * 4


def test_a_handler_sees_the_request_and_an_exception_it_raises_fails_the_attempt():
    seen = []

    def handler(request: MemoryRequest) -> MemoryResponse:
        seen.append((request.method, request.url, request.headers.get("x-token"), request.content))
        if len(seen) == 1:
            raise ConnectionResetError("reset")
        return MemoryResponse(json={"status": "DONE"})

    request = requests.Request("POST", URL, headers={"X-Token": "abc"}, json={"go": 1})
    response = httsleep(request, jsonpath=[DONE], session=MemoryClient(handler), retry_transient=True,
                        polling_interval=0)
    assert response.json() == {"status": "DONE"} and response.ok
    assert seen == [("POST", URL, "abc", b'{"go": 1}')] * 2


def test_a_memory_timeout_is_the_transports_timeout_and_the_deadline_gives_up():
    server = MemoryClient([MemoryTimeout("no answer")])
    with pytest.raises(MemoryTimeout):
        httsleep(URL, status_code=200, session=server)
    assert MemoryTransport(URL).timeout_errors == (MemoryTimeout,)


def test_redirects_follow_the_rules_and_credentials_stay_with_the_origin():
    def handler(request: MemoryRequest) -> MemoryResponse:
        if request.url == URL:
            return MemoryResponse(302, headers={"Location": "http://other.example/x"})
        return MemoryResponse(json={"status": "DONE"})

    server = MemoryClient(handler)
    response = httsleep(URL, jsonpath=[DONE], session=server, auth=("alice", "pw"), headers={"X-Api-Key": "k"})
    first, landed = server.requests
    assert "Authorization" in first.headers and "x-api-key" in first.headers
    assert "Authorization" not in landed.headers and "X-Api-Key" not in landed.headers
    assert [hop.status_code for hop in response.history] == [302] and response.url == "http://other.example/x"


def test_a_redirect_loop_and_an_unrequestable_location_are_errors():
    loop = MemoryClient([MemoryResponse(302, headers={"Location": "/again"})])
    with pytest.raises(MemoryRedirectError, match="more than 20 redirects"):
        httsleep(URL, status_code=200, session=loop)
    assert len(loop.requests) == 21
    with pytest.raises(MemoryRedirectError, match="its redirect cannot be requested"):
        httsleep(URL, status_code=200, session=MemoryClient([MemoryResponse(302, headers={"Location": "http://:0/"})]))


def test_bodies_are_decoded_and_bounded_as_from_a_server():
    packed = gzip.compress(b'{"status": "DONE"}')
    server = MemoryClient([MemoryResponse(content=packed, headers={"Content-Encoding": "gzip"})])
    assert httsleep(URL, jsonpath=[DONE], session=server).json() == {"status": "DONE"}
    big = MemoryClient([MemoryResponse(text="x" * 2000)])
    with pytest.raises(BodyTooLarge):
        httsleep(URL, status_code=200, session=big, max_body_size=1000)
    busy = MemoryClient([MemoryResponse(503, text="x" * 2000, headers={"Retry-After": "0"}), MemoryResponse(text="ok")])
    assert httsleep(URL, text="ok", session=busy, max_body_size=1000).text == "ok"  # a 503 that says when: kept empty


def test_the_asyncio_front_end_takes_it_as_its_client_with_an_httpx_request():
    server = MemoryClient([MemoryResponse(json={"status": "DONE"})])
    request = httpx.Request("PUT", URL, content=b"payload")
    response = asyncio.run(AsyncHttSleeper(request, jsonpath=[DONE], client=server).run())
    assert response.json() == {"status": "DONE"}
    assert (server.requests[0].method, server.requests[0].content) == ("PUT", b"payload")


def test_a_memory_transport_opens_no_client_of_its_own():
    with pytest.raises(TypeError, match="pass a MemoryClient"):
        with MemoryTransport(URL).open_client(None):
            pass

    async def open_async() -> None:
        async with AsyncMemoryTransport(URL).open_client(None):
            pass

    async def open_shared() -> None:
        async with AsyncMemoryTransport(URL).open_shared_client(None, 10):
            pass

    for opening in (open_async, open_shared):
        with pytest.raises(TypeError, match="pass a MemoryClient"):
            asyncio.run(opening())


def test_a_script_needs_a_response_and_a_request_carries_its_own_headers():
    with pytest.raises(ValueError, match="at least one response"):
        MemoryClient([])
    with pytest.raises(ValueError, match="put its headers and auth in it"):
        AsyncMemoryTransport(httpx.Request("GET", URL), {"A": "b"})


def test_responses_read_as_on_other_front_ends():
    response = MemoryResponse(404, text="gone", reason="Not Found")
    assert (response.text, response.ok) == ("gone", False)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"  # names in any case
    assert repr(response) == "<MemoryResponse [404]>" and repr(MemoryRequest("GET", URL, {})).endswith(URL + ">")
    with pytest.raises(ValueError):
        response.json()


def test_the_registry_finds_the_transport_of_a_client_and_takes_another_library():
    assert transport_for(MemoryClient([MemoryResponse()]), "sync") is MemoryTransport
    assert transport_for(MemoryClient([MemoryResponse()]), "async") is AsyncMemoryTransport
    assert transport_for(object(), "async") is None
    with pytest.raises(ValueError, match="'sync' or 'async'"):
        register("threads", "a:B", "c:D")
    with pytest.raises(ValueError, match="module:Class"):
        register("async", "not a path", "c:D")


def test_a_sync_poller_refuses_a_session_no_transport_takes():
    with pytest.raises(TypeError, match="session must be a requests.Session"):
        HttSleeper(URL, status_code=200, session=object())


def test_a_subclass_of_a_libraries_client_finds_that_librarys_transport():
    from httsleep.transports.httpx_transport import HttpxTransport
    from httsleep.transports.requests_transport import RequestsTransport

    class Traced(httpx.AsyncClient):
        pass

    class Mine(requests.Session):
        pass

    client = Traced()
    try:
        assert transport_for(client, "async") is HttpxTransport
    finally:
        asyncio.run(client.aclose())
    with Mine() as session:
        assert transport_for(session, "sync") is RequestsTransport
