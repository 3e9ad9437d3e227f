"""Code and tests written against httsleep 0.3.1 keep working unchanged."""

from __future__ import annotations

import logging
from unittest import mock

import pytest

import httsleep
import httsleep.main
from httsleep import HttSleeper
from httsleep import httsleep as httsleep_function
from httsleep.exceptions import Alarm


def test_0_3_1_import_paths():
    from httsleep import HttSleeper as a
    from httsleep import httsleep as b
    from httsleep.exceptions import Alarm as c
    from httsleep.main import DEFAULT_MAX_RETRIES, DEFAULT_POLLING_INTERVAL
    from httsleep.main import HttSleeper as d
    from httsleep.main import httsleep as e

    assert a is d and b is e and c is Alarm
    assert (DEFAULT_POLLING_INTERVAL, DEFAULT_MAX_RETRIES) == (2, 50)
    assert callable(httsleep.main.sleep)


def test_positional_order_and_attributes(httpserver):
    import requests

    session = requests.Session()
    sleeper = HttSleeper(
        httpserver.url_for("/job"),
        {"status_code": 200},
        [{"status_code": 500}],
        ("user", "pass"),
        {"X-Test": "1"},
        session,
        False,
        5,
        10,
        [ValueError],
        logging.ERROR,
    )
    assert sleeper.request.method == "GET"
    assert sleeper.request.url == httpserver.url_for("/job")
    assert sleeper.request.auth == ("user", "pass")
    assert sleeper.request.headers == {"X-Test": "1"}
    assert sleeper.session is session
    assert sleeper.until == [{"status_code": 200}]
    assert sleeper.alarms == [{"status_code": 500}]
    assert sleeper.max_retries == 10
    assert sleeper.polling_interval == 5
    assert sleeper.ignore_exceptions == (ValueError,)
    assert sleeper.kwargs == {"verify": False}


def test_defaults_are_those_of_0_3_1():
    sleeper = HttSleeper("http://127.0.0.1:9/", {"status_code": 200})
    assert sleeper.max_retries == 50
    assert sleeper.polling_interval == 2
    assert sleeper.ignore_exceptions == ()
    assert sleeper.alarms == []


def test_patching_httsleep_main_sleep_removes_the_waits(httpserver):
    """The way 0.3.1's own tests (and its users') avoided waiting."""
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    with mock.patch("httsleep.main.sleep") as patched:
        with pytest.raises(StopIteration):
            httsleep_function(httpserver.url_for("/job"), {"json": {"status": "OK"}}, max_retries=3)
    assert patched.call_args_list == [mock.call(2), mock.call(2)]
    assert len(httpserver.log) == 3


@pytest.mark.parametrize("max_retries, requests_made", [(0, 1), (1, 1), (2, 2), (5, 5)])
def test_max_retries_makes_as_many_requests_as_0_3_1(httpserver, fake_time, max_retries, requests_made):
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    with pytest.raises(StopIteration) as info:
        httsleep_function(httpserver.url_for("/job"), {"json": {"status": "OK"}}, max_retries=max_retries)
    assert len(httpserver.log) == requests_made
    assert info.value.attempts == requests_made
    assert len(fake_time.sleeps) == requests_made - 1  # no wait after the last attempt


def test_max_retries_none_polls_without_limit(httpserver, fake_time):
    responses = iter([{"status": "PENDING"}] * 60 + [{"status": "OK"}])
    httpserver.expect_request("/job").respond_with_handler(
        lambda request: __import__("werkzeug").Response(__import__("json").dumps(next(responses)))
    )
    response = httsleep_function(httpserver.url_for("/job"), {"json": {"status": "OK"}}, max_retries=None)
    assert response.json() == {"status": "OK"}
    assert len(httpserver.log) == 61


def test_exhausted_retries_is_a_stop_iteration_with_context(httpserver, fake_time):
    httpserver.expect_request("/job").respond_with_data("busy", status=503)
    with pytest.raises(StopIteration) as info:
        httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, max_retries=2, polling_interval=1)
    error = info.value
    assert isinstance(error, httsleep.StopPolling) and isinstance(error, httsleep.GaveUp)
    assert error.attempts == 2 and error.limit == "max_retries"
    assert error.last_response.status_code == 503
    assert error.last_exception is None
    assert error.elapsed >= 1  # one (injected) wait of a second
    assert "max_retries=2" in str(error) and "503" in str(error)


def test_running_the_same_sleeper_twice_polls_twice(httpserver, fake_time):
    """0.3.1 counted max_retries down on the instance: the second run made one request."""
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    sleeper = HttSleeper(httpserver.url_for("/job"), {"json": {"status": "OK"}}, max_retries=3)
    for _ in range(2):
        with pytest.raises(StopIteration):
            sleeper.run()
    assert len(httpserver.log) == 6
    assert sleeper.max_retries == 3


def test_alarm_attributes_and_message(httpserver):
    httpserver.expect_request("/job").respond_with_json({"status": "ERROR"})
    alarm = {"json": {"status": "ERROR"}}
    with pytest.raises(Alarm) as info:
        httsleep_function(httpserver.url_for("/job"), {"json": {"status": "OK"}}, alarms=alarm)
    assert info.value.response.json() == {"status": "ERROR"}
    assert info.value.alarm == alarm
    assert str(info.value) and info.value.mesg == str(info.value)


def test_root_logger_is_not_touched(httpserver, caplog):
    """0.3.1 set the root logger's level from loglevel; only 'httsleep' may change now."""
    httpserver.expect_request("/job").respond_with_data("ok")
    caplog.set_level(logging.WARNING)  # a root level that loglevel=DEBUG would visibly change
    root = logging.getLogger()
    before = root.level
    assert before == logging.WARNING
    httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, loglevel=logging.DEBUG)
    assert root.level == before
    assert logging.getLogger("httsleep").level == logging.DEBUG


def test_loglevel_not_given_leaves_the_httsleep_logger_alone():
    logger = logging.getLogger("httsleep")
    logger.setLevel(7)  # no default httsleep could pick (restored by conftest)
    HttSleeper("http://127.0.0.1:9/", {"status_code": 200})
    assert logger.level == 7


def test_fractional_polling_interval_is_honoured(httpserver, fake_time):
    """0.3.1 truncated 0.5 to 0 with int()."""
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    with pytest.raises(StopIteration):
        httsleep_function(httpserver.url_for("/job"), {"json": {}}, polling_interval=0.5, max_retries=3)
    assert fake_time.sleeps == [0.5, 0.5]


def test_request_object_with_post_body(httpserver):
    import requests

    httpserver.expect_request("/jobs/1", method="POST", data="payload=here").respond_with_json({"ok": True})
    request = requests.Request(url=httpserver.url_for("/jobs/1"), method="POST", data={"payload": "here"})
    response = httsleep_function(request, until={"status_code": 200})
    assert response.json() == {"ok": True}
    assert httpserver.log[0][0].method == "POST"
