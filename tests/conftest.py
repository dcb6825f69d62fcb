"""Shared fixtures: the third-party data folder (skipped cleanly when absent), and the check that
no test leaves a process running.

Shared data is *required* when its folder exists or ``EVENTSIM_REQUIRE_SHARED_DATA=1`` (CI sets it
when ``../shared/data`` exists): then a test using it fails instead of skipping, so the
ground-truth tests cannot pass CI by silently not running."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from tests.procs import leftover_children, stop_mp_helpers

# ../shared/data next to the checkout, or wherever EVENTSIM_SHARED_DATA points.
SHARED_DATA = Path(os.environ.get("EVENTSIM_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))




#: the skip reasons of ``pytest.importorskip`` (its default, and this suite's "needs torch (...)")
_MISSING_PACKAGE = re.compile(r"could not import|No module named|^(Skipped: )?needs \w+ \(pip install")


def _drop_stale_numba_caches() -> None:
    """Numba's on-disk cache of a kernel is checked against its own file only: a kernel that calls
    a kernel of another module keeps the callee's old machine code after that module changes. When
    any file that defines kernels changed since the last test session, drop the package's caches
    (they are rebuilt on first use), so tests never run stale compiled code."""
    pkg = Path(__file__).resolve().parents[1] / "eventsim"
    digest = hashlib.sha256()
    for path in sorted(pkg.rglob("*.py")):
        text = path.read_bytes()
        if path.name == "jit.py" or _DEFINES_KERNELS.search(text):
            digest.update(path.relative_to(pkg).as_posix().encode() + b"\0" + text)
    stamp = pkg.parent / ".pytest_cache" / "numba-sources.sha256"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return
    for cached in [*pkg.rglob("*.nbi"), *pkg.rglob("*.nbc")]:
        cached.unlink(missing_ok=True)
    stamp.parent.mkdir(exist_ok=True)
    stamp.write_text(digest.hexdigest())


_DEFINES_KERNELS = re.compile(rb"^@(parallel_|inline_)?kernel\b", re.M)
if "NUMBA_CACHE_DIR" not in os.environ:  # a run with its own cache (CI's bounds-checked pass) is fresh
    _drop_stale_numba_caches()


def shared_data_required() -> bool:
    return os.environ.get("EVENTSIM_REQUIRE_SHARED_DATA") == "1" or SHARED_DATA.is_dir()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        why = f"third-party data folder {SHARED_DATA} is absent"
        if shared_data_required():
            pytest.fail(f"{why} (EVENTSIM_REQUIRE_SHARED_DATA=1)", pytrace=False)
        pytest.skip(why)
    return SHARED_DATA


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test using the shared data that skips fails while the data is required, unless what it
    lacks is an optional package (``pytest.importorskip``: the README's test command must pass on
    a machine without torch, with or without the data beside it)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and "shared_data" in getattr(item, "fixturenames", ()) and shared_data_required():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if _MISSING_PACKAGE.search(reason):
            return
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid}: a shared-data test skipped while the shared data is required "
                           f"(folder {SHARED_DATA} present or EVENTSIM_REQUIRE_SHARED_DATA=1): {reason}")


def pytest_collection_modifyitems(config, items):
    # tests/hostile runs the CLI in child processes under limits: seconds each, the inner loop
    # (`pytest -m "not slow"`) leaves them out; CI and the README's command run everything
    for item in items:
        if "hostile" in item.path.parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture()
def no_leftover_processes(request):
    """Fails the test (at teardown, also after a failure) when a worker process it started is still
    running; the processes are killed first. For every test that starts workers or a cluster."""
    yield
    left = leftover_children()
    if left:
        pytest.fail(f"{request.node.nodeid} left child processes running: {'; '.join(left)}",
                    pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    """No test may leave a process behind: at the end of the session, after multiprocessing's own
    forkserver and resource tracker are stopped, this process must have no children left."""
    stop_mp_helpers()
    left = leftover_children(include_mp_helpers=True)
    if left:
        writer = session.config.get_terminal_writer()
        writer.line()
        writer.line(
            "error: child processes of the test session were still running (now killed): "
            + "; ".join(left), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
