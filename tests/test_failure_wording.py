"""A timeout or a refused connection reads the same on every front end: the request, what did not happen, the bound.

The words come from one place (:mod:`httsleep.transports.rules`); the
exception keeps its HTTP library's class, so that ``except`` clauses written
for requests, httpx or aiohttp still match, and it is raised from the
library's own error.
"""

from __future__ import annotations

import errno
import pickle
import socket
from typing import Any

import aiohttp
import httpx
import pytest
import requests
from faultservers import hang_up, silent
from fronts import FRONTS, run

import httsleep

#: the URL's credentials, which no message may show
SECRETS = ("pw-WORDING", "tok-WORDING")

LIBRARY_ERRORS = {
    "refused": {"sync": requests.ConnectionError, "async": httpx.ConnectError, "aiohttp": aiohttp.ClientConnectorError},
    "silent": {"sync": requests.ReadTimeout, "async": httpx.ReadTimeout, "aiohttp": aiohttp.ServerTimeoutError},
}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _message(front: str, url: str, **options: Any) -> BaseException:
    with pytest.raises(Exception) as caught:
        run(front, url.replace("://", "://alice:pw-WORDING@") + "job?token=tok-WORDING", status_code=200, **options)
    return caught.value


def _general(text: str, port: int) -> str:
    """The message with what differs between runs (the port) taken out."""
    return text.replace(str(port), "PORT")


def test_a_refused_connection_reads_the_same_on_every_front_end():
    port = _closed_port()
    texts = {}
    for front in FRONTS:
        error = _message(front, "http://127.0.0.1:{}/".format(port))
        assert isinstance(error, LIBRARY_ERRORS["refused"][front])  # the library's own class, still
        assert error.__cause__ is not None  # raised from the library's own error
        text = str(error)
        assert not any(secret in text for secret in SECRETS)
        texts[front] = _general(text, port)
    assert texts["sync"].startswith("GET http://***@127.0.0.1:PORT/job?token=***: connection to 127.0.0.1:PORT refused")
    assert {text.split(" (")[0] for text in texts.values()} == {texts["sync"].split(" (")[0]}, texts


@pytest.mark.parametrize("front", ["sync", "aiohttp"])
def test_a_proxy_that_refuses_is_named_as_the_proxy_not_as_the_polled_host(front):
    """The polled host was never reached: the message names the proxy that refused (httpx does not say)."""
    import asyncio

    from fronts import aiohttp_by_default

    port = _closed_port()
    proxy = "http://127.0.0.1:{}".format(port)
    with pytest.raises(Exception) as caught:
        if front == "sync":
            session = requests.Session()
            session.trust_env = False
            session.proxies = {"http": proxy}
            run(front, "http://jobs.example/job", status_code=200, session=session)
        else:
            async def poll() -> None:
                async with aiohttp.ClientSession(proxy=proxy) as client:
                    await httsleep.AsyncHttSleeper("http://jobs.example/job", status_code=200, client=client).run()

            with aiohttp_by_default():
                asyncio.run(poll())
    text = _general(str(caught.value), port)
    assert text.startswith("GET http://jobs.example/job: connection to the proxy 127.0.0.1:PORT refused"), text


@pytest.mark.slow
def test_a_silent_server_is_worded_alike_with_the_bound_that_ran_out():
    """requests and httpx time each read (the read timeout); aiohttp the head as a whole (no per-read timer on it)."""
    texts = {}
    with silent() as server:
        for front in FRONTS:
            error = _message(front, server.url, request_timeout=(0.4, 0.3))
            assert isinstance(error, LIBRARY_ERRORS["silent"][front])
            assert not any(secret in str(error) for secret in SECRETS)
            texts[front] = _general(str(error), server.port)
    request = "GET http://***@127.0.0.1:PORT/job?token=***: "
    assert texts == {
        "sync": request + "no response within 0.3s (the read timeout)",
        "async": request + "no response within 0.3s (the read timeout)",
        "aiohttp": request + "no complete response head within 0.7s (the connect plus the read timeout)",
    }


@pytest.mark.slow
def test_the_deadline_reads_the_same_on_every_front_end():
    texts = {}
    with silent() as server:
        for front in FRONTS:
            error = _message(front, server.url, timeout=0.3, max_retries=1)
            texts[front] = _general(str(error.__cause__ or error), server.port)
    assert len(set(texts.values())) == 1, texts
    assert "before the deadline (timeout=0.3s)" in texts["sync"]


def test_a_server_that_hangs_up_reads_the_same_on_every_front_end():
    texts = {}
    with hang_up() as server:
        for front in FRONTS:
            texts[front] = _general(str(_message(front, server.url)), server.port).split(" (")[0]
    assert set(texts.values()) == {
        "GET http://***@127.0.0.1:PORT/job?token=***: 127.0.0.1:PORT closed the connection without answering"}, texts


def test_a_reworded_connection_error_keeps_its_errno_and_pickles_with_it():
    port = _closed_port()
    for front in FRONTS:
        error = _message(front, "http://127.0.0.1:{}/".format(port))
        if isinstance(error, OSError):  # aiohttp's ClientConnectorError is an OSError (requests' is an IOError too)
            again = pickle.loads(pickle.dumps(error))
            assert (again.errno, str(again)) == (error.errno, str(error))
            if front == "aiohttp":
                assert error.errno == errno.ECONNREFUSED
