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
