"""br and zstd bodies: decoded by httsleep with bounded memory, like gzip and deflate.

The decoder (``httsleep._body.BodyReader``) is tested without I/O, with
real brotli and zstd data, zstd through both of its back ends
(``backports.zstd``/``compression.zstd``, which take an output limit, and
the ``zstandard`` package, fed a few bytes at a time); bombs of a GiB of
zeros stop at the limit, in memory measured in a subprocess; and real
servers answer br and zstd bodies, and bombs, to every front end.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any, Iterator, List, Optional

import brotli
import httpx
import pytest
import requests
import zstandard
from faultservers import Reply, ScriptedServer
from fronts import FRONTS, run
from hypothesis import given, settings
from hypothesis import strategies as st

import httsleep._body as body
from httsleep import BodyDecodingError, BodyTooLarge
from httsleep._body import MAX_CODINGS, BodyReader, accept_encoding, decodable_codings

#: the standard library's zstd (Python 3.14), or its backport
stdlib_zstd: Any = importlib.import_module("compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd")

DOC = {"status": "SUCCESS", "items": list(range(20000)), "text": "h\u00e9llo " * 500}
DOCUMENT = json.dumps(DOC).encode()
LIMIT = 10 * 1024 * 1024
GIB = 1 << 30
MIB = b"\0" * (1 << 20)

#: the two ways httsleep decodes zstd: the standard library's module (or its backport), or zstandard
ZSTD_BACKENDS = ["zstd", "zstandard"]


@pytest.fixture(params=ZSTD_BACKENDS)
def zstd_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Decode zstd with one back end or the other (the module-level choice, patched)."""
    module = stdlib_zstd if request.param == "zstd" else zstandard
    monkeypatch.setattr(body, "_ZSTD", (request.param, module))
    return str(request.param)


def br(data: bytes) -> bytes:
    return bytes(brotli.compress(data, quality=5))  # the default (11) takes half a second for DOCUMENT


def zstd_frame(data: bytes, compressor: str = "zstd") -> bytes:
    if compressor == "zstandard":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return bytes(stdlib_zstd.compress(data))


def read(pieces: List[bytes], content_encoding: str = "", limit: Optional[int] = None) -> bytes:
    reader = BodyReader(content_encoding, limit)
    for piece in pieces:
        reader.feed(piece)
    return reader.finish()


def in_pieces(data: bytes, size: int) -> List[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def cut(data: bytes, points: List[int]) -> List[bytes]:
    points = sorted({point % (len(data) + 1) for point in points})
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)])]


# -- bombs: a GiB of zeros, compressed as a stream (never held whole) ---------------------------------


def br_bomb(mebibytes: int = 1024) -> bytes:
    """``mebibytes`` MiB of zeros as one complete br stream (a GiB: about 190 KB, built in 0.1 s)."""
    compressor = brotli.Compressor(quality=1)
    return b"".join(compressor.process(MIB) for _ in range(mebibytes)) + compressor.finish()


def zstd_bomb(mebibytes: int = 1024) -> bytes:
    """``mebibytes`` MiB of zeros as one complete zstd frame (a GiB: about 32 KB)."""
    compressor = stdlib_zstd.ZstdCompressor(level=1)
    return b"".join(compressor.compress(MIB) for _ in range(mebibytes)) + compressor.flush()


@pytest.fixture(scope="module")
def bombs() -> dict:
    return {"br": br_bomb(), "zstd": zstd_bomb()}


def test_the_bombs_are_what_they_claim():
    """The same recipe, smaller: a complete stream of zeros, decoded whole by the libraries themselves."""
    assert brotli.decompress(br_bomb(3)) == MIB * 3
    assert stdlib_zstd.decompress(zstd_bomb(3)) == MIB * 3
    assert zstandard.ZstdDecompressor().decompressobj().decompress(zstd_bomb(3)) == MIB * 3


# -- what is decoded, and asked for ---------------------------------------------------------------


def test_br_and_zstd_are_decodable_here_and_asked_for_as_requests_does():
    assert decodable_codings() == {"gzip", "x-gzip", "deflate", "identity", "br", "zstd"}
    assert body.ACCEPT_ENCODING == "gzip, deflate, br, zstd"
    # what requests and httpx send by default (with brotli, backports.zstd and zstandard installed) is kept
    library_defaults = [requests.utils.default_headers()["Accept-Encoding"], httpx.Client().headers["Accept-Encoding"]]
    for default in library_defaults:
        assert accept_encoding(default) == default


