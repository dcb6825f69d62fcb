"""``dvs_cnn``: a small event-input CNN for the demo (N-MNIST-sized input).

Input ``(B, T, 2, 34, 34)``: per step, the counts of OFF (channel 0) and ON (channel 1) events
per pixel. Layers (names as the paper's SpikeModel produces them):

    conv1 3x3 2->16 pad 1, bn1, relu1 (LIF), pool1 avg 2
    conv2 3x3 16->32 pad 1, bn2, relu2 (LIF), pool2 avg 2   (34 -> 17 -> 8: last row dropped)
    fc 32*8*8 -> classes, per step; logits = mean over T

State-dict keys: ``model.conv1.pool.weight``, ``model.bn1.conv.{weight,bias,running_mean,
running_var,num_batches_tracked}``, ``model.relu1.fire_ratio`` (per channel), ...,
``model.fc.conv.{weight,bias}``.
"""

from __future__ import annotations

from torch import nn

from .layers import SpikeConv, SpikeModel, SpikePool
from .neurons import LIFAct


class DVSCNN(nn.Module):
    """The plain (time-distributed) body of ``dvs_cnn``; wrap it in SpikeModel."""

    def __init__(self, step: int, mode: str = "ternary", fire_ratio: str | None = "channel",
                 in_channels: int = 2, num_classes: int = 10, size: int = 34):
        super().__init__()
        self.conv1 = SpikePool(nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), step)
        self.bn1 = SpikeConv(nn.BatchNorm2d(16), step)
        self.relu1 = LIFAct(step, mode, fire_ratio, 16)
        self.pool1 = SpikePool(nn.AvgPool2d(2), step)
        self.conv2 = SpikePool(nn.Conv2d(16, 32, 3, padding=1, bias=False), step)
        self.bn2 = SpikeConv(nn.BatchNorm2d(32), step)
        self.relu2 = LIFAct(step, mode, fire_ratio, 32)
        self.pool2 = SpikePool(nn.AvgPool2d(2), step)
        side = (size // 2) // 2
        self.fc = SpikeConv(nn.Linear(32 * side * side, num_classes), step)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        return self.fc(x.flatten(2))  # (T, B, C*H*W) -> per-step logits


def dvs_cnn(step: int, mode: str = "ternary", fire_ratio: str | None = "channel",
            num_classes: int = 10, in_channels: int = 2, size: int = 34) -> SpikeModel:
    """The demo network, wrapped: input ``(B, T, 2, size, size)``, output ``(B, classes)``."""
    return SpikeModel(DVSCNN(step, mode, fire_ratio, in_channels, num_classes, size), step)
