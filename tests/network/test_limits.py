"""Caps and structural checks for model-side files (eventsim/network/limits.py, h5audit.py, nir.py)."""

import os

import h5py
import numpy as np
import pytest

from eventsim.errors import ModelFormatError, brief
from eventsim.network.h5audit import audit_hdf5
from eventsim.network.ir import topological_order
from eventsim.network.limits import MAX_DEPTH, LimitExceeded, load_json
from eventsim.network.nir import _recurrent_edges
from eventsim.network.sources import require_regular_file


def test_brief_cuts_long_and_unprintable_values():
    assert brief(1.5) == "1.5"
    assert len(brief(int(1e300))) == 40 and brief(int(1e300)).endswith("...")
    assert brief(10 ** 5000) == "<int>"  # repr refuses more than 4300 digits


def test_load_json_caps_depth_without_recursion_error():
    assert load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x") is not None
    for text in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[" * 100_000 + "]" * 100_000):
        with pytest.raises(LimitExceeded, match="nested more than"):
            load_json(text, "x")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_json("{", "x")


def test_regular_files_only(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(ModelFormatError, match="is a FIFO"):
        require_regular_file(fifo, "a model", ModelFormatError)
    with pytest.raises(ModelFormatError, match="is a folder"):
        require_regular_file(tmp_path, "a model", ModelFormatError)
    (tmp_path / "ok").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "ok")
    require_regular_file(tmp_path / "link", "a model", ModelFormatError)


@pytest.mark.parametrize("make, message", [
    (lambda f, d: f.create_dataset("w", shape=(4,), dtype="f4", external=[(str(d / "secret"), 0, 16)]),
     "/w: has external storage .*secret"),
    (lambda f, d: f.__setitem__("w", h5py.ExternalLink(str(d / "secret"), "/x")), "/w: is an external link"),
    (lambda f, d: f.__setitem__("w", h5py.SoftLink("/w")), "/w: is a soft link"),
    (lambda f, d: f.create_virtual_dataset("w", h5py.VirtualLayout(shape=(4,), dtype="f4")),
     "/w: is a virtual dataset"),
    (lambda f, d: f.create_group("g").__setitem__("again", f["g"]), "has a second name"),
    (lambda f, d: f.create_dataset("w", shape=(10**5, 10**5), dtype="f4", chunks=(10, 10)),
     "/w: datasets declare more than"),
])
def test_audit_refuses_what_reads_outside_or_explodes(tmp_path, make, message):
    (tmp_path / "secret").write_bytes(b"s" * 64)
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("ok", data=np.ones(3))
        make(f, tmp_path)
    with h5py.File(path, "r") as f, pytest.raises(ModelFormatError, match=message):
        audit_hdf5(f, str(path))


def test_topological_order_of_a_long_chain_keeps_the_old_order():
    names = [f"n{k}" for k in range(3000)]
    assert topological_order(names[::-1], list(zip(names, names[1:]))) == names
    # ties keep input order, input first, then first-in first-out
    assert topological_order(["b", "a", "input"], [("input", "a")]) == ["input", "b", "a"]


def test_recurrent_edges_match_reachability_on_random_graphs():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(2, 12))
        names = [str(k) for k in range(n)]
        edges = [(str(a), str(b)) for a, b in rng.integers(0, n, size=(int(rng.integers(1, 25)), 2))]
        reach = {v: {v} for v in names}
        for _ in range(n):
            for a, b in edges:
                reach[a] |= reach[b]
        expect = [(a, b) for a, b in edges if a in reach[b]]  # b reaches a: the edge is on a cycle
        assert _recurrent_edges(names, edges) == expect


def test_recurrent_edges_of_a_3000_node_cycle_need_no_recursion():
    names = [str(k) for k in range(3000)]
    edges = list(zip(names, names[1:] + names[:1]))
    assert len(_recurrent_edges(names, edges)) == 3000
