"""Condition and alarm scenarios shared by the synchronous and the asyncio front ends.

Each :class:`Case` says which responses a server answers (in order, the last
one repeating), which arguments the poll gets, and what a user observes:
the response returned, an :class:`~httsleep.exceptions.Alarm`, giving up, or
an exception propagating. ``tests/test_shared_cases.py`` runs every case
against both fronts; nothing here knows which front runs it, which is the
point: the callbacks below are written once, for both response types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

PENDING = {"json": {"status": "PENDING"}}
SUCCESS = {"json": {"status": "SUCCESS"}}
ERROR = {"json": {"status": "ERROR"}}
HTML_500 = {"status": 500, "text": "<html><body>Internal Server Error</body></html>", "content_type": "text/html"}


# -- callbacks written once, used by both fronts ---------------------------------------


def job_succeeded(response: Any) -> bool:
    """Uses ``json()``: the same on requests.Response and httpx.Response."""
    return bool(response.json().get("status") == "SUCCESS")


def job_failed(response: Any) -> bool:
    return bool(response.json().get("status") == "ERROR")


def header_says_done(response: Any) -> bool:
    """Uses ``headers`` (case-insensitive on both) and ``status_code``."""
    return response.status_code == 200 and response.headers.get("x-job-state") == "done"


def text_mentions_ready(response: Any) -> bool:
    """Uses ``text``."""
    return "ready" in response.text


def broken_callback(response: Any) -> bool:
    """A callback with a bug: its KeyError must reach the caller."""
    return bool(response.json()["no-such-key"])


# -- the outcome a user observes ---------------------------------------------------------


@dataclass(frozen=True)
class Returned:
    """The poll returned the response with this status and body text."""

    status: int
    text: str


@dataclass(frozen=True)
class Alarmed:
    """An Alarm was raised for a response with this status."""

    status: int


@dataclass(frozen=True)
class GaveUp:
    """The give-up error of the front (StopPolling / AsyncGaveUp) for this limit."""

    limit: str


@dataclass(frozen=True)
class Raised:
    """This exception (by class) propagated to the caller."""

    error: type


@dataclass
class Case:
    """One scenario: ``responses`` served in order (the last repeats), ``kwargs`` to the poll.

    Each response is a dict with optional ``status`` (default 200), ``json``,
    ``text``, ``headers`` and ``content_type``. ``requests`` is the number of
    requests the server must have seen; ``waits`` the waits the poll asked
    for (as reported to an ``on_attempt`` hook), when given.
    """

    id: str
    responses: List[Dict[str, Any]]
    kwargs: Dict[str, Any]
    expected: Any
    requests: Optional[int] = None
    waits: Optional[List[float]] = None
    notes: str = field(default="", compare=False)


CASES: List[Case] = [
    # each of the five checks
    Case(
        "status_code",
        [{"status": 503, "text": "busy"}, {"status": 200, "text": "ok"}],
        {"until": {"status_code": 200}},
        Returned(200, "ok"),
        requests=2,
    ),
    Case(
        "text",
        [{"text": "working"}, {"text": "done"}],
        {"until": {"text": "done"}},
        Returned(200, "done"),
        requests=2,
    ),
    Case(
        "json",
        [PENDING, SUCCESS],
        {"until": {"json": {"status": "SUCCESS"}}},
        Returned(200, '{"status": "SUCCESS"}'),
        requests=2,
    ),
    Case(
        "jsonpath",
        [{"json": {"job": {"state": "queued"}}}, {"json": {"job": {"state": "done"}}}],
        {"until": {"jsonpath": [{"expression": "job.state", "value": "done"}]}},
        Returned(200, '{"job": {"state": "done"}}'),
        requests=2,
    ),
    Case(
        "callback-json",
        [PENDING, PENDING, SUCCESS],
        {"until": {"callback": job_succeeded}},
        Returned(200, '{"status": "SUCCESS"}'),
        requests=3,
    ),
    Case(
        "callback-headers",
        [{"text": "x", "headers": {"X-Job-State": "running"}}, {"text": "y", "headers": {"X-Job-State": "done"}}],
        {"until": {"callback": header_says_done}},
        Returned(200, "y"),
        requests=2,
    ),
    Case(
        "callback-text",
        [{"text": "not yet"}, {"text": "ready now"}],
        {"until": {"callback": text_mentions_ready}},
        Returned(200, "ready now"),
        requests=2,
    ),
    # falsy expected values are real conditions
    Case(
        "falsy-json-empty-object",
        [{"json": {"a": 1}}, {"json": {}}],
        {"until": {"json": {}}},
        Returned(200, "{}"),
        requests=2,
    ),
    Case(
        "falsy-json-empty-list",
        [{"json": [1]}, {"json": []}],
        {"until": {"json": []}},
        Returned(200, "[]"),
        requests=2,
    ),
    Case(
        "falsy-text-empty",
        [{"text": "x"}, {"text": ""}],
        {"until": {"text": ""}},
        Returned(200, ""),
        requests=2,
    ),
    # AND inside a dict, OR across a list
    Case(
        "and-needs-every-check",
        [{"status": 500, **SUCCESS}, {"status": 200, **PENDING}, {"status": 200, **SUCCESS}],
        {"until": {"status_code": 200, "json": {"status": "SUCCESS"}}},
        Returned(200, '{"status": "SUCCESS"}'),
        requests=3,
    ),
    Case(
        "or-any-dict",
        [PENDING, {"json": {"status": "CANCELLED"}}],
        {"until": [{"json": {"status": "SUCCESS"}}, {"json": {"status": "CANCELLED"}}]},
        Returned(200, '{"status": "CANCELLED"}'),
        requests=2,
    ),
    Case(
        "shorthand-keywords",
        [{"status": 202, **SUCCESS}, SUCCESS],
        {"status_code": 200, "json": {"status": "SUCCESS"}, "retry_after": False},
        Returned(200, '{"status": "SUCCESS"}'),
        requests=2,
    ),
    # alarms
    Case(
        "alarm-checked-before-success",
        [{"status": 200, **ERROR}],
        {"until": {"status_code": 200}, "alarms": {"json": {"status": "ERROR"}}},
        Alarmed(200),
        requests=1,
    ),
    Case(
        "alarm-on-a-later-response",
        [PENDING, ERROR, SUCCESS],
        {"until": {"json": {"status": "SUCCESS"}}, "alarms": [{"json": {"status": "ERROR"}}]},
        Alarmed(200),
        requests=2,
    ),
    Case(
        "alarm-callback",
        [PENDING, ERROR],
        {"until": {"callback": job_succeeded}, "alarms": {"callback": job_failed}},
        Alarmed(200),
        requests=2,
    ),
    Case(
        "alarm-not-swallowed-by-ignore-exceptions",
        [ERROR],
        {"until": SUCCESS, "alarms": ERROR, "ignore_exceptions": [Exception]},
        Alarmed(200),
        requests=1,
    ),
    # the undecidable-JSON rule
    Case(
        "html-500-status-alarm-fires-despite-json-alarm",
        [PENDING, HTML_500],
        {
            "until": {"json": {"status": "SUCCESS"}},
            "alarms": [{"json": {"status": "ERROR"}}, {"status_code": 500}],
        },
        Alarmed(500),
        requests=2,
    ),
    Case(
        "not-json-and-nothing-matched-raises-valueerror",
        [{"text": "<html>maintenance</html>", "content_type": "text/html"}],
        {"until": {"json": {"status": "SUCCESS"}}},
        Raised(ValueError),
        requests=1,
    ),
    Case(
        "not-json-but-text-condition-matches",
        [{"text": "READY", "content_type": "text/plain"}],
        {"until": [{"json": {"status": "SUCCESS"}}, {"text": "READY"}]},
        Returned(200, "READY"),
        requests=1,
    ),
    Case(
        "ignore-valueerror-keeps-polling",
        [{"text": "<html>maintenance</html>", "content_type": "text/html"}, SUCCESS],
        {"until": {"json": {"status": "SUCCESS"}}, "ignore_exceptions": [ValueError]},
        Returned(200, '{"status": "SUCCESS"}'),
        requests=2,
    ),
    # jsonpath with several matches compares the list of values
    Case(
        "jsonpath-multi-match-list",
        [
            {"json": {"jobs": [{"state": "done"}, {"state": "running"}]}},
            {"json": {"jobs": [{"state": "done"}, {"state": "done"}]}},
        ],
        {"until": {"jsonpath": [{"expression": "jobs[*].state", "value": ["done", "done"]}]}},
        Returned(200, '{"jobs": [{"state": "done"}, {"state": "done"}]}'),
        requests=2,
    ),
    # a callback that raises propagates
    Case(
        "callback-error-propagates",
        [PENDING],
        {"until": {"callback": broken_callback}},
        Raised(KeyError),
        requests=1,
    ),
    # limits
    Case(
        "max-retries-counts-requests",
        [PENDING],
        {"until": SUCCESS, "max_retries": 3, "polling_interval": 1},
        GaveUp("max_retries"),
        requests=3,
        waits=[1.0, 1.0],
    ),
    Case(
        "max-retries-zero-sends-one-request",
        [PENDING],
        {"until": SUCCESS, "max_retries": 0},
        GaveUp("max_retries"),
        requests=1,
    ),
    Case(
        "timeout-never-sleeps-past-the-deadline",
        [PENDING],
        {"until": SUCCESS, "timeout": 5, "polling_interval": 2, "max_retries": None},
        GaveUp("timeout"),
        requests=3,
        waits=[2.0, 2.0],
    ),
    # Retry-After
    Case(
        "retry-after-wait-requested",
        [{"status": 503, "text": "busy", "headers": {"Retry-After": "7"}}, {"status": 200, "text": "ok"}],
        {"until": {"status_code": 200}, "polling_interval": 1},
        Returned(200, "ok"),
        requests=2,
        waits=[7.0],
    ),
    Case(
        "retry-after-ignored-when-switched-off",
        [{"status": 503, "text": "busy", "headers": {"Retry-After": "7"}}, {"status": 200, "text": "ok"}],
        {"until": {"status_code": 200}, "polling_interval": 1, "retry_after": False},
        Returned(200, "ok"),
        requests=2,
        waits=[1.0],
    ),
]

assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"
