"""Attempt, what on_attempt hooks receive, is an immutable value with a readable repr."""

from __future__ import annotations

import pytest

from httsleep import Attempt, httsleep


def test_hooks_get_attempts_that_compare_hash_and_print_by_value(httpserver, fake_time):
    httpserver.expect_request("/job").respond_with_json({"status": "SUCCESS"})
    seen = []
    httsleep(httpserver.url_for("/job"), {"status_code": 200}, on_attempt=seen.append)
    (attempt,) = seen
    copy = Attempt(attempt.number, attempt.elapsed, attempt.response, None, "success", state=attempt.state)
    assert attempt == copy and hash(attempt) == hash(copy)
    assert attempt != Attempt(2, attempt.elapsed, attempt.response, None, "success", state=attempt.state)
    assert attempt != (1, attempt.elapsed)  # not a tuple
    assert repr(attempt).startswith("Attempt(number=1, elapsed=")
    assert "outcome='success', wait=None, wait_reason=None, state=PollState(attempts=1, " in repr(attempt)


def test_an_attempt_cannot_be_changed():
    attempt = Attempt(1, 0.5, None, None, "retry", 2.0, "interval")
    with pytest.raises(AttributeError, match="immutable"):
        attempt.number = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del attempt.wait
    assert (attempt.number, attempt.wait, attempt.wait_reason) == (1, 2.0, "interval")


def test_an_attempt_can_be_copied_and_pickled():
    """A hook may keep copies of attempts or send them to another process; Attempt stays immutable."""
    import copy
    import pickle

    attempt = Attempt(2, 0.5, None, ValueError("x"), "retry", 1.0, "interval")
    for duplicate in (copy.copy(attempt), copy.deepcopy(attempt), pickle.loads(pickle.dumps(attempt))):
        assert repr(duplicate) == repr(attempt)
        assert (duplicate.number, duplicate.wait, duplicate.wait_reason) == (2, 1.0, "interval")
        with pytest.raises(AttributeError):
            duplicate.number = 3
