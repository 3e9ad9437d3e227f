"""A fleet of worker processes against a dead upstream: one circuit in Redis, or one per process; and a shared rate.

    python benchmarks/fleet.py              # 50 processes, 7 s per run, 3 rounds (about 2 minutes)
    python benchmarks/fleet.py --quick      # 8 processes, 3 s per run, 1 round (seconds)
    python benchmarks/fleet.py --processes 20 --rounds 5 --output fleet.json

The circuit breaker harness: ``--processes`` worker processes (default 50)
each poll an upstream that answers every request 503, at 20 Hz
(``polling_interval=0.05``), through a breaker with ``threshold=5`` and
``reset_timeout=2``, for ``--seconds`` (7 s). Variants, run in the same
invocation in alternation (A B C A B C ... over ``--rounds``):

- ``redis``: one ``httsleep.redis.RedisCircuitBreaker`` circuit shared by
  every process (the same ``name`` on the same Redis);
- ``redis_async``: the same circuit with ``AsyncRedisCircuitBreaker``, the
  pollers as asyncio tasks (``--tasks`` per process, in processes / tasks
  processes);
- ``local``: a ``CircuitBreaker`` per process (the baseline): each process
  needs ``threshold`` failures of its own, and sends its own trials.

Reported per variant (medians over rounds, and the range): requests that
reached the upstream; requests before the circuit opened (for each poller,
its requests before it was first refused, summed); trials per half-open
window (the requests after those, in windows ``reset_timeout`` long
centred where trials fall due: the first refusal of any poller plus 1, 2,
3... times ``reset_timeout``; a refused worker waits for the circuit as
the error's ``time_remaining`` says, at least 0.05 s, as a worker would);
Redis round trips (``INFO commandstats`` before and after the run: the
calls of the commands a client sends, EVALSHA, SCRIPT LOAD, HELLO...,
not those the Lua scripts run inside Redis; the JSON has both); CPU
seconds of the workers and of Redis; wall time of the run (forking to
the last worker's exit).

The rate-limit harness: ``--pollers`` processes (default 20), each one poll
of its own job that the upstream always answers ``PENDING``, at
``"10/second"`` for ``--rate-seconds`` (5 s): ``RedisRateLimit`` (one key
for the fleet) against ``rate_limit="10/second"`` (the process-wide
in-memory limit: 10/s per process). Reported: requests, the busiest 1-s
window (the most requests arriving in any [t, t + 1), every request of
the run counted), requests per poller (min / max), Redis round trips per
second, CPU seconds.

Everything is on loopback: the benchmark starts its own redis-server (a
free port, no persistence; it must be installed) and its own upstream (a
thread of this process that notes each request's arrival on
``time.monotonic``, which the workers share). The workers are forked from
this process for every run, so no breaker or limit outlives a run; this
process imports httsleep and its clients before forking, so that the
imports are not repeated in every worker, but builds no breaker or limit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import cpu_seconds, log, paired_ratio, report  # noqa: E402 - after the path tweak

FORK = multiprocessing.get_context("fork")

THRESHOLD = 5
RESET = 2.0
INTERVAL = 0.05  # 20 Hz
RATE = "10/second"

BREAKER_VARIANTS = [
    ("redis", "RedisCircuitBreaker, one circuit for the fleet"),
    ("redis_async", "AsyncRedisCircuitBreaker, asyncio tasks, one circuit"),
    ("local", "CircuitBreaker per process (baseline)"),
]
RATE_VARIANTS = [
    ("redis", "RedisRateLimit, one key for the fleet"),
    ("local", 'rate_limit="10/second" in memory, per process (baseline)'),
]


# -- redis-server, on loopback ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Redis:
    """A redis-server of this benchmark's own: loopback, a free port, no persistence; stopped by its pid."""

    def __init__(self, folder: str) -> None:
        binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                                  else None)
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server): the fleet benchmark "
                             "needs a real one")
        self.port = free_port()
        self.url = "redis://127.0.0.1:{}/0".format(self.port)
        self.log = open(os.path.join(folder, "redis-server.log"), "wb")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
             folder, "--protected-mode", "yes", "--maxclients", "2000"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.command("PING").startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("redis-server did not start; see {}".format(folder))
            time.sleep(0.02)

    def command(self, *words: str) -> bytes:
        """One inline command; the whole reply (a bulk string is read to its end)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            reply = conn.recv(65536)
            if reply.startswith(b"$"):
                head, _, body = reply.partition(b"\r\n")
                length = int(head[1:])
                while len(body) < length + 2:
                    more = conn.recv(65536)
                    if not more:
                        break
                    body += more
                return body[:length]
            return reply

    def info(self) -> Dict[str, float]:
        """Calls so far (``INFO commandstats``): round trips (the commands a client sends) and all commands (those
        the Lua scripts run inside Redis too; ``INFO`` itself left out); CPU seconds of redis-server."""
        round_trips = commands = 0.0
        for line in self.command("INFO", "commandstats").decode().splitlines():
            if not line.startswith("cmdstat_"):
                continue
            name, _, stats = line[len("cmdstat_"):].partition(":")
            calls = float(stats.split(",")[0].split("=")[1])
            if name == "info":
                continue
            commands += calls
            if name.split("|")[0] in CLIENT_COMMANDS:
                round_trips += calls
        cpu = 0.0
        for line in self.command("INFO", "cpu").decode().splitlines():
            name, _, value = line.partition(":")
            if name in ("used_cpu_sys", "used_cpu_user"):
                cpu += float(value)
        return {"round_trips": round_trips, "commands": commands, "cpu": cpu}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


#: The commands a client of httsleep.redis sends itself (the others, GET, HSET, TIME..., run inside its scripts).
CLIENT_COMMANDS = {"evalsha", "eval", "evalsha_ro", "eval_ro", "script", "hello", "ping", "client", "select"}


# -- the upstream ---------------------------------------------------------------------------------


class Upstream(ThreadingHTTPServer):
    """Answers every GET with ``status`` (503 or 200) and a JSON body, noting (time.monotonic, ``?p=`` poller)."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 503
        self.arrivals: List[Tuple[float, str]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, poller: str) -> str:
        return "http://127.0.0.1:{}/jobs/1?p={}".format(self.server_address[1], poller)

    def take(self) -> List[Tuple[float, str]]:
        """The arrivals noted so far, forgotten here."""
        with self.lock:
            taken, self.arrivals = self.arrivals, []
        return taken

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        arrived = time.monotonic()
        poller = parse_qs(urlsplit(self.path).query).get("p", ["?"])[0]
        with self.server.lock:
            self.server.arrivals.append((arrived, poller))
        status = self.server.status
        body = b'{"status": "UNAVAILABLE"}' if status == 503 else b'{"status": "PENDING"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


