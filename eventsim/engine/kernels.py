"""The engine's Numba kernels: one time step of spike propagation and neuron update.

Only compiled functions live here (options in ``jit.py``); ``simulator.py`` prepares the
arrays (``plan.py`` layouts) and calls them. All kernels write into arrays the caller
allocated: nothing is allocated inside a hot loop.

A spike list is ``(idx, val, n)``: the first ``n`` entries of ``idx`` (internal neuron index,
channels-last) and ``val`` (signed spike value). Propagation is additions only:

- ``val == +1`` adds the weight row, ``val == -1`` subtracts it (the ternary path);
- ``|val| = n > 1`` (a multi-spike of sinabs-style IF neurons, or never for ternary nets) is
  applied as ``n`` repeated additions — exactly what ``n`` unit spikes would do — and counts
  ``n`` SOPs per synapse. No weight is ever multiplied by a spike value.

SOPs (``sops[0]`` from positive, ``sops[1]`` from negative spikes) count one per weight
applied to one existing target neuron per unit of spike value, as ``engine/reference.py``
defines them.

Memory safety. Numba does not check indices (unless ``NUMBA_BOUNDSCHECK=1``, which CI runs the
engine's differential tests with), so every kernel states its **sizing contract** and checks, in
O(1) per call or one comparison per spike, what it cannot take for granted: the spike count
against its list, every spike index against its source population, and the sizes of the arrays
it writes. A violation raises ``IndexError``/``ValueError`` instead of writing out of bounds. No
buffer size may assume "at most one spike per neuron per step": one step of input can carry any
number of events at one pixel.
"""

from __future__ import annotations

import numpy as np
from numba import types as nbt

from ..jit import kernel
from .kernel_audit import I16, I64, audited, per_current

# the population kind codes the update kernels branch on (network.kinds.CODE_*, plan.POP_*)
_POP_TERNARY, _POP_BINARY, _POP_READOUT = 1, 2, 4


@kernel
def _check_list(idx, val, n):
    """A spike list ``(idx, val, n)`` must hold ``n`` entries in both arrays."""
    if n < 0 or n > idx.size or n > val.size:
        raise ValueError("spike count larger than its spike list")


@kernel
def _add_row(cur, tb, wt, wb, length, s):
    """cur[tb:tb+length] += s · wt[wb:wb+length] for an integer spike value s, by additions.

    Works on slice views indexed from 0 so that LLVM can vectorise the loop (an offset index
    would keep Numba's negative-index wraparound check in the loop).
    """
    dst = cur[tb:tb + length]
    src = wt[wb:wb + length]
    if s == 1:
        for j in range(length):
            dst[j] += src[j]
    elif s == -1:
        for j in range(length):
            dst[j] -= src[j]
    elif s > 0:
        for _ in range(s):
            for j in range(length):
                dst[j] += src[j]
    else:
        for _ in range(-s):
            for j in range(length):
                dst[j] -= src[j]


@kernel
def _tap_table(size, k, stride, pad, dil, out):
    """``tab[c·k + j]`` = output coordinate that tap j of source coordinate c lands on, or −1.

    Output o reads source ``o·stride − pad + j·dil``; so c lands on ``(c + pad − j·dil) / stride``
    when that is a whole number inside ``[0, out)``.
    """
    tab = np.full(size * k, -1, np.int64)
    for c in range(size):
        for j in range(k):
            num = c + pad - j * dil
            if num >= 0 and num % stride == 0 and num // stride < out:
                tab[c * k + j] = num // stride
    return tab


#: most spikes at one source pixel whose weight rows are added to a target row in one pass
GROUP = 8


