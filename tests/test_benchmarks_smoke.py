"""The benchmark suite runs end to end (a smoke run; speed is never asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    results = json.loads(output.read_text(encoding="utf-8"))
    measured = {(row["client"], row["condition"]) for row in results["rows"]}
    for condition in ("status", "json", "jsonpath", "callback"):
        assert ("hand-written requests loop", condition) in measured
        assert ("httsleep (this checkout)", condition) in measured
    assert all(row["wall_us"] > 0 and row["cpu_us"] >= 0 for row in results["rows"])
    assert results["imports"]["httsleep (this checkout)"]["imports_jsonpath_rw"] is False


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
