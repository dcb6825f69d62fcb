"""Shared helpers of the converter tests: random checkpoints and the PyTorch float64 forward.

Needs torch (callers use ``pytest.importorskip("torch")`` before importing this module).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from torch import nn

from eventsim.engine.reference import forward
from models.neurons import LIFAct

MARGIN = 1e-9  # no membrane may lie closer than this to a firing level (rounding safety)


def randomise(model: nn.Module, seed: int, gain: float = 2.6) -> nn.Module:
    """Non-trivial BN statistics, positive alpha != 1, conv weights rescaled; float64, eval mode.

    Conv weights keep PyTorch's default uniform init (std 1/sqrt(3 fan_in)) times ``gain``
    (generating fresh ones for a 20-layer 512-wide net is slow); ``gain`` ~ 1.5 * sqrt(3)
    keeps spikes flowing through every layer.
    """
    g = torch.Generator().manual_seed(seed)
    model = model.double()

    def rnd(*shape):
        return torch.randn(shape, generator=g, dtype=torch.float64)

    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm3d)):
                c = mod.num_features
                mod.running_mean.copy_(rnd(c) * 0.3)
                mod.running_var.copy_(torch.rand(c, generator=g, dtype=torch.float64) * 1.5 + 0.5)
                mod.weight.copy_(rnd(c) * 0.3 + 1.0)
                mod.bias.copy_(rnd(c) * 0.3)
                mod.num_batches_tracked.fill_(7)
            elif isinstance(mod, nn.Conv2d):
                mod.weight.mul_(gain)
                if mod.bias is not None:
                    mod.bias.copy_(rnd(*mod.bias.shape) * 0.1)
            elif isinstance(mod, nn.Linear):
                mod.bias.copy_(rnd(*mod.bias.shape) * 0.1)
            elif isinstance(mod, LIFAct) and mod.fire_ratio is not None:
                shape = mod.fire_ratio.shape
                mod.fire_ratio.copy_(torch.rand(shape, generator=g, dtype=torch.float64) + 0.5)
    return model.eval()


def torch_run(model: nn.Module, x: torch.Tensor):
    """(logits (classes,), {population: [pos, neg] spike counts}, margin) for a batch of one."""
    counts: dict[str, list[int]] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, LIFAct):
            pop = name[len("model."):] if name.startswith("model.") else name
            alpha = 1.0 if mod.fire_ratio is None else mod.fire_ratio

            def hook(_m, _inp, out, pop=pop, alpha=alpha):
                s = out / alpha  # alpha > 0 in the tests: the sign of out is the spike's
                counts[pop] = [int((s > 0).sum()), int((s < 0).sum())]

            hooks.append(mod.register_forward_hook(hook))
    model.reset_margin()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return out[0].numpy(), counts, model.margin


def draw_input(model, shape, timesteps: int, kind: str, seed: int, rate: float = 0.3):
    """An input whose membranes all stay >= MARGIN away from a firing level (redrawn if not)."""
    rng = np.random.default_rng(seed)
    for _ in range(20):
        if kind == "events":
            x = rng.poisson(rate, size=(1, timesteps) + tuple(shape)).astype(np.float64)
        else:
            x = rng.normal(0.0, 1.0, size=(1,) + tuple(shape))
        xt = torch.from_numpy(x)
        logits, counts, margin = torch_run(model, xt)
        if margin >= MARGIN:
            return x[0], logits, counts
    raise AssertionError("could not draw an input clear of the firing thresholds")


def engines(net, x: np.ndarray, kind: str, timesteps: int):
    """[(engine name, output, {population: [pos, neg]})] for the reference and the Simulator."""
    inputs = x if kind == "events" else np.repeat(x[None], timesteps, axis=0)
    ref = forward(net, inputs)
    first = [q.name for q in net.projections if q.source == "input"]
    if kind == "frames":  # the analog encoder costs MACs, never SOPs
        assert all(ref.macs[q].sum() > 0 and ref.sops[q].sum() == 0 for q in first)
    else:
        assert all(ref.macs[q].sum() == 0 for q in first)
    runs = [("reference", ref.output, {k: list(v.sum(0)) for k, v in ref.spike_counts.items()})]
    if importlib.util.find_spec("eventsim.engine.simulator") is not None:
        from eventsim.engine.simulator import Simulator

        sim = Simulator(net, precision="float64")
        res = sim.run_counts(x) if kind == "events" else sim.run_frames(x, timesteps=timesteps)
        runs.append(("simulator", res.output, {k: list(v.sum(0)) for k, v in res.spike_counts.items()}))
    return runs


def assert_matches(net, x, kind, timesteps, logits, counts):
    """Logits within 1e-5 relative and identical per-layer spike counts, on every engine."""
    for engine, output, spk in engines(net, x, kind, timesteps):
        scale = max(float(np.abs(logits).max()), 1e-12)
        np.testing.assert_allclose(output, logits, rtol=1e-5, atol=1e-5 * scale, err_msg=engine)
        for pop, c in counts.items():
            assert spk[pop] == c, f"{engine}: spike counts of {pop}: {spk[pop]} != torch {c}"
