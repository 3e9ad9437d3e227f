"""No credential ever leaves a poll: sweeps over everything a poll shows, on both front ends and the CLI.

Each sweep polls with secrets in every place a caller puts them (URL
userinfo, ``auth=``, ``Authorization``/``Proxy-Authorization``/``X-Api-Key``
and ``Cookie`` headers, query parameters, the session's or client's cookie
jar) against servers that succeed, fail, alarm, redirect to another host,
never answer, refuse, reset, send a body too large or break a callback.
Then it searches for the secrets, plain, percent-encoded and base64-encoded,
in every log record of every logger at DEBUG (httsleep, urllib3, httpx,
httpcore...), every exception's ``str``, ``repr`` and printed traceback,
every hook's view of the attempt, every ``repr`` of a sleeper, the
command line's stdout and stderr, a Prometheus scrape of every series the
polls made (their labels), and every OpenTelemetry span they made or that
the HTTP libraries' instrumentations made inside them (names, attributes,
events, statuses). A control sweep with redaction switched off finds them,
so the sweep can fail.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import traceback
from typing import Any, Callable, Dict, List
from urllib.parse import quote

import aiohttp
import httpx
import pytest
import requests
from faultservers import LateServer, Reply, ScriptedServer, endless, garbage, reset, silent
from fronts import FRONTS, aiohttp_by_default
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, generate_latest

import httsleep.redaction
from httsleep import AsyncHttSleeper, HttSleeper, instrumentation

USER = "alice"
URL_PASSWORD = "urlpass-S3CRET-1"
AUTH_PASSWORD = "authpass-S3CRET-2"
BEARER = "bearer-S3CRET-3"
PROXY = "proxy-S3CRET-4"
COOKIE = "cookie-S3CRET-5"
API_KEY = "apikey-S3CRET-6"
QUERY_TOKEN = "qtoken-S3CRET-7"
SIGNATURE = "sig-S3CRET-8"
JAR_COOKIE = "jarcookie-S3CRET-9"
ODD_PASSWORD = "p#ss w0rd-S3CRET-10"  # raw '#' and space: no URL parser accepts it, error messages quote it
CLIENT_PASSWORD = "clientpass-S3CRET-11"  # held by the session's or client's own auth, not given to the poll
FRAGMENT_TOKEN = "fragtoken-S3CRET-12"  # OAuth's implicit flow returns the access token in the fragment
BASIC_PASSWORD = "basicpass-S3CRET-14"  # encoded in a Basic Authorization header given in headers=

HEADERS = {
    "Authorization": "Bearer " + BEARER,
    "Proxy-Authorization": "Basic " + base64.b64encode("proxy:{}".format(PROXY).encode()).decode(),
    "Cookie": "session=" + COOKIE,
    "X-Api-Key": API_KEY,
}
SUBSCRIPTION_KEY = "skey-S3CRET-13"
QUERY = "?subscription-key={}&token={}&X-Amz-Signature={}&page=2".format(SUBSCRIPTION_KEY, QUERY_TOKEN, SIGNATURE)
FRAGMENT = "#access_token={}&state=7".format(FRAGMENT_TOKEN)


def _b64(user: str, password: str) -> str:
    return base64.b64encode("{}:{}".format(user, password).encode()).decode()


PLAIN = [URL_PASSWORD, AUTH_PASSWORD, BEARER, PROXY, COOKIE, API_KEY, QUERY_TOKEN, SIGNATURE, JAR_COOKIE,
         SUBSCRIPTION_KEY, "w0rd-S3CRET-10", CLIENT_PASSWORD, FRAGMENT_TOKEN, BASIC_PASSWORD]
FORBIDDEN = PLAIN + [quote(secret, safe="") for secret in PLAIN] + [
    _b64(USER, URL_PASSWORD),
    _b64(USER, AUTH_PASSWORD),
    _b64("proxy", PROXY),
    _b64(USER, CLIENT_PASSWORD),
    _b64(USER, BASIC_PASSWORD),
]


def with_userinfo(url: str, password: str = URL_PASSWORD) -> str:
    return url.replace("://", "://{}:{}@".format(USER, password), 1)


class Sweep:
    """Runs scenarios for one front end and collects everything they showed."""

    def __init__(self, front: str) -> None:
        self.front = front
        self.texts: List[str] = []
        self.raised: Dict[str, str] = {}
        self.observed: List[str] = []  # the Prometheus scrape and the spans

    def sleeper(self, url: str, **options: Any) -> Any:
        options.setdefault("on_attempt", self.attempted)
        cls = HttSleeper if self.front == "sync" else AsyncHttSleeper
        sleeper = cls(url, **options)
        self.texts.append(repr(sleeper))
        return sleeper

    def attempted(self, attempt: Any) -> None:
        """A hook: what it is told, and the saved state of the poll (a job engine would store that JSON)."""
        self.texts.append(repr(attempt))
        self.texts.append(attempt.state.to_json())

    def run(self, name: str, scenario: Callable[[], Any]) -> None:
        try:
            result = scenario()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        except Exception as error:  # noqa: BLE001 - searched below
            self.raised[name] = type(error).__name__
            self.texts.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
            self.texts.extend(repr(item) for item in _chain(error))

    def poll(self, url: str, **options: Any) -> Any:
        sleeper = self.sleeper(url, **options)
        return sleeper.run()

    def steps(self, url: str, count: int = 2, **options: Any) -> Any:
        """A poll run one step at a time, as a job engine runs it: every saved state is searched too."""
        from httsleep import PollState

        def checkpoint(state: Any) -> None:
            self.texts.append(state.to_json())

        async def step(state: Any) -> Any:
            with aiohttp_by_default(self.front == "aiohttp"):
                return await self.sleeper(url, **options).step(state, checkpoint)

        state = None
        for _ in range(count):
            result = self.sleeper(url, **options).step(state, checkpoint) if self.front == "sync" else asyncio.run(
                step(state))
            saved = result.state.to_json()
            self.texts.append(saved)
            state = PollState.from_json(saved).replace(next_attempt_at=None)

    def poll_with_jar(self, url: str, **options: Any) -> Any:
        """Poll with a cookie in the session's or client's jar (set for any host, as callers do)."""
        if self.front == "sync":
            with requests.Session() as session:
                session.cookies.set("jar", JAR_COOKIE)
                return self.poll(url, session=session, **options)

        async def run() -> Any:
            if self.front == "aiohttp":
                async with aiohttp.ClientSession(cookies={"jar": JAR_COOKIE}) as session:
                    return await self.sleeper(url, client=session, **options).run()
            async with httpx.AsyncClient(cookies={"jar": JAR_COOKIE}, follow_redirects=True) as client:
                return await self.sleeper(url, client=client, **options).run()

        return run()

    def poll_with_client_auth(self, url: str, **options: Any) -> Any:
        """Poll through a session or client whose own auth holds a password the poll is not given."""
        if self.front == "sync":
            with requests.Session() as session:
                session.auth = (USER, CLIENT_PASSWORD)
                return self.poll(url, session=session, **options)

        async def run() -> Any:
            if self.front == "aiohttp":
                # basic auth as aiohttp 3.14 asks for it (its BasicAuth and auth= are deprecated)
                basic = {"Authorization": "Basic " + _b64(USER, CLIENT_PASSWORD)}
                async with aiohttp.ClientSession(headers=basic) as session:
                    return await self.sleeper(url, client=session, **options).run()
            async with httpx.AsyncClient(auth=(USER, CLIENT_PASSWORD)) as client:
                return await self.sleeper(url, client=client, **options).run()

        return run()


def _chain(error: BaseException) -> List[BaseException]:
    seen: List[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending.extend(
            item
            for item in (current.__cause__, current.__context__, getattr(current, "last_exception", None))
            if isinstance(item, BaseException)
        )
    return seen


def run_scenarios(sweep: Sweep) -> None:
    everything = dict(headers=HEADERS, polling_interval=0)
    with ScriptedServer([Reply(503, json={"status": "BUSY"})]) as server:
        sweep.run("gives up", lambda: sweep.poll(with_userinfo(server.url) + "jobs" + QUERY + FRAGMENT,
                                                 json={"status": "DONE"}, max_retries=2, **everything))
    with ScriptedServer([Reply(404, body=b"no such job")]) as server:
        sweep.run("alarm", lambda: sweep.poll(server.url + QUERY, status_code=200, alarms={"status_code": 404},
                                              auth=(USER, AUTH_PASSWORD)))
    with ScriptedServer([Reply(202, headers={"Retry-After": "0"}), Reply(json={"ok": True})]) as server:
        sweep.run("succeeds", lambda: sweep.poll_with_jar(with_userinfo(server.url) + QUERY, status_code=200,
                                                          **everything))
    with LateServer() as late:
        sweep.run("refused", lambda: sweep.poll(with_userinfo(late.url) + QUERY, status_code=200, **everything))
        sweep.run("refused, retried", lambda: sweep.poll(with_userinfo(late.url), status_code=200, max_retries=2,
                                                         retry_transient=True, auth=(USER, AUTH_PASSWORD),
                                                         **everything))
    with reset() as server:
        sweep.run("reset", lambda: sweep.poll(with_userinfo(server.url) + QUERY, status_code=200, **everything))
    with silent() as server:
        sweep.run("deadline", lambda: sweep.poll(with_userinfo(server.url) + QUERY, status_code=200, timeout=0.3,
                                                 **everything))
        sweep.run("read timeout", lambda: sweep.poll(with_userinfo(server.url), status_code=200,
                                                     request_timeout=0.2, auth=(USER, AUTH_PASSWORD)))
    with endless("chunked") as server:
        sweep.run("too large", lambda: sweep.poll(with_userinfo(server.url) + QUERY, status_code=200,
                                                  max_body_size=1000, **everything))
    with ScriptedServer(host="127.0.0.2") as other:
        with ScriptedServer([Reply(302, headers={"Location": other.url + "landed" + QUERY})]) as first:
            sweep.run("redirect", lambda: sweep.poll_with_jar(with_userinfo(first.url) + QUERY, status_code=200,
                                                              **everything))
        assert other.requests, "the redirect was followed"
        for landed in other.requests:  # no credential went to the other host either
            assert not any(name in landed.headers for name in ("authorization", "proxy-authorization",
                                                               "x-api-key", "cookie"))

    echo = {"ETag": '"{}"'.format(QUERY_TOKEN), "Last-Modified": "Thu, 01 Jan 2015 00:00:00 GMT"}
    with ScriptedServer([Reply(json={"status": "BUSY"}, headers=echo)]) as server:  # a token echoed as the ETag
        sweep.run("validators", lambda: sweep.poll(with_userinfo(server.url) + QUERY, json={"status": "DONE"},
                                                   conditional=True, max_retries=2, **everything))
    with ScriptedServer([Reply(json={"status": "BUSY"}, headers=echo)]) as server:  # the state a job engine saves
        sweep.run("steps", lambda: sweep.steps(with_userinfo(server.url) + QUERY, json={"status": "DONE"},
                                               conditional=True, timeout=60, **everything))
    with ScriptedServer([Reply(302, headers={"Location": "http://127.0.0.1:99999/x" + QUERY})]) as server:
        sweep.run("redirect to a bad URL", lambda: sweep.poll(server.url, status_code=200))
    with garbage(b"XTTP/1.1 200 " + CLIENT_PASSWORD.encode() + b"\r\n\r\n") as server:  # echoes what it was sent
        sweep.run("echoed", lambda: sweep.poll_with_client_auth(server.url, status_code=200))
    denied = "user {}:{} may not read this job".format(USER, BASIC_PASSWORD).encode()  # the header, decoded
    basic = {"Authorization": "Basic " + _b64(USER, BASIC_PASSWORD)}
    with ScriptedServer([Reply(403, body=denied)]) as server:
        sweep.run("Basic header echoed decoded", lambda: sweep.poll(server.url, status_code=200, max_retries=1,
                                                                    headers=basic))

    def fails(response: Any) -> bool:
        raise RuntimeError("the callback failed")

    with ScriptedServer() as server:
        sweep.run("callback raises", lambda: sweep.poll(with_userinfo(server.url) + QUERY, callback=fails,
                                                        **everything))
    sweep.run("invalid URL", lambda: sweep.poll("http://{}:{}@127.0.0.1:99999/x{}".format(USER, URL_PASSWORD, QUERY),
                                                status_code=200))
    sweep.run("odd password", lambda: sweep.poll(with_userinfo("http://127.0.0.1/x", ODD_PASSWORD),
                                                 status_code=200))
    sweep.run("header read from a file", lambda: sweep.poll("http://127.0.0.1:9/", status_code=200,
                                                            headers={"Authorization": "Bearer " + BEARER + "\n"}))


EXPECTED = {
    "sync": {
        "gives up": "StopPolling",
        "validators": "StopPolling",
        "alarm": "Alarm",
        "refused": "ConnectionError",
        "refused, retried": "StopPolling",
        "reset": "ConnectionError",
        "deadline": "StopPolling",
        "read timeout": "ReadTimeout",
        "too large": "BodyTooLarge",
        "callback raises": "RuntimeError",
        "invalid URL": "InvalidURL",
        "odd password": "InvalidURL",
        "header read from a file": "ValueError",
        "redirect to a bad URL": "InvalidURL",
        "echoed": "ConnectionError",
        "Basic header echoed decoded": "StopPolling",
    },
    "async": {
        "gives up": "AsyncGaveUp",
        "validators": "AsyncGaveUp",
        "alarm": "Alarm",
        "refused": "ConnectError",
        "refused, retried": "AsyncGaveUp",
        "reset": "ReadError",
        "deadline": "AsyncGaveUp",
        "read timeout": "ReadTimeout",
        "too large": "BodyTooLarge",
        "callback raises": "RuntimeError",
        "invalid URL": "ValueError",
        "odd password": "ValueError",
        "header read from a file": "ValueError",
        "redirect to a bad URL": "InvalidURL",
        "echoed": "RemoteProtocolError",
        "Basic header echoed decoded": "AsyncGaveUp",
    },
    "aiohttp": {
        "gives up": "AsyncGaveUp",
        "validators": "AsyncGaveUp",
        "alarm": "Alarm",
        "refused": "ClientConnectorError",
        "refused, retried": "AsyncGaveUp",
        "reset": "ClientOSError",
        "deadline": "AsyncGaveUp",
        "read timeout": "ServerTimeoutError",
        "too large": "BodyTooLarge",
        "callback raises": "RuntimeError",
        "invalid URL": "ValueError",
        "odd password": "ValueError",
        "header read from a file": "ValueError",
        "redirect to a bad URL": "InvalidURL",
        "echoed": "ClientResponseError",
        "Basic header echoed decoded": "AsyncGaveUp",
    },
}


def sweep(front: str, caplog: pytest.LogCaptureFixture) -> Sweep:
    caplog.set_level(logging.DEBUG)
    for name in ("httsleep", "urllib3", "httpx", "httpcore", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    result = Sweep(front)
    registry = CollectorRegistry()
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrumentation.set_instrumentation_hooks([instrumentation.prometheus_hook(registry),
                                               instrumentation.tracing_hook(provider)])
    instrumentors = [RequestsInstrumentor(), HTTPXClientInstrumentor(), AioHttpClientInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider, request_hook=instrumentation.request_hook,
                                async_request_hook=instrumentation.async_request_hook)
    try:
        with aiohttp_by_default(front == "aiohttp"):
            run_scenarios(result)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        instrumentation.set_instrumentation_hooks(None)
        provider.shutdown()
    result.texts.extend(record.getMessage() for record in caplog.records)
    result.observed.append(generate_latest(registry).decode())
    for span in spans.get_finished_spans():
        if span.kind == SpanKind.CLIENT:
            # the HTTP library's span: its attributes, which httsleep's request_hook rewrites. Its status and
            # exception event hold the library's raw exception message, recorded before httsleep sees the
            # exception (see docs/observability.md): out of httsleep's reach, so not swept.
            result.observed.append(json.dumps({"name": span.name, "kind": str(span.kind),
                                               "attributes": dict(span.attributes or {})}, indent=4))
        else:
            result.observed.append(span.to_json())  # httsleep's span: name, attributes, events, status
    result.texts.extend(result.observed)
    return result


@pytest.mark.parametrize("front", FRONTS)
def test_no_credential_appears_in_anything_a_poll_shows(front, caplog):
    found = sweep(front, caplog)
    assert found.raised == EXPECTED[front]  # every scenario really ran and failed as expected
    loggers = {record.name.split(".")[0] for record in caplog.records}
    library = {"sync": "urllib3", "async": "httpx", "aiohttp": "httsleep"}[front]  # aiohttp's client logs little
    assert {"httsleep", library} <= loggers  # the libraries' records were read
    assert any("***@127.0.0.1" in text for text in found.texts)  # redacted, and still readable
    assert any("token=***" in text for text in found.texts)
    # the scrape and the spans were there to search: every series, poll spans and the libraries' client spans
    observed = "\n".join(found.observed)
    assert 'httsleep_attempts_total{name="httsleep",outcome="gave_up"}' in observed
    assert 'httsleep_give_ups_total{limit="max_retries",name="httsleep"}' in observed
    assert '"name": "httsleep poll"' in observed and '"http.request.resend_count": 1' in observed
    assert '"kind": "SpanKind.CLIENT"' in observed
    assert "token=***" in observed  # URLs are in the spans, redacted
    leaks = sorted({secret for text in found.texts for secret in FORBIDDEN if secret in text})
    assert leaks == []


@pytest.mark.parametrize("front", FRONTS)
def test_the_sweep_finds_the_secrets_when_redaction_is_off(front, caplog, monkeypatch):
    """The control: with the poll's own redaction an identity, the same sweep finds the secrets it shows.

    (Header values and cookies are never shown by anything, redacted or not:
    what leaks is the URL password, the query's token and signature, and
    the password no URL parser accepts, and the one a server echoes decoded.)
    """
    monkeypatch.setattr(httsleep.redaction.Secrets, "__call__", lambda self, text: str(text))
    found = sweep(front, caplog)
    leaks = {secret for text in found.texts for secret in PLAIN if secret in text}
    assert {URL_PASSWORD, QUERY_TOKEN, SIGNATURE, CLIENT_PASSWORD, FRAGMENT_TOKEN, BASIC_PASSWORD} <= leaks, leaks
    in_spans = {secret for text in found.observed for secret in PLAIN if secret in text}
    assert {QUERY_TOKEN, SIGNATURE} <= in_spans, in_spans  # the span sweep can fail too
