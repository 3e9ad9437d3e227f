"""One CircuitBreaker shared by many HttSleeper polls protects a service (issue 4, must-show 2)."""

from __future__ import annotations

import socket
import struct
import threading
from typing import List

import pytest
import requests
from conftest import ManualClock, run_in_threads
from faultservers import RawServer, read_head

from httsleep import CircuitBreaker, CircuitBrokenError, HttSleeper, StopPolling, httsleep
from httsleep.policy import Policy
from httsleep.resilience import CLOSED, HALF_OPEN, OPEN
from httsleep.testing import no_waiting
from httsleep.transient import is_service_failure


class Service(RawServer):
    """A loopback HTTP service that counts requests; ``dead`` ones are read, then reset without an answer."""

    def __init__(self) -> None:
        self.dead = True
        self.requests = 0
        self._count_lock = threading.Lock()
        super().__init__(self._answer)

    @property
    def url(self) -> str:
        return "http://{}:{}/jobs/1".format(self.host, self.port)

    def _answer(self, conn: socket.socket, server: RawServer) -> None:
        head, _ = read_head(conn)
        if head is None:
            return
        with self._count_lock:
            self.requests += 1
        if self.dead:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone")


@pytest.fixture
def service():
    with Service() as server:
        yield server


def test_twenty_pollers_stop_sending_to_a_dead_service_once_the_shared_breaker_breaks(service):
    """Must-show 2: after the break only the half-open trial reaches the service; every poller fails fast."""
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=3, reset_timeout=60, clock=clock, name="jobs-api")
    attempts: List[object] = []

    def poll():
        return httsleep(
            service.url,
            status_code=200,
            retry_transient=True,  # keep polling through connection failures: only the breaker stops them
            max_retries=None,
            polling_interval=1,
            request_timeout=5,
            circuit_breaker=breaker,
            on_attempt=attempts.append,
        )

    with no_waiting():
        # 1. the service dies while 20 pollers poll it
        first = run_in_threads(20, lambda _: poll(), together=True)
        assert all(isinstance(outcome, CircuitBrokenError) for outcome in first)
        assert breaker.state == OPEN
        sent_before_break = service.requests
        # at least threshold failures; at most the threshold-1 earlier ones, the breaking one and 19 in flight
        assert 3 <= sent_before_break <= 3 + 19

        # 2. while it is broken: 20 more polls send nothing and fail before their first request
        attempts.clear()
        second = run_in_threads(20, lambda _: poll(), together=True)
        assert service.requests == sent_before_break
        assert all(isinstance(outcome, CircuitBrokenError) for outcome in second)
        assert all(outcome.time_remaining == 60 for outcome in second)
        # no attempt was made: each poll's hooks were told of the one it was refused, and it counted none
        assert [(a.number, a.outcome, a.state.attempts) for a in attempts] == [(1, "refused", 0)] * 20
        assert all(isinstance(a.exception, CircuitBrokenError) and a.response is None for a in attempts)

        # 3. reset_timeout later, half-open: of 20 polls exactly one trial request is sent; it fails
        clock.advance(60)
        third = run_in_threads(20, lambda _: poll(), together=True)
        assert service.requests == sent_before_break + 1
        assert all(isinstance(outcome, CircuitBrokenError) for outcome in third)
        assert breaker.state == OPEN and breaker.time_remaining == 60

        # 4. the service is back: the next trial succeeds, closes the circuit, and polling works again
        service.dead = False
        clock.advance(60)
        fourth = run_in_threads(20, lambda _: poll(), together=True)
        successes = [outcome for outcome in fourth if isinstance(outcome, requests.Response)]
        assert successes and all(response.text == "done" for response in successes)
        assert all(isinstance(outcome, (requests.Response, CircuitBrokenError)) for outcome in fourth)
        assert breaker.state == CLOSED
        assert poll().text == "done"


