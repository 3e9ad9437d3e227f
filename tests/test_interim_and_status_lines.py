"""Interim (1xx) responses and ``HTTP/2.0`` status lines: the three front ends read them alike.

httpx and aiohttp skip every interim response (``102 Processing``, ``103
Early Hints``...) and read the final one; ``http.client``, under requests,
skipped only ``100 Continue`` and took a 103 for the final answer. httpx and
aiohttp read an ``HTTP/2.0 200 OK`` status line on an HTTP/1.1 connection as
they read ``HTTP/1.1 200 OK``; ``http.client`` refused it (``UnknownProtocol``),
and the poll retried it as a temporary error. Each case runs on every front
end it applies to (tests/fronts.py), against a raw loopback server.

Waits between attempts are injected on the synchronous front end
(``fake_time``) and short on the asyncio ones; the only real waits are the
head bounds of a server that never stops sending interim responses.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Sequence, Tuple

import aiohttp
import httpx
import pytest
import requests
from faultservers import Answering, RawServer, read_head
from fronts import FRONTS, run

from httsleep import GaveUp, HttSleeper, is_temp_network_error

BODY = b'{"status": "SUCCESS"}'
FINAL = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\nX-Progress: 50%\r\n\r\n"
UNTIL = {"status_code": 200, "json": {"status": "SUCCESS"}}

#: How far past its bound a poll may end.
MARGIN = 0.5


def interim_for_ever(piece: bytes, interval: float) -> RawServer:
    """Reads the request, then sends ``piece`` (an interim response) every ``interval`` seconds, for ever."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        while not server.stopping.is_set():
            try:
                conn.sendall(piece)
            except OSError:
                return
            if interval and server.stopping.wait(interval):
                return

    return RawServer(handler)


def poll(front: str, url: str, **options: Any) -> Tuple[Any, float]:
    """(the response or the exception, seconds taken) of a poll on ``front``; waits between attempts are short."""
    options.setdefault("polling_interval", 0.01)
    start = time.monotonic()
    try:
        outcome: Any = run(front, url, **options)
    except Exception as error:  # noqa: BLE001 - the outcome under test
        outcome = error
    return outcome, time.monotonic() - start


def assert_final_answer(outcome: Any, server: Answering, absent: Sequence[str]) -> None:
    """The poll returned the final 200 on its first request, without a header of the interim responses."""
    assert not isinstance(outcome, Exception), repr(outcome)
    assert outcome.status_code == 200
    assert outcome.json() == {"status": "SUCCESS"}
    for name in absent:
        assert name not in outcome.headers, name
    assert server.requests == 1


# -- interim responses are skipped ---------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_an_early_hints_response_is_skipped_and_the_final_answer_matches(front, fake_time):
    with Answering(EARLY_HINTS + FINAL) as server:
        outcome, _ = poll(front, server.url, until=UNTIL, max_retries=3)
    assert_final_answer(outcome, server, absent=["Link"])
    assert fake_time.sleeps == []


@pytest.mark.parametrize("front", FRONTS)
def test_a_processing_response_is_skipped_and_the_final_answer_matches(front, fake_time):
    with Answering(PROCESSING + FINAL) as server:
        outcome, _ = poll(front, server.url, until=UNTIL, max_retries=3)
    assert_final_answer(outcome, server, absent=["X-Progress"])
    assert fake_time.sleeps == []


@pytest.mark.parametrize("front", FRONTS)
def test_several_interim_responses_in_a_row_are_all_skipped_and_none_of_their_headers_is_kept(front, fake_time):
    interim = [
        b"HTTP/1.1 100 Continue\r\nX-Interim-100: yes\r\n\r\n",
        PROCESSING,
        EARLY_HINTS,
        b"HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload; as=script\r\nSet-Cookie: hint=1\r\n\r\n",
        b"HTTP/1.1 199 Whatever\r\nX-Interim-199: yes\r\n\r\n",
    ]
    with Answering(b"".join(interim) + FINAL) as server:
        outcome, _ = poll(front, server.url, until=UNTIL, max_retries=3)
    assert_final_answer(outcome, server, absent=["X-Interim-100", "X-Progress", "Link", "Set-Cookie", "X-Interim-199"])
    assert fake_time.sleeps == []


