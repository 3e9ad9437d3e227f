"""What the job-engine tests share: a real redis-server, started by the tests on loopback, and a job server.

These tests run in a CI stage of their own, in a virtualenv with the engines
installed (``.ci/run``, ``tests/engines/requirements*.txt``); the main test
run leaves this folder out (see ``tests/conftest.py``). A test that needs
redis-server fails when it is missing: it is never skipped. The plain helpers
are in engine_helpers.py.
"""

from __future__ import annotations

import shutil
import socket
from typing import Any, Iterator

import pytest
from engine_helpers import BackgroundProcess, JobServer, free_port, wait_for


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
    server = BackgroundProcess(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--protected-mode", "yes"],
        folder / "redis-server.log",
    )
    try:
        wait_for(lambda: _answers_ping(port), 10, "redis-server to start", interval=0.02, process=server)
        yield "redis://127.0.0.1:{}/0".format(port)
    finally:
        server.stop()


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    """The session's Redis, emptied before each test (``FLUSHALL``)."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"FLUSHALL\r\n")
        assert conn.recv(16).startswith(b"+OK")
    yield redis_url


@pytest.fixture
def redis(redis_db: str) -> Iterator[Any]:
    """A ``redis.Redis`` client of the test's (emptied) Redis."""
    from redis import Redis  # not at the top: the Airflow virtualenv has no redis

    connection = Redis.from_url(redis_db)
    yield connection
    connection.close()


@pytest.fixture
def job_server() -> Iterator[JobServer]:
    """A :class:`~engine_helpers.JobServer` of this test's own; ``job_server.job(name, *answers)`` adds a job."""
    with JobServer() as server:
        yield server
