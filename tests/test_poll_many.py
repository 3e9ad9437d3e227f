"""Many URLs, one poller: ``httsleep.poll_many`` (threads) and ``httsleep.async_poll_many`` (asyncio).

Every test polls a loopback server (:class:`FleetServer`, a raw keep-alive
server whose paths say how each job answers) and runs in testing mode
(``httsleep.testing.no_waiting``) unless it is about waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import socket
import threading
import time
import unittest.mock
import warnings
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import pytest
import requests
from faultservers import RawServer, read_head
from fronts import FRONTS, aiohttp_by_default

import httsleep.many
import httsleep.policy
import httsleep.transports.aiohttp_transport
import httsleep.transports.httpx_transport
from httsleep import (
    Alarm,
    ArgumentTypeError,
    AsyncGaveUp,
    AsyncHttSleeper,
    GaveUp,
    StopPolling,
    async_poll_many,
    poll_many,
)
from httsleep.testing import no_waiting

#: The library of the client async_poll_many opens on each asyncio front of tests/fronts.py.
LIBRARIES = {"async": "httpx", "aiohttp": "aiohttp"}

DONE = [{"expression": "status", "value": "SUCCESS"}]
FAILED = {"jsonpath": [{"expression": "status", "value": "ERROR"}]}


class FleetServer(RawServer):
    """A keep-alive job server whose paths say how each job answers; it counts what is open at once.

    - ``/done/<id>``: ``{"status": "SUCCESS"}``;
    - ``/pending/<id>``: ``{"status": "PENDING"}``, for ever;
    - ``/after/<n>/<id>``: ``PENDING`` n-1 times, then ``SUCCESS``;
    - ``/alarm/<id>``: ``{"status": "ERROR"}``;
    - ``/html/<id>``: an HTML page (a JSON condition cannot read it);
    - ``?delay=S`` on any of them: the answer comes S seconds late.

    ``peak_connections`` and ``peak_requests``: the most connections open,
    and requests being answered, at once; ``requests``: the paths asked, in order.
    """

    def __init__(self) -> None:
        super().__init__(self._converse)
        self.requests: List[str] = []
        self.headers: List[Dict[str, str]] = []
        self.open_connections = self.peak_connections = 0
        self.in_flight = self.peak_requests = 0
        self._counts: Dict[str, int] = {}

    def __enter__(self) -> FleetServer:
        super().__enter__()
        return self

    def url(self, path: str) -> str:  # type: ignore[override]
        return "http://{}:{}{}".format(self.host, self.port, path)

    def _converse(self, conn: socket.socket, server: RawServer) -> None:
        with self._lock:
            self.open_connections += 1
            self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            buffer = b""
            while not self.stopping.is_set():
                head, buffer = read_head(conn, buffer)
                if head is None:
                    return
                lines = head.decode("latin-1").split("\r\n")
                with self._lock:
                    self.in_flight += 1
                    self.peak_requests = max(self.peak_requests, self.in_flight)
                try:
                    conn.sendall(self._answer(lines))
                finally:
                    with self._lock:
                        self.in_flight -= 1
        finally:
            with self._lock:
                self.open_connections -= 1

    def _answer(self, lines: List[str]) -> bytes:
        target = lines[0].split(" ")[1]
        parts = urlsplit(target)
        with self._lock:
            self.requests.append(parts.path)
            fields = (line.partition(":") for line in lines[1:])
            self.headers.append({name.strip().lower(): value.strip() for name, _, value in fields})
            count = self._counts[parts.path] = self._counts.get(parts.path, 0) + 1
        delay = float(parse_qs(parts.query).get("delay", ["0"])[0])
        if delay:
            self.stopping.wait(delay)
        kind = parts.path.split("/")[1]
        content_type = "application/json"
        if kind == "html":
            body, content_type = b"<html><body>Bad gateway</body></html>", "text/html"
        else:
            status = {"done": "SUCCESS", "pending": "PENDING", "alarm": "ERROR"}.get(kind)
            if kind == "after":
                status = "SUCCESS" if count >= int(parts.path.split("/")[2]) else "PENDING"
            body = json.dumps({"status": status}).encode()
        head = "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n".format(content_type, len(body))
        return head.encode("ascii") + body


@pytest.fixture
def server() -> Iterator[FleetServer]:
    with FleetServer() as fleet:
        yield fleet


@pytest.fixture(autouse=True)
def _no_waiting() -> Iterator[None]:
    with no_waiting():
        yield


def closed_port_url() -> str:
    """A URL on a loopback port nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return "http://127.0.0.1:{}/jobs/1".format(port)


