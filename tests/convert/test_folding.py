"""Folding, checked by hand on small cases: BN, alpha, pooling, 1/T, shortcuts, naming styles."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")

from eventsim.convert import convert_state_dict  # noqa: E402
from eventsim.errors import ConversionError  # noqa: E402
from models.dvs import dvs_cnn  # noqa: E402
from models.layers import _plain_name  # noqa: E402
from models.resnet import resnet  # noqa: E402
from tests.convert.torchref import randomise  # noqa: E402


def _np(sd):
    return {k: v.detach().numpy() for k, v in sd.items()}


@pytest.fixture(scope="module")
def dvs_sd():
    torch.manual_seed(0)
    return _np(randomise(dvs_cnn(4), 0).state_dict())


@pytest.fixture(scope="module")
def modified_sd():
    torch.manual_seed(1)
    return _np(randomise(resnet("resnet20_cifar_modified", 2, input_c=2), 1).state_dict())


def test_batchnorm_alpha_and_mean_folds(dvs_sd):
    sd = dvs_sd
    net = convert_state_dict(sd, "dvs_cnn", 4, (2, 34, 34))
    # BN(eval): y = gamma (z - mean) / sqrt(var + eps) + beta, eps = 1e-5 (PyTorch default)
    g = sd["model.bn1.conv.weight"] / np.sqrt(sd["model.bn1.conv.running_var"] + 1e-5)
    conv1 = next(q for q in net.projections if q.name == "conv1")
    np.testing.assert_allclose(conv1.weight, sd["model.conv1.pool.weight"] * g[:, None, None, None],
                               rtol=1e-12)
    np.testing.assert_allclose(net.population("relu1").bias,
                               sd["model.bn1.conv.bias"] - g * sd["model.bn1.conv.running_mean"],
                               rtol=1e-12, atol=1e-14)
    # fc reads avgpool2(alpha2 * s): weight[k, c, y, x] = W[k, c, y//2, x//2] * alpha2[c] / 4 / T
    fc = next(q for q in net.projections if q.name == "fc")
    alpha2 = sd["model.relu2.fire_ratio"].reshape(-1)
    w = sd["model.fc.conv.weight"].reshape(10, 32, 8, 8)
    want = np.zeros((10, 32, 17, 17))
    want[:, :, :16, :16] = np.repeat(np.repeat(w, 2, axis=2), 2, axis=3)  # row/col 16: dropped
    want *= alpha2[None, :, None, None] / 4 / 4
    np.testing.assert_allclose(fc.weight, want.reshape(10, -1), rtol=1e-12)
    np.testing.assert_allclose(net.population("fc").bias, sd["model.fc.conv.bias"] / 4, rtol=1e-12)
    assert all(p.threshold == 0.5 and p.decay == 0.25 and p.reset == "zero"
               for p in net.populations if p.spiking)


def test_identity_shortcut_carries_alpha(modified_sd):
    net = convert_state_dict(modified_sd, "resnet20_cifar_modified", 2, (2, 16, 16))
    sc = next(q for q in net.projections if q.name == "layer1.1.shortcut")
    assert sc.kind == "identity" and sc.source == "layer1.0.output_act"
    np.testing.assert_array_equal(sc.scale, modified_sd["model.layer1.0.output_act.fire_ratio"].ravel())
    # the first block's shortcut reads avgpool(conv1.8 spikes): a depthwise 2x2/2 conv, alpha/4
    first = next(q for q in net.projections if q.name == "layer1.0.shortcut")
    assert first.kind == "conv2d" and first.groups == 64 and first.weight.shape == (64, 1, 2, 2)
    alpha = modified_sd["model.conv1.8.fire_ratio"].ravel()
    np.testing.assert_allclose(first.weight, np.repeat(alpha / 4, 4).reshape(64, 1, 2, 2), rtol=1e-15)
    # avg-down shortcut of layer2.0: avgpool 2/2 composed with the 1x1 conv into a 2x2/2 conv
    ds = next(q for q in net.projections if q.name == "layer2.0.downsample.1")
    assert ds.weight.shape == (128, 64, 2, 2) and ds.stride == (2, 2)
    assert net.input.kind == "frames" and net.population("input").shape == (2, 16, 16)


def test_plain_names_give_the_same_network(modified_sd):
    ref = convert_state_dict(modified_sd, "resnet20_cifar_modified", 2, (2, 16, 16))
    plain = {_plain_name(k): v for k, v in modified_sd.items()}
    assert "layer2.0.bn1.weight" in plain and "conv1.0.weight" in plain
    net = convert_state_dict(plain, "resnet20_cifar_modified", 2, (2, 16, 16))
    assert net.provenance["naming"] == "plain"
    assert [q.name for q in net.projections] == [q.name for q in ref.projections]
    for a, b in zip(net.projections, ref.projections):
        if a.weight is not None:
            np.testing.assert_array_equal(a.weight, b.weight)


def test_avg_down_needs_even_maps(modified_sd):
    with pytest.raises(ConversionError, match="layer2.0.downsample.0: avg-down pooling of a 9x9 map"):
        convert_state_dict(modified_sd, "resnet20_cifar_modified", 2, (2, 18, 18))


def test_resnet18_stem_pool_exactness():
    torch.manual_seed(2)
    sd = _np(resnet("resnet18", 1, input_c=2).state_dict())
    odd = convert_state_dict(sd, "resnet18", 1, (2, 17, 17))  # stem 9x9 (odd): composed exactly
    assert all(q.pre_pool is None for q in odd.projections)
    # stem 16x16 (even): the pooled map's last window reads a real row the padded conv would
    # not, so no single kernel is exact; layer1.0.conv1 keeps the pool as its pre-pool instead
    even = convert_state_dict(sd, "resnet18", 1, (2, 32, 32))
    pre = [q for q in even.projections if q.pre_pool is not None]
    assert [q.name for q in pre] == ["layer1.0.conv1"]
    assert pre[0].pre_pool == ((3, 3), (2, 2), (1, 1))
    assert {"fold": "pre_pool", "into": "layer1.0.conv1", "kernel": [3, 3], "stride": [2, 2],
            "padding": [1, 1]} in even.provenance["folds"]


def test_too_small_input(dvs_sd):
    with pytest.raises(ConversionError, match="too small"):
        convert_state_dict(dvs_sd, "dvs_cnn", 2, (2, 2, 2))
