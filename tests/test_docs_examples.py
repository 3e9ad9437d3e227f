"""Every ``python`` example in README.md and docs/*.md runs, and does what its text says.

The convention (see the "Executable docs convention" of the project brief):

- Every fenced block whose info string is exactly ``python`` is executed,
  in file order, in one namespace per file (like a doctest file), with
  :func:`httsleep.testing.no_waiting` active so polling intervals cost
  nothing.
- ``http://myendpoint`` and ``http://server`` in a block are replaced by the
  URL of a local test server. Every path and method on it answers from the
  block's *response script*.
- ``redis://redis:6379/0`` in a block is replaced by the URL of a
  redis-server the tests start on loopback (tests/redis_server.py; only
  when a page needs one), emptied when a file's examples start over.
- The response script is an HTML comment ending on the line right before
  the fence::

      <!-- example: {"responses": [{"status": 202, "json": {"status": "PENDING"}},
                                   {"json": {"status": "SUCCESS"}}],
                     "raises": "Alarm"} -->

  ``responses`` are served in order to whatever requests the block makes,
  the last one forever; each may have ``status`` (default 200), ``json``,
  ``text`` and ``headers``. Without a comment the server answers
  ``200 {"status": "SUCCESS"}``. A block's script (given or default)
  applies to every request from the start of that block until the next
  block starts.
- ``"raises": "Name"``: the block must raise an exception with a class
  of that name in its MRO (``"StopIteration"``, ``"Alarm"``...).
- Two optional checks that let an example prove what its text claims:
  ``"prints": "text"`` (or a list of texts) that must appear in what the
  block printed, and ``"requests": N``, the number of requests the server
  must have received while the block ran.
- ``<!-- skip-example: reason -->`` right before a fence skips that block.
- Predefined names: ``username``, ``password``, ``auth_token``, ``data``
  (values a reader has to bring anyway) and ``url`` (the local server's
  ``/jobs/1``). Nothing else: a function or class an example uses must be
  defined on the page, in that block or an earlier one, so that an example
  copied from the page does not end in a ``NameError``.
- A block may use top-level ``await``; it then runs in :func:`asyncio.run`.
- A ``DeprecationWarning`` raised by the example's own code is an error
  (examples must keep running on newer Pythons).

There is one test per block, with an id such as ``docs/tutorial.md:123``
(the line of the opening fence); tracebacks show the markdown file's line
numbers. Files are discovered when the tests are collected, so pages added
later are covered without editing this module. The last tests check that the
harness itself fails when an example is wrong.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import io
import json
import re
import sys
import tempfile
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

import httsleep.testing
from httsleep._jobserver import JobServer

ROOT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_EXAMPLE = re.compile(r"<!--\s*example:(?P<body>.*?)-->", re.S)
_SKIP = re.compile(r"<!--\s*skip-example:(?P<reason>.*?)-->", re.S)
_HOSTS = re.compile(r"http://(?:myendpoint|server)(?![\w.-])")
_REDIS = re.compile(r"redis://redis:6379/0(?![\w./-])")

_DEFAULT_RESPONSES: List[Dict[str, Any]] = [{"status": 200, "json": {"status": "SUCCESS"}}]
_SCRIPT_KEYS = {"responses", "raises", "prints", "requests"}
_RESPONSE_KEYS = {"status", "json", "text", "headers"}
_EXAMPLE_MODULE = "__docs_example__"


class ExampleError(AssertionError):
    """A documentation example did not do what its script says."""


@dataclass
class Block:
    """One ``python`` fence of a markdown file."""

    path: str
    line: int  # 1-based line of the opening fence
    code: str
    script: Dict[str, Any] = field(default_factory=dict)
    skip: Optional[str] = None
    error: Optional[str] = None  # a problem found while parsing (bad comment...)

    @property
    def id(self) -> str:
        return "{}:{}".format(self.path, self.line)


# -- parsing -------------------------------------------------------------------


def _comment_before(lines: List[str], index: int) -> tuple:
    """The HTML comment ending on the line right before ``lines[index]``: (text, first line index) or (None, None)."""
    end = index - 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None, None
    start = end
    while start >= 0 and "<!--" not in lines[start]:
        start -= 1
    if start < 0:
        return None, None
    text = "\n".join(lines[start : end + 1])
    return text[text.rindex("<!--") :], start


def _parse_script(comment: str) -> Dict[str, Any]:
    match = _EXAMPLE.search(comment)
    assert match is not None
    try:
        script = json.loads(match.group("body"))
    except ValueError as error:
        raise ExampleError("the example comment is not valid JSON ({}): {}".format(error, comment.strip()))
    if not isinstance(script, dict):
        raise ExampleError("the example comment must hold a JSON object, not {!r}".format(script))
    unknown = set(script) - _SCRIPT_KEYS
    if unknown:
        raise ExampleError(
            "unknown key(s) {} in example comment; known: {}".format(sorted(unknown), sorted(_SCRIPT_KEYS))
        )
    responses = script.get("responses", _DEFAULT_RESPONSES)
    if not isinstance(responses, list) or not responses:
        raise ExampleError("'responses' must be a non-empty list, not {!r}".format(responses))
    for response in responses:
        if not isinstance(response, dict) or set(response) - _RESPONSE_KEYS:
            raise ExampleError(
                "each response must be an object with keys among {}, not {!r}".format(sorted(_RESPONSE_KEYS), response)
            )
    if "raises" in script and not isinstance(script["raises"], str):
        raise ExampleError("'raises' must be an exception class name, not {!r}".format(script["raises"]))
    if "requests" in script and not isinstance(script["requests"], int):
        raise ExampleError("'requests' must be an integer, not {!r}".format(script["requests"]))
    return script


def parse_markdown(text: str, path: str = "<string>") -> List[Block]:
    """The ``python`` blocks of a markdown text, with their scripts.

    Problems (a comment that is not JSON, an unknown key, an example comment
    attached to no ``python`` fence) become blocks carrying ``error``, so that
    they fail as tests instead of being silently ignored.
    """
    lines = text.splitlines()
    blocks: List[Block] = []
    attached = set()  # line indexes of example comments that belong to a python fence
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening.group("fence"), opening.group("indent")
        closing = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if opening.group("info").strip() == "python":
            body = [
                line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines[index + 1 : end]
            ]
            block = Block(path, index + 1, "\n".join(body) + "\n")
            comment, start = _comment_before(lines, index)
            if comment is not None:
                skip = _SKIP.search(comment)
                if skip:
                    block.skip = skip.group("reason").strip() or "no reason given"
                elif _EXAMPLE.search(comment):
                    attached.add(start)
                    try:
                        block.script = _parse_script(comment)
                    except ExampleError as error:
                        block.error = str(error)
            blocks.append(block)
        index = end + 1
    for match in _EXAMPLE.finditer(text):
        line_index = text.count("\n", 0, match.start())
        if line_index not in attached and not _in_fence(lines, line_index):
            blocks.append(
                Block(
                    path,
                    line_index + 1,
                    "",
                    error="example comment not directly followed by a ```python fence",
                )
            )
    blocks.sort(key=lambda block: block.line)
    return blocks


def _in_fence(lines: List[str], target: int) -> bool:
    """Whether line ``target`` is inside a fenced block (e.g. this convention shown as text)."""
    index = 0
    while index < len(lines) and index < target:
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence = opening.group("fence")
        closing = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if index < target < end:
            return True
        index = end + 1
    return False


# -- the local server --------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        body_in = self._read_body()
        spec = self.server.next_response(self.command, self.path, dict(self.headers), body_in)
        headers = {key.lower(): (key, value) for key, value in (spec.get("headers") or {}).items()}
        if "json" in spec:
            body = json.dumps(spec["json"]).encode()
            headers.setdefault("content-type", ("Content-Type", "application/json"))
        elif "text" in spec:
            body = spec["text"].encode()
            headers.setdefault("content-type", ("Content-Type", "text/plain; charset=utf-8"))
        else:
            body = b""
        self.send_response(int(spec.get("status", 200)))
        for name, value in headers.values():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass


class ScriptedServer(ThreadingHTTPServer):
    """A loopback server answering every request from the current response script."""

    daemon_threads = True
    request_queue_size = 128  # examples start a hundred polls at once (the default backlog is 5)

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._responses: List[Dict[str, Any]] = list(_DEFAULT_RESPONSES)
        self._served = 0
        self.log: List[tuple] = []
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:{}".format(self.server_address[1])

    def set_script(self, responses: List[Dict[str, Any]]) -> None:
        """Serve ``responses`` from now on, from the first; forget the request log."""
        with self._lock:
            self._responses = list(responses)
            self._served = 0
            self.log = []

    def next_response(self, method: str, path: str, headers: dict, body: bytes) -> Dict[str, Any]:
        with self._lock:
            self.log.append((method, path, headers, body))
            spec = self._responses[min(self._served, len(self._responses) - 1)]
            self._served += 1
            return spec

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


# -- running -------------------------------------------------------------------------


class DocsRedis:
    """The redis-server of the examples naming ``redis://redis:6379/0``: started on first use, emptied per file run."""

    def __init__(self) -> None:
        self.server: Any = None
        self._folder: Optional[tempfile.TemporaryDirectory] = None
        self._emptied_for: Optional[int] = None

    def url_for(self, namespace: Dict[str, Any]) -> str:
        if self.server is None:
            from redis_server import RedisServer

            self._folder = tempfile.TemporaryDirectory(prefix="httsleep-docs-redis-")
            self.server = RedisServer(Path(self._folder.name)).start()
        if self._emptied_for != id(namespace):  # a file's examples (re)start: its circuits start closed
            self.server.flushall()
            self._emptied_for = id(namespace)
        return str(self.server.url)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


