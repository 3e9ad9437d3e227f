"""Rate limits (httsleep.ratelimit): the rates, the in-memory GCRA, the process-wide registry."""

from __future__ import annotations

import threading

import pytest

from httsleep.exceptions import ArgumentTypeError
from httsleep.ratelimit import (
    Rate,
    RateLimit,
    Reservation,
    origin_of,
    parse_rate,
    rate_limit_argument,
    shared_rate_limit,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- rates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, limit, period",
    [
        ("10/second", 10, 1.0),
        ("10/s", 10, 1.0),
        ("100/minute", 100, 60.0),
        ("5/10 seconds", 5, 10.0),
        ("1000/hour", 1000, 3600.0),
        ("10 per second", 10, 1.0),
        (" 3 PER 2.5 Min ", 3, 150.0),
        ("1/day", 1, 86400.0),
        ("20/500ms", 20, 0.5),
        ("7/5s", 7, 5.0),
    ],
)
def test_parse_rate_reads_the_documented_grammar(text: str, limit: int, period: float) -> None:
    rate = parse_rate(text)
    assert (rate.limit, rate.period) == (limit, period)
    assert rate.interval == pytest.approx(period / limit)
    assert parse_rate(str(rate)) == rate  # its text reads back


@pytest.mark.parametrize("text", ["10", "/s", "ten/s", "10/fortnight", "10//s", "10 per", "-1/s", "10/-2 s", ""])
def test_parse_rate_refuses_other_text_and_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="not a rate: .*10/second"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["0/s", "10/0 s", "10/0.0 minutes"])
def test_parse_rate_refuses_a_zero_count_or_period(text: str) -> None:
    with pytest.raises(ValueError, match="more than 0"):
        parse_rate(text)


def test_parse_rate_returns_a_rate_as_it_is_and_refuses_other_types() -> None:
    rate = Rate(3, 2)
    assert parse_rate(rate) is rate
    with pytest.raises(ArgumentTypeError, match="a rate must be a string"):
        parse_rate(10)  # type: ignore[arg-type]


def test_a_rate_is_an_immutable_hashable_value() -> None:
    assert Rate(10, 1) == parse_rate("10/s") and hash(Rate(10, 1)) == hash(parse_rate("10 per second"))
    with pytest.raises(AttributeError, match="immutable"):
        Rate(10, 1).limit = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="period"):
        Rate(10, float("inf"))
    with pytest.raises(ArgumentTypeError):
        Rate(True, 1)


# -- the in-memory limit ----------------------------------------------------------------------


def test_rate_limit_spreads_the_slots_of_one_origin_an_interval_apart() -> None:
    clock = Clock()
    limit = RateLimit("10/second", clock=clock)
    waits = [limit.reserve("http://a:80", None) for _ in range(4)]
    assert waits == [Reservation(0.0, True)] + [Reservation(pytest.approx(0.1 * n), True) for n in (1, 2, 3)]
    clock.now += 0.25  # the slot booked at +0.3 is now 0.05 away; the next one at +0.4
    assert limit.reserve("http://a:80", None).wait == pytest.approx(0.15)


def test_rate_limit_keeps_one_schedule_per_origin() -> None:
    limit = RateLimit("1/second", clock=Clock())
    assert limit.reserve("http://a:80", None) == (0.0, True)
    assert limit.reserve("http://b:80", None) == (0.0, True)
    assert limit.reserve("http://a:80", None).wait == pytest.approx(1.0)


def test_rate_limit_books_nothing_when_the_slot_comes_after_max_wait() -> None:
    limit = RateLimit("2/second", clock=Clock())
    limit.reserve("o", None)
    refused = limit.reserve("o", 0.4)
    assert refused == (pytest.approx(0.5), False)
    assert limit.reserve("o", 0.5) == (pytest.approx(0.5), True)  # the refusal took nothing
    assert limit.reserve("o", 0.0) == (pytest.approx(1.0), False)


def test_rate_limit_lets_a_burst_through_at_once_then_spreads_the_rest() -> None:
    clock = Clock()
    limit = RateLimit("10/second", burst=3, clock=clock)
    assert [limit.reserve("o", None).wait for _ in range(5)] == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])
    clock.now += 10  # a quiet spell fills the burst again, and no more than it
    assert [limit.reserve("o", None).wait for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_rate_limit_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="not a rate"):
        RateLimit("fast")
    with pytest.raises(ValueError, match="burst must be >= 1"):
        RateLimit("1/s", burst=0)
    with pytest.raises(ArgumentTypeError, match="clock must be callable"):
        RateLimit("1/s", clock=3)  # type: ignore[arg-type]


