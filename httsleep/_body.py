"""Reading a response body with bounded memory, whatever the server sends. No I/O here.

A transport feeds :class:`BodyReader` the raw bytes of a body as they come
off the wire (de-chunked, but still content-encoded) and gets back the
decoded body, or :class:`~httsleep.exceptions.BodyTooLarge` as soon as the
decoded size passes the limit. Every content coding is decoded here, step
by step with a bounded output per step, so that a 10 MB bomb that would
inflate to 10 GB costs no more than the limit: the HTTP clients' own
decoders inflate a whole network read at once.

- gzip and deflate: always, with :mod:`zlib`;
- br: with ``brotli`` (or ``brotlicffi``), from version 1.2, whose
  decompressor takes an output limit: an older one cannot be bounded, and
  br is then neither asked for nor decoded (passed through as it is);
- zstd: with :mod:`compression.zstd` (Python 3.14) or ``backports.zstd``,
  which take an output limit, else with ``zstandard``, fed a few bytes at a
  time so that each call's output stays bounded.

These modules are imported the first time a body or :func:`decodable_codings`
needs one, never when this module is imported. (``pip install
httsleep[compression]`` installs brotli, and backports.zstd before Python
3.14.)

Because httsleep decodes bodies itself, it asks servers only for what it
can decode: :func:`accept_encoding` keeps an HTTP library's default
``Accept-Encoding`` when httsleep decodes every coding in it, and
:data:`ACCEPT_ENCODING` is all that httsleep decodes here. And
:func:`text_encoding` says how to turn a decoded body into text.
"""

from __future__ import annotations

import codecs
import importlib
import zlib
from typing import Any, Callable, FrozenSet, Generator, Iterator, List, Optional, Tuple, Type

from .exceptions import BodyDecodingError, BodyTooLarge

__all__ = [
    "ACCEPT_ENCODING",
    "MAX_CODINGS",
    "BodyReader",
    "accept_encoding",
    "decodable_codings",
    "decoders_for",
    "is_text_codec",
    "text_encoding",
]

#: The ``Accept-Encoding`` of what :class:`BodyReader` decodes here: ``gzip, deflate``, then ``br`` and
#: ``zstd`` when their modules are installed (computed on first use: see the module's ``__getattr__``).
ACCEPT_ENCODING: str

#: The most content codings one body may stack (``gzip, gzip, ...``); more is refused.
MAX_CODINGS = 5

# The most output one decompression step may produce: the limit is checked between steps.
_STEP = 64 * 1024

# The codings decoded whatever is installed.
_ALWAYS = frozenset({"gzip", "x-gzip", "deflate", "identity"})


def _pieces(output: bytes) -> Iterator[bytes]:
    """``output`` in pieces of at most :data:`_STEP` bytes."""
    if len(output) <= _STEP:
        if output:
            yield output
        return
    for start in range(0, len(output), _STEP):
        yield output[start : start + _STEP]