# -- the workers (forked) ----------------------------------------------------------------------------


def pause(error: Any, end_at: float) -> float:
    """How long a refused worker waits before it polls again: until the circuit lets a trial through, as the
    error says (``time_remaining``), at least one polling interval, never past the end of the run."""
    return max(min(max(error.time_remaining, INTERVAL), end_at - time.monotonic()), 0.0)


def breaker_worker(kind: str, redis_url: str, name: str, urls: List[str], reset: float, seconds: float,
                   start: Start, results: Any) -> None:
    """Poll ``urls`` (one poller each: a thread of control, or an asyncio task) until ``end_at``; report, per
    poller, when it was first refused, and the errors that are not the breaker's or the deadline's."""
    logging.getLogger("httsleep").setLevel(logging.CRITICAL)
    from httsleep import CircuitBrokenError, GaveUp

    first_refused: Dict[str, float] = {}
    errors: List[str] = []
    refusals = [0]

    def refused(url: str) -> None:
        refusals[0] += 1
        first_refused.setdefault(url, time.monotonic())

    if kind == "redis_async":
        import httpx

        from httsleep import AsyncHttSleeper
        from httsleep.redis import AsyncRedisCircuitBreaker

        async def main() -> None:
            breaker = AsyncRedisCircuitBreaker(redis_url, name=name, threshold=THRESHOLD, reset_timeout=reset)
            async with httpx.AsyncClient() as client:

                async def poller(url: str) -> None:
                    while time.monotonic() < end_at:
                        try:
                            await AsyncHttSleeper(url, status_code=200, client=client, circuit_breaker=breaker,
                                                  polling_interval=INTERVAL, max_retries=None,
                                                  timeout=max(end_at - time.monotonic(), 0.05),
                                                  request_timeout=2).run()
                        except CircuitBrokenError as error:
                            refused(url)
                            await asyncio.sleep(pause(error, end_at))
                        except GaveUp:
                            pass
                        except Exception as exc:  # noqa: BLE001 - reported: must not happen
                            errors.append(repr(exc))
                            await asyncio.sleep(INTERVAL)

                await asyncio.sleep(max(start_at - time.monotonic(), 0))
                await asyncio.gather(*(poller(url) for url in urls))
            await breaker.aclose()

        cpu_before = cpu_seconds()
        start_at, end_at = start.ready(seconds)
        asyncio.run(main())
    else:
        import requests

        from httsleep import CircuitBreaker, httsleep
        from httsleep.redis import RedisCircuitBreaker

        (url,) = urls
        breaker: Any
        if kind == "redis":
            breaker = RedisCircuitBreaker(redis_url, name=name, threshold=THRESHOLD, reset_timeout=reset)
        else:
            breaker = CircuitBreaker(threshold=THRESHOLD, reset_timeout=reset)
        session = requests.Session()
        cpu_before = cpu_seconds()
        start_at, end_at = start.ready(seconds)
        time.sleep(max(start_at - time.monotonic(), 0))
        while time.monotonic() < end_at:
            try:
                httsleep(url, status_code=200, session=session, circuit_breaker=breaker, polling_interval=INTERVAL,
                         max_retries=None, timeout=max(end_at - time.monotonic(), 0.05), request_timeout=2)
            except CircuitBrokenError as error:
                refused(url)
                time.sleep(pause(error, end_at))
            except GaveUp:
                pass
            except Exception as exc:  # noqa: BLE001 - reported: must not happen
                errors.append(repr(exc))
                time.sleep(INTERVAL)
        if kind == "redis":
            breaker.close()
    results.put({"first_refused": {urlsplit(url).query[2:]: moment for url, moment in first_refused.items()},
                 "errors": errors, "cpu": cpu_seconds() - cpu_before, "refusals": refusals[0],
                 "late": round(time.monotonic() - end_at, 3)})


