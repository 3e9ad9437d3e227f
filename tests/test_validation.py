"""Bad arguments are rejected at construction, with the bad value in the message."""

from __future__ import annotations

import copy

import pytest

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
