"""Many concurrent polls: the asyncio front end, threads on the sync front end, hand-written httpx.

N polls (default N = 100, 1,000, 5,000) run at once, each needing 5 attempts
0.1 s apart, against a local job server in another process. Three variants,
each in its own fresh process:

- ``async``: ``asyncio.gather`` of N ``httsleep.async_httsleep(...)`` calls on
  one event loop (each poll opens and closes its own ``httpx.AsyncClient``,
  the default).
- ``httpx``: the same requests written by hand: per poll an
  ``httpx.AsyncClient`` (sharing one SSL context, as httsleep's do), a
  ``for`` loop of ``GET``, ``json()``, compare, ``asyncio.sleep(0.1)``.
- ``threads``: N threads, each running the synchronous ``httsleep.httsleep``
  (its own requests session per poll, the default).

With ``--shared-client`` the two async variants instead share one
``AsyncClient`` with ``max_connections=N``. httpcore's pool then spends time
quadratic in the number of waiting requests, so that mode is much slower at
large N for both; it is not run by default.

Each child reports the wall time of the N polls (from just before they
start to the last one finishing; imports excluded) and its peak RSS
(``ru_maxrss``); "per poll" memory is (peak RSS - RSS before the polls) / N.
Wall time is compared with the hand-written httpx loop and with the ideal
5 x 0.1 s (strictly, 4 waits of 0.1 s plus 5 round trips). Usage::

    python benchmarks/async_concurrency.py                 # N = 100, 1000, 5000
    python benchmarks/async_concurrency.py --n 100 1000 --rounds 3

The job server is ``async_server.py`` (shared with the other benchmarks).
``scale.py`` measures the same at N = 1,000 to 10,000 with more variants
(aiohttp, raw asyncio streams, a thread pool) and CPU time on both sides.

Needs the ``async`` extra (httpx). Results vary with the machine; the
figures in docs/async.md say which machine produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # measure this checkout's httsleep, whatever is installed

from common import JobServer, raise_fd_limit  # noqa: E402 - the asyncio job server of the other benchmarks
from common import peak_rss_kib as rss_kib  # noqa: E402

VARIANTS = ("async", "httpx", "threads")
SUCCESS = "SUCCESS"


# -- the clients (each in its own process) ------------------------------------------------


def job_urls(base: str, n: int, attempts: int) -> List[str]:
    run = uuid.uuid4().hex[:8]
    return ["{}/jobs/{}-{}?done_after={}".format(base, run, i, attempts) for i in range(n)]


async def _async_front(urls: List[str], interval: float, shared: bool) -> List[Any]:
    import httpx

    from httsleep import async_httsleep

    options = dict(json_done(), polling_interval=interval, max_retries=20)
    if not shared:
        return await asyncio.gather(*(async_httsleep(url, **options) for url in urls))
    limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    async with httpx.AsyncClient(limits=limits) as client:
        return await asyncio.gather(*(async_httsleep(url, client=client, **options) for url in urls))


def is_done(response: Any) -> bool:
    """The check the hand-written loop makes, as a callback (works on both response types)."""
    return bool(response.json()["status"] == SUCCESS)


def json_done() -> Dict[str, Any]:
    """The condition of every poll: the same check as the hand-written loop.

    (A ``jsonpath`` string would be parsed once per poll, a few ms each; see
    docs/async.md for sharing one parsed expression.)
    """
    return {"callback": is_done}


async def _hand_written(urls: List[str], interval: float, shared: bool) -> List[Any]:
    import ssl

    import httpx

    # one SSL context for all clients, as httsleep shares one (building one loads the CA bundle: ~25 ms)
    create = getattr(httpx, "create_ssl_context", None)
    context = create() if create is not None else ssl.create_default_context()

    async def poll(client: httpx.AsyncClient, url: str) -> httpx.Response:
        for _ in range(20):
            response = await client.get(url)
            if response.json()["status"] == SUCCESS:
                return response
            await asyncio.sleep(interval)
        raise RuntimeError("not done: " + url)

    async def own_client(url: str) -> httpx.Response:
        async with httpx.AsyncClient(verify=context, follow_redirects=True) as client:
            return await poll(client, url)

    if not shared:
        return await asyncio.gather(*(own_client(url) for url in urls))
    limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    async with httpx.AsyncClient(limits=limits, verify=context) as client:
        return await asyncio.gather(*(poll(client, url) for url in urls))


def _threads(urls: List[str], interval: float) -> List[Any]:
    from httsleep import httsleep

    results: List[Any] = [None] * len(urls)
    errors: List[BaseException] = []

    def poll(index: int, url: str) -> None:
        try:
            results[index] = httsleep(url, polling_interval=interval, max_retries=20, **json_done())
        except BaseException as exc:  # reported by the parent
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(i, url)) for i, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def client(variant: str, base: str, n: int, attempts: int, interval: float, shared: bool) -> Dict[str, Any]:
    """Run one variant in this process and return its figures."""
    raise_fd_limit()
    import httpx  # noqa: F401 - imports before the baseline, for every variant alike
    import requests  # noqa: F401

    import httsleep  # noqa: F401
    import httsleep.aio  # noqa: F401

    urls = job_urls(base, n, attempts)
    before = rss_kib()
    started = time.perf_counter()
    if variant == "async":
        responses = asyncio.run(_async_front(urls, interval, shared))
    elif variant == "httpx":
        responses = asyncio.run(_hand_written(urls, interval, shared))
    else:
        responses = _threads(urls, interval)
    wall = time.perf_counter() - started
    done = sum(1 for response in responses if response is not None and response.json()["status"] == SUCCESS)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "variant": variant,
        "n": n,
        "wall": wall,
        "cpu": cpu.ru_utime + cpu.ru_stime,
        "rss_before_kib": before,
        "peak_rss_kib": rss_kib(),
        "done": done,
    }


# -- the parent -------------------------------------------------------------------------------


def run_child(variant: str, base: str, n: int, args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    command = [sys.executable, os.path.abspath(__file__), "--child", variant, "--url", base, "--n", str(n)]
    command += ["--attempts", str(args.attempts), "--interval", str(args.interval)]
    if args.shared_client:
        command.append("--shared-client")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=args.child_timeout)
    except subprocess.TimeoutExpired:
        print("  {} N={}: did not finish within {} s".format(variant, n, args.child_timeout), file=sys.stderr)
        return None
    if result.returncode != 0:
        print("  {} N={} failed:\n{}".format(variant, n, result.stderr[-2000:]), file=sys.stderr)
        return None
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000, 5000], help="numbers of concurrent polls")
    parser.add_argument("--attempts", type=int, default=5, help="attempts each poll needs (default 5)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between attempts (default 0.1)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each variant; the best wall time counts")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--shared-client", action="store_true", help="async variants share one AsyncClient")
    parser.add_argument("--child-timeout", type=float, default=240, help="seconds before a variant is abandoned")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        figures = client(args.child, args.url, args.n[0], args.attempts, args.interval, args.shared_client)
        print(json.dumps(figures))
        return

    limit = raise_fd_limit()
    needed = 2 * max(args.n) + 100
    if limit < needed:
        print("warning: open-file limit {} < {}; the largest N may fail".format(limit, needed), file=sys.stderr)
    server = JobServer()
    try:
        base = server.url
        ideal = args.attempts * args.interval
        print(
            "# {} concurrent polls x {} attempts, {:g} s apart; ideal wall {:g} s; {} CPUs, Python {}, {}\n".format(
                "/".join(str(n) for n in args.n),
                args.attempts,
                args.interval,
                ideal,
                os.cpu_count(),
                platform.python_version(),
                "one shared AsyncClient" if args.shared_client else "one AsyncClient per poll",
            )
        )
        table: List[Dict[str, Any]] = []
        for n in args.n:
            best: Dict[str, Optional[Dict[str, Any]]] = {}
            for _ in range(args.rounds):
                for variant in args.variants:
                    figures = run_child(variant, base, n, args)
                    if figures is None:
                        continue
                    if figures["done"] != n:
                        print("  {} N={}: only {} polls succeeded".format(variant, n, figures["done"]), file=sys.stderr)
                    current = best.get(variant)
                    if current is None or figures["wall"] < current["wall"]:
                        best[variant] = figures
            for variant in args.variants:
                figures = best.get(variant)
                if figures is not None:
                    table.append(figures)
            print_rows(n, best, args.variants, ideal)
        print_summary(table, ideal)
    finally:
        server.stop()


def _per_poll_kib(figures: Dict[str, Any]) -> float:
    return float(figures["peak_rss_kib"] - figures["rss_before_kib"]) / figures["n"]


def print_rows(n: int, best: Dict[str, Any], variants: List[str], ideal: float) -> None:
    if n == -1:  # pragma: no cover
        return
    print("N = {:,}".format(n))
    print()
    print("| variant | wall s | wall / ideal | wall / httpx | CPU s | peak RSS MiB | KiB per poll |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    baseline = best.get("httpx")
    for variant in variants:
        figures = best.get(variant)
        if figures is None:
            print("| {} | did not finish | | | | | |".format(variant))
            continue
        ratio = "{:.2f}".format(figures["wall"] / baseline["wall"]) if baseline else "-"
        print(
            "| {} | {:.2f} | {:.1f} | {} | {:.1f} | {:.0f} | {:.0f} |".format(
                variant,
                figures["wall"],
                figures["wall"] / ideal,
                ratio,
                figures["cpu"],
                figures["peak_rss_kib"] / 1024,
                _per_poll_kib(figures),
            )
        )
    print()


def print_summary(table: List[Dict[str, Any]], ideal: float) -> None:
    by_key = {(row["variant"], row["n"]): row for row in table}
    print("Summary")
    print()
    print("| N | async / httpx wall | async wall / ideal | memory per poll, async / threads |")
    print("|---:|---:|---:|---:|")
    for n in sorted({row["n"] for row in table}):
        front, hand, threads = (by_key.get((variant, n)) for variant in VARIANTS)
        wall_ratio = "{:.2f}".format(front["wall"] / hand["wall"]) if front and hand else "-"
        ideal_ratio = "{:.1f}".format(front["wall"] / ideal) if front else "-"
        memory = (
            "{:.2f} ({:.0f} / {:.0f} KiB)".format(
                _per_poll_kib(front) / _per_poll_kib(threads), _per_poll_kib(front), _per_poll_kib(threads)
            )
            if front and threads and _per_poll_kib(threads) > 0
            else "-"
        )
        print("| {:,} | {} | {} | {} |".format(n, wall_ratio, ideal_ratio, memory))


if __name__ == "__main__":
    main()
