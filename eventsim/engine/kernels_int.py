"""Integer (fixed-point) neuron kernels of the ``int`` precision mode.

Spike propagation reuses the generic scatter kernels of ``kernels.py`` (Numba compiles them
once more for int16 weights and int64 currents: still additions of weight rows only; a
sum-pool runs as a depthwise ``scatter_conv`` whose stored weight is the target's unit
``2**k``). This module holds what differs from the float engine: the neuron update with
shift decays, int32 saturation and multi-spikes by repeated subtraction, and the one kernel
that multiplies (a decay that is not a power of two), kept apart so the audit of
``eventsim.validate`` can tell a network that needs it from one that does not.

Semantics are those of :mod:`eventsim.engine.reference_int`, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import types as nbt

from ..jit import kernel
from .kernel_audit import I8, I32, I64, audited, per_current
from .kernels import _check_update, _compact_marks

# population kind codes (mirrors plan.POP_*)
_POP_TERNARY, _POP_BINARY, _POP_READOUT = 1, 2, 4
# decay codes (mirrors quantize.DECAY_*; a MULTIPLY decay is applied by decay_multiply first)
_DECAY_SHIFT, _DECAY_ZERO = 1, 2
_INT32_MAX = 2147483647
_INT32_MIN = -2147483648
#: a step's |current + bias| below this (and |Θ| too) lets a shift-decayed ternary update run in
#: int32: |v >> m| <= 2**30 for m >= 1, so every sum stays inside int32 and nothing saturates
NARROW_BOUND = 2**30 - 1
_NARROW = NARROW_BOUND


@kernel
def _ternary_pass_int(v, cur, bias, has_bias, th, code, shift, reset_sub, marks):
    """Branch-free ``update_neurons_int`` of a ``ternary_lif`` without floor (vectorised by LLVM):
    each neuron's spike value (−1, 0, +1) into ``marks[i]`` (int8); returns the saturated updates."""
    keep = code != _DECAY_ZERO
    nsat = 0
    for i in range(v.size):
        c = np.int64(cur[i]) + bias[i] if has_bias else np.int64(cur[i])
        cur[i] = 0
        x = np.int64(v[i]) >> shift if keep else np.int64(0)  # shift 0 when there is no decay
        x += c
        high = x > _INT32_MAX
        low = x < _INT32_MIN
        nsat += np.int64(high) + np.int64(low)
        x = _INT32_MAX if high else (_INT32_MIN if low else x)
        up = x >= th
        down = x <= -th
        marks[i] = np.int8(up) - np.int8(down)
        if reset_sub:
            v[i] = x - th if up else (x + th if down else x)
        else:
            v[i] = 0 if up or down else x
    return nsat


@kernel
def _ternary_pass_narrow(v, cur, bias, has_bias, th, code, shift, reset_sub, marks):
    """``_ternary_pass_int`` when no sum can leave int32 (the caller's bound, see
    ``update_ternary_int``): the same values computed in int32 lanes, twice as many per vector.

    Numba widens integer sums to int64; truncating each result to int32 right away lets LLVM
    narrow the arithmetic back (the low 32 bits of a sum depend only on the low 32 bits of its
    terms, and no sum here overflows)."""
    keep = code != _DECAY_ZERO
    t = np.int32(th)
    nt = np.int32(-th)  # negated in int64 first: LLVM folds −int32(Θ) into a multiplication
    for i in range(v.size):
        c = np.int32(cur[i] + np.int32(bias[i])) if has_bias else np.int32(cur[i])
        cur[i] = 0
        x = np.int32((v[i] >> shift) + c) if keep else c
        up = x >= t
        down = x <= nt
        marks[i] = np.int8(up) - np.int8(down)
        if reset_sub:
            v[i] = np.int32(x - t) if up else (np.int32(x + t) if down else x)
        else:
            v[i] = 0 if up or down else x


@kernel
def code_shift_narrow(code, shift):
    """True when the decay (code, shift) at least halves the membrane or zeroes it."""
    return code == _DECAY_ZERO or (code == _DECAY_SHIFT and shift >= 1)


