"""The synchronous transport: one attempt of a poll through a requests ``Session``, bounded.

Everything that depends on requests' and urllib3's inner workings lives
here, so that :mod:`httsleep.main` stays a short loop around
:class:`~httsleep.policy.PollRun`. An attempt is bounded three ways:

- **In time.** A socket timeout bounds each read, not a whole exchange, so
  the connection each request uses is handed to a watchdog
  (:mod:`httsleep._watchdog`) that shuts it down when its limit passes: for
  the head (connecting, TLS, sending, the status line, headers and any 1xx
  responses) the connect plus the read timeout; for each wait for body
  data (the chunked trailers included) the read timeout; and never later
  than the poll's deadline. urllib3 reads the timeout object once it has
  picked the connection for a request; :class:`_AttemptTimeout` takes the
  connection from urllib3's frame at that moment. Every request urllib3
  makes is bounded so: each redirect hop, each retry of an adapter with
  ``max_retries``, the second request of an auth hook (digest). On any
  other kind of adapter the request's own timeouts apply, but not the
  watchdog.
- **In memory.** The body is read raw, a piece at a time, from the
  ``http.client`` response under urllib3's (so that urllib3 cannot hand the
  connection to another thread while the watchdog still watches it, and so
  that each read waits for some data, not for a whole piece, on urllib3 1.x
  too), and decoded by :class:`~httsleep._body.BodyReader`, which stops at
  ``max_body_size`` decoded bytes whatever the server sends, counting the
  bodies of the redirects before it. A response that an auth hook returns
  in place of the one it was given is read the same way.
- **In what it reads.** Each response head is read past every interim
  (1xx) response, and an ``HTTP/2.0`` status line is read as ``HTTP/1.1``,
  as httpx and aiohttp read them (:mod:`._http1`). The connection's
  response class is changed for that one response only, when urllib3 asks
  :class:`_AttemptTimeout` for the read timeout, just before it reads the
  response; on another kind of adapter, ``http.client``'s reading applies.
- **In what it sends.** Redirects are followed here, one hop at a time,
  with requests' own rules for building the next request (method, cookies,
  ``Authorization``, proxies); on top of those, a hop to another origin
  loses every sensitive header and the cookies that were not set for it.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import time
import weakref
from typing import Any, Dict, List, Optional, Tuple, cast

import requests
import urllib3.connection
import urllib3.exceptions
import urllib3.util
from requests.adapters import HTTPAdapter
from requests.exceptions import (
    ChunkedEncodingError,
    ConnectionError,
    ConnectTimeout,
    ContentDecodingError,
    ReadTimeout,
    TooManyRedirects,
)
from requests.utils import default_headers, get_environ_proxies
from urllib3.util import Timeout

from .._body import is_text_codec
from .._cookies import limit_cookies
from .._request_checks import check_auth, check_headers, check_method, check_url
from .._validate import ArgumentTypeError, shorten
from .._watchdog import Watch, watch
from ..exceptions import BodyDecodingError, BodyError
from ..policy import PollRun
from ..redaction import DeferredSecrets, Secrets, is_sensitive_header, redact_url
from ..transient import exception_chain
from ._connect import BoundedConnect, ResolutionTimeout
from ._http1 import NextResponse
from .rules import AttemptRules, Bound, RedirectLimit, accept_encoding, is_worded, reworded

__all__ = [
    "RequestsBodyDecodingError",
    "RequestsTransport",
    "build_request",
    "environment_ca_bundle",
    "environment_settings",
    "new_session",
]

_CHUNK = 64 * 1024
_BASIC_AUTH_ENCODING = "latin-1"  # what requests encodes a (username, password) pair in
_DEFAULT_ACCEPT_ENCODING = default_headers()["Accept-Encoding"]
#: what is asked for instead of requests' default, when httsleep cannot decode all of that default
_ACCEPT_ENCODING = accept_encoding(_DEFAULT_ACCEPT_ENCODING)
_DEFAULT_MAX_REDIRECTS = requests.Session().max_redirects  # 30: a session that says otherwise is heard


class RequestsBodyDecodingError(BodyDecodingError, ContentDecodingError):
    """A body that is not valid for its ``Content-Encoding``: httsleep's error and requests' own."""


# -- the sessions httsleep opens ------------------------------------------------------------


def environment_ca_bundle() -> Optional[str]:
    """The CA bundle the environment names (``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``), if any."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


