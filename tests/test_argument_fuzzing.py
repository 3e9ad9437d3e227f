"""Whatever the arguments, construction either succeeds or raises a clean ValueError/TypeError.

Hypothesis feeds every constructor argument of both front ends, of the
helpers (``poll_``, ``retry_``, ``CircuitBreaker``) and of the wait
strategies with values of every kind: huge and tiny numbers, NaN and
infinity, strings, bytes, containers, classes, callables, objects. A bad
one must be refused at construction, never later, and never with an
``OverflowError``, ``AttributeError``, ``RecursionError``... Nothing is
sent: construction does no I/O.
"""

from __future__ import annotations

import fractions
import math
from typing import Any, Dict

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import httsleep
from httsleep import AsyncHttSleeper, CircuitBreaker, Constant, Exponential, FullJitter, HttSleeper, poll_, retry_


class Odd:
    """An object no argument expects."""

    def __repr__(self) -> str:
        return "<odd>"


NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.decimals(allow_nan=False),
    st.sampled_from([0, -0.0, 1e-320, 1e9, 1e9 + 1, 1e10, 2**63, -(2**63), math.inf, -math.inf, math.nan]),
)
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["5", "0.5", " 7 ", "five", "inf", "nan", "1e400", "-1", "", "\x00", "€", "2xx"]),
)
ANYTHING = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        NUMBERS,
        TEXT,
        st.binary(max_size=10),
        st.sampled_from([Odd(), object, ValueError, KeyError(), print, len, lambda *a, **k: None,
                         requests.Session, fractions.Fraction(1, 3)]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(TEXT, inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=6,
)
URLS = st.one_of(
    TEXT,
    st.from_regex(r"\A(https?|ftp|HTTP)?(://)?([a-z0-9:@%#?/ .\[\]-]{0,80})(:[0-9]{0,7})?(/[^\s]{0,20})?\Z"),
    st.sampled_from([
        "http://127.0.0.1:9/", "localhost:8080/job", "//host/x", "http://h:99999/", "http://" + "a" * 64 + "/",
        "http://[::1/", "http://u:p#ss w0rd@h/", "http:///x", "http://h:0/", "http://\u2603.example/",
    ]),
)

POLLER_ARGUMENTS = [
    "until", "alarms", "auth", "headers", "verify", "polling_interval", "max_retries", "ignore_exceptions",
    "loglevel", "timeout", "request_timeout", "retry_after", "max_retry_after", "retry_transient", "on_attempt",
    "circuit_breaker", "max_body_size", "rate_limit", "status_code", "text", "json", "jsonpath", "callback",
]
CONDITION_KEYS = ["status_code", "text", "json", "jsonpath", "callback"]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome_is_clean(build: Any) -> None:
    """``build()`` returns, or raises ValueError/TypeError with a message that can be printed."""
    try:
        build()
    except (ValueError, TypeError) as error:
        assert str(error)  # a message, and one that can be rendered
    # anything else propagates and fails the test


@pytest.fixture(autouse=True)
def _logger_level_restored():
    """loglevel= sets the httsleep logger's level; whatever was fuzzed must not leak into other tests."""
    import logging

    level = logging.getLogger("httsleep").level
    yield
    logging.getLogger("httsleep").setLevel(level)


@pytest.mark.parametrize("front", [HttSleeper, AsyncHttSleeper], ids=["sync", "async"])
@FUZZ
@given(arguments=st.dictionaries(st.sampled_from(POLLER_ARGUMENTS), ANYTHING, max_size=4))
def test_poller_arguments_are_checked_at_construction(front, arguments):
    arguments = dict(arguments)
    if not any(key in arguments for key in ["until", *CONDITION_KEYS]):
        arguments["status_code"] = 200
    outcome_is_clean(lambda: front("http://127.0.0.1:9/", **arguments))


@pytest.mark.parametrize("front", [HttSleeper, AsyncHttSleeper], ids=["sync", "async"])
@FUZZ
@given(url=URLS, headers=st.none() | st.dictionaries(TEXT, TEXT | st.binary(max_size=5), max_size=2))
def test_urls_and_headers_are_checked_at_construction(front, url, headers):
    outcome_is_clean(lambda: front(url, status_code=200, headers=headers))


@FUZZ
@given(url=URLS, method=TEXT, params=ANYTHING, data=ANYTHING, json=ANYTHING)
def test_a_requests_request_is_checked_at_construction(url, method, params, data, json):
    def build() -> None:
        try:
            request = requests.Request(method=method, url=url, params=params, data=data, json=json)
        except Exception:  # requests itself refused to build it: not ours to judge
            return
        HttSleeper(request, status_code=200)

    outcome_is_clean(build)


@FUZZ
@given(condition=st.dictionaries(st.sampled_from(CONDITION_KEYS) | TEXT, ANYTHING, max_size=3), where=st.booleans())
def test_conditions_are_checked_at_construction(condition, where):
    if where:
        outcome_is_clean(lambda: HttSleeper("http://127.0.0.1:9/", until=condition))
    else:
        outcome_is_clean(lambda: HttSleeper("http://127.0.0.1:9/", status_code=200, alarms=[condition]))


HELPER_ARGUMENTS: Dict[str, Any] = {
    "poll_": ["timeout", "interval"],
    "retry_": ["ex", "times", "interval", "on_error"],
    "CircuitBreaker": ["ex", "threshold", "reset_timeout", "on_error", "half_open_trials", "name", "clock"],
}


@FUZZ
@given(helper=st.sampled_from(sorted(HELPER_ARGUMENTS)), data=st.data())
def test_helper_arguments_are_checked_before_anything_runs(helper, data):
    arguments = data.draw(st.dictionaries(st.sampled_from(HELPER_ARGUMENTS[helper]), ANYTHING, max_size=3))
    with httsleep.testing.no_waiting():
        if helper == "poll_":
            outcome_is_clean(lambda: poll_(lambda: 1, lambda result: True, **arguments))
        elif helper == "retry_":
            arguments.setdefault("ex", ValueError)
            outcome_is_clean(lambda: retry_(lambda: 1, **arguments))
        else:
            outcome_is_clean(lambda: CircuitBreaker(**arguments))


@FUZZ
@given(strategy=st.sampled_from(["Constant", "Exponential", "FullJitter"]), values=st.lists(ANYTHING, max_size=3))
def test_wait_strategies_are_checked_at_construction(strategy, values):
    cls = {"Constant": Constant, "Exponential": Exponential, "FullJitter": FullJitter}[strategy]
    outcome_is_clean(lambda: cls(*values))


@pytest.mark.parametrize("front", [HttSleeper, AsyncHttSleeper], ids=["sync", "async"])
def test_the_examples_of_the_issue_are_clean_errors(front):
    """The arguments that once escaped as odd exceptions or failed only in run()."""
    bad = [
        {"max_retries": math.inf},
        {"polling_interval": 10**400},
        {"request_timeout": (10**400, 1)},
        {"polling_interval": 1e10},
        {"headers": "x"},
        {"headers": {"X-Thing": "\u20ac"}},
        {"max_body_size": -1},
        {"verify": 3},
    ]
    for arguments in bad:
        with pytest.raises((ValueError, TypeError)) as caught:
            front("http://127.0.0.1:9/", status_code=200, **arguments)
        name = next(iter(arguments))
        assert name in str(caught.value), (arguments, str(caught.value))
    for url in ["localhost:8080/job", "//host/x", "ftp://host/x", "http://" + "a" * 64 + ".example/", "http://h:99999/"]:
        with pytest.raises(ValueError, match="url_or_request"):
            front(url, status_code=200)
    # a dotless i matches [a-z] when case is ignored (unless only ASCII may match); in IDNA the label is too long
    with pytest.raises(ValueError, match="the host name is not valid"):
        front("http://" + "\u0131" * 63 + ".example/", status_code=200)


URL_PARTS = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scheme=st.sampled_from(["http", "https", "HTTP", "ftp", ""]), host=URL_PARTS, port=URL_PARTS, path=URL_PARTS)
def test_a_plain_url_accepted_at_construction_is_one_requests_can_prepare(scheme, host, port, path):
    """Plain (printable ASCII) URL strings are checked without requests' preparation: the check must be as strict."""
    url = "{}://{}{}/{}".format(scheme, host, ":" + port if port else "", path)
    try:
        HttSleeper(url, status_code=200)
    except (ValueError, TypeError):
        return
    requests.Request("GET", url).prepare()  # would raise on the first attempt otherwise
