"""The client of asyncio polls given none: aiohttp's session, one per event loop, shared; or httpx's, one per poll.

aiohttp is the default: its session is opened on first use and closed with
the loop. Without aiohttp (the ``httpx`` cases here make httpx the default),
each poll opens an httpx client and closes it when it ends. What each poll
keeps of its own (cookies) stays its own; what a client holds (connections,
file descriptors) is given back when a poll ends or is cancelled, and when
the loop shuts down.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Iterator, List

import aiohttp
import faultservers
import httpx
import pytest
from fronts import aiohttp_by_default
from werkzeug import Request, Response

import httsleep.aio
import httsleep.transports.aiohttp_transport
import httsleep.transports.httpx_transport
import httsleep.transports.shared
from httsleep import AsyncHttSleeper, async_httsleep, async_poll_many
from httsleep.testing import no_waiting

LIBRARIES = ["aiohttp", "httpx"]
DONE = {"status": "DONE"}


@pytest.fixture(params=LIBRARIES)
def library(request: pytest.FixtureRequest) -> Iterator[str]:
    with aiohttp_by_default(request.param == "aiohttp"):
        yield request.param


@pytest.fixture
def aiohttp_default() -> Iterator[None]:
    """aiohttp as the default library, as when it is installed (the polls share its session)."""
    with aiohttp_by_default(True):
        yield


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    """Every client httsleep opens for polls to share, in order."""
    clients: List[Any] = []
    for module, name in ((httsleep.transports.aiohttp_transport, "new_session"),
                         (httsleep.transports.httpx_transport, "new_client")):
        original = getattr(module, name)

        def recording(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            client = _original(*args, **kwargs)
            clients.append(client)
            return client

        monkeypatch.setattr(module, name, recording)
    return clients


def is_closed(client: Any) -> bool:
    return client.is_closed if isinstance(client, httpx.AsyncClient) else client.closed


def serve_done(httpserver: Any) -> str:
    httpserver.expect_request("/job").respond_with_json(DONE)
    return httpserver.url_for("/job")


# -- aiohttp: one session per loop ----------------------------------------------------------------


def test_polls_on_one_loop_share_one_session_and_its_connections(aiohttp_default, opened, httpserver):
    url = serve_done(httpserver)

    async def main() -> List[Any]:
        return await asyncio.gather(*(async_httsleep(url, json=DONE) for _ in range(50)))

    responses = asyncio.run(main())
    assert [response.json() for response in responses] == [DONE] * 50
    assert len(opened) == 1 and isinstance(opened[0], aiohttp.ClientSession)
    assert len(httpserver.log) == 50
    assert is_closed(opened[0])  # asyncio.run shut the loop down: the session went with it


def test_a_new_loop_gets_a_new_client(aiohttp_default, opened, httpserver):
    url = serve_done(httpserver)
    for _ in range(3):
        asyncio.run(async_httsleep(url, json=DONE))
    assert len(opened) == 3 and all(is_closed(client) for client in opened)


def test_loops_in_two_threads_each_have_their_own_client(aiohttp_default, opened, httpserver):
    url = serve_done(httpserver)
    barrier = threading.Barrier(2)

    async def main() -> Any:
        barrier.wait(timeout=10)
        return await async_httsleep(url, json=DONE)

    threads = [threading.Thread(target=asyncio.run, args=(main(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(opened) == 2 and opened[0] is not opened[1]


def test_each_verify_setting_has_a_client_of_its_own(aiohttp_default, opened, httpserver):
    url = serve_done(httpserver)

    async def main() -> None:
        await asyncio.gather(
            async_httsleep(url, json=DONE), async_httsleep(url, json=DONE, verify=True),
            async_httsleep(url, json=DONE, verify=False), async_httsleep(url, json=DONE, verify=False),
        )

    asyncio.run(main())
    assert len(opened) == 2  # None and True are one setting; False another


def test_a_callers_client_is_used_and_no_client_is_opened(opened, httpserver):
    url = serve_done(httpserver)

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await async_httsleep(url, json=DONE, client=session)

    asyncio.run(main())
    assert opened == []


# -- httpx: a client per poll ---------------------------------------------------------------------


def test_without_aiohttp_each_poll_opens_an_httpx_client_and_closes_it_when_it_ends(opened, httpserver):
    """httpcore's pool slows down as one client's requests and connections grow: no httpx client is shared."""
    url = serve_done(httpserver)

    async def main() -> List[bool]:
        await asyncio.gather(*(async_httsleep(url, json=DONE) for _ in range(20)))
        return [is_closed(client) for client in opened]  # before the loop shuts down

    with aiohttp_by_default(False):
        closed = asyncio.run(main())
    assert len(opened) == 20 and all(isinstance(client, httpx.AsyncClient) for client in opened)
    assert closed == [True] * 20
    assert len({id(client) for client in opened}) == 20


def test_the_httpx_clients_of_polls_share_one_ssl_context_per_ca_bundle(monkeypatch):
    """Loading the CA bundle costs about 25 ms and 1 MB: a thousand polls load it once."""
    made: List[Any] = []
    original = httpx.AsyncClient.__init__

    def recording(self: Any, *args: Any, verify: Any = True, **kwargs: Any) -> None:
        made.append(verify)
        original(self, *args, verify=verify, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", recording)
    new_client = httsleep.transports.httpx_transport.new_client
    for verify in (None, True, None):
        asyncio.run(new_client(verify).aclose())
    assert len(made) == 3 and made[0] is made[1] is made[2]


# -- closing ----------------------------------------------------------------------------------------


def test_an_idle_client_is_closed_and_the_next_poll_opens_another(aiohttp_default, opened, httpserver, monkeypatch):
    monkeypatch.setattr(httsleep.transports.shared, "IDLE_TIMEOUT", 0.05)
    url = serve_done(httpserver)

    async def main() -> None:
        await async_httsleep(url, json=DONE)
        first = opened[0]
        for _ in range(100):
            if is_closed(first):
                break
            await asyncio.sleep(0.01)
        assert is_closed(first)
        await async_httsleep(url, json=DONE)
        assert len(opened) == 2 and not is_closed(opened[1])

    asyncio.run(main())


def test_a_client_in_use_is_not_closed_for_idleness(aiohttp_default, opened, httpserver, monkeypatch):
    """The idle time counts from the last poll's end: a poll sleeping between attempts keeps the client."""
    monkeypatch.setattr(httsleep.transports.shared, "IDLE_TIMEOUT", 0.01)
    answers = iter([{"status": "PENDING"}] * 3 + [DONE] * 10)
    httpserver.expect_request("/job").respond_with_handler(lambda request: Response(json.dumps(next(answers))))

    async def main() -> None:
        await async_httsleep(httpserver.url_for("/job"), json=DONE, polling_interval=0.1)
        assert len(opened) == 1

    asyncio.run(main())


