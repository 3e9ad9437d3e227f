"""The five conditions, AND/OR, alarms and the undecidable-JSON rule, against a real local server."""

from __future__ import annotations

import pytest
from jsonpath_rw.jsonpath import Fields
from pytest_httpserver import HTTPServer

from httsleep import HttSleeper, httsleep
from httsleep.exceptions import Alarm, StopPolling


def serve(server: HTTPServer, *responses: dict) -> str:
    """Serve ``responses`` in order on /job (the last one repeats) and return the URL."""
    calls = {"n": 0}

    def handler(request):
        from werkzeug import Response

        spec = responses[min(calls["n"], len(responses) - 1)]
        calls["n"] += 1
        if "json" in spec:
            import json

            body = json.dumps(spec["json"])
            content_type = "application/json"
        else:
            body = spec.get("text", "")
            content_type = spec.get("content_type", "text/plain")
        return Response(body, status=spec.get("status", 200), content_type=content_type, headers=spec.get("headers"))

    server.expect_request("/job").respond_with_handler(handler)
    return server.url_for("/job")


def request_count(server: HTTPServer) -> int:
    return len(server.log)


@pytest.mark.parametrize(
    "until, responses",
    [
        ({"status_code": 200}, [{"status": 404}, {"status": 200}]),
        ({"status_code": "200"}, [{"status": 404}, {"status": 200}]),
        ({"text": "OK!"}, [{"text": "not yet"}, {"text": "OK!"}]),
        ({"json": {"status": "OK"}}, [{"json": {"status": "NO"}}, {"json": {"status": "OK"}}]),
        (
            {"jsonpath": [{"expression": "status", "value": "OK"}]},
            [{"json": {"status": "NO", "id": 1}}, {"json": {"status": "OK", "id": 1}}],
        ),
        (
            {"jsonpath": {"expression": "status", "value": "OK"}},
            [{"json": {"status": "NO"}}, {"json": {"status": "OK"}}],
        ),
        (
            {"jsonpath": [{"expression": Fields("status"), "value": "OK"}]},
            [{"json": {"status": "NO"}}, {"json": {"status": "OK"}}],
        ),
        ({"callback": lambda r: r.json()["n"] > 1}, [{"json": {"n": 1}}, {"json": {"n": 2}}]),
    ],
    ids=["status", "status-str", "text", "json", "jsonpath", "jsonpath-single-dict", "jsonpath-compiled", "callback"],
)
def test_each_condition_polls_until_the_second_response_matches(httpserver, fake_time, until, responses):
    url = serve(httpserver, *responses)
    response = httsleep(url, until, polling_interval=0.5)
    assert request_count(httpserver) == 2
    assert fake_time.sleeps == [0.5]
    second = responses[1]  # the matching response is the one returned
    assert response.status_code == second.get("status", 200)
    if "json" in second:
        assert response.json() == second["json"]
    elif "text" in second:
        assert response.text == second["text"]


def test_falsy_json_and_text_are_real_conditions(httpserver, fake_time):
    """0.3.1 skipped json={} and text='' (truthiness); they must be compared."""
    url = serve(httpserver, {"json": {"status": "x"}}, {"json": {}})
    assert httsleep(url, {"status_code": 200, "json": {}}, polling_interval=0).json() == {}
    assert request_count(httpserver) == 2

    httpserver.clear()
    url = serve(httpserver, {"text": "busy"}, {"text": ""})
    assert httsleep(url, {"text": ""}, polling_interval=0).text == ""
    assert request_count(httpserver) == 2


def test_status_code_zero_never_matches_a_real_response(httpserver, fake_time):
    url = serve(httpserver, {"status": 200})
    with pytest.raises(StopPolling):
        httsleep(url, {"status_code": 0}, max_retries=2, polling_interval=0)
    assert request_count(httpserver) == 2


def test_dict_is_and(httpserver, fake_time):
    """Every check of one condition dict must hold: the right JSON with status 500 does not match."""
    url = serve(httpserver, {"status": 500, "json": {"status": "OK"}}, {"status": 200, "json": {"status": "OK"}})
    httsleep(url, {"status_code": 200, "json": {"status": "OK"}}, polling_interval=0)
    assert request_count(httpserver) == 2


