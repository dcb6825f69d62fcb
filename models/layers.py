"""Time-distributed wrappers with the paper's module names (hence its state-dict keys).

The paper's ``SpikeModel`` replaces, inside a plain network: ``nn.Conv2d`` and pooling by
``SpikePool`` (attribute ``pool``: keys ``<path>.pool.weight``), ``nn.Linear`` and a top-level
``nn.BatchNorm2d`` by ``SpikeConv`` (attribute ``conv``: ``<path>.conv.weight``,
``<path>.conv.running_mean``), block BatchNorms by ``myBatchNorm3d`` (attribute ``bn``) and
``nn.ReLU`` by ``LIFAct``. Every wrapper maps a ``(T, B, ...)`` tensor step by step (or with T
folded into the batch, which is the same for these per-sample operations in eval mode).
"""

from __future__ import annotations

import torch
from torch import nn

from .neurons import LIFAct


class SpikeConv(nn.Module):
    """Apply ``conv`` (a Linear or a BatchNorm2d in the paper) to every time step."""

    def __init__(self, conv: nn.Module, step: int):
        super().__init__()
        self.conv = conv
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.conv(x[t]) for t in range(x.shape[0])])


class SpikePool(nn.Module):
    """Apply ``pool`` (a Conv2d or a pooling layer in the paper) with T folded into the batch."""

    def __init__(self, pool: nn.Module, step: int):
        super().__init__()
        self.pool = pool
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        out = self.pool(x.reshape((t * b,) + tuple(x.shape[2:])))
        return out.reshape((t, b) + tuple(out.shape[1:]))


class myBatchNorm3d(nn.Module):  # noqa: N801 - the paper's class name, kept for recognisability
    """BatchNorm over (B, C, T, H, W): statistics shared by all time steps (block BNs)."""

    def __init__(self, bn: nn.BatchNorm2d, step: int):
        super().__init__()
        self.bn = nn.BatchNorm3d(bn.num_features, eps=bn.eps, momentum=bn.momentum)
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(x.permute(1, 2, 0, 3, 4))
        return out.permute(2, 0, 1, 3, 4).contiguous()


def spike_refactor(module: nn.Module, step: int, mode: str, fire_ratio: str | None,
                   specials: dict | None = None) -> None:
    """Replace, in place, the plain layers of ``module`` by the wrappers above (as SpikeModel).

    ``specials`` maps a block class to a factory ``f(block, step, mode, fire_ratio)``; a
    ReLU's channel count (for a per-channel fire_ratio) is that of the BatchNorm before it.
    """
    specials = specials or {}
    channels = None
    for name, child in module.named_children():
        if type(child) in specials:
            setattr(module, name, specials[type(child)](child, step, mode, fire_ratio))
        elif isinstance(child, nn.Conv2d):
            setattr(module, name, SpikePool(child, step))
            channels = child.out_channels
        elif isinstance(child, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            setattr(module, name, SpikePool(child, step))
        elif isinstance(child, (nn.Linear, nn.BatchNorm2d)):
            setattr(module, name, SpikeConv(child, step))
            if isinstance(child, nn.BatchNorm2d):
                channels = child.num_features
        elif isinstance(child, nn.ReLU):
            setattr(module, name, LIFAct(step, mode, fire_ratio, channels))
        else:
            spike_refactor(child, step, mode, fire_ratio, specials)


class SpikeModel(nn.Module):
    """The paper's top-level wrapper: ``model.`` prefix, time handling, mean over T.

    Input ``(B, C, H, W)`` is repeated over the T steps (static images, the first conv + BN +
    LIF acting as the encoder); ``(B, T, C, H, W)`` is event input. Output: ``(B, classes)``,
    the mean over T of the per-step logits. ``scale`` is the paper's unused ``model.scale``
    parameter, present only when the wrapped network defines it.
    """

    def __init__(self, model: nn.Module, step: int):
        super().__init__()
        self.model = model
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.unsqueeze(0).repeat(self.step, 1, 1, 1, 1)
        elif x.dim() == 5:
            if x.shape[1] != self.step:
                raise ValueError(f"event input must be (B, {self.step}, C, H, W), got {tuple(x.shape)}")
            x = x.permute(1, 0, 2, 3, 4)
        else:
            raise ValueError(f"input must be (B, C, H, W) or (B, T, C, H, W), got {tuple(x.shape)}")
        out = self.model(x)
        return out.mean(0)

    def lif_modules(self) -> list[LIFAct]:
        return [m for m in self.modules() if isinstance(m, LIFAct)]

    def reset_margin(self) -> None:
        for m in self.lif_modules():
            m.reset_margin()

    @property
    def margin(self) -> float:
        """Smallest distance of any normalised membrane to the firing level since the last reset."""
        return min((m.margin for m in self.lif_modules()), default=float("inf"))


def load_paper_state_dict(model: nn.Module, state: dict, strict: bool = True):
    """Load a state dict saved by this package or the paper's code (``module.`` stripped).

    Plain torchvision-style names (no ``model.`` prefix, no wrapper attribute) are mapped to
    the wrapped names: ``conv1.weight`` -> ``model.conv1.pool.weight`` and so on.
    """
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    own = model.state_dict()
    if not any(k.startswith("model.") for k in state):
        plain = {_plain_name(k): k for k in own}
        state = {plain.get(k, k): v for k, v in state.items()}
    return model.load_state_dict(state, strict=strict)


def _plain_name(wrapped: str) -> str:
    """``model.layer1.0.bn1.bn.weight`` -> ``layer1.0.bn1.weight`` (drop wrapper attributes)."""
    parts = wrapped.split(".")
    if parts and parts[0] == "model":
        parts = parts[1:]
    keep = [p for i, p in enumerate(parts)
            if not (p in ("pool", "conv", "bn") and 0 < i < len(parts) - 1)]
    return ".".join(keep)
