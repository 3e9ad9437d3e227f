"""The RQ recipe (examples/engines/rq_recipe.py), run by real ``rq worker --with-scheduler`` processes.

The workers run against the session's redis-server (conftest.py) and poll a
loopback job server that answers PENDING, PENDING, then SUCCESS, and notes when
each request came. An RQ worker runs one job at a time: it is one worker slot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timezone
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler

from httsleep import PollState
from httsleep._jobserver import JobServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "engines"
sys.path.insert(0, str(EXAMPLES))
import rq_recipe  # noqa: E402 - the recipe is a plain module in examples/engines, as users copy it

RQ = Path(sys.executable).parent / "rq"
LATE = 2.0 + 0.5  # the recipe's tolerance (2 s: due time rounded up to the second, then a scheduler tick) + slack


class TimedJobServer(JobServer):
    """``/job`` answers PENDING, PENDING, then SUCCESS; ``times`` holds when each request came.

    The request numbered ``hang_at``, if any, gets no answer until the server stops.
    """

    def __init__(self) -> None:
        super().__init__({"/job": ("PENDING", "PENDING", "SUCCESS")})
        self.times: List[float] = []
        self.hang_at: Optional[int] = None
        self.stopping = threading.Event()

    def next_state(self, path: str) -> Optional[str]:
        self.times.append(time.time())
        state = super().next_state(path)  # counted even if it is never answered
        if len(self.times) == self.hang_at:
            self.stopping.wait(30)
        return state

    def stop(self) -> None:
        self.stopping.set()
        super().stop()


@pytest.fixture
def job_server() -> Iterator[TimedJobServer]:
    with TimedJobServer() as server:
        yield server


@pytest.fixture
def redis(redis_db: str) -> Iterator[Redis]:
    connection = Redis.from_url(redis_db)
    yield connection
    connection.close()


@pytest.fixture
def workers(redis_db: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen]]:
    """Starts ``rq worker --with-scheduler`` processes (each in a process group of its own); stops them all."""
    if not RQ.exists():
        pytest.fail("rq is not installed in {} (tests/engines/requirements.txt)".format(sys.prefix))
    started: List[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = open(tmp_path / "worker-{}.log".format(len(started)), "wb")
        worker = subprocess.Popen(
            [str(RQ), "worker", "--with-scheduler", "--url", redis_db, "--path", str(EXAMPLES),
             "--name", "test-worker-{}".format(len(started)), rq_recipe.QUEUE],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
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
    """Signal the worker and its children (the scheduler, a job's work horse)."""
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


def _finished_poll(first: Job, tmp_path: Path, seconds: float = 20) -> Job:
    """The poll's last job, once it has finished (the test fails if it failed)."""

    def ended() -> Optional[Job]:
        last = rq_recipe.last_step(first)
        return last if last.get_status(refresh=True) in ("finished", "failed") else None

    last = _wait_for(ended, seconds, tmp_path, "the poll to end")
    last.refresh()
    assert last.get_status() == "finished", (last.latest_result(), _logs(tmp_path))
    return last


def _chain(first: Job) -> List[Job]:
    jobs = [first]
    while rq_recipe.NEXT in jobs[-1].get_meta(refresh=True):
        jobs.append(Job.fetch(jobs[-1].meta[rq_recipe.NEXT], connection=first.connection))
    return jobs


def _epoch(moment: Any) -> float:
    return float(moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp())


def test_a_poll_completes_with_its_attempts_and_waits_one_job_per_step(job_server, redis, workers, tmp_path):
    workers()
    first = rq_recipe.start_poll(job_server.url("/job"), polling_interval=1.0, connection=redis)
    last = _finished_poll(first, tmp_path)

    assert last.return_value()["status"] == "SUCCESS"
    assert len(job_server.times) == 3
    gaps = [later - earlier for earlier, later in zip(job_server.times, job_server.times[1:])]
    assert all(1.0 <= gap <= 1.0 + LATE for gap in gaps), gaps
    assert len(_chain(first)) == 3  # no step ran early (it would have sent nothing and scheduled another)
    state = PollState.from_json(last.get_meta()[rq_recipe.STATE])
    assert state.attempts == 3 and state.last_status == 200
    assert ScheduledJobRegistry(rq_recipe.QUEUE, connection=redis).count == 0
    time.sleep(0.5)
    assert len(job_server.times) == 3  # nothing more after the poll ended


def test_a_waiting_poll_holds_no_worker_another_job_runs_during_its_wait(job_server, redis, workers, tmp_path):
    workers()  # one worker: one job at a time
    first = rq_recipe.start_poll(job_server.url("/job"), polling_interval=2.0, connection=redis)
    _wait_for(lambda: rq_recipe.NEXT in first.get_meta(refresh=True), 10, tmp_path, "the first step to end")

    other = Queue(rq_recipe.QUEUE, connection=redis).enqueue("time.sleep", 0.2)
    _wait_for(lambda: other.get_status(refresh=True) == "finished", 10, tmp_path, "the other job")
    last = _finished_poll(first, tmp_path)
    other.refresh()

    assert len(job_server.times) == 3
    assert _epoch(other.ended_at) < job_server.times[1]  # it ran while the poll waited for its second attempt
    assert other.ended_at < last.ended_at


def test_a_worker_killed_during_the_wait_loses_nothing_and_repeats_nothing(job_server, redis, workers, tmp_path):
    first_worker = workers()
    first = rq_recipe.start_poll(job_server.url("/job"), polling_interval=2.0, connection=redis)
    _wait_for(lambda: first.get_status(refresh=True) == "finished" and rq_recipe.NEXT in first.get_meta(refresh=True),
              10, tmp_path, "the first step to end")
    second = Job.fetch(first.meta[rq_recipe.NEXT], connection=redis)
    assert second.get_status(refresh=True) == "scheduled"

    _signal_group(first_worker, signal.SIGKILL)  # the worker, its scheduler and any work horse
    first_worker.wait(10)
    assert time.time() < job_server.times[0] + 2.0  # killed during the wait, before the next step was due
    assert len(job_server.times) == 1

    # The dead worker's scheduler lock outlives it for up to 61 s (RQ's scheduler interval + 60 s),
    # and no other scheduler moves due jobs until it expires: expire it now rather than wait.
    lock = RQScheduler.get_locking_key(rq_recipe.QUEUE)
    assert 0 < redis.ttl(lock) <= 61
    redis.delete(lock)

    workers()
    last = _finished_poll(first, tmp_path)
    assert last.return_value()["status"] == "SUCCESS"
    assert len(job_server.times) == 3  # the killed wait repeated no request and lost none
    assert len(_chain(first)) == 3
    assert ScheduledJobRegistry(rq_recipe.QUEUE, connection=redis).count == 0


def test_a_worker_killed_during_a_request_leaves_the_attempt_counted_and_the_job_requeueable(
        job_server, redis, workers, tmp_path):
    job_server.hang_at = 2
    first_worker = workers()
    first = rq_recipe.start_poll(job_server.url("/job"), polling_interval=1.0, connection=redis)
    _wait_for(lambda: len(job_server.times) == 2, 10, tmp_path, "the second request")
    second = Job.fetch(first.get_meta(refresh=True)[rq_recipe.NEXT], connection=redis)
    _signal_group(first_worker, signal.SIGKILL)  # during the second request
    first_worker.wait(10)

    # RQ finds the job abandoned once its heartbeat expires (a maintenance pass of a live worker): now, here.
    StartedJobRegistry(rq_recipe.QUEUE, connection=redis).cleanup(timestamp=time.time() + 3600)
    assert second.id in FailedJobRegistry(rq_recipe.QUEUE, connection=redis).get_job_ids()
    saved = PollState.from_json(second.get_meta(refresh=True)[rq_recipe.STATE])
    assert saved.attempts == 2  # the checkpoint counted the request that was cut off

    redis.delete(RQScheduler.get_locking_key(rq_recipe.QUEUE))  # as above: the dead scheduler's lock
    FailedJobRegistry(rq_recipe.QUEUE, connection=redis).requeue(second.id)  # `rq requeue`
    workers()
    last = _finished_poll(first, tmp_path)
    assert last.return_value()["status"] == "SUCCESS"
    assert len(job_server.times) == 3
    final = PollState.from_json(last.get_meta()[rq_recipe.STATE])
    assert final.attempts == 3  # every request sent is counted: max_retries holds across the kill
