"""httsleep.redis: the fleet-wide circuit breaker makes the local CircuitBreaker's decisions (issue 20, must-show 1).

Every test talks to a real redis-server started on loopback (tests/redis_server.py);
time is moved with the breakers' ``time_offset`` (added to Redis' TIME) and the
local breaker's ``clock=``, never by sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
import warnings
from typing import Any, Dict, List, Optional, Tuple

import pytest
import redis
import redis.asyncio
from conftest import ManualClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from httsleep import AsyncHttSleeper, CircuitBreaker, CircuitBrokenError, HttSleeper, httsleep
from httsleep.redis import AsyncRedisCircuitBreaker, RedisCircuitBreaker, RedisTimeoutWarning
from httsleep.resilience import CLOSED, HALF_OPEN, OPEN

RESET = 10.5  # times move on a 1-s grid: no event falls within 0.5 s of a boundary, whatever Redis' own clock adds
_names = itertools.count()


def circuit() -> str:
    """A circuit name no other test uses (they share one redis-server)."""
    return "test-{}-{}".format(time.time_ns(), next(_names))


class Pair:
    """A local CircuitBreaker and a RedisCircuitBreaker, driven by the same steps at the same (shifted) time."""

    def __init__(self, url: str, threshold: int, trials: int = 1, reset: float = RESET) -> None:
        self.clock = ManualClock(1000.0)
        self.local = CircuitBreaker(threshold=threshold, reset_timeout=reset, half_open_trials=trials,
                                    clock=self.clock, name="local")
        self.shared = RedisCircuitBreaker(url, name=circuit(), threshold=threshold, reset_timeout=reset,
                                          half_open_trials=trials)
        self.started = time.time()
        self.tickets: List[Tuple[Any, Any]] = []
        self.log: List[str] = []

    def _sync(self) -> None:
        """Shift Redis' clock so that it reads the manual clock's time, counted from the pair's start."""
        self.shared.time_offset = (self.clock.now - 1000.0) - (time.time() - self.started)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def admit(self) -> Tuple[str, Any]:
        """Admit on both: the decision of each, which must be the same."""
        self._sync()
        decisions = []
        pair = []
        for breaker in (self.local, self.shared):
            try:
                ticket = breaker.admit()
            except CircuitBrokenError as refused:
                decisions.append(("refused", refused.time_remaining))
                pair.append(None)
            else:
                decisions.append(("trial" if ticket.trial else "admitted", 0))
                pair.append(ticket)
        same = decisions[0][0] == decisions[1][0] and abs(decisions[0][1] - decisions[1][1]) < 0.3
        assert same, self.log + ["admit: local {} / redis {}".format(*decisions)]
        if pair[0] is not None:
            self.tickets.append((pair[0], pair[1]))
        decision = (decisions[0][0], round(decisions[0][1], 1))
        self.log.append("admit: {}".format(decision))
        return decision

    def settle(self, index: int, outcome: str) -> None:
        if not self.tickets:
            return
        local, shared = self.tickets[index % len(self.tickets)]
        asks_redis = not shared.settled  # a ticket reports once: a second report does not reach Redis
        self._sync()
        args = ["failed"] if outcome == "failure" else []
        results = [getattr(ticket, outcome)(*args) for ticket in (local, shared)]
        assert results[0] == results[1], self.log + ["{} #{}: local {} / redis {}".format(outcome, index, *results)]
        self.log.append("{} #{} -> {}".format(outcome, index % len(self.tickets), results[0]))
        if asks_redis:
            self.check_state()

    def check_state(self) -> None:
        """Right after a step, the state Redis reported is the local breaker's."""
        assert self.shared.state == self.local.state, self.log
        assert abs(self.shared.time_remaining - self.local.time_remaining) < 0.3, self.log
        if self.local.state == CLOSED:
            assert self.shared.failures == self.local.failures, self.log

    def run(self, steps: List[Tuple[Any, ...]]) -> None:
        for step in steps:
            if step[0] == "advance":
                self.advance(step[1])
            elif step[0] == "admit":
                self.admit()
                self.check_state()
            else:
                self.settle(step[1], step[0])


# -- must-show 1: conformance -------------------------------------------------------


