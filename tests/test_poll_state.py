"""A poll's state is a value: PollState round-trips through JSON, holds nothing secret, and drives the same decisions.

The decision (:class:`httsleep.policy.PollRun`) is tested here without any
socket: with an injected clock, responses made by hand, and the in-memory
transport. A poll that is saved to JSON after every attempt and resumed from
it in a new :class:`~httsleep.policy.PollRun` each time (as a job engine
would, in another process) makes exactly the decisions of ``run()``.
"""

from __future__ import annotations

import asyncio
import json
import time
import types
from typing import Any, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

import httsleep.main
from httsleep import AsyncHttSleeper, CircuitBreaker, CircuitBrokenError, Exponential, HttSleeper, PollState
from httsleep.exceptions import Alarm, StopPolling
from httsleep.policy import Policy
from httsleep.transports.memory import MemoryClient, MemoryResponse, MemoryTransport

DONE = {"expression": "status", "value": "DONE"}
URL_1 = "http://jobs.example/1"
EPOCH = 1_800_000_000.0  # a wall-clock start, seconds since the epoch


class Clock:
    """A monotonic clock and a wall clock that move together, only when something sleeps."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: List[float] = []

    def monotonic(self) -> float:
        return 1000.0 + self.offset

    def wall(self) -> float:
        return EPOCH + self.offset

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds


def _policy(**options: Any) -> Policy:
    """A Policy from the poller's options (the condition keywords, such as ``status_code=200``, as one condition)."""
    shorthand = {key: options.pop(key) for key in ("status_code", "text", "json", "jsonpath", "callback")
                 if key in options}
    return Policy(shorthand=shorthand, **options)


def _start(policy: Policy, clock: Clock, state: Optional[PollState] = None) -> Any:
    return policy.start(clock.monotonic, give_up=StopPolling, target="GET http://jobs.example/1", wall=clock.wall,
                        state=state)


# -- the value ------------------------------------------------------------------------------------------


def test_a_state_round_trips_through_json_and_is_small():
    state = PollState(3, EPOCH, EPOCH + 600, EPOCH + 42.5, (("If-None-Match", '"v7"'),), 202, None)
    text = state.to_json()
    assert PollState.from_json(text) == state
    assert len(text.encode()) < 1024
    assert json.loads(text)["httsleep_poll_state"] == 1


def test_a_state_is_immutable_hashable_and_replaced_not_changed():
    state = PollState.start(EPOCH, timeout=60)
    with pytest.raises(AttributeError, match="immutable"):
        state.attempts = 2  # type: ignore[misc]
    later = state.replace(attempts=1, last_status=200)
    assert (state.attempts, later.attempts, later.deadline_at) == (0, 1, EPOCH + 60)
    assert len({state, later, PollState.start(EPOCH, timeout=60)}) == 2
    with pytest.raises(TypeError, match="no field"):
        state.replace(password="x")


@pytest.mark.parametrize("text, problem", [
    ("{}", "version"),
    ('{"httsleep_poll_state": 2, "attempts": 0, "started_at": 1}', "version 2"),
    ('{"httsleep_poll_state": 1, "started_at": 1}', "missing attempts"),
    ('{"httsleep_poll_state": 1, "attempts": 0, "started_at": 1, "token": "x"}', "unknown token"),
    ('{"httsleep_poll_state": 1, "attempts": -1, "started_at": 1}', "attempts"),
    ('{"httsleep_poll_state": 1, "attempts": 0, "started_at": "now"}', "started_at"),
    ('{"httsleep_poll_state": 1, "attempts": 0, "started_at": 1, "validators": [["Authorization", "x"]]}',
     "validators"),
    ('{"httsleep_poll_state": 1, "attempts": 0, "started_at": 1, "last_error": "a b; c"}', "last_error"),
    ("[1, 2]", "not a saved PollState"),
    ("not json", "not a saved PollState"),
])
def test_a_state_that_is_not_one_is_refused_with_a_value_error_naming_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        PollState.from_json(text)


