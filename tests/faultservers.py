"""Small misbehaving servers on loopback, for fault-injection tests.

Each server is a context manager that listens on a real socket, yields
itself (``server.url`` is the address to poll) and always shuts down on
exit: the listening socket and every accepted connection are closed and
the threads joined, so no test leaves a thread or a file descriptor behind.
They know nothing about httsleep and can drive the asyncio client too.

Servers:

- :func:`silent` accepts, reads the request and never answers.
- :func:`hang_up` reads the request and closes the connection without answering.
- :func:`reset` reads the request and resets the connection (RST).
- :func:`truncated` promises a body longer than the one it sends, then closes.
- :func:`dripping` sends a body one byte per ``interval`` seconds.
- :func:`slow_redirect` redirects after a delay, or with a dripping body.
- :func:`canned` answers the same raw bytes to every request.
- :func:`garbage` answers bytes that are not HTTP.
- :func:`tls_eof` ends a TLS handshake with a bare close.
- :class:`Backlogged` never accepts, with a full queue: connecting times out.
- :class:`LateServer` refuses connections until :meth:`LateServer.start`.
- :class:`ScriptedServer` a keep-alive HTTP/1.1 server answering from a
  script of responses and recording the requests; it can serve TLS and
  listen on any loopback address (``127.0.0.2`` is "another host").

Hostile servers, each answering every request the same way:

- :func:`bomb` a small compressed body that inflates to gigabytes.
- :func:`endless` a body that never ends (a huge Content-Length, chunked, or close-delimited).
- :func:`dripping_head` a status line and headers sent one byte at a time.
- :func:`endless_informational` ``100 Continue`` responses, for ever.
- :func:`endless_trailers` a chunked body whose trailer section never ends.
- :func:`huge_status_line` a status line of 64 KB.
- :func:`huge_location` a redirect whose ``Location`` is 60 KB long.
- :func:`many_headers` more headers than HTTP clients accept.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import queue
import socket
import ssl
import struct
import threading
import zlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = [
    "HOSTILE",
    "Backlogged",
    "LateServer",
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
    "bomb",
    "canned",
    "compression_bomb",
    "decodes_to_nothing",
    "dripping",
    "dripping_head",
    "endless",
    "endless_informational",
    "endless_trailers",
    "garbage",
    "hang_up",
    "huge_location",
    "huge_status_line",
    "many_headers",
    "read_head",
    "reset",
    "silent",
    "slow_redirect",
    "tls_eof",
    "truncated",
]

Handler = Callable[[socket.socket, "RawServer"], None]


def read_head(conn: socket.socket, buffer: bytes = b"") -> Tuple[Optional[bytes], bytes]:
    """Read up to the blank line ending a request head; ``(None, b"")`` when the peer closed."""
    while b"\r\n\r\n" not in buffer:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


class RawServer:
    """A listening socket whose connections are each given to ``handler`` in a worker thread.

    Workers are reused: a new thread starts only when no idle worker is
    waiting, so 10,000 sequential connections use one worker, not 10,000
    threads.
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.stopping = threading.Event()
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(128)
        self._listener.settimeout(0.05)  # accept() wakes up to notice close()
        self.port = int(self._listener.getsockname()[1])
        self._open: List[socket.socket] = []
        self._workers: List[threading.Thread] = []
        self._idle = 0  # workers free to take a connection from the queue (and not yet promised one)
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, name="faultserver-accept", daemon=True)

    @property
    def url(self) -> str:
        return "http://{}:{}/".format(self.host, self.port)

    def __enter__(self) -> RawServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, close every connection, and join every thread (idempotent)."""
        self.stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            conns, workers = list(self._open), list(self._workers)
            for _ in workers:
                self._queue.put(None)  # one "stop" for each worker, busy or idle
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for worker in workers:
            worker.join(5)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open.append(conn)
                if self._idle:
                    self._idle -= 1
                    self._queue.put(conn)
                    continue
                worker = threading.Thread(target=self._work, args=(conn,), name="faultserver-conn", daemon=True)
                self._workers.append(worker)
            worker.start()

    def _replace(self, old: socket.socket, new: socket.socket) -> None:
        """Track ``new`` (say a TLS wrapper) instead of ``old``, so that close() can shut it down."""
        with self._lock:
            if old in self._open:
                self._open.remove(old)
            self._open.append(new)

    def _work(self, conn: Optional[socket.socket]) -> None:
        while conn is not None:
            try:
                self.handler(conn, self)
            except OSError:
                pass
            finally:
                conn.close()
                with self._lock:
                    self._open = [item for item in self._open if item is not conn and item.fileno() != -1]
                    self._idle += 1
            conn = self._queue.get()


# -- the faults ------------------------------------------------------------------


class Answering(RawServer):
    """Answers every request with the same raw bytes, keeping the connection; counts the requests.

    ``requests`` counts the request heads read, ``connections`` (of
    :class:`RawServer`) the connections: an honest keep-alive server.
    """

    def __init__(self, answer: bytes) -> None:
        super().__init__(self._answer)
        self.answer = answer
        self.requests = 0

    def __enter__(self) -> Answering:
        super().__enter__()
        return self

    def _answer(self, conn: socket.socket, server: RawServer) -> None:
        buffer = b""
        while not self.stopping.is_set():
            head, buffer = read_head(conn, buffer)
            if head is None:
                return
            with self._lock:
                self.requests += 1
            try:
                conn.sendall(self.answer)
            except OSError:
                return


def silent() -> RawServer:
    """Accepts connections, reads the request, never answers."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        server.stopping.wait()

    return RawServer(handler)


