"""The ``int`` precision mode of :class:`~eventsim.engine.simulator.Simulator`.

A fixed-point twin of ``Simulator._run``: the same plan layout (``plan.py``), the same
scatter kernels (compiled for int16 weights and int64 currents), and the integer neuron
update of ``kernels_int.py``. Parameters come from :func:`eventsim.engine.quantize.quantize`;
the semantics are those of :mod:`eventsim.engine.reference_int`, bit for bit (the tests
check it). Frame input: the analog encoder is computed exactly in integers (frames quantised
to int16 at scale ``2**a``, integer MACs, shift right by ``a``), like the reference.

``multiplications`` counts one per neuron per step of a decay that is not 1, 0 or a power of
two (the only multiplications of this mode; multi-spike neurons use repeated subtraction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network.counts import dense_macs
from ..network.ir import Network
from . import kernels, kernels_int
from .plan import (
    POP_INPUT,
    POP_READOUT,
    PROJ_CONV,
    PROJ_DENSE,
    PROJ_IDENTITY,
    PROJ_SUMPOOL,
    Plan,
    chw_shape,
    compile_plan,
    from_internal,
)
from .prepool import PooledSpikes
from .quantize import DECAY_MULT_BITS, DECAY_MULTIPLY, DECAY_NONE, QuantizedNetwork, quantize_frames
from .reference_int import exact_projection, integer_projection
from .result import RunResult


@dataclass
class IntPlan:
    """A plan whose weights, thresholds and biases are the quantised integers."""

    plan: Plan  # layout (geometry, kinds, order) of the network
    qnet: QuantizedNetwork
    kinds: list[int]  # projection kind as run: a sum-pool runs as a depthwise PROJ_CONV
    weights: list[np.ndarray]  # flat int16 per projection, plan layout
    params: list[np.ndarray]  # per population int64 [Θ, decay code, shift, v_min]
    flags: list[np.ndarray]  # per population int64 [reset_subtract, has_v_min, multi_spike]
    bias: list[np.ndarray]  # per population int64 per neuron (internal order)
    mult: list[int]  # per population decay multiplier L (0: no multiplying decay)


def compile_int_plan(qnet: QuantizedNetwork) -> IntPlan:
    """Lay out the integer parameters of ``qnet`` for the kernels."""
    net = qnet.network
    # the integer-valued float64 twin of the network gives the layout of every weight array
    twin = Network(net.name, net.populations, [integer_projection(p, qnet) for p in net.projections],
                   net.order, net.timesteps, net.input, net.provenance)
    plan = compile_plan(twin, "float64")
    kinds, weights = [], []
    for q, proj in zip(plan.projections, net.projections):
        if q.kind == PROJ_SUMPOOL:
            kh, kw = proj.kernel_size
            c = chw_shape(net.population(proj.source).shape)[0]
            kinds.append(PROJ_CONV)  # geometry is already that of a depthwise conv (plan._geom)
            weights.append(np.full(kh * kw * c, qnet.projections[proj.name].unit, np.int16))
        else:
            kinds.append(q.kind)
            weights.append(np.ascontiguousarray(q.weight.ravel()).astype(np.int16))
    params, flags, bias, mult = [], [], [], []
    for pop in plan.populations:
        pq = qnet.populations.get(pop.name)
        b = np.zeros(pop.size, np.int64)
        code, shift, m = DECAY_NONE, 0, 0
        if pq is not None:
            if pq.bias is not None:
                c, h, w = chw_shape(pop.shape)
                b[:] = np.broadcast_to(pq.bias, (h, w, c)).ravel()
            if pq.decay_code == DECAY_MULTIPLY:
                m = pq.decay_param
            else:
                code, shift = pq.decay_code, pq.decay_param
        params.append(np.array([0 if pq is None else pq.threshold, code, shift,
                                0 if pq is None or pq.v_min is None else pq.v_min], np.int64))
        flags.append(np.array([pop.reset_subtract, pop.has_v_min, pop.multi_spike], np.int64))
        bias.append(b)
        mult.append(m)
    return IntPlan(plan, qnet, kinds, weights, params, flags, bias, mult)


def run_int(iplan: IntPlan, steps: int, ev_ptr, ev_idx, ev_val, frames, record: bool,
            input_info: dict | None, progress=None) -> tuple[RunResult, dict[str, np.ndarray]]:
    """Run the integer engine; returns the result and the final int32 membranes (C-H-W order)."""
    plan, qnet = iplan.plan, iplan.qnet
    net = qnet.network
    pops, projs = plan.populations, plan.projections
    v = [np.zeros(p.size, np.int32) for p in pops]
    cur = [np.zeros(p.size, np.int64) for p in pops]
    sidx = [np.zeros(p.size, np.int64) for p in pops]
    sval = [np.zeros(p.size, np.int64) for p in pops]
    nspk = [0] * len(pops)
    sops = np.zeros((len(projs), steps, 2), np.int64)
    macs = np.zeros((len(projs), steps), np.int64)
    counts = np.zeros((len(pops), steps, 3), np.int64)
    mults = 0
    rec = {p.name: np.zeros((steps,) + tuple(p.shape), np.int64) for p in pops
           if p.kind != POP_READOUT} if record else None
    if frames is not None:
        frames_q, frame_bits = quantize_frames(frames)
    enc_cache: dict[tuple[int, int], np.ndarray] = {}
    pooled = PooledSpikes()
    for t in range(steps):
        for pi, pop in enumerate(pops):
            if pop.kind == POP_INPUT:
                if frames is None:
                    a, b = ev_ptr[t], ev_ptr[t + 1]
                    sidx[pi], sval[pi], nspk[pi] = ev_idx[a:b], ev_val[a:b], b - a
                    vals = sval[pi]
                    counts[pi, t, 0] = vals[vals > 0].sum()
                    counts[pi, t, 1] = -vals[vals < 0].sum()
                    if rec is not None:
                        _record(rec[pop.name][t], pop.shape, sidx[pi], vals, b - a)
                continue
            for qi in pop.incoming:
                q = projs[qi]
                proj = net.projections[qi]
                if q.encoder:
                    key = (qi, t if frames_q.shape[0] > 1 else 0)
                    if key not in enc_cache:
                        # integer MACs at scale 2**(k+a), floor-shifted to 2**k (reference_int)
                        enc = exact_projection(proj, qnet, frames_q[key[1]], pop.shape) >> frame_bits
                        enc_cache[key] = enc.ravel()[from_internal(pop.shape)]
                    cur[pi] += enc_cache[key]
                    macs[qi, t] = dense_macs(proj, net.population(proj.source).shape, pop.shape)
                    continue
                s = q.source
                args = (sidx[s], sval[s], nspk[s])
                if q.pool_geom is not None:
                    args = pooled.map(qi, q, *args)
                kind = iplan.kinds[qi]
                if kind == PROJ_CONV:
                    kernels.scatter_conv(*args, q.geom, iplan.weights[qi], cur[pi], sops[qi, t])
                elif kind == PROJ_DENSE:
                    kernels.scatter_dense(*args, pop.size, iplan.weights[qi], cur[pi], sops[qi, t])
                elif kind == PROJ_IDENTITY:
                    channels = chw_shape(pops[s].shape)[0]
                    kernels.scatter_identity(*args, channels, iplan.weights[qi], cur[pi], sops[qi, t])
            if iplan.mult[pi]:
                kernels_int.decay_multiply(v[pi], iplan.mult[pi], DECAY_MULT_BITS)
                mults += pop.size
            nspk[pi] = kernels_int.update_neurons_int(
                v[pi], cur[pi], iplan.bias[pi], pop.has_bias,
                pop.kind, iplan.params[pi], iplan.flags[pi], sidx[pi], sval[pi], counts[pi, t])
            if rec is not None and pop.kind != POP_READOUT:
                _record(rec[pop.name][t], pop.shape, sidx[pi], sval[pi], nspk[pi])
        if progress is not None:
            progress(t + 1)
    out_pop = plan.output
    raw = np.empty(out_pop.size, np.int64)
    raw[from_internal(out_pop.shape)] = v[plan.index[out_pop.name]]
    result = RunResult(
        network=net, timesteps=steps, output=np.ldexp(raw.astype(np.float64), -qnet.populations[
            out_pop.name].frac_bits),
        spike_counts={p.name: counts[i, :, :2] for i, p in enumerate(pops)},
        sops={q.name: sops[k] for k, q in enumerate(projs)},
        macs={q.name: macs[k] for k, q in enumerate(projs)},
        precision="int", multiplications=int(mults), input_info=dict(input_info or {}),
        saturations={p.name: counts[i, :, 2] for i, p in enumerate(pops) if p.kind != POP_INPUT})
    if rec is not None:
        result.spikes = rec
    membranes = {}
    for i, p in enumerate(pops):
        if p.kind != POP_INPUT:
            m = np.empty(p.size, np.int64)
            m[from_internal(p.shape)] = v[i]
            membranes[p.name] = m.reshape(p.shape)
    return result, membranes


def _record(dst: np.ndarray, shape, idx, val, n) -> None:
    """Add a spike list (internal indices) into a C-H-W array of one step."""
    np.add.at(dst.reshape(-1), from_internal(shape)[idx[:n]], val[:n])
