"""Metrics and tracing: what polls and circuit breakers report, and the hooks that turn it into series and spans.

Every poll and every :class:`~httsleep.CircuitBreaker` reports what it does
as small immutable events (:class:`PollStarted`, :class:`AttemptEnded`,
:class:`Waited`, :class:`PollGaveUp`, :class:`PollEnded`,
:class:`BreakerRefused`, :class:`BreakerStateChanged`) to the
*instrumentation hooks* of the process. Out of the box these are:

- :func:`prometheus_hook`, when ``prometheus_client`` can be imported: the
  ``httsleep_*`` counters and histograms, on the client's global registry;
- :func:`tracing_hook`, when ``opentelemetry`` can be imported: one span per
  poll, around the HTTP library's own client spans.

Both are made at the first event, not at import. Replace them with
:func:`set_instrumentation_hooks` (``[]`` for none, ``None`` for the
defaults again), and switch everything off and on with
:func:`set_instrumentation` (or ``HTTSLEEP_INSTRUMENTATION=0`` in the
environment): switched off, or with no hook, an event costs one test of a
flag. A hook is any callable taking an event; one that raises is logged on
the ``httsleep`` logger and never breaks a poll. A hook may return a
context manager from :class:`PollStarted`: it is entered at once and left
when the poll ends, the poll running inside it (a tracing span does that).

Labels and attributes hold names (``name=`` of a poll, a breaker's name),
small fixed sets of words (outcomes, limits, wait reasons, states) and
numbers; a URL appears only in a span's ``url.full``, with the poll's
credentials replaced by ``***``. Never a header, a body or an exception's
message.

Each request a poll sends is made while a context variable holds its
resend count (0 for the first attempt, then 1, 2, ...; read it with
:func:`resend_count`): the ready-made
:func:`request_hook` / :func:`async_request_hook`, given to the
OpenTelemetry instrumentations of requests, httpx and aiohttp, put it on
their client spans as ``http.request.resend_count`` (and hide the poll's
credentials in the URL they record).
"""

from __future__ import annotations

import contextvars
import importlib.util
import os
import threading
import weakref
from types import TracebackType
from typing import (
    Any,
    Callable,
    ContextManager,
    List,
    NamedTuple,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Type,
)

from ._events import (
    AttemptEnded,
    BreakerRefused,
    BreakerStateChanged,
    Event,
    Hook,
    PollEnded,
    PollGaveUp,
    PollStarted,
    Waited,
)
from ._logs import log
from ._validate import ArgumentTypeError, shorten
from .exceptions import Alarm, CircuitBrokenError, GaveUp

__all__ = [
    "DEFAULT_NAME",
    "RESEND_COUNT_ATTRIBUTE",
    "AttemptEnded",
    "BreakerRefused",
    "BreakerStateChanged",
    "Event",
    "Hook",
    "PollEnded",
    "PollGaveUp",
    "PollStarted",
    "Waited",
    "async_request_hook",
    "breaker_refused",
    "breaker_state_changed",
    "get_instrumentation_hooks",
    "is_instrumentation_enabled",
    "prometheus_hook",
    "request_hook",
    "resend_count",
    "set_instrumentation",
    "set_instrumentation_hooks",
    "tracing_hook",
]

#: The ``name`` of a poll given none: the label of its series and the ``httsleep.name`` of its span.
DEFAULT_NAME = "httsleep"
#: The longest ``name=`` accepted (a label value, not a sentence).
MAX_NAME = 100
#: The span attribute of the OpenTelemetry HTTP semantic conventions that counts a request's resends.
RESEND_COUNT_ATTRIBUTE = "http.request.resend_count"


# -- the switch and the hooks ----------------------------------------------------------------------------

_enabled = os.environ.get("HTTSLEEP_INSTRUMENTATION", "1").strip().lower() not in ("0", "false", "no", "off")
_hooks: Optional[Tuple[Hook, ...]] = None  # None: the defaults, made at the first event
#: whether an event may reach a hook (enabled, and hooks not known to be none): the one flag an event tests
_live = _enabled
#: held while the default hooks are made (two threads' first events must not make two of each)
_making = threading.RLock()


