"""httsleep.is_temp_network_error: dugong's classification, seen through requests' wrappers.

Must-show 4. The leaf cases follow dugong's ``is_temp_network_error``
(seed 004): timeouts, resets, refusals, aborts, broken pipes, the errno
codes of an unreachable or downed network, and TLS connections that end
without a proper close are temporary; DNS failures and invalid URLs are
not. The wrapped cases are the exception chains requests really raises:
most are produced by real sockets on loopback, the DNS chain (no resolver
here) is assembled from the real classes in the order requests nests them.
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import socket
import ssl
from typing import Any

import pytest
import requests
import urllib3.exceptions
from faultservers import LateServer, garbage, hang_up, reset, silent, tls_eof, truncated

from httsleep import is_temp_network_error
from httsleep.transient import TEMPORARY_ERRNOS

DUGONG_ERRNOS = ["EHOSTUNREACH", "ENETDOWN", "ENETUNREACH", "EHOSTDOWN", "EPIPE", "ETIMEDOUT", "ECONNRESET",
                 "ECONNREFUSED", "ECONNABORTED"]


@pytest.mark.parametrize("name", DUGONG_ERRNOS)
def test_the_errno_codes_of_a_network_in_trouble_are_temporary(name):
    code = getattr(errno, name)
    assert code in TEMPORARY_ERRNOS
    assert is_temp_network_error(OSError(code, "as the OS says it"))


@pytest.mark.parametrize(
    "exc",
    [
        socket.timeout("timed out"),
        TimeoutError(),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionAbortedError(errno.ECONNABORTED, "Software caused connection abort"),
        BrokenPipeError(errno.EPIPE, "Broken pipe"),
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
        ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"),
        ssl.SSLSyscallError(5, "Some I/O error occurred"),
        http.client.RemoteDisconnected("Remote end closed connection without response"),
        http.client.IncompleteRead(b"partial", 10),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
    ],
    ids=repr,
)
def test_dugongs_temporary_failures_are_temporary(exc):
    assert is_temp_network_error(exc)


@pytest.mark.parametrize(
    "exc",
    [
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        socket.herror(1, "Unknown host"),
        ssl.SSLCertVerificationError(1, "certificate verify failed"),
        ssl.SSLError(1, "wrong version number"),
        http.client.BadStatusLine("SSH-2.0-OpenSSH"),
        OSError(errno.ENOENT, "No such file or directory"),
        requests.exceptions.InvalidURL("Failed to parse: http://[::1"),
        requests.exceptions.MissingSchema("Invalid URL 'example.com': No scheme supplied"),
        requests.exceptions.InvalidSchema("No connection adapters were found for 'ftp://host/'"),
        ValueError("not a network error"),
        KeyError("status"),
    ],
    ids=repr,
)
def test_dns_failures_invalid_urls_and_other_errors_are_not_temporary(exc):
    assert not is_temp_network_error(exc)


def _raised_by(url: str, **options) -> BaseException:
    with pytest.raises(requests.RequestException) as caught:
        requests.get(url, timeout=options.pop("timeout", 5), **options)
    return caught.value


def test_a_refused_connection_is_temporary_through_requests_wrappers():
    """ConnectionError > MaxRetryError > NewConnectionError > ConnectionRefusedError."""
    with LateServer() as late:
        exc = _raised_by(late.url)
    assert isinstance(exc, requests.ConnectionError)
    assert isinstance(exc.args[0], urllib3.exceptions.MaxRetryError)
    assert is_temp_network_error(exc)


def test_a_reset_is_temporary_through_requests_wrappers():
    """ConnectionError > ProtocolError > ConnectionResetError."""
    with reset() as server:
        exc = _raised_by(server.url)
    assert isinstance(exc.args[0], urllib3.exceptions.ProtocolError)
    assert is_temp_network_error(exc)


def test_a_read_timeout_is_temporary_through_requests_wrappers():
    with silent() as server:
        exc = _raised_by(server.url, timeout=0.1)
    assert isinstance(exc, requests.ReadTimeout)
    assert is_temp_network_error(exc)


def test_a_connection_closed_before_the_answer_is_temporary_through_requests_wrappers():
    """ConnectionError > ProtocolError > RemoteDisconnected (which is also a BadStatusLine)."""
    with hang_up() as server:
        exc = _raised_by(server.url)
    assert "RemoteDisconnected" in repr(exc)
    assert is_temp_network_error(exc)


@pytest.mark.skipif(urllib3.__version__.startswith("1."), reason="urllib3 1.x returns a truncated body silently")
def test_a_truncated_body_is_temporary_through_requests_wrappers():
    """ChunkedEncodingError > ProtocolError > IncompleteRead."""
    with truncated() as server:
        exc = _raised_by(server.url)
    assert isinstance(exc, requests.exceptions.ChunkedEncodingError)
    assert is_temp_network_error(exc)


def test_garbage_instead_of_http_is_not_temporary_even_inside_the_wrappers():
    """ConnectionError > ProtocolError > BadStatusLine: the wrappers alone would say temporary."""
    with garbage() as server:
        exc = _raised_by(server.url)
    assert isinstance(exc, requests.ConnectionError)
    assert not is_temp_network_error(exc)


def test_a_tls_eof_is_temporary_inside_requests_sslerror():
    """requests' SSLError > MaxRetryError > urllib3 SSLError > ssl.SSLEOFError."""
    with tls_eof() as server:
        exc = _raised_by(server.url.replace("http://", "https://"))
    assert isinstance(exc, requests.exceptions.SSLError)
    assert is_temp_network_error(exc)