@contextlib.contextmanager
def opening(library: str) -> Iterator[None]:
    """Make async_poll_many's polls, given no client, share a client of ``library`` (aiohttp's: the loop's)."""
    with aiohttp_by_default(library == "aiohttp"):
        yield


def collect(front: str, urls: Any, **options: Any) -> List[Tuple[Any, Any]]:
    """Every ``(url, outcome)`` of one poll_many on ``front``, in the order yielded."""
    if front == "sync":
        return list(poll_many(urls, **options))

    async def gather() -> List[Tuple[Any, Any]]:
        return [item async for item in async_poll_many(urls, **options)]

    with opening(LIBRARIES[front]):
        return asyncio.run(gather())


# -- one URL's failure does not stop the others ------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_every_url_is_reported_once_with_its_own_outcome_whatever_the_others_do(front, server):
    """An alarm, a give-up, a refused connection, a page a JSON condition cannot read, a URL that cannot
    be polled: each is that URL's outcome, its message names the URL, and the other URLs are polled on."""
    done = [server.url("/done/{}".format(n)) for n in range(5)]
    failing = {
        server.url("/alarm/1"): Alarm,
        server.url("/pending/1"): StopPolling if front == "sync" else AsyncGaveUp,
        closed_port_url(): (requests.ConnectionError, httpx.ConnectError, aiohttp.ClientConnectionError),
        server.url("/html/1"): ValueError,
        "ftp://example.invalid/jobs/1": ValueError,
    }
    urls = done[:2] + list(failing) + done[2:]
    results = collect(front, iter(urls), jsonpath=DONE, alarms=FAILED, max_retries=3, concurrency=3)
    assert sorted(url for url, _ in results) == sorted(urls)
    outcomes = dict(results)
    for url in done:
        assert outcomes[url].json() == {"status": "SUCCESS"}
    for url, expected in failing.items():
        assert isinstance(outcomes[url], expected), (url, outcomes[url])
        assert url.split("://")[1].rstrip("/") in str(outcomes[url]), (url, str(outcomes[url]))
    assert isinstance(outcomes[server.url("/pending/1")], GaveUp)
    assert outcomes[server.url("/pending/1")].attempts == 3


@pytest.mark.parametrize("front", FRONTS)
def test_the_conditions_are_compiled_once_for_all_the_urls(front, server, monkeypatch):
    made = []
    original = httsleep.policy.Policy.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(httsleep.policy.Policy, "__init__", counting)
    urls = [server.url("/after/2/{}".format(n)) for n in range(20)]
    results = collect(front, urls, jsonpath=DONE, concurrency=4)
    assert len(results) == 20 and all(outcome.status_code == 200 for _, outcome in results)
    assert len(made) == 1


@pytest.mark.parametrize("front", FRONTS)
def test_no_urls_yield_nothing(front):
    assert collect(front, [], status_code=200) == []


# -- concurrency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("client_kind", ["own httpx", "own aiohttp", "caller's httpx", "caller's aiohttp"])
def test_async_poll_many_holds_at_most_concurrency_connections(client_kind, server):
    """50 URLs of 3 attempts each, every answer 10 ms late, concurrency=5: never more than 5 connections."""
    urls = [server.url("/after/3/{}?delay=0.01".format(n)) for n in range(50)]

    async def main() -> List[Tuple[Any, Any]]:
        if client_kind == "caller's httpx":
            async with httpx.AsyncClient() as client:
                return [item async for item in async_poll_many(urls, jsonpath=DONE, concurrency=5, client=client)]
        if client_kind == "caller's aiohttp":
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                return [item async for item in async_poll_many(urls, jsonpath=DONE, concurrency=5, client=session)]
        return [item async for item in async_poll_many(urls, jsonpath=DONE, concurrency=5)]

    with opening(client_kind.split()[-1]):
        results = asyncio.run(main())
    assert [outcome.status_code for _, outcome in results] == [200] * 50
    assert len(server.requests) == 150
    assert 1 < server.peak_connections <= 5
    assert server.peak_requests <= 5


