"""The aiohttp transport: what a poll returns, what callbacks see, requests it sends, sessions it opens or shares.

The behaviours every transport shares (conditions, alarms, limits, bounds
against hostile servers, credentials) are pinned on aiohttp too by the
files that own them (tests/fronts.py lists the transports).
"""

from __future__ import annotations

import asyncio
import base64
import pickle
import sys
import warnings
from typing import Any, List

import aiohttp
import httpx
import pytest
from faultservers import Backlogged, Reply, ScriptedServer
from fronts import aiohttp_by_default

from httsleep import Alarm, AsyncGaveUp, AsyncHttSleeper, Attempt, async_httsleep, httsleep
from httsleep.aio import AiohttpResponse
from httsleep.testing import no_waiting

SUCCESS = {"status": "SUCCESS"}


def with_session(coroutine_function: Any, connector_limit: Any = None) -> Any:
    """Run ``coroutine_function(session)`` on a new aiohttp session (``connector_limit``: its connector's)."""
    async def main() -> Any:
        connector = aiohttp.TCPConnector(limit=connector_limit) if connector_limit is not None else None
        async with aiohttp.ClientSession(connector=connector) as session:
            return await coroutine_function(session)

    return asyncio.run(main())


def test_a_poll_returns_a_response_with_the_attributes_of_the_other_transports():
    with ScriptedServer([Reply(json=SUCCESS, headers={"X-Job": "7"})]) as server:
        response = with_session(lambda session: async_httsleep(server.url + "job", client=session, json=SUCCESS))
    assert isinstance(response, AiohttpResponse)
    assert (response.status_code, response.reason, response.reason_phrase, response.ok) == (200, "OK", "OK", True)
    assert response.json() == SUCCESS and response.text == '{"status": "SUCCESS"}'
    assert response.content == b'{"status": "SUCCESS"}'
    assert response.headers["x-job"] == "7" and response.url == server.url + "job"
    assert isinstance(response.raw, aiohttp.ClientResponse) and response.raw.status == 200
    assert response.history == [] and repr(response) == "<AsyncResponse [200]>"


def test_one_callback_works_on_every_transport():
    """A callback written against requests' response works unchanged on httpx and on aiohttp (one AsyncResponse)."""
    seen: List[str] = []

    def ready(response: Any) -> bool:
        seen.append(type(response).__name__)
        return response.status_code == 200 and response.json()["status"] == "SUCCESS" and "json" in (
            response.headers["Content-Type"]) and response.text.startswith("{")

    with ScriptedServer([Reply(json=SUCCESS)]) as server:
        httsleep(server.url, callback=ready)
        asyncio.run(async_httsleep(server.url, callback=ready))  # the default: the loop's shared aiohttp session
        with aiohttp_by_default(False):
            asyncio.run(async_httsleep(server.url, callback=ready))
        with_session(lambda session: async_httsleep(server.url, client=session, callback=ready))
    assert seen == ["Response", "AsyncResponse", "AsyncResponse", "AsyncResponse"]


def test_text_follows_the_charset_of_the_content_type():
    body = '{"name": "d\u00e9j\u00e0"}'.encode("latin-1")
    with ScriptedServer([Reply(body=body, headers={"Content-Type": "application/json; charset=latin-1"})]) as server:
        response = with_session(lambda session: async_httsleep(server.url, client=session, status_code=200))
    assert response.text == '{"name": "d\u00e9j\u00e0"}'


def test_an_alarm_on_aiohttp_survives_pickling_with_its_response():
    with ScriptedServer([Reply(json={"status": "ERROR"})]) as server:
        with pytest.raises(Alarm) as raised:
            with_session(lambda session: async_httsleep(server.url, client=session, json=SUCCESS,
                                                        alarms={"json": {"status": "ERROR"}}))
    copy = pickle.loads(pickle.dumps(raised.value))
    assert copy.response.json() == {"status": "ERROR"} and copy.response.headers["Content-Type"] == "application/json"
    assert copy.response.raw is None and str(copy) == str(raised.value)