def rate_worker(kind: str, redis_url: str, key: str, url: str, seconds: float, start: Start, results: Any) -> None:
    """One poll of a job that never finishes, paced by the rate limit, until ``end_at``."""
    logging.getLogger("httsleep").setLevel(logging.CRITICAL)
    from httsleep import GaveUp, httsleep
    from httsleep.redis import RedisRateLimit

    limit: Any = RedisRateLimit(RATE, redis_url, key=key) if kind == "redis" else RATE
    errors: List[str] = []
    cpu_before = cpu_seconds()
    start_at, end_at = start.ready(seconds)
    time.sleep(max(start_at - time.monotonic(), 0))
    try:
        httsleep(url, json={"status": "SUCCESS"}, rate_limit=limit, polling_interval=0.01, max_retries=None,
                 timeout=end_at - time.monotonic(), request_timeout=2)
    except GaveUp:
        pass
    except Exception as exc:  # noqa: BLE001 - reported: must not happen
        errors.append(repr(exc))
    if kind == "redis":
        limit.close()
    results.put({"errors": errors, "cpu": cpu_seconds() - cpu_before})


class Start:
    """The start of a run, once every worker is ready: forking 50 processes on a loaded machine takes seconds,
    so the start is not fixed beforehand. Each worker, its breaker or limit built, calls :meth:`ready`; the
    parent, once all are, sets the start ``lead`` seconds ahead and lets them go."""

    def __init__(self, lead: float) -> None:
        self.lead = lead
        self.readies = FORK.Queue()
        self.go = FORK.Event()
        self.moments = FORK.Array("d", 2)

    def ready(self, seconds: float) -> Tuple[float, float]:
        """(In a worker.) Say so, wait for the start; (start_at, end_at), ``seconds`` apart."""
        self.readies.put(None)
        self.go.wait()
        start_at = self.moments[0]
        return start_at, start_at + seconds

    def release(self, workers: int, timeout: float = 120) -> float:
        """(In the parent.) Wait until ``workers`` are ready, then start them; the start (time.monotonic)."""
        for _ in range(workers):
            self.readies.get(timeout=timeout)
        self.moments[0] = start_at = time.monotonic() + self.lead
        self.go.set()
        return start_at


def run_workers(target: Any, argument_lists: List[Tuple[Any, ...]], seconds: float, lead: float
                ) -> Tuple[List[Dict[str, Any]], float]:
    """Fork a worker per argument list, start them together; (what each reported, the start)."""
    results = FORK.Queue()
    start = Start(lead)
    workers = [FORK.Process(target=target, args=(*arguments, seconds, start, results), daemon=True)
               for arguments in argument_lists]
    for worker in workers:
        worker.start()
    try:
        start_at = start.release(len(workers))
        return [results.get(timeout=start_at + seconds - time.monotonic() + 60) for _ in workers], start_at
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():  # a hung worker: ended by its own pid
                worker.kill()