@given(st.text(max_size=300) | st.from_regex(r'\{"httsleep_poll_state": 1, .{0,200}\}', fullmatch=True))
def test_loading_any_text_gives_a_state_or_a_value_error(text):
    try:
        state = PollState.from_json(text)
    except ValueError:
        return
    assert PollState.from_json(state.to_json()) == state


def test_the_state_is_on_the_wall_clock_and_its_deadline_is_fixed_at_the_start():
    clock = Clock()
    run = _start(_policy(status_code=200, timeout=30), clock)
    assert (run.state.started_at, run.state.deadline_at) == (EPOCH, EPOCH + 30)
    run.begin_attempt()
    clock.sleep(5)
    run.failed(ConnectionResetError(), timed_out=False) if False else None
    assert run.now() == EPOCH + 5 and run.remaining() == 25


# -- pure decisions, an injected clock ----------------------------------------------------------------------


def _decide(policy: Policy, clock: Clock, answers: List[Any]) -> List[Tuple[Any, ...]]:
    """Feed ``answers`` (responses or exceptions) to one PollRun; the decisions, as (done, sleep, attempts)."""
    run = _start(policy, clock)
    decisions = []
    for answer in answers:
        run.begin_attempt()
        if isinstance(answer, BaseException):
            decision = run.failed(answer)
        else:
            decision = run.received(answer)
        decisions.append((decision.done, decision.sleep, run.state.attempts))
        if decision.done:
            break
        clock.sleep(decision.sleep)
    return decisions


def test_each_decision_says_done_or_the_wait_and_carries_the_new_state():
    clock = Clock()
    policy = _policy(jsonpath=[DONE], polling_interval=Exponential(initial=1, maximum=4))
    answers = [MemoryResponse(json={"status": "RUNNING"})] * 3 + [MemoryResponse(json={"status": "DONE"})]
    assert _decide(policy, clock, answers) == [(False, 1.0, 1), (False, 2.0, 2), (False, 4.0, 3), (True, 0.0, 4)]


def test_the_state_records_the_next_attempt_and_a_summary_of_the_last_outcome_only():
    clock = Clock()
    policy = _policy(status_code=200, ignore_exceptions=[ConnectionResetError], polling_interval=3)
    run = _start(policy, clock)
    run.begin_attempt()
    run.failed(ConnectionResetError("reset by 10.0.0.1 with token abc"))
    state = run.state
    assert (state.attempts, state.next_attempt_at, state.last_status, state.last_error) == (
        1, EPOCH + 3, None, "ConnectionResetError")
    assert "abc" not in state.to_json() and "10.0.0.1" not in state.to_json()
    clock.sleep(3)
    run.begin_attempt()
    run.received(MemoryResponse(503, text="busy"))
    state = run.state
    assert (state.attempts, state.last_status, state.last_error) == (2, 503, None)


def test_retry_after_and_the_deadline_are_decided_on_the_poll_clock():
    clock = Clock()
    policy = _policy(status_code=200, timeout=10, polling_interval=1)
    busy = MemoryResponse(503, text="busy", headers={"Retry-After": "6"})
    run = _start(policy, clock)
    run.begin_attempt()
    assert run.received(busy).sleep == 6.0
    clock.sleep(6)
    run.begin_attempt()
    with pytest.raises(StopPolling, match=r"timeout=10s would pass during the next wait of 6s \(Retry-After\)"):
        run.received(busy)


def test_an_alarm_is_raised_before_success_is_checked():
    policy = _policy(status_code=200, alarms={"jsonpath": [{"expression": "status", "value": "FAILED"}]})
    run = _start(policy, Clock())
    run.begin_attempt()
    with pytest.raises(Alarm):
        run.received(MemoryResponse(json={"status": "FAILED"}))


def test_a_conditional_poll_keeps_its_validators_in_the_state_and_a_304_repeats_the_verdict():
    clock = Clock()
    run = _start(_policy(jsonpath=[DONE], conditional=True, polling_interval=1), clock)
    run.begin_attempt()
    run.received(MemoryResponse(json={"status": "RUNNING"}, headers={"ETag": '"v1"'}))
    assert run.state.validators == (("If-None-Match", '"v1"'),)
    assert run.conditional_headers() == {"If-None-Match": '"v1"'}
    run.begin_attempt()
    decision = run.received(MemoryResponse(304, headers={"ETag": '"v1"'}))
    assert not decision.done and run.state.last_status == 304


