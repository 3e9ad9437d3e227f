"""The ``httsleep`` command: stdout, stderr and exit code of every outcome, credentials never shown.

Scenario tests run the command twice: as a real subprocess (``python -m
httsleep``, what users run) and in-process through :func:`httsleep.cli.main`
with an injected clock (fast, and measured by coverage). Every run, in every
test, is checked for the credentials given on its command line.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import certifi
import pytest
import requests
from werkzeug import Response

import httsleep
import httsleep.main
from httsleep import cli
from httsleep._jobserver import JobServer, job_body
from httsleep._validate import shorten

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

PASSWORD = "S3cr3t-pass"
TOKEN = "T0ken-abc123"
COOKIE = "C00kie-xyz789"
URL_PASSWORD = "Url-pa55word"
API_KEY = "Ap1-k3y-456"
QUERY_TOKEN = "Qu3ry-t0ken"
SECRETS = [
    PASSWORD,
    TOKEN,
    COOKIE,
    URL_PASSWORD,
    API_KEY,
    QUERY_TOKEN,
    base64.b64encode("alice:{}".format(PASSWORD).encode()).decode(),
]
#: Credentials in every way the command line accepts them.
CREDENTIALS = [
    "-u", "alice:" + PASSWORD, "-H", "Authorization: Bearer " + TOKEN, "-H", "Cookie: sid=" + COOKIE,
    "-H", "X-Api-Key: " + API_KEY,
]


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str

    @property
    def lines(self) -> List[str]:
        return self.stderr.splitlines()


def assert_no_secrets(result: Result) -> None:
    shown = result.stdout.decode("utf-8", "replace") + result.stderr
    for secret in SECRETS:
        assert secret not in shown


def run_subprocess(args: List[str], **kwargs: Any) -> Result:
    """``python -m httsleep ARGS`` in a child process."""
    completed = subprocess.run(
        [sys.executable, "-m", "httsleep", *args], capture_output=True, timeout=60, **kwargs
    )
    result = Result(completed.returncode, completed.stdout, completed.stderr.decode("utf-8", "replace"))
    assert_no_secrets(result)
    return result


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def _streams(tty: bool) -> Iterator[Any]:
    out = io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8")
    stderr = _Terminal() if tty else io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr  # type: ignore[assignment]
    try:
        yield out, stdout, stderr
    finally:
        sys.stdout, sys.stderr = saved


def run_in_process(args: List[str], tty: bool = False) -> Result:
    """``cli.main(ARGS)`` with stdout and stderr captured; ``tty`` makes stderr look like a terminal."""
    with _streams(tty) as (out, stdout, stderr):
        code = cli.main(args)
        stdout.flush()
    result = Result(code, out.getvalue(), stderr.getvalue())
    assert_no_secrets(result)
    return result


@pytest.fixture(params=["subprocess", "in-process"])
def httsleep_cmd(request: pytest.FixtureRequest) -> Callable[..., Result]:
    """Runs the command one way or the other (in-process with injected time)."""
    if request.param == "subprocess":
        return run_subprocess
    request.getfixturevalue("fake_time")
    return run_in_process


@pytest.fixture
def jobs() -> Iterator[JobServer]:
    """A fresh job server (/job succeeds on the 3rd GET, /failing-job fails on the 2nd; /never stays PENDING)."""
    with JobServer({"/job": ["PENDING", "RUNNING", "SUCCESS"], "/failing-job": ["PENDING", "ERROR"],
                    "/never": ["PENDING"]}) as server:
        yield server


def with_userinfo(url: str) -> str:
    """``url`` with a password and, in its query, an access token."""
    return url.replace("http://", "http://bob:{}@".format(URL_PASSWORD)) + "?access_token=" + QUERY_TOKEN


def shown_url(url: str) -> str:
    """How messages show :func:`with_userinfo`'s URL: its password and its token hidden."""
    return url.replace("http://", "http://***@") + "?access_token=***"


def body_of(path: str, state: str) -> bytes:
    return json.dumps(job_body(path.strip("/"), state)).encode()


CONDITIONS = ["--jsonpath", "status=SUCCESS", "--alarm-jsonpath", "status=ERROR"]


# -- one scenario per exit code ---------------------------------------------------------------------


def test_success_prints_the_body_exactly_and_nothing_else_on_stdout(httsleep_cmd, jobs):
    """Exit 0: stdout is the matching body byte for byte, so that `| jq` works; -q keeps stderr silent."""
    result = httsleep_cmd([with_userinfo(jobs.url("/job")), *CONDITIONS, "--interval", "0.05", "-q", *CREDENTIALS])
    assert (result.code, result.stdout, result.stderr) == (0, body_of("/job", "SUCCESS"), "")
    assert jobs.hits["/job"] == 3


def test_in_a_log_the_poll_says_it_started_and_shows_attempts_at_most_every_5_seconds(jobs, fake_time):
    """stderr not a terminal (a CI log): a start line, the first attempt, then a line per 5 s, and the last."""
    result = run_in_process([jobs.url("/never"), *CONDITIONS, "--interval", "1", "--max-retries", "12"])
    assert result.code == 3
    assert result.lines[0].startswith("httsleep: polling GET {} every 1s until".format(jobs.url("/never")))
    attempts = [int(line.split(" | ")[0].split()[-1]) for line in result.lines if " | " in line]
    assert attempts[0] == 1 and attempts[-1] == 12
    assert 3 <= len(attempts) < 12  # some, not all: at most one every 5 s of (fake) time


def test_quiet_silences_the_progress_in_a_log(jobs, fake_time):
    result = run_in_process([jobs.url("/never"), *CONDITIONS, "--interval", "1", "--max-retries", "3", "-q"])
    assert result.code == 3 and len(result.lines) == 1 and result.lines[0].startswith("httsleep: gave up")


def test_verbose_writes_one_line_per_attempt_on_stderr(httsleep_cmd, jobs):
    result = httsleep_cmd([with_userinfo(jobs.url("/job")), *CONDITIONS, "--interval", "0.05", "-v", *CREDENTIALS])
    assert result.code == 0
    assert result.stdout == body_of("/job", "SUCCESS")
    attempts = [line for line in result.lines if " | " in line]
    assert [line.split(" | ")[0] for line in attempts] == ["httsleep: attempt {}".format(n) for n in (1, 2, 3)]
    body = body_of("/job", "RUNNING").decode()
    assert 'HTTP 200 OK status="RUNNING" body: {} | next try in 0.05s'.format(body) in attempts[1]
    assert attempts[2].endswith("| matched")
    assert "http://***@127.0.0.1" in result.lines[0]  # the URL is shown, its password is not


def test_alarm_exits_1_with_the_condition_and_what_the_server_said_on_stderr(httsleep_cmd, jobs):
    """Without -v: the one line people look for in a CI log says "ran out of disk space"."""
    result = httsleep_cmd([with_userinfo(jobs.url("/failing-job")), *CONDITIONS, "--interval", "0.05", "-q",
                           *CREDENTIALS])
    assert (result.code, result.stdout) == (1, b"")
    assert result.lines == [
        "httsleep: alarm: GET {}: response matched an alarm condition: <Condition jsonpath[status == 'ERROR']> "
        "(HTTP 200; body: {})".format(shown_url(jobs.url("/failing-job")), body_of("/failing-job", "ERROR").decode())
    ]
    assert "the build ran out of disk space" in result.stderr


def test_alarm_with_verbose_shows_each_body_on_stderr(httsleep_cmd, jobs):
    result = httsleep_cmd([jobs.url("/failing-job"), *CONDITIONS, "--interval", "0", "-v", *CREDENTIALS])
    assert result.code == 1
    assert "body: " + body_of("/failing-job", "PENDING").decode() in result.lines[1]
    assert result.lines[-1].startswith("httsleep: alarm: ")


def test_usage_error_exits_2_and_names_the_argument(httsleep_cmd, jobs):
    """One line names the problem; the whole usage block is not repeated (--help has it)."""
    result = httsleep_cmd([jobs.url("/job"), "--status-code", "abc", *CREDENTIALS])
    assert (result.code, result.stdout) == (2, b"")
    assert result.lines == [
        "httsleep: error: argument --status-code: expected an HTTP status code, a class such as 2xx, or a list "
        "such as 200,201, got 'abc' (see httsleep --help)"
    ]
    assert jobs.hits["/job"] == 0


