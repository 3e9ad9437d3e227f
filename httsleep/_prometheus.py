"""The Prometheus series of :mod:`httsleep.instrumentation` (imported only when ``prometheus_client`` is used)."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from ._events import (
    AttemptEnded,
    BreakerRefused,
    BreakerStateChanged,
    Event,
    PollEnded,
    PollGaveUp,
    Waited,
)

__all__ = ["PrometheusHook", "default_registry"]

#: Waits: from a tenth of a second (a fast poll) to the 300 s a Retry-After is capped at by default.
WAIT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, float("inf"))
#: Whole polls: from a second to a few hours.
POLL_BUCKETS = (0.1, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0, float("inf"))


def default_registry() -> CollectorRegistry:
    """The client's global registry (what ``/metrics`` of ``start_http_server`` shows)."""
    return REGISTRY


class PrometheusHook:
    """Counts events into ``httsleep_*`` series on one registry (see ``httsleep.instrumentation.prometheus_hook``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.attempts = Counter("httsleep_attempts", "Attempts of polls, by outcome.", ["name", "outcome"],
                                registry=registry)
        self.give_ups = Counter("httsleep_give_ups", "Polls that gave up, by the limit that ran out.",
                                ["name", "limit"], registry=registry)
        self.alarms = Counter("httsleep_alarms", "Polls ended by a response that matched an alarm.", ["name"],
                              registry=registry)
        self.waits = Histogram("httsleep_wait_seconds", "Waits before the next attempt, by reason.",
                               ["name", "reason"], buckets=WAIT_BUCKETS, registry=registry)
        self.polls = Histogram("httsleep_poll_duration_seconds",
                               "Polls (run(), not step()), from start to end, by outcome.",
                               ["name", "outcome"], buckets=POLL_BUCKETS, registry=registry)
        self.refusals = Counter("httsleep_breaker_refusals", "Calls a circuit breaker refused, by its state.",
                                ["name", "state"], registry=registry)
        self.state_changes = Counter("httsleep_breaker_state_changes", "Circuit breaker state changes, by new state.",
                                     ["name", "state"], registry=registry)

    def __call__(self, event: Event) -> Any:
        if isinstance(event, AttemptEnded):
            self.attempts.labels(event.name, event.outcome).inc()
            if event.outcome == "alarm":
                self.alarms.labels(event.name).inc()
        elif isinstance(event, Waited):
            self.waits.labels(event.name, event.reason).observe(event.seconds)
        elif isinstance(event, PollGaveUp):
            self.give_ups.labels(event.name, event.limit).inc()
        elif isinstance(event, PollEnded) and not event.step:  # a step's elapsed is the whole poll's so far
            self.polls.labels(event.name, event.outcome).observe(event.elapsed)
        elif isinstance(event, BreakerRefused):
            self.refusals.labels(event.breaker, event.state).inc()
        elif isinstance(event, BreakerStateChanged):
            self.state_changes.labels(event.breaker, event.new).inc()
        return None

    def __repr__(self) -> str:
        return "<httsleep PrometheusHook on {}>".format(type(self.registry).__name__)