def test_poll_many_runs_at_most_concurrency_polls_at_once(server):
    urls = [server.url("/after/3/{}?delay=0.01".format(n)) for n in range(30)]
    results = list(poll_many(urls, jsonpath=DONE, concurrency=4))
    assert [outcome.status_code for _, outcome in results] == [200] * 30
    assert 1 < server.peak_requests <= 4


def test_a_poll_that_waits_holds_no_slot(server):
    """20 URLs, 2 attempts each 0.5 s apart, concurrency=2: every first attempt is made before any second one.

    Were the waits holding the slots, the polls would go two at a time (10 rounds of 0.5 s).
    """
    urls = [server.url("/after/2/{}".format(n)) for n in range(20)]

    async def main() -> List[Tuple[Any, Any]]:
        return [item async for item in async_poll_many(urls, jsonpath=DONE, concurrency=2, polling_interval=0.5)]

    httsleep.testing.set_testing(False)  # real waits (the fixture restores testing mode after)
    results = asyncio.run(main())
    assert len(results) == 20
    first_round = server.requests[:20]
    assert sorted(first_round) == sorted(urlsplit(url).path for url in urls)
    assert server.peak_requests <= 2


# -- order, laziness -------------------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_results_come_as_the_polls_end_not_in_input_order(front, server):
    slow = server.url("/done/slow?delay=0.4")
    urls = [slow] + [server.url("/after/2/{}".format(n)) for n in range(6)]
    results = collect(front, urls, jsonpath=DONE, concurrency=3)
    assert [url for url, _ in results][-1] == slow
    assert sorted(url for url, _ in results) == sorted(urls)


@pytest.mark.parametrize("front", FRONTS)
def test_urls_are_read_lazily_from_an_endless_generator(front, server):
    taken = []

    def endless() -> Iterator[str]:
        for n in itertools.count():
            taken.append(n)
            yield server.url("/done/{}".format(n))

    if front == "sync":
        results = poll_many(endless(), jsonpath=DONE, concurrency=3)
        first = [next(results) for _ in range(5)]
        results.close()
        assert len(taken) <= 5 + 3
    else:

        async def main() -> List[Tuple[Any, Any]]:
            results = async_poll_many(endless(), jsonpath=DONE, concurrency=3)
            try:
                return [await results.__anext__() for _ in range(5)]
            finally:
                await results.aclose()

        with opening(LIBRARIES[front]):
            first = asyncio.run(main())
        assert len(taken) < 100
    assert all(outcome.status_code == 200 for _, outcome in first)


# -- stopping early ------------------------------------------------------------------------------