_DOCS_REDIS = DocsRedis()



def _predefined(server: ScriptedServer) -> Dict[str, Any]:
    return {
        "__name__": _EXAMPLE_MODULE,
        "username": "alice",
        "password": "s3cret",
        "auth_token": "0123456789abcdef",
        "data": {"name": "nightly-build"},
        "url": server.base_url + "/jobs/1",
    }


class _Tee(io.StringIO):
    """Keeps what a block prints and still passes it on (pytest shows it on failure)."""

    def __init__(self, passthrough: Any) -> None:
        super().__init__()
        self._passthrough = passthrough

    def write(self, text: str) -> int:
        self._passthrough.write(text)
        return super().write(text)


def _class_names(exc: BaseException) -> List[str]:
    return [cls.__name__ for cls in type(exc).__mro__]


def run_block(block: Block, namespace: Dict[str, Any], server: ScriptedServer) -> None:
    """Run one block in ``namespace``; raise :class:`ExampleError` if it does not do what its script says."""
    if block.error:
        raise ExampleError("{}: {}".format(block.id, block.error))
    script = block.script
    server.set_script(script.get("responses", _DEFAULT_RESPONSES))
    code = _HOSTS.sub(server.base_url, block.code)
    if _REDIS.search(code):
        code = _REDIS.sub(_DOCS_REDIS.url_for(namespace), code)
    source = "\n" * block.line + code  # line numbers in tracebacks are the markdown file's
    try:
        compiled = compile(source, block.path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as error:
        raise ExampleError("{}: the example does not compile: {}".format(block.id, error)) from error
    expected = script.get("raises")
    output = _Tee(sys.stdout)
    raised: Optional[BaseException] = None
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning, module=re.escape(_EXAMPLE_MODULE))
        with httsleep.testing.no_waiting(), contextlib.redirect_stdout(output):
            try:
                result = eval(compiled, namespace)  # noqa: S307 - running the documentation is the point
                if asyncio.iscoroutine(result):
                    asyncio.run(result)
            except BaseException as exc:  # noqa: B036 - StopIteration and KeyboardInterrupt included
                if isinstance(exc, (KeyboardInterrupt, SystemExit)) and expected is None:
                    raise
                raised = exc
    if expected is None and raised is not None:
        details = "".join(traceback.format_exception(type(raised), raised, raised.__traceback__))
        raise ExampleError("{}: the example raised {!r}\n{}".format(block.id, raised, details)) from raised
    if expected is not None:
        if raised is None:
            raise ExampleError("{}: the example should raise {} but finished normally".format(block.id, expected))
        if expected not in _class_names(raised):
            details = "".join(traceback.format_exception(type(raised), raised, raised.__traceback__))
            raise ExampleError(
                "{}: the example should raise {} but raised {!r}\n{}".format(block.id, expected, raised, details)
            ) from raised
    prints = script.get("prints")
    for text in [prints] if isinstance(prints, str) else prints or []:
        if text not in output.getvalue():
            raise ExampleError(
                "{}: the example should print {!r}; it printed {!r}".format(block.id, text, output.getvalue())
            )
    if "requests" in script and len(server.log) != script["requests"]:
        raise ExampleError(
            "{}: the example should make {} request(s) but made {}".format(
                block.id, script["requests"], len(server.log)
            )
        )