# -- measuring ----------------------------------------------------------------------------------------


def trial_windows(moments: List[float], opened: float, reset: float, end: float) -> List[int]:
    """Requests in each half-open window: the windows are ``reset`` long and centred where trials fall due,
    ``opened + n * reset`` (n = 1, 2, ...), so that a trial a little early or late stays in its window; only
    windows whose centre comes before ``end``."""
    counts = []
    centre = opened + reset
    while centre < end:
        counts.append(sum(1 for moment in moments if centre - reset / 2 <= moment < centre + reset / 2))
        centre += reset
    return counts


def busiest_second(moments: List[float]) -> int:
    """The most moments in any window [t, t + 1): the most is reached by a window starting at a moment."""
    moments = sorted(moments)
    most, end = 0, 0
    for index, start in enumerate(moments):
        while end < len(moments) and moments[end] < start + 1.0:
            end += 1
        most = max(most, end - index)
    return most


def breaker_run(kind: str, args: argparse.Namespace, redis: Redis, upstream: Upstream, number: int
                ) -> Dict[str, Any]:
    name = "fleet-bench-{}-{}-{}".format(kind, number, time.time_ns())
    pollers = ["{}".format(index) for index in range(args.processes)]
    if kind == "redis_async":
        groups = [pollers[index:index + args.tasks] for index in range(0, len(pollers), args.tasks)]
    else:
        groups = [[poller] for poller in pollers]
    upstream.status = 503
    upstream.take()
    before = redis.info()
    forked = time.monotonic()
    reports, start_at = run_workers(breaker_worker, [(kind, redis.url, name, [upstream.url(p) for p in group],
                                                      args.reset) for group in groups], args.seconds, args.lead)
    end_at = start_at + args.seconds
    wall = time.monotonic() - forked
    after = redis.info()
    arrivals = [(moment, poller) for moment, poller in upstream.take() if start_at <= moment]
    first_refused: Dict[str, float] = {}
    for one in reports:
        first_refused.update(one["first_refused"])
    before_open = [moment for moment, poller in arrivals if moment < first_refused.get(poller, float("inf"))]
    after_open = [moment for moment, poller in arrivals if moment >= first_refused.get(poller, float("inf"))]
    opened = min(first_refused.values(), default=end_at)
    trials = trial_windows(after_open, opened, args.reset, end_at)
    return {
        "label": kind,
        "round": number,
        "processes": len(groups),
        "pollers": len(pollers),
        "requests": len(arrivals),
        "before_open": len(before_open),
        "windows": len(trials),
        "trials_per_window": trials,
        "never_refused": len(pollers) - len(first_refused),
        "redis_round_trips": after["round_trips"] - before["round_trips"],
        "redis_commands": after["commands"] - before["commands"],
        "redis_cpu": after["cpu"] - before["cpu"],
        "cpu": sum(one["cpu"] for one in reports),
        "wall": wall,
        "errors": [error for one in reports for error in one["errors"]][:5],
    }


def rate_run(kind: str, args: argparse.Namespace, redis: Redis, upstream: Upstream, number: int) -> Dict[str, Any]:
    key = "fleet-bench-{}-{}".format(number, time.time_ns())
    pollers = ["{}".format(index) for index in range(args.pollers)]
    upstream.status = 200
    upstream.take()
    before = redis.info()
    forked = time.monotonic()
    reports, start_at = run_workers(rate_worker, [(kind, redis.url, key, upstream.url(p)) for p in pollers],
                                    args.rate_seconds, args.lead)
    wall = time.monotonic() - forked
    after = redis.info()
    arrivals = [(moment, poller) for moment, poller in upstream.take() if start_at <= moment]
    shares = {poller: 0 for poller in pollers}
    for _, poller in arrivals:
        shares[poller] += 1
    round_trips = after["round_trips"] - before["round_trips"]
    return {
        "label": kind,
        "round": number,
        "pollers": len(pollers),
        "requests": len(arrivals),
        "busiest_second": busiest_second([moment for moment, _ in arrivals]),
        "per_poller_min": min(shares.values()),
        "per_poller_max": max(shares.values()),
        "redis_round_trips": round_trips,
        "redis_commands": after["commands"] - before["commands"],
        "redis_per_second": round_trips / args.rate_seconds,
        "redis_cpu": after["cpu"] - before["cpu"],
        "cpu": sum(one["cpu"] for one in reports),
        "wall": wall,
        "errors": [error for one in reports for error in one["errors"]][:5],
    }


