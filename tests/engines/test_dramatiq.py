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
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import dramatiq
import pytest
from engine_helpers import EXAMPLES, BackgroundProcess, Workers, gaps

LATE = 2.0 + 0.5  # the recipe's tolerance (2 s: two idle worker timeouts) + slack
SCRIPT = ("PENDING", "PENDING", "SUCCESS")

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


@pytest.fixture
def recipe(redis_db: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The recipe module, its broker on the test's Redis (it reads REDIS_URL when imported)."""
    monkeypatch.setenv("REDIS_URL", redis_db)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    module = sys.modules.get("dramatiq_recipe")
    return importlib.reload(module) if module is not None else importlib.import_module("dramatiq_recipe")


class DramatiqWorkers(Workers):
    """``start(**env)`` starts ``dramatiq`` with one process and one thread; ``record`` writes to ``records``."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        super().__init__(folder)
        self.redis_url = redis_url
        self.records = folder / "record.jsonl"
        (folder / "test_actors.py").write_text(ACTORS)

    def start(self, **env: str) -> BackgroundProcess:
        return self.spawn(
            [sys.executable, "-m", "dramatiq", "dramatiq_recipe", "test_actors", "--processes", "1", "--threads", "1",
             "--worker-shutdown-timeout", "5000", "--path", str(EXAMPLES), str(self.folder)],
            env=dict(os.environ, REDIS_URL=self.redis_url, TEST_RECORD=str(self.records), PYTHONUNBUFFERED="1",
                     **env),
        )


@pytest.fixture
def workers(redis_db: str, tmp_path: Path) -> Iterator[DramatiqWorkers]:
    with DramatiqWorkers(tmp_path, redis_db) as started:
        yield started


def _records(workers: DramatiqWorkers) -> List[Dict[str, Any]]:
    path = workers.records
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _poll_result(workers: DramatiqWorkers, seconds: float = 20) -> Dict[str, Any]:
    """What ``record`` got at the end of the poll: ``{"args": [url, body], "at": time}``."""
    return workers.wait_for(lambda: next((r for r in _records(workers) if len(r["args"]) == 2), None),
                            seconds, "the poll to end")


def _send_record(recipe: Any, *args: Any) -> None:
    """Send ``record(*args)`` (an actor the workers know, declared in test_actors.py)."""
    recipe.broker.enqueue(dramatiq.Message(queue_name=recipe.QUEUE, actor_name="record", args=args, kwargs={},
                                           options={}))


def test_a_poll_completes_with_its_attempts_and_waits_one_message_per_step(job_server, recipe, workers):
    job = job_server.job("job", *SCRIPT)
    workers.start()
    recipe.start_poll(job.url, polling_interval=1.0, then="record")
    result = _poll_result(workers)

    url, body = result["args"]
    assert url == job.url and body["status"] == "SUCCESS"
    assert len(job.times) == 3
    assert all(1.0 <= gap <= 1.0 + LATE for gap in gaps(job.times)), gaps(job.times)
    time.sleep(0.5)
    assert len(job.times) == 3  # nothing more after the poll ended


def test_a_waiting_poll_holds_no_worker_another_message_runs_during_its_wait(job_server, recipe, workers):
    job = job_server.job("job", *SCRIPT)
    workers.start()  # one process, one thread: one message at a time
    recipe.start_poll(job.url, polling_interval=2.0, then="record")
    workers.wait_for(lambda: job.times, 10, "the first attempt")

    _send_record(recipe, "other")
    other = workers.wait_for(lambda: next((r for r in _records(workers) if r["args"] == ["other"]), None),
                             10, "the other message")
    result = _poll_result(workers)

    assert len(job.times) == 3
    assert other["at"] < job.times[1]  # it ran while the poll waited for its second attempt
    assert other["at"] < result["at"]


def test_a_worker_killed_during_the_wait_loses_nothing_and_repeats_nothing(job_server, recipe, redis, workers):
    job = job_server.job("job", *SCRIPT)
    quick = {"TEST_HEARTBEAT_TIMEOUT_MS": "3000"}  # the broker gives a dead worker's messages back after 3 s
    first_worker = workers.start(**quick)
    recipe.start_poll(job.url, polling_interval=2.0, then="record")

    # The next step is a delayed message the worker has fetched and holds, not acknowledged, until it is due.
    def held() -> List[bytes]:
        return [key for key in redis.keys("dramatiq:__acks__.*.{}.DQ".format(recipe.QUEUE)) if redis.scard(key)]

    workers.wait_for(lambda: job.times and held(), 10, "the worker to hold the next step")
    first_worker.kill()  # the dramatiq main process and its worker process
    assert time.time() < job.times[0] + 2.0  # killed during the wait, before the next step was due
    assert len(job.times) == 1

    workers.start(**quick)
    url, body = _poll_result(workers)["args"]
    assert body["status"] == "SUCCESS"
    assert len(job.times) == 3  # the killed wait repeated no request and lost none
    assert not held()
