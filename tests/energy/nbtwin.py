"""The PyTorch twin of an IR network, measured by NeuroBench's own hooks and metrics.

The twin (see :mod:`eventsim.energy.neurobench`): one ``nn.Conv2d`` / ``nn.Linear`` per conv2d /
dense projection, one ``snntorch.SpikingNeuron`` per spiking population with its membrane in
``mem``, computed in float64, stepped one time step per call by NeuroBench's ``SNNTorchModel``. Needs torch,
snntorch and neurobench (the callers skip without them).
"""

from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
import torch.nn.functional as F
from neurobench.benchmarks import Benchmark
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
from neurobench.models import SNNTorchModel
from torch import nn

from eventsim.network.ir import Network, Population, Projection


class TwinNeuron(snn.SpikingNeuron):
    """One population of eventsim neurons; NeuroBench reads ``mem`` before and after each call."""

    def __init__(self, pop: Population):
        super().__init__(init_hidden=True, output=False)
        # snntorch's constants are buffers NeuroBench's Footprint would count; the twin keeps the
        # population's constants as plain floats so that it stores exactly what eventsim stores
        self._buffers.clear()
        self.pop = pop
        self.bias = None if pop.bias is None else _param(pop.bias)
        self.mem = torch.zeros(0, dtype=torch.float64)

    def reset(self) -> None:
        self.mem = torch.zeros(0, dtype=torch.float64)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        pop = self.pop
        if self.bias is not None:
            current = current + self.bias.reshape((1, -1) + (1,) * (current.dim() - 2))
        v = current if self.mem.numel() == 0 else pop.decay * self.mem + current
        if pop.v_min is not None:
            v = torch.clamp(v, min=pop.v_min)
        th = pop.threshold
        if pop.kind == "ternary_lif":
            s = (v >= th).double() - (v <= -th).double()
        elif pop.kind == "binary_lif":
            s = (v > th).double()
        elif pop.multi_spike:
            s = torch.where(v >= th, torch.floor(v / th), torch.zeros_like(v))
        else:
            s = (v >= th).double()
        self.mem = torch.where(s != 0, torch.zeros_like(v), v) if pop.reset == "zero" else v - s * th
        return s


def _param(arr) -> nn.Parameter:
    """A parameter in the array's own dtype (the model's stored precision)."""
    return nn.Parameter(torch.from_numpy(np.array(arr)))


def _layer(proj: Projection) -> nn.Module | None:
    if proj.kind == "dense":
        layer = nn.Linear(proj.weight.shape[1], proj.weight.shape[0], bias=False)
    elif proj.kind == "conv2d":
        cout, cin_g, kh, kw = proj.weight.shape
        layer = nn.Conv2d(cin_g * proj.groups, cout, (kh, kw), stride=proj.stride, padding=proj.padding,
                          dilation=proj.dilation, groups=proj.groups, bias=False)
    else:
        return None
    layer.weight = _param(proj.weight)
    return layer


class Twin(nn.Module):
    """The network, one step per call: ``forward(x_t) -> (readout value, None)``."""

    def __init__(self, net: Network):
        super().__init__()
        self.net = net
        self.layers = nn.ModuleDict({q.name: m for q in net.projections if (m := _layer(q)) is not None})
        self.scales = nn.ParameterDict({q.name: _param(q.scale)
                                        for q in net.projections if q.scale is not None})
        self.neurons = nn.ModuleDict({p.name: TwinNeuron(p) for p in net.populations if p.spiking})
        out = net.output_population
        self.readout_bias = (None if out.bias is None else
                             _param(out.bias))
        self.readout = None
        self.history: list[dict[str, np.ndarray]] = []  # per step: the spikes of every population

    def reset(self) -> None:
        for m in self.neurons.values():
            m.reset()
        self.readout = None
        self.history = []

    def _project(self, proj: Projection, x: torch.Tensor) -> torch.Tensor:
        if proj.kind == "identity":
            if proj.name in self.scales:
                return x * self.scales[proj.name].reshape((1, -1) + (1,) * (x.dim() - 2))
            return x
        if proj.kind == "sumpool2d":
            return F.avg_pool2d(x, proj.kernel_size, proj.stride, proj.padding,
                                count_include_pad=True) * (proj.kernel_size[0] * proj.kernel_size[1])
        if proj.pre_pool is not None:
            (kh, kw), stride, padding = proj.pre_pool
            x = F.avg_pool2d(x, (kh, kw), stride, padding, count_include_pad=True) * (kh * kw)
        if proj.kind == "dense":
            x = x.flatten(1)
        return self.layers[proj.name](x)

    def forward(self, x: torch.Tensor):
        net = self.net
        out_spikes = {"input": x}
        for pop in net.ordered_populations():
            if pop.kind == "input":
                continue
            current = torch.zeros((x.shape[0],) + tuple(pop.shape), dtype=torch.float64)
            for proj in net.incoming(pop.name):
                current = current + self._project(proj, out_spikes[proj.source]).reshape(current.shape)
            if pop.spiking:
                out_spikes[pop.name] = self.neurons[pop.name](current)
            else:
                if self.readout_bias is not None:
                    current = current + self.readout_bias.reshape((1, -1) + (1,) * (current.dim() - 2))
                self.readout = current if self.readout is None else self.readout + current
        self.history.append({k: v.detach().numpy()[0].copy() for k, v in out_spikes.items() if k != "input"})
        return self.readout, None


def neurobench_run(net: Network, inputs: np.ndarray) -> tuple[dict, dict[str, np.ndarray]]:
    """NeuroBench's results on the twin fed ``inputs`` ``(T, *input shape)`` as one sample.

    Returns (results by NeuroBench's metric names, per spiking population the (T, *shape) spikes
    the twin emitted).
    """
    twin = Twin(net).double()  # computed in float64, as the float64 engine
    data = torch.tensor(np.asarray(inputs, np.float64))[None]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, torch.zeros(1)), batch_size=1)
    bench = Benchmark(SNNTorchModel(twin), loader, [], [],
                      [[Footprint, ConnectionSparsity, ParameterCount],
                       [SynapticOperations, ActivationSparsity, MembraneUpdates]])
    results = bench.run(quiet=True)
    spikes = {name: np.stack([step[name] for step in twin.history]) for name in twin.neurons}
    return results, spikes


def static_metrics(net: Network) -> dict:
    """NeuroBench's static metrics of the twin with parameters in the model's stored dtypes."""
    model = SNNTorchModel(Twin(net))
    return {"Footprint": Footprint()(model), "ConnectionSparsity": ConnectionSparsity()(model),
            "ParameterCount": ParameterCount()(model)}
