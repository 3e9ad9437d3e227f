"""Polls under ``rate_limit=``: the wait for a slot, on every front end, in step(), hooks, the CLI and the helpers.

Most tests inject time: the sleeps of both front ends are recorded and move
a clock that the poll and its :class:`RateLimit` share (and nothing else
moves it), so a wait of a minute costs nothing and every wait is exact.
The two window tests run on the real clock (about 5 s each): 50 pollers in
one process against one loopback server.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import warnings
from typing import Any, Awaitable, Iterator, List, Optional, Tuple

import pytest
from faultservers import Reply, ScriptedServer
from fronts import FRONTS, aiohttp_by_default

import httsleep.aio
import httsleep.main
import httsleep.testing
from httsleep import (
    ArgumentTypeError,
    AsyncHttSleeper,
    Attempt,
    CircuitBreaker,
    GaveUp,
    HttSleeper,
    PollState,
    async_poll_many,
    poll_many,
)
from httsleep.policy import Policy
from httsleep.ratelimit import RateLimit, Reservation, origin_of, shared_rate_limit

UNTIL = {"jsonpath": [{"expression": "status", "value": "DONE"}]}
PENDING = Reply(json={"status": "PENDING"})
DONE = Reply(json={"status": "DONE"})


class SharedClock:
    """The clock of the poll and of its rate limit: it moves only by the sleeps, which are not slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SharedClock:
    shared = SharedClock()
    monkeypatch.setattr(httsleep.main, "sleep", shared.sleep)
    monkeypatch.setattr(httsleep.main, "monotonic", shared)
    monkeypatch.setattr(httsleep.aio, "sleep", shared.async_sleep)
    monkeypatch.setattr(httsleep.aio, "monotonic", shared)
    return shared


@pytest.fixture
def pending() -> Iterator[ScriptedServer]:
    with ScriptedServer([PENDING]) as server:
        yield server


def poll(front: str, url: str, **options: Any) -> Any:
    """Poll on ``front`` (a new poller); return the response or the exception that ended the poll."""
    options.setdefault("until", UNTIL)
    try:
        if front == "sync":
            return HttSleeper(url, **options).run()
        with aiohttp_by_default(front == "aiohttp"):
            return asyncio.run(AsyncHttSleeper(url, **options).run())
    except Exception as exc:  # the tests look at it
        return exc


def step(front: str, url: str, state: Optional[PollState] = None, **options: Any) -> Any:
    options.setdefault("until", UNTIL)
    if front == "sync":
        return HttSleeper(url, **options).step(state)

    async def one() -> Any:
        with aiohttp_by_default(front == "aiohttp"):
            return await AsyncHttSleeper(url, **options).step(state)

    return asyncio.run(one())


def booked(limit: RateLimit, url: str, slots: int) -> None:
    """Take ``slots`` slots of ``url``'s origin, as other pollers would have."""
    for _ in range(slots):
        limit.reserve(origin_of(url), None)


# -- the wait for a slot ------------------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_max_retries_still_sends_exactly_that_many_requests_however_many_throttled_waits_came_first(
    front: str, clock: SharedClock, pending: ScriptedServer
) -> None:
    limit = RateLimit("10/second", clock=clock)
    booked(limit, pending.url, 5)  # the first attempt waits 0.5 s for its slot
    seen: List[Attempt] = []
    outcome = poll(front, pending.url, max_retries=15, polling_interval=0, rate_limit=limit, on_attempt=seen.append)
    assert isinstance(outcome, GaveUp) and outcome.limit == "max_retries" and outcome.attempts == 15
    assert pending.count == 15
    throttled = [attempt for attempt in seen if attempt.outcome == "throttled"]
    assert len(throttled) == 15  # every attempt waited for its slot: the one before it took the previous slot
    assert throttled[0].wait == pytest.approx(0.5)
    assert [attempt.wait for attempt in throttled[1:]] == pytest.approx([0.1] * 14)
    assert clock.sleeps == pytest.approx([0.5] + [0.1] * 14)  # the throttled waits, slept by the driver
    assert [attempt.number for attempt in throttled] == list(range(1, 16))
    sent = [attempt for attempt in seen if attempt.outcome != "throttled"]
    assert [attempt.number for attempt in sent] == list(range(1, 16))