# -- tables -----------------------------------------------------------------------------------------------


def spread(values: Sequence[float], digits: int = 0) -> str:
    """The median, and the range when the rounds differ: ``12 (11–14)``."""
    fmt = "{:.%df}" % digits
    middle = fmt.format(statistics.median(values))
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return middle if low == high else "{} ({}–{})".format(middle, low, high)


def breaker_table(samples: List[Dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        "| variant | processes × pollers | requests to the dead upstream | before the circuit opened "
        "| half-open windows | trials per window (min / median / max) | Redis round trips | worker CPU s "
        "| Redis CPU s | wall s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key, label in BREAKER_VARIANTS:
        mine = [s for s in samples if s["label"] == key]
        if not mine:
            continue
        trials = [count for s in mine for count in s["trials_per_window"]] or [0]
        lines.append("| {} | {} × {} | {} | {} | {} | {} / {:g} / {} | {} | {} | {} | {} |".format(
            label, mine[0]["processes"], mine[0]["pollers"] // mine[0]["processes"],
            spread([s["requests"] for s in mine]), spread([s["before_open"] for s in mine]),
            spread([s["windows"] for s in mine]), min(trials), statistics.median(trials), max(trials),
            spread([s["redis_round_trips"] for s in mine]), spread([s["cpu"] for s in mine], 2),
            spread([s["redis_cpu"] for s in mine], 2), spread([s["wall"] for s in mine], 1)))
    ratios = ["| ratio (median of per-round ratios) | requests | before the circuit opened | worker CPU |",
              "|---|--:|--:|--:|"]
    for key, label in BREAKER_VARIANTS[:2]:
        figures = [paired_ratio(samples, key, "local", field) for field in ("requests", "before_open", "cpu")]
        if figures[0] is not None:
            ratios.append("| {} ÷ per-process CircuitBreaker | {} |".format(
                label, " | ".join("–" if value is None else "{:.2f}".format(value) for value in figures)))
    return "\n".join(lines) + "\n\n" + "\n".join(ratios)


def rate_table(samples: List[Dict[str, Any]]) -> str:
    lines = [
        "| variant | requests | busiest 1-s window | requests per poller (min / max) | Redis round trips per second "
        "| worker CPU s | Redis CPU s |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for key, label in RATE_VARIANTS:
        mine = [s for s in samples if s["label"] == key]
        if not mine:
            continue
        lines.append("| {} | {} | {} | {} / {} | {} | {} | {} |".format(
            label, spread([s["requests"] for s in mine]), spread([s["busiest_second"] for s in mine]),
            min(s["per_poller_min"] for s in mine), max(s["per_poller_max"] for s in mine),
            spread([s["redis_per_second"] for s in mine], 1), spread([s["cpu"] for s in mine], 2),
            spread([s["redis_cpu"] for s in mine], 2)))
    return "\n".join(lines)


# -- the parent -------------------------------------------------------------------------------------------


def warm_up(redis: Redis, upstream: Upstream) -> None:
    """One poll of each kind in this process, before any fork, on breakers and a limit of their own: what a
    process does once (imports made on first use, regular expressions compiled, Lua scripts loaded into
    Redis) is not done again by 50 workers at once at the start of every run. Nothing built here is kept."""
    import httpx

    from httsleep import AsyncHttSleeper, GaveUp, httsleep
    from httsleep.redis import AsyncRedisCircuitBreaker, RedisCircuitBreaker, RedisRateLimit

    url = upstream.url("warm-up")
    breaker = RedisCircuitBreaker(redis.url, name="warm-up", threshold=THRESHOLD, reset_timeout=RESET)
    limit = RedisRateLimit(RATE, redis.url, key="warm-up")
    for status, options in ((503, {"circuit_breaker": breaker}), (200, {"rate_limit": limit})):
        upstream.status = status
        try:
            httsleep(url, json={"status": "SUCCESS"}, polling_interval=0, max_retries=2, **options)
        except GaveUp:
            pass
    breaker.close()
    limit.close()

    async def asynchronous() -> None:
        shared = AsyncRedisCircuitBreaker(redis.url, name="warm-up-async", threshold=THRESHOLD, reset_timeout=RESET)
        async with httpx.AsyncClient() as client:
            try:
                await AsyncHttSleeper(url, status_code=200, client=client, circuit_breaker=shared,
                                      polling_interval=0, max_retries=2).run()
            except GaveUp:
                pass
        await shared.aclose()

    upstream.status = 503
    asyncio.run(asynchronous())
    upstream.take()


def run(args: argparse.Namespace) -> Dict[str, Any]:
    breaker_samples: List[Dict[str, Any]] = []
    rate_samples: List[Dict[str, Any]] = []
    notes: List[str] = []
    with tempfile.TemporaryDirectory(prefix="httsleep-fleet-") as folder:
        redis = Redis(folder)
        upstream = Upstream()
        try:
            warm_up(redis, upstream)
            for number in range(args.rounds):
                for key, _ in BREAKER_VARIANTS:
                    if key not in args.variants:
                        continue
                    log("fleet: round {}/{} breaker {}".format(number + 1, args.rounds, key))
                    breaker_samples.append(breaker_run(key, args, redis, upstream, number))
            for number in range(args.rounds):
                for key, _ in RATE_VARIANTS:
                    log("fleet: round {}/{} rate limit {}".format(number + 1, args.rounds, key))
                    rate_samples.append(rate_run(key, args, redis, upstream, number))
            version = redis.command("INFO", "server").decode()
        finally:
            upstream.stop()
            redis.stop()
    for sample in breaker_samples + rate_samples:
        if sample["errors"]:
            notes.append("{} round {}: errors in the polls: {}".format(sample["label"], sample["round"],
                                                                      sample["errors"]))
    for sample in breaker_samples:
        if sample["never_refused"]:
            notes.append("{} round {}: {} poller(s) never refused".format(sample["label"], sample["round"],
                                                                         sample["never_refused"]))
    redis_version = next((line.split(":", 1)[1] for line in version.splitlines()
                          if line.startswith("redis_version:")), "?")
    header = (
        "{} CPUs, Python {}, redis-server {}; {} round(s), variants alternating; medians over rounds (range)."
        .format(os.cpu_count(), platform.python_version(), redis_version.strip(), args.rounds)
    )
    breaker_title = (
        "### Circuit breaker: {} pollers at {:g} Hz against an always-503 upstream, threshold {}, reset {:g} s, "
        "{:g} s".format(args.processes, 1 / INTERVAL, THRESHOLD, args.reset, args.seconds)
    )
    rate_title = "### Rate limit: {} pollers in {} processes at {} for {:g} s (the limit allows {:g})".format(
        args.pollers, args.pollers, RATE, args.rate_seconds, 10 * args.rate_seconds + 1)
    markdown = "\n\n".join(
        [header, breaker_title, breaker_table(breaker_samples, args), rate_title, rate_table(rate_samples)]
        + (["Notes:\n\n" + "\n".join("- " + note for note in notes)] if notes else [])
    )
    settings = {name: value for name, value in vars(args).items() if name != "output"}
    return {"settings": settings, "breaker": breaker_samples, "rate_limit": rate_samples, "notes": notes,
            "markdown": markdown}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=50, help="pollers of the breaker harness (default 50)")
    parser.add_argument("--tasks", type=int, default=10, help="asyncio pollers per process (default 10)")
    parser.add_argument("--seconds", type=float, default=7.0, help="length of a breaker run (default 7)")
    parser.add_argument("--reset", type=float, default=RESET, help="reset_timeout of the breakers (default 2)")
    parser.add_argument("--pollers", type=int, default=20, help="processes of the rate-limit harness (default 20)")
    parser.add_argument("--rate-seconds", type=float, default=5.0, help="length of a rate-limit run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, in alternation (default 3)")
    parser.add_argument("--lead", type=float, default=0.5,
                        help="seconds between the last worker's being ready and the start (default 0.5)")
    parser.add_argument("--variants", nargs="+", default=[key for key, _ in BREAKER_VARIANTS],
                        choices=[key for key, _ in BREAKER_VARIANTS], help="breaker variants to run")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 8 pollers, 3 s, one round")
    parser.add_argument("--output", help="also write the samples as JSON here")
    return parser


def make_quick(args: argparse.Namespace) -> None:
    """The smoke run's settings: 8 pollers (4 tasks a process), reset 1 s, 3-s and 2-s runs, one round."""
    args.processes, args.tasks, args.seconds, args.reset = 8, 4, 3.0, 1.0
    args.pollers, args.rate_seconds, args.rounds = 4, 2.0, 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        make_quick(args)
    report(run(args), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