class _SessionAdapter(HTTPAdapter):
    """The adapter of the sessions httsleep opens: ``verify=True`` means the environment's CA bundle, if set.

    requests applies ``REQUESTS_CA_BUNDLE`` by passing its path as
    ``verify``; httsleep passes ``verify=True`` to its own sessions'
    adapters, as httsleep 0.3.1 did (code and tests written for it look at
    that argument), and the bundle is applied here instead.
    """

    def __init__(self, session: requests.Session) -> None:
        super().__init__()
        self._session = weakref.ref(session)

    def _verify(self, verify: Any) -> Any:
        session = self._session()
        if verify is True and (session is None or session.trust_env):
            return environment_ca_bundle() or True
        return verify

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, self._verify(verify), cert)

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        # requests >= 2.32.2 chooses the connection pool by the TLS settings
        return super().get_connection_with_tls_context(request, self._verify(verify), proxies, cert)


def new_session() -> requests.Session:
    """A :class:`requests.Session` as httsleep opens them: see :class:`_SessionAdapter`; a bounded cookie jar."""
    session = requests.Session()
    for prefix in ("https://", "http://"):
        session.mount(prefix, _SessionAdapter(session))
    limit_cookies(session.cookies)
    return session


# -- building and checking the request --------------------------------------------------


def build_request(
    url_or_request: Any, auth: Any, headers: Any, session: Optional[requests.Session]
) -> requests.Request:
    """The :class:`requests.Request` to send on every attempt, checked now.

    A URL must be absolute, ``http`` or ``https`` (or a scheme ``session``
    has an adapter for). A ``requests.Request``, or a URL that is not plain
    (see :func:`_plain`), is prepared once here, so that whatever requests would
    refuse on the first attempt is refused now instead; a plain URL string
    is checked by :func:`~httsleep._request_checks.check_url` alone (preparing it
    only to validate it was a tenth of a one-attempt poll).
    """
    headers = check_headers(headers)
    check_auth(auth, requests.auth.AuthBase, _BASIC_AUTH_ENCODING)
    if isinstance(url_or_request, str):
        request = requests.Request(method="GET", url=url_or_request, auth=auth, headers=headers)
    elif isinstance(url_or_request, requests.Request):
        request = _with_defaults(url_or_request, auth, headers)
        if not isinstance(request.url, str):
            raise ArgumentTypeError("url_or_request: the Request's url must be a string, not {}".format(
                shorten(redact_url(request.url))))
        check_method(request.method)
        check_headers(request.headers, "url_or_request: the Request's headers")
        check_auth(request.auth, requests.auth.AuthBase, _BASIC_AUTH_ENCODING)
    else:
        raise ArgumentTypeError(
            "url_or_request must be a URL string or a requests.Request, not {}".format(shorten(url_or_request))
        )
    check_url(
        request.url,
        schemes=_schemes(request.url, session),
        invalid=requests.exceptions.InvalidURL,
        missing_scheme=requests.exceptions.MissingSchema,
        invalid_scheme=requests.exceptions.InvalidSchema,
    )
    if isinstance(url_or_request, str) and _plain(url_or_request):
        _check_as_requests_does(url_or_request)
        return request
    try:
        request.prepare()
    except Exception as error:
        refused: Optional[Exception] = _invalid(
            error, Secrets.of_request(request.url, headers=request.headers, auth=request.auth)
        )
    else:
        refused = None
    if refused is not None:  # raised out here: requests' error, which may quote a credential, is not its context
        raise refused
    return request


def _plain(url: str) -> bool:
    """Printable ASCII without a space, a backslash, a userinfo or a percent-escape (which may decode to anything)."""
    return url.isascii() and url.isprintable() and not any(char in url for char in " \\@%")


def _check_as_requests_does(url: str) -> None:
    """What requests' ``prepare_url`` refuses in an ASCII URL: what urllib3 cannot parse, a host such as ``.x``."""
    try:
        host = urllib3.util.parse_url(url).host or ""
    except urllib3.exceptions.LocationParseError as error:
        problem = str(error).partition(": ")[2] or "it cannot be parsed"
        raise requests.exceptions.InvalidURL("url_or_request: invalid URL {!r}: {}".format(
            redact_url(url), redact_url(problem))) from None
    if host.startswith(("*", ".")):
        raise requests.exceptions.InvalidURL("url_or_request: invalid URL {!r}: the host has an invalid label".format(
            redact_url(url)))