def test_the_callers_session_is_left_open_and_the_polls_own_is_closed():
    opened: List[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession.__init__

    def init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        real(self, *args, **kwargs)

    with ScriptedServer([Reply(json=SUCCESS)]) as server:
        async def mine(session: aiohttp.ClientSession) -> bool:
            await async_httsleep(server.url, client=session, json=SUCCESS)
            return session.closed

        assert with_session(mine) is False
        with pytest.MonkeyPatch.context() as patch, aiohttp_by_default():
            patch.setattr(aiohttp.ClientSession, "__init__", init)
            asyncio.run(async_httsleep(server.url, json=SUCCESS))
    assert len(opened) == 1 and opened[0].closed


def test_credentials_in_the_url_are_sent_as_basic_auth_and_auth_wins_over_a_header():
    with ScriptedServer([Reply(json=SUCCESS)]) as server:
        url = server.url.replace("://", "://alice:p%C3%A4ss@")
        with_session(lambda session: async_httsleep(url, client=session, json=SUCCESS))
        with_session(lambda session: async_httsleep(server.url, client=session, json=SUCCESS, auth=("bob", "pw"),
                                                    headers={"Authorization": "Bearer overridden"}))
    first, second = (request.headers["authorization"] for request in server.requests)
    assert first == "Basic " + base64.b64encode("alice:p\u00e4ss".encode()).decode()
    assert second == "Basic " + base64.b64encode(b"bob:pw").decode()
    assert all(request.path == "/" for request in server.requests)  # the userinfo is not in the request line


def test_an_httpx_request_describes_the_method_body_and_headers_on_aiohttp_too():
    request = httpx.Request("POST", "http://127.0.0.1:9/", json={"job": 7}, headers={"X-Mine": "yes"})
    with ScriptedServer([Reply(json=SUCCESS)]) as server:
        request.url = httpx.URL(server.url + "jobs")
        with_session(lambda session: async_httsleep(request, client=session, json=SUCCESS))
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.headers["x-mine"]) == ("POST", "/jobs", "yes")
    assert sent.headers["content-type"] == "application/json"


@pytest.mark.parametrize("status, method, then", [(303, "POST", "GET"), (302, "POST", "GET"), (307, "POST", "POST"),
                                                  (301, "PUT", "PUT")])
def test_a_redirect_changes_the_method_as_requests_and_httpx_do(status, method, then):
    with ScriptedServer([Reply(status, headers={"Location": "/next"}), Reply(json=SUCCESS)]) as server:
        request = httpx.Request(method, server.url, content=b"payload")
        with_session(lambda session: async_httsleep(request, client=session, json=SUCCESS))
    assert [sent.method for sent in server.requests] == [method, then]


def test_many_polls_can_share_one_session():
    """The way docs/async.md shares one: a connector without a connection limit (aiohttp's default is 100)."""
    with ScriptedServer([Reply(json={"status": "PENDING"}), Reply(json=SUCCESS)], record=False) as server:
        async def main(session: aiohttp.ClientSession) -> List[Any]:
            with no_waiting():
                return await asyncio.gather(*(
                    async_httsleep(server.url + "jobs/{}".format(index), client=session, json=SUCCESS,
                                   polling_interval=0.5)
                    for index in range(300)
                ))

        responses = with_session(main, connector_limit=0)
    assert len(responses) == 300 and all(response.json() == SUCCESS for response in responses)


def test_a_client_of_another_kind_is_refused_naming_both_kinds():
    with pytest.raises(TypeError, match="client must be an httpx.AsyncClient or an aiohttp.ClientSession"):
        AsyncHttSleeper("http://127.0.0.1:9/", status_code=200, client=object())


def test_auth_other_than_basic_is_refused_with_an_aiohttp_session():
    async def main(session: aiohttp.ClientSession) -> None:
        AsyncHttSleeper("http://127.0.0.1:9/", status_code=200, client=session, auth=httpx.DigestAuth("a", "b"))

    with pytest.raises(TypeError, match=r"auth must be a \(username, password\) tuple or an aiohttp.BasicAuth"):
        with_session(main)


@pytest.mark.parametrize("charset", ["base64", "undefined", "no-such-charset"])
def test_a_charset_that_is_not_a_text_encoding_is_read_as_utf_8(charset):
    """``base64`` names a bytes-to-bytes codec, ``undefined`` one that always fails: text falls back to UTF-8."""
    headers = {"Content-Type": "application/json; charset=" + charset}
    with ScriptedServer([Reply(body='{"name": "d\u00e9j\u00e0"}'.encode(), headers=headers)]) as server:
        response = with_session(lambda session: async_httsleep(server.url, client=session, status_code=200))
    assert response.text == '{"name": "d\u00e9j\u00e0"}' and response.json() == {"name": "d\u00e9j\u00e0"}


def test_the_polls_own_session_keeps_cookies_of_a_host_given_by_ip_address(fake_time):
    """As requests and httpx do (aiohttp's default jar drops them)."""
    replies = [Reply(json={"status": "PENDING"}, headers={"Set-Cookie": "step=1; Path=/"}), Reply(json=SUCCESS)]
    with ScriptedServer(replies) as server, aiohttp_by_default():
        asyncio.run(async_httsleep(server.url, json=SUCCESS, polling_interval=0))
    assert [request.headers.get("cookie") for request in server.requests] == [None, "step=1"]


def test_auth_given_to_both_the_session_and_the_poll_is_refused_naming_both():
    async def main() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp 3.14 deprecates a session's auth=
            session = aiohttp.ClientSession(auth=aiohttp.BasicAuth("alice", "pw"))
        async with session:
            await async_httsleep("http://127.0.0.1:9/", status_code=200, client=session, auth=("bob", "pw"))

    with pytest.raises(ValueError, match="the aiohttp session has its own auth, and the poll sends an "
                                         "Authorization header too"):
        asyncio.run(main())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a full accept queue drops SYNs on Linux")
