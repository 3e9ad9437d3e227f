"""One benchmark client, run in its own process by ``benchmarks/run.py``.

Usage::

    python benchmarks/clients.py VARIANT CONDITION BASE_URL ATTEMPTS

polls a fresh job on the job server (``BASE_URL/jobs/<uuid>?done_after=ATTEMPTS``)
with zero interval until it is done, and prints one JSON object: the wall
and CPU microseconds per attempt of that poll (process start, imports and
a warm-up poll are not counted) and the process's peak memory.

Variants: ``hand`` (a hand-written ``requests.Session`` loop, the floor),
``hand_tuned`` (the same loop reading the environment's proxy settings
once per poll instead of in every ``session.get``, as httsleep does),
``httsleep`` (whatever ``import httsleep`` finds: this checkout in the
bench virtualenv, 0.3.1 in its own), ``polling2``, ``tenacity``,
``hand_httpx`` and ``async`` (httsleep's asyncio front end on httpx).
The special variant ``idle`` polls with a 1 s interval and reports the
CPU share it used. Every variant makes the same check on the same
response with one kept-alive connection.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any, Callable, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import peak_rss_kib  # noqa: E402 - after the path tweak
from server import TEAM, job_document  # noqa: E402

#: (connect, read) timeout every client sends with: httsleep's default.
TIMEOUT = (10.0, 30.0)
CONDITIONS = ("status", "json", "jsonpath", "callback")

Poll = Callable[[str], Any]


def job_url(base: str, done_after: int, condition: str) -> tuple[str, str]:
    job_id = uuid.uuid4().hex
    url = "{}/jobs/{}?done_after={}".format(base, job_id, done_after)
    if condition == "status":
        url += "&pending_status=202"
    return job_id, url


# -- the checks, written by hand ---------------------------------------------------


def _done_document(url: str) -> Dict[str, Any]:
    """The document the job at ``url`` answers when it is done."""
    job_id = url.split("/jobs/", 1)[1].split("?", 1)[0]
    done_after = int(url.split("done_after=", 1)[1].split("&", 1)[0])
    return job_document(job_id, done_after, done_after)


def is_done(response: Any) -> bool:
    """The callback condition (also what the hand-written loops check for it)."""
    return response.json()["status"] == "SUCCESS"


def hand_check(condition: str, url: str) -> Callable[[Any], bool]:
    """The check a hand-written loop makes for ``condition``: the same work as httsleep's."""
    if condition == "status":
        return lambda response: response.status_code == 200
    if condition == "json":
        expected = _done_document(url)
        return lambda response: response.status_code == 200 and response.json() == expected

    if condition == "jsonpath":

        def check(response: Any) -> bool:
            data = response.json()
            owner = data.get("owner") if isinstance(data, dict) else None
            return isinstance(owner, dict) and owner.get("team") == TEAM and data.get("status") == "SUCCESS"

        return check
    if condition == "callback":
        return is_done
    raise SystemExit("unknown condition {!r}".format(condition))


def httsleep_until(condition: str, url: str) -> Dict[str, Any]:
    """The same checks as :func:`hand_check`, as an httsleep condition dict."""
    if condition == "status":
        return {"status_code": 200}
    if condition == "json":
        return {"status_code": 200, "json": _done_document(url)}
    if condition == "jsonpath":
        return {
            "jsonpath": [
                {"expression": "owner.team", "value": TEAM},
                {"expression": "status", "value": "SUCCESS"},
            ]
        }
    if condition == "callback":
        return {"callback": is_done}
    raise SystemExit("unknown condition {!r}".format(condition))


# -- the variants: each returns poll(url) -> response ----------------------------------


def variant_hand(condition: str) -> Poll:
    import requests

    session = requests.Session()

    def poll(url: str) -> Any:
        check = hand_check(condition, url)
        while True:
            response = session.get(url, timeout=TIMEOUT)
            if check(response):
                return response

    return poll


def variant_hand_tuned(condition: str) -> Poll:
    """A hand-written loop that, like httsleep, reads proxy/CA settings from the environment once per poll."""
    import requests

    session = requests.Session()

    def poll(url: str) -> Any:
        check = hand_check(condition, url)
        request = requests.Request("GET", url)
        settings = None
        while True:
            prepared = session.prepare_request(request)
            if settings is None:
                settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
            response = session.send(prepared, timeout=TIMEOUT, **settings)
            if check(response):
                return response

    return poll