def test_close_shared_clients_closes_them_for_a_loop_run_by_hand(aiohttp_default, opened, httpserver):
    url = serve_done(httpserver)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(async_httsleep(url, json=DONE))
        assert not is_closed(opened[0])
        loop.run_until_complete(httsleep.aio.close_shared_clients())
        assert is_closed(opened[0])
        loop.run_until_complete(async_httsleep(url, json=DONE))  # a poll after that opens another
        loop.run_until_complete(loop.shutdown_asyncgens())  # as asyncio.run does: closes it
        assert len(opened) == 2 and is_closed(opened[1])
    finally:
        loop.close()


_HUNDRED_LOOPS = textwrap.dedent(
    """
    import asyncio, gc, os, sys, warnings
    warnings.simplefilter("always")
    import httsleep.aio
    from httsleep import async_httsleep

    def descriptors():
        return len(os.listdir("/proc/self/fd"))

    async def main(url):
        await asyncio.gather(*(async_httsleep(url, json={"status": "DONE"}) for _ in range(5)))

    asyncio.run(main(sys.argv[1]))  # the imports and their descriptors, once
    gc.collect()
    before = descriptors()
    for _ in range(100):
        asyncio.run(main(sys.argv[1]))
    gc.collect()
    print(before, descriptors())
    """
)