def test_fail_fast_message_names_the_target_and_the_breaker(service):
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=ManualClock(), name="jobs-api")
    sleeper = HttSleeper(service.url, status_code=200, retry_transient=True, circuit_breaker=breaker)
    with no_waiting():
        with pytest.raises(CircuitBrokenError) as first:
            sleeper.run()  # the failure breaks it; the wait it would need is longer: fail now
        assert "jobs-api is open for 60s, longer than the next wait of 2s" in str(first.value)
        assert isinstance(first.value.__cause__, requests.ConnectionError)
        with pytest.raises(CircuitBrokenError) as second:
            sleeper.run()
    message = str(second.value)
    assert message.startswith("GET " + service.url + ": attempt 1 not sent: jobs-api is open")
    assert "last failure: ConnectionError" in message
    assert service.requests == 1


def test_5xx_responses_count_as_failures_and_the_poll_stops_without_waiting(httpserver, fake_time):
    httpserver.expect_request("/jobs/1").respond_with_data("busy", status=503)
    breaker = CircuitBreaker(threshold=3, reset_timeout=60, clock=ManualClock())
    with pytest.raises(CircuitBrokenError):
        httsleep(httpserver.url_for("/jobs/1"), status_code=200, polling_interval=1, circuit_breaker=breaker)
    assert len(httpserver.log) == 3
    assert fake_time.sleeps == [1, 1]  # no third wait: the breaker would refuse the attempt after it


def test_not_ready_responses_are_not_failures(httpserver, fake_time):
    """A 2xx or 4xx that is merely not what the poll waits for does not count against the service."""
    httpserver.expect_request("/jobs/1").respond_with_json({"status": "PENDING"}, status=200)
    httpserver.expect_request("/jobs/2").respond_with_json({"error": "no such job yet"}, status=404)
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=ManualClock())
    for path in ("/jobs/1", "/jobs/2"):
        with pytest.raises(StopPolling):
            httsleep(httpserver.url_for(path), json={"status": "DONE"}, max_retries=5, circuit_breaker=breaker)
    assert breaker.state == CLOSED and breaker.failures == 0


def test_connection_refused_counts_as_a_failure(fake_time):
    with socket.socket() as reserved:  # bound, not listening: refused, and no other server can take the port
        reserved.bind(("127.0.0.1", 0))
        breaker = CircuitBreaker(threshold=2, reset_timeout=60, clock=ManualClock())
        url = "http://127.0.0.1:{}/".format(reserved.getsockname()[1])
        for _ in range(2):
            with pytest.raises(requests.ConnectionError):  # not ignored: propagates, but is counted
                httsleep(url, status_code=200, circuit_breaker=breaker)
        with pytest.raises(CircuitBrokenError):
            httsleep(url, status_code=200, circuit_breaker=breaker)


