"""Sessions, auth, headers, verify, and run state that belongs to one run()."""

from __future__ import annotations

import base64
import re
import threading

import pytest
import requests
from werkzeug import Response

import httsleep
from httsleep import HttSleeper
from httsleep import httsleep as httsleep_function


def test_without_a_session_each_run_opens_and_closes_its_own(httpserver, monkeypatch):
    httpserver.expect_request("/job").respond_with_data("ok")
    opened, closed = [], []
    real_init, real_close = requests.Session.__init__, requests.Session.close

    def init(self, *args, **kwargs):
        opened.append(self)
        real_init(self, *args, **kwargs)

    def close(self):
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(requests.Session, "__init__", init)
    monkeypatch.setattr(requests.Session, "close", close)
    sleeper = HttSleeper(httpserver.url_for("/job"), {"status_code": 200})
    sleeper.run()
    sleeper.run()
    assert len(opened) == 2 and opened[0] is not opened[1]
    assert closed == opened  # a session never read is never kept: no connection stays open


def test_a_callers_session_is_used_and_left_open(httpserver):
    httpserver.expect_request("/job", headers={"X-From-Session": "yes"}).respond_with_data("ok")
    session = requests.Session()
    session.headers["X-From-Session"] = "yes"
    closed = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    assert httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, session=session).text == "ok"
    assert closed == []


def test_cookies_set_by_the_server_are_sent_on_the_next_attempt(httpserver, fake_time):

    def handler(request):
        if request.cookies.get("ticket") == "42":
            return Response("ready")
        response = Response("wait", status=202)
        response.set_cookie("ticket", "42")
        return response

    httpserver.expect_request("/job").respond_with_handler(handler)
    assert httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, polling_interval=0).text == "ready"


def test_headers_are_merged_over_the_sessions_and_win(httpserver):
    httpserver.expect_request("/job").respond_with_data("ok")
    session = requests.Session()
    session.headers.update({"X-A": "session", "X-B": "session"})
    httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, headers={"X-B": "mine"}, session=session)
    sent = httpserver.log[0][0].headers
    assert sent["X-A"] == "session" and sent["X-B"] == "mine"


def test_auth_tuple_is_sent_as_basic_auth(httpserver):
    httpserver.expect_request("/job").respond_with_data("ok")
    httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, auth=("user", "s3cret"))
    expected = "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert httpserver.log[0][0].headers["Authorization"] == expected


def test_headers_and_auth_given_with_a_request_object_fill_in_what_it_lacks(httpserver):
    httpserver.expect_request("/job", method="PUT").respond_with_data("ok")
    request = requests.Request("PUT", httpserver.url_for("/job"), headers={"X-Own": "request"})
    httsleep_function(request, {"status_code": 200}, headers={"X-Own": "ignored", "X-Extra": "1"}, auth=("u", "p"))
    sent = httpserver.log[0][0].headers
    assert sent["X-Own"] == "request" and sent["X-Extra"] == "1"
    assert sent["Authorization"].startswith("Basic ")
    assert request.headers == {"X-Own": "request"}  # the caller's Request is not changed


