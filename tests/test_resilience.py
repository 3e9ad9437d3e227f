"""poll, retry and the circuit breaker for any callable (issue 4), with an injected clock and sleep."""

from __future__ import annotations

import inspect
import threading

import pytest
from conftest import ManualClock, run_in_threads

import httsleep
import httsleep.resilience
import httsleep.testing
from httsleep import (
    CircuitBreaker,
    CircuitBrokenError,
    Exponential,
    GaveUp,
    HttSleepError,
    circuitbreaker,
    poll,
    poll_,
    retry,
    retry_,
)
from httsleep.resilience import CLOSED, HALF_OPEN, OPEN, PollTimeout


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    fake = ManualClock(now=1000.0)
    monkeypatch.setattr(httsleep.resilience, "sleep", fake.sleep)
    monkeypatch.setattr(httsleep.resilience, "monotonic", fake.monotonic)
    return fake


class Flaky:
    """Raises ``errors`` in order, then returns ``result``; counts its calls and arguments."""

    def __init__(self, *errors: BaseException, result: object = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls: list = []

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls.append((args, kwargs))
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def results(*values: object):
    """A function returning ``values`` one after the other (the last repeats)."""
    items = list(values)
    calls = []

    def next_value(*args: object, **kwargs: object) -> object:
        calls.append((args, kwargs))
        return items.pop(0) if len(items) > 1 else items[0]

    next_value.calls = calls  # type: ignore[attr-defined]
    return next_value


# -- poll ---------------------------------------------------------------------------------


def test_poll_returns_the_first_result_that_satisfies_until(clock):
    f = results(404, 404, 200)
    assert poll_(f, lambda status: status == 200, timeout=15, interval=1) == 200
    assert len(f.calls) == 3
    assert clock.sleeps == [1, 1]


def test_poll_decorator_passes_the_arguments_to_the_function(clock):
    seen = []

    @poll(lambda value: value > 2, timeout=15, interval=0.5)
    def count(start, step=1):
        seen.append((start, step))
        return start + step * len(seen)

    assert count(0, step=2) == 4
    assert seen == [(0, 2), (0, 2)]
    assert clock.sleeps == [0.5]


def test_poll_underscore_forwards_extra_positional_and_keyword_arguments(clock):
    f = results("done")
    assert poll_(f, bool, 15, 1, "a", key="b") == "done"
    assert f.calls == [(("a",), {"key": "b"})]


def test_poll_times_out_with_attempts_and_elapsed_time_in_the_message(clock):
    f = results(404)
    with pytest.raises(TimeoutError) as caught:
        poll_(f, lambda status: status != 404, timeout=15, interval=1)
    error = caught.value
    assert isinstance(error, PollTimeout) and isinstance(error, GaveUp) and isinstance(error, HttSleepError)
    assert len(f.calls) == 16  # at 0, 1, ..., 15 s
    assert (error.attempts, error.elapsed, error.limit, error.last_result) == (16, 15.0, "timeout", 404)
    assert "16 times in 15.00s" in str(error) and "timeout=15s" in str(error) and "last result: 404" in str(error)


def test_poll_never_sleeps_past_the_deadline(clock):
    """timeout=10, interval=4: calls at 0, 4, 8; a third wait would end at 12, so it gives up at 8."""
    f = results(None)
    with pytest.raises(PollTimeout) as caught:
        poll_(f, bool, timeout=10, interval=4)
    assert clock.sleeps == [4, 4]
    assert caught.value.attempts == 3 and caught.value.elapsed == 8
    assert "would pass during the next wait of 4s" in str(caught.value)


def test_poll_gives_up_after_a_call_that_overran_the_deadline(clock):
    def slow():
        clock.advance(20)
        return False

    with pytest.raises(PollTimeout) as caught:
        poll_(slow, bool, timeout=15, interval=1)
    assert caught.value.attempts == 1 and caught.value.elapsed == 20
    assert "timeout=15s passed" in str(caught.value)


def test_poll_timeout_zero_calls_once_and_none_never_times_out(clock):
    once = results(0)
    with pytest.raises(PollTimeout):
        poll_(once, bool, timeout=0, interval=1)
    assert len(once.calls) == 1
    many = results(*([0] * 500), 1)
    assert poll_(many, bool, timeout=None, interval=60) == 1
    assert len(many.calls) == 501


def test_poll_accepts_wait_strategies(clock):
    f = results(0, 0, 0, 0, 1)
    poll_(f, bool, timeout=None, interval=Exponential(initial=1, maximum=4))
    assert clock.sleeps == [1, 2, 4, 4]


def test_poll_lets_exceptions_of_the_function_and_of_until_propagate(clock):
    failing = Flaky(KeyError("boom"))
    with pytest.raises(KeyError):
        poll_(failing, bool)
    assert len(failing.calls) == 1

    def bad_until(result):
        raise ValueError("until broke")

    with pytest.raises(ValueError, match="until broke"):
        poll_(results(1), bad_until)
    assert clock.sleeps == []


def test_poll_in_testing_mode_skips_waits_but_times_out_as_for_real(clock):
    f = results(404)
    with httsleep.testing.no_waiting():
        with pytest.raises(PollTimeout) as caught:
            poll_(f, lambda status: status != 404, timeout=15, interval=1)
    assert clock.sleeps == [] and clock.now == 1000.0  # nothing slept, no time passed
    assert len(f.calls) == 16 and caught.value.elapsed == 15.0  # the skipped waits count


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"until": None}, TypeError),
        ({"timeout": -1}, ValueError),
        ({"timeout": float("nan")}, ValueError),
        ({"timeout": "15"}, TypeError),
        ({"interval": float("nan")}, ValueError),
        ({"interval": "1"}, TypeError),
    ],
)
def test_poll_rejects_bad_arguments_when_the_decorator_is_built(kwargs, error):
    arguments = {"until": bool, **kwargs}
    quoted = repr(next(iter(kwargs.values())))  # repr(float("nan")) is "nan"
    with pytest.raises(error) as caught:
        poll(**arguments)
    assert quoted in str(caught.value)
    with pytest.raises(error) as caught:
        poll_(results(1), **arguments)
    assert quoted in str(caught.value)


