"""``httsleep()`` and ``async_httsleep()`` show every option: to ``help()``, to IDEs, and to type checkers.

Both functions take exactly the parameters of their classes, spelled out
(no ``**options``), so a misspelt option is an error before anything runs;
and the two front ends, :class:`HttSleeper` and :class:`AsyncHttSleeper`,
take the same options, apart from the documented differences pinned here.
"""

from __future__ import annotations

import inspect
import pydoc
import re
import textwrap
from pathlib import Path

import pytest

import httsleep
from httsleep import AsyncHttSleeper, HttSleeper, async_httsleep

ROOT = Path(__file__).resolve().parent.parent

PAIRS = pytest.mark.parametrize(
    "function, cls", [(httsleep.httsleep, HttSleeper), (async_httsleep, AsyncHttSleeper)], ids=["sync", "asyncio"]
)


def parameters(callable_):
    """(name, kind, default) of each parameter, ``self`` left out."""
    return [
        (parameter.name, parameter.kind, parameter.default)
        for parameter in inspect.signature(callable_).parameters.values()
        if parameter.name != "self"
    ]


def annotations(callable_):
    """{name: annotation} of each parameter, ``self`` left out (as written: the modules postpone them)."""
    return {
        parameter.name: parameter.annotation
        for parameter in inspect.signature(callable_).parameters.values()
        if parameter.name != "self"
    }


@PAIRS
def test_the_function_takes_exactly_the_parameters_of_its_class(function, cls):
    """Same names, in the same order, of the same kinds, with the same defaults and the same annotations."""
    assert parameters(function) == parameters(cls.__init__)
    assert annotations(function) == annotations(cls.__init__)


#: The parameter of one front end standing in for the other's: the HTTP library's session or client.
FRONT_END_SPECIFIC = {"session": "client"}
#: Parameters both front ends take whose types differ with the HTTP library: the request object
#: (requests.Request / httpx.Request), what verify= accepts (the asyncio front end also takes an
#: ssl.SSLContext, see docs/async.md) and the response a callback is given.
TYPED_BY_LIBRARY = {"url_or_request", "verify", "callback"}


def test_both_front_ends_take_the_same_options_with_the_same_defaults():
    """An option added to one front end only (or with another default, kind or place) fails here."""
    sync = parameters(HttSleeper.__init__)
    asyncio_ = parameters(AsyncHttSleeper.__init__)
    renamed = [(FRONT_END_SPECIFIC.get(name, name), kind, default) for name, kind, default in sync]
    assert renamed == asyncio_
    only_sync = {name for name, _, _ in sync} - {name for name, _, _ in asyncio_}
    only_asyncio = {name for name, _, _ in asyncio_} - {name for name, _, _ in sync}
    assert (only_sync, only_asyncio) == (set(FRONT_END_SPECIFIC), set(FRONT_END_SPECIFIC.values()))


def test_both_front_ends_type_their_shared_options_alike_but_for_the_http_library():
    sync, asyncio_ = annotations(HttSleeper.__init__), annotations(AsyncHttSleeper.__init__)
    shared = sync.keys() & asyncio_.keys()
    assert {name for name in shared if sync[name] != asyncio_[name]} == TYPED_BY_LIBRARY


@PAIRS
def test_no_option_hides_behind_keyword_arguments(function, cls):
    kinds = {kind for _, kind, _ in parameters(function)}
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds
    names = {name for name, _, _ in parameters(function)}
    assert {"timeout", "retry_transient", "request_timeout", "max_body_size", "status_code", "jsonpath",
            "on_attempt", "circuit_breaker"} <= names


@PAIRS
def test_help_shows_the_options_their_defaults_and_an_example(function, cls):
    shown = pydoc.render_doc(function, renderer=pydoc.plaintext)
    for name, default in [("timeout", "None"), ("max_retries", "50"), ("polling_interval", "2"),
                          ("retry_transient", "False"), ("request_timeout", "(10.0, 30.0)")]:
        assert re.search(r"\b{}(: '[^']*')? = {}[,)]".format(name, re.escape(default)), shown), name
    assert ">>> response = " in shown and cls.__name__ in shown


def test_a_misspelt_option_is_a_type_error_at_the_call():
    with pytest.raises(TypeError, match="retry_transiant"):
        httsleep.httsleep("http://127.0.0.1:9/", status_code=200, retry_transiant=True)


def test_mypy_catches_a_misspelt_option(tmp_path, monkeypatch):
    api = pytest.importorskip("mypy.api")
    script = tmp_path / "caller.py"
    script.write_text(textwrap.dedent("""\
        import asyncio
        from httsleep import async_httsleep, httsleep

        httsleep("http://127.0.0.1:9/", status_code=200, retry_transient=True, timeout=5)
        httsleep("http://127.0.0.1:9/", status_code=200, retry_transiant=True)
        asyncio.run(async_httsleep("http://127.0.0.1:9/", status_code=200, timout=5))
        """))
    monkeypatch.setenv("MYPYPATH", str(ROOT))  # an editable install is invisible to mypy
    stdout, stderr, status = api.run([
        "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
        "--no-error-summary", str(script),
    ])
    errors = [line for line in stdout.splitlines() if ": error: " in line]
    assert status == 1 and len(errors) == 2, stdout + stderr
    assert 'caller.py:5: error: Unexpected keyword argument "retry_transiant" for "httsleep"' in errors[0]
    assert 'caller.py:6: error: Unexpected keyword argument "timout" for "async_httsleep"' in errors[1]