def test_without_a_module_that_can_bound_it_a_coding_is_neither_asked_for_nor_decoded(monkeypatch):
    monkeypatch.setattr(body, "_BROTLI", None)
    monkeypatch.setattr(body, "_ZSTD", None)
    assert decodable_codings() == {"gzip", "x-gzip", "deflate", "identity"}
    assert body.ACCEPT_ENCODING == "gzip, deflate"
    assert accept_encoding("gzip, deflate, br, zstd") == "gzip, deflate"
    assert accept_encoding("gzip,deflate,br") == "gzip, deflate"  # a list that changes is rewritten
    assert accept_encoding("gzip,deflate") == "gzip,deflate"  # one that does not is sent as it is
    assert accept_encoding("br;q=1.0, zstd") == "identity"
    # passed through as they are, as requests and httpx do for codings they do not know
    assert read([DOCUMENT], "br") == DOCUMENT
    assert read([DOCUMENT], "zstd") == DOCUMENT


def test_accept_encoding_keeps_the_order_and_the_weights_of_what_it_keeps():
    assert accept_encoding("zstd;q=1.0, br;q=0.9, compress, gzip;q=0.5") == "zstd;q=1.0, br;q=0.9, gzip;q=0.5"
    assert accept_encoding("gzip, deflate, br, zstd") == "gzip, deflate, br, zstd"
    assert accept_encoding("*") == "identity"
    assert accept_encoding("") == ""


class _OldDecompressor:
    """Brotli < 1.2: process() takes no output limit."""

    def process(self, data: bytes) -> bytes:
        return b""

    def is_finished(self) -> bool:
        return False


class _OldBrotli:
    error = Exception
    Decompressor = _OldDecompressor


def test_a_brotli_whose_decompressor_takes_no_output_limit_is_not_used():
    assert not body._bounded_brotli(_OldBrotli)
    assert body._bounded_brotli(brotli)


def test_importing_the_body_module_imports_no_compression_module():
    """``import httsleep`` must stay cheap: brotli and zstd are imported when a body or the header needs them."""
    code = textwrap.dedent(
        """
        import sys
        import httsleep._body as body
        modules = ("brotli", "brotlicffi", "backports.zstd", "compression.zstd", "zstandard")
        assert not [name for name in modules if name in sys.modules], sys.modules.keys()
        assert "br" in body.decodable_codings()
        assert "brotli" in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_what_is_installed_decides_what_is_decoded():
    """Without brotli and the standard library's zstd: no br, and zstd with zstandard (httpx's module)."""
    code = textwrap.dedent(
        """
        import sys
        for name in ("brotli", "brotlicffi", "compression", "backports.zstd"):
            sys.modules[name] = None  # as if not installed: importing it raises ImportError
        import zstandard
        import httsleep._body as body
        assert body.decodable_codings() == {"gzip", "x-gzip", "deflate", "identity", "zstd"}
        assert body.ACCEPT_ENCODING == "gzip, deflate, zstd"
        assert body._zstd()[0] == "zstandard"
        reader = body.BodyReader("zstd", None)
        reader.feed(zstandard.ZstdCompressor().compress(b"ok"))
        assert reader.finish() == b"ok"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- the decoder, without I/O ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, 64 * 1024, None])
def test_a_br_body_decodes_fed_whole_or_in_pieces(size):
    data = br(DOCUMENT)
    assert read(in_pieces(data, size) if size else [data], "br") == DOCUMENT


@pytest.mark.parametrize("compressor", ["zstd", "zstandard"])
@pytest.mark.parametrize("size", [1, 7, 64 * 1024, None])
def test_a_zstd_body_decodes_fed_whole_or_in_pieces(zstd_backend, compressor, size):
    data = zstd_frame(DOCUMENT, compressor)
    assert read(in_pieces(data, size) if size else [data], "zstd") == DOCUMENT


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000) | st.just(DOCUMENT),
    coding=st.sampled_from(["br", "zstd"]),
    points=st.lists(st.integers(min_value=0, max_value=100_000), max_size=20),
)
def test_any_cut_of_a_valid_br_or_zstd_stream_decodes_to_the_original(data, coding, points):
    encoded = br(data) if coding == "br" else zstd_frame(data)
    assert read(cut(encoded, points), coding) == data


