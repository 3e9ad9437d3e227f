"""httsleep.redis.RedisRateLimit: one GCRA schedule per origin in Redis, shared by processes (issue 20).

A real redis-server on loopback (tests/redis_server.py). Time is moved with
``time_offset`` (Redis) and ``clock=`` (the local RateLimit) where the point
allows; the fleet tests wait for real slots (about 6 s each): one books
slots without sending anything, the other sends real polls from 20
processes to a loopback server that notes when each request arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
from conftest import ManualClock
from fleet_helpers import ArrivalServer, busiest_second, run_forked
from pytest_httpserver import HTTPServer

from httsleep import AsyncHttSleeper, GaveUp, httsleep
from httsleep.ratelimit import RateLimit, Reservation
from httsleep.redis import AsyncRedisRateLimit, RedisRateLimit

ORIGIN = "http://jobs.example:80"


def unique_key() -> str:
    return "test-{}".format(time.time_ns())


def test_the_same_reservations_as_the_local_rate_limit(redis_server: Any) -> None:
    """Step by step, at the same (shifted) times, Redis books what RateLimit books, max_wait refusals included."""
    clock = ManualClock(0.0)
    local = RateLimit("10/second", burst=3, clock=clock)
    shared = RedisRateLimit("10/second", redis_server.url, burst=3, key_prefix="t{}:".format(time.time_ns()))
    shared.reserve("http://warm.up:80")  # connected, script loaded: every step below is one quick round trip
    started = time.time()
    steps: List[Tuple[float, Optional[float]]] = [
        (0, None), (0, None), (0, None), (0, None), (0, 0.05), (0, 0.3), (0.25, None), (2, None), (0, 0),
        (0, None), (0, None), (0, 0.1), (0, 0.15), (0.05, None), (10, 0), (0, None),
    ]
    for advance, max_wait in steps:
        clock.advance(advance)
        shared.time_offset = clock.now - (time.time() - started)
        mine, theirs = local.reserve(ORIGIN, max_wait), shared.reserve(ORIGIN, max_wait)
        assert mine.granted == theirs.granted, (clock.now, max_wait, mine, theirs)
        assert abs(mine.wait - theirs.wait) < 0.01, (clock.now, max_wait, mine, theirs)
    shared.close()


def test_a_slot_after_max_wait_is_not_booked(redis_server: Any) -> None:
    limit = RedisRateLimit("1/minute", redis_server.url, key=unique_key())
    assert limit.reserve(ORIGIN, 0) == Reservation(0.0, True)
    refused = limit.reserve(ORIGIN, 30)
    assert not refused.granted and 59 < refused.wait <= 60
    again = limit.reserve(ORIGIN, None)  # nothing was booked by the refusal: the next slot is still a minute away
    assert again.granted and 59 < again.wait <= 60


def test_each_origin_has_its_schedule_unless_a_key_is_given(redis_server: Any) -> None:
    per_origin = RedisRateLimit("1/minute", redis_server.url, key_prefix="t{}:".format(time.time_ns()))
    assert per_origin.reserve("http://a:80").wait == 0 and per_origin.reserve("http://b:80").wait == 0
    one_key = RedisRateLimit("1/minute", redis_server.url, key=unique_key())
    assert one_key.reserve("http://a:80").wait == 0 and one_key.reserve("http://b:80").wait > 59


def test_redis_down_a_local_rate_limit_books_and_redis_comes_back(own_redis_server: Any) -> None:
    events: List[str] = []
    limit = RedisRateLimit("10/second", own_redis_server.url, probe_interval=0.2, on_backend=events.append)
    assert limit.reserve(ORIGIN).granted
    own_redis_server.kill()
    first, second = limit.reserve(ORIGIN), limit.reserve(ORIGIN)
    assert events == ["degraded"] and limit.degraded
    assert first == Reservation(0.0, True) and second.granted and 0.09 < second.wait <= 0.1
    own_redis_server.restart()
    time.sleep(0.3)
    assert limit.reserve(ORIGIN).granted and events == ["degraded", "recovered"]


def test_arguments_are_checked() -> None:
    for kwargs, error in [({"key": ""}, TypeError), ({"key": "a{b"}, ValueError), ({"burst": 0}, ValueError),
                          ({"probe_interval": 0}, ValueError), ({"key_prefix": 3}, TypeError)]:
        with pytest.raises(error):
            RedisRateLimit("10/second", "redis://127.0.0.1:1/0", **kwargs)
        with pytest.raises(error):
            AsyncRedisRateLimit("10/second", "redis://127.0.0.1:1/0", **kwargs)
    with pytest.raises(ValueError, match="not a rate"):
        RedisRateLimit("ten a second", "redis://127.0.0.1:1/0")


def test_polls_on_both_front_ends_take_it(redis_server: Any, httpserver: HTTPServer) -> None:
    """rate_limit= accepts both; two polls share the schedule of the origin (the second waits its slot)."""
    httpserver.expect_request("/jobs/1").respond_with_json({"status": "SUCCESS"})
    prefix = "t{}:".format(time.time_ns())
    limit = RedisRateLimit("2/second", redis_server.url, key_prefix=prefix)
    started = time.monotonic()
    httsleep(httpserver.url_for("/jobs/1"), json={"status": "SUCCESS"}, rate_limit=limit)

    async def other() -> None:
        shared = AsyncRedisRateLimit("2/second", redis_server.url, key_prefix=prefix)
        async with httpx.AsyncClient() as client:
            await AsyncHttSleeper(httpserver.url_for("/jobs/1"), json={"status": "SUCCESS"}, client=client,
                                  rate_limit=shared).run()
        await shared.aclose()

    asyncio.run(other())
    assert 0.4 < time.monotonic() - started < 2
    assert len(httpserver.log) == 2


# -- 20 reservers in 20 processes --------------------------------------------------------


def _reserver(url: str, key: str, start_at: float, end_at: float, results: Any) -> None:
    limit = RedisRateLimit("10/second", url, key=key)
    slots: List[float] = []
    errors: List[str] = []
    time.sleep(max(start_at - time.monotonic(), 0))
    while True:
        try:
            reservation = limit.reserve(ORIGIN, max(end_at - time.monotonic(), 0))
        except Exception as exc:  # never: a rate limit does not raise
            errors.append(repr(exc))
            break
        if not reservation.granted:
            break
        slot = time.monotonic() + reservation.wait
        time.sleep(reservation.wait)
        slots.append(slot)
    results.put((slots, errors))


@pytest.mark.fleet
@pytest.mark.slow
def test_twenty_reservers_in_twenty_processes_share_ten_a_second(redis_server: Any) -> None:
    """At most 11 slots in any 1-s window over 5 s, and every reserver gets its share."""
    key = unique_key()
    start_at = time.monotonic() + 1.0
    end_at = start_at + 5.0
    reports = run_forked(_reserver, lambda index: (redis_server.url, key, start_at, end_at), 20, end_at)
    assert [errors for _, errors in reports] == [[]] * 20
    slots = sorted(slot for mine, _ in reports for slot in mine)
    busiest = busiest_second(slots)
    shares = sorted(len(mine) for mine, _ in reports)
    print("rate limit figures: {} slots in 5 s, busiest 1-s window {}, shares {}".format(len(slots), busiest, shares))
    assert busiest <= 11
    assert 45 <= len(slots) <= 51
    assert shares[0] >= 2


# -- 20 pollers in 20 processes, real requests ------------------------------------------------


@pytest.fixture
def not_yet() -> Iterator[ArrivalServer]:
    """A job service that always answers PENDING, noting when each request arrived and from which poller."""
    server = ArrivalServer(200, {"status": "PENDING"})
    try:
        yield server
    finally:
        server.stop()


def _poller(url: str, redis_url: str, key: str, start_at: float, end_at: float, results: Any) -> None:
    """One poll, until ``end_at``, of a job that never finishes, paced by the shared limit; report what it raised."""
    logging.getLogger("httsleep").setLevel(logging.CRITICAL)
    limit = RedisRateLimit("10/second", redis_url, key=key)
    errors: List[str] = []
    time.sleep(max(start_at - time.monotonic(), 0))
    try:
        httsleep(url, json={"status": "SUCCESS"}, rate_limit=limit, polling_interval=0.01, max_retries=None,
                 timeout=end_at - time.monotonic(), request_timeout=2)
    except GaveUp:
        pass  # the deadline (or a slot past it): what every poll here ends with
    except Exception as exc:  # never: the job never finishes, and a rate limit does not raise
        errors.append(repr(exc))
    else:
        errors.append("the poll succeeded")
    limit.close()
    results.put(errors)


@pytest.mark.fleet
@pytest.mark.slow
def test_twenty_pollers_in_twenty_processes_send_ten_requests_a_second_between_them(redis_server: Any,
                                                                                     not_yet: ArrivalServer) -> None:
    """Issue 20, must-show 3: real polls from 20 forked processes, each of its own job, one RedisRateLimit key at
    "10/second", for 5 s: at most 11 requests arrive in any 1-s window (every request of the run counted, see
    :func:`fleet_helpers.busiest_second`), and every poller got at least one request through."""
    pollers = 20
    key = unique_key()
    start_at = time.monotonic() + 1.0
    end_at = start_at + 5.0
    reports = run_forked(_poller, lambda index: (not_yet.url(index), redis_server.url, key, start_at, end_at),
                         pollers, end_at)
    assert reports == [[]] * pollers
    arrivals = not_yet.arrivals()
    busiest = busiest_second([moment for moment, _ in arrivals])
    per_poller: Dict[str, int] = {str(index): 0 for index in range(pollers)}
    for _, poller in arrivals:
        per_poller[poller] += 1
    shares = sorted(per_poller.values())
    print("rate-limited polls: {} requests in 5 s, busiest 1-s window {}, requests per poller {}".format(
        len(arrivals), busiest, shares))
    assert busiest <= 11
    assert shares[0] >= 1
    assert len(per_poller) == pollers  # no request without a poller's name
    assert 40 <= len(arrivals) <= 52


def test_the_front_ends_refuse_the_rate_limit_of_the_other_kind() -> None:
    """The blocking limit would stall the event loop: AsyncHttSleeper names AsyncRedisRateLimit; and vice versa."""
    from httsleep import HttSleeper

    with pytest.raises(TypeError, match=r"rate_limit: .*httsleep\.redis\.AsyncRedisRateLimit"):
        AsyncHttSleeper("http://127.0.0.1:1/", status_code=200,
                        rate_limit=RedisRateLimit("10/second", "redis://127.0.0.1:1/0"))
    with pytest.raises(TypeError, match="AsyncHttSleeper"):
        HttSleeper("http://127.0.0.1:1/", status_code=200,
                   rate_limit=AsyncRedisRateLimit("10/second", "redis://127.0.0.1:1/0"))
    AsyncHttSleeper("http://127.0.0.1:1/", status_code=200, rate_limit=RateLimit("10/second"))  # in memory: fine
