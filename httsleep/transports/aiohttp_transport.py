"""The aiohttp transport of the asyncio front end: one attempt through an ``aiohttp.ClientSession``, bounded.

Everything that depends on aiohttp lives here, so that :mod:`httsleep.aio`
stays a short loop around :class:`~httsleep.policy.PollRun`. An attempt is
bounded as on the other transports:

- **In time.** Each hop's head (connecting, TLS, sending, the status line,
  headers, any 1xx responses) must arrive within the connect plus the read
  timeout, and each wait for body data within the read timeout; with a
  deadline, nothing outlives it.
- **In memory.** The body is read raw (``auto_decompress=False``) and
  decoded by :class:`~httsleep._body.BodyReader`, which stops at
  ``max_body_size`` decoded bytes, counting the bodies of the redirects
  before it.
- **In what it sends.** Redirects are followed here, one hop at a time. A
  hop to another origin loses every sensitive header, the auth, and the
  cookies: it is sent through a throw-away session on the same connector,
  without the caller's session's default headers that are sensitive, and
  without any cookie (aiohttp sends a session's "shared" cookies, set
  without a domain, to every host). Credentials in the URL's userinfo are
  moved to ``auth=`` before aiohttp sees the URL.

What a poll returns, and what conditions, callbacks and hooks see, is an
:class:`~httsleep.responses.AsyncResponse`, as on httpx: the body already
read; ``.raw`` is aiohttp's own (released) response.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
from collections.abc import Mapping
from http.cookies import Morsel
from typing import Any, AsyncContextManager, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import aiohttp
import aiohttp.abc
import aiohttp.helpers
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._cookies import admits
from .._request_checks import check_headers, check_method, check_url
from .._validate import ArgumentTypeError, shorten
from ..exceptions import BodyDecodingError
from ..policy import PollRun
from ..redaction import DeferredSecrets, Secrets, is_sensitive_header, redact_url
from ..responses import AsyncResponse
from . import OnClient
from ._async_bounds import bounded
from ._leftovers import guard_pool
from .rules import REDIRECT_STATUSES, AttemptRules, RedirectLimit, accept_encoding, is_worded, reworded
from .shared import is_shared, mark_shared, shared_client

__all__ = ["AiohttpBodyDecodingError", "AiohttpResponse", "AiohttpTransport", "new_session"]

_CHUNK = 64 * 1024


class AiohttpBodyDecodingError(BodyDecodingError, aiohttp.ClientPayloadError):
    """A body that is not valid for its ``Content-Encoding``: httsleep's error and aiohttp's own."""


#: the name of :class:`~httsleep.responses.AsyncResponse` before httpx polls returned it too
AiohttpResponse = AsyncResponse


def _response(raw: aiohttp.ClientResponse, content: bytes) -> AsyncResponse:
    """What the poll sees of aiohttp's (released) response, its body ``content`` read and decoded."""
    return AsyncResponse(raw, raw.status, raw.reason or "", raw.headers, str(raw.url), content)


class _BoundedCookieJar(aiohttp.CookieJar):
    """aiohttp's cookie jar, within the limits of :mod:`httsleep._cookies` (for the sessions httsleep opens)."""

    def update_cookies(self, cookies: Any, response_url: URL = URL()) -> None:  # noqa: B008 - aiohttp's signature
        host = response_url.raw_host or ""
        kept = [(morsel["domain"] or host, morsel["path"] or "/", morsel.key) for morsel in self]
        default_path = _default_path(response_url)  # where aiohttp stores a cookie set without a Path
        admitted = []  # pairs, not a dict: two cookies may share a name (on different paths)
        for name, value in _cookie_items(cookies):
            if isinstance(value, Morsel):
                text, domain, path = value.value, value["domain"] or host, value["path"] or default_path
            else:
                text, domain, path = str(value), host, default_path
            key = (domain.lstrip("."), path, name)
            if admits(name, text, key, kept):
                admitted.append((name, value))
                if key not in kept:
                    kept.append(key)
        if admitted:
            super().update_cookies(admitted, response_url)

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: URL) -> None:
        """Where aiohttp 3.12 and later store a response's ``Set-Cookie`` (past :meth:`update_cookies`).

        Parsed by aiohttp's own parser, as the base class of its jars does,
        then stored through :meth:`update_cookies` and its limits.
        """
        aiohttp.abc.AbstractCookieJar.update_cookies_from_headers(self, headers, response_url)


