"""Hostile standard input for ``eventsim run --input -``: cut, empty, foreign or a format that cannot
stream; each is one ``error:`` line naming <stdin>, exit 2, under the sandbox's limits."""

import numpy as np
import pytest

from eventsim.events.dtype import make_events
from eventsim.events.io import write_events
from tests.events.test_streams import evt2_bytes
from tests.hostile.sandbox import ROOT, assert_clean, run_cli

MODEL = ROOT / "eventsim" / "data" / "demo_model.h5"


def _evt2() -> bytes:
    rng = np.random.default_rng(1)
    n = 5000
    ev = make_events(np.sort(rng.integers(0, 2_000_000, n)), rng.integers(0, 34, n), rng.integers(0, 34, n),
                     rng.integers(0, 2, n))
    return evt2_bytes(ev, (34, 34))


@pytest.mark.parametrize("case", ["cut", "empty", "foreign", "npz", "header_only_garbage"])
def test_hostile_stdin_is_one_error_line(tmp_path, case):
    if case == "cut":
        data = _evt2()[:-3]
    elif case == "empty":
        data = b""
    elif case == "foreign":
        data = bytes(np.random.default_rng(2).integers(0, 256, 100_000, dtype=np.uint8))
    elif case == "npz":
        write_events(tmp_path / "a.npz", make_events([1, 2], [0, 1], [0, 0], [1, 0]), (34, 34))
        data = (tmp_path / "a.npz").read_bytes()
    else:  # a '%' header that never ends
        data = b"% evt 2.0\n" + b"%" * (2 << 20)
    out = run_cli(["run", MODEL, "--input", "-", "--window-us", 100_000, "--jsonl", "w.jsonl"],
                  cwd=tmp_path, stdin=data)
    assert_clean(out, expect=2, mention="<stdin>")
    assert not (tmp_path / "w.jsonl").exists()  # no partial output left behind
