"""The Celery recipe (examples/engines/celery_recipe.py), run by real Celery workers on a real redis-server.

Each worker is a ``celery worker --pool=solo`` process (one slot) started
here, on the recipe's module, with the visibility timeout cut to 2 s (so
countdowns are capped at 1 s) and the broker's sweep for abandoned messages
run every second instead of every 100 s, so that a message held too long is
redelivered within the test. The job server is a small HTTP server on
loopback that answers from a script per job and records when each request
came.

Celery's countdown precision: a step runs a few milliseconds after it is
due (the worker's timer, a broker round trip and the step itself), so the
tests allow each wait to end up to ``LATE`` seconds late; a step never runs
early (an early run sends nothing), so no wait is shorter than asked.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from engine_helpers import EXAMPLES, BackgroundProcess, Workers, gaps, wait_for

RECIPE = EXAMPLES / "celery_recipe.py"
VISIBILITY_TIMEOUT = 2.0
LATE = 0.5  # how late a step may run after it is due (Celery's countdown precision, measured: < 0.1 s)
UNTIL_DONE = {"jsonpath": [{"expression": "status", "value": "DONE"}]}

# The worker's app: the recipe's, with the broker's sweep for messages held past the visibility timeout made
# frequent (kombu's default: every 100 s), so that a countdown the recipe failed to cap would be redelivered.
# UNCAPPED=1 takes the cap away, to show what it prevents.
WORKER_APP = '''
import os

import celery_recipe
from celery_recipe import app, poll  # noqa: F401

app.conf.broker_transport_options.update(unacked_restore_interval=1, unacked_restore_throttle=1)
if os.environ.get("UNCAPPED") == "1":
    celery_recipe.MAX_COUNTDOWN = float("inf")
'''


class CeleryWorkers(Workers):
    """``start(queue)`` starts a ``celery worker`` on the recipe's app: one slot (solo pool), consuming ``queue``."""

    def __init__(self, folder: Path, env: Dict[str, str]) -> None:
        super().__init__(folder)
        self.env = env

    def start(self, queue: str, uncapped: bool = False) -> BackgroundProcess:
        worker = self.spawn(
            [sys.executable, "-m", "celery", "-A", "celery_worker_app", "worker", "--pool=solo", "--concurrency=1",
             "-Q", queue, "-n", "{}-{}@localhost".format(queue, len(self.started)), "--without-gossip",
             "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=str(self.folder), env=dict(self.env, UNCAPPED="1" if uncapped else "0"),
        )
        wait_for(lambda: b" ready." in worker.log.read_bytes(), 30, "the celery worker to start", process=worker,
                 details=lambda: ":\n" + worker.log.read_text(errors="replace"))
        return worker


@pytest.fixture(scope="module")
def celery_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """The recipe's module loaded in this process (the client), and what a worker needs to load it."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    folder = tmp_path_factory.mktemp("celery")
    (folder / "celery_worker_app.py").write_text(WORKER_APP)
    env = dict(os.environ, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
               CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
               PYTHONPATH=os.pathsep.join([str(RECIPE.parent), str(folder)]))
    saved = {key: os.environ.get(key) for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                                                  "CELERY_VISIBILITY_TIMEOUT")}
    os.environ.update({key: env[key] for key in saved})
    try:
        spec = importlib.util.spec_from_file_location("celery_recipe", str(RECIPE))
        assert spec is not None and spec.loader is not None
        recipe = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(recipe)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert recipe.MAX_COUNTDOWN == VISIBILITY_TIMEOUT / 2
    yield {"recipe": recipe, "env": env, "folder": folder, "redis": client}
    client.flushdb()  # the copies the uncapped poll left behind
    client.close()


@pytest.fixture(scope="module")
def celery_workers(celery_env: Dict[str, Any]) -> Iterator[CeleryWorkers]:
    """The module's workers (each test stops those it starts itself)."""
    with CeleryWorkers(celery_env["folder"], celery_env["env"]) as started:
        yield started


@pytest.fixture(scope="module")
def worker(celery_workers: CeleryWorkers) -> BackgroundProcess:
    """The module's worker, consuming the queue ``polls``."""
    return celery_workers.start("polls")


def start_poll(celery_env: Dict[str, Any], url: str, queue: str = "polls", **options: Any) -> Any:
    return celery_env["recipe"].poll.apply_async((url,), dict(until=UNTIL_DONE, **options), queue=queue)


def held_messages(client: Any, queue: str) -> List[Dict[str, Any]]:
    """The kwargs of the messages of ``queue`` that workers hold unacknowledged (kombu's ``unacked`` hash)."""
    held = []
    for payload in client.hvals("unacked"):
        message, _, routing_key = json.loads(payload)
        if routing_key == queue:
            held.append(json.loads(base64.b64decode(message["body"]))[1])
    return held


def test_a_poll_makes_its_attempts_at_its_interval_and_returns_the_last_json(celery_env, job_server, worker):
    job = job_server.job("three", "PENDING", "PENDING", "DONE")
    started = time.time()
    result = start_poll(celery_env, job.url, polling_interval=1)
    assert result.get(timeout=15) == {"status": "DONE"}
    finished = time.time()
    times = job.times
    assert len(times) == 3
    assert all(1 <= gap <= 1 + LATE for gap in gaps(times)), gaps(times)
    assert finished - started <= 2 + 2 * LATE + 1  # + the first run's pick-up and the result's way back


def test_the_wait_holds_no_worker_slot(celery_env, job_server, worker):
    slow = job_server.job("slow", "PENDING", "PENDING", "DONE")
    quick = job_server.job("quick", "DONE")
    long_poll = start_poll(celery_env, slow.url, polling_interval=1.5)
    slow.wait_for(1)
    short_poll = start_poll(celery_env, quick.url, polling_interval=1.5)  # the one slot is free: it runs now
    assert short_poll.get(timeout=5) == {"status": "DONE"}
    short_done = time.time()
    assert not long_poll.ready()
    assert long_poll.get(timeout=15) == {"status": "DONE"}
    times = slow.times
    assert len(times) == 3
    assert short_done < times[1]  # the other task finished during the poll's first wait


def test_a_worker_killed_during_a_wait_is_replaced_and_the_poll_makes_no_extra_request(celery_env, job_server,
                                                                                       celery_workers):
    job = job_server.job("killed", "PENDING", "PENDING", "DONE")
    first = celery_workers.start("kill")
    try:
        result = start_poll(celery_env, job.url, queue="kill", polling_interval=4)
        job.wait_for(1)

        # The next step is scheduled: the worker holds its message (countdown 1 s, the cap), state inside.
        def holding() -> List[Dict[str, Any]]:
            held = held_messages(celery_env["redis"], "kill")
            return held if len(held) == 1 and held[0].get("state") else []

        held = wait_for(holding, 5, "the worker to hold the next step", interval=0.01,
                        details=lambda: ": {}".format(held_messages(celery_env["redis"], "kill")))
        state = json.loads(held[0]["state"])
        assert state["attempts"] == 1 and len(held[0]["state"]) < 1024
        first.kill()
    finally:
        first.stop()
    killed_at = time.time()
    second = celery_workers.start("kill")
    try:
        # Redis redelivers the held message once the visibility timeout has passed (2 s, + up to 1 s for the
        # sweep): before the next attempt is due (4 s), as its state says, so that run sends nothing and
        # re-queues itself, and the poll goes on at its interval.
        assert result.get(timeout=20) == {"status": "DONE"}
        time.sleep(VISIBILITY_TIMEOUT + 1.5)  # a stray copy of the chain would have shown up by now
    finally:
        second.stop()
    times = job.times
    assert len(times) == 3, gaps(times)
    assert all(4 <= gap <= 4 + LATE for gap in gaps(times)), gaps(times)
    assert times[1] > killed_at
    assert held_messages(celery_env["redis"], "kill") == [] and celery_env["redis"].llen("kill") == 0


def test_waits_longer_than_the_visibility_timeout_are_capped_and_do_not_fork_the_poll(celery_env, job_server,
                                                                                      celery_workers, worker):
    from httsleep import StopPolling

    capped_job = job_server.job("capped", "PENDING")
    uncapped_job = job_server.job("uncapped", "PENDING")
    uncapped_worker = celery_workers.start("uncapped", uncapped=True)
    try:
        capped = start_poll(celery_env, capped_job.url, polling_interval=6, max_retries=4)
        start_poll(celery_env, uncapped_job.url, queue="uncapped", polling_interval=6, max_retries=4)
        with pytest.raises(StopPolling) as gave_up:
            capped.get(timeout=30)
        assert gave_up.value.attempts == 4
        uncapped_times = uncapped_job.times
    finally:
        uncapped_worker.stop()
    times = capped_job.times
    assert len(times) == 4, gaps(times)
    assert all(6 <= gap <= 6 + LATE for gap in gaps(times)), gaps(times)
    # The same poll without the cap: the worker holds each 6 s countdown past the 2 s visibility timeout, Redis
    # hands it out again, and every copy runs and re-queues itself.
    assert len(uncapped_times) > 4, uncapped_times


def test_a_give_up_and_an_alarm_reach_the_caller_through_the_json_result_backend(celery_env, job_server, worker):
    from httsleep import Alarm, GaveUp, StopPolling

    assert celery_env["recipe"].app.conf.result_serializer == "json"
    pending = job_server.job("pending", "PENDING")
    with pytest.raises(StopPolling) as gave_up:
        start_poll(celery_env, pending.url, polling_interval=0.2, max_retries=2).get(timeout=10)
    error = gave_up.value
    assert type(error) is StopPolling and isinstance(error, GaveUp) and isinstance(error, StopIteration)
    assert (error.limit, error.attempts) == ("max_retries", 2) and error.elapsed >= 0.2
    assert "max_retries" in str(error) and len(pending.times) == 2

    failed = job_server.job("failed", "PENDING", "FAILED")
    alarms = {"jsonpath": [{"expression": "status", "value": "FAILED"}]}
    with pytest.raises(Alarm) as alarm:
        start_poll(celery_env, failed.url, polling_interval=0.2, alarms=alarms).get(timeout=10)
    assert type(alarm.value) is Alarm
    assert (alarm.value.status, alarm.value.alarm) == (200, alarms)
    assert "FAILED" in str(alarm.value) and len(failed.times) == 2
