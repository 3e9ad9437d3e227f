"""Helpers shared by the benchmark scripts: the asyncio job server's process, limits, statistics, feature checks.

Only the standard library is imported at module level, so that a client
process pays for nothing it does not measure.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASYNC_SERVER = os.path.join(HERE, "async_server.py")

#: (connect, read) timeout the hand-written clients send with: httsleep's default.
TIMEOUT = (10.0, 30.0)
SUCCESS = "SUCCESS"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # each interpreter imports its own httsleep
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # time imports with cached bytecode, as users have it
    return env


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit (every connection is a file); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def peak_rss_kib() -> int:
    """Peak resident set size of this process so far, KiB.

    On Linux, ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` carries the
    parent's peak over ``fork``/``exec``, so a small child would report its
    parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def split_url(url: str) -> Tuple[str, int, str]:
    """``http://host:port/path?q`` -> (host, port, "/path?q"), for the clients that speak HTTP by hand."""
    rest = url.split("://", 1)[1]
    authority, slash, target = rest.partition("/")
    host, _, port = authority.partition(":")
    return host, int(port or 80), slash + target


def get_json(url: str, timeout: float = 30) -> Any:
    """A GET outside the measured code (statistics from the server)."""
    import urllib.request  # here: it imports ssl, email and more, which a small client does not need

    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


# -- the asyncio job server, in its own process ----------------------------------------------


class JobServer:
    """``benchmarks/async_server.py`` in a child process; ``url`` is its base URL."""

    def __init__(self, python: str = sys.executable) -> None:
        self.process = subprocess.Popen(
            [python, ASYNC_SERVER], stdout=subprocess.PIPE, text=True, env=child_env(), cwd=HERE
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise SystemExit("the asyncio job server did not start: {!r}".format(line))
        self.url = line.split()[-1]

    def status(self, reset: bool = False) -> Dict[str, Any]:
        """The server's CPU seconds and requests so far, open connections and their peak, open-file limit.

        ``reset``: the peak starts again from the connections open now.
        """
        return dict(get_json(self.url + "/server" + ("?reset" if reset else "")))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> JobServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def run_child(command: List[str], timeout: Optional[float] = None) -> Tuple[Optional[Dict[str, Any]], str]:
    """Run one client process; return (its last stdout line as JSON, or None on failure; why it failed)."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, env=child_env(), cwd=HERE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "did not finish within {:g} s".format(timeout or 0)
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        reason = (completed.stderr.strip().splitlines() or ["exit status {}".format(completed.returncode)])[-1]
        return None, "failed: " + reason[:200]
    return dict(json.loads(lines[-1])), ""


# -- running clients in alternation ------------------------------------------------------------


class Client:
    """A row of a table: ``key`` names the variant to its child process; ``needs``, a key of
    :func:`features` it depends on; ``floor``, the key of the row its cost is divided by."""

    def __init__(self, key: str, label: str, needs: Optional[str] = None, floor: Optional[str] = None) -> None:
        self.key, self.label, self.needs, self.floor = key, label, needs, floor


def available(clients: Sequence[Client], offered: Dict[str, Optional[str]]) -> Tuple[List[Client], List[str]]:
    kept, notes = [], []
    for client in clients:
        reason = offered.get(client.needs) if client.needs else None
        if reason:
            notes.append("{}: not measured ({})".format(client.label, reason))
        else:
            kept.append(client)
    return kept, notes


def alternate(
    clients: List[Client], rounds: int, command: Callable[[Client], List[str]], notes: List[str]
) -> List[Dict[str, Any]]:
    """Run every client once per round, in the same order, each in its own process; a failure drops it."""
    samples: List[Dict[str, Any]] = []
    failed: set = set()
    for number in range(rounds):
        for client in clients:
            if client.key in failed:
                continue
            result, why = run_child(command(client), timeout=300)
            if result is None:
                failed.add(client.key)
                notes.append("{}: {}".format(client.label, why))
                log("  {}: {}".format(client.label, why))
                continue
            result.update(label=client.key, round=number)
            samples.append(result)
    return samples


# -- statistics -------------------------------------------------------------------------------


def quartiles(values: Sequence[float]) -> Tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def paired_ratio(samples: List[Dict[str, Any]], label: str, baseline: str, key: str) -> Optional[float]:
    """Median over rounds of ``label``'s ``key`` divided by ``baseline``'s in the same round."""
    mine = {s["round"]: s[key] for s in samples if s["label"] == label}
    base = {s["round"]: s[key] for s in samples if s["label"] == baseline}
    ratios = [mine[r] / base[r] for r in mine if r in base and base[r] > 0]
    return statistics.median(ratios) if ratios else None


def fmt_ratio(value: Optional[float]) -> str:
    return "–" if value is None else "{:.2f}".format(value)


# -- what this checkout of httsleep offers ------------------------------------------------------------


def report(result: Dict[str, Any], output: Optional[str]) -> None:
    """Print a result's Markdown; write the rest of it as JSON to ``output`` (when given)."""
    print(result["markdown"])
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            json.dump({k: v for k, v in result.items() if k != "markdown"}, handle, indent=1)


def features(python: str = sys.executable) -> Dict[str, Optional[str]]:
    """:func:`probe_features` in a child process, so that this one does not import what it probes."""
    result, why = run_child([python, os.path.abspath(__file__)], timeout=120)
    if result is None:
        raise SystemExit("cannot check what this checkout offers: " + why)
    return result


def probe_features() -> Dict[str, Optional[str]]:
    """Which optional pieces work here: feature -> None if available, else why not.

    Each is tried once: an ``AsyncHttSleeper`` given an ``aiohttp.ClientSession``
    (a ``TypeError`` until httsleep's aiohttp transport lands) and
    ``conditional=True`` on the sync and async pollers (a ``TypeError`` until
    conditional polling lands). Nothing is sent.
    """
    import asyncio

    url = "http://127.0.0.1:9/probe"
    found: Dict[str, Optional[str]] = {}
    try:
        import httsleep
    except ImportError as error:  # pragma: no cover - the bench virtualenv has it
        return {name: str(error) for name in ("httsleep", "httpx", "aiohttp", "aiohttp_transport", "conditional")}
    try:
        httsleep.HttSleeper(url, status_code=200, conditional=True)
        found["conditional"] = None
    except TypeError:
        found["conditional"] = "conditional=True is not available in this checkout"
    try:
        import httpx  # noqa: F401

        found["httpx"] = None
        httsleep.AsyncHttSleeper(url, status_code=200, conditional=True)
        found["async_conditional"] = None
    except ImportError:
        found["httpx"] = "httpx is not installed (pip install -e '.[async]')"
        found["async_conditional"] = found["httpx"]
    except TypeError:
        found["async_conditional"] = "conditional=True is not available in this checkout (async)"
    try:
        import aiohttp
    except ImportError:
        found["aiohttp"] = "aiohttp is not installed (pip install aiohttp)"
        found["aiohttp_transport"] = found["aiohttp_conditional"] = found["aiohttp"]
        return found
    found["aiohttp"] = None

    async def try_aiohttp() -> Tuple[Optional[str], Optional[str]]:
        async with aiohttp.ClientSession() as session:
            try:
                httsleep.AsyncHttSleeper(url, status_code=200, client=session)
            except (TypeError, ImportError):
                reason = "httsleep on aiohttp is not available in this checkout"
                return reason, reason
            try:
                httsleep.AsyncHttSleeper(url, status_code=200, client=session, conditional=True)
            except TypeError:
                return None, "conditional=True is not available in this checkout (aiohttp)"
            return None, None

    found["aiohttp_transport"], found["aiohttp_conditional"] = asyncio.run(try_aiohttp())
    return found


if __name__ == "__main__":
    print(json.dumps(probe_features()))
