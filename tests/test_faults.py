"""Fault injection: real sockets on loopback, each fault a small server (tests/faultservers.py).

For every fault the outcome is the documented one, and a poll with a
deadline ends within the deadline plus a small margin. Waits between
attempts are injected (``fake_time``); only the tests whose point is a real
socket timeout take real time, and they assert an upper bound.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import ssl
import sys
import threading
import time
import tracemalloc
import warnings
from typing import List

import faultservers
import pytest
import requests
import trustme
from faultservers import (
    Backlogged,
    LateServer,
    RawServer,
    Reply,
    ScriptedServer,
    canned,
    dripping,
    garbage,
    hang_up,
    read_head,
    reset,
    silent,
    slow_redirect,
    tls_eof,
    truncated,
)

import httsleep.testing
from httsleep import Attempt, StopPolling, is_temp_network_error
from httsleep import httsleep as poll
from httsleep.policy import DEFAULT_REQUEST_TIMEOUT, Policy

#: How far past its deadline a poll may end (the issue's "small margin").
MARGIN = 0.5


def timed(function, *args, **kwargs):
    """(outcome, seconds): the return value or the exception raised, and the real time taken."""
    start = time.monotonic()
    try:
        outcome = function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the outcome under test
        outcome = exc
    return outcome, time.monotonic() - start


# -- a server that never answers / answers slowly -----------------------------------------


@pytest.mark.slow
def test_a_server_that_never_answers_cannot_hold_a_poll_past_its_deadline():
    """Must-show 1: httsleep(url, until, timeout=1) against a silent server ends within 1.5 s."""
    with silent() as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, timeout=1)
    assert seconds < 1 + MARGIN
    assert isinstance(outcome, StopPolling)
    assert outcome.limit == "timeout"
    assert "timeout=1s ran out during attempt 1" in str(outcome)
    assert isinstance(outcome.last_exception, requests.Timeout)
    assert outcome.__cause__ is outcome.last_exception


@pytest.mark.slow
def test_a_body_dripping_one_byte_at_a_time_cannot_hold_a_poll_past_its_deadline():
    """Must-show 1: every byte arrives well within the read timeout, but the deadline still ends it."""
    with dripping(interval=0.05) as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, timeout=1)
    assert seconds < 1 + MARGIN
    assert isinstance(outcome, StopPolling)
    assert outcome.limit == "timeout"
    assert isinstance(outcome.last_exception, requests.Timeout)


@pytest.mark.slow
def test_a_redirect_whose_body_drips_cannot_hold_a_poll_past_its_deadline():
    """requests reads a redirect's body itself before following it; that read is bounded too."""
    with slow_redirect("/next", drip=0.05) as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, timeout=1)
    assert seconds < 1 + MARGIN
    assert isinstance(outcome, StopPolling) and outcome.limit == "timeout"


@pytest.mark.slow
def test_a_slow_redirect_to_a_silent_server_cannot_hold_a_poll_past_its_deadline():
    """The second hop's timeout is what remains when it starts, not what remained at the first."""
    with silent() as target, slow_redirect(target.url, delay=0.7) as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, timeout=1)
    assert seconds < 1 + MARGIN
    assert isinstance(outcome, StopPolling) and outcome.limit == "timeout"
    assert target.connections == 1


def test_a_body_slower_than_the_read_timeout_fails_with_readtimeout_before_the_deadline():
    """With a deadline far away, the per-read timeout still applies to each read of the body."""
    with dripping(interval=1.0, length=3) as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, timeout=30, request_timeout=0.2)
    assert isinstance(outcome, requests.ReadTimeout)
    assert seconds < 0.2 + MARGIN


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a full accept queue drops SYNs on Linux")
def test_a_connection_that_never_completes_cannot_hold_a_poll_past_its_deadline():
    """The connect timeout (10 s by default) is cut to the deadline too."""
    with Backlogged() as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, timeout=1)
    assert seconds < 1 + MARGIN
    assert isinstance(outcome, StopPolling) and outcome.limit == "timeout"
    assert isinstance(outcome.last_exception, requests.ConnectTimeout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a full accept queue drops SYNs on Linux")
def test_a_connect_timeout_with_time_left_is_not_mistaken_for_the_deadline(fake_time):
    """timeout=3 cuts the read timeout (30 -> 3) but not the connect one (0.2): a connect timeout
    at 0.2 s is the request's own, so retry_transient retries it instead of giving up on the deadline."""
    seen: List[Attempt] = []
    with Backlogged() as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, {"status_code": 200}, timeout=3, request_timeout=(0.2, 30), retry_transient=True,
                 max_retries=2, polling_interval=0.1, on_attempt=seen.append)
    assert caught.value.limit == "max_retries"
    assert isinstance(caught.value.last_exception, requests.ConnectTimeout)
    assert [attempt.outcome for attempt in seen] == ["retry", "gave_up"]


