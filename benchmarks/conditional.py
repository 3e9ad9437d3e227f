"""Bytes per attempt, with and without conditional polling (``conditional=True``).

    python benchmarks/conditional.py            # the full run (seconds)
    python benchmarks/conditional.py --quick    # a smoke run

Every client polls its own ``/big/<id>?done_after=N`` on the asyncio job
server (``async_server.py``): a ~100 kB JSON document that stays the same
(``PENDING``) for N-1 requests and is ``SUCCESS`` on the N-th, with an
``ETag`` and a ``Last-Modified``, gzip-encoded when the client accepts gzip
(all of them do by default), and ``304 Not Modified`` without a body when
the request's ``If-None-Match`` names the current ETag. Polls have zero
interval and check the document's ``status`` (httsleep: a ``jsonpath``
condition).

The server counts what it writes for each answer, head and body: that is
what the client receives. Reported per client: the mean bytes per attempt,
the first answer's size, the median answer (what an attempt costs once the
poll has the validators), the request head's mean size, CPU µs per
attempt, and, for each conditional row, its mean bytes per attempt ÷ the
same transport without ``conditional``. With N attempts a conditional poll
receives the document twice (first and last) and N-2 heads of a 304, so
that ratio is about 2/N plus a head's share: with the default N = 100,
about 1/40.

Clients: plain requests (no conditional headers; also with
``Accept-Encoding: identity``, to show what gzip saves), a conditional
requests loop written by hand (the floor), and httsleep sync, async on
httpx and async on aiohttp, each without and with ``conditional=True``.
Rows whose feature this checkout lacks are left out with a note.

A client process is ``python benchmarks/conditional.py --child KEY URL ATTEMPTS``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402 - after the path tweak
    SUCCESS,
    TIMEOUT,
    Client,
    JobServer,
    alternate,
    available,
    features,
    get_json,
    log,
    paired_ratio,
    quartiles,
    report,
)

CLIENTS = [
    Client("requests_identity", "requests Session.get, Accept-Encoding: identity (no gzip)"),
    Client("requests", "requests Session.get (gzip), no conditional headers"),
    Client("requests_conditional", "requests loop with If-None-Match, by hand", floor="requests"),
    Client("httsleep", "httsleep sync"),
    Client("httsleep_conditional", "httsleep sync, conditional=True", "conditional", floor="httsleep"),
    Client("httsleep_httpx", "httsleep async on httpx", "httpx"),
    Client(
        "httsleep_httpx_conditional",
        "httsleep async on httpx, conditional=True",
        "async_conditional",
        floor="httsleep_httpx",
    ),
    Client("httsleep_aiohttp", "httsleep async on aiohttp", "aiohttp_transport"),
    Client(
        "httsleep_aiohttp_conditional",
        "httsleep async on aiohttp, conditional=True",
        "aiohttp_conditional",
        floor="httsleep_aiohttp",
    ),
]

#: The clients on asyncio (left out by ``run.py --no-async``).
ASYNC = {c.key for c in CLIENTS if c.key.startswith(("httsleep_httpx", "httsleep_aiohttp"))}

#: The bytes a conditional poll may receive, at most, per byte of the same poll without (the issue's target).
TARGET = 1 / 20

Poll = Callable[[str], None]


# -- the clients (in the child process) -----------------------------------------------------------


def done(response: Any) -> bool:
    return bool(response.json()["status"] == SUCCESS)


def client_requests(encoding: Optional[str] = None) -> Poll:
    import requests

    session = requests.Session()
    if encoding:
        session.headers["Accept-Encoding"] = encoding

    def poll(url: str) -> None:
        while not done(session.get(url, timeout=TIMEOUT)):
            pass

    return poll


def client_requests_conditional() -> Poll:
    import requests

    session = requests.Session()

    def poll(url: str) -> None:
        etag = None
        while True:
            headers = {"If-None-Match": etag} if etag else None
            response = session.get(url, headers=headers, timeout=TIMEOUT)
            if response.status_code == 304:
                continue  # unchanged: still pending
            if done(response):
                return
            etag = response.headers.get("ETag")

    return poll


CONDITION = {"jsonpath": [{"expression": "status", "value": SUCCESS}]}


def client_httsleep(conditional: bool) -> Poll:
    import requests

    import httsleep

    session = requests.Session()
    options: Dict[str, Any] = {"conditional": True} if conditional else {}

    def poll(url: str) -> None:
        httsleep.HttSleeper(url, session=session, polling_interval=0, max_retries=None, **CONDITION, **options).run()

    return poll


def client_httsleep_async(conditional: bool, make_client: Callable[[], Any]) -> Poll:
    import asyncio
    import atexit

    import httsleep

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def make() -> Any:
        return make_client()

    client = loop.run_until_complete(make())  # made on the loop: aiohttp wants one running
    close = getattr(client, "aclose", None) or client.close
    atexit.register(lambda: loop.run_until_complete(close()))
    options: Dict[str, Any] = {"conditional": True} if conditional else {}

    def poll(url: str) -> None:
        sleeper = httsleep.AsyncHttSleeper(
            url, client=client, polling_interval=0, max_retries=None, **CONDITION, **options
        )
        loop.run_until_complete(sleeper.run())

    return poll


def make_httpx() -> Any:
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT[1], connect=TIMEOUT[0]))


def make_aiohttp() -> Any:
    import aiohttp

    return aiohttp.ClientSession()


VARIANTS: Dict[str, Callable[[], Poll]] = {
    "requests_identity": lambda: client_requests("identity"),
    "requests": client_requests,
    "requests_conditional": client_requests_conditional,
    "httsleep": lambda: client_httsleep(False),
    "httsleep_conditional": lambda: client_httsleep(True),
    "httsleep_httpx": lambda: client_httsleep_async(False, make_httpx),
    "httsleep_httpx_conditional": lambda: client_httsleep_async(True, make_httpx),
    "httsleep_aiohttp": lambda: client_httsleep_async(False, make_aiohttp),
    "httsleep_aiohttp_conditional": lambda: client_httsleep_async(True, make_aiohttp),
}


def measure(key: str, base: str, attempts: int) -> Dict[str, Any]:
    poll = VARIANTS[key]()
    poll("{}/big/warm-{}?done_after=3".format(base, uuid.uuid4().hex))  # imports, connection, caches
    job_id = uuid.uuid4().hex
    wall0, cpu0 = time.perf_counter(), time.process_time()
    poll("{}/big/{}?done_after={}".format(base, job_id, attempts))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    answers = get_json("{}/stats/{}".format(base, job_id))  # [status, response bytes, request bytes] each
    if len(answers) != attempts:
        raise SystemExit("{} made {} requests, not {}".format(key, len(answers), attempts))
    sizes = [size for _, size, _ in answers]
    return {
        "key": key,
        "attempts": attempts,
        "bytes": sum(sizes),
        "bytes_per_attempt": sum(sizes) / attempts,
        "first_bytes": sizes[0],
        "median_bytes": statistics.median(sizes),
        "request_bytes": statistics.mean(request for _, _, request in answers),
        "not_modified": sum(1 for status, _, _ in answers if status == 304),
        "cpu_us": cpu / attempts * 1e6,
        "wall_us": wall / attempts * 1e6,
    }


# -- the parent -----------------------------------------------------------------------------------


def table(samples: List[Dict[str, Any]], clients: List[Client]) -> str:
    lines = [
        "| client | bytes/attempt (mean) | first answer | median answer | 304s | request head | CPU µs/attempt "
        "| mean ÷ same without conditional | median ÷ same without |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for client in clients:
        mine = [s for s in samples if s["label"] == client.key]
        if not mine:
            continue
        last = mine[-1]  # bytes do not vary between rounds; CPU does
        ratio = steady = "–"
        if client.floor:
            value = paired_ratio(samples, client.key, client.floor, "bytes_per_attempt")
            if value is not None:
                ratio = "{:.3f} ({})".format(value, "meets ≤ 1/20" if value <= TARGET else "misses 1/20")
            value = paired_ratio(samples, client.key, client.floor, "median_bytes")
            steady = "–" if value is None else "{:.4f}".format(value)
        lines.append(
            "| {} | {:,.0f} | {:,} | {:,.0f} | {}/{} | {:.0f} | {:.0f} | {} | {} |".format(
                client.label,
                last["bytes_per_attempt"],
                last["first_bytes"],
                last["median_bytes"],
                last["not_modified"],
                last["attempts"],
                last["request_bytes"],
                quartiles([s["cpu_us"] for s in mine])[1],
                ratio,
                steady,
            )
        )
    return "\n".join(lines)


def run(
    rounds: int, attempts: int, offered: Optional[Dict[str, Optional[str]]] = None, with_async: bool = True
) -> Dict[str, Any]:
    """Measure every client; returns the samples, the notes and the Markdown (``offered``: from :func:`features`)."""
    offered = features() if offered is None else offered
    clients, notes = available([c for c in CLIENTS if with_async or c.key not in ASYNC], offered)
    script = os.path.abspath(__file__)
    with JobServer() as server:
        log("bytes per attempt: {} clients x {} rounds, {} attempts each".format(len(clients), rounds, attempts))
        samples = alternate(
            clients, rounds, lambda c: [sys.executable, script, "--child", c.key, server.url, str(attempts)], notes
        )
    markdown = "\n\n".join(
        [
            "Bytes received per attempt (counted by the server: head + body of each answer), "
            "a ~100 kB JSON document unchanged for {} attempts then done, {} round(s):".format(attempts - 1, rounds),
            table(samples, clients),
        ]
        + (["Not measured:\n\n" + "\n".join("- " + note for note in notes)] if notes else [])
    )
    return {"samples": samples, "notes": notes, "markdown": markdown}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of alternation, for the CPU figures (default 3)")
    parser.add_argument("--attempts", type=int, default=100, help="attempts per poll (default 100)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round, 20 attempts")
    parser.add_argument("--output", help="also write the samples as JSON here")
    parser.add_argument("--child", nargs=3, metavar=("KEY", "URL", "ATTEMPTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        key, url, attempts = args.child
        print(json.dumps(measure(key, url.rstrip("/"), int(attempts))))
        return 0
    if args.quick:
        args.rounds, args.attempts = 1, 20
    result = run(args.rounds, args.attempts)
    report(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
