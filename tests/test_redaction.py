"""No credential in any log line or exception message (must-show 5).

A set of scenarios polls with credentials in URL userinfo, ``auth=(user,
pass)`` and ``Authorization``/``Proxy-Authorization``/``Cookie`` headers,
against servers that succeed, fail, raise alarms, never answer, refuse,
reset and redirect to another host. Every log record (every logger, DEBUG
and up) and every exception raised, with its whole cause/context chain, is
then searched for the secrets, plain and base64-encoded.
"""

from __future__ import annotations

import base64
import logging
from typing import Callable, Iterator, List

import pytest
import requests
from faultservers import LateServer, Reply, ScriptedServer, reset, silent

from httsleep import HttSleeper
from httsleep import httsleep as poll
from httsleep.redaction import redact_text, redact_url, scrub_exception

USER = "alice"
URL_PASSWORD = "urlpass-S3CRET-1"
AUTH_PASSWORD = "authpass-S3CRET-2"
BEARER = "bearer-S3CRET-3"
PROXY = "proxy-S3CRET-4"
COOKIE = "cookie-S3CRET-5"
HEADERS = {
    "Authorization": "Bearer " + BEARER,
    "Proxy-Authorization": "Basic " + base64.b64encode("proxy:{}".format(PROXY).encode()).decode(),
    "Cookie": "session=" + COOKIE,
}


def _b64(user: str, password: str) -> str:
    return base64.b64encode("{}:{}".format(user, password).encode()).decode()


FORBIDDEN = [
    URL_PASSWORD,
    AUTH_PASSWORD,
    BEARER,
    PROXY,
    COOKIE,
    _b64(USER, URL_PASSWORD),
    _b64(USER, AUTH_PASSWORD),
    _b64("proxy", PROXY),
]


def with_userinfo(url: str) -> str:
    return url.replace("://", "://{}:{}@".format(USER, URL_PASSWORD), 1)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    pending: List[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "last_exception", None)]
        inner.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend(item for item in inner if isinstance(item, BaseException))


# Each scenario runs a poll and returns what it raised (or None).
Scenario = Callable[[], None]


def _userinfo_gives_up_on_503() -> None:
    with ScriptedServer([Reply(503, json={"status": "BUSY"})]) as server:
        poll(with_userinfo(server.url) + "jobs/1", json={"status": "DONE"}, max_retries=2, polling_interval=0)


def _auth_tuple_alarm() -> None:
    with ScriptedServer([Reply(404)]) as server:
        poll(server.url, {"status_code": 200}, alarms={"status_code": 404}, auth=(USER, AUTH_PASSWORD))


def _headers_succeed_after_retries() -> None:
    with ScriptedServer([Reply(202, headers={"Retry-After": "0"}), Reply(json={"ok": True})]) as server:
        poll(server.url, {"status_code": 200}, headers=HEADERS, polling_interval=0)


def _headers_refused() -> None:
    with LateServer() as late:
        poll(with_userinfo(late.url), {"status_code": 200}, headers=HEADERS)


def _headers_refused_transient_gives_up() -> None:
    with LateServer() as late:
        poll(with_userinfo(late.url), {"status_code": 200}, headers=HEADERS, auth=(USER, AUTH_PASSWORD),
             retry_transient=True, max_retries=2, polling_interval=0)


def _userinfo_reset() -> None:
    with reset() as server:
        poll(with_userinfo(server.url), {"status_code": 200}, headers=HEADERS)


def _userinfo_silent_deadline() -> None:
    with silent() as server:
        poll(with_userinfo(server.url), {"status_code": 200}, headers=HEADERS, timeout=0.3)


def _userinfo_silent_read_timeout() -> None:
    with silent() as server:
        poll(with_userinfo(server.url), {"status_code": 200}, auth=(USER, AUTH_PASSWORD), request_timeout=0.2)


def _invalid_url_at_construction() -> None:
    poll("http://{}:{}@127.0.0.1:99999/".format(USER, URL_PASSWORD), {"status_code": 200})


def _no_adapter_for_the_url() -> None:
    poll("{}:{}@127.0.0.1/jobs".format(USER, URL_PASSWORD), {"status_code": 200})


def _redirect_to_another_host() -> None:
    with ScriptedServer(host="127.0.0.2") as other:
        with ScriptedServer([Reply(302, headers={"Location": other.url})]) as first:
            poll(with_userinfo(first.url), {"status_code": 200}, headers=HEADERS)
    assert all(name not in other.requests[0].headers for name in ("authorization", "cookie"))


