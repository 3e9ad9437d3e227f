"""The exceptions httsleep raises: what they carry, and that they survive being sent between processes."""

from __future__ import annotations

import pytest

import httsleep


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


class Response:
    """A stand-in for a response: what the exceptions read of one."""

    status_code = 503


def _examples():
    """One instance of every public exception httsleep raises, as a poll would make it."""
    from httsleep.resilience import PollTimeout
    from httsleep.transports.aiohttp_transport import AiohttpBodyDecodingError
    from httsleep.transports.httpx_transport import HttpxBodyDecodingError
    from httsleep.transports.requests_transport import RequestsBodyDecodingError

    return [
        httsleep.Alarm(Response(), {"json": {"status": "ERROR"}}, None, '{"status": "ERROR"}', "GET http://h/job"),
        httsleep.StopPolling("gave up polling", limit="timeout", attempts=3, elapsed=1.5, last_response=Response()),
        httsleep.AsyncGaveUp("gave up polling", limit="max_retries", attempts=2, elapsed=0.5),
        PollTimeout("timed out", limit="timeout", attempts=1, elapsed=2.0, last_response=42),
        httsleep.CircuitBrokenError("jobs-api is open", 7.0),
        httsleep.BodyTooLarge(100, 4096, Response(), earlier=10),
        httsleep.BodyTooLarge(100, 3, raw=2 * 100 + 1024 * 1024 + 1),
        httsleep.JSONTooDeep("the JSON body is nested too deeply to decode"),
        httsleep.ArgumentTypeError("timeout must be a number of seconds or None, not '5'"),
        httsleep.BodyDecodingError("the gzip stream is broken"),
        RequestsBodyDecodingError("the gzip stream is broken"),
        HttpxBodyDecodingError("the gzip stream is broken"),
        AiohttpBodyDecodingError("the gzip stream is broken"),
    ]


def _plain(error: BaseException) -> dict:
    """The attributes that are plain data: what a rebuild from ``args`` must keep (the response's status too)."""
    plain = {name: value for name, value in vars(error).items()
             if name not in ("response", "last_response") and (
                 value is None or isinstance(value, (str, int, float, bool, dict, list, tuple)))}
    return plain


def test_every_public_exception_is_in_the_examples():
    from httsleep import exceptions

    shown = {type(error) for error in _examples()}
    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        if cls not in (exceptions.HttSleepError, exceptions.GaveUp, exceptions.BodyError):  # never raised as such
            assert cls in shown, name


@pytest.mark.parametrize("error", _examples(), ids=lambda error: type(error).__name__)
def test_an_exception_rebuilds_from_its_args_as_job_engines_do(error):
    """``type(e)(*e.args)``: how Celery's JSON result backend (and RQ, Dramatiq) rebuild an exception."""
    import json

    rebuilt = type(error)(*error.args)
    assert str(rebuilt) == str(error) and str(error)
    assert _plain(rebuilt) == _plain(error)
    through_json = type(error)(*json.loads(json.dumps(error.args)))  # the args are plain data
    assert str(through_json) == str(error) and _plain(through_json) == _plain(error)


@pytest.mark.parametrize("error", _examples(), ids=lambda error: type(error).__name__)
def test_an_exception_pickles_with_every_attribute(error):
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert copy.args == error.args and _plain(copy) == _plain(error)
    if hasattr(error, "response") and error.response is not None:
        assert copy.response.status_code == error.response.status_code


def test_a_give_up_keeps_limit_attempts_and_elapsed_through_a_json_rebuild():
    """Measured before: Celery's JSON backend turned StopPolling into a plain Exception and lost ``.limit``."""
    import json

    error = httsleep.StopPolling("gave up polling GET http://h/job after 3 attempts", limit="timeout", attempts=3,
                                 elapsed=1.5)
    rebuilt = httsleep.StopPolling(*json.loads(json.dumps(error.args)))
    assert (rebuilt.limit, rebuilt.attempts, rebuilt.elapsed) == ("timeout", 3, 1.5)
    assert isinstance(rebuilt, StopIteration) and rebuilt.value == str(error)