def test_list_is_or(httpserver, fake_time):
    """A list of condition dicts matches when any one of them does."""
    url = serve(httpserver, {"json": {"status": "RUNNING"}}, {"json": {"status": "PENDING"}})
    response = httsleep(url, [{"json": {"status": "SUCCESS"}}, {"json": {"status": "PENDING"}}], polling_interval=0)
    assert response.json() == {"status": "PENDING"}
    assert request_count(httpserver) == 2


def test_jsonpath_items_are_anded(httpserver, fake_time):
    url = serve(
        httpserver,
        {"json": {"status": "UNKNOWN", "owner": "Bob"}},
        {"json": {"status": "UNKNOWN", "owner": "Chris"}},
    )
    until = {"jsonpath": [{"expression": "status", "value": "UNKNOWN"}, {"expression": "owner", "value": "Chris"}]}
    assert httsleep(url, until, polling_interval=0).json()["owner"] == "Chris"
    assert request_count(httpserver) == 2


def test_jsonpath_several_matches_compare_as_a_list(httpserver, fake_time):
    before, after = {"jobs": [{"s": "OK"}, {"s": "NO"}]}, {"jobs": [{"s": "OK"}, {"s": "OK"}]}
    url = serve(httpserver, {"json": before}, {"json": after})
    httsleep(url, {"jsonpath": [{"expression": "jobs[*].s", "value": ["OK", "OK"]}]}, polling_interval=0)
    assert request_count(httpserver) == 2


def test_jsonpath_without_a_match_is_no_match(httpserver, fake_time):
    url = serve(httpserver, {"json": {"other": 1}})
    with pytest.raises(StopPolling):
        httsleep(url, {"jsonpath": [{"expression": "status", "value": None}]}, max_retries=2, polling_interval=0)
    assert request_count(httpserver) == 2


def test_callback_matches_only_when_it_returns_true(httpserver, fake_time):
    url = serve(httpserver, {"json": {}})
    returns = iter([1, "yes", None, False, True])
    httsleep(url, {"callback": lambda response: next(returns)}, polling_interval=0)
    assert request_count(httpserver) == 5


def test_alarm_is_checked_before_success(httpserver, fake_time):
    url = serve(httpserver, {"status": 200, "json": {"status": "ERROR"}})
    alarm = {"json": {"status": "ERROR"}}
    with pytest.raises(Alarm) as info:
        httsleep(url, {"status_code": 200}, alarms=alarm)
    assert info.value.alarm is alarm
    assert info.value.response.json() == {"status": "ERROR"}
    assert "status" in str(info.value) and "ERROR" in str(info.value)
    assert request_count(httpserver) == 1


def test_alarm_list_is_or_and_reports_the_condition_that_fired(httpserver, fake_time):
    url = serve(httpserver, {"json": {"status": "PENDING"}}, {"status": 404, "text": "gone"})
    alarms = [{"json": {"status": "ERROR"}}, {"status_code": 404}]
    with pytest.raises(Alarm) as info:
        httsleep(url, {"json": {"status": "OK"}}, alarms=alarms, polling_interval=0)
    assert info.value.alarm is alarms[1]
    assert "404" in str(info.value)


def test_status_alarm_fires_on_an_html_page_despite_a_json_alarm(httpserver, fake_time):
    """The seed README's alarm example: a JSON alarm cannot be judged on an HTML 500 page."""
    url = serve(httpserver, {"status": 500, "text": "<html>Internal Server Error</html>", "content_type": "text/html"})
    alarms = [{"json": {"status": "ERROR"}}, {"json": {"status": "CRITICAL"}}, {"status_code": 500}]
    with pytest.raises(Alarm) as info:
        httsleep(url, {"status_code": 200, "json": {"status": "SUCCESS"}}, alarms=alarms)
    assert info.value.alarm == {"status_code": 500}