def test_verify_given_overrides_the_session(httpserver, monkeypatch):
    """Without verify=, the session's setting applies (as requests.Session.get would do it)."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    httpserver.expect_request("/job").respond_with_data("ok")
    seen = []
    real_send = requests.Session.send

    def send(self, request, **kwargs):
        seen.append(kwargs["verify"])
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    session = requests.Session()
    session.verify = "/path/from/session.pem"
    httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, session=session)
    httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, session=session, verify=False)
    assert seen == ["/path/from/session.pem", False]


def test_every_request_has_a_timeout(httpserver, monkeypatch):
    httpserver.expect_request("/job").respond_with_data("ok")
    seen = []
    real_send = requests.Session.send

    def send(self, request, **kwargs):
        seen.append(kwargs["timeout"])
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    httsleep_function(httpserver.url_for("/job"), {"status_code": 200})
    httsleep_function(httpserver.url_for("/job"), {"status_code": 200}, request_timeout=3)
    assert [(timeout.connect_timeout, timeout.read_timeout) for timeout in seen] == [(10.0, 30.0), (3.0, 3.0)]


def test_two_threads_can_share_one_policy(httpserver, fake_time):
    """Run state lives in run(): each thread's poll counts its own attempts."""

    counters: dict = {}
    lock = threading.Lock()

    def handler(request):
        who = request.headers["X-Who"]
        with lock:
            counters[who] = counters.get(who, 0) + 1
            n = counters[who]
        return Response("done" if n >= 3 else "wait")

    httpserver.expect_request("/job").respond_with_handler(handler)
    sleeper = HttSleeper(httpserver.url_for("/job"), {"text": "done"}, max_retries=3, polling_interval=0)
    results = {}

    def poll(name):
        session = requests.Session()
        session.headers["X-Who"] = name
        clone = HttSleeper(httpserver.url_for("/job"), {"text": "x"}, session=session)
        clone._policy = sleeper.policy  # same conditions, limits and counters-free config
        results[name] = clone.run().text

    threads = [threading.Thread(target=poll, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"a": "done", "b": "done"}
    assert counters == {"a": 3, "b": 3}


def test_one_sleeper_run_from_eight_threads_at_once_makes_eight_polls(httpserver, fake_time):
    """Each thread's run() sends its own request and returns its own matching response."""
    httpserver.expect_request("/job").respond_with_data("done")
    sleeper = HttSleeper(httpserver.url_for("/job"), {"text": "done"})
    results = []
    threads = [threading.Thread(target=lambda: results.append(sleeper.run().text), daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["done"] * 8
    assert len(httpserver.log) == 8


def test_public_names_are_exactly_all():
    public = {name for name in dir(httsleep) if not name.startswith("_")}
    modules = {"aio", "conditions", "exceptions", "instrumentation", "main", "many", "messages", "policy",
               "ratelimit", "redaction", "redis", "responses", "state", "testing", "transient", "transports", "waits"}
    assert sorted(httsleep.__all__) == httsleep.__all__
    assert set(httsleep.__all__) - {"AsyncHttSleeper", "async_httsleep"} <= public
    assert public - set(httsleep.__all__) <= modules | {"annotations", "logging", "Any"} | {
        name for name in public if name.islower() and name in {"cli", "demo", "resilience"}
    }


def test_version_is_a_three_part_release_after_0_3_1():
    """httsleep.__version__ is MAJOR.MINOR.PATCH (what setup.py reads) and newer than the 0.3.1 it replaces."""
    from packaging.version import Version

    assert re.fullmatch(r"\d+\.\d+\.\d+", httsleep.__version__), httsleep.__version__
    assert Version(httsleep.__version__) > Version("0.3.1")


@pytest.mark.parametrize("name", ["HttSleeper", "httsleep", "Alarm", "StopPolling", "is_temp_network_error"])
def test_public_api_has_docstrings(name):
    assert getattr(httsleep, name).__doc__


@pytest.mark.slow
def test_a_session_shared_by_threads_never_has_one_polls_limit_cut_anothers_connection():
    """Poll A inflates a large gzip body with a 0.1 s read timeout, polls B share A's session and connections.

    The watchdog bounds each wait for data, not the decoding: A's body arrives whole, and the socket it
    watched is never cut once another poll may be using it. (Before, urllib3 gave A's connection back to
    the pool inside the read that returned the last bytes, still watched: A failed with a false
    ReadTimeout, and B lost its connection, about twice a second.)
    """
    import gzip
    import os
    import time

    from faultservers import RawServer, read_head

    first = gzip.compress(os.urandom(50_000))
    last = gzip.compress(b"\0" * (80 << 20))  # the last piece: a cheap download that takes long to inflate

    def handler(conn, server):
        rest = b""
        while True:
            head, rest = read_head(conn, rest)
            if head is None:
                return
            if head.startswith(b"GET /a"):
                length = len(first) + len(last)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % length
                             + first)
                time.sleep(0.01)
                conn.sendall(last)
            else:
                time.sleep(0.2)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    errors = []
    stop = time.monotonic() + 3

    def keep_polling(path, **options):
        while time.monotonic() < stop:
            try:
                HttSleeper(server.url + path, status_code=200, max_retries=1, session=session, **options).run()
            except Exception as error:  # noqa: BLE001 - what the test counts
                errors.append((path, repr(error)[:200]))

    with RawServer(handler) as server, requests.Session() as session:
        threads = [threading.Thread(target=keep_polling, args=("b",)) for _ in range(4)]
        threads.append(threading.Thread(target=keep_polling, args=("a",),
                                        kwargs={"request_timeout": (5, 0.1), "max_body_size": None}))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_a_callers_adapter_whose_body_is_not_a_socket_is_read_bounded_too():
    """An adapter of the caller's (a test double, a cache) may build urllib3 responses over any file object."""
    import gzip
    import io

    from urllib3.response import HTTPResponse

    from httsleep import BodyTooLarge

    class Canned(requests.adapters.BaseAdapter):
        def __init__(self, body, headers):
            super().__init__()
            self.body, self.headers = body, headers

        def send(self, request, **kwargs):
            raw = HTTPResponse(body=io.BytesIO(self.body), headers=self.headers, status=200, preload_content=False)
            return requests.adapters.HTTPAdapter().build_response(request, raw)

        def close(self):
            pass

    with requests.Session() as session:
        session.mount("http://", Canned(gzip.compress(b'{"status": "SUCCESS"}'), {"Content-Encoding": "gzip"}))
        response = HttSleeper("http://cache.test/job", json={"status": "SUCCESS"}, session=session).run()
        assert response.json() == {"status": "SUCCESS"}
        session.mount("http://", Canned(gzip.compress(b"x" * 100_000), {"Content-Encoding": "gzip"}))
        with pytest.raises(BodyTooLarge):
            HttSleeper("http://cache.test/job", status_code=200, session=session, max_body_size=10_000).run()


# -- the request is prepared once per poll, and again only when the session changed --------------------------


def count_prepares(monkeypatch):
    calls = []
    real = requests.Session.prepare_request

    def prepare_request(self, request):
        calls.append(request)
        return real(self, request)

    monkeypatch.setattr(requests.Session, "prepare_request", prepare_request)
    return calls


def test_a_poll_prepares_its_request_once_when_nothing_changes(httpserver, fake_time, monkeypatch):
    prepares = count_prepares(monkeypatch)
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    with requests.Session() as session, pytest.raises(httsleep.StopPolling):
        HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, session=session, max_retries=5).run()
    assert len(httpserver.log) == 5 and len(prepares) == 1


def test_a_change_to_the_session_between_attempts_applies_to_the_next_one(httpserver, fake_time):
    """A hook (or another thread) changes the session's headers, auth and cookies: the next request has them."""
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    session = requests.Session()
    changes = [
        lambda: session.headers.update({"X-Token": "v2"}),
        lambda: setattr(session, "auth", ("bob", "pw")),
        lambda: session.cookies.set("flavour", "mint"),
        lambda: session.headers.pop("X-Token"),
    ]

    def change(attempt):
        if attempt.number <= len(changes):
            changes[attempt.number - 1]()

    with session, pytest.raises(httsleep.StopPolling):
        HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, session=session, max_retries=5,
                   on_attempt=change).run()
    seen = [request.headers for request, _ in httpserver.log]
    assert [headers.get("X-Token") for headers in seen] == [None, "v2", "v2", "v2", None]
    assert [headers.get("Authorization") is not None for headers in seen] == [False, False, True, True, True]
    assert ["flavour=mint" in headers.get("Cookie", "") for headers in seen] == [False, False, False, True, True]


