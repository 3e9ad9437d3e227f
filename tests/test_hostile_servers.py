"""Servers that lie, drip, bomb and never finish: every promise holds on both front ends.

Each test runs the same hostile server (tests/faultservers.py) against the
synchronous and the asyncio front end, with the poll's defaults and with a
session or client of the caller's. A poll must end within its deadline plus
:data:`MARGIN`; without a deadline, within its request timeout; memory
(measured in a subprocess, under a cap) must stay within a small multiple of
``max_body_size``; and an asyncio poll must never hold the event loop for
more than a tenth of a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any, Callable, List, Tuple

import aiohttp
import faultservers
import httpx
import pytest
import requests
from faultservers import HOSTILE, bomb, endless, huge_location, huge_status_line, many_headers
from fronts import FRONTS, aiohttp_by_default, run

from httsleep import AsyncHttSleeper, BodyTooLarge, GaveUp, HttSleeper, is_temp_network_error
from httsleep.policy import DEFAULT_MAX_BODY_SIZE

#: How far past its bound a poll may end.
MARGIN = 0.5
#: The longest an asyncio poll may hold the event loop.
LOOP_BLOCK = 0.1

def poll(front: str, url: str, *, own: bool = False, **options: Any) -> Tuple[Any, float, float]:
    """(the response or the exception, seconds taken, the longest the event loop was held).

    ``own``: send with a session/client of the caller's instead of the one the poll opens.
    ``front``: ``"sync"`` (requests), ``"async"`` (httpx) or ``"aiohttp"``.
    """
    options.setdefault("status_code", 200)
    if front == "sync":
        start = time.monotonic()
        try:
            if own:
                with requests.Session() as session:
                    outcome: Any = HttSleeper(url, session=session, **options).run()
            else:
                outcome = HttSleeper(url, **options).run()
        except Exception as error:  # noqa: BLE001 - the outcome under test
            outcome = error
        return outcome, time.monotonic() - start, 0.0
    with aiohttp_by_default(front == "aiohttp"):
        return asyncio.run(_poll_async(url, own, options, front))


async def _poll_async(url: str, own: bool, options: Any, front: str) -> Tuple[Any, float, float]:
    loop = asyncio.get_running_loop()
    gaps: List[float] = []

    async def tick() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(0.005)
            now = loop.time()
            gaps.append(now - last - 0.005)
            last = now

    ticker = asyncio.ensure_future(tick())
    start = time.monotonic()
    try:
        if own and front == "aiohttp":
            async with aiohttp.ClientSession() as session:
                outcome: Any = await AsyncHttSleeper(url, client=session, **options).run()
        elif own:
            async with httpx.AsyncClient(follow_redirects=True) as client:
                outcome = await AsyncHttSleeper(url, client=client, **options).run()
        else:
            outcome = await AsyncHttSleeper(url, **options).run()
    except Exception as error:  # noqa: BLE001 - the outcome under test
        outcome = error
    seconds = time.monotonic() - start
    ticker.cancel()
    return outcome, seconds, max(gaps, default=0.0)


def is_timeout(error: BaseException) -> bool:
    return isinstance(error, (requests.Timeout, httpx.TimeoutException, aiohttp.ServerTimeoutError))


# -- time: a response that never ends ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("own", [False, True], ids=["own-session", "callers-session"])
@pytest.mark.parametrize("attack", sorted(HOSTILE))
@pytest.mark.parametrize("front", FRONTS)
def test_a_response_that_never_ends_cannot_hold_a_poll_past_its_deadline(front, attack, own):
    """Headers dripped a byte per 0.2 s, endless ``100 Continue``, endless trailers: timeout=1.5 ends it."""
    with HOSTILE[attack]() as server:
        outcome, seconds, held = poll(front, server.url, own=own, timeout=1.5)
    assert isinstance(outcome, GaveUp), repr(outcome)
    assert outcome.limit == "timeout"
    assert is_timeout(outcome.last_exception)
    assert "before the deadline (timeout=1.5s)" in str(outcome.last_exception)
    assert 1.4 < seconds < 1.5 + MARGIN
    assert held < LOOP_BLOCK


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(HOSTILE))
@pytest.mark.parametrize("front", FRONTS)
def test_without_a_deadline_the_request_timeout_bounds_a_response_that_never_ends(front, attack):
    """No timeout=: the head must come within connect + read (0.8 s), each wait for the body within read."""
    with HOSTILE[attack]() as server:
        outcome, seconds, held = poll(front, server.url, request_timeout=(0.3, 0.5))
    assert is_timeout(outcome), repr(outcome)
    bound = 0.5 if attack == "endless-trailers" else 0.8
    assert "within {:g}s".format(bound) in str(outcome)
    assert seconds < bound + MARGIN
    assert held < LOOP_BLOCK


@pytest.mark.parametrize("attack", [huge_status_line, huge_location], ids=["status-line", "location"])
@pytest.mark.parametrize("front", FRONTS)
def test_64_kb_of_server_text_in_an_error_costs_neither_time_nor_the_event_loop(front, attack):
    """The text is quoted in the error (redacted in linear time): the poll ends at once, the loop runs on."""
    with attack() as server:
        outcome, seconds, held = poll(front, server.url, timeout=1, max_retries=1)
    assert isinstance(outcome, Exception)
    assert seconds < 1 + MARGIN
    assert held < LOOP_BLOCK
    assert len(str(outcome)) < 70_000


def test_more_headers_than_http_clients_accept_is_not_a_temporary_network_error():
    """http.client refuses more than 100 headers: an error of the server, not of the network."""
    with many_headers() as server:
        outcome, _, _ = poll("sync", server.url, retry_transient=True)
    assert isinstance(outcome, requests.ConnectionError), repr(outcome)
    assert "more than 100 headers" in str(outcome)
    assert not is_temp_network_error(outcome)


@pytest.mark.parametrize("front", FRONTS)
def test_a_redirect_to_a_host_name_no_one_can_resolve_is_refused_before_sending(front):
    with huge_location(size=100) as server:
        outcome, _, _ = poll(front, server.url)
    assert isinstance(outcome, (requests.exceptions.InvalidURL, httpx.InvalidURL, aiohttp.InvalidURL)), repr(outcome)
    assert "its redirect cannot be requested (Location: the host name is not valid" in str(outcome)


# -- memory: bombs and endless bodies, measured in a subprocess ------------------------------------

_CHILD = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression fails here, not the machine

    import httsleep
    from httsleep import AsyncHttSleeper, HttSleeper

    front, url, limit = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

    def status(field):  # kB in /proc/self/status; VmHWM is this process's own peak (ru_maxrss is not:
        with open("/proc/self/status") as lines:  # after fork and exec it still counts the parent's)
            return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))

    def rss():
        return status("VmRSS")

    def peak():
        return status("VmHWM")

    options = dict(status_code=200, max_body_size=limit, max_retries=2, polling_interval=0, retry_transient=True)

    async def on_aiohttp():
        import aiohttp
        async with aiohttp.ClientSession() as session:
            await AsyncHttSleeper(url, client=session, **options).run()

    before = rss()
    try:
        if front == "sync":
            HttSleeper(url, **options).run()
        elif front == "async":
            asyncio.run(AsyncHttSleeper(url, **options).run())
        else:
            asyncio.run(on_aiohttp())
        outcome = {"error": None}
    except Exception as error:
        outcome = {"error": type(error).__name__, "size": getattr(error, "size", None)}
    outcome.update(before=before, peak=peak())
    print(json.dumps(outcome))
    """
)


