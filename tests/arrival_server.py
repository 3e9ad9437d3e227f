"""A loopback service that answers every request alike and notes when each arrived, for the fleet tests.

Worker processes forked from the test share its ``time.monotonic`` clock, so
the arrival times it notes can be compared with moments the test took itself
(a Redis kill, a restart). Each request may name its poller (``?poller=N``).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

__all__ = ["ArrivalServer"]


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