@pytest.mark.parametrize("library_name", LIBRARIES)
def test_a_hundred_fresh_loops_leave_no_descriptor_connection_or_warning(library_name, httpserver):
    """aiohttp's session closes as each loop shuts down, httpx's clients as each poll ends: nothing is left open."""
    if library_name == "httpx":
        # the script runs without aiohttp (as when only httpx is installed): httpx is then the default
        script = "import sys; sys.modules['aiohttp'] = None\n" + _HUNDRED_LOOPS
    else:
        script = _HUNDRED_LOOPS
    url = serve_done(httpserver)
    env = {**os.environ, "PYTHONDEVMODE": "1"}  # ResourceWarnings and asyncio's own checks on
    result = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.split())
    assert after == before
    assert "Unclosed" not in result.stderr and "ResourceWarning" not in result.stderr, result.stderr[-2000:]
    assert len(httpserver.log) == 505


# -- what stays each poll's own ----------------------------------------------------------------------


@pytest.mark.parametrize("together", ["gather", "async_poll_many"])
def test_a_poll_keeps_its_own_cookies_and_sees_no_other_polls(library, together, httpserver):
    """Poll A is given a session cookie; poll B, to the same host at the same time, never sends it; A does.

    ``async_poll_many``'s polls share one client on both libraries (on httpx, one opened for them).
    """
    sent: List[Any] = []

    def handler(request: Request) -> Response:
        who = request.args["who"]
        sent.append((who, request.headers.get("Cookie")))
        response = Response(json.dumps(DONE if len([s for s in sent if s[0] == who]) >= 3 else {"status": "WAIT"}))
        if who == "a":
            response.set_cookie("session", "secret-of-a")
        return response

    httpserver.expect_request("/job").respond_with_handler(handler)

    urls = [httpserver.url_for("/job?who=a"), httpserver.url_for("/job?who=b")]

    async def main() -> None:
        if together == "gather":
            await asyncio.gather(*(async_httsleep(url, json=DONE) for url in urls))
        else:
            async for _, outcome in async_poll_many(urls, json=DONE):
                assert outcome.status_code == 200

    with no_waiting():
        asyncio.run(main())
    assert [cookie for who, cookie in sent if who == "a"] == [None, "session=secret-of-a", "session=secret-of-a"]
    assert [cookie for who, cookie in sent if who == "b"] == [None, None, None]


def test_a_cookie_header_given_by_the_caller_still_goes_out(library, httpserver):
    seen: List[Any] = []

    def handler(request: Request) -> Response:
        seen.append(request.headers.get("Cookie"))
        return Response(json.dumps(DONE))

    httpserver.expect_request("/job").respond_with_handler(handler)
    asyncio.run(async_httsleep(httpserver.url_for("/job"), json=DONE, headers={"Cookie": "given=1"}))
    assert seen == ["given=1"]


# -- cancelling ----------------------------------------------------------------------------------------


class Hanging:
    """A server that reads the request and never answers; it records when the client closes the connection."""

    def __init__(self) -> None:
        self.closed_at: List[float] = []
        self.server = faultservers.RawServer(self._handle)

    def _handle(self, conn: Any, server: Any) -> None:
        faultservers.read_head(conn)
        conn.settimeout(30)
        try:
            while conn.recv(1024):
                pass
        except OSError:
            return
        self.closed_at.append(time.monotonic())

    def __enter__(self) -> Hanging:
        self.server.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.server.__exit__(*exc_info)


def test_a_poll_cancelled_mid_request_gives_its_connection_back(opened):
    """Cancelled while waiting for the head: the shared session's connection is released and closed at once."""
    with Hanging() as hanging, aiohttp_by_default(True):

        async def main() -> float:
            task = asyncio.ensure_future(async_httsleep(hanging.server.url, status_code=200, request_timeout=30))
            while not hanging.server.connections:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            cancelled = time.monotonic()
            (session,) = opened
            assert not session.closed and not session.connector._acquired  # nothing held by the cancelled poll
            for _ in range(100):
                if hanging.closed_at:
                    break
                await asyncio.sleep(0.01)
            return cancelled

        cancelled = asyncio.run(main())
    assert hanging.closed_at and hanging.closed_at[0] - cancelled < 1.0


def test_poll_is_an_async_response_whichever_library(library, httpserver):
    url = serve_done(httpserver)
    response = asyncio.run(AsyncHttSleeper(url, json=DONE).run())
    assert type(response).__name__ == "AsyncResponse" and response.json() == DONE
    assert type(response.raw).__module__.split(".")[0] == library