def test_a_failed_trial_breaks_the_circuit_again(redis_server: Any) -> None:
    """The prototype's bug: a failed half-open trial must re-open the circuit for reset_timeout."""
    pair = Pair(redis_server.url, threshold=2)
    pair.run([("admit",), ("failure", 0), ("admit",), ("failure", 1)])
    assert pair.shared.state == OPEN
    pair.advance(RESET + 1)
    assert pair.admit() == ("trial", 0)
    assert pair.admit() == ("refused", 0)  # half-open, the one trial slot taken
    pair.settle(2, "failure")
    assert pair.shared.state == OPEN and pair.local.state == OPEN
    assert pair.admit() == ("refused", RESET)
    pair.advance(RESET + 1)
    assert pair.admit() == ("trial", 0)
    pair.settle(3, "success")
    assert pair.shared.state == CLOSED
    assert pair.admit() == ("admitted", 0)


def test_the_instrumentation_hears_the_same_state_changes_and_refusals_as_from_the_local_breaker(
    redis_server: Any,
) -> None:
    from httsleep import instrumentation

    heard: List[Any] = []
    instrumentation.set_instrumentation_hooks([heard.append])
    pair = Pair(redis_server.url, threshold=2)
    pair.run([("admit",), ("failure", 0), ("admit",), ("failure", 1), ("admit",), ("advance", RESET + 1),
              ("admit",), ("failure", 2), ("advance", RESET + 1), ("admit",), ("success", 3)])

    def seen(breaker: Any) -> List[Tuple[str, ...]]:
        return [(type(event).__name__, *((event.old, event.new) if hasattr(event, "old") else (event.state,)))
                for event in heard if getattr(event, "breaker", None) == breaker.name]

    assert seen(pair.shared) == seen(pair.local)
    assert ("BreakerStateChanged", CLOSED, OPEN) in seen(pair.shared)
    assert ("BreakerStateChanged", HALF_OPEN, CLOSED) in seen(pair.shared)
    assert ("BreakerRefused", OPEN) in seen(pair.shared)


def test_a_late_outcome_from_a_previous_generation_is_ignored(redis_server: Any) -> None:
    """A call admitted while closed that fails after the circuit broke, or succeeds after a trial, changes nothing."""
    pair = Pair(redis_server.url, threshold=2)
    pair.run([("admit",), ("admit",), ("admit",), ("failure", 0), ("failure", 1)])
    assert pair.shared.state == OPEN
    remaining = pair.shared.time_remaining
    late = pair.tickets[2][1]
    assert late.failure("late") == 0
    assert pair.shared.state == OPEN and pair.shared.time_remaining <= remaining
    pair.advance(RESET + 1)
    assert pair.admit() == ("trial", 0)
    pair.settle(2, "success")  # the closed-generation ticket again (already settled on both: ignored)
    assert pair.shared.state == HALF_OPEN  # the trial is still out
    pair.settle(3, "failure")
    assert pair.shared.state == OPEN


def test_an_expired_trial_lease_frees_its_slot(redis_server: Any) -> None:
    """A trial that never reports frees its slot reset_timeout after it was admitted; its late outcome is ignored."""
    pair = Pair(redis_server.url, threshold=1)
    pair.run([("admit",), ("failure", 0), ("advance", RESET + 1), ("admit",)])
    assert pair.admit() == ("refused", 0)
    pair.advance(RESET - 0.5)
    assert pair.admit() == ("refused", 0)  # the lease still holds
    pair.advance(1)
    assert pair.admit() == ("trial", 0)  # the lease expired: a new trial
    pair.settle(1, "success")  # the first trial, late: ignored
    assert pair.shared.state == HALF_OPEN
    pair.settle(2, "success")
    assert pair.shared.state == CLOSED


def test_two_trial_slots_and_a_cancelled_trial(redis_server: Any) -> None:
    """half_open_trials=2: two trials at once; a cancelled one frees its slot without deciding."""
    pair = Pair(redis_server.url, threshold=1, trials=2)
    pair.run([("admit",), ("failure", 0), ("advance", RESET + 1)])
    assert [pair.admit(), pair.admit(), pair.admit()] == [("trial", 0), ("trial", 0), ("refused", 0)]
    pair.settle(1, "cancel")
    assert pair.admit() == ("trial", 0)
    pair.settle(2, "failure")
    assert pair.shared.state == OPEN
    pair.settle(3, "success")  # admitted in the generation that just ended
    assert pair.shared.state == OPEN


