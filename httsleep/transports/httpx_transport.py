"""The httpx transport of the asyncio front end: one attempt through an ``httpx.AsyncClient``, bounded.

Everything that depends on httpx lives here, so that :mod:`httsleep.aio`
stays a short loop around :class:`~httsleep.policy.PollRun`. An attempt is
bounded three ways:

- **In time.** Each hop's head (connecting, TLS, sending, the status line,
  headers and any 1xx responses) must arrive within the connect plus the
  read timeout, and its body with no wait for data longer than the read
  timeout (httpcore's own bound); with a deadline, nothing outlives it.
- **In memory.** The body is read raw (``aiter_raw``) and decoded by
  :class:`~httsleep._body.BodyReader`, which stops at ``max_body_size``
  decoded bytes whatever the server sends, counting the bodies of the
  redirects before it. (httpx's own decoders inflate a whole network read
  at once, and it reads a redirect's body whole.) An auth flow's
  intermediate responses (digest's 401) are read the same way, by
  :class:`_BoundedAuth`, before httpx would read them itself.
- **In what it sends.** Redirects are followed here, one hop at a time,
  with httpx's rules for the next request (``response.next_request``); on
  top of those, a hop to another origin loses every sensitive header
  (``Proxy-Authorization`` and ``X-Api-Key`` among them). Credentials in
  the URL's userinfo are moved to ``auth=`` before httpx sees the URL, so
  that its log lines never show them.
"""

from __future__ import annotations

import contextlib
import functools
import http.cookiejar
import os
import ssl
from typing import Any, AsyncContextManager, AsyncIterator, Dict, List, Optional, Tuple, Union

import httpx

from .._body import is_text_codec
from .._cookies import limit_cookies
from .._request_checks import check_auth, check_headers, check_method, check_url
from .._validate import ArgumentTypeError, shorten
from ..exceptions import BodyDecodingError
from ..policy import PollRun, RequestTimeout
from ..redaction import DeferredSecrets, Secrets, is_sensitive_header
from ..responses import AsyncResponse
from . import OnClient
from ._async_bounds import bounded
from ._leftovers import discard_if_leftovers
from .rules import AttemptRules, RedirectLimit, accept_encoding, is_worded, reworded
from .shared import is_shared, mark_shared

__all__ = ["HttpxBodyDecodingError", "HttpxTransport", "httpx_timeout", "new_client"]

# httpx's default Accept-Encoding (it depends on the decoders installed); sent unless httsleep cannot decode it all
_DEFAULT_ACCEPT_ENCODING = getattr(getattr(httpx, "_client", None), "ACCEPT_ENCODING", "gzip, deflate")
_ACCEPT_ENCODING = accept_encoding(_DEFAULT_ACCEPT_ENCODING)
_DEFAULT_MAX_REDIRECTS = 20  # httpx's: a client that says otherwise is heard


class HttpxBodyDecodingError(BodyDecodingError, httpx.DecodingError):
    """A body that is not valid for its ``Content-Encoding``: httsleep's error and httpx's own."""


def httpx_timeout(value: RequestTimeout) -> httpx.Timeout:
    """The :class:`httpx.Timeout` for a ``request_timeout`` value.

    A number applies to every phase. A ``(connect, read)`` pair sets the
    connect and pool timeouts (waiting for a connection) to ``connect`` and
    the read and write timeouts (waiting on the socket) to ``read``.

    >>> httpx_timeout((10, 30))
    Timeout(connect=10, read=30, write=30, pool=10)
    """
    if isinstance(value, tuple):
        connect, read = value
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
    return httpx.Timeout(value)


def _without_userinfo(url: httpx.URL) -> Tuple[httpx.URL, Optional[httpx.BasicAuth]]:
    """``url`` without its userinfo, and the basic auth that userinfo meant."""
    if not url.userinfo:
        return url, None
    return url.copy_with(username=None, password=None), httpx.BasicAuth(url.username, url.password)


