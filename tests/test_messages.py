"""What an alarm, a give-up and the log say about the last response: its status and the start of its body.

The body is the server's text: the excerpt is redacted (the request's own
secrets and sensitive-looking fields), made printable (a hostile server
cannot recolour a terminal or forge log lines) and short, on both front ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket

import pytest
import requests
from fronts import FRONTS, run

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
        "GET {}: response matched an alarm condition: <Condition jsonpath[status == 'FAILED']> "
        '(HTTP 200; body: {{ "status": "FAILED", "reason": "disk full" }})'.format(httpserver.url_for("/job"))
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


# -- what a message names: the request, the error in one line, what a JSONPath found ----------------------


@pytest.mark.parametrize("front", FRONTS)
def test_an_alarm_names_the_request_it_came_from_without_its_secrets(httpserver, front):
    """With a hundred polls running, the alarm says which job failed."""
    httpserver.expect_request("/jobs/17").respond_with_json({"status": "FAILED"})
    url = httpserver.url_for("/jobs/17") + "?api_key=" + TOKEN
    with pytest.raises(Alarm) as raised:
        run(front, url, until=UNTIL, alarms=ALARM)
    expected = "GET " + httpserver.url_for("/jobs/17") + "?api_key=***"
    assert str(raised.value).startswith(expected + ": response matched an alarm condition")
    assert raised.value.target == expected
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize("front", FRONTS)
def test_a_network_error_in_a_give_up_reads_as_one_line(front):
    """Not ConnectionError(MaxRetryError('HTTPConnectionPool(...): Max retries exceeded ...')), but what happened."""
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = "http://127.0.0.1:{}/job".format(port)
    with no_waiting(), pytest.raises(GaveUp) as raised:
        run(front, url, status_code=200, max_retries=2, retry_transient=True)
    message = str(raised.value)
    last = message.split("; last error: ", 1)[1]
    assert "refused" in last and "127.0.0.1:{}".format(port) in last
    assert not re.search(r"\w+\(['\"]", last), last  # no repr of an exception within another
    assert "Max retries exceeded" not in message
    assert url not in last  # the message names the request once, at its start
    assert re.match(r"\w+: connection to 127\.0\.0\.1:\d+ refused", last)


def test_urllib3s_max_retries_wrapper_is_shown_as_the_error_it_wraps():
    """requests' own "Max retries exceeded" counts urllib3's retries, not httsleep's max_retries."""
    from httsleep.messages import describe_error
    from httsleep.redaction import redact_text

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        requests.get("http://127.0.0.1:{}/job".format(port), timeout=5)  # requests itself, not httsleep
    assert "Max retries exceeded" in str(raised.value)
    shown = describe_error(raised.value, redact_text)
    assert shown.startswith("ConnectionError: ") and "Max retries exceeded" not in shown
    assert "refused" in shown.lower()


@pytest.mark.parametrize("front", FRONTS)
def test_a_give_up_says_that_a_jsonpath_found_nothing(httpserver, front):
    httpserver.expect_request("/job").respond_with_json({"state": "RUNNING"})
    with no_waiting(), pytest.raises(GaveUp) as raised:
        run(front, httpserver.url_for("/job"), jsonpath=[{"expression": "status", "value": "DONE"}], max_retries=1)
    assert "which matched no condition: status found nothing" in str(raised.value)


@pytest.mark.parametrize("front", FRONTS)
def test_a_give_up_says_that_a_wildcard_found_a_list_the_value_must_equal_whole(httpserver, front):
    httpserver.expect_request("/jobs").respond_with_json({"jobs": [{"status": "done"}, {"status": "running"}]})
    with no_waiting(), pytest.raises(GaveUp) as raised:
        run(front, httpserver.url_for("/jobs"), jsonpath=[{"expression": "jobs[*].status", "value": "done"}],
            max_retries=1)
    assert ("jobs[*].status found 2 values, ['done', 'running'], which the value must equal as one list"
            in str(raised.value))


def test_a_give_up_says_what_a_jsonpath_found_when_it_is_not_the_value(httpserver, fake_time):
    httpserver.expect_request("/job").respond_with_json({"status": "RUNNING"})
    with pytest.raises(StopPolling) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), jsonpath=[{"expression": "status", "value": "DONE"}],
                          max_retries=1)
    assert "status found 'RUNNING'" in str(raised.value)


def test_a_wrong_argument_type_is_a_public_httsleep_error():
    """timeout='5' names no private module: the class is httsleep.ArgumentTypeError."""
    with pytest.raises(httsleep.ArgumentTypeError) as raised:
        httsleep.httsleep("http://127.0.0.1:1/job", status_code=200, timeout="5")
    error = raised.value
    assert type(error).__module__ == "httsleep.exceptions"
    assert isinstance(error, TypeError) and isinstance(error, ValueError)  # 0.3.1 raised ValueError
    assert isinstance(error, httsleep.HttSleepError)
    assert str(error) == "timeout must be a number of seconds or None, not '5'"
