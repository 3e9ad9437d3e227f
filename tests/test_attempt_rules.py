"""The rules of one attempt, without a socket: redirect hops, where credentials go, bounds and wording.

Every transport follows :class:`httsleep.transports.rules.AttemptRules`;
these tests pin its decisions directly, with an injected clock.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import requests

from httsleep.exceptions import StopPolling
from httsleep.policy import Policy
from httsleep.transports.rules import MAX_REDIRECTS, AttemptRules, RedirectLimit, is_worded, reworded


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _rules(url: str = "http://a.example/job", max_redirects: Any = None, **options: Any) -> Any:
    clock = Clock()
    run = Policy({"status_code": 200}, **options).start(clock, give_up=StopPolling, wall=lambda: 1e9)
    return AttemptRules(run, "POST", url, max_redirects), clock


def test_a_303_and_a_post_after_302_become_a_get_without_body_a_307_keeps_both():
    rules, _ = _rules()
    hop = rules.next_hop(307, "/again", "http://a.example/again")
    assert (hop.method, hop.keeps_body, hop.credentials) == ("POST", True, True)
    hop = rules.next_hop(302, "/then", "http://a.example/then")
    assert (hop.method, hop.keeps_body) == ("GET", False)
    assert rules.next_hop(200, None, None) is None


def test_credentials_stop_at_the_first_hop_away_from_the_origin_and_do_not_come_back():
    rules, _ = _rules()
    assert rules.next_hop(302, "x", "https://a.example/secure").credentials  # http -> https, same host
    assert not rules.next_hop(302, "x", "http://b.example/x").credentials
    assert not rules.next_hop(302, "x", "http://b.example/y").credentials  # still away
    assert not rules.next_hop(302, "x", "http://a.example/home").credentials  # back home: still not


def test_one_redirect_limit_unless_the_callers_client_sets_fewer():
    rules, _ = _rules()
    for _ in range(MAX_REDIRECTS):
        rules.next_hop(302, "x", "http://a.example/loop")
    with pytest.raises(RedirectLimit, match=r"GET http://a.example/loop: more than 20 redirects"):  # 302 after POST
        rules.next_hop(302, "x", "http://a.example/loop")
    fewer, _ = _rules(max_redirects=2)
    fewer.next_hop(302, "x", "http://a.example/1")
    fewer.next_hop(302, "x", "http://a.example/2")
    with pytest.raises(RedirectLimit, match="more than 2 redirects"):
        fewer.next_hop(302, "x", "http://a.example/3")
    assert _rules(max_redirects=30)[0].limit == MAX_REDIRECTS


def test_a_location_that_cannot_be_requested_is_refused_before_anything_is_sent():
    rules, _ = _rules()
    refused = r"POST http://a.example/job: its redirect cannot be requested \(Location: no host"
    with pytest.raises(ValueError, match=refused):
        rules.next_hop(302, "http://:99999/x", "http://:99999/x")


def test_the_bounds_are_cut_to_the_deadline_and_say_so():
    rules, clock = _rules(timeout=10, request_timeout=(3, 4))
    assert rules.head_bound() == (7, False) and rules.read_bound() == (4, False)
    clock.now = 8
    assert rules.head_bound() == (2, True) and rules.read_bound() == (2, True)


@pytest.mark.parametrize("phase, bound, words", [
    ("head", None, "no response within 4s (the read timeout)"),
    ("connect", None, "no connection within 3s (the connect timeout)"),
    ("body", None, "no data for the response body within 4s (the read timeout)"),
    ("head", (7, False), "no complete response head within 7s (the connect plus the read timeout)"),
    ("body", (2, True), "the response body did not arrive before the deadline (timeout=10s)"),
])
def test_a_timeout_names_the_request_hidden_and_the_bound(phase, bound, words):
    rules, _ = _rules("http://u:pw-RULES@a.example/job?token=tok-RULES", timeout=10, request_timeout=(3, 4))
    from httsleep.transports.rules import Bound

    message = rules.timeout_message(phase, None if bound is None else Bound(*bound))
    assert message == "POST http://***@a.example/job?token=***: " + words


def test_a_library_timer_that_fires_at_the_deadline_is_worded_as_the_deadline():
    rules, clock = _rules(timeout=5, request_timeout=(3, 30))
    clock.now = 5
    assert rules.timeout_message("head").endswith("no complete response head before the deadline (timeout=5s)")


def test_a_reworded_error_keeps_its_class_and_attributes_and_pickles():
    original = requests.ConnectionError("HTTPConnectionPool(host='a', port=1): Max retries exceeded", request=None)
    original.response = "kept"
    worded = reworded(original, "POST http://a.example/job: connection to a.example:80 refused")
    assert isinstance(worded, requests.ConnectionError) and is_worded(worded) and not is_worded(original)
    assert str(worded) == "POST http://a.example/job: connection to a.example:80 refused"
    assert repr(worded) == "ConnectionError('POST http://a.example/job: connection to a.example:80 refused')"
    assert worded.response == "kept"
    again = pickle.loads(pickle.dumps(worded))
    assert type(again).__mro__[1] is requests.ConnectionError and str(again) == str(worded)