def _callback_raises() -> None:
    def fails(response: requests.Response) -> bool:
        raise RuntimeError("the callback failed")

    with ScriptedServer() as server:
        poll(with_userinfo(server.url), callback=fails, headers=HEADERS)


SCENARIOS = [
    _userinfo_gives_up_on_503,
    _auth_tuple_alarm,
    _headers_succeed_after_retries,
    _headers_refused,
    _headers_refused_transient_gives_up,
    _userinfo_reset,
    _userinfo_silent_deadline,
    _userinfo_silent_read_timeout,
    _invalid_url_at_construction,
    _no_adapter_for_the_url,
    _redirect_to_another_host,
    _callback_raises,
]


def test_no_credential_appears_in_any_log_line_or_exception_message(caplog, fake_time):
    """Must-show 5: run every scenario, then grep all records and exception texts for the secrets."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httsleep")
    texts: List[str] = []
    raised = {}
    for scenario in SCENARIOS:
        try:
            scenario()
        except Exception as exc:  # noqa: BLE001 - collected and searched below
            raised[scenario.__name__] = type(exc).__name__
            for item in _chain(exc):
                texts.extend([str(item), repr(item)])
    records = caplog.records
    texts.extend(record.getMessage() for record in records)
    # the scenarios really did produce messages and errors to search
    assert raised == {
        "_userinfo_gives_up_on_503": "StopPolling",
        "_auth_tuple_alarm": "Alarm",
        "_headers_refused": "ConnectionError",
        "_headers_refused_transient_gives_up": "StopPolling",
        "_userinfo_reset": "ConnectionError",
        "_userinfo_silent_deadline": "StopPolling",
        "_userinfo_silent_read_timeout": "ReadTimeout",
        "_invalid_url_at_construction": "InvalidURL",
        "_no_adapter_for_the_url": "MissingSchema",
        "_callback_raises": "RuntimeError",
    }
    assert any(record.name == "httsleep" and record.levelno == logging.INFO for record in records)
    assert any(record.name == "httsleep" and record.levelno == logging.DEBUG for record in records)
    assert any("***@127.0.0.1" in text for text in texts)  # the redacted URL is still there, readable
    leaks = [(secret, text) for text in texts for secret in FORBIDDEN if secret in text]
    assert leaks == []


def test_the_poller_repr_hides_url_credentials():
    sleeper = HttSleeper(with_userinfo("http://127.0.0.1:9/jobs"), {"status_code": 200})
    assert repr(sleeper) == "<HttSleeper GET http://***@127.0.0.1:9/jobs>"


def test_give_up_messages_name_the_redacted_target(fake_time):
    with ScriptedServer([Reply(503)]) as server, pytest.raises(StopIteration) as caught:
        poll(with_userinfo(server.url), {"status_code": 200}, max_retries=1)
    assert "GET http://***@127.0.0.1:{}/".format(server.port) in str(caught.value)


# -- the helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://user:secret@host/x", "https://***@host/x"),
        ("http://token@host", "http://***@host"),
        ("see http://a:b@h1/ and ftp://c:d@h2/", "see http://***@h1/ and ftp://***@h2/"),
        ("No adapter for 'user:pw@host/x'", "No adapter for '***@host/x'"),
        ("http://host/path?q=a@b", "http://host/path?q=a@b"),
        ("write to bob@example.com", "write to bob@example.com"),
    ],
)
def test_redact_url(text, expected):
    """The userinfo before the host becomes ***; an @ in a query or an e-mail address is left alone."""
    assert redact_url(text) == expected


def test_redact_text_hides_authorization_values():
    assert redact_text("Authorization: Bearer abc.DEF-123") == "Authorization: Bearer ***"
    assert redact_text("basic dXNlcjpwYXNz and Token xyz") == "basic *** and Token ***"
    assert redact_text("nothing secret") == "nothing secret"


def test_scrub_exception_redacts_the_whole_chain_in_place():
    inner = ValueError("Failed to parse: http://user:pw@host/")
    outer = requests.ConnectionError(inner)
    outer.__cause__ = KeyError("Bearer tok")
    assert scrub_exception(outer) is outer
    assert str(inner) == "Failed to parse: http://***@host/"
    assert "tok" not in repr(outer.__cause__)
