"""Poll an HTTP endpoint from RQ: one ``step()`` per job, and RQ's scheduler holds the wait.

Copy this module into your project and make ``sleeper()`` your poll. Start a
poll with ``start_poll(url)`` and run workers with the scheduler on::

    rq worker --with-scheduler --url redis://localhost:6379/0 httsleep

Each job makes one attempt at most, then either returns the poll's result or
schedules the next step as a new job and ends: while the poll waits, no worker
is busy. The poll's state lives in ``job.meta`` (saved in Redis with
``job.save_meta()``), so any worker, started at any time, can take the next step.

Timing: RQ's scheduler keeps due times in whole seconds and looks for due jobs
about once a second. A step is never early (its due time is rounded up to the
second) and runs up to about 2 s late.
"""

from __future__ import annotations

import math
import os
import time
from datetime import datetime, timezone
from typing import Any, Optional

from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job

from httsleep import HttSleeper, PollState

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
QUEUE = "httsleep"
STATE = "httsleep_state"  # job.meta key: the poll's PollState, as JSON
NEXT = "httsleep_next_job"  # job.meta key: the id of the job that takes the poll's next step


def sleeper(url: str, polling_interval: float) -> HttSleeper:
    """The poll. Its conditions and limits must not change between steps (a saved state refuses them)."""
    return HttSleeper(url, jsonpath=[{"expression": "status", "value": "SUCCESS"}],
                      polling_interval=polling_interval, timeout=3600)


def start_poll(url: str, polling_interval: float = 30.0, connection: Optional[Redis] = None) -> Job:
    """Enqueue a poll's first step; its id is the poll's handle (see ``last_step``)."""
    queue = Queue(QUEUE, connection=connection or Redis.from_url(REDIS_URL))
    # the first job carries the poll's state already: its deadline runs from now (nothing is sent)
    first = sleeper(url, polling_interval).new_state().to_json()
    return queue.enqueue(poll_step, url, polling_interval, meta={STATE: first})


def poll_step(url: str, polling_interval: float) -> Any:
    """The job: one step of the poll. Returns the response's JSON when done, else ``None``."""
    job = get_current_job()
    assert job is not None, "poll_step runs as an RQ job"
    if NEXT in job.meta:  # a requeued step that had already scheduled the next one: nothing to do
        return None
    saved = job.meta.get(STATE)
    state = PollState.from_json(saved) if saved else None  # None: a first step enqueued without one

    def checkpoint(counted: PollState) -> None:
        # Called once the attempt is counted, before its request is sent. If the worker dies
        # during the request, RQ moves this job to its FailedJobRegistry (abandoned); requeued
        # (`rq requeue`), it resumes from this state, so the lost attempt still counts.
        job.meta[STATE] = counted.to_json()
        job.save_meta()

    step = sleeper(url, polling_interval).step(state, checkpoint=checkpoint)
    job.meta[STATE] = step.state.to_json()
    if step.done:
        job.save_meta()
        return step.response.json()  # the result of the poll's last job

    # RQ stores a due time in whole seconds, rounded down: round it up instead, or the step
    # could run up to a second early, send nothing and have to be scheduled again.
    due = datetime.fromtimestamp(math.ceil(time.time() + step.wait), timezone.utc)
    queue = Queue(job.origin, connection=job.connection)
    next_job = queue.enqueue_at(due, poll_step, url, polling_interval, meta={STATE: step.state.to_json()})
    job.meta[NEXT] = next_job.id
    job.save_meta()
    return None


def last_step(first: Job) -> Job:
    """The job that took (or will take) the poll's latest step: its status and result are the poll's."""
    job = first
    while True:
        next_id = job.get_meta(refresh=True).get(NEXT)
        if next_id is None:
            return job
        job = Job.fetch(next_id, connection=first.connection)