class HttpxTransport:
    """Sends a poll's request through an ``httpx.AsyncClient``; one per poller.

    :param url_or_request: the URL or :class:`httpx.Request` of the poller.
    :param headers: the ``headers=`` of the poller (checked here).
    :param auth: the ``auth=`` of the poller.
    :param client: the caller's client, if any (a relative URL needs its ``base_url``).
    """

    def __init__(
        self,
        url_or_request: Union[str, httpx.Request],
        headers: Any,
        auth: Any,
        client: Optional[httpx.AsyncClient],
    ) -> None:
        self.headers = check_headers(headers)
        check_auth(auth, httpx.Auth)
        self.request = self._build(url_or_request, client)
        url, userinfo_auth = _without_userinfo(self.request.url)
        #: the URL to send, without userinfo (``None``: send ``request`` as it is built)
        self.url: Optional[httpx.URL] = url if isinstance(url_or_request, str) else None
        self._request_url = url
        self.auth = auth if auth is not None else userinfo_auth
        self._secrets = DeferredSecrets(self._request_secrets, auth)

    def _build(self, url_or_request: Any, client: Optional[httpx.AsyncClient]) -> httpx.Request:
        if isinstance(url_or_request, str):
            relative = client is not None and str(client.base_url) and "://" not in url_or_request
            if not relative:
                check_url(url_or_request)
            try:
                url = httpx.URL(url_or_request)
            except httpx.InvalidURL as error:
                shown = Secrets.of_request(url_or_request)
                raise ValueError(
                    "url_or_request: invalid URL {!r}: {}".format(shown(url_or_request), shown(str(error)))
                ) from None
            return httpx.Request("GET", url, headers=self.headers)
        if isinstance(url_or_request, httpx.Request):
            check_method(url_or_request.method)
            check_url(str(url_or_request.url))
            check_headers(dict(url_or_request.headers), "url_or_request: the Request's headers")
            if not self.headers:
                return url_or_request
            merged = httpx.Headers(self.headers)
            merged.update(url_or_request.headers)
            return httpx.Request(
                url_or_request.method,
                url_or_request.url,
                headers=merged,
                stream=url_or_request.stream,
                extensions=dict(url_or_request.extensions),
            )
        raise ArgumentTypeError(
            "url_or_request must be a URL string or an httpx.Request, not {}".format(shorten(url_or_request))
        )

    #: what the transport raises when a bound runs out (a timeout, not a failure of the server)
    timeout_errors: Tuple[type, ...] = (httpx.TimeoutException,)

    @property
    def target(self) -> str:
        """``METHOD URL`` of the request, for messages (redact it before showing it)."""
        return "{} {}".format(self.request.method, self.request.url)

    def open_client(self, verify: Any) -> AsyncContextManager[httpx.AsyncClient]:
        """The client a poll opens when it is given none: one of its own, closed when it ends (:func:`new_client`)."""
        return new_client(verify)

    @contextlib.asynccontextmanager
    async def open_shared_client(self, verify: Any, concurrency: int) -> AsyncIterator[httpx.AsyncClient]:
        """A client polls share, ``concurrency`` requests at a time, each with its own cookies: opened on entry."""
        async with new_client(verify, pool=concurrency) as client:
            yield client

    def redact(self, text: str) -> str:
        """``text`` without the request's own credentials (for a repr)."""
        return self._secrets(text)

    def secrets(self, client: httpx.AsyncClient) -> DeferredSecrets:
        """The credentials to keep out of what the poll shows: the request's and the client's (its auth too).

        Worked out when the poll first shows something (most never do).
        """
        return DeferredSecrets(self._client_secrets, client)

    def _request_secrets(self, auth: Any) -> Secrets:
        return Secrets.of_request(str(self.request.url), headers=self.request.headers, auth=auth)

    def _client_secrets(self, client: httpx.AsyncClient) -> Secrets:
        return (
            self._secrets.resolve()
            + Secrets.of_request(headers=client.headers, cookies=client.cookies)
            + Secrets.of_request(headers=_basic_header(client.auth))  # its decoded password too
        )

    def _request_for(self, client: httpx.AsyncClient, timeout: httpx.Timeout) -> httpx.Request:
        """This attempt's request, built through the client so that its base_url, headers and cookies apply."""
        if self.url is not None:
            request = client.build_request("GET", self.url, headers=self.headers, timeout=timeout)
        else:  # the request's own headers win, as with requests' Session.prepare_request
            original = self.request
            request = client.build_request(
                original.method,
                self._request_url,
                headers=original.headers,
                extensions={**original.extensions, "timeout": timeout.as_dict()},
            )
            request.stream = original.stream
        if _ACCEPT_ENCODING != _DEFAULT_ACCEPT_ENCODING and request.headers.get("Accept-Encoding") == (
            _DEFAULT_ACCEPT_ENCODING
        ):
            request.headers["Accept-Encoding"] = _ACCEPT_ENCODING  # only what httsleep decodes itself
        return request

    def start(self, client: httpx.AsyncClient) -> Any:
        """The sender of one poll on ``client`` (with cookies of its own on a client polls share)."""
        if is_shared(client):
            cookies = httpx.Cookies()
            limit_cookies(cookies.jar)
            return _OwnCookies(self, client, cookies)
        return OnClient(self, client)

    async def send(self, client: httpx.AsyncClient, run: PollRun, cookies: Optional[httpx.Cookies] = None
                   ) -> AsyncResponse:
        """Send one attempt; return the final response with its body read, or raise.

        ``cookies``: the poll's own, on a client shared by polls (which keeps none itself).
        """
        timeout = httpx_timeout(run.request_timeout())
        request = self._request_for(client, timeout)
        conditional = run.conditional_headers()
        if conditional:
            request.headers.update(conditional)
        limit = client.max_redirects if client.max_redirects != _DEFAULT_MAX_REDIRECTS else None
        rules = AttemptRules(run, request.method, str(request.url), limit, _shown(self.request.url, request.url))
        reading = _Reading(rules)
        auth = self._auth(client, reading)
        hops: List[httpx.Response] = []
        try:
            while True:
                reading.phase = "head"
                if cookies is not None:
                    cookies.set_cookie_header(request)  # unless the request has a Cookie header, as httpx does
                response = await self._head(client, request, rules, auth)
                if cookies is not None:
                    cookies.extract_cookies(response)
                reading.phase = "body"
                await reading.read(response)  # closes the response, whatever happens
                following = response.next_request if client.follow_redirects else None
                hop = _next_hop(rules, response, following)
                if hop is None or following is None:
                    break
                if not hop.credentials:
                    _strip_credentials(following, client)
                    auth = None  # the auth flow would sign the request for another host again
                hops.append(response)
                request = following
        except httpx.TimeoutException as error:
            if is_worded(error):
                raise
            phase = "connect" if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)) else reading.phase
            raise reworded(error, rules.timeout_message(phase)) from error
        except httpx.RemoteProtocolError as error:
            if "location header" in str(error).lower():  # httpx could not build the redirect's request
                raise httpx.InvalidURL(rules.invalid_location_message(error)) from None
            raise reworded(error, rules.connection_message(error)) from error
        except httpx.NetworkError as error:
            raise reworded(error, rules.connection_message(error)) from error
        if hops:  # each hop after what came before it (an auth flow's first response, say)
            response.history = [*(earlier for hop in hops for earlier in (*hop.history, hop)), *response.history]
        return _response(response)

    async def _head(
        self, client: httpx.AsyncClient, request: httpx.Request, rules: AttemptRules, auth: Any
    ) -> httpx.Response:
        sending = client.send(request, stream=True, follow_redirects=False, auth=auth)
        return await bounded(sending, rules, "head", lambda: httpx.ReadTimeout("", request=request))

    def _auth(self, client: httpx.AsyncClient, reading: _Reading) -> Any:
        """The auth of this attempt (the poller's, else the client's), its flow's bodies read bounded."""
        auth = self.auth if self.auth is not None else client.auth
        return _BoundedAuth(auth, reading) if auth is not None else None