def test_gave_up_after_max_retries_exits_3(httsleep_cmd, jobs):
    result = httsleep_cmd([with_userinfo(jobs.url("/never")), *CONDITIONS, "--interval", "0.05",
                           "--max-retries", "2", *CREDENTIALS])
    assert (result.code, result.stdout) == (3, b"")
    line = result.lines[-1]
    assert line.startswith("httsleep: gave up polling GET http://***@127.0.0.1:")
    assert "after 2 attempts" in line and "max_retries=2 reached" in line and "HTTP 200 OK" in line
    assert jobs.hits["/never"] == 2


def test_gave_up_at_the_deadline_exits_3_within_the_deadline(httsleep_cmd, jobs):
    """The first wait (1 s) would pass the deadline (0.5 s): httsleep gives up at once rather than wait for it.

    The first attempt has 0.5 s to end, so that a busy machine still ends it before the deadline.
    """
    started = time.monotonic()
    result = httsleep_cmd([jobs.url("/never"), *CONDITIONS, "--interval", "1", "--timeout", "0.5",
                           "--max-retries", "none", *CREDENTIALS])
    assert (result.code, result.stdout) == (3, b"")
    assert "after 1 attempt in " in result.stderr
    assert "timeout=0.5s would pass during the next wait of 1s (interval)" in result.stderr
    assert jobs.hits["/never"] == 1
    start_up = 5 if httsleep_cmd is run_subprocess else 0  # interpreter start-up for the subprocess run
    assert time.monotonic() - started < 0.5 + start_up


def test_connection_refused_exits_4_with_no_retry_transient(httsleep_cmd, free_port):
    result = httsleep_cmd([with_userinfo("http://127.0.0.1:{}/job".format(free_port)), "--no-retry-transient", "-q",
                           *CREDENTIALS])
    assert (result.code, result.stdout) == (4, b"")
    line, hint = result.lines
    assert line.startswith("httsleep: request failed: ConnectionError: ")
    assert "Connection refused" in line or "refused" in line.lower()
    assert hint == "httsleep: hint: a temporary failure: without --no-retry-transient, httsleep polls through it"


def test_by_default_refused_connections_are_polled_through_then_the_limit_gives_up(httsleep_cmd, free_port):
    result = httsleep_cmd(["http://127.0.0.1:{}/job".format(free_port), "--interval", "0.01",
                           "--max-retries", "3", *CREDENTIALS])
    assert result.code == 3
    assert "after 3 attempts" in result.stderr and "last error: ConnectionError" in result.stderr


@pytest.mark.parametrize("status, options", [(200, ["--no-retry-non-json"]),
                                             (502, ["--no-retry-non-json", "--no-retry-transient"])])
def test_a_body_that_is_not_json_is_polled_through_unless_no_retry_non_json(httsleep_cmd, httpserver, status,
                                                                            options):
    """A 5xx page is a temporary failure (--retry-transient, on by default) even with --no-retry-non-json."""
    def serve(count: int) -> None:
        pages = iter([Response("<html>maintenance</html>", status=status, content_type="text/html")] * count)
        httpserver.clear()
        httpserver.expect_request("/job").respond_with_handler(
            lambda request: next(pages, None)
            or Response(json.dumps({"status": "SUCCESS"}), content_type="application/json")
        )

    url = httpserver.url_for("/job")
    serve(2)
    result = httsleep_cmd([url, "--jsonpath", "status=SUCCESS", "--interval", "0", *options, "-q", *CREDENTIALS])
    assert (result.code, result.stdout) == (4, b"")
    assert result.lines[0].startswith("httsleep: error: GET {}: HTTP {} ".format(url, status))
    assert "with a body a JSON condition cannot read (body: <html>maintenance</html>)" in result.lines[0]
    assert "--no-retry-non-json" in result.lines[0]
    serve(2)
    result = httsleep_cmd([url, "--jsonpath", "status=SUCCESS", "--interval", "0", *options[1:], *CREDENTIALS])
    assert (result.code, result.stdout) == (0, b'{"status": "SUCCESS"}')


@pytest.fixture
def free_port() -> Iterator[int]:
    """A port nothing listens on: bound without listening for the whole test, so connections are refused
    and no other server (of a test suite running alongside, say) can take it meanwhile."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# -- the live status line -------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_live_status_line_on_a_terminal_shows_attempt_elapsed_status_and_next_wait(jobs):
    """With stderr on a pty, one line is rewritten in place with \\r, and ended by a newline."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "httsleep", with_userinfo(jobs.url("/job")), *CONDITIONS, "--interval", "0.05",
         *CREDENTIALS],
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stdout = process.stdout.read() if process.stdout else b""
    assert process.wait(timeout=30) == 0
    screen = b"".join(chunks).decode()
    result = Result(0, stdout, screen)
    assert_no_secrets(result)
    assert stdout == body_of("/job", "SUCCESS")
    updates = screen.split("\r")
    assert updates[0] == ""  # each update starts at the beginning of the line
    assert re.fullmatch(
        r'httsleep: attempt 1 \| \d+\.\d\ds elapsed \| HTTP 200 OK status="PENDING" \| next try in 0\.05s\s*',
        updates[1],
    )
    assert updates[2].startswith("httsleep: attempt 2 |") and 'status="RUNNING"' in updates[2]
    assert updates[3].startswith("httsleep: attempt 3 |") and updates[3].rstrip().endswith("| matched")
    assert screen.endswith("\n")  # the line is ended once, at the end (the pty adds \r before it)
    assert screen.count("\n") == 1


def test_live_line_is_padded_over_a_longer_previous_line(jobs):
    result = run_in_process([jobs.url("/failing-job"), *CONDITIONS, "--interval", "0"], tty=True)
    live, after = result.stderr.split("\n", 1)
    first, second = live.split("\r")[1:]
    assert len(first) > len(second.rstrip())  # "next try in 0.00s" is longer than "ALARM"...
    assert len(second) == len(first)  # ...so spaces cover the rest of the first
    assert after.startswith("httsleep: alarm: ")


def test_verbose_on_a_terminal_writes_lines_instead_of_the_live_line(jobs, fake_time):
    result = run_in_process([jobs.url("/job"), *CONDITIONS, "--interval", "0", "-v"], tty=True)
    assert "\r" not in result.stderr
    assert len([line for line in result.lines if " | " in line]) == 3


def test_quiet_on_a_terminal_shows_only_errors(jobs, fake_time):
    assert run_in_process([jobs.url("/job"), *CONDITIONS, "--interval", "0", "-q"], tty=True).stderr == ""
    result = run_in_process([jobs.url("/failing-job"), *CONDITIONS, "--interval", "0", "-q"], tty=True)
    assert result.code == 1 and result.lines[0].startswith("httsleep: alarm:")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_live_line_is_cut_to_the_terminal_width():
    """A line longer than the terminal would wrap, and \\r could not rewrite it: it is cut with '...'."""
    import fcntl
    import struct
    import termios

    from httsleep._progress import Progress
    from httsleep.policy import Attempt

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    with open(slave, "w") as terminal:
        progress = Progress(terminal, tick=0)
        progress(Attempt(12, 3.5, None, ConnectionError("refused"), "retry", 2.0, "interval"))
        progress.finish()
    chunks = []
    while True:  # one read may return only part of what was written: read until the closed side reports EIO
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    screen = b"".join(chunks).decode()
    os.close(master)
    assert progress.mode == "live"
    assert screen == "\r" + "attempt 12 | 3.50s elapsed | Connect..." + "\r\n"


def test_progress_writes_lines_on_a_stream_without_isatty():
    from httsleep._progress import Progress
    from httsleep.policy import Attempt

    class Sink:
        written: List[str] = []

        def write(self, text: str) -> None:
            self.written.append(text)

        def flush(self) -> None:
            pass

    progress = Progress(Sink())  # type: ignore[arg-type]
    progress(Attempt(1, 0.0, None, OSError(), "error"))
    progress.finish()
    assert (progress.mode, Sink.written) == ("lines", ["attempt 1 | 0.00s elapsed | OSError | failed\n"])


