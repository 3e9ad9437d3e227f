"""Resolving the host name and connecting live within the deadline on the synchronous front end.

urllib3 resolves a name with ``socket.getaddrinfo`` in the calling thread,
without a limit, and gives each address the whole connect timeout. A slow
resolver, or addresses that drop connection attempts, held polls long past
their deadline, and a bound armed while there was no socket yet fired into
the void and was reported later as a timeout of the body. The resolver here
is the real one, slowed down by the test (``socket.getaddrinfo`` wrapped);
the servers are real, on loopback addresses.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Dict, Iterator, List

import pytest
import requests
from faultservers import Answering, Backlogged, dripping_head

from httsleep import GaveUp, HttSleeper

PENDING = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"status": "DONE!!"}'


class Resolver:
    """``socket.getaddrinfo``, with names of the test's own: each may answer late, and with chosen addresses."""

    def __init__(self) -> None:
        self.names: Dict[str, Any] = {}  # name -> (delay in seconds, [addresses])
        self.released = threading.Event()  # ends every pending slow answer (at the end of the test)
        self.asked: List[str] = []
        self._real = socket.getaddrinfo

    def add(self, name: str, addresses: List[str], delay: float = 0.0) -> None:
        self.names[name] = (delay, addresses)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in self.names:
            return self._real(host, port, *args, **kwargs)
        self.asked.append(host)
        delay, addresses = self.names[host]
        if delay:
            self.released.wait(delay)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port))) for address in addresses]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resolver]:
    fake = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield fake
    fake.released.set()


def _elapsed(poll: Any) -> Any:
    started = time.monotonic()
    try:
        outcome = poll()
    except Exception as error:  # noqa: BLE001 - the outcome under test
        outcome = error
    return outcome, time.monotonic() - started


def test_a_resolver_that_stalls_does_not_hold_a_poll_past_its_deadline(resolver):
    """Issue 19's bound: a timeout=2 poll whose name never resolves ends by 2.5 s (it waited for the resolver)."""
    resolver.add("stalls.test", ["127.0.0.1"], delay=30)
    outcome, elapsed = _elapsed(lambda: HttSleeper("http://stalls.test:9/job", status_code=200, timeout=2).run())
    assert isinstance(outcome, GaveUp) and outcome.limit == "timeout", repr(outcome)
    assert elapsed < 2.5
    assert resolver.asked == ["stalls.test"]
    assert "the host name did not resolve before the deadline (timeout=2s)" in str(outcome)


def test_a_resolver_slower_than_the_connect_timeout_says_the_name_did_not_resolve(resolver):
    resolver.add("stalls.test", ["127.0.0.1"], delay=30)
    outcome, elapsed = _elapsed(lambda: HttSleeper("http://stalls.test:9/job", status_code=200,
                                                   request_timeout=(0.3, 5)).run())
    assert isinstance(outcome, requests.exceptions.ConnectTimeout), repr(outcome)
    assert str(outcome) == ("GET http://stalls.test:9/job: the host name did not resolve within 0.3s "
                            "(the connect timeout)")
    assert elapsed < 0.8


def test_a_slow_resolver_then_a_dripping_head_end_at_the_deadline(resolver):
    """Before: 9.2 s for timeout=1.5 (the resolver's 2 s switched the head's bound off)."""
    with dripping_head(interval=0.2) as server:
        resolver.add("slow.test", ["127.0.0.1"], delay=2.0)
        outcome, elapsed = _elapsed(lambda: HttSleeper("http://slow.test:{}/job".format(server.port),
                                                       status_code=200, timeout=1.5).run())
    assert isinstance(outcome, GaveUp) and outcome.limit == "timeout", repr(outcome)
    assert elapsed < 2.0


def test_dead_first_addresses_do_not_hold_a_poll_past_its_deadline(resolver):
    """Before: 3.0 s for timeout=1, each dead address taking the whole connect timeout."""
    with Answering(PENDING) as server:
        dead = [Backlogged("127.0.0.{}".format(last), server.port) for last in (2, 3, 4)]
        try:
            resolver.add("many.test", ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.1"])
            outcome, elapsed = _elapsed(lambda: HttSleeper("http://many.test:{}/job".format(server.port),
                                                           status_code=200, timeout=1).run())
        finally:
            for one in dead:
                one.__exit__()
    assert isinstance(outcome, GaveUp) and outcome.limit == "timeout", repr(outcome)
    assert elapsed < 1.5


def test_each_dead_address_gets_the_connect_timeout_and_the_next_one_answers(resolver):
    with Answering(PENDING) as server:
        dead = [Backlogged("127.0.0.{}".format(last), server.port) for last in (2, 3)]
        try:
            resolver.add("two-dead.test", ["127.0.0.2", "127.0.0.3", "127.0.0.1"])
            outcome, elapsed = _elapsed(lambda: HttSleeper("http://two-dead.test:{}/job".format(server.port),
                                                           status_code=200, request_timeout=(0.3, 5)).run())
        finally:
            for one in dead:
                one.__exit__()
    assert not isinstance(outcome, Exception), repr(outcome)
    assert outcome.status_code == 200 and server.requests == 1
    assert 0.6 <= elapsed < 1.2  # 0.3 s for each dead one, then the live one at once


def test_a_connect_budget_spent_on_dead_addresses_is_a_connect_timeout_not_a_body_timeout(resolver):
    """Before: "no data for the response body within 0.5s", though the server answered at once.

    Three dead addresses at 0.5 s each outlast the head's bound (0.5 + 0.5 s): the connect is what timed out.
    """
    with Answering(PENDING) as server:
        dead = [Backlogged("127.0.0.{}".format(last), server.port) for last in (2, 3, 4)]
        try:
            resolver.add("many.test", ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.1"])
            outcome, elapsed = _elapsed(lambda: HttSleeper("http://many.test:{}/job".format(server.port),
                                                           status_code=200, request_timeout=(0.5, 0.5)).run())
        finally:
            for one in dead:
                one.__exit__()
    assert isinstance(outcome, requests.exceptions.ConnectTimeout), repr(outcome)
    assert "body" not in str(outcome)
    assert elapsed < 1.4


def test_a_name_that_does_not_resolve_is_still_a_dns_failure_not_retried(resolver):
    outcome, _ = _elapsed(lambda: HttSleeper("http://nowhere.invalid/job", status_code=200, max_retries=3,
                                             retry_transient=True).run())
    assert isinstance(outcome, requests.exceptions.ConnectionError), repr(outcome)
    assert "cannot resolve the host name nowhere.invalid" in str(outcome)


def test_a_name_resolves_in_a_thread_and_the_connection_gets_urllib3s_connect_back(resolver):
    with Answering(PENDING) as server:
        resolver.add("fine.test", ["127.0.0.1"])
        session = requests.Session()
        response = HttSleeper("http://fine.test:{}/job".format(server.port), status_code=200, session=session,
                              max_retries=2).run()
        assert response.status_code == 200 and resolver.asked == ["fine.test"]
        pool = session.get_adapter("http://fine.test/").poolmanager.connection_from_url(
            "http://fine.test:{}/".format(server.port))
        for connection in list(pool.pool.queue):
            if connection is not None:
                assert "_new_conn" not in vars(connection)
        # the caller's own request on the pooled connection is urllib3's as before
        assert session.get("http://fine.test:{}/job".format(server.port), timeout=5).status_code == 200