def test_without_a_deadline_the_request_timeout_ends_a_silent_request():
    """request_timeout= bounds each request even when the poll has no timeout=."""
    with silent() as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, request_timeout=0.2)
    assert isinstance(outcome, requests.ReadTimeout)
    assert seconds < 0.2 + MARGIN


@pytest.mark.slow
def test_retry_transient_keeps_polling_a_silent_server_until_the_deadline():
    """Timeouts are temporary: with retry_transient the poll retries, and the deadline ends it."""
    seen: List[Attempt] = []
    with silent() as server:
        outcome, seconds = timed(
            poll,
            server.url,
            {"status_code": 200},
            timeout=1,
            request_timeout=0.3,
            polling_interval=0.05,
            retry_transient=True,
            on_attempt=seen.append,
        )
    assert seconds < 1 + MARGIN
    assert isinstance(outcome, StopPolling) and outcome.limit == "timeout"
    assert outcome.attempts >= 2
    assert [attempt.outcome for attempt in seen[:-1]] == ["retry"] * (len(seen) - 1)
    assert seen[-1].outcome == "gave_up"


def test_max_retries_and_timeout_combine_whichever_runs_out_first_ends_the_poll():
    """A silent server with a short request timeout: max_retries=2 runs out long before timeout=60."""
    with silent() as server:
        outcome, seconds = timed(
            poll,
            server.url,
            {"status_code": 200},
            timeout=60,
            request_timeout=0.1,
            max_retries=2,
            polling_interval=0,
            retry_transient=True,
        )
    assert isinstance(outcome, StopPolling)
    assert outcome.limit == "max_retries" and outcome.attempts == 2
    assert "max_retries=2 reached" in str(outcome)
    assert seconds < 2 * 0.1 + MARGIN


def test_every_request_has_a_finite_timeout_by_default():
    assert DEFAULT_REQUEST_TIMEOUT == (10.0, 30.0)
    assert Policy({"status_code": 200}).start(give_up=StopPolling).request_timeout() == (10.0, 30.0)


def test_the_request_timeout_is_cut_to_what_remains_of_the_deadline():
    now = [100.0]
    run = Policy({"status_code": 200}, timeout=12, request_timeout=(3, 20)).start(lambda: now[0], give_up=StopPolling)
    assert run.request_timeout() == (3, 12)
    now[0] = 110.0
    assert run.request_timeout() == (2, 2)
    now[0] = 200.0  # long past: still a small positive timeout, never 0 (non-blocking) or negative
    assert 0 < run.request_timeout()[0] <= 0.01
    single = Policy({"status_code": 200}, timeout=5, request_timeout=8).start(lambda: 0.0, give_up=StopPolling)
    assert single.request_timeout() == 5


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "10", True, (1, 2, 3), (1, None)])
def test_invalid_request_timeouts_are_rejected_with_the_value_in_the_message(bad):
    with pytest.raises((TypeError, ValueError)) as caught:
        Policy({"status_code": 200}, request_timeout=bad)
    assert "timeout" in str(caught.value)
    shown = bad[-1] if bad == (1, None) else bad  # a bad part of a pair is named on its own
    assert str(caught.value).endswith("not {!r}".format(shown))


BIG = json.dumps({"status": "SUCCESS", "padding": "x" * 200_000}).encode()


def _chunked(body: bytes, size: int = 7000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(BIG),
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gzip.compress(BIG))
        + gzip.compress(BIG),
    ],
    ids=["chunked", "gzip"],
)
@pytest.mark.parametrize("deadline", [None, 10], ids=["no-deadline", "deadline"])
def test_bodies_read_under_a_deadline_are_complete_and_decoded(response, deadline):
    """The deadline-bounded body reader gives the same body as requests: de-chunked, gunzipped."""
    with canned(response) as server:
        result = poll(server.url, jsonpath=[{"expression": "status", "value": "SUCCESS"}], timeout=deadline)
    assert result.content == BIG


