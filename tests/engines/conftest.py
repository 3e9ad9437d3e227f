"""What the job-engine tests share: a real redis-server, started by the tests on loopback.

These tests run in a CI stage of their own, in a virtualenv with the engines
installed (``.ci/run``, ``tests/engines/requirements*.txt``); the main test
run leaves this folder out (see ``tests/conftest.py``). A test that needs
redis-server fails when it is missing: it is never skipped.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a redis-server of this test session (no persistence, loopback only)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (.ci/run installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers_ping(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("redis-server did not start (exit code {})".format(server.poll()))
            time.sleep(0.02)
        yield "redis://127.0.0.1:{}/0".format(port)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    """The session's Redis, emptied before each test (``FLUSHALL``)."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"FLUSHALL\r\n")
        assert conn.recv(16).startswith(b"+OK")
    yield redis_url
