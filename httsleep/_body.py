"""Reading a response body with bounded memory, whatever the server sends. No I/O here.

A transport feeds :class:`BodyReader` the raw bytes of a body as they come
off the wire (de-chunked, but still content-encoded) and gets back the
decoded body, or :class:`~httsleep.exceptions.BodyTooLarge` as soon as the
decoded size passes the limit. gzip and deflate are decoded here, step by
step with a bounded output per step, so that a 10 MB gzip bomb that would
inflate to 10 GB costs no more than the limit: the HTTP clients' own
decoders inflate a whole network read at once.

Because httsleep decodes bodies itself, it asks servers only for what it
can decode: :data:`ACCEPT_ENCODING`. And :func:`text_encoding` says how to
turn a decoded body into text.
"""

from __future__ import annotations

import codecs
import zlib
from typing import Any, Callable, Iterator, List, Optional

from .exceptions import BodyDecodingError, BodyTooLarge

__all__ = ["ACCEPT_ENCODING", "MAX_CODINGS", "BodyReader", "decoders_for", "is_text_codec", "text_encoding"]

#: The ``Accept-Encoding`` httsleep sends, unless the caller set one: what :class:`BodyReader` decodes.
ACCEPT_ENCODING = "gzip, deflate"

#: The most content codings one body may stack (``gzip, gzip, ...``); more is refused.
MAX_CODINGS = 5

# The most output one decompression step may produce: the limit is checked between steps.
_STEP = 64 * 1024