def test_success_is_returned_even_when_a_json_alarm_is_undecidable(httpserver, fake_time):
    url = serve(httpserver, {"status": 200, "text": "plain OK"})
    response = httsleep(url, {"status_code": 200}, alarms={"json": {"status": "ERROR"}})
    assert response.text == "plain OK"


def test_non_json_body_raises_value_error_when_nothing_matched(httpserver, fake_time):
    url = serve(httpserver, {"status": 200, "text": "<html>busy</html>"})
    with pytest.raises(ValueError, match="Expecting value"):  # the JSON decode error, not a validation error
        httsleep(url, {"json": {"status": "OK"}})
    assert request_count(httpserver) == 1


def test_ignore_value_error_keeps_polling_through_non_json_bodies(httpserver, fake_time):
    url = serve(httpserver, {"text": "<html>starting</html>"}, {"json": {"status": "OK"}})
    response = httsleep(url, {"json": {"status": "OK"}}, ignore_exceptions=[ValueError], polling_interval=0)
    assert response.json() == {"status": "OK"}
    assert request_count(httpserver) == 2


def test_undecidable_condition_with_a_failing_cheap_check_is_just_no_match(httpserver, fake_time):
    """status 503 already fails the AND: the non-JSON body is irrelevant, polling goes on."""
    url = serve(httpserver, {"status": 503, "text": "down"}, {"status": 200, "json": {"status": "OK"}})
    httsleep(url, {"status_code": 200, "json": {"status": "OK"}}, polling_interval=0)
    assert request_count(httpserver) == 2


def test_callback_is_not_called_when_a_json_check_is_undecidable(httpserver, fake_time):
    called = []
    url = serve(httpserver, {"text": "not json"})
    with pytest.raises(ValueError, match="Expecting value"):
        httsleep(url, {"json": {}, "callback": called.append})
    assert called == []


def test_callback_exception_propagates_unless_ignored(httpserver, fake_time):
    url = serve(httpserver, {"json": {"n": 1}}, {"json": {"n": 2}})

    def callback(response):
        if response.json()["n"] == 1:
            raise KeyError("not yet")
        return True

    with pytest.raises(KeyError):
        httsleep(url, {"callback": callback})
    httpserver.clear()
    url = serve(httpserver, {"json": {"n": 1}}, {"json": {"n": 2}})
    assert httsleep(url, {"callback": callback}, ignore_exceptions=[KeyError], polling_interval=0).json() == {"n": 2}


def test_ignore_exceptions_never_swallows_an_alarm(httpserver, fake_time):
    url = serve(httpserver, {"json": {"status": "ERROR"}})
    with pytest.raises(Alarm):
        httsleep(url, {"status_code": 201}, alarms={"json": {"status": "ERROR"}}, ignore_exceptions=[Exception])
    assert request_count(httpserver) == 1


@pytest.mark.parametrize("expected, matches, misses", [
    ("2xx", [200, 201, 204, 299], [301, 404, 500]),
    ("5XX", [500, 503], [200, 499]),
    ([200, 201], [200, 201], [202, 204]),
    (["2xx", 304], [200, 226, 304], [301, 404]),
    ("200", [200], [201]),
    ((202,), [202], [200]),
])
def test_status_code_takes_a_code_a_class_or_a_list(expected, matches, misses):
    from httsleep.conditions import compile_conditions

    [condition] = compile_conditions({"status_code": expected})

    class Response:
        def __init__(self, status_code):
            self.status_code = status_code

    assert [status for status in matches + misses if condition.matches(Response(status))] == matches


def test_a_status_class_polls_until_the_server_says_2xx(httpserver, fake_time):
    url = serve(httpserver, {"status": 418, "text": ""}, {"status": 404, "text": ""}, {"status": 204, "text": ""})
    assert httsleep(url, status_code="2xx", alarms={"status_code": ["5xx", 410]}).status_code == 204
    assert request_count(httpserver) == 3


