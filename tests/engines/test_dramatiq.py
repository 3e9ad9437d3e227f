"""The Dramatiq recipe (examples/engines/dramatiq_recipe.py), run by real ``dramatiq`` worker processes.

The workers (one process, one thread: one worker slot) run against the
session's redis-server (conftest.py) and poll a loopback job server that
answers PENDING, PENDING, then SUCCESS, and notes when each request came. The
poll ends in ``record``, an actor of the test's that appends what it is given
to a file, with the time.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import dramatiq
import pytest
from redis import Redis

from httsleep._jobserver import JobServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "engines"
LATE = 2.0 + 0.5  # the recipe's tolerance (2 s: two idle worker timeouts) + slack

ACTORS = '''
import json, os, time

import dramatiq
import dramatiq_recipe

# Only the worker-killing test sets these: a dead worker's messages come back within seconds.
if "TEST_HEARTBEAT_TIMEOUT_MS" in os.environ:
    dramatiq_recipe.broker.heartbeat_timeout = int(os.environ["TEST_HEARTBEAT_TIMEOUT_MS"])
    dramatiq_recipe.broker.maintenance_chance = 1000000  # on every command


@dramatiq.actor(queue_name=dramatiq_recipe.QUEUE)
def record(*args):
    with open(os.environ["TEST_RECORD"], "a") as file:
        file.write(json.dumps({"args": args, "at": time.time()}) + "\\n")
'''


class TimedJobServer(JobServer):
    """``/job`` answers PENDING, PENDING, then SUCCESS; ``times`` holds when each request came."""

    def __init__(self) -> None:
        super().__init__({"/job": ("PENDING", "PENDING", "SUCCESS")})
        self.times: List[float] = []

    def next_state(self, path: str) -> Optional[str]:
        self.times.append(time.time())
        return super().next_state(path)


@pytest.fixture
def job_server() -> Iterator[TimedJobServer]:
    with TimedJobServer() as server:
        yield server


@pytest.fixture
def recipe(redis_db: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The recipe module, its broker on the test's Redis (it reads REDIS_URL when imported)."""
    monkeypatch.setenv("REDIS_URL", redis_db)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    module = sys.modules.get("dramatiq_recipe")
    return importlib.reload(module) if module is not None else importlib.import_module("dramatiq_recipe")


@pytest.fixture
def redis(redis_db: str) -> Iterator[Redis]:
    connection = Redis.from_url(redis_db)
    yield connection
    connection.close()


@pytest.fixture
def workers(redis_db: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts ``dramatiq`` with one process and one thread (in a process group of its own); stops them all."""
    (tmp_path / "test_actors.py").write_text(ACTORS)
    started: List[subprocess.Popen] = []

    def start(**env: str) -> subprocess.Popen:
        log = open(tmp_path / "worker-{}.log".format(len(started)), "wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "dramatiq_recipe", "test_actors", "--processes", "1", "--threads", "1",
             "--worker-shutdown-timeout", "5000", "--path", str(EXAMPLES), str(tmp_path)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, REDIS_URL=redis_db, TEST_RECORD=str(tmp_path / "record.jsonl"),
                     PYTHONUNBUFFERED="1", **env),
        )
        log.close()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        _signal_group(worker, signal.SIGTERM)
    for worker in started:
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            _signal_group(worker, signal.SIGKILL)
            worker.wait(10)


def _signal_group(worker: subprocess.Popen, signum: int) -> None:
    """Signal the dramatiq main process and its worker process."""
    try:
        os.killpg(worker.pid, signum)
    except ProcessLookupError:
        pass


def _logs(tmp_path: Path) -> str:
    return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(tmp_path.glob("worker-*.log")))


def _wait_for(predicate: Callable[[], Any], seconds: float, tmp_path: Path, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for {}; worker logs:\n{}".format(what, _logs(tmp_path)))
        time.sleep(0.05)


def _records(tmp_path: Path) -> List[Dict[str, Any]]:
    path = tmp_path / "record.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _poll_result(tmp_path: Path, seconds: float = 20) -> Dict[str, Any]:
    """What ``record`` got at the end of the poll: ``{"args": [url, body], "at": time}``."""
    return _wait_for(lambda: next((r for r in _records(tmp_path) if len(r["args"]) == 2), None),
                     seconds, tmp_path, "the poll to end")


def _send_record(recipe: Any, *args: Any) -> None:
    """Send ``record(*args)`` (an actor the workers know, declared in test_actors.py)."""
    recipe.broker.enqueue(dramatiq.Message(queue_name=recipe.QUEUE, actor_name="record", args=args, kwargs={},
                                           options={}))


def test_a_poll_completes_with_its_attempts_and_waits_one_message_per_step(job_server, recipe, workers, tmp_path):
    workers()
    recipe.start_poll(job_server.url("/job"), polling_interval=1.0, then="record")
    result = _poll_result(tmp_path)

    url, body = result["args"]
    assert url == job_server.url("/job") and body["status"] == "SUCCESS"
    assert len(job_server.times) == 3
    gaps = [later - earlier for earlier, later in zip(job_server.times, job_server.times[1:])]
    assert all(1.0 <= gap <= 1.0 + LATE for gap in gaps), gaps
    time.sleep(0.5)
    assert len(job_server.times) == 3  # nothing more after the poll ended


def test_a_waiting_poll_holds_no_worker_another_message_runs_during_its_wait(job_server, recipe, workers, tmp_path):
    workers()  # one process, one thread: one message at a time
    recipe.start_poll(job_server.url("/job"), polling_interval=2.0, then="record")
    _wait_for(lambda: job_server.times, 10, tmp_path, "the first attempt")

    _send_record(recipe, "other")
    other = _wait_for(lambda: next((r for r in _records(tmp_path) if r["args"] == ["other"]), None),
                      10, tmp_path, "the other message")
    result = _poll_result(tmp_path)

    assert len(job_server.times) == 3
    assert other["at"] < job_server.times[1]  # it ran while the poll waited for its second attempt
    assert other["at"] < result["at"]


def test_a_worker_killed_during_the_wait_loses_nothing_and_repeats_nothing(job_server, recipe, redis, workers,
                                                                          tmp_path):
    quick = {"TEST_HEARTBEAT_TIMEOUT_MS": "3000"}  # the broker gives a dead worker's messages back after 3 s
    first_worker = workers(**quick)
    recipe.start_poll(job_server.url("/job"), polling_interval=2.0, then="record")

    # The next step is a delayed message the worker has fetched and holds, not acknowledged, until it is due.
    def held() -> List[bytes]:
        return [key for key in redis.keys("dramatiq:__acks__.*.{}.DQ".format(recipe.QUEUE)) if redis.scard(key)]

    _wait_for(lambda: job_server.times and held(), 10, tmp_path, "the worker to hold the next step")
    _signal_group(first_worker, signal.SIGKILL)
    first_worker.wait(10)
    assert time.time() < job_server.times[0] + 2.0  # killed during the wait, before the next step was due
    assert len(job_server.times) == 1

    workers(**quick)
    url, body = _poll_result(tmp_path)["args"]
    assert body["status"] == "SUCCESS"
    assert len(job_server.times) == 3  # the killed wait repeated no request and lost none
    assert not held()
