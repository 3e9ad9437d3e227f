"""Retry-After: honoured on 202, 429 and 503 by default, both forms, clamped, and switchable off.

Must-show 2. Waits are asserted on what httsleep asked to sleep
(``fake_time.sleeps``, hooks); one test checks real time once.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any, List

import pytest
from faultservers import Reply, ScriptedServer
from fronts import FRONTS, run

import httsleep
from httsleep import StopPolling
from httsleep import httsleep as poll
from httsleep.policy import DEFAULT_MAX_RETRY_AFTER, DEFAULT_RETRY_AFTER_STATUSES, parse_retry_after

DONE = Reply(json={"status": "SUCCESS"})


def busy(status: int, retry_after: str) -> Reply:
    return Reply(status, json={"status": "BUSY"}, headers={"Retry-After": retry_after})


# -- parsing ---------------------------------------------------------------------------------


def test_delta_seconds_are_read_as_seconds():
    assert parse_retry_after("120", now=0) == 120.0
    assert parse_retry_after(" 7 ", now=0) == 7.0
    assert parse_retry_after("0", now=0) == 0.0


def test_an_http_date_is_read_relative_to_now():
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=30) == 30.0


@pytest.mark.parametrize(
    "value", ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]
)
def test_the_three_http_date_formats_are_understood(value):
    """RFC 9110's preferred format and the two obsolete ones (asctime has no zone: it is GMT)."""
    assert parse_retry_after(value, now=784111777 - 10) == 10.0


def test_a_date_in_the_past_means_no_wait():
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=1_000_000) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Thu, 99 Foo 1970"])
def test_absent_or_unreadable_values_are_ignored(value):
    assert parse_retry_after(value, now=0) is None


def test_the_documented_defaults():
    """Retry-After is honoured on 202, 429 and 503, and clamped to 300 s, unless configured otherwise."""
    assert DEFAULT_RETRY_AFTER_STATUSES == {202, 429, 503}
    assert DEFAULT_MAX_RETRY_AFTER == 300


# -- polling ---------------------------------------------------------------------------------


