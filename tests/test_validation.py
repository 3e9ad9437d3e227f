"""Bad arguments are rejected at construction, with the bad value in the message."""

from __future__ import annotations

import base64
import copy

import pytest
from fronts import FRONTS as FRONT_NAMES
from fronts import run

from httsleep import HttSleeper, httsleep

URL = "http://127.0.0.1:9/job"


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"until": None}, ValueError, "no success conditions"),
        ({"until": {}}, ValueError, "no success conditions"),
        ({"until": []}, ValueError, "no success conditions"),
        ({"until": [{}]}, ValueError, "no success conditions"),
        ({"until": "status_code"}, TypeError, "'status_code'"),
        ({"until": [{"status_code": 200}, "x"]}, TypeError, "'x'"),
        ({"until": {"status": 200}}, ValueError, "'status'"),
        ({"until": {"status_code": "abc"}}, ValueError, "'abc'"),
        ({"until": {"status_code": None}}, TypeError, "None"),
        ({"until": {"status_code": True}}, TypeError, "True"),
        ({"until": {"status_code": 200.5}}, ValueError, "200.5"),
        ({"until": {"text": 5}}, TypeError, "5"),
        ({"until": {"callback": "not callable"}}, TypeError, "'not callable'"),
        ({"until": {"jsonpath": "status"}}, TypeError, "'status'"),
        ({"until": {"jsonpath": []}}, ValueError, "at least one"),
        ({"until": {"jsonpath": ["status"]}}, TypeError, "'status'"),
        ({"until": {"jsonpath": [{"expression": "status"}]}}, ValueError, "'value'"),
        ({"until": {"jsonpath": [{"value": 1}]}}, ValueError, "'expression'"),
        ({"until": {"jsonpath": [{"expression": "a", "value": 1, "vlaue": 2}]}}, ValueError, "'vlaue'"),
        ({"until": {"jsonpath": [{"expression": "status[", "value": 1}]}}, ValueError, "'status['"),
        ({"until": {"jsonpath": [{"expression": 42, "value": 1}]}}, TypeError, "42"),
        ({"until": {"status_code": 200}, "alarms": {"bogus": 1}}, ValueError, "'bogus'"),
        ({"until": {"status_code": 200}, "max_retries": "many"}, ValueError, "'many'"),
        ({"until": {"status_code": 200}, "max_retries": 2.5}, ValueError, "2.5"),
        ({"until": {"status_code": 200}, "max_retries": -1}, ValueError, "-1"),
        ({"until": {"status_code": 200}, "max_retries": True}, TypeError, "True"),
        ({"until": {"status_code": 200}, "polling_interval": -1}, ValueError, "-1"),
        ({"until": {"status_code": 200}, "polling_interval": "two"}, ValueError, "'two'"),
        ({"until": {"status_code": 200}, "polling_interval": float("nan")}, ValueError, "nan"),
        ({"until": {"status_code": 200}, "ignore_exceptions": ["ValueError"]}, TypeError, "'ValueError'"),
        ({"until": {"status_code": 200}, "session": "s"}, TypeError, "'s'"),
        ({"until": {"status_code": 200}, "timeout": -1}, ValueError, "-1"),
        ({"until": {"status_code": 200}, "request_timeout": 0}, ValueError, "0"),
        ({"until": {"status_code": 200}, "request_timeout": (1, 2, 3)}, ValueError, "(1, 2, 3)"),
        ({"until": {"status_code": 200}, "on_attempt": [print, "x"]}, TypeError, "'x'"),
        ({"until": {"status_code": 200}, "status_code": 200}, ValueError, "not both"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error, fragment):
    with pytest.raises(error) as info:
        HttSleeper(URL, **kwargs)
    assert fragment in str(info.value)


@pytest.mark.parametrize("bad", [None, 42, b"http://x", ["http://x"]])
def test_url_or_request_of_the_wrong_type_is_a_type_error_and_a_value_error(bad):
    """0.3.1 raised ValueError here; TypeError is what the mistake is. Both catch it."""
    with pytest.raises(TypeError):
        HttSleeper(bad, {"status_code": 200})
    with pytest.raises(ValueError):
        HttSleeper(bad, {"status_code": 200})