def test_helpers_refuse_coroutine_functions_with_a_clear_error():
    async def job():
        return 1

    for decorator in (poll(bool), retry(ValueError), circuitbreaker(ValueError, 1, 1)):
        with pytest.raises(TypeError, match="synchronous"):
            decorator(job)
    with pytest.raises(TypeError, match="synchronous"):
        poll_(job, bool)
    with pytest.raises(TypeError, match="synchronous"):
        retry_(job, ValueError)


# -- retry --------------------------------------------------------------------------------


def test_retry_returns_the_first_success_after_failures(clock):
    f = Flaky(ValueError(1), ValueError(2), result="fine")
    assert retry_(f, ValueError, times=3, interval=1) == "fine"
    assert len(f.calls) == 3
    assert clock.sleeps == [1, 1]


def test_retry_makes_at_most_times_calls_and_the_last_exception_propagates_unchanged(clock):
    errors = [ValueError(n) for n in range(5)]
    f = Flaky(*errors)

    @retry(ValueError, times=3, interval=2)
    def call():
        return f()

    with pytest.raises(ValueError) as caught:
        call()
    assert caught.value is errors[2]
    assert caught.value.__traceback__ is not None
    assert len(f.calls) == 3
    assert clock.sleeps == [2, 2]  # no wait after the last call


def test_retry_lets_other_exceptions_propagate_at_once(clock):
    f = Flaky(KeyError("not retried"), result="never")
    with pytest.raises(KeyError):
        retry_(f, ValueError, times=5)
    assert len(f.calls) == 1 and clock.sleeps == []


