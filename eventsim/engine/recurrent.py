"""Time-major stepping of a recurrent group of populations (a cycle through a delayed projection).

Layer-major stepping (``simulator.py``) needs a population's sources to have finished all their
steps first; inside a cycle no member can go first. A group therefore runs like the reference:
for every step t, every member in network order gathers its step-t current and updates once.

- Projections from outside the group are scattered layer-major first, every step at once, into
  the member's own current buffer (their sources have finished), exactly as the driver does.
- Projections inside the group are scattered one step at a time, from the source's step
  ``t − delay`` (a zero-delay source comes earlier in the order and has already done step t),
  with the same step kernels on a one-step slice of the source's growing train.
- The neuron update is the mode's update on one step.

Every current element therefore receives the same additions in the same order as in the
reference's time-major loop: projection after projection in file order, spikes in neuron order.
"""

from __future__ import annotations

import numpy as np

from . import kernels_steps
from .plan import POP_READOUT


class _Train:
    """A spike train that grows by one step at a time: ``ptr`` (T+1), ``idx``, ``val``."""

    def __init__(self, steps: int, size: int):
        self.ptr = np.zeros(steps + 1, np.int64)
        self.idx = np.empty(max(16, 2 * size), np.int64)
        self.val = np.empty(max(16, 2 * size), np.int64)

    def room(self, need: int) -> None:
        if self.idx.size < need:  # doubling keeps appends amortised O(1)
            cap = max(need, 2 * self.idx.size)
            self.idx = np.concatenate([self.idx, np.empty(cap - self.idx.size, np.int64)])
            self.val = np.concatenate([self.val, np.empty(cap - self.val.size, np.int64)])

    def step(self, ts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The one-step train of step ``ts`` (absolute offsets into ``idx``/``val``)."""
        return self.ptr[ts:ts + 2], self.idx, self.val


def run_group(sim, members: list[int], trains: list, steps: int, sops, macs, counts, frames,
              currents: dict | None) -> int:
    """Run the populations ``members`` (indices, in network order) through ``steps`` time-major.

    Fills ``trains[pi]``, ``sops``, ``macs``, ``counts`` (and ``currents`` when recording) as the
    layer-major driver does; returns the run-time multiplications of the updates.
    """
    plan, mode, ws = sim.plan, sim.mode, sim.workspace
    inside = set(members)
    pops = [plan.populations[pi] for pi in members]
    # int: int64 currents (the int32 bound needs the sources' trains, unknown before the run)
    dtype = np.dtype(np.int64) if sim.precision == "int" else plan.dtype
    cur = {pi: np.zeros((steps, p.size), dtype) for pi, p in zip(members, pops)}
    for pi, pop in zip(members, pops):
        encoded: dict[int, np.ndarray] = {}
        for qi in pop.incoming:
            if plan.projections[qi].source not in inside:
                sim._project(qi, trains, cur[pi], sops[qi], macs[qi], frames, encoded)
        ws.reset_state(pi)
    grown = {pi: _Train(steps, p.size) for pi, p in zip(members, pops)}
    bounds = {pi: kernels_steps.neuron_blocks(p.size, sim.threads) for pi, p in zip(members, pops)}
    largest = max(p.size for p in pops)
    sidx, sval = np.empty((1, largest), np.int64), np.empty((1, largest), np.int64)
    mults = 0
    for t in range(steps):
        for pi, pop in zip(members, pops):
            for qi in pop.incoming:
                q = plan.projections[qi]
                ts = t - q.delay
                if q.source in inside and ts >= 0:
                    sim.scatter(qi, grown[q.source].step(ts), cur[pi][t:t + 1], sops[qi][t:t + 1])
            if currents is not None and pop.kind != POP_READOUT:
                row = currents.setdefault(pop.name, np.zeros((steps,) + tuple(pop.shape)))
                row[t] = sim._chw_rows(cur[pi][t:t + 1], 1, pop)[0]
            nb = bounds[pi].size - 1
            nout = np.zeros((nb, 1), np.int64)
            block_counts = np.zeros((nb, 1, counts.shape[2]), np.int64)
            mults += mode.update(pi, ws.v[pi], cur[pi][t:t + 1], 1, bounds[pi], sidx, sval, nout,
                                 block_counts, ws.aux[pi])
            counts[pi, t] += block_counts.sum(axis=(0, 1))
            train = grown[pi]
            n = int(nout.sum())
            start = int(train.ptr[t])
            train.room(start + n)
            at = start
            for b in range(nb):  # the blocks' spike lists, in neuron order
                lo, k = int(bounds[pi][b]), int(nout[b, 0])
                train.idx[at:at + k] = sidx[0, lo:lo + k]
                train.val[at:at + k] = sval[0, lo:lo + k]
                at += k
            train.ptr[t + 1] = at
    for pi, pop in zip(members, pops):
        trains[pi] = None if pop.kind == POP_READOUT else (grown[pi].ptr, grown[pi].idx, grown[pi].val)
    return mults
