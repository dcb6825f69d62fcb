"""The arch registry and the layer helpers shared by every architecture map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import ConversionError
from ..params import Params
from ..trace import Builder, Value

BN_EPS = 1e-5  # PyTorch's BatchNorm default; the eps is not stored in a state dict


@dataclass
class Context:
    """What an architecture map needs: the parameters, the builder and the run settings."""

    params: Params
    builder: Builder
    timesteps: int
    neuron: str  # "ternary_lif" or "binary_lif"


@dataclass(frozen=True)
class ArchSpec:
    """A registered architecture."""

    name: str
    summary: str  # one line for --list-archs
    build: Callable[[Context, Value], None]  # maps the input value to the readout
    input_kind: str = "frames"  # default input: "frames" (static image) or "events"


ARCHS: dict[str, ArchSpec] = {}


def register(name: str, summary: str, input_kind: str = "frames"):
    """Decorator: register ``build`` under ``name``."""
    def deco(build):
        if name in ARCHS:
            raise RuntimeError(f"arch {name!r} registered twice")
        ARCHS[name] = ArchSpec(name, summary, build, input_kind)
        return build
    return deco


# -- layer helpers: one per PyTorch layer type, reading its parameters -------------------------
def conv(ctx: Context, x: Value, path: str, cout: int, k: int, stride: int = 1, padding: int = 0,
         bias: bool = False) -> Value:
    """An ``nn.Conv2d`` at ``path`` (paper wrapper: SpikePool, attribute ``pool``)."""
    p = ctx.params
    w = p.get(path, "pool", "weight", (cout, x.shape[0], k, k))
    b = p.get(path, "pool", "bias", (cout,), required=bias)
    return ctx.builder.conv(x, path, w, b, stride, padding)


def batchnorm(ctx: Context, x: Value, path: str, wrapper: str) -> Value:
    """A BatchNorm at ``path``; ``wrapper`` is ``conv`` (top level) or ``bn`` (in a block)."""
    p = ctx.params
    c = (x.shape[0],)
    gamma = p.get(path, wrapper, "weight", c)
    beta = p.get(path, wrapper, "bias", c)
    mean = p.get(path, wrapper, "running_mean", c)
    var = p.get(path, wrapper, "running_var", c)
    return ctx.builder.batchnorm(x, path, gamma, beta, mean, var, BN_EPS)


def lif(ctx: Context, x: Value, path: str) -> Value:
    """The LIFAct at ``path`` (with its optional ``fire_ratio``)."""
    alpha = ctx.params.fire_ratio(path, x.shape[0])
    return ctx.builder.lif(x, path, ctx.neuron, alpha)


def readout(ctx: Context, x: Value, path: str) -> None:
    """The per-step ``nn.Linear`` at ``path`` (wrapper SpikeConv, ``conv``), mean over T."""
    p = ctx.params
    n_in = int(np.prod(x.shape))
    w = p.get(path, "conv", "weight", (None, n_in))
    b = p.get(path, "conv", "bias", (w.shape[0],), required=False)
    if w.shape[0] < 1:
        raise ConversionError(f"{ctx.params.path}: {path}: no output classes")
    ctx.builder.readout(ctx.builder.dense(x, path, w, b), path, ctx.timesteps)