class Recorded:
    """Records the clients opened for the polls to share, and what the event loop reports."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clients: List[Any] = []
        for module, name in ((httsleep.transports.aiohttp_transport, "new_session"),
                             (httsleep.transports.httpx_transport, "new_client")):
            monkeypatch.setattr(module, name, self._recording(getattr(module, name)))

    def _recording(self, original: Any) -> Any:
        def recording(*args: Any, **kwargs: Any) -> Any:
            client = original(*args, **kwargs)
            self.clients.append(client)
            return client

        return recording

    def closed(self) -> bool:
        return len(self.clients) == 1 and all(
            client.is_closed if isinstance(client, httpx.AsyncClient) else client.closed for client in self.clients
        )

    def idle(self) -> bool:
        """The one shared client has no connection in use (each poll stopped has given its connection back).

        Only asked of aiohttp's: httpcore 1.0 can keep the connection of a
        request cancelled at the wrong moment as active for good
        (encode/httpcore#1093), whoever cancels it; docs/async.md says so.
        """
        if len(self.clients) != 1:
            return False
        (client,) = self.clients
        if isinstance(client, httpx.AsyncClient):
            return True
        return not client.connector._acquired

    async def settled(self) -> bool:
        """Whether the shared client becomes idle within a second (a cancelled request's connection closes soon)."""
        for _ in range(100):
            if self.idle():
                return True
            await asyncio.sleep(0.01)
        return False

    def run(self, main: Any) -> Any:
        """``asyncio.run(main())``, ResourceWarnings recorded, the loop's error reports kept."""
        self.loop_errors: List[Dict[str, Any]] = []

        async def watched() -> Any:
            asyncio.get_running_loop().set_exception_handler(lambda loop, context: self.loop_errors.append(context))
            return await main()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = asyncio.run(watched())
            gc.collect()
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
        assert self.loop_errors == []
        assert self.closed()  # aiohttp's: closed with the loop; httpx's: when the iteration ended
        return result


def stuck_and_done(server: FleetServer) -> List[str]:
    """One URL that is done and 20 that never are: a poll_many over them runs until stopped."""
    return [server.url("/done/0")] + [server.url("/pending/{}".format(n)) for n in range(20)]


def other_tasks() -> List[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]


@pytest.mark.parametrize("front", ["async", "aiohttp"])
def test_breaking_out_of_the_loop_stops_the_polls_and_frees_their_connections(front, server, monkeypatch):
    recorded = Recorded(monkeypatch)

    async def main() -> Tuple[List[str], bool]:
        urls = stuck_and_done(server)
        async for first, _ in async_poll_many(urls, jsonpath=DONE, max_retries=None, concurrency=4):  # noqa: B007
            break
        for _ in range(100):  # asyncio closes the abandoned generator in a task of its own
            if not other_tasks() and recorded.idle():
                break
            await asyncio.sleep(0.01)
        return [first], not other_tasks() and recorded.idle()

    with opening(LIBRARIES[front]):
        urls, nothing_left = recorded.run(main)
    assert urls == [server.url("/done/0")]
    assert nothing_left


@pytest.mark.parametrize("front", ["async", "aiohttp"])
def test_aclose_stops_the_polls_and_frees_their_connections_before_it_returns(front, server, monkeypatch):
    recorded = Recorded(monkeypatch)

    async def main() -> bool:
        results = async_poll_many(stuck_and_done(server), jsonpath=DONE, max_retries=None, concurrency=4)
        await results.__anext__()
        await results.aclose()
        if front == "async":  # the httpx client opened for the batch is closed by then (aiohttp's is the loop's)
            (client,) = recorded.clients
            assert client.is_closed
        return not other_tasks() and await recorded.settled()

    with opening(LIBRARIES[front]):
        assert recorded.run(main)


@pytest.mark.parametrize("front", ["async", "aiohttp"])
def test_cancelling_the_iterating_task_stops_the_polls_and_frees_their_connections(front, server, monkeypatch):
    recorded = Recorded(monkeypatch)

    async def main() -> bool:
        first = asyncio.Event()

        async def iterate() -> None:
            async for _ in async_poll_many(stuck_and_done(server), jsonpath=DONE, max_retries=None, concurrency=4):
                first.set()

        task = asyncio.ensure_future(iterate())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return not other_tasks() and await recorded.settled()

    with opening(LIBRARIES[front]):
        assert recorded.run(main)


@pytest.mark.parametrize("missing", ["httpx", "aiohttp"])
def test_the_polls_share_one_client_aiohttps_when_installed(missing, server, monkeypatch):
    """One shared httpx client costs about three times the CPU per request of aiohttp's (benchmarks/poll_many.py).

    Without aiohttp, the polls share an httpx client opened for them (a poll given no client would open its own).
    """
    recorded = Recorded(monkeypatch)

    async def main() -> Any:
        urls = [server.url("/done/{}".format(n)) for n in range(5)]
        return [outcome async for _, outcome in async_poll_many(urls, jsonpath=DONE)]

    with unittest.mock.patch("importlib.util.find_spec", lambda name, *args: None if name == missing else object()):
        expected = "httpx" if missing == "aiohttp" else "aiohttp"
        assert httsleep.aio._default_library() == expected
    with opening(expected):
        outcomes = recorded.run(main)
    assert [type(outcome).__name__ for outcome in outcomes] == ["AsyncResponse"] * 5
    assert type(recorded.clients[0]).__module__.split(".")[0] == expected  # one client for the five polls


def test_a_callers_client_is_left_open(server):
    async def main() -> bool:
        async with aiohttp.ClientSession() as session:
            async for _ in async_poll_many(stuck_and_done(server), jsonpath=DONE, max_retries=None, client=session):
                break
            await asyncio.sleep(0.05)
            return not session.closed

    assert asyncio.run(main())


def test_closing_the_synchronous_iterator_ends_waiting_polls_at_once(server):
    """Polls waiting 30 s between attempts end as soon as the caller stops iterating; no thread is left."""
    httsleep.testing.set_testing(False)  # real waits (the fixture restores testing mode after)
    results = poll_many(stuck_and_done(server), jsonpath=DONE, max_retries=None, polling_interval=30, concurrency=4)
    url, outcome = next(results)
    started = time.monotonic()
    results.close()
    assert time.monotonic() - started < 10
    assert url == server.url("/done/0") and outcome.status_code == 200
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("httsleep-poll-many")]
    assert len(server.requests) <= 4  # the first attempts of the polls that ran; none scheduled after


# -- what the caller passes -----------------------------------------------------------------------------


def test_a_callers_session_is_shared_by_every_poll_and_left_open(server):
    with requests.Session() as session:
        session.headers["X-Fleet"] = "42"
        results = list(poll_many([server.url("/done/{}".format(n)) for n in range(6)], jsonpath=DONE, session=session))
        assert len(results) == 6
        assert session.get(server.url("/done/x")).status_code == 200  # still open
    assert [headers.get("x-fleet") for headers in server.headers] == ["42"] * 7


def test_a_relative_url_takes_the_callers_base_url(server):
    async def main() -> List[Tuple[Any, Any]]:
        async with httpx.AsyncClient(base_url=server.url("")) as client:
            return [item async for item in async_poll_many(["/done/1", "/done/2"], jsonpath=DONE, client=client)]

    assert sorted(url for url, _ in asyncio.run(main())) == ["/done/1", "/done/2"]


@pytest.mark.parametrize("poller", [poll_many, async_poll_many], ids=["sync", "asyncio"])
@pytest.mark.parametrize(
    "options, error",
    [
        ({}, ValueError),  # no success condition
        ({"status_code": 200, "concurrency": 0}, ValueError),
        ({"status_code": 200, "concurrency": True}, ArgumentTypeError),
        ({"status_code": 200, "max_retries": -1}, ValueError),
        ({"status_code": 200, "polling_intervall": 1}, TypeError),
    ],
)
def test_options_are_checked_before_any_url_is_read(poller, options, error):
    read = []

    def urls() -> Iterator[str]:
        read.append(1)
        yield "http://127.0.0.1:9/"

    with pytest.raises(error):
        poller(urls(), **options)
    assert read == []


def test_verify_with_a_callers_client_is_refused_at_once():
    async def main() -> None:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ValueError, match="verify"):
                async_poll_many([], status_code=200, client=client, verify=False)

    asyncio.run(main())


