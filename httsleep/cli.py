"""The ``httsleep`` command: poll a URL from a shell script or a CI step.

``httsleep URL [options] [-- COMMAND ...]`` (or ``python -m httsleep``)
polls with the library's rules and writes the body of the response that
matched to stdout, byte for byte, so that it can be piped into ``jq``; or,
given a command after ``--``, runs it once the poll succeeds, as
``wait-for-it`` does. Everything else goes to stderr. See ``httsleep
--help`` and :doc:`/cli`; the exit codes are the ``EXIT_*`` constants
below.

Its defaults are those of a script waiting for a service that is still
starting: temporary network failures (a refused or reset connection, a
timeout, a proxy's 502 or 503 page) and bodies that are not JSON are polled
through until ``--timeout`` or ``--max-retries`` runs out.

Whether stderr can be written changes nothing: progress and messages that
cannot be written (stderr closed, full, or a pipe nobody reads) are
dropped. A body that cannot be written to stdout is an error
(:data:`EXIT_ERROR`), except when the reader of a pipe has gone away
(``| head -c 10``), which is the reader's choice.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import warnings
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Tuple, Type

import requests
import urllib3

from . import __version__
from ._progress import LINES, LIVE, QUIET, BestEffortStream, Progress
from ._request_checks import check_ca_bundle, check_method, check_url
from ._validate import MAX_SECONDS, max_body_size, max_retries, request_timeout, seconds
from .conditions import compile_conditions, parse_jsonpath
from .exceptions import Alarm, BodyTooLarge, GaveUp, JSONTooDeep
from .main import HttSleeper
from .policy import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_POLLING_INTERVAL,
    body_excerpt,
    describe_response,
)
from .ratelimit import parse_rate
from .redaction import Secrets, excerpt, printable, redact_text
from .transient import exception_chain, is_temp_network_error

__all__ = [
    "EXIT_ALARM",
    "EXIT_COMMAND_NOT_FOUND",
    "EXIT_ERROR",
    "EXIT_GAVE_UP",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "parse_args",
    "split_jsonpath",
]

#: A response matched; its body is on stdout (or, with ``-- COMMAND``, the command's exit code).
EXIT_OK = 0
#: A response matched an alarm condition.
EXIT_ALARM = 1
#: The command line is wrong (argparse's own code), or ``-d @-`` could not
#: read standard input (closed, or a read error).
EXIT_USAGE = 2
#: ``--max-retries`` or ``--timeout`` ran out before a response matched.
EXIT_GAVE_UP = 3
#: A request failed with an error that is not retried (a host name that
#: does not resolve, a certificate that does not verify, a server that does
#: not speak HTTP...), or, with ``--no-retry-transient`` or
#: ``--no-retry-non-json``, a temporary failure or a body that is not JSON;
#: or a response matched but its body could not be written to stdout
#: (closed, or a full disk; a pipe whose reader left early is not an error).
EXIT_ERROR = 4
#: The command given after ``--`` could not be started (as shells report it).
EXIT_COMMAND_NOT_FOUND = 127
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

#: In a log (stderr not a terminal), the fewest seconds between two progress lines.
LOG_EVERY = 5.0

_EPILOG = """\
conditions:
  All success options given together must hold at once (AND); --or starts
  another group, and a response matching any group is a success (OR).
  Alarm options work the same way, with --alarm-or between groups. Without
  any success option, the condition is --status-code 200.
  --status-code takes a code (200), a class (2xx) or a list (200,201,3xx).
  --jsonpath EXPR=VALUE: EXPR ends at the first '=' outside quotes and
  brackets; VALUE is parsed as JSON when it parses (3, true, null, "3",
  {"a": 1}), else it is taken as a string (SUCCESS).
  --until-json JSON is a condition. To send a JSON body (what --json does in
  curl), use --json-body JSON; --json is an old name of --until-json.

waiting for a service that is still starting:
  By default, temporary network failures (connection refused or reset,
  timeouts, a TLS connection cut short) and bodies that are not JSON (a
  proxy's 502 or 503 page) are polled through until --timeout or
  --max-retries runs out; a 429 or 503 is retried after its Retry-After.
  A permanent error (a host name that does not resolve, a certificate
  that does not verify, a server that does not speak HTTP) ends the poll at
  once. --no-retry-transient and --no-retry-non-json stop at the first
  failure instead.

stdout and stderr:
  stdout gets the body of the matching response, as received, and nothing
  else; nothing at all when the poll fails, or when a COMMAND is given
  after --, which then runs (its exit code is httsleep's).
  stderr gets progress and errors: on a terminal, a live line (counting
  down during waits); elsewhere (a CI log), a line when the poll starts and
  one per attempt, at most every 5 s (-v: every attempt, with the start of
  each body). -q: errors only (no progress, no notes). Server text is
  shown with its control characters escaped; credentials (-u, the URL's
  password, secret headers and query parameters) are never shown. What
  cannot be written to stderr (closed, full) is dropped: the outcome and
  the exit code stay the same.
  --summary FILE writes a JSON summary of the poll to FILE ('-': stderr),
  usage errors included.

exit codes:
  0   a response matched; its body is on stdout
  1   a response matched an alarm condition
  2   usage error: a bad option or value (or -d @- with stdin closed)
  3   gave up: --max-retries or --timeout ran out (or --rate-limit had no
      slot before --timeout)
  4   error: a request failed with an error that is not retried (see
      above; a body larger than --max-body-size too), a body could not be
      judged with --no-retry-non-json, or the matching body could not be
      written to stdout (closed, or a full disk)
  127 the COMMAND after -- could not be started
  130 interrupted (Ctrl-C)
  with -- COMMAND, a match exits with the command's exit code
"""


# -- argument types: each raises ArgumentTypeError, whose message argparse prints after the option name


def _expected(what: str, text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError("expected {}, got {!r}".format(what, text))


def _library_message(error: Exception, name: str) -> str:
    """A validator's message without its leading ``name: `` (argparse names the option itself)."""
    message = str(error)
    return message[len(name) + 2 :] if message.startswith(name + ": ") else message


def _seconds(text: str, positive: bool = False) -> float:
    """A number of seconds, parsed from the text, then checked by the library (:func:`._validate.seconds`)."""
    try:
        number = float(text)
    except ValueError:
        raise _expected("a number of seconds", text) from None
    try:
        return seconds(number, "SECONDS", positive=positive)
    except (TypeError, ValueError):
        pass
    # refused by the library: say what was expected, quoting the text as typed
    if MAX_SECONDS < number < math.inf:
        raise _expected("at most {:g} seconds (about 31 years)".format(MAX_SECONDS), text)
    if positive and number == 0:
        raise _expected("a number of seconds > 0", text)
    raise _expected("a finite number of seconds >= 0", text)


def _positive_seconds(text: str) -> float:
    return _seconds(text, positive=True)


def _max_retries(text: str) -> Optional[int]:
    """A whole number, or 'none' for no limit; checked by the library (:func:`._validate.max_retries`)."""
    if text.strip().lower() == "none":
        return None
    try:
        number = int(text)
    except ValueError:
        raise _expected("a whole number or 'none'", text) from None
    try:
        return max_retries(number)
    except (TypeError, ValueError):
        raise _expected("a number >= 0 or 'none'", text) from None


#: ``--max-body-size``'s suffixes: K, M and G are powers of 1024, as in curl
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def _max_body_size(text: str) -> Optional[int]:
    """BYTES, or with a suffix ``512K``, ``10M``, ``1G`` (``MiB`` too), or 'none' for no limit.

    Checked by the library (:func:`._validate.max_body_size`).
    """
    if text.strip().lower() == "none":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(?:([KMG])(?:iB)?)?\s*", text, re.I)
    if match is None:
        raise _expected("a number of bytes, with an optional suffix K, M or G (e.g. 10M), or 'none'", text)
    number = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").upper()]
    try:
        return max_body_size(number)
    except (TypeError, ValueError):  # pragma: no cover - the pattern lets through only whole numbers >= 0
        raise _expected("a number of bytes >= 0 or 'none'", text) from None


def _size_text(size: int) -> str:
    """``10485760`` as ``10M``: the largest suffix that divides it."""
    for suffix in ("G", "M", "K"):
        if size and size % _SIZE_UNITS[suffix] == 0:
            return "{}{}".format(size // _SIZE_UNITS[suffix], suffix)
    return str(size)


def _rate(text: str) -> str:
    """A rate such as ``10/second`` (:func:`httsleep.ratelimit.parse_rate`), returned as typed."""
    try:
        parse_rate(text)
    except ValueError:
        raise _expected("a rate such as 10/second, 100/minute, 5/10s or '10 per second'", text) from None
    return text


def _request_timeout(text: str) -> Any:
    """SECONDS or CONNECT,READ; each part is a number of seconds > 0 (:func:`._validate.request_timeout`)."""
    parts = text.split(",")
    if len(parts) > 2:
        raise _expected("SECONDS or CONNECT,READ", text)
    numbers = [_positive_seconds(part.strip()) for part in parts]
    return request_timeout(tuple(numbers) if len(numbers) == 2 else numbers[0])


def _status_codes(text: str) -> Any:
    """``200``, ``2xx``, or a list ``200,201,3xx``: checked as the library's ``status_code`` condition checks them.

    The library takes any whole number (a condition on 42 never matches);
    the command line also refuses codes outside 100-599, which are typos.
    """
    items = [part.strip() for part in text.split(",")]
    try:
        (condition,) = compile_conditions({"status_code": items if len(items) > 1 else items[0]}, "--status-code")
    except (TypeError, ValueError):
        raise _expected("an HTTP status code, a class such as 2xx, or a list such as 200,201", text) from None
    codes = condition.spec["status_code"]
    if any(isinstance(code, int) and not 100 <= code <= 599 for code in (codes if len(items) > 1 else [codes])):
        raise _expected("HTTP status codes from 100 to 599", text)
    return codes


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError("{!r} is not valid JSON ({})".format(text, error))


def split_jsonpath(text: str) -> Tuple[str, str]:
    """Split ``EXPR=VALUE`` at the first ``=`` outside quotes and brackets.

    >>> split_jsonpath('status=SUCCESS')
    ('status', 'SUCCESS')
    >>> split_jsonpath('"a=b".c=x=y')
    ('"a=b".c', 'x=y')
    """
    quote = None
    depth = 0
    for index, char in enumerate(text):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth = max(depth - 1, 0)
        elif char == "=" and depth == 0:
            return text[:index].strip(), text[index + 1 :]
    raise ValueError("expected EXPRESSION=VALUE (e.g. status=SUCCESS), got {!r}".format(text))


def _jsonpath(text: str) -> Dict[str, Any]:
    try:
        expression, raw = split_jsonpath(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))
    if not expression:
        raise argparse.ArgumentTypeError("the expression before '=' is empty in {!r}".format(text))
    try:
        parse_jsonpath(expression)  # parsed once: the poll reuses it
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return {"expression": expression, "value": value}


def _header(text: str) -> Tuple[str, str]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(char.isspace() for char in name):
        # never echo the value: it may be a token
        raise argparse.ArgumentTypeError("expected 'Name: value' (a header name, a colon, then the value)")
    return name, value.strip()


def _user(text: str) -> Tuple[str, str]:
    user, colon, password = text.partition(":")
    if not colon:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD")  # never echo it
    return user, password


def _data(text: str) -> Any:
    """``-d``: the text, or with ``@FILE`` the bytes of FILE (``@-``: standard input), as curl reads it."""
    if not text.startswith("@"):
        return text
    name = text[1:]
    if name == "-":
        stdin = getattr(sys.stdin, "buffer", None)  # sys.stdin is None when the shell closed it (<&-)
        try:
            if stdin is None:
                raise OSError(errno.EBADF, "it is closed")
            return stdin.read()
        except (OSError, ValueError) as error:  # ValueError: closed by the program that called main()
            reason = error.strerror if isinstance(error, OSError) and error.strerror else "it is closed"
            raise argparse.ArgumentTypeError("cannot read standard input: {}".format(reason)) from None
    try:
        with open(name, "rb") as source:
            return source.read()
    except OSError as error:
        raise argparse.ArgumentTypeError("cannot read {!r}: {}".format(name, error.strerror or error))


def _summary(text: str) -> str:
    if text != "-" and os.path.isdir(text):
        raise argparse.ArgumentTypeError("{!r} is a directory".format(text))
    return text


def _method(text: str) -> str:
    """An HTTP token, as the library checks a Request's method (:func:`._request_checks.check_method`)."""
    try:
        check_method(text, "-X")
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(_library_message(error, "-X")) from None
    return text


def _cacert(text: str) -> str:
    """A directory, or a file of CA certificates that loads (:func:`._request_checks.check_ca_bundle`)."""
    try:
        check_ca_bundle(text, "--cacert")
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(_library_message(error, "--cacert")) from None
    return text


# -- conditions: options collected in order, into groups


class _Condition(argparse.Action):
    """Adds one check to the current group of ``dest`` (``until`` or ``alarms``)."""

    def __init__(self, option_strings: Sequence[str], dest: str, key: str = "", **kwargs: Any) -> None:
        self.key = key
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        group = getattr(namespace, self.dest)[-1]
        if self.key == "jsonpath":
            group.setdefault("jsonpath", []).append(values)
        elif self.key in group:
            parser.error(
                "argument {}: given twice in one group of conditions; put {} between alternatives".format(
                    option, "--or" if self.dest == "until" else "--alarm-or"
                )
            )
        else:
            group[self.key] = values


class _OldJsonName(_Condition):
    """``--json``, the old name of ``--until-json``: works the same, and the command says what it is.

    In curl, ``--json`` sends a JSON body; here it is a condition. A curl
    habit must not silently poll with a GET for ever: the command prints a
    note (:func:`_run`) pointing to ``--json-body`` and ``--until-json``.
    """

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        namespace.old_json_name = True
        super().__call__(parser, namespace, values, option)


class _Or(argparse.Action):
    """Starts a new group of ``dest`` conditions."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        groups = getattr(namespace, self.dest)
        if not groups[-1]:
            parser.error("argument {}: must come between two groups of conditions".format(option))
        groups.append({})


class _UsageError(SystemExit):
    """A usage error: the command line is wrong. Exits with :data:`EXIT_USAGE`.

    A :class:`SystemExit`, as argparse's own, that also carries the message
    printed (for ``--summary``).
    """

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        #: what is wrong, as printed after ``httsleep: error:`` (redacted, printable)
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line naming the problem (not the whole usage block), then exit 2 (:class:`_UsageError`)."""
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):  # name the options, but never echo values: they may be secrets
            unknown = [word for word in message[len(prefix) :].split() if word.startswith("-")]
            message = prefix + (" ".join(unknown) or "a stray value after URL") + " (values not shown)"
        message = printable(redact_text(message))
        self._print_message("{}: error: {} (see {} --help)\n".format(self.prog, message, self.prog), sys.stderr)
        raise _UsageError(message)

    def _print_message(self, message: str, file: Any = None) -> None:
        """Write ``--help``, ``--version`` (stdout) or an error (stderr), without a traceback.

        An error that cannot be written to stderr is dropped. Help that
        cannot be written to stdout (a full disk) ends the command with
        :data:`EXIT_ERROR`, as a body would; a pipe whose reader left early
        is not an error. With stdout closed, argparse writes to stderr.
        """
        target = file or sys.stderr
        stream = BestEffortStream(target)
        stream.write(message)
        stream.flush()
        if stream.error is not None and target is sys.stdout:
            _discard_stdout()
            if not isinstance(stream.error, BrokenPipeError):
                BestEffortStream(sys.stderr).write("httsleep: error: could not write to stdout: {}\n".format(
                    getattr(stream.error, "strerror", None) or stream.error))
                raise SystemExit(EXIT_ERROR)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def _split_lines(self, text: str, width: int) -> List[str]:
        """Wrap an option's help, without cutting an option name such as ``--json-body`` at a hyphen."""
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``httsleep`` command."""
    parser = _Parser(
        prog="httsleep",
        usage="%(prog)s URL [conditions] [limits] [request options] [-v | -q] [--summary FILE] [-- COMMAND ...]",
        description="Poll URL until the response matches the conditions; print the matching body on stdout.",
        epilog=_EPILOG,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("url", metavar="URL", help="the URL to poll (http:// or https://)")

    until = parser.add_argument_group("success conditions (all must hold; --or for alternatives)")
    alarms = parser.add_argument_group("alarm conditions (stop with exit code 1; --alarm-or for alternatives)")
    for group, dest, prefix in ((until, "until", ""), (alarms, "alarms", "alarm-")):
        group.add_argument(
            "--{}status-code".format(prefix), dest=dest, key="status_code", action=_Condition,
            type=_status_codes, metavar="N",
            help="the status code is N (200), in a class (2xx), or in a list (200,201)",
        )
        group.add_argument(
            "--{}text".format(prefix), dest=dest, key="text", action=_Condition,
            metavar="TEXT", help="the body is exactly TEXT",
        )
        group.add_argument(
            "--{}json".format("alarm-" if prefix else "until-"), dest=dest, key="json", action=_Condition,
            type=_json_value, metavar="JSON", help="the body, decoded as JSON, equals JSON",
        )
        if not prefix:
            group.add_argument(
                "--json", dest=dest, key="json", action=_OldJsonName, type=_json_value, metavar="JSON",
                help="the old name of --until-json; prints a note, since in curl --json sends a JSON body "
                "(here: --json-body)",
            )
        group.add_argument(
            "--{}jsonpath".format(prefix), dest=dest, key="jsonpath", action=_Condition,
            type=_jsonpath, metavar="EXPR=VALUE",
            help="the JSONPath EXPR finds VALUE (repeatable: all must hold)",
        )
    until.add_argument("--or", dest="until", action=_Or, help="start another group of success conditions")
    alarms.add_argument("--alarm-or", dest="alarms", action=_Or, help="start another group of alarm conditions")

    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--interval", type=_seconds, default=DEFAULT_POLLING_INTERVAL, metavar="SECONDS",
        help="seconds between attempts (default: %(default)s)",
    )
    limits.add_argument(
        "--max-retries", type=_max_retries, default=DEFAULT_MAX_RETRIES, metavar="N",
        help="requests made at most, or 'none' for no limit (default: %(default)s; no limit when --timeout is "
        "given alone)",
    )
    limits.add_argument(
        "--timeout", type=_positive_seconds, metavar="SECONDS",
        help="seconds the whole poll may take (default: no deadline)",
    )
    limits.add_argument(
        "--rate-limit", type=_rate, metavar="RATE",
        help="send at most RATE requests to the URL's host, e.g. 10/second, 100/minute, 5/10s: before an "
        "attempt, wait for its slot (shown in the progress; not an attempt); a slot after --timeout gives up "
        "at once (default: no limit)",
    )
    limits.add_argument(
        "--request-timeout", type=_request_timeout, default=None, metavar="SECONDS|CONNECT,READ",
        help="timeout of each request (default: 10,30)",
    )
    limits.add_argument(
        "--retry-transient", action=argparse.BooleanOptionalAction, default=True,
        help="keep polling through temporary network failures: connection refused or reset, timeouts "
        "(default: on; never DNS or certificate errors)",
    )
    limits.add_argument(
        "--retry-non-json", action=argparse.BooleanOptionalAction, default=True,
        help="keep polling when a JSON condition meets a body that is not JSON, e.g. a proxy's HTML error page "
        "(default: on)",
    )
    limits.add_argument(
        "--no-retry-after", action="store_true",
        help="ignore the Retry-After header of 202, 429 and 503 responses",
    )
    limits.add_argument(
        "--max-body-size", type=_max_body_size, default=DEFAULT_MAX_BODY_SIZE, metavar="BYTES",
        help="the largest response body read, in bytes or with K, M or G (powers of 1024), or 'none' for no "
        "limit; a larger body ends the poll with exit code 4 (default: {})".format(_size_text(DEFAULT_MAX_BODY_SIZE)),
    )

    request = parser.add_argument_group("request")
    request.add_argument("-X", "--method", type=_method, metavar="METHOD",
                         help="HTTP method (default: GET, or POST with a body)")
    request.add_argument(
        "-H", "--header", dest="headers", action="append", type=_header, default=[], metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    body = request.add_mutually_exclusive_group()
    body.add_argument(
        "-d", "--data", type=_data, metavar="DATA",
        help="send DATA as the request body (@FILE: the file's contents, @-: standard input), as a form "
        "(Content-Type: application/x-www-form-urlencoded) unless -H says otherwise",
    )
    body.add_argument(
        "--json-body", type=_json_value, metavar="JSON",
        help="send JSON as the request body, with Content-Type: application/json",
    )
    request.add_argument("-u", "--user", type=_user, metavar="USER:PASSWORD", help="HTTP basic authentication")
    request.add_argument(
        "--conditional", action=argparse.BooleanOptionalAction, default=False,
        help="send If-None-Match/If-Modified-Since from the last ETag/Last-Modified; a 304 (unchanged) means "
        "wait and try again, without the body sent again (default: off)",
    )
    tls = request.add_mutually_exclusive_group()
    tls.add_argument("--cacert", type=_cacert, metavar="PATH", help="CA bundle to verify the server with")
    tls.add_argument("-k", "--insecure", action="store_true", help="do not verify the server's TLS certificate")

    output_group = parser.add_argument_group("output")
    output = output_group.add_mutually_exclusive_group()
    output.add_argument(
        "-v", "--verbose", action="store_true",
        help="one line per attempt on stderr, with the start of each body (instead of the live line on a "
        "terminal, or a line every 5 s in a log)",
    )
    output.add_argument("-q", "--quiet", action="store_true",
                        help="no progress or notes on stderr, only errors")
    output_group.add_argument(
        "--summary", type=_summary, metavar="FILE",
        help="write a JSON summary (outcome, status, attempts, elapsed, limit reached) to FILE ('-': stderr)",
    )
    parser.add_argument("--version", action="version", version="httsleep {}".format(__version__))
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the command line; exit with :data:`EXIT_USAGE` on an error.

    Words after the first ``--`` are the command to run once the poll
    succeeds (``args.command``, empty without one). ``args.old_json_name``
    says whether ``--json`` (the old name of ``--until-json``) was used.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    command: Optional[List[str]] = None
    if "--" in words:
        split = words.index("--")
        words, command = words[:split], words[split + 1 :]
    parser = build_parser()
    namespace = argparse.Namespace(until=[{}], alarms=[{}], old_json_name=False)
    args = parser.parse_args(words, namespace=namespace)
    if command is not None and not command:
        parser.error("argument --: expected a command after it")
    args.command = command or []
    for dest, option in (("until", "--or"), ("alarms", "--alarm-or")):
        groups = getattr(args, dest)
        if len(groups) > 1 and not groups[-1]:
            parser.error("argument {}: must come between two groups of conditions".format(option))
    if not args.until[0]:
        args.until = [{"status_code": 200}]
    if not args.alarms[0]:
        args.alarms = []
    try:
        check_url(args.url, "argument URL")
    except ValueError as error:
        parser.error(str(error))
    return args


# -- running


def _secrets(args: argparse.Namespace) -> Secrets:
    """The credentials given on the command line, to remove from everything written to stderr."""
    return Secrets.of_request(args.url, headers=dict(args.headers), auth=args.user)


def _detail(until: List[dict], alarms: List[dict], verbose: bool) -> Any:
    """What the progress shows of each response after its status.

    The values the conditions' JSONPath expressions find (``status="RUNNING"``),
    and with ``-v`` the start of the body.
    """
    expressions: List[str] = []
    for group in until + alarms:
        for item in group.get("jsonpath", ()):
            if item["expression"] not in expressions:
                expressions.append(item["expression"])
    compiled = [(source, parse_jsonpath(source)) for source in expressions]
    if not compiled and not verbose:
        return None

    def detail(response: Any) -> str:
        shown = []
        if compiled:
            try:
                document = response.json()
            except (ValueError, RecursionError):
                document = None
            for source, expression in compiled if document is not None else ():
                try:
                    values = [match.value for match in expression.find(document)]
                except RecursionError:
                    values = []
                if values:
                    text = json.dumps(values[0] if len(values) == 1 else values)
                    shown.append("{}={}".format(source, text if len(text) <= 40 else text[:37] + "..."))
        if verbose:
            body = body_excerpt(response, 120)
            if body:
                shown.append("body: " + body)
        return " ".join(shown)

    return detail


def _json_decode_errors() -> Tuple[Type[BaseException], ...]:
    errors: List[Type[BaseException]] = [json.JSONDecodeError, JSONTooDeep]
    from_requests = getattr(requests.exceptions, "JSONDecodeError", None)
    if from_requests is not None:
        errors.append(from_requests)
    return tuple(errors)


def _hint(error: BaseException, retry_transient: bool) -> str:
    """Why polling stopped at this error, and what to do about it."""
    chain = list(exception_chain(error))
    if any(isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError" for item in chain):
        return "the host name does not resolve: check the URL (a DNS failure is not retried)"
    if any(isinstance(item, ssl.SSLCertVerificationError) for item in chain) or "CERTIFICATE_VERIFY_FAILED" in str(
        error
    ):
        return "the server's certificate did not verify: --cacert FILE trusts its CA, -k skips the check"
    if any(isinstance(item, BodyTooLarge) for item in chain):
        return "--max-body-size BYTES raises the limit (default: {}; 'none' for no limit)".format(
            _size_text(DEFAULT_MAX_BODY_SIZE))
    if is_temp_network_error(error) and not retry_transient:
        return "a temporary failure: without --no-retry-transient, httsleep polls through it"
    return "this error is not a temporary network failure, so polling stopped"


def _request(args: argparse.Namespace) -> requests.Request:
    """The request the command line describes (a form body gets curl's Content-Type)."""
    method = (args.method or ("POST" if args.data is not None or args.json_body is not None else "GET")).upper()
    headers = dict(args.headers)
    if args.data is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return requests.Request(method, args.url, headers=headers, data=args.data, json=args.json_body, auth=args.user)


def _summary_target(words: Sequence[str]) -> Optional[str]:
    """The FILE of ``--summary FILE`` (or ``--summary=FILE``), read from the words of the command line.

    For a usage error, where argparse gives no arguments: the words are
    read as argparse reads them. Only those before ``--`` (after it comes
    the COMMAND's own); the last ``--summary`` counts; a word that starts
    with ``-`` is an option, not a FILE (except ``-`` itself and negative
    numbers). ``None`` when there is none, or FILE is a directory.
    """
    target = None
    index = 0
    while index < len(words) and words[index] != "--":
        word = words[index]
        if word == "--summary" and index + 1 < len(words):
            value = words[index + 1]
            if value == "-" or not value.startswith("-") or re.fullmatch(r"-\d+|-\d*\.\d+", value):
                target = value
                index += 1
        elif word.startswith("--summary="):
            target = word[len("--summary=") :]
        index += 1
    if target is None or (target != "-" and os.path.isdir(target)):
        return None
    return target


def _write_summary(target: str, document: Dict[str, Any], stderr: BestEffortStream) -> None:
    """Write the summary to ``target`` (``-``: stderr); a file that cannot be written is reported, not fatal."""
    text = json.dumps(document, indent=2) + "\n"
    if target == "-":
        stderr.write(text)
        stderr.flush()
        return
    try:
        with open(target, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        stderr.write("httsleep: cannot write the summary to {}: {}\n".format(
            printable(target), error.strerror or error))
        stderr.flush()


def _usage_summary(words: Sequence[str], message: str, started: float, stderr: BestEffortStream) -> None:
    """The summary of a usage error found while parsing, if ``--summary`` could be read from ``words``."""
    target = _summary_target(words)
    if target is None:
        return
    _write_summary(target, {
        "outcome": "usage",
        "exit_code": EXIT_USAGE,
        "url": None,  # not parsed
        "status": None,
        "attempts": 0,
        "elapsed": round(time.monotonic() - started, 3),
        "limit": None,
        "error": "UsageError: " + message,
    }, stderr)


class _Report:
    """What the command says: progress and errors on stderr, the summary, in one place."""

    def __init__(self, args: argparse.Namespace, stderr: BestEffortStream) -> None:
        self.args = args
        self.redact = _secrets(args)
        self.stderr = stderr
        mode = QUIET if args.quiet else (LINES if args.verbose else None)
        self.progress = Progress(
            stderr,
            mode=mode,
            every=0.0 if args.verbose else LOG_EVERY,
            detail=_detail(args.until, args.alarms, args.verbose),
            prefix="httsleep: ",
            redact=self.redact,
        )
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        """An error or an outcome: always written (-q too), on one line."""
        self.progress.finish()
        self.stderr.write(printable(self.redact("httsleep: " + " ".join(message.split()))) + "\n")
        self.stderr.flush()

    def starting(self, sleeper: HttSleeper, method: str) -> None:
        if self.progress.mode == LIVE and not self.args.verbose:
            return
        policy = sleeper.policy
        limits = []
        if policy.timeout is not None:
            limits.append("for at most {:g}s".format(policy.timeout))
        if policy.max_attempts is not None:
            limits.append("at most {} request{}".format(policy.max_attempts, "" if policy.max_attempts == 1 else "s"))
        if self.args.rate_limit is not None:
            limits.append("at most {}".format(parse_rate(self.args.rate_limit)))
        self.progress.say("polling {} {} every {:g}s until {}{}{}".format(
            method,
            self.args.url,
            self.args.interval,
            " or ".join(repr(condition) for condition in policy.until),
            "; alarm on " + " or ".join(repr(condition) for condition in policy.alarms) if policy.alarms else "",
            " ({})".format(", ".join(limits)) if limits else "",
        ))

    def summary(self, outcome: str, code: int, error: Optional[BaseException] = None) -> None:
        """Write the JSON summary, if asked for (``--summary``)."""
        if self.args.summary is None:
            return
        last = self.progress.last
        response = getattr(error, "response", None) or getattr(error, "last_response", None)
        if response is None and last is not None:
            response = last.response
        document = {
            "outcome": outcome,
            "exit_code": code,
            "url": self.redact(self.args.url),
            "status": getattr(response, "status_code", None),
            "attempts": (last.number - (last.outcome == "throttled")) if last is not None else 0,
            "elapsed": round(time.monotonic() - self.started, 3),
            "limit": getattr(error, "limit", None),
            "error": None if error is None else printable(self.redact(
                "{}: {}".format(type(error).__name__, excerpt(str(error), 500)))),
        }
        self.progress.finish()
        _write_summary(self.args.summary, document, self.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``httsleep`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    The command itself starts at :func:`httsleep.__main__.main`, which
    imports this module under its own Ctrl-C handler.
    """
    try:
        return _run(argv)
    except KeyboardInterrupt:  # Ctrl-C outside the poll (parsing, writing the body): no traceback
        BestEffortStream(sys.stderr).write("\nhttsleep: interrupted\n")
        return EXIT_INTERRUPTED


def _run(argv: Optional[Sequence[str]]) -> int:
    started = time.monotonic()
    stderr = BestEffortStream(sys.stderr)  # what cannot be written there is dropped: the outcome stays
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(words)
    except _UsageError as usage:
        _usage_summary(words, usage.message, started, stderr)
        return EXIT_USAGE
    except SystemExit as exit_:  # --help or --version (or stdout could not be written: see _Parser)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    report = _Report(args, stderr)
    if args.old_json_name and not args.quiet:
        report.say("note: --json is a condition here (the body must equal JSON), not curl's --json, which sends a "
                   "body: use --json-body JSON to send one, and --until-json JSON for this condition (no note)")
    request = _request(args)
    ignore: List[Type[BaseException]] = list(_json_decode_errors()) if args.retry_non_json else []
    options: Dict[str, Any] = {}
    if args.request_timeout is not None:
        options["request_timeout"] = args.request_timeout
    try:
        sleeper = HttSleeper(
            request,
            until=args.until,
            alarms=args.alarms or None,
            verify=False if args.insecure else args.cacert,
            polling_interval=args.interval,
            max_retries=args.max_retries,
            ignore_exceptions=ignore,
            timeout=args.timeout,
            retry_after=not args.no_retry_after,
            conditional=args.conditional,
            retry_transient=args.retry_transient,
            max_body_size=args.max_body_size,
            rate_limit=args.rate_limit,
            on_attempt=report.progress,
            **options,
        )
    except (ValueError, TypeError) as error:  # e.g. a header HTTP cannot carry
        report.say("error: {} (see httsleep --help)".format(error))
        report.summary("usage", EXIT_USAGE, error)
        return EXIT_USAGE

    report.starting(sleeper, request.method or "GET")
    try:
        with warnings.catch_warnings():
            if args.insecure:  # asked for: do not warn about it on every attempt
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = sleeper.run()
    except Alarm as alarm:
        report.say("alarm: {}".format(alarm))
        report.summary("alarm", EXIT_ALARM, alarm)
        return EXIT_ALARM
    except GaveUp as gave_up:
        report.say(str(gave_up))
        report.summary("gave_up", EXIT_GAVE_UP, gave_up)
        return EXIT_GAVE_UP
    except _json_decode_errors() as error:
        report.say("error: {}; without --no-retry-non-json, httsleep polls through such responses".format(
            excerpt(str(error), 1000, report.redact)))
        report.summary("error", EXIT_ERROR, error)
        return EXIT_ERROR
    except KeyboardInterrupt:
        report.say("interrupted")
        report.summary("interrupted", EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as error:
        report.say("request failed: {}: {}".format(type(error).__name__, excerpt(str(error), 1000, report.redact)))
        report.say("hint: " + _hint(error, args.retry_transient))
        report.summary("error", EXIT_ERROR, error)
        return EXIT_ERROR
    report.progress.finish()
    if args.verbose:
        report.say("matched: {}, {} bytes".format(describe_response(response), len(response.content)))
    if args.command:
        report.summary("matched", EXIT_OK)
        return _run_command(args.command, report)
    problem = _write_body(response.content)
    if problem is not None:
        report.say("error: could not write the body to stdout: {}".format(problem.strerror or problem))
        report.summary("error", EXIT_ERROR, problem)
        return EXIT_ERROR
    report.summary("matched", EXIT_OK)
    return EXIT_OK


def _run_command(command: List[str], report: _Report) -> int:
    """Run the command given after ``--`` (the poll succeeded); its exit code is the command's."""
    try:  # anything buffered goes before the command's output
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):  # stdout is the command's business: it inherits the descriptor as it is
        pass
    try:
        return subprocess.run(command).returncode
    except OSError as error:
        report.say("cannot run {}: {}".format(command[0], error.strerror or error))
        return EXIT_COMMAND_NOT_FOUND


def _write_body(body: bytes) -> Optional[OSError]:
    """Write ``body`` to stdout; return why it could not be, or ``None``.

    A pipe whose reader went away (``| head -c 10``) is not an error: the
    reader had what it wanted.
    """
    if not body:
        return None  # nothing to write: even a closed stdout is fine
    stdout = sys.stdout
    if stdout is None:  # the shell closed it (>&-)
        return OSError(errno.EBADF, "stdout is closed")
    try:
        stdout.flush()
        stdout.buffer.write(body)
        stdout.buffer.flush()
    except BrokenPipeError:
        _discard_stdout()
    except (OSError, ValueError) as error:  # a full disk, an I/O error; ValueError: closed by a caller of main()
        _discard_stdout()
        return error if isinstance(error, OSError) else OSError(errno.EBADF, "stdout is closed")
    return None


def _discard_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so that the interpreter's last flush cannot fail."""
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no descriptor (a caller's in-memory stream): nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)


if __name__ == "__main__":  # pragma: no cover - `python -m httsleep` goes through __main__.py
    sys.exit(main())
