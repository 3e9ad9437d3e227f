"""What an alarm, a give-up and the log say about the last response: its status and the start of its body.

The body is the server's text: the excerpt is redacted (the request's own
secrets and sensitive-looking fields), made printable (a hostile server
cannot recolour a terminal or forge log lines) and short, on both front ends.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

import httsleep
from httsleep import Alarm, AsyncGaveUp, GaveUp, StopPolling, async_httsleep
from httsleep.testing import no_waiting

UNTIL = {"jsonpath": [{"expression": "status", "value": "DONE"}]}
ALARM = {"jsonpath": [{"expression": "status", "value": "FAILED"}]}
TOKEN = "s3cr3t-t0k3n-value"


def test_an_alarm_names_the_condition_the_status_and_the_start_of_the_body(httpserver):
    # pytest-httpserver pretty-prints JSON: the excerpt keeps it on one line
    httpserver.expect_request("/job").respond_with_json({"status": "FAILED", "reason": "disk full"})
    with pytest.raises(Alarm) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until=UNTIL, alarms=ALARM)
    assert str(raised.value) == (
        "response matched an alarm condition: <Condition jsonpath[status == 'FAILED']> "
        '(HTTP 200; body: { "status": "FAILED", "reason": "disk full" })'
    )
    assert raised.value.body == '{ "status": "FAILED", "reason": "disk full" }'


def test_a_give_up_shows_the_last_body_too(httpserver, fake_time):
    httpserver.expect_request("/job").respond_with_data("<html>Service Unavailable</html>", status=503)
    with pytest.raises(StopPolling) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until={"status_code": 200}, max_retries=2)
    assert "max_retries=2 reached; last response: HTTP 503 SERVICE UNAVAILABLE; body: " \
           "<html>Service Unavailable</html>, which matched no condition" in str(raised.value)


def test_the_excerpt_hides_the_requests_secrets_and_sensitive_fields(httpserver, fake_time):
    echoed = '{"status": "RUNNING", "echo": "%s", "password": "hunter2"}' % TOKEN
    httpserver.expect_request("/job").respond_with_data(echoed, content_type="application/json")
    with pytest.raises(StopPolling) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until=UNTIL, max_retries=1,
                          headers={"Authorization": "Bearer " + TOKEN})
    message = str(raised.value)
    assert TOKEN not in message and "hunter2" not in message
    assert '"status": "RUNNING"' in message and '"password": "***"' in message


def test_the_excerpt_escapes_control_characters(httpserver, fake_time):
    httpserver.expect_request("/job").respond_with_data("\x1b[31mfailed\x1b[0m\r\nINFO forged line", status=500)
    with pytest.raises(StopPolling) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until={"status_code": 200}, max_retries=1)
    message = str(raised.value)
    assert "\x1b" not in message and "\n" not in message and "\r" not in message
    assert "\\x1b[31mfailed\\x1b[0m" in message


def test_a_long_body_is_cut_to_two_hundred_characters(httpserver):
    body = '{"status": "FAILED", "log": "%s"}' % ("x" * 100_000)
    httpserver.expect_request("/job").respond_with_data(body, content_type="application/json")
    with pytest.raises(Alarm) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until=UNTIL, alarms=ALARM)
    assert len(raised.value.body) == 200 and raised.value.body.endswith("...")
    assert raised.value.body.startswith('{"status": "FAILED", "log": "xxx')


def test_the_excerpt_is_decoded_with_the_charset_the_server_names(httpserver):
    httpserver.expect_request("/job").respond_with_data(
        '{"status": "FAILED", "reason": "d\u00e9j\u00e0 vu"}'.encode("latin-1"),
        content_type="application/json; charset=latin-1")
    with pytest.raises(Alarm) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until=UNTIL, alarms=ALARM)
    assert raised.value.body == '{"status": "FAILED", "reason": "d\u00e9j\u00e0 vu"}'


@pytest.mark.parametrize("charset", ["undefined", "base64", "no-such-charset"])
def test_a_charset_that_cannot_decode_text_gives_a_utf_8_excerpt(httpserver, charset):
    """A server naming a codec that always fails, or one that is not for text, cannot break the message."""
    httpserver.expect_request("/job").respond_with_data(
        '{"status": "FAILED", "reason": "d\u00e9j\u00e0 vu"}'.encode(), content_type="text/plain; charset=" + charset)
    with pytest.raises(Alarm) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until=UNTIL, alarms=ALARM)
    assert raised.value.body == '{"status": "FAILED", "reason": "d\u00e9j\u00e0 vu"}'


def test_an_empty_body_adds_nothing_to_the_message(httpserver, fake_time):
    httpserver.expect_request("/job").respond_with_data("", status=204)
    with pytest.raises(StopPolling) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), until={"status_code": 200}, max_retries=1)
    assert "last response: HTTP 204 NO CONTENT, which matched no condition" in str(raised.value)


def test_each_retry_logged_shows_the_status_and_the_start_of_the_body(httpserver, caplog, fake_time):
    caplog.set_level(logging.INFO, logger="httsleep")
    httpserver.expect_request("/job").respond_with_data(
        '{"status": "RUNNING", "token": "%s"}' % TOKEN, content_type="application/json")
    with pytest.raises(GaveUp):
        httsleep.httsleep(httpserver.url_for("/job"), until=UNTIL, max_retries=2, polling_interval=1)
    retries = [record.getMessage() for record in caplog.records if "not ready" in record.getMessage()]
    assert retries == [
        'GET {}: not ready after attempt 1 (HTTP 200 OK; body: {{"status": "RUNNING", "token": "***"}}), '
        "waiting 1s".format(httpserver.url_for("/job"))
    ]


def test_the_asyncio_front_end_says_the_same(httpserver):
    httpserver.expect_request("/alarm").respond_with_json({"status": "FAILED", "token": TOKEN})
    httpserver.expect_request("/pending").respond_with_data("\x1b[2Jstill busy", status=503)

    async def main():
        with pytest.raises(Alarm) as alarm:
            await async_httsleep(httpserver.url_for("/alarm"), until=UNTIL, alarms=ALARM)
        with no_waiting(), pytest.raises(AsyncGaveUp) as gave_up:
            await async_httsleep(httpserver.url_for("/pending"), until={"status_code": 200}, max_retries=1)
        return alarm.value, gave_up.value

    alarm, gave_up = asyncio.run(main())
    assert alarm.body == '{ "status": "FAILED", "token": "***" }' and TOKEN not in str(alarm)
    assert "HTTP 503 SERVICE UNAVAILABLE; body: \\x1b[2Jstill busy, which matched no condition" in str(gave_up)