def measure(front: str, url: str, limit: Any = DEFAULT_MAX_BODY_SIZE) -> dict:
    """Poll ``url`` in a fresh interpreter capped at 2 GiB; return what it raised and its memory."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("reads /proc/self/status")
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, front, url, json.dumps(limit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


SERVERS: List[Tuple[str, Callable[[], faultservers.RawServer]]] = [
    ("gzip-bomb", lambda: bomb("gzip")),
    ("deflate-bomb", lambda: bomb("deflate")),
    ("content-length-1TiB", lambda: endless("length")),
    ("chunked-forever", lambda: endless("chunked")),
    ("close-delimited-forever", lambda: endless("close")),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, server", SERVERS, ids=[name for name, _ in SERVERS])
@pytest.mark.parametrize("front", FRONTS)
def test_bombs_and_endless_bodies_stop_at_max_body_size_in_bounded_memory(front, name, server):
    """A 10 MB gzip bomb (10 GB inflated) or an endless body: BodyTooLarge, once, in < 3x the limit.

    retry_transient=True is on: BodyTooLarge is not a network error, so the
    bomb is not downloaded again.
    """
    with server() as hostile:
        found = measure(front, hostile.url)
        connections = hostile.connections
    assert found["error"] == "BodyTooLarge"
    assert DEFAULT_MAX_BODY_SIZE < found["size"] <= DEFAULT_MAX_BODY_SIZE + 256 * 1024
    assert found["peak"] - found["before"] < 3 * DEFAULT_MAX_BODY_SIZE, found
    assert connections == 1


@pytest.mark.slow
def test_the_memory_measurement_sees_a_body_held_whole():
    """The control for the test above: without a limit, a 100 MB decoded body shows as 100 MB more."""
    with bomb("gzip", compressed=100 * 1024) as hostile:  # ~100 MB decoded, then the stream ends
        found = measure("sync", hostile.url, limit=None)
    assert found["error"] == "RequestsBodyDecodingError"  # the bomb has no end marker
    assert found["peak"] - found["before"] > 90 * 1024 * 1024, found


@pytest.mark.parametrize("front", FRONTS)
def test_a_body_over_the_limit_is_body_too_large_with_the_response(front):
    with endless("chunked") as server:
        outcome, _, _ = poll(front, server.url, max_body_size=100_000, retry_transient=True)
    assert isinstance(outcome, BodyTooLarge), repr(outcome)
    assert outcome.limit == 100_000 and 100_000 < outcome.size <= 100_000 + 65_536 + 8
    assert outcome.response.status_code == 200
    assert "larger than max_body_size=100000 bytes" in str(outcome)
    assert server.connections == 1


# -- the other requests of an attempt: an auth flow's second request, a redirect on the same connection ---------

DIGEST_CHALLENGE = b'WWW-Authenticate: Digest realm="jobs", nonce="abc123", qop="auth", algorithm=MD5\r\n'


def digest_server(challenge_body: bytes, answer: Callable[[Any], None], encoding: bytes = b"") -> Any:
    """A server asking for digest auth: a 401 with ``challenge_body``, then ``answer(conn)`` once signed."""

    def handler(conn: Any, server: Any) -> None:
        rest = b""
        while True:
            head, rest = faultservers.read_head(conn, rest)
            if head is None:
                return
            if b"\r\nauthorization: digest" not in head.lower():
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\n" + DIGEST_CHALLENGE + encoding
                             + b"Content-Length: %d\r\n\r\n" % len(challenge_body) + challenge_body)
            else:
                answer(conn)
                return

    return faultservers.RawServer(handler)


# aiohttp takes no auth flow as auth= (only basic auth): these run on the two transports that do
AUTH_FLOW_FRONTS = ["sync", "async"]


def digest(front: str) -> Any:
    return requests.auth.HTTPDigestAuth("alice", "s3cret") if front == "sync" else httpx.DigestAuth("alice", "s3cret")


def gzip_bomb_answer(conn: Any) -> None:
    body = faultservers.compression_bomb("gzip", compressed=200_000)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


@pytest.mark.parametrize("bombed", ["challenge", "answer"])
@pytest.mark.parametrize("front", AUTH_FLOW_FRONTS)
def test_the_bodies_of_an_auth_flow_are_bounded_too(front, bombed):
    """Digest auth sends a second request; the 401 before it and the answer to it are read bounded.

    requests' digest hook returned the answer unread, and httpx read the 401 whole through its own
    decoder: a gzip bomb in either inflated to gigabytes.
    """
    bomb_body = faultservers.compression_bomb("gzip", compressed=200_000)
    challenge = (bomb_body, b"Content-Encoding: gzip\r\n") if bombed == "challenge" else (b"sign, please", b"")
    answer = gzip_bomb_answer if bombed == "answer" else (
        lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    with digest_server(challenge[0], answer, encoding=challenge[1]) as server:
        outcome, _, _ = poll(front, server.url, auth=digest(front), max_body_size=1_000_000)
    assert isinstance(outcome, BodyTooLarge), repr(outcome)
    assert outcome.response.status_code == (401 if bombed == "challenge" else 200)
    assert 1_000_000 < outcome.size <= 1_000_000 + 65_536 * 2


@pytest.mark.parametrize("front", AUTH_FLOW_FRONTS)
def test_an_auth_flow_that_succeeds_returns_the_signed_answer_with_its_history(front):
    with digest_server(b"sign, please", lambda conn: conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) as server:
        outcome, _, _ = poll(front, server.url, auth=digest(front))
    assert outcome.status_code == 200 and outcome.content == b"ok", repr(outcome)
    assert [hop.status_code for hop in outcome.history] == [401]


def drip(conn: Any, data: bytes, interval: float = 0.2) -> None:
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(interval)


@pytest.mark.slow
@pytest.mark.parametrize("front", AUTH_FLOW_FRONTS)
def test_an_auth_flows_second_answer_cannot_hold_a_poll_past_its_deadline(front):
    """The signed answer's body drips a byte per 0.2 s: timeout=1.5 ends the poll (it took 49 s on sync)."""
    def answer(conn: Any) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
        drip(conn, b"x" * 200)

    with digest_server(b"sign, please", answer) as server:
        outcome, seconds, held = poll(front, server.url, auth=digest(front), timeout=1.5)
    assert isinstance(outcome, GaveUp) and outcome.limit == "timeout", repr(outcome)
    assert seconds < 1.5 + MARGIN and held < LOOP_BLOCK