def test_a_malformed_url_fails_at_construction():
    with pytest.raises(ValueError, match="no-scheme"):
        HttSleeper("no-scheme/job", {"status_code": 200})


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="bogus"):
        HttSleeper(URL, {"status_code": 200}, bogus=1)  # type: ignore[call-arg]


def test_the_callers_dicts_are_never_mutated():
    until = [{"status_code": "200", "jsonpath": {"expression": "status", "value": ["OK"]}}]
    alarms = {"json": {"status": "ERROR"}}
    before = copy.deepcopy((until, alarms))
    sleeper = HttSleeper(URL, until, alarms)
    assert (until, alarms) == before
    assert sleeper.until == [{"status_code": 200, "jsonpath": [{"expression": "status", "value": ["OK"]}]}]
    assert sleeper.alarms == [{"json": {"status": "ERROR"}}]
    sleeper.until[0]["status_code"] = 500  # the copies are the caller's to play with
    sleeper.alarms[0]["json"]["status"] = "CHANGED"
    assert (until, alarms) == before
    assert sleeper.policy.alarms[0].spec == {"json": {"status": "ERROR"}}


def test_until_and_alarms_can_be_reassigned_like_in_0_3_1():
    sleeper = HttSleeper(URL, {"status_code": 200})
    sleeper.until = [{"text": "OK"}]
    sleeper.alarms = {"status_code": 500}
    assert sleeper.until == [{"text": "OK"}]
    assert sleeper.alarms == [{"status_code": 500}]
    with pytest.raises(ValueError, match="no success conditions"):
        sleeper.until = []
    with pytest.raises(ValueError, match="'nope'"):
        sleeper.alarms = {"nope": 1}


def test_run_parses_nothing(monkeypatch, httpserver, fake_time):
    """JSONPath strings are parsed once, at construction: polling works with the parser gone."""
    import jsonpath_rw

    httpserver.expect_request("/job").respond_with_json({"a": {"b": 1}, "items": [{"n": 1}]})
    until = {"jsonpath": [{"expression": "a.b", "value": 1}, {"expression": "items[0].n", "value": 1}]}
    sleeper = HttSleeper(httpserver.url_for("/job"), until)

    def fail(*args, **kwargs):
        raise AssertionError("parse called after construction")

    monkeypatch.setattr(jsonpath_rw, "parse", fail)
    assert sleeper.run().json()["a"] == {"b": 1}
    assert len(httpserver.log) == 1


def test_shorthand_keywords_form_one_and_condition():
    sleeper = HttSleeper(URL, status_code=200, json={"status": "SUCCESS"})
    assert sleeper.until == [{"status_code": 200, "json": {"status": "SUCCESS"}}]


def test_shorthand_json_none_is_a_condition():
    """json=None means "the body is JSON null", not "no condition"."""
    assert HttSleeper(URL, json=None).until == [{"json": None}]


def test_httsleep_function_validates_too():
    with pytest.raises(ValueError, match="no success conditions"):
        httsleep(URL)


@pytest.mark.parametrize(
    "expression, reason",
    [("status[", "ends too early"), ("", "empty"), ("status]", "Parse error"), ("a[?", "Unexpected character")],
)
def test_a_jsonpath_that_does_not_parse_says_why(expression, reason):
    with pytest.raises(ValueError) as info:
        HttSleeper(URL, {"jsonpath": [{"expression": expression, "value": 1}]})
    assert repr(expression) in str(info.value) and reason in str(info.value)


def test_the_same_jsonpath_string_is_parsed_once_for_many_pollers():
    """Thousands of pollers on one expression share one parse (a parse costs milliseconds)."""
    first = HttSleeper(URL, {"jsonpath": [{"expression": "job.state", "value": "done"}]})
    second = HttSleeper(URL, {"jsonpath": [{"expression": "job.state", "value": "failed"}]})
    (first_item,) = first.policy.until[0].checks[0].items
    (second_item,) = second.policy.until[0].checks[0].items
    assert first_item.expression is second_item.expression