def variant_httsleep(condition: str) -> Poll:
    import requests

    import httsleep

    session = requests.Session()

    def poll(url: str) -> Any:
        # the same call for 0.3.1 (which has no request timeout) and this checkout
        return httsleep.httsleep(
            url, httsleep_until(condition, url), session=session, polling_interval=0, max_retries=None
        )

    return poll


def variant_polling2(condition: str) -> Poll:
    import polling2
    import requests

    session = requests.Session()

    def poll(url: str) -> Any:
        return polling2.poll(
            lambda: session.get(url, timeout=TIMEOUT),
            check_success=hand_check(condition, url),
            step=0,
            poll_forever=True,
        )

    return poll


def variant_tenacity(condition: str) -> Poll:
    import requests
    from tenacity import Retrying, retry_if_not_result, stop_never, wait_none

    session = requests.Session()

    def poll(url: str) -> Any:
        retrying = Retrying(retry=retry_if_not_result(hand_check(condition, url)), wait=wait_none(), stop=stop_never)
        return retrying(lambda: session.get(url, timeout=TIMEOUT))

    return poll


def variant_hand_httpx(condition: str) -> Poll:
    async def poll_async(client: Any, url: str) -> Any:
        check = hand_check(condition, url)
        while True:
            response = await client.get(url)
            if check(response):
                return response

    return _async_runner(poll_async)


def variant_async(condition: str) -> Poll:
    import httsleep

    async def poll_async(client: Any, url: str) -> Any:
        return await httsleep.async_httsleep(
            url, httsleep_until(condition, url), client=client, polling_interval=0, max_retries=None
        )

    return _async_runner(poll_async)


def _async_runner(poll_async: Callable[[Any, str], Any]) -> Poll:
    """Runs ``poll_async(client, url)`` on one event loop with one kept-alive ``httpx.AsyncClient``."""
    import asyncio

    import httpx

    loop = asyncio.new_event_loop()

    async def make_client() -> Any:
        return httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT[1], connect=TIMEOUT[0]))

    client = loop.run_until_complete(make_client())

    def poll(url: str) -> Any:
        return loop.run_until_complete(poll_async(client, url))

    return poll


VARIANTS: Dict[str, Callable[[str], Poll]] = {
    "hand": variant_hand,
    "hand_tuned": variant_hand_tuned,
    "httsleep": variant_httsleep,
    "polling2": variant_polling2,
    "tenacity": variant_tenacity,
    "hand_httpx": variant_hand_httpx,
    "async": variant_async,
}


def measure(variant: str, condition: str, base: str, attempts: int) -> Dict[str, Any]:
    poll = VARIANTS[variant](condition)
    _, warm_url = job_url(base, 3, condition)  # warm-up: imports, connection, caches
    poll(warm_url)
    job_id, url = job_url(base, attempts, condition)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    response = poll(url)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    document = response.json()
    if document["status"] != "SUCCESS" or document["progress"]["step"] != attempts:
        raise SystemExit("{} polled {} times, not {}".format(variant, document["progress"]["step"], attempts))
    return {
        "variant": variant,
        "condition": condition,
        "attempts": attempts,
        "wall_us": wall / attempts * 1e6,
        "cpu_us": cpu / attempts * 1e6,
        "maxrss_kb": peak_rss_kib(),  # not ru_maxrss, which carries the parent's peak over fork and exec
        "python": sys.version.split()[0],
    }


def measure_idle(base: str, attempts: int, interval: float) -> Dict[str, Any]:
    """Poll a job done after ``attempts`` with ``interval`` s between attempts; report the CPU share."""
    import requests

    import httsleep

    session = requests.Session()
    _, url = job_url(base, attempts, "json")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    httsleep.httsleep(
        url, httsleep_until("jsonpath", url), session=session, polling_interval=interval, max_retries=None
    )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "variant": "idle",
        "interval": interval,
        "attempts": attempts,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_share": cpu / wall,
    }


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        raise SystemExit(__doc__)
    variant, condition, base, attempts = argv[0], argv[1], argv[2].rstrip("/"), int(argv[3])
    if variant == "idle":
        result = measure_idle(base, attempts, float(condition))
    else:
        if variant not in VARIANTS or condition not in CONDITIONS:
            raise SystemExit("unknown variant {!r} or condition {!r}".format(variant, condition))
        result = measure(variant, condition, base, attempts)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
