"""Wait strategies: constant, exponential with a cap, full jitter, composed with +."""

from __future__ import annotations

import math

import pytest
from faultservers import Reply, ScriptedServer

from httsleep import Constant, Exponential, FullJitter, HttSleeper, StopPolling
from httsleep import httsleep as poll
from httsleep.waits import Sum, as_wait

PENDING = Reply(json={"status": "PENDING"})


# -- the strategies themselves ---------------------------------------------------------------


def test_constant_is_the_same_every_time():
    wait = Constant(1.5)
    assert [wait(n) for n in (1, 2, 100)] == [1.5, 1.5, 1.5]
    assert wait == Constant(1.5) and hash(wait) == hash(Constant(1.5)) and wait != Constant(2)
    assert repr(wait) == "Constant(1.5)"


def test_exponential_doubles_from_initial_up_to_the_cap():
    wait = Exponential(initial=0.5, maximum=10)
    assert [wait(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]


def test_exponential_with_another_base():
    assert [Exponential(initial=1, maximum=100, base=3)(n) for n in range(1, 6)] == [1, 3, 9, 27, 81]


@pytest.mark.parametrize("attempt", [1_000, 10**6, 10**18, 10**100])
def test_exponential_growth_never_overflows(attempt):
    """Huge attempt numbers give the cap, not OverflowError or inf."""
    assert Exponential(initial=1, maximum=60)(attempt) == 60
    assert Exponential(initial=1e-300, maximum=1e300, base=10)(attempt) == 1e300


def test_exponential_from_a_tiny_initial_wait_does_not_overflow_below_the_cap():
    """base ** exponent alone overflows here; the wait itself (about 1e249) does not."""
    assert Exponential(initial=1e-300, maximum=1e300, base=10)(550) == pytest.approx(1e249, rel=1e-9)


def test_exponential_edge_cases():
    """Zero initial wait, base 1, a cap below the initial wait, a zero cap, and attempt numbers below 1."""
    assert Exponential(initial=0, maximum=10)(50) == 0  # zero stays zero
    assert Exponential(initial=2, maximum=10, base=1)(50) == 2  # base 1 is constant
    assert Exponential(initial=20, maximum=10)(1) == 10  # the cap applies from the start
    assert Exponential(initial=1, maximum=0)(3) == 0  # a zero cap means no wait
    assert Exponential()(0) == Exponential()(1) == 1  # attempt numbers below 1 count as 1


def test_full_jitter_is_uniform_between_zero_and_the_wrapped_wait():
    assert FullJitter(Constant(10), rng=lambda: 0.0)(1) == 0.0
    assert FullJitter(Constant(10), rng=lambda: 0.25)(1) == 2.5
    jittered = FullJitter(Exponential(initial=1, maximum=30))
    values = [jittered(5) for _ in range(500)]
    assert all(0 <= value <= 16 for value in values)
    assert len(set(values)) > 100  # really random


def test_full_jitter_accepts_a_number():
    assert FullJitter(4, rng=lambda: 0.5)(1) == 2.0


def test_strategies_compose_with_plus():
    wait = Constant(1) + FullJitter(Constant(0.5), rng=lambda: 1.0)
    assert isinstance(wait, Sum)
    assert wait(1) == 1.5
    assert (Exponential(initial=1, maximum=4) + 0.5)(3) == 4.5
    assert (0.5 + Exponential(initial=1, maximum=4))(1) == 1.5
    assert "Constant(1.0)" in repr(wait) and "FullJitter" in repr(wait)


def test_as_wait_turns_numbers_into_constants_and_passes_callables_through():
    assert as_wait(2) == Constant(2)

    def custom(attempt):
        return attempt

    assert as_wait(custom) is custom


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Constant(-1), "-1"),
        (lambda: Constant(float("inf")), "inf"),
        (lambda: Constant("1"), "'1'"),
        (lambda: Constant(True), "True"),
        (lambda: Exponential(initial=-1), "-1"),
        (lambda: Exponential(maximum=float("nan")), "nan"),
        (lambda: Exponential(base=0.5), "0.5"),
        (lambda: FullJitter("x"), "'x'"),
        (lambda: as_wait(-2), "-2"),
        (lambda: Constant(1) + "x", "'x'"),
    ],
)
def test_invalid_arguments_are_rejected_with_the_bad_value_in_the_message(build, message):
    with pytest.raises((TypeError, ValueError)) as caught:
        build()
    assert message in str(caught.value)


# -- strategies in a poll --------------------------------------------------------------------


def test_polling_interval_still_accepts_a_number(fake_time):
    with ScriptedServer([PENDING]) as server:
        with pytest.raises(StopPolling):
            poll(server.url, json={"status": "SUCCESS"}, polling_interval=0.25, max_retries=3)
    assert fake_time.sleeps == [0.25, 0.25]