def test_the_live_line_counts_down_during_a_long_wait():
    """On a terminal, a Retry-After of an hour shows the seconds left, every second, not a frozen line."""
    from httsleep._progress import Progress
    from httsleep.policy import Attempt

    now = [100.0]
    screen = io.StringIO()
    progress = Progress(screen, mode="live", clock=lambda: now[0], tick=1.0)
    attempt = Attempt(1, 0.5, None, ConnectionError(), "retry", 300.0, "Retry-After")
    progress(attempt)
    for _ in range(2):
        now[0] += 1
        progress.show_countdown(attempt)
    progress.finish()
    updates = [update.rstrip() for update in screen.getvalue().split("\r")[1:]]
    assert [update.split(" | ")[-1] for update in updates] == [
        "next try in 300.00s (Retry-After)", "next try in 299s (Retry-After)", "next try in 298s (Retry-After)"
    ]


# -- entry points, help and version -----------------------------------------------------------------


def test_console_script_and_python_m_are_the_same_command(jobs):
    script = shutil.which("httsleep", path=str(BIN))
    if script is None:  # pragma: no cover - the package is installed without its scripts
        pytest.skip("the httsleep console script is not installed next to this Python")
    completed = subprocess.run([script, jobs.url("/job"), "--jsonpath", "status=SUCCESS", "--interval", "0", "-q"],
                               capture_output=True, timeout=60)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, body_of("/job", "SUCCESS"), b"")


def test_help_documents_every_exit_code():
    result = run_subprocess(["--help"])
    assert result.code == 0
    help_text = result.stdout.decode()
    codes = ((0, "a response matched"), (1, "a response matched an alarm"), (2, "usage error"), (3, "gave up"),
             (4, "error: a request failed"), (127, "the COMMAND after -- could not be started"),
             (130, "interrupted"))
    for code, meaning in codes:
        assert re.search(r"^  {:<3} {}".format(code, meaning), help_text, re.M), code
    for option in ("--jsonpath", "--alarm-jsonpath", "--or", "--alarm-or", "--interval", "--max-retries",
                   "--timeout", "--request-timeout", "--retry-transient", "--no-retry-after", "--method",
                   "--header", "--data", "--json-body", "--user", "--cacert", "--insecure", "--verbose", "--quiet"):
        assert option in help_text


def test_help_shows_the_command_after_two_dashes_in_its_usage_line_and_no_section_twice():
    result = run_in_process(["--help"])
    help_text = result.stdout.decode()
    assert result.code == 0
    assert help_text.splitlines()[0] == (
        "usage: httsleep URL [conditions] [limits] [request options] [-v | -q] [--summary FILE] [-- COMMAND ...]")
    titles = [line for line in help_text.splitlines() if re.fullmatch(r"[a-z][^:]*:", line)]
    assert len(titles) == len(set(titles)) and "output:" in titles, titles
    for option in ("--until-json", "--json-body", "--max-body-size"):
        assert option in help_text


def test_version_option_prints_the_package_version():
    """`httsleep --version` prints "httsleep X.Y.Z" on stdout and exits 0."""
    result = run_in_process(["--version"])
    assert (result.code, result.stdout.decode().strip()) == (0, "httsleep {}".format(httsleep.__version__))


# -- usage errors: each names the bad argument, never echoes a credential -------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status-code", "2x"], "argument --status-code: expected an HTTP status code, a class such as 2xx"),
        (["--status-code", "42"], "argument --status-code: expected HTTP status codes from 100 to 599, got '42'"),
        (["--alarm-status-code", "200,6xx"], "argument --alarm-status-code: expected an HTTP status code"),
        (["--json", "{nope"], "argument --json: '{nope' is not valid JSON"),
        (["--until-json", "{nope"], "argument --until-json: '{nope' is not valid JSON"),
        (["--json", "1", "--until-json", "1"], "argument --until-json: given twice in one group of conditions"),
        (["--max-body-size", "10MB"], "argument --max-body-size: expected a number of bytes, with an optional "
         "suffix K, M or G (e.g. 10M), or 'none', got '10MB'"),
        (["--max-body-size", "-1"], "argument --max-body-size: expected a number of bytes"),
        (["--jsonpath", "status"], "argument --jsonpath: expected EXPRESSION=VALUE (e.g. status=SUCCESS)"),
        (["--jsonpath", "=SUCCESS"], "argument --jsonpath: the expression before '=' is empty"),
        (["--alarm-jsonpath", "a..=1"], "argument --alarm-jsonpath: invalid JSONPath expression 'a..'"),
        (["--interval", "soon"], "argument --interval: expected a number of seconds, got 'soon'"),
        (["--interval", "-1"], "argument --interval: expected a finite number of seconds >= 0, got '-1'"),
        (["--timeout", "0"], "argument --timeout: expected a number of seconds > 0, got '0'"),
        (["--interval", "1e300"], "argument --interval: expected at most 1e+09 seconds (about 31 years), got '1e300'"),
        (["--request-timeout", "1e300"], "argument --request-timeout: expected at most 1e+09 seconds"),
        (["--max-retries", "many"], "argument --max-retries: expected a whole number or 'none', got 'many'"),
        (["--max-retries", "-2"], "argument --max-retries: expected a number >= 0 or 'none', got '-2'"),
        (["--request-timeout", "1,2,3"], "argument --request-timeout: expected SECONDS or CONNECT,READ"),
        (["--request-timeout", "1,x"], "argument --request-timeout: expected a number of seconds, got 'x'"),
        (["--status-code", "200", "--status-code", "201"],
         "argument --status-code: given twice in one group of conditions; put --or between alternatives"),
        (["--alarm-text", "a", "--alarm-text", "b"], "argument --alarm-text: given twice in one group of conditions; "
         "put --alarm-or between alternatives"),
        (["--or", "--status-code", "200"], "argument --or: must come between two groups of conditions"),
        (["--status-code", "200", "--or"], "argument --or: must come between two groups of conditions"),
        (["--alarm-status-code", "500", "--alarm-or"], "argument --alarm-or: must come between two groups"),
        (["-H", "X-Api-Key " + TOKEN], "argument -H/--header: expected 'Name: value'"),
        (["-u", PASSWORD], "argument -u/--user: expected USER:PASSWORD"),
        (["-X", "GE T"], "argument -X/--method: 'GE T' is not an HTTP method"),
        (["-X", "GET\r\nX-Injected: 1"], "argument -X/--method: 'GET\\r\\nX-Injected: 1' is not an HTTP method"),
        (["--cacert", "/no/such/ca.pem"], "argument --cacert: no such CA bundle: '/no/such/ca.pem'"),
        # the path as messages quote arguments: cut to 80 characters (a clone in a deep folder has a long one)
        (["--cacert", __file__], "argument --cacert: {} is not a CA bundle: ".format(shorten(__file__))),
        (["--cacert", certifi.where(), "-k"], "argument -k/--insecure: not allowed with argument --cacert"),
        (["-d", "x", "--json-body", "{}"], "argument --json-body: not allowed with argument -d/--data"),
        (["-v", "-q"], "argument -q/--quiet: not allowed with argument -v/--verbose"),
        (["--usr", "alice:" + PASSWORD], "unrecognized arguments: --usr (values not shown)"),
        (["--status", "200"], "unrecognized arguments: --status (values not shown)"),  # no abbreviations
        (["http://second.example"], "unrecognized arguments: a stray value after URL (values not shown)"),
    ],
)
def test_usage_errors_name_the_bad_argument(args, message):
    result = run_in_process(["http://127.0.0.1:9/job", *args])
    assert (result.code, result.stdout) == (2, b"")
    assert result.lines[-1].startswith("httsleep: error: " + message)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/job", "argument URL: expected a URL starting with http:// or https://, got 'ftp://"),
        ("127.0.0.1:8000/job", "argument URL: expected an absolute URL such as http://host/path, got"),
        ("http://[::1/job", "argument URL: invalid URL (Invalid IPv6 URL)"),
        ("http://bob:{}@127.0.0.1:http/".format(URL_PASSWORD), "argument URL: the port is not a number from 1 to"),
        ("http://", "argument URL: no host in the URL 'http://'"),
        ("http://127.0.0.1:99999/", "argument URL: the port is not a number from 1 to 65535"),
        ("http://{}.example/".format("a" * 64), "the host name is not valid"),
    ],
)
def test_bad_urls_are_usage_errors(url, message):
    result = run_in_process([url, *CREDENTIALS])
    assert (result.code, result.stdout) == (2, b"")
    [line] = result.lines  # the problem, on one line: no usage block
    assert message in line and line.endswith("(see httsleep --help)")