@audited(*per_current(lambda cur: (I64, I64, nbt.int64, I64, I16, cur, I64)))
@kernel
def scatter_conv(idx, val, n, geom, wt, cur, sops):
    """Scatter ``n`` spikes of a channels-last ``(H, W, Cin)`` source through a conv2d.

    ``geom`` holds the ``plan.G_*`` columns; ``wt`` is the flat ``[Cin, kh, kw reversed, Cout_g]``
    weight; ``cur`` the flat channels-last target current. A tap lands on target pixel
    ``(oy, ox)`` when ``oy·sh − ph + ky·dh == y`` (and the same along x), in bounds.

    Spikes go in groups: a spike and the ±1 spikes right after it at the same source pixel (up to
    ``GROUP``; channels-last lists put a pixel's spikes next to each other), when the conv has
    one channel group (so they all hit the same target rows). Every target row a group hits is
    loaded once, gets the group's weight rows added or subtracted in spike order in a register,
    and is stored once: ``((c ± w1) ± w2) ± w3`` is exactly what one spike at a time computes,
    so results are bit for bit those of the sequential order, with a fraction of the memory
    traffic on ``cur``. A spike of any other value is a group of one.

    The additions are written out in this one function: Numba calls between kernels are not
    inlined and cost more than a short row.

    Sizing contract: ``n <= len(idx), len(val)`` (any ``n``, repeats allowed); every index in
    ``[0, Cin·H·W)`` (checked per spike); ``len(wt) >= Cin·kh·kw·Cout_g`` and
    ``len(cur) >= Ho·Wo·Cout`` (checked per call). All writes then land inside ``cur``.
    """
    cin, w = geom[0], geom[2]
    cout, ho, wo = geom[3], geom[4], geom[5]
    kh, kw, sh, sw = geom[6], geom[7], geom[8], geom[9]
    ph, pw, dh, dw = geom[10], geom[11], geom[12], geom[13]
    cin_g, cout_g = geom[14], geom[15]
    _check_list(idx, val, n)
    if wt.size < cin * kh * kw * cout_g or cur.size < ho * wo * cout:
        raise ValueError("scatter_conv: weight or current buffer smaller than the geometry")
    n_src = cin * geom[1] * w
    # integer divisions cost tens of cycles, comparable to a whole 128-wide row: use a shift
    # and a mask when Cin is a power of two, and derive remainders by multiply-subtract
    cin_shift = -1
    if cin & (cin - 1) == 0:
        cin_shift = 0
        while (1 << cin_shift) < cin:
            cin_shift += 1
    unit = sh == 1 and sw == 1 and dh == 1 and dw == 1
    grouping = cin_g == cin
    # strided / dilated: per source coordinate and tap, the target coordinate or -1, computed
    # once per call (h·kh + w·kw entries) so the spike loop needs no integer division
    h = geom[1]
    ytab = _tap_table(h, kh, sh, ph, dh, ho) if not unit else np.empty(0, np.int64)
    xtab = _tap_table(w, kw, sw, pw, dw, wo) if not unit else np.empty(0, np.int64)
    per_ci = kh * kw * cout_g
    # a group's runs: contiguous stretches of cur (from run_t) and of channel 0's weights (from
    # run_w, plus the channel's offset), at most one per tap
    run_t = np.empty(kh * kw, np.int64)
    run_w = np.empty(kh * kw, np.int64)
    run_n = np.empty(kh * kw, np.int64)
    offs = np.empty(GROUP, np.int64)
    vals = np.empty(GROUP, np.int64)
    # the stand-in row of a group smaller than GROUP: x − (+0) is x for every x (−0 included)
    zero = np.zeros(kw * cout_g, wt.dtype)
    npos = 0
    nneg = 0
    e = 0
    while e < n:
        # -- the group: spike e and the following ±1 spikes at its pixel
        i = idx[e]
        if i < 0 or i >= n_src:
            raise IndexError("scatter_conv: spike index outside the source population")
        pix = i >> cin_shift if cin_shift >= 0 else i // cin
        ci = i - pix * cin
        offs[0] = ci * per_ci
        vals[0] = val[e]
        g = 1
        if grouping and (vals[0] == 1 or vals[0] == -1):
            while g < GROUP and e + g < n:
                j = idx[e + g]
                s = val[e + g]
                if s != 1 and s != -1:
                    break
                if j < 0 or j >= n_src:
                    raise IndexError("scatter_conv: spike index outside the source population")
                if (j >> cin_shift if cin_shift >= 0 else j // cin) != pix:
                    break
                offs[g] = (j - pix * cin) * per_ci
                vals[g] = s
                g += 1
        e += g
        # -- its runs
        yi = pix // w
        xi = pix - yi * w
        obase = ci if cin_g == 1 and cout_g == 1 else (ci // cin_g) * cout_g
        nrun = 0
        taps = 0
        if unit:  # stride 1, dilation 1: the in-bounds taps form one rectangle, no per-tap tests
            ky_lo = max(0, yi + ph - ho + 1)
            ky_hi = min(kh - 1, yi + ph)
            kx_lo = max(0, xi + pw - wo + 1)
            kx_hi = min(kw - 1, xi + pw)
            ntaps = kx_hi - kx_lo + 1
            for ky in range(ky_lo, ky_hi + 1):
                # kx = kx_hi .. kx_lo hit target pixels ox0, ox0+1, ... and reversed-kw weight rows
                # kw-1-kx_hi, ...: both consecutive, so without channel groups one run per ky
                tb = ((yi + ph - ky) * wo + xi + pw - kx_hi) * cout + obase
                wb = (ky * kw + kw - 1 - kx_hi) * cout_g
                if cout_g == cout:
                    run_t[nrun] = tb
                    run_w[nrun] = wb
                    run_n[nrun] = ntaps * cout
                    nrun += 1
                else:
                    for k in range(ntaps):
                        run_t[nrun] = tb + k * cout
                        run_w[nrun] = wb + k * cout_g
                        run_n[nrun] = cout_g
                        nrun += 1
            if ky_hi >= ky_lo and ntaps > 0:
                taps = (ky_hi - ky_lo + 1) * ntaps
        else:
            for ky in range(kh):
                oy = ytab[yi * kh + ky]
                if oy < 0:
                    continue
                for kx in range(kw):
                    ox = xtab[xi * kw + kx]
                    if ox < 0:
                        continue
                    run_t[nrun] = (oy * wo + ox) * cout + obase
                    run_w[nrun] = (ky * kw + kw - 1 - kx) * cout_g
                    run_n[nrun] = cout_g
                    nrun += 1
            taps = nrun
        # -- the additions, run by run (views indexed from 0 so that LLVM vectorises the loops:
        # an offset index would keep Numba's negative-index wraparound check in them)
        for r in range(nrun):
            length = run_n[r]
            dst = cur[run_t[r]:run_t[r] + length]
            wb = run_w[r]
            if g == 1:
                src = wt[wb + offs[0]:wb + offs[0] + length]
                s = vals[0]
                if s == 1:
                    for j in range(length):
                        dst[j] += src[j]
                elif s == -1:
                    for j in range(length):
                        dst[j] -= src[j]
                else:  # |s| unit spikes: |s| additions, never a product
                    for _ in range(abs(s)):
                        if s > 0:
                            for j in range(length):
                                dst[j] += src[j]
                        else:
                            for j in range(length):
                                dst[j] -= src[j]
                continue
            a = wt[wb + offs[0]:wb + offs[0] + length]
            b = wt[wb + offs[1]:wb + offs[1] + length]
            c = wt[wb + offs[2]:wb + offs[2] + length] if g > 2 else zero[:length]
            d = wt[wb + offs[3]:wb + offs[3] + length] if g > 3 else zero[:length]
            pa = vals[0] > 0
            pb = vals[1] > 0
            pc = g > 2 and vals[2] > 0
            pd = g > 3 and vals[3] > 0
            if g <= 4:
                for j in range(length):
                    x = dst[j]
                    y = a[j]
                    x = x + y if pa else x - y
                    y = b[j]
                    x = x + y if pb else x - y
                    y = c[j]
                    x = x + y if pc else x - y
                    y = d[j]
                    x = x + y if pd else x - y
                    dst[j] = x
                continue
            a5 = wt[wb + offs[4]:wb + offs[4] + length]
            b5 = wt[wb + offs[5]:wb + offs[5] + length] if g > 5 else zero[:length]
            c5 = wt[wb + offs[6]:wb + offs[6] + length] if g > 6 else zero[:length]
            d5 = wt[wb + offs[7]:wb + offs[7] + length] if g > 7 else zero[:length]
            pa5 = vals[4] > 0
            pb5 = g > 5 and vals[5] > 0
            pc5 = g > 6 and vals[6] > 0
            pd5 = g > 7 and vals[7] > 0
            for j in range(length):
                x = dst[j]
                y = a[j]
                x = x + y if pa else x - y
                y = b[j]
                x = x + y if pb else x - y
                y = c[j]
                x = x + y if pc else x - y
                y = d[j]
                x = x + y if pd else x - y
                y = a5[j]
                x = x + y if pa5 else x - y
                y = b5[j]
                x = x + y if pb5 else x - y
                y = c5[j]
                x = x + y if pc5 else x - y
                y = d5[j]
                x = x + y if pd5 else x - y
                dst[j] = x
        # -- SOPs: every spike of the group on every tap
        for m in range(g):
            if vals[m] > 0:
                npos += taps * cout_g * vals[m]
            else:
                nneg -= taps * cout_g * vals[m]
    sops[0] += npos
    sops[1] += nneg


@kernel
def scatter_sumpool(idx, val, n, geom, cur, sops):
    """Scatter spikes through a sum-pool: +s into every window (target pixel) covering them.

    Sizing contract: as ``scatter_conv`` (indices in ``[0, C·H·W)`` checked per spike,
    ``len(cur) >= Ho·Wo·C`` checked per call).
    """
    cin, w = geom[0], geom[2]
    ho, wo = geom[4], geom[5]
    kh, kw, sh, sw = geom[6], geom[7], geom[8], geom[9]
    ph, pw = geom[10], geom[11]
    _check_list(idx, val, n)
    if cur.size < ho * wo * cin:
        raise ValueError("scatter_sumpool: current buffer smaller than the geometry")
    n_src = cin * geom[1] * w
    npos = 0
    nneg = 0
    for e in range(n):
        i = idx[e]
        s = val[e]
        if i < 0 or i >= n_src:
            raise IndexError("scatter_sumpool: spike index outside the source population")
        ci = i % cin
        pix = i // cin
        xi = pix % w
        yi = pix // w
        taps = 0
        for ky in range(kh):
            ny = yi + ph - ky
            if ny < 0:
                break
            if ny % sh != 0:
                continue
            oy = ny // sh
            if oy >= ho:
                continue
            for kx in range(kw):
                nx = xi + pw - kx
                if nx < 0:
                    break
                if nx % sw != 0:
                    continue
                ox = nx // sw
                if ox >= wo:
                    continue
                # the pool's weight is 1: adding the (integer) spike value is s unit additions
                cur[(oy * wo + ox) * cin + ci] += s
                taps += 1
        if s > 0:
            npos += taps * s
        else:
            nneg -= taps * s
    sops[0] += npos
    sops[1] += nneg


@audited(*per_current(lambda cur: (I64, I64, nbt.int64, nbt.int64, I16, cur, I64)))
@kernel
def scatter_dense(idx, val, n, n_out, wt, cur, sops):
    """Scatter spikes through a dense map: source neuron i adds row ``wt[i·n_out:(i+1)·n_out]``.

    Sizing contract: ``len(cur) >= n_out``; every index in ``[0, len(wt) // n_out)`` (checked).
    """
    _check_list(idx, val, n)
    if cur.size < n_out or n_out < 1:
        raise ValueError("scatter_dense: current buffer smaller than the layer")
    n_src = wt.size // n_out
    npos = 0
    nneg = 0
    for e in range(n):
        s = val[e]
        if idx[e] < 0 or idx[e] >= n_src:
            raise IndexError("scatter_dense: spike index outside the source population")
        _add_row(cur, 0, wt, idx[e] * n_out, n_out, s)
        if s > 0:
            npos += n_out * s
        else:
            nneg -= n_out * s
    sops[0] += npos
    sops[1] += nneg


@audited(*per_current(lambda cur: (I64, I64, nbt.int64, nbt.int64, I16, cur, I64)))
@kernel
def scatter_identity(idx, val, n, channels, scale, cur, sops):
    """Identity with a per-channel scale: neuron i adds ``scale[i % channels]`` per unit of spike.

    One element per spike: the addition is written out here (a call per spike would cost more
    than the addition), the channel found by a mask when ``channels`` is a power of two.

    Sizing contract: every index in ``[0, len(cur))`` (checked); ``len(scale) >= channels``.
    """
    _check_list(idx, val, n)
    if scale.size < channels or channels < 1:
        raise ValueError("scatter_identity: scale shorter than the channels")
    mask = channels - 1 if channels & (channels - 1) == 0 else -1
    npos = 0
    nneg = 0
    for e in range(n):
        i = idx[e]
        s = val[e]
        if i < 0 or i >= cur.size:
            raise IndexError("scatter_identity: spike index outside the population")
        x = scale[i & mask if mask >= 0 else i % channels]
        if s == 1:
            cur[i] += x
        elif s == -1:
            cur[i] -= x
        else:  # |s| unit spikes: |s| additions
            for _ in range(abs(s)):
                if s > 0:
                    cur[i] += x
                else:
                    cur[i] -= x
        if s > 0:
            npos += s
        else:
            nneg -= s
    sops[0] += npos
    sops[1] += nneg


@kernel
def _check_update(v, cur, bias, has_bias, out_idx, out_val):
    """The neuron updates write ``cur`` and ``out_*`` at neuron positions: sizes must cover ``v``."""
    if cur.size < v.size or out_idx.size < v.size or out_val.size < v.size or (
            has_bias and bias.size < v.size):
        raise ValueError("neuron update: buffers smaller than the population")


@kernel
def _compact_marks(marks, n, out_idx, out_val, counts):
    """The spike list of ``marks[0:n]`` (int8 spike value per neuron, 0 = none) into
    ``out_idx/out_val``; returns its length and adds the + and − units to ``counts``.

    ``marks`` is read eight neurons per 64-bit word, so a silent stretch costs one comparison per
    eight neurons; a word with a spike is compacted without branches (every neuron is written at
    the list's end, which advances only for a spike: the list's k-th entry is at k <= i, inside
    ``out_*``), so spike patterns cannot mislead the branch predictor. Sizing contract:
    ``len(out_*) >= n``; ``marks`` whole words (``len(marks)`` a multiple of 8, >= n; checked).
    """
    if marks.size % 8 != 0 or marks.size < n:
        raise ValueError("spike marks: not whole words or shorter than the population")
    words = marks.view(np.uint64)
    m = 0
    npos = 0
    nneg = 0
    for k in range(n // 8):
        if words[k] == 0:
            continue
        for i in range(8 * k, 8 * k + 8):
            s = marks[i]
            out_idx[m] = i
            out_val[m] = s
            m += s != 0
            npos += s > 0
            nneg += s < 0
    for i in range(n - n % 8, n):  # the last, partial word: write spikes only (m may reach n)
        s = marks[i]
        if s != 0:
            out_idx[m] = i
            out_val[m] = s
            m += 1
            npos += s > 0
            nneg += s < 0
    counts[0] += npos
    counts[1] += nneg
    return m


@kernel
def _ternary_pass(v, cur, bias, has_bias, th, lam, zero, reset_sub, marks):
    """Branch-free integrate, fire and reset of a ``ternary_lif`` (vectorised by LLVM); writes each
    neuron's spike value (−1, 0, +1) to ``marks[i]`` (int8) and clears ``cur``."""
    for i in range(v.size):
        c = cur[i] + bias[i] if has_bias else cur[i]
        cur[i] = zero
        x = lam * v[i] + c
        up = x >= th
        down = x <= -th
        marks[i] = np.int8(up) - np.int8(down)
        if reset_sub:
            v[i] = x - th if up else (x + th if down else x)
        else:
            v[i] = zero if up or down else x


@kernel
def update_ternary(v, cur, bias, has_bias, params, reset_sub, marks, out_idx, out_val, counts):
    """``update_neurons`` for the flagship case, a ``ternary_lif`` without floor.

    Same arithmetic as the general kernel (``1·v`` is exactly ``v``, so λ = 1 needs no branch),
    in two passes: a branch-free pass over the neurons (spike value per neuron into the int8
    scratch ``marks``), then the compaction into a spike list. Returns ``(n_spikes, 0)``. Sizing
    contract: as ``update_neurons``, and ``marks`` whole 64-bit words covering ``v``, zero past
    ``len(v)`` (checked).
    """
    _check_update(v, cur, bias, has_bias, out_idx, out_val)
    if marks.size < v.size:
        raise ValueError("update_ternary: spike marks shorter than the population")
    _ternary_pass(v, cur, bias, has_bias, params[0], params[1], params[3], reset_sub, marks)
    return _compact_marks(marks, v.size, out_idx, out_val, counts), 0


@kernel
def update_neurons(v, cur, bias, has_bias, kind, params, flags, out_idx, out_val, counts):
    """Integrate, fire and reset one population; emit its spike list; clear ``cur``.

    ``params = [θ, λ, v_min, 0, scratch]`` in the population's precision (the zero and the
    scratch slot keep every value in that precision: Numba would widen ``float32`` mixed with
    an integer to ``float64``); ``flags = [decay_is_one,
    reset_subtract, has_v_min, multi_spike]``. Per neuron (as ``reference.neuron_step``):
    ``c = cur + bias``; readout: ``v += c``; spiking: ``v = λ·v + c`` (just ``v + c`` when
    λ = 1), floor, threshold, reset. Returns ``(n_spikes, divisions)``: the number of entries
    written to ``out_idx/out_val`` and the divisions ``floor(v/θ)`` plus products ``s·θ``
    (|s| > 1) that multi-spike neurons needed.

    Sizing contract: ``len(cur) >= len(v)``, ``len(bias) >= len(v)`` when used, and
    ``len(out_idx), len(out_val) >= len(v)``: each neuron emits at most one entry per call (a
    multi-spike is one entry of value s). Checked per call.
    """
    _check_update(v, cur, bias, has_bias, out_idx, out_val)
    th = params[0]
    lam = params[1]
    vmin = params[2]
    zero = params[3]
    decay_one = flags[0] != 0
    reset_sub = flags[1] != 0
    has_vmin = flags[2] != 0
    multi = flags[3] != 0
    n = 0
    npos = 0
    nneg = 0
    mults = 0
    for i in range(v.size):
        c = cur[i]
        if has_bias:
            c = c + bias[i]
        cur[i] = 0
        if kind == _POP_READOUT:
            v[i] = v[i] + c
            continue
        x = v[i] + c if decay_one else lam * v[i] + c
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
                s = np.int64(np.floor(x / th))
                mults += 1
            else:
                s = 1
        if s != 0:
            if reset_sub:
                if s == 1:
                    x = x - th
                elif s == -1:
                    x = x + th
                else:
                    params[4] = s  # the spike value in the membrane's precision
                    x = x - params[4] * th
                    mults += 1
            else:
                x = zero
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
    return n, mults


@kernel
def pool_spikes(idx, val, n, pgeom, out_idx, out_val):
    """Map a spike list through the sum-pool ``pgeom`` (``plan.pool_geometry``); returns its length.

    The source is a channels-last ``(H, W, C)`` map, the result a spike list of the pooled
    ``(Hp, Wp, C)`` map: every spike at pixel p becomes one spike of the same value in each
    in-bounds pooled cell whose window contains p (a pre-pooled conv then scatters it through
    its kernel, counting one SOP per spike, pooled cell and tap, as the reference does).

    Sizing contract: one spike lands in at most ``ceil(kh/sh)·ceil(kw/sw)`` pooled cells, so the
    caller sizes ``out_*`` for ``n`` times that (checked per call); indices in ``[0, C·H·W)``
    (checked per spike).
    """
    c, w = pgeom[0], pgeom[2]
    hp, wp, kh, kw = pgeom[3], pgeom[4], pgeom[5], pgeom[6]
    sh, sw, ph, pw = pgeom[7], pgeom[8], pgeom[9], pgeom[10]
    _check_list(idx, val, n)
    fan = ((kh + sh - 1) // sh) * ((kw + sw - 1) // sw)
    if out_idx.size < n * fan or out_val.size < n * fan:
        raise ValueError("pool_spikes: output smaller than n times the pool's fan-out")
    n_src = c * pgeom[1] * w
    m = 0
    for e in range(n):
        i = idx[e]
        if i < 0 or i >= n_src:
            raise IndexError("pool_spikes: spike index outside the source population")
        pix = i // c
        ci = i - pix * c
        y = pix // w
        x = pix - y * w
        # pooled row oy covers y when oy·sh − ph <= y <= oy·sh − ph + kh − 1 (floor division)
        oy_lo = max(0, (y + ph - kh + sh) // sh)
        oy_hi = min(hp - 1, (y + ph) // sh)
        ox_lo = max(0, (x + pw - kw + sw) // sw)
        ox_hi = min(wp - 1, (x + pw) // sw)
        for oy in range(oy_lo, oy_hi + 1):
            for ox in range(ox_lo, ox_hi + 1):
                out_idx[m] = (oy * wp + ox) * c + ci
                out_val[m] = val[e]
                m += 1
    return m


@kernel
def update_cuba(v, syn, cur, bias, has_bias, params, reset_sub, out_idx, out_val, counts):
    """Integrate, fire and reset one ``cuba_lif`` population (``reference.cuba_step``).

    ``params = [θ, λ, α, 0]`` in the population's precision; ``syn`` the synaptic currents. Per
    neuron: ``fired = v > θ`` (``v`` is kept un-reset, so this is last step's spike);
    ``syn = α·syn + cur + bias``; ``v = λ·v + syn``; where ``fired``: ``v −= θ`` (subtract) or
    ``v = 0``; spike where ``v > θ``. Returns ``(n_spikes, 0)``; clears ``cur``. Sizing contract:
    as ``update_neurons``, and ``len(syn) >= len(v)`` (checked).
    """
    _check_update(v, cur, bias, has_bias, out_idx, out_val)
    if syn.size < v.size:
        raise ValueError("update_cuba: synaptic currents shorter than the membranes")
    th = params[0]
    lam = params[1]
    alpha = params[2]
    zero = params[3]
    n = 0
    for i in range(v.size):
        c = cur[i] + bias[i] if has_bias else cur[i]
        cur[i] = zero
        fired = v[i] > th
        s = alpha * syn[i] + c
        syn[i] = s
        x = lam * v[i] + s
        if fired:
            x = x - th if reset_sub else zero
        v[i] = x
        if x > th:
            out_idx[n] = i
            out_val[n] = 1
            n += 1
    counts[0] += n
    return n, 0
