"""Metrics and tracing (issue 20, must-show 4): Prometheus series, OpenTelemetry spans, the hooks and the switch.

Every poll runs against a loopback server, waits skipped (testing mode);
the series are read back from a Prometheus registry of the test's own,
the spans from the OpenTelemetry SDK's in-memory exporter. conftest.py
puts the default hooks back after each test.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Dict, FrozenSet, Iterator, List, Tuple

import aiohttp
import httpx
import pytest
from conftest import ManualClock
from faultservers import Reply, ScriptedServer
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import httsleep.aio as async_front
import httsleep.main as sync_front
from httsleep import (
    Alarm,
    AsyncHttSleeper,
    CircuitBreaker,
    CircuitBrokenError,
    HttSleeper,
    RateLimit,
    StopPolling,
    async_httsleep,
    httsleep,
)
from httsleep import instrumentation as ins
from httsleep.policy import Policy
from httsleep.testing import no_waiting

DONE = Reply(json={"status": "DONE"})
BUSY = Reply(503, json={"status": "BUSY"})
RUNNING = Reply(202, json={"status": "RUNNING"})


def scrape(registry: CollectorRegistry) -> Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float]:
    """What a Prometheus server scraping ``registry`` reads: {(sample name, labels): value}."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float], metric: str, /, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


# -- Prometheus --------------------------------------------------------------------------------------------


def test_a_scrape_shows_every_series_after_polls_that_retried_gave_up_were_refused_and_were_throttled():
    """Must-show 4, Prometheus: each series, read back through the client's own registry and parser."""
    registry = CollectorRegistry()
    hook = ins.prometheus_hook(registry)
    ins.set_instrumentation_hooks([hook])
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=clock, name="jobs-api")
    with no_waiting():
        # retried (Retry-After, then the interval), then matched
        with ScriptedServer([Reply(503, headers={"Retry-After": "3"}), RUNNING, DONE]) as server:
            httsleep(server.url, json={"status": "DONE"}, polling_interval=1, name="jobs")
        # gave up: max_retries ran out
        with ScriptedServer([RUNNING]) as server:
            with pytest.raises(StopPolling):
                httsleep(server.url, json={"status": "DONE"}, max_retries=2, polling_interval=1, name="jobs")
        # an alarm
        with ScriptedServer([Reply(500)]) as server:
            with pytest.raises(Alarm):
                httsleep(server.url, status_code=200, alarms={"status_code": 500}, name="jobs")
        # a failure breaks the shared breaker; the next poll is refused before sending; 60 s later a trial closes it
        with ScriptedServer([BUSY, DONE]) as server:
            with pytest.raises(CircuitBrokenError):
                httsleep(server.url, status_code=200, retry_transient=True, circuit_breaker=breaker, name="orders")
            with pytest.raises(CircuitBrokenError):
                httsleep(server.url, status_code=200, circuit_breaker=breaker, name="orders")
            assert server.count == 1
            clock.advance(60)
            httsleep(server.url, status_code=200, circuit_breaker=breaker, name="orders")
        # waited for a rate limit: the second poll's slot comes a second after the first poll's
        limit = RateLimit("1/second")
        with ScriptedServer([DONE]) as server:
            httsleep(server.url, status_code=200, rate_limit=limit, name="paced")
            httsleep(server.url, status_code=200, rate_limit=limit, name="paced")
            assert server.count == 2

    samples = scrape(registry)
    assert value(samples, "httsleep_attempts_total", name="jobs", outcome="retry") == 3  # 2 + 1 before giving up
    assert value(samples, "httsleep_attempts_total", name="jobs", outcome="success") == 1
    assert value(samples, "httsleep_attempts_total", name="jobs", outcome="gave_up") == 1
    assert value(samples, "httsleep_attempts_total", name="jobs", outcome="alarm") == 1
    assert value(samples, "httsleep_attempts_total", name="orders", outcome="error") == 1  # failed fast
    assert value(samples, "httsleep_attempts_total", name="orders", outcome="refused") == 1
    assert value(samples, "httsleep_attempts_total", name="orders", outcome="success") == 1
    assert value(samples, "httsleep_give_ups_total", name="jobs", limit="max_retries") == 1
    assert value(samples, "httsleep_alarms_total", name="jobs") == 1
    assert value(samples, "httsleep_breaker_refusals_total", name="jobs-api", state="open") == 1
    assert value(samples, "httsleep_breaker_state_changes_total", name="jobs-api", state="open") == 1
    assert value(samples, "httsleep_breaker_state_changes_total", name="jobs-api", state="half-open") == 1
    assert value(samples, "httsleep_breaker_state_changes_total", name="jobs-api", state="closed") == 1
    for reason, count, total in (("interval", 2, 2.0), ("Retry-After", 1, 3.0)):
        assert value(samples, "httsleep_wait_seconds_count", name="jobs", reason=reason) == count
        assert value(samples, "httsleep_wait_seconds_sum", name="jobs", reason=reason) == total
    assert value(samples, "httsleep_attempts_total", name="paced", outcome="throttled") == 1
    assert value(samples, "httsleep_attempts_total", name="paced", outcome="success") == 2
    assert value(samples, "httsleep_wait_seconds_count", name="paced", reason="rate_limit") == 1
    assert 0.5 < value(samples, "httsleep_wait_seconds_sum", name="paced", reason="rate_limit") <= 1.0
    assert value(samples, "httsleep_wait_seconds_bucket", name="jobs", reason="Retry-After", le="2.0") == 0
    assert value(samples, "httsleep_wait_seconds_bucket", name="jobs", reason="Retry-After", le="5.0") == 1
    for outcome, count in (("success", 1), ("gave_up", 1), ("alarm", 1)):
        assert value(samples, "httsleep_poll_duration_seconds_count", name="jobs", outcome=outcome) == count
    assert value(samples, "httsleep_poll_duration_seconds_count", name="orders", outcome="refused") == 2
    # labels are names and words of small fixed sets: never a URL, a port or an address
    labels = {value for (_, pairs) in samples for (_, value) in pairs}
    assert not any("127.0.0.1" in label or "http" in label or str(server.port) in label for label in labels)