def hang_up() -> RawServer:
    """Reads the request, then closes the connection without a word (a clean FIN)."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)

    return RawServer(handler)


def reset() -> RawServer:
    """Reads the request, then resets the connection (SO_LINGER 0 makes close() send RST)."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return RawServer(handler)


def truncated(promised: int = 100, sent: bytes = b'{"status": "SUCC') -> RawServer:
    """Answers 200 with ``Content-Length: promised`` but sends only ``sent``, then closes."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n".format(promised)
        conn.sendall(head.encode("ascii") + sent)

    return RawServer(handler)


def dripping(interval: float = 0.05, length: int = 10_000) -> RawServer:
    """Answers 200 promptly, then sends the body one byte every ``interval`` seconds."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        conn.sendall("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n".format(length).encode("ascii"))
        for _ in range(length):
            if server.stopping.wait(interval):
                return
            conn.sendall(b"x")

    return RawServer(handler)


def slow_redirect(location: str, delay: float = 0.0, drip: Optional[float] = None, length: int = 1000) -> RawServer:
    """Answers ``302 Location: location`` after ``delay`` seconds; with ``drip``, its body drips too."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        if server.stopping.wait(delay):
            return
        body_length = length if drip is not None else 0
        head = "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: {}\r\n\r\n".format(location, body_length)
        conn.sendall(head.encode("ascii"))
        for _ in range(body_length):
            if server.stopping.wait(drip):
                return
            conn.sendall(b"x")
        server.stopping.wait()

    return RawServer(handler)


def canned(response: bytes) -> RawServer:
    """Answers every request with exactly these bytes (a whole HTTP response), keeping the connection open."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        conn.sendall(response)
        server.stopping.wait()

    return RawServer(handler)


