"""The paper's CIFAR VGG-16 (``vgg16``: conv with bias, no BN) and ``vgg16_bn``.

``features`` is cfg "D" (64,64,M,128,128,M,256x3,M,512x3,M,512x3,M) with ``M`` an
``AvgPool2d(2, 2)``; then ``AdaptiveAvgPool2d(1)`` and ``classifier = Linear(512, classes)``
per step. Keys: ``model.features.0.pool.{weight,bias}``, ``model.features.1.fire_ratio``
(``vgg16_bn``: ``model.features.1.conv.*`` is the BN and ``model.features.2`` the LIF),
``model.classifier.conv.{weight,bias}``. Five pools: the input side must be >= 32.
"""

from __future__ import annotations

from torch import nn

from .layers import SpikeModel, spike_refactor

CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def make_layers(cfg, batch_norm: bool, in_channels: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features: nn.Module, num_classes: int = 10):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(2))  # (T, B, 512) -> per-step logits


def vgg(arch: str, step: int, mode: str = "ternary", fire_ratio: str | None = "channel",
        input_c: int = 3, num_classes: int = 10) -> SpikeModel:
    """``vgg16`` or ``vgg16_bn``, spiking, wrapped in SpikeModel."""
    if arch not in ("vgg16", "vgg16_bn"):
        raise ValueError(f"unknown VGG {arch!r}")
    body = VGG(make_layers(CFG_D, arch == "vgg16_bn", input_c), num_classes)
    spike_refactor(body, step, mode, fire_ratio)
    return SpikeModel(body, step)


def vgg16(step: int, **kw) -> SpikeModel:
    return vgg("vgg16", step, **kw)


def vgg16_bn(step: int, **kw) -> SpikeModel:
    return vgg("vgg16_bn", step, **kw)
