"""on_attempt hooks, the httsleep logger, and testing mode (polling without really waiting)."""

from __future__ import annotations

import logging
import threading
import time
from typing import List

import pytest
import requests
from faultservers import LateServer, Reply, ScriptedServer

import httsleep.main
import httsleep.testing
from httsleep import Alarm, Attempt, HttSleeper, StopPolling
from httsleep import httsleep as poll

PENDING = Reply(json={"status": "PENDING"})
DONE = Reply(json={"status": "SUCCESS"})
UNTIL = {"json": {"status": "SUCCESS"}}


# -- hooks ---------------------------------------------------------------------------------


def test_a_hook_is_told_about_every_attempt_and_the_following_wait(fake_time):
    seen: List[Attempt] = []
    with ScriptedServer([PENDING, Reply(503, json={"status": "BUSY"}, headers={"Retry-After": "4"}), DONE]) as server:
        poll(server.url, UNTIL, polling_interval=1, on_attempt=seen.append)
    assert [(a.number, a.outcome, a.wait, a.wait_reason) for a in seen] == [
        (1, "retry", 1, "interval"),
        (2, "retry", 4.0, "Retry-After"),
        (3, "success", None, None),
    ]
    assert all(a.exception is None and a.response.status_code in (200, 503) for a in seen)
    assert seen[0].elapsed < seen[1].elapsed - 1 < seen[2].elapsed - 5  # the waits count in elapsed


def test_a_hook_sees_the_exception_of_a_failed_attempt_and_the_give_up(fake_time):
    seen: List[Attempt] = []
    with LateServer() as late:
        with pytest.raises(StopPolling):
            poll(late.url, UNTIL, retry_transient=True, max_retries=2, polling_interval=0.5, on_attempt=seen.append)
    assert [a.outcome for a in seen] == ["retry", "gave_up"]
    assert all(isinstance(a.exception, requests.ConnectionError) and a.response is None for a in seen)


def test_a_hook_sees_an_alarm_and_an_error_that_propagates(fake_time):
    seen: List[Attempt] = []
    with ScriptedServer([Reply(500)]) as server:
        with pytest.raises(Alarm):
            poll(server.url, UNTIL, alarms={"status_code": 500}, on_attempt=seen.append)
    with LateServer() as late:
        with pytest.raises(requests.ConnectionError):
            poll(late.url, UNTIL, on_attempt=seen.append)
    assert [a.outcome for a in seen] == ["alarm", "error"]
    assert seen[0].response.status_code == 500 and isinstance(seen[1].exception, requests.ConnectionError)


def test_several_hooks_are_called_in_order(fake_time):
    calls: List[str] = []
    with ScriptedServer([DONE]) as server:
        poll(server.url, UNTIL, on_attempt=[lambda a: calls.append("first"), lambda a: calls.append("second")])
    assert calls == ["first", "second"]


def test_an_exception_raised_by_a_hook_ends_the_poll(fake_time):
    def refuse(attempt: Attempt) -> None:
        raise KeyboardInterrupt("stop now")

    with ScriptedServer([PENDING]) as server:
        with pytest.raises(KeyboardInterrupt):
            poll(server.url, UNTIL, on_attempt=refuse)
        assert server.count == 1


def test_attempts_are_immutable(fake_time):
    """A hook cannot change the Attempt it was given (another hook gets the same object)."""
    seen: List[Attempt] = []
    with ScriptedServer([DONE]) as server:
        poll(server.url, UNTIL, on_attempt=seen.append)
    with pytest.raises(AttributeError, match="immutable"):
        seen[0].number = 7  # type: ignore[misc]
    assert seen[0].number == 1


@pytest.mark.parametrize("bad", ["print", 3, [print, None]])
def test_a_hook_that_is_not_callable_is_rejected_at_construction(bad):
    with pytest.raises(TypeError, match="on_attempt"):
        HttSleeper("http://127.0.0.1:9/", UNTIL, on_attempt=bad)


# -- logging --------------------------------------------------------------------------------


def test_retries_are_logged_at_info_and_a_match_at_debug_on_the_httsleep_logger(caplog, fake_time):
    caplog.set_level(logging.DEBUG, logger="httsleep")
    with ScriptedServer([PENDING, DONE]) as server:
        poll(server.url, UNTIL, polling_interval=0.5)
    mine = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "httsleep"]
    target = "GET " + server.url
    assert mine == [
        ("INFO", target + ': not ready after attempt 1 (HTTP 200 OK; body: {"status": "PENDING"}), waiting 0.5s'),
        ("DEBUG", "{}: attempt 2 matched: HTTP 200 OK".format(target)),
    ]


