"""Redirects, followed hop by hop by httsleep on both front ends.

A hop to another origin carries no credential: not ``Authorization``,
``Proxy-Authorization``, ``X-Api-Key`` or any other sensitive header, not
the auth the poll was given, and no cookie unless the jar holds it for that
host. A hop on the same origin keeps them. Each hop's body is read under
the same limits as the final one, and the chain is as long as the
session's or client's ``max_redirects`` allows.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Iterator, Tuple

import aiohttp
import httpx
import pytest
import requests
from faultservers import Reply, ScriptedServer
from fronts import FRONTS, aiohttp_by_default
from yarl import URL

from httsleep import AsyncHttSleeper, BodyTooLarge, HttSleeper

SECRET_HEADERS = {
    "Authorization": "Bearer redirect-token-SECRET",
    "Proxy-Authorization": "Basic " + base64.b64encode(b"proxy:proxy-SECRET").decode(),
    "Cookie": "session=redirect-cookie-SECRET",
    "X-Api-Key": "redirect-key-SECRET",
    "X-Gitlab-Token": "redirect-gitlab-SECRET",
}
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key", "x-gitlab-token")


@pytest.fixture
def two_hosts() -> Iterator[Tuple[ScriptedServer, ScriptedServer]]:
    """A server on 127.0.0.1 whose /away redirects to 127.0.0.2 and /here to itself."""
    with ScriptedServer(host="127.0.0.2") as other:

        def replies(request: Any, index: int) -> Reply:
            if request.path == "/away":
                return Reply(302, headers={"Location": other.url + "landed"})
            if request.path == "/here":
                return Reply(302, headers={"Location": "/landed"})
            return Reply(json={"status": "SUCCESS"})

        with ScriptedServer(replies) as first:
            yield first, other


def poll(front: str, url: str, jar: Any = None, **options: Any) -> Any:
    """Poll with the poll's own session/client, or with one whose cookie jar holds ``jar``."""
    options.setdefault("status_code", 200)
    if front == "sync":
        if jar is None:
            return HttSleeper(url, **options).run()
        with requests.Session() as session:
            for name, value, domain in jar:
                session.cookies.set(name, value, domain=domain)
            return HttSleeper(url, session=session, **options).run()

    async def run() -> Any:
        if jar is None:
            return await AsyncHttSleeper(url, **options).run()
        if front == "aiohttp":  # unsafe=True: a jar that keeps cookies for IP addresses, such as 127.0.0.1
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                for name, value, domain in jar:
                    where = URL("http://{}/".format(domain)) if domain else URL()
                    session.cookie_jar.update_cookies({name: value}, where)
                return await AsyncHttSleeper(url, client=session, **options).run()
        async with httpx.AsyncClient(follow_redirects=True) as client:
            for name, value, domain in jar:
                client.cookies.set(name, value, domain=domain)
            return await AsyncHttSleeper(url, client=client, **options).run()

    with aiohttp_by_default(front == "aiohttp"):
        return asyncio.run(run())


@pytest.mark.parametrize(
    "credentials",
    [
        {"auth": ("alice", "redirect-pass-SECRET")},
        {"headers": SECRET_HEADERS},
        {"userinfo": "alice:redirect-url-SECRET@"},
    ],
    ids=["auth-tuple", "headers", "url-userinfo"],
)
@pytest.mark.parametrize("front", FRONTS)
def test_no_credential_follows_a_redirect_to_another_host(two_hosts, front, credentials):
    first, other = two_hosts
    credentials = dict(credentials)
    url = first.url.replace("://", "://" + credentials.pop("userinfo", "")) + "away"
    assert poll(front, url, **credentials).status_code == 200
    sent, landed = first.requests[-1], other.requests[-1]
    assert "authorization" in sent.headers  # the first host did get them...
    assert landed.path == "/landed"
    for name in CREDENTIAL_HEADERS:  # ...the second did not
        assert name not in landed.headers, landed.headers


@pytest.mark.parametrize("front", FRONTS)
def test_credentials_do_follow_a_redirect_on_the_same_host(two_hosts, front):
    """The control for the test above: the recording server does see headers that were forwarded."""
    first, _ = two_hosts
    poll(front, first.url + "here", auth=("alice", "same-host"), headers={"X-Api-Key": "same-host-key"})
    assert first.requests[-1].path == "/landed"
    assert first.requests[-1].headers["authorization"].startswith("Basic ")
    assert first.requests[-1].headers["x-api-key"] == "same-host-key"


@pytest.mark.parametrize("front", FRONTS)
def test_only_cookies_set_for_the_other_host_follow_a_redirect_there(two_hosts, front):
    """A cookie set without a domain would match any host: it stays with the first one."""
    first, other = two_hosts
    jar = [("anywhere", "jar-SECRET", ""), ("scoped", "first-SECRET", "127.0.0.1"), ("theirs", "ok", "127.0.0.2")]
    poll(front, first.url + "away", jar=jar)
    assert "anywhere=jar-SECRET" in first.requests[-1].headers["cookie"]
    assert "scoped=first-SECRET" in first.requests[-1].headers["cookie"]
    # aiohttp: a hop to another origin goes without any cookie (its jar cannot be filtered per request)
    assert other.requests[-1].headers.get("cookie") == (None if front == "aiohttp" else "theirs=ok")


@pytest.mark.parametrize("front", FRONTS)
def test_the_hops_are_kept_in_the_final_responses_history(two_hosts, front):
    first, _ = two_hosts
    response = poll(front, first.url + "away")
    assert [hop.status_code for hop in response.history] == [302]
    assert response.json() == {"status": "SUCCESS"}


@pytest.mark.parametrize("front", FRONTS)
def test_a_redirect_loop_ends_at_max_redirects(front):
    with ScriptedServer([Reply(302, headers={"Location": "/again"})]) as server:
        with pytest.raises((requests.TooManyRedirects, httpx.TooManyRedirects, aiohttp.TooManyRedirects)):
            poll(front, server.url)
        # requests', httpx's and aiohttp's own default limits
        assert server.count == {"sync": 31, "async": 21, "aiohttp": 11}[front]


@pytest.mark.parametrize("front", FRONTS)
def test_a_redirects_body_is_read_under_the_same_limit(front):
    big = Reply(302, body=b"x" * 5000, headers={"Location": "/landed"})
    with ScriptedServer([big, Reply(json={"status": "SUCCESS"})]) as server:
        with pytest.raises(BodyTooLarge):
            poll(front, server.url, max_body_size=1000)
        assert server.count == 1