def _default_path(url: URL) -> str:
    """RFC 6265's default-path of a cookie set without ``Path`` by a response from ``url`` (what aiohttp stores)."""
    path = url.path
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rfind("/")]


def _cookie_items(cookies: Any) -> Iterator[Tuple[str, Any]]:
    items = cookies.items() if isinstance(cookies, Mapping) else cookies
    for name, value in items:
        yield str(name), value


def new_session(verify: Any, *, shared: bool = False) -> aiohttp.ClientSession:
    """An :class:`aiohttp.ClientSession` as httsleep opens them: a bounded cookie jar, ``verify`` applied.

    ``verify``: the poller's (``None``/``True``: the system's CA
    certificates, as aiohttp does; a path: that CA bundle; ``False``: no
    verification; an :class:`ssl.SSLContext`: that one).
    ``shared``: a session for many polls (see
    :mod:`httsleep.transports.shared`): it keeps no cookies, each poll
    keeps its own.

    Its pool is guarded (:func:`~httsleep.transports._leftovers.guard_pool`):
    a connection with bytes past a response is never reused. On an aiohttp
    whose pool cannot be guarded, no connection is reused.
    """
    connector = aiohttp.TCPConnector(ssl=_ssl(verify))  # aiohttp's pool: at most 100 connections
    if not guard_pool(connector):
        connector = aiohttp.TCPConnector(ssl=_ssl(verify), force_close=True)
    session = aiohttp.ClientSession(
        connector=connector,
        # keep cookies of hosts given by IP address, as requests does
        cookie_jar=aiohttp.DummyCookieJar() if shared else _BoundedCookieJar(unsafe=True),
        auto_decompress=False,
    )
    return mark_shared(session) if shared else session


def _shared_session(verify: Any) -> aiohttp.ClientSession:
    return new_session(verify, shared=True)


def _ssl(verify: Any) -> Any:
    if verify is None or verify is True:
        return True
    if verify is False or isinstance(verify, ssl.SSLContext):
        return verify
    return _ssl_context(verify)


_CONTEXTS: Dict[str, ssl.SSLContext] = {}


def _ssl_context(cafile: str) -> ssl.SSLContext:
    """One context per CA bundle, shared by the sessions polls open (loading a bundle costs ~25 ms)."""
    context = _CONTEXTS.get(cafile)
    if context is None:
        context = _CONTEXTS[cafile] = ssl.create_default_context(cafile=cafile)
    return context


# aiohttp's default Accept-Encoding (it depends on the decoders installed); sent unless httsleep cannot decode it all
_DEFAULT_ACCEPT_ENCODING = getattr(
    getattr(aiohttp, "client_reqrep", None), "_gen_default_accept_encoding", lambda: "gzip, deflate"
)()
_ACCEPT_ENCODING = accept_encoding(_DEFAULT_ACCEPT_ENCODING)