def same_connection_redirect() -> Any:
    """A redirect on a keep-alive connection, then the next hop's head dripped a byte per 0.2 s on that connection."""

    def handler(conn: Any, server: Any) -> None:
        head, rest = faultservers.read_head(conn)
        if head is None:
            return
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")
        head, rest = faultservers.read_head(conn, rest)
        if head is not None:
            drip(conn, b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 100)

    return faultservers.RawServer(handler)


@pytest.mark.slow
@pytest.mark.parametrize("bound", ["deadline", "request-timeout"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_redirect_on_the_same_connection_cannot_drip_its_head_past_the_bounds(front, bound):
    """Each hop's head is bounded, even on the connection the hop before used (sync: 53 s before)."""
    options: Any = {"timeout": 1.5} if bound == "deadline" else {"request_timeout": (0.3, 0.5)}
    with same_connection_redirect() as server:
        outcome, seconds, held = poll(front, server.url, **options)
        connections = server.connections
    limit = 1.5 if bound == "deadline" else 0.8
    assert isinstance(outcome, GaveUp) or is_timeout(outcome), repr(outcome)
    assert seconds < limit + MARGIN and held < LOOP_BLOCK
    assert connections == 1


# -- cookies: a server cannot grow the jar of the session a poll opens -----------------------------------------


def cookie_monster() -> Any:
    """Every answer sets 15 new 5 KB cookies and 60 new small ones (under httpx's 100 KB head), and asks again."""

    def handler(conn: Any, server: Any) -> None:
        rest = b""
        answer = 0
        while True:
            head, rest = faultservers.read_head(conn, rest)
            if head is None:
                return
            answer += 1
            cookie = next((line for line in head.split(b"\r\n") if line.lower().startswith(b"cookie:")), b"")
            server.cookie_headers.append(len(cookie))
            big = b"".join(b"Set-Cookie: big%d_%d=%s; Path=/\r\n" % (answer, i, b"v" * 5000) for i in range(15))
            small = b"".join(b"Set-Cookie: s%d_%d=v; Path=/\r\n" % (answer, i) for i in range(60))
            conn.sendall(b"HTTP/1.1 503 Busy\r\n" + big + small + b"Content-Length: 0\r\n\r\n")

    server = faultservers.RawServer(handler)
    server.cookie_headers = []  # type: ignore[attr-defined]
    return server


@pytest.mark.parametrize("front", FRONTS)
def test_the_cookie_jar_of_a_polls_own_session_is_bounded(front):
    """RFC 6265's limits: no cookie over 4096 bytes, at most 50 per domain; the jar does not grow with attempts."""
    with cookie_monster() as server:
        outcome, _, _ = poll(front, server.url, max_retries=10, polling_interval=0)
        sent = server.cookie_headers
    assert isinstance(outcome, GaveUp), repr(outcome)
    assert sent[0] == 0 and len(sent) == 10
    # at most 50 small cookies ("sN_M=v", under 12 bytes each) go back: no 5 KB one, and no more with time
    assert all(size < 50 * 12 + 10 for size in sent[1:]), sent
    assert sent[-1] == sent[1]


def test_the_cookie_policy_keeps_replacing_a_cookie_it_holds():
    from http.cookiejar import CookieJar

    from httsleep._cookies import MAX_COOKIES_PER_DOMAIN, limit_cookies

    jar = requests.cookies.RequestsCookieJar()
    limit_cookies(jar)
    for index in range(MAX_COOKIES_PER_DOMAIN + 10):
        jar.set_cookie(requests.cookies.create_cookie("c{}".format(index), "v", domain="example.com"))
    assert isinstance(jar, CookieJar) and len(jar) == MAX_COOKIES_PER_DOMAIN + 10  # set_cookie is the caller's
    request = requests.Request("GET", "http://example.com/").prepare()
    response = requests.Response()
    response.raw = type("Raw", (), {"_original_response": type("Msg", (), {"msg": _Headers(
        ["Set-Cookie: c0=replaced; Path=/", "Set-Cookie: new=v; Path=/"])})()})()
    requests.cookies.extract_cookies_to_jar(jar, request, response.raw)
    assert jar.get("c0", domain="example.com") == "replaced"  # a cookie the jar holds may be replaced
    assert "new" not in jar.keys()  # a new one is refused: the domain has its 50 already


class _Headers:
    """The part of ``http.client.HTTPMessage`` that cookie extraction reads."""

    def __init__(self, lines: List[str]) -> None:
        self.lines = lines

    def get_all(self, name: str, default: Any = None) -> List[str]:
        found = [line.split(": ", 1)[1] for line in self.lines if line.split(":")[0].lower() == name.lower()]
        return found or default


@pytest.mark.parametrize("charset", ["undefined", "base64", "no-such-charset"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_charset_that_cannot_decode_text_is_read_as_no_charset(front, charset):
    """``charset=undefined`` names a codec that always fails: requests' .text and .json() raised UnicodeError."""
    headers = {"Content-Type": "application/json; charset=" + charset}
    with faultservers.ScriptedServer([faultservers.Reply(body=b'{"status": "DONE"}', headers=headers)]) as server:
        response = run(front, server.url, json={"status": "DONE"})
    assert response.json() == {"status": "DONE"} and response.text == '{"status": "DONE"}'