def test_one_hook_per_registry_and_the_default_name():
    registry = CollectorRegistry()
    assert ins.prometheus_hook(registry) is ins.prometheus_hook(registry)
    ins.set_instrumentation_hooks([ins.prometheus_hook(registry)])
    with no_waiting(), ScriptedServer([DONE]) as server:
        httsleep(server.url, status_code=200)
    assert value(scrape(registry), "httsleep_attempts_total", name="httsleep", outcome="success") == 1


def test_the_asyncio_front_end_counts_the_same(front_client):
    registry = CollectorRegistry()
    ins.set_instrumentation_hooks([ins.prometheus_hook(registry)])

    async def poll(url: str) -> None:
        async with front_client() as client:
            await async_httsleep(url, status_code=200, client=client, polling_interval=0, name="async-jobs")

    with ScriptedServer([BUSY, DONE]) as server:
        asyncio.run(poll(server.url))
    samples = scrape(registry)
    assert value(samples, "httsleep_attempts_total", name="async-jobs", outcome="retry") == 1
    assert value(samples, "httsleep_attempts_total", name="async-jobs", outcome="success") == 1
    assert value(samples, "httsleep_poll_duration_seconds_count", name="async-jobs", outcome="success") == 1


@pytest.fixture(params=["httpx", "aiohttp"])
def front_client(request: pytest.FixtureRequest) -> Any:
    return httpx.AsyncClient if request.param == "httpx" else aiohttp.ClientSession


# -- the hooks, the switch ----------------------------------------------------------------------------------


