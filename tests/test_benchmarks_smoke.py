"""The benchmark suite runs end to end (a smoke run; speed is never asserted here).

Each piece runs with ``--quick`` and must have measured what it says it
measures: every client, every poll done, the bytes a server counted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any, Dict, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")


def run_quick(script: str, tmp_path: Any, *extra: str) -> Tuple[str, Dict[str, Any]]:
    """Run ``benchmarks/<script> --quick``; return its stdout and the JSON it wrote."""
    output = tmp_path / "out.json"
    completed = subprocess.run(
        [sys.executable, os.path.join(BENCH, script), "--quick", "--output", str(output), *extra],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, json.loads(output.read_text(encoding="utf-8"))


@pytest.mark.slow  # a few seconds of real measuring, even with --quick
def test_quick_benchmark_run_prints_the_table_and_writes_results(tmp_path):
    """`benchmarks/run.py --quick` measures every client and condition and reports them."""
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "run.py"),
            "--quick",
            "--no-old",
            "--no-chart",
            "--no-async",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "| condition | client | µs/attempt (wall)" in completed.stdout
    assert "loads jsonpath_rw" in completed.stdout
    for title in ("### The floors", "### Bytes per attempt"):  # the sections after the peers' table
        assert title in completed.stdout
    results = json.loads(output.read_text(encoding="utf-8"))
    measured = {(row["client"], row["condition"]) for row in results["rows"]}
    for condition in ("status", "json", "jsonpath", "callback"):
        assert ("hand-written requests loop", condition) in measured
        assert ("httsleep (this checkout)", condition) in measured
    assert all(row["wall_us"] > 0 and row["cpu_us"] >= 0 for row in results["rows"])
    assert results["imports"]["httsleep (this checkout)"]["imports_jsonpath_rw"] is False
    assert results["floors"]["attempt_samples"] and results["bytes"]["samples"]


def test_a_client_polls_exactly_the_requested_number_of_attempts():
    """One client process against the job server: done on the n-th attempt, reported per attempt."""
    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "benchmarks", "server.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        completed = subprocess.run(
            [sys.executable, os.path.join(ROOT, "benchmarks", "clients.py"), "httsleep", "jsonpath", url, "7"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert (result["variant"], result["condition"], result["attempts"]) == ("httsleep", "jsonpath", 7)
    assert result["maxrss_kb"] > 0


@pytest.mark.slow
def test_the_floors_measure_every_client_from_a_raw_socket_up(tmp_path):
    stdout, results = run_quick("floors.py", tmp_path)
    measured = {sample["label"] for sample in results["attempt_samples"]}
    assert {"socket", "http_client", "urllib3_pool", "urllib3", "requests", "prepare_send", "httsleep"} <= measured
    assert {"streams", "aiohttp", "httpx", "httsleep_httpx", "httsleep_aiohttp", "httsleep_default"} <= measured
    first = {sample["label"] for sample in results["first_samples"]}
    assert {"requests", "httsleep", "aiohttp", "httsleep_aiohttp", "httsleep_default"} <= first
    assert all(s["cpu_us"] > 0 and s["wall_us"] > 0 for s in results["attempt_samples"] + results["first_samples"])
    assert "| httsleep sync ÷ urllib3 PoolManager |" in stdout
    assert "| httsleep async on aiohttp ÷ aiohttp loop |" in stdout
    assert results["notes"] == []  # nothing left out for want of a feature


@pytest.mark.slow
def test_conditional_polling_receives_the_document_twice_and_304s_between(tmp_path):
    stdout, results = run_quick("conditional.py", tmp_path)
    by_key = {sample["label"]: sample for sample in results["samples"]}
    for plain, conditional in (
        ("httsleep", "httsleep_conditional"),
        ("httsleep_httpx", "httsleep_httpx_conditional"),
        ("httsleep_aiohttp", "httsleep_aiohttp_conditional"),
    ):
        assert by_key[plain]["not_modified"] == 0
        # the document when first seen and when it changes; a 304 for every attempt between
        assert by_key[conditional]["not_modified"] == by_key[conditional]["attempts"] - 2
        assert by_key[conditional]["bytes"] < by_key[plain]["bytes"] / 5
    assert "| httsleep sync, conditional=True |" in stdout


@pytest.mark.slow
def test_every_scale_variant_completes_every_poll(tmp_path):
    stdout, results = run_quick("scale.py", tmp_path)
    keys = {sample["key"] for sample in results["samples"]}
    assert keys == {"httsleep_default", "hand_aiohttp_default", "httsleep_httpx", "hand_httpx",
                    "httsleep_httpx_shared", "httsleep_aiohttp", "hand_aiohttp", "streams", "threads"}
    for sample in results["samples"]:
        assert sample["done"] == sample["n"] == 50, sample
        assert sample["server_requests"] == 150, sample  # 3 attempts each
    assert "Limits: open files:" in stdout


@pytest.mark.slow
def test_poll_many_and_gathered_polls_complete_every_poll_in_the_benchmark(tmp_path):
    stdout, results = run_quick("poll_many.py", tmp_path)
    assert results["samples"], stdout
    for sample in results["samples"]:
        assert sample["done"] == sample["n"], sample


@pytest.mark.slow
def test_the_fleet_benchmark_measures_a_shared_circuit_and_a_shared_rate_against_per_process_ones(tmp_path):
    """`benchmarks/fleet.py --quick`: 8 pollers against a dead upstream with each breaker, 4 with each rate limit."""
    if shutil.which("redis-server") is None and not os.path.exists("/usr/bin/redis-server"):
        pytest.fail("redis-server is not installed (apt-get install redis-server): benchmarks/fleet.py needs one")
    stdout, results = run_quick("fleet.py", tmp_path)
    assert "### Circuit breaker:" in stdout and "### Rate limit:" in stdout
    assert results["notes"] == []  # no error in any poll, every poller refused once the circuit opened
    breakers = {sample["label"]: sample for sample in results["breaker"]}
    assert set(breakers) == {"redis", "redis_async", "local"}
    for key in ("redis", "redis_async"):
        shared = breakers[key]
        assert 5 <= shared["before_open"] <= shared["pollers"] + 4, shared  # in flight + threshold - 1
        assert shared["windows"] >= 1 and set(shared["trials_per_window"]) == {1}, shared
        assert shared["redis_round_trips"] > 0, shared
    local = breakers["local"]
    assert local["before_open"] == 8 * 5, local  # each process counts its own five failures
    assert local["windows"] >= 1 and max(local["trials_per_window"]) > 1, local
    assert local["redis_round_trips"] == 0, local
    limits = {sample["label"]: sample for sample in results["rate_limit"]}
    assert set(limits) == {"redis", "local"}
    assert limits["redis"]["busiest_second"] <= 11 and limits["redis"]["per_poller_min"] >= 1, limits
    assert limits["local"]["requests"] > 2 * limits["redis"]["requests"], limits  # 10/s per process


def test_the_asyncio_job_server_answers_304_to_a_matching_etag_and_gzip_when_asked():
    sys.path.insert(0, BENCH)
    try:
        from common import JobServer, get_json
    finally:
        sys.path.remove(BENCH)

    with JobServer() as server:
        url = server.url + "/big/smoke"
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request) as response:
            etag = response.headers["ETag"]
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Last-Modified"]
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 304
        answers = get_json(server.url + "/stats/smoke")
    assert [status for status, _, _ in answers] == [200, 304]
    assert answers[0][1] > 20_000 > 1_000 > answers[1][1]  # bytes written: the gzipped document, then a bare head