@pytest.mark.parametrize("front", FRONTS)
def test_hooks_see_a_throttled_attempt_before_it_is_sent(
    front: str, clock: SharedClock, pending: ScriptedServer
) -> None:
    limit = RateLimit("1/minute", clock=clock)
    booked(limit, pending.url, 1)
    seen: List[Tuple[Any, ...]] = []

    def hook(attempt: Attempt) -> None:
        assert attempt.state is not None
        seen.append((attempt.number, attempt.outcome, attempt.wait, attempt.wait_reason, attempt.response,
                     attempt.exception, attempt.state.attempts, attempt.state.slot_reserved, pending.count))

    outcome = poll(front, pending.url, max_retries=1, rate_limit=limit, on_attempt=hook)
    assert isinstance(outcome, GaveUp)
    number, what, wait, reason, response, exception, counted, reserved, sent = seen[0]
    assert (number, what, reason, response, exception, counted, reserved, sent) == (
        1, "throttled", "rate_limit", None, None, 0, True, 0
    )
    assert wait == pytest.approx(60)
    assert [entry[:2] for entry in seen[1:]] == [(1, "gave_up")]
    assert clock.sleeps == [pytest.approx(60)]


@pytest.mark.parametrize("front", FRONTS)
def test_a_poll_whose_next_slot_comes_after_its_deadline_gives_up_at_once_without_sending(
    front: str, pending: ScriptedServer
) -> None:
    limit = RateLimit("1/minute")
    booked(limit, pending.url, 1)
    seen: List[Attempt] = []
    started = time.monotonic()
    outcome = poll(front, pending.url, timeout=30, rate_limit=limit, on_attempt=seen.append)
    assert time.monotonic() - started < 2  # at once, not at the deadline
    assert isinstance(outcome, GaveUp)
    assert (outcome.limit, outcome.attempts, pending.count) == ("rate_limit", 0, 0)
    message = str(outcome)
    assert "after 0 attempts" in message and "no request was sent" in message
    assert "the next slot of the rate limit comes in 60s, after the deadline (timeout=30s" in message
    assert [attempt.outcome for attempt in seen] == ["gave_up"]
    # nothing was booked for it: the next poller's slot is still the one a minute after the first
    assert limit.reserve(origin_of(pending.url), None).wait == pytest.approx(60, abs=1)


@pytest.mark.parametrize("front", FRONTS)
def test_the_deadline_gives_up_later_when_a_retry_wait_plus_the_slot_would_pass_it(
    front: str, clock: SharedClock, pending: ScriptedServer
) -> None:
    """Within the deadline the poll waits for its slots; the first one past it ends the poll, unsent."""
    limit = RateLimit("1/second", clock=clock)
    outcome = poll(front, pending.url, timeout=3.5, polling_interval=0, rate_limit=limit)
    assert isinstance(outcome, GaveUp) and outcome.limit == "rate_limit"
    assert pending.count == outcome.attempts == 4  # at 0, 1, 2 and 3 s; the slot at 4 s is past the deadline


@pytest.mark.parametrize("front", FRONTS)
def test_each_origin_has_its_own_schedule(front: str, clock: SharedClock) -> None:
    limit = RateLimit("1/minute", clock=clock)
    with ScriptedServer([DONE]) as busy, ScriptedServer([DONE], host="127.0.0.2") as other:
        booked(limit, busy.url, 1)
        seen: List[str] = []
        assert poll(front, other.url, rate_limit=limit, on_attempt=lambda a: seen.append(a.outcome)).status_code == 200
        assert seen == ["success"] and clock.sleeps == []
        assert poll(front, busy.url, rate_limit=limit, on_attempt=lambda a: seen.append(a.outcome)).status_code == 200
        assert seen == ["success", "throttled", "success"]


class SaysNo:
    """A rate limit that cannot book ahead: "no, ask again in ``wait`` s" ``refusals`` times, then yes."""

    def __init__(self, refusals: int, wait: float) -> None:
        self.answers = [Reservation(wait, False)] * refusals + [Reservation(0.0, True)]
        self.asked: List[Optional[float]] = []

    def reserve(self, origin: str, max_wait: Optional[float]) -> Reservation:
        self.asked.append(max_wait)
        return self.answers[min(len(self.asked) - 1, len(self.answers) - 1)]


@pytest.mark.parametrize("front", FRONTS)
def test_a_limit_that_cannot_book_ahead_is_asked_again_after_each_wait(
    front: str, clock: SharedClock, pending: ScriptedServer
) -> None:
    limit = SaysNo(refusals=2, wait=0.3)
    seen: List[Attempt] = []
    outcome = poll(front, pending.url, max_retries=1, timeout=60, rate_limit=limit, on_attempt=seen.append)
    assert isinstance(outcome, GaveUp) and outcome.limit == "max_retries" and pending.count == 1
    assert clock.sleeps == pytest.approx([0.3, 0.3])
    assert limit.asked == pytest.approx([59.95, 59.65, 59.35])  # the time left before the deadline, less its slack
    throttled = [attempt for attempt in seen if attempt.outcome == "throttled"]
    assert [(attempt.number, attempt.state.slot_reserved) for attempt in throttled] == [(1, False), (1, False)]