def _with_defaults(request: requests.Request, auth: Any, headers: Optional[dict]) -> requests.Request:
    """``request`` with ``auth=``/``headers=`` filling in what it lacks (its own win)."""
    if auth is None and not headers:
        return request
    merged = dict(headers or {})
    merged.update(request.headers or {})
    return requests.Request(
        method=request.method,
        url=request.url,
        headers=merged,
        files=request.files,
        data=request.data,
        json=request.json,
        params=request.params,
        auth=request.auth or auth,
        cookies=request.cookies,
        hooks=request.hooks,
    )


def _schemes(url: str, session: Optional[requests.Session]) -> Tuple[str, ...]:
    """http and https, and the URL's own scheme when ``session`` has an adapter mounted for it."""
    if isinstance(session, requests.Session):
        try:
            session.get_adapter(url)
        except requests.exceptions.InvalidSchema:
            pass
        else:
            return ("http", "https", url.partition("://")[0].lower())
    return ("http", "https")


def _invalid(error: Exception, redact: Secrets) -> Exception:
    """requests' refusal of the request, as a ValueError or TypeError naming the argument."""
    message = "url_or_request: {}".format(redact(str(error)))
    if isinstance(error, (ValueError, TypeError)):
        try:
            return type(error)(message)
        except Exception:  # an exception class that wants other arguments
            pass
        return (TypeError if isinstance(error, TypeError) else ValueError)(message)
    return ValueError(message)  # e.g. requests' InvalidJSONError for a body json cannot encode


# -- the transport ------------------------------------------------------------------------


class RequestsTransport:
    """Sends a poll's request through a requests ``Session``; one per poller.

    :param request: the checked request (see :func:`build_request`).
    :param verify: the ``verify=`` argument of the poller (``None``: not given).
    """

    def __init__(self, request: requests.Request, verify: Any) -> None:
        self.request = request
        self.verify = verify
        self._secrets = DeferredSecrets(self._request_secrets)

    def redact(self, text: str) -> str:
        """``text`` without the request's own credentials (for a repr)."""
        return self._secrets(text)

    def secrets(self, session: requests.Session) -> DeferredSecrets:
        """The credentials to keep out of what the poll shows: the request's and the session's.

        Worked out when the poll first shows something (most never do).
        """
        return DeferredSecrets(self._session_secrets, session)

    def _request_secrets(self) -> Secrets:
        request = self.request
        return Secrets.of_request(
            request.url, headers=request.headers, auth=request.auth, params=request.params, cookies=request.cookies
        )

    def _session_secrets(self, session: requests.Session) -> Secrets:
        return self._secrets.resolve() + Secrets.of_request(
            headers=session.headers, auth=session.auth, cookies=session.cookies, proxies=session.proxies
        )

    #: what the transport raises when a bound runs out (a timeout, not a failure of the server)
    timeout_errors: Tuple[type, ...] = (requests.Timeout,)

    @property
    def target(self) -> str:
        """``METHOD URL`` of the request, for messages (redact it before showing it)."""
        return "{} {}".format(self.request.method, self.request.url)

    def open_client(self, verify: Any) -> requests.Session:
        """The session a poll opens when it is given none (see :func:`new_session`; ``verify`` applies per request)."""
        return new_session()

    def start(self, session: requests.Session) -> _Sender:
        """The sender for one poll on ``session``."""
        return _Sender(self, session)