def test_retry_accepts_an_iterable_of_exception_classes_and_subclasses_match(clock):
    f = Flaky(ConnectionResetError(), KeyError("k"), result="ok")
    assert retry_(f, [ConnectionError, LookupError], times=3) == "ok"
    g = Flaky(TimeoutError(), result="ok")
    assert retry_(g, (exc for exc in (TimeoutError,)), times=2) == "ok"


def test_retry_underscore_forwards_arguments(clock):
    f = Flaky(ValueError(), result="ok")
    assert retry_(f, ValueError, 2, 0, None, 1, 2, key=3) == "ok"
    assert f.calls == [((1, 2), {"key": 3})] * 2


def test_retry_times_one_calls_once(clock):
    f = Flaky(ValueError())
    with pytest.raises(ValueError):
        retry_(f, ValueError, times=1)
    assert len(f.calls) == 1 and clock.sleeps == []


def test_retry_on_error_with_two_parameters_gets_the_exception_and_the_count_from_zero(clock):
    errors = [ValueError(n) for n in range(3)]
    seen = []
    with pytest.raises(ValueError):
        retry_(Flaky(*errors), ValueError, times=3, on_error=lambda exc, count: seen.append((exc, count)))
    assert seen == [(errors[0], 0), (errors[1], 1), (errors[2], 2)]  # the last failure too


def test_retry_on_error_with_one_or_no_parameter(clock):
    seen = []
    retry_(Flaky(ValueError("a"), ValueError("b")), ValueError, on_error=lambda exc: seen.append(str(exc)))
    assert seen == ["a", "b"]
    calls = []
    retry_(Flaky(ValueError()), ValueError, on_error=lambda: calls.append(1))
    assert calls == [1]


def test_retry_on_error_forms_detected_from_the_signature(clock):
    class Log:
        def __init__(self):
            self.items = []

        def record(self, exc, count=None, *more):
            self.items.append(count)

    log = Log()
    retry_(Flaky(ValueError()), ValueError, on_error=log.record)  # bound method with *args: 2 arguments
    assert log.items == [0]
    bucket: list = []
    retry_(Flaky(ValueError()), ValueError, on_error=bucket.append)  # builtin bound method: 1 argument
    assert len(bucket) == 1 and isinstance(bucket[0], ValueError)
    defaults = []
    retry_(Flaky(ValueError()), ValueError, on_error=lambda exc=None: defaults.append(exc))
    assert len(defaults) == 1 and isinstance(defaults[0], ValueError)


def test_retry_on_error_without_a_readable_signature_gets_both_arguments(clock):
    seen = []

    def handler(*args):
        seen.append(args)

    handler.__signature__ = "unreadable"  # inspect.signature() raises, as for some builtins
    error = ValueError()
    retry_(Flaky(error), ValueError, on_error=handler)
    assert seen == [(error, 0)]


def test_retry_on_error_that_raises_stops_retrying(clock):
    def stop(exc):
        raise RuntimeError("stop") from exc

    f = Flaky(ValueError(), result="never")
    with pytest.raises(RuntimeError, match="stop"):
        retry_(f, ValueError, times=5, on_error=stop)
    assert len(f.calls) == 1


@pytest.mark.parametrize(
    "kwargs, error, quoted",
    [
        ({"ex": 42}, TypeError, "42"),
        ({"ex": [ValueError, "x"]}, TypeError, "'x'"),
        ({"ex": []}, ValueError, "[]"),
        ({"times": 1.5}, TypeError, "1.5"),
        ({"times": True}, TypeError, "True"),
        ({"interval": float("nan")}, ValueError, "nan"),
        ({"on_error": "log"}, TypeError, "'log'"),
        ({"on_error": lambda a, b, c: None}, TypeError, "(a, b, c)"),
        ({"on_error": lambda *, key: None}, TypeError, "key"),
    ],
)
def test_retry_rejects_bad_arguments_when_the_decorator_is_built(kwargs, error, quoted):
    arguments = {"ex": ValueError, **kwargs}
    with pytest.raises(error) as caught:
        retry(**arguments)
    assert quoted in str(caught.value)


