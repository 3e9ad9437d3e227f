"""A fleet of processes shares one circuit through Redis (issue 20, must-show 2).

Twenty worker processes (forked) poll an always-503 loopback service through
a RedisCircuitBreaker (threshold 5, reset_timeout 2 s) on a real
redis-server: at most 20 + 4 requests reach the service before the circuit
breaks (20 in flight, 4 counted failures before the fifth), then exactly one
trial per half-open window. The same with the asyncio breaker, tasks spread
over 5 processes. Redis killed for 3 s mid-run (both kinds): no poll sees a
Redis error, requests stay within 20 x ceil(outage / reset) during the outage, every
process is back on Redis within 1.2 x probe_interval + 0.2 s of the restart.
Redis stopped (SIGSTOP): a 10-ms ticker on the asyncio front end never sees
a gap over 100 ms.

These tests wait for real time (about 45 s together): ``-m fleet`` selects them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Dict, Iterator, List, Tuple

import httpx
import pytest
import requests
from fleet_helpers import ArrivalServer, run_forked

from httsleep import AsyncHttSleeper, CircuitBrokenError, GaveUp, httsleep
from httsleep.redis import AsyncRedisCircuitBreaker, RedisCircuitBreaker

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

THRESHOLD = 5
RESET = 2.0
PROCESSES = 20


@pytest.fixture
def service() -> Iterator[ArrivalServer]:
    """A service that answers every request 503 (a dead upstream), noting when."""
    server = ArrivalServer(503, {"status": "UNAVAILABLE"})
    try:
        yield server
    finally:
        server.stop()


# -- the workers (run in forked processes) ---------------------------------------------


def _sync_worker(redis_url: str, name: str, url: str, start_at: float, end_at: float, probe_interval: float,
                 results: Any) -> None:
    logging.getLogger("httsleep").setLevel(logging.CRITICAL)
    events: List[Tuple[str, float]] = []
    errors: List[str] = []
    breaker = RedisCircuitBreaker(redis_url, name=name, threshold=THRESHOLD, reset_timeout=RESET,
                                  probe_interval=probe_interval,
                                  on_backend=lambda event: events.append((event, time.monotonic())))
    session = requests.Session()
    time.sleep(max(start_at - time.monotonic(), 0))
    while time.monotonic() < end_at:
        try:
            httsleep(url, status_code=200, session=session, circuit_breaker=breaker, polling_interval=0.02,
                     timeout=max(end_at - time.monotonic(), 0.05), request_timeout=2)
        except CircuitBrokenError:
            time.sleep(0.02)
        except GaveUp:
            pass
        except Exception as exc:  # what must never happen: a Redis error reaching the poll
            errors.append(repr(exc))
            time.sleep(0.02)
    results.put((events, errors))


def _async_worker(redis_url: str, name: str, url: str, start_at: float, end_at: float, tasks: int,
                  probe_interval: float, results: Any) -> None:
    logging.getLogger("httsleep").setLevel(logging.CRITICAL)

    async def main() -> Tuple[List[Tuple[str, float]], List[str]]:
        events: List[Tuple[str, float]] = []
        errors: List[str] = []
        breaker = AsyncRedisCircuitBreaker(redis_url, name=name, threshold=THRESHOLD, reset_timeout=RESET,
                                           probe_interval=probe_interval,
                                           on_backend=lambda event: events.append((event, time.monotonic())))
        async with httpx.AsyncClient() as client:

            async def poller() -> None:
                while time.monotonic() < end_at:
                    try:
                        await AsyncHttSleeper(url, status_code=200, client=client, circuit_breaker=breaker,
                                              polling_interval=0.02, timeout=max(end_at - time.monotonic(), 0.05),
                                              request_timeout=2).run()
                    except CircuitBrokenError:
                        await asyncio.sleep(0.02)
                    except GaveUp:
                        pass
                    except Exception as exc:  # noqa: BLE001 - collected: must never happen
                        errors.append(repr(exc))
                        await asyncio.sleep(0.02)

            await asyncio.sleep(max(start_at - time.monotonic(), 0))
            await asyncio.gather(*(poller() for _ in range(tasks)))
        await breaker.aclose()
        return events, errors

    results.put(asyncio.run(main()))


def _bursts(times: List[float], gap: float = 1.0) -> List[List[float]]:
    """The requests grouped into bursts: a burst ends when the next request comes ``gap`` seconds or more later."""
    groups: List[List[float]] = []
    for moment in sorted(times):
        if groups and moment - groups[-1][-1] < gap:
            groups[-1].append(moment)
        else:
            groups.append([moment])
    return groups


def _check_circuit(times: List[float], windows: int) -> Dict[str, Any]:
    """At most 20 + 4 requests before the break, then exactly one trial per half-open window, reset apart.

    Requests are grouped in bursts 1 s apart or more: a request admitted before the break but sent late (its
    process descheduled on a loaded machine) still belongs to the first burst.
    """
    bursts = _bursts(times)
    first, trials = bursts[0], bursts[1:]
    figures = {"before_open": len(first), "trials_per_window": [len(burst) for burst in trials],
               "gaps": [round(later[0] - earlier[-1], 2) for earlier, later in zip(bursts, bursts[1:])]}
    print("fleet figures:", figures)
    assert THRESHOLD <= len(first) <= PROCESSES + THRESHOLD - 1, figures
    assert len(trials) >= windows, figures
    assert all(len(burst) == 1 for burst in trials), figures
    # a gap is measured from the last request of the burst before (it arrived before the break, but its
    # arrival may be noted a few tens of milliseconds late under load)
    assert all(RESET - 0.25 <= gap <= RESET + 0.6 for gap in figures["gaps"]), figures
    return figures


# -- must-show 2 ----------------------------------------------------------------------------


def test_twenty_processes_break_together_and_send_one_trial_per_window(redis_server: Any,
                                                                        service: ArrivalServer) -> None:
    name = "fleet-sync-{}".format(time.time_ns())
    start_at = time.monotonic() + 2.0
    end_at = start_at + 3 * RESET + 1.0
    reports = run_forked(_sync_worker, lambda index: (redis_server.url, name, service.url(), start_at, end_at, 5.0),
                         PROCESSES, end_at)
    assert [errors for _, errors in reports] == [[]] * PROCESSES
    assert all(events == [] for events, _ in reports)  # Redis answered throughout
    _check_circuit(service.times(), windows=3)


def test_twenty_asyncio_pollers_in_five_processes_break_together(redis_server: Any, service: ArrivalServer) -> None:
    name = "fleet-async-{}".format(time.time_ns())
    start_at = time.monotonic() + 2.0
    end_at = start_at + 3 * RESET + 1.0
    reports = run_forked(_async_worker, lambda index: (redis_server.url, name, service.url(), start_at, end_at, 4, 5.0),
                         5, end_at)
    assert [errors for _, errors in reports] == [[]] * 5
    _check_circuit(service.times(), windows=3)


@pytest.mark.parametrize("front", ["sync", "asyncio"])
def test_redis_killed_for_three_seconds_mid_run(own_redis_server: Any, service: ArrivalServer, front: str) -> None:
    """No poll sees a Redis error; requests during the outage stay within processes x ceil(outage / reset) (each
    process's local breaker lets one trial per window); every process is back on Redis within
    1.2 x probe_interval + 0.2 s of the restart. Blocking: 20 processes; asyncio: 4 tasks in each of 5."""
    probe_interval = 1.0
    outage = 3.0
    name = "fleet-outage-{}".format(time.time_ns())
    start_at = time.monotonic() + 1.5
    killed_at = start_at + 2.5
    end_at = killed_at + outage + 3.0
    moments: Dict[str, float] = {}

    def outage_mid_run() -> None:
        time.sleep(max(killed_at - time.monotonic(), 0))
        moments["killed"] = time.monotonic()
        own_redis_server.kill()
        time.sleep(outage)
        own_redis_server.restart()
        moments["back"] = time.monotonic()

    if front == "sync":
        processes = PROCESSES
        reports = run_forked(_sync_worker, lambda index: (own_redis_server.url, name, service.url(), start_at, end_at,
                                                          probe_interval), processes, end_at, outage_mid_run)
    else:
        processes = 5
        reports = run_forked(_async_worker, lambda index: (own_redis_server.url, name, service.url(), start_at, end_at,
                                                           4, probe_interval), processes, end_at, outage_mid_run)
    assert [errors for _, errors in reports] == [[]] * processes
    during = service.between(moments["killed"], moments["back"])
    allowed = processes * math.ceil((moments["back"] - moments["killed"]) / RESET)
    recoveries = []
    for events, _ in reports:
        names = [event for event, _ in events]
        assert names == ["degraded", "recovered"], events
        degraded, recovered = events[0][1], events[1][1]
        assert moments["killed"] <= degraded < moments["back"]
        recoveries.append(recovered - moments["back"])
    print("outage figures ({}): requests during the outage".format(front), during, "of at most", allowed,
          "; back on Redis after", round(min(recoveries), 2), "to", round(max(recoveries), 2), "s")
    assert during <= allowed
    assert max(recoveries) <= 1.2 * probe_interval + 0.2


def test_a_stopped_redis_never_stalls_the_event_loop(own_redis_server: Any, service: ArrivalServer) -> None:
    """SIGSTOP: every Redis call waits for its socket timeout, in the background; a 10-ms ticker keeps ticking."""
    events: List[str] = []

    async def main() -> Tuple[float, List[str]]:
        breaker = AsyncRedisCircuitBreaker(own_redis_server.url, name="ticker", threshold=THRESHOLD,
                                           reset_timeout=0.5, probe_interval=0.3, on_backend=events.append)
        errors: List[str] = []
        gaps: List[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        async def poller(client: httpx.AsyncClient) -> None:
            while not stop.is_set():
                try:
                    await AsyncHttSleeper(service.url(), status_code=200, client=client, circuit_breaker=breaker,
                                          polling_interval=0.01, max_retries=3).run()
                except CircuitBrokenError:
                    await asyncio.sleep(0.01)
                except GaveUp:
                    pass
                except Exception as exc:  # noqa: BLE001 - collected: must never happen
                    errors.append(repr(exc))

        async with httpx.AsyncClient() as client:
            tasks = [asyncio.ensure_future(poller(client)) for _ in range(5)]
            await asyncio.sleep(0.3)
            ticking = asyncio.ensure_future(ticker())
            own_redis_server.pause()
            try:
                await asyncio.sleep(2.0)
            finally:
                own_redis_server.resume()
            await asyncio.sleep(0.6)
            stop.set()
            await asyncio.gather(ticking, *tasks)
        await breaker.aclose()
        return max(gaps), errors

    longest, errors = asyncio.run(main())
    print("ticker figures: longest gap {:.1f} ms".format(longest * 1000))
    assert errors == []
    assert events[:2] == ["degraded", "recovered"]
    assert longest < 0.1