def test_events_in_order_and_a_hook_that_raises_is_logged_without_breaking_the_poll(caplog):
    events: List[Any] = []

    def broken(event: Any) -> None:
        raise RuntimeError("the metrics backend is down")

    ins.set_instrumentation_hooks([broken, events.append])
    with no_waiting(), ScriptedServer([BUSY, DONE]) as server:
        assert httsleep(server.url, status_code=200, polling_interval=2, name="jobs").status_code == 200
    assert [type(event).__name__ for event in events] == [
        "PollStarted", "AttemptEnded", "Waited", "AttemptEnded", "PollEnded"]
    started, retried, waited, matched, ended = events
    assert (started.name, started.method, started.server_address, started.server_port, started.step) == (
        "jobs", "GET", "127.0.0.1", server.port, False)
    assert (retried.number, retried.outcome, retried.status_code, retried.wait, retried.wait_reason) == (
        1, "retry", 503, 2, "interval")
    assert waited == ins.Waited("jobs", 2, "interval")
    assert (matched.number, matched.outcome, matched.status_code) == (2, "success", 200)
    assert (ended.outcome, ended.attempts, ended.step, ended.error_type) == ("success", 2, False, None)
    failures = [record for record in caplog.records if "the metrics backend is down" in record.getMessage()]
    assert len(failures) == 5 and all(record.levelno == logging.WARNING for record in failures)


def test_switched_off_nothing_is_reported_and_no_resend_count_is_published():
    events: List[Any] = []
    counts: List[Any] = []
    ins.set_instrumentation_hooks([events.append])
    ins.set_instrumentation(False)
    assert not ins.is_instrumentation_enabled()
    with no_waiting(), ScriptedServer([BUSY, DONE]) as server:
        httsleep(server.url, status_code=200, callback=None, on_attempt=lambda a: counts.append(ins.resend_count()))
        assert events == [] and counts == [None, None]
        ins.set_instrumentation(True)
        httsleep(server.url, status_code=200)
    assert [type(event).__name__ for event in events] == ["PollStarted", "AttemptEnded", "PollEnded"]


def test_no_hooks_and_the_defaults():
    ins.set_instrumentation_hooks([])
    assert ins.get_instrumentation_hooks() == ()
    ins.set_instrumentation_hooks(None)
    kinds = {type(hook).__name__ for hook in ins.get_instrumentation_hooks()}
    assert kinds == {"PrometheusHook", "TracingHook"}  # both libraries are installed for the tests
    with pytest.raises(TypeError):
        ins.set_instrumentation_hooks([42])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        ins.set_instrumentation("yes")  # type: ignore[arg-type]


def test_a_poll_run_driven_by_hand_leaves_no_resend_count_in_its_thread():
    """Only a driver's scope (run(), step()) publishes resend counts; the core alone sets nothing."""
    run = Policy({"status_code": 200}).start(give_up=StopPolling)
    run.begin_attempt()
    run.begin_attempt()
    assert run.attempts == 2 and ins.resend_count() is None


def test_a_default_hook_that_cannot_be_made_leaves_the_other(monkeypatch, caplog):
    def broken(registry: Any = None) -> Any:
        raise ImportError("prometheus_client is half installed")

    monkeypatch.setattr(ins, "prometheus_hook", broken)
    ins.set_instrumentation_hooks(None)
    assert [type(hook).__name__ for hook in ins.get_instrumentation_hooks()] == ["TracingHook"]
    assert "no prometheus_client hook" in caplog.text and "half installed" in caplog.text


def test_on_an_event_loop_the_default_hooks_are_made_off_the_loop(monkeypatch):
    """Their first making imports prometheus_client and opentelemetry (~100 ms): not in the loop's thread."""
    threads: List[str] = []

    def made_here(registry: Any = None) -> Any:
        threads.append(threading.current_thread().name)
        return lambda event: None

    monkeypatch.setattr(ins, "prometheus_hook", made_here)
    ins.set_instrumentation_hooks(None)

    async def poll(url: str) -> None:
        async with httpx.AsyncClient() as client:
            await async_httsleep(url, status_code=200, client=client)

    with ScriptedServer([DONE]) as server:
        asyncio.run(poll(server.url))
    assert len(threads) == 1 and threads[0] != threading.current_thread().name


