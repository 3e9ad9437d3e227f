"""How a poll's limits combine: ``timeout`` is a time budget, ``max_retries`` a count; given together, both count.

0.3.1 had ``max_retries`` only (default 50). A ``timeout`` given without
``max_retries`` is the budget the caller asked for, not cut short by the
default count; 0.3.1 code, which never passes ``timeout``, keeps its 50.
Waits are skipped with ``no_waiting()``, whose clock moves as if they had
been slept.
"""

from __future__ import annotations

import asyncio

import pytest
from fronts import aiohttp_by_default

import httsleep
from httsleep import AsyncHttSleeper, GaveUp, HttSleeper
from httsleep.main import DEFAULT_MAX_RETRIES
from httsleep.testing import no_waiting

UNTIL = {"jsonpath": [{"expression": "status", "value": "DONE"}]}


@pytest.fixture
def pending(httpserver):
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    return httpserver.url_for("/job")


def sync_poll(url, **limits):
    with no_waiting(), pytest.raises(GaveUp) as raised:
        httsleep.httsleep(url, until=UNTIL, **limits)
    return raised.value


def async_poll(url, **limits):
    async def main():
        with no_waiting(), pytest.raises(GaveUp) as raised:
            await httsleep.async_httsleep(url, until=UNTIL, **limits)
        return raised.value

    return asyncio.run(main())


def aiohttp_poll(url, **limits):
    with aiohttp_by_default():
        return async_poll(url, **limits)


FRONT_ENDS = pytest.mark.parametrize("poll", [sync_poll, async_poll, aiohttp_poll], ids=["sync", "asyncio", "aiohttp"])


@FRONT_ENDS
def test_timeout_alone_runs_until_the_deadline_not_the_default_fifty_attempts(pending, poll):
    # the README's first example: 600 s at 2 s intervals is about 300 attempts, not 50 (100 s)
    gave_up = poll(pending, timeout=600)
    assert gave_up.limit == "timeout" and gave_up.attempts > 250
    assert 598 <= gave_up.elapsed < 600


@FRONT_ENDS
def test_max_retries_alone_counts_attempts(pending, poll):
    gave_up = poll(pending, max_retries=3)
    assert (gave_up.limit, gave_up.attempts) == ("max_retries", 3)


@FRONT_ENDS
def test_without_either_the_default_is_fifty_attempts_as_in_0_3_1(pending, poll):
    gave_up = poll(pending)
    assert (gave_up.limit, gave_up.attempts) == ("max_retries", 50)


@FRONT_ENDS
@pytest.mark.parametrize("limits, ends_with", [
    ({"timeout": 600, "max_retries": 5}, ("max_retries", 5)),  # the count runs out first
    ({"timeout": 5, "max_retries": 100}, ("timeout", 3)),  # the deadline does: attempts at 0, 2, 4 s
    ({"timeout": 600, "max_retries": 50}, ("max_retries", 50)),  # 50 given explicitly still counts
])
def test_when_both_are_given_whichever_runs_out_first_ends_the_poll(pending, poll, limits, ends_with):
    gave_up = poll(pending, **limits)
    assert (gave_up.limit, gave_up.attempts) == ends_with


def test_the_default_count_is_fifty_and_says_so():
    assert DEFAULT_MAX_RETRIES == 50 and repr(DEFAULT_MAX_RETRIES) == "50"


@pytest.mark.parametrize("cls", [HttSleeper, AsyncHttSleeper])
def test_the_poller_exposes_the_limits_it_will_apply(cls):
    assert cls("http://127.0.0.1:9/", status_code=200, timeout=600).max_retries is None
    assert cls("http://127.0.0.1:9/", status_code=200, timeout=600, max_retries=50).max_retries == 50
    assert cls("http://127.0.0.1:9/", status_code=200).max_retries == 50