def test_a_limit_that_says_no_without_a_wait_is_asked_again_after_a_short_pause(
    clock: SharedClock, pending: ScriptedServer
) -> None:
    limit = SaysNo(refusals=3, wait=0.0)
    outcome = poll("sync", pending.url, max_retries=1, rate_limit=limit)
    assert isinstance(outcome, GaveUp) and pending.count == 1
    assert clock.sleeps == pytest.approx([0.01] * 3)  # not a busy loop
    assert limit.asked == [None] * 4  # no deadline: however late


def test_a_limits_library_strategy_paces_a_poll(pending: ScriptedServer) -> None:
    from limits.storage import MemoryStorage

    from httsleep.ratelimit import LimitsRateLimit

    seen: List[str] = []
    started = time.monotonic()
    outcome = poll("sync", pending.url, max_retries=4, polling_interval=0, timeout=10,
                   rate_limit=LimitsRateLimit(MemoryStorage(), "2/second"), on_attempt=lambda a: seen.append(a.outcome))
    took = time.monotonic() - started
    assert isinstance(outcome, GaveUp) and outcome.limit == "max_retries" and pending.count == 4
    assert 0.9 <= took < 3  # two at once, the next two when the window moved on
    assert "throttled" in seen


def test_the_breaker_is_asked_after_the_wait_for_the_slot(clock: SharedClock, pending: ScriptedServer) -> None:
    events: List[str] = []

    class Recording(CircuitBreaker):
        def admit(self) -> Any:
            events.append("admit")
            return super().admit()

    class Limit:
        def reserve(self, origin: str, max_wait: Optional[float]) -> Reservation:
            events.append("reserve")
            return Reservation(2.0, True)

    def sleep(seconds: float) -> None:
        events.append("sleep {:g}".format(seconds))
        clock.sleep(seconds)

    httsleep.main.sleep = sleep  # the clock fixture's monkeypatch restores it
    outcome = poll("sync", pending.url, max_retries=2, polling_interval=1, rate_limit=Limit(),
                   circuit_breaker=Recording())
    assert isinstance(outcome, GaveUp)
    assert events == ["reserve", "sleep 2", "admit", "sleep 1", "reserve", "sleep 2", "admit"]


# -- step(): the engine holds the wait --------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_a_step_returns_the_wait_for_the_slot_without_sending_and_the_next_step_sends_without_asking_again(
    front: str, pending: ScriptedServer
) -> None:
    limit = RateLimit("1/minute")
    booked(limit, pending.url, 1)
    first = step(front, pending.url, rate_limit=limit)
    assert (first.done, pending.count, first.state.attempts, first.state.slot_reserved) == (False, 0, 0, True)
    assert first.wait == pytest.approx(60, abs=0.5)
    assert first.state.next_attempt_at == pytest.approx(time.time() + 60, abs=1)
    saved = PollState.from_json(first.state.to_json())
    assert saved == first.state
    # resumed early: nothing is sent, the limit is not asked again
    early = step(front, pending.url, saved, rate_limit=limit)
    assert (pending.count, early.state) == (0, saved) and 55 < early.wait <= 60
    # resumed when the slot has come: sent, without booking another slot
    due = saved.replace(next_attempt_at=time.time() - 0.001)
    sent = step(front, pending.url, due, rate_limit=limit, polling_interval=5)
    assert (pending.count, sent.state.attempts, sent.state.slot_reserved, sent.wait) == (1, 1, False, 5)
    assert "slot_reserved" not in json.loads(sent.state.to_json())
    assert limit.reserve(origin_of(pending.url), None).wait == pytest.approx(120, abs=1)  # two slots, not three


def test_a_saved_state_keeps_its_meaning_with_or_without_a_rate_limit() -> None:
    """The fingerprint leaves the rate limit out: it paces requests, it does not change what a state counts."""
    plain = Policy(UNTIL, max_retries=5)
    limited = Policy(UNTIL, max_retries=5, rate_limit=RateLimit("1/s"))
    assert plain.fingerprint == limited.fingerprint
    limited.check_state(plain.new_state())


