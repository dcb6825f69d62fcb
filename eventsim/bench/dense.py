"""The dense PyTorch twin of a benchmark network and the threshold calibration on it.

The one module of eventsim that imports torch (an optional extra): :mod:`eventsim.bench.engine`
imports it only for the end-to-end comparison, through ``require_dense``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..network.ir import Network, Population, Projection
from .engine import with_thresholds

__all__ = ["TorchTwin", "calibrate", "torch"]


class TorchTwin:
    """The same IR network as dense PyTorch ops, multi-step (T in the batch dimension)."""

    def __init__(self, net: Network):
        self.net = net
        self.w = {q.name: torch.from_numpy(np.asarray(q.weight, np.float32)) for q in net.projections
                  if q.weight is not None}
        self.scale = {q.name: torch.from_numpy(np.asarray(q.scale, np.float32)).view(1, -1, 1, 1)
                      for q in net.projections if q.scale is not None}

    def project(self, q: Projection, x: torch.Tensor) -> torch.Tensor:
        if q.kind == "conv2d":
            return F.conv2d(x, self.w[q.name], stride=q.stride, padding=q.padding, dilation=q.dilation,
                            groups=q.groups)
        if q.kind == "dense":
            return x.reshape(x.shape[0], -1) @ self.w[q.name].T
        if q.kind == "identity":
            return x * self.scale[q.name] if q.name in self.scale else x
        k = q.kernel_size
        assert k is not None  # a sumpool2d
        return F.avg_pool2d(x, k, q.stride, q.padding) * (k[0] * k[1])

    def current(self, name: str, spikes: dict) -> torch.Tensor:
        total = None
        for q in self.net.incoming(name):
            part = self.project(q, spikes[q.source])
            total = part if total is None else total + part
        assert total is not None  # every population but the input has a projection in
        return total

    @staticmethod
    def _lif_params(pop: Population) -> tuple[float, float]:
        assert pop.threshold is not None and pop.decay is not None  # spiking kinds have both
        return pop.threshold, pop.decay

    @staticmethod
    def lif(pop: Population, current: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(current[0])
        out = torch.empty_like(current)
        th, lam = TorchTwin._lif_params(pop)
        for t in range(current.shape[0]):
            v = lam * v + current[t]
            s = (v >= th).float() - (v <= -th).float()
            v = torch.where(s != 0, torch.zeros_like(v), v)
            out[t] = s
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        spikes = {"input": x}
        out = None
        for pop in self.net.ordered_populations()[1:]:
            cur = self.current(pop.name, spikes)
            if pop.kind == "readout":
                out = cur.sum(0)
            else:
                spikes[pop.name] = self.lif(pop, cur)
        assert out is not None  # the network ends in its readout
        return out, spikes

    @torch.no_grad()
    def forward_stepwise(self, x: torch.Tensor) -> torch.Tensor:
        """The same network one time step at a time (batch 1 per convolution); the readout."""
        pops = self.net.ordered_populations()[1:]
        v: dict[str, torch.Tensor | None] = {p.name: None for p in pops}
        out: torch.Tensor | None = None
        for t in range(x.shape[0]):
            spikes = {"input": x[t:t + 1]}
            for pop in pops:
                cur = self.current(pop.name, spikes)
                if pop.kind == "readout":
                    out = cur if out is None else out + cur
                    continue
                th, lam = self._lif_params(pop)
                before = v[pop.name]
                mem = cur if before is None else lam * before + cur
                s = (mem >= th).float() - (mem <= -th).float()
                v[pop.name] = torch.where(s != 0, torch.zeros_like(mem), mem)
                spikes[pop.name] = s
        assert out is not None  # the network ends in its readout
        return out[0]


@torch.no_grad()
def calibrate(net: Network, x: torch.Tensor, density: float, iters: int = 14) -> Network:
    """Thresholds giving each ternary layer about ``density`` firing per neuron and step."""
    twin = TorchTwin(net)
    spikes = {"input": x}
    thresholds = {}
    for pop in net.ordered_populations()[1:]:
        cur = twin.current(pop.name, spikes)
        if pop.kind == "readout":
            break
        lo, hi = 1e-6, float(cur.abs().max()) * 2 + 1e-6
        for _ in range(iters):  # geometric bisection: firing falls as the threshold rises
            mid = (lo * hi) ** 0.5
            probe = Population(pop.name, pop.kind, pop.shape, threshold=mid, decay=pop.decay)
            rate = float(twin.lif(probe, cur).abs().mean())
            lo, hi = (mid, hi) if rate > density else (lo, mid)
        thresholds[pop.name] = (lo * hi) ** 0.5
        probe = Population(pop.name, pop.kind, pop.shape, threshold=thresholds[pop.name], decay=pop.decay)
        spikes[pop.name] = twin.lif(probe, cur)
    return with_thresholds(net, thresholds)