@pytest.mark.parametrize(
    "options, error, shown",
    [
        ({"ignore_exceptions": 5}, TypeError, "ignore_exceptions must be an exception class or an iterable of them"),
        ({"retry_after": 503}, TypeError, "retry_after must be True, False or a collection of status codes, not 503"),
        ({"retry_after": "429"}, TypeError, "not '429'"),
        ({"retry_after": ["x"]}, TypeError, "retry_after must contain integer status codes, not 'x'"),
        ({"retry_after": [True]}, TypeError, "not True"),
    ],
)
def test_ignore_exceptions_and_retry_after_are_validated_at_construction(options, error, shown):
    """A wrong ignore_exceptions / retry_after is a clear error naming the argument and the bad value."""
    with pytest.raises(error) as caught:
        HttSleeper("http://127.0.0.1:9/", status_code=200, **options)
    assert shown in str(caught.value)


def test_retry_after_accepts_any_collection_of_status_codes():
    """A list, set or tuple of status codes, or True/False/None, are all fine."""
    for value, expected in (([429], {429}), ((503, 429), {503, 429}), ({202}, {202}), (False, set()), (None, set())):
        sleeper = HttSleeper("http://127.0.0.1:9/", status_code=200, retry_after=value)
        assert sleeper.policy.retry_after_statuses == expected


# -- arguments whose mistakes showed only on the first request -------------------------------------------

FRONTS = pytest.mark.parametrize("front", ["sync", "async"])


def construct(front, url_or_request=URL, **options):
    from httsleep import AsyncHttSleeper

    options.setdefault("status_code", 200)
    return (HttSleeper if front == "sync" else AsyncHttSleeper)(url_or_request, **options)


def request_with_method(front, method):
    import httpx
    import requests

    if front == "sync":
        return requests.Request(method, URL)
    return httpx.Request(method, URL)


@FRONTS
@pytest.mark.parametrize("method", ["GET\r\nX-Injected: 1", "GE T", "", "GET\n"])
def test_a_method_http_cannot_carry_is_refused_naming_it(front, method):
    try:
        request = request_with_method(front, method)
    except ValueError:  # httpx refuses some itself, as early
        return
    with pytest.raises(ValueError, match="is not an HTTP method"):
        construct(front, request)


@FRONTS
@pytest.mark.parametrize("method", ["GET", "post", "PROPFIND", "M-SEARCH"])
def test_any_http_token_is_a_method(front, method, httpserver):
    """Accepted at construction, and sent as the request line's method (upper-cased, as requests and httpx do)."""
    import httpx
    import requests

    httpserver.expect_request("/job", method=method.upper()).respond_with_data("ok")
    url = httpserver.url_for("/job")
    request = requests.Request(method, url) if front == "sync" else httpx.Request(method, url)
    response = run(front, request, status_code=200, max_retries=0)
    assert response.status_code == 200
    assert [sent.method for sent, _ in httpserver.log] == [method.upper()]


@FRONTS
@pytest.mark.parametrize("value, error", [("no", TypeError), (1, TypeError), (None, TypeError)])
def test_retry_transient_is_true_or_false(front, value, error):
    with pytest.raises(error, match="retry_transient must be True or False"):
        construct(front, retry_transient=value)


@FRONTS
@pytest.mark.parametrize("value, error, fragment", [
    ("verbose", ValueError, "'verbose' is not a logging level name"),
    (1.5, TypeError, "loglevel must be a logging level"),
    (-1, ValueError, "must not be negative"),
    (True, TypeError, "loglevel must be a logging level"),
])
def test_loglevel_is_a_level_logging_knows(front, value, error, fragment):
    with pytest.raises(error, match=fragment):
        construct(front, loglevel=value)


@FRONTS
def test_loglevel_takes_a_number_or_a_name(front):
    import logging

    construct(front, loglevel="DEBUG")
    assert logging.getLogger("httsleep").level == logging.DEBUG
    construct(front, loglevel=logging.WARNING)
    assert logging.getLogger("httsleep").level == logging.WARNING


@FRONTS
def test_a_coroutine_function_as_a_hook_or_a_callback_is_refused(front):
    async def hook(attempt):
        pass

    async def callback(response):
        return True

    with pytest.raises(TypeError, match="on_attempt: .* is a coroutine function"):
        construct(front, on_attempt=hook)
    with pytest.raises(TypeError, match="on_attempt: .* is a coroutine function"):
        construct(front, on_attempt=[print, hook])
    with pytest.raises(TypeError, match="callback: .* is a coroutine function"):
        construct(front, status_code=None, callback=callback)


