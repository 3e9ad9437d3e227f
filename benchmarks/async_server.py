"""The job server on asyncio: thousands of keep-alive connections in one thread, and a conditional document.

``benchmarks/server.py`` starts a thread per connection, with the listen
backlog of ``socketserver`` (5): fine for one client at a time, not for
10,000 connections opened at once. This server answers the same job
documents from one event loop (``asyncio.Protocol``, no per-request task),
with a listen backlog as large as the kernel allows:

- ``GET /jobs/<id>?done_after=N[&pending_status=S]``: the ~270-byte job
  document of ``server.py``, ``PENDING`` N-1 times and ``SUCCESS`` the N-th
  time, status 200 (or ``S`` while pending).
- ``GET /big/<id>?done_after=N``: a ~100 kB JSON document that stays the same
  while pending (``SUCCESS`` from the N-th request on, never with N = 0),
  with ``ETag`` and ``Last-Modified``; ``304 Not Modified`` (no body) when
  ``If-None-Match`` names the current ETag (or, without ``If-None-Match``,
  when ``If-Modified-Since`` is not older than ``Last-Modified``);
  gzip-encoded when ``Accept-Encoding`` allows gzip (each encoding has its
  own strong ETag).
- ``GET /stats/<id>``: for every answer given on ``/jobs/<id>`` or
  ``/big/<id>``: its status, the bytes written (head and body) and the bytes
  of the request head. Not counted itself.
- ``GET /server[?reset]``: this process's CPU seconds, the requests answered
  on ``/jobs/`` and ``/big/``, open and peak connections (``reset``: the
  peak starts again from the connections open now), its open-file limit.

Run it as ``python benchmarks/async_server.py [--port P]``; it prints
``listening on http://127.0.0.1:<port>`` once ready and serves until killed.
Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import os
import sys
import time
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import raise_fd_limit  # noqa: E402 - after the path tweak
from server import TEAM, encode, job_document  # noqa: E402

#: Largest request head accepted (a bigger one closes the connection).
MAX_HEAD = 64 * 1024
REASONS = {200: "OK", 202: "Accepted", 304: "Not Modified", 400: "Bad Request", 404: "Not Found"}
#: When the pending big document "last changed", and when the done one did (fixed, so runs compare).
PENDING_SINCE = 1_700_000_000
DONE_SINCE = PENDING_SINCE + 3600
SUCCESS = "SUCCESS"


def big_document(status: str, items: int = 656) -> Dict[str, Any]:
    """A job document of about 100 kB: a list of items with hashes (so that gzip does not shrink it to nothing)."""
    return {
        "id": "export-2024-05",
        "type": "export",
        "status": status,
        "owner": {"team": TEAM, "user": "svc-reporting"},
        "created_at": "2024-05-01T12:00:00Z",
        "items": [
            {
                "n": n,
                "name": "part-{:05d}.csv.gz".format(n),
                "sha256": hashlib.sha256(str(n).encode("ascii")).hexdigest(),
                "rows": (n * 7919) % 100_003,
                "state": "done" if status == "SUCCESS" or n % 3 == 0 else "queued",
            }
            for n in range(items)
        ],
    }


class Representation:
    """One version of the big document, encoded once, with its validators."""

    def __init__(self, document: Dict[str, Any], since: int) -> None:
        self.identity = encode(document)
        self.gzip = gzip.compress(self.identity, compresslevel=6, mtime=0)
        digest = hashlib.sha1(self.identity).hexdigest()[:20]
        self.etag = '"{}"'.format(digest)
        self.gzip_etag = '"{}-gz"'.format(digest)
        self.last_modified = formatdate(since, usegmt=True)
        self.since = since


class Site:
    """The routes, the per-job counters and the per-job byte counts."""

    def __init__(self) -> None:
        self.attempts: Dict[str, int] = {}
        self.records: Dict[str, List[Tuple[int, int, int]]] = {}  # id -> [(status, response bytes, request bytes)]
        self.pending = Representation(big_document("PENDING"), PENDING_SINCE)
        self.done = Representation(big_document(SUCCESS), DONE_SINCE)
        self.requests = 0  # answered on /jobs/ and /big/
        self.open_connections = 0
        self.peak_connections = 0
        self.fd_limit = 0

    def answer(self, head: bytes) -> Tuple[bytes, bool]:
        """The response to one request head, and whether to close the connection after it."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return response(400, b'{"error": "bad request line"}'), True
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close"
        path, _, query = parts[1].partition("?")
        params = dict(parse_qsl(query, keep_blank_values=True))
        if path.startswith("/jobs/"):
            job_id = path[len("/jobs/") :]
            status, data = self.job(job_id, params)
        elif path.startswith("/big/"):
            job_id = path[len("/big/") :]
            status, data = self.big(job_id, params, headers)
        elif path.startswith("/stats/"):
            return response(200, json.dumps(self.records.get(path[len("/stats/") :], [])).encode()), close
        elif path == "/server":
            body = json.dumps(self.status()).encode()
            if "reset" in params:
                self.peak_connections = self.open_connections
            return response(200, body), close
        else:
            return response(404, b'{"error": "not found"}'), close
        self.records.setdefault(job_id, []).append((status, len(data), len(head) + 4))
        self.requests += 1
        return data, close

    def next_attempt(self, job_id: str) -> int:
        attempt = self.attempts[job_id] = self.attempts.get(job_id, 0) + 1
        return attempt

    def job(self, job_id: str, params: Dict[str, str]) -> Tuple[int, bytes]:
        done_after = int(params.get("done_after", "1"))
        document = job_document(job_id, self.next_attempt(job_id), done_after)
        status = 200 if document["status"] == SUCCESS else int(params.get("pending_status", "200"))
        return status, response(status, encode(document))

    def big(self, job_id: str, params: Dict[str, str], headers: Dict[str, str]) -> Tuple[int, bytes]:
        done_after = int(params.get("done_after", "0"))
        attempt = self.next_attempt(job_id)
        current = self.done if 0 < done_after <= attempt else self.pending
        zipped = accepts_gzip(headers.get("accept-encoding", ""))
        etag = current.gzip_etag if zipped else current.etag
        validators = [("ETag", etag), ("Last-Modified", current.last_modified), ("Cache-Control", "no-cache")]
        if not_modified(headers, etag, current.since):
            return 304, response(304, b"", validators, content_type=None)
        extra = validators + [("Vary", "Accept-Encoding")]
        if zipped:
            return 200, response(200, current.gzip, extra + [("Content-Encoding", "gzip")])
        return 200, response(200, current.identity, extra)

    def status(self) -> Dict[str, Any]:
        return {
            "cpu": time.process_time(),
            "requests": self.requests,
            "open_connections": self.open_connections,
            "peak_connections": self.peak_connections,
            "fd_limit": self.fd_limit,
        }


