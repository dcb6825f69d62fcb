"""Shared fixtures: the third-party data folder (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
