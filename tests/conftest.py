"""Shared fixtures: local servers and an injected clock (no test waits for real)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, List

import pytest

import httsleep.main


class FakeTime:
    """Replaces ``httsleep.main.sleep`` and ``.monotonic``.

    Sleeping records the wait and advances the clock instead of blocking;
    the clock is the real monotonic clock plus everything "slept", so the
    real duration of requests to local servers still counts.
    """

    def __init__(self) -> None:
        self.sleeps: List[float] = []
        self.offset = 0.0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


def pytest_ignore_collect(collection_path: Any, config: pytest.Config) -> Any:
    """The job-engine tests (tests/engines) run in a CI stage of their own, with the engines installed.

    The main run leaves them out unless ``HTTSLEEP_ENGINE_TESTS=1`` is set or
    a path inside that folder is asked for.
    """
    if collection_path.name != "engines" or collection_path.parent.name != "tests":
        return None
    if os.environ.get("HTTSLEEP_ENGINE_TESTS") == "1":
        return None
    asked = [os.path.abspath(str(arg).split("::")[0]) for arg in config.args]
    return None if any(path.startswith(str(collection_path)) for path in asked) else True


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Waits are recorded in ``fake_time.sleeps`` and not slept."""
    fake = FakeTime()
    monkeypatch.setattr(httsleep.main, "sleep", fake.sleep)
    monkeypatch.setattr(httsleep.main, "monotonic", fake.monotonic)
    return fake


@pytest.fixture(autouse=True)
def _httsleep_logger_level():
    """Tests that pass loglevel= must not leak the level into other tests."""
    import logging

    logger = logging.getLogger("httsleep")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _testing_mode_restored():
    """A test that switches testing mode on (``set_testing(True)``) must not leave it on for the next."""
    import httsleep.testing

    previous = httsleep.testing.is_testing()
    yield
    httsleep.testing.set_testing(previous)


@pytest.fixture(autouse=True)
def _instrumentation_restored():
    """A test (or a docs example) that sets instrumentation hooks, or switches it off, leaves the defaults behind."""
    yield
    from httsleep import instrumentation

    instrumentation.set_instrumentation_hooks(None)
    instrumentation.set_instrumentation(True)


class ManualClock:
    """A clock that moves only when told to; ``sleep`` records the wait and moves it.

    Patch it in as ``httsleep.resilience.sleep``/``.monotonic``, or pass it
    as ``CircuitBreaker(clock=...)`` (calling it reads the time).
    """

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: List[float] = []

    def monotonic(self) -> float:
        return self.now

    __call__ = monotonic

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_in_threads(count: int, target: Callable[[int], Any], *, together: bool = False) -> List[Any]:
    """Run ``target(index)`` in ``count`` daemon threads; return what each returned or raised.

    ``together`` makes them start the call at the same moment (a barrier).
    A thread still running after 30 s fails the test instead of hanging the run.
    """
    barrier = threading.Barrier(count, timeout=10) if together else None
    outcomes: List[Any] = [None] * count

    def work(index: int) -> None:
        if barrier is not None:
            barrier.wait()
        try:
            outcomes[index] = target(index)
        except BaseException as exc:  # collected for the assertions
            outcomes[index] = exc

    threads = [threading.Thread(target=work, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real redis-server on a free loopback port for this test session (tests/redis_server.py); never skipped."""
    from redis_server import RedisServer

    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis_server(tmp_path: Any) -> Any:
    """A redis-server of this test's own, to kill, pause and restart (tests/redis_server.py)."""
    from redis_server import RedisServer

    with RedisServer(tmp_path) as server:
        yield server