class DocFile:
    """The shared namespace of one file, with the blocks run so far."""

    def __init__(self, blocks: List[Block], server: ScriptedServer) -> None:
        self.blocks = blocks
        self.server = server
        self.reset()

    def reset(self) -> None:
        self.namespace = _predefined(self.server)
        self.done = 0

    def run_through(self, position: int) -> None:
        """Run block ``position``, after any earlier block not run yet (their failures are their own tests')."""
        if position < self.done:  # run again, or out of order: start the file over
            self.reset()
        while self.done < position:
            block = self.blocks[self.done]
            self.done += 1
            if block.skip is None:
                with contextlib.suppress(ExampleError):
                    run_block(block, self.namespace, self.server)
        block = self.blocks[position]
        self.done = position + 1
        if block.skip is not None:
            pytest.skip("{}: {}".format(block.id, block.skip))
        run_block(block, self.namespace, self.server)


def check_markdown(text: str, server: ScriptedServer, path: str = "<string>") -> List[tuple]:
    """Run every block of ``text`` in order; return ``(block, error message or None)`` for each block run."""
    namespace = _predefined(server)
    results = []
    for block in parse_markdown(text, path):
        if block.skip is not None:
            continue
        try:
            run_block(block, namespace, server)
        except ExampleError as error:
            results.append((block, str(error)))
        else:
            results.append((block, None))
    return results


