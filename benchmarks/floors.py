"""The floors: what one attempt costs in each HTTP client, from a raw socket up, next to every httsleep transport.

    python benchmarks/floors.py            # the full run (about a minute)
    python benchmarks/floors.py --quick    # a smoke run (seconds)

Two measurements against the asyncio job server (``async_server.py``, in
its own process), every client in its own process, the clients alternated
(A B C ... A B C ...) round after round so that drift of the machine hits
all alike:

- **per attempt**: one poll of ``--attempts`` attempts with zero interval on
  one kept-alive connection; each attempt is one ``GET`` and a check that the
  JSON document's ``status`` is ``SUCCESS`` (httsleep: a ``jsonpath``
  condition on ``status``). Reported: CPU and wall µs per attempt (the
  poll's time / attempts; imports, connecting and a warm-up poll are not
  counted).
- **a poll done on its first attempt**: ``--polls`` polls one after the
  other, each of a job that is done at once, each checking only the status
  code: ``httsleep.httsleep(url, status_code=200, session=s)`` (building the
  poller, running it, one request) against ``s.get(url)`` and a status
  check written by hand; and the same on the asyncio transports. Reported:
  CPU and wall µs per poll.

Among the floors, ``send_prepared`` is requests' ``send()`` of a request
prepared once per poll, as httsleep sends: httsleep's cost over it is its
own bookkeeping (bounds, body limits, conditions, hooks).

Ratios are medians of per-round ratios: each round's client and baseline
ran next to each other. Rows of httsleep's aiohttp transport are left out,
with a note, until this checkout has it (an ``AsyncHttSleeper`` given an
``aiohttp.ClientSession`` raising ``TypeError``).

A client process is ``python benchmarks/floors.py --child KEY CHECK URL
ATTEMPTS POLLS``; it prints one JSON object. ``--profile KEY`` prints a
cProfile of one client's measured poll instead (where its CPU goes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402 - after the path tweak
    SUCCESS,
    TIMEOUT,
    Client,
    JobServer,
    alternate,
    available,
    features,
    fmt_ratio,
    get_json,
    log,
    paired_ratio,
    peak_rss_kib,
    quartiles,
    report,
    split_url,
)

#: ``poll_all(urls)``: polls each URL in turn until its check holds.
PollAll = Callable[[List[str]], None]


#: Per-attempt rows, floors first; ``floor`` is the row their "× floor" column divides by.
ATTEMPT_CLIENTS = [
    Client("socket", "raw socket (hand-built HTTP/1.1)", floor="socket"),
    Client("http_client", "http.client.HTTPConnection", floor="socket"),
    Client("urllib3_pool", "urllib3 HTTPConnectionPool", floor="socket"),
    Client("urllib3", "urllib3 PoolManager", floor="socket"),
    Client("requests", "requests Session.get", floor="socket"),
    Client("prepare_send", "requests prepare_request + send, environment read once", floor="socket"),
    Client("send_prepared", "requests send(prepared), prepared and environment read once per poll", floor="socket"),
    Client("httsleep", "httsleep sync: HttSleeper(..., session=s).run()", floor="socket"),
    Client("streams", "asyncio streams (open_connection)", floor="streams"),
    Client("aiohttp", "aiohttp ClientSession.get + read()", "aiohttp", floor="streams"),
    Client("httpx", "httpx AsyncClient.get", "httpx", floor="streams"),
    Client("httsleep_httpx", "httsleep async on httpx: AsyncHttSleeper(..., client=httpx)", "httpx", "streams"),
    Client(
        "httsleep_aiohttp",
        "httsleep async on aiohttp: AsyncHttSleeper(..., client=aiohttp)",
        "aiohttp_transport",
        "streams",
    ),
    Client(
        "httsleep_default",
        "httsleep async, no client= (the loop's shared aiohttp session)",
        "aiohttp_transport",
        "streams",
    ),
]

FLOOR_NAMES = {"socket": "raw socket", "streams": "asyncio streams"}

#: The clients on asyncio (left out by ``run.py --no-async``).
ASYNC = {"streams", "aiohttp", "httpx", "httsleep_httpx", "httsleep_aiohttp", "httsleep_default"}

#: Rows of the first-attempt poll; each httsleep row is compared with the hand-written row before it.
FIRST_CLIENTS = [
    Client("requests", "requests: s.get(url) + status check"),
    Client("httsleep", "httsleep.httsleep(url, status_code=200, session=s)"),
    Client("httpx", "httpx: await client.get(url) + status check", "httpx"),
    Client("httsleep_httpx", "await async_httsleep(url, status_code=200, client=httpx client)", "httpx"),
    Client("aiohttp", "aiohttp: session.get(url) + read() + status check", "aiohttp"),
    Client(
        "httsleep_aiohttp", "await async_httsleep(url, status_code=200, client=aiohttp session)", "aiohttp_transport"
    ),
    Client("httsleep_default", "await async_httsleep(url, status_code=200), no client=", "aiohttp_transport"),
]

#: (what, numerator key, denominator key) for the per-attempt ratio table.
ATTEMPT_RATIOS = [
    ("httsleep sync ÷ urllib3 PoolManager", "httsleep", "urllib3"),
    ("httsleep sync ÷ urllib3 HTTPConnectionPool", "httsleep", "urllib3_pool"),
    ("httsleep sync ÷ prepare_request + send loop", "httsleep", "prepare_send"),
    ("httsleep sync ÷ requests Session.get loop", "httsleep", "requests"),
    ("httsleep sync ÷ send(prepared) loop (httsleep's own bookkeeping)", "httsleep", "send_prepared"),
    ("requests Session.get ÷ urllib3 PoolManager", "requests", "urllib3"),
    ("urllib3 PoolManager ÷ http.client", "urllib3", "http_client"),
    ("httsleep sync ÷ raw socket", "httsleep", "socket"),
    ("httsleep async on httpx ÷ httpx loop", "httsleep_httpx", "httpx"),
    ("httsleep async on aiohttp ÷ aiohttp loop", "httsleep_aiohttp", "aiohttp"),
    ("httsleep async, no client= ÷ aiohttp loop", "httsleep_default", "aiohttp"),
    ("httsleep async on aiohttp ÷ httsleep async on httpx", "httsleep_aiohttp", "httsleep_httpx"),
    ("aiohttp loop ÷ asyncio streams", "aiohttp", "streams"),
    ("httpx loop ÷ aiohttp loop", "httpx", "aiohttp"),
]

FIRST_RATIOS = [
    ("httsleep.httsleep() ÷ s.get + check", "httsleep", "requests"),
    ("async_httsleep on httpx ÷ client.get + check", "httsleep_httpx", "httpx"),
    ("async_httsleep on aiohttp ÷ session.get + check", "httsleep_aiohttp", "aiohttp"),
    ("async_httsleep, no client= ÷ session.get + check", "httsleep_default", "aiohttp"),
]


# -- the clients (in the child process) -----------------------------------------------------------


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("a response without Content-Length")


def request_bytes(url: str) -> bytes:
    host, port, target = split_url(url)
    return "GET {} HTTP/1.1\r\nHost: {}:{}\r\n\r\n".format(target, host, port).encode("latin-1")


def status_of(head: bytes) -> int:
    return int(head[9:12])


def is_done(status: int, body: bytes, check: str) -> bool:
    """The check every hand-written client makes: the JSON ``status`` (or, for CHECK=status, the status code)."""
    if check == "status":
        return status == 200
    return bool(json.loads(body)["status"] == SUCCESS)


class RawConnection:
    """HTTP/1.1 by hand on a blocking socket: send a request, read the head, Content-Length, the body."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        self.socket = socket.create_connection((host, port))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def exchange(self, request: bytes) -> Tuple[bytes, bytes]:
        self.socket.sendall(request)
        end = self.buffer.find(b"\r\n\r\n")
        while end < 0:
            self._receive()
            end = self.buffer.find(b"\r\n\r\n")
        head, start = self.buffer[:end], end + 4
        stop = start + content_length(head)
        while len(self.buffer) < stop:
            self._receive()
        body, self.buffer = self.buffer[start:stop], self.buffer[stop:]
        return head, body

    def _receive(self) -> None:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk


def client_socket(check: str) -> PollAll:
    connections: Dict[Tuple[str, int], RawConnection] = {}

    def poll_all(urls: List[str]) -> None:
        for url in urls:
            host, port, _ = split_url(url)
            connection = connections.get((host, port))
            if connection is None:
                connection = connections[(host, port)] = RawConnection(host, port)
            request = request_bytes(url)
            while True:
                head, body = connection.exchange(request)
                if is_done(status_of(head), body, check):
                    break

    return poll_all


def client_http_client(check: str) -> PollAll:
    import http.client

    connections: Dict[Tuple[str, int], http.client.HTTPConnection] = {}

    def poll_all(urls: List[str]) -> None:
        for url in urls:
            host, port, target = split_url(url)
            connection = connections.get((host, port))
            if connection is None:
                connection = connections[(host, port)] = http.client.HTTPConnection(host, port, timeout=TIMEOUT[1])
            while True:
                connection.request("GET", target)
                response = connection.getresponse()
                if is_done(response.status, response.read(), check):
                    break

    return poll_all


def client_urllib3_pool(check: str) -> PollAll:
    import urllib3

    timeout = urllib3.Timeout(connect=TIMEOUT[0], read=TIMEOUT[1])
    pools: Dict[Tuple[str, int], Any] = {}

    def poll_all(urls: List[str]) -> None:
        for url in urls:
            host, port, target = split_url(url)
            pool = pools.get((host, port))
            if pool is None:
                pool = pools[(host, port)] = urllib3.HTTPConnectionPool(host, port, maxsize=1, timeout=timeout)
            while True:
                response = pool.request("GET", target)
                if is_done(response.status, response.data, check):
                    break

    return poll_all