def _dns_failure(code: int, message: str) -> requests.ConnectionError:
    """A failed lookup as requests raises it: ConnectionError > MaxRetryError > NameResolutionError
    (urllib3 2; NewConnectionError in urllib3 1.x) caused by a gaierror."""
    gai = socket.gaierror(code, message)
    if hasattr(urllib3.exceptions, "NameResolutionError"):
        resolution = urllib3.exceptions.NameResolutionError("nowhere.invalid", None, gai)  # type: ignore[arg-type]
    else:  # pragma: no cover - urllib3 1.x
        resolution = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: " + message)
    resolution.__cause__ = gai
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", resolution))  # type: ignore[arg-type]


def test_a_dns_failure_is_not_temporary_through_requests_wrappers():
    exc = _dns_failure(socket.EAI_NONAME, "Name or service not known")
    assert not is_temp_network_error(exc)
    assert not is_temp_network_error(exc.args[0])


def test_a_dns_try_again_is_temporary_through_requests_wrappers():
    assert is_temp_network_error(_dns_failure(socket.EAI_AGAIN, "Temporary failure in name resolution"))


def test_an_invalid_url_is_not_temporary_as_requests_raises_it():
    exc = _raised_by("http://[::1/")
    assert isinstance(exc, requests.exceptions.InvalidURL)
    assert not is_temp_network_error(exc)


def test_a_bare_connection_error_wrapper_counts_as_temporary():
    """A requests ConnectionError with nothing recognisable inside is a connection-level failure."""
    assert is_temp_network_error(requests.ConnectionError("connection broke somehow"))


def test_a_cycle_in_the_exception_chain_does_not_loop():
    first, second = ValueError("a"), KeyError("b")
    first.__context__, second.__context__ = second, first
    assert not is_temp_network_error(first)


@pytest.mark.parametrize(
    "fault, temporary",
    [(reset, True), (hang_up, True), (truncated, True), (LateServer, True), (garbage, False)],
    ids=["reset", "hang-up", "truncated", "refused", "garbage"],
)
def test_httpx_errors_from_real_sockets_are_classified_like_requests_ones(fault, temporary):
    """httpx > httpcore > h11 or OSError chains: the same verdicts as with requests."""
    httpx = pytest.importorskip("httpx")
    with fault() as server:
        with pytest.raises(httpx.TransportError) as caught:
            httpx.get(server.url, timeout=5)
    assert is_temp_network_error(caught.value) is temporary


