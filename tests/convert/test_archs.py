"""Every paper architecture: PyTorch float64 forward == eventsim (reference and Simulator, float64).

One random checkpoint per arch (random BN statistics, per-channel alpha in [0.5, 1.5), paper
naming, saved with torch.save and read back by the torch-free reader), static and event input,
T = 2 (vgg16_bn: 1), batch 1, small spatial sizes so the dense reference stays fast:
- CIFAR ResNet-19/20: 8x8 (stages 8, 4, 2);
- resnet20_cifar_modified: 16x16 (its avg-down shortcuts need even maps: 16, 8, 4, 2, 1);
- ResNet-18/34: 17x17 (stem 9x9 and pooled 5x5: the stem's 3/2 average pool composes exactly
  with the next 3x3 convolution only when the stem output size is odd, see test_folding);
- ResNet-18 also at 32x32 (stem 16x16, even: the stem pool stays a pre-pool of layer1's first
  conv, as at 224x224);
- VGG-16: 32x32 (five 2x2 pools).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")

from eventsim.convert import convert_checkpoint  # noqa: E402
from eventsim.network.ir import InputSpec  # noqa: E402
from models.resnet import resnet  # noqa: E402
from models.vgg import vgg  # noqa: E402
from tests.convert.torchref import assert_matches, draw_input, randomise  # noqa: E402

T = 2
CASES = [
    ("resnet19_cifar", 8, ("frames", "events"), T),
    ("resnet20_cifar", 8, ("frames", "events"), T),
    ("resnet20_cifar_modified", 16, ("frames", "events"), T),
    ("resnet18", 17, ("frames", "events"), T),
    ("resnet34", 17, ("frames", "events"), T),
    ("resnet18", 32, ("frames", "events"), T),
    ("vgg16", 32, ("frames", "events"), T),
    # vgg16's map plus the BN folds: one input kind and one step keep the 32x32 reference cheap
    ("vgg16_bn", 32, ("events",), 1),
]


def _model(arch: str, seed: int, steps: int):
    torch.manual_seed(seed)
    make = vgg if arch.startswith("vgg") else resnet
    # 2 input channels serve both the event input (OFF, ON) and a 2-channel static input
    return randomise(make(arch, steps, input_c=2), seed)


@pytest.mark.slow
@pytest.mark.parametrize("arch,side,kinds,steps", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_arch_matches_torch(tmp_path, arch, side, kinds, steps):
    model = _model(arch, len(arch), steps)
    ckpt = tmp_path / f"{arch}.pth"
    torch.save(model.state_dict(), ckpt)
    shape = (2, side, side)
    net = convert_checkpoint(ckpt, arch, steps, shape, input_kind=kinds[0])
    for kind in kinds:
        x, logits, counts = draw_input(model, shape, steps, kind, seed=7)
        # every LIF layer spikes both ways, so equal counts are a real check
        assert all(c[0] > 0 and c[1] > 0 for c in counts.values()), counts
        assert {p.name for p in net.populations} >= set(counts)
        if net.input.kind != kind:
            # the folded weights do not depend on the input kind; only the input spec does
            # (converting the checkpoint again would cost seconds for the same arrays)
            net = replace(net, input=InputSpec(kind=kind, polarity="split"))
        assert_matches(net, x, kind, steps, logits, counts)


def test_binary_neuron_resnet(tmp_path):
    torch.manual_seed(3)
    model = randomise(resnet("resnet20_cifar_modified", T, mode="binary", input_c=2), 3)
    ckpt = tmp_path / "bin.pth"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    shape = (2, 16, 16)
    x, logits, counts = draw_input(model, shape, T, "events", seed=1)
    assert all(c[0] > 0 and c[1] == 0 for c in counts.values())
    net = convert_checkpoint(ckpt, "resnet20_cifar_modified", T, shape, input_kind="events",
                             neuron="binary")
    assert all(p.kind == "binary_lif" for p in net.populations if p.spiking)
    assert_matches(net, x, "events", T, logits, counts)