def test_rate_limit_hands_out_each_slot_once_to_many_threads() -> None:
    clock = Clock()
    limit = RateLimit("100/second", clock=clock)
    waits = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = limit.reserve("o", None).wait
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(wait * 100) for wait in waits) == list(range(400))


def test_rate_limit_forgets_origins_whose_schedule_ran_out() -> None:
    clock = Clock()
    limit = RateLimit("1/second", clock=clock)
    for n in range(1030):
        limit.reserve("http://host{}:80".format(n), None)
    clock.now += 2
    limit.reserve("http://last:80", None)  # over the threshold: the idle ones go
    assert limit.reserve("http://host1:80", None) == (0.0, True)
    assert len(limit._due) < 10


# -- the process-wide registry and the argument ---------------------------------------------------


def test_the_same_rate_in_any_spelling_shares_one_process_wide_limit() -> None:
    assert shared_rate_limit("7/second") is shared_rate_limit("7 per 1 s") is rate_limit_argument("7/s")
    assert shared_rate_limit("7/second") is not shared_rate_limit("7/minute")


def test_rate_limit_argument_takes_a_limit_as_it_is_and_refuses_the_rest() -> None:
    own = RateLimit("1/s")
    assert rate_limit_argument(own) is own
    assert rate_limit_argument(None) is None
    with pytest.raises(ValueError, match="^rate_limit: not a rate: 'quick'"):
        rate_limit_argument("quick")
    for wrong in (10, Rate(1, 1), RateLimit, object()):
        with pytest.raises(ArgumentTypeError, match="rate_limit must be a rate such as '10/second'"):
            rate_limit_argument(wrong)


@pytest.mark.parametrize(
    "url, origin",
    [
        ("http://example.org/jobs/1", "http://example.org:80"),
        ("HTTPS://user:secret@Example.ORG/x?y=1", "https://example.org:443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:9/", "http://[::1]:9"),
    ],
)
def test_origin_of_a_url_is_scheme_host_and_port_without_credentials(url: str, origin: str) -> None:
    assert origin_of(url) == origin


# -- the limits library's strategies ---------------------------------------------------------------


def test_limits_rate_limit_takes_slots_from_the_window_then_says_when_it_resets() -> None:
    from limits.storage import MemoryStorage

    from httsleep.ratelimit import LimitsRateLimit

    limit = LimitsRateLimit(MemoryStorage(), "2/second")
    assert [limit.reserve("http://a:80", None) for _ in range(2)] == [(0.0, True), (0.0, True)]
    wait, granted = limit.reserve("http://a:80", None)
    assert not granted and 0.5 < wait <= 1.0  # nothing booked: the caller asks again after the wait
    assert limit.reserve("http://b:80", None) == (0.0, True)  # another origin, another key


def test_limits_rate_limit_takes_a_strategy_an_item_and_a_fixed_key() -> None:
    import limits
    from limits.storage import MemoryStorage
    from limits.strategies import FixedWindowRateLimiter

    from httsleep.ratelimit import LimitsRateLimit

    strategy = FixedWindowRateLimiter(MemoryStorage())
    limit = LimitsRateLimit(strategy, limits.parse("1/minute"), key="the-api")
    assert limit.limiter is strategy
    assert limit.reserve("http://a:80", None) == (0.0, True)
    wait, granted = limit.reserve("http://b:80", 5.0)  # one key for every origin
    assert not granted and 50 < wait <= 60
    with pytest.raises(ArgumentTypeError, match="limiter must be a limits strategy or storage"):
        LimitsRateLimit(object(), "1/s")
    with pytest.raises(ValueError, match="not a rate"):
        LimitsRateLimit(MemoryStorage(), "often")


def test_limits_rate_limit_reads_sub_second_periods_as_whole_seconds() -> None:
    from limits.storage import MemoryStorage

    from httsleep.ratelimit import LimitsRateLimit

    limit = LimitsRateLimit(MemoryStorage(), "5/500ms")
    assert (limit.item.amount, limit.item.get_expiry()) == (10, 1)


def test_limits_rate_limit_lets_the_request_through_when_its_storage_fails() -> None:
    from limits.storage import MemoryStorage

    from httsleep.ratelimit import LimitsRateLimit

    calls = []

    class Down(MemoryStorage):
        def acquire_entry(self, *args: object, **kwargs: object) -> bool:
            calls.append(args)
            raise ConnectionError("redis is down")

    limit = LimitsRateLimit(Down(), "1/hour")
    assert [limit.reserve("http://a:80", None) for _ in range(3)] == [(0.0, True)] * 3  # working: one, then waits
    assert len(calls) == 3