class AiohttpTransport:
    """Sends a poll's request through an :class:`aiohttp.ClientSession`; one per poller.

    :param url_or_request: the URL, or an :class:`httpx.Request` (its method,
        URL, headers and body are sent).
    :param headers: the ``headers=`` of the poller (checked here).
    :param auth: a ``(username, password)`` pair or an :class:`aiohttp.BasicAuth`, sent as an
        ``Authorization`` header (which a hop to another origin drops).
    """

    #: what the transport raises when a bound runs out (a timeout, not a failure of the server)
    timeout_errors: Tuple[type, ...] = (aiohttp.ServerTimeoutError, asyncio.TimeoutError, TimeoutError)

    def __init__(self, url_or_request: Any, headers: Any, auth: Any, client: Any = None) -> None:
        self.headers: CIMultiDict[str] = CIMultiDict(check_headers(headers) or {})
        self.method, url, own_headers, self.body = _describe(url_or_request)
        self.headers.update(own_headers)  # the request's own headers win, as with httpx
        if not isinstance(url_or_request, str):  # (a URL string was checked by _describe)
            check_url(str(url))  # absolute: a session's base_url is not applied
        self.request = url_or_request
        self.url = url.with_user(None) if url.user is not None or url.password is not None else url
        self.shown_url = str(url)  # as given: its userinfo is sent as auth, and shown hidden in messages
        self.url_text = str(self.url)
        authorization = _authorization(auth, url)
        if authorization is not None:  # auth= wins over an Authorization header, as with requests and httpx
            self.headers["Authorization"] = authorization
        if _ACCEPT_ENCODING != _DEFAULT_ACCEPT_ENCODING:  # only what httsleep decodes itself
            self.headers.setdefault("Accept-Encoding", _ACCEPT_ENCODING)
        # the URL as given: yarl re-encodes it, and a server may echo a token in the caller's own encoding
        given = url_or_request if isinstance(url_or_request, str) else str(url)
        self._secrets = DeferredSecrets(self._request_secrets, given, auth)

    @property
    def target(self) -> str:
        """``METHOD URL`` of the request, for messages (redact it before showing it)."""
        return "{} {}".format(self.method, self.url)

    def redact(self, text: str) -> str:
        """``text`` without the request's own credentials (for a repr)."""
        return self._secrets(text)

    def secrets(self, session: aiohttp.ClientSession) -> DeferredSecrets:
        """The credentials to keep out of what the poll shows: the request's and the session's.

        Worked out when the poll first shows something (most never do).
        """
        if not session.headers and session.auth is None and not len(session.cookie_jar):
            return self._secrets  # a session with no credentials of its own
        return DeferredSecrets(self._session_secrets, session)

    def _request_secrets(self, url: str, auth: Any) -> Secrets:
        return Secrets.of_request(str(url), headers=self.headers, auth=auth)

    def _session_secrets(self, session: aiohttp.ClientSession) -> Secrets:
        cookies = [(morsel.key, morsel.value) for morsel in session.cookie_jar]
        auth = session.auth
        # basic auth given as aiohttp 3.14 asks, headers={"Authorization": encode_basic_auth(...)}: the headers'
        # secrets include its decoded password
        pair = (auth.login, auth.password) if auth is not None else None
        return self._secrets.resolve() + Secrets.of_request(headers=dict(session.headers), cookies=cookies, auth=pair)

    def start(self, session: aiohttp.ClientSession) -> Any:
        """The sender of one poll on ``session`` (with a cookie jar of its own on a session httsleep shares)."""
        if is_shared(session):
            return _OwnCookies(self, session)
        return OnClient(self, session)

    def open_client(self, verify: Any) -> AsyncContextManager[aiohttp.ClientSession]:
        """The session a poll uses when it is given none: the event loop's shared one (see :func:`new_session`)."""
        return shared_client("aiohttp", verify, _shared_session)

    def open_shared_client(self, verify: Any, concurrency: int) -> AsyncContextManager[aiohttp.ClientSession]:
        """The session of many polls, ``concurrency`` requests at a time: the loop's shared one (100 connections)."""
        return self.open_client(verify)

    async def send(self, session: aiohttp.ClientSession, run: PollRun, own: Optional[_OwnCookies] = None
                   ) -> AsyncResponse:
        """Send one attempt; return the final response with its body read, or raise.

        ``own``: the poll's own cookies, on a session shared by polls (which keeps none itself).
        """
        if session.auth is not None and "Authorization" in self.headers:
            raise ValueError(
                "the aiohttp session has its own auth, and the poll sends an Authorization header too (from "
                "auth, headers or a password in the URL): aiohttp refuses both at once; give one of them"
            )
        try:
            return await self._send(session, run, own)
        except aiohttp.ClientResponseError as error:  # its text quotes the URL and the headers it was sent with
            _hide_request(error, self.secrets(session))
            raise
        except aiohttp.InvalidURL as error:  # a redirect's: its text is the URL, kept where scrubbing cannot reach
            if is_worded(error):  # in the rules' words, redacted already
                raise
            invalid = error
        # raised out of the except block, so that the original is not its __context__ either
        redact = self.secrets(session)
        description = redact(invalid.description) if invalid.description else None
        raise aiohttp.InvalidURL(redact(redact_url(str(invalid.url))), description)

    async def _send(self, session: aiohttp.ClientSession, run: PollRun, own: Optional[_OwnCookies]) -> AsyncResponse:
        method, url, body = self.method, self.url, self.body
        rules = AttemptRules(run, method, self.url_text, shown_url=self.shown_url)
        guard_pool(session.connector)  # a pooled connection with bytes queued on it is never reused (set up once)
        reading = _Reading(rules)
        headers = self.headers  # aiohttp copies what it is given
        conditional = run.conditional_headers()
        if conditional:
            headers = CIMultiDict(headers)
            headers.update(conditional)
        hops: List[AsyncResponse] = []
        sender = session
        try:
            while True:
                reading.phase = "head"
                proxy = _NO_PROXY
                sent = headers
                jar = session.cookie_jar if own is None else own.jar  # the poll's own: None until it has one
                if sender is not session:  # the cookies the jar holds for this host's domain, and no others
                    sent = headers = _with_scoped_cookies(headers, jar, url)
                    proxy = _proxy_for(session, url, headers)
                elif own is not None and jar is not None:  # the poll's cookies, added as a session's jar would
                    sent = _with_own_cookies(headers, jar, url)
                raw = await self._head(sender, method, url, sent, body, rules, proxy)
                sets_cookies = "Set-Cookie" in raw.headers  # (raw.cookies would parse them for every response)
                if sets_cookies and (sender is not session or own is not None):  # kept, as on every hop
                    (session.cookie_jar if own is None else own.keep()).update_cookies(raw.cookies, raw.url)
                reading.phase = "body"
                response = _response(raw, await reading.read(raw))
                location = raw.headers.get("Location") if raw.status in REDIRECT_STATUSES else None
                following = _join(raw.url, location, rules) if location is not None else None
                hop = _next_hop(rules, raw, hops, location, following)
                if hop is None or following is None:
                    break
                method, body = hop.method, body if hop.keeps_body else None
                if not hop.credentials and sender is session:
                    headers = CIMultiDict((name, value) for name, value in headers.items()
                                          if not is_sensitive_header(name))
                    sender = _stranger(session)
                hops.append(response)
                url = following
        except aiohttp.ServerTimeoutError as error:
            if is_worded(error):
                raise
            phase = "connect" if isinstance(error, getattr(aiohttp, "ConnectionTimeoutError", ())) else reading.phase
            raise reworded(error, rules.timeout_message(phase)) from error
        except aiohttp.ClientConnectionError as error:
            raise reworded(error, rules.connection_message(error)) from error
        finally:
            if sender is not session:
                await sender.close()
        response.history = hops
        return response

    async def _head(
        self, session: aiohttp.ClientSession, method: str, url: URL, headers: CIMultiDict[str], body: Optional[bytes],
        rules: AttemptRules, proxy: Dict[str, Any],
    ) -> aiohttp.ClientResponse:
        sending = session.request(
            method, url, headers=headers, data=body, allow_redirects=False, auto_decompress=False,
            timeout=_timeouts(*rules.timeouts()),  # the head as a whole and the body: bounded below
            **proxy,
        )
        return await bounded(sending, rules, "head", aiohttp.ServerTimeoutError)