def test_timeouts_count_as_failures(fake_time):
    """A service that accepts and never answers: each request times out (0.2 s real time)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    breaker = CircuitBreaker(threshold=2, reset_timeout=60, clock=ManualClock())
    url = "http://127.0.0.1:{}/".format(listener.getsockname()[1])
    try:
        with pytest.raises(CircuitBrokenError):
            httsleep(
                url, status_code=200, request_timeout=0.2, ignore_exceptions=[requests.Timeout], circuit_breaker=breaker
            )
    finally:
        listener.close()
    assert breaker.state == OPEN


def test_a_callback_that_raises_is_not_a_service_failure(httpserver, fake_time):
    httpserver.expect_request("/jobs/1").respond_with_json({"status": "DONE"})

    def broken(response):
        raise KeyError("my bug")

    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=ManualClock())
    with pytest.raises(KeyError):
        httsleep(httpserver.url_for("/jobs/1"), callback=broken, circuit_breaker=breaker)
    assert breaker.state == CLOSED


def test_a_successful_response_closes_a_half_open_breaker(httpserver, fake_time):
    httpserver.expect_request("/jobs/1").respond_with_json({"status": "DONE"})
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=clock)
    breaker.admit().failure()
    clock.advance(60)
    assert breaker.state == HALF_OPEN
    response = httsleep(httpserver.url_for("/jobs/1"), json={"status": "DONE"}, circuit_breaker=breaker)
    assert response.status_code == 200 and breaker.state == CLOSED


def test_circuit_breaker_must_be_a_circuit_breaker():
    with pytest.raises(TypeError, match="circuit_breaker must be a httsleep.CircuitBreaker or None, not 'x'"):
        HttSleeper("http://localhost/", status_code=200, circuit_breaker="x")


@pytest.mark.parametrize(
    "response_status, exc, timed_out, failure",
    [
        (500, None, False, True),
        (503, None, False, True),
        (429, None, False, False),
        (404, None, False, False),
        (200, None, False, False),
        (None, requests.ConnectionError("refused"), False, True),
        (None, requests.ReadTimeout("slow"), True, True),
        (None, requests.exceptions.InvalidURL("bad"), False, False),
        (None, ValueError("a callback's bug"), False, False),
        (None, None, False, False),
    ],
)
def test_which_outcomes_are_service_failures(response_status, exc, timed_out, failure):
    response = None
    if response_status is not None:
        response = requests.Response()
        response.status_code = response_status
    assert is_service_failure(response, exc, timed_out) is failure


def test_the_io_free_core_asks_the_breaker_so_every_driver_gets_it():
    """PollRun.begin_attempt() refuses while open; received()/failed() report the outcome."""
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=clock)
    policy = Policy({"status_code": 200}, polling_interval=0, circuit_breaker=breaker)
    run = policy.start(clock, give_up=StopPolling, target="GET http://service/")
    run.begin_attempt()
    failing = requests.Response()
    failing.status_code = 502
    with pytest.raises(CircuitBrokenError):  # the 502 broke it; a zero wait cannot outlast it
        run.received(failing)
    with pytest.raises(CircuitBrokenError):
        run.begin_attempt()
    assert run.attempts == 1


def test_an_attempt_that_never_reported_is_forgotten_at_the_next_one():
    """A driver interrupted between begin_attempt() and received()/failed() does not keep the trial slot."""
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=clock)
    breaker.admit().failure()
    clock.advance(60)
    run = Policy({"status_code": 200}, circuit_breaker=breaker).start(clock, give_up=StopPolling)
    run.begin_attempt()  # takes the trial slot, then e.g. KeyboardInterrupt: no outcome reported
    run.begin_attempt()  # frees it and takes it again
    ok = requests.Response()
    ok.status_code = 200
    assert run.received(ok).done
    assert breaker.state == CLOSED and run.attempts == 2


def test_an_interrupted_attempt_frees_the_trial_slot_at_once(httpserver):
    """KeyboardInterrupt during the trial request: the next poll may make the trial, no reset_timeout wait."""
    httpserver.expect_request("/jobs/1").respond_with_json({"status": "DONE"})
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=clock)
    breaker.admit().failure()
    clock.advance(60)

    def interrupt(response, **kwargs):
        raise KeyboardInterrupt

    session = requests.Session()
    session.hooks["response"].append(interrupt)
    with pytest.raises(KeyboardInterrupt):
        httsleep(httpserver.url_for("/jobs/1"), status_code=200, session=session, circuit_breaker=breaker)
    assert breaker.state == HALF_OPEN
    assert httsleep(httpserver.url_for("/jobs/1"), status_code=200, circuit_breaker=breaker).status_code == 200
    assert breaker.state == CLOSED


def test_a_breaker_opened_by_5xx_responses_names_the_last_one(httpserver, fake_time):
    """A 5xx failure is described in the breaker's message, and no longer wipes out the previous failure's text."""
    httpserver.expect_request("/job").respond_with_data("down", status=503)
    url = httpserver.url_for("/job")
    breaker = CircuitBreaker(threshold=2, reset_timeout=60, name="jobs")
    breaker.admit().failure(ValueError("an earlier failure"))
    with pytest.raises(CircuitBrokenError):  # the 503 is the second failure: the breaker opens
        httsleep(url, status_code=200, circuit_breaker=breaker, polling_interval=1)
    with pytest.raises(CircuitBrokenError) as refused:
        httsleep(url, status_code=200, circuit_breaker=breaker)
    assert "jobs is open" in str(refused.value)
    assert "(last failure: HTTP 503 SERVICE UNAVAILABLE)" in str(refused.value)