def client_urllib3(check: str) -> PollAll:
    import urllib3

    manager = urllib3.PoolManager(timeout=urllib3.Timeout(connect=TIMEOUT[0], read=TIMEOUT[1]))

    def poll_all(urls: List[str]) -> None:
        for url in urls:
            while True:
                response = manager.request("GET", url)
                if is_done(response.status, response.data, check):
                    break

    return poll_all


def response_done(response: Any, check: str) -> bool:
    """The check on a requests or httpx response, through its own ``json()``, as users write it."""
    if check == "status":
        return bool(response.status_code == 200)
    return bool(response.json()["status"] == SUCCESS)


def client_requests(check: str) -> PollAll:
    import requests

    session = requests.Session()

    def poll_all(urls: List[str]) -> None:
        for url in urls:
            while not response_done(session.get(url, timeout=TIMEOUT), check):
                pass

    return poll_all


def client_prepare_send(check: str) -> PollAll:
    """requests without reading the environment's proxy and CA settings on every attempt (once per poll)."""
    import requests

    session = requests.Session()

    def poll_all(urls: List[str]) -> None:
        for url in urls:
            request = requests.Request("GET", url)
            settings = None
            while True:
                prepared = session.prepare_request(request)
                if settings is None:
                    settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
                if response_done(session.send(prepared, timeout=TIMEOUT, **settings), check):
                    break

    return poll_all


def client_send_prepared(check: str) -> PollAll:
    """requests with the request prepared once per poll, as httsleep does: what is left is requests' send()."""
    import requests

    session = requests.Session()

    def poll_all(urls: List[str]) -> None:
        for url in urls:
            prepared = session.prepare_request(requests.Request("GET", url))
            settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
            while not response_done(session.send(prepared, timeout=TIMEOUT, **settings), check):
                pass

    return poll_all


def httsleep_condition(check: str) -> Dict[str, Any]:
    if check == "status":
        return {"status_code": 200}
    return {"jsonpath": [{"expression": "status", "value": SUCCESS}]}


def client_httsleep(check: str) -> PollAll:
    import requests

    import httsleep

    session = requests.Session()

    def poll_all(urls: List[str]) -> None:
        if check == "status":  # the call as users write it: build, run, one request
            for url in urls:
                httsleep.httsleep(url, status_code=200, session=session)
            return
        for url in urls:
            httsleep.HttSleeper(
                url, session=session, polling_interval=0, max_retries=None, **httsleep_condition(check)
            ).run()

    return poll_all