def test_retry_waits_follow_a_strategy_called_with_the_calls_made(clock):
    seen = []

    def strategy(attempt):
        seen.append(attempt)
        return attempt * 10

    with pytest.raises(ValueError):
        retry_(Flaky(*[ValueError()] * 4), ValueError, times=4, interval=strategy)
    assert seen == [1, 2, 3] and clock.sleeps == [10, 20, 30]


def test_retry_in_testing_mode_does_not_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(httsleep.resilience, "sleep", slept.append)
    with httsleep.testing.no_waiting():
        assert retry_(Flaky(ValueError(), ValueError(), result=3), ValueError, times=3, interval=60) == 3
    assert slept == []


# -- decorated functions keep their metadata --------------------------------------------


def test_decorated_functions_keep_name_docstring_and_signature():
    def fetch(uri: str, *, verbose: bool = False) -> int:
        """Fetch it."""
        return 1

    for decorator in (poll(bool), retry(ValueError), circuitbreaker(ValueError, 3, 60)):
        decorated = decorator(fetch)
        assert decorated.__name__ == "fetch"
        assert decorated.__qualname__ == fetch.__qualname__
        assert decorated.__doc__ == "Fetch it."
        assert decorated.__wrapped__ is fetch
        assert inspect.signature(decorated) == inspect.signature(fetch)
        assert decorated.__annotations__ == fetch.__annotations__


# -- circuit breaker -------------------------------------------------------------------------


def test_threshold_failures_break_the_circuit_and_refuse_calls_without_making_them(clock):
    errors = [ValueError(n) for n in range(3)]
    f = Flaky(*errors, result="ok")
    attempt = circuitbreaker(ValueError, threshold=3, reset_timeout=60)(f)
    for error in errors:
        with pytest.raises(ValueError) as caught:
            attempt()
        assert caught.value is error  # the function's own exception, unchanged
    with pytest.raises(CircuitBrokenError) as refused:
        attempt()
    assert refused.value.time_remaining == 60
    assert len(f.calls) == 3
    clock.advance(45)
    with pytest.raises(CircuitBrokenError) as refused:
        attempt()
    assert refused.value.time_remaining == 15
    assert "15s until a trial call" in str(refused.value) and "ValueError(2)" in str(refused.value)
    assert len(f.calls) == 3


def test_failures_older_than_reset_timeout_leak_out_of_the_bucket(clock):
    breaker = CircuitBreaker(ValueError, threshold=3, reset_timeout=60, clock=clock.monotonic)
    fail = breaker(Flaky(*[ValueError()] * 10))
    for wait in (0, 30, 40):  # failures at 0, 30, 70: the first has leaked out by 70
        clock.advance(wait)
        with pytest.raises(ValueError):
            fail()
    assert breaker.state == CLOSED and breaker.failures == 2
    clock.advance(10)  # 80: failures at 30, 70, 80 are within 60 s
    with pytest.raises(ValueError):
        fail()
    assert breaker.state == OPEN


def test_successes_do_not_empty_the_bucket(clock):
    breaker = CircuitBreaker(ValueError, threshold=2, reset_timeout=60)
    f = breaker(Flaky(ValueError(), result="ok"))
    g = breaker(Flaky(ValueError()))
    with pytest.raises(ValueError):
        f()
    assert f() == "ok"
    with pytest.raises(ValueError):
        g()
    assert breaker.state == OPEN


def test_after_reset_timeout_one_trial_call_and_success_closes_the_circuit(clock):
    f = Flaky(ValueError(), ValueError(), result="back")
    attempt = circuitbreaker(ValueError, threshold=2, reset_timeout=60)(f)
    breaker = attempt.circuit_breaker
    for _ in range(2):
        with pytest.raises(ValueError):
            attempt()
    clock.advance(60)
    assert breaker.state == HALF_OPEN and breaker.time_remaining == 0
    assert attempt() == "back"
    assert breaker.state == CLOSED and breaker.failures == 0
    assert attempt() == "back" and len(f.calls) == 4