# -- testing mode, refusals, validation ---------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_testing_mode_skips_the_wait_for_a_slot_and_counts_it_on_the_poll_clock(
    front: str, pending: ScriptedServer
) -> None:
    limit = RateLimit("1/hour")
    booked(limit, pending.url, 1)
    seen: List[Attempt] = []
    started = time.monotonic()
    with httsleep.testing.no_waiting():
        outcome = poll(front, pending.url, max_retries=1, rate_limit=limit, on_attempt=seen.append)
    assert time.monotonic() - started < 2
    assert isinstance(outcome, GaveUp) and pending.count == 1
    assert [attempt.outcome for attempt in seen] == ["throttled", "gave_up"]
    assert seen[0].wait == pytest.approx(3600, abs=1)
    assert seen[1].elapsed >= 3599  # the hour is on the poll's clock, as if it had been slept


class AsyncLimit:
    """A rate limit whose reserve() awaits (one kept on a network)."""

    def __init__(self, wait: float = 0.0) -> None:
        self.wait = wait
        self.calls = 0

    async def reserve(self, origin: str, max_wait: Optional[float]) -> Reservation:
        self.calls += 1
        await asyncio.sleep(0)
        return Reservation(self.wait if self.calls == 1 else 0.0, True)


class AwaitableLimit:
    """A rate limit whose plain reserve() returns an awaitable: found out only when called."""

    def __init__(self) -> None:
        self.inner = AsyncLimit()

    def reserve(self, origin: str, max_wait: Optional[float]) -> Awaitable[Reservation]:
        return self.inner.reserve(origin, max_wait)


def test_the_sync_front_end_refuses_a_rate_limit_that_awaits_naming_the_asyncio_class(
    pending: ScriptedServer,
) -> None:
    with pytest.raises(ArgumentTypeError, match="rate_limit: .* reserves asynchronously.*httsleep.AsyncHttSleeper"):
        HttSleeper(pending.url, until=UNTIL, rate_limit=AsyncLimit())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the refused coroutine is closed: no "never awaited" warning
        with pytest.raises(TypeError, match="the rate limit's reserve\\(\\) is awaitable.*httsleep.AsyncHttSleeper"):
            HttSleeper(pending.url, until=UNTIL, rate_limit=AwaitableLimit()).run()
    assert pending.count == 0


@pytest.mark.parametrize("front", ["async", "aiohttp"])
def test_the_asyncio_front_end_awaits_a_rate_limit_that_awaits(front: str, clock: SharedClock) -> None:
    limit = AsyncLimit(wait=3.0)
    seen: List[str] = []
    with ScriptedServer([DONE]) as server:
        assert poll(front, server.url, rate_limit=limit, on_attempt=lambda a: seen.append(a.outcome)).status_code == 200
        assert server.count == 1
    assert seen == ["throttled", "success"] and clock.sleeps == [3.0] and limit.calls == 1


@pytest.mark.parametrize("front", [HttSleeper, AsyncHttSleeper], ids=["sync", "asyncio"])
def test_rate_limit_is_checked_at_construction(front: Any) -> None:
    with pytest.raises(ArgumentTypeError, match="rate_limit must be a rate such as '10/second'"):
        front("http://127.0.0.1:9/", status_code=200, rate_limit=10)
    with pytest.raises(ValueError, match="rate_limit: not a rate: 'ten a second'"):
        front("http://127.0.0.1:9/", status_code=200, rate_limit="ten a second")
    assert front("http://127.0.0.1:9/", status_code=200, rate_limit="3/s").policy.rate_limit is shared_rate_limit("3/s")


def test_for_url_shares_the_rate_limit() -> None:
    own = RateLimit("1/s")
    template = HttSleeper("http://127.0.0.1:9/", status_code=200, rate_limit=own)
    assert template.for_url("http://127.0.0.1:9/other").policy.rate_limit is own
    asyncio_template = AsyncHttSleeper("http://127.0.0.1:9/", status_code=200, rate_limit=own)
    assert asyncio_template.for_url("http://127.0.0.1:9/other").policy.rate_limit is own


# -- the process-wide limit on the real clock: 50 pollers, one second at a time -----------------------------


