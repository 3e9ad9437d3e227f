"""The RQ recipe (examples/engines/rq_recipe.py), run by real ``rq worker --with-scheduler`` processes.

The workers run against the session's redis-server (conftest.py) and poll a
loopback job server that answers PENDING, PENDING, then SUCCESS, and notes when
each request came. An RQ worker runs one job at a time: it is one worker slot.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timezone
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest
from engine_helpers import EXAMPLES, BackgroundProcess, Workers, gaps, import_recipe
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler

from httsleep import PollState

rq_recipe = import_recipe("rq_recipe")

RQ = Path(sys.executable).parent / "rq"
LATE = 2.0 + 0.5  # the recipe's tolerance (2 s: due time rounded up to the second, then a scheduler tick) + slack
SCRIPT = ("PENDING", "PENDING", "SUCCESS")


class RQWorkers(Workers):
    """``start()`` starts an ``rq worker --with-scheduler`` (one job at a time) on the test's Redis."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        super().__init__(folder)
        self.redis_url = redis_url

    def start(self) -> BackgroundProcess:
        return self.spawn([str(RQ), "worker", "--with-scheduler", "--url", self.redis_url, "--path", str(EXAMPLES),
                           "--name", "test-worker-{}".format(len(self.started)), rq_recipe.QUEUE],
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.fixture
def workers(redis_db: str, tmp_path: Path) -> Iterator[RQWorkers]:
    if not RQ.exists():
        pytest.fail("rq is not installed in {} (tests/engines/requirements.txt)".format(sys.prefix))
    with RQWorkers(tmp_path, redis_db) as started:
        yield started


def _finished_poll(first: Job, workers: RQWorkers, seconds: float = 20) -> Job:
    """The poll's last job, once it has finished (the test fails if it failed)."""

    def ended() -> Optional[Job]:
        last = rq_recipe.last_step(first)
        return last if last.get_status(refresh=True) in ("finished", "failed") else None

    last = workers.wait_for(ended, seconds, "the poll to end")
    last.refresh()
    assert last.get_status() == "finished", (last.latest_result(), workers.logs())
    return last


def _chain(first: Job) -> List[Job]:
    jobs = [first]
    while rq_recipe.NEXT in jobs[-1].get_meta(refresh=True):
        jobs.append(Job.fetch(jobs[-1].meta[rq_recipe.NEXT], connection=first.connection))
    return jobs


def _epoch(moment: Any) -> float:
    return float(moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp())


def test_a_poll_completes_with_its_attempts_and_waits_one_job_per_step(job_server, redis, workers):
    job = job_server.job("job", *SCRIPT)
    workers.start()
    first = rq_recipe.start_poll(job.url, polling_interval=1.0, connection=redis)
    last = _finished_poll(first, workers)

    assert last.return_value()["status"] == "SUCCESS"
    assert len(job.times) == 3
    assert all(1.0 <= gap <= 1.0 + LATE for gap in gaps(job.times)), gaps(job.times)
    assert len(_chain(first)) == 3  # no step ran early (it would have sent nothing and scheduled another)
    state = PollState.from_json(last.get_meta()[rq_recipe.STATE])
    assert state.attempts == 3 and state.last_status == 200
    assert ScheduledJobRegistry(rq_recipe.QUEUE, connection=redis).count == 0
    time.sleep(0.5)
    assert len(job.times) == 3  # nothing more after the poll ended


def test_a_waiting_poll_holds_no_worker_another_job_runs_during_its_wait(job_server, redis, workers):
    job = job_server.job("job", *SCRIPT)
    workers.start()  # one worker: one job at a time
    first = rq_recipe.start_poll(job.url, polling_interval=2.0, connection=redis)
    workers.wait_for(lambda: rq_recipe.NEXT in first.get_meta(refresh=True), 10, "the first step to end")

    other = Queue(rq_recipe.QUEUE, connection=redis).enqueue("time.sleep", 0.2)
    workers.wait_for(lambda: other.get_status(refresh=True) == "finished", 10, "the other job")
    last = _finished_poll(first, workers)
    other.refresh()

    assert len(job.times) == 3
    assert _epoch(other.ended_at) < job.times[1]  # it ran while the poll waited for its second attempt
    assert other.ended_at < last.ended_at


def test_a_worker_killed_during_the_wait_loses_nothing_and_repeats_nothing(job_server, redis, workers):
    job = job_server.job("job", *SCRIPT)
    first_worker = workers.start()
    first = rq_recipe.start_poll(job.url, polling_interval=2.0, connection=redis)
    workers.wait_for(lambda: first.get_status(refresh=True) == "finished"
                     and rq_recipe.NEXT in first.get_meta(refresh=True), 10, "the first step to end")
    second = Job.fetch(first.meta[rq_recipe.NEXT], connection=redis)
    assert second.get_status(refresh=True) == "scheduled"

    first_worker.kill()  # the worker, its scheduler and any work horse
    assert time.time() < job.times[0] + 2.0  # killed during the wait, before the next step was due
    assert len(job.times) == 1

    # The dead worker's scheduler lock outlives it for up to 61 s (RQ's scheduler interval + 60 s),
    # and no other scheduler moves due jobs until it expires: expire it now rather than wait.
    lock = RQScheduler.get_locking_key(rq_recipe.QUEUE)
    assert 0 < redis.ttl(lock) <= 61
    redis.delete(lock)

    workers.start()
    last = _finished_poll(first, workers)
    assert last.return_value()["status"] == "SUCCESS"
    assert len(job.times) == 3  # the killed wait repeated no request and lost none
    assert len(_chain(first)) == 3
    assert ScheduledJobRegistry(rq_recipe.QUEUE, connection=redis).count == 0


def test_a_worker_killed_during_a_request_leaves_the_attempt_counted_and_the_job_requeueable(
        job_server, redis, workers):
    job = job_server.job("job", "PENDING", None, "SUCCESS")  # the second request gets no answer
    first_worker = workers.start()
    first = rq_recipe.start_poll(job.url, polling_interval=1.0, connection=redis)
    workers.wait_for(lambda: len(job.times) == 2, 10, "the second request")
    second = Job.fetch(first.get_meta(refresh=True)[rq_recipe.NEXT], connection=redis)
    first_worker.kill()  # during the second request

    # RQ finds the job abandoned once its heartbeat expires (a maintenance pass of a live worker): now, here.
    StartedJobRegistry(rq_recipe.QUEUE, connection=redis).cleanup(timestamp=time.time() + 3600)
    assert second.id in FailedJobRegistry(rq_recipe.QUEUE, connection=redis).get_job_ids()
    saved = PollState.from_json(second.get_meta(refresh=True)[rq_recipe.STATE])
    assert saved.attempts == 2  # the checkpoint counted the request that was cut off

    redis.delete(RQScheduler.get_locking_key(rq_recipe.QUEUE))  # as above: the dead scheduler's lock
    FailedJobRegistry(rq_recipe.QUEUE, connection=redis).requeue(second.id)  # `rq requeue`
    workers.start()
    last = _finished_poll(first, workers)
    assert last.return_value()["status"] == "SUCCESS"
    assert len(job.times) == 3
    final = PollState.from_json(last.get_meta()[rq_recipe.STATE])
    assert final.attempts == 3  # every request sent is counted: max_retries holds across the kill