def set_instrumentation(enabled: bool) -> None:
    """Switch instrumentation on or off for the whole process (events, and the resend count of :func:`resend_count`).

    Off, no hook is called and no resend count is published. The
    environment variable ``HTTSLEEP_INSTRUMENTATION=0`` switches it off at
    start-up.
    """
    global _enabled, _live
    if not isinstance(enabled, bool):
        raise ArgumentTypeError("set_instrumentation takes True or False, not {}".format(shorten(enabled)))
    _enabled = enabled
    _live = enabled and (_hooks is None or bool(_hooks))


def is_instrumentation_enabled() -> bool:
    """Whether instrumentation is on (see :func:`set_instrumentation`)."""
    return _enabled


def set_instrumentation_hooks(hooks: Optional[Sequence[Hook]]) -> None:
    """The hooks every event goes to: ``None`` for the defaults, ``[]`` for none.

    The defaults are :func:`prometheus_hook` when ``prometheus_client`` is
    installed and :func:`tracing_hook` when ``opentelemetry`` is, made at
    the next event.
    """
    global _hooks, _live
    if hooks is None:
        _hooks = None
    else:
        if isinstance(hooks, (str, bytes)) or not hasattr(hooks, "__iter__"):
            raise ArgumentTypeError("set_instrumentation_hooks takes a list of callables or None, not {}".format(
                shorten(hooks)))
        found = tuple(hooks)
        for hook in found:
            if not callable(hook):
                raise ArgumentTypeError("an instrumentation hook must be callable, not {}".format(shorten(hook)))
        _hooks = found
    _live = _enabled and (_hooks is None or bool(_hooks))


def get_instrumentation_hooks() -> Tuple[Hook, ...]:
    """The hooks events go to now (the defaults are made by this call if they were not yet)."""
    return _current_hooks()


def _current_hooks() -> Tuple[Hook, ...]:
    global _hooks, _live
    hooks = _hooks
    if hooks is None:
        with _making:
            hooks = _hooks
            if hooks is None:
                hooks = _hooks = _default_hooks()
                _live = _enabled and bool(hooks)
    return hooks


def prepare() -> None:
    """Before a poll's clock starts: make the default hooks if they are not made yet.

    Their first making imports ``prometheus_client`` and ``opentelemetry``
    (about 100 ms, more on a busy machine), which must not count against
    the first poll's ``timeout``.
    """
    if _hooks is None and _enabled:
        _current_hooks()


async def ready() -> None:
    """On an event loop, before a poll's clock starts: :func:`prepare` in a worker thread.

    Not on the loop, where every other task would wait for the imports.
    """
    if _hooks is None and _enabled:
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, _current_hooks)


def _default_hooks() -> Tuple[Hook, ...]:
    found: List[Hook] = []
    for library, make in (("prometheus_client", prometheus_hook), ("opentelemetry.trace", tracing_hook)):
        try:
            if importlib.util.find_spec(library.split(".")[0]) is None or importlib.util.find_spec(library) is None:
                continue
            found.append(make())
        except Exception as error:  # noqa: BLE001 - a broken installation: no metrics rather than no polls
            log.warning("httsleep instrumentation: no %s hook: %r", library, error)
    return tuple(found)


def _emit(event: Event) -> List[Any]:
    """Call every hook with ``event``; return what they returned (a hook that raises is logged)."""
    results = []
    for hook in _current_hooks():
        try:
            results.append(hook(event))
        except Exception as error:  # noqa: BLE001 - instrumentation never breaks a poll
            log.warning("instrumentation hook %s failed on %s: %r", shorten(hook), type(event).__name__, error)
    return results


# -- reporting (what httsleep's own modules call) --------------------------------------------------------


def check_name(value: Any) -> str:
    """``name=`` of a poller: a short label (at most :data:`MAX_NAME` printable characters), or the default."""
    if value is None:
        return DEFAULT_NAME
    if not isinstance(value, str):
        raise ArgumentTypeError("name must be a string, not {}".format(shorten(value)))
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise ValueError("name must be 1 to {} printable characters (a label for metrics), not {}".format(
            MAX_NAME, shorten(value)))
    return value


