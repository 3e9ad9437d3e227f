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


# -- every name 0.3.1's modules offered ----------------------------------------------------------

#: What httsleep 0.3.1's modules defined or imported at their top level (its own modules, not the
#: standard library's names it happened to import).
NAMES_OF_0_3_1 = {
    "httsleep": ["httsleep", "HttSleeper", "main", "exceptions"],
    "httsleep.main": ["HttSleeper", "httsleep", "Alarm", "DEFAULT_POLLING_INTERVAL", "DEFAULT_MAX_RETRIES",
                      "VALID_CONDITIONS", "DEFAULT_SESSION", "sleep", "string_types", "jsonpath_rw", "requests",
                      "logging", "warnings"],
    "httsleep.exceptions": ["Alarm"],
}


@pytest.mark.parametrize("module", sorted(NAMES_OF_0_3_1))
def test_every_name_0_3_1s_modules_offered_is_importable_from_the_same_place(module):
    """``from httsleep.main import Alarm`` is what 0.3.1's own tests do first."""
    import importlib
    import warnings

    imported = importlib.import_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # DEFAULT_SESSION warns: see below
        for name in NAMES_OF_0_3_1[module]:
            assert getattr(imported, name) is not None, name
    from httsleep.main import Alarm as from_main

    assert from_main is Alarm
    assert httsleep.main.VALID_CONDITIONS == ["status_code", "text", "json", "jsonpath", "callback"]
    assert httsleep.main.string_types == (str,)


def test_default_session_is_importable_but_no_poll_shares_it(httpserver):
    """0.3.1 sent every poll through one module-level session; now reading it warns, and polls use their own."""
    import requests

    with pytest.warns(DeprecationWarning, match="no longer used by every poll"):
        from httsleep.main import DEFAULT_SESSION
    assert isinstance(DEFAULT_SESSION, requests.Session)
    first, second = HttSleeper("http://127.0.0.1:9/", {"status_code": 200}), HttSleeper("http://127.0.0.1:9/",
                                                                                       {"status_code": 200})
    assert first.session is not second.session and DEFAULT_SESSION not in (first.session, second.session)
    httpserver.expect_request("/job").respond_with_data("ok")
    assert httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, session=DEFAULT_SESSION).ok


# -- int() conversions ------------------------------------------------------------------------------


def test_numbers_as_strings_are_accepted_as_0_3_1s_int_did(httpserver, fake_time):
    """A polling interval or retry count read from the environment or a config file is a string."""
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    with pytest.raises(StopIteration) as caught:
        HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, polling_interval="5",
                   max_retries="3").run()
    assert fake_time.sleeps == [5.0, 5.0] and caught.value.attempts == 3


@pytest.mark.parametrize("arguments", [{"max_retries": "five"}, {"polling_interval": "soon"}, {"max_retries": 2.5}])
def test_invalid_numbers_are_still_value_errors(arguments):
    """0.3.1 raised ValueError from int(); code that catches ValueError around construction keeps working."""
    with pytest.raises(ValueError):
        HttSleeper("http://127.0.0.1:9/", {"status_code": 200}, **arguments)


@pytest.mark.parametrize("arguments", [{"max_retries": [5]}, {"polling_interval": object()}, {"session": "s"}])
def test_arguments_of_the_wrong_type_are_both_type_and_value_errors(arguments):
    with pytest.raises(TypeError) as caught:
        HttSleeper("http://127.0.0.1:9/", {"status_code": 200}, **arguments)
    assert isinstance(caught.value, ValueError)


# -- explicit settings win over the environment ------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed():
    """A TLS server whose certificate comes from a private CA, and that CA's bundle."""
    import ssl

    import trustme
    from faultservers import ScriptedServer

    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    with authority.cert_pem.tempfile() as bundle, ScriptedServer(ssl_context=context) as server:
        yield server, bundle


