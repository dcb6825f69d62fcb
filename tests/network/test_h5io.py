import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import ModelFormatError
from eventsim.network.h5io import load_model, save_model
from tests.randnet import random_network


def assert_same_network(a, b):
    assert a.name == b.name and a.timesteps == b.timesteps and a.order == b.order
    assert a.input == b.input and a.provenance == b.provenance
    assert [p.name for p in a.projections] == [p.name for p in b.projections]
    names = [q.name for q in a.populations]
    for pa, pb in zip(a.populations, sorted(b.populations, key=lambda p: names.index(p.name))):
        for f in ("name", "kind", "shape", "threshold", "decay", "reset", "v_min", "multi_spike",
                  "syn_decay"):
            assert getattr(pa, f) == getattr(pb, f), f
        assert (pa.bias is None) == (pb.bias is None)
        if pa.bias is not None:
            np.testing.assert_array_equal(pa.bias, pb.bias)
    for qa, qb in zip(a.projections, b.projections):
        for f in ("name", "kind", "source", "target", "stride", "padding", "dilation", "groups",
                  "kernel_size", "pre_pool", "delay"):
            assert getattr(qa, f) == getattr(qb, f), f
        for f in ("weight", "scale"):
            va, vb = getattr(qa, f), getattr(qb, f)
            assert (va is None) == (vb is None)
            if va is not None:
                np.testing.assert_array_equal(va, vb)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), frames=st.booleans())
def test_roundtrip_float64_is_exact(tmp_path_factory, seed, frames):
    net = random_network(seed, frames=frames)
    path = tmp_path_factory.mktemp("rt") / "m.h5"
    save_model(net, path, dtype="float64")
    assert_same_network(net, load_model(path))


def test_roundtrip_float32_stores_float32(tmp_path):
    net = random_network(3)
    save_model(net, tmp_path / "m.h5")
    back = load_model(tmp_path / "m.h5")
    for q in back.projections:
        if q.weight is not None:
            assert q.weight.dtype == np.float32
    with h5py.File(tmp_path / "m.h5") as f:
        assert f.attrs["format_version"] == 1 and list(f["order"].asstr()[()])[0] == "input"


def _corrupt(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


@pytest.mark.parametrize("mutate,match", [
    (lambda f: f.attrs.__setitem__("format_version", 99), "unknown format_version 99"),
    (lambda f: f.attrs.__delitem__("format"), "missing attribute 'format'"),
    (lambda f: f.attrs.__setitem__("format", "other"), "expected 'eventsim-model'"),
    (lambda f: f["populations/out"].attrs.__delitem__("kind"), "/populations/out: missing attribute 'kind'"),
    (lambda f: f["projections/fc"].attrs.__setitem__("target", "ghost"), "unknown population 'ghost'"),
    (lambda f: f.__delitem__("order"), "/order"),
    (lambda f: f.attrs.__setitem__("provenance", "{not json"), "provenance"),
])
def test_malformed_files_are_rejected(tmp_path, mutate, match):
    path = tmp_path / "m.h5"
    save_model(random_network(5), path)
    _corrupt(path, mutate)
    with pytest.raises(ModelFormatError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_not_hdf5_and_truncated(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"hello world")
    with pytest.raises(ModelFormatError, match="not a readable HDF5"):
        load_model(bad)
    good = tmp_path / "good.h5"
    save_model(random_network(1), good)
    data = good.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError):
        load_model(tmp_path / "trunc.h5")


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import eventsim.network.h5io as h5io

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5io, "_write", boom)
    with pytest.raises(RuntimeError):
        save_model(random_network(1), tmp_path / "m.h5")
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), frames=st.booleans())
def test_recurrent_roundtrip_is_exact_and_version_3(tmp_path_factory, seed, frames):
    """Delays and cuba_lif are written as format_version 3, and only when used."""
    import h5py

    path = tmp_path_factory.mktemp("rec") / "m.h5"
    net = random_network(seed, frames=frames, recurrent=True)
    save_model(net, path, dtype="float64")
    assert_same_network(net, load_model(path))
    uses = net.recurrent or any(p.kind == "cuba_lif" for p in net.populations)
    with h5py.File(path, "r") as f:
        assert int(f.attrs["format_version"]) == (3 if uses else 1)
        delays = {q.name: int(f["projections"][q.name].attrs.get("delay", 0)) for q in net.projections}
    assert delays == {q.name: q.delay for q in net.projections}
