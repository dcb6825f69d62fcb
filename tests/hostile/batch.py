"""Run many eventsim command lines in ONE sandboxed child process (the CLI's own entry point).

Starting Python and importing eventsim costs ~1-2 s per call; hostile-input cases that each
take milliseconds are therefore run as a batch: the child (``python -m tests.hostile.batch``)
gets the same address-space cap as :func:`tests.hostile.sandbox.run_cli`, runs every command
line through ``eventsim.cli.cli`` exactly as ``python -m eventsim`` would (stderr captured, exit
code from ``SystemExit``, an escaping exception recorded as a traceback with exit 1), stops
each case after ``per_case`` seconds with SIGALRM, and prints one JSON result per case.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback

from tests.hostile.sandbox import MEMORY_MB, ROOT, Outcome, _limits


class _CaseTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so that no ``except Exception`` swallows it."""


def run_batch(cases: list[list[str]], cwd, *, per_case: float = 30.0, memory_mb: int = MEMORY_MB,
              timeout: float = 300.0) -> list[Outcome]:
    """Each command line of ``cases`` (without the leading ``eventsim``), run in one child."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache_hostile"))
    payload = json.dumps({"cases": [list(map(str, c)) for c in cases], "per_case": per_case})
    proc = subprocess.run([sys.executable, "-m", "tests.hostile.batch"], cwd=cwd, env=env,
                          input=payload.encode(), capture_output=True, timeout=timeout,
                          preexec_fn=_limits(memory_mb))
    lines = [ln for ln in proc.stdout.decode(errors="replace").splitlines() if ln.startswith("{")]
    results = [json.loads(ln) for ln in lines]
    assert len(results) == len(cases), (f"batch child ended after {len(results)} of {len(cases)} "
                                        f"cases (exit {proc.returncode})\n{proc.stderr.decode()[-3000:]}")
    return [Outcome(r["args"], r["returncode"], r["stdout"], r["stderr"], r["seconds"], r["timed_out"])
            for r in results]


def _on_alarm(signum, frame):
    raise _CaseTimeout()


def _run_one(cli, args: list[str], per_case: float) -> dict:
    out, err = io.StringIO(), io.StringIO()
    code, timed_out = 0, False
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, per_case)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(args, prog_name="eventsim", standalone_mode=True)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except _CaseTimeout:
                code, timed_out = -999, True
            except BaseException:  # what the interpreter would print: a traceback, exit 1
                traceback.print_exc(file=err)
                code = 1
    except _CaseTimeout:  # the alarm fired while leaving the block
        code, timed_out = -999, True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"args": args, "returncode": code, "stdout": out.getvalue()[-5000:],
            "stderr": err.getvalue()[-5000:], "seconds": time.monotonic() - start, "timed_out": timed_out}


def main() -> None:
    job = json.loads(sys.stdin.read())
    from eventsim.cli import cli

    signal.signal(signal.SIGALRM, _on_alarm)
    for args in job["cases"]:
        result = _run_one(cli, args, float(job["per_case"]))
        sys.__stdout__.write(json.dumps(result) + "\n")
        sys.__stdout__.flush()


if __name__ == "__main__":
    main()