def test_a_failed_trial_breaks_the_circuit_again_for_reset_timeout(clock):
    f = Flaky(*[ValueError()] * 3, result="back")
    attempt = circuitbreaker(ValueError, threshold=2, reset_timeout=60)(f)
    for _ in range(2):
        with pytest.raises(ValueError):
            attempt()
    clock.advance(61)
    with pytest.raises(ValueError):
        attempt()  # the trial fails
    with pytest.raises(CircuitBrokenError) as refused:
        attempt()
    assert refused.value.time_remaining == 60
    clock.advance(60)
    assert attempt() == "back"


def test_other_exceptions_propagate_without_counting_and_free_the_trial(clock):
    f = Flaky(ValueError(), KeyError("a"), KeyError("b"), result="ok")
    attempt = circuitbreaker(ValueError, threshold=1, reset_timeout=10)(f)
    with pytest.raises(ValueError):
        attempt()
    clock.advance(10)
    with pytest.raises(KeyError):
        attempt()  # a trial that proved nothing: still half-open
    assert attempt.circuit_breaker.state == HALF_OPEN
    with pytest.raises(KeyError):
        attempt()
    assert attempt() == "ok" and attempt.circuit_breaker.state == CLOSED


def test_circuitbreaker_on_error_gets_the_exception_and_the_failures_before_it(clock):
    seen = []
    errors = [ValueError(n) for n in range(3)]
    attempt = circuitbreaker(ValueError, 3, 60, on_error=lambda exc, count: seen.append((exc, count)))(Flaky(*errors))
    for _ in range(3):
        with pytest.raises(ValueError):
            attempt()
    with pytest.raises(CircuitBrokenError):
        attempt()  # refusals are not errors of the function
    assert seen == [(errors[0], 0), (errors[1], 1), (errors[2], 2)]


def test_one_breaker_decorating_several_functions_counts_against_one_service(clock):
    breaker = circuitbreaker(ValueError, threshold=2, reset_timeout=60)
    read = breaker(Flaky(ValueError()))
    write = breaker(Flaky(ValueError(), result="never"))
    with pytest.raises(ValueError):
        read()
    with pytest.raises(ValueError):
        write()
    with pytest.raises(CircuitBrokenError):
        read()
    assert read.circuit_breaker is write.circuit_breaker is breaker


def test_breaker_reset_closes_the_circuit(clock):
    breaker = CircuitBreaker(threshold=1, reset_timeout=60)
    with pytest.raises(ValueError):
        breaker.call(Flaky(ValueError()))
    assert breaker.state == OPEN and "open" in repr(breaker)
    breaker.reset()
    assert breaker.state == CLOSED and breaker.call(lambda: 5) == 5


def test_breaker_injected_clock_argument_wins_over_the_module_clock(clock):
    mine = ManualClock(now=1000.0)
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=mine.monotonic, name="db")
    with pytest.raises(ValueError):
        breaker.call(Flaky(ValueError()))
    clock.advance(1000)  # the module clock is not the breaker's
    with pytest.raises(CircuitBrokenError, match="db is open"):
        breaker.call(lambda: 1)
    mine.advance(60)
    assert breaker.call(lambda: 1) == 1


def test_late_outcomes_of_calls_admitted_before_a_state_change_are_ignored(clock):
    breaker = CircuitBreaker(threshold=1, reset_timeout=60)
    slow = breaker.admit()  # admitted while closed
    breaker.admit().failure(ValueError("other caller"))  # breaks the circuit
    slow.success()  # a late success is no trial: the circuit stays open
    assert breaker.state == OPEN
    clock.advance(60)
    trial = breaker.admit()
    assert trial.trial
    trial.success()
    trial.failure()  # a second report is ignored
    assert breaker.state == CLOSED


