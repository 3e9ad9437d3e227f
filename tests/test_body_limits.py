"""Response bodies: decoded by httsleep, never more than max_body_size, whatever the server sends.

The decoder itself (``httsleep._body.BodyReader``) is tested without I/O,
with hypothesis cutting valid gzip and deflate streams at random places;
the limit's behaviour in a poll (the error, its type, retries, the circuit
breaker) against real servers. Memory under attack is measured in
tests/test_hostile_servers.py.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import List

import aiohttp
import httpx
import pytest
import requests
from faultservers import RecordedRequest, Reply, ScriptedServer, canned, compression_bomb, decodes_to_nothing, endless
from fronts import FRONTS, run
from hypothesis import given, settings
from hypothesis import strategies as st

from httsleep import (
    AsyncHttSleeper,
    BodyDecodingError,
    BodyError,
    BodyTooLarge,
    CircuitBreaker,
    StopPolling,
    is_temp_network_error,
)
from httsleep import httsleep as poll
from httsleep._body import MAX_CODINGS, BodyReader, decodable_codings
from httsleep.policy import DEFAULT_MAX_BODY_SIZE
from httsleep.transient import is_service_failure

DOCUMENT = json.dumps({"status": "SUCCESS", "items": list(range(2000))}).encode()


def encode(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "raw-deflate":  # what some servers send for "deflate"
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    return data


def read(pieces: List[bytes], content_encoding: str = "", limit: object = None) -> bytes:
    reader = BodyReader(content_encoding, limit)  # type: ignore[arg-type]
    for piece in pieces:
        reader.feed(piece)
    return reader.finish()


def cut(data: bytes, points: List[int]) -> List[bytes]:
    points = sorted({point % (len(data) + 1) for point in points})
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)])]


# -- the decoder, without I/O --------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=5000) | st.just(DOCUMENT),
    coding=st.sampled_from(["identity", "gzip", "deflate", "raw-deflate"]),
    points=st.lists(st.integers(min_value=0, max_value=100_000), max_size=20),
)
def test_any_cut_of_a_valid_stream_decodes_to_the_original(data, coding, points):
    header = {"raw-deflate": "deflate"}.get(coding, coding)
    assert read(cut(encode(data, coding), points), header) == data


def test_stacked_codings_are_decoded_in_reverse_order_and_multi_member_gzip_whole():
    twice = gzip.compress(zlib.compress(DOCUMENT))
    assert read([twice], "deflate, gzip") == DOCUMENT
    members = gzip.compress(b"first ") + gzip.compress(b"second")
    assert read([members], "gzip") == b"first second"
    assert read([DOCUMENT], "compress") == DOCUMENT  # a coding httsleep never asks for passes through as it is


@pytest.mark.parametrize("tail", [b"\r\n", b"\n", b"\x00\x00\x00", b"trailing garbage", b"\x1f"])
def test_bytes_after_the_end_of_a_gzip_body_are_ignored_as_the_clients_do(tail):
    """A proxy that appends a newline to a gzip body: requests and httpx return the body; so does httsleep."""
    assert read([gzip.compress(DOCUMENT) + tail], "gzip") == DOCUMENT
    assert read([gzip.compress(DOCUMENT), tail], "gzip") == DOCUMENT


def test_more_codings_than_allowed_are_refused():
    with pytest.raises(BodyDecodingError, match="at most 5 are decoded"):
        BodyReader(", ".join(["gzip"] * (MAX_CODINGS + 1)), None)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_stream_that_is_not_what_it_claims_is_a_body_decoding_error(coding):
    with pytest.raises(BodyDecodingError, match="not valid {} data".format(coding)):
        read([b"definitely not compressed"], coding)
    with pytest.raises(BodyDecodingError, match="ends before its end marker"):
        read([gzip.compress(DOCUMENT)[:-12]], "gzip")


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compression_bomb_stops_just_past_the_limit(coding):
    """10 MB inflating to about 10 GB: decoding stops within a step (64 KiB) of the limit."""
    with pytest.raises(BodyTooLarge) as caught:
        read([compression_bomb(coding)], coding, limit=1_000_000)
    assert caught.value.limit == 1_000_000
    assert 1_000_000 < caught.value.size <= 1_000_000 + 64 * 1024


@settings(max_examples=50, deadline=None)
@given(limit=st.integers(min_value=0, max_value=len(DOCUMENT) * 2), points=st.lists(st.integers(), max_size=8))
def test_the_limit_counts_decoded_bytes_exactly(limit, points):
    pieces = cut(gzip.compress(DOCUMENT), points)
    if len(DOCUMENT) <= limit:
        assert read(pieces, "gzip", limit) == DOCUMENT
    else:
        with pytest.raises(BodyTooLarge):
            read(pieces, "gzip", limit)


def test_httsleep_asks_only_for_what_it_decodes(httpserver):
    """The library's own default (here: it decodes all of it, on urllib3 1.26 and 2 alike), and nothing more."""
    httpserver.expect_request("/").respond_with_data("ok")
    poll(httpserver.url_for("/"), status_code=200)
    asyncio.run(AsyncHttSleeper(httpserver.url_for("/"), status_code=200).run())
    sent = [request.headers["Accept-Encoding"] for request, _ in httpserver.log]
    assert sent == [requests.utils.default_headers()["Accept-Encoding"], httpx.Client().headers["Accept-Encoding"]]
    for header in sent:
        assert {coding.strip() for coding in header.split(",")} <= decodable_codings()
    httpserver.clear_log()
    poll(httpserver.url_for("/"), status_code=200, headers={"Accept-Encoding": "identity"})  # the caller's wins
    assert httpserver.log[0][0].headers["Accept-Encoding"] == "identity"