# -- the tests -------------------------------------------------------------------------


def _documents() -> List[Path]:
    docs = sorted((ROOT / "docs").glob("*.md"))
    return [ROOT / "README.md", *docs]


def _collect() -> List[Block]:
    blocks = []
    for document in _documents():
        blocks.extend(parse_markdown(document.read_text(encoding="utf-8"), document.relative_to(ROOT).as_posix()))
    return blocks


_BLOCKS = _collect()
_FILES: Dict[str, DocFile] = {}


@pytest.fixture(scope="module")
def doc_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    try:
        yield server
    finally:
        for doc_file in _FILES.values():  # sessions the examples left open
            for value in doc_file.namespace.values():
                if isinstance(value, requests.Session):
                    value.close()
        _FILES.clear()
        server.stop()
        _DOCS_REDIS.stop()


@pytest.mark.parametrize("block", _BLOCKS, ids=[block.id for block in _BLOCKS])
def test_documentation_example(block: Block, doc_server: ScriptedServer) -> None:
    """The example runs and does what its response script says (raises, prints, request count)."""
    doc_file = _FILES.get(block.path)
    if doc_file is None:
        same_file = [other for other in _BLOCKS if other.path == block.path]
        doc_file = _FILES[block.path] = DocFile(same_file, doc_server)
    doc_file.run_through(doc_file.blocks.index(block))


def test_readme_and_every_docs_page_are_covered() -> None:
    """README.md and each docs/*.md page are searched, and every ```python fence in them is a test."""
    paths = {block.path for block in _BLOCKS}
    assert "README.md" in paths
    assert "docs/tutorial.md" in paths
    for document in _documents():
        path = document.relative_to(ROOT).as_posix()
        fences = re.findall(r"^[ \t]*```python[ \t]*$", document.read_text(encoding="utf-8"), flags=re.MULTILINE)
        assert len([block for block in _BLOCKS if block.path == path]) == len(fences), path


# -- the harness catches wrong examples ---------------------------------------------------


def _errors(markdown: str, server: ScriptedServer) -> List[Optional[str]]:
    return [error for _, error in check_markdown(markdown, server)]