def test_polling_interval_accepts_a_strategy(fake_time):
    """The strategy is asked with the number of the attempt that just finished."""
    with ScriptedServer([PENDING]) as server:
        with pytest.raises(StopPolling):
            poll(
                server.url,
                json={"status": "SUCCESS"},
                polling_interval=Exponential(initial=1, maximum=5),
                max_retries=6,
            )
    assert fake_time.sleeps == [1, 2, 4, 5, 5]


def test_a_plain_function_is_a_strategy(fake_time):
    with ScriptedServer([PENDING]) as server:
        with pytest.raises(StopPolling):
            poll(server.url, json={"status": "SUCCESS"}, polling_interval=lambda n: n / 10, max_retries=4)
    assert fake_time.sleeps == [0.1, 0.2, 0.3]


def test_a_custom_strategy_returning_a_negative_or_nan_wait_does_not_sleep(fake_time):
    waits = iter([-1.0, math.nan, 0.5])
    with ScriptedServer([PENDING]) as server:
        with pytest.raises(StopPolling):
            poll(server.url, json={"status": "SUCCESS"}, polling_interval=lambda n: next(waits), max_retries=4)
    assert fake_time.sleeps == [0.5]  # the two 0-second waits are not slept at all


def test_the_wait_is_measured_from_the_end_of_an_attempt(fake_time):
    """The wait asked for is the strategy's, whatever the request took (it is not shortened)."""
    with ScriptedServer([PENDING]) as server:
        with pytest.raises(StopPolling):
            poll(server.url, json={"status": "SUCCESS"}, polling_interval=0.001, max_retries=3)
    assert fake_time.sleeps == [0.001, 0.001]


def test_the_deadline_ends_a_growing_wait_instead_of_sleeping_past_it(fake_time):
    """Waits 1+2+4 fit in timeout=10; the next (8) would end after it, so the poll gives up."""
    with ScriptedServer([PENDING]) as server:
        with pytest.raises(StopPolling) as caught:
            poll(server.url, json={"status": "SUCCESS"}, polling_interval=Exponential(initial=1), timeout=10)
    assert fake_time.sleeps == [1, 2, 4]
    assert caught.value.limit == "timeout" and caught.value.attempts == 4
    assert "next wait of 8s (interval)" in str(caught.value)


def test_the_interval_can_be_replaced_on_the_poller(fake_time):
    with ScriptedServer([PENDING]) as server:
        sleeper = HttSleeper(server.url, json={"status": "SUCCESS"}, max_retries=2)
        sleeper.polling_interval = FullJitter(Constant(2), rng=lambda: 0.5)
        with pytest.raises(StopPolling):
            sleeper.run()
    assert fake_time.sleeps == [1.0]


def test_a_strategy_that_asks_to_wait_forever_is_a_clear_error(httpserver):
    """Instead of an OverflowError from deep inside sleep()."""
    from httsleep import httsleep, poll_

    httpserver.expect_request("/job").respond_with_data("busy")
    forever = lambda attempt: float("inf")  # noqa: E731
    with pytest.raises(ValueError, match="wait forever .* after attempt 1"):
        httsleep(httpserver.url_for("/job"), {"text": "done"}, polling_interval=forever)
    with pytest.raises(ValueError, match="wait forever .* after attempt 1"):
        poll_(lambda: 1, lambda result: False, timeout=None, interval=forever)


@pytest.mark.parametrize("answer", [float("inf"), 1e10, 10**400])
def test_a_wait_longer_than_any_sleep_ends_a_poll_with_a_deadline_by_giving_up(httpserver, fake_time, answer):
    """With timeout= the poll knows the wait cannot end in time: it gives up at once, as for any long wait."""
    from httsleep import StopPolling, httsleep, poll_
    from httsleep.resilience import PollTimeout

    httpserver.expect_request("/job").respond_with_data("busy")
    with pytest.raises(StopPolling) as caught:
        httsleep(httpserver.url_for("/job"), {"text": "done"}, polling_interval=lambda attempt: answer, timeout=60)
    assert caught.value.limit == "timeout" and "would pass during the next wait of inf" in str(caught.value)
    assert fake_time.sleeps == []
    with pytest.raises(PollTimeout):
        poll_(lambda: 1, lambda result: False, timeout=60, interval=lambda attempt: answer)


@pytest.mark.parametrize("answer", ["2", None, [1], object()])
def test_a_strategy_answering_something_other_than_a_number_is_a_type_error_naming_it(httpserver, answer):
    from httsleep import httsleep

    httpserver.expect_request("/job").respond_with_data("busy")

    def strategy(attempt):
        return answer

    with pytest.raises(TypeError, match=r"wait strategy .*strategy.* returned .* after attempt 1; it must return"):
        httsleep(httpserver.url_for("/job"), {"text": "done"}, polling_interval=strategy)