@pytest.mark.parametrize("how", ["run", "step"])
@pytest.mark.parametrize("front", ["sync", "async"])
def test_making_the_default_hooks_does_not_count_against_the_first_polls_timeout(front, how, monkeypatch):
    """The imports take ~100 ms, more on a busy machine: here 10 s of a 5 s timeout, and the poll still succeeds."""
    clock = ManualClock(1000.0)
    made: List[bool] = []

    def slow_to_make(registry: Any = None) -> Any:
        clock.advance(10)  # as if importing prometheus_client took 10 s
        made.append(True)
        return lambda event: None

    monkeypatch.setattr(ins, "prometheus_hook", slow_to_make)
    monkeypatch.setattr(sync_front if front == "sync" else async_front, "monotonic", clock.monotonic)
    ins.set_instrumentation_hooks(None)
    with ScriptedServer([DONE]) as server:
        sleeper = (HttSleeper if front == "sync" else AsyncHttSleeper)(server.url, status_code=200, timeout=5)
        poll = sleeper.run if how == "run" else sleeper.step
        outcome = poll() if front == "sync" else asyncio.run(poll())
    response = outcome if how == "run" else outcome.response
    assert made == [True] and response.status_code == 200


def test_a_step_is_reported_as_a_step_and_publishes_its_resend_count():
    events: List[Any] = []
    counts: List[Any] = []
    registry = CollectorRegistry()
    ins.set_instrumentation_hooks([events.append, ins.prometheus_hook(registry)])
    with no_waiting(), ScriptedServer([BUSY, DONE]) as server:
        sleeper = HttSleeper(server.url, status_code=200, on_attempt=lambda a: counts.append(ins.resend_count()))
        first = sleeper.step()
        second = sleeper.step(first.state.replace(next_attempt_at=None))
    assert second.done and counts == [0, 1]
    ended = [event for event in events if isinstance(event, ins.PollEnded)]
    assert [(event.step, event.outcome, event.attempts) for event in ended] == [(True, "success", 1),
                                                                               (True, "success", 2)]
    assert ins.resend_count() is None  # reset once the step ended
    samples = scrape(registry)
    assert value(samples, "httsleep_attempts_total", name="httsleep", outcome="retry") == 1
    assert value(samples, "httsleep_attempts_total", name="httsleep", outcome="success") == 1
    assert not any(metric.startswith("httsleep_poll_duration") for metric, _ in samples)  # steps are not polls


@pytest.mark.parametrize("name", ["", "x" * 101, "two\nlines"])
def test_a_name_that_is_no_label_is_refused(name):
    with pytest.raises(ValueError, match="name must be"):
        HttSleeper("http://127.0.0.1:9/", status_code=200, name=name)
    with pytest.raises(TypeError, match="name must be a string"):
        AsyncHttSleeper("http://127.0.0.1:9/", status_code=200, name=7)  # type: ignore[arg-type]


def test_a_breaker_reports_each_state_change_once_and_every_refusal():
    events: List[Any] = []
    ins.set_instrumentation_hooks([events.append])
    clock = ManualClock()
    breaker = CircuitBreaker(ValueError, threshold=1, reset_timeout=10, clock=clock)

    def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        breaker.call(fails)
    with pytest.raises(CircuitBrokenError):
        breaker.call(fails)
    clock.advance(10)
    with pytest.raises(ValueError):
        breaker.call(fails)  # the trial fails: open again
    clock.advance(10)
    assert breaker.state == "half-open"  # looking does not report: the next call notices
    breaker.call(lambda: None)
    breaker.reset()  # already closed: no change
    assert events == [
        ins.BreakerStateChanged("circuit_breaker", "closed", "open"),
        ins.BreakerRefused("circuit_breaker", "open", 10.0),
        ins.BreakerStateChanged("circuit_breaker", "open", "half-open"),
        ins.BreakerStateChanged("circuit_breaker", "half-open", "open"),
        ins.BreakerStateChanged("circuit_breaker", "open", "half-open"),
        ins.BreakerStateChanged("circuit_breaker", "half-open", "closed"),
    ]


