"""The oracle: a plain dense NumPy float64 forward of an IR network.

Written for clarity, not speed; every fast path is tested against it. Definitions:

- Each step, populations run in ``net.order`` (time-major: the whole network finishes step t
  before step t + 1 starts). A projection reads its source's spikes of step ``t − delay`` (none
  while ``t < delay``); a population's current is the sum of its incoming projections plus its
  bias.
- One SOP is one synapse that carries one unit of source spike to an existing target neuron:
  a source spike of value ``s`` (an input pixel with ``n`` events in a bin has ``s = n``)
  counts ``|s|`` SOPs per in-bounds synapse. Equivalently: apply the projection with every
  weight set to 1 to ``|s|`` and sum the result. The +/− split follows the sign of ``s``.
- For frame input (``input.kind == "frames"``) the input carries analog values; projections
  out of it are an encoder whose multiply-accumulates are counted as MACs, not SOPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import EventsimError
from ..network.counts import dense_macs
from ..network.ir import Network, Population
from ..network.linear import apply_projection


def neuron_step(pop: Population, v: np.ndarray, current: np.ndarray):
    """One update of ``pop``'s membranes ``v`` (modified copy returned) -> (v, spikes|None).

    For every kind whose only state is the membrane (``cuba_lif``: :func:`cuba_step`)."""
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


def cuba_step(pop: Population, i: np.ndarray, v: np.ndarray, current: np.ndarray):
    """One ``cuba_lif`` update -> (i, v, spikes), as snnTorch's ``Synaptic`` computes it.

    ``v`` is kept un-reset, so ``v > θ`` at the start of a step says the neuron spiked in the
    previous one; that spike's reset is applied after this step's integration.
    """
    th = pop.threshold
    spiked = v > th
    i = pop.syn_decay * i + current
    v = pop.decay * v + i
    if pop.reset == "subtract":
        v = np.where(spiked, v - th, v)
    else:
        v = np.where(spiked, v.dtype.type(0), v)
    return i, v, (v > th).astype(np.int64)


def initial_state(pop: Population, dtype=np.float64) -> dict[str, np.ndarray]:
    """Zero state of every variable of ``pop``'s kind (``v``, and ``i`` for ``cuba_lif``)."""
    return {name: np.zeros(pop.shape, dtype) for name in pop.kind_info.state}


def step_population(pop: Population, state: dict, current: np.ndarray):
    """Advance ``state`` (updated in place) by one step -> spikes or None (readout)."""
    if pop.kind == "cuba_lif":
        state["i"], state["v"], s = cuba_step(pop, state["i"], state["v"], current)
        return s
    state["v"], s = neuron_step(pop, state["v"], current)
    return s


@dataclass
class ReferenceResult:
    """What the reference forward computed, for comparison with the engine."""

    output: np.ndarray  # readout value after the last step
    spikes: dict[str, np.ndarray]  # population -> (T, *shape) int64 spike values (input: pos-neg)
    spike_counts: dict[str, np.ndarray]  # population -> (T, 2) int64: [+ units, − units]
    sops: dict[str, np.ndarray]  # projection -> (T, 2) int64: SOPs from + and − source spikes
    macs: dict[str, np.ndarray]  # projection -> (T,) int64 encoder MACs (frame input only)
    membranes: dict[str, np.ndarray]  # population -> final membrane values
    currents: dict[str, np.ndarray] = field(default_factory=dict)  # cuba_lif -> final synaptic currents

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
    state = {p.name: initial_state(p) for p in pops if p.kind != "input"}
    spikes = {p.name: np.zeros((steps,) + p.shape, np.int64) for p in pops if p.kind != "readout"}
    counts = {p.name: np.zeros((steps, 2), np.int64) for p in pops}
    sops = {q.name: np.zeros((steps, 2), np.int64) for q in net.projections}
    macs = {q.name: np.zeros(steps, np.int64) for q in net.projections}
    # + and − spike units of every population and step (what a delayed projection reads back)
    pos = {p.name: np.zeros((steps,) + p.shape) for p in pops if p.kind != "readout"}
    neg = {p.name: np.zeros((steps,) + p.shape) for p in pops if p.kind != "readout"}
    pos["input"], neg["input"] = xpos, xneg
    for t in range(steps):
        for pop in pops:
            if pop.kind == "input":
                if not frames:
                    counts["input"][t] = [int(xpos[t].sum()), int(xneg[t].sum())]
                    spikes["input"][t] = (xpos[t] - xneg[t]).astype(np.int64)
                continue
            current = np.zeros(pop.shape)
            for proj in net.incoming(pop.name):
                src = net.population(proj.source)
                ts = t - proj.delay
                if ts < 0:
                    continue  # nothing has arrived yet (no SOPs either)
                current += apply_projection(proj, pos[src.name][ts] - neg[src.name][ts], pop.shape)
                if net.is_encoder(proj):
                    macs[proj.name][t] = dense_macs(proj, src.shape, pop.shape)
                    continue
                for k, part in enumerate((pos[src.name][ts], neg[src.name][ts])):
                    ones = apply_projection(proj, part, pop.shape, unit_weights=True)
                    sops[proj.name][t, k] = int(round(ones.sum()))
            if pop.bias is not None:
                current += pop.bias.astype(np.float64).reshape((-1,) + (1,) * (len(pop.shape) - 1))
            s = step_population(pop, state[pop.name], current)
            if s is not None:
                spikes[pop.name][t] = s
                pos[pop.name][t] = np.maximum(s, 0)
                neg[pop.name][t] = np.maximum(-s, 0)
                counts[pop.name][t] = [int(pos[pop.name][t].sum()), int(neg[pop.name][t].sum())]
    out = net.output_population
    return ReferenceResult(output=state[out.name]["v"].ravel().copy(), spikes=spikes,
                           spike_counts=counts, sops=sops, macs=macs,
                           membranes={n: st["v"] for n, st in state.items()},
                           currents={n: st["i"] for n, st in state.items() if "i" in st})
