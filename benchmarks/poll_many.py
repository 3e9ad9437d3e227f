"""Many URLs, one poller: ``async_poll_many`` against N ``async_httsleep`` calls, in the same run.

    python benchmarks/poll_many.py                       # N = 1,000 and 10,000, 3 rounds
    python benchmarks/poll_many.py --quick               # N = 50, a smoke run (seconds)
    python benchmarks/poll_many.py --n 1000 --rounds 5 --concurrency 50

The workload of ``scale.py``: N polls, each of its own job, which the
asyncio job server (``async_server.py``, in its own process) answers
``PENDING``, ``PENDING``, ``SUCCESS``; 0.5 s between attempts (ideal wall
time 1.0 s); every poll checks the JSON ``status`` with a ``jsonpath``
condition. Each variant runs in a fresh process, the variants in
alternation (A B C D, A B C D...), one at a time:

- ``gather_aiohttp``: ``asyncio.gather`` of N ``async_httsleep(url,
  client=session)`` on one shared ``aiohttp.ClientSession`` with
  ``TCPConnector(limit=0)`` (the recipe of docs/async.md): the baseline.
- ``many_aiohttp``: ``async_poll_many(urls, client=session,
  concurrency=C)`` on the same kind of session: the issue's comparison
  ("poll_many costs no more per poll").
- ``many_aiohttp_unbounded``: the same with ``concurrency=N``: what the
  machinery costs, without the bound.
- ``gather_default``: N ``async_httsleep(url)`` without a client: they
  share the event loop's aiohttp session (the default): the baseline of...
- ``many_default``: ``async_poll_many(urls, concurrency=C)`` without a
  client: its polls share the loop's session too;
- ``many_httpx``: ``async_poll_many`` on one ``httpx.AsyncClient`` whose
  pool holds C connections: why the shared client is aiohttp's when
  aiohttp is installed (not run above N = 1,000 unless ``--uncapped``).

Reported: wall time (the polls' start to the last outcome, imports and
set-up excluded), CPU seconds of the client process, also per request the
server answered, peak RSS growth / N, polls done, the server's peak
connections; then the ratios, medians of per-round ratios to the baseline
run in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
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
    Client,
    JobServer,
    available,
    cpu_seconds,
    features,
    log,
    paired_ratio,
    peak_rss_kib,
    raise_fd_limit,
    report,
    run_child,
)
from scale import httsleep_options, machine_limits, outcomes, unlimited_session, wait_idle  # noqa: E402

VARIANTS = [
    Client("gather_aiohttp", "N async_httsleep, one shared aiohttp session (limit=0)", "aiohttp_transport"),
    Client("many_aiohttp", "async_poll_many, the same session, concurrency=C", "aiohttp_transport"),
    Client("many_aiohttp_unbounded", "async_poll_many, the same session, concurrency=N", "aiohttp_transport"),
    Client("gather_default", "N async_httsleep, no client= (the loop's shared session)", "aiohttp_transport"),
    Client("many_default", "async_poll_many, no client= (the loop's shared session)", "aiohttp_transport"),
    Client("many_httpx", "async_poll_many, one httpx client (pool of C)", "httpx"),
]

#: Variants not run above some N unless ``--uncapped``: one httpx client shared by C=100 requests in flight
#: costs about three times the CPU per request of a client per poll (minutes at N = 10,000).
CAPS = {"many_httpx": 1000}

#: (what, numerator, denominator) for the summary.
RATIOS = [
    ("poll_many ÷ gather, one aiohttp session (concurrency=C)", "many_aiohttp", "gather_aiohttp"),
    ("poll_many ÷ gather, one aiohttp session (concurrency=N)", "many_aiohttp_unbounded", "gather_aiohttp"),
    ("poll_many ÷ gather, no client= (concurrency=C)", "many_default", "gather_default"),
    ("poll_many on one httpx client ÷ gather, no client=", "many_httpx", "gather_default"),
]


# -- the variants (in the child process) ------------------------------------------------------------


async def gather_aiohttp(urls: List[str], attempts: int, interval: float, concurrency: int) -> List[Any]:
    from httsleep import async_httsleep

    options = httsleep_options(attempts, interval)
    async with unlimited_session() as session:
        polls = (async_httsleep(url, client=session, **options) for url in urls)
        return await asyncio.gather(*polls, return_exceptions=True)


async def many(urls: List[str], attempts: int, interval: float, concurrency: int, client: Any = None) -> List[Any]:
    from httsleep import async_poll_many

    options = httsleep_options(attempts, interval)
    polls = async_poll_many(urls, concurrency=concurrency, client=client, **options)
    return [outcome async for _, outcome in polls]


async def many_aiohttp(urls: List[str], attempts: int, interval: float, concurrency: int) -> List[Any]:
    async with unlimited_session() as session:
        return await many(urls, attempts, interval, concurrency, session)


async def many_aiohttp_unbounded(urls: List[str], attempts: int, interval: float, concurrency: int) -> List[Any]:
    return await many_aiohttp(urls, attempts, interval, len(urls))


async def gather_default(urls: List[str], attempts: int, interval: float, concurrency: int) -> List[Any]:
    from httsleep import async_httsleep

    options = httsleep_options(attempts, interval)
    return await asyncio.gather(*(async_httsleep(url, **options) for url in urls), return_exceptions=True)


async def many_default(urls: List[str], attempts: int, interval: float, concurrency: int) -> List[Any]:
    return await many(urls, attempts, interval, concurrency)


async def many_httpx(urls: List[str], attempts: int, interval: float, concurrency: int) -> List[Any]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        return await many(urls, attempts, interval, concurrency, client)


CHILDREN: Dict[str, Callable[[List[str], int, float, int], Any]] = {
    "gather_aiohttp": gather_aiohttp,
    "many_aiohttp": many_aiohttp,
    "many_aiohttp_unbounded": many_aiohttp_unbounded,
    "gather_default": gather_default,
    "many_default": many_default,
    "many_httpx": many_httpx,
}


def child(key: str, base: str, n: int, attempts: int, interval: float, concurrency: int) -> Dict[str, Any]:
    """Run one variant with N polls in this process and return its figures."""
    raise_fd_limit()
    import requests  # noqa: F401 - imported before the baseline by every variant alike

    import httsleep.aio  # noqa: F401
    import httsleep.many  # noqa: F401

    for module in ("httpx", "aiohttp"):
        try:
            __import__(module)
        except ImportError:
            pass
    run = uuid.uuid4().hex[:8]
    urls = ["{}/jobs/{}-{}?done_after={}".format(base, run, i, attempts) for i in range(n)]
    rss_before = peak_rss_kib()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    results = asyncio.run(CHILDREN[key](urls, attempts, interval, concurrency))
    wall = time.perf_counter() - started
    errors = [error for error in outcomes(results) if error is not None]
    return {
        "key": key,
        "n": n,
        "wall": wall,
        "cpu": cpu_seconds() - cpu_before,
        "rss_before_kib": rss_before,
        "peak_rss_kib": peak_rss_kib(),
        "done": n - len(errors) if len(results) == n else len(results) - len(errors),
        "first_error": repr(errors[0])[:300] if errors else None,
    }


# -- the parent ---------------------------------------------------------------------------------


def run_variant(
    server: JobServer, variant: Client, n: int, args: argparse.Namespace
) -> Tuple[Optional[Dict[str, Any]], str]:
    wait_idle(server)
    before = server.status(reset=True)
    command = [sys.executable, os.path.abspath(__file__), "--child", variant.key, server.url, str(n)]
    command += [str(args.attempts), str(args.interval), str(args.concurrency)]
    result, why = run_child(command, timeout=args.child_timeout)
    after = server.status()
    if result is None:
        return None, why
    result["server_requests"] = after["requests"] - before["requests"]
    result["server_peak_connections"] = after["peak_connections"]
    return result, ""


def table(samples: List[Dict[str, Any]], variants: List[Client], ns: List[int], ideal: float) -> str:
    lines = [
        "| N | variant | wall s | wall / ideal | CPU s (client) | client CPU µs per request | KiB per poll "
        "| polls done | server's peak connections |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for n in ns:
        for variant in variants:
            mine = [s for s in samples if s["key"] == variant.key and s["n"] == n]
            if not mine:
                continue
            wall = statistics.median(s["wall"] for s in mine)
            cpu = statistics.median(s["cpu"] for s in mine)
            requests = statistics.median(s["server_requests"] for s in mine)
            memory = statistics.median((s["peak_rss_kib"] - s["rss_before_kib"]) / s["n"] for s in mine)
            lines.append(
                "| {:,} | {} | {:.2f} | {:.2f} | {:.2f} | {:,.0f} | {:.1f} | {:,} / {:,} | {:,} |".format(
                    n, variant.label, wall, wall / ideal, cpu, cpu / requests * 1e6 if requests else 0, memory,
                    min(s["done"] for s in mine), n, max(s["server_peak_connections"] for s in mine),
                )
            )
    return "\n".join(lines)


def summary(samples: List[Dict[str, Any]], ns: List[int]) -> str:
    lines = ["| N | ratio | wall | CPU | CPU per request |", "|--:|---|--:|--:|--:|"]
    for n in ns:
        at_n = [dict(s, label=s["key"]) for s in samples if s["n"] == n]
        for sample in at_n:
            sample["cpu_per_request"] = sample["cpu"] / max(sample["server_requests"], 1)
        for what, mine, base in RATIOS:
            wall = paired_ratio(at_n, mine, base, "wall")
            if wall is None:
                continue
            cpu = paired_ratio(at_n, mine, base, "cpu")
            per_request = paired_ratio(at_n, mine, base, "cpu_per_request")
            lines.append("| {:,} | {} | {:.2f} | {:.2f} | {:.2f} |".format(n, what, wall, cpu or 0, per_request or 0))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    variants, notes = available([v for v in VARIANTS if v.key in args.variants], features())
    raise_fd_limit()
    ideal = (args.attempts - 1) * args.interval
    samples: List[Dict[str, Any]] = []
    with JobServer() as server:
        limits = machine_limits(server.status()["fd_limit"])
        for n in args.n:
            for number in range(args.rounds):
                for variant in variants:
                    if n > CAPS.get(variant.key, n) and not args.uncapped:
                        note = "{}: not run above N={:,} (--uncapped runs it)".format(variant.label, CAPS[variant.key])
                        if note not in notes:
                            notes.append(note)
                        continue
                    log("poll_many: N={:,} round {}/{} {}".format(n, number + 1, args.rounds, variant.key))
                    result, why = run_variant(server, variant, n, args)
                    if result is None:
                        notes.append("{}, N={:,}, round {}: {}".format(variant.label, n, number + 1, why))
                        continue
                    if result["done"] != n or result["server_requests"] != n * args.attempts:
                        notes.append(
                            "{}, N={:,}: {} polls succeeded, {} requests (expected {}); first error: {}".format(
                                variant.label, n, result["done"], result["server_requests"], n * args.attempts,
                                result["first_error"],
                            )
                        )
                    result["round"] = number
                    samples.append(result)
    header = (
        "{} polls x {} attempts, {:g} s apart (ideal wall {:g} s), concurrency C = {}; {} CPUs, Python {}; "
        "median of {} round(s), variants in alternation".format(
            " / ".join("{:,}".format(n) for n in args.n), args.attempts, args.interval, ideal, args.concurrency,
            os.cpu_count(), platform.python_version(), args.rounds,
        )
    )
    markdown = "\n\n".join(
        [header, "Limits: " + limits, table(samples, variants, args.n, ideal), summary(samples, args.n)]
        + (["Notes:\n\n" + "\n".join("- " + note for note in notes)] if notes else [])
    )
    return {"samples": samples, "notes": notes, "markdown": markdown}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="numbers of URLs")
    parser.add_argument("--attempts", type=int, default=3, help="attempts each poll needs (default 3)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between attempts (default 0.5)")
    parser.add_argument("--concurrency", type=int, default=100, help="poll_many's concurrency C (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant; medians are reported")
    parser.add_argument("--variants", nargs="+", default=[v.key for v in VARIANTS], choices=[v.key for v in VARIANTS])
    parser.add_argument("--child-timeout", type=float, default=300, help="seconds before a run is abandoned")
    parser.add_argument("--uncapped", action="store_true", help="run many_httpx above N = 1,000 too")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N = 50, 0.05 s apart, one round")
    parser.add_argument("--output", help="also write the samples as JSON here")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.child:
        key, url, n, attempts, interval, concurrency = args.child
        print(json.dumps(child(key, url.rstrip("/"), int(n), int(attempts), float(interval), int(concurrency))))
        return 0
    if args.quick:
        args.n, args.interval, args.rounds, args.child_timeout = [50], 0.05, 1, 60
    report(run(args), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