def test_a_hook_may_ask_the_breaker_its_state_while_told_of_a_change():
    """Hooks are called outside the breaker's lock: asking it something from a hook does not deadlock."""
    seen: List[str] = []
    breaker = CircuitBreaker(ValueError, threshold=1, reset_timeout=10, clock=ManualClock())
    ins.set_instrumentation_hooks([lambda event: seen.append(breaker.state)])

    def fail() -> None:
        with pytest.raises(ValueError):
            breaker.call(lambda: (_ for _ in ()).throw(ValueError("no")))

    worker = threading.Thread(target=fail, daemon=True)  # a deadlock would hang it, not the test
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert seen == ["open"]


# -- OpenTelemetry -------------------------------------------------------------------------------------------


@pytest.fixture
def exporter() -> Iterator[Tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    ins.set_instrumentation_hooks([ins.tracing_hook(provider)])
    yield provider, memory
    provider.shutdown()


def poll_and_clients(spans: Any) -> Tuple[ReadableSpan, List[ReadableSpan]]:
    polls = [span for span in spans if span.name == "httsleep poll"]
    assert len(polls) == 1, [span.name for span in spans]
    clients = sorted((span for span in spans if span.kind == SpanKind.CLIENT), key=lambda span: span.start_time)
    return polls[0], clients


def check_one_poll_with_three_client_spans(spans: Any, port: int) -> None:
    poll, clients = poll_and_clients(spans)
    assert poll.kind == SpanKind.INTERNAL
    assert len(clients) == 3
    for client in clients:
        assert client.parent is not None and client.parent.span_id == poll.context.span_id
        assert client.context.trace_id == poll.context.trace_id
    assert [client.attributes["http.request.resend_count"] for client in clients] == [0, 1, 2]
    attributes = dict(poll.attributes)
    assert attributes["httsleep.name"] == "jobs" and attributes["httsleep.outcome"] == "success"
    assert attributes["httsleep.attempts"] == 3
    assert (attributes["server.address"], attributes["server.port"]) == ("127.0.0.1", port)
    assert [(event.attributes["httsleep.outcome"], event.attributes["http.request.resend_count"])
            for event in poll.events] == [("retry", 0), ("retry", 1), ("success", 2)]
    assert poll.status.status_code == StatusCode.UNSET


def test_one_poll_span_holds_the_client_spans_of_requests_with_resend_counts_0_1_2(exporter):
    """Must-show 4, OpenTelemetry, on requests: one poll span, three client spans inside it, resend counts 0, 1, 2."""
    provider, memory = exporter
    RequestsInstrumentor().instrument(tracer_provider=provider, request_hook=ins.request_hook)
    try:
        with no_waiting(), ScriptedServer([BUSY, BUSY, DONE]) as server:
            httsleep(server.url, status_code=200, name="jobs")
    finally:
        RequestsInstrumentor().uninstrument()
    check_one_poll_with_three_client_spans(memory.get_finished_spans(), server.port)


def test_the_same_on_httpx(exporter):
    provider, memory = exporter
    HTTPXClientInstrumentor().instrument(tracer_provider=provider, async_request_hook=ins.async_request_hook)
    try:
        async def poll(url: str) -> None:
            async with httpx.AsyncClient() as client:
                await async_httsleep(url, status_code=200, client=client, name="jobs", polling_interval=0)

        with ScriptedServer([BUSY, BUSY, DONE]) as server:
            asyncio.run(poll(server.url))
    finally:
        HTTPXClientInstrumentor().uninstrument()
    check_one_poll_with_three_client_spans(memory.get_finished_spans(), server.port)


def test_the_same_on_aiohttp_and_concurrent_polls_do_not_mix(exporter):
    provider, memory = exporter
    AioHttpClientInstrumentor().instrument(tracer_provider=provider, request_hook=ins.request_hook)
    try:
        async def polls(first: str, second: str) -> None:
            async with aiohttp.ClientSession() as session:  # one session, two polls at once
                await asyncio.gather(
                    async_httsleep(first, status_code=200, client=session, name="jobs", polling_interval=0),
                    async_httsleep(second, status_code=200, client=session, name="other", polling_interval=0))

        with ScriptedServer([BUSY, BUSY, DONE]) as server, ScriptedServer([BUSY, DONE]) as other:
            asyncio.run(polls(server.url, other.url))
    finally:
        AioHttpClientInstrumentor().uninstrument()
    spans = memory.get_finished_spans()
    by_poll: Dict[str, List[ReadableSpan]] = {}
    for span in spans:
        if span.name == "httsleep poll":
            by_poll[span.attributes["httsleep.name"]] = [span] + [
                client for client in spans if client.parent is not None
                and client.parent.span_id == span.context.span_id]
    check_one_poll_with_three_client_spans(by_poll["jobs"], server.port)
    other_poll, other_clients = poll_and_clients(by_poll["other"])
    assert [client.attributes["http.request.resend_count"] for client in other_clients] == [0, 1]
    assert len([span for span in spans if span.kind == SpanKind.CLIENT]) == 5  # none without its poll


def test_a_poll_that_gives_up_ends_its_span_in_error_and_a_refused_one_says_so(exporter):
    _, memory = exporter
    breaker = CircuitBreaker(threshold=1, reset_timeout=60, clock=ManualClock(), name="jobs-api")
    with no_waiting(), ScriptedServer([RUNNING]) as server:
        with pytest.raises(StopPolling):
            httsleep(server.url, status_code=200, max_retries=2, name="jobs", circuit_breaker=breaker)
    spans = memory.get_finished_spans()
    (span,) = spans
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes["httsleep.outcome"], span.attributes["httsleep.limit"],
            span.attributes["error.type"]) == ("gave_up", "max_retries", "StopPolling")
    assert not any(event.name == "exception" for event in span.events)  # no message, no traceback: no secret


