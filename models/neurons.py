"""The Ternary Spike LIF neuron and its binary variant (PyTorch).

Per time step ``t`` with input ``x_t`` (the layout is ``(T, B, C, H, W)``, time first):

- integrate: ``v = 0.25 * v + x_t`` (decay 0.25, as the paper's ``mem_update``);
- fire, ternary: ``s = sign(v)`` where ``|v / V_th| >= 0.5``, else 0 (``V_th = 1``);
  binary: ``s = 1`` where ``v / V_th > 0.5`` (strict), else 0;
- hard reset: ``v = 0`` where ``s != 0``;
- output ``s * alpha``: ``alpha`` is the trainable amplitude ``fire_ratio`` (a scalar or one
  value per channel, shape ``(1, C, 1, 1)``), or absent (= 1, the released code's choice).

The backward pass is the paper's straight-through estimator: the gradient of ``clamp(u, -1, 1)``
(ternary) or ``clamp(u, 0, 1)`` (binary) with respect to ``u = v / V_th``.
"""

from __future__ import annotations

import torch
from torch import nn

DECAY = 0.25  # membrane decay per step (the paper's fixed value)
FIRE_LEVEL = 0.5  # fire when |v / V_th| reaches this level


class _TernarySpike(torch.autograd.Function):
    """Exact {-1, 0, +1} forward; straight-through gradient of clamp(u, -1, 1)."""

    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u >= FIRE_LEVEL).to(u.dtype) - (u <= -FIRE_LEVEL).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * (u.abs() <= 1).to(grad.dtype)


class _BinarySpike(torch.autograd.Function):
    """Exact {0, 1} forward (strict threshold); straight-through gradient of clamp(u, 0, 1)."""

    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u > FIRE_LEVEL).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * ((u >= 0) & (u <= 1)).to(grad.dtype)


def spike(u: torch.Tensor, mode: str = "ternary") -> torch.Tensor:
    """Spikes of the normalised membrane ``u = v / V_th`` (``mode``: ternary | binary)."""
    if mode == "ternary":
        return _TernarySpike.apply(u)
    if mode == "binary":
        return _BinarySpike.apply(u)
    raise ValueError(f"unknown spike mode {mode!r} (ternary | binary)")


class LIFAct(nn.Module):
    """The spiking activation that replaces ReLU, over a ``(T, B, ...)`` input.

    ``fire_ratio``: ``None`` (alpha = 1, no parameter), ``"scalar"`` (one trainable alpha) or
    ``"channel"`` (a trainable ``(1, channels, 1, 1)`` alpha). The parameter is named
    ``fire_ratio`` so its state-dict key is ``<module path>.fire_ratio``.

    ``margin`` (a Python float, updated by every forward) is the smallest distance of a
    normalised membrane to the firing level seen so far; tests use it to reject inputs whose
    spikes would depend on rounding. ``reset_margin()`` clears it.
    """

    def __init__(self, step: int, mode: str = "ternary", fire_ratio: str | None = None,
                 channels: int | None = None):
        super().__init__()
        if mode not in ("ternary", "binary"):
            raise ValueError(f"unknown spike mode {mode!r} (ternary | binary)")
        self.step = step
        self.mode = mode
        self.V_th = 1.0
        if fire_ratio is None:
            self.fire_ratio = None
        elif fire_ratio == "scalar":
            self.fire_ratio = nn.Parameter(torch.tensor(1.0))
        elif fire_ratio == "channel":
            if not channels:
                raise ValueError("fire_ratio='channel' needs channels")
            self.fire_ratio = nn.Parameter(torch.ones(1, channels, 1, 1))
        else:
            raise ValueError(f"fire_ratio must be None, 'scalar' or 'channel', got {fire_ratio!r}")
        self.margin = float("inf")

    def reset_margin(self) -> None:
        self.margin = float("inf")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.step:
            raise ValueError(f"LIFAct expects {self.step} steps on axis 0, got shape {tuple(x.shape)}")
        v = torch.zeros_like(x[0])
        out = []
        for t in range(self.step):
            # integrate
            v = v * DECAY + x[t]
            u = v / self.V_th
            with torch.no_grad():
                gap = (u.abs() - FIRE_LEVEL).abs() if self.mode == "ternary" else (u - FIRE_LEVEL).abs()
                self.margin = min(self.margin, float(gap.min()))
            # fire, then hard reset where a spike was emitted (as the paper: v * (1 - |s|),
            # exact in the forward since |s| is 0 or 1, and with the same gradient path)
            s = spike(u, self.mode)
            v = v * (1 - s.abs())
            if self.fire_ratio is not None:
                s = s * self.fire_ratio
            out.append(s)
        return torch.stack(out)