def test_interim_responses_are_skipped_on_a_callers_session_for_the_poll_only(fake_time):
    """The session's pooled connection reads a 103 again as requests does, once the poll is over."""
    with Answering(EARLY_HINTS + FINAL) as server, requests.Session() as session:
        response = HttSleeper(server.url, until=UNTIL, session=session, max_retries=3).run()
        assert response.status_code == 200 and "Link" not in response.headers
        pools = session.get_adapter(server.url).poolmanager.pools
        connections = [conn for key in pools.keys() for conn in pools[key].pool.queue if conn is not None]
        assert len(connections) == 1  # the connection the poll used, back in the pool
        assert "response_class" not in vars(connections[0])
        own = session.get(server.url)  # the caller's own request: requests' behaviour, unchanged
        assert own.status_code == 103
    assert server.connections == 1


# -- a server that never stops sending interim responses ------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_an_endless_stream_of_early_hints_is_cut_by_the_head_bound(front, fake_time):
    """103 every 0.05 s, for ever: the head must come within connect + read (0.8 s), interim responses or not."""
    with interim_for_ever(EARLY_HINTS, 0.05) as server:
        outcome, seconds = poll(front, server.url, status_code=200, request_timeout=(0.3, 0.5), max_retries=1)
    assert isinstance(outcome, (requests.Timeout, httpx.TimeoutException, aiohttp.ServerTimeoutError)), repr(outcome)
    assert "within 0.8s" in str(outcome)
    assert seconds < 0.8 + MARGIN


def test_more_interim_responses_than_the_bound_is_an_error_of_the_server_and_not_retried(fake_time):
    """Interim responses as fast as the server can send them: refused after 100, at once, not temporary."""
    with interim_for_ever(EARLY_HINTS, 0) as server:
        outcome, seconds = poll("sync", server.url, status_code=200, retry_transient=True, max_retries=3)
    assert isinstance(outcome, requests.ConnectionError), repr(outcome)
    assert "got more than 100 interim (1xx) responses" in str(outcome)
    assert not is_temp_network_error(outcome)
    assert server.connections == 1
    assert fake_time.sleeps == []
    assert seconds < 2


def test_switching_protocols_is_still_a_final_response(fake_time):
    """101 is not an interim response: it ends the head (a guard: unchanged by the skipping of 1xx)."""
    answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    with Answering(answer) as server:
        outcome, _ = poll("sync", server.url, status_code=101)
    assert not isinstance(outcome, Exception), repr(outcome)
    assert outcome.status_code == 101
    assert outcome.headers["Upgrade"] == "websocket"


# -- HTTP/2.0 status lines -------------------------------------------------------------------------

HTTP_2_0 = {
    "content-length": b"HTTP/2.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY),
    "chunked": b"HTTP/2.0 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY),
    "after-early-hints": EARLY_HINTS
    + b"HTTP/2.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
}


@pytest.mark.parametrize("framing", sorted(HTTP_2_0))
@pytest.mark.parametrize("front", FRONTS)
def test_an_http_2_0_status_line_is_read_as_http_1_1_and_matches_on_the_first_request(front, framing, fake_time):
    with Answering(HTTP_2_0[framing]) as server:
        outcome, _ = poll(front, server.url, until=UNTIL, retry_transient=True, max_retries=4)
    assert_final_answer(outcome, server, absent=["Link"])
    assert fake_time.sleeps == []


@pytest.mark.parametrize("front", FRONTS)
def test_the_connection_serves_the_next_request_after_an_http_2_0_response(front, fake_time):
    """The same framing rules as HTTP/1.1: the body ends at its length, and keep-alive holds."""
    with Answering(HTTP_2_0["content-length"]) as server:
        outcome, _ = poll(front, server.url, until={"status_code": 201}, max_retries=3)
    assert isinstance(outcome, GaveUp), repr(outcome)
    assert server.requests == 3
    # aiohttp's parser keeps a connection open after HTTP/1.1 responses only: it opens one per request here
    assert server.connections == (3 if front == "aiohttp" else 1)


@pytest.mark.parametrize("version", [b"HTTP/2", b"SPDY/3"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_status_line_of_another_protocol_is_refused_at_once_not_retried(front, version, fake_time):
    """A server that answers in a version no front end reads is broken, not busy: one request, then its error."""
    answer = version + b" 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    with Answering(answer) as server:
        outcome, _ = poll(front, server.url, until=UNTIL, retry_transient=True, max_retries=4)
    assert isinstance(outcome, Exception) and not isinstance(outcome, GaveUp), repr(outcome)
    assert server.requests == 1