@audited(*per_current(lambda cur: (I32, cur, I64, nbt.boolean, I64, I64, I8, I64, I64, I64)))
@kernel
def update_ternary_int(v, cur, bias, has_bias, params, flags, marks, out_idx, out_val, counts):
    """``update_neurons_int`` for the flagship case, a ``ternary_lif`` without floor: a branch-free
    pass (``_ternary_pass_int``) into the int8 scratch ``marks``, then the compaction into a spike
    list (``kernels._compact_marks``); returns its length. Same arithmetic, same sizing contract as
    ``update_neurons_int``, and ``marks`` as ``kernels.update_ternary`` takes it (checked).

    ``flags[3]`` (not 0) is the caller's promise that every step's ``|cur + bias|`` is at most
    ``NARROW_BOUND``; with a decay that at least halves the membrane (or zeroes it) and
    ``0 <= Θ <= NARROW_BOUND`` the pass then runs in int32 (``_ternary_pass_narrow``): no sum can
    leave int32, so nothing saturates and the values are those of the int64 pass."""
    _check_update(v, cur, bias, has_bias, out_idx, out_val)
    if marks.size < v.size or flags.size < 4:
        raise ValueError("update_ternary_int: spike marks shorter than the population, or flags too short")
    if flags[3] != 0 and (code_shift_narrow(params[1], params[2]) and 0 <= params[0] <= _NARROW):
        _ternary_pass_narrow(v, cur, bias, has_bias, params[0], params[1], params[2], flags[0] != 0, marks)
    else:
        counts[2] += _ternary_pass_int(v, cur, bias, has_bias, params[0], params[1], params[2], flags[0] != 0,
                                       marks)
    return _compact_marks(marks, v.size, out_idx, out_val, counts)


@audited(*per_current(lambda cur: (I32, cur, I64, nbt.boolean, nbt.int64, I64, I64, I64, I64, I64)))
@kernel
def update_neurons_int(v, cur, bias, has_bias, kind, params, flags, out_idx, out_val, counts):
    """Integrate, saturate, fire and reset one population; emit its spike list; clear ``cur``.

    ``v`` int32 membranes, ``cur`` int64 currents, ``bias`` int64 per neuron,
    ``params = [Θ, decay_code, shift, v_min]`` and ``flags = [reset_subtract, has_v_min,
    multi_spike]`` (int64). Per neuron: ``x = decay(v) + cur + bias`` (decay: none, ``v >> m``
    or zero), clipped to int32 (each clip counted), floor ``v_min``, threshold, reset.
    ``counts = [+ spike units, − spike units, saturated updates]``. Returns the number of
    spikes written to ``out_idx/out_val``. A multi-spike neuron emits ``s`` by subtracting Θ
    ``s`` times: no division.

    Sizing contract: as ``kernels.update_neurons`` (``cur``, ``bias`` when used and ``out_*`` at
    least as long as ``v``; checked per call).
    """
    _check_update(v, cur, bias, has_bias, out_idx, out_val)
    th = params[0]
    code = params[1]
    shift = params[2]
    vmin = params[3]
    reset_sub = flags[0] != 0
    has_vmin = flags[1] != 0
    multi = flags[2] != 0
    n = 0
    npos = 0
    nneg = 0
    nsat = 0
    for i in range(v.size):
        c = cur[i]
        if has_bias:
            c += bias[i]
        cur[i] = 0
        x = np.int64(v[i])
        if kind != _POP_READOUT:
            if code == _DECAY_SHIFT:
                x = x >> shift  # arithmetic shift: floor(v / 2**m)
            elif code == _DECAY_ZERO:
                x = 0
        x += c
        if x > _INT32_MAX:
            x = _INT32_MAX
            nsat += 1
        elif x < _INT32_MIN:
            x = _INT32_MIN
            nsat += 1
        if kind == _POP_READOUT:
            v[i] = x
            continue
        if has_vmin and x < vmin:
            x = vmin
        s = 0
        if kind == _POP_TERNARY:
            if x >= th:
                s = 1
            elif x <= -th:
                s = -1
        elif kind == _POP_BINARY:
            if x > th:
                s = 1
        elif x >= th:
            if multi:
                # s = floor(x / Θ) by repeated subtraction; r ends as x - s·Θ
                r = x
                while r >= th:
                    r -= th
                    s += 1
                if reset_sub:
                    x = r + th  # the reset below subtracts the last Θ
            else:
                s = 1
        if s != 0:
            if reset_sub:
                if s < 0:
                    x += th
                else:
                    x -= th
            else:
                x = 0
            out_idx[n] = i
            out_val[n] = s
            n += 1
            if s > 0:
                npos += s
            else:
                nneg -= s
        v[i] = x
    counts[0] += npos
    counts[1] += nneg
    counts[2] += nsat
    return n