def test_a_validator_that_holds_a_credential_of_the_poll_is_not_kept():
    """A server may echo a token in its ETag: the state never holds it (the next request is unconditional)."""
    from httsleep.redaction import Secrets

    policy = _policy(jsonpath=[DONE], conditional=True)
    run = policy.start(Clock().monotonic, give_up=StopPolling, wall=Clock().wall,
                       redact=Secrets.of_request("http://jobs.example/1?token=tok-in-etag-SECRET"))
    run.begin_attempt()
    run.received(MemoryResponse(json={"status": "RUNNING"}, headers={"ETag": '"tok-in-etag-SECRET"'}))
    assert run.state.validators == () and "SECRET" not in run.state.to_json()


def test_a_resumed_state_keeps_its_deadline_and_counts_on():
    clock = Clock()
    policy = _policy(status_code=200, timeout=20, max_retries=3, polling_interval=5)
    first = _start(policy, clock)
    first.begin_attempt()
    first.received(MemoryResponse(503))
    saved = first.state.to_json()
    clock.sleep(5)
    resumed = _start(policy, clock, PollState.from_json(saved))
    assert (resumed.attempts, resumed.deadline, resumed.remaining()) == (1, EPOCH + 20, 15)
    resumed.begin_attempt()
    resumed.received(MemoryResponse(503))
    clock.sleep(5)
    again = _start(policy, clock, resumed.state)
    again.begin_attempt()
    with pytest.raises(StopPolling, match="max_retries=3 reached") as gave_up:
        again.received(MemoryResponse(503))
    assert gave_up.value.attempts == 3


def test_the_last_outcome_of_a_saved_state_reads_as_a_status_or_an_error_class():
    assert PollState(1, EPOCH, last_status=202).last_outcome == "HTTP 202"
    assert PollState(1, EPOCH, last_error="ReadTimeout").last_outcome == "ReadTimeout"
    assert PollState.start(EPOCH).last_outcome == ""


# -- a poll driven from saved states makes the decisions of run() ------------------------------------------------

SCRIPT: List[Any] = [
    MemoryResponse(202, json={"status": "RUNNING"}, headers={"ETag": '"v1"'}),
    MemoryResponse(304, headers={"ETag": '"v1"'}),
    ConnectionResetError("reset"),
    MemoryResponse(503, text="<html>busy</html>", headers={"Retry-After": "7"}),
    MemoryResponse(200, json={"status": "RUNNING"}, headers={"ETag": '"v2"'}),
    MemoryResponse(200, json={"status": "DONE"}),
]
OPTIONS = dict(jsonpath=[DONE], conditional=True, retry_transient=True, timeout=100, max_retries=10,
               polling_interval=Exponential(initial=1, maximum=4))


def _summary(attempt: Any) -> Tuple[Any, ...]:
    status = getattr(attempt.response, "status_code", None)
    return (attempt.number, attempt.outcome, attempt.wait, attempt.wait_reason, status,
            type(attempt.exception).__name__ if attempt.exception else None, attempt.state.to_json())


