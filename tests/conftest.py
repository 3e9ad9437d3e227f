"""Shared fixtures: local servers and an injected clock (no test waits for real)."""

from __future__ import annotations

import time
from typing import List

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