class _Decoder:
    """One content coding, decoded with a bounded output per step."""

    coding: str

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode ``data``; yield the output in pieces of at most 64 KiB."""
        raise NotImplementedError

    def finish(self) -> Iterator[bytes]:
        """The end of the body: what is still held, and a check that the stream was complete."""
        raise NotImplementedError


class _Inflater(_Decoder):
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


# -- brotli --------------------------------------------------------------------------------------

_UNKNOWN: Any = object()  # not looked for yet

#: The brotli module whose decompressor can be bounded (None: none is); found on first use.
_BROTLI: Any = _UNKNOWN

# How many of a br body's last bytes are held back, then decoded one at a time at its end: brotli's
# decompressor fails when given bytes past the end of its stream (and the output of that call is lost),
# so feeding the end a byte at a time finds the stream's end exactly and ignores what follows it, as
# for gzip. More bytes than this after the end is a decoding error (requests and httpx refuse any).
_BROTLI_TAIL = 1024


def _bounded_brotli(module: Any) -> bool:
    """Whether ``module``'s decompressor takes an output limit (Brotli >= 1.2, brotlicffi >= 1.2.0.0).

    The limit is a keyword of a C function (no signature to inspect): a trial call on an empty stream tells.
    """
    try:
        decompressor = module.Decompressor()
        decompressor.process(b"", output_buffer_limit=_STEP)  # TypeError before 1.2 (and in brotlipy)
        return decompressor.can_accept_more_data() is True and decompressor.is_finished() is False
    except Exception:  # TypeError, AttributeError, brotli.error: not a module httsleep can bound
        return False


def _brotli() -> Any:
    """The brotli module httsleep decodes br with, or None: imported and checked once, on first use."""
    global _BROTLI
    if _BROTLI is _UNKNOWN:
        found = None
        for name in ("brotli", "brotlicffi"):  # the C extension first: the faster one, when both are there
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            if _bounded_brotli(module):
                found = module
                break
        _BROTLI = found
    return _BROTLI


class _Unbrotli(_Decoder):
    """A br coding, decoded with bounded output per step (``output_buffer_limit``)."""

    def __init__(self, coding: str, error: Callable[[str], BodyDecodingError], module: Any) -> None:
        self.coding = coding
        self._error = error
        self._errors: Tuple[Type[BaseException], ...] = (module.error,)
        self._object = module.Decompressor()
        self._tail = b""  # the last bytes received, decoded at the end (see _BROTLI_TAIL)
        self._started = False  # some data was received

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        self._started = True
        data = self._tail + data
        cut = max(len(data) - _BROTLI_TAIL, 0)
        self._tail = data[cut:]
        yield from self._decode(data[:cut])

    def finish(self) -> Iterator[bytes]:
        tail, self._tail = self._tail, b""
        for index in range(len(tail)):
            if self._object.is_finished():
                break  # bytes after the end of the stream: ignored, as for gzip
            yield from self._decode(tail[index : index + 1])
        if self._started and not self._object.is_finished():
            raise self._error("the {} data ends before its end marker".format(self.coding))

    def _decode(self, data: bytes) -> Iterator[bytes]:
        decompressor = self._object
        if not data or decompressor.is_finished():
            return  # bytes after the end of the stream: ignored
        try:
            output = decompressor.process(data, output_buffer_limit=_STEP)
            # Then what the limit held back, a step at a time, until a step brings nothing and no input waits
            # (can_accept_more_data() alone is not enough: Brotli's says True with output still held back).
            while output or not decompressor.can_accept_more_data():
                yield from _pieces(output)
                if decompressor.is_finished():
                    return
                output = decompressor.process(b"", output_buffer_limit=_STEP)
        except self._errors as error:
            raise self._error("the body is not valid {} data ({})".format(self.coding, error)) from None


# -- zstd ----------------------------------------------------------------------------------------

#: The zstd decoder: ("zstd", compression.zstd or backports.zstd), ("zstandard", zstandard), or None
#: when none is installed; found on first use.
_ZSTD: Any = _UNKNOWN

# The bytes the zstandard package's decompressor (which has no output limit) is given per call. A zstd
# block decodes to at most 128 KiB and takes at least 4 bytes (3 of header, 1 for an RLE block; a
# compressed block more), and no output comes before a block is complete (but a raw block's, which is no
# larger than its input): 16 bytes complete at most 4 blocks, so one call decodes to at most 512 KiB.
_ZSTANDARD_SLICE = 16

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _zstd() -> Optional[Tuple[str, Any]]:
    """How httsleep decodes zstd, or None: looked for once, on first use."""
    global _ZSTD
    if _ZSTD is _UNKNOWN:
        found: Optional[Tuple[str, Any]] = None
        for name in ("compression.zstd", "backports.zstd"):  # the standard library's, from Python 3.14
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            if hasattr(module, "ZstdDecompressor"):
                found = ("zstd", module)
                break
        if found is None:
            try:
                module = importlib.import_module("zstandard")
            except ImportError:
                pass
            else:
                try:
                    probe: Any = module.ZstdDecompressor().decompressobj()
                except Exception:  # not a zstandard httsleep can use
                    probe = None
                if hasattr(probe, "eof") and hasattr(probe, "unused_data"):  # zstandard 0.15 (2021) on
                    found = ("zstandard", module)
        _ZSTD = found
    return _ZSTD


def _starts_a_zstd_frame(data: bytes) -> bool:
    """Whether ``data`` begins like a zstd frame, or a skippable frame (RFC 8878), as far as it goes."""
    head = data[:4]
    if _ZSTD_MAGIC.startswith(head):
        return True
    return head[0] & 0xF0 == 0x50 and b"\x2a\x4d\x18".startswith(head[1:])


class _Unzstd(_Decoder):
    """A zstd coding, decoded with bounded output per step; frames one after another are decoded whole."""

    def __init__(self, coding: str, error: Callable[[str], BodyDecodingError], backend: Tuple[str, Any]) -> None:
        self.coding = coding
        self._error = error
        self._kind, self._module = backend
        self._errors: Tuple[Type[BaseException], ...] = (self._module.ZstdError, EOFError)
        self._object = self._new()
        self._started = False  # some data was received
        self._done = False  # the frame ended; only another frame may follow
        self._later = False  # decoding a frame after the first: what does not decode is trailing garbage
        self._ignoring = False  # the rest of the body follows the end of the stream: ignored

    def _new(self) -> Any:
        if self._kind == "zstandard":
            return self._module.ZstdDecompressor().decompressobj()
        return self._module.ZstdDecompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._ignoring:
            if self._done:
                if not _starts_a_zstd_frame(data):
                    self._ignoring = True  # bytes after the end of the stream: ignored, as for gzip
                    return
                self._object, self._done, self._later = self._new(), False, True  # the next frame
            self._started = True
            try:
                data = yield from (self._sliced(data) if self._kind == "zstandard" else self._limited(data))
            except self._errors as error:
                if self._later:  # garbage that began like a frame: ignored too, as for gzip
                    self._ignoring = True
                    return
                raise self._error("the body is not valid {} data ({})".format(self.coding, error)) from None

    def _limited(self, data: bytes) -> Generator[bytes, None, bytes]:
        """Decode ``data`` in steps of ``max_length``; return what follows the frame if it ended."""
        decompressor = self._object
        while True:
            output = decompressor.decompress(data, max_length=_STEP)
            data = b""
            if output:
                yield output
            if decompressor.eof:
                self._done = True
                return bytes(decompressor.unused_data)
            if decompressor.needs_input:
                return b""
            # more output held back: taken a step at a time

    def _sliced(self, data: bytes) -> Generator[bytes, None, bytes]:
        """Decode ``data`` a slice at a time (see _ZSTANDARD_SLICE); return what follows the frame if it ended."""
        decompressor = self._object
        view = memoryview(data)
        for start in range(0, len(data), _ZSTANDARD_SLICE):
            yield from _pieces(decompressor.decompress(view[start : start + _ZSTANDARD_SLICE]))
            if decompressor.eof:
                self._done = True
                return bytes(decompressor.unused_data) + data[start + _ZSTANDARD_SLICE :]
        return b""

    def finish(self) -> Iterator[bytes]:
        # the decoders hold no output between feeds: only the check that the stream was complete
        if self._started and not self._done and not self._later and not self._ignoring:
            raise self._error("the {} data ends before its end marker".format(self.coding))
        yield from ()


# -- what is decoded, and asked for ------------------------------------------------------------------


def decodable_codings() -> FrozenSet[str]:
    """The content codings :class:`BodyReader` decodes here, with bounded memory.

    Always ``gzip``, ``x-gzip``, ``deflate`` and ``identity``; ``br`` when
    Brotli (or brotlicffi) 1.2 or later is installed; ``zstd`` when
    :mod:`compression.zstd`, ``backports.zstd`` or ``zstandard`` is. The
    first call imports those modules.
    """
    codings = set(_ALWAYS)
    if _brotli() is not None:
        codings.add("br")
    if _zstd() is not None:
        codings.add("zstd")
    return frozenset(codings)


def accept_encoding(library_default: str) -> str:
    """The ``Accept-Encoding`` to send instead of an HTTP library's default one.

    ``library_default`` itself when httsleep decodes every coding it lists;
    otherwise only those it decodes, in the same order (``identity`` if
    none is left).

    >>> accept_encoding("gzip, deflate")
    'gzip, deflate'
    >>> accept_encoding("gzip, deflate, compress")
    'gzip, deflate'
    """
    decodable = decodable_codings()
    offered = [part.strip() for part in library_default.split(",") if part.strip()]
    kept = [part for part in offered if part.split(";", 1)[0].strip().lower() in decodable]
    if len(kept) == len(offered):
        return library_default
    return ", ".join(kept) or "identity"


def _accept_encoding() -> str:
    decodable = decodable_codings()
    return ", ".join(coding for coding in ("gzip", "deflate", "br", "zstd") if coding in decodable)


def __getattr__(name: str) -> str:
    """:data:`ACCEPT_ENCODING`, computed when asked for (it imports the brotli and zstd modules)."""
    if name == "ACCEPT_ENCODING":
        return _accept_encoding()
    raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))


def decoders_for(
    content_encoding: Optional[str], error: Callable[[str], BodyDecodingError] = BodyDecodingError
) -> List[_Decoder]:
    """The decoders for a ``Content-Encoding`` header, in the order to apply them.

    ``identity`` and codings httsleep does not decode (``compress``, or
    ``br`` and ``zstd`` without their modules: codings it does not ask for)
    are passed through as they are, as requests and httpx do for codings
    they do not know.
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
    decoders: List[_Decoder] = []
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip", "deflate"):
            decoders.append(_Inflater(coding, error))
        elif coding == "br":
            brotli = _brotli()
            if brotli is not None:
                decoders.append(_Unbrotli(coding, error, brotli))
        elif coding == "zstd":
            zstd = _zstd()
            if zstd is not None:
                decoders.append(_Unzstd(coding, error, zstd))
    return decoders