# -- conditions -----------------------------------------------------------------------------------


def test_or_starts_another_group_of_success_conditions(jobs, fake_time):
    """--status-code 201 never holds, but the second group (status RUNNING) matches on the 2nd GET."""
    result = run_in_process([jobs.url("/job"), "--status-code", "201", "--or", "--jsonpath", "status=RUNNING",
                             "--interval", "0"])
    assert (result.code, result.stdout) == (0, body_of("/job", "RUNNING"))


def test_conditions_in_one_group_must_all_hold(jobs, fake_time):
    """progress=50 and status=SUCCESS never hold together: gives up."""
    result = run_in_process([jobs.url("/job"), "--jsonpath", "status=SUCCESS", "--jsonpath", "progress=50",
                             "--status-code", "200", "--max-retries", "4", "--interval", "0"])
    assert result.code == 3
    assert "jsonpath[status == 'SUCCESS' and progress == 50]" in result.stderr


def test_alarm_or_starts_another_group_of_alarms(jobs, fake_time):
    result = run_in_process([jobs.url("/job"), "--jsonpath", "status=SUCCESS", "--alarm-status-code", "500",
                             "--alarm-or", "--alarm-jsonpath", "progress=50", "--interval", "0"])
    assert result.code == 1
    assert "<Condition jsonpath[progress == 50]>" in result.stderr


@pytest.mark.parametrize(
    ("condition", "matches_on"),
    [
        (["--jsonpath", "progress=100"], 3),  # a JSON number
        (["--jsonpath", 'status="RUNNING"'], 2),  # a JSON string, quoted
        (["--jsonpath", "job=job", "--jsonpath", "status=PENDING"], 1),
        (["--until-json", json.dumps(job_body("job", "RUNNING"))], 2),
        (["--json", json.dumps(job_body("job", "RUNNING"))], 2),  # its old name
        (["--text", body_of("/job", "SUCCESS").decode()], 3),
        (["--status-code", "200"], 1),
        ([], 1),  # no condition: --status-code 200
    ],
)
def test_each_kind_of_condition(jobs, fake_time, condition, matches_on):
    result = run_in_process([jobs.url("/job"), *condition, "--interval", "0"])
    assert result.code == 0
    assert jobs.hits["/job"] == matches_on


def test_alarm_status_code_text_and_json(httpserver, fake_time):
    httpserver.expect_request("/x").respond_with_data("boom", status=500)
    url = httpserver.url_for("/x")
    for alarm in (["--alarm-status-code", "500"], ["--alarm-text", "boom"]):
        result = run_in_process([url, *alarm])
        assert result.code == 1, alarm
    httpserver.clear()
    httpserver.expect_request("/x").respond_with_json({"failed": True})
    assert run_in_process([url, "--alarm-json", '{"failed": true}']).code == 1


@pytest.mark.parametrize(
    ("argument", "expression", "value"),
    [
        ("status=SUCCESS", "status", "SUCCESS"),
        ("count=3", "count", 3),
        ('id="3"', "id", "3"),
        ("done=true", "done", True),
        ("result=null", "result", None),
        ('tags=["a", "b"]', "tags", ["a", "b"]),
        ("message=a=b", "message", "a=b"),  # the first '=' separates
        ("message=", "message", ""),
        ('"a=b".c=x', '"a=b".c', "x"),  # '=' inside quotes belongs to the expression
        ("items[0].status=OK", "items[0].status", "OK"),
    ],
)
def test_jsonpath_argument_is_split_at_the_first_equals_sign_outside_quotes(argument, expression, value):
    args = cli.parse_args(["http://127.0.0.1/", "--jsonpath", argument])
    assert args.until == [{"jsonpath": [{"expression": expression, "value": value}]}]


def test_live_detail_shows_values_found_by_the_conditions_jsonpaths(httpserver, fake_time):
    """Expressions that find nothing, and bodies that are not JSON, add nothing to the line."""
    responses = iter([Response("not json", status=503), Response(json.dumps({"state": {"name": "x" * 60}}))])
    httpserver.expect_request("/x").respond_with_handler(
        lambda request: next(responses, None) or Response(json.dumps({"status": "SUCCESS", "tags": [1, 2]}))
    )
    result = run_in_process([httpserver.url_for("/x"), "--jsonpath", "status=SUCCESS", "--alarm-jsonpath",
                             "state.name=stuck", "--alarm-jsonpath", "tags[*]=[]", "--interval", "0", "-v",
                             "--retry-non-json"])
    attempts = [line.split(" | ")[2].split(" body: ")[0] for line in result.lines if " | " in line]
    assert attempts[0] == "HTTP 503 SERVICE UNAVAILABLE"
    assert attempts[1] == 'HTTP 200 OK state.name="' + "x" * 36 + "..."
    assert attempts[2] == 'HTTP 200 OK status="SUCCESS" tags[*]=[1, 2]'


# -- limits -------------------------------------------------------------------------------------------


def test_interval_and_retry_after(httpserver, fake_time):
    """Retry-After on a 503 is honoured unless --no-retry-after."""
    httpserver.expect_request("/x").respond_with_data("busy", status=503, headers={"Retry-After": "7"})
    url = httpserver.url_for("/x")
    assert run_in_process([url, "--interval", "0.5", "--max-retries", "3"]).code == 3
    assert fake_time.sleeps == [7.0, 7.0]
    fake_time.sleeps.clear()
    result = run_in_process([url, "--interval", "0.5", "--max-retries", "3", "--no-retry-after", "-v"])
    assert fake_time.sleeps == [0.5, 0.5]
    assert "next try in 0.50s" in result.stderr and "(Retry-After)" not in result.stderr


def test_retry_after_is_marked_on_the_progress_line(httpserver, fake_time):
    httpserver.expect_request("/x").respond_with_data("busy", status=503, headers={"Retry-After": "7"})
    result = run_in_process([httpserver.url_for("/x"), "--max-retries", "2", "-v"])
    assert "next try in 7.00s (Retry-After)" in result.stderr


def test_max_retries_none_polls_until_the_deadline(jobs, fake_time):
    result = run_in_process([jobs.url("/never"), "--jsonpath", "status=SUCCESS", "--max-retries", "none",
                             "--interval", "1", "--timeout", "120"])
    assert result.code == 3
    assert jobs.hits["/never"] > 50  # more than the default max_retries


def test_request_timeout_reaches_the_request(monkeypatch, jobs, fake_time):
    seen = []
    original = httsleep.policy.PollRun.request_timeout

    def spy(run):  # type: ignore[no-untyped-def]
        seen.append(original(run))
        return seen[-1]

    monkeypatch.setattr(httsleep.policy.PollRun, "request_timeout", spy)
    assert run_in_process([jobs.url("/job"), "--request-timeout", "1.5,20"]).code == 0
    assert run_in_process([jobs.url("/job"), "--request-timeout", "4"]).code == 0
    assert set(seen) == {(1.5, 20.0), 4.0}


@pytest.mark.slow
def test_request_timeout_ends_a_hung_request(hanging_server):
    started = time.monotonic()
    result = run_subprocess([hanging_server, "--request-timeout", "0.3", "--no-retry-transient", *CREDENTIALS])
    assert result.code == 4
    assert "request failed: ReadTimeout" in result.stderr
    assert time.monotonic() - started < 0.3 + 5


@pytest.fixture
def hanging_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(5)
        yield "http://127.0.0.1:{}/".format(sock.getsockname()[1])


def test_keyboard_interrupt_exits_130_and_ends_the_live_line(monkeypatch, jobs):
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(httsleep.main, "sleep", interrupted)
    result = run_in_process([jobs.url("/job"), "--jsonpath", "status=SUCCESS"], tty=True)
    assert (result.code, result.stdout) == (130, b"")
    assert result.stderr.endswith("next try in 2.00s\nhttsleep: interrupted\n")


# -- the request -----------------------------------------------------------------------------------------