@pytest.fixture
def system_ca_bundle(monkeypatch):
    """REQUESTS_CA_BUNDLE set, as on CI images and company machines, to a bundle without the private CA."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())


def test_a_sessions_verify_false_wins_over_requests_ca_bundle(self_signed, system_ca_bundle):
    """0.3.1 polled a self-signed server through such a session; requests' merge let the environment win."""
    import warnings

    import requests

    server, _ = self_signed
    session = requests.Session()
    session.verify = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning: the point of verify=False
        assert HttSleeper(server.url, {"status_code": 200}, session=session).run().status_code == 200
        sleeper = HttSleeper(server.url, {"status_code": 200})
        sleeper.session.verify = False  # 0.3.1 code configuring the poller's own session
        assert sleeper.run().status_code == 200


def test_a_sessions_own_ca_bundle_wins_over_requests_ca_bundle(self_signed, system_ca_bundle):
    import requests

    server, bundle = self_signed
    session = requests.Session()
    session.verify = bundle
    assert HttSleeper(server.url, {"status_code": 200}, session=session).run().status_code == 200


def test_the_environments_ca_bundle_applies_when_nothing_explicit_is_said(self_signed, monkeypatch):
    """The control: REQUESTS_CA_BUNDLE is honoured third, for the poller's own session and a caller's alike."""
    import requests

    server, bundle = self_signed
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    assert httsleep_function(server.url, {"status_code": 200}).status_code == 200
    assert httsleep_function(server.url, {"status_code": 200}, session=requests.Session()).status_code == 200
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", __import__("certifi").where())
    with pytest.raises(requests.exceptions.SSLError):
        httsleep_function(server.url, {"status_code": 200})


def test_the_poller_sends_verify_true_when_nothing_is_said_as_0_3_1_did(monkeypatch, system_ca_bundle):
    """0.3.1's own tests look at the adapter's verify argument; the bundle is applied inside the adapter.

    (A path that does not exist is taken, as 0.3.1 took it: only an https request reads it.)
    """
    import requests

    seen = []

    def send(self, request, **kwargs):
        seen.append(kwargs["verify"])
        response = requests.Response()
        response.status_code = 200
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    HttSleeper("http://127.0.0.1:9/", {"status_code": 200}).run()
    HttSleeper("http://127.0.0.1:9/", {"status_code": 200}, verify="/call/bundle.pem").run()
    assert seen == [True, "/call/bundle.pem"]


def test_a_sessions_proxy_wins_over_http_proxy(monkeypatch):
    """Both proxies are loopback servers that answer themselves; only the session's may see the request."""
    import requests
    from faultservers import ScriptedServer

    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with ScriptedServer() as session_proxy, ScriptedServer() as environment_proxy:
        monkeypatch.setenv("HTTP_PROXY", environment_proxy.url)
        monkeypatch.setenv("http_proxy", environment_proxy.url)
        session = requests.Session()
        session.proxies = {"http": session_proxy.url}
        assert HttSleeper("http://jobs.example/job/1", {"status_code": 200}, session=session).run().ok
        assert [request.path for request in session_proxy.requests] == ["http://jobs.example/job/1"]
        assert environment_proxy.requests == []
        # the control: without a proxy of the session's, the environment's is used
        assert HttSleeper("http://jobs.example/job/2", {"status_code": 200}).run().ok
        assert [request.path for request in environment_proxy.requests] == ["http://jobs.example/job/2"]


# -- the poller's session ----------------------------------------------------------------------------


def test_the_pollers_session_can_be_read_and_configured_as_in_0_3_1(httpserver):
    import requests
    from requests.adapters import HTTPAdapter

    httpserver.expect_request("/job", headers={"X-Token": "t", "Cookie": "flavour=chocolate"}).respond_with_data("ok")
    sleeper = HttSleeper(httpserver.url_for("/job"), {"status_code": 200})
    assert isinstance(sleeper.session, requests.Session)
    assert sleeper.session.headers == requests.utils.default_headers()
    sleeper.session.headers["X-Token"] = "t"
    sleeper.session.cookies.set("flavour", "chocolate")
    adapter = HTTPAdapter(max_retries=3)
    sleeper.session.mount("http://", adapter)
    assert sleeper.run().status_code == 200
    assert sleeper.session.get_adapter(httpserver.url_for("/job")) is adapter
    assert sleeper.session is sleeper.session  # the same one, run after run


