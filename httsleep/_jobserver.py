"""A tiny local job server to poll: the demo, the CLI tests and the benchmarks use it.

Each job is a path whose JSON body moves one state further on every
``GET``, then stays in its last state::

    GET /job           PENDING -> RUNNING -> SUCCESS
    GET /failing-job   PENDING -> ERROR

Anything else is a 404. Only the standard library is used, and the server
listens on 127.0.0.1 only.

Run it on its own to try the command line (``--port 0``, the default, lets
the system pick a free port; the URL is printed on the first line)::

    python -m httsleep._jobserver [--port N]

Restart it to start the jobs again from ``PENDING``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["DEFAULT_JOBS", "JobServer", "main"]

#: The jobs a server has unless told otherwise: path -> the states it goes through.
DEFAULT_JOBS: Mapping[str, Sequence[str]] = {
    "/job": ("PENDING", "RUNNING", "SUCCESS"),
    "/failing-job": ("PENDING", "ERROR"),
}

_PROGRESS = {"PENDING": 0, "RUNNING": 50, "SUCCESS": 100}


def job_body(name: str, state: str) -> Dict[str, Any]:
    """The JSON document a job answers with in ``state``."""
    body: Dict[str, Any] = {"job": name, "status": state, "progress": _PROGRESS.get(state, 100)}
    if state == "ERROR":
        body["error"] = "the build ran out of disk space"
    return body


class JobServer:
    """A threaded HTTP server on 127.0.0.1 serving jobs; use it as a context manager.

    :param jobs: path -> the states the job goes through, one per ``GET``
        (default :data:`DEFAULT_JOBS`).
    :param port: the port to listen on; 0 (the default) picks a free one.
    :param log: a text stream to write one line per request to, or ``None``.

    >>> with JobServer() as server:
    ...     server.url("/job").startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self,
        jobs: Optional[Mapping[str, Sequence[str]]] = None,
        port: int = 0,
        log: Any = None,
    ) -> None:
        self.jobs: Dict[str, List[str]] = {path: list(states) for path, states in (jobs or DEFAULT_JOBS).items()}
        self.hits: Dict[str, int] = {path: 0 for path in self.jobs}
        self.log = log
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        """The full URL of ``path`` on this server."""
        return "http://127.0.0.1:{}{}".format(self.port, path)

    def next_state(self, path: str) -> Optional[str]:
        """Count a ``GET`` of ``path`` and return the job's state (``None`` for no such job)."""
        with self._lock:
            if path not in self.jobs:
                return None
            states = self.jobs[path]
            self.hits[path] += 1
            return states[min(self.hits[path], len(states)) - 1]

    def start(self) -> JobServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="httsleep-jobserver", daemon=True
        )  # polls for shutdown every 0.05 s: stop() returns quickly
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> JobServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _handler_class(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def do_GET(self) -> None:  # noqa: N802 - the name http.server looks for
                path = self.path.split("?", 1)[0]
                state = server.next_state(path)
                if state is None:
                    self._send(404, {"error": "no job at {}".format(path), "jobs": sorted(server.jobs)})
                else:
                    self._send(200, job_body(path.strip("/"), state))
                if server.log is not None:
                    print("GET {} -> {}".format(path, state or 404), file=server.log, flush=True)

            def _send(self, status: int, document: Any) -> None:
                payload = json.dumps(document).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
                pass  # one line per request is written by do_GET when asked for

        return Handler


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve the default jobs until interrupted; print the server's URL first."""
    parser = argparse.ArgumentParser(prog="python -m httsleep._jobserver", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free one)")
    args = parser.parse_args(argv)
    server = JobServer(port=args.port, log=sys.stderr)
    print(server.url("/"), flush=True)
    print("jobs: {} (Ctrl-C to stop)".format(", ".join(server.url(path) for path in server.jobs)), file=sys.stderr)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess by tests/test_cli.py
    sys.exit(main())