def test_tickets_say_whether_they_are_trials(clock):
    breaker = CircuitBreaker(threshold=1, reset_timeout=30)
    ticket = breaker.admit()
    assert repr(ticket) == "<Ticket open>"
    ticket.failure()
    clock.advance(30)
    trial = breaker.admit()
    trial.cancel()
    assert repr(trial) == "<Ticket trial settled>" and breaker.state == HALF_OPEN


def test_a_trial_that_never_reports_frees_its_slot_after_reset_timeout(clock):
    breaker = CircuitBreaker(threshold=1, reset_timeout=30)
    breaker.admit().failure()
    clock.advance(30)
    lost = breaker.admit()  # e.g. the caller was interrupted
    with pytest.raises(CircuitBrokenError) as refused:
        breaker.admit()
    assert refused.value.time_remaining == 0 and "trial call is in progress" in str(refused.value)
    clock.advance(30)
    second = breaker.admit()
    lost.failure()  # too late: its slot expired, the second trial decides
    assert breaker.state == HALF_OPEN
    second.success()
    assert breaker.state == CLOSED


def test_breaker_messages_hide_credentials(clock):
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, name="api")
    with pytest.raises(OSError):
        breaker.call(Flaky(OSError("cannot reach https://user:s3cret@example.test/x")))
    with pytest.raises(CircuitBrokenError) as refused:
        breaker.call(lambda: None)
    assert "s3cret" not in str(refused.value) and "***@example.test" in str(refused.value)


@pytest.mark.parametrize(
    "kwargs, error, quoted",
    [
        ({"threshold": 0}, ValueError, "0"),
        ({"threshold": 2.5}, TypeError, "2.5"),
        ({"reset_timeout": 0}, ValueError, "0"),
        ({"reset_timeout": -1}, ValueError, "-1"),
        ({"reset_timeout": "60"}, TypeError, "'60'"),
        ({"half_open_trials": 0}, ValueError, "0"),
        ({"clock": 5}, TypeError, "5"),
        ({"ex": "ValueError"}, TypeError, "'ValueError'"),
        ({"on_error": lambda a, b, c: None}, TypeError, "(a, b, c)"),
    ],
)
def test_breaker_rejects_bad_arguments_at_construction(kwargs, error, quoted):
    with pytest.raises(error) as caught:
        CircuitBreaker(**kwargs)
    assert quoted in str(caught.value)


# -- the breaker under 20 concurrent threads ---------------------------------------------------




def test_twenty_calls_run_through_one_breaker_at_the_same_time(clock):
    """The lock is not held during the call: 20 calls meet inside the function at a barrier."""
    breaker = CircuitBreaker(threshold=3, reset_timeout=60)
    barrier = threading.Barrier(20, timeout=10)
    guarded = breaker(lambda index: barrier.wait() >= 0 and index)
    assert run_in_threads(20, guarded) == list(range(20))
    assert breaker.state == CLOSED


def test_twenty_threads_failing_together_break_the_circuit_and_then_none_call(clock):
    breaker = CircuitBreaker(ConnectionError, threshold=5, reset_timeout=60)
    calls = []
    lock = threading.Lock()

    @breaker
    def dead(index):
        with lock:
            calls.append(index)
        raise ConnectionRefusedError("dead")

    def hammer(index):
        while True:
            try:
                dead(index)
            except ConnectionError:
                continue
            except CircuitBrokenError as refused:
                return refused

    outcomes = run_in_threads(20, hammer)
    assert all(isinstance(outcome, CircuitBrokenError) for outcome in outcomes)
    # at most threshold - 1 failures were recorded before the breaking one, plus the 19 others in flight
    assert 5 <= len(calls) <= 5 + 19
    made = len(calls)
    outcomes = run_in_threads(20, hammer)  # while open: no call at all, every thread fails fast
    assert len(calls) == made
    assert all(outcome.time_remaining == 60 for outcome in outcomes)