def test_harness_fails_an_example_that_does_not_raise_as_promised(doc_server: ScriptedServer) -> None:
    """A block whose text promises an Alarm but whose response never triggers one is reported."""
    markdown = (
        "Text\n"
        '<!-- example: {"responses": [{"json": {"status": "OK"}}], "raises": "Alarm"} -->\n'
        "```python\n"
        "from httsleep import httsleep\n"
        "httsleep('http://myendpoint/jobs/1', until={'json': {'status': 'OK'}}, alarms={'json': {'status': 'ERROR'}})\n"
        "```\n"
    )
    [error] = _errors(markdown, doc_server)
    assert error is not None and "should raise Alarm but finished normally" in error


def test_harness_fails_an_example_that_raises_unexpectedly(doc_server: ScriptedServer) -> None:
    """A block that raises without a "raises" expectation is reported, with its traceback at the markdown line."""
    markdown = (
        '<!-- example: {"responses": [{"json": {"status": "ERROR"}}]} -->\n'
        "```python\n"
        "from httsleep import httsleep\n"
        "httsleep('http://myendpoint/jobs/1', until={'json': {'status': 'OK'}}, alarms={'json': {'status': 'ERROR'}})\n"
        "```\n"
    )
    [error] = _errors(markdown, doc_server)
    assert error is not None and "raised Alarm" in error
    assert 'File "<string>", line 4' in error


def test_harness_fails_an_example_that_raises_the_wrong_exception(doc_server: ScriptedServer) -> None:
    """The "raises" name must be in the MRO of what was raised: StopIteration is not an Alarm."""
    markdown = (
        '<!-- example: {"responses": [{"status": 503}], "raises": "Alarm"} -->\n'
        "```python\n"
        "from httsleep import httsleep\n"
        "httsleep('http://myendpoint/jobs/1', until={'status_code': 200}, max_retries=3)\n"
        "```\n"
        '<!-- example: {"responses": [{"status": 503}], "raises": "StopIteration", "requests": 3} -->\n'
        "```python\n"
        "httsleep('http://myendpoint/jobs/1', until={'status_code': 200}, max_retries=3)\n"
        "```\n"
    )
    first, second = _errors(markdown, doc_server)
    assert first is not None and "should raise Alarm but raised StopPolling" in first
    assert second is None


def test_harness_checks_prints_and_request_counts(doc_server: ScriptedServer) -> None:
    """ "prints" and "requests" expectations that do not hold are reported."""
    markdown = (
        '<!-- example: {"prints": "gave up", "requests": 2} -->\n'
        "```python\n"
        "import requests\n"
        "print(requests.get(url).json())\n"
        "```\n"
    )
    [error] = _errors(markdown, doc_server)
    assert error is not None and "should print 'gave up'" in error
    markdown = markdown.replace('"prints": "gave up", ', "")
    [error] = _errors(markdown, doc_server)
    assert error is not None and "should make 2 request(s) but made 1" in error


def test_harness_fails_an_example_that_uses_a_name_the_page_never_defines(doc_server: ScriptedServer) -> None:
    """A callback the page only names (as 0.3.1's tutorial did) is a NameError, as for a reader who copies it."""
    markdown = (
        '<!-- example: {"responses": [{"json": {"status": "UNKNOWN"}}], "raises": "Alarm"} -->\n'
        "```python\n"
        "from httsleep import httsleep\n"
        "httsleep(url, until={'json': {'status': 'OK'}},\n"
        "         alarms={'json': {'status': 'UNKNOWN'}, 'callback': is_job_really_failing})\n"
        "```\n"
    )
    [error] = _errors(markdown, doc_server)
    assert error is not None and "NameError" in error and "is_job_really_failing" in error
    defined = markdown.replace("from httsleep import httsleep\n", "from httsleep import httsleep\n"
                               "def is_job_really_failing(response):\n    return True\n")
    assert _errors(defined, doc_server) == [None]


def test_harness_rejects_malformed_or_orphaned_comments(doc_server: ScriptedServer) -> None:
    """A comment that is not JSON, has an unknown key, or is not attached to a python fence fails."""
    markdown = (
        "<!-- example: {responses: []} -->\n"
        "```python\n"
        "pass\n"
        "```\n"
        '<!-- example: {"raise": "Alarm"} -->\n'
        "```python\n"
        "pass\n"
        "```\n"
        '<!-- example: {"raises": "Alarm"} -->\n'
        "\n"
        "```python\n"
        "pass\n"
        "```\n"
    )
    errors = _errors(markdown, doc_server)
    assert errors[0] is not None and "not valid JSON" in errors[0]
    assert errors[1] is not None and "unknown key(s) ['raise']" in errors[1]
    assert errors[2] is not None and "not directly followed" in errors[2]
    assert errors[3] is None  # the detached fence itself runs with the default script


