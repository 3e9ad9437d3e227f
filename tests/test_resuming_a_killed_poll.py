"""A poll survives its worker: killed mid-request, it is resumed in a fresh process from its saved state.

The worker here is a child process that runs a poll one ``step()`` at a time,
saving the state after each (and, with a checkpoint, once each attempt is
counted, before its request is sent), as a job engine's task would. The test
kills it with SIGKILL while a request is in flight, then starts a fresh one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any, Dict

import pytest
from faultservers import RawServer, read_head

from httsleep import PollState

WORKER = r'''
import json, os, sys, time
from httsleep import GaveUp, HttSleeper, PollState

url, path, use_checkpoint, options = sys.argv[1], sys.argv[2], sys.argv[3] == "1", json.loads(sys.argv[4])


def save(state):
    with open(path + ".tmp", "w") as file:
        file.write(state.to_json())
    os.replace(path + ".tmp", path)


state = PollState.from_json(open(path).read()) if os.path.exists(path) else None
sleeper = HttSleeper(url, until={"jsonpath": [{"expression": "status", "value": "DONE"}]}, **options)
while True:
    try:
        step = sleeper.step(state, checkpoint=save if use_checkpoint else None)
    except GaveUp as gave_up:
        print(json.dumps({"limit": gave_up.limit, "attempts": gave_up.attempts, "at": time.time()}))
        sys.exit(3)
    save(step.state)
    state = step.state
    if step.done:
        sys.exit(0)
    time.sleep(step.wait)
'''


class Job(RawServer):
    """Answers PENDING; request number ``hang_at`` gets no answer at all (the worker dies waiting for it)."""

    def __init__(self, hang_at: int) -> None:
        super().__init__(self._answer)
        self.hang_at = hang_at
        self.requests = 0
        self.hanging = threading.Event()

    def _answer(self, conn: Any, server: RawServer) -> None:
        head, _ = read_head(conn)
        if head is None:
            return
        with self._lock:
            self.requests += 1
            number = self.requests
        if number == self.hang_at:
            self.hanging.set()
            self.stopping.wait()
            return
        body = b'{"status": "PENDING"}'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def _worker(job: Job, path: str, checkpoint: bool, options: Dict[str, Any]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, job.url, path, "1" if checkpoint else "0", json.dumps(options)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _kill_mid_request_and_resume(tmp_path, checkpoint: bool, options: Dict[str, Any]) -> Any:
    path = str(tmp_path / "state.json")
    with Job(hang_at=4) as job:
        first = _worker(job, path, checkpoint, options)
        try:
            assert job.hanging.wait(30), first.communicate(timeout=5)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        saved = PollState.from_json(open(path).read())
        second = _worker(job, path, checkpoint, options)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 3, err.decode()
        return job.requests, saved, json.loads(out)


@pytest.mark.parametrize("checkpoint, most", [(False, 11), (True, 10)])
def test_a_killed_poll_resumed_in_a_fresh_process_makes_at_most_one_request_more_without_a_checkpoint(
        tmp_path, checkpoint, most):
    requests, saved, outcome = _kill_mid_request_and_resume(
        tmp_path, checkpoint, {"max_retries": 10, "polling_interval": 0.01, "request_timeout": [2, 30]})
    assert saved.attempts == (4 if checkpoint else 3)  # the request in flight is counted only by the checkpoint
    assert outcome["limit"] == "max_retries"
    assert requests == most


def test_a_killed_poll_resumed_gives_up_by_its_original_deadline_plus_one_request_timeout(tmp_path):
    requests, saved, outcome = _kill_mid_request_and_resume(
        tmp_path, True, {"timeout": 2, "polling_interval": 0.05, "request_timeout": 0.5})
    assert outcome["limit"] == "timeout"
    assert outcome["at"] <= saved.deadline_at + 0.5 + 0.2  # + the child's start and its last print
    assert os.path.exists(str(tmp_path / "state.json"))
