"""Every ``>>>`` example in httsleep's docstrings runs, and shows what it says it shows.

The docstrings are part of the documentation (the API reference renders
them), so their examples are held to the same rule as the pages': they run
in the suite. As in the pages, ``http://myendpoint`` stands for a server:
here a local one that answers ``200 {"status": "SUCCESS"}`` to everything.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import httsleep

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(httsleep.__path__, "httsleep.")
    if info.name not in ("httsleep.__main__", "httsleep.demo")  # programs, not libraries: they run on import
)
PLACEHOLDER = "http://myendpoint"


def run_examples(module, server_url):
    """Run the module's examples, with the placeholder host pointing at ``server_url``: (failed, attempted)."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
    for test in doctest.DocTestFinder().find(module):
        for example in test.examples:
            example.source = example.source.replace(PLACEHOLDER, server_url)
        runner.run(test, out=lambda text: None)
    return runner.failures, runner.tries


@pytest.fixture
def myendpoint(httpserver):
    httpserver.expect_request("").respond_with_json({"status": "SUCCESS"})
    return httpserver.url_for("").rstrip("/")


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_of_every_module_run(name, myendpoint):
    failed, attempted = run_examples(importlib.import_module(name), myendpoint)
    assert failed == 0, "{} of {} examples failed in {} (run doctest on it for details)".format(
        failed, attempted, name
    )


def test_the_modules_with_examples_are_found(myendpoint):
    """The control: the walk finds the modules, and their examples are counted."""
    counted = {name: run_examples(importlib.import_module(name), myendpoint)[1] for name in MODULES}
    assert {"httsleep.redaction", "httsleep.waits", "httsleep.policy", "httsleep.transient", "httsleep.main",
            "httsleep.aio"} <= {name for name, attempted in counted.items() if attempted}


def test_a_wrong_example_fails(httpserver):
    """The control: an example that raises is counted as failed (the one of httsleep() meets its alarm)."""
    httpserver.expect_request("").respond_with_json({"status": "ERROR"})
    failed, attempted = run_examples(importlib.import_module("httsleep.main"), httpserver.url_for("").rstrip("/"))
    assert attempted and failed
