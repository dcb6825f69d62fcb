"""models/: the ternary / binary LIF against a hand-written loop, its gradient, the paper's names."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")

from models.dvs import dvs_cnn  # noqa: E402
from models.layers import _plain_name, load_paper_state_dict  # noqa: E402
from models.neurons import LIFAct, spike  # noqa: E402
from models.resnet import resnet  # noqa: E402
from models.vgg import vgg  # noqa: E402


def naive_lif(x: np.ndarray, mode: str, alpha) -> np.ndarray:
    """The paper's equations, one neuron at a time: v = 0.25 v + x; fire; hard reset; * alpha."""
    out = np.zeros_like(x)
    v = np.zeros(x.shape[1:])
    for t in range(x.shape[0]):
        v = 0.25 * v + x[t]
        for idx in np.ndindex(v.shape):
            if mode == "ternary":
                s = 1.0 if v[idx] >= 0.5 else (-1.0 if v[idx] <= -0.5 else 0.0)
            else:
                s = 1.0 if v[idx] > 0.5 else 0.0
            if s != 0:
                v[idx] = 0.0
            out[(t,) + idx] = s
    return out * alpha


@pytest.mark.parametrize("mode", ["ternary", "binary"])
@pytest.mark.parametrize("fire_ratio", [None, "scalar", "channel"])
def test_lif_matches_naive(mode, fire_ratio):
    rng = np.random.default_rng(1)
    # multiples of 1/8 make exact ties v == +-0.5 frequent (0.25 v stays exact in binary)
    x = rng.integers(-8, 9, size=(5, 2, 3, 4, 4)) / 8.0
    lif = LIFAct(5, mode, fire_ratio, channels=3).double()
    alpha = 1.0
    if fire_ratio is not None:
        with torch.no_grad():
            lif.fire_ratio.copy_(torch.rand(lif.fire_ratio.shape, dtype=torch.float64) + 0.5)
        alpha = lif.fire_ratio.detach().numpy()
    got = lif(torch.from_numpy(x)).detach().numpy()
    want = naive_lif(x, mode, alpha)
    np.testing.assert_array_equal(got, want)
    assert np.any(x == 0.5)  # ties were exercised


def test_straight_through_gradient():
    u = torch.tensor([-2.0, -1.0, -0.7, -0.5, 0.0, 0.4, 0.5, 1.0, 1.5], requires_grad=True)
    spike(u, "ternary").sum().backward()
    # d clamp(u, -1, 1) / du: 1 on [-1, 1], 0 outside
    assert u.grad.tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 0]
    u.grad = None
    spike(u, "binary").sum().backward()
    assert u.grad.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0]  # d clamp(u, 0, 1) / du
    assert spike(u, "ternary").tolist() == [-1, -1, -1, -1, 0, 0, 1, 1, 1]
    assert spike(u, "binary").tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1]


def test_fire_ratio_is_trainable():
    lif = LIFAct(2, "ternary", "channel", channels=3)
    x = torch.full((2, 1, 3, 2, 2), 0.8)
    lif(x).sum().backward()
    assert lif.fire_ratio.shape == (1, 3, 1, 1)
    # each channel fired at t=0 (v=0.8) and at t=1 (reset to 0, then v=0.8): 2 steps x 4 pixels
    assert lif.fire_ratio.grad.flatten().tolist() == [8.0, 8.0, 8.0]


def test_paper_state_dict_names():
    keys = set(resnet("resnet20_cifar", 2).state_dict())
    for k in ("model.conv1.pool.weight", "model.bn1.conv.running_mean", "model.layer2.0.bn1.bn.weight",
              "model.layer2.0.downsample.0.pool.weight", "model.fc.conv.weight", "model.scale",
              "model.bn1.conv.num_batches_tracked", "model.relu.fire_ratio",
              "model.layer1.0.relu1.fire_ratio", "model.layer1.0.output_act.fire_ratio"):
        assert k in keys, k
    mod = set(resnet("resnet20_cifar_modified", 2).state_dict())
    assert {"model.conv1.0.pool.weight", "model.conv1.1.conv.running_var", "model.conv1.2.fire_ratio",
            "model.layer2.0.downsample.1.pool.weight", "model.layer2.0.downsample.2.bn.weight"} <= mod
    assert {"model.features.0.pool.bias", "model.features.1.fire_ratio",
            "model.classifier.conv.weight"} <= set(vgg("vgg16", 2).state_dict())


def test_loads_module_prefix_and_plain_names():
    torch.manual_seed(0)
    src = dvs_cnn(2).eval()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.poisson(torch.full((1, 2, 2, 34, 34), 0.3))
    want = src(x)
    sd = src.state_dict()
    for variant in ({f"module.{k}": v for k, v in sd.items()},
                    {_plain_name(k): v for k, v in sd.items()}):
        dst = dvs_cnn(2).eval()
        load_paper_state_dict(dst, variant)
        torch.testing.assert_close(dst(x), want)
    assert _plain_name("model.layer1.0.bn1.bn.weight") == "layer1.0.bn1.weight"
    assert _plain_name("model.fc.conv.weight") == "fc.weight"


def test_static_input_is_repeated_over_time():
    torch.manual_seed(0)
    m = dvs_cnn(3).eval()
    img = torch.rand(1, 2, 34, 34)
    torch.testing.assert_close(m(img), m(img[:, None].repeat(1, 3, 1, 1, 1)))