def attempt_ended(
    name: str,
    number: int,
    outcome: str,
    elapsed: float,
    wait: Optional[float],
    wait_reason: Optional[str],
    response: Any,
    exc: Optional[BaseException],
) -> None:
    """Report an attempt (and the wait it asked for, if any)."""
    if not _live:
        return
    status = getattr(response, "status_code", None) if response is not None else None
    _emit(AttemptEnded(name, number, outcome, elapsed, wait, wait_reason,
                       status if isinstance(status, int) and not isinstance(status, bool) else None,
                       None if exc is None else type(exc).__name__))
    if wait is not None and wait_reason is not None:
        _emit(Waited(name, wait, wait_reason))


def gave_up(name: str, limit: str, attempts: int, elapsed: float) -> None:
    """Report a poll giving up."""
    if _live:
        _emit(PollGaveUp(name, limit, attempts, elapsed))


def breaker_refused(breaker: str, state: str, time_remaining: float) -> None:
    """Report a circuit breaker refusing a call (for breakers of your own too)."""
    if _live:
        _emit(BreakerRefused(breaker, state, time_remaining))


def breaker_state_changed(breaker: str, old: str, new: str) -> None:
    """Report a circuit breaker changing state (for breakers of your own too)."""
    if _live:
        _emit(BreakerStateChanged(breaker, old, new))


class _Sending(NamedTuple):
    resend_count: int
    redact: Callable[[str], str]


#: The request being sent by a poll, in this thread or task: its resend count (0 for the first attempt) and the
#: poll's redaction. ``None`` outside a poll's attempt. Read by :func:`resend_count` and :func:`request_hook`.
_SENDING: contextvars.ContextVar[Optional[_Sending]] = contextvars.ContextVar(
    "httsleep_resend_count", default=None
)
#: In a poll's scope, before its first request: what :func:`sending` replaces. Outside every scope (a
#: ``PollRun`` driven by hand) the variable stays ``None``: nothing is left behind in the thread.
_IN_SCOPE = _Sending(-1, str)


def resend_count() -> Optional[int]:
    """The resend count of the request a poll is sending in this thread or task (0, 1, 2...), or ``None``."""
    sending = _SENDING.get()
    return None if sending is None or sending is _IN_SCOPE else sending.resend_count


def sending(attempts: int, redact: Callable[[str], str]) -> None:
    """A poll is about to send its attempt number ``attempts``: publish its resend count (within the poll's scope)."""
    if _enabled and _SENDING.get() is not None:
        _SENDING.set(_Sending(attempts - 1, redact))


class RunLike(Protocol):
    """What :func:`observe` needs of a :class:`httsleep.policy.PollRun`."""

    name: str

    @property
    def attempts(self) -> int: ...

    @property
    def target(self) -> str: ...

    def elapsed(self) -> float: ...


def observe(run: RunLike, step: bool = False) -> ContextManager[None]:
    """The scope of one poll (or step): :class:`PollStarted`, then :class:`PollEnded`, and the hooks' contexts."""
    return _Scope(run, step)