@pytest.mark.parametrize("hooked", [True, False], ids=["request_hook", "control"])
def test_the_request_hook_hides_the_polls_credentials_in_the_url_the_client_span_records(exporter, hooked):
    provider, memory = exporter
    RequestsInstrumentor().instrument(tracer_provider=provider, request_hook=ins.request_hook if hooked else None)
    try:
        with no_waiting(), ScriptedServer([DONE]) as server:
            url = server.url.replace("://", "://alice:pw-SECRET-1@") + "jobs?token=tok-SECRET-2&page=2"
            httsleep(url, status_code=200, name="jobs")
    finally:
        RequestsInstrumentor().uninstrument()
    (client,) = [span for span in memory.get_finished_spans() if span.kind == SpanKind.CLIENT]
    recorded = [value for key, value in client.attributes.items() if key in ("url.full", "http.url")]
    assert recorded and all("page=2" in value for value in recorded)
    assert not any("pw-SECRET-1" in value for value in recorded)  # the instrumentation hides a password itself
    assert any("tok-SECRET-2" in value for value in recorded) is not hooked  # but a token only httsleep's hook
    assert ("http.request.resend_count" in client.attributes) is hooked


def test_a_cancelled_poll_ends_cancelled_and_its_span_ends_too(exporter):
    _, memory = exporter
    events: List[Any] = []
    ins.set_instrumentation_hooks([*ins.get_instrumentation_hooks(), events.append])

    async def cancelled(url: str) -> None:
        async with httpx.AsyncClient() as client:
            with pytest.raises(asyncio.TimeoutError):  # cancelled during its 60 s wait
                await asyncio.wait_for(async_httsleep(url, status_code=200, client=client, polling_interval=60,
                                                      name="jobs"), timeout=0.3)

    with ScriptedServer([BUSY]) as server:
        asyncio.run(cancelled(server.url))
    (ended,) = [event for event in events if isinstance(event, ins.PollEnded)]
    assert (ended.outcome, ended.attempts, ended.error_type) == ("cancelled", 1, "CancelledError")
    (span,) = memory.get_finished_spans()
    assert span.attributes["httsleep.outcome"] == "cancelled" and span.status.status_code == StatusCode.ERROR
