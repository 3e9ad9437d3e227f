"""Thousands of concurrent polls: httsleep's asyncio transports, hand-written loops and threads.

    python benchmarks/scale.py                   # N = 1,000, 5,000, 10,000 (several minutes)
    python benchmarks/scale.py --quick           # N = 50, a smoke run (seconds)
    python benchmarks/scale.py --n 1000 --variants hand_aiohttp streams --rounds 3

N polls run at once, each of its own job, which the asyncio job server
(``async_server.py``, in its own process) answers ``PENDING``, ``PENDING``,
``SUCCESS``; the polls wait 0.5 s between attempts, so the ideal wall time
is 2 x 0.5 = 1.0 s. Each variant runs in a fresh process, the variants one
after the other (A B C ... for each round), one at a time:

- ``httsleep_default``: ``async_httsleep(url, ...)`` without ``client=``: the
  polls share the event loop's aiohttp session, which httsleep opens on
  first use (the default, with aiohttp installed).
- ``hand_aiohttp_default``: a hand-written loop on one
  ``aiohttp.ClientSession()`` as aiohttp makes it (a pool of 100
  connections, as the session httsleep shares).
- ``httsleep_httpx``: ``async_httsleep(url, ..., client=...)`` with a new
  ``httpx.AsyncClient`` per poll (httsleep 1.0's default).
- ``hand_httpx``: the same requests written by hand, a client per poll
  (sharing one SSL context, as httsleep's do).
- ``httsleep_httpx_shared``: every poll on one ``httpx.AsyncClient`` with
  ``max_connections=N`` (httpcore's pool scans its waiting requests on
  every request, so this slows down quadratically with N: not run above
  N = 1,000 unless ``--uncapped``).
- ``httsleep_aiohttp``: ``async_httsleep(url, ..., client=session)`` with one
  shared ``aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))``:
  an unlimited pool (aiohttp's default of 100 connections would make the
  polls queue for them). Left out, with a note, until this checkout has
  httsleep's aiohttp transport.
- ``hand_aiohttp``: a hand-written loop on the same shared session.
- ``streams``: raw asyncio streams, a connection per poll, HTTP/1.1 by hand:
  the floor.
- ``threads``: a ``ThreadPoolExecutor`` of N threads, each running the
  synchronous ``httsleep.httsleep`` (its own requests session per poll).

Every poll checks the JSON ``status`` (httsleep: a ``jsonpath`` condition).
Reported: wall time from the polls' start to the last one's end (imports
and set-up excluded) and its ratio to the ideal; CPU seconds of the client
process (all threads), also per request the server answered, and of the
server during the run; peak RSS growth
(``VmHWM``) over the run / N, per poll; how many polls succeeded; the most
connections the server held at once; how often the cyclic garbage
collector ran (and how many of those were full collections, which walk
every object of every waiting poll: ``--no-gc`` switches it off in the
clients, to see what it costs). A variant that fails or does not
finish within ``--child-timeout`` at some N is not run at larger N.

Each process raises its open-file limit to the hard limit; the table's
header says what the machine allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
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
    available,
    cpu_seconds,
    features,
    log,
    peak_rss_kib,
    raise_fd_limit,
    report,
    run_child,
    split_url,
)

VARIANTS = [
    Client("httsleep_default", "httsleep async, no client= (the loop's shared aiohttp session)", "aiohttp_transport"),
    Client("hand_aiohttp_default", "hand-written aiohttp loop, one ClientSession() (100 connections)", "aiohttp"),
    Client("httsleep_httpx", "httsleep async on httpx, a client per poll (1.0's default)", "httpx"),
    Client("hand_httpx", "hand-written httpx loop, a client per poll", "httpx"),
    Client("httsleep_httpx_shared", "httsleep async on httpx, one shared client", "httpx"),
    Client("httsleep_aiohttp", "httsleep async on aiohttp, one shared session (limit=0)", "aiohttp_transport"),
    Client("hand_aiohttp", "hand-written aiohttp loop, one shared session (limit=0)", "aiohttp"),
    Client("streams", "raw asyncio streams, a connection per poll"),
    Client("threads", "threads: ThreadPoolExecutor running sync httsleep"),
]

#: Variants not run above some N unless ``--uncapped``: one shared httpx client
#: took 31 s for N = 1,000 here and grows quadratically (hours at 10,000).
CAPS = {"httsleep_httpx_shared": 1000}

#: (what, numerator, denominator) for the summary.
RATIOS = [
    ("httsleep, no client= ÷ hand-written aiohttp, one ClientSession()", "httsleep_default", "hand_aiohttp_default"),
    ("httsleep, no client= ÷ hand-written aiohttp, one session (limit=0)", "httsleep_default", "hand_aiohttp"),
    ("httsleep on httpx ÷ hand-written httpx", "httsleep_httpx", "hand_httpx"),
    ("httsleep on aiohttp ÷ hand-written aiohttp", "httsleep_aiohttp", "hand_aiohttp"),
    ("hand-written aiohttp ÷ raw streams", "hand_aiohttp", "streams"),
    ("httsleep on aiohttp ÷ httsleep on httpx", "httsleep_aiohttp", "httsleep_httpx"),
    ("httsleep on aiohttp ÷ threads", "httsleep_aiohttp", "threads"),
]

CONDITION = {"jsonpath": [{"expression": "status", "value": SUCCESS}]}

#: polls(urls, attempts, interval) -> one result per poll: None when it succeeded, else the error
Polls = Callable[[List[str], int, float], List[Optional[BaseException]]]


# -- the variants (in the child process) ------------------------------------------------------------


def outcomes(results: Sequence[Any]) -> List[Optional[BaseException]]:
    return [result if isinstance(result, BaseException) else None for result in results]


async def until_done(attempt: Callable[[], Any], attempts: int, interval: float) -> None:
    """The hand-written loop: ``await attempt()`` (True when done), sleeping between attempts."""
    for number in range(attempts + 2):
        if number:
            await asyncio.sleep(interval)
        if await attempt():
            return
    raise RuntimeError("not done after {} attempts".format(attempts + 2))


def httsleep_options(attempts: int, interval: float) -> Dict[str, Any]:
    return dict(CONDITION, polling_interval=interval, max_retries=attempts + 2)


async def httsleep_default(urls: List[str], attempts: int, interval: float) -> List[Any]:
    from httsleep import async_httsleep

    options = httsleep_options(attempts, interval)
    return await asyncio.gather(*(async_httsleep(url, **options) for url in urls), return_exceptions=True)


async def httsleep_httpx(urls: List[str], attempts: int, interval: float) -> List[Any]:
    import httpx

    from httsleep import async_httsleep

    options = httsleep_options(attempts, interval)

    async def poll(url: str) -> Any:
        async with httpx.AsyncClient(follow_redirects=True) as client:
            return await async_httsleep(url, client=client, **options)

    return await asyncio.gather(*(poll(url) for url in urls), return_exceptions=True)


async def httsleep_httpx_shared(urls: List[str], attempts: int, interval: float) -> List[Any]:
    import httpx

    from httsleep import async_httsleep

    options = httsleep_options(attempts, interval)
    limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    async with httpx.AsyncClient(limits=limits) as client:
        polls = (async_httsleep(url, client=client, **options) for url in urls)
        return await asyncio.gather(*polls, return_exceptions=True)


async def hand_httpx(urls: List[str], attempts: int, interval: float) -> List[Any]:
    import ssl

    import httpx

    create = getattr(httpx, "create_ssl_context", None)
    context = create() if create is not None else ssl.create_default_context()

    timeout = httpx.Timeout(TIMEOUT[1], connect=TIMEOUT[0])  # httsleep's, not httpx's default of 5 s

    async def poll(url: str) -> None:
        async with httpx.AsyncClient(verify=context, follow_redirects=True, timeout=timeout) as client:

            async def attempt() -> bool:
                response = await client.get(url)
                return bool(response.json()["status"] == SUCCESS)

            await until_done(attempt, attempts, interval)

    return await asyncio.gather(*(poll(url) for url in urls), return_exceptions=True)


def unlimited_session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def httsleep_aiohttp(urls: List[str], attempts: int, interval: float) -> List[Any]:
    from httsleep import async_httsleep

    options = httsleep_options(attempts, interval)
    async with unlimited_session() as session:
        polls = (async_httsleep(url, client=session, **options) for url in urls)
        return await asyncio.gather(*polls, return_exceptions=True)


async def hand_aiohttp(urls: List[str], attempts: int, interval: float, session: Any = None) -> List[Any]:
    async with session or unlimited_session() as session:

        async def poll(url: str) -> None:
            async def attempt() -> bool:
                async with session.get(url) as response:
                    body = await response.read()
                return bool(json.loads(body)["status"] == SUCCESS)

            await until_done(attempt, attempts, interval)

        return await asyncio.gather(*(poll(url) for url in urls), return_exceptions=True)


async def hand_aiohttp_default(urls: List[str], attempts: int, interval: float) -> List[Any]:
    import aiohttp

    return await hand_aiohttp(urls, attempts, interval, aiohttp.ClientSession())


async def streams(urls: List[str], attempts: int, interval: float) -> List[Any]:
    async def poll(url: str) -> None:
        host, port, target = split_url(url)
        request = "GET {} HTTP/1.1\r\nHost: {}:{}\r\n\r\n".format(target, host, port).encode("latin-1")
        reader, writer = await asyncio.open_connection(host, port)
        try:

            async def attempt() -> bool:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                return bool(json.loads(await reader.readexactly(length))["status"] == SUCCESS)

            await until_done(attempt, attempts, interval)
        finally:
            writer.close()
            await writer.wait_closed()

    return await asyncio.gather(*(poll(url) for url in urls), return_exceptions=True)


def threads(urls: List[str], attempts: int, interval: float) -> List[Any]:
    from concurrent.futures import ThreadPoolExecutor

    from httsleep import httsleep

    options = httsleep_options(attempts, interval)
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        futures = [pool.submit(httsleep, url, **options) for url in urls]
        return [future.exception() for future in futures]


ASYNC_VARIANTS: Dict[str, Callable[[List[str], int, float], Any]] = {
    "httsleep_default": httsleep_default,
    "hand_aiohttp_default": hand_aiohttp_default,
    "httsleep_httpx": httsleep_httpx,
    "hand_httpx": hand_httpx,
    "httsleep_httpx_shared": httsleep_httpx_shared,
    "httsleep_aiohttp": httsleep_aiohttp,
    "hand_aiohttp": hand_aiohttp,
    "streams": streams,
}


def gc_counts() -> Tuple[int, int]:
    """Collections of the cyclic garbage collector so far: all generations, and the full (oldest) ones."""
    stats = gc.get_stats()
    return sum(generation["collections"] for generation in stats), stats[-1]["collections"]


def child(key: str, base: str, n: int, attempts: int, interval: float, collect: bool = True) -> Dict[str, Any]:
    """Run one variant with N polls in this process and return its figures (``collect``: the cyclic GC on)."""
    fd_limit = raise_fd_limit()
    import requests  # noqa: F401 - imported before the baseline by every variant alike

    import httsleep  # noqa: F401

    for module in ("httpx", "aiohttp", "httsleep.aio"):
        try:
            __import__(module)
        except ImportError:
            pass
    run = uuid.uuid4().hex[:8]
    urls = ["{}/jobs/{}-{}?done_after={}".format(base, run, i, attempts) for i in range(n)]
    rss_before = peak_rss_kib()
    if not collect:
        gc.disable()
    gc_before = gc_counts()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    if key == "threads":
        results = threads(urls, attempts, interval)
    else:
        results = asyncio.run(ASYNC_VARIANTS[key](urls, attempts, interval))
    wall = time.perf_counter() - started
    gc_after = gc_counts()
    errors = [error for error in outcomes(results) if error is not None]
    return {
        "key": key,
        "n": n,
        "wall": wall,
        "cpu": cpu_seconds() - cpu_before,
        "rss_before_kib": rss_before,
        "peak_rss_kib": peak_rss_kib(),
        "done": n - len(errors),
        "first_error": repr(errors[0])[:300] if errors else None,
        "fd_limit": fd_limit,
        "gc_collections": gc_after[0] - gc_before[0],
        "gc_full_collections": gc_after[1] - gc_before[1],
    }


# -- the parent ---------------------------------------------------------------------------------


def read_setting(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return " ".join(handle.read().split())
    except OSError:
        return "?"


def machine_limits(server_fd_limit: int) -> str:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (
        "open files: soft {} / hard {} here, {} in the server; net.core.somaxconn {}; local ports {}; "
        "tcp_tw_reuse {}; threads-max {}; pid_max {}".format(
            soft,
            hard,
            server_fd_limit,
            read_setting("/proc/sys/net/core/somaxconn"),
            read_setting("/proc/sys/net/ipv4/ip_local_port_range"),
            read_setting("/proc/sys/net/ipv4/tcp_tw_reuse"),
            read_setting("/proc/sys/kernel/threads-max"),
            read_setting("/proc/sys/kernel/pid_max"),
        )
    )


def wait_idle(server: JobServer, seconds: float = 15) -> None:
    """Wait until the previous client's connections are gone, so that runs do not overlap."""
    deadline = time.monotonic() + seconds
    while server.status()["open_connections"] > 1 and time.monotonic() < deadline:  # 1: this request's own
        time.sleep(0.1)


