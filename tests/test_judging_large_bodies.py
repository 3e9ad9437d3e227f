"""Judging a large body keeps the deadline and the event loop free.

Decoding a big JSON body and searching it with a JSONPath can take seconds:
a 2 MiB array of zeros searched with ``$..status``. The poll must still end
at its deadline, and on the asyncio front end the event loop must keep
running other coroutines meanwhile. Bodies over ``JUDGE_INLINE_MAX_BODY``
are judged in a worker thread (on the synchronous front end when there is a
deadline); conditions with a callback are always judged in the poll's own
thread.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fronts import FRONTS, aiohttp_by_default, run

import httsleep.policy
from httsleep import AsyncHttSleeper, GaveUp
from httsleep.policy import JUDGE_INLINE_MAX_BODY

ZEROS = b"[" + b"0," * (1024 * 1024 - 1) + b"0]"  # 2 MiB, a million numbers
DESCENDANT = {"jsonpath": [{"expression": "$..status", "value": "done"}]}


@pytest.fixture
def zeros(httpserver):
    httpserver.expect_request("/job").respond_with_data(ZEROS, content_type="application/json")
    return httpserver.url_for("/job")


@pytest.mark.parametrize("front", FRONTS)
def test_a_descendant_search_of_a_two_mib_body_ends_at_the_deadline(zeros, front):
    """Before: 2.9-5.4 s for timeout=1 on the synchronous front end, 3.0-3.3 s on aiohttp."""
    with pytest.raises(GaveUp) as raised:
        run(front, zeros, until=DESCENDANT, timeout=1, polling_interval=0.2)
    assert raised.value.limit == "timeout"
    assert raised.value.elapsed < 1.5


@pytest.fixture
def slow_judging(monkeypatch):
    """Judging takes 0.6 s of the judging thread's time (a search of a hostile body); records where it ran."""
    threads = []
    evaluate = httsleep.policy.evaluate_response

    def slow(response, alarms, until):
        threads.append(threading.get_ident())
        time.sleep(0.6)
        return evaluate(response, alarms, until)

    monkeypatch.setattr(httsleep.policy, "evaluate_response", slow)
    return threads


@pytest.mark.parametrize("front", FRONTS)
def test_judging_that_outlasts_the_deadline_gives_up_at_the_deadline(zeros, slow_judging, front):
    started = time.monotonic()
    with pytest.raises(GaveUp) as raised:
        run(front, zeros, until=DESCENDANT, timeout=0.3)
    assert time.monotonic() - started < 0.55  # not the 0.6 s the judging takes
    message = str(raised.value)
    assert "timeout=0.3s ran out while the conditions were checked on a body of 2097153 bytes" in message
    assert "which the conditions had no time to judge" in message
    assert raised.value.attempts == 1 and raised.value.last_response.status_code == 200


@pytest.mark.parametrize("library", ["httpx", "aiohttp"])
def test_the_event_loop_runs_other_coroutines_while_a_large_body_is_judged(zeros, slow_judging, library):
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def main() -> None:
        beating = asyncio.ensure_future(heartbeat())
        with pytest.raises(GaveUp):
            await AsyncHttSleeper(zeros, until=DESCENDANT, max_retries=1).run()
        beating.cancel()

    with aiohttp_by_default(library == "aiohttp"):
        asyncio.run(main())
    assert slow_judging and slow_judging[0] != threading.get_ident()
    assert ticks >= 10  # the loop went on during the 0.6 s of judging (0 when it is blocked)


def test_a_body_without_a_deadline_is_judged_in_the_polls_thread_on_the_sync_front_end(zeros, slow_judging):
    with pytest.raises(GaveUp):
        run("sync", zeros, until=DESCENDANT, max_retries=1)
    assert slow_judging == [threading.get_ident()]


@pytest.mark.parametrize("front", FRONTS)
def test_a_small_body_is_judged_in_the_polls_thread(httpserver, slow_judging, front):
    httpserver.expect_request("/job").respond_with_json({"status": "done"})
    if front == "sync":
        run(front, httpserver.url_for("/job"), until=DESCENDANT, timeout=5)
        assert slow_judging == [threading.get_ident()]
    else:
        async def poll() -> int:
            with aiohttp_by_default(front == "aiohttp"):
                await AsyncHttSleeper(httpserver.url_for("/job"), until=DESCENDANT, timeout=5).run()
            return threading.get_ident()

        assert slow_judging == [asyncio.run(poll())]
    assert len(b'{"status": "done"}') <= JUDGE_INLINE_MAX_BODY


@pytest.mark.parametrize("front", FRONTS)
def test_a_callback_condition_is_always_judged_in_the_polls_thread(zeros, front):
    seen = []

    def large_enough(response) -> bool:
        seen.append(threading.get_ident())
        return len(response.content) > JUDGE_INLINE_MAX_BODY

    if front == "sync":
        run(front, zeros, callback=large_enough, timeout=5)
        assert seen == [threading.get_ident()]
    else:
        async def poll() -> int:
            with aiohttp_by_default(front == "aiohttp"):
                await AsyncHttSleeper(zeros, callback=large_enough, timeout=5).run()
            return threading.get_ident()

        assert seen == [asyncio.run(poll())]