def test_a_body_that_claims_gzip_but_is_not_raises_content_decoding_error():
    """A broken Content-Encoding under a deadline is requests' ContentDecodingError, not temporary."""
    garbled = b"definitely not gzip"
    response = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(garbled), garbled)
    with canned(response) as server:
        with pytest.raises(requests.exceptions.ContentDecodingError) as caught:
            poll(server.url, {"status_code": 200}, timeout=10)
    assert not is_temp_network_error(caught.value)


def test_the_deadline_passing_between_two_pieces_of_a_body_gives_up(fake_time):
    """The body reader checks the deadline before every read (the clock jumps while the body arrives)."""

    def handler(conn, server):
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nx")
        fake_time.offset += 100  # the deadline passes...
        if not server.stopping.wait(0.2):
            conn.sendall(b"yz")  # ...before the rest arrives
        server.stopping.wait()

    with RawServer(handler) as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, {"status_code": 200}, timeout=10)
    assert caught.value.limit == "timeout"
    assert "did not arrive before the deadline" in str(caught.value.last_exception)


@pytest.mark.slow
def test_a_body_that_trickles_in_slower_than_the_read_timeout_overall_is_read_whole():
    """A byte every 0.2 s, read timeout 1 s: each wait is shorter than the timeout, so the 11 s body arrives.

    urllib3 1.x has no ``read1``, and its ``read(64 KiB)`` waits for all 64 KiB: the read timeout cut such a
    body after 1 s. httsleep reads the ``http.client`` response under urllib3's, which returns what has
    come (CI runs this file against urllib3 1.26 too).
    """
    with dripping(interval=0.2, length=12) as server:
        response = poll(server.url, {"status_code": 200}, request_timeout=(1, 1))
    assert response.content == b"x" * 12


def test_a_body_completed_after_the_deadline_gives_up(fake_time):
    def handler(conn, server):
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nx")
        fake_time.offset += 100
        conn.sendall(b"yz")
        server.stopping.wait()

    with RawServer(handler) as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, {"status_code": 200}, timeout=10)
    assert caught.value.limit == "timeout"


def test_a_chunked_body_is_read_complete():
    with canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(BIG)) as server:
        assert poll(server.url, {"status_code": 200}, timeout=10).content == BIG


@pytest.mark.slow
def test_urllib3s_own_retries_each_get_a_fresh_head_bound():
    """A session whose adapter retries: the first connection drips its head and is cut after connect + read;
    urllib3 retries on a second connection, which answers at once. The poll gets that answer (before, the cut
    of the first connection made httsleep report a timeout anyway)."""
    from requests.adapters import HTTPAdapter

    def handler(conn, server):
        if read_head(conn)[0] is None:
            return
        if server.connections == 1:
            for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 100:
                conn.sendall(bytes([byte]))
                if server.stopping.wait(0.2):
                    return
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with RawServer(handler) as server, requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=3))
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, session=session, request_timeout=(0.3, 0.5))
        connections = server.connections
    assert getattr(outcome, "content", None) == b"ok", repr(outcome)
    assert connections == 2 and seconds < 0.8 + MARGIN


def test_a_body_that_stalls_without_a_deadline_is_a_read_timeout_too():
    """requests calls it a ConnectionError; httsleep says ReadTimeout with or without timeout=."""
    with dripping(interval=1.0, length=3) as server:
        outcome, seconds = timed(poll, server.url, {"status_code": 200}, request_timeout=0.2)
    assert isinstance(outcome, requests.ReadTimeout), repr(outcome)
    assert seconds < 0.2 + MARGIN  # the 0.2 s read timeout, not the 1 s until the first byte of the body


# -- connection-level faults (no real waiting) ------------------------------------------------


def test_a_reset_connection_propagates_by_default(fake_time):
    """Without retry_transient a reset is an error of the poll, raised at once."""
    with reset() as server:
        with pytest.raises(requests.ConnectionError) as caught:
            poll(server.url, {"status_code": 200}, polling_interval=1)
    assert is_temp_network_error(caught.value)
    assert fake_time.sleeps == []