def run_variant(
    server: JobServer, variant: Client, n: int, args: argparse.Namespace
) -> Tuple[Optional[Dict[str, Any]], str]:
    wait_idle(server)
    before = server.status(reset=True)
    command = [sys.executable, os.path.abspath(__file__), "--child", variant.key, server.url, str(n)]
    command += [str(args.attempts), str(args.interval), "off" if args.no_gc else "on"]
    result, why = run_child(command, timeout=args.child_timeout)
    after = server.status()
    if result is None:
        return None, why
    result["server_cpu"] = after["cpu"] - before["cpu"]
    result["server_requests"] = after["requests"] - before["requests"]
    result["server_peak_connections"] = after["peak_connections"]
    return result, ""


def median_of(samples: List[Dict[str, Any]], key: str) -> float:
    return float(statistics.median(sample[key] for sample in samples))


def per_poll_kib(sample: Dict[str, Any]) -> float:
    return float(sample["peak_rss_kib"] - sample["rss_before_kib"]) / sample["n"]


def table(
    results: Dict[Tuple[str, int], List[Dict[str, Any]]], variants: List[Client], ns: List[int], ideal: float
) -> str:
    lines = [
        "| N | variant | wall s | wall / ideal | CPU s (client) | client CPU µs per request | CPU s (server) "
        "| KiB per poll | polls done | server's peak connections | GC runs (full) |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for n in ns:
        for variant in variants:
            samples = results.get((variant.key, n))
            if samples is None:
                continue
            if not samples or isinstance(samples[0], str):
                why = samples[0] if samples else "not run"
                lines.append("| {:,} | {} | {} | | | | | | | | |".format(n, variant.label, why))
                continue
            wall = median_of(samples, "wall")
            lines.append(
                "| {:,} | {} | {:.2f} | {:.2f} | {:.2f} | {:.0f} | {:.2f} | {:.1f} | {:,} / {:,} | {:,} | {} |".format(
                    n,
                    variant.label,
                    wall,
                    wall / ideal,
                    median_of(samples, "cpu"),
                    statistics.median(s["cpu"] / max(s["server_requests"], 1) * 1e6 for s in samples),
                    median_of(samples, "server_cpu"),
                    statistics.median(per_poll_kib(s) for s in samples),
                    min(s["done"] for s in samples),
                    n,
                    max(s["server_peak_connections"] for s in samples),
                    "{:,} ({})".format(samples[-1]["gc_collections"], samples[-1]["gc_full_collections"]),
                )
            )
    return "\n".join(lines)


def summary(results: Dict[Tuple[str, int], List[Dict[str, Any]]], ns: List[int]) -> str:
    lines = ["| N | ratio | wall | CPU | memory per poll |", "|--:|---|--:|--:|--:|"]
    for n in ns:
        for what, mine, base in RATIOS:
            a, b = results.get((mine, n)), results.get((base, n))
            if not a or not b or isinstance(a[0], str) or isinstance(b[0], str):
                continue
            incomplete = any(s["done"] != s["n"] for s in a + b)
            memory_b = statistics.median(per_poll_kib(s) for s in b)
            memory = statistics.median(per_poll_kib(s) for s in a) / memory_b if memory_b > 0 else None
            lines.append(
                "| {:,} | {} | {:.2f} | {:.2f} | {} |".format(
                    n,
                    what + (" (not every poll succeeded)" if incomplete else ""),
                    median_of(a, "wall") / median_of(b, "wall"),
                    median_of(a, "cpu") / median_of(b, "cpu"),
                    "–" if memory is None else "{:.2f}".format(memory),
                )
            )
    return "\n".join(lines)


def run(args: argparse.Namespace, offered: Optional[Dict[str, Optional[str]]] = None) -> Dict[str, Any]:
    offered = features() if offered is None else offered
    variants, notes = available([v for v in VARIANTS if v.key in args.variants], offered)
    raise_fd_limit()
    ideal = (args.attempts - 1) * args.interval
    results: Dict[Tuple[str, int], List[Any]] = {}
    given_up: Dict[str, str] = {}
    with JobServer() as server:
        limits = machine_limits(server.status()["fd_limit"])
        for n in args.n:
            for number in range(args.rounds):
                for variant in variants:
                    if variant.key in given_up:
                        results.setdefault((variant.key, n), [given_up[variant.key]])
                        continue
                    cap = CAPS.get(variant.key)
                    if cap is not None and n > cap and not args.uncapped:
                        results[(variant.key, n)] = ["not run above N={:,} (--uncapped runs it)".format(cap)]
                        continue
                    log("scale: N={:,} round {}/{} {}".format(n, number + 1, args.rounds, variant.key))
                    result, why = run_variant(server, variant, n, args)
                    if result is None:
                        log("  {}".format(why))
                        results[(variant.key, n)] = [why]
                        given_up[variant.key] = "not run: {} at N={:,}".format(why, n)
                        notes.append("{}, N={:,}: {}".format(variant.label, n, why))
                        continue
                    if result["done"] != n or result["server_requests"] != n * args.attempts:
                        notes.append(
                            "{}, N={:,}: {} polls succeeded, {} requests (expected {}); first error: {}".format(
                                variant.label,
                                n,
                                result["done"],
                                result["server_requests"],
                                n * args.attempts,
                                result["first_error"],
                            )
                        )
                    results.setdefault((variant.key, n), []).append(result)
    header = (
        "{} concurrent polls x {} attempts, {:g} s apart: ideal wall {:g} s; {} CPUs, Python {}; "
        "median of {} round(s); cyclic GC {} in the clients".format(
            " / ".join("{:,}".format(n) for n in args.n),
            args.attempts,
            args.interval,
            ideal,
            os.cpu_count(),
            platform.python_version(),
            args.rounds,
            "off" if args.no_gc else "on",
        )
    )
    markdown = "\n\n".join(
        [header, "Limits: " + limits, table(results, variants, args.n, ideal), summary(results, args.n)]
        + (["Notes:\n\n" + "\n".join("- " + note for note in notes)] if notes else [])
    )
    flat = [sample for samples in results.values() for sample in samples if isinstance(sample, dict)]
    return {"samples": flat, "notes": notes, "markdown": markdown}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 10000], help="numbers of concurrent polls")
    parser.add_argument("--attempts", type=int, default=3, help="attempts each poll needs (default 3)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between attempts (default 0.5)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each variant; medians are reported")
    parser.add_argument("--variants", nargs="+", default=[v.key for v in VARIANTS], choices=[v.key for v in VARIANTS])
    parser.add_argument("--child-timeout", type=float, default=180, help="seconds before a variant is abandoned")
    parser.add_argument("--uncapped", action="store_true", help="run the shared httpx client above N = 1,000 too")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N = 50, 0.05 s apart")
    parser.add_argument("--output", help="also write the samples as JSON here")
    parser.add_argument("--no-gc", action="store_true", help="switch the cyclic garbage collector off in the clients")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    return parser


def make_quick(args: argparse.Namespace) -> None:
    """The smoke run's settings: N = 50, 0.05 s apart, one round."""
    args.n, args.interval, args.rounds, args.child_timeout = [50], 0.05, 1, 60


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.child:
        key, url, n, attempts, interval, collect = args.child
        print(json.dumps(child(key, url.rstrip("/"), int(n), int(attempts), float(interval), collect == "on")))
        return 0
    if args.quick:
        make_quick(args)
    result = run(args)
    report(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