def test_half_open_admits_exactly_one_trial_among_twenty_threads(clock):
    breaker = CircuitBreaker(threshold=1, reset_timeout=60)
    breaker.admit().failure()
    clock.advance(60)
    inside = threading.Event()
    release = threading.Event()
    refusals = threading.Semaphore(0)
    trials = []

    def trial():
        trials.append(1)
        inside.set()
        assert release.wait(10)
        return "trial"

    def caller(index):
        if index != 0:
            assert inside.wait(10)  # the trial is running
        try:
            return breaker.call(trial)
        except CircuitBrokenError:
            refusals.release()
            raise

    outcomes: list = []
    runner = threading.Thread(target=lambda: outcomes.extend(run_in_threads(20, caller)))
    runner.start()
    for _ in range(19):  # every other caller is refused while the trial runs
        assert refusals.acquire(timeout=10)
    release.set()
    runner.join(30)
    refused = [outcome for outcome in outcomes if isinstance(outcome, CircuitBrokenError)]
    assert outcomes[0] == "trial"
    assert len(trials) == 1 and len(refused) == 19
    assert all(outcome.time_remaining == 0 for outcome in refused)
    assert breaker.state == CLOSED


def test_half_open_trials_bounds_the_concurrent_trial_calls(clock):
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, half_open_trials=3)
    breaker.admit().failure()
    clock.advance(60)
    barrier = threading.Barrier(20, timeout=10)

    def caller(index):
        barrier.wait()
        try:
            return breaker.admit()
        except CircuitBrokenError as refused:
            return refused

    outcomes = run_in_threads(20, caller)
    tickets = [outcome for outcome in outcomes if not isinstance(outcome, CircuitBrokenError)]
    assert len(tickets) == 3 and all(ticket.trial for ticket in tickets)
    for ticket in tickets:
        ticket.failure()
    assert breaker.state == OPEN


def test_retry_still_rejects_a_missing_exception_class():
    """resilience shares the policy's check, but ex=None is still a TypeError and ex=[] a ValueError."""
    with pytest.raises(TypeError, match="ex must be an exception class or an iterable of them, not None"):
        httsleep.retry(None)
    with pytest.raises(ValueError, match=r"ex must name at least one exception class, not \[\]"):
        httsleep.retry([])


def test_a_child_forked_while_threads_use_a_circuit_breaker_does_not_deadlock():
    """A fork copies a lock another thread holds, locked for ever: the child gets a new one (issue 18, point 15)."""
    import os
    import signal
    import threading
    import time

    breaker = CircuitBreaker(threshold=1_000_000, reset_timeout=60)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            breaker.admit().failure("x")

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    children = []
    try:
        for _ in range(6):
            time.sleep(0.01)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                try:
                    breaker.admit().success()
                    os._exit(0)
                finally:
                    os._exit(1)
            children.append(pid)
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
    deadline = time.monotonic() + 10
    hung = []
    for pid in children:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
                break
            if time.monotonic() > deadline:
                hung.append(pid)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.01)
    assert not hung, "{} of 6 children hung".format(len(hung))


def test_restore_puts_a_breaker_in_a_reported_state_and_fences_earlier_tickets() -> None:
    """restore(): what a shared breaker's local fallback starts from; earlier tickets no longer count."""
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=3, reset_timeout=10, clock=clock, name="api")
    early = breaker.admit()
    breaker.restore(OPEN, time_remaining=4, last_failure="HTTP 503")
    assert breaker.state == OPEN and breaker.time_remaining == 4
    with pytest.raises(CircuitBrokenError, match=r"HTTP 503"):
        breaker.admit()
    early.success()
    assert breaker.state == OPEN
    clock.advance(4)
    assert breaker.state == HALF_OPEN and breaker.admit().trial
    breaker.restore(CLOSED, failures=5)
    assert breaker.failures == 2  # at most threshold - 1: a restored breaker is not already broken
    breaker.admit().failure("x")
    assert breaker.state == OPEN
    breaker.restore(HALF_OPEN)
    assert breaker.state == HALF_OPEN
    with pytest.raises(ValueError, match="state must be"):
        breaker.restore("ajar")
