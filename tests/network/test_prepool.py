"""conv2d projections with a pre-pool: IR validation, model.h5 round trip, counts, dense math."""

import h5py
import numpy as np
import pytest

from eventsim.errors import ModelFormatError
from eventsim.network.counts import dense_macs, synapse_count
from eventsim.network.h5io import load_model, save_model
from eventsim.network.ir import Projection
from eventsim.network.linear import apply_projection
from eventsim.network.nir import save_nir
from tests.network.test_h5io import assert_same_network
from tests.randnet import random_network

W = np.ones((4, 2, 3, 3))


def test_validation_and_pooled_shape():
    p = Projection("c", "conv2d", "a", "b", weight=W, padding=1, pre_pool=(3, 2, 1))
    assert p.pre_pool == ((3, 3), (2, 2), (1, 1))
    # 16 -> pool(3, 2, 1) -> 8 -> conv(3, 1, 1) -> 8
    assert p.pooled_shape((2, 16, 16)) == (2, 8, 8)
    assert p.output_shape((2, 16, 16)) == (4, 8, 8)
    with pytest.raises(ModelFormatError, match="has no pre_pool"):
        Projection("d", "dense", "a", "b", weight=np.ones((2, 2)), pre_pool=(2, 2, 0))
    with pytest.raises(ModelFormatError, match="pre_pool kernel_size"):
        Projection("c", "conv2d", "a", "b", weight=W, pre_pool=(0, 1, 0))
    with pytest.raises(ModelFormatError, match="pre_pool must be"):
        Projection("c", "conv2d", "a", "b", weight=W, pre_pool=(2, 2))


def test_linear_matches_torch_avgpool_then_conv():
    torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 10, 9))
    w = rng.normal(size=(4, 2, 3, 3))
    p = Projection("c", "conv2d", "a", "b", weight=w, padding=1, stride=2, pre_pool=(3, 2, 1))
    tx = torch.tensor(x)[None]
    pooled = torch.nn.functional.avg_pool2d(tx, 3, 2, 1, count_include_pad=True) * 9  # sum-pool
    want = torch.nn.functional.conv2d(pooled, torch.tensor(w), stride=2, padding=1)[0].numpy()
    got = apply_projection(p, x, want.shape)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_dense_macs_pool_plus_conv():
    p = Projection("c", "conv2d", "a", "b", weight=W, padding=1, pre_pool=(3, 2, 1))
    # pool: 2 channels * 8*8 cells * 9 taps = 1152; conv: 4*8*8 outputs * 2*3*3 = 4608
    assert dense_macs(p, (2, 16, 16), (4, 8, 8)) == 1152 + 4608


@pytest.mark.parametrize("seed", range(40))
def test_all_ones_sops_equal_synapse_count_and_roundtrip(tmp_path, seed):
    net = random_network(seed, pre_pool=True)
    for proj in net.projections:
        s, t = net.population(proj.source).shape, net.population(proj.target).shape
        ones = apply_projection(proj, np.ones(s), t, unit_weights=True)
        assert int(round(ones.sum())) == synapse_count(proj, s, t), proj.name
    path = tmp_path / "m.h5"
    save_model(net, path, dtype="float64")
    back = load_model(path)
    assert_same_network(net, back)
    assert [q.pre_pool for q in back.projections] == [q.pre_pool for q in net.projections]


def test_partial_pre_pool_attributes_rejected(tmp_path):
    net = next(n for n in (random_network(s, pre_pool=True) for s in range(50))
               if any(q.pre_pool for q in n.projections))
    path = tmp_path / "m.h5"
    save_model(net, path)
    name = next(q.name for q in net.projections if q.pre_pool)
    with h5py.File(path, "a") as f:
        del f["projections"][name].attrs["pre_pool_stride"]
    with pytest.raises(ModelFormatError, match="go together"):
        load_model(path)


def test_nir_export_refuses_pre_pool_by_name(tmp_path):
    net = next(n for n in (random_network(s, pre_pool=True) for s in range(50))
               if any(q.pre_pool for q in n.projections))
    name = next(q.name for q in net.projections if q.pre_pool)
    with pytest.raises(ModelFormatError, match=f"projection '{name}' is a conv2d with a pre_pool"):
        save_nir(net, tmp_path / "net.nir")
    assert not (tmp_path / "net.nir").exists()


def test_format_version_is_2_only_for_pre_pooled_models(tmp_path):
    plain = next(random_network(s) for s in range(50)
                 if all(q.pre_pool is None for q in random_network(s).projections))
    save_model(plain, tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5") as f:
        assert f.attrs["format_version"] == 1
    pooled = next(net for net in (random_network(s, pre_pool=True) for s in range(200))
                  if any(q.pre_pool is not None for q in net.projections))
    save_model(pooled, tmp_path / "pooled.h5")
    with h5py.File(tmp_path / "pooled.h5", "r+") as f:
        assert f.attrs["format_version"] == 2
        f.attrs["format_version"] = 1  # a version-1 file cannot carry a pre-pool
    with pytest.raises(ModelFormatError, match="needs format_version 2"):
        load_model(tmp_path / "pooled.h5")