def test_retry_after_1_on_a_503_makes_the_next_wait_one_second_despite_a_short_interval(fake_time):
    """Must-show 2: Retry-After: 1 beats polling_interval=0.01; hooks are told why."""
    seen = []
    with ScriptedServer([busy(503, "1"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.01, on_attempt=seen.append)
    assert fake_time.sleeps == [1.0]
    assert (seen[0].outcome, seen[0].wait, seen[0].wait_reason) == ("retry", 1.0, "Retry-After")


@pytest.mark.slow
def test_retry_after_1_really_waits_about_a_second():
    """The one real-time check: the second request arrives about a second after the first answer."""
    with ScriptedServer([busy(503, "1"), DONE]) as server:
        start = time.monotonic()
        poll(server.url, {"status_code": 200}, polling_interval=0.01, timeout=5)
        seconds = time.monotonic() - start
    assert 0.95 <= seconds < 1 + 0.5
    assert server.count == 2


def test_retry_after_30_with_timeout_1_gives_up_at_once_naming_the_limit():
    """Must-show 2 and 3: a wait that would cross the deadline is not slept; the error says why."""
    with ScriptedServer([busy(503, "30")]) as server:
        start = time.monotonic()
        with pytest.raises(StopPolling) as caught:
            poll(server.url, {"status_code": 200}, polling_interval=0.01, timeout=1)
        seconds = time.monotonic() - start
    assert seconds < 1 + 0.5
    gave_up = caught.value
    assert gave_up.limit == "timeout" and gave_up.attempts == 1
    assert "timeout=1s would pass during the next wait of 30s (Retry-After)" in str(gave_up)
    assert gave_up.last_response.status_code == 503
    assert "last response: HTTP 503" in str(gave_up)
    assert gave_up.last_exception is None


@pytest.mark.parametrize("status", sorted(DEFAULT_RETRY_AFTER_STATUSES))
def test_retry_after_is_honoured_on_202_429_and_503_by_default(fake_time, status):
    with ScriptedServer([busy(status, "5"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1)
    assert fake_time.sleeps == [5.0]


def test_retry_after_as_an_http_date(fake_time):
    with ScriptedServer([busy(429, formatdate(time.time() + 30, usegmt=True)), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1)
    [wait] = fake_time.sleeps
    assert 28 <= wait <= 30


def test_retry_after_on_other_statuses_is_ignored_by_default(fake_time):
    with ScriptedServer([busy(500, "5"), busy(200, "5"), DONE]) as server:
        poll(server.url, json={"status": "SUCCESS"}, polling_interval=0.1)
    assert fake_time.sleeps == [0.1, 0.1]


def test_retry_after_false_turns_it_off(fake_time):
    with ScriptedServer([busy(503, "30"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1, retry_after=False)
    assert fake_time.sleeps == [0.1]


def test_retry_after_can_be_honoured_on_chosen_statuses(fake_time):
    with ScriptedServer([busy(500, "4"), busy(503, "30"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1, retry_after=[500])
    assert fake_time.sleeps == [4.0, 0.1]


def test_a_longer_interval_wins_over_a_shorter_retry_after(fake_time):
    seen = []
    with ScriptedServer([busy(503, "1"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=3, on_attempt=seen.append)
    assert fake_time.sleeps == [3]
    assert seen[0].wait_reason == "interval"


def test_retry_after_is_clamped_to_the_documented_maximum(fake_time):
    with ScriptedServer([busy(503, "86400"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1)
    assert fake_time.sleeps == [300.0]


def test_max_retry_after_sets_another_maximum(fake_time):
    with ScriptedServer([busy(503, "86400"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1, max_retry_after=7)
    assert fake_time.sleeps == [7.0]


def test_retry_after_within_the_deadline_is_slept(fake_time):
    with ScriptedServer([busy(503, "5"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1, timeout=10)
    assert fake_time.sleeps == [5.0]


def test_a_clamped_retry_after_that_still_crosses_the_deadline_gives_up(fake_time):
    with ScriptedServer([busy(503, "86400")]) as server:
        with pytest.raises(StopPolling, match=r"next wait of 300s \(Retry-After\)"):
            poll(server.url, {"status_code": 200}, timeout=100)
    assert fake_time.sleeps == []


def test_an_unreadable_retry_after_falls_back_to_the_interval(fake_time):
    with ScriptedServer([busy(503, "in a while"), DONE]) as server:
        poll(server.url, {"status_code": 200}, polling_interval=0.1)
    assert fake_time.sleeps == [0.1]


@pytest.mark.parametrize("bad", [-1, float("nan"), "300"])
def test_max_retry_after_is_validated(bad):
    with pytest.raises((TypeError, ValueError), match="max_retry_after"):
        poll("http://127.0.0.1:9/", {"status_code": 200}, max_retry_after=bad)


# -- a load balancer's page ---------------------------------------------------------------------


def lb_page(status: int) -> Reply:
    """What a load balancer answers while the service behind it restarts: HTML, and when to come back."""
    return Reply(status, body=b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                 headers={"Content-Type": "text/html", "Retry-After": "3"})


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("front", ["sync", "async"])
def test_an_html_page_with_retry_after_is_waited_for_even_with_json_conditions(front, status, monkeypatch):
    """A JSON condition cannot judge the HTML page, yet the page says when to come back: that is no error."""
    import asyncio

    import httsleep.aio
    from httsleep import AsyncHttSleeper, HttSleeper

    seen = []
    options = dict(jsonpath=[{"expression": "status", "value": "SUCCESS"}], polling_interval=0.5,
                   on_attempt=seen.append)
    with ScriptedServer([lb_page(status), lb_page(status), DONE]) as server:
        with httsleep.testing.no_waiting():
            if front == "sync":
                response = HttSleeper(server.url, **options).run()
            else:
                response = asyncio.run(AsyncHttSleeper(server.url, **options).run())
    assert response.json() == {"status": "SUCCESS"}
    assert [(attempt.outcome, attempt.wait, attempt.wait_reason) for attempt in seen] == [
        ("retry", 3.0, "Retry-After"), ("retry", 3.0, "Retry-After"), ("success", None, None)
    ]


def test_an_html_page_without_retry_after_still_raises_the_decode_error(fake_time):
    """Only a page that says when to come back is waited for; any other non-JSON body stays an error."""
    page = Reply(503, body=b"<html>down</html>", headers={"Content-Type": "text/html"})
    with ScriptedServer([page]) as server:
        with pytest.raises(ValueError):
            poll(server.url, json={"status": "SUCCESS"})


def test_an_html_page_with_retry_after_on_a_status_not_honoured_raises(fake_time):
    with ScriptedServer([lb_page(503)]) as server:
        with pytest.raises(ValueError):
            poll(server.url, json={"status": "SUCCESS"}, retry_after=[429])


def test_a_retry_after_of_non_ascii_digits_is_unreadable_not_an_error(fake_time):
    """Headers are Latin-1: 'Retry-After: ²' passes str.isdigit() but not float(); it must not crash the poll."""
    from httsleep.policy import parse_retry_after

    assert parse_retry_after("\u00b2", now=0) is None
    assert parse_retry_after(" 12 ", now=0) == 12.0

    class Busy:
        status_code = 503
        headers = {"Retry-After": "\u00b2"}
        text = ""

    run = httsleep.HttSleeper("http://127.0.0.1:9/", status_code=200, polling_interval=1).policy.start(
        give_up=httsleep.StopPolling
    )
    run.begin_attempt()
    assert run.received(Busy()).sleep == 1.0


# -- a 503 with Retry-After whose body cannot be read ------------------------------------------------------

BAD_BODIES = {
    # what the body is: (extra headers, the bytes sent after the head; the connection is closed after them)
    "not-valid-gzip": (b"Content-Encoding: gzip\r\nContent-Length: 14\r\n", b"not gzip at all"[:14]),
    "over-max-body-size": (b"Content-Length: 5000\r\n", b"<html>" + b"x" * 4994),
    "cut-short": (b"Content-Length: 1000\r\n", b"<html>Service Unav"),
}


def unreadable_then_done(kind: str) -> Any:
    """The first connection answers a 503 with Retry-After: 2 and an unreadable body; later ones succeed."""
    from faultservers import RawServer, read_head

    headers, body = BAD_BODIES[kind]

    def handler(conn: Any, server: Any) -> None:
        head, _ = read_head(conn)
        if head is None:
            return
        if server.connections == 1:
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n" + headers + b"\r\n" + body)
        else:
            done = b'{"status": "SUCCESS"}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(done), done))

    return RawServer(handler)


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
@pytest.mark.parametrize("front", FRONTS)
def test_a_503_with_retry_after_is_waited_for_whatever_its_body_is(front, kind):
    """Broken gzip, too large, cut short: the 503 says when to come back, and its body is not needed for that."""
    seen: List[Any] = []
    options = dict(jsonpath=[{"expression": "status", "value": "SUCCESS"}], max_body_size=1000, polling_interval=0.5,
                   on_attempt=seen.append)
    with unreadable_then_done(kind) as server, httsleep.testing.no_waiting():
        response = run(front, server.url, **options)
    assert response.json() == {"status": "SUCCESS"}
    assert [(attempt.response.status_code, attempt.wait, attempt.wait_reason) for attempt in seen] == [
        (503, 2.0, "Retry-After"), (200, None, None)
    ]
    assert seen[0].response.content == b""  # the body that could not be read is dropped


def test_an_unreadable_body_without_retry_after_still_fails_the_attempt(fake_time):
    from faultservers import canned

    from httsleep import BodyTooLarge

    with canned(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000) as server:
        with pytest.raises(BodyTooLarge):
            poll(server.url, status_code=200, max_body_size=1000)