def test_the_failure_window_slides(redis_server: Any) -> None:
    """Failures older than reset_timeout no longer count; successes do not empty the window."""
    pair = Pair(redis_server.url, threshold=3)
    steps: List[Tuple[Any, ...]] = []
    for index in range(6):
        steps += [("admit",), ("success" if index % 3 == 2 else "failure", index), ("advance", 6)]
    pair.run(steps)
    assert pair.shared.state == CLOSED
    pair.run([("admit",), ("failure", 6), ("admit",), ("failure", 7)])
    assert pair.shared.state == CLOSED and pair.shared.failures == 2  # the failure at 30 s left the window
    pair.run([("admit",), ("failure", 8)])
    assert pair.shared.state == OPEN


FIXED_SEQUENCES = [
    # threshold, trials, steps
    (1, 1, "A F0 A A S1 +11 A A F3 A +11 A C4 A S5 A F5 A"),
    (3, 1, "A A A A F0 F1 S2 F3 +7 A F4 +4 A F5 F6 A +11 A A S7 F8 A"),
    (2, 2, "A A F0 F1 +11 A A A S2 F3 +11 A A F4 S5 A +3 A +9 A"),
    (5, 1, "A A A A A A F0 F1 F2 F3 +11 F4 F5 A F6 A F7 A F8 A F9"),
    (2, 1, "A F0 +12 A F1 A +11 A +11 A S2 S3 A F4 A F5 +1 A"),
]


def _parse(text: str) -> List[Tuple[Any, ...]]:
    names = {"A": "admit", "F": "failure", "S": "success", "C": "cancel"}
    steps: List[Tuple[Any, ...]] = []
    for word in text.split():
        if word.startswith("+"):
            steps.append(("advance", int(word[1:])))
        elif word == "A":
            steps.append(("admit",))
        else:
            steps.append((names[word[0]], int(word[1:])))
    return steps


@pytest.mark.parametrize("threshold,trials,steps", FIXED_SEQUENCES)
def test_the_same_sequence_gives_the_same_decisions(redis_server: Any, threshold: int, trials: int,
                                                    steps: str) -> None:
    """Hand-written sequences: every admission, refusal, failure count and state change is the local breaker's."""
    Pair(redis_server.url, threshold=threshold, trials=trials).run(_parse(steps))


