"""What an asyncio poll returns, whichever HTTP library sent it: :class:`AsyncResponse`.

Conditions, callbacks, hooks and the exceptions of a poll see the same
object, so that one written once works on httpx and on aiohttp (and reads
like the :class:`requests.Response` of the synchronous front end). The body
is read and decoded by httsleep before the poll sees it; the library's own
response is kept as :attr:`AsyncResponse.raw`.

This module imports no HTTP library.
"""

from __future__ import annotations

import json as jsonlib
import warnings
from typing import Any, Dict, List, Optional

from ._body import text_encoding

__all__ = ["AsyncResponse"]


class AsyncResponse:
    """The response of an asyncio poll, on httpx and on aiohttp alike.

    :ivar status_code: the status code.
    :ivar reason: the reason phrase (also :attr:`reason_phrase`, httpx's name).
    :ivar headers: the response headers: a case-insensitive mapping of
        ``str`` to ``str`` (the library's own: :class:`httpx.Headers` or
        aiohttp's ``CIMultiDictProxy``; ``headers["Content-Type"]``,
        ``headers.get(...)``, ``in``, iteration and ``items()`` work on both).
    :ivar url: the URL of the response, after redirects, as a string.
    :ivar content: the body, decoded from its ``Content-Encoding``, as bytes.
    :ivar history: the redirect responses before this one, oldest first
        (each an :class:`AsyncResponse`).
    :ivar raw: the library's own response (:class:`httpx.Response` or
        :class:`aiohttp.ClientResponse`), its body already read and its
        connection back in the pool: read :attr:`content`, not its body.
        ``None`` after unpickling.

    :attr:`text` decodes :attr:`content` with the charset of the
    ``Content-Type`` (UTF-8 otherwise), the same way on every library;
    :meth:`json` decodes it as JSON (a ``ValueError`` if it is not JSON);
    :attr:`ok` is true for a status below 400.

    Any other attribute is looked up on :attr:`raw`, with a
    :class:`DeprecationWarning`: code written when an httpx poll returned an
    :class:`httpx.Response` (``response.request``, ``response.elapsed``...)
    keeps working, and says where the attribute now lives.
    """

    __slots__ = ("status_code", "reason", "headers", "url", "content", "history", "raw")

    def __init__(
        self,
        raw: Any,
        status_code: int,
        reason: str,
        headers: Any,
        url: str,
        content: bytes,
        history: Optional[List[AsyncResponse]] = None,
    ) -> None:
        self.raw = raw
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.url = url
        self.content = content
        self.history: List[AsyncResponse] = history or []

    @property
    def reason_phrase(self) -> str:
        """The reason phrase (httpx's name for :attr:`reason`)."""
        return self.reason

    @property
    def ok(self) -> bool:
        """Whether the status is below 400 (as requests' ``Response.ok``)."""
        return self.status_code < 400

    @property
    def encoding(self) -> str:
        """The charset of the ``Content-Type`` if it is a text encoding Python has, or ``utf-8``."""
        return text_encoding(self.headers)

    @property
    def text(self) -> str:
        """The body as text, decoded with :attr:`encoding` (undecodable bytes replaced)."""
        return self.content.decode(self.encoding, "replace")

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON (``kwargs`` go to :func:`json.loads`); a ``ValueError`` if it is not JSON."""
        return jsonlib.loads(self.content, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # only for names this class does not define: the library's response has them, or no one does
        try:
            raw = object.__getattribute__(self, "raw") if name != "raw" else None
        except AttributeError:  # half made (unpickling)
            raw = None
        if raw is None or name.startswith("__"):
            raise AttributeError("{!r} object has no attribute {!r}".format(type(self).__name__, name))
        value = getattr(raw, name)
        warnings.warn(
            "AsyncResponse.{0} is not part of httsleep's response: read response.raw.{0} ({1}'s own)".format(
                name, type(raw).__module__.split(".")[0]
            ),
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    def __repr__(self) -> str:
        return "<AsyncResponse [{}]>".format(self.status_code)

    def __getstate__(self) -> Dict[str, Any]:  # the libraries' responses (and aiohttp's header proxy) do not pickle
        state = {name: getattr(self, name) for name in self.__slots__ if name != "raw"}
        state["headers"] = self.headers.copy()  # httpx: Headers; aiohttp: a CIMultiDict of the proxy
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self.raw = None