def on_event_loop(make: Callable[[], Any]) -> PollAll:
    """Runs ``poll_all_async(urls)`` on one event loop kept for the whole process (its connection too).

    ``await make()`` returns ``(poll_all_async, client)``; the client (an
    aiohttp session or an httpx client, or None) is closed at exit.
    """
    import asyncio
    import atexit

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    poll_all_async, client = loop.run_until_complete(make())
    if client is not None:
        close = getattr(client, "aclose", None) or client.close
        atexit.register(lambda: loop.run_until_complete(close()))

    def poll_all(urls: List[str]) -> None:
        loop.run_until_complete(poll_all_async(urls))

    return poll_all


def client_streams(check: str) -> PollAll:
    import asyncio

    async def make() -> Any:
        connections: Dict[Tuple[str, int], Tuple[Any, Any]] = {}

        async def poll_all(urls: List[str]) -> None:
            for url in urls:
                host, port, _ = split_url(url)
                if (host, port) not in connections:
                    connections[(host, port)] = await asyncio.open_connection(host, port)
                reader, writer = connections[(host, port)]
                request = request_bytes(url)
                while True:
                    writer.write(request)  # a ~100-byte request goes out at once: no drain() needed
                    head = await reader.readuntil(b"\r\n\r\n")
                    body = await reader.readexactly(content_length(head[:-4]))
                    if is_done(status_of(head), body, check):
                        break

        return poll_all, None

    return on_event_loop(make)


def client_aiohttp(check: str) -> PollAll:
    import aiohttp

    async def make() -> Any:
        session = aiohttp.ClientSession()

        async def poll_all(urls: List[str]) -> None:
            for url in urls:
                while True:
                    async with session.get(url) as response:
                        body = await response.read()
                    if is_done(response.status, body, check):
                        break

        return poll_all, session

    return on_event_loop(make)


def client_httpx(check: str) -> PollAll:
    import httpx

    async def make() -> Any:
        client = httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT[1], connect=TIMEOUT[0]))

        async def poll_all(urls: List[str]) -> None:
            for url in urls:
                while not response_done(await client.get(url), check):
                    pass

        return poll_all, client

    return on_event_loop(make)


def httsleep_async(check: str, make_client: Callable[[], Any]) -> PollAll:
    import httsleep

    async def make() -> Any:
        made = make_client()
        client = made.client if isinstance(made, SharedClients) else made

        async def poll_all(urls: List[str]) -> None:
            if check == "status":
                for url in urls:
                    await httsleep.async_httsleep(url, status_code=200, client=client)
                return
            for url in urls:
                sleeper = httsleep.AsyncHttSleeper(
                    url, client=client, polling_interval=0, max_retries=None, **httsleep_condition(check)
                )
                await sleeper.run()

        return poll_all, made

    return on_event_loop(make)


def client_httsleep_httpx(check: str) -> PollAll:
    import httpx

    return httsleep_async(check, lambda: httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT[1], connect=TIMEOUT[0])))


def client_httsleep_aiohttp(check: str) -> PollAll:
    import aiohttp

    return httsleep_async(check, aiohttp.ClientSession)


class SharedClients:
    """Stands for the clients polls share when given none: closing it closes them (at exit)."""

    client = None  # what the polls are given: no client

    async def aclose(self) -> None:
        from httsleep.aio import close_shared_clients

        await close_shared_clients()


def client_httsleep_default(check: str) -> PollAll:
    return httsleep_async(check, SharedClients)


CLIENTS: Dict[str, Callable[[str], PollAll]] = {
    "socket": client_socket,
    "http_client": client_http_client,
    "urllib3_pool": client_urllib3_pool,
    "urllib3": client_urllib3,
    "requests": client_requests,
    "prepare_send": client_prepare_send,
    "send_prepared": client_send_prepared,
    "httsleep": client_httsleep,
    "streams": client_streams,
    "aiohttp": client_aiohttp,
    "httpx": client_httpx,
    "httsleep_httpx": client_httsleep_httpx,
    "httsleep_aiohttp": client_httsleep_aiohttp,
    "httsleep_default": client_httsleep_default,
}


