"""Every buffer one :class:`~eventsim.engine.simulator.Simulator` needs, in one place.

Created with the simulator (membranes, one per population) and sized for a run by
:meth:`Workspace.prepare` (per-step buffers for T steps); the buffers that depend on how many
spikes arrive (spike stores, pooled trains) are grown by doubling when a
run needs more and kept for the next run. Nothing is sized by "one spike per neuron per step" on
the input side: a step can carry any number of events.
"""

from __future__ import annotations

import numpy as np

from . import kernels_steps
from .plan import ALIGN_BYTES, POP_CUBA, Plan, aligned_zeros

_EMPTY = np.zeros(0, np.int64)


def _aligned_rows(rows: int, cols: int, dtype) -> np.ndarray:
    """A zeroed (rows, cols') array, cols' >= cols padded so that every row starts aligned."""
    dtype = np.dtype(dtype)
    per = ALIGN_BYTES // dtype.itemsize
    stride = -(-max(cols, 1) // per) * per
    return aligned_zeros(rows * stride, dtype).reshape(rows, stride)


def _grown(arr: np.ndarray, need: int) -> np.ndarray:
    return arr if arr.size >= need else np.empty(max(need, 2 * arr.size), arr.dtype)


class Workspace:
    """Membranes, per-step current and spike buffers, spike stores, scratch of one simulator."""

    def __init__(self, plan: Plan, v_dtype) -> None:
        self.plan = plan
        self.largest = max(p.size for p in plan.populations)
        self.v = [aligned_zeros(p.size, v_dtype) for p in plan.populations]
        # state beyond the membrane: a cuba_lif's synaptic currents (and, in the int mode, whether
        # each neuron spiked last step: its reset is due, and the decay pass has altered v)
        self.aux = [(aligned_zeros(p.size, v_dtype), np.zeros(p.size, np.int64)) if p.kind == POP_CUBA
                    else () for p in plan.populations]
        self.steps = 0
        self._cur: dict[np.dtype, np.ndarray] = {}  # dtype -> (steps, largest') per-step currents
        self.sidx = self.sval = np.zeros((0, 0), np.int64)  # (steps, largest) per-block spike lists
        self._stores = [(_EMPTY, _EMPTY) for _ in plan.populations]
        self._pooled: dict[int, tuple] = {}
        self._dirty = False

    def prepare(self, steps: int) -> None:
        """Size the per-step buffers for ``steps``; clear what an interrupted run left behind.

        Membranes are cleared by the driver when their population starts (while in cache)."""
        if steps > self.steps:
            self.steps = steps
            self._cur = {dt: _aligned_rows(steps, self.largest, dt) for dt in self._cur}
            self.sidx = np.empty((steps, self.largest), np.int64)
            self.sval = np.empty((steps, self.largest), np.int64)
        if self._dirty:  # the update kernels leave currents at zero; an exception may not have
            for cur in self._cur.values():
                cur.fill(0)
        self._dirty = True

    def reset_state(self, pi: int) -> None:
        """Zero every state variable of population ``pi`` (the start of a run)."""
        self.v[pi].fill(0)
        for arr in self.aux[pi]:
            arr.fill(0)

    def finish(self) -> None:
        self._dirty = False

    def current(self, dtype, steps: int) -> np.ndarray:
        """Zeroed per-step currents ``(steps, >= largest)`` of ``dtype`` (rows aligned)."""
        dtype = np.dtype(dtype)
        if dtype not in self._cur:
            self._cur[dtype] = _aligned_rows(self.steps, self.largest, dtype)
        return self._cur[dtype][:steps]

    def store(self, pi: int, need: int) -> tuple[np.ndarray, np.ndarray]:
        """Spike store (idx, val) of population ``pi`` with room for ``need`` spikes."""
        idx, val = self._stores[pi]
        if idx.size < need:
            idx, val = _grown(idx, need), _grown(val, need)
            self._stores[pi] = (idx, val)
        return idx, val

    def pooled(self, qi: int, q, train):
        """The train ``(ptr, idx, val)`` mapped through the pre-pool of conv ``q`` (number ``qi``)."""
        ptr, idx, val = train
        steps = ptr.size - 1
        need = max(1, int(ptr[steps]) * q.pool_fan)
        out_ptr, out_idx, out_val = self._pooled.get(qi, (_EMPTY, _EMPTY, _EMPTY))
        out_ptr = _grown(out_ptr, steps + 1)
        out_idx, out_val = _grown(out_idx, need), _grown(out_val, need)
        self._pooled[qi] = (out_ptr, out_idx, out_val)
        kernels_steps.pool_train(ptr, idx, val, q.pool_geom, out_ptr[:steps + 1], out_idx, out_val)
        return out_ptr[:steps + 1], out_idx, out_val
