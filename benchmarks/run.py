"""Run the httsleep benchmark suite and print the tables.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # a smoke run (seconds)
    python benchmarks/run.py --scale    # and the concurrency runs (N = 1,000 to 10,000: several minutes more)

Starts the job server (``benchmarks/server.py``) in its own process, then
runs every client (``benchmarks/clients.py``) in its own process, in
alternation (A B C A B C ...) so that drift of the machine hits all alike.
httsleep 0.3.1 runs from its own virtualenv (``benchmarks/.venv-0.3.1``,
made on first use with pip from PyPI, or from ``--old-wheel``). Prints a
Markdown table, writes ``benchmarks/results/latest.json`` and the chart
``docs/_static/performance.png`` (needs matplotlib, from the ``bench`` extra).

Then, against the asyncio job server (``async_server.py``): the floors
(``floors.py``: one attempt in every HTTP client from a raw socket up, next
to every httsleep transport, and a poll done on its first attempt), the
bytes per attempt with and without conditional polling
(``conditional.py``), and with ``--scale`` the concurrent polls of
``scale.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import conditional
import floors
import scale
from common import child_env, features, log, quartiles

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLIENTS = os.path.join(HERE, "clients.py")
SERVER = os.path.join(HERE, "server.py")
OLD_VENV = os.path.join(HERE, ".venv-0.3.1")
RESULTS = os.path.join(HERE, "results")
CHART = os.path.join(ROOT, "docs", "_static", "performance.png")

CONDITIONS = ("status", "json", "jsonpath", "callback")
CONDITION_NAMES = {
    "status": "status code only",
    "json": "status + JSON equality",
    "jsonpath": "two JSONPath expressions",
    "callback": "a callback",
}

# (label, which python, clients.py variant, baseline label for the ratio)
Client = Tuple[str, str, str, str]


# -- the 0.3.1 virtualenv ------------------------------------------------------------


def old_python(wheel: Optional[str]) -> Optional[str]:
    """The interpreter of a virtualenv with httsleep 0.3.1 (made if missing), or None."""
    python = os.path.join(OLD_VENV, "bin", "python")
    check = "import httsleep.main, requests; assert not hasattr(httsleep, '__version__')"
    if os.path.exists(python) and subprocess.run([python, "-c", check], env=child_env(), cwd=HERE).returncode == 0:
        return python
    import requests
    import urllib3

    log("making {} with httsleep 0.3.1 ...".format(os.path.relpath(OLD_VENV, ROOT)))
    try:
        subprocess.run([sys.executable, "-m", "venv", OLD_VENV], check=True)
        # the same requests and urllib3 as this side, so only httsleep differs
        package = wheel if wheel else "httsleep==0.3.1"
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                package,
                "requests=={}".format(requests.__version__),
                "urllib3=={}".format(urllib3.__version__),
            ],
            check=True,
            env=child_env(),
        )
        subprocess.run([python, "-c", check], check=True, env=child_env(), cwd=HERE)
    except (subprocess.CalledProcessError, OSError) as error:
        log("cannot set up httsleep 0.3.1 ({}); leaving it out".format(error))
        return None
    return python


def importable(python: str, module: str) -> bool:
    return (
        subprocess.run([python, "-c", "import " + module], env=child_env(), capture_output=True, cwd=HERE).returncode
        == 0
    )


def has_async(python: str) -> bool:
    code = "import httpx, httsleep.aio; httsleep.async_httsleep"
    return subprocess.run([python, "-c", code], env=child_env(), capture_output=True, cwd=HERE).returncode == 0


# -- measuring -------------------------------------------------------------------


class Server:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, SERVER], stdout=subprocess.PIPE, text=True, env=child_env())
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise SystemExit("the job server did not start: {!r}".format(line))
        self.url = line.split()[-1]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run_client(python: str, variant: str, condition: str, url: str, attempts: int) -> Dict[str, Any]:
    completed = subprocess.run(
        [python, CLIENTS, variant, condition, url, str(attempts)],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=HERE,
    )
    if completed.returncode != 0:
        raise SystemExit("client {} {} failed:\n{}".format(variant, condition, completed.stderr))
    return json.loads(completed.stdout.strip().splitlines()[-1])


#: Prints the ms that ``import httsleep`` takes once requests is loaded, and whether it loaded jsonpath_rw.
_ON_TOP = (
    "import sys, time, requests; t = time.perf_counter(); import httsleep; "
    "print((time.perf_counter() - t) * 1e3, int('jsonpath_rw' in sys.modules))"
)


def import_times(interpreters: Dict[str, Tuple[str, Optional[str]]], runs: int) -> Dict[str, Dict[str, Any]]:
    """Import costs in ms, medians over ``runs`` interleaved interpreter starts.

    ``interpreters`` maps a label to (python, PYTHONPATH or None). With
    0.3.1 present, both sides use its virtualenv's interpreter (the checkout
    put first on PYTHONPATH), so only httsleep differs: same requests, same
    site-packages.

    - ``httsleep_ms``: ``python -c "import httsleep"`` minus ``python -c "pass"``;
    - ``on_top_of_requests_ms``: httsleep's own share, timed in-process after ``import requests``.
    """

    def call(python: str, path: Optional[str], code: str) -> subprocess.CompletedProcess:
        env = child_env()
        if path:
            env["PYTHONPATH"] = path
        return subprocess.run([python, "-c", code], check=True, env=env, cwd=HERE, capture_output=True, text=True)

    for python, path in interpreters.values():  # writes the bytecode caches
        call(python, path, "import httsleep")
    starts: Dict[Tuple[str, str], List[float]] = {}
    on_top: Dict[str, List[float]] = {}
    loads_jsonpath: Dict[str, bool] = {}
    for _ in range(runs):
        for label, (python, path) in interpreters.items():
            for name, code in (("pass", "pass"), ("httsleep", "import httsleep")):
                start = time.perf_counter()
                call(python, path, code)
                starts.setdefault((label, name), []).append(time.perf_counter() - start)
            ms, loaded = call(python, path, _ON_TOP).stdout.split()
            on_top.setdefault(label, []).append(float(ms))
            loads_jsonpath[label] = loaded == "1"
    result: Dict[str, Dict[str, Any]] = {}
    for label in interpreters:
        base = statistics.median(starts[(label, "pass")])
        result[label] = {
            "httsleep_ms": (statistics.median(starts[(label, "httsleep")]) - base) * 1e3,
            "on_top_of_requests_ms": statistics.median(on_top[label]),
            "interpreter_ms": base * 1e3,
            "imports_jsonpath_rw": loads_jsonpath[label],
        }
    return result


def summarise(samples: List[Dict[str, Any]], clients: List[Client]) -> List[Dict[str, Any]]:
    """Per client and condition: median and quartiles, and the ratio to the baseline.

    The ratio is the median of per-round ratios: each round's client and
    baseline ran next to each other, so drift of the machine cancels out.
    """
    by_key: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for sample in samples:
        by_key.setdefault((sample["label"], sample["condition"]), []).append(sample)
    rows = []
    for condition in CONDITIONS:
        for label, _, _, baseline in clients:
            mine = by_key.get((label, condition))
            if not mine:
                continue
            base = {s["round"]: s for s in by_key.get((baseline, condition), [])}
            wall = [s["wall_us"] for s in mine]
            cpu = [s["cpu_us"] for s in mine]
            wall_ratios = [s["wall_us"] / base[s["round"]]["wall_us"] for s in mine if s["round"] in base]
            cpu_ratios = [s["cpu_us"] / base[s["round"]]["cpu_us"] for s in mine if s["round"] in base]
            q1, median, q3 = quartiles(wall)
            c1, cpu_median, c3 = quartiles(cpu)
            rows.append(
                {
                    "condition": condition,
                    "client": label,
                    "baseline": baseline,
                    "wall_us": median,
                    "wall_q1": q1,
                    "wall_q3": q3,
                    "cpu_us": cpu_median,
                    "cpu_q1": c1,
                    "cpu_q3": c3,
                    "ratio_wall": statistics.median(wall_ratios) if wall_ratios else None,
                    "ratio_cpu": statistics.median(cpu_ratios) if cpu_ratios else None,
                    "maxrss_mb": statistics.median(s["maxrss_kb"] for s in mine) / 1024,
                    "rounds": len(mine),
                }
            )
    return rows


def machine() -> Dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import requests

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "requests": requests.__version__,
    }


# -- output ---------------------------------------------------------------------


def table(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "| condition | client | µs/attempt (wall) | IQR | CPU µs/attempt | × baseline (wall) | × baseline (CPU) "
        "| peak RSS MB |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        ratio = "{:.2f}".format(row["ratio_wall"]) if row["ratio_wall"] is not None else "–"
        cpu_ratio = "{:.2f}".format(row["ratio_cpu"]) if row["ratio_cpu"] is not None else "–"
        if row["client"] == row["baseline"]:
            ratio = cpu_ratio = "1 (baseline)"
        lines.append(
            "| {} | {} | {:.0f} | {:.0f}–{:.0f} | {:.0f} | {} | {} | {:.1f} |".format(
                CONDITION_NAMES[row["condition"]],
                row["client"],
                row["wall_us"],
                row["wall_q1"],
                row["wall_q3"],
                row["cpu_us"],
                ratio,
                cpu_ratio,
                row["maxrss_mb"],
            )
        )
    return "\n".join(lines)


def chart(rows: List[Dict[str, Any]], clients: List[Client], path: str, info: Dict[str, Any]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        return False
    labels = [label for label, _, _, _ in clients]
    index = {(row["client"], row["condition"]): row for row in rows}
    figure, axes = plt.subplots(1, 2, figsize=(13, 5), dpi=100, sharey=True)
    width = 0.8 / max(len(labels), 1)
    for axis, figure_name, title in (
        (axes[0], "cpu", "CPU time per attempt (client process)"),
        (axes[1], "wall", "wall time per attempt"),
    ):
        for i, label in enumerate(labels):
            heights, low, high, xs = [], [], [], []
            for j, condition in enumerate(CONDITIONS):
                row = index.get((label, condition))
                if row is None:
                    continue
                median = row[figure_name + "_us"]
                xs.append(j + (i - (len(labels) - 1) / 2) * width)
                heights.append(median)
                low.append(median - row[figure_name + "_q1"])
                high.append(row[figure_name + "_q3"] - median)
            axis.bar(xs, heights, width, yerr=[low, high], capsize=2, label=label)
        axis.set_yscale("log")
        axis.set_xticks(range(len(CONDITIONS)))
        axis.set_xticklabels([CONDITION_NAMES[c].replace(" + ", "\n+ ") for c in CONDITIONS], fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("µs per attempt, log scale (median; bars: quartiles)")
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, fontsize=8, loc="lower center", ncol=(len(names) + 1) // 2)
    figure.suptitle(
        "One poll attempt against a local keep-alive server: {} ({} cores), Python {}".format(
            info["cpu"], info["cores"], info["python"]
        ),
        fontsize=11,
    )
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True


SECTION_TITLES = {
    "floors": "### The floors: one attempt in every HTTP client, and a poll done on its first attempt",
    "bytes": "### Bytes per attempt, with and without conditional polling",
    "scale": "### Thousands of concurrent polls",
}


def more_measurements(args: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    """The floors, the bytes per attempt and (``--scale``) the concurrent polls, each against its own server."""
    parts: Dict[str, Dict[str, Any]] = {}
    if args.no_floors and args.no_bytes and not args.scale:
        return parts
    offered = features()
    parts["features"] = {"offered": offered}
    if not args.no_floors:
        parts["floors"] = floors.run(
            args.rounds, args.floor_attempts, args.floor_polls, offered, with_async=not args.no_async
        )
    if not args.no_bytes:
        parts["bytes"] = conditional.run(min(args.rounds, 3), 20 if args.quick else 100, offered, not args.no_async)
    if args.scale:
        options = scale.parser().parse_args([])
        if args.quick:
            scale.make_quick(options)
        parts["scale"] = scale.run(options, offered)
    return parts


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run the httsleep benchmarks and print the table.")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of alternation (default 7)")
    parser.add_argument("--attempts", type=int, default=300, help="attempts per measured poll (default 300)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round, few attempts, no idle test")
    parser.add_argument("--no-old", action="store_true", help="leave out httsleep 0.3.1")
    parser.add_argument("--no-chart", action="store_true", help="do not write the PNG chart")
    parser.add_argument("--no-async", action="store_true", help="leave out the asyncio clients")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated subset")
    parser.add_argument(
        "--clients",
        help="comma-separated subset of: hand, hand_tuned, httsleep, old, polling2, tenacity, hand_httpx, async",
    )
    parser.add_argument("--old-wheel", help="install httsleep 0.3.1 from this wheel instead of PyPI")
    parser.add_argument("--import-runs", type=int, default=20, help="interpreter starts per import figure")
    parser.add_argument("--idle-seconds", type=int, default=10, help="length of the 1 s interval CPU test")
    parser.add_argument("--no-floors", action="store_true", help="leave out the floors and first-attempt polls")
    parser.add_argument("--no-bytes", action="store_true", help="leave out the bytes per attempt (conditional)")
    parser.add_argument("--scale", action="store_true", help="also run scale.py (N = 1,000 to 10,000; minutes)")
    parser.add_argument("--floor-attempts", type=int, default=500, help="attempts per poll in the floors (500)")
    parser.add_argument("--floor-polls", type=int, default=300, help="first-attempt polls per client (300)")
    parser.add_argument("--output", default=os.path.join(RESULTS, "latest.json"), help="where to write the JSON")
    parser.add_argument("--chart", default=CHART, help="where to write the PNG chart")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.attempts, args.import_runs, args.idle_seconds = 1, 20, 2, 0
        args.floor_attempts, args.floor_polls = 20, 10
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        parser.error("unknown condition(s) {}".format(sorted(unknown)))

    python = sys.executable
    clients: List[Client] = [
        ("hand-written requests loop", python, "hand", "hand-written requests loop"),
        ("hand-written, environment read once", python, "hand_tuned", "hand-written requests loop"),
        ("httsleep (this checkout)", python, "httsleep", "hand-written requests loop"),
    ]
    interpreters: Dict[str, Tuple[str, Optional[str]]] = {"httsleep (this checkout)": (python, None)}
    old = None if args.no_old else old_python(args.old_wheel)
    if old:
        clients.append(("httsleep 0.3.1", old, "httsleep", "hand-written requests loop"))
        interpreters = {"httsleep (this checkout)": (old, ROOT), "httsleep 0.3.1": (old, None)}
    for library in ("polling2", "tenacity"):
        if importable(python, library):
            clients.append((library, python, library, "hand-written requests loop"))
        else:
            log("{} is not installed (pip install -e '.[bench]'): leaving it out".format(library))
    if not args.no_async:
        if has_async(python):
            clients += [
                ("hand-written httpx loop (async)", python, "hand_httpx", "hand-written httpx loop (async)"),
                ("httsleep async", python, "async", "hand-written httpx loop (async)"),
            ]
        else:
            log("httsleep.aio or httpx is not importable: no async clients")

    if args.clients:
        wanted = set(args.clients.split(","))
        keys = ["old" if label == "httsleep 0.3.1" else variant for label, _, variant, _ in clients]
        clients = [client for client, key in zip(clients, keys) if key in wanted]

    info = machine()
    log("machine: {cpu}, {cores} cores, Python {python}, {os}".format(**info))
    server = Server()
    samples: List[Dict[str, Any]] = []
    idle: Optional[Dict[str, Any]] = None
    try:
        for number in range(args.rounds):
            log("round {}/{}".format(number + 1, args.rounds))
            for condition in conditions:
                for label, interpreter, variant, _ in clients:
                    sample = run_client(interpreter, variant, condition, server.url, args.attempts)
                    sample.update(label=label, round=number)
                    samples.append(sample)
        if args.idle_seconds > 0:
            log("idle: polling with a 1 s interval for {} s".format(args.idle_seconds))
            idle = run_client(python, "idle", "1.0", server.url, args.idle_seconds + 1)
    finally:
        server.stop()
    log("import times ({} runs each)".format(args.import_runs))
    imports = import_times(interpreters, args.import_runs)
    extra = more_measurements(args)

    rows = summarise(samples, clients)
    print()
    print("Per attempt, {} attempts per poll, {} round(s):".format(args.attempts, args.rounds))
    print()
    print(table(rows))
    print()
    print(
        "| import | `python -c 'import httsleep'` ms | httsleep's own share (after requests) ms | loads jsonpath_rw |"
    )
    print("|---|--:|--:|---|")
    for label, figures in imports.items():
        print(
            "| {} | {:.1f} | {:.1f} | {} |".format(
                label,
                figures["httsleep_ms"],
                figures["on_top_of_requests_ms"],
                "yes" if figures["imports_jsonpath_rw"] else "no",
            )
        )
    if idle is not None:
        print()
        print(
            "Polling with a 1 s interval: {:.3f} s CPU in {:.1f} s = {:.3%} of one core".format(
                idle["cpu_s"], idle["wall_s"], idle["cpu_share"]
            )
        )
    for name, part in extra.items():
        if name != "features":
            print()
            print(SECTION_TITLES[name])
            print()
            print(part["markdown"])
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "machine": info,
                "settings": vars(args),
                "rows": rows,
                "imports": imports,
                "idle": idle,
                "samples": samples,
                **{name: {k: v for k, v in part.items() if k != "markdown"} for name, part in extra.items()},
            },
            handle,
            indent=1,
        )
    log("wrote {}".format(os.path.relpath(args.output, ROOT)))
    if not args.no_chart and chart(rows, clients, args.chart, info):
        log("wrote {}".format(os.path.relpath(args.chart, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