@pytest.mark.parametrize("bad, error", [
    ("2x", ValueError), ("6xx", ValueError), ("abc", ValueError), ([], ValueError), ([200, "nope"], ValueError),
    (True, TypeError), ([None], TypeError), (200.5, ValueError),
])
def test_a_status_code_that_is_none_of_those_is_refused_naming_it(bad, error):
    with pytest.raises(error, match="status_code"):
        HttSleeper("http://127.0.0.1:1/", status_code=bad)


def test_status_code_reprs_say_what_they_match():
    from httsleep.conditions import compile_conditions

    shown = [repr(compile_conditions({"status_code": value})[0]) for value in (200, "2xx", [200, "3xx"])]
    assert shown == ["<Condition status_code == 200>", "<Condition status_code is 2xx>",
                     "<Condition status_code in [200, 3xx]>"]


def test_condition_repr_names_every_check():
    sleeper = HttSleeper(
        "http://127.0.0.1:1/",
        {"status_code": 200, "jsonpath": [{"expression": "status", "value": "OK"}], "text": "x"},
    )
    text = repr(sleeper.policy.until[0])
    assert "status_code == 200" in text and "status == 'OK'" in text and "text == 'x'" in text


def test_condition_matches_raises_value_error_on_non_json():
    from httsleep.conditions import Condition

    class FakeResponse:
        status_code = 200
        text = "x"

        def json(self):
            raise ValueError("no JSON")

    assert Condition({"status_code": 200}).matches(FakeResponse()) is True
    assert Condition({"status_code": 201, "json": {}}).matches(FakeResponse()) is False
    with pytest.raises(ValueError):
        Condition({"json": {}}).matches(FakeResponse())


# -- bodies nested too deeply --------------------------------------------------------------------

TOO_DEEP = "[" * 100_000 + "]" * 100_000


def _deep_but_decodable() -> str:
    """A body json decodes but a '$..b' search cannot: how deep depends on the Python version (900 on 3.11,
    1,000 on 3.13, whose frames cost the C stack less)."""
    import json

    from jsonpath_rw import parse

    for depth in (900, 950, 990, 1000, 1500, 3000, 5000):
        text = '{"a": ' + "[" * depth + "]" * depth + "}"
        try:
            body = json.loads(text)
        except RecursionError:
            break
        try:
            parse("$..b").find(body)
        except RecursionError:
            return text
    pytest.skip("no nesting here that json decodes and a '$..b' search cannot")




@pytest.mark.parametrize("front", ["sync", "async"])
def test_json_nested_too_deeply_is_a_json_too_deep_value_error_not_a_recursion_error(httpserver, fake_time, front):
    """Deeper than Python's decoder can go: JSONTooDeep, a ValueError, as for a body that is not JSON."""
    import asyncio

    from httsleep import AsyncHttSleeper, HttSleeper, JSONTooDeep

    httpserver.expect_request("/job").respond_with_data(TOO_DEEP, content_type="application/json")
    url = httpserver.url_for("/job")
    with pytest.raises(JSONTooDeep) as caught:
        if front == "sync":
            HttSleeper(url, json={"status": "SUCCESS"}).run()
        else:
            asyncio.run(AsyncHttSleeper(url, json={"status": "SUCCESS"}).run())
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, RecursionError)
    assert caught.value.response.status_code == 200


def test_ignore_value_error_keeps_polling_through_json_nested_too_deeply(httpserver, fake_time):
    httpserver.expect_ordered_request("/job").respond_with_data(TOO_DEEP)
    httpserver.expect_ordered_request("/job").respond_with_json({"status": "SUCCESS"})
    response = httsleep(httpserver.url_for("/job"), json={"status": "SUCCESS"}, ignore_exceptions=[ValueError])
    assert response.json() == {"status": "SUCCESS"}