_step = st.one_of(
    st.just(("admit",)),
    st.tuples(st.sampled_from(["success", "failure", "failure", "cancel"]), st.integers(-2, 20)),  # -1: the latest
    st.tuples(st.just("advance"), st.integers(1, 12)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(threshold=st.integers(1, 4), trials=st.integers(1, 2), steps=st.lists(_step, min_size=20, max_size=80))
def test_generated_sequences_give_the_same_decisions(redis_server: Any, threshold: int, trials: int,
                                                     steps: List[Tuple[Any, ...]]) -> None:
    """Hypothesis drives both breakers with the same random outcomes: the decisions never differ."""
    Pair(redis_server.url, threshold=threshold, trials=trials).run(steps)


def test_a_conformance_failure_is_caught(redis_server: Any) -> None:
    """The control: a breaker with another threshold does not pass for the local one."""
    pair = Pair(redis_server.url, threshold=2)
    pair.shared = RedisCircuitBreaker(redis_server.url, name=circuit(), threshold=3, reset_timeout=RESET)
    with pytest.raises(AssertionError):
        pair.run(_parse("A F0 A F1 A"))


def test_flushall_while_open_recovers_closed_and_fences_old_tickets(redis_server: Any) -> None:
    """Documented: when the hash is lost (FLUSHALL, a restart), the circuit is closed, its window empty, and
    outcomes of tickets given before are ignored (the generation is new, never reused)."""
    breaker = RedisCircuitBreaker(redis_server.url, name=circuit(), threshold=2, reset_timeout=60)
    early = breaker.admit()
    for _ in range(2):
        breaker.admit().failure("down")
    assert breaker.state == OPEN
    breaker.time_offset = 61
    trial = breaker.admit()
    assert trial.trial
    redis_server.flushall()
    assert breaker.admit().trial == 0 and breaker.state == CLOSED
    assert trial.failure("late trial") == 0 and early.failure("late") == 0
    assert breaker.state == CLOSED
    assert breaker.admit().failure("new") == 0  # the window starts empty: the first failure after the flush
    assert breaker.state == CLOSED


# -- the API -----------------------------------------------------------------------


def test_the_key_is_one_hash_per_circuit_with_the_name_as_cluster_hash_tag(redis_server: Any) -> None:
    breaker = RedisCircuitBreaker(redis_server.url, name="jobs-api", key_prefix="fleet:")
    assert breaker.key == "fleet:{jobs-api}"
    from redis.crc import key_slot

    assert key_slot(breaker.key.encode()) == key_slot(b"jobs-api")
    breaker.reset()
    breaker.admit().failure("x")
    client = redis.Redis.from_url(redis_server.url)
    assert client.keys("fleet:*") == [b"fleet:{jobs-api}"] and client.type(breaker.key) == b"hash"
    client.close()
    breaker.reset()


@pytest.mark.parametrize("kwargs,error", [
    ({"name": ""}, TypeError), ({"name": "a{b}"}, ValueError), ({"name": "x", "threshold": 0}, ValueError),
    ({"name": "x", "reset_timeout": 0}, ValueError), ({"name": "x", "fallback": "maybe"}, ValueError),
    ({"name": "x", "probe_interval": -1}, ValueError), ({"name": "x", "on_backend": 3}, TypeError),
    ({"name": "x", "socket_timeout": 0}, ValueError), ({"name": "x", "key_prefix": 1}, TypeError),
    ({"name": "x", "half_open_trials": 1.5}, TypeError),
])
def test_arguments_are_checked(kwargs: Dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        RedisCircuitBreaker("redis://127.0.0.1:1/0", **kwargs)
    with pytest.raises(error):
        AsyncRedisCircuitBreaker("redis://127.0.0.1:1/0", **kwargs)


def test_a_client_built_from_a_url_fails_fast_and_a_given_client_without_timeout_is_warned_about() -> None:
    breaker = RedisCircuitBreaker("redis://127.0.0.1:1/0", name="x")
    kwargs = breaker.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.25
    assert breaker.client.get_retry() is None or breaker.client.get_retry()._retries == 0
    with pytest.warns(RedisTimeoutWarning, match="no socket timeout"):
        RedisCircuitBreaker(redis.Redis(port=1, socket_timeout=None), name="x")
    with pytest.warns(RedisTimeoutWarning):
        AsyncRedisCircuitBreaker(redis.asyncio.Redis(port=1, socket_timeout=None), name="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RedisCircuitBreaker(redis.Redis(port=1, socket_timeout=1), name="x")


def test_clients_of_the_wrong_kind_are_refused_with_the_class_to_use() -> None:
    with pytest.raises(TypeError, match="AsyncRedisCircuitBreaker"):
        RedisCircuitBreaker(redis.asyncio.Redis(port=1, socket_timeout=1), name="x")
    with pytest.raises(TypeError, match="would stall the event loop"):
        AsyncRedisCircuitBreaker(redis.Redis(port=1, socket_timeout=1), name="x")
    with pytest.raises(TypeError, match="Redis URL"):
        RedisCircuitBreaker(6379, name="x")  # type: ignore[arg-type]


def test_the_front_ends_refuse_the_breaker_of_the_other_kind() -> None:
    """The blocking breaker would stall the event loop: AsyncHttSleeper names the class to use; and vice versa."""
    with pytest.raises(TypeError, match=r"httsleep\.redis\.AsyncRedisCircuitBreaker"):
        AsyncHttSleeper("http://127.0.0.1:1/", status_code=200,
                        circuit_breaker=RedisCircuitBreaker("redis://127.0.0.1:1/0", name="x"))
    with pytest.raises(TypeError, match="AsyncHttSleeper"):
        HttSleeper("http://127.0.0.1:1/", status_code=200,
                   circuit_breaker=AsyncRedisCircuitBreaker("redis://127.0.0.1:1/0", name="x"))
    AsyncHttSleeper("http://127.0.0.1:1/", status_code=200, circuit_breaker=CircuitBreaker())  # local: fine


def test_importing_without_redis_py_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name == "httsleep.redis" or name.startswith("httsleep.redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # type: ignore[arg-type]
    with pytest.raises(ImportError, match=r"pip install 'httsleep\[redis\]'"):
        import httsleep.redis  # noqa: F401


# -- polls through it ----------------------------------------------------------------


def test_pollers_of_both_kinds_share_one_circuit(redis_server: Any, httpserver: HTTPServer) -> None:
    """A synchronous and an asyncio poller: failures of one break the circuit for the other."""
    httpserver.expect_request("/jobs/1").respond_with_data("down", status=503)
    name = circuit()
    blocking = RedisCircuitBreaker(redis_server.url, name=name, threshold=3, reset_timeout=60)
    with pytest.raises(CircuitBrokenError):
        httsleep(httpserver.url_for("/jobs/1"), status_code=200, max_retries=5, polling_interval=0,
                 circuit_breaker=blocking)
    assert len(httpserver.log) == 3

    async def other() -> None:
        breaker = AsyncRedisCircuitBreaker(redis_server.url, name=name, threshold=3, reset_timeout=60)
        try:
            with pytest.raises(CircuitBrokenError, match="is open"):
                await AsyncHttSleeper(httpserver.url_for("/jobs/1"), status_code=200,
                                      circuit_breaker=breaker).run()
            assert breaker.state == OPEN and 59 < breaker.time_remaining <= 60
        finally:
            await breaker.aclose()

    asyncio.run(other())
    assert len(httpserver.log) == 3


def test_the_async_breaker_makes_the_same_decisions(redis_server: Any) -> None:
    """The asyncio breaker runs the same scripts: a failed trial re-opens, a success closes."""

    async def steps() -> List[str]:
        breaker = AsyncRedisCircuitBreaker(redis_server.url, name=circuit(), threshold=2, reset_timeout=RESET)
        seen = []
        try:
            first, second = await breaker.admit(), await breaker.admit()
            assert await first.failure("a") == 0 and await second.failure("b") == 1
            seen.append(breaker.state)
            breaker.time_offset = RESET + 1
            trial = await breaker.admit()
            with pytest.raises(CircuitBrokenError):
                await breaker.admit()
            await trial.failure("c")
            seen.append(breaker.state)
            breaker.time_offset = 2 * RESET + 2
            trial = await breaker.admit()
            await trial.success()
            seen.append(breaker.state)
        finally:
            await breaker.aclose()
        return seen

    assert asyncio.run(steps()) == [OPEN, OPEN, CLOSED]


# -- while Redis is down or slow -----------------------------------------------------


def test_redis_down_falls_back_to_a_local_breaker_in_the_last_state_and_recovers(own_redis_server: Any) -> None:
    """No Redis error reaches the caller; the local breaker starts open as Redis last said; a probe recovers."""
    events: List[str] = []
    breaker = RedisCircuitBreaker(own_redis_server.url, name=circuit(), threshold=2, reset_timeout=60,
                                  probe_interval=0.3, on_backend=events.append)
    for _ in range(2):
        breaker.admit().failure("down")
    assert breaker.state == OPEN
    own_redis_server.kill()
    started = time.monotonic()
    with pytest.raises(CircuitBrokenError, match="is open") as refused:
        breaker.admit()
    assert time.monotonic() - started < 0.5
    assert events == ["degraded"] and breaker.degraded and 59 < refused.value.time_remaining <= 60
    with pytest.raises(CircuitBrokenError):
        breaker.admit()  # no probe yet: the local breaker answers
    own_redis_server.restart()
    time.sleep(0.4)
    ticket = breaker.admit()  # the probe: Redis answers (and lost its keys: closed)
    assert events == ["degraded", "recovered"] and not breaker.degraded and breaker.state == CLOSED
    ticket.success()


def test_a_hung_redis_costs_one_socket_timeout_then_the_fallback_answers(own_redis_server: Any) -> None:
    """SIGSTOP: the first call waits socket_timeout, later ones do not wait at all until the next probe."""
    breaker = RedisCircuitBreaker(own_redis_server.url, name=circuit(), threshold=2, reset_timeout=60,
                                  probe_interval=30, socket_timeout=0.1)
    breaker.admit().success()
    own_redis_server.pause()
    try:
        started = time.monotonic()
        ticket = breaker.admit()
        first = time.monotonic() - started
        ticket.failure("x")
        started = time.monotonic()
        for _ in range(5):
            breaker.admit().failure("y")
        raise AssertionError("the local breaker should have broken")  # pragma: no cover
    except CircuitBrokenError:
        later = time.monotonic() - started
    finally:
        own_redis_server.resume()
    assert 0.09 < first < 0.5 and later < 0.05
    assert breaker.degraded and breaker.state == OPEN


@pytest.mark.parametrize("fallback", ["open", "closed"])
def test_the_open_and_closed_fallbacks(fallback: str) -> None:
    """Nothing listens: "open" refuses every call, "closed" admits every call; neither raises a Redis error."""
    breaker = RedisCircuitBreaker("redis://127.0.0.1:1/0", name="x", fallback=fallback, probe_interval=60)
    for _ in range(3):
        if fallback == "open":
            with pytest.raises(CircuitBrokenError, match="falls back to 'open'"):
                breaker.admit()
        else:
            ticket = breaker.admit()
            assert ticket.failure("x") == 0
    assert breaker.degraded


def test_the_async_breaker_falls_back_without_blocking(own_redis_server: Any) -> None:
    """The asyncio breaker degrades and recovers as the blocking one; an outcome Redis cannot take is dropped."""
    events: List[str] = []

    async def steps() -> Optional[str]:
        breaker = AsyncRedisCircuitBreaker(own_redis_server.url, name=circuit(), threshold=1, reset_timeout=60,
                                           probe_interval=0.2, on_backend=events.append)
        try:
            ticket = await breaker.admit()
            own_redis_server.kill()
            assert await ticket.failure("lost") == 0
            assert events == ["degraded"]
            local = await breaker.admit()  # the local breaker, closed as Redis last said
            await local.failure("counted locally")
            with pytest.raises(CircuitBrokenError):
                await breaker.admit()
            own_redis_server.restart()
            await asyncio.sleep(0.3)
            await (await breaker.admit()).success()
            return breaker.state
        finally:
            await breaker.aclose()

    assert asyncio.run(steps()) == CLOSED
    assert events == ["degraded", "recovered"]


def test_a_unix_socket_url(tmp_path: Any) -> None:
    from redis_server import RedisServer

    with RedisServer(tmp_path, unix_socket=True) as server:
        breaker = RedisCircuitBreaker(server.url, name=circuit(), threshold=1)
        breaker.admit().failure("x")
        assert breaker.state == OPEN and not breaker.degraded
        breaker.close()


@pytest.mark.slow
def test_a_redis_cluster_keeps_each_circuit_on_one_node(tmp_path: Any) -> None:
    """Three cluster nodes: both breakers work through cluster clients; a circuit's hash is in one slot."""
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import RedisCluster
    from redis_server import RedisClusterNodes

    with RedisClusterNodes(tmp_path) as nodes:
        client = RedisCluster(host="127.0.0.1", port=nodes.ports[0], socket_timeout=1, socket_connect_timeout=1)
        try:
            names = ["jobs-api", "orders-api", "billing"]  # their slots spread over the nodes
            for name in names:
                breaker = RedisCircuitBreaker(client, name=name, threshold=2, reset_timeout=60)
                for _ in range(2):
                    breaker.admit().failure("down")
                assert breaker.state == OPEN and not breaker.degraded
                assert client.hget(breaker.key, "opened") is not None
            assert len({client.keyslot(RedisCircuitBreaker(client, name=name).key) for name in names}) == 3
        finally:
            client.close()

        async def shared() -> str:
            other = AsyncRedisCluster(host="127.0.0.1", port=nodes.ports[1], socket_timeout=1,
                                      socket_connect_timeout=1)
            try:
                breaker = AsyncRedisCircuitBreaker(other, name="orders-api", threshold=2, reset_timeout=60)
                with pytest.raises(CircuitBrokenError, match="is open"):
                    await breaker.admit()
                return breaker.state
            finally:
                await other.aclose()

        assert asyncio.run(shared()) == OPEN