class Arrivals:
    """A loopback server that answers DONE to each job's first request, recording when each request came."""

    def __init__(self) -> None:
        self.times: List[Tuple[float, str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any, index: int) -> Reply:
        with self.lock:
            self.times.append((time.monotonic(), request.path))
        return DONE

    def most_in_one_second(self) -> int:
        starts = sorted(moment for moment, _ in self.times)
        return max(sum(1 for other in starts if start <= other <= start + 1.0) for start in starts)

    def shares(self) -> List[int]:
        counts: dict = {}
        for _, path in self.times:
            counts[path] = counts.get(path, 0) + 1
        return sorted(counts.values())


def test_fifty_threads_at_ten_per_second_in_one_process_make_at_most_eleven_requests_in_any_second() -> None:
    shared_rate_limit("10/second").reset()
    arrivals = Arrivals()
    with ScriptedServer(arrivals) as server:
        urls = ["{}job/{}".format(server.url, n) for n in range(50)]
        started = time.monotonic()
        outcomes = list(poll_many(urls, until=UNTIL, rate_limit="10/second", concurrency=50, polling_interval=0))
        took = time.monotonic() - started
    assert all(getattr(outcome, "status_code", None) == 200 for _, outcome in outcomes)
    assert arrivals.shares() == [1] * 50  # every poller had its share
    assert arrivals.most_in_one_second() <= 11
    assert 4.5 <= took < 8  # 50 slots 0.1 s apart


def test_fifty_asyncio_tasks_at_ten_per_second_in_one_process_make_at_most_eleven_requests_in_any_second() -> None:
    shared_rate_limit("10 per second").reset()
    arrivals = Arrivals()

    async def all_of_them(url: str) -> List[Any]:
        urls = ["{}job/{}".format(url, n) for n in range(50)]
        return [outcome async for _, outcome in async_poll_many(
            urls, until=UNTIL, rate_limit="10/s", concurrency=50, polling_interval=0)]

    with ScriptedServer(arrivals) as server:
        started = time.monotonic()
        outcomes = asyncio.run(all_of_them(server.url))
        took = time.monotonic() - started
    assert all(getattr(outcome, "status_code", None) == 200 for outcome in outcomes)
    assert arrivals.shares() == [1] * 50
    assert arrivals.most_in_one_second() <= 11
    assert 4.5 <= took < 8


# -- the command line -------------------------------------------------------------------------------------------


def run_cli(args: List[str]) -> Tuple[int, str]:
    import sys

    from httsleep import cli

    out, err = io.BytesIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = io.TextIOWrapper(out, encoding="utf-8"), err  # type: ignore[assignment]
    try:
        code = cli.main(args)
    finally:
        sys.stdout, sys.stderr = saved
    return code, err.getvalue()


def test_the_cli_shows_the_wait_for_a_slot_in_its_progress(clock: SharedClock, pending: ScriptedServer) -> None:
    shared_rate_limit("2/second").reset()
    code, stderr = run_cli([pending.url, "--jsonpath", "status=DONE", "--rate-limit", "2/second",
                            "--interval", "0", "--max-retries", "3", "-v"])
    assert code == 3 and pending.count == 3
    lines = stderr.splitlines()
    assert "(at most 3 requests, at most 2/second)" in lines[0]
    waits = [line for line in lines if "rate limit: sending in" in line]
    assert [line.split(" | ")[0] for line in waits] == ["httsleep: attempt 2", "httsleep: attempt 3"]
    # the process-wide limit runs on the real clock, which the CLI's (injected) sleeps do not move: the
    # second slot is 0.5 s after the first, the third 1 s after it
    shown = [float(line.rsplit("sending in ", 1)[1].rstrip("s")) for line in waits]
    assert 0.3 < shown[0] <= 0.5 and 0.8 < shown[1] <= 1.0


def test_the_cli_gives_up_with_exit_code_3_when_the_slot_comes_after_the_timeout(pending: ScriptedServer) -> None:
    booked(shared_rate_limit("1/hour"), pending.url, 1)
    code, stderr = run_cli([pending.url, "--rate-limit", "1/hour", "--timeout", "5", "-q"])
    assert code == 3 and pending.count == 0
    assert "the next slot of the rate limit comes in" in stderr and "after the deadline" in stderr


@pytest.mark.parametrize("rate", ["fast", "10", "0/s"])
def test_the_cli_refuses_a_rate_it_cannot_read(rate: str) -> None:
    code, stderr = run_cli(["http://127.0.0.1:9/", "--rate-limit", rate])
    assert code == 2
    assert "--rate-limit: expected a rate such as 10/second" in stderr and repr(rate) in stderr


def test_the_progress_counts_down_a_long_wait_for_a_slot() -> None:
    from httsleep._progress import Progress

    now = [100.0]
    screen = io.StringIO()
    progress = Progress(screen, mode="live", clock=lambda: now[0], tick=1.0)
    attempt = Attempt(4, 2.5, None, None, "throttled", 30.0, "rate_limit")
    progress(attempt)
    now[0] += 1
    progress.show_countdown(attempt)
    progress.finish()
    updates = [update.rstrip() for update in screen.getvalue().split("\r")[1:]]
    assert updates == ["attempt 4 | 2.50s elapsed | rate limit: sending in 30.00s",
                       "attempt 4 | 2.50s elapsed | rate limit: sending in 29s"]
