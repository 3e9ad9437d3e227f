"""The examples of the ``poll`` 1.0 package's documentation run as written against a local server.

httsleep ships ``poll``'s helpers (poll/poll_, retry/retry_, circuitbreaker;
see docs/resilience.md). Each example is the code of poll 1.0's
documentation verbatim except its first line: ``from poll import ...``
becomes ``from httsleep import ...``. Time is injected (the
helpers' ``sleep``/``monotonic`` are replaced), so the 1 s intervals and the
60 s reset timeout cost nothing.
"""

from __future__ import annotations

import textwrap
from typing import Dict

import pytest
import requests
from conftest import ManualClock
from werkzeug.wrappers import Request, Response

import httsleep.resilience
from httsleep import CircuitBrokenError

POLL = """
from poll import poll
import requests

@poll(lambda response: response.status_code != 404, timeout=15, interval=1)
def wait_until_exists(uri):
    return requests.get(uri)
"""

POLL_ = """
from poll import poll_
import requests

def wait_until_exists(uri):
    poll_(
        lambda: requests.get(uri),
        lambda response: response.status_code != 404,
        timeout=15,
        interval=1
    )
"""

RETRY = """
from poll import retry
import requests

@retry(requests.HTTPError, times=15, interval=1)
def wait_until_succeeds(uri):
    response = requests.get(uri)
    response.raise_for_status()
    return response
"""

RETRY_ = """
from poll import retry_
import requests

def get_or_raise(uri):
    response = requests.get(uri)
    response.raise_for_status()
    return response

def wait_until_succeeds(uri):
    retry_(
        lambda: get_or_raise(uri),
        requests.HTTPError,
        times=15,
        interval=1
    )
"""

CIRCUITBREAKER = """
from poll import circuitbreaker
import requests

@circuitbreaker(requests.HTTPError, threshold=3, reset_timeout=60)
def attempt(uri):
    response = requests.get(uri)
    response.raise_for_status()
    return response
"""


def run_example(source: str) -> Dict[str, object]:
    """Execute an example of poll 1.0's docs with only its import changed to httsleep; return its namespace."""
    code = textwrap.dedent(source).replace("from poll import ", "from httsleep import ", 1)
    assert code.count("from httsleep import ") == 1 and "poll import" not in code.replace("httsleep import", "")
    namespace: Dict[str, object] = {"__name__": "poll_1_0_example"}
    exec(compile(code, "<example of poll 1.0>", "exec"), namespace)
    return namespace


@pytest.fixture
def clock(monkeypatch):
    fake = ManualClock()
    monkeypatch.setattr(httsleep.resilience, "sleep", fake.sleep)
    monkeypatch.setattr(httsleep.resilience, "monotonic", fake.monotonic)
    return fake


@pytest.fixture
def resource(httpserver):
    """``/resource`` answers the statuses in ``resource.script`` in order, the last one forever."""

    class Resource:
        script = [200]
        url = httpserver.url_for("/resource")

        @property
        def requests(self) -> int:
            return len(httpserver.log)

    served = Resource()

    def handler(request: Request) -> Response:
        status = served.script.pop(0) if len(served.script) > 1 else served.script[0]
        return Response("status {}".format(status), status=status)

    httpserver.expect_request("/resource").respond_with_handler(handler)
    return served


# -- polling --------------------------------------------------------------------------------


@pytest.mark.parametrize("example", [POLL, POLL_], ids=["poll", "poll_"])
def test_polling_retries_every_second_until_the_resource_exists(example, resource, clock):
    resource.script = [404, 404, 200]
    result = run_example(example)["wait_until_exists"](resource.url)
    assert resource.requests == 3
    assert clock.sleeps == [1, 1]
    if example is POLL:
        assert result.status_code == 200
    else:
        assert result is None  # poll 1.0's poll_ example has no ``return``: it only waits


@pytest.mark.parametrize("example", [POLL, POLL_], ids=["poll", "poll_"])
def test_polling_gives_up_with_timeout_error_after_15_seconds(example, resource, clock):
    resource.script = [404]
    with pytest.raises(TimeoutError) as caught:
        run_example(example)["wait_until_exists"](resource.url)
    assert resource.requests == 16  # at 0, 1, ..., 15 s
    assert sum(clock.sleeps) == 15 and clock.now == 15
    assert "16 times in 15.00s" in str(caught.value)


def test_polled_function_keeps_its_name(resource, clock):
    assert run_example(POLL)["wait_until_exists"].__name__ == "wait_until_exists"


# -- retrying ---------------------------------------------------------------------------------


@pytest.mark.parametrize("example", [RETRY, RETRY_], ids=["retry", "retry_"])
def test_retrying_until_the_response_has_a_2xx_status(example, resource, clock):
    resource.script = [503, 500, 404, 200]
    result = run_example(example)["wait_until_succeeds"](resource.url)
    assert resource.requests == 4
    assert clock.sleeps == [1, 1, 1]
    if example is RETRY:
        assert result.status_code == 200
    else:
        assert result is None  # poll 1.0's retry_ example has no ``return``


@pytest.mark.parametrize("example", [RETRY, RETRY_], ids=["retry", "retry_"])
def test_retrying_stops_after_15_calls_with_the_last_http_error(example, resource, clock):
    resource.script = [500]
    with pytest.raises(requests.HTTPError) as caught:
        run_example(example)["wait_until_succeeds"](resource.url)
    assert caught.value.response.status_code == 500
    assert resource.requests == 15
    assert clock.sleeps == [1] * 14


# -- circuit breaker ----------------------------------------------------------------------------


def test_circuit_breaker_blocks_calls_for_sixty_seconds_after_three_failures(resource, clock):
    resource.script = [500]
    attempt = run_example(CIRCUITBREAKER)["attempt"]
    for _ in range(3):
        with pytest.raises(requests.HTTPError):
            attempt(resource.url)
    for seconds_later in (0, 30, 59):
        clock.now = seconds_later
        with pytest.raises(CircuitBrokenError) as refused:
            attempt(resource.url)
        assert refused.value.time_remaining == 60 - seconds_later
    assert resource.requests == 3  # blocked calls never reached the service


def test_circuit_breaker_half_broken_trial_that_fails_breaks_it_again(resource, clock):
    resource.script = [500]
    attempt = run_example(CIRCUITBREAKER)["attempt"]
    for _ in range(3):
        with pytest.raises(requests.HTTPError):
            attempt(resource.url)
    clock.now = 60
    with pytest.raises(requests.HTTPError):
        attempt(resource.url)  # the one real call of the half-broken state
    with pytest.raises(CircuitBrokenError) as refused:
        attempt(resource.url)
    assert refused.value.time_remaining == 60
    assert resource.requests == 4


def test_circuit_breaker_half_broken_trial_that_succeeds_resumes_normal_service(resource, clock):
    resource.script = [500, 500, 500, 200]
    attempt = run_example(CIRCUITBREAKER)["attempt"]
    for _ in range(3):
        with pytest.raises(requests.HTTPError):
            attempt(resource.url)
    clock.now = 60
    assert attempt(resource.url).status_code == 200
    assert [attempt(resource.url).status_code for _ in range(3)] == [200, 200, 200]
    assert resource.requests == 7