@pytest.mark.parametrize("script, options, expected", [
    (SCRIPT, OPTIONS, ({"status": "DONE"}, 6)),
    (SCRIPT[:4], dict(OPTIONS, timeout=12), (("timeout", 4), 4)),  # Retry-After 7 would pass the deadline
    (SCRIPT[:2], dict(OPTIONS, max_retries=5), (("max_retries", 5), 5)),  # a 304 for ever
], ids=["done", "deadline", "max_retries"])
def test_a_poll_resumed_from_json_after_every_attempt_decides_as_run_does(monkeypatch, script, options, expected):
    clock = Clock()
    monkeypatch.setattr(httsleep.main, "monotonic", clock.monotonic)
    monkeypatch.setattr(httsleep.main, "sleep", clock.sleep)
    monkeypatch.setattr(httsleep.main, "time", types.SimpleNamespace(time=clock.wall))
    seen: List[Any] = []
    sleeper = HttSleeper("http://jobs.example/1", session=MemoryClient(script), on_attempt=seen.append, **options)
    try:
        outcome: Any = sleeper.run().json()
    except StopPolling as gave_up:
        outcome = (gave_up.limit, gave_up.attempts)
    by_run = [_summary(attempt) for attempt in seen]

    clock = Clock()
    resumed: List[Any] = []
    policy = _policy(on_attempt=resumed.append, **options)
    transport, client = MemoryTransport("http://jobs.example/1"), MemoryClient(script)
    saved: Optional[str] = None
    while True:  # each attempt in a new PollRun, from the JSON the last one left: as in another process
        run = _start(policy, clock, None if saved is None else PollState.from_json(saved))
        run.begin_attempt()
        try:
            response = transport.start(client).send(run)
        except ConnectionResetError as exc:
            decision = run.failed(exc)
        except StopPolling as gave_up:  # pragma: no cover - raised by received/failed below
            raise AssertionError(gave_up)
        else:
            try:
                decision = run.received(response)
            except StopPolling as gave_up:
                resumed_outcome: Any = (gave_up.limit, gave_up.attempts)
                break
        if decision.done:
            resumed_outcome = decision.response.json()
            break
        clock.sleep(decision.sleep)
        saved = run.state.to_json()
    assert (outcome, len(by_run)) == expected
    assert resumed_outcome == outcome
    assert [_summary(attempt) for attempt in resumed] == by_run


# -- a breaker that does I/O ----------------------------------------------------------------------------------


class AwaitingBreaker:
    """A breaker whose admit and outcomes await (as one kept on a network would), counting what it hears."""

    name = "awaiting breaker"
    time_remaining = 0.0

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.heard: List[str] = []

    async def admit(self) -> Any:
        await asyncio.sleep(self.delay)
        breaker = self

        class Ticket:
            async def success(self) -> None:
                await asyncio.sleep(breaker.delay)
                breaker.heard.append("success")

            async def failure(self, exc: Any = None) -> None:
                await asyncio.sleep(breaker.delay)
                breaker.heard.append("failure")

            async def cancel(self) -> None:
                breaker.heard.append("cancel")

        return Ticket()


def test_a_breaker_that_awaits_never_blocks_the_event_loop():
    breaker = AwaitingBreaker(delay=0.05)
    server = MemoryClient([MemoryResponse(503, json={"status": "BUSY"}), MemoryResponse(json={"status": "DONE"})])
    gaps: List[float] = []

    async def main() -> Any:
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.002)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.ensure_future(ticker())
        await asyncio.sleep(0.01)
        try:
            return await AsyncHttSleeper("http://jobs.example/1", client=server, jsonpath=[DONE],
                                         circuit_breaker=breaker, polling_interval=0.01).run()
        finally:
            stop.set()
            await task

    assert asyncio.run(main()).json() == {"status": "DONE"}
    assert breaker.heard == ["failure", "success"]  # a 503 counts against it, the match for it
    assert len(gaps) > 20  # the ticker ran while the breaker awaited (4 x 50 ms)
    assert max(gaps) < 0.010, max(gaps)


def test_the_synchronous_front_end_refuses_a_breaker_that_awaits():
    with pytest.raises(TypeError, match="AsyncHttSleeper"):
        HttSleeper("http://jobs.example/1", status_code=200, circuit_breaker=AwaitingBreaker(0))


def test_a_local_circuit_breaker_works_on_both_front_ends_through_the_memory_transport():
    breaker = CircuitBreaker(threshold=2, reset_timeout=60)
    failing = MemoryClient([MemoryResponse(503)])
    with pytest.raises(StopPolling):
        HttSleeper("http://jobs.example/1", status_code=200, session=failing, circuit_breaker=breaker,
                   max_retries=2, polling_interval=0).run()
    with pytest.raises(CircuitBrokenError):
        asyncio.run(AsyncHttSleeper("http://jobs.example/1", status_code=200, client=failing,
                                    circuit_breaker=breaker, polling_interval=0).run())
    assert len(failing.requests) == 2