def garbage(payload: bytes = b"SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n") -> RawServer:
    """Answers bytes that are not an HTTP status line, then closes."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        conn.sendall(payload)

    return RawServer(handler)


def tls_eof() -> RawServer:
    """Reads a TLS ClientHello, then closes the connection cleanly, mid-handshake.

    Poll it with an ``https://`` URL (``server.url`` says ``http``): the
    client sees a TLS connection that ended without a proper close.
    """

    def handler(conn: socket.socket, server: RawServer) -> None:
        conn.settimeout(0.2)
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass
        conn.shutdown(socket.SHUT_WR)

    return RawServer(handler)


def _send_forever(conn: socket.socket, server: RawServer, piece: bytes, pause: float = 0.0) -> None:
    """Send ``piece`` again and again until the client goes away or the server stops."""
    while not server.stopping.is_set():
        try:
            conn.sendall(piece)
        except OSError:
            return
        if pause and server.stopping.wait(pause):
            return


def compression_bomb(coding: str = "gzip", compressed: int = 10 * 1024 * 1024) -> bytes:
    """About ``compressed`` bytes of gzip or deflate data that inflate to about 1000 times as much.

    A megabyte of zeros compresses to about a kilobyte, the same kilobyte
    every time once the compressor is flushed after each megabyte: the
    bomb is that kilobyte repeated, built in milliseconds. It has no end
    marker; a client that reads it to the end has already lost.
    """
    wbits = {"gzip": 31, "deflate": 15}[coding]
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    megabyte = b"\0" * (1 << 20)
    head = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + block * max(compressed // len(block), 1)


def bomb(coding: str = "gzip", compressed: int = 10 * 1024 * 1024) -> RawServer:
    """Answers 200 with a :func:`compression_bomb` as its body (``Content-Encoding: coding``)."""
    body = compression_bomb(coding, compressed)
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {}\r\nContent-Length: {}\r\n\r\n"

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        with contextlib.suppress(OSError):
            conn.sendall(head.format(coding, len(body)).encode("ascii") + body)
        server.stopping.wait()

    return RawServer(handler)


def endless(framing: str = "length") -> RawServer:
    """Answers 200 with a body that never ends: ``length`` (Content-Length: 1 TiB), ``chunked`` or ``close``."""
    heads = {
        "length": b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n",
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
    }
    piece = b"x" * 65536
    if framing == "chunked":
        piece = b"10000\r\n" + piece + b"\r\n"

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        with contextlib.suppress(OSError):
            conn.sendall(heads[framing])
        _send_forever(conn, server, piece)

    return RawServer(handler)


def decodes_to_nothing(padding: bytes = b"\n") -> RawServer:
    """Answers a complete small gzip body, then ``padding`` for ever (close-delimited): bytes that decode to nothing."""
    member = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    document = member.compress(b'{"status": "RUNNING"}') + member.flush()

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n" + document)
        _send_forever(conn, server, padding * 65536)

    return RawServer(handler)


def dripping_head(interval: float = 0.2) -> RawServer:
    """Sends a status line and headers one byte every ``interval`` seconds, never finishing them."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"z" * 60000
        for byte in head:
            if server.stopping.wait(interval):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    return RawServer(handler)


def endless_informational(interval: float = 0.05) -> RawServer:
    """Answers ``100 Continue`` every ``interval`` seconds, for ever: the final response never comes."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        _send_forever(conn, server, b"HTTP/1.1 100 Continue\r\n\r\n", interval)

    return RawServer(handler)


def endless_trailers(interval: float = 0.05) -> RawServer:
    """Sends a complete chunked body, then one trailer line every ``interval`` seconds, for ever."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        with contextlib.suppress(OSError):
            conn.sendall(head + b"2\r\n{}\r\n0\r\n")
        _send_forever(conn, server, b"X-Trailer: more\r\n", interval)

    return RawServer(handler)


def huge_status_line(size: int = 65000) -> RawServer:
    """Answers a status line of ``size`` letters, which is not HTTP at all (clients quote it in their error)."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 " + b"a" * size + b"\r\nContent-Length: 2\r\n\r\n{}")
        server.stopping.wait()

    return RawServer(handler)


def huge_location(size: int = 60000) -> RawServer:
    """Redirects to a URL whose host name is ``size`` letters."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://" + b"a" * size + b"/\r\nContent-Length: 0\r\n\r\n")
        server.stopping.wait()

    return RawServer(handler)


def many_headers(count: int = 200) -> RawServer:
    """Answers 200 with ``count`` headers (http.client refuses more than 100)."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        read_head(conn)
        headers = b"".join(b"X-Header-%d: %d\r\n" % (index, index) for index in range(count))
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Length: 2\r\n\r\n{}")
        server.stopping.wait()

    return RawServer(handler)


#: The hostile servers above that never end an exchange on their own, by name.
HOSTILE = {
    "dripping-head": dripping_head,
    "endless-1xx": endless_informational,
    "endless-trailers": endless_trailers,
}


class Backlogged:
    """A listener that never accepts and whose accept queue is full: connecting hangs.

    The kernel drops further SYNs, so clients see a *connect* timeout (on
    Linux; elsewhere the connection may be refused instead).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((host, port))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self.url = "http://{}:{}/".format(host, self.port)
        self._fillers: List[socket.socket] = []
        for _ in range(3):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((host, self.port))
            self._fillers.append(filler)

    def __enter__(self) -> Backlogged:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()


