"""The demo (`python -m httsleep.demo`) and the README's two set-up commands.

The full check, a fresh clone with a fresh virtualenv running the README's
commands word for word, installs from the package index and takes about a
minute: it runs only when ``HTTSLEEP_FRESH_CLONE=1`` is set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

import httsleep.testing
from httsleep import demo

ROOT = Path(__file__).resolve().parent.parent

RUN_IT = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/python -m httsleep.demo"
TEST_IT = "python3 -m venv .venv && .venv/bin/pip install -e '.[test,async]' && .venv/bin/python -m pytest"


def readme_commands() -> Dict[str, str]:
    """The ```sh command under each of the README's "Run it" and "Test it" headings."""
    readme = (ROOT / "README.md").read_text()
    commands = {}
    for heading in ("Run it", "Test it"):
        match = re.search(r"^## {}\n.*?^```sh\n(.*?)\n```".format(heading), readme, re.M | re.S)
        assert match, heading
        commands[heading] = match.group(1)
    return commands


def check_demo_output(output: str) -> None:
    assert re.search(r"^A job server is running at http://127\.0\.0\.1:\d+/$", output, re.M)
    assert re.search(r'^ {8}"status": "SUCCESS",$', output, re.M)  # the final JSON, indented
    assert "attempt 3 | " in output and "status=SUCCESS | matched" in output
    assert "status=ERROR | ALARM" in output
    assert "Alarm raised, no need to wait for the timeout:" in output
    assert "response matched an alarm condition: <Condition jsonpath[status == 'ERROR']> (HTTP 200; body: " in output
    assert "The job said: the build ran out of disk space" in output


@pytest.mark.slow
def test_demo_runs_as_a_module_and_exits_0():
    """What the README's "Run it" command ends with, in a subprocess (real waits: about a second)."""
    completed = subprocess.run(
        [sys.executable, "-m", "httsleep.demo"], capture_output=True, text=True, timeout=60, cwd=str(ROOT)
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    check_demo_output(completed.stdout)


def test_demo_main_shows_success_then_the_alarm(capsys):
    with httsleep.testing.no_waiting():
        assert demo.main() == 0
    check_demo_output(capsys.readouterr().out)


def test_readme_set_up_commands_are_the_documented_ones_and_parse():
    commands = readme_commands()
    assert commands == {"Run it": RUN_IT, "Test it": TEST_IT}
    for command in commands.values():
        assert subprocess.run(["bash", "-n", "-c", command]).returncode == 0


def test_what_the_run_it_command_needs_is_in_the_package():
    """`pip install .` ships httsleep.demo and the job server, and declares the console script."""
    setup = (ROOT / "setup.py").read_text()
    assert '"httsleep = httsleep.__main__:main"' in setup
    assert 'find_packages(include=["httsleep", "httsleep.*"])' in setup
    for module in ("demo.py", "_jobserver.py", "_progress.py", "cli.py", "__main__.py"):
        assert (ROOT / "httsleep" / module).is_file()


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("HTTSLEEP_FRESH_CLONE") != "1", reason="set HTTSLEEP_FRESH_CLONE=1 (~1 min, pip)")
def test_fresh_clone_runs_the_readme_commands_word_for_word(tmp_path):  # pragma: no cover - opt-in
    """git clone, then the README's two commands in a shell, in the clone.

    The "Test it" command ends with the whole test suite, which would run
    this test again: its last step is replaced by collecting the suite
    (`pytest --co -q`) and running the CLI tests.
    """
    clone = tmp_path / "httsleep"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {  # not this virtualenv, and not this switch: the clone's tests would clone again
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "PYTHON")) and key != "HTTSLEEP_FRESH_CLONE"
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    commands = readme_commands()
    run_it = subprocess.run(["bash", "-c", commands["Run it"]], cwd=str(clone), env=env,
                            capture_output=True, text=True, timeout=600)
    assert run_it.returncode == 0, run_it.stdout + run_it.stderr
    check_demo_output(run_it.stdout)
    shutil.rmtree(clone / ".venv")
    install, _, last = commands["Test it"].rpartition(" && ")
    assert last == ".venv/bin/python -m pytest"
    test_it = subprocess.run(
        ["bash", "-c", install + " && .venv/bin/python -m pytest --co -q && "
         ".venv/bin/python -m pytest -q --no-cov -p no:cacheprovider tests/test_cli.py tests/test_demo.py"],
        cwd=str(clone), env=env, capture_output=True, text=True, timeout=900,
    )
    assert test_it.returncode == 0, test_it.stdout[-3000:] + test_it.stderr[-3000:]