class _OwnCookies:
    """The sender of one poll on a client httsleep shares among polls: the poll keeps its cookies in ``cookies``."""

    __slots__ = ("transport", "client", "cookies")

    def __init__(self, transport: HttpxTransport, client: httpx.AsyncClient, cookies: httpx.Cookies) -> None:
        self.transport = transport
        self.client = client
        self.cookies = cookies

    async def send(self, run: PollRun) -> AsyncResponse:
        """Send one attempt of ``run`` on the shared client, with this poll's cookies."""
        return await self.transport.send(self.client, run, self.cookies)


def _response(response: httpx.Response) -> AsyncResponse:
    """What the poll sees of httpx's response (its body read and decoded by httsleep), its history too."""
    try:
        content = response.content
    except httpx.ResponseNotRead:  # pragma: no cover - every body of an attempt is read
        content = b""
    history = [_response(earlier) for earlier in response.history]
    return AsyncResponse(
        response, response.status_code, response.reason_phrase, response.headers, str(response.url), content, history
    )


def _basic_header(auth: Any) -> Dict[str, str]:
    """The ``Authorization`` header an :class:`httpx.BasicAuth` sends (httpx keeps only that); ``{}`` for others."""
    if not isinstance(auth, httpx.BasicAuth):
        return {}
    request = next(auth.sync_auth_flow(httpx.Request("GET", "http://localhost/")))
    return {"Authorization": request.headers.get("Authorization", "")}