#: How many raw bytes a compressed body may take, per decoded byte allowed (see :func:`max_raw_bytes`).
RAW_FACTOR = 2
#: ... plus this much, for the framing of a small body.
RAW_SLACK = 1024 * 1024


def max_raw_bytes(limit: int) -> int:
    """The most raw (content-encoded) bytes a body with ``max_body_size=limit`` may send: ``2 * limit + 1 MiB``.

    A compressed body is smaller than what it decodes to; one that keeps
    sending bytes that decode to nothing (padding after the end of a gzip
    stream, empty deflate blocks) is stopped here instead of running for as
    long as the server sends.
    """
    return RAW_FACTOR * limit + RAW_SLACK


class BodyReader:
    """Collects a body from raw pieces, decoding it, never holding more than ``limit`` decoded bytes.

    :param content_encoding: the response's ``Content-Encoding`` header.
    :param limit: the most decoded bytes accepted (``None``: no limit).
    :param response: the response the body belongs to, for the error.
    :param decoding_error: makes the error raised for a body that is not
        valid data of its coding (gzip, deflate, br, zstd), from a message (each transport gives one
        that is also its HTTP library's decoding error).
    :param earlier: decoded bytes already read for the same attempt (the
        bodies of the redirects before this response): they count against
        ``limit`` too, so that a chain of redirects cannot hold more.
    :raises BodyTooLarge: from :meth:`feed`/:meth:`finish`, once the decoded
        body is larger than ``limit``, or its raw (content-encoded) bytes more
        than :func:`max_raw_bytes` of it.
    :raises BodyDecodingError: the body is not valid for its ``Content-Encoding``.
    """

    __slots__ = ("limit", "response", "size", "earlier", "raw", "_raw_limit", "_chunks", "_decoders")

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
        #: raw bytes of this body received so far (as they came off the wire, content-encoded)
        self.raw = 0
        self._raw_limit = None if limit is None else max_raw_bytes(limit)
        self._chunks: List[bytes] = []
        self._decoders = decoders_for(content_encoding, decoding_error)

    def feed(self, raw: bytes) -> None:
        """Take the next raw piece of the body."""
        if not self._decoders:
            self._keep(raw)
            return
        for piece in self._through(0, raw):
            self._keep(piece)
        self.raw += len(raw)
        if self._raw_limit is not None and self.raw > self._raw_limit:  # endless bytes that decode to (almost) nothing
            self._chunks = []
            raise BodyTooLarge(
                self.limit or 0, self.earlier + self.size, self.response, earlier=self.earlier, raw=self.raw
            )

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