def test_harness_shares_a_namespace_per_file_and_scripts_per_block(doc_server: ScriptedServer) -> None:
    """Names persist across blocks; each block gets its own script (default when none); skip-example skips."""
    markdown = (
        '<!-- example: {"responses": [{"status": 202, "json": {"status": "PENDING"}}, {"json": {"status": "OK"}}],'
        ' "prints": "OK after 2"} -->\n'
        "```python\n"
        "from httsleep import httsleep\n"
        "calls = []\n"
        "response = httsleep('http://server/jobs/1', until={'json': {'status': 'OK'}},\n"
        "                    on_attempt=calls.append)\n"
        "print(response.json()['status'], 'after', len(calls))\n"
        "```\n"
        "<!-- skip-example: would fail -->\n"
        "```python\n"
        "raise RuntimeError('skipped blocks do not run')\n"
        "```\n"
        "```python\n"
        "assert httsleep(url, until={'json': {'status': 'SUCCESS'}}).json() == {'status': 'SUCCESS'}\n"
        "assert len(calls) == 2 and username and password and auth_token and data\n"
        "```\n"
        "   ```python\n"
        "   assert url.endswith('/jobs/1')\n"
        "   ```\n"
        "```console\n"
        "$ this is not run\n"
        "```\n"
    )
    assert _errors(markdown, doc_server) == [None, None, None]


def test_harness_runs_top_level_await_and_rejects_deprecated_calls(doc_server: ScriptedServer) -> None:
    """A block may await at top level; a DeprecationWarning from the example's own code fails it."""
    markdown = (
        "```python\n"
        "import asyncio\n"
        "await asyncio.sleep(0)\n"
        "```\n"
        "```python\n"
        "import warnings\n"
        "warnings.warn('old', DeprecationWarning)\n"
        "```\n"
    )
    first, second = _errors(markdown, doc_server)
    assert first is None
    assert second is not None and "DeprecationWarning" in second


class BundledJobs:
    """httsleep's own job server in the place of the scripted one: ``/jobs/1`` and ``/jobs/2`` end in SUCCESS.

    What a reader who tries the README against the server the project ships
    (or a real one) would see: no response script, real job documents with
    more fields than ``status``.
    """

    STATES = ("PENDING", "RUNNING", "SUCCESS")

    def __init__(self) -> None:
        self.jobs = JobServer({"/jobs/1": self.STATES, "/jobs/2": self.STATES}).start()
        self.log: List[tuple] = []

    @property
    def base_url(self) -> str:
        return self.jobs.url("")

    def set_script(self, responses: List[Dict[str, Any]]) -> None:
        """The jobs answer for themselves: the scripted responses are ignored."""


def run_against_the_bundled_jobs(path: str) -> None:
    """Run the page's examples in order against :class:`BundledJobs`; their ``raises`` and ``prints`` still apply."""
    server = BundledJobs()
    try:
        namespace = _predefined(server)  # type: ignore[arg-type]
        for block in parse_markdown((ROOT / path).read_text(encoding="utf-8"), path):
            if block.skip is not None:
                continue
            # An example that scripts its answers (an alarm, a give-up) shows what those answers do: against
            # real jobs it must still run, but what it raises or prints is not checked.
            checked = ("raises", "prints") if "responses" not in block.script else ()
            script = {key: value for key, value in block.script.items() if key in checked}
            run_block(dataclasses.replace(block, script=script), namespace, server)  # type: ignore[arg-type]
    finally:
        server.jobs.stop()


def test_the_readme_examples_match_the_bundled_job_server() -> None:
    """Every README example runs against real job documents, and those without scripted answers succeed."""
    run_against_the_bundled_jobs("README.md")