def _shown(given: httpx.URL, sent: httpx.URL) -> str:
    """The URL to name in messages: as given (its userinfo, moved to auth, shown hidden), once a base URL applies."""
    return str(sent.copy_with(userinfo=given.userinfo)) if given.userinfo else str(sent)


def _next_hop(rules: AttemptRules, response: httpx.Response, following: Optional[httpx.Request]) -> Any:
    """The rules' verdict on where ``response`` leads (``following``: httpx's own next request)."""
    try:
        return rules.next_hop(
            response.status_code, response.headers.get("Location"), None if following is None else str(following.url)
        )
    except RedirectLimit as error:
        raise httpx.TooManyRedirects(str(error), request=response.request) from None
    except ValueError as error:
        raise httpx.InvalidURL(str(error)) from None


class _Reading:
    """How one attempt reads its bodies, by the rules: bounded in time and memory, the redirects' bodies counted."""

    def __init__(self, rules: AttemptRules) -> None:
        self.rules = rules
        self.phase = "head"  # or "body": what the attempt is waiting for

    async def read(self, response: httpx.Response) -> None:
        """Read ``response``'s body into it (as ``aread()`` would), unless it has been read already.

        A body that cannot be read (too large, broken, cut short) fails the
        attempt, unless the response asks to come back later
        (:meth:`PollRun.body_optional`): it is then kept with an empty body.
        """
        if hasattr(response, "_content"):
            return  # read already (by _BoundedAuth)
        try:
            body = await self._read(response)
        except httpx.TimeoutException:
            raise
        except Exception:
            if not self.rules.body_optional(response):
                raise
            body = b""
        finally:
            await response.aclose()
        response._content = body  # what aread() would have set, decoded by httsleep instead of httpx
        charset = response.charset_encoding
        if charset and not is_text_codec(charset):  # charset=undefined, base64...: .text would raise or garble
            response.encoding = "utf-8"  # as without a charset (httpx's default)
        self.rules.body_read(body)

    async def _read(self, response: httpx.Response) -> bytes:
        rules = self.rules
        reader = rules.body_reader(
            response.headers.get("Content-Encoding"),
            response,
            lambda message: HttpxBodyDecodingError(message, request=response.request),
        )
        response.stream = _EndChecked(response.stream, response)  # before httpx closes it at its end
        chunks = response.aiter_raw()
        while True:
            # each wait for data (the chunked trailers included) within the read timeout and the deadline
            try:
                chunk = await bounded(
                    chunks.__anext__(), rules, "body", lambda: httpx.ReadTimeout("", request=response.request)
                )
            except StopAsyncIteration:
                break
            reader.feed(chunk)
        return reader.finish()


class _EndChecked(httpx.AsyncByteStream):
    """A response's stream that, once the body has come to its end, keeps the bytes past it from a next request.

    :func:`~httsleep.transports._leftovers.discard_if_leftovers` looks at
    the connection between the body's end and the response's closing, which
    returns the connection to the pool (httpx closes a response as soon as
    its stream ends).
    """

    def __init__(self, stream: Any, response: httpx.Response) -> None:
        self._stream = stream
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk
        await discard_if_leftovers(self._response)

    async def aclose(self) -> None:
        await self._stream.aclose()