def test_zstd_frames_one_after_another_are_decoded_whole(zstd_backend):
    skippable = struct.pack("<II", 0x184D2A50, 5) + b"skip!"  # RFC 8878: a frame to ignore
    frames = zstd_frame(DOCUMENT[:1000]) + skippable + zstd_frame(DOCUMENT[1000:5000], "zstandard")
    frames += zstd_frame(b"") + zstd_frame(DOCUMENT[5000:])
    assert read([frames], "zstd") == DOCUMENT
    assert read(in_pieces(frames, 1), "zstd") == DOCUMENT
    assert read(in_pieces(frames, 1000), "zstd") == DOCUMENT


@pytest.mark.parametrize(
    "content_encoding, encode",
    [
        ("gzip, br", lambda data: br(gzip.compress(data))),
        ("br, gzip", lambda data: gzip.compress(br(data))),
        ("deflate, zstd", lambda data: zstd_frame(zlib.compress(data))),
        ("zstd, br", lambda data: br(zstd_frame(data))),
        ("br, zstd, gzip", lambda data: gzip.compress(zstd_frame(br(data)))),
    ],
)
def test_stacked_codings_are_decoded_in_reverse_order(zstd_backend, content_encoding, encode):
    encoded = encode(DOCUMENT)
    assert read([encoded], content_encoding) == DOCUMENT
    assert read(in_pieces(encoded, 1), content_encoding) == DOCUMENT


def test_more_codings_than_allowed_are_refused_br_and_zstd_included():
    with pytest.raises(BodyDecodingError, match="at most 5 are decoded"):
        BodyReader(", ".join(["br", "zstd", "gzip"] * 2), None)
    assert MAX_CODINGS == 5


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_an_empty_body_is_empty_whatever_its_coding(zstd_backend, coding):
    """A 204, a HEAD or a 304 may name a Content-Encoding with no body: nothing to decode, no error."""
    assert read([], coding) == b""
    assert read([b""], coding) == b""


def test_a_body_that_is_not_br_is_a_body_decoding_error():
    with pytest.raises(BodyDecodingError, match=r"the body is not valid br data \("):
        read([b"definitely not brotli"], "br")
    with pytest.raises(BodyDecodingError, match=r"the body is not valid br data \("):
        read(in_pieces(b"definitely not brotli" * 100, 1), "br")


