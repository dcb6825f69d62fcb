"""How other tools count operations, reproduced beside eventsim's exact event count.

- :func:`rate_mac_sops`: the firing-rate × MAC estimate of SpikingJelly-style papers: a layer's
  "SOPs" are the firing rate of its input (spike units / source neurons / T) times T times the
  dense MACs of the layer. Padding taps and border effects are averaged in; it equals the exact
  count only for dense (fully connected) projections.
- :func:`effective_sops`: the NeuroBench-style effective count that skips synapses whose weight is
  zero. It needs every neuron's spikes, not only the per-step totals a :class:`RunResult` keeps, so
  it is computed from per-neuron spike units (e.g. from the reference forward, see
  :func:`effective_sops_reference`).

See ``docs/energy.md`` for the differences between the counts.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..engine.reference import forward
from ..engine.result import RunResult
from ..network.counts import dense_macs
from ..network.ir import Network, Projection
from ..network.linear import apply_projection


def _encoder(result: RunResult, proj: Projection) -> bool:
    """True when ``proj`` is the analog encoder of a frame-input network (priced as MACs)."""
    return result.network.input.kind == "frames" and proj.source == "input"


def rate_mac_sops(result: RunResult) -> dict[str, np.ndarray]:
    """Per projection, the (T,) rate × MAC estimate of its SOPs (float; zeros for an encoder).

    Per step t: ``units_src[t] / N_src · dense_macs``; summed over steps this is
    ``rate_src · T · dense_macs`` with ``rate_src = units_src / (N_src · T)``. A spike unit is a
    +1 or a −1 (the rate counts both signs as spikes); an input pixel with n events counts n.
    """
    net = result.network
    out = {}
    for proj in net.projections:
        src = net.population(proj.source)
        if _encoder(result, proj):
            out[proj.name] = np.zeros(result.timesteps)
            continue
        units = result.spike_counts[src.name].sum(axis=1).astype(np.float64)
        macs = dense_macs(proj, src.shape, net.population(proj.target).shape)
        out[proj.name] = units / src.size * macs
    return out


def nonzero_mask(proj: Projection) -> Projection:
    """``proj`` with every non-zero weight (or scale) set to 1 and zeros kept: applying it to spike
    units and summing counts only the synapses that carry a non-zero weight."""
    if proj.weight is not None:
        return replace(proj, weight=(proj.weight != 0).astype(np.float64))
    if proj.scale is not None:
        return replace(proj, scale=(proj.scale != 0).astype(np.float64))
    return proj  # sum-pool / plain identity: every weight is 1


def effective_sops(net: Network, units_pos: dict[str, np.ndarray], units_neg: dict[str, np.ndarray]
                   ) -> dict[str, np.ndarray]:
    """Per projection, (T, 2) int64 SOPs from + / − source spikes that skip zero weights.

    ``units_pos[pop]`` / ``units_neg[pop]`` are (T, *shape) counts of +1 / −1 spike units per
    neuron and step. Projections out of a frame input (the analog encoder) get zeros: their
    operations are MACs, not SOPs.
    """
    out = {}
    for proj in net.projections:
        src = net.population(proj.source)
        tshape = net.population(proj.target).shape
        pos, neg = units_pos[src.name], units_neg[src.name]
        counts = np.zeros((pos.shape[0], 2), np.int64)
        if not (net.input.kind == "frames" and src.name == "input"):
            mask = nonzero_mask(proj)
            for t in range(pos.shape[0]):
                for k, part in enumerate((pos[t], neg[t])):
                    if np.any(part):
                        counts[t, k] = int(round(apply_projection(mask, part, tshape).sum()))
        out[proj.name] = counts
    return out


def effective_sops_reference(net: Network, inputs_pos: np.ndarray, inputs_neg: np.ndarray | None = None
                             ) -> dict[str, np.ndarray]:
    """:func:`effective_sops` with the per-neuron spikes of the reference forward on these inputs.

    The engine's RunResult keeps only per-step totals, so the effective count re-runs the dense
    float64 reference (slow on large networks; exact). Inputs as for
    :func:`eventsim.engine.reference.forward`.
    """
    ref = forward(net, inputs_pos, inputs_neg)
    pos_in = np.asarray(inputs_pos)
    neg_in = np.zeros_like(pos_in) if inputs_neg is None else np.asarray(inputs_neg)
    units_pos = {"input": pos_in, **{n: np.maximum(s, 0) for n, s in ref.spikes.items() if n != "input"}}
    units_neg = {"input": neg_in, **{n: np.maximum(-s, 0) for n, s in ref.spikes.items() if n != "input"}}
    return effective_sops(net, units_pos, units_neg)
