"""The OpenTelemetry tracing of :mod:`httsleep.instrumentation` (imported only when ``opentelemetry`` is used).

One span per poll, current while the poll runs: the HTTP library's client
spans, made inside it, are its children. Its own context variable tells the
other events which span is a poll's, so that an attempt is never recorded
on a span httsleep did not make (a poll run in an asyncio task has the
task's copy of it: concurrent polls do not mix).
"""

from __future__ import annotations

import contextvars
from types import TracebackType
from typing import Any, Dict, Optional, Type, Union

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._events import AttemptEnded, BreakerStateChanged, Event, PollEnded, PollGaveUp, PollStarted

__all__ = ["TracingHook"]

_POLL_SPAN: contextvars.ContextVar[Optional[trace.Span]] = contextvars.ContextVar("httsleep_poll_span", default=None)

Attribute = Union[str, int, float, bool]


class _PollSpan:
    """The context a :class:`PollStarted` returns: the span, made current and known as the poll's."""

    __slots__ = ("_tracer", "_event", "_span", "_context_token", "_poll_token")

    def __init__(self, tracer: trace.Tracer, event: PollStarted) -> None:
        self._tracer = tracer
        self._event = event
        self._span: Optional[trace.Span] = None
        self._context_token: Any = None
        self._poll_token: Optional[contextvars.Token[Optional[trace.Span]]] = None

    def __enter__(self) -> trace.Span:
        event = self._event
        span = self._span = self._tracer.start_span("httsleep step" if event.step else "httsleep poll",
                                                    kind=SpanKind.INTERNAL, attributes={"httsleep.name": event.name})
        if span.is_recording():  # the URL (its credentials hidden) is worked out only for a span that keeps it
            attributes: Dict[str, Attribute] = {
                "http.request.method": event.method,
                "server.address": event.server_address,
                "url.full": event.url,
            }
            if event.server_port is not None:
                attributes["server.port"] = event.server_port
            span.set_attributes(attributes)
        self._context_token = otel_context.attach(trace.set_span_in_context(span))
        self._poll_token = _POLL_SPAN.set(span)
        return span

    def __exit__(
        self, kind: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if self._poll_token is not None:
            _POLL_SPAN.reset(self._poll_token)
        if self._context_token is not None:
            otel_context.detach(self._context_token)
        if self._span is not None:
            self._span.end()


class TracingHook:
    """Traces polls (see :func:`httsleep.instrumentation.tracing_hook`)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        from . import __version__

        self.tracer = trace.get_tracer("httsleep", __version__, tracer_provider=tracer_provider)

    def __call__(self, event: Event) -> Any:
        if isinstance(event, PollStarted):
            return _PollSpan(self.tracer, event)
        span = _POLL_SPAN.get()
        if span is None or not span.is_recording():
            return None
        if isinstance(event, AttemptEnded):
            details: Dict[str, Attribute] = {
                "httsleep.attempt": event.number,
                "httsleep.outcome": event.outcome,
                "http.request.resend_count": max(event.number - 1, 0),
            }
            if event.wait is not None:
                details["httsleep.wait"] = event.wait
            if event.wait_reason is not None:
                details["httsleep.wait_reason"] = event.wait_reason
            if event.status_code is not None:
                details["http.response.status_code"] = event.status_code
            if event.error_type is not None:
                details["error.type"] = event.error_type
            span.add_event("httsleep.attempt", details)
        elif isinstance(event, PollGaveUp):
            span.set_attribute("httsleep.limit", event.limit)
        elif isinstance(event, BreakerStateChanged):
            span.add_event("httsleep.circuit_breaker", {"httsleep.breaker": event.breaker,
                                                        "httsleep.breaker.state": event.new,
                                                        "httsleep.breaker.previous_state": event.old})
        elif isinstance(event, PollEnded):
            span.set_attribute("httsleep.attempts", event.attempts)
            span.set_attribute("httsleep.outcome", event.outcome)
            if event.outcome != "success":
                span.set_attribute("error.type", event.error_type or event.outcome)
                span.set_status(Status(StatusCode.ERROR, event.outcome))
        return None

    def __repr__(self) -> str:
        return "<httsleep TracingHook>"
