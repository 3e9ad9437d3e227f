"""Keep-alive without mix-ups: bytes past a response never answer a later request (issue 18, point 7).

HTTP/1.1 pairs a response with a request by their order on the connection
alone. A server that sends a second, complete response after the first
one's body (in the same write, or a moment later) leaves bytes that answer
no request; a client that reuses the connection as it is would take them as
the answer to the next request on it: the next attempt of the same poll, or
an attempt of another poll sharing the client. Every front end must close
such a connection instead, and keep reusing the connections of honest
servers.

The servers here answer every request ``PENDING``; the smuggled response
says ``DONE``, which is what the polls wait for: a poll that ends matched
has taken bytes that answered none of its requests.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, Dict, List, Optional

import aiohttp
import httpx
import pytest
import requests
from faultservers import Answering, RawServer, read_head
from fronts import FRONTS, run

import httsleep.transports.aiohttp_transport as aiohttp_transport
from httsleep import AsyncHttSleeper, HttSleeper
from httsleep.exceptions import GaveUp

PENDING = {"status": "PENDING"}
SMUGGLED = {"status": "DONE", "smuggled": True}  # what every poll here waits for, and no request is answered with
DELAY = 0.05  # how long after the honest response the late smuggler sends its extra one
INTERVAL = 0.15  # the polls' interval: the late bytes are there before the next attempt


def _leftovers() -> Any:
    """The module of the fix (imported by the tests that look into it, so that the others run on any version)."""
    import httsleep.transports._leftovers as module

    return module


def _response(document: Dict[str, Any]) -> bytes:
    body = json.dumps(document).encode("utf-8")
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n".format(len(body))
    return head.encode("ascii") + body


class Smuggler(RawServer):
    """Answers every request ``PENDING``, keeping the connection; after each answer to a path under
    ``/smuggle``, a complete ``DONE`` response that answers nothing: in the same write (``delay=0``)
    or ``delay`` seconds later. Other paths are answered honestly.

    ``paths`` lists the requests it read, in order; ``connections`` counts the connections.
    """

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(self._converse)
        self.delay = delay
        self.paths: List[str] = []

    def _converse(self, conn: socket.socket, server: RawServer) -> None:
        buffer = b""
        while not self.stopping.is_set():
            head, buffer = read_head(conn, buffer)
            if head is None:
                return
            path = head.split(b" ")[1].decode("ascii")
            with self._lock:
                self.paths.append(path)
            if not path.startswith("/smuggle"):
                conn.sendall(_response(PENDING))
            elif not self.delay:
                conn.sendall(_response(PENDING) + _response(SMUGGLED))
            else:
                conn.sendall(_response(PENDING))
                if self.stopping.wait(self.delay):
                    return
                conn.sendall(_response(SMUGGLED))


def _gives_up_pending(poll: Any) -> GaveUp:
    """Run ``poll()``; it must give up, its last response the honest ``PENDING``."""
    with pytest.raises(GaveUp) as raised:
        poll()
    assert raised.value.last_response is not None
    assert raised.value.last_response.json() == PENDING
    return raised.value


# -- one poll, its own client ----------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_a_response_smuggled_after_the_body_never_answers_the_next_attempt(front):
    """The extra response comes in the same write as the first: each attempt still gets its own answer."""
    with Smuggler() as server:
        _gives_up_pending(lambda: run(front, server.url + "smuggle", json=SMUGGLED, max_retries=3,
                                      polling_interval=0))
    assert server.paths == ["/smuggle"] * 3  # three requests, three answers read: none taken from the bytes past


@pytest.mark.parametrize("front", FRONTS)
def test_a_response_smuggled_a_moment_after_the_body_never_answers_the_next_attempt(front):
    """The extra response comes 50 ms after the first, while the connection waits for the next attempt."""
    with Smuggler(delay=DELAY) as server:
        _gives_up_pending(lambda: run(front, server.url + "smuggle", json=SMUGGLED, max_retries=3,
                                      polling_interval=INTERVAL))
    assert server.paths == ["/smuggle"] * 3


@pytest.mark.parametrize("front", FRONTS)
def test_an_honest_server_answers_every_attempt_on_one_connection(front):
    """Keep-alive stays: the fix closes only connections with bytes past a response."""
    with Answering(_response(PENDING)) as server:
        _gives_up_pending(lambda: run(front, server.url, json=SMUGGLED, max_retries=3, polling_interval=0))
    assert (server.requests, server.connections) == (3, 1)


# -- two polls, one client of the caller's ----------------------------------------------------------


def _two_polls(front: str, base: str, pause: float) -> List[Any]:
    """Poll ``/smuggle`` once, wait ``pause``, then poll ``/honest`` once, with one client of the caller's.

    Returns what each poll ended with (a response, or the exception).
    """
    options: Dict[str, Any] = {"json": SMUGGLED, "max_retries": 1, "polling_interval": 0}

    def outcome(poll: Any) -> Any:
        try:
            return poll()
        except GaveUp as error:
            return error

    if front == "sync":
        import time

        with requests.Session() as session:
            first = outcome(lambda: HttSleeper(base + "smuggle", session=session, **options).run())
            time.sleep(pause)
            return [first, outcome(lambda: HttSleeper(base + "honest", session=session, **options).run())]

    async def both(client: Any) -> List[Any]:
        ended = []
        for path in ("smuggle", "honest"):
            try:
                ended.append(await AsyncHttSleeper(base + path, client=client, **options).run())
            except GaveUp as error:
                ended.append(error)
            await asyncio.sleep(pause)
        return ended

    async def main() -> List[Any]:
        if front == "aiohttp":
            async with aiohttp.ClientSession() as session:
                return await both(session)
        async with httpx.AsyncClient() as client:
            return await both(client)

    return asyncio.run(main())


@pytest.mark.parametrize("pause", [0, 2 * DELAY], ids=["same-write", "a-moment-later"])
@pytest.mark.parametrize("front", FRONTS)
def test_one_poll_never_reads_what_was_smuggled_after_another_polls_response(front, pause):
    """Two polls share the caller's client; the first one's server sends a response too many."""
    with Smuggler(delay=DELAY if pause else 0) as server:
        ended = _two_polls(front, server.url, pause)
    assert all(isinstance(end, GaveUp) for end in ended), ended
    assert [end.last_response.json() for end in ended] == [PENDING, PENDING]
    assert server.paths == ["/smuggle", "/honest"]


@pytest.mark.parametrize("front", FRONTS)
def test_two_polls_sharing_a_client_reuse_one_connection_to_an_honest_server(front):
    with Answering(_response(PENDING)) as server:
        ended = _two_polls(front, server.url, 0)
    assert [end.last_response.json() for end in ended] == [PENDING, PENDING]
    assert (server.requests, server.connections) == (2, 1)


def test_concurrent_polls_sharing_a_client_never_take_each_others_leftovers():
    """Polls of a smuggled path and of honest paths, at once on one httpx client and one aiohttp session."""

    async def polls(client: Any, base: str) -> List[Any]:
        sleepers = [AsyncHttSleeper(base + path, client=client, json=SMUGGLED, max_retries=4, polling_interval=0)
                    for path in ("smuggle", "honest/1", "honest/2", "smuggle/2")]
        return await asyncio.gather(*(sleeper.run() for sleeper in sleepers), return_exceptions=True)

    async def main(base: str) -> List[Any]:
        async with httpx.AsyncClient() as client:
            ended = await polls(client, base)
        async with aiohttp.ClientSession() as session:
            return ended + await polls(session, base)

    with Smuggler() as server:
        ended = asyncio.run(main(server.url))
    assert all(isinstance(end, GaveUp) and end.last_response.json() == PENDING for end in ended), ended
    assert len(server.paths) == 2 * 4 * 4


# -- what the fix reaches into, and its fallbacks ---------------------------------------------------


def test_the_httpx_probe_reaches_h11s_state_under_a_response():
    """If this fails, httpx or httpcore changed: every attempt now pays a new connection (the fallback)."""
    leftovers = _leftovers()

    async def main(url: str) -> Optional[Any]:
        async with httpx.AsyncClient() as client:
            async with client.stream("GET", url) as response:
                return leftovers.h11_state(response)

    with Answering(_response(PENDING)) as server:
        state = asyncio.run(main(server.url))
    assert state is not None and hasattr(state, "trailing_data")


def test_the_aiohttp_pool_guard_fits_aiohttps_connector():
    """If this fails, aiohttp changed its connector: its sessions httsleep opens reuse no connection (the fallback)."""
    leftovers = _leftovers()

    async def main() -> None:
        connector = aiohttp.TCPConnector()
        try:
            assert leftovers.guard_pool(connector) is True
            assert leftovers.guard_pool(connector) is True  # once is enough
            assert isinstance(connector._get, leftovers._AsyncPoolGuard)
            session = aiohttp_transport.new_session(None)
            assert isinstance(session.connector._get, leftovers._AsyncPoolGuard)
            assert not session.connector.force_close
            await session.close()
        finally:
            await connector.close()

    asyncio.run(main())


class _Protocol:
    def __init__(self, should_close: bool) -> None:
        self.should_close = should_close
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_pool_guard_skips_and_closes_what_should_close_on_aiohttp_3_10_too():
    """aiohttp 3.10's ``_get(key)`` returns a pooled protocol (not yet acquired), or ``None``."""
    leftovers = _leftovers()
    poisoned, honest = _Protocol(should_close=True), _Protocol(should_close=False)

    class Connector:
        def __init__(self) -> None:
            self.pool = [poisoned, honest]

        def _get(self, key: Any) -> Any:
            return self.pool.pop(0) if self.pool else None

    connector = Connector()
    assert leftovers.guard_pool(connector) is True
    assert connector._get("key") is honest
    assert poisoned.closed and not honest.closed
    assert connector._get("key") is None


