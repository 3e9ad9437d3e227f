"""What `pip install httsleep` brings, and what `import httsleep` loads."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires

from packaging.requirements import Requirement


def test_core_dependencies_are_only_requests_and_jsonpath_rw():
    core = {
        Requirement(line).name
        for line in requires("httsleep") or []
        if Requirement(line).marker is None or "extra" not in str(Requirement(line).marker)
    }
    assert core == {"requests", "jsonpath-rw"}


def test_import_loads_neither_httpx_nor_jsonpath_rw():
    """Optional and slow imports happen on first use only."""
    code = (
        "import sys, httsleep; "
        "print(sorted(m for m in ('httpx', 'jsonpath_rw', 'httsleep.aio') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "[]"


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
