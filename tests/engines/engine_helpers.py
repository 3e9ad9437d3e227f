"""Helpers the job-engine tests share: a scripted job server, waiting, subprocesses, ports.

Only the standard library and pytest are imported here: the Airflow tests run
in a virtualenv without the other engines.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pytest

#: The recipes: modules users copy, not part of httsleep.
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "engines"

#: What a job answers to one request: a status (``{"status": ...}``, 200), ``(code, headers, body)``,
#: or None: no answer until the server closes.
Answer = Union[None, str, Tuple[int, Dict[str, str], Any]]


def import_recipe(name: str) -> ModuleType:
    """Import a recipe of examples/engines (put on ``sys.path``) by its module name."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gaps(times: Sequence[float], ndigits: Optional[int] = None) -> List[float]:
    """The time between each two requests (rounded to ``ndigits`` if given)."""
    between = [later - earlier for earlier, later in zip(times, times[1:])]
    return between if ndigits is None else [round(gap, ndigits) for gap in between]


def wait_for(predicate: Callable[[], Any], seconds: float, what: str, interval: float = 0.05,
             process: Optional[BackgroundProcess] = None, details: Callable[[], str] = lambda: "") -> Any:
    """Call ``predicate`` every ``interval`` s until it returns something true, and return that.

    The test fails after ``seconds``, or at once if ``process`` exits; ``details()`` ends the message.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.process.poll() is not None:
            pytest.fail("{} exited (code {}) before {}{}".format(
                process.name, process.process.returncode, what, details()))
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for {}{}".format(what, details()))
        time.sleep(interval)


class JobServer:
    """Jobs on loopback at ``/jobs/<name>``, each answering its script in order (the last answer repeats).

    ``job(name, *answers)`` adds one (an answer: see :data:`Answer`). Every request is recorded
    (``record()``: when it came, its User-Agent) before it is answered.
    """

    def __init__(self) -> None:
        self.scripts: Dict[str, Sequence[Answer]] = {}
        self.seen: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _JobHandler)
        self.httpd.daemon_threads = True
        self.httpd.jobs = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)  # quick close()
        self.thread.start()

    def job(self, name: str, *answers: Answer) -> ScriptedJob:
        self.scripts[name] = answers
        return ScriptedJob(self, name)

    def url(self, name: str) -> str:
        return "http://127.0.0.1:{}/jobs/{}".format(self.httpd.server_address[1], name)

    def requests(self, name: str) -> List[Dict[str, Any]]:
        with self.lock:
            return list(self.seen[name])

    def record(self, name: str, request: BaseHTTPRequestHandler) -> Dict[str, Any]:
        """What is kept of a request, noted while it is in flight."""
        return {"at": time.time(), "agent": request.headers.get("User-Agent", "")}

    def answer(self, name: str, request: BaseHTTPRequestHandler) -> Answer:
        with self.lock:
            script = self.scripts.get(name)
            if script is None:
                return (404, {}, {"error": "no job {}".format(name)})
            seen = self.seen[name]
            seen.append(self.record(name, request))
            return script[min(len(seen), len(script)) - 1]

    def close(self) -> None:
        self.closing.set()  # the requests left without an answer end
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def __enter__(self) -> JobServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ScriptedJob:
    """One job of a :class:`JobServer`: its ``url``, and the ``times`` its requests came."""

    def __init__(self, server: JobServer, name: str) -> None:
        self.server = server
        self.name = name
        self.url = server.url(name)

    @property
    def times(self) -> List[float]:
        return [request["at"] for request in self.server.requests(self.name)]

    def wait_for(self, count: int, seconds: float = 15) -> List[float]:
        """The request times, once there are ``count``."""
        wait_for(lambda: len(self.times) >= count, seconds, "{} requests of job {}".format(count, self.name),
                 interval=0.01, details=lambda: " (got {})".format(len(self.times)))
        return self.times


class _JobHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server looks for
        server: JobServer = self.server.jobs  # type: ignore[attr-defined]
        answer = server.answer(self.path.split("?", 1)[0][len("/jobs/"):], self)
        if answer is None:
            server.closing.wait()
            return
        status, headers, body = (200, {}, {"status": answer}) if isinstance(answer, str) else answer
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


class BackgroundProcess:
    """A subprocess in a process group of its own (its children get its signals), its output in ``log``."""

    def __init__(self, argv: Sequence[str], log: Path, stop_signal: int = signal.SIGTERM, name: str = "",
                 **popen_options: Any) -> None:
        self.log = log
        self.stop_signal = stop_signal
        self.name = name or Path(argv[0]).name
        with open(log, "wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                            **popen_options)

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL, to the process and its children."""
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        stop_all([self])

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def stop_all(processes: Sequence[BackgroundProcess], seconds: float = 10) -> None:
    """Send each its stop signal, then wait for each; SIGKILL what is still running after ``seconds``."""
    for process in processes:
        process.signal(process.stop_signal)
    for process in processes:
        try:
            process.process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()


class Workers:
    """The worker processes of a test, logging to ``folder/worker-N.log``; subclasses start them with ``spawn()``.

    Leaving the ``with`` block stops them all.
    """

    def __init__(self, folder: Path, stop_signal: int = signal.SIGTERM) -> None:
        self.folder = folder
        self.stop_signal = stop_signal
        self.started: List[BackgroundProcess] = []

    def spawn(self, argv: Sequence[str], **popen_options: Any) -> BackgroundProcess:
        log = self.folder / "worker-{}.log".format(len(self.started))
        worker = BackgroundProcess(argv, log, self.stop_signal, name="worker {}".format(len(self.started)),
                                   **popen_options)
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(worker.log_tail() for worker in self.started)

    def wait_for(self, predicate: Callable[[], Any], seconds: float, what: str) -> Any:
        """:func:`wait_for`, with the workers' logs in the failure."""
        return wait_for(predicate, seconds, what, details=lambda: "; worker logs:\n" + self.logs())

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: Any) -> None:
        stop_all(self.started)