class _Sender:
    """One poll's sending: the request prepared once, environment settings read once per URL, attempts bounded.

    Preparing a request (merging the session's headers, cookies, auth and
    hooks, reading ``~/.netrc``) is a third of an attempt's cost, so it is
    done once per poll, and again only when the session changed since: a
    cookie the server set, a header or auth the caller changed between
    attempts (see :func:`_session_state`).
    """

    def __init__(self, transport: RequestsTransport, session: requests.Session) -> None:
        self.transport = transport
        self.session = session
        self._settings: Dict[str, Dict[str, Any]] = {}
        self._prepared: Optional[requests.PreparedRequest] = None
        self._state: Any = None

    def prepared(self, run: PollRun) -> requests.PreparedRequest:
        """This attempt's request: a copy of the one prepared for the session as it is now.

        It is prepared again for every attempt when something in it must be
        made anew each time: an auth object (it may sign each request, or
        hold state, as digest auth does) or a body that is a stream and
        cannot be rewound.
        """
        state = _session_state(self.session, self.transport.request)
        if self._prepared is None or state is None or state != self._state:
            if self._prepared is not None and isinstance(self._prepared._body_position, int):  # type: ignore[attr-defined]
                requests.utils.rewind_body(self._prepared)  # the same stream: back to where it started
            prepared = self.session.prepare_request(self.transport.request)
            if _ACCEPT_ENCODING != _DEFAULT_ACCEPT_ENCODING and (
                prepared.headers.get("Accept-Encoding") == _DEFAULT_ACCEPT_ENCODING
            ):
                prepared.headers["Accept-Encoding"] = _ACCEPT_ENCODING  # only what httsleep decodes itself
            self._prepared, self._state = prepared, state
            copy = prepared.copy()
        else:
            copy = self._prepared.copy()
            if isinstance(copy._body_position, int):  # type: ignore[attr-defined]  # a file-like body, sent before
                requests.utils.rewind_body(copy)
        conditional = run.conditional_headers()
        if conditional:
            copy.headers.update(conditional)
        return copy

    def settings(self, url: str) -> Dict[str, Any]:
        """``proxies``, ``verify``, ``cert`` for ``url``: the call's, then the session's, then the environment's."""
        found = self._settings.get(url)
        if found is None:
            found = self._settings[url] = environment_settings(self.session, url, self.transport.verify)
        return found

    def send(self, run: PollRun) -> requests.Response:
        """Send one attempt; return the final response with its body read, or raise."""
        session = self.session
        prepared = self.prepared(run)
        limit = session.max_redirects if session.max_redirects != _DEFAULT_MAX_REDIRECTS else None
        attempt = _Attempt(AttemptRules(run, str(prepared.method), str(prepared.url), limit))
        others = prepared.hooks.get("response") or []
        # every hop's request shares this dict (PreparedRequest.copy): restored below, so that no
        # response keeps a reference to the attempt (a response must stay picklable, for one)
        ours = [attempt.read_body, *([others] if callable(others) else others)]
        hooks = prepared.hooks = dict(prepared.hooks, response=ours)
        own_hooks: Dict[str, Any] = {"response": [attempt.read_body]}  # the hops that carry no credentials
        current = prepared
        try:
            response = self._send_one(current, attempt)
            hops: List[requests.Response] = []
            while True:
                following = response.next if response.is_redirect else None
                hop = attempt.next_hop(response, following)
                if hop is None or following is None:
                    break
                if not hop.credentials:
                    _strip_credentials(following, session)
                    # an auth's hooks (digest answers a 401) stay behind too: only the caller's own go on
                    own_hooks["response"] = [attempt.read_body, *self._own_hooks()]
                    following.hooks = own_hooks
                hops.append(response)
                current = following
                response = self._send_one(current, attempt)
            if hops:  # each hop after what came before it (an auth hook's first response, say)
                response.history = [*(earlier for hop in hops for earlier in (*hop.history, hop)), *response.history]
            return response
        except (requests.Timeout, requests.ConnectionError) as error:
            if is_worded(error):
                raise
            if attempt.watch.fired:
                raise attempt.timeout_error(current) from error
            raise attempt.reworded(error) from error
        except Exception as error:
            if not attempt.watch.fired:
                raise
            raise attempt.timeout_error(current) from error
        finally:
            attempt.finish()
            hooks["response"] = others
            own_hooks["response"] = own_hooks["response"][1:]

    def _own_hooks(self) -> List[Any]:
        """The response hooks of the caller's request and session (an auth's own are not among them)."""
        found: List[Any] = []
        for source in (self.transport.request.hooks, self.session.hooks):
            hooks = (source or {}).get("response") or []
            found.extend([hooks] if callable(hooks) else hooks)
        return found

    def _send_one(self, prepared: requests.PreparedRequest, attempt: _Attempt) -> requests.Response:
        try:
            response = self._send_raw(prepared, attempt)
        except ValueError as error:
            if isinstance(error, requests.RequestException) or not _from_redirect_resolution(error):
                raise
            invalid = requests.exceptions.InvalidURL(attempt.rules.invalid_location_message(error))
        else:
            return response
        raise invalid  # out of the except block: requests' error, which may quote the URL, is not its context

    def _send_raw(self, prepared: requests.PreparedRequest, attempt: _Attempt) -> requests.Response:
        response = self.session.send(
            prepared,
            allow_redirects=False,
            stream=True,
            timeout=_AttemptTimeout(attempt),  # type: ignore[arg-type]  # requests passes it through to urllib3
            **self.settings(str(prepared.url)),
        )
        # a hook of the caller's may return another response than the one it was given (an auth hook
        # sends the request again with credentials): its body is read bounded too
        attempt.read_body(response)
        return response