def test_method_headers_data_and_basic_auth_are_sent(httpserver, fake_time):
    auth = "Basic " + base64.b64encode("alice:{}".format(PASSWORD).encode()).decode()
    httpserver.expect_request(
        "/x", method="PUT", data="a=1&b=2",
        headers={"Authorization": auth, "X-Request-Id": "42", "Cookie": "sid=" + COOKIE},
    ).respond_with_data("done")
    result = run_in_process([httpserver.url_for("/x"), "-X", "put", "-d", "a=1&b=2", "-u", "alice:" + PASSWORD,
                             "-H", "X-Request-Id: 42", "-H", "Cookie: sid=" + COOKIE, "--text", "done", "-v"])
    assert (result.code, result.stdout) == (0, b"done")
    assert "polling PUT" in result.stderr


def test_a_body_makes_the_default_method_post(httpserver, fake_time):
    httpserver.expect_request("/x", method="POST", json={"run": [1, 2]},
                              headers={"Content-Type": "application/json"}).respond_with_data('{"ok": true}')
    result = run_in_process([httpserver.url_for("/x"), "--json-body", '{"run": [1, 2]}', "--until-json",
                             '{"ok": true}'])
    assert (result.code, result.stdout) == (0, b'{"ok": true}')


def test_secret_headers_are_redacted_even_in_an_echoing_error(monkeypatch, jobs, fake_time):
    """A request error quoting a header value or the password shows *** instead."""

    def echo(*args: Any, **kwargs: Any) -> None:
        raise ValueError("rejected Bearer {} / X-Api-Key {} / {} / {}".format(TOKEN, "K3y-0987", PASSWORD, COOKIE))

    monkeypatch.setattr(requests.Session, "send", echo)
    result = run_in_process([with_userinfo(jobs.url("/job")), *CREDENTIALS, "-H", "X-Api-Key: K3y-0987", "-q"])
    assert result.code == 4
    assert "K3y-0987" not in result.stderr
    assert result.lines[0] == "httsleep: request failed: ValueError: rejected Bearer *** / X-Api-Key *** / *** / ***"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An HTTPS job server with a certificate from a throwaway CA, and that CA's file."""
    import ssl

    import trustme
    from pytest_httpserver import HTTPServer

    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    server = HTTPServer(ssl_context=context)
    server.expect_request("/job").respond_with_data('{"status": "SUCCESS"}', content_type="application/json")
    server.start()
    try:
        yield server.url_for("/job"), str(ca_file)
    finally:
        server.clear()
        server.stop()


def test_cacert_verifies_the_server(tls, fake_time):
    url, ca_file = tls
    result = run_in_process([url, "--cacert", ca_file, "--jsonpath", "status=SUCCESS"])
    assert (result.code, result.stdout) == (0, b'{"status": "SUCCESS"}')


