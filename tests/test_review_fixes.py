"""Regression tests for the fixes made in the final code review."""

from __future__ import annotations

import pytest

import httsleep
from httsleep.redaction import redact_text, redact_url


def test_a_password_containing_an_at_sign_is_redacted_whole(httpserver, fake_time):
    """requests splits userinfo at the last '@': the redaction must hide everything before it."""
    httpserver.expect_request("/job").respond_with_data("busy", status=503)
    url = httpserver.url_for("/job").replace("http://", "http://user:p@ss@")
    with pytest.raises(httsleep.StopPolling) as caught:
        httsleep.httsleep(url, status_code=200, max_retries=1)
    message = str(caught.value)
    assert "ss@" not in message and "user" not in message
    assert "GET http://***@{}:".format(httpserver.host) in message
    assert redact_url("No adapter for 'user:p@ss@host/x'") == "No adapter for '***@host/x'"
    assert redact_text("see https://u:a@b@c@host/x") == "see https://***@host/x"


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
        httsleep.HttSleeper("http://127.0.0.1:9/", status_code=200, **options)
    assert shown in str(caught.value)


def test_retry_after_accepts_any_collection_of_status_codes():
    """A list, set or tuple of status codes, or True/False/None, are all fine."""
    for value, expected in (([429], {429}), ((503, 429), {503, 429}), ({202}, {202}), (False, set()), (None, set())):
        sleeper = httsleep.HttSleeper("http://127.0.0.1:9/", status_code=200, retry_after=value)
        assert sleeper.policy.retry_after_statuses == expected


def test_retry_still_rejects_a_missing_exception_class():
    """resilience shares the policy's check, but ex=None is still a TypeError and ex=[] a ValueError."""
    with pytest.raises(TypeError, match="ex must be an exception class or an iterable of them, not None"):
        httsleep.retry(None)
    with pytest.raises(ValueError, match=r"ex must name at least one exception class, not \[\]"):
        httsleep.retry([])


def test_the_command_line_explains_a_jsonpath_that_ends_too_early(capsys):
    """--jsonpath uses the library's JSONPath parser, whose error says why (not an AttributeError's text)."""
    from httsleep.cli import EXIT_USAGE, main

    assert main(["http://127.0.0.1:9/", "--jsonpath", "a.=1"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "invalid JSONPath expression 'a.': the expression is empty or ends too early" in error
    assert "NoneType" not in error


def test_httsleeps_exceptions_survive_pickling(httpserver, fake_time):
    """Every HttSleepError can cross a process boundary (multiprocessing pickles exceptions), attributes included."""
    import pickle

    from httsleep.resilience import PollTimeout

    httpserver.expect_request("/job").respond_with_json({"status": "ERROR"})
    with pytest.raises(httsleep.Alarm) as alarm:
        httsleep.httsleep(httpserver.url_for("/job"), status_code=201, alarms={"json": {"status": "ERROR"}})
    errors = [
        alarm.value,
        httsleep.StopPolling("gave up", limit="timeout", attempts=3, elapsed=1.5),
        httsleep.AsyncGaveUp("gave up", limit="max_retries", attempts=2, elapsed=0.5),
        PollTimeout("timed out", limit="timeout", attempts=1, elapsed=2.0, last_response=42),
        httsleep.CircuitBrokenError("open", 7.0),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert {k: v for k, v in vars(copy).items() if k not in ("response", "condition")} == {
            k: v for k, v in vars(error).items() if k not in ("response", "condition")
        }
    copied_alarm = pickle.loads(pickle.dumps(alarm.value))
    assert copied_alarm.response.json() == {"status": "ERROR"} and copied_alarm.alarm == {"json": {"status": "ERROR"}}
    assert repr(copied_alarm.condition) == repr(alarm.value.condition)
    assert pickle.loads(pickle.dumps(errors[3])).last_result == 42


def test_documented_helpers_are_in_their_modules_all():
    """docs/resilience.md documents policy.is_service_failure and docs/api.md waits.Sum: both are public names."""
    from httsleep import policy, waits

    assert "is_service_failure" in policy.__all__ and "Sum" in waits.__all__
    for module in (policy, waits):
        assert all(hasattr(module, name) for name in module.__all__)


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


def test_an_attempt_can_be_copied_and_pickled():
    """A hook may keep copies of attempts or send them to another process; Attempt stays immutable."""
    import copy
    import pickle

    attempt = httsleep.Attempt(2, 0.5, None, ValueError("x"), "retry", 1.0, "interval")
    for duplicate in (copy.copy(attempt), copy.deepcopy(attempt), pickle.loads(pickle.dumps(attempt))):
        assert repr(duplicate) == repr(attempt)
        assert (duplicate.number, duplicate.wait, duplicate.wait_reason) == (2, 1.0, "interval")
        with pytest.raises(AttributeError):
            duplicate.number = 3


def test_a_breaker_opened_by_5xx_responses_names_the_last_one(httpserver, fake_time):
    """A 5xx failure is described in the breaker's message, and no longer wipes out the previous failure's text."""
    httpserver.expect_request("/job").respond_with_data("down", status=503)
    url = httpserver.url_for("/job")
    breaker = httsleep.CircuitBreaker(threshold=2, reset_timeout=60, name="jobs")
    breaker.admit().failure(ValueError("an earlier failure"))
    with pytest.raises(httsleep.CircuitBrokenError):  # the 503 is the second failure: the breaker opens
        httsleep.httsleep(url, status_code=200, circuit_breaker=breaker, polling_interval=1)
    with pytest.raises(httsleep.CircuitBrokenError) as refused:
        httsleep.httsleep(url, status_code=200, circuit_breaker=breaker)
    assert "jobs is open" in str(refused.value)
    assert "(last failure: HTTP 503 SERVICE UNAVAILABLE)" in str(refused.value)


def test_an_httpx_request_gets_the_clients_headers_and_cookies_as_a_url_does(httpserver):
    """As requests merges the session's settings into a requests.Request, the async poller merges the client's."""
    import asyncio

    httpx = pytest.importorskip("httpx")
    httpserver.expect_request(
        "/jobs", method="POST", headers={"Authorization": "Bearer t0k3n", "Cookie": "sid=42"}, json={"verbose": True}
    ).respond_with_json({"status": "SUCCESS"})

    async def poll():
        async with httpx.AsyncClient(headers={"Authorization": "Bearer t0k3n"}, cookies={"sid": "42"}) as client:
            request = httpx.Request("POST", httpserver.url_for("/jobs"), json={"verbose": True})
            sleeper = httsleep.AsyncHttSleeper(request, client=client, status_code=200, max_retries=1)
            return await sleeper.run()

    assert asyncio.run(poll()).json() == {"status": "SUCCESS"}
