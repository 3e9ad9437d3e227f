"""A real redis-server for the tests of httsleep.redis: started on loopback (a free port or a unix socket).

The server is started, stopped, killed, paused (SIGSTOP) and resumed by the
pid of the process this module started, never by name. When redis-server is
not installed, asking for one fails the test (``pytest.fail``): these tests
are never skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional, Sequence

import pytest


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process: no persistence, loopback only; ``url`` stays the same across restarts.

    :param folder: its working directory (and its unix socket, with ``unix_socket=True``).
    """

    def __init__(self, folder: Path, *, unix_socket: bool = False, extra: Sequence[str] = ()) -> None:
        binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                                  else None)
        if binary is None:
            pytest.fail("redis-server is not installed: `apt-get install redis-server` (the httsleep.redis tests "
                        "need a real one)")
        self.binary = binary
        self.folder = folder
        self.unix_socket: Optional[Path] = folder / "redis.sock" if unix_socket else None
        self.port = 0 if unix_socket else free_port()
        self.process: Optional[subprocess.Popen] = None
        self.starts = 0
        self.extra = list(extra)

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return "unix://{}?db=0".format(self.unix_socket)
        return "redis://127.0.0.1:{}/0".format(self.port)

    def _command(self) -> List[str]:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.folder), "--protected-mode", "yes", "--maxclients", "1000"]
        if self.unix_socket is not None:
            command += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        return command + self.extra

    def start(self, timeout: float = 10) -> RedisServer:
        """Start it and wait until it answers PING."""
        assert self.process is None or self.process.poll() is not None, "already running"
        log = open(self.folder / "redis-server.{}.log".format(self.starts), "wb")
        try:
            self.process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None:
                pytest.fail("redis-server exited with {} at start; see {}".format(self.process.returncode,
                                                                                 self.folder))
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("redis-server did not answer within {}s".format(timeout))
            time.sleep(0.01)
        return self

    def _connect(self, timeout: float) -> socket.socket:
        if self.unix_socket is not None:
            conn = socket.socket(socket.AF_UNIX)
            conn.settimeout(timeout)
            conn.connect(str(self.unix_socket))
            return conn
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def command(self, *words: str, timeout: float = 5) -> bytes:
        """Send one inline command and return the start of the reply (for PING, FLUSHALL)."""
        with self._connect(timeout) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            return conn.recv(4096)

    def answers(self) -> bool:
        try:
            return self.command("PING", timeout=0.2).startswith(b"+PONG")
        except OSError:
            return False

    def flushall(self) -> None:
        assert self.command("FLUSHALL").startswith(b"+OK")

    def kill(self) -> None:
        """SIGKILL: gone at once, every connection reset, every key lost."""
        self._signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal(signal.SIGCONT)

    def restart(self) -> RedisServer:
        """Start it again, on the same port or socket (after :meth:`kill` or :meth:`stop`)."""
        return self.start()

    def stop(self) -> None:
        """Terminate it (resumed first, if paused) and wait; harmless when it is not running."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def _signal(self, number: int) -> None:
        process = self.process
        assert process is not None and process.poll() is None, "redis-server is not running"
        os.kill(process.pid, number)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RedisClusterNodes:
    """Three redis-server processes in cluster mode (masters only), joined by ``redis-cli --cluster create``."""

    def __init__(self, folder: Path, nodes: int = 3) -> None:
        self.servers = []
        for index in range(nodes):
            node_folder = folder / "node{}".format(index)
            node_folder.mkdir()
            # the cluster bus port is given: the default (port + 10000) overflows for a high free port
            self.servers.append(RedisServer(node_folder, extra=["--cluster-enabled", "yes", "--cluster-config-file",
                                                                 str(node_folder / "nodes.conf"),
                                                                 "--cluster-port", str(free_port())]))

    @property
    def ports(self) -> List[int]:
        return [server.port for server in self.servers]

    def start(self, timeout: float = 20) -> RedisClusterNodes:
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("redis-cli is not installed (it comes with redis-server): it joins the cluster's nodes")
        for server in self.servers:
            server.start()
        addresses = ["127.0.0.1:{}".format(port) for port in self.ports]
        subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=timeout)
        deadline = time.monotonic() + timeout
        while not all(b"cluster_state:ok" in server.command("CLUSTER", "INFO") for server in self.servers):
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("the Redis cluster did not become ready within {}s".format(timeout))
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> RedisClusterNodes:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