def test_a_change_to_the_session_between_runs_applies(httpserver):
    httpserver.expect_request("/job").respond_with_json({"status": "DONE"})
    with requests.Session() as session:
        sleeper = HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, session=session)
        sleeper.run()
        session.headers["X-Run"] = "second"
        session.cookies.set("seen", "yes-indeed")
        sleeper.run()
    first, second = (request.headers for request, _ in httpserver.log)
    assert first.get("X-Run") is None and second.get("X-Run") == "second"
    assert "seen=yes-indeed" in second.get("Cookie", "")


def test_a_cookie_the_server_sets_makes_the_next_attempt_prepare_again(httpserver, fake_time, monkeypatch):
    prepares = count_prepares(monkeypatch)
    replies = iter([
        Response('{"status": "PENDING"}', headers={"Set-Cookie": "step=1; Path=/"}, content_type="application/json"),
        Response('{"status": "PENDING"}', content_type="application/json"),
        Response('{"status": "DONE"}', content_type="application/json"),
    ])
    httpserver.expect_request("/job").respond_with_handler(lambda request: next(replies))
    with requests.Session() as session:
        HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, session=session).run()
    cookies = [request.headers.get("Cookie") for request, _ in httpserver.log]
    assert cookies == [None, "step=1", "step=1"]
    assert len(prepares) == 2  # the first attempt, and the second, after the cookie came


