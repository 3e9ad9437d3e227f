"""``httsleep()`` and ``async_httsleep()`` show every option: to ``help()``, to IDEs, and to type checkers.

Both functions take exactly the parameters of their classes, spelled out
(no ``**options``), so a misspelt option is an error before anything runs.
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


@PAIRS
def test_the_function_takes_exactly_the_parameters_of_its_class(function, cls):
    assert parameters(function) == parameters(cls.__init__)


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