class _BoundedAuth(httpx.Auth):
    """An auth (the caller's, or the client's) whose flow's responses are read bounded.

    httpx reads every response an auth flow answers with another request
    (a digest 401, say) with ``aread()``: whole, through its own decoders.
    This flow reads each such response first, with the attempt's bounds, so
    that httpx's ``aread()`` finds the body there. The last response, the
    one the flow lets through, is left for the transport to read.
    """

    def __init__(self, auth: Any, reading: _Reading) -> None:
        self.auth = _as_auth(auth)
        self.reading = reading
        self.requires_request_body = self.auth.requires_request_body

    def sync_auth_flow(self, request: httpx.Request) -> Any:  # pragma: no cover - the asyncio front end only
        raise RuntimeError("httsleep's bounded auth runs on an AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> Any:
        flow = self.auth.async_auth_flow(request)
        request = await flow.__anext__()
        while True:
            response = yield request
            if self.auth.requires_response_body:
                await self.reading.read(response)  # the flow needs the body to decide
            try:
                request = await flow.asend(response)
            except StopAsyncIteration:
                return
            await self.reading.read(response)  # an intermediate response: httpx would aread() it whole


class _CallableAuth(httpx.Auth):
    """``auth=`` given as a function of the request, as httpx takes it."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def auth_flow(self, request: httpx.Request) -> Any:
        yield self.function(request)


def _as_auth(auth: Any) -> httpx.Auth:
    """``auth=`` as httpx accepts it (an Auth, a ``(user, password)`` pair, a function) as an :class:`httpx.Auth`."""
    if isinstance(auth, httpx.Auth):
        return auth
    if isinstance(auth, (tuple, list)):
        return httpx.BasicAuth(*auth)
    return _CallableAuth(auth)


def new_client(verify: Union[bool, str, ssl.SSLContext, None], *, pool: Optional[int] = None) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` as httsleep opens them: following redirects, on a shared SSL context.

    ``verify``: the poller's (``None``: httpx's default CA bundle), as one
    SSL context shared by every such client (:func:`_shared_ssl_context`).

    Without ``pool``, the client of one poll, with a bounded cookie jar.
    Polls given no client each open one rather than share one, as they do
    aiohttp's: httpcore's pool compares every request waiting for it with
    every connection it holds, so one client (its pool unlimited) shared by
    1,000 polls at once took 3 to 4 times as long as 1,000 clients, and its
    connects timed out on a loaded machine (see docs/performance.md).

    ``pool``: a client for polls that share it, at most ``pool`` requests
    in flight at once (:func:`httsleep.async_poll_many`): its pool holds
    that many connections, and it keeps no cookies (each poll keeps its own,
    see :mod:`httsleep.transports.shared`).
    """
    if pool is not None:
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        client = httpx.AsyncClient(verify=_ssl_verify(verify), follow_redirects=True, limits=limits)
        client.cookies.jar.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))  # a copy is kept
        return mark_shared(client)
    client = httpx.AsyncClient(verify=_ssl_verify(verify), follow_redirects=True)
    limit_cookies(client.cookies.jar)
    return client


def _ssl_verify(verify: Union[bool, str, ssl.SSLContext, None]) -> Union[bool, ssl.SSLContext]:
    if verify is None or verify is True:
        return _shared_ssl_context(None)
    if isinstance(verify, str):
        return _shared_ssl_context(verify)
    return verify


@functools.cache
def _shared_ssl_context(cafile: Optional[str]) -> ssl.SSLContext:
    """One verifying SSL context per CA bundle, shared by the clients polls open.

    Building a context loads the CA bundle (about 25 ms and 1 MB); a poll
    that opens its own client reuses this one, so a thousand polls cost one
    context, not a thousand. httpx's default (certifi, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``) applies when no bundle is given.
    """
    if cafile is not None:
        if os.path.isdir(cafile):
            return ssl.create_default_context(capath=cafile)
        return ssl.create_default_context(cafile=cafile)
    create = getattr(httpx, "create_ssl_context", None)
    if create is not None:  # httpx >= 0.28
        return create()
    import certifi  # pragma: no cover - older httpx, which depends on certifi

    return ssl.create_default_context(cafile=certifi.where())  # pragma: no cover


def _strip_credentials(request: httpx.Request, client: httpx.AsyncClient) -> None:
    """Remove what must not go to another origin: sensitive headers, and cookies not set for it.

    httpx has removed ``Authorization`` already and rebuilt ``Cookie`` from
    every cookie of the client's jar that matches, including those set
    without a domain (``AsyncClient(cookies={...})``), which match any host:
    only cookies the jar holds for a domain (set by a server, or by the
    caller with a domain) stay, as the jar matches them.
    """
    for name in [name for name in request.headers if is_sensitive_header(name)]:
        del request.headers[name]
    scoped = httpx.Cookies()
    for cookie in client.cookies.jar:
        if cookie.domain:
            scoped.jar.set_cookie(cookie)
    scoped.set_cookie_header(request)