# -- the limit in a poll ----------------------------------------------------------------------------




@pytest.mark.parametrize("front", FRONTS)
def test_the_default_limit_is_10_mib_and_a_body_of_that_size_is_accepted(front):
    body = b"x" * DEFAULT_MAX_BODY_SIZE
    assert DEFAULT_MAX_BODY_SIZE == 10 * 1024 * 1024
    with ScriptedServer([Reply(body=body)]) as server:
        assert len(run(front, server.url, status_code=200).content) == DEFAULT_MAX_BODY_SIZE  # type: ignore
    with ScriptedServer([Reply(body=body + b"x")]) as server, pytest.raises(BodyTooLarge):
        run(front, server.url, status_code=200)


@pytest.mark.parametrize("front", FRONTS)
def test_max_body_size_can_be_raised_or_removed(front):
    body = gzip.compress(b"x" * (12 * 1024 * 1024))
    response = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    for limit in (20 * 1024 * 1024, None):
        with canned(response) as server:
            assert len(run(front, server.url, status_code=200, max_body_size=limit).content) == 12 * 1024 * 1024


@pytest.mark.parametrize("front", FRONTS)
def test_body_too_large_is_not_retried_as_transient_and_not_a_breaker_failure(front):
    breaker = CircuitBreaker(threshold=1, reset_timeout=60)
    with endless("chunked") as server:
        with pytest.raises(BodyTooLarge) as caught:
            run(front, server.url, status_code=200, max_body_size=10_000, retry_transient=True,
                circuit_breaker=breaker, polling_interval=0)
        assert server.connections == 1
    error = caught.value
    assert isinstance(error, BodyError) and not isinstance(error, (MemoryError, OSError, ValueError))
    assert not is_temp_network_error(error)
    assert not is_service_failure(exc=error)
    assert breaker.state == "closed" and breaker.failures == 0


def test_ignore_exceptions_keeps_polling_through_bodies_too_large(fake_time):
    with ScriptedServer([Reply(body=b"x" * 2000), Reply(json={"status": "SUCCESS"})]) as server:
        response = poll(server.url, json={"status": "SUCCESS"}, max_body_size=1000, ignore_exceptions=[BodyTooLarge])
    assert response.json() == {"status": "SUCCESS"}


