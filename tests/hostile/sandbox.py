"""Run the eventsim CLI on hostile input in a child process with hard limits.

Every hostile-input test goes through :func:`run_cli`: the child gets an address-space cap
(``RLIMIT_AS``) and a wall-clock limit, so a memory bomb or a hang fails the test instead of
the machine. :func:`assert_clean` states what every case must satisfy: exit 0, or exit 2 with
exactly one ``error: ...`` line on stderr (no traceback), within the limits.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.procs import run_session

#: address-space cap of the child (numba + LLVM + h5py need ~1 GB of it just to import)
MEMORY_MB = 2048
#: wall-clock limit of one CLI call (a Numba compile of the engine on a cold cache included)
TIMEOUT_S = 120.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    args: list[str]
    returncode: int  # -signal when killed, None-like -999 on timeout
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


def _limits(memory_mb: int):
    def apply() -> None:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run_cli(args: list[str], cwd: str | os.PathLike | None = None, *, memory_mb: int = MEMORY_MB,
            timeout: float = TIMEOUT_S, stdin: bytes | None = None, env: dict | None = None) -> Outcome:
    """Run ``python -m eventsim ARGS`` under the memory cap and the time limit."""
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), child_env.get("PYTHONPATH")]))
    child_env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache_hostile"))
    if env:
        child_env.update(env)
    start = time.monotonic()
    try:
        # its own session: a timeout kills the processes it started too, and none may outlive it
        proc = run_session([sys.executable, "-m", "eventsim", *map(str, args)], cwd=cwd, input=stdin,
                           timeout=timeout, env=child_env, preexec_fn=_limits(memory_mb))
    except subprocess.TimeoutExpired as exc:
        return Outcome(list(map(str, args)), -999, (exc.stdout or b"").decode(errors="replace"),
                       (exc.stderr or b"").decode(errors="replace"), time.monotonic() - start, True)
    return Outcome(list(map(str, args)), proc.returncode, proc.stdout.decode(errors="replace"),
                   proc.stderr.decode(errors="replace"), time.monotonic() - start, False)


def assert_clean(out: Outcome, *, expect: int | None = None, mention: str | None = None) -> None:
    """Exit 0, or exit 2 with one ``error:`` line; never a timeout, a signal or a traceback.

    ``expect`` pins the exit code; ``mention`` must appear in the error line (e.g. the file name).
    """
    where = f"eventsim {' '.join(out.args)}"
    assert not out.timed_out, f"{where}: no answer within {TIMEOUT_S} s"
    assert out.returncode in (0, 2), f"{where}: exit {out.returncode}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr, f"{where}: traceback\n{out.stderr[-3000:]}"
    if expect is not None:
        assert out.returncode == expect, f"{where}: exit {out.returncode}, expected {expect}\n{out.stderr}"
    if out.returncode == 2:
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        assert len(errors) == 1, f"{where}: expected one 'error:' line, got\n{out.stderr}"
        if mention is not None:
            assert mention in errors[0], f"{where}: error does not name {mention!r}: {errors[0]}"