def test_a_reset_connection_is_retried_with_retry_transient_until_max_retries(fake_time):
    """Resets are temporary: retry_transient polls on; giving up carries the last exception."""
    with reset() as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, {"status_code": 200}, polling_interval=1, max_retries=3, retry_transient=True)
    assert caught.value.limit == "max_retries"
    assert caught.value.attempts == 3 and server.connections == 3
    assert isinstance(caught.value.last_exception, requests.ConnectionError)
    assert caught.value.last_response is None
    assert "last error: ConnectionError" in str(caught.value)
    assert fake_time.sleeps == [1, 1]


def test_a_server_that_hangs_up_without_answering_is_retried_with_retry_transient(fake_time):
    """RemoteDisconnected (a closed keep-alive connection, say) is temporary, though also a BadStatusLine."""
    with hang_up() as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, {"status_code": 200}, retry_transient=True, max_retries=3, polling_interval=0.5)
    assert caught.value.attempts == 3
    assert "RemoteDisconnected" in repr(caught.value.last_exception)


def test_a_truncated_body_is_a_chunked_encoding_error(fake_time):
    """A body shorter than its Content-Length raises ChunkedEncodingError (temporary)."""
    with truncated() as server:
        with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
            poll(server.url, {"status_code": 200}, timeout=5)
    assert is_temp_network_error(caught.value)


def test_a_truncated_body_is_retried_with_retry_transient_or_ignore_exceptions(fake_time):
    """Both the switch and an explicit ignore_exceptions keep polling through a truncated body."""
    for options in ({"retry_transient": True}, {"ignore_exceptions": [requests.exceptions.ChunkedEncodingError]}):
        with truncated() as server:
            with pytest.raises(StopPolling) as caught:
                poll(server.url, {"status_code": 200}, max_retries=2, polling_interval=0.5, **options)
        assert caught.value.attempts == 2, options
        assert isinstance(caught.value.last_exception, requests.exceptions.ChunkedEncodingError)


def test_garbage_instead_of_http_is_not_temporary_and_is_not_retried(fake_time):
    """A server that does not speak HTTP is a permanent error: retry_transient raises at once."""
    with garbage() as server:
        with pytest.raises(requests.ConnectionError) as caught:
            poll(server.url, {"status_code": 200}, retry_transient=True, polling_interval=1)
    assert "BadStatusLine" in repr(caught.value)
    assert not is_temp_network_error(caught.value)
    assert server.connections == 1
    assert fake_time.sleeps == []


def test_garbage_is_still_retried_when_the_caller_ignores_its_exception(fake_time):
    """ignore_exceptions keeps working for errors that are not temporary."""
    with garbage() as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, {"status_code": 200}, ignore_exceptions=[requests.ConnectionError], max_retries=2)
    assert caught.value.attempts == 2


def test_refused_connections_then_the_server_comes_up(fake_time):
    """Refusals are temporary: the poll keeps going until the server listens, then succeeds."""

    def come_up_after_two(attempt: Attempt) -> None:
        if attempt.number == 2:
            late.start()

    with LateServer([Reply(json={"status": "SUCCESS"})]) as late:
        response = poll(
            late.url,
            json={"status": "SUCCESS"},
            retry_transient=True,
            polling_interval=0.5,
            timeout=10,
            on_attempt=come_up_after_two,
        )
    assert response.json() == {"status": "SUCCESS"}
    assert fake_time.sleeps == [0.5, 0.5]


def test_a_refused_connection_propagates_without_retry_transient(fake_time):
    """Without the switch, a refusal ends the poll at the first attempt."""
    with LateServer() as late:
        with pytest.raises(requests.ConnectionError) as caught:
            poll(late.url, {"status_code": 200})
    assert is_temp_network_error(caught.value)


