"""Spike lists of pre-pooled convolutions (``Projection.pre_pool``), shared by both engines.

A conv2d with a pre-pool is run as: map the source spike list through the sum-pool
(``kernels.pool_spikes``) into a spike list of the pooled map, then scatter that through the
conv with the pooled map's geometry (``PlannedProjection.geom``). The hot conv loop is
unchanged; the buffers live here, grown only when a step has more spikes than ever before.
"""

from __future__ import annotations

import numpy as np

from . import kernels


class PooledSpikes:
    """Reusable output buffers of ``kernels.pool_spikes``, one pair per projection."""

    def __init__(self) -> None:
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def map(self, qi: int, q, idx: np.ndarray, val: np.ndarray, n: int):
        """``(idx, val, m)``: the spike list ``(idx, val, n)`` of projection ``q`` (number ``qi``) pooled."""
        need = max(1, int(n) * q.pool_fan)
        out_idx, out_val = self._buffers.get(qi, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        if out_idx.size < need:
            out_idx, out_val = np.empty(2 * need, np.int64), np.empty(2 * need, np.int64)
            self._buffers[qi] = (out_idx, out_val)
        m = kernels.pool_spikes(idx, val, n, q.pool_geom, out_idx, out_val)
        return out_idx, out_val, m
