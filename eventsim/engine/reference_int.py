"""The integer oracle: a plain NumPy int64 forward of a quantised network.

Mirrors :mod:`eventsim.engine.reference` step for step -- same order of populations and
delays, same
spike and SOP definitions, hence the same SOP counts by construction -- with the integer
parameters of :mod:`eventsim.engine.quantize`. Per step and population P (all values integers
at P's scale ``2**k``):

1. ``I = Σ_projections W_q · s + B_q`` (``s`` the source's spikes; an input pixel with n events
   gives n). For frame input the encoder's integer MAC result is shifted right by the frame
   scale ``a`` (floor) first.
2. ``V = decay(V) + I`` (``decay``: none, ``V >> m``, zero, or ``(V·L) >> 16``); a ``cuba_lif``
   runs :func:`cuba_step_int` instead (synaptic current first, reset of last step's spike).
3. Saturation: ``V`` is clipped to the int32 range; every clipped neuron update is counted.
4. ``V = max(V, Vmin_q)`` if ``v_min`` is set; threshold test against ``Θ_q``; reset to 0 or
   subtract ``s·Θ_q``. A readout only does steps 1-3.

Projections are evaluated with :func:`eventsim.network.linear.apply_projection` on
integer-valued float64 arrays; that is exact because every partial sum stays below 2**53
(checked), so the result converts to int64 without rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EventsimError, ValidationError
from ..network.counts import dense_macs
from ..network.ir import Network, Projection
from ..network.linear import apply_projection
from .quantize import (
    MEMBRANE_MAX,
    MEMBRANE_MIN,
    PopulationQuant,
    QuantizedNetwork,
    decay_int,
    quantize_frames,
)
from .reference import fire_and_reset

EXACT_LIMIT = 2.0**53  # float64 represents every integer below this exactly


@dataclass
class IntReferenceResult:
    """What the integer reference computed (compare with the integer engine bit for bit)."""

    output: np.ndarray  # int64 readout value after the last step (scale 2**-output_frac_bits)
    output_frac_bits: int  # k of the readout: output value = output * 2**-k
    spikes: dict[str, np.ndarray]  # population -> (T, *shape) int64 spike values (input: pos-neg)
    spike_counts: dict[str, np.ndarray]  # population -> (T, 2) int64 [+ units, − units]
    sops: dict[str, np.ndarray]  # projection -> (T, 2) int64 SOPs from + and − source spikes
    macs: dict[str, np.ndarray]  # projection -> (T,) int64 encoder MACs (frame input only)
    membranes: dict[str, np.ndarray]  # population -> final int64 membranes (int32 range)
    saturations: dict[str, np.ndarray]  # population -> (T,) int64 neuron updates clipped to int32

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.output))

    @property
    def output_float(self) -> np.ndarray:
        return np.ldexp(self.output.astype(np.float64), -self.output_frac_bits)


def integer_projection(proj: Projection, qnet: QuantizedNetwork) -> Projection:
    """``proj`` with its integer weights as an integer-valued float64 IR projection."""
    qq = qnet.projections[proj.name]
    if proj.kind in ("conv2d", "dense"):
        assert qq.weight is not None  # quantize stores the weights of these kinds
        return Projection(proj.name, proj.kind, proj.source, proj.target,
                          weight=qq.weight.astype(np.float64), stride=proj.stride,
                          padding=proj.padding, dilation=proj.dilation, groups=proj.groups,
                          pre_pool=proj.pre_pool, delay=proj.delay)
    if proj.kind == "identity":
        assert qq.scale is not None  # and the scale of this one
        return Projection(proj.name, "identity", proj.source, proj.target,
                          scale=qq.scale.astype(np.float64), delay=proj.delay)
    return proj  # sum-pool: applied with weight 1, then multiplied by the stored unit below


def exact_projection(proj: Projection, qnet: QuantizedNetwork, x: np.ndarray, shape) -> np.ndarray:
    """Integer current of ``proj`` for integer source values ``x`` (int64, exact)."""
    qq = qnet.projections[proj.name]
    wmax = (float(np.abs(qq.weight).max(initial=0)) if qq.weight is not None else
            float(np.abs(qq.scale).max(initial=0)) if qq.scale is not None else float(abs(qq.unit)))
    if proj.pre_pool is not None:  # up to kh·kw pool paths from one source value to one output
        wmax *= proj.pre_pool[0][0] * proj.pre_pool[0][1]
    if wmax * float(np.abs(x).sum()) >= EXACT_LIMIT:
        raise ValidationError(f"projection {proj.name!r}: integer sums too large for the reference")
    out = apply_projection(integer_projection(proj, qnet), x.astype(np.float64), shape)
    out = np.rint(out).astype(np.int64)
    if proj.kind == "sumpool2d":
        out = out * qq.unit
    return out


def _bias(pq: PopulationQuant, shape) -> np.ndarray | int:
    if pq.bias is None:
        return 0
    return pq.bias.reshape((-1,) + (1,) * (len(shape) - 1))


def neuron_step_int(pop, pq: PopulationQuant, v: np.ndarray, current: np.ndarray):
    """One integer update -> (v, spikes|None, saturated neuron count)."""
    if pop.kind == "readout":
        v = v + current
    else:
        v = decay_int(v, pq.decay_code, pq.decay_param) + current
    saturated = int(np.count_nonzero((v > MEMBRANE_MAX) | (v < MEMBRANE_MIN)))
    v = np.clip(v, MEMBRANE_MIN, MEMBRANE_MAX)
    if pop.kind == "readout":
        return v, None, saturated
    if pq.v_min is not None:
        v = np.maximum(v, pq.v_min)
    v, s = fire_and_reset(pop, v, pq.threshold, lambda v, th: v // th)
    return v, s, saturated


def cuba_step_int(pop, pq: PopulationQuant, i: np.ndarray, v: np.ndarray, current: np.ndarray):
    """One integer ``cuba_lif`` update -> (i, v, spikes, saturated neuron count).

    ``fired = v > Θ`` (last step's spike, ``v`` kept un-reset); ``i = decay_α(i) + I`` and
    ``v = decay_λ(v) + i``, each clipped to int32 (a neuron with a clip counts once); where
    ``fired``: ``v = max(v − Θ, int32 min)`` (subtract) or ``v = 0``; spike where ``v > Θ``.
    """
    fired = v > pq.threshold
    i = decay_int(i, pq.syn_decay_code, pq.syn_decay_param) + current
    clip_i = (i > MEMBRANE_MAX) | (i < MEMBRANE_MIN)
    i = np.clip(i, MEMBRANE_MIN, MEMBRANE_MAX)
    v = decay_int(v, pq.decay_code, pq.decay_param) + i
    clip_v = (v > MEMBRANE_MAX) | (v < MEMBRANE_MIN)
    v = np.clip(v, MEMBRANE_MIN, MEMBRANE_MAX)
    if pop.reset == "subtract":
        v = np.where(fired, np.maximum(v - pq.threshold, MEMBRANE_MIN), v)
    else:
        v = np.where(fired, 0, v)
    return i, v, (v > pq.threshold).astype(np.int64), int(np.count_nonzero(clip_i | clip_v))


def forward_int(qnet: QuantizedNetwork, inputs_pos: np.ndarray, inputs_neg: np.ndarray | None = None
                ) -> IntReferenceResult:
    """Run the quantised network for ``T = len(inputs_pos)`` steps (inputs as in reference.forward).

    Event input: integer spike counts. Frame input: analog values, quantised with
    :func:`~eventsim.engine.quantize.quantize_frames` (one scale for the whole input).
    """
    net: Network = qnet.network
    shape = net.input_shape
    xpos = np.asarray(inputs_pos)
    if xpos.ndim != len(shape) + 1 or xpos.shape[1:] != tuple(shape):
        raise EventsimError(f"input must have shape (T, {', '.join(map(str, shape))}), got {xpos.shape}")
    frames = net.input.kind == "frames"
    frame_bits = 0
    if frames:
        xpos, frame_bits = quantize_frames(xpos)
        xneg = np.zeros_like(xpos)
    else:
        if not np.array_equal(xpos, np.rint(xpos)):
            raise EventsimError("event input counts must be integers")
        xpos = xpos.astype(np.int64)
        xneg = np.zeros_like(xpos) if inputs_neg is None else np.asarray(inputs_neg).astype(np.int64)
        if xneg.shape != xpos.shape:
            raise EventsimError("inputs_neg must have the shape of inputs_pos")
    steps = xpos.shape[0]
    pops = net.ordered_populations()
    v = {p.name: np.zeros(p.shape, np.int64) for p in pops if p.kind != "input"}
    syn = {p.name: np.zeros(p.shape, np.int64) for p in pops if p.kind == "cuba_lif"}
    spikes = {p.name: np.zeros((steps,) + p.shape, np.int64) for p in pops if p.kind != "readout"}
    counts = {p.name: np.zeros((steps, 2), np.int64) for p in pops}
    sops = {q.name: np.zeros((steps, 2), np.int64) for q in net.projections}
    macs = {q.name: np.zeros(steps, np.int64) for q in net.projections}
    sat = {p.name: np.zeros(steps, np.int64) for p in pops if p.kind != "input"}
    # + and − spike units of every population and step (what a delayed projection reads back)
    pos = {p.name: np.zeros((steps,) + p.shape, np.int64) for p in pops if p.kind != "readout"}
    neg = {p.name: np.zeros((steps,) + p.shape, np.int64) for p in pops if p.kind != "readout"}
    pos["input"], neg["input"] = xpos, xneg
    for t in range(steps):
        for pop in pops:
            if pop.kind == "input":
                if not frames:
                    counts["input"][t] = [int(xpos[t].sum()), int(xneg[t].sum())]
                    spikes["input"][t] = xpos[t] - xneg[t]
                continue
            pq = qnet.populations[pop.name]
            current = np.zeros(pop.shape, np.int64)
            for proj in net.incoming(pop.name):
                src = net.population(proj.source)
                ts = t - proj.delay
                if ts < 0:
                    continue  # nothing has arrived yet
                x = pos[src.name][ts] - neg[src.name][ts]
                if net.is_encoder(proj):
                    # encoder: integer MACs at scale 2**(k+a), floor-shifted back to 2**k
                    current += np.right_shift(exact_projection(proj, qnet, x, pop.shape), frame_bits)
                    macs[proj.name][t] = dense_macs(proj, src.shape, pop.shape)
                    continue
                current += exact_projection(proj, qnet, x, pop.shape)
                for k, part in enumerate((pos[src.name][ts], neg[src.name][ts])):
                    ones = apply_projection(proj, part, pop.shape, unit_weights=True)
                    sops[proj.name][t, k] = int(round(ones.sum()))
            current = current + _bias(pq, pop.shape)
            if pop.kind == "cuba_lif":
                syn[pop.name], v[pop.name], s, sat[pop.name][t] = cuba_step_int(
                    pop, pq, syn[pop.name], v[pop.name], current)
            else:
                v[pop.name], s, sat[pop.name][t] = neuron_step_int(pop, pq, v[pop.name], current)
            if s is not None:
                spikes[pop.name][t] = s
                pos[pop.name][t] = np.maximum(s, 0)
                neg[pop.name][t] = np.maximum(-s, 0)
                counts[pop.name][t] = [int(pos[pop.name][t].sum()), int(neg[pop.name][t].sum())]
    out = net.output_population
    return IntReferenceResult(output=v[out.name].ravel().copy(),
                              output_frac_bits=qnet.populations[out.name].frac_bits,
                              spikes=spikes, spike_counts=counts, sops=sops, macs=macs,
                              membranes=v, saturations=sat)
