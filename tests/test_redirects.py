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
    assert other.requests[-1].headers.get("cookie") == "theirs=ok"  # the jar's own rules, on every front end


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
        # httsleep.transports.rules.MAX_REDIRECTS, whatever the library's own default (requests 30, aiohttp 10)
        assert server.count == 21  # one limit on every front end: 20 redirects


@pytest.mark.parametrize("front", FRONTS)
def test_a_redirects_body_is_read_under_the_same_limit(front):
    big = Reply(302, body=b"x" * 5000, headers={"Location": "/landed"})
    with ScriptedServer([big, Reply(json={"status": "SUCCESS"})]) as server:
        with pytest.raises(BodyTooLarge):
            poll(front, server.url, max_body_size=1000)
        assert server.count == 1


# -- two hops: where the caller's credentials go is decided against the origin that was polled --------------------

#: every credential the caller gives a poll, by where it is given
SWEEP_SECRETS = ("pw-SWEEP", "key-SWEEP", "cookie-SWEEP")


@pytest.fixture
def two_hop_hosts() -> Iterator[Tuple[ScriptedServer, ScriptedServer]]:
    """A on 127.0.0.1 and B on 127.0.0.2.

    A -> B -> B: A's /to-b redirects to B's /x, which sets a cookie of its own
    and redirects to B's /y. A -> B -> A: A's /round-trip redirects to B's
    /back, which redirects to A's /home.
    """
    urls = {}

    def b_replies(request: Any, index: int) -> Reply:
        if request.path == "/x":
            return Reply(302, headers={"Location": "/y", "Set-Cookie": "b_own=b-ok; Path=/"})
        if request.path == "/back":
            return Reply(302, headers={"Location": urls["a"] + "home"})
        return Reply(json={"status": "SUCCESS"})

    def a_replies(request: Any, index: int) -> Reply:
        if request.path == "/to-b":
            return Reply(302, headers={"Location": urls["b"] + "x"})
        if request.path == "/round-trip":
            return Reply(302, headers={"Location": urls["b"] + "back"})
        return Reply(json={"status": "SUCCESS"})

    with ScriptedServer(b_replies, host="127.0.0.2") as b, ScriptedServer(a_replies) as a:
        urls.update(a=a.url, b=b.url)
        yield a, b


def _sweep_poll(front: str, url: str, cookie: str) -> Any:
    """A poll given auth=, a sensitive header, and a cookie given the ``cookie`` way (header, jar or request)."""
    headers = {"X-Api-Key": "key-SWEEP"}
    jar = None
    if cookie == "header":
        headers["Cookie"] = "caller=cookie-SWEEP"
    elif cookie == "jar":  # set without a domain: the libraries send it to any host
        jar = [("jar", "cookie-SWEEP", "")]
    if cookie == "request":  # requests only: Request(cookies=...), which requests sends to any host
        request = requests.Request("GET", url, headers=headers, cookies={"caller": "cookie-SWEEP"})
        return poll(front, request, auth=("alice", "pw-SWEEP"))
    return poll(front, url, jar=jar, auth=("alice", "pw-SWEEP"), headers=headers)


def _secrets_in(request: Any) -> set:
    """Which of the caller's credentials ``request`` carried (basic auth decoded)."""
    text = " ".join("{}: {}".format(name, value) for name, value in request.headers.items())
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        text += " " + base64.b64decode(token).decode("latin-1")
    return {secret for secret in SWEEP_SECRETS if secret in text}


SWEEP_CASES = [(front, cookie) for front in FRONTS for cookie in ("header", "jar")] + [("sync", "request")]


@pytest.mark.parametrize("front, cookie", SWEEP_CASES, ids=["{}-{}-cookie".format(*case) for case in SWEEP_CASES])
def test_two_hops_to_another_host_carry_no_credential_on_either_hop(two_hop_hosts, front, cookie):
    """A -> B -> B: the second hop on B is still away from the origin polled: nothing of the caller's goes there."""
    a, b = two_hop_hosts
    assert _sweep_poll(front, a.url + "to-b", cookie).json() == {"status": "SUCCESS"}
    first, (x, y) = a.requests[-1], b.requests[-2:]
    assert (first.path, x.path, y.path) == ("/to-b", "/x", "/y")
    assert _secrets_in(first) == set(SWEEP_SECRETS)  # the origin gets them all (the control)
    assert _secrets_in(x) == set() and _secrets_in(y) == set()
    assert y.headers.get("cookie") == "b_own=b-ok"  # what B set for itself comes back to it, by the jar's rules