class LateServer:
    """Refuses connections until :meth:`start`, then answers like a :class:`ScriptedServer`.

    The port is reserved by binding a socket that does not listen: connections
    are refused, and no other process can take the port meanwhile.
    """

    def __init__(self, replies: Sequence[Reply] = (), host: str = "127.0.0.1") -> None:
        self._placeholder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._placeholder.bind((host, 0))
        self.host = host
        self.port = int(self._placeholder.getsockname()[1])
        self.url = "http://{}:{}/".format(host, self.port)
        self._replies = replies
        self.server: Optional[ScriptedServer] = None

    def start(self) -> None:
        """Begin listening (idempotent)."""
        if self.server is None:
            self._placeholder.close()
            self.server = ScriptedServer(self._replies, host=self.host, port=self.port).__enter__()

    def __enter__(self) -> LateServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._placeholder.close()
        if self.server is not None:
            self.server.close()


# -- a scripted, recording HTTP/1.1 server -------------------------------------------


@dataclass
class Reply:
    """One scripted response."""

    status: int = 200
    json: object = None
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)

    def render(self, keep_alive: bool) -> bytes:
        body = self.body
        headers = {"Content-Type": "text/plain"}
        if self.json is not None:
            body = jsonlib.dumps(self.json).encode("utf-8")
            headers["Content-Type"] = "application/json"
        headers.update(self.headers)
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        lines = ["HTTP/1.1 {} {}".format(self.status, _REASONS.get(self.status, "Whatever"))]
        lines.extend("{}: {}".format(key, value) for key, value in headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_REASONS = {200: "OK", 202: "Accepted", 302: "Found", 404: "Not Found", 429: "Too Many Requests", 503: "Unavailable"}


@dataclass
class RecordedRequest:
    """A request as the server saw it (header names lower-cased)."""

    method: str
    path: str
    headers: Dict[str, str]


class ScriptedServer(RawServer):
    """Answers the scripted replies in order (the last one repeats), with keep-alive.

    ``replies`` may also be a callable ``(RecordedRequest, index) -> Reply``.
    ``requests`` lists what was received (unless ``record=False``; ``count``
    counts them anyway); ``ssl_context`` serves TLS.
    """

    def __init__(
        self,
        replies: object = (),
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: Optional[ssl.SSLContext] = None,
        record: bool = True,
    ) -> None:
        super().__init__(self._handle, host=host, port=port)
        self.replies = replies
        self.ssl_context = ssl_context
        self.record = record
        self.count = 0
        self.requests: List[RecordedRequest] = []

    @property
    def url(self) -> str:
        return "{}://{}:{}/".format("https" if self.ssl_context else "http", self.host, self.port)

    def __enter__(self) -> ScriptedServer:
        super().__enter__()
        return self

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            index = self.count
            self.count += 1
            if self.record:
                self.requests.append(request)
        if callable(self.replies):
            return self.replies(request, index)  # type: ignore[no-any-return]
        script = list(self.replies) or [Reply(json={"status": "SUCCESS"})]  # type: ignore[call-overload]
        return script[min(index, len(script) - 1)]  # type: ignore[no-any-return]

    def _handle(self, conn: socket.socket, server: RawServer) -> None:
        if self.ssl_context is None:
            self._converse(conn)
            return
        conn.settimeout(5)
        try:
            wrapped = self.ssl_context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate
        self._replace(conn, wrapped)
        wrapped.settimeout(None)
        try:
            self._converse(wrapped)
        finally:
            wrapped.close()

    def _converse(self, conn: socket.socket) -> None:
        """Answer requests on one connection until the client closes it (or asks to)."""
        buffer = b""
        while not self.stopping.is_set():
            head, buffer = read_head(conn, buffer)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(buffer) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            reply = self._reply_for(RecordedRequest(method, path, headers))
            keep_alive = headers.get("connection", "").lower() != "close"
            conn.sendall(reply.render(keep_alive))
            if not keep_alive:
                return