def test_a_search_that_runs_out_of_recursion_cannot_judge_the_body(httpserver, fake_time):
    """Decodable, but '$..b' recurses deeper than Python allows: undecidable, so a status alarm still fires."""
    from httsleep import Alarm, JSONTooDeep

    deep_but_decodable = _deep_but_decodable()
    httpserver.expect_request("/job").respond_with_data(deep_but_decodable, status=500)
    with pytest.raises(Alarm):
        httsleep(httpserver.url_for("/job"), jsonpath=[{"expression": "$..b", "value": 1}], alarms={"status_code": 500})
    httpserver.clear()
    httpserver.expect_request("/job").respond_with_data(deep_but_decodable)
    with pytest.raises(JSONTooDeep, match="too deeply to search or compare"):
        httsleep(httpserver.url_for("/job"), jsonpath=[{"expression": "$..b", "value": 1}])


def test_a_callback_that_runs_out_of_recursion_raises_its_own_error(httpserver, fake_time):
    """The caller's code: its RecursionError is its own, not httsleep's to rename."""
    httpserver.expect_request("/job").respond_with_json({"status": "SUCCESS"})

    def recurse(response):
        return recurse(response)

    with pytest.raises(RecursionError):
        httsleep(httpserver.url_for("/job"), callback=recurse)


@pytest.mark.parametrize("front", ["sync", "async", "aiohttp"])
def test_an_integer_too_long_for_the_parser_is_a_body_that_is_not_json(front):
    """A JSON integer of over 4,300 digits raises a plain ValueError in Python's parser: it reads as the library's
    JSON decode error, so ignore_exceptions (and the CLI) poll through it as through any body that is not JSON."""
    import json as jsonlib
    import sys

    import requests

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from faultservers import Reply, ScriptedServer
    from fronts import run

    from httsleep import GaveUp
    from httsleep.testing import no_waiting

    decode_error = requests.exceptions.JSONDecodeError if front == "sync" else jsonlib.JSONDecodeError
    body = b'{"status": ' + b"1" * 5000 + b"}"
    with ScriptedServer([Reply(body=body, headers={"Content-Type": "application/json"})]) as server, no_waiting():
        with pytest.raises(GaveUp) as caught:
            run(front, server.url, jsonpath=[{"expression": "status", "value": "DONE"}], max_retries=2,
                ignore_exceptions=[decode_error])
    assert isinstance(caught.value.last_exception, decode_error)
    assert server.count == 2


# -- equal specs compile once ------------------------------------------------------------------------


def test_pollers_with_equal_conditions_share_the_compiled_checks_but_keep_their_own_dicts():
    from httsleep.conditions import compile_conditions

    first_spec = {"status_code": 200, "jsonpath": [{"expression": "status", "value": "DONE"}]}
    second_spec = {"status_code": 200, "jsonpath": [{"expression": "status", "value": "DONE"}]}
    (first,), (second,) = compile_conditions(first_spec), compile_conditions(second_spec)
    assert first.checks is second.checks
    assert first.source is first_spec and second.source is second_spec


@pytest.mark.parametrize("other", [
    {"json": {"n": True}},  # True == 1, but not the same condition
    {"json": {"n": 1.0}},
    {"json": {"n": [1]}},
    {"json": {"n": (1,)}},
    {"jsonpath": [{"expression": "n", "value": 1}], "status_code": 200},
])
def test_specs_that_only_compare_equal_are_compiled_apart(other):
    from httsleep.conditions import compile_conditions

    (one,), (two,) = compile_conditions({"json": {"n": 1}}), compile_conditions(other)
    assert one.checks is not two.checks and repr(one) != repr(two)


def test_a_callback_counts_by_identity_and_a_dict_changed_later_changes_nothing():
    from httsleep.conditions import compile_conditions

    def ready(response):
        return True

    def also_ready(response):
        return True

    spec = {"callback": ready}
    (one,) = compile_conditions(spec)
    spec["callback"] = also_ready  # the caller reuses the dict for another poll
    (two,) = compile_conditions(spec)
    (three,) = compile_conditions({"callback": ready})
    assert two.checks[0].function is also_ready and one.checks[0].function is ready
    assert three.checks is one.checks


def test_a_spec_with_an_object_of_unknown_kind_is_compiled_every_time():
    from httsleep.conditions import compile_conditions

    class Anything:
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    (one,), (two,) = compile_conditions({"json": Anything()}), compile_conditions({"json": Anything()})
    assert one.checks is not two.checks
