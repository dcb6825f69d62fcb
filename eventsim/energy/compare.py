"""How other tools count operations, reproduced beside eventsim's exact event count.

- :func:`rate_mac_sops`: the firing-rate × MAC estimate of SpikingJelly-style papers: a layer's
  "SOPs" are the firing rate of its input (spike units / source neurons / T) times T times the
  dense MACs of the layer. Padding taps and border effects are averaged in; it equals the exact
  count only for dense (fully connected) projections.
- :func:`effective_sops`: the NeuroBench-style effective count that skips synapses whose weight is
  zero. It needs every neuron's spikes, not only the per-step totals a :class:`RunResult` keeps, so
  it is computed from per-neuron spike units: the engine's recorded spikes
  (``Simulator.run(..., record=True)``, :func:`effective_sops_from_spikes`); the tests compute
  it from the reference forward's spikes too. Each source neuron's fan-out of non-zero synapses is
  computed once (:func:`fanout`), so a step costs one dot product per projection.

See ``docs/energy.md`` for the differences between the counts.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..engine.result import RunResult
from ..network.counts import dense_macs
from ..network.ir import Network, Projection


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


def _axis_hits(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """(kernel, size) 0/1: tap k of input position i lands on an existing output position."""
    hits = np.zeros((kernel, size), np.int64)
    for k in range(kernel):
        o, rem = np.divmod(np.arange(size) + padding - k * dilation, stride)
        hits[k] = (rem == 0) & (o >= 0) & (o < out)
    return hits


def _pool_cover(size: int, out: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """(size, out) 0/1: pooled cell o's window (``o·stride − padding`` + [0, kernel)) holds i."""
    start = np.arange(out) * stride - padding
    i = np.arange(size)[:, None]
    return ((i >= start) & (i < start + kernel)).astype(np.int64)


def fanout(proj: Projection, source_shape: tuple[int, ...], target_shape: tuple[int, ...],
           nonzero_only: bool = False) -> np.ndarray:
    """Per source neuron (source shape, int64): its synapses to existing target neurons.

    One spike unit of neuron i costs ``fanout[i]`` SOPs, so ``sum(units * fanout)`` is the SOP
    count of a step. With ``nonzero_only`` only synapses whose weight (or scale) is non-zero count
    (the effective count).
    """
    if proj.kind == "dense":
        weight = proj.weight_array
        w = np.not_equal(weight, 0) if nonzero_only else np.ones(weight.shape, bool)
        return w.sum(axis=0).astype(np.int64).reshape(source_shape)
    if proj.kind == "identity":
        keep = np.ones(source_shape[0], np.int64)
        if nonzero_only and proj.scale is not None:
            keep = (proj.scale != 0).astype(np.int64)
        return np.broadcast_to(keep.reshape((-1,) + (1,) * (len(source_shape) - 1)), source_shape).copy()
    if proj.pre_pool is not None:
        # one spike reaches every in-bounds pooled cell whose window holds it, each with the
        # fanout of that cell through the conv (the paths the reference counts)
        pooled = proj.pooled_shape(source_shape)
        per_cell = fanout(replace(proj, pre_pool=None), pooled, target_shape, nonzero_only)
        (kh, kw), (sh, sw), (ph, pw) = proj.pre_pool
        my = _pool_cover(source_shape[1], pooled[1], kh, sh, ph)
        mx = _pool_cover(source_shape[2], pooled[2], kw, sw, pw)
        return np.einsum("cab,ya,xb->cyx", per_cell, my, mx)
    c, h, w = source_shape
    _, ho, wo = target_shape
    if proj.kind == "sumpool2d":
        (kh, kw), dil = proj.pool_kernel, (1, 1)
        per_tap = np.ones((c, kh, kw), np.int64)  # one window-sum per channel, weight 1
    else:
        weight = proj.weight_array
        cout, cin_g, kh, kw = weight.shape
        dil = proj.dilation
        mask = np.not_equal(weight, 0) if nonzero_only else np.ones(weight.shape, bool)
        cout_g = cout // proj.groups
        per_tap = np.zeros((c, kh, kw), np.int64)
        for g in range(proj.groups):
            block = mask[g * cout_g:(g + 1) * cout_g].sum(axis=0)  # (cin_g, kh, kw): targets per tap
            per_tap[g * cin_g:(g + 1) * cin_g] = block
    ay = _axis_hits(h, ho, kh, proj.stride[0], proj.padding[0], dil[0])
    ax = _axis_hits(w, wo, kw, proj.stride[1], proj.padding[1], dil[1])
    return np.einsum("ckl,ky,lx->cyx", per_tap, ay, ax)


def effective_sops(net: Network, units_pos: dict[str, np.ndarray], units_neg: dict[str, np.ndarray],
                   nonzero_only: bool = True) -> dict[str, np.ndarray]:
    """Per projection, (T, 2) int64 SOPs from + / − source spikes that skip zero weights.

    ``units_pos[pop]`` / ``units_neg[pop]`` are (T, *shape) counts of +1 / −1 spike units per
    neuron and step. Projections out of a frame input (the analog encoder) get zeros: their
    operations are MACs, not SOPs. With ``nonzero_only=False`` this is the exact count of the
    engine and the reference (a consistency check).
    """
    out = {}
    for proj in net.projections:
        src = net.population(proj.source)
        pos, neg = np.asarray(units_pos[src.name]), np.asarray(units_neg[src.name])
        counts = np.zeros((pos.shape[0], 2), np.int64)
        if not (net.input.kind == "frames" and src.name == "input"):
            fan = fanout(proj, src.shape, net.population(proj.target).shape, nonzero_only).ravel()
            counts[:, 0] = pos.reshape(pos.shape[0], -1).astype(np.int64) @ fan
            counts[:, 1] = neg.reshape(neg.shape[0], -1).astype(np.int64) @ fan
        out[proj.name] = counts
    return out


def effective_sops_from_spikes(net: Network, spikes: dict[str, np.ndarray],
                               input_pos: np.ndarray | None = None, input_neg: np.ndarray | None = None,
                               nonzero_only: bool = True) -> dict[str, np.ndarray]:
    """:func:`effective_sops` from recorded signed spike values per neuron ``(T, *shape)``.

    A neuron emits one signed value per step, so ``max(s, 0)`` / ``max(-s, 0)`` are its + / −
    units. The input is different: a pixel can receive ON and OFF events in one step, which a
    signed sum cancels; give ``input_pos`` / ``input_neg`` (per-pixel counts) to count those
    exactly. Without them the recorded input values are used (exact for ``split`` polarity).
    """
    pos = {n: np.maximum(s, 0) for n, s in spikes.items()}
    neg = {n: np.maximum(-s, 0) for n, s in spikes.items()}
    if input_pos is not None:
        pos["input"] = np.asarray(input_pos)
        neg["input"] = np.zeros_like(pos["input"]) if input_neg is None else np.asarray(input_neg)
    return effective_sops(net, pos, neg, nonzero_only)

