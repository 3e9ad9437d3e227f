"""A transport without a socket: polls answered by a function, for tests (httsleep's and yours).

::

    from httsleep import HttSleeper
    from httsleep.transports.memory import MemoryClient, MemoryResponse

    server = MemoryClient([MemoryResponse(json={"status": "RUNNING"}), MemoryResponse(json={"status": "DONE"})])
    sleeper = HttSleeper("http://jobs.example/1", jsonpath=[{"expression": "status", "value": "DONE"}],
                         session=server, polling_interval=0)
    assert sleeper.run().json() == {"status": "DONE"}
    assert [request.url for request in server.requests] == ["http://jobs.example/1"] * 2

Pass a :class:`MemoryClient` as ``session=`` to :class:`httsleep.HttSleeper`
or as ``client=`` to :class:`httsleep.AsyncHttSleeper`. It answers each
request with what its handler returns (a function of the
:class:`MemoryRequest`), or with the next response of a list (the last
one repeating); a handler that raises makes the attempt fail with that
exception (``ConnectionRefusedError()``, say).

Everything but the socket is the real thing: the attempt rules of
:mod:`httsleep.transports.rules` (redirects and where credentials go, the
body limit and ``Content-Encoding`` decoding, conditional requests) apply
as on every other transport, and so does everything the poll decides. This
module is also the smallest example of a transport (see
docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import json as jsonlib
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urljoin

from requests.structures import CaseInsensitiveDict

from .._body import text_encoding
from ..exceptions import BodyDecodingError
from ..policy import PollRun
from ..redaction import DeferredSecrets, Secrets, is_sensitive_header
from .rules import REDIRECT_STATUSES, AttemptRules, RedirectLimit

__all__ = [
    "AsyncMemoryTransport",
    "MemoryClient",
    "MemoryRedirectError",
    "MemoryRequest",
    "MemoryResponse",
    "MemoryTimeout",
    "MemoryTransport",
]


class MemoryTimeout(TimeoutError):
    """What a handler raises to act out a timeout (the poll treats it as its transport's timeout)."""


class MemoryRedirectError(ValueError):
    """A redirect that cannot be followed: too many, or to a URL that cannot be requested."""


class MemoryRequest:
    """A request as the pretend server sees it: ``method``, ``url``, ``headers``, ``content`` (bytes)."""

    __slots__ = ("method", "url", "headers", "content")

    def __init__(self, method: str, url: str, headers: Mapping[str, str], content: bytes = b"") -> None:
        self.method = method
        self.url = url
        self.headers = CaseInsensitiveDict(headers)
        self.content = content

    def __repr__(self) -> str:
        return "<MemoryRequest {} {}>".format(self.method, self.url)


class MemoryResponse:
    """A response of the pretend server, and what a poll on it returns.

    Give the body as ``json=`` (encoded, with ``Content-Type:
    application/json``), ``text=`` or raw ``content=`` (sent as it is:
    with a ``Content-Encoding`` header it is decoded, as a server's would be).

    It has the attributes conditions and callbacks use on every front end:
    ``status_code``, ``reason``, ``headers``, ``content``, ``text``,
    ``json()``, ``url``, ``history``, ``ok``.
    """

    def __init__(
        self,
        status: int = 200,
        *,
        json: Any = None,
        text: Optional[str] = None,
        content: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        reason: str = "",
    ) -> None:
        self.status_code = status
        self.reason = reason
        self.headers = CaseInsensitiveDict(headers or {})
        if json is not None:
            content = jsonlib.dumps(json).encode("utf-8")
            self.headers.setdefault("Content-Type", "application/json")
        elif text is not None:
            content = text.encode("utf-8")
            self.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        self.content = content or b""
        self.url = ""
        self.history: List[MemoryResponse] = []

    @property
    def ok(self) -> bool:
        """Whether the status is below 400."""
        return self.status_code < 400

    @property
    def text(self) -> str:
        """The body as text (the charset of the ``Content-Type``, UTF-8 otherwise)."""
        return self.content.decode(text_encoding(self.headers), "replace")

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON (a ``ValueError`` if it is not JSON)."""
        return jsonlib.loads(self.content, **kwargs)

    def _copy(self, content: bytes, url: str) -> MemoryResponse:
        copy = MemoryResponse(self.status_code, content=content, headers=self.headers, reason=self.reason)
        copy.url = url
        return copy

    def __repr__(self) -> str:
        return "<MemoryResponse [{}]>".format(self.status_code)


Handler = Callable[[MemoryRequest], MemoryResponse]


class MemoryClient:
    """The pretend server, given to a poller as its session or client (see the module).

    :param answers: a function of the :class:`MemoryRequest` that returns a
        :class:`MemoryResponse` (or raises), or a list of responses (or
        exceptions) answered in order, the last one repeating.
    :ivar requests: every request received, in order.
    """

    def __init__(self, answers: Union[Handler, Sequence[Union[MemoryResponse, BaseException]]]) -> None:
        if callable(answers):
            self._handler: Handler = answers
        else:
            script = list(answers)
            if not script:
                raise ValueError("MemoryClient needs at least one response")

            def handler(request: MemoryRequest) -> MemoryResponse:
                answer = script[min(len(self.requests) - 1, len(script) - 1)]
                if isinstance(answer, BaseException):
                    raise answer
                return answer

            self._handler = handler
        self.requests: List[MemoryRequest] = []

    def answer(self, request: MemoryRequest) -> MemoryResponse:
        """Record ``request`` and answer it."""
        self.requests.append(request)
        return self._handler(request)


def _parts(
    url_or_request: Any, headers: Optional[Mapping[str, Any]], auth: Any
) -> Tuple[str, str, Dict[str, str], bytes]:
    """``(method, url, headers, body)`` of a URL, a ``requests.Request`` or an ``httpx.Request``."""
    if isinstance(url_or_request, str):
        import requests  # a core dependency: it prepares what a URL and auth= mean, as the requests front end does

        url_or_request = requests.Request("GET", url_or_request, headers=headers, auth=auth)
    elif headers or auth is not None:
        raise ValueError("with a Request, put its headers and auth in it")
    prepare = getattr(url_or_request, "prepare", None)
    if prepare is not None:  # requests.Request
        prepared = prepare()
        body = prepared.body or b""
        content = body.encode() if isinstance(body, str) else body
        return str(prepared.method), str(prepared.url), dict(prepared.headers), content
    return (url_or_request.method, str(url_or_request.url), dict(url_or_request.headers),  # httpx.Request
            url_or_request.read())


class _MemoryTransport:
    """What the synchronous and the asyncio memory transports share (see :class:`httsleep.transports.Transport`)."""

    timeout_errors: Tuple[type, ...] = (MemoryTimeout,)

    def __init__(self, url_or_request: Any, headers: Any = None, auth: Any = None, client: Any = None) -> None:
        self.request = url_or_request
        self.verify = None
        self.method, self.url, self.headers, self.body = _parts(url_or_request, headers, auth)
        self._secrets = DeferredSecrets(lambda: Secrets.of_request(self.url, headers=self.headers, auth=auth))

    @property
    def target(self) -> str:
        return "{} {}".format(self.method, self.url)

    def redact(self, text: str) -> str:
        return self._secrets(text)

    def secrets(self, client: Any) -> Callable[[str], str]:
        return self._secrets

    def exchange(self, client: MemoryClient, run: PollRun) -> MemoryResponse:
        """One attempt, by the rules: the request, its redirects, each body read bounded."""
        rules = AttemptRules(run, self.method, self.url)
        method, url, body = self.method, self.url, self.body
        headers = CaseInsensitiveDict(self.headers)
        headers.update(run.conditional_headers())
        hops: List[MemoryResponse] = []
        while True:
            answer = client.answer(MemoryRequest(method, url, headers, body))
            response = self._read(rules, answer, url)
            location = answer.headers.get("Location") if answer.status_code in REDIRECT_STATUSES else None
            try:
                hop = rules.next_hop(answer.status_code, location, None if location is None else urljoin(url, location))
            except (RedirectLimit, ValueError) as error:
                raise MemoryRedirectError(str(error)) from None
            if hop is None:
                break
            method, url, body = hop.method, hop.url, body if hop.keeps_body else b""
            if not hop.credentials:
                headers = CaseInsensitiveDict(
                    {name: value for name, value in headers.items() if not is_sensitive_header(name)}
                )
            hops.append(response)
        response.history = hops
        return response

    def _read(self, rules: AttemptRules, answer: MemoryResponse, url: str) -> MemoryResponse:
        try:
            reader = rules.body_reader(answer.headers.get("Content-Encoding"), answer, BodyDecodingError)
            reader.feed(answer.content)
            content = reader.finish()
        except Exception:
            if not rules.body_optional(answer):
                raise
            content = b""
        rules.body_read(content)
        return answer._copy(content, url)


class MemoryTransport(_MemoryTransport):
    """The memory transport of the synchronous front end (``HttSleeper(..., session=MemoryClient(...))``)."""

    def __init__(self, request: Any, verify: Any = None) -> None:
        super().__init__(request)

    @contextlib.contextmanager
    def open_client(self, verify: Any) -> Iterator[Any]:
        raise TypeError("a memory transport has no client of its own: pass a MemoryClient")
        yield  # pragma: no cover

    def start(self, client: MemoryClient) -> _SyncSender:
        return _SyncSender(self, client)


class AsyncMemoryTransport(_MemoryTransport):
    """The memory transport of the asyncio front end (``AsyncHttSleeper(..., client=MemoryClient(...))``)."""

    @contextlib.asynccontextmanager
    async def open_client(self, verify: Any) -> Any:
        raise TypeError("a memory transport has no client of its own: pass a MemoryClient")
        yield  # pragma: no cover

    def open_shared_client(self, verify: Any, concurrency: int) -> Any:
        return self.open_client(verify)

    def start(self, client: MemoryClient) -> _AsyncSender:
        return _AsyncSender(self, client)


class _SyncSender:
    __slots__ = ("transport", "client")

    def __init__(self, transport: _MemoryTransport, client: MemoryClient) -> None:
        self.transport, self.client = transport, client

    def send(self, run: PollRun) -> MemoryResponse:
        return self.transport.exchange(self.client, run)


class _AsyncSender(_SyncSender):
    __slots__ = ()

    async def send(self, run: PollRun) -> MemoryResponse:  # type: ignore[override]
        return self.transport.exchange(self.client, run)