# -- TLS with a private CA ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_ca():
    """A private CA and a server context with a certificate for 127.0.0.1 it signed."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with ca.cert_pem.tempfile() as bundle:
        yield bundle, context


def test_tls_with_verify_set_to_the_private_ca_bundle_works(private_ca):
    bundle, context = private_ca
    with ScriptedServer(ssl_context=context) as server:
        assert poll(server.url, {"status_code": 200}, verify=bundle, timeout=5).status_code == 200


def test_tls_with_default_verification_fails_with_a_clear_ssl_error_and_is_not_retried(private_ca, fake_time):
    """A certificate the default trust store does not know: SSLError, permanent even with retry_transient."""
    _, context = private_ca
    with ScriptedServer(ssl_context=context) as server:
        with pytest.raises(requests.exceptions.SSLError) as caught:
            poll(server.url, {"status_code": 200}, retry_transient=True, timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert not is_temp_network_error(caught.value)
    assert server.count == 0


def test_tls_with_verify_false_works(private_ca):
    _, context = private_ca
    with ScriptedServer(ssl_context=context) as server, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning: the point of verify=False
        assert poll(server.url, {"status_code": 200}, verify=False).status_code == 200


def test_a_tls_connection_closed_mid_handshake_is_temporary(fake_time):
    """A TLS EOF inside requests' SSLError wrapper is temporary: retry_transient retries it."""
    with tls_eof() as server:
        url = server.url.replace("http://", "https://")
        with pytest.raises(requests.exceptions.SSLError) as caught:
            poll(url, {"status_code": 200})
        assert is_temp_network_error(caught.value)
        with pytest.raises(StopPolling) as gave_up:
            poll(url, {"status_code": 200}, retry_transient=True, max_retries=2, timeout=10)
    assert isinstance(gave_up.value.last_exception, requests.exceptions.SSLError)


# -- no leaks, no interference -----------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _client_memory() -> tracemalloc.Snapshot:
    """What is allocated now, except by the fault servers and by tracemalloc itself."""
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, faultservers.__file__), tracemalloc.Filter(False, tracemalloc.__file__)]
    )


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts file descriptors in /proc")
@pytest.mark.parametrize("shared_session", [True, False], ids=["one-session", "no-session"])
def test_ten_thousand_polls_leave_no_growth_in_file_descriptors_or_memory(shared_session):
    """10,000 polls that succeed at once: same fd count after as before, < 64 kB more memory.

    Memory is traced over the last 2,000 polls (tracing makes each poll about
    twice as slow); the test server's own allocations (a 64 kB receive buffer
    in flight, say) are left out: what is measured is the client side.
    """
    with ScriptedServer(record=False) as server, requests.Session() as session:
        use = session if shared_session else None
        for _ in range(200):  # warm-up: pools, caches, lazily imported modules
            poll(server.url, {"status_code": 200}, session=use)
        gc.collect()
        fds_before = _open_fds()
        for _ in range(8_000):
            poll(server.url, {"status_code": 200}, session=use)
        tracemalloc.start()
        try:
            gc.collect()
            before = _client_memory()
            for _ in range(2_000):
                poll(server.url, {"status_code": 200}, session=use)
            gc.collect()
            growth = sum(stat.size_diff for stat in _client_memory().compare_to(before, "filename"))
        finally:
            tracemalloc.stop()
        fds_after = _open_fds()
        connections = server.connections
    assert fds_after <= fds_before
    assert growth < 64 * 1024, growth
    assert connections == (1 if shared_session else 10_200)


def test_fifty_threads_polling_at_once_with_default_settings_do_not_interfere():
    """Each thread polls its own job (3 pending answers, then done) and gets its own answer."""
    pending = 3

    def replies(request, index):
        with lock:
            counts[request.path] = counts.get(request.path, 0) + 1
            count = counts[request.path]
        state = "SUCCESS" if count > pending else "PENDING"
        return Reply(json={"job": request.path, "status": state})

    lock = threading.Lock()
    counts: dict = {}
    results: dict = {}
    errors: List[BaseException] = []
    start = threading.Barrier(50)

    def worker(number: int) -> None:
        try:
            start.wait()
            expected = {"job": "/job/{}".format(number), "status": "SUCCESS"}
            response = poll("{}job/{}".format(server.url, number), json=expected)
            results[number] = response.json()["job"]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with ScriptedServer(replies, record=False) as server, httsleep.testing.no_waiting():
        threads = [threading.Thread(target=worker, args=(number,)) for number in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert results == {number: "/job/{}".format(number) for number in range(50)}
    assert counts == {"/job/{}".format(number): pending + 1 for number in range(50)}