def test_a_connector_someone_else_changed_is_left_alone():
    leftovers = _leftovers()
    class Connector:
        async def _get(self, key: Any, traces: Any) -> None:
            return None

    changed = Connector()
    changed._get = lambda *args: None  # type: ignore[method-assign]
    assert leftovers.guard_pool(changed) is False
    assert leftovers.guard_pool(object()) is False


@pytest.mark.parametrize("delay", [0, DELAY], ids=["same-write", "a-moment-later"])
def test_without_h11s_state_each_httpx_attempt_closes_its_connection(monkeypatch, delay):
    leftovers = _leftovers()
    monkeypatch.setattr(leftovers, "h11_state", lambda response: None)
    with Smuggler(delay=delay) as server:
        _gives_up_pending(lambda: run("async", server.url + "smuggle", json=SMUGGLED, max_retries=3,
                                      polling_interval=INTERVAL if delay else 0))
    assert server.connections == 3


@pytest.mark.parametrize("delay", [0, DELAY], ids=["same-write", "a-moment-later"])
def test_without_the_pool_guard_the_aiohttp_session_of_a_poll_reuses_no_connection(monkeypatch, delay):
    monkeypatch.setattr(aiohttp_transport, "guard_pool", lambda connector: False)
    with Smuggler(delay=delay) as server:
        _gives_up_pending(lambda: run("aiohttp", server.url + "smuggle", json=SMUGGLED, max_retries=3,
                                      polling_interval=INTERVAL if delay else 0))
    assert server.connections == 3