class _Scope:
    __slots__ = ("_run", "_step", "_token", "_held", "_started")

    def __init__(self, run: RunLike, step: bool) -> None:
        self._run = run
        self._step = step
        self._started = False
        self._token: Optional[contextvars.Token[Optional[_Sending]]] = None
        self._held: List[Any] = []

    def __enter__(self) -> None:
        if not _enabled:
            return
        self._token = _SENDING.set(_IN_SCOPE)
        if not _live:
            return
        run = self._run
        self._started = True
        for result in _emit(PollStarted(run.name, self._step, lambda: run.target)):
            if result is None or not hasattr(result, "__exit__"):
                continue
            try:
                result.__enter__()
            except Exception as error:  # noqa: BLE001
                log.warning("instrumentation hook context %s failed to start: %r", shorten(result), error)
            else:
                self._held.append(result)

    def __exit__(
        self, kind: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        try:
            if self._started:  # told even if switched off meanwhile: the contexts it opened end with it
                self._started = False
                run = self._run
                _emit(PollEnded(run.name, _outcome(exc), run.attempts, run.elapsed(), self._step,
                                None if kind is None else kind.__name__))
        finally:
            held, self._held = self._held, []
            for context in reversed(held):
                try:
                    context.__exit__(kind, exc, tb)
                except Exception as error:  # noqa: BLE001
                    log.warning("instrumentation hook context %s failed to end: %r", shorten(context), error)
            token, self._token = self._token, None
            if token is not None:
                _SENDING.reset(token)


def _outcome(exc: Optional[BaseException]) -> str:
    if exc is None:
        return "success"
    if isinstance(exc, Alarm):
        return "alarm"
    if isinstance(exc, GaveUp):
        return "gave_up"
    if isinstance(exc, CircuitBrokenError):
        return "refused"
    if isinstance(exc, Exception):
        return "error"
    return "cancelled"


# -- the OpenTelemetry instrumentations' request hooks ----------------------------------------------------

_URL_ATTRIBUTES = ("url.full", "http.url")


def request_hook(span: Any, request: Any) -> None:
    """A ``request_hook`` for the OpenTelemetry instrumentations of requests, httpx (sync) and aiohttp.

    On a request a poll sends, it sets ``http.request.resend_count`` on the
    client span (0 for the first attempt, 1 for the second...), and
    rewrites the URL the instrumentation recorded (``url.full`` or
    ``http.url``) with the poll's credentials hidden (the instrumentations
    hide a URL's password, not a ``?token=``). Other requests are left alone.
    ::

        RequestsInstrumentor().instrument(request_hook=httsleep.instrumentation.request_hook)
        AioHttpClientInstrumentor().instrument(request_hook=httsleep.instrumentation.request_hook)
        HTTPXClientInstrumentor().instrument(async_request_hook=httsleep.instrumentation.async_request_hook)
    """
    sending = _SENDING.get()
    if sending is None or sending is _IN_SCOPE or span is None or not span.is_recording():
        return
    span.set_attribute(RESEND_COUNT_ATTRIBUTE, sending.resend_count)
    recorded = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = recorded.get(key)
        if isinstance(value, str):
            span.set_attribute(key, sending.redact(value))


async def async_request_hook(span: Any, request: Any) -> None:
    """:func:`request_hook` for httpx's ``AsyncClient`` (its instrumentation awaits an ``async_request_hook``)."""
    request_hook(span, request)


# -- the default hooks ---------------------------------------------------------------------------------------

_PROMETHEUS: weakref.WeakKeyDictionary[Any, Hook] = weakref.WeakKeyDictionary()


def prometheus_hook(registry: Any = None) -> Hook:
    """The hook that counts into Prometheus series on ``registry`` (default: ``prometheus_client.REGISTRY``).

    One per registry: asking again for the same registry returns the same
    hook. The series (every label value a name or a word of a small fixed set):

    - ``httsleep_attempts_total{name, outcome}``
    - ``httsleep_give_ups_total{name, limit}``
    - ``httsleep_alarms_total{name}``
    - ``httsleep_wait_seconds{name, reason}`` (a histogram)
    - ``httsleep_poll_duration_seconds{name, outcome}`` (a histogram; polls run by ``run()``, not steps)
    - ``httsleep_breaker_refusals_total{name, state}`` (``name``: the breaker's)
    - ``httsleep_breaker_state_changes_total{name, state}`` (``state``: the new one)

    :raises ImportError: ``prometheus_client`` is not installed.
    """
    from ._prometheus import PrometheusHook, default_registry

    key = default_registry() if registry is None else registry
    with _making:
        hook = _PROMETHEUS.get(key)
        if hook is None:
            hook = _PROMETHEUS[key] = PrometheusHook(key)
    return hook


def tracing_hook(tracer_provider: Any = None) -> Hook:
    """The hook that traces polls with OpenTelemetry: one ``httsleep poll`` span per poll (``httsleep step``).

    The span is current while the poll runs, so the HTTP library's client
    spans (when its instrumentation is installed) are its children. It
    carries ``httsleep.name``, ``http.request.method``, ``server.address``,
    ``server.port``, ``url.full`` (credentials hidden), and at its end
    ``httsleep.attempts``, ``httsleep.outcome`` and, unless the poll
    matched, ``error.type`` and an error status; every attempt is a span
    event ``httsleep.attempt``, and a breaker changing state while the poll
    runs an event ``httsleep.circuit_breaker``.

    :param tracer_provider: the provider to trace with (default: the global one).
    :raises ImportError: ``opentelemetry-api`` is not installed.
    """
    from ._tracing import TracingHook

    return TracingHook(tracer_provider)
