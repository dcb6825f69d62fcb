"""Child processes of the tests: find the ones left behind, run a CLI in its own session.

The eval tests start worker processes (``eventsim eval`` runs samples in a forkserver's children)
and CLI subprocesses that start their own. A test must not leave any of them running: not when it
passes, not when it fails, not when a CLI it started is killed. psutil is part of the ``test``
extra; without it the checks are skipped (``leftover_children`` returns an empty list).
"""

from __future__ import annotations

import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import signal
import subprocess
import time

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the test extra
    psutil = None

#: how long processes that are already ending (a worker reading EOF) get before they count as left
GRACE_S = 3.0

_MP_HELPERS = ("from multiprocessing.forkserver import main",
               "from multiprocessing.resource_tracker import main")


def _alive(procs):
    out = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _is_mp_helper(p) -> bool:
    """The forkserver or resource tracker multiprocessing keeps for this whole process (not a worker:
    the forkserver's children share its command line, but their parent is the forkserver)."""
    try:
        return p.ppid() == os.getpid() and any(h in " ".join(p.cmdline()) for h in _MP_HELPERS)
    except psutil.NoSuchProcess:
        return True


def leftover_children(include_mp_helpers: bool = False, grace: float = GRACE_S) -> list[str]:
    """Descendants of this process still alive after ``grace`` seconds, killed and described.

    The multiprocessing forkserver and resource tracker live as long as the process that started
    them and are left out unless ``include_mp_helpers``.
    """
    if psutil is None:
        return []
    procs = _alive(psutil.Process().children(recursive=True))
    if not include_mp_helpers:
        procs = [p for p in procs if not _is_mp_helper(p)]
    if not procs:
        return []
    _, procs = psutil.wait_procs(procs, timeout=grace)
    described = []
    for p in _alive(procs):
        try:
            described.append(f"pid {p.pid}: {' '.join(p.cmdline())[:160]}")
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return described


def stop_mp_helpers() -> None:
    """Stop this process's forkserver and resource tracker (the private ``_stop`` methods that
    CPython's own test suite uses; there is no public way)."""
    helpers = (multiprocessing.forkserver._forkserver, multiprocessing.resource_tracker._resource_tracker)
    for helper in helpers:
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()


def session_processes(sid: int) -> list:
    """The live processes of session ``sid`` (a child started with ``start_new_session=True``)."""
    if psutil is None:
        return []
    out = []
    for p in psutil.process_iter():
        try:
            if p.pid != sid and os.getsid(p.pid) == sid:
                out.append(p)
        except (OSError, psutil.NoSuchProcess):
            pass
    return _alive(out)


def run_session(cmd, *, timeout: float, input: bytes | None = None,
                **popen_kw) -> subprocess.CompletedProcess:
    """``subprocess.run`` in a new session; on a timeout the whole session is killed (not only the
    child: its workers would be left running). Raises subprocess.TimeoutExpired as run does, and
    AssertionError when processes of the session are still alive ``GRACE_S`` after it ended."""
    proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kw)
    try:
        out, err = proc.communicate(input=input if input is not None else b"", timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout, out, err) from None
    left = wait_session(proc.pid)
    assert not left, f"{cmd}: processes left running after it ended: {left}"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def kill_session(sid: int) -> None:
    try:
        os.killpg(sid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for p in session_processes(sid):  # a process that left the group but not the session
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def wait_session(sid: int, grace: float = GRACE_S) -> list[str]:
    """Wait until session ``sid`` has no process left; kill and describe those left after ``grace``."""
    deadline = time.monotonic() + grace
    while True:
        procs = session_processes(sid)
        if not procs:
            return []
        if time.monotonic() > deadline:
            described = []
            for p in procs:
                try:
                    described.append(f"pid {p.pid}: {' '.join(p.cmdline())[:160]}")
                except psutil.NoSuchProcess:
                    pass
            kill_session(sid)
            return described
        time.sleep(0.05)