def job_urls(base: str, count: int, done_after: int) -> Tuple[List[str], List[str]]:
    ids = ["{}-{}".format(uuid.uuid4().hex[:12], i) for i in range(count)]
    return ids, ["{}/jobs/{}?done_after={}".format(base, job_id, done_after) for job_id in ids]


def measure(key: str, check: str, base: str, attempts: int, polls: int) -> Dict[str, Any]:
    """Time ``polls`` polls of ``attempts`` attempts each (after a warm-up), check the server saw exactly those."""
    poll_all = CLIENTS[key](check)
    poll_all(job_urls(base, 3, min(attempts, 3))[1])  # warm-up: imports, connection, caches
    ids, urls = job_urls(base, polls, attempts)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    poll_all(urls)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    for job_id in {ids[0], ids[-1]}:
        seen = len(get_json("{}/stats/{}".format(base, job_id)))
        if seen != attempts:
            raise SystemExit("{} polled job {} {} times, not {}".format(key, job_id, seen, attempts))
    per = attempts * polls if check == "json" else polls
    return {
        "key": key,
        "check": check,
        "attempts": attempts,
        "polls": polls,
        "wall_us": wall / per * 1e6,
        "cpu_us": cpu / per * 1e6,
        "maxrss_kb": peak_rss_kib(),
    }


def profile(key: str, attempts: int, limit: int = 30) -> str:
    """cProfile of one measured poll of ``key`` (after the warm-up): the functions by own time, and cumulative."""
    import cProfile
    import io
    import pstats

    with JobServer() as server:
        poll_all = CLIENTS[key]("json")
        poll_all(job_urls(server.url, 3, 3)[1])
        urls = job_urls(server.url, 1, attempts)[1]
        profiler = cProfile.Profile()
        profiler.runcall(poll_all, urls)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# -- the parent -----------------------------------------------------------------------------------


def summary(samples: List[Dict[str, Any]], key: str) -> Optional[Dict[str, float]]:
    mine = [s for s in samples if s["label"] == key]
    if not mine:
        return None
    c1, cpu, c3 = quartiles([s["cpu_us"] for s in mine])
    w1, wall, w3 = quartiles([s["wall_us"] for s in mine])
    rss = statistics.median(s["maxrss_kb"] for s in mine) / 1024
    return {"cpu": cpu, "cpu_q1": c1, "cpu_q3": c3, "wall": wall, "wall_q1": w1, "wall_q3": w3, "rss": rss}