def test_no_two_pollers_share_a_session():
    first = HttSleeper("http://127.0.0.1:9/", {"status_code": 200})
    second = HttSleeper("http://127.0.0.1:9/", {"status_code": 200})
    assert first.session is not second.session
    first.session.headers["X-Only"] = "first"
    assert "X-Only" not in second.session.headers


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="counts file descriptors in /proc")
def test_a_poll_whose_session_was_never_read_leaves_no_connection_open():
    import gc
    import os

    from faultservers import ScriptedServer

    with ScriptedServer() as server:
        sleeper = HttSleeper(server.url, {"status_code": 200})
        sleeper.run()  # warm up: lazily imported modules, the watchdog thread
        gc.collect()
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(5):
            sleeper.run()
        gc.collect()
        # none left open (fewer is another test's server thread closing its own, late)
        assert len(os.listdir("/proc/self/fd")) <= before
        assert server.connections == 6  # one per poll: each closed when its poll ended


# -- poll 1.0 -----------------------------------------------------------------------------------------


def test_poll_1_0s_retry_calls_on_error_for_exceptions_outside_ex_too():
    from httsleep import retry_

    seen = []

    def fails():
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        retry_(fails, ValueError, 3, 0, lambda error, count: seen.append((type(error), count)))
    assert seen == [(KeyError, 0)]


def test_poll_1_0s_circuitbreaker_calls_on_error_for_exceptions_outside_ex_too():
    from httsleep import circuitbreaker

    seen = []

    @circuitbreaker(ValueError, threshold=1, reset_timeout=60, on_error=seen.append)
    def fails():
        raise KeyError("not a failure of the service")

    with pytest.raises(KeyError):
        fails()
    with pytest.raises(KeyError):  # not counted: the circuit is still closed
        fails()
    assert [type(error) for error in seen] == [KeyError, KeyError]


def test_circuit_broken_error_takes_poll_1_0s_arguments():
    from httsleep import CircuitBrokenError

    assert (str(CircuitBrokenError()), CircuitBrokenError().time_remaining) == ("", 0)
    assert (str(CircuitBrokenError("open")), CircuitBrokenError("open").time_remaining) == ("open", 0)
    assert CircuitBrokenError("open", 3.5).time_remaining == 3.5


def test_exec_is_poll_1_0s_general_loop():
    import httsleep.testing
    from httsleep import exec_

    results = iter([ValueError("flaky"), 1, 2, 3])

    def step():
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    errors = []
    with httsleep.testing.no_waiting():
        assert exec_(step, ValueError, lambda value: value >= 3, 3, 15, 1, lambda e, count: errors.append(count)) == 3
    assert errors == [0]


def test_times_0_is_one_call_and_a_negative_interval_no_wait_as_with_poll_1_0(monkeypatch):
    import httsleep.resilience
    from httsleep import poll_, retry_

    sleeps = []
    monkeypatch.setattr(httsleep.resilience, "sleep", sleeps.append)
    calls = []

    def fails():
        calls.append(1)
        raise ValueError("no")

    with pytest.raises(ValueError):
        retry_(fails, ValueError, 0)
    assert len(calls) == 1
    answers = iter([False, True])
    assert poll_(lambda: next(answers), lambda value: value, 15, -1) is True
    assert sleeps == [0.0]


def test_a_failure_exactly_reset_timeout_old_still_counts_as_in_poll_1_0():
    from httsleep import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_timeout=60, clock=lambda: now[0])
    breaker.admit().failure()
    now[0] = 60.0  # the first failure is exactly 60 s old: it still counts
    breaker.admit().failure()
    assert breaker.state == "open"


# -- dugong -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ENOLINK", "ENONET", "ENXIO", "EREMCHG"])
def test_dugongs_temporary_errnos_are_temporary(name):
    import errno

    from httsleep import is_temp_network_error

    code = getattr(errno, name, None)
    if code is None:
        pytest.skip("{} does not exist on this platform".format(name))
    assert is_temp_network_error(OSError(code, name))


def test_an_interrupted_system_call_is_temporary_as_dugong_says():
    from httsleep import is_temp_network_error

    assert is_temp_network_error(InterruptedError())