def test_the_synchronous_poll_many_does_not_import_asyncio():
    """``httsleep.poll_many`` costs the imports of ``httsleep.httsleep``: no asyncio, no inspect."""
    import os
    import subprocess
    import sys

    code = "import sys, httsleep; httsleep.poll_many; print('asyncio' in sys.modules, 'inspect' in sys.modules)"
    env = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE")}
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert output.strip() == "False False"


# -- AsyncHttSleeper.shared_client: the client of pollers made by for_url ----------------------------


@pytest.mark.parametrize("concurrency, error", [(0, ValueError), ("10", ArgumentTypeError), (True, ArgumentTypeError)])
def test_shared_client_checks_concurrency(concurrency, error):
    with pytest.raises(error, match="concurrency"):
        AsyncHttSleeper("http://127.0.0.1:9/", status_code=200).shared_client(concurrency)


def test_shared_client_lends_a_callers_client_and_leaves_it_open(server):
    async def main() -> bool:
        async with aiohttp.ClientSession() as session:
            sleeper = AsyncHttSleeper("http://127.0.0.1:9/", jsonpath=DONE, client=session)
            async with sleeper.shared_client(3) as lent:
                assert lent is session
                response = await sleeper.for_url(server.url("/done/1"), lent).run()
                assert response.status_code == 200
            return not session.closed

    assert asyncio.run(main())


def test_shared_client_on_httpx_is_opened_for_the_pollers_and_closed_after(server):
    """Its pool holds at most ``concurrency`` connections: 12 pollers at once, 3 connections, 1 client."""
    async def main() -> httpx.AsyncClient:
        sleeper = AsyncHttSleeper("http://127.0.0.1:9/", jsonpath=DONE)
        async with sleeper.shared_client(3) as client:
            assert isinstance(client, httpx.AsyncClient) and not client.is_closed
            urls = [server.url("/done/{}?delay=0.02".format(n)) for n in range(12)]
            responses = await asyncio.gather(*(sleeper.for_url(url, client).run() for url in urls))
            assert [response.status_code for response in responses] == [200] * 12
        return client

    with opening("httpx"):
        client = asyncio.run(main())
    assert client.is_closed
    assert 1 < server.peak_connections <= 3
