"""The oracle: a plain dense NumPy float64 forward of an IR network.

Written for clarity, not speed; every fast path is tested against it. Definitions:

- Each step, populations run in ``net.order``. A projection reads its source's spikes of the
  same step; a population's current is the sum of its incoming projections plus its bias.
- One SOP is one synapse that carries one unit of source spike to an existing target neuron:
  a source spike of value ``s`` (an input pixel with ``n`` events in a bin has ``s = n``)
  counts ``|s|`` SOPs per in-bounds synapse. Equivalently: apply the projection with every
  weight set to 1 to ``|s|`` and sum the result. The +/− split follows the sign of ``s``.
- For frame input (``input.kind == "frames"``) the input carries analog values; projections
  out of it are an encoder whose multiply-accumulates are counted as MACs, not SOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EventsimError
from ..network.counts import dense_macs
from ..network.ir import Network, Population
from ..network.linear import apply_projection


def neuron_step(pop: Population, v: np.ndarray, current: np.ndarray):
    """One update of ``pop``'s membranes ``v`` (modified copy returned) -> (v, spikes|None)."""
    if pop.kind == "readout":
        return v + current, None
    v = pop.decay * v + current
    if pop.v_min is not None:
        v = np.maximum(v, pop.v_min)
    return fire_and_reset(pop, v, pop.threshold, lambda v, th: np.floor(v / th))


def fire_and_reset(pop: Population, v: np.ndarray, th, floor_div):
    """Threshold test and reset of ``pop`` on integrated membranes ``v`` -> (v, spikes).

    Shared by the float and the integer references; ``floor_div(v, th)`` is the multi-spike
    count (``floor(v/θ)``), computed in each one's arithmetic.
    """
    if pop.kind == "ternary_lif":
        s = (v >= th).astype(np.int64) - (v <= -th).astype(np.int64)
    elif pop.kind == "binary_lif":
        s = (v > th).astype(np.int64)
    elif pop.multi_spike:
        s = np.where(v >= th, floor_div(v, th), 0).astype(np.int64)
    else:
        s = (v >= th).astype(np.int64)
    if pop.reset == "zero":
        v = np.where(s != 0, v.dtype.type(0), v)
    else:
        v = v - s * th
    return v, s


@dataclass
class ReferenceResult:
    """What the reference forward computed, for comparison with the engine."""

    output: np.ndarray  # readout value after the last step
    spikes: dict[str, np.ndarray]  # population -> (T, *shape) int64 spike values (input: pos-neg)
    spike_counts: dict[str, np.ndarray]  # population -> (T, 2) int64: [+ units, − units]
    sops: dict[str, np.ndarray]  # projection -> (T, 2) int64: SOPs from + and − source spikes
    macs: dict[str, np.ndarray]  # projection -> (T,) int64 encoder MACs (frame input only)
    membranes: dict[str, np.ndarray]  # population -> final membrane values

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.output))


def forward(net: Network, inputs_pos: np.ndarray, inputs_neg: np.ndarray | None = None
            ) -> ReferenceResult:
    """Run ``net`` for ``T = len(inputs_pos)`` steps.

    Event input: ``inputs_pos[t]`` / ``inputs_neg[t]`` are the counts of +1 / −1 input spikes
    per input neuron in step t (``inputs_neg`` is None or zeros for ``split`` polarity).
    Frame input: ``inputs_pos[t]`` holds the analog input values of step t.
    """
    shape = net.input_shape
    xpos = np.asarray(inputs_pos, dtype=np.float64)
    if xpos.ndim != len(shape) + 1 or xpos.shape[1:] != tuple(shape):
        raise EventsimError(f"input must have shape (T, {', '.join(map(str, shape))}), "
                            f"got {xpos.shape}")
    xneg = np.zeros_like(xpos) if inputs_neg is None else np.asarray(inputs_neg, np.float64)
    if xneg.shape != xpos.shape:
        raise EventsimError("inputs_neg must have the shape of inputs_pos")
    frames = net.input.kind == "frames"
    steps = xpos.shape[0]
    pops = net.ordered_populations()
    v = {p.name: np.zeros(p.shape) for p in pops if p.kind != "input"}
    spikes = {p.name: np.zeros((steps,) + p.shape, np.int64) for p in pops if p.kind != "readout"}
    counts = {p.name: np.zeros((steps, 2), np.int64) for p in pops}
    sops = {q.name: np.zeros((steps, 2), np.int64) for q in net.projections}
    macs = {q.name: np.zeros(steps, np.int64) for q in net.projections}
    for t in range(steps):
        pos: dict[str, np.ndarray] = {"input": xpos[t]}
        neg: dict[str, np.ndarray] = {"input": xneg[t]}
        for pop in pops:
            if pop.kind == "input":
                if not frames:
                    counts["input"][t] = [int(xpos[t].sum()), int(xneg[t].sum())]
                    spikes["input"][t] = (xpos[t] - xneg[t]).astype(np.int64)
                continue
            current = np.zeros(pop.shape)
            for proj in net.incoming(pop.name):
                src = net.population(proj.source)
                current += apply_projection(proj, pos[src.name] - neg[src.name], pop.shape)
                if frames and src.kind == "input":
                    macs[proj.name][t] = dense_macs(proj, src.shape, pop.shape)
                    continue
                for k, part in enumerate((pos[src.name], neg[src.name])):
                    ones = apply_projection(proj, part, pop.shape, unit_weights=True)
                    sops[proj.name][t, k] = int(round(ones.sum()))
            if pop.bias is not None:
                current += pop.bias.astype(np.float64).reshape((-1,) + (1,) * (len(pop.shape) - 1))
            v[pop.name], s = neuron_step(pop, v[pop.name], current)
            if s is not None:
                spikes[pop.name][t] = s
                pos[pop.name] = np.maximum(s, 0).astype(np.float64)
                neg[pop.name] = np.maximum(-s, 0).astype(np.float64)
                counts[pop.name][t] = [int(pos[pop.name].sum()), int(neg[pop.name].sum())]
    out = net.output_population
    return ReferenceResult(output=v[out.name].ravel().copy(), spikes=spikes, spike_counts=counts,
                           sops=sops, macs=macs, membranes=v)