@pytest.mark.parametrize(
    "fault, temporary",
    [(reset, True), (hang_up, True), (truncated, True), (LateServer, True), (garbage, False)],
    ids=["reset", "hang-up", "truncated", "refused", "garbage"],
)
def test_aiohttp_errors_from_real_sockets_are_classified_like_requests_ones(fault, temporary):
    """What aiohttp raises for each fault, reading the body raw as httsleep does: the same verdicts."""
    aiohttp = pytest.importorskip("aiohttp")

    async def get(url):
        async with aiohttp.ClientSession() as session:
            async with session.get(url, auto_decompress=False, timeout=aiohttp.ClientTimeout(total=5)) as response:
                await response.read()

    with fault() as server:
        with pytest.raises(aiohttp.ClientError) as caught:
            asyncio.run(get(server.url))
    assert is_temp_network_error(caught.value) is temporary, repr(caught.value)


def test_an_httpx_dns_failure_is_not_temporary():
    httpx = pytest.importorskip("httpx")
    request = httpx.Request("GET", "http://nowhere.invalid/")
    exc = httpx.ConnectError("[Errno -2] Name or service not known", request=request)
    exc.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert not is_temp_network_error(exc)


def test_httpx_errors_are_classified_too():
    httpx = pytest.importorskip("httpx")
    request = httpx.Request("GET", "http://127.0.0.1/")
    assert is_temp_network_error(httpx.ConnectError("refused", request=request))
    assert is_temp_network_error(httpx.ReadTimeout("slow", request=request))
    assert not is_temp_network_error(httpx.UnsupportedProtocol("ftp", request=request))


@pytest.mark.parametrize(
    "exc",
    [
        MemoryError(),
        requests.exceptions.ConnectionError(MemoryError()),
        http.client.HTTPException("got more than 100 headers"),
        requests.exceptions.ConnectionError(
            urllib3.exceptions.ProtocolError(
                "Connection aborted.", http.client.HTTPException("got more than 100 headers")
            )
        ),
    ],
    ids=["MemoryError", "MemoryError-wrapped", "too-many-headers", "too-many-headers-wrapped"],
)
def test_a_body_too_big_to_hold_and_too_many_headers_are_not_temporary(exc):
    """Trying again would get the same: retry_transient must not download a bomb again and again."""
    assert not is_temp_network_error(exc)


def test_httsleeps_body_errors_are_not_temporary():
    from httsleep import BodyDecodingError, BodyTooLarge, JSONTooDeep

    for error in (BodyTooLarge(10, 11), BodyDecodingError("bad gzip"), JSONTooDeep()):
        assert not is_temp_network_error(error)


# -- a proxy that refuses the credentials: never retried (issue 18, point 8) ----------------------------------


def _refusing_proxy() -> Any:
    """A proxy that answers every CONNECT with 407, counting them."""
    import socket as socket_module

    from faultservers import RawServer, read_head

    def handler(conn: socket_module.socket, server: Any) -> None:
        head, _ = read_head(conn)
        server.connects = getattr(server, "connects", 0) + (1 if head and head.startswith(b"CONNECT") else 0)
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                     b"Content-Length: 0\r\n\r\n")

    return RawServer(handler)


@pytest.mark.parametrize("front", ["sync", "async", "aiohttp"])
def test_a_proxys_407_to_connect_is_not_retried_with_the_same_credentials(front):
    import asyncio

    import aiohttp
    import httpx
    import requests

    from httsleep import AsyncHttSleeper, HttSleeper

    with _refusing_proxy() as proxy:
        proxy_url = "http://user:proxy-pw@127.0.0.1:{}".format(proxy.port)
        options = dict(status_code=200, retry_transient=True, max_retries=4, polling_interval=0)
        with pytest.raises(Exception) as caught:
            if front == "sync":
                with requests.Session() as session:
                    session.proxies = {"https": proxy_url}
                    HttSleeper("https://127.0.0.2:1/job", session=session, **options).run()
            else:

                async def poll() -> Any:
                    if front == "aiohttp":
                        async with aiohttp.ClientSession(proxy=proxy_url) as session:
                            return await AsyncHttSleeper("https://127.0.0.2:1/job", client=session, **options).run()
                    async with httpx.AsyncClient(proxy=proxy_url) as client:
                        return await AsyncHttSleeper("https://127.0.0.2:1/job", client=client, **options).run()

                asyncio.run(poll())
    assert not is_temp_network_error(caught.value)
    assert proxy.connects == 1