def test_an_auth_object_signs_every_attempt_anew(httpserver, fake_time, monkeypatch):
    """An auth that signs each request (a nonce, a refreshed token) is called for every attempt, as requests does."""
    httpserver.expect_request("/job").respond_with_json({"status": "PENDING"})
    prepares = count_prepares(monkeypatch)

    class Signing(requests.auth.AuthBase):
        calls = 0

        def __call__(self, request):
            Signing.calls += 1
            request.headers["Authorization"] = "Bearer token-{}".format(Signing.calls)
            return request

    with pytest.raises(httsleep.StopPolling):
        HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, auth=Signing(), max_retries=3).run()
    assert [request.headers["Authorization"] for request, _ in httpserver.log] == [
        "Bearer token-1", "Bearer token-2", "Bearer token-3"]
    assert len(prepares) == 3


def test_digest_auth_answers_every_challenge(httpserver, fake_time):
    """Digest auth keeps state per request: each attempt is challenged and answered (none ends on the 401)."""
    def handler(request):
        if not request.headers.get("Authorization", "").startswith("Digest "):
            return Response("", status=401, headers={"WWW-Authenticate": 'Digest realm="jobs", nonce="n1", qop="auth"'})
        return Response('{"status": "PENDING"}', content_type="application/json")

    httpserver.expect_request("/job").respond_with_handler(handler)
    statuses = []
    with pytest.raises(httsleep.StopPolling):
        HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, max_retries=3,
                   auth=requests.auth.HTTPDigestAuth("alice", "pw"),
                   on_attempt=lambda attempt: statuses.append(attempt.response.status_code)).run()
    assert statuses == [200, 200, 200]


def test_a_file_body_is_sent_whole_on_every_attempt(httpserver, fake_time):
    import io

    httpserver.expect_request("/jobs", method="POST").respond_with_json({"status": "PENDING"})
    body = io.BytesIO(b"x" * 1000)
    with pytest.raises(httsleep.StopPolling):
        HttSleeper(requests.Request("POST", httpserver.url_for("/jobs"), data=body), {"json": {"status": "DONE"}},
                   max_retries=3).run()
    assert [len(request.get_data()) for request, _ in httpserver.log] == [1000, 1000, 1000]


def test_a_cookie_that_expired_between_attempts_is_not_sent(httpserver, monkeypatch):
    """Nothing in the jar changes when a cookie expires; the clock does: the request is prepared again."""
    import time as real_time

    clock = [real_time.time()]
    monkeypatch.setattr(real_time, "time", lambda: clock[0])
    replies = iter([Response('{"status": "PENDING"}', headers={"Set-Cookie": "session=abc; Max-Age=3; Path=/"},
                             content_type="application/json")])
    httpserver.expect_request("/job").respond_with_handler(
        lambda request: next(replies, Response('{"status": "PENDING"}', content_type="application/json")))

    def later(attempt):
        clock[0] += 2  # two seconds between attempts

    with httsleep.testing.no_waiting(), pytest.raises(httsleep.StopPolling):
        HttSleeper(httpserver.url_for("/job"), {"json": {"status": "DONE"}}, max_retries=4, on_attempt=later).run()
    assert [request.headers.get("Cookie") for request, _ in httpserver.log] == [None, "session=abc", None, None]


def test_a_change_to_the_pollers_request_between_attempts_applies(fake_time):
    """0.3.1 prepared every attempt, so code may refresh ``sleeper.request`` in place (a token, the next page)."""
    from faultservers import Reply, ScriptedServer

    busy = Reply(json={"status": "BUSY"})
    with ScriptedServer([busy, busy, Reply(json={"status": "DONE"})]) as server:

        def refresh(attempt):
            number = attempt.number + 1
            sleeper.request.headers["X-Token"] = "token-{}".format(number)
            sleeper.request.params = {"page": number}
            sleeper.request.json["n"] = number

        request = requests.Request("POST", server.url + "job", headers={"X-Token": "token-1"}, json={"n": 1})
        sleeper = HttSleeper(request, {"json": {"status": "DONE"}}, polling_interval=0, on_attempt=refresh)
        sleeper.run()
    sent = [(request.path, request.headers["x-token"]) for request in server.requests]
    assert sent == [("/job", "token-1"), ("/job?page=2", "token-2"), ("/job?page=3", "token-3")]
