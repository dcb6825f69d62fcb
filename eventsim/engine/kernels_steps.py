"""Parallel dispatch kernels of the layer-major engine: a whole spike train per call.

The engine runs one population through all T steps before the next. Once a source's whole spike
train is known, the scatter of step t into the target's step-t current buffer is independent of
every other step: ``scatter_*_steps`` run the serial kernels of ``kernels.py`` on the steps in
parallel (``prange``), each step writing only its own row of ``cur`` (T, N) and of ``sops``
(T, 2). The neuron update is sequential in t but independent across neurons:
``update_*_steps`` run disjoint neuron blocks in parallel, each through all steps, writing its
spikes into its own columns of a (T, N) scratch; ``gather_spikes`` then concatenates the blocks
of every step in neuron order. Every sum is made in the same order as by one thread (a current
element receives its additions in spike order, projection after projection), so results do not
depend on the thread count or the block split.

A spike train is ``(ptr, idx, val)``: step t's spike list is ``idx[ptr[t]:ptr[t+1]]`` (internal
neuron indices) and ``val[...]`` (signed values).

Sizing contract (checked here, serially, before any parallel loop, because an error raised on a
worker thread cannot be reported cleanly): ``ptr`` holds T + 1 non-decreasing offsets within
``idx`` and ``val``; every index lies in the source population (one comparison per spike); the
per-step buffers have at least T rows as long as the target; the pooled trains are sized by the
train (``ptr[T]`` entries times the pool's fan-out), never by the population — a step may carry
any number of spikes.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..jit import kernel, parallel_kernel
from .kernels import (
    pool_spikes,
    scatter_conv,
    scatter_dense,
    scatter_identity,
    scatter_sumpool,
    update_cuba,
    update_neurons,
    update_ternary,
)
from .kernels_int import decay_multiply, update_cuba_int, update_neurons_int, update_ternary_int


@kernel
def check_train(ptr, idx, val, n_src):
    """Raise unless ``(ptr, idx, val)`` is a spike train of a population of ``n_src`` neurons."""
    steps = ptr.size - 1
    if steps < 0 or ptr[0] < 0:
        raise ValueError("spike train: bad step offsets")
    for t in range(steps):
        if ptr[t + 1] < ptr[t]:
            raise ValueError("spike train: step offsets decrease")
    if ptr[steps] > idx.size or ptr[steps] > val.size:
        raise ValueError("spike train: offsets beyond the spike list")
    for e in range(ptr[0], ptr[steps]):
        if idx[e] < 0 or idx[e] >= n_src:
            raise IndexError("spike train: spike index outside the source population")
    return steps


@kernel
def _check_rows(cur, sops, steps, need):
    if cur.shape[0] < steps or cur.shape[1] < need or sops.shape[0] < steps or sops.shape[1] < 2:
        raise ValueError("per-step buffers smaller than the steps or the target")


@kernel
def _conv_sizes(geom, wt):
    """(source neurons, target neurons) of a conv geometry; raises when ``wt`` is too short."""
    if wt.size < geom[0] * geom[6] * geom[7] * geom[15]:
        raise ValueError("conv weight smaller than the geometry")
    return geom[0] * geom[1] * geom[2], geom[3] * geom[4] * geom[5]


@parallel_kernel
def scatter_conv_steps(ptr, idx, val, geom, wt, cur, sops):
    """``kernels.scatter_conv`` of every step t into ``cur[t]``, counting into ``sops[t]``."""
    n_src, n_tgt = _conv_sizes(geom, wt)
    steps = check_train(ptr, idx, val, n_src)
    _check_rows(cur, sops, steps, n_tgt)
    for t in prange(steps):
        a, b = ptr[t], ptr[t + 1]
        scatter_conv(idx[a:b], val[a:b], b - a, geom, wt, cur[t], sops[t])


@parallel_kernel
def scatter_sumpool_steps(ptr, idx, val, geom, cur, sops):
    """``kernels.scatter_sumpool`` of every step t into ``cur[t]``."""
    steps = check_train(ptr, idx, val, geom[0] * geom[1] * geom[2])
    _check_rows(cur, sops, steps, geom[4] * geom[5] * geom[0])
    for t in prange(steps):
        a, b = ptr[t], ptr[t + 1]
        scatter_sumpool(idx[a:b], val[a:b], b - a, geom, cur[t], sops[t])


@parallel_kernel
def scatter_dense_steps(ptr, idx, val, n_out, wt, cur, sops):
    """``kernels.scatter_dense`` of every step t into ``cur[t]``."""
    if n_out < 1:
        raise ValueError("dense: no output")
    steps = check_train(ptr, idx, val, wt.size // n_out)
    _check_rows(cur, sops, steps, n_out)
    for t in prange(steps):
        a, b = ptr[t], ptr[t + 1]
        scatter_dense(idx[a:b], val[a:b], b - a, n_out, wt, cur[t], sops[t])


@parallel_kernel
def scatter_identity_steps(ptr, idx, val, n, channels, scale, cur, sops):
    """``kernels.scatter_identity`` of every step t into ``cur[t]`` (``n`` neurons each side)."""
    if channels < 1 or scale.size < channels:
        raise ValueError("identity: scale shorter than the channels")
    steps = check_train(ptr, idx, val, n)
    _check_rows(cur, sops, steps, n)
    for t in prange(steps):
        a, b = ptr[t], ptr[t + 1]
        scatter_identity(idx[a:b], val[a:b], b - a, channels, scale, cur[t], sops[t])


@kernel
def pool_train(ptr, idx, val, pgeom, out_ptr, out_idx, out_val):
    """Map a whole train through ``kernels.pool_spikes``; returns the pooled train's length.

    Sizing contract: ``out_ptr`` T + 1 entries; ``out_*`` at least ``ptr[T]`` times the pool's
    fan-out ``ceil(kh/sh)·ceil(kw/sw)`` (``pool_spikes`` checks each step's remainder).
    """
    steps = check_train(ptr, idx, val, pgeom[0] * pgeom[1] * pgeom[2])
    if out_ptr.size < steps + 1:
        raise ValueError("pool_train: offsets shorter than the steps")
    m = 0
    out_ptr[0] = 0
    for t in range(steps):
        a, b = ptr[t], ptr[t + 1]
        m += pool_spikes(idx[a:b], val[a:b], b - a, pgeom, out_idx[m:], out_val[m:])
        out_ptr[t + 1] = m
    return m


@kernel
def max_units(ptr, idx, val, scratch):
    """Largest number of spike units (Σ|val|) any one neuron sends in one step of the train.

    ``scratch``: zeros, one per source neuron (left zero). A list may repeat an index (several
    events at one input pixel), so units are summed per neuron and step. Sizing contract: every
    index in ``[0, len(scratch))`` (checked by ``check_train``).
    """
    steps = check_train(ptr, idx, val, scratch.size)
    most = 0
    for t in range(steps):
        for e in range(ptr[t], ptr[t + 1]):
            scratch[idx[e]] += abs(val[e])
            most = max(most, scratch[idx[e]])
        for e in range(ptr[t], ptr[t + 1]):
            scratch[idx[e]] = 0
    return most


@kernel
def _check_update_steps(v, cur, bias, bounds, steps, sidx, sval, nout, counts):
    """Shapes of the update dispatchers: blocks cover ``v`` exactly, buffers hold T rows of it."""
    nb = bounds.size - 1
    if nb < 1 or bounds[0] != 0 or bounds[nb] != v.size:
        raise ValueError("neuron blocks do not cover the population")
    for b in range(nb):
        if bounds[b + 1] < bounds[b]:
            raise ValueError("neuron blocks out of order")
    n = v.size
    if (cur.shape[0] < steps or cur.shape[1] < n or bias.size < n or sidx.shape[0] < steps
            or sidx.shape[1] < n or sval.shape[0] < steps or sval.shape[1] < n or nout.shape[0] < nb
            or nout.shape[1] < steps or counts.shape[0] < nb or counts.shape[1] < steps):
        raise ValueError("update buffers smaller than the blocks or the steps")
    return nb


@parallel_kernel
def update_float_steps(v, cur, bias, has_bias, kind, params, flags, fast, bounds, steps, sidx, sval,
                       nout, counts, mults):
    """Float neuron update of steps ``0..steps-1``, neuron blocks ``bounds`` in parallel.

    Block b (neurons ``bounds[b]:bounds[b+1]``) runs ``kernels.update_ternary`` (``fast``) or
    ``kernels.update_neurons`` on ``cur[t]`` for every t, writing step t's spikes into
    ``sidx/sval[t, lo:lo+n]`` (global indices), ``nout[b, t] = n``, its counts into
    ``counts[b, t]`` and its multiplications into ``mults[b]``. ``bias`` has one entry per
    neuron (zeros when unused).
    """
    nb = _check_update_steps(v, cur, bias, bounds, steps, sidx, sval, nout, counts)
    if counts.shape[2] < 2 or mults.size < nb or params.size < 5 or flags.size < 4:
        raise ValueError("update: counts, multiplications, params or flags too short")
    reset_sub = flags[1] != 0
    for b in prange(nb):
        lo, hi = bounds[b], bounds[b + 1]
        p = params.copy()  # update_neurons uses params[4] as scratch: one copy per block
        # update_ternary's spike marks: whole 64-bit words, zero past the block
        marks = np.zeros(-(-(hi - lo) // 8) * 8 if fast else 0, np.int8)
        m = 0
        for t in range(steps):
            if fast:
                n, k = update_ternary(v[lo:hi], cur[t, lo:hi], bias[lo:hi], has_bias, p, reset_sub, marks,
                                      sidx[t, lo:hi], sval[t, lo:hi], counts[b, t])
            else:
                n, k = update_neurons(v[lo:hi], cur[t, lo:hi], bias[lo:hi], has_bias, kind, p, flags,
                                      sidx[t, lo:hi], sval[t, lo:hi], counts[b, t])
            for j in range(n):
                sidx[t, lo + j] += lo
            nout[b, t] = n
            m += k
        mults[b] = m


@parallel_kernel
def update_int_steps(v, cur, bias, has_bias, kind, params, flags, fast, mult, bits, bounds, steps, sidx,
                     sval, nout, counts):
    """Integer twin of ``update_float_steps``: per block and step, ``kernels_int.decay_multiply``
    (only when ``mult`` is not 0: a decay that is not a power of two) then
    ``kernels_int.update_ternary_int`` (``fast``) or ``update_neurons_int``;
    ``counts[b, t] = [+, −, saturations]``."""
    nb = _check_update_steps(v, cur, bias, bounds, steps, sidx, sval, nout, counts)
    if counts.shape[2] < 3 or params.size < 4 or flags.size < 4:
        raise ValueError("update: counts, params or flags too short")
    for b in prange(nb):
        lo, hi = bounds[b], bounds[b + 1]
        marks = np.zeros(-(-(hi - lo) // 8) * 8 if fast else 0, np.int8)  # as in update_float_steps
        for t in range(steps):
            if mult != 0:
                decay_multiply(v[lo:hi], mult, bits)
            if fast:
                n = update_ternary_int(v[lo:hi], cur[t, lo:hi], bias[lo:hi], has_bias, params, flags, marks,
                                       sidx[t, lo:hi], sval[t, lo:hi], counts[b, t])
            else:
                n = update_neurons_int(v[lo:hi], cur[t, lo:hi], bias[lo:hi], has_bias, kind, params, flags,
                                       sidx[t, lo:hi], sval[t, lo:hi], counts[b, t])
            for j in range(n):
                sidx[t, lo + j] += lo
            nout[b, t] = n


@parallel_kernel
def update_cuba_steps(v, syn, cur, bias, has_bias, params, reset_sub, bounds, steps, sidx, sval, nout,
                      counts):
    """``update_float_steps`` for a ``cuba_lif`` population (``kernels.update_cuba``; ``syn`` its
    synaptic currents, ``params = [θ, λ, α, 0]``)."""
    nb = _check_update_steps(v, cur, bias, bounds, steps, sidx, sval, nout, counts)
    if counts.shape[2] < 2 or params.size < 4 or syn.size < v.size:
        raise ValueError("update: counts, params or synaptic currents too short")
    for b in prange(nb):
        lo, hi = bounds[b], bounds[b + 1]
        for t in range(steps):
            n, _ = update_cuba(v[lo:hi], syn[lo:hi], cur[t, lo:hi], bias[lo:hi], has_bias, params, reset_sub,
                               sidx[t, lo:hi], sval[t, lo:hi], counts[b, t])
            for j in range(n):
                sidx[t, lo + j] += lo
            nout[b, t] = n


@parallel_kernel
def update_cuba_int_steps(v, syn, fired, cur, bias, has_bias, params, reset_sub, vmult, smult, bits, bounds,
                          steps, sidx, sval, nout, counts):
    """Integer twin of ``update_cuba_steps``: per block and step, the multiplying decays of the
    synaptic currents (``smult``) and membranes (``vmult``) by ``kernels_int.decay_multiply`` when
    not 0, then ``kernels_int.update_cuba_int``."""
    nb = _check_update_steps(v, cur, bias, bounds, steps, sidx, sval, nout, counts)
    if counts.shape[2] < 3 or params.size < 5 or syn.size < v.size or fired.size < v.size:
        raise ValueError("update: counts, params or state arrays too short")
    for b in prange(nb):
        lo, hi = bounds[b], bounds[b + 1]
        for t in range(steps):
            if smult != 0:
                decay_multiply(syn[lo:hi], smult, bits)
            if vmult != 0:
                decay_multiply(v[lo:hi], vmult, bits)
            n = update_cuba_int(v[lo:hi], syn[lo:hi], fired[lo:hi], cur[t, lo:hi], bias[lo:hi], has_bias,
                                params, reset_sub, sidx[t, lo:hi], sval[t, lo:hi], counts[b, t])
            for j in range(n):
                sidx[t, lo + j] += lo
            nout[b, t] = n


@kernel
def train_offsets(nout, steps, ptr):
    """``ptr[t + 1] = ptr[t] + Σ_b nout[b, t]``: step offsets of the gathered train; returns its length."""
    if ptr.size < steps + 1 or nout.shape[1] < steps:
        raise ValueError("train_offsets: buffers shorter than the steps")
    ptr[0] = 0
    for t in range(steps):
        total = 0
        for b in range(nout.shape[0]):
            total += nout[b, t]
        ptr[t + 1] = ptr[t] + total
    return ptr[steps]


@parallel_kernel
def gather_spikes(bounds, nout, sidx, sval, ptr, out_idx, out_val):
    """Concatenate the blocks' spike lists of every step, in neuron order, at ``ptr[t]``.

    ``ptr`` from ``train_offsets``; ``out_*`` at least ``ptr[T]`` entries (checked).
    """
    steps = ptr.size - 1
    nb = bounds.size - 1
    if out_idx.size < ptr[steps] or out_val.size < ptr[steps] or nout.shape[0] < nb:
        raise ValueError("gather_spikes: output smaller than the train")
    for t in range(steps):
        total = 0
        for b in range(nb):
            if nout[b, t] < 0 or nout[b, t] > bounds[b + 1] - bounds[b]:
                raise ValueError("gather_spikes: a block emitted more spikes than it has neurons")
            total += nout[b, t]
        if ptr[t + 1] - ptr[t] != total:
            raise ValueError("gather_spikes: offsets do not match the blocks' counts")
    for t in prange(steps):
        p = ptr[t]
        for b in range(nb):
            lo = bounds[b]
            for j in range(nout[b, t]):
                out_idx[p + j] = sidx[t, lo + j]
                out_val[p + j] = sval[t, lo + j]
            p += nout[b, t]


#: smallest neuron block of the parallel update (small populations run as one block)
MIN_BLOCK = 2048


def neuron_blocks(size: int, threads: int) -> np.ndarray:
    """Bounds of about ``4·threads`` neuron blocks (at least ``MIN_BLOCK`` neurons each, multiples
    of 16 so blocks start on a cache line) covering ``size`` neurons. Results do not depend on the
    split; it only balances the threads."""
    per = max(MIN_BLOCK, -(-size // (4 * threads)), 1)
    per = -(-per // 16) * 16
    return np.append(np.arange(0, size, per, dtype=np.int64), np.int64(size))