def test_giving_up_and_ignored_errors_are_logged(caplog, fake_time):
    caplog.set_level(logging.DEBUG, logger="httsleep")
    with LateServer() as late:
        with pytest.raises(StopPolling):
            poll(late.url, UNTIL, retry_transient=True, max_retries=1)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "httsleep"]
    assert messages[0][0] == "DEBUG" and "attempt 1 failed: ConnectionError" in messages[0][1]
    assert messages[-1][0] == "INFO" and messages[-1][1].startswith("gave up polling GET " + late.url)


def test_loglevel_sets_the_httsleep_logger_only(caplog):
    caplog.set_level(logging.WARNING)  # a root level that loglevel=DEBUG would visibly change
    root = logging.getLogger().level
    HttSleeper("http://127.0.0.1:9/", UNTIL, loglevel=logging.DEBUG)
    assert logging.getLogger("httsleep").level == logging.DEBUG
    assert logging.getLogger().level == root


# -- testing mode -----------------------------------------------------------------------------


def test_no_waiting_skips_the_waits_but_keeps_the_count_of_attempts():
    """Four attempts 60 s apart run in far less than the 180 s they would take."""
    seen: List[Attempt] = []
    with ScriptedServer([PENDING]) as server, httsleep.testing.no_waiting():
        start = time.monotonic()
        with pytest.raises(StopPolling) as caught:
            poll(server.url, UNTIL, polling_interval=60, max_retries=4, on_attempt=seen.append)
        seconds = time.monotonic() - start
    assert seconds < 10
    assert caught.value.attempts == 4 and server.count == 4
    assert [a.wait for a in seen[:-1]] == [60, 60, 60]
    assert caught.value.elapsed >= 180  # the virtual clock moved by the skipped waits


def test_no_waiting_keeps_the_deadline_as_it_would_be_for_real():
    """timeout=100 with 30 s waits: attempts at 0, 30, 60, 90; the next would end after 100."""
    with ScriptedServer([PENDING]) as server, httsleep.testing.no_waiting():
        with pytest.raises(StopPolling) as caught:
            # max_retries=10 is never reached (4 attempts) but keeps a clock that does not move from running
            # this test for 100 real seconds
            poll(server.url, UNTIL, polling_interval=30, timeout=100, max_retries=10)
    assert caught.value.limit == "timeout"
    assert caught.value.attempts == 4
    assert 90 <= caught.value.elapsed < 100


def test_no_waiting_skips_retry_after_too():
    with ScriptedServer([Reply(503, json={"status": "BUSY"}, headers={"Retry-After": "120"}), DONE]) as server:
        with httsleep.testing.no_waiting():
            start = time.monotonic()
            assert poll(server.url, UNTIL, polling_interval=0.01).json() == {"status": "SUCCESS"}
            assert time.monotonic() - start < 10


def test_no_waiting_restores_the_previous_setting_and_nests():
    assert not httsleep.testing.is_testing()
    with httsleep.testing.no_waiting():
        assert httsleep.testing.is_testing()
        with httsleep.testing.no_waiting():
            assert httsleep.testing.is_testing()
        assert httsleep.testing.is_testing()
    assert not httsleep.testing.is_testing()


def test_set_testing_switches_it_for_the_whole_process():
    try:
        httsleep.testing.set_testing(True)
        assert httsleep.testing.is_testing()
        results: List[bool] = []
        thread = threading.Thread(target=lambda: results.append(httsleep.testing.is_testing()))
        thread.start()
        thread.join()
        assert results == [True]
    finally:
        httsleep.testing.set_testing(False)
    assert not httsleep.testing.is_testing()


def test_no_waiting_applies_to_polls_in_other_threads():
    errors: List[BaseException] = []

    def worker() -> None:
        try:
            with pytest.raises(StopPolling):
                poll(server.url, UNTIL, polling_interval=3600, max_retries=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with ScriptedServer([PENDING]) as server, httsleep.testing.no_waiting():
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads)  # none is sleeping its 3600 s
    assert errors == [] and server.count == 8


def test_patching_httsleep_main_sleep_still_works(monkeypatch):
    """The 0.3.1 way: replace httsleep.main.sleep and record the waits."""
    slept: List[float] = []
    monkeypatch.setattr(httsleep.main, "sleep", slept.append)
    with ScriptedServer([PENDING, PENDING, DONE]) as server:
        poll(server.url, UNTIL, polling_interval=45)
    assert slept == [45, 45]