#: the proxy of a hop on the caller's session: none (aiohttp's own settings apply); never changed
_NO_PROXY: Dict[str, Any] = {}


class _OwnCookies:
    """The sender of one poll on a session httsleep shares among polls: the poll keeps its cookies in ``jar``.

    The jar is made when a server first sets a cookie (most polls never get one).
    """

    __slots__ = ("transport", "session", "jar")

    def __init__(self, transport: AiohttpTransport, session: aiohttp.ClientSession) -> None:
        self.transport = transport
        self.session = session
        self.jar: Optional[_BoundedCookieJar] = None

    def keep(self) -> _BoundedCookieJar:
        """The poll's jar, made on first use."""
        if self.jar is None:
            self.jar = _BoundedCookieJar(unsafe=True)
        return self.jar

    async def send(self, run: PollRun) -> AsyncResponse:
        """Send one attempt of ``run`` on the shared session, with this poll's cookies."""
        return await self.transport.send(self.session, run, self)


def _next_hop(
    rules: AttemptRules, raw: aiohttp.ClientResponse, hops: List[AsyncResponse], location: Optional[str],
    following: Optional[URL],
) -> Any:
    """The rules' verdict on where ``raw`` leads (``following``: its ``Location`` joined to its URL by yarl)."""
    try:
        return rules.next_hop(raw.status, location, None if following is None else str(following))
    except RedirectLimit as error:
        raise reworded(aiohttp.TooManyRedirects(raw.request_info, tuple(hop.raw for hop in hops)), str(error)) from None
    except ValueError as error:
        raise reworded(aiohttp.InvalidURL(str(following)), str(error)) from None