def attempt_table(samples: List[Dict[str, Any]], clients: List[Client]) -> str:
    lines = [
        "| client | CPU µs/attempt | IQR | wall µs/attempt | IQR | × floor (CPU) | peak RSS MB |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for client in clients:
        row = summary(samples, client.key)
        if row is None:
            continue
        ratio = paired_ratio(samples, client.key, client.floor or "", "cpu_us")
        if client.floor == client.key:
            floor = "1 (floor)"
        elif ratio is None:
            floor = "–"
        else:
            floor = "{} (÷ {})".format(fmt_ratio(ratio), FLOOR_NAMES.get(client.floor or "", client.floor))
        lines.append(
            "| {} | {:.0f} | {:.0f}–{:.0f} | {:.0f} | {:.0f}–{:.0f} | {} | {:.1f} |".format(
                client.label,
                row["cpu"],
                row["cpu_q1"],
                row["cpu_q3"],
                row["wall"],
                row["wall_q1"],
                row["wall_q3"],
                floor,
                row["rss"],
            )
        )
    return "\n".join(lines)


def ratio_table(samples: List[Dict[str, Any]], ratios: List[Tuple[str, str, str]]) -> str:
    lines = ["| ratio (median of per-round ratios) | CPU | wall |", "|---|--:|--:|"]
    for what, mine, base in ratios:
        cpu = paired_ratio(samples, mine, base, "cpu_us")
        if cpu is None:
            continue
        lines.append(
            "| {} | {} | {} |".format(what, fmt_ratio(cpu), fmt_ratio(paired_ratio(samples, mine, base, "wall_us")))
        )
    return "\n".join(lines)


def first_table(samples: List[Dict[str, Any]], clients: List[Client]) -> str:
    lines = ["| poll | CPU µs/poll | IQR | wall µs/poll | IQR |", "|---|--:|--:|--:|--:|"]
    for client in clients:
        row = summary(samples, client.key)
        if row is not None:
            lines.append(
                "| {} | {:.0f} | {:.0f}–{:.0f} | {:.0f} | {:.0f}–{:.0f} |".format(
                    client.label, row["cpu"], row["cpu_q1"], row["cpu_q3"], row["wall"], row["wall_q1"], row["wall_q3"]
                )
            )
    return "\n".join(lines)


def run(
    rounds: int,
    attempts: int,
    polls: int,
    offered: Optional[Dict[str, Optional[str]]] = None,
    with_async: bool = True,
    only: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Both measurements; returns the samples, the notes and the Markdown.

    ``offered``: from :func:`features`; ``with_async``: include the asyncio
    clients; ``only``: the keys of the clients to run (default: all).
    """
    offered = features() if offered is None else offered
    notes: List[str] = []

    def wanted(clients: List[Client]) -> List[Client]:
        return [c for c in clients if (with_async or c.key not in ASYNC) and (only is None or c.key in only)]

    per_attempt, skipped = available(wanted(ATTEMPT_CLIENTS), offered)
    first, skipped_first = available(wanted(FIRST_CLIENTS), offered)
    notes += skipped + [note for note in skipped_first if note not in skipped]
    script = os.path.abspath(__file__)
    with JobServer() as server:
        log("floors: {} clients x {} rounds, {} attempts each".format(len(per_attempt), rounds, attempts))
        attempt_samples = alternate(
            per_attempt,
            rounds,
            lambda c: [sys.executable, script, "--child", c.key, "json", server.url, str(attempts), "1"],
            notes,
        )
        log("first-attempt polls: {} clients x {} rounds, {} polls each".format(len(first), rounds, polls))
        first_samples = alternate(
            first,
            rounds,
            lambda c: [sys.executable, script, "--child", c.key, "status", server.url, "1", str(polls)],
            notes,
        )
    markdown = "\n\n".join(
        [
            "Per attempt (one GET + JSON status check, one kept-alive connection), "
            "{} attempts per poll, {} round(s):".format(attempts, rounds),
            attempt_table(attempt_samples, per_attempt),
            ratio_table(attempt_samples, ATTEMPT_RATIOS),
            "A poll done on its first attempt (status code check), {} polls one after the other, {} round(s):".format(
                polls, rounds
            ),
            first_table(first_samples, first),
            ratio_table(first_samples, FIRST_RATIOS),
        ]
        + (["Not measured:\n\n" + "\n".join("- " + note for note in notes)] if notes else [])
    )
    return {"attempt_samples": attempt_samples, "first_samples": first_samples, "notes": notes, "markdown": markdown}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of alternation (default 5)")
    parser.add_argument("--attempts", type=int, default=500, help="attempts per measured poll (default 500)")
    parser.add_argument("--polls", type=int, default=300, help="first-attempt polls per client (default 300)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round, few attempts")
    parser.add_argument("--clients", help="comma-separated subset of: " + ", ".join(CLIENTS))
    parser.add_argument("--output", help="also write the samples as JSON here")
    parser.add_argument("--profile", metavar="KEY", choices=sorted(CLIENTS), help="cProfile one client's poll instead")
    parser.add_argument(
        "--child", nargs=5, metavar=("KEY", "CHECK", "URL", "ATTEMPTS", "POLLS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        key, check, url, attempts, polls = args.child
        print(json.dumps(measure(key, check, url.rstrip("/"), int(attempts), int(polls))))
        return 0
    if args.quick:
        args.rounds, args.attempts, args.polls = 1, 20, 10
    if args.profile:
        print(profile(args.profile, args.attempts))
        return 0
    result = run(args.rounds, args.attempts, args.polls, only=args.clients.split(",") if args.clients else None)
    report(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