def test_the_connect_timeout_bounds_connecting_on_its_own():
    """request_timeout=(0.2, 30): a connection that never completes fails after 0.2 s, not at the deadline (3 s),
    and is retried as the request's own timeout."""
    seen: List[Attempt] = []
    with Backlogged() as server:
        async def main(session: aiohttp.ClientSession) -> Any:
            with no_waiting():
                return await async_httsleep(server.url, client=session, status_code=200, request_timeout=(0.2, 30),
                                            timeout=3, retry_transient=True, max_retries=2, on_attempt=seen.append)

        with pytest.raises(AsyncGaveUp) as raised:
            with_session(main)
    assert raised.value.limit == "max_retries"
    assert isinstance(raised.value.last_exception, aiohttp.ServerTimeoutError)
    assert [attempt.outcome for attempt in seen] == ["retry", "gave_up"]


def test_an_error_aiohttp_raises_for_a_status_tells_no_credential_of_its_request():
    """A session with ``raise_for_status=True``: aiohttp's error quotes the request's URL and headers."""
    url_secret, header_secret = "qtoken-S3CRET-1", "bearer-S3CRET-2"

    async def main() -> None:
        async with aiohttp.ClientSession(raise_for_status=True) as session:
            await async_httsleep(server.url + "job?token=" + url_secret, client=session, status_code=200,
                                 headers={"Authorization": "Bearer " + header_secret})

    with ScriptedServer([Reply(500, body=b"broken")]) as server:
        with pytest.raises(aiohttp.ClientResponseError) as raised:
            asyncio.run(main())
    shown = [str(raised.value), repr(raised.value), repr(raised.value.request_info)]
    assert not [text for text in shown if url_secret in text or header_secret in text], shown
    assert "token=***" in str(raised.value) and raised.value.status == 500


def test_a_hop_to_another_origin_goes_through_the_environments_proxy_too(monkeypatch):
    """A session with ``trust_env=True``: ``HTTP_PROXY`` applies to every hop, the cross-origin one included."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    replies = [Reply(302, headers={"Location": "http://second.invalid/next"}), Reply(json=SUCCESS)]
    with ScriptedServer(replies) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)

        async def main() -> Any:
            async with aiohttp.ClientSession(trust_env=True) as session:
                return await async_httsleep("http://first.invalid/job", client=session, json=SUCCESS)

        assert asyncio.run(main()).json() == SUCCESS
    assert [request.path for request in proxy.requests] == ["http://first.invalid/job", "http://second.invalid/next"]


@pytest.mark.parametrize("set_cookie", [
    "sid=abc123; Expires=Wednesday, 09-Jun-2100 10:18:14 GMT; Path=/",  # an RFC 850 date
    "sid=abc123; Priority=High; Path=/",  # an attribute the standard library's parser does not know
    "sid=abc123; Path=/; HttpOnly; SameSite=Lax; Partitioned",
])
def test_the_polls_own_session_keeps_the_cookies_aiohttp_keeps(set_cookie, fake_time):
    """The same cookies go back as with aiohttp's own jar (whose parsing varies a little with Python's version)."""
    replies = [Reply(json={"status": "PENDING"}, headers={"Set-Cookie": set_cookie}), Reply(json=SUCCESS)]
    with ScriptedServer(replies) as ours, aiohttp_by_default():
        asyncio.run(async_httsleep(ours.url, json=SUCCESS, polling_interval=0))
    with ScriptedServer(replies) as theirs:
        async def main() -> None:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                await async_httsleep(theirs.url, json=SUCCESS, polling_interval=0, client=session)

        asyncio.run(main())
    sent = [_cookie_pairs(request.headers.get("cookie")) for request in ours.requests]
    assert sent == [_cookie_pairs(request.headers.get("cookie")) for request in theirs.requests]
    assert sent[0] is None and "sid=abc123" in sent[1]


def _cookie_pairs(header: Any) -> Any:
    """The cookies of a ``Cookie`` header, in no order: aiohttp 3.13 sorts them by name, 3.14 keeps the jar's order.

    (RFC 6265 tells servers not to rely on the order.)
    """
    return None if header is None else sorted(header.split("; "))


def test_a_full_jar_still_takes_an_update_of_a_cookie_set_without_a_path_on_a_deeper_path():
    """At the 50-cookie limit, replacing a cookie the jar holds is allowed: its key has aiohttp's default path."""
    from faultservers import Reply, ScriptedServer
    from fronts import run

    def replies(request: Any, index: int) -> Reply:
        if index < 50:
            return Reply(202, headers={"Set-Cookie": "c{}=v{}".format(index, index)})
        if index == 50:
            return Reply(202, headers={"Set-Cookie": "c0=updated"})
        cookie = request.headers.get("cookie", "")
        return Reply(200 if "c0=updated" in cookie else 500)

    with ScriptedServer(replies) as server:
        response = run("aiohttp", server.url + "deep/job", status_code=200, alarms={"status_code": 500},
                       max_retries=60, polling_interval=0)
    assert response.status_code == 200 and server.count == 52
