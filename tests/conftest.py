"""Shared fixtures: the third-party data folder (skipped cleanly when absent), and the check that
no test leaves a process running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.procs import leftover_children, stop_mp_helpers

# ../shared/data next to the checkout, or wherever EVENTSIM_SHARED_DATA points.
SHARED_DATA = Path(os.environ.get("EVENTSIM_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party data folder {SHARED_DATA} is absent")
    return SHARED_DATA


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