@pytest.mark.parametrize("front, cookie", SWEEP_CASES, ids=["{}-{}-cookie".format(*case) for case in SWEEP_CASES])
def test_a_hop_back_to_the_origin_after_another_host_carries_no_credential_either(two_hop_hosts, front, cookie):
    """A -> B -> A: once a redirect has left the origin, the rest of the attempt goes without credentials."""
    a, b = two_hop_hosts
    assert _sweep_poll(front, a.url + "round-trip", cookie).json() == {"status": "SUCCESS"}
    start, home = a.requests[-2:]
    assert (start.path, b.requests[-1].path, home.path) == ("/round-trip", "/back", "/home")
    assert _secrets_in(start) == set(SWEEP_SECRETS)
    assert _secrets_in(b.requests[-1]) == set() and _secrets_in(home) == set()


# -- what the review of the one set of rules found: proxies, netrc, the loop's message --------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_every_hop_goes_through_the_clients_proxy_even_to_another_host(front):
    """A session's or client's own proxy carries every hop, the one to another host included (its credentials too)."""

    def proxy_replies(request: Any, index: int) -> Reply:
        if request.path.endswith("/start"):
            return Reply(302, headers={"Location": "http://127.0.0.2:9/landed"})  # nobody listens there: only the proxy
        return Reply(json={"status": "SUCCESS"})

    with ScriptedServer(proxy_replies, host="127.0.0.3") as proxy:
        proxy_url = "http://pu:proxy-pw@127.0.0.3:{}".format(proxy.port)

        async def run_async() -> Any:
            if front == "aiohttp":
                async with aiohttp.ClientSession(proxy=proxy_url) as session:
                    return await AsyncHttSleeper("http://127.0.0.1:9/start", client=session, status_code=200).run()
            async with httpx.AsyncClient(proxy=proxy_url, follow_redirects=True) as client:
                return await AsyncHttSleeper("http://127.0.0.1:9/start", client=client, status_code=200).run()

        if front == "sync":
            with requests.Session() as session:
                session.proxies = {"http": proxy_url}
                HttSleeper("http://127.0.0.1:9/start", session=session, status_code=200).run()
        else:
            asyncio.run(run_async())
    assert [request.path for request in proxy.requests] == ["http://127.0.0.1:9/start", "http://127.0.0.2:9/landed"]
    assert all("proxy-authorization" in request.headers for request in proxy.requests)


@pytest.mark.parametrize("front", FRONTS)
def test_netrc_credentials_do_not_follow_a_hop_away_from_the_origin_either(two_hop_hosts, front, tmp_path, monkeypatch):
    a, b = two_hop_hosts
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login na password netrc-A\nmachine 127.0.0.2 login nb password netrc-B\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    if front == "aiohttp":

        async def trusting() -> Any:
            async with aiohttp.ClientSession(trust_env=True) as session:
                return await AsyncHttSleeper(a.url + "round-trip", client=session, status_code=200).run()

        asyncio.run(trusting())
    else:
        poll(front, a.url + "round-trip")
    assert "authorization" not in b.requests[-1].headers
    assert "authorization" not in a.requests[-1].headers  # /home, after B


@pytest.mark.parametrize("front", FRONTS)
def test_a_redirect_loop_says_which_request_and_which_limit_and_pickles(front):
    import pickle

    with ScriptedServer([Reply(302, headers={"Location": "/again?token=loop-SECRET"})]) as server:
        with pytest.raises((requests.TooManyRedirects, httpx.TooManyRedirects, aiohttp.TooManyRedirects)) as caught:
            poll(front, server.url)
    assert str(caught.value).startswith("GET http://127.0.0.1:{}/again?token=***: more than 20 redirects".format(
        server.port))
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)


def test_digest_auth_does_not_answer_a_challenge_from_the_host_a_redirect_led_to():
    """requests' HTTPDigestAuth is a response hook: on a hop away from the origin it stays behind with the rest."""
    with ScriptedServer([Reply(401, headers={"WWW-Authenticate": 'Digest realm="evil", nonce="n0nce", qop="auth"'})],
                        host="127.0.0.2") as other:
        with ScriptedServer([Reply(302, headers={"Location": other.url + "x"})]) as first:
            with pytest.raises(Exception):  # noqa: B017 - the 401 matches nothing; whatever ends the poll
                HttSleeper(first.url + "start", status_code=200, max_retries=1,
                           auth=requests.auth.HTTPDigestAuth("alice", "digest-SECRET")).run()
    assert other.requests and all("authorization" not in request.headers for request in other.requests)


@pytest.mark.parametrize("location", ["http://[::1/x", "http://[zz::1]/", "http://127.0.0.1:99999/x"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_location_no_library_can_request_is_its_invalid_url_error_on_every_front_end(front, location):
    """Not a bare ValueError, nor a protocol error: the library's InvalidURL, naming the request."""
    with ScriptedServer([Reply(302, headers={"Location": location})]) as server:
        with pytest.raises((requests.exceptions.InvalidURL, httpx.InvalidURL, aiohttp.InvalidURL)) as caught:
            poll(front, server.url)
    assert str(caught.value).startswith("GET http://127.0.0.1:{}/: ".format(server.port))
    assert server.count == 1
