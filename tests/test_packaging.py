"""What `pip install httsleep` brings, what `import httsleep` loads, and what the package index shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import metadata, requires
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/kopf/httsleep/blob/main/"


def extra(name):
    """The names of the distributions an extra adds (``pip install 'httsleep[name]'``)."""
    marker = 'extra == "{}"'.format(name)
    return {Requirement(line).name for line in requires("httsleep") or [] if marker in line}


def test_core_dependencies_are_only_requests_and_jsonpath_rw():
    core = {
        Requirement(line).name
        for line in requires("httsleep") or []
        if Requirement(line).marker is None or "extra" not in str(Requirement(line).marker)
    }
    assert core == {"requests", "jsonpath-rw"}


def test_import_httsleep_imports_nothing_heavy():
    """Optional and slow imports happen on first use only; the package itself imports no other module.

    The ``httsleep`` command sets its Ctrl-C handler once the package is imported: the less that takes,
    the shorter the window in which Ctrl-C shows a traceback.
    """
    code = (
        "import sys; before = set(sys.modules); import httsleep; "
        "print(sorted(set(sys.modules) - before - {'httsleep'} - {m for m in sys.modules if 'editable' in m}))"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "[]"


def test_the_synchronous_poller_does_not_import_inspect_or_dataclasses():
    """Both cost milliseconds at every first poll (inspect ~4 ms): the poller's own modules do without them."""
    code = "import sys, httsleep.main; print('inspect' in sys.modules, 'dataclasses' in sys.modules)"
    # the child runs without coverage's subprocess measurement, which imports both itself
    env = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE")}
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert output.strip() == "False False"


def test_the_httsleep_logger_has_a_null_handler_once_anything_logs():
    code = (
        "import logging, httsleep; "
        "httsleep.HttSleeper('http://127.0.0.1:9/', status_code=200); "
        "print([type(h).__name__ for h in logging.getLogger('httsleep').handlers])"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "['NullHandler']"


def test_jsonpath_rw_is_loaded_when_a_jsonpath_string_is_compiled():
    code = (
        "import sys, httsleep; "
        "httsleep.HttSleeper('http://127.0.0.1:9/', {'jsonpath': [{'expression': 'a', 'value': 1}]}); "
        "print('jsonpath_rw' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "True"


def test_documented_helpers_are_in_their_modules_all():
    """docs/resilience.md documents policy.is_service_failure and docs/api.md waits.Sum: both are public names."""
    from httsleep import policy, waits

    assert "is_service_failure" in policy.__all__ and "Sum" in waits.__all__
    for module in (policy, waits):
        assert all(hasattr(module, name) for name in module.__all__)


def test_the_docs_extra_installs_what_the_docs_build_imports():
    """autodoc imports both asyncio transports (the async and aiohttp extras); conf.py names furo as its theme."""
    assert extra("async") | extra("aiohttp") <= extra("docs")
    assert {"sphinx", "myst-parser", "furo"} <= extra("docs")
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    assert 'html_theme = "furo"' in conf


def test_the_package_index_page_links_to_the_documentation_changelog_and_issues():
    urls = dict(entry.split(", ", 1) for entry in metadata("httsleep").get_all("Project-URL") or [])
    assert {"Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_the_readmes_links_work_on_the_package_index():
    """PyPI renders README.md away from the repository: relative links would be dead there.

    Links into the repository point at files that exist.
    """
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r"<(https?://[^>\s]+)>", readme)
    assert targets, "the README has links; the pattern must find them"
    assert [target for target in targets if not target.startswith("https://")] == []
    for target in targets:
        if target.startswith(REPOSITORY):
            path = target[len(REPOSITORY):].split("#")[0]
            assert (ROOT / path).exists(), target


def test_one_test_file_runs_on_its_own():
    """The coverage floor belongs to CI and tox: a file run alone must not fail for the coverage it cannot reach."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("COV_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_waits.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", result.stdout)
