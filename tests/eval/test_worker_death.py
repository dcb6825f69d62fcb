"""A sample that kills its worker process is recorded as failed; the evaluation goes on.

The crash is injected by a ``sitecustomize`` module on the children's PYTHONPATH that wraps
``eventsim.eval.sample.prepare_file``: a sample whose name contains ``crash-<SIGNAL>`` makes its
process send itself that signal (SIGSEGV as a native-code crash, SIGABRT as an abort, SIGKILL
as the kernel's out-of-memory killer). Nothing in eventsim knows about it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from eventsim.eval.runner import death_reason
from eventsim.events.io import write_events
from tests.eval.evaldata import sample_events, write_dataset, write_model
from tests.procs import run_session

# child processes that crash on purpose
pytestmark = [pytest.mark.usefixtures("no_leftover_processes"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

SITECUSTOMIZE = '''
import os, signal
import eventsim.eval.sample as _sample

_prepare_file = _sample.prepare_file

def prepare_file(path, *args, **kwargs):
    name = os.path.basename(path)
    if "crash-" in name:
        os.kill(os.getpid(), getattr(signal, name.split("crash-")[1].split(".")[0]))
    return _prepare_file(path, *args, **kwargs)

_sample.prepare_file = prepare_file
'''


def _eval(args, hook: Path, cwd: Path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), str(ROOT)]))
    # its own session: a timeout kills the workers too, and none may outlive the command
    out = run_session([sys.executable, "-m", "eventsim", "eval", *map(str, args)], cwd=cwd, env=env,
                      timeout=300)
    out.stdout, out.stderr = out.stdout.decode(), out.stderr.decode()
    return out


@pytest.fixture()
def crashing(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    data = write_dataset(tmp_path / "data", per_class=2)
    for k, sig in enumerate(("SIGSEGV", "SIGABRT", "SIGKILL")):
        write_events(data / "beta" / f"z{k}-crash-{sig}.npz", sample_events(1, 10 + k), (16, 16))
    return write_model(tmp_path / "m.h5"), data, hook


@pytest.mark.parametrize("workers", [1, 2])
def test_crashing_samples_are_recorded_and_the_run_finishes(crashing, tmp_path, workers):
    model, data, hook = crashing
    results = tmp_path / f"r{workers}.jsonl"
    out = _eval([model, data, "--workers", workers, "--results", results, "--json", tmp_path / "s.json"],
                hook, tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    failed = {Path(f["path"]).name: f["error"] for f in doc["failed"]}
    assert failed == {"z0-crash-SIGSEGV.npz": "worker died: signal 11 (SIGSEGV)",
                      "z1-crash-SIGABRT.npz": "worker died: signal 6 (SIGABRT)",
                      "z2-crash-SIGKILL.npz": "worker died: signal 9 (SIGKILL)"}
    assert doc["evaluated"] == 6 and len(doc["results"]) == 9
    # the results file is valid and complete: --resume finds nothing left to do
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == 1 + 9
    again = _eval([model, data, "--workers", workers, "--results", results, "--resume", "--json", "-"],
                  hook, tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["results"] == doc["results"]


def test_without_isolation_a_crash_ends_the_run(crashing, tmp_path):
    # the behaviour --no-isolate trades for speed: the crash takes the whole process
    model, data, hook = crashing
    out = _eval([model, data, "--no-isolate"], hook, tmp_path)
    assert out.returncode == -11


def test_death_reason():
    assert death_reason(-11) == "worker died: signal 11 (SIGSEGV)"
    assert death_reason(3) == "worker died: exit code 3"