# -- what a resumed state and a breaker may not do -----------------------------------------------------------


def test_a_decision_still_unpacks_into_three_and_the_new_state_is_the_runs():
    run = _start(_policy(status_code=200, polling_interval=1), Clock())
    run.begin_attempt()
    done, response, sleep = run.received(MemoryResponse(503))
    assert (done, response, sleep) == (False, None, 1.0) and run.state.attempts == 1


def test_a_breaker_whose_plain_admit_returns_an_awaitable_is_refused_before_anything_is_sent(recwarn):
    class Sneaky(AwaitingBreaker):
        def admit(self) -> Any:  # type: ignore[override]  # a plain function handing back a coroutine
            return AwaitingBreaker.admit(self)

    server = MemoryClient([MemoryResponse(503)])
    with pytest.raises(TypeError, match=r"admit\(\) is awaitable"):
        HttSleeper(URL_1, status_code=200, session=server, circuit_breaker=Sneaky(0), max_retries=3).run()
    assert server.requests == []
    assert not [warning for warning in recwarn.list if "never awaited" in str(warning.message)]


@pytest.mark.parametrize("saved, options, problem", [
    (PollState(1, EPOCH), dict(timeout=60), "without a timeout"),
    (PollState(1, EPOCH, EPOCH + 60), dict(), "with a timeout"),
    (PollState(1, EPOCH, EPOCH + 60), dict(timeout=30), "timeout=60s, and this one has timeout=30s"),
    (PollState(1, EPOCH, validators=(("If-None-Match", '"v1"'),)), dict(), "not conditional"),
])
def test_a_state_saved_under_other_limits_is_refused(saved, options, problem):
    with pytest.raises(ValueError, match=problem):
        _start(_policy(status_code=200, **options), Clock(), saved)


def test_a_state_resumed_after_its_deadline_gives_up_without_sending():
    clock = Clock()
    clock.sleep(100)
    state = PollState(4, EPOCH, EPOCH + 60, EPOCH + 50, (), 202, None)
    server = MemoryClient([MemoryResponse(json={"status": "DONE"})])
    run = _start(_policy(jsonpath=[DONE], timeout=60), clock, state)
    with pytest.raises(StopPolling, match=r"had run out before attempt 5 was sent; last outcome: HTTP 202") as gave_up:
        run.begin_attempt()
        MemoryTransport(URL_1).start(server).send(run)  # pragma: no cover - never reached
    assert gave_up.value.limit == "timeout" and gave_up.value.attempts == 4 and server.requests == []


@pytest.mark.parametrize("text", [
    '{"httsleep_poll_state": 1, "attempts": 0, "started_at": 1, "validators": [["If-None-Match", "a\\r\\nX-Evil: 1"]]}',
    '{"httsleep_poll_state": 1, "attempts": 0, "started_at": 1, "validators": [["If-None-Match", "\\u0000"]]}',
    '{"httsleep_poll_state": 1, "attempts": 0, "started_at": 1, "validators": [["If-None-Match", "\\u20ac"]]}',
    '{"httsleep_poll_state": 1, "attempts": 0, "started_at": 1, "validators": [["If-None-Match", "%s"]]}' % ("x" * 600),
    '{"httsleep_poll_state": true, "attempts": 0, "started_at": 1}',
    '{"httsleep_poll_state": 1, "attempts": 0, "started_at": 100, "deadline_at": 50}',
    "[" * 100_000 + "]" * 100_000,
])
def test_a_hostile_saved_state_is_a_value_error_never_a_header_sent(text):
    with pytest.raises(ValueError):
        PollState.from_json(text)


def test_a_validator_no_header_could_carry_is_not_kept_in_the_state():
    run = _start(_policy(jsonpath=[DONE], conditional=True), Clock())
    run.begin_attempt()
    run.received(MemoryResponse(json={"status": "RUNNING"}, headers={"ETag": '"' + "v" * 1000 + '"'}))
    assert run.state.validators == () and len(run.state.to_json()) < 1024
    with pytest.raises(TypeError, match="no field"):
        run.state.evolve(token="x")