@functools.lru_cache(maxsize=64)
def _timeouts(connect: float, read: float) -> aiohttp.ClientTimeout:
    """aiohttp's own timeouts for a request: only the socket's connect (a timer set once per new connection).

    The head as a whole and each wait for body data are bounded by the
    rules (:func:`~httsleep.transports._async_bounds.bounded`); aiohttp's
    read timer, re-armed on every read, would cost a fifth of an attempt.
    """
    return aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=connect)


def _join(base: URL, location: str, rules: AttemptRules) -> URL:
    """The URL a redirect leads to, as yarl resolves it; an :class:`aiohttp.InvalidURL` if it cannot."""
    try:
        following = base.join(URL(location))
        str(following)  # yarl parses the rest lazily: a port that is not a number fails here, not later
        return following
    except ValueError as error:
        invalid = reworded(aiohttp.InvalidURL(location), rules.invalid_location_message(error))
    raise invalid  # out of the except block: yarl's error, which may quote the location, is not its context


def _with_scoped_cookies(headers: CIMultiDict[str], jar: Any, url: URL) -> CIMultiDict[str]:
    """``headers`` with a ``Cookie`` of the cookies ``jar`` holds for ``url``'s domain (none set without a domain).

    aiohttp sends its jar's "shared" cookies, set without a domain, to every
    host: those are the caller's, and stay with the origin the poll was given.
    """
    headers = CIMultiDict((name, value) for name, value in headers.items() if name.lower() != "cookie")
    if jar is None:  # a poll that has no cookies yet
        return headers
    shared = {morsel.key for morsel in jar if not morsel["domain"]}
    scoped = [(name, morsel.coded_value) for name, morsel in jar.filter_cookies(url).items() if name not in shared]
    if scoped:
        headers["Cookie"] = "; ".join("{}={}".format(name, value) for name, value in scoped)
    return headers