def _from_redirect_resolution(error: BaseException) -> bool:
    """Whether ``error`` came from requests building the request a redirect leads to (a Location it cannot parse)."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name in ("resolve_redirects", "get_redirect_target", "rebuild_auth"):
            return True
        frame = frame.tb_next
    return False


def _session_state(session: requests.Session, request: requests.Request) -> Any:
    """What a prepared request is made of, to compare: the request's parts and the session's.

    The request's method, URL, headers, params, auth and cookies, and its
    body (a new object, or a dict or list whose items changed): code written
    for 0.3.1, which prepared every attempt, may change ``sleeper.request``
    between attempts. The session's headers, auth, params, hooks and
    cookies (one that expired since counts as a change).

    ``None`` when the request must be prepared for every attempt: an auth
    object (on the request or the session; a ``(user, password)`` pair is
    plain data), a body that is a stream that cannot be rewound, or a
    session double whose parts are not what requests has (a test's mock).
    """
    auth = request.auth if request.auth is not None else session.auth
    if auth is not None and not isinstance(auth, (tuple, list)):
        return None
    if _unrewindable(request.data) or _unrewindable(request.files):
        return None
    now = int(time.time())
    try:
        return (
            request.method,
            request.url,
            _items(request.headers),
            _items(request.params),
            request.auth,
            _items(request.cookies),
            _items(request.data),
            _items(request.json),
            _items(request.files),
            tuple(session.headers.items()),  # a session double without real headers raises: prepare each time
            session.auth,
            _items(session.params),
            tuple((event, tuple(hooks)) for event, hooks in session.hooks.items()),
            session.trust_env,
            tuple((cookie.domain, cookie.path, cookie.name, cookie.value, cookie.is_expired(now))
                  for cookie in session.cookies),
        )
    except Exception:  # noqa: BLE001 - anything unexpected means: do not reuse
        return None


def _items(parts: Any) -> Any:
    """A snapshot of a mapping's or a list's items, for ``==`` to compare later; anything else as it is.

    (A dict changed in place would otherwise compare equal to itself. Only
    the top level is copied: a nested dict changed in place goes unseen.)
    """
    if isinstance(parts, (dict, requests.structures.CaseInsensitiveDict, requests.cookies.RequestsCookieJar)):
        return tuple(parts.items())
    if isinstance(parts, list):
        return tuple(parts)
    return parts


def _unrewindable(body: Any) -> bool:
    """Whether ``body`` is a stream that a second send could not start again (a generator, a pipe)."""
    if body is None or isinstance(body, (bytes, str, dict, list, tuple)):
        return False
    seekable = getattr(body, "seekable", None)
    if callable(seekable):
        try:
            return not seekable()
        except Exception:  # noqa: BLE001 - a closed file, say
            return True
    return hasattr(body, "__iter__") or hasattr(body, "read")


_PROXIES: Dict[Tuple[str, Optional[str]], Tuple[Tuple[Tuple[str, str], ...], Dict[str, str]]] = {}


def _environ_proxies(url: str, no_proxy: Optional[str]) -> Dict[str, str]:
    """requests' proxies from the environment for ``url``, remembered until the environment changes.

    Working them out scans the environment and the ``NO_PROXY`` list (~75 µs,
    which requests pays on every request); a snapshot of the environment is
    much cheaper to compare.
    """
    origin = url.split("/", 3)[:3]
    key = ("/".join(origin), no_proxy)
    environment = tuple(os.environ.items())
    known = _PROXIES.get(key)
    if known is not None and known[0] == environment:
        return known[1]
    proxies = get_environ_proxies(url, no_proxy=no_proxy)
    if len(_PROXIES) > 256:
        _PROXIES.clear()
    _PROXIES[key] = (environment, proxies)
    return proxies


def environment_settings(session: requests.Session, url: str, verify: Any) -> Dict[str, Any]:
    """The ``proxies``, ``verify`` and ``cert`` to send ``url`` with.

    Explicit settings win: ``verify=`` given to the poller, then the
    session's own ``verify``, ``proxies`` and ``cert``, and only then the
    environment (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``,
    ``HTTP(S)_PROXY``, ``NO_PROXY``) when the session trusts it. (requests'
    ``merge_environment_settings`` lets the environment win over the
    session: psf/requests#3829.) The sessions httsleep opens apply the
    environment's CA bundle in their adapter (:class:`_SessionAdapter`).
    """
    proxies: Dict[str, Any] = {}
    if session.trust_env:
        proxies.update(_environ_proxies(url, (session.proxies or {}).get("no_proxy")))
    proxies.update(session.proxies or {})
    proxies = {key: value for key, value in proxies.items() if value is not None}
    if verify is None:
        verify = session.verify
    if verify is True and session.trust_env and not isinstance(session.get_adapter(url), _SessionAdapter):
        verify = environment_ca_bundle() or True
    return {"proxies": proxies, "verify": verify, "cert": session.cert}


def _strip_credentials(request: requests.PreparedRequest, session: requests.Session) -> None:
    """Remove what must not go to another origin: sensitive headers, and cookies not set for it.

    requests has removed ``Authorization`` already and rebuilt ``Cookie``
    from every cookie that matches, including those set without a domain
    (``Request(cookies=...)``, ``session.cookies.set(name, value)``), which
    match any host: only cookies the jar holds for a domain (set by a
    server, or by the caller with a domain) stay, as the jar matches them.
    """
    for name in [name for name in request.headers if is_sensitive_header(name)]:
        del request.headers[name]
    jar = requests.cookies.RequestsCookieJar()
    for cookie in session.cookies:
        if cookie.domain:
            jar.set_cookie(cookie)
    header = requests.cookies.get_cookie_header(jar, request)
    if header:
        request.headers["Cookie"] = header


# -- one attempt ---------------------------------------------------------------------------


class _Attempt:
    """One attempt through requests: its rules, its watch, its phase."""

    def __init__(self, rules: AttemptRules) -> None:
        self.rules = rules
        self.run = rules.run
        self.watch: Watch = watch()
        self.phase = "connect"  # ("resolve" while a name resolves) then "head" once the request is sent, "body"
        self.bound = Bound(0.0, False)  # the limit last armed, for the error message
        self._response_classes: List[NextResponse] = []  # the connections whose next response is read so
        self._connects: List[BoundedConnect] = []  # the connections whose next connect is bounded so
        self._head_ends = 0.0  # when the bound of the head armed last runs out (monotonic seconds)

    def timeouts(self) -> Tuple[float, float]:
        """The (connect, read) timeouts for a request starting now, cut to the deadline."""
        return self.rules.timeouts()

    def _arm(self, bound: Bound) -> None:
        self.bound = bound
        self.watch.arm(bound.seconds)

    def on_request(self, connection: Any) -> None:
        """urllib3 starts a request on ``connection``: bound its head by the connect plus the read timeout.

        Called once for every request urllib3 makes (see
        :class:`_AttemptTimeout`), a retry on a new connection included:
        what a cut on an earlier connection did is forgotten.
        """
        self.watch.disarm()
        self.watch.fired = False
        self.phase = "connect"
        self.watch.target = lambda: connection.sock
        bound = self.rules.head_bound()
        self._head_ends = time.monotonic() + bound.seconds
        self._arm(bound)
        connect = BoundedConnect.install(connection, self._connect_budget, self._connecting)
        if connect is not None:
            self._connects.append(connect)

    def _connect_budget(self) -> float:
        """How long resolving the host and connecting may still take: what is left of the bound of the head."""
        return self._head_ends - time.monotonic()

    def _connecting(self, phase: str) -> None:
        """Where a bounded connect is (see :class:`BoundedConnect`): resolving, connecting, or connected.

        Once the connection has its socket, a cut that came while it had none
        (there was nothing to cut) happens: at once, if the bound ran out.
        """
        if phase != "connected":
            self.phase = phase
            return
        self.phase = "connect"
        if self.watch.fired:
            self.watch.fired = False
            self._arm(Bound(self._head_ends - time.monotonic(), self.bound.by_deadline))

    def on_response(self, connection: Any) -> None:
        """urllib3 is about to read a response on ``connection``: past interim responses (see :mod:`._http1`)."""
        installed = NextResponse.install(connection)
        if installed is not None:
            self._response_classes.append(installed)

    def finish(self) -> None:
        """The attempt is over: the watch disarmed, every connection's own response class back."""
        self.watch.disarm()
        for installed in self._response_classes:
            installed.release()
        self._response_classes.clear()
        for connect in self._connects:
            connect.release()
        self._connects.clear()

    def next_hop(self, response: requests.Response, following: Optional[requests.PreparedRequest]) -> Any:
        """The rules' verdict on where ``response`` leads (``following``: requests' own next request)."""
        if following is None:  # not a redirect: nowhere (the common case, without a call)
            return None
        try:
            return self.rules.next_hop(
                response.status_code,
                response.headers.get("Location"),
                str(following.url),
            )
        except RedirectLimit as error:
            raise TooManyRedirects(str(error), response=response) from None
        except ValueError as error:
            raise requests.exceptions.InvalidURL(str(error), response=response) from None

    def timeout_error(self, request: Any, response: Any = None) -> requests.Timeout:
        """The timeout to raise once the watchdog has cut the connection."""
        why = self.rules.timeout_message(self.phase, self.bound)
        kind = ConnectTimeout if self.phase in ("resolve", "connect") else ReadTimeout
        return cast(requests.Timeout, reworded(kind(request=request, response=response), why))

    def reworded(self, error: BaseException) -> BaseException:
        """requests' own timeout or connection error, in the words of the rules (same class)."""
        if isinstance(error, ConnectTimeout):
            resolving = any(isinstance(inner, ResolutionTimeout) for inner in exception_chain(error))
            return reworded(error, self.rules.timeout_message("resolve" if resolving else "connect"))
        if isinstance(error, requests.Timeout):
            return reworded(error, self.rules.timeout_message(self.phase if self.phase != "connect" else "head"))
        return reworded(error, self.rules.connection_message(error))

    # -- the body ------------------------------------------------------------------------

    def read_body(self, response: requests.Response, **kwargs: Any) -> None:
        """A response hook: read the body now, bounded (requests reads a redirect's body itself otherwise).

        A body that cannot be read (too large, broken, cut short) fails the
        attempt, unless the response asks to come back later
        (:meth:`PollRun.body_optional`): it is then kept with an empty body.
        """
        if getattr(response, "_content_consumed", False):
            return  # read already: by this hook, or by a hook of the caller's
        try:
            body = self._read(response)
        except (ReadTimeout, ConnectTimeout):
            raise
        except Exception:
            if not self.rules.body_optional(response):
                raise
            body = b""
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]
        if response.encoding and not is_text_codec(response.encoding):
            # charset=undefined: requests' .text and .json() would raise UnicodeError (an unknown charset
            # they survive); without it, they decode as when no charset is given
            response.encoding = None
        self.rules.body_read(body or b"")

    def _read(self, response: requests.Response) -> bytes:
        raw = response.raw
        source = _source(raw)
        if source is None:  # pragma: no cover - an adapter whose raw body is not a file-like object
            return response.content
        read, remaining_length = source
        connection = getattr(raw, "_connection", None)
        if connection is not None:
            self.watch.target = lambda: connection.sock
        reader = self.rules.body_reader(response.headers.get("Content-Encoding"), response, RequestsBodyDecodingError)
        self.phase = "body"
        try:
            while True:
                bound = self.rules.read_bound()
                if bound.by_deadline and bound.seconds <= 0:
                    raise reworded(ReadTimeout(response=response), self.rules.timeout_message("body", bound))
                self._arm(bound)
                try:
                    chunk = read(_CHUNK)
                finally:
                    self.watch.disarm()  # before decoding: the limit is on the wait for data
                if self.watch.fired:
                    raise self.timeout_error(response.request, response)
                if not chunk:
                    break
                reader.feed(chunk)
            body = reader.finish()
            missing = remaining_length()
            if missing:  # urllib3 2 and http.client check this on read(); urllib3 1.x returned the short body
                raise ChunkedEncodingError(
                    "Connection broken: the body ended {} bytes short of its Content-Length".format(missing),
                    response=response,
                )
        except (ReadTimeout, BodyError, ChunkedEncodingError):
            response.close()
            raise
        except Exception as error:
            response.close()
            if self.watch.fired:
                raise self.timeout_error(response.request, response) from error
            raise _body_error(error, response) from error
        raw.release_conn()
        return body


def _source(raw: Any) -> Optional[Tuple[Any, Any]]:
    """How to read ``raw``'s body: ``(read(n), bytes still missing)``, or ``None`` if it cannot be read raw.

    The ``http.client`` response under urllib3's is read directly: its
    ``read1`` returns as soon as some data is there (urllib3 1.x has no
    ``read1``, and its ``read(n)`` waits for all ``n`` bytes), and urllib3
    does not release the connection to its pool, for another thread to
    take, while this attempt still watches it: :meth:`_Attempt._read`
    releases it once the body is read.
    """
    fp = getattr(raw, "_fp", None)
    if isinstance(fp, http.client.HTTPResponse):

        def read(size: int) -> bytes:
            data = fp.read1(size)
            if not data or fp.length == 0:
                fp.close()  # the whole body is read: the connection can serve another request
            return data

        def missing() -> int:
            return fp.length or 0 if not fp.chunked else 0

        return read, missing
    # another kind of raw body (an adapter of the caller's): urllib3's own reading, with its raw bytes
    read_raw = getattr(raw, "read1", None) or getattr(raw, "read", None)
    if read_raw is None:  # pragma: no cover - not a file-like object
        return None
    return (lambda size: read_raw(size, decode_content=False)), (lambda: getattr(raw, "length_remaining", 0) or 0)


def _body_error(error: Exception, response: requests.Response) -> Exception:
    """The error while reading a body, as requests' ``iter_content`` reports it."""
    name = type(error).__name__
    if name == "ReadTimeoutError" or isinstance(error, (TimeoutError, socket.timeout)):
        return ReadTimeout(error, response=response)
    if name in ("ProtocolError", "IncompleteRead", "InvalidChunkLength") or isinstance(
        error, http.client.HTTPException
    ):
        return ChunkedEncodingError(error, response=response)
    return ConnectionError(error, response=response)


class _AttemptTimeout(Timeout):
    """The urllib3 timeout of one attempt: cut to the deadline, and the hook that finds the connection.

    urllib3 clones the timeout for every request (each redirect hop, each
    retry of its own) and reads ``connect_timeout`` right after picking the
    connection, in ``urlopen``/``_make_request``, whose local ``conn`` is
    that connection: it is handed to the attempt's watchdog there. It reads
    ``read_timeout`` in ``_make_request`` once the request is sent, just
    before it reads the response on ``conn``: the response is read past
    interim responses from there (:meth:`_Attempt.on_response`).
    """

    def __init__(self, attempt: _Attempt, started: bool = False) -> None:
        self._attempt = attempt
        self._started = started  # the request this timeout belongs to has a connection, and is watched
        connect, read = attempt.timeouts()
        super().__init__(connect=connect, read=read)

    def clone(self) -> Timeout:
        # urlopen clones the timeout it is given (a new request: each hop, each of urllib3's retries,
        # an auth hook's second request), then clones its own clone for _make_request (the same request)
        return _AttemptTimeout(self._attempt, started=self._started)

    @property
    def connect_timeout(self) -> Any:
        if not self._started:
            connection = _connection_of_caller(sys._getframe(1))
            if connection is not None:
                self._started = True
                self._attempt.on_request(connection)
        return super().connect_timeout

    @property
    def read_timeout(self) -> Any:
        # urllib3 asks for the read timeout once the request is sent: the wait for the head begins
        if self._attempt.phase == "connect":
            self._attempt.phase = "head"
        connection = _connection_of_caller(sys._getframe(1), ("_make_request",))
        if connection is not None:
            self._attempt.on_response(connection)
        return super().read_timeout


def _connection_of_caller(frame: Any, functions: Tuple[str, ...] = ("urlopen", "_make_request")) -> Any:
    """The urllib3 connection ``urlopen``/``_make_request`` (of ``functions``) is working with, read from its frame."""
    if frame is None or frame.f_code.co_name not in functions:
        return None
    connection = frame.f_locals.get("conn")
    return connection if isinstance(connection, urllib3.connection.HTTPConnection) else None