def test_unverifiable_certificate_exits_4_and_insecure_skips_the_check(tls, fake_time, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    url, _ = tls
    result = run_in_process([url, "-q", *CREDENTIALS])
    assert result.code == 4  # at once: a certificate that does not verify is not a temporary failure
    assert result.lines[0].startswith("httsleep: request failed: SSLError: ")
    assert result.lines[1] == ("httsleep: hint: the server's certificate did not verify: --cacert FILE trusts its CA, "
                               "-k skips the check")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_in_process([url, "-k", "-q", *CREDENTIALS])
    assert (result.code, result.stdout, result.stderr) == (0, b'{"status": "SUCCESS"}', "")
    assert not [warning for warning in caught if "Unverified HTTPS" in str(warning.message)]  # -k was asked for


def test_a_closed_stdout_pipe_is_not_an_error(monkeypatch, jobs, fake_time):
    """`httsleep ... | head -c 1`: the reader leaving early does not turn success into a traceback."""
    read_end, write_end = os.pipe()

    class ClosedPipe(io.BytesIO):
        def write(self, data: Any) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    class Stdout(io.StringIO):
        buffer = ClosedPipe()

        def fileno(self) -> int:
            return write_end

    with _streams(False):
        sys.stdout = Stdout()
        code = cli.main([jobs.url("/job")])
    os.close(read_end)
    os.close(write_end)
    assert code == 0


# -- the README's command line, word for word ------------------------------------------------------------------

def readme_command() -> str:
    """The README's command-line example: its ```sh block that starts with ``httsleep``."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(httsleep .*?)^```", readme, re.M | re.S)
    assert len(blocks) == 1, blocks
    return blocks[0]


def _shell_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    return env


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT raises KeyboardInterrupt, as at a terminal, even when pytest itself runs in the
    background of a non-interactive shell (which starts it, and so the child, with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_readme_command_line_section_runs_as_written():
    """Start the bundled job server as the README says, then run the README's command in a shell."""
    command = readme_command()
    assert "--jsonpath status=SUCCESS" in command and command.rstrip().endswith("| python -m json.tool")
    assert "python -m httsleep._jobserver" in (ROOT / "README.md").read_text()
    server = subprocess.Popen(
        [sys.executable, "-m", "httsleep._jobserver"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    try:
        assert server.stdout is not None
        first_line = server.stdout.readline().strip()
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", first_line)
        assert match, first_line
        completed = subprocess.run(
            command.replace("PORT", match.group(1)), shell=True, capture_output=True, text=True,
            env=_shell_env(), timeout=60,
        )
    finally:
        server.send_signal(signal.SIGINT)
        _, server_log = server.communicate(timeout=30)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == '{\n    "job": "job",\n    "status": "SUCCESS",\n    "progress": 100\n}\n'
    assert completed.stderr.startswith("httsleep: polling GET http://127.0.0.1:")  # the progress, on stderr alone
    assert completed.stderr.splitlines()[-1].endswith("| matched")
    assert server.returncode == 0  # Ctrl-C stops the server cleanly
    assert server_log.splitlines()[1:] == ["GET /job -> PENDING", "GET /job -> RUNNING", "GET /job -> SUCCESS"]


def test_jobserver_main_serves_until_interrupted(monkeypatch, capsys):
    """The standalone job server prints its URL first, then one line per request."""
    import http.server

    def interrupted(self: Any, poll_interval: float = 0.5) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(http.server.ThreadingHTTPServer, "serve_forever", interrupted)
    from httsleep import _jobserver

    assert _jobserver.main(["--port", "0"]) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\n", out)
    assert err.startswith("jobs: http://127.0.0.1:")


def test_jobserver_answers_404_with_the_list_of_jobs(jobs):
    import requests

    response = requests.get(jobs.url("/nothing?x=1"), timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": "no job at /nothing", "jobs": ["/failing-job", "/job", "/never"]}


# -- docs/cli.md: every ```sh block runs, and prints what the ```text block after it shows --------------------

_SH_BLOCK = re.compile(
    r"(?P<before>(?:<!--(?:(?!-->).)*-->\s*)?)^```sh\n(?P<code>.*?)^```\n(?:\s*^```text\n(?P<output>.*?)^```)?",
    re.M | re.S,
)


def _doc_blocks() -> List[Any]:
    text = (ROOT / "docs" / "cli.md").read_text()
    blocks = []
    for match in _SH_BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code"))
        skip = re.search(r"<!--\s*cli-skip:(.*?)-->", match.group("before"), re.S)
        marks = [pytest.mark.skip(reason=skip.group(1).strip())] if skip else []
        blocks.append(
            pytest.param(match.group("code"), match.group("output"), id="docs/cli.md:{}".format(line), marks=marks)
        )
    return blocks


def _expected_line(line: str) -> re.Pattern[str]:
    """A line of expected output; ``...`` in it stands for any text."""
    return re.compile(".*".join(re.escape(part) for part in line.split("...")))


@pytest.mark.parametrize(("code", "output"), _doc_blocks())
def test_docs_cli_shell_examples_run(code: str, output: Optional[str], tmp_path: Path) -> None:
    """Each ```sh block of docs/cli.md runs in bash against a fresh job server (PORT = its port) and exits 0;
    the lines of the ```text block after it appear in its output (stdout and stderr), in order."""
    with JobServer() as server:
        completed = subprocess.run(
            ["bash", "-c", "set -eo pipefail\n" + code.replace("PORT", str(server.port))],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_shell_env(), cwd=str(tmp_path),
            timeout=60,
        )
    printed = completed.stdout
    assert completed.returncode == 0, printed
    assert "not-a-real-token" not in printed
    expected = [_expected_line(line) for line in (output or "").splitlines() if line.strip()]
    remaining = iter(printed.splitlines())
    for pattern in expected:
        assert any(pattern.fullmatch(line) for line in remaining), (pattern.pattern, printed)


def test_docs_cli_page_has_shell_examples():
    assert len(_doc_blocks()) >= 10


def test_python_m_httsleep_runs_the_command(monkeypatch, jobs, capsys):
    """httsleep/__main__.py exits with cli.main's code."""
    import runpy

    monkeypatch.setattr(sys, "argv", ["httsleep", jobs.url("/failing-job"), *CONDITIONS, "--interval", "0", "-q"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("httsleep", run_name="__main__")
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith("httsleep: alarm: ")


# -- hostile servers and impatient users -----------------------------------------------------------


def test_a_header_http_cannot_carry_is_a_usage_error_naming_the_header():
    """A value outside Latin-1 is refused before anything is sent: exit 2, not 4 from inside the poll."""
    result = run_in_process(["http://127.0.0.1:9/", "-H", "X-Label: caf\u00e9 \u20ac"])
    assert result.code == 2
    assert "the value of 'X-Label'" in result.stderr and "Latin-1" in result.stderr


def test_server_text_reaches_the_terminal_with_its_control_characters_escaped(fake_time):
    """A reason phrase or a body cannot move the cursor, recolour or retitle the terminal the CLI writes to."""
    from faultservers import canned

    body = b"\x1b]0;owned\x07\x1b[2J\x1b[31mdisk full\x1b[0m"
    response = b"HTTP/1.1 503 \x1b[31mDown\x1b[0m\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with canned(response) as server:
        result = run_in_process([server.url, "--max-retries", "2", "--interval", "0", "--alarm-status-code", "503",
                                 "-v"], tty=True)
    assert result.code == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\\x1b[31mDown" in result.stderr  # shown, escaped
    assert "\\x1b]0;owned\\x07" in result.stderr


def _time_to_reach_httsleep(environment: Dict[str, str]) -> float:
    """How long an interpreter takes here to start and import ``httsleep.__main__``, with a margin.

    The slowest of three runs, plus a quarter and 10 ms: the command (a
    console script's wrapper, ``-m``'s runpy) takes a little longer than
    ``-c``, and the delays of the test must start after it.
    """
    times = []
    for _ in range(3):
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", "import httsleep.__main__"], env=environment, check=True)
        times.append(time.monotonic() - start)
    return max(times) * 1.25 + 0.01


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.06, 0.11, 0.21, 0.36])
@pytest.mark.parametrize("command", ["python -m httsleep", "httsleep"])
def test_ctrl_c_while_the_command_starts_exits_130_without_a_traceback(command, delay):
    """Ctrl-C at any moment of the start-up (imports, parsing, the first request) ends quietly.

    The interpreter's own start-up, before any httsleep code runs, is the
    one window left (an interrupt there may even be lost, swallowed in a
    finaliser): each delay counts from the time this machine takes to get
    there (about 20 ms when idle, several times that under load or
    coverage). The requests import alone lasts longer than the first three
    delays, so they still fall among the command's own imports. The child
    runs without the coverage measurement of the suite, whose start-up is
    slower and swallows the interrupt; __main__'s handler is covered by the
    next test.
    """
    from faultservers import silent

    argv = [sys.executable, "-m", "httsleep"] if command.startswith("python") else [str(BIN / "httsleep")]
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("COVERAGE", "COV_"))}
    start_up = _time_to_reach_httsleep(environment)
    with silent() as server:
        child = subprocess.Popen([*argv, server.url, "--timeout", "30"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_in_a_terminal,
                                 env=environment)
        time.sleep(start_up + delay)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert child.returncode == cli.EXIT_INTERRUPTED
    assert stderr.endswith("httsleep: interrupted\n")


def test_the_command_line_explains_a_jsonpath_that_ends_too_early(capsys):
    """--jsonpath uses the library's JSONPath parser, whose error says why (not an AttributeError's text)."""
    from httsleep.cli import EXIT_USAGE, main

    assert main(["http://127.0.0.1:9/", "--jsonpath", "a.=1"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "invalid JSONPath expression 'a.': the expression is empty or ends too early" in error
    assert "NoneType" not in error


def test_an_interrupt_while_the_command_is_imported_exits_130(monkeypatch, capsys):
    """httsleep.__main__ imports the command under its handler: an interrupt there is no traceback either."""
    import types

    import httsleep.__main__ as entry

    class Interrupted(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "httsleep.cli", Interrupted("httsleep.cli"))
    assert entry.main() == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "\nhttsleep: interrupted\n"


def test_ctrl_c_during_the_import_of_the_command_is_held_until_it_is_done(monkeypatch, capsys):
    """A real SIGINT in the middle of the import only sets a flag (a KeyboardInterrupt raised inside the import
    machinery can be swallowed, and the command then polled on): once imported, the command is not run."""
    import types

    import httsleep.__main__ as entry

    ran = []

    class Importing(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            os.kill(os.getpid(), signal.SIGINT)  # delivered now, in the middle of "from .cli import main"
            return lambda: ran.append(name) or 0

    monkeypatch.setitem(sys.modules, "httsleep.cli", Importing("httsleep.cli"))
    previous = signal.getsignal(signal.SIGINT)
    assert entry.main() == cli.EXIT_INTERRUPTED
    assert ran == [] and capsys.readouterr().err == "\nhttsleep: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is previous  # the handler it set is gone


# -- a service that is still starting ----------------------------------------------------------------


@pytest.mark.slow
def test_by_default_the_command_waits_for_a_service_that_starts_later():
    """Refused connections, then a proxy's 502 page, then the service: no option needed (wait-for-it's job)."""
    import threading

    from faultservers import LateServer, Reply

    page = Reply(502, body=b"<html><h1>502 Bad Gateway</h1></html>", headers={"Content-Type": "text/html"})
    with LateServer([page, Reply(json={"status": "SUCCESS"})]) as late:
        starter = threading.Timer(1.0, late.start)
        starter.start()
        try:
            result = run_subprocess([late.url + "health", "--jsonpath", "status=SUCCESS", "--interval", "0.2",
                                     "--timeout", "20"])
        finally:
            starter.cancel()
    assert (result.code, result.stdout) == (0, b'{"status": "SUCCESS"}')
    assert "ConnectionError | next try in 0.20s" in result.stderr  # the refusals were polled through


def test_a_host_name_that_does_not_resolve_ends_the_poll_at_once_with_a_hint(monkeypatch, fake_time):
    import socket

    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    result = run_in_process(["http://jobs.example.invalid/job", "-q"])
    assert result.code == 4 and fake_time.sleeps == []
    assert result.lines[-1] == (
        "httsleep: hint: the host name does not resolve: check the URL (a DNS failure is not retried)")


def test_help_says_what_is_retried_and_what_is_not():
    help_text = " ".join(run_subprocess(["--help"]).stdout.decode().split())
    assert "never DNS or certificate errors" in help_text
    assert "(default: on)" in help_text and "--no-retry-transient" in help_text and "--no-retry-non-json" in help_text
    assert "DNS...)" not in help_text  # what --help used to say: that DNS errors were retried


# -- timeout is a time budget -------------------------------------------------------------------------


def test_timeout_alone_is_a_budget_not_cut_short_by_the_default_max_retries(jobs, fake_time):
    """--timeout 10 --interval 0.1 used to give up after 50 requests (5 s); it now polls for the 10 s."""
    result = run_in_process([jobs.url("/never"), "--jsonpath", "status=SUCCESS", "--timeout", "10", "--interval",
                             "0.1", "-q"])
    assert result.code == 3 and "timeout=10s" in result.stderr
    assert jobs.hits["/never"] > 90
    result = run_in_process([jobs.url("/never"), "--jsonpath", "status=SUCCESS", "--timeout", "10", "--interval",
                             "0.1", "--max-retries", "50", "-q"])
    assert "max_retries=50 reached" in result.stderr  # both given: both count


# -- curl's habits ----------------------------------------------------------------------------------------


def test_data_from_a_file_or_stdin_is_sent_as_a_form_as_curl_does(httpserver, tmp_path, monkeypatch, fake_time):
    body_file = tmp_path / "payload.txt"
    body_file.write_bytes(b"name=job&size=3")
    httpserver.expect_request("/form", method="POST", data=b"name=job&size=3",
                              headers={"Content-Type": "application/x-www-form-urlencoded"}).respond_with_data("ok")
    assert run_in_process([httpserver.url_for("/form"), "-d", "@{}".format(body_file), "-q"]).code == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"name=job&size=3")))
    assert run_in_process([httpserver.url_for("/form"), "-d", "@-", "-q"]).code == 0
    httpserver.expect_request("/raw", method="POST", data=b"@literal",
                              headers={"Content-Type": "text/plain"}).respond_with_data("ok")
    assert run_in_process([httpserver.url_for("/raw"), "-d", "@literal", "-H", "Content-Type: text/plain",
                           "-q"]).code == 2  # no such file: a usage error naming it
    # a Content-Type given with -H, in any case, replaces the form's (one header, the caller's)
    httpserver.expect_request("/typed", method="POST", data=b"x",
                              headers={"Content-Type": "text/plain"}).respond_with_data("typed")
    result = run_in_process([httpserver.url_for("/typed"), "--data", "x", "-H", "content-type: text/plain", "-X",
                             "POST", "-q"])
    assert (result.code, result.stdout) == (0, b"typed")
    sent, _ = httpserver.log[-1]
    assert sent.path == "/typed" and sent.headers.getlist("Content-Type") == ["text/plain"]


def test_a_file_that_cannot_be_read_is_a_usage_error():
    result = run_in_process(["http://127.0.0.1:9/", "-d", "@/no/such/file"])
    assert result.code == 2 and "argument -d/--data: cannot read '/no/such/file'" in result.stderr


@pytest.mark.parametrize(("option", "codes", "status", "matches"), [
    ("--status-code", "2xx", 204, True),
    ("--status-code", "200,201", 201, True),
    ("--status-code", "200,201", 202, False),
    ("--status-code", "3xx,404", 404, True),
])
def test_status_codes_take_classes_and_lists(httpserver, fake_time, option, codes, status, matches):
    httpserver.expect_request("/x").respond_with_data("", status=status)
    result = run_in_process([httpserver.url_for("/x"), option, codes, "--max-retries", "1", "-q"])
    assert result.code == (0 if matches else 3)


def test_alarm_status_codes_take_classes_too(httpserver, fake_time):
    httpserver.expect_request("/x").respond_with_data("down", status=503)
    result = run_in_process([httpserver.url_for("/x"), "--alarm-status-code", "5xx", "-q"])
    assert result.code == 1 and "status_code is 5xx" in result.stderr


def test_a_json_summary_on_request_for_scripts(jobs, tmp_path, fake_time):
    summary = tmp_path / "summary.json"
    result = run_in_process([jobs.url("/job"), *CONDITIONS, "--interval", "0.5", "--summary", str(summary), "-q"])
    assert result.code == 0 and result.stdout == body_of("/job", "SUCCESS")  # stdout: the body alone
    document = json.loads(summary.read_text())
    assert document == {"outcome": "matched", "exit_code": 0, "url": jobs.url("/job"), "status": 200, "attempts": 3,
                        "elapsed": document["elapsed"], "limit": None, "error": None}
    result = run_in_process([jobs.url("/never"), *CONDITIONS, "--max-retries", "2", "--summary", "-", "-q"])
    document = json.loads(result.stderr[result.stderr.rindex("\n{\n"):])  # the summary comes last
    assert (document["outcome"], document["exit_code"], document["limit"], document["attempts"]) == (
        "gave_up", 3, "max_retries", 2)
    assert document["error"].startswith("StopPolling: gave up polling GET " + jobs.url("/never") + " after 2 attempts")


def test_the_summary_hides_credentials(jobs, tmp_path, fake_time):
    summary = tmp_path / "summary.json"
    run_in_process([with_userinfo(jobs.url("/job")), *CONDITIONS, "--interval", "0", "--summary", str(summary),
                    *CREDENTIALS])
    shown = summary.read_text()
    assert "***@127.0.0.1" in shown and not any(secret in shown for secret in SECRETS)


def test_a_command_after_two_dashes_runs_once_the_poll_succeeds(jobs, tmp_path, fake_time):
    marker = tmp_path / "ran"
    command = [sys.executable, "-c", "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('x'); sys.exit(7)",
               str(marker)]
    result = run_in_process([jobs.url("/job"), *CONDITIONS, "--interval", "0", "-q", "--", *command])
    assert (result.code, result.stdout, marker.exists()) == (7, b"", True)  # its exit code; the body is not printed


def test_the_command_does_not_run_when_the_poll_fails(jobs, tmp_path, fake_time):
    marker = tmp_path / "ran"
    command = [sys.executable, "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('x')", str(marker)]
    result = run_in_process([jobs.url("/failing-job"), *CONDITIONS, "--interval", "0", "-q", "--", *command])
    assert result.code == 1 and not marker.exists()


def test_a_command_that_cannot_be_started_exits_127(jobs, fake_time):
    result = run_in_process([jobs.url("/job"), "--interval", "0", "-q", "--", "/no/such/program"])
    assert result.code == 127 and "cannot run /no/such/program" in result.stderr


def test_two_dashes_without_a_command_is_a_usage_error():
    result = run_in_process(["http://127.0.0.1:9/", "--"])
    assert result.code == 2 and "argument --: expected a command after it" in result.stderr


# -- conditional polling ---------------------------------------------------------------------------------------


def test_conditional_polls_with_if_none_match_and_waits_through_304s(fake_time):
    from faultservers import ScriptedServer
    from test_conditional import Job

    job = Job(["PENDING", "SUCCESS"], changes_at=[3])
    with ScriptedServer(job) as server:
        result = run_in_process([server.url, "--jsonpath", "status=SUCCESS", "--interval", "1", "--conditional",
                                 "-v"])
    assert result.code == 0 and json.loads(result.stdout)["status"] == "SUCCESS"
    assert [request.headers.get("if-none-match") for request in job.seen] == [None, '"v0"', '"v0"', '"v0"']
    assert result.stderr.count("HTTP 304") == 2


def test_the_command_is_not_conditional_by_default(fake_time):
    from faultservers import ScriptedServer
    from test_conditional import Job

    job = Job(["PENDING", "SUCCESS"], changes_at=[2])
    with ScriptedServer(job) as server:
        assert run_in_process([server.url, "--jsonpath", "status=SUCCESS", "--interval", "1", "-q"]).code == 0
    assert [request.headers.get("if-none-match") for request in job.seen] == [None, None, None]


# -- streams that cannot be written or read (issue 18) ------------------------------------------------------


def _run_with_streams(args: List[str], **streams: Any) -> Result:
    """``python -m httsleep ARGS`` with the given stdin/stdout/stderr; ``"closed"`` closes that descriptor."""
    closed = [fd for fd, name in enumerate(("stdin", "stdout", "stderr")) if streams.get(name) == "closed"]
    for name in ("stdin", "stdout", "stderr"):
        if streams.get(name, "closed") == "closed":
            streams[name] = subprocess.PIPE if name != "stdin" else subprocess.DEVNULL

    def close_them() -> None:  # in the child, as the shell's `2>&-` does
        for fd in closed:
            os.close(fd)

    completed = subprocess.run([sys.executable, "-m", "httsleep", *args], preexec_fn=close_them, timeout=60,
                               **streams)
    result = Result(completed.returncode, completed.stdout or b"", (completed.stderr or b"").decode())
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("stderr", ["/dev/full", "closed", "a pipe nobody reads"])
def test_a_poll_that_matches_succeeds_whatever_happens_to_stderr(jobs, stderr):
    """`httsleep ... 2>/dev/full`, `2>&-`, or `2>` a pipe whose reader is gone: exit 0 and the body, as always."""
    args = [jobs.url("/job"), *CONDITIONS, "--interval", "0", "-v", "--json", "{}", "--or", "--jsonpath",
            "status=SUCCESS", "--summary", "-"]  # -v, the note of --json and the summary all write to stderr
    if stderr == "/dev/full":
        if not os.path.exists("/dev/full"):  # pragma: no cover - not Linux
            pytest.skip("no /dev/full here")
        with open("/dev/full", "w") as full:
            result = _run_with_streams(args, stdout=subprocess.PIPE, stderr=full)
    elif stderr == "closed":
        result = _run_with_streams(args, stdout=subprocess.PIPE, stderr="closed")
    else:
        read_end, write_end = os.pipe()
        os.close(read_end)  # nobody will read: every write fails with EPIPE
        try:
            result = _run_with_streams(args, stdout=subprocess.PIPE, stderr=write_end)
        finally:
            os.close(write_end)
    assert (result.code, result.stdout) == (0, body_of("/job", "SUCCESS"))


@pytest.mark.parametrize(("stdout", "reason"), [("/dev/full", "No space left on device"),
                                                ("closed", "stdout is closed")])
def test_a_body_that_cannot_be_written_to_stdout_exits_4_with_one_line_on_stderr(jobs, stdout, reason):
    """`httsleep ... >/dev/full` or `>&-`: a short, clear failure, not a traceback (`| head` stays a success)."""
    args = [jobs.url("/job"), *CONDITIONS, "--interval", "0", "-q"]
    if stdout == "/dev/full":
        if not os.path.exists("/dev/full"):  # pragma: no cover - not Linux
            pytest.skip("no /dev/full here")
        with open("/dev/full", "w") as full:
            result = _run_with_streams(args, stdout=full, stderr=subprocess.PIPE)
    else:
        result = _run_with_streams(args, stdout="closed", stderr=subprocess.PIPE)
    assert result.code == cli.EXIT_ERROR == 4
    assert result.lines == ["httsleep: error: could not write the body to stdout: " + reason]


def test_data_from_a_closed_stdin_is_a_usage_error():
    """`httsleep URL -d @- <&-`: exit 2 naming the problem, before any request."""
    result = _run_with_streams(["http://127.0.0.1:9/", "-d", "@-"], stdin="closed", stderr=subprocess.PIPE)
    assert result.code == 2
    assert result.lines == ["httsleep: error: argument -d/--data: cannot read standard input: it is closed "
                            "(see httsleep --help)"]


class _Unwritable(io.StringIO):
    """A stream on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


def test_in_process_a_stderr_that_fails_or_is_none_changes_nothing(jobs, fake_time, tmp_path):
    for stderr in (_Unwritable(), None):
        with _streams(False) as (out, stdout, _):
            sys.stderr = stderr  # type: ignore[assignment]
            code = cli.main([jobs.url("/never"), *CONDITIONS, "--interval", "0", "--max-retries", "2", "-v",
                             "--summary", "-"])
        assert (code, out.getvalue()) == (3, b"")
    stdin = sys.stdin
    with _streams(False) as (out, stdout, _):
        sys.stderr = _Unwritable()
        sys.stdin = None  # type: ignore[assignment]
        try:
            assert cli.main(["http://127.0.0.1:9/", "-d", "@-", "--summary", str(tmp_path / "s.json")]) == 2
        finally:
            sys.stdin = stdin
    assert json.loads((tmp_path / "s.json").read_text())["error"] == (
        "UsageError: argument -d/--data: cannot read standard input: it is closed")


def test_in_process_a_body_that_cannot_be_written_says_error_in_the_summary(jobs, fake_time, tmp_path):
    summary = tmp_path / "summary.json"

    class Full(io.StringIO):
        buffer = _Unwritable()

    with _streams(False) as (_, _, stderr):
        sys.stdout = Full()
        code = cli.main([jobs.url("/job"), "--interval", "0", "-q", "--summary", str(summary)])
    assert code == 4
    assert stderr.getvalue() == "httsleep: error: could not write the body to stdout: No space left on device\n"
    document = json.loads(summary.read_text())
    assert (document["outcome"], document["exit_code"], document["status"]) == ("error", 4, 200)
    with _streams(False) as (_, _, stderr):
        sys.stdout = Full()
        sys.stdout.flush = _Unwritable().flush  # type: ignore[method-assign]
        assert cli.main(["--version"]) == 4  # --help and --version too
    assert stderr.getvalue() == "httsleep: error: could not write to stdout: No space left on device\n"


# -- --summary on a usage error (issue 18) -----------------------------------------------------------------------


def test_a_usage_error_writes_the_summary_too(tmp_path):
    summary = tmp_path / "summary.json"
    for args in (["--summary", str(summary), "--status-code", "OK"],
                 ["--status-code", "OK", "--summary=" + str(summary)],
                 [*CREDENTIALS, "--summary", str(summary), "--usr", "alice:" + PASSWORD],
                 ["--summary", str(tmp_path / "not-this.json"), "--summary", str(summary), "--or"]):
        summary.unlink(missing_ok=True)
        result = run_in_process(["http://127.0.0.1:9/", *args])
        assert result.code == 2
        document = json.loads(summary.read_text())
        printed = result.lines[-1][len("httsleep: error: "):-len(" (see httsleep --help)")]
        assert document == {"outcome": "usage", "exit_code": 2, "url": None, "status": None, "attempts": 0,
                            "elapsed": document["elapsed"], "limit": None, "error": "UsageError: " + printed}
    assert not (tmp_path / "not-this.json").exists()  # the last --summary counts, as argparse takes it
    result = run_in_process(["ftp://127.0.0.1/", "--summary", "-"])  # a bad URL; the summary on stderr
    assert result.code == 2 and json.loads(result.stderr[result.stderr.index("{"):])["outcome"] == "usage"


def test_a_summary_after_two_dashes_belongs_to_the_command_and_is_not_written(tmp_path):
    summary = tmp_path / "summary.json"
    result = run_in_process(["http://127.0.0.1:9/", "--status-code", "OK", "--", "report", "--summary",
                             str(summary)])
    assert result.code == 2 and not summary.exists()
    result = run_in_process(["http://127.0.0.1:9/", "--summary", str(tmp_path)])  # a directory: no summary
    assert result.code == 2 and result.lines == [
        "httsleep: error: argument --summary: {!r} is a directory (see httsleep --help)".format(str(tmp_path))]


# -- curl's --json, and --max-body-size (issue 18) ------------------------------------------------------------


def test_json_is_a_condition_and_says_so_on_stderr_but_until_json_does_not(httpserver, fake_time):
    """In curl, --json sends a body; here it waits for one: a curl user must not poll with a GET unwarned."""
    httpserver.expect_request("/x").respond_with_data('{"ok": true}')
    url = httpserver.url_for("/x")
    result = run_in_process([url, "--json", '{"ok": true}', "--interval", "0"])
    assert (result.code, result.stdout) == (0, b'{"ok": true}')  # it still works as before
    note = result.lines[0]
    assert note.startswith("httsleep: note: --json is a condition here (the body must equal JSON), not curl's")
    assert "--json-body JSON" in note and "--until-json JSON" in note
    assert "note:" in run_in_process([url, "--json", '{"ok": true}', "-v"]).stderr  # not a progress line
    assert run_in_process([url, "--json", '{"ok": true}', "-q"]).stderr == ""  # -q: errors only
    result = run_in_process([url, "--until-json", '{"ok": true}', "--interval", "0"])
    assert (result.code, result.stdout) == (0, b'{"ok": true}') and "note:" not in result.stderr


@pytest.mark.parametrize(("text", "size"), [
    ("512", 512), ("512K", 512 * 1024), ("10m", 10 * 1024**2), ("1G", 1024**3), ("10MiB", 10 * 1024**2),
    (" 0 ", 0), ("none", None), ("NONE", None),
])
def test_max_body_size_takes_bytes_with_a_suffix_or_none(text, size):
    assert cli.parse_args(["http://127.0.0.1:9/", "--max-body-size", text]).max_body_size == size


def test_max_body_size_raises_the_limit_for_a_larger_body(httpserver, fake_time):
    large = b"x" * (httsleep.main.DEFAULT_MAX_BODY_SIZE + 1)
    httpserver.expect_request("/large").respond_with_data(large)
    url = httpserver.url_for("/large")
    result = run_in_process([url, "-q"])
    assert (result.code, result.stdout) == (4, b"")  # larger than the default limit, 10 MiB
    assert "BodyTooLarge" in result.lines[0]
    assert result.lines[-1] == (
        "httsleep: hint: --max-body-size BYTES raises the limit (default: 10M; 'none' for no limit)")
    result = run_in_process([url, "-q", "--max-body-size", "11M"])
    assert (result.code, result.stdout == large) == (0, True)
    result = run_in_process([url, "-q", "--max-body-size", "1K"])  # smaller than the default: ends the poll too
    assert result.code == 4 and "max_body_size=1024 bytes" in result.lines[0]