def test_an_example_that_cannot_match_a_real_job_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: ``json=`` compares the whole body, which has more than ``status``, so the poll gives up."""
    page = tmp_path / "page.md"
    page.write_text("```python\nfrom httsleep import httsleep\n"
                    "httsleep('http://myendpoint/jobs/1', json={'status': 'SUCCESS'}, timeout=60)\n```\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(ExampleError, match="StopPolling"):
        run_against_the_bundled_jobs("page.md")


# -- what a newcomer needs: how to install, and links between the pages --------------------

#: The extras that are not for users of the library but for working on it.
_DEVELOPMENT_EXTRAS = {"test", "lint", "docs", "bench"}


def _user_extras() -> Dict[str, List[str]]:
    """Each extra a user may install (``async``, ``aiohttp``...), with the distributions it adds."""
    from importlib.metadata import metadata, requires

    from packaging.requirements import Requirement

    extras = set(metadata("httsleep").get_all("Provides-Extra") or []) - _DEVELOPMENT_EXTRAS
    added: Dict[str, List[str]] = {name: [] for name in extras}
    for line in requires("httsleep") or []:
        for name in extras:
            if 'extra == "{}"'.format(name) in line:
                added[name].append(Requirement(line).name)
    return added


@pytest.mark.parametrize("page", ["docs/index.md", "docs/tutorial.md"])
def test_the_home_page_and_the_tutorial_say_how_to_install(page: str) -> None:
    """``pip install httsleep`` and every user extra (``'httsleep[async]'``...) are on the page."""
    text = (ROOT / page).read_text(encoding="utf-8")
    assert "pip install httsleep" in text
    extras = _user_extras()
    assert {"async", "aiohttp", "compression"} <= set(extras)
    for name in extras:
        assert re.search(r"httsleep\[[\w,]*\b{}\b[\w,]*\]".format(re.escape(name)), text), name


def test_the_home_page_says_what_each_extra_installs() -> None:
    """The install table of the home page names the distributions of each extra (httpx, aiohttp, brotli...)."""
    text = (ROOT / "docs" / "index.md").read_text(encoding="utf-8").lower()
    for name, distributions in _user_extras().items():
        for distribution in distributions:
            assert distribution.lower() in text, (name, distribution)


def _page_names() -> set:
    """What a page is called: its file name without ``.md``, and the first word of its title."""
    names = set()
    for page in (ROOT / "docs").glob("*.md"):
        names.add(page.stem.lower())
        title = re.search(r"^# (\w+)", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
        if title:
            names.add(title.group(1).lower())
    return names - {"httsleep", "how"}  # the home page's title is the project's name


def plain_page_references(text: str, names: set) -> List[str]:
    """The places where ``text`` names another docs page without linking to it.

    A file name (``docs/reliability.md``, ``async.md``) or "the <name> page"
    outside a Markdown link, a ``{doc}`` role and a fenced block is plain
    text a reader cannot follow.
    """
    text = re.sub(r"^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[ \t]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"\[[^\]]*\]\([^)]*\)|\{doc\}`[^`]*`|<https?://[^>]*>", "", text)
    found = []
    for match in re.finditer(r"[\w./-]*?\b([\w-]+)\.md\b", text):
        if match.group(1).lower() in names:
            found.append(match.group(0))
    for match in re.finditer(r"\bthe ([\w-]+) page\b", text, flags=re.IGNORECASE):
        if match.group(1).lower() in names:
            found.append(match.group(0))
    return found


@pytest.mark.parametrize("path", [document.relative_to(ROOT).as_posix() for document in _documents()])
def test_a_docs_page_named_on_a_page_is_a_link(path: str) -> None:
    """README.md and every docs page link to the pages they name ({doc}`...` or a Markdown link), never plain text."""
    assert plain_page_references((ROOT / path).read_text(encoding="utf-8"), _page_names()) == []


def test_a_page_name_in_plain_text_is_found() -> None:
    """The control: file names and "the ... page" outside links are reported; links and code blocks are not."""
    names = _page_names()
    assert {"reliability", "cli", "asyncio", "tutorial"} <= names
    markdown = (
        "See docs/reliability.md, or the CLI page.\n"
        "See [docs/reliability.md](reliability.md), {doc}`cli`, [the CLI](https://x/docs/cli.md).\n"
        "```sh\ncat docs/async.md\n```\n"
        "Not a page: the error page, notes.md, benchmarks/README.md.\n"
    )
    assert plain_page_references(markdown, names) == ["docs/reliability.md", "the CLI page"]