def response(
    status: int,
    body: bytes,
    extra: Optional[List[Tuple[str, str]]] = None,
    content_type: Optional[str] = "application/json",
) -> bytes:
    """A whole HTTP/1.1 response, head and body, as one buffer (one write: no Nagle stalls)."""
    head = ["HTTP/1.1 {} {}".format(status, REASONS.get(status, "Unknown")), "Server: bench-jobs-async/1"]
    if content_type:
        head.append("Content-Type: " + content_type)
    if status != 304:
        head.append("Content-Length: {}".format(len(body)))
    if extra is None:
        head.append("Cache-Control: no-store")
    else:
        head.extend("{}: {}".format(name, value) for name, value in extra)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.lower().split(","):
        coding, _, parameters = item.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = parameters.strip()
            return not (quality.startswith("q=") and float(quality[2:] or 0) == 0)
    return False


def not_modified(headers: Dict[str, str], etag: str, since: int) -> bool:
    """RFC 9110: If-None-Match (weak comparison) wins; otherwise If-Modified-Since."""
    if "if-none-match" in headers:
        wanted = headers["if-none-match"]
        if wanted.strip() == "*":
            return True
        tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
        return etag in tags
    if "if-modified-since" in headers:
        try:
            return parsedate_to_datetime(headers["if-modified-since"]).timestamp() >= since
        except (TypeError, ValueError):
            return False
    return False


class JobProtocol(asyncio.Protocol):
    """One connection: any number of requests, answered in order (pipelining works too)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.site.open_connections += 1
        self.site.peak_connections = max(self.site.peak_connections, self.site.open_connections)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.site.open_connections -= 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            data, close = self.site.answer(head)
            self.transport.write(data)
            if close:
                self.transport.close()
                return


async def serve(host: str, port: int) -> None:
    site = Site()
    site.fd_limit = raise_fd_limit()
    loop = asyncio.get_running_loop()
    # the kernel caps the backlog at net.core.somaxconn
    server = await loop.create_server(lambda: JobProtocol(site), host, port, backlog=65535)
    print("listening on http://{}:{}".format(host, server.sockets[0].getsockname()[1]), flush=True)
    async with server:
        await server.serve_forever()


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:  # pragma: no cover - interactive use
        pass


if __name__ == "__main__":
    main()