class _Inflater:
    """One gzip or deflate coding, decoded with bounded output per step."""

    def __init__(self, coding: str, error: Callable[[str], BodyDecodingError]) -> None:
        self.coding = coding
        self._error = error
        self._gzip = coding in ("gzip", "x-gzip")
        # deflate is zlib-wrapped, or raw (some servers send that): told apart by the first two bytes
        self._object: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None
        self._head = b""  # deflate: the first bytes, until there are two
        self._started = False  # some data was decoded
        self._done = False  # the stream ended; only another gzip member may follow
        self._later = False  # decoding a gzip member after the first: what does not decode is trailing garbage

    def _new(self) -> Any:
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _choose_deflate(self, data: bytes) -> bytes:
        """Buffer the first two bytes of a deflate body; once they are there, pick the decompressor."""
        data = self._head + data
        if len(data) < 2:
            self._head = data
            return b""
        self._head = b""
        wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0  # a zlib header (RFC 1950)
        self._object = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return data

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode ``data``; yield the output in pieces of at most 64 KiB."""
        if self._object is None:
            data = self._choose_deflate(data)
        while data:
            if self._done:
                data = data.lstrip(b"\x00")
                if not data or not self._gzip or not data.startswith(b"\x1f\x8b"[: len(data)]):
                    return  # bytes after the end of the stream (padding, a stray CRLF): ignored, as the clients do
                self._object, self._done, self._later = self._new(), False, True  # the next member of a gzip
            try:
                piece = self._object.decompress(data, _STEP)
            except zlib.error as error:
                if self._later:  # garbage that began like a gzip member: ignored too, as urllib3 does
                    self._done = True
                    self._gzip = False  # ignore whatever else comes
                    return
                raise self._error("the body is not valid {} data ({})".format(self.coding, error)) from None
            self._started = True
            if piece:
                yield piece
            if self._object.eof:
                self._done = True
                data = self._object.unused_data
            else:
                data = self._object.unconsumed_tail
        # output that zlib holds back once the input is used up, a step at a time
        while self._object is not None and not self._done:
            piece = self._object.decompress(b"", _STEP)
            if not piece:
                break
            yield piece

    def finish(self) -> Iterator[bytes]:
        """The end of the body: what zlib still holds, and a check that the stream was complete."""
        yield from self.feed(b"")
        if self._head or (self._started and not self._done and not self._later):
            raise self._error("the {} data ends before its end marker".format(self.coding))


def decoders_for(
    content_encoding: Optional[str], error: Callable[[str], BodyDecodingError] = BodyDecodingError
) -> List[_Inflater]:
    """The decoders for a ``Content-Encoding`` header, in the order to apply them.

    ``identity`` and codings httsleep does not decode (``br``, ``zstd``...,
    which it never asks for) are passed through as they are, as requests
    and httpx do for codings they do not know.
    """
    if not content_encoding:
        return []
    codings = [part.strip().lower() for part in content_encoding.split(",") if part.strip()]
    if len(codings) > MAX_CODINGS:
        raise error(
            "the body has {} content codings ({}); at most {} are decoded".format(
                len(codings), content_encoding[:100], MAX_CODINGS
            )
        )
    return [_Inflater(coding, error) for coding in reversed(codings) if coding in ("gzip", "x-gzip", "deflate")]


class BodyReader:
    """Collects a body from raw pieces, decoding it, never holding more than ``limit`` decoded bytes.

    :param content_encoding: the response's ``Content-Encoding`` header.
    :param limit: the most decoded bytes accepted (``None``: no limit).
    :param response: the response the body belongs to, for the error.
    :param decoding_error: makes the error raised for a body that is not
        valid gzip/deflate data, from a message (each transport gives one
        that is also its HTTP library's decoding error).
    :param earlier: decoded bytes already read for the same attempt (the
        bodies of the redirects before this response): they count against
        ``limit`` too, so that a chain of redirects cannot hold more.
    :raises BodyTooLarge: from :meth:`feed`/:meth:`finish`, once the decoded
        body is larger than ``limit``.
    :raises BodyDecodingError: the body is not valid for its ``Content-Encoding``.
    """

    __slots__ = ("limit", "response", "size", "earlier", "_chunks", "_decoders")

    def __init__(
        self,
        content_encoding: Optional[str],
        limit: Optional[int],
        response: Any = None,
        decoding_error: Callable[[str], BodyDecodingError] = BodyDecodingError,
        earlier: int = 0,
    ) -> None:
        self.limit = limit
        self.response = response
        #: decoded bytes of this body received so far
        self.size = 0
        self.earlier = earlier
        self._chunks: List[bytes] = []
        self._decoders = decoders_for(content_encoding, decoding_error)

    def feed(self, raw: bytes) -> None:
        """Take the next raw piece of the body."""
        if not self._decoders:
            self._keep(raw)
            return
        for piece in self._through(0, raw):
            self._keep(piece)

    def finish(self) -> bytes:
        """The whole decoded body (call once the raw body has ended)."""
        for index, decoder in enumerate(self._decoders):
            for piece in decoder.finish():
                for decoded in self._through(index + 1, piece):
                    self._keep(decoded)
        body = b"".join(self._chunks)
        self._chunks = []
        return body

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        """``data`` decoded by the decoders from ``index`` on, in bounded pieces."""
        if index == len(self._decoders):
            yield data
            return
        for piece in self._decoders[index].feed(data):
            yield from self._through(index + 1, piece)

    def _keep(self, piece: bytes) -> None:
        if not piece:
            return
        self.size += len(piece)
        if self.limit is not None and self.earlier + self.size > self.limit:
            self._chunks = []
            raise BodyTooLarge(self.limit, self.earlier + self.size, self.response, earlier=self.earlier)
        self._chunks.append(piece)


def text_encoding(headers: Any) -> str:
    """The codec for a body's text: the charset of the ``Content-Type``, if Python has it as a text encoding.

    Otherwise ``utf-8``: no charset, an unknown one, or one that is not a
    text encoding (``base64``, ``zlib``: bytes to bytes; ``undefined``:
    always fails), which a server may send to make a client raise.

    >>> text_encoding({"Content-Type": 'text/plain; charset="ISO-8859-1"'}), text_encoding({})
    ('iso8859-1', 'utf-8')
    >>> text_encoding({"Content-Type": "text/plain; charset=base64"})
    'utf-8'
    """
    content_type = headers.get("Content-Type", "") if headers is not None else ""
    for parameter in str(content_type).split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
            return codecs.lookup(charset).name if is_text_codec(charset) else "utf-8"
    return "utf-8"


def is_text_codec(name: str) -> bool:
    """Whether Python has ``name`` as a codec that decodes bytes to text (``undefined`` always fails)."""
    try:
        b"a".decode(name, "replace")  # b"" would not be decoded at all
    except (LookupError, UnicodeError):
        return False
    return True
