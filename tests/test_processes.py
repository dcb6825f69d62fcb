"""The checks of tests/conftest.py catch a test that leaves a process running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="the process checks need psutil (the test extra)")

ROOT = Path(__file__).resolve().parents[1]

LEAKY = '''
import subprocess, sys
import pytest

CODE = "import time; time.sleep(120)"
TOKEN = "TOKEN"  # replaced per run: another test session's sleepers must not match pgrep


@pytest.mark.usefixtures("no_leftover_processes")
def test_leaks_with_the_fixture():
    subprocess.Popen([sys.executable, "-c", CODE + "  # with fixture " + TOKEN])


def test_leaks_without_it():
    subprocess.Popen([sys.executable, "-c", CODE + "  # without fixture"])


def test_clean():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
'''


def test_a_leaked_process_fails_its_test_and_the_session(tmp_path):
    token = f"run{os.getpid()}x{time.monotonic_ns()}"
    (tmp_path / "test_leaky.py").write_text(LEAKY.replace('TOKEN = "TOKEN"', f"TOKEN = {token!r}"))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
           "-p", "no:randomly", "--rootdir", str(tmp_path), str(tmp_path / "test_leaky.py")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    # the fixture names the test and the process at its teardown ...
    assert "ERROR at teardown of test_leaks_with_the_fixture" in text
    assert "left child processes running" in text and "# with fixture" in text
    # ... the session-end check catches the one without it, and everything is killed
    assert "child processes of the test session were still running" in text and "# without fixture" in text
    assert "3 passed, 1 error" in text
    left = subprocess.run(["pgrep", "-f", f"# with fixture {token}"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
