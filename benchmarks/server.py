"""The benchmark job server: a keep-alive HTTP/1.1 server in its own process.

``GET /jobs/<id>?done_after=N`` answers a ~300-byte JSON job document with
``"status": "PENDING"`` N-1 times and ``"status": "SUCCESS"`` the N-th time
(and every time after). Each ``<id>`` has its own counter, so every client
polls a fresh job. ``&pending_status=202`` makes the pending answers use
that status code (for the "status code only" condition).

Run it as ``python benchmarks/server.py [--port P]``; it prints
``listening on http://127.0.0.1:<port>`` once ready and serves until killed.
Only the standard library is used, so clients in other virtualenvs can
import :func:`job_document` from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict
from urllib.parse import parse_qs, urlsplit

#: The ``owner.team`` of every job (the JSONPath condition checks it).
TEAM = "data-platform"


def job_document(job_id: str, attempt: int, done_after: int) -> Dict[str, Any]:
    """The job document served on ``attempt`` (1-based) of a job done after ``done_after``."""
    done = attempt >= done_after
    return {
        "id": job_id,
        "type": "export",
        "status": "SUCCESS" if done else "PENDING",
        "progress": {"percent": 100 if done else min(99, attempt * 100 // max(done_after, 1)), "step": attempt},
        "owner": {"team": TEAM, "user": "svc-reporting"},
        "created_at": "2024-05-01T12:00:00Z",
        "result": {"rows": 1048576, "url": "/exports/{}.csv.gz".format(job_id)} if done else None,
        "links": {"self": "/jobs/{}".format(job_id), "cancel": "/jobs/{}/cancel".format(job_id)},
    }


def encode(document: Dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(", ", ": ")).encode("utf-8")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Dict[str, int] = {}

    def next_attempt(self, job_id: str) -> int:
        with self.lock:
            count = self.counts.get(job_id, 0) + 1
            self.counts[job_id] = count
            return count


STATE = _State()


class JobHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a Content-Length on every answer
    disable_nagle_algorithm = True
    server_version = "bench-jobs/1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if not parts.path.startswith("/jobs/"):
            self._answer(404, b'{"error": "not found"}')
            return
        job_id = parts.path[len("/jobs/") :]
        query = parse_qs(parts.query)
        done_after = int(query.get("done_after", ["1"])[0])
        pending_status = int(query.get("pending_status", ["200"])[0])
        attempt = STATE.next_attempt(job_id)
        document = job_document(job_id, attempt, done_after)
        status = 200 if document["status"] == "SUCCESS" else pending_status
        self._answer(status, encode(document))

    def _answer(self, status: int, body: bytes) -> None:
        reason = self.responses.get(status, ("",))[0]
        head = (
            "HTTP/1.1 {} {}\r\nServer: {}\r\nContent-Type: application/json\r\n"
            "Cache-Control: no-store\r\nContent-Length: {}\r\n\r\n".format(
                status, reason, self.server_version, len(body)
            )
        ).encode("latin-1")
        self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), JobHandler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print("listening on http://{}:{}".format(host, port), flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:  # pragma: no cover - interactive use
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