def _with_own_cookies(headers: CIMultiDict[str], jar: Any, url: URL) -> CIMultiDict[str]:
    """``headers`` with the cookies of a poll's own ``jar`` for ``url`` after those of a ``Cookie`` it has."""
    cookies = ["{}={}".format(name, morsel.coded_value) for name, morsel in jar.filter_cookies(url).items()]
    if not cookies:
        return headers
    given = headers.get("Cookie")
    headers = CIMultiDict(headers)
    headers["Cookie"] = "; ".join([given, *cookies] if given else cookies)
    return headers


def _stranger(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """A session for a hop to another origin: the same connections and settings, none of the credentials.

    Its own jar is empty: the cookies of the caller's session that are
    scoped to a domain are added per hop by :func:`_with_scoped_cookies`.
    It does not trust the environment (aiohttp would read ``~/.netrc`` for
    credentials); the proxy it goes through is given per hop
    (:func:`_proxy_for`). The other settings are those aiohttp shows:
    ``skip_auto_headers`` and ``requote_redirect_url``.
    """
    headers = {name: value for name, value in session.headers.items() if not is_sensitive_header(name)}
    return aiohttp.ClientSession(
        connector=session.connector, connector_owner=False, headers=headers,
        cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, trust_env=False,
        skip_auto_headers=session.skip_auto_headers, requote_redirect_url=session.requote_redirect_url,
    )


def _proxy_for(session: aiohttp.ClientSession, url: URL, headers: CIMultiDict[str]) -> Dict[str, Any]:
    """The proxy a hop of ``session``'s to ``url`` goes through: the session's own, else the environment's.

    The session's ``proxy=`` (and its ``proxy_auth``, the proxy's
    credentials, not the polled origin's) is read where aiohttp keeps it;
    ``HTTP(S)_PROXY`` / ``NO_PROXY`` apply when the session trusts the
    environment, as aiohttp applies them. The proxy's credentials are sent
    as a ``Proxy-Authorization`` header (aiohttp 3.14 deprecates
    ``proxy_auth=``): in ``proxy_headers`` for the ``CONNECT`` of an
    ``https`` URL, in ``headers`` (this hop's own copy) for an ``http``
    one, where aiohttp itself puts ``proxy_auth`` (it sends no
    ``proxy_headers`` then).
    """
    proxy = getattr(session, "_default_proxy", None)
    proxy_auth = getattr(session, "_default_proxy_auth", None)
    if proxy is None and session.trust_env:
        try:
            proxy, proxy_auth = aiohttp.helpers.get_env_proxy_for_url(url)
        except LookupError:
            return {}
    if proxy is None:
        return {}
    if proxy_auth is None:
        return {"proxy": proxy}
    if url.scheme in ("https", "wss"):
        return {"proxy": proxy, "proxy_headers": {"Proxy-Authorization": proxy_auth.encode()}}
    headers["Proxy-Authorization"] = proxy_auth.encode()
    return {"proxy": proxy}


def _hide_request(error: aiohttp.ClientResponseError, redact: Callable[[str], str]) -> None:
    """Redact what ``error`` tells of its request: the URL, and the headers it was sent with (dropped).

    (Its message, like any error's, is redacted by the poll.)
    """
    info = error.request_info
    if info is not None:
        error.request_info = aiohttp.RequestInfo(
            URL(redact(redact_url(str(info.url)))), info.method, CIMultiDictProxy(CIMultiDict()),
            URL(redact(redact_url(str(info.real_url)))),
        )
    error.history = ()
    if not is_worded(error):  # repr() shows the args: the request as it was, unredacted
        error.args = (error.request_info, error.history)


class _Reading:
    """How one attempt reads its bodies, by the rules: bounded in time and memory, the redirects' bodies counted."""

    def __init__(self, rules: AttemptRules) -> None:
        self.rules = rules
        self.phase = "head"  # or "body": what the attempt is waiting for

    async def read(self, raw: aiohttp.ClientResponse) -> bytes:
        """Read ``raw``'s body and release it; see :meth:`PollRun.body_optional` for bodies that cannot be read."""
        try:
            body = await self._read(raw)
        except aiohttp.ServerTimeoutError:
            raise
        except Exception:
            if not self.rules.body_optional(_Head(raw)):
                raise
            body = b""
            raw.close()
        finally:
            raw.release()
        self.rules.body_read(body)
        return body

    async def _read(self, raw: aiohttp.ClientResponse) -> bytes:
        reader = self.rules.body_reader(
            raw.headers.get("Content-Encoding"), _Head(raw), lambda message: AiohttpBodyDecodingError(message)
        )
        content = raw.content
        while True:
            if content.is_eof():  # the rest of the body is here already (a small one came with the head)
                chunk = await content.read(_CHUNK)
            else:
                chunk = await self._next(raw)
            if not chunk:
                break
            try:
                reader.feed(chunk)
            except BaseException:
                raw.close()
                raise
            if content.at_eof():  # the body is complete: no wait (and no bound) for its end
                break
        return reader.finish()

    async def _next(self, raw: aiohttp.ClientResponse) -> bytes:
        """The next piece of ``raw``'s body, within the read timeout and the deadline."""
        try:
            return await bounded(raw.content.read(_CHUNK), self.rules, "body", aiohttp.ServerTimeoutError)
        except BaseException:
            raw.close()
            raise


class _Head:
    """A response whose body is not read yet, as the policy's checks and errors see it."""

    def __init__(self, raw: aiohttp.ClientResponse) -> None:
        self.raw = raw
        self.status_code = raw.status
        self.reason = raw.reason or ""
        self.headers = raw.headers
        self.content = b""


def _describe(url_or_request: Any) -> Tuple[str, URL, Dict[str, str], Optional[bytes]]:
    """``(method, URL, headers, body)`` of a URL string or an :class:`httpx.Request`."""
    if isinstance(url_or_request, str):
        check_url(url_or_request)  # the rules' words for a URL no one can request, before yarl's own
        try:
            return "GET", URL(url_or_request), {}, None
        except (ValueError, TypeError) as error:
            shown = Secrets.of_request(url_or_request)
            raise ValueError("url_or_request: invalid URL {!r}: {}".format(
                shown(url_or_request), shown(str(error)))) from None
    if type(url_or_request).__module__.split(".")[0] == "httpx":
        import httpx

        if isinstance(url_or_request, httpx.Request):
            check_method(url_or_request.method)
            headers = check_headers(dict(url_or_request.headers), "url_or_request: the Request's headers") or {}
            headers = {name: value for name, value in headers.items() if name.lower() not in ("host", "content-length")}
            return url_or_request.method, URL(str(url_or_request.url)), headers, url_or_request.read() or None
    raise ArgumentTypeError(
        "url_or_request must be a URL string or an httpx.Request, not {}".format(shorten(url_or_request))
    )


def _authorization(auth: Any, url: URL) -> Optional[str]:
    """The ``Authorization`` header for ``auth=``; without one, for the URL's userinfo (never sent in the URL).

    Basic auth is encoded in UTF-8 (RFC 7617's ``charset="UTF-8"``), as httpx does.
    """
    if auth is None:
        if url.user is None and url.password is None:
            return None
        auth = (url.user or "", url.password or "")
    if isinstance(auth, aiohttp.BasicAuth):
        return str(auth.encode())
    if isinstance(auth, (tuple, list)) and len(auth) == 2 and all(isinstance(part, (str, bytes)) for part in auth):
        login, password = (part if isinstance(part, bytes) else part.encode("utf-8") for part in auth)
        return "Basic " + base64.b64encode(login + b":" + password).decode("ascii")
    raise ArgumentTypeError(
        "auth must be a (username, password) tuple or an aiohttp.BasicAuth with an aiohttp client, not a {}".format(
            type(auth).__name__)
    )