@pytest.mark.parametrize("front", FRONTS)
def test_a_broken_gzip_body_is_httsleeps_error_and_the_http_librarys(front, fake_time):
    garbled = b"definitely not gzip"
    response = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(garbled), garbled)
    library = {"sync": requests.exceptions.ContentDecodingError, "async": httpx.DecodingError,
               "aiohttp": aiohttp.ClientPayloadError}[front]
    with canned(response) as server:
        with pytest.raises(BodyDecodingError) as caught:
            run(front, server.url, status_code=200, retry_transient=True)
    assert isinstance(caught.value, library)
    assert not is_temp_network_error(caught.value)


def test_giving_up_on_a_body_too_large_names_it(fake_time):
    with ScriptedServer([Reply(body=b"x" * 2000)]) as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, status_code=201, max_body_size=1000, ignore_exceptions=[BodyTooLarge], max_retries=2)
    assert "BodyTooLarge" in str(caught.value) and "max_body_size=1000" in str(caught.value)


def redirect_chain(hops: int, body: bytes) -> ScriptedServer:
    """``/`` redirects ``hops`` times, each redirect with ``body``, then answers ``{"status": "SUCCESS"}``."""

    def reply(request: RecordedRequest, index: int) -> Reply:
        step = int(request.path.strip("/") or 0)
        if step < hops:
            return Reply(302, body=body, headers={"Location": "/{}".format(step + 1)})
        return Reply(json={"status": "SUCCESS"})

    return ScriptedServer(reply)


@pytest.mark.parametrize("front", FRONTS)
def test_the_bodies_of_a_redirect_chain_count_together(front):
    """Each hop's body is kept in ``history``: 30 hops of just under the limit held 30 times the limit."""
    with redirect_chain(5, b"x" * 60_000) as server:
        with pytest.raises(BodyTooLarge) as caught:
            run(front, server.url, status_code=200, max_body_size=200_000)
    assert caught.value.earlier == 180_000 and caught.value.size > 200_000
    assert caught.value.response.status_code == 302
    assert "180000 of them in the redirects before it" in str(caught.value)


@pytest.mark.parametrize("front", FRONTS)
def test_a_redirect_chain_within_the_limit_keeps_its_bodies(front):
    with redirect_chain(3, b"moved") as server:
        response = run(front, server.url, status_code=200, max_body_size=1000)
    assert [hop.content for hop in response.history] == [b"moved"] * 3  # type: ignore[attr-defined]
    assert [hop.status_code for hop in response.history] == [302] * 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("front", FRONTS)
def test_a_gzip_body_with_a_stray_newline_after_it_is_read(front):
    body = gzip.compress(b'{"ok": true}') + b"\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with canned(response) as server:
        assert run(front, server.url, json={"ok": True}).content == b'{"ok": true}'  # type: ignore[attr-defined]


def test_raw_bytes_that_decode_to_nothing_are_bounded_too():
    """After a complete gzip stream, padding is ignored; endless padding is stopped at 2 x the limit + 1 MiB."""
    member = gzip.compress(b'{"status": "RUNNING"}')
    assert read([member, b"\n" * 100], "gzip", limit=1000) == b'{"status": "RUNNING"}'  # stray bytes: ignored
    reader = BodyReader("gzip", 1000)
    reader.feed(member)
    with pytest.raises(BodyTooLarge) as caught:
        for _ in range(40):
            reader.feed(b"\n" * 65536)
    assert caught.value.raw is not None and caught.value.raw > 2 * 1000 + 1024 * 1024
    assert "content-encoded bytes" in str(caught.value)
    assert BodyReader(None, 1000).raw == 0  # identity: the decoded size is the raw size, bounded as it is


@pytest.mark.parametrize("front", FRONTS)
def test_an_endless_body_that_decodes_to_nothing_is_stopped_on_every_front_end(front):
    import time

    with decodes_to_nothing() as server:
        started = time.monotonic()
        with pytest.raises(BodyTooLarge) as caught:
            run(front, server.url, status_code=200, max_body_size=100_000)
    assert caught.value.raw is not None
    assert time.monotonic() - started < 10  # it ran for as long as the server sent: minutes, at full CPU
