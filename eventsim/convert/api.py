"""Checkpoint -> IR network: the converter's public entry points."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConversionError, ModelFormatError
from ..files import sha256_file
from ..network.h5io import save_model
from ..network.ir import InputSpec, Network, Population, topological_order
from ..network.nir import load_nir
from ..network.nir_nodes import DEFAULT_DT
from .archs import ARCHS, Context
from .checkpoint import load_state_dict
from .params import Params
from .trace import Builder

NEURONS = {"ternary": "ternary_lif", "binary": "binary_lif"}


def list_archs() -> list[tuple[str, str, str]]:
    """(name, default input kind, summary) of every registered architecture, sorted by name."""
    return [(a.name, a.input_kind, a.summary) for a in sorted(ARCHS.values(), key=lambda a: a.name)]


def convert_state_dict(state: dict[str, np.ndarray], arch: str, timesteps: int,
                       input_shape: tuple[int, int, int], input_kind: str | None = None,
                       polarity: str = "split", neuron: str = "ternary",
                       source: str = "<state dict>") -> Network:
    """Fold a state dict of architecture ``arch`` into an IR network (all folding in float64).

    ``input_kind``: ``frames`` (static input, the first layer is the analog encoder) or
    ``events`` (2 polarity channels for ``split``, 1 for ``signed``); None: the arch's default.
    ``neuron``: ``ternary`` (the paper's) or ``binary``.
    """
    if arch not in ARCHS:
        raise ConversionError(f"unknown arch {arch!r} (known: {', '.join(sorted(ARCHS))})")
    if neuron not in NEURONS:
        raise ConversionError(f"unknown neuron {neuron!r} (ternary | binary)")
    if int(timesteps) < 1:
        raise ConversionError(f"timesteps must be >= 1, got {timesteps}")
    spec = ARCHS[arch]
    kind = input_kind or spec.input_kind
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConversionError(f"input shape must be C,H,W of positive ints, got {input_shape}")
    if kind == "events" and shape[0] != (2 if polarity == "split" else 1):
        raise ConversionError(f"event input with polarity {polarity!r} needs "
                              f"{2 if polarity == 'split' else 1} channels, got input shape {shape}")
    params = Params(state, source, arch)
    builder = Builder(populations=[Population("input", "input", shape)])
    ctx = Context(params, builder, int(timesteps), NEURONS[neuron])
    try:
        spec.build(ctx, builder.spikes("input", shape))
        params.finish()
    except ConversionError as exc:  # the folding steps name a layer; say which file it is in
        if str(exc).startswith(source):
            raise
        raise ConversionError(f"{source}: {exc}") from None
    names = [p.name for p in builder.populations]
    try:
        order = topological_order(names, [(q.source, q.target) for q in builder.projections])
        return Network(
            name=arch, populations=builder.populations, projections=builder.projections,
            order=order, timesteps=int(timesteps), input=InputSpec(kind=kind, polarity=polarity),
            provenance={"arch": arch, "timesteps": int(timesteps), "input_kind": kind,
                        "input_shape": list(shape), "neuron": NEURONS[neuron],
                        "naming": "paper" if params.paper_names else "plain",
                        "converter": f"eventsim {__version__}", "fold_precision": "float64",
                        "folds": builder.folds})
    except ModelFormatError as exc:
        raise ConversionError(f"{source}: converted network is invalid: {exc}") from None


def convert_checkpoint(path: str | os.PathLike, arch: str, timesteps: int,
                       input_shape: tuple[int, int, int], input_kind: str | None = None,
                       polarity: str = "split", neuron: str = "ternary") -> Network:
    """Read a ``.pth`` / ``.safetensors`` checkpoint (never executing it) and convert it."""
    path = os.fspath(path)
    state = load_state_dict(path)
    net = convert_state_dict(state, arch, timesteps, input_shape, input_kind, polarity, neuron,
                             source=path)
    net.provenance["source"] = {"file": Path(path).name, "sha256": sha256_file(path)}
    return net


def convert_to_file(path: str | os.PathLike, output: str | os.PathLike, dtype: str = "float32",
                    **options) -> Network:
    """Convert ``path`` and write ``output`` atomically (``dtype`` of the stored weights)."""
    net = convert_checkpoint(path, **options)
    net.provenance["stored_dtype"] = dtype
    save_model(net, output, dtype=dtype)
    return net


def convert_nir_to_file(path: str | os.PathLike, output: str | os.PathLike, dtype: str = "float32",
                        dt: float = DEFAULT_DT, semantics: str = "auto",
                        timesteps: int | None = None, reset: str | None = None) -> Network:
    """Import a NIR graph (:func:`~eventsim.network.nir.load_nir`) and write it as ``model.h5``.

    The provenance holds what the import records (file, SHA-256, dt, semantics, the nodes'
    mapping) and, as for a checkpoint, the stored dtype. ``reset``: the reset of neuron nodes
    without ``v_reset`` (``load_nir``'s).
    """
    net = load_nir(os.fspath(path), dt=dt, semantics=semantics, timesteps=timesteps, reset=reset)
    if reset is not None:
        net.provenance["reset"] = reset
    net.provenance["stored_dtype"] = dtype
    save_model(net, output, dtype=dtype)
    return net