def test_a_body_that_is_not_zstd_is_a_body_decoding_error(zstd_backend):
    with pytest.raises(BodyDecodingError, match=r"the body is not valid zstd data \("):
        read([b"definitely not zstd"], "zstd")
    with pytest.raises(BodyDecodingError, match=r"the body is not valid zstd data \("):
        read(in_pieces(b"definitely not zstd", 1), "zstd")
    corrupt = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(DOCUMENT))
    corrupt[len(corrupt) // 2] ^= 0xFF  # the checksum no longer matches, if nothing else does
    with pytest.raises(BodyDecodingError, match=r"the body is not valid zstd data \("):
        read([bytes(corrupt)], "zstd")


@pytest.mark.parametrize("coding", ["br", "zstd"])
@pytest.mark.parametrize("missing", [1, 5, 100])
def test_a_stream_that_ends_before_its_end_marker_is_a_body_decoding_error(zstd_backend, coding, missing):
    encoded = br(DOCUMENT) if coding == "br" else zstd_frame(DOCUMENT)
    with pytest.raises(BodyDecodingError, match="the {} data ends before its end marker".format(coding)):
        read([encoded[:-missing]], coding)
    with pytest.raises(BodyDecodingError, match="the {} data ends before its end marker".format(coding)):
        read(in_pieces(encoded[:-missing], 1), coding)


@pytest.mark.parametrize("tail", [b"\r\n", b"\n", b"\x00\x00\x00", b"trailing garbage", b"\x28\xb5", b"x" * 1000])
@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_bytes_after_the_end_of_a_br_or_zstd_body_are_ignored_as_for_gzip(zstd_backend, coding, tail):
    encoded = br(DOCUMENT) if coding == "br" else zstd_frame(DOCUMENT)
    assert read([encoded + tail], coding) == DOCUMENT
    assert read([encoded, tail], coding) == DOCUMENT
    assert read(in_pieces(encoded + tail, 3), coding) == DOCUMENT


def test_what_follows_a_zstd_frame_and_begins_like_one_but_is_not_is_ignored_too(zstd_backend):
    """As for a gzip member after the first: garbage that began like a frame (even a cut one) is ignored."""
    encoded = zstd_frame(DOCUMENT)
    assert read([encoded + b"\x28\xb5\x2f\xfd" + b"garbage"], "zstd") == DOCUMENT
    assert read([encoded + zstd_frame(b"more")[:-3]], "zstd").startswith(DOCUMENT)  # no error: a cut later frame


@pytest.mark.parametrize("pieces", [lambda data: [data + b"x" * 1100], lambda data: [data, b"x" * 1100]])
def test_more_than_a_kib_after_the_end_of_a_br_body_is_an_error_as_in_requests(pieces):
    """brotli refuses bytes past the end of its stream (requests and httpx fail on any): httsleep holds the
    body's last KiB back and feeds it a byte at a time at the end, to ignore at most that much."""
    with pytest.raises(BodyDecodingError, match="not valid br data"):
        read(pieces(br(DOCUMENT)), "br")


# -- bombs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [None, 64 * 1024, 1])
def test_a_br_bomb_stops_just_past_the_limit(bombs, size):
    """A GiB of zeros in about 190 KB: decoding stops within a step (64 KiB) of the limit, however it arrives."""
    bomb = bombs["br"][: 200 * 1024] if size == 1 else bombs["br"]  # a byte at a time: a prefix is enough
    with pytest.raises(BodyTooLarge) as caught:
        read(in_pieces(bomb, size) if size else [bomb], "br", limit=LIMIT)
    assert LIMIT < caught.value.size <= LIMIT + 64 * 1024


@pytest.mark.parametrize("size", [None, 64 * 1024, 1])
def test_a_zstd_bomb_stops_just_past_the_limit(bombs, zstd_backend, size):
    with pytest.raises(BodyTooLarge) as caught:
        read(in_pieces(bombs["zstd"], size) if size else [bombs["zstd"]], "zstd", limit=LIMIT)
    assert LIMIT < caught.value.size <= LIMIT + 64 * 1024


def test_a_stacked_bomb_stops_just_past_the_limit(bombs):
    """zstd inside br: each layer is decoded a bounded step at a time."""
    with pytest.raises(BodyTooLarge) as caught:
        read([br(bombs["zstd"])], "zstd, br", limit=LIMIT)
    assert LIMIT < caught.value.size <= LIMIT + 64 * 1024


def zstd_steps(data: bytes, backend: Any) -> Iterator[bytes]:
    decoder = body._Unzstd("zstd", BodyDecodingError, backend)
    yield from decoder.feed(data)


def test_the_zstandard_back_end_is_fed_a_few_bytes_at_a_time_so_no_call_decodes_much():
    """zstandard's decompressor has no output limit: 16 bytes at a time, one call decodes at most 512 KiB."""
    largest = max(len(piece) for piece in zstd_steps(zstd_bomb(64), ("zstandard", zstandard)))
    assert largest <= 64 * 1024
    # the bound the slice is chosen by: a block decodes to at most 128 KiB and takes at least 4 bytes
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    bomb, step = zstd_bomb(64), body._ZSTANDARD_SLICE
    calls = [decompressor.decompress(bomb[start : start + step]) for start in range(0, len(bomb), step)]
    assert max(len(output) for output in calls) <= step // 4 * 128 * 1024 == 512 * 1024


# -- memory, measured in a subprocess ----------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression fails here, not the machine

    import httsleep._body as body
    from httsleep import BodyTooLarge

    path, coding, backend, limit = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    if backend == "zstandard":
        import zstandard
        body._ZSTD = ("zstandard", zstandard)

    def status(field):  # kB in /proc/self/status; VmHWM is this process's own peak (ru_maxrss is not:
        with open("/proc/self/status") as lines:  # after fork and exec it still counts the parent's)
            return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))

    with open(path, "rb") as source:
        data = source.read()
    assert coding in body.decodable_codings()  # the compression modules are imported before measuring
    used = body._ZSTD[0] if coding == "zstd" else body._BROTLI.__name__
    before = status("VmRSS")
    reader = body.BodyReader(coding, limit)
    try:
        for start in range(0, len(data), 65536):
            reader.feed(data[start : start + 65536])
        size = len(reader.finish())
        outcome = {"error": None, "size": size}
    except BodyTooLarge as error:
        outcome = {"error": type(error).__name__, "size": error.size}
    outcome.update(before=before, peak=status("VmHWM"), used=used)
    print(json.dumps(outcome))
    """
)


def measure(tmp_path: Path, data: bytes, coding: str, backend: str = "zstd", limit: Optional[int] = LIMIT) -> dict:
    """Decode ``data`` in a fresh interpreter capped at 2 GiB; return what it raised and its memory."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("reads /proc/self/status")
    path = tmp_path / "body"
    path.write_bytes(data)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), coding, backend, json.dumps(limit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize("coding, backend", [("br", "brotli"), ("zstd", "zstd"), ("zstd", "zstandard")])
def test_a_gib_bomb_costs_about_the_limit_in_memory(tmp_path, bombs, coding, backend):
    found = measure(tmp_path, bombs[coding], coding, backend)
    assert found["used"] == backend
    assert found["error"] == "BodyTooLarge"
    assert LIMIT < found["size"] <= LIMIT + 64 * 1024
    assert found["peak"] - found["before"] < 3 * LIMIT, found


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_the_memory_measurement_sees_a_body_held_whole(tmp_path, coding):
    """The control for the test above: without a limit, 100 MiB of zeros shows as 100 MiB more."""
    bomb = br_bomb(100) if coding == "br" else zstd_bomb(100)
    found = measure(tmp_path, bomb, coding, "brotli" if coding == "br" else "zstd", limit=None)
    assert found["error"] is None and found["size"] == 100 * len(MIB)
    assert found["peak"] - found["before"] > 90 * len(MIB), found


# -- over real sockets, on every front end ------------------------------------------------------------


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, br", "br, zstd"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_br_or_zstd_body_is_decoded_on_every_front_end(front, coding):
    """A server may send a coding unasked: the body is decoded all the same."""
    data = DOCUMENT
    for layer in coding.split(", "):
        data = gzip.compress(data) if layer == "gzip" else encoded_layer(data, layer)
    reply = Reply(body=data, headers={"Content-Type": "application/json", "Content-Encoding": coding})
    with ScriptedServer([reply]) as server:
        response = run(front, server.url, status_code=200)
    assert response.json() == DOC


def encoded_layer(data: bytes, coding: str) -> bytes:
    return br(data) if coding == "br" else zstd_frame(data)


@pytest.mark.parametrize("coding", ["br", "zstd"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_broken_br_or_zstd_body_is_a_body_decoding_error_on_every_front_end(front, coding, fake_time):
    garbled = b"definitely not compressed"
    reply = Reply(body=garbled, headers={"Content-Encoding": coding})
    with ScriptedServer([reply]) as server, pytest.raises(BodyDecodingError, match="not valid {} data".format(coding)):
        run(front, server.url, status_code=200)


@pytest.mark.parametrize("coding", ["br", "zstd"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_bomb_over_the_wire_is_body_too_large_on_every_front_end(front, coding, bombs):
    reply = Reply(body=bombs[coding], headers={"Content-Type": "application/json", "Content-Encoding": coding})
    with ScriptedServer([reply]) as server, pytest.raises(BodyTooLarge) as caught:
        run(front, server.url, status_code=200, max_body_size=LIMIT)
    assert LIMIT < caught.value.size <= LIMIT + 256 * 1024


# -- what is asked for: the HTTP library's own default ------------------------------------------------------


def _library_default(front: str) -> str:
    if front == "sync":
        return requests.utils.default_headers()["Accept-Encoding"]
    if front == "async":
        return httpx.Client().headers["Accept-Encoding"]
    import aiohttp.client_reqrep

    return aiohttp.client_reqrep._gen_default_accept_encoding()


@pytest.mark.parametrize("front", FRONTS)
def test_a_poll_asks_for_what_its_http_library_asks_for_by_default(front):
    """With brotli and a zstd module installed, httsleep decodes all of it: the library's default goes out as it is."""
    with ScriptedServer([Reply(json={"status": "DONE"})]) as server:
        run(front, server.url, status_code=200)
    sent = server.requests[-1].headers["accept-encoding"]
    assert sent == _library_default(front)
    assert "br" in sent  # brotli is installed here: the case 0.3.1's own suite checks against requests