def test_a_basic_auth_password_requests_cannot_encode_is_refused_without_showing_it():
    """requests sends basic auth in Latin-1: '€' fails, and its error quoted the password in its context."""
    password = "p\u00e4ssw\u00f6rd\u20ac"
    with pytest.raises(ValueError) as raised:
        HttSleeper(URL, status_code=200, auth=("alice", password))
    assert "only latin-1" in str(raised.value) and "pass them as bytes" in str(raised.value)
    assert password not in str(raised.value) and raised.value.__context__ is None
    HttSleeper(URL, status_code=200, auth=("alice", password.encode("utf-8")))  # bytes: the caller's encoding


def sent_basic_auth(httpserver) -> bytes:
    """The ``user:password`` bytes of the one request the server received (base64-decoded)."""
    ((request, _),) = httpserver.log
    scheme, _, credentials = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(credentials, validate=True)


@pytest.mark.parametrize("front", ["async", "aiohttp"])
def test_the_asyncio_front_end_sends_basic_auth_in_utf_8(front, httpserver):
    """httpx and the aiohttp session encode a (user, password) pair of strings in UTF-8 (RFC 7617)."""
    httpserver.expect_request("/job").respond_with_data("ok")
    password = "p\u00e4ssw\u00f6rd\u20ac"
    run(front, httpserver.url_for("/job"), status_code=200, max_retries=0, auth=("\u00e1lice", password))
    assert sent_basic_auth(httpserver) == "\u00e1lice:{}".format(password).encode("utf-8")


@pytest.mark.parametrize("front", FRONT_NAMES)
def test_basic_auth_given_as_bytes_is_sent_as_given_on_every_front_end(front, httpserver):
    """Bytes are the caller's encoding: the way to send UTF-8 through requests, which encodes strings in Latin-1."""
    httpserver.expect_request("/job").respond_with_data("ok")
    password = "p\u00e4ssw\u00f6rd\u20ac".encode("utf-8")
    run(front, httpserver.url_for("/job"), status_code=200, max_retries=0, auth=(b"alice", password))
    assert sent_basic_auth(httpserver) == b"alice:" + password


def test_the_synchronous_front_end_sends_basic_auth_in_latin_1_as_requests_does(httpserver):
    """Strings that Latin-1 can encode are sent in Latin-1; those it cannot are refused at construction (above)."""
    httpserver.expect_request("/job").respond_with_data("ok")
    run("sync", httpserver.url_for("/job"), status_code=200, max_retries=0, auth=("\u00e1lice", "p\u00e4ssw\u00f6rd"))
    assert sent_basic_auth(httpserver) == "\u00e1lice:p\u00e4ssw\u00f6rd".encode("latin-1")


def test_the_asyncio_front_end_checks_a_ca_bundle_at_construction(tmp_path):
    """It builds its client's SSL context from the bundle on every run, whatever the URL's scheme."""
    from httsleep import AsyncHttSleeper

    with pytest.raises(ValueError, match="verify: no such CA bundle: '/no/such/ca.pem'"):
        AsyncHttSleeper(URL, status_code=200, verify="/no/such/ca.pem")
    not_a_bundle = tmp_path / "notes.txt"
    not_a_bundle.write_text("hello")
    with pytest.raises(ValueError, match="is not a CA bundle"):
        AsyncHttSleeper(URL, status_code=200, verify=not_a_bundle)
    AsyncHttSleeper(URL, status_code=200, verify=str(tmp_path))  # a directory of certificates (CApath)


def test_the_synchronous_front_end_takes_any_ca_bundle_path_as_0_3_1_did():
    """0.3.1's own suite passes a made-up path: only an https request reads it, and requests names it then."""
    HttSleeper(URL, status_code=200, verify="/override/path")
    with pytest.raises(TypeError, match="verify must be True, False or the path of a CA bundle"):
        HttSleeper(URL, status_code=200, verify=42)


@pytest.mark.parametrize("url", ["http://\\/job", "http://\\@host/job", "http://alice:s3cr%E2%82%ACt@host/"])
def test_urls_requests_would_refuse_on_the_first_attempt_are_refused_at_construction(url):
    with pytest.raises(ValueError) as raised:
        HttSleeper(url, status_code=200)
    assert "s3cr" not in str(raised.value) and raised.value.__context__ is None