@audited((I32, nbt.int64, nbt.int64))
@kernel
def decay_multiply(v, mult, bits):
    """``v = (v · L) >> bits`` for every neuron: the per-neuron multiplication of a decay
    that is not a power of two (listed by the audit; a ``--strict`` validation fails on it)."""
    for i in range(v.size):
        v[i] = (np.int64(v[i]) * mult) >> bits


@kernel
def _decay_shift(x, code, shift):
    """A shift decay of one int64 value: none, ``x >> m`` or zero (never a multiplication)."""
    if code == _DECAY_SHIFT:
        return x >> shift
    if code == _DECAY_ZERO:
        return np.int64(0)
    return x


@audited(*per_current(lambda cur: (I32, I32, I64, cur, I64, nbt.boolean, I64, nbt.boolean, I64, I64,
                                  I64)))
@kernel
def update_cuba_int(v, syn, fired, cur, bias, has_bias, params, reset_sub, out_idx, out_val, counts):
    """Integer ``cuba_lif`` update (``reference_int.cuba_step_int``); returns the spike count.

    ``v``, ``syn`` int32 state, ``fired`` int64 last step's spike per neuron, ``params = [Θ,
    v decay code, v shift, syn decay code, syn shift]`` (a multiplying decay was already applied
    by ``decay_multiply``: its code here is none). Per neuron: ``syn = decay(syn) + cur + bias``
    and ``v = decay(v) + syn``, each clipped to int32 (a neuron with a clip counts once in
    ``counts[2]``); where ``fired``: ``v −= Θ`` (subtract) or ``v = 0``; spike where ``v > Θ``.
    Sizing contract: as ``update_neurons_int``, and ``syn``, ``fired`` as long as ``v`` (checked).
    """
    _check_update(v, cur, bias, has_bias, out_idx, out_val)
    if syn.size < v.size or fired.size < v.size:
        raise ValueError("update_cuba_int: state arrays shorter than the membranes")
    th = params[0]
    n = 0
    nsat = 0
    for i in range(v.size):
        c = np.int64(cur[i])
        if has_bias:
            c += bias[i]
        cur[i] = 0
        s = _decay_shift(np.int64(syn[i]), params[3], params[4]) + c
        clipped = s > _INT32_MAX or s < _INT32_MIN
        s = min(max(s, _INT32_MIN), _INT32_MAX)
        syn[i] = s
        x = _decay_shift(np.int64(v[i]), params[1], params[2]) + s
        if x > _INT32_MAX or x < _INT32_MIN:
            clipped = True
            x = min(max(x, _INT32_MIN), _INT32_MAX)
        nsat += np.int64(clipped)
        if fired[i] != 0:  # a subtract may leave the int32 range downwards: clipped, not counted
            x = max(x - th, _INT32_MIN) if reset_sub else np.int64(0)
        v[i] = x
        fired[i] = np.int64(x > th)
        if x > th:
            out_idx[n] = i
            out_val[n] = 1
            n += 1
    counts[0] += n
    counts[2] += nsat
    return n
