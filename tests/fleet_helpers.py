"""What the fleet tests share: forked workers, a loopback service that notes arrivals, the busiest second.

Worker processes forked from the test share its ``time.monotonic`` clock, so
the arrival times the service notes can be compared with moments the test
took itself (a Redis kill, a restart). Each request may name its poller
(``?poller=N``).
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

__all__ = ["FORK", "ArrivalServer", "busiest_second", "run_forked"]

FORK = multiprocessing.get_context("fork")


def run_forked(target: Any, args_of: Any, count: int, end_at: float, during: Any = None) -> List[Any]:
    """Fork ``count`` workers ``target(*args_of(index), results)``, call ``during()`` meanwhile, collect their reports.

    Each worker puts one report on ``results``; a worker still alive after
    that is ended by its own pid.
    """
    results = FORK.Queue()
    workers = [FORK.Process(target=target, args=(*args_of(index), results), daemon=True) for index in range(count)]
    for worker in workers:
        worker.start()
    try:
        if during is not None:
            during()
        reports = [results.get(timeout=max(end_at - time.monotonic(), 0) + 20) for _ in workers]
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():  # pragma: no cover - a hung worker
                worker.kill()
    return reports


def busiest_second(moments: List[float]) -> int:
    """The most of ``moments`` in any 1-s window [t, t + 1): the maximum is reached by a window starting at one
    of them, so counting from each covers every window of the run."""
    moments = sorted(moments)
    return max((sum(1 for other in moments[index:] if other < start + 1.0) for index, start in enumerate(moments)),
               default=0)


class ArrivalServer(ThreadingHTTPServer):
    """Answers every ``GET`` with ``status`` and the JSON ``body``; :meth:`arrivals` says when and from whom."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.body = json.dumps(body).encode("utf-8")
        self._arrivals: List[Tuple[float, str]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, poller: Optional[int] = None) -> str:
        """The job's URL (naming ``poller``, if given)."""
        base = "http://127.0.0.1:{}/jobs/1".format(self.server_address[1])
        return base if poller is None else "{}?poller={}".format(base, poller)

    def note(self, poller: str) -> None:
        with self.lock:
            self._arrivals.append((time.monotonic(), poller))

    def arrivals(self) -> List[Tuple[float, str]]:
        """``(time.monotonic(), poller)`` of every request so far, in the order they came (``"?"``: no poller)."""
        with self.lock:
            return list(self._arrivals)

    def times(self) -> List[float]:
        """When each request so far arrived."""
        return [moment for moment, _ in self.arrivals()]

    def between(self, start: float, end: float) -> int:
        """How many requests arrived at or after ``start`` and before ``end``."""
        return sum(1 for moment in self.times() if start <= moment < end)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ArrivalServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.server.note(parse_qs(urlsplit(self.path).query).get("poller", ["?"])[0])
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass
