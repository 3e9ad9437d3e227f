"""The ``httsleep`` command: poll a URL from a shell script or a CI step.

``httsleep URL [options]`` (or ``python -m httsleep``) polls with the
library's rules and writes the body of the response that matched to stdout,
byte for byte, so that it can be piped into ``jq``. Everything else goes
to stderr. See ``httsleep --help`` and ``docs/cli.md``; the exit codes are
the ``EXIT_*`` constants below.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Tuple, Type

import requests
import urllib3

from . import __version__
from ._frontend import check_url
from ._progress import Progress
from ._validate import MAX_SECONDS
from .conditions import parse_jsonpath
from .exceptions import Alarm, GaveUp, JSONTooDeep
from .main import HttSleeper
from .policy import DEFAULT_MAX_RETRIES, DEFAULT_POLLING_INTERVAL, describe_response
from .redaction import Secrets, excerpt, printable, redact_text

__all__ = ["EXIT_ALARM", "EXIT_ERROR", "EXIT_GAVE_UP", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main"]

#: A response matched; its body is on stdout.
EXIT_OK = 0
#: A response matched an alarm condition.
EXIT_ALARM = 1
#: The command line is wrong (argparse's own code).
EXIT_USAGE = 2
#: ``--max-retries`` or ``--timeout`` ran out before a response matched.
EXIT_GAVE_UP = 3
#: A request failed with an error that is not retried (connection refused
#: without ``--retry-transient``, a TLS error, ...), or a response could not
#: be judged (a body that is not JSON, without ``--retry-non-json``).
EXIT_ERROR = 4
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

_EPILOG = """\
conditions:
  All success options given together must hold at once (AND); --or starts
  another group, and a response matching any group is a success (OR).
  Alarm options work the same way, with --alarm-or between groups. Without
  any success option, the condition is --status-code 200.
  --jsonpath EXPR=VALUE: EXPR ends at the first '=' outside quotes and
  brackets; VALUE is parsed as JSON when it parses (3, true, null, "3",
  {"a": 1}), else it is taken as a string (SUCCESS).

output:
  stdout gets the body of the matching response, as received, and nothing
  else; nothing at all when the poll fails. Progress and errors go to
  stderr: a live status line when stderr is a terminal (-v: one line per
  attempt instead), otherwise one line per attempt with -v and nothing but
  errors by default. Credentials (-u, URL user:password, Authorization,
  Cookie and other secret headers) are never printed.

exit codes:
  0  a response matched; its body is on stdout
  1  a response matched an alarm condition
  2  usage error (bad option or value)
  3  gave up: --max-retries or --timeout ran out
  4  error: a request failed (e.g. connection refused without
     --retry-transient, TLS error) or a response could not be judged
     (body not JSON, without --retry-non-json)
  130 interrupted (Ctrl-C)
"""



# -- argument types: each raises ArgumentTypeError, whose message argparse prints after the option name


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds, got {!r}".format(text))
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("expected a finite number of seconds >= 0, got {!r}".format(text))
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            "expected at most {:g} seconds (about 31 years), got {!r}".format(MAX_SECONDS, text)
        )
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number of seconds > 0, got {!r}".format(text))
    return value


def _max_retries(text: str) -> Optional[int]:
    if text.strip().lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number or 'none', got {!r}".format(text))
    if value < 0:
        raise argparse.ArgumentTypeError("expected a number >= 0 or 'none', got {!r}".format(text))
    return value


def _request_timeout(text: str) -> Any:
    if "," in text:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError("expected SECONDS or CONNECT,READ, got {!r}".format(text))
        return (_positive_seconds(parts[0].strip()), _positive_seconds(parts[1].strip()))
    return _positive_seconds(text)


def _status_code(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an HTTP status code, got {!r}".format(text))
    if not 100 <= value <= 999:
        raise argparse.ArgumentTypeError("expected an HTTP status code (100-999), got {!r}".format(text))
    return value


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


def _cacert(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError("no such file: {!r}".format(text))
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


class _Or(argparse.Action):
    """Starts a new group of ``dest`` conditions."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        groups = getattr(namespace, self.dest)
        if not groups[-1]:
            parser.error("argument {}: must come between two groups of conditions".format(option))
        groups.append({})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):  # name the options, but never echo values: they may be secrets
            unknown = [word for word in message[len(prefix) :].split() if word.startswith("-")]
            message = prefix + (" ".join(unknown) or "a stray value after URL") + " (values not shown)"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, "{}: error: {}\n".format(self.prog, redact_text(message)))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``httsleep`` command."""
    parser = _Parser(
        prog="httsleep",
        description="Poll URL until the response matches the conditions; print the matching body on stdout.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("url", metavar="URL", help="the URL to poll (http:// or https://)")

    until = parser.add_argument_group("success conditions (all must hold; --or for alternatives)")
    alarms = parser.add_argument_group("alarm conditions (stop with exit code 1; --alarm-or for alternatives)")
    for group, dest, prefix in ((until, "until", ""), (alarms, "alarms", "alarm-")):
        group.add_argument(
            "--{}status-code".format(prefix), dest=dest, key="status_code", action=_Condition,
            type=_status_code, metavar="N", help="the status code is N",
        )
        group.add_argument(
            "--{}text".format(prefix), dest=dest, key="text", action=_Condition,
            metavar="TEXT", help="the body is exactly TEXT",
        )
        group.add_argument(
            "--{}json".format(prefix), dest=dest, key="json", action=_Condition,
            type=_json_value, metavar="JSON", help="the body, decoded as JSON, equals JSON",
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
        help="requests made at most, or 'none' for no limit (default: %(default)s)",
    )
    limits.add_argument(
        "--timeout", type=_positive_seconds, metavar="SECONDS",
        help="seconds the whole poll may take (default: no deadline)",
    )
    limits.add_argument(
        "--request-timeout", type=_request_timeout, default=None, metavar="SECONDS|CONNECT,READ",
        help="timeout of each request (default: 10,30)",
    )
    limits.add_argument(
        "--retry-transient", action="store_true",
        help="keep polling through temporary network errors (connection refused, reset, DNS...)",
    )
    limits.add_argument(
        "--retry-non-json", action="store_true",
        help="keep polling when a JSON condition meets a body that is not JSON (e.g. a proxy's HTML error page)",
    )
    limits.add_argument(
        "--no-retry-after", action="store_true",
        help="ignore the Retry-After header of 202, 429 and 503 responses",
    )

    request = parser.add_argument_group("request")
    request.add_argument("-X", "--method", metavar="METHOD", help="HTTP method (default: GET, or POST with a body)")
    request.add_argument(
        "-H", "--header", dest="headers", action="append", type=_header, default=[], metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    body = request.add_mutually_exclusive_group()
    body.add_argument("-d", "--data", metavar="DATA", help="send DATA as the request body")
    body.add_argument(
        "--json-body", type=_json_value, metavar="JSON",
        help="send JSON as the request body, with Content-Type: application/json",
    )
    request.add_argument("-u", "--user", type=_user, metavar="USER:PASSWORD", help="HTTP basic authentication")
    tls = request.add_mutually_exclusive_group()
    tls.add_argument("--cacert", type=_cacert, metavar="PATH", help="CA bundle to verify the server with")
    tls.add_argument("-k", "--insecure", action="store_true", help="do not verify the server's TLS certificate")

    output = parser.add_argument_group("output").add_mutually_exclusive_group()
    output.add_argument(
        "-v", "--verbose", action="store_true",
        help="one line per attempt on stderr (instead of the live line on a terminal)",
    )
    output.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr, only errors")
    parser.add_argument("--version", action="version", version="httsleep {}".format(__version__))
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the command line; exit with :data:`EXIT_USAGE` on an error."""
    parser = build_parser()
    namespace = argparse.Namespace(until=[{}], alarms=[{}])
    args = parser.parse_args(argv, namespace=namespace)
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


def _jsonpath_detail(until: List[dict], alarms: List[dict]) -> Any:
    """A function showing the current values of the JSONPath expressions in the conditions."""
    expressions: List[str] = []
    for group in until + alarms:
        for item in group.get("jsonpath", ()):
            if item["expression"] not in expressions:
                expressions.append(item["expression"])
    if not expressions:
        return None
    compiled = [(source, parse_jsonpath(source)) for source in expressions]

    def detail(response: Any) -> str:
        try:
            document = response.json()
        except ValueError:
            return ""
        shown = []
        for source, expression in compiled:
            values = [match.value for match in expression.find(document)]
            if not values:
                continue
            value = values[0] if len(values) == 1 else values
            text = json.dumps(value)
            shown.append("{}={}".format(source, text if len(text) <= 40 else text[:37] + "..."))
        return " ".join(shown)

    return detail


def _json_decode_errors() -> Tuple[Type[BaseException], ...]:
    errors: List[Type[BaseException]] = [json.JSONDecodeError, JSONTooDeep]
    from_requests = getattr(requests.exceptions, "JSONDecodeError", None)
    if from_requests is not None:
        errors.append(from_requests)
    return tuple(errors)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``httsleep`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    The command itself starts at :func:`httsleep.__main__.main`, which
    imports this module under its own Ctrl-C handler.
    """
    try:
        return _run(argv)
    except KeyboardInterrupt:  # Ctrl-C outside the poll (parsing, writing the body): no traceback
        sys.stderr.write("\nhttsleep: interrupted\n")
        return EXIT_INTERRUPTED


def _run(argv: Optional[Sequence[str]]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    redact = _secrets(args)
    stderr = sys.stderr

    def say(message: str) -> None:
        stderr.write(printable(redact("httsleep: " + _one_line(message))) + "\n")
        stderr.flush()

    progress = Progress(stderr, verbose=args.verbose, prefix="httsleep: ", redact=redact,
                        detail=_jsonpath_detail(args.until, args.alarms))
    if args.verbose:
        progress.live = False
    if args.quiet:
        progress.live = progress.verbose = False

    method = (args.method or ("POST" if args.data is not None or args.json_body is not None else "GET")).upper()
    request = requests.Request(
        method, args.url, headers=dict(args.headers), data=args.data, json=args.json_body, auth=args.user
    )
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
            retry_transient=args.retry_transient,
            on_attempt=progress,
            **options,
        )
    except (ValueError, TypeError) as error:  # e.g. an invalid URL
        build_parser().print_usage(stderr)
        say("error: {}".format(error))
        return EXIT_USAGE

    if args.verbose:
        say("polling {} {} until {}{}".format(
            method, args.url,
            " or ".join(repr(condition) for condition in sleeper.policy.until),
            "; alarm on " + " or ".join(repr(c) for c in sleeper.policy.alarms) if sleeper.policy.alarms else "",
        ))
    try:
        with warnings.catch_warnings():
            if args.insecure:  # asked for: do not warn about it on every attempt
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = sleeper.run()
    except Alarm as alarm:
        progress.finish()
        say("alarm: {}".format(alarm))
        if args.verbose:
            say("alarm response body: {}".format(_short_body(alarm.response)))
        return EXIT_ALARM
    except GaveUp as gave_up:
        progress.finish()
        say(str(gave_up))
        return EXIT_GAVE_UP
    except _json_decode_errors() as error:
        progress.finish()
        last = progress.last.response if progress.last is not None else None
        say("error: a JSON condition could not be checked: the body of {} is not JSON ({}); "
            "--retry-non-json keeps polling through such responses".format(
                describe_response(last) if last is not None else "the response", error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        progress.finish()
        say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:
        progress.finish()
        say("request failed: {}: {}".format(type(error).__name__, error))
        return EXIT_ERROR
    progress.finish()
    if args.verbose:
        say("matched: {}, {} bytes on stdout".format(describe_response(response), len(response.content)))
    return _write_body(response.content)


def _short_body(response: Any, limit: int = 500) -> str:
    return excerpt(getattr(response, "text", "") or "", limit)


def _write_body(body: bytes) -> int:
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # the reader went away (e.g. `| head -c 10`): not our error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover - `python -m httsleep` goes through __main__.py
    sys.exit(main())
