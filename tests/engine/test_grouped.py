"""The grouped paths of the kernels against one-spike-at-a-time definitions, bit for bit.

``scatter_conv`` adds the ±1 spikes of one source pixel to a target row in one pass; every current
element must still receive its additions in spike-list order, so the result must equal, in every
precision, the plain sequential loop below (a spike, then its taps, one float addition per
element) -- exactly, not within a tolerance. The spike lists have long runs at one pixel, with
values other than ±1 (counts, bursts) inside the runs. ``_compact_marks`` and the ternary updates
are checked on populations of every size modulo 8 and on all-spiking steps. The networks then run
whole: float64 against the reference, float32 on 1 and 2 threads, int against the int reference.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim import jit
from eventsim.engine import kernels
from eventsim.engine.plan import compile_plan
from eventsim.engine.reference import forward
from eventsim.engine.simulator import Simulator
from eventsim.network.ir import InputSpec, Network, Population, Projection, conv_output_size
from tests.engine.test_kernels_int import _chain, assert_bit_exact
from tests.engine.test_simulator import assert_same_as_reference
from tests.engine.test_threads import _assert_identical


def runs_at_pixels(rng, cin, h, w, values):
    """A channels-last spike list of runs: each run is several spikes at one pixel (channels
    ascending, repeats allowed), the values drawn from ``values``; consecutive runs may share a
    pixel."""
    idx, val = [], []
    for _ in range(int(rng.integers(1, 12))):
        pix = int(rng.integers(h * w))
        chans = np.sort(rng.integers(0, cin, int(rng.integers(1, 2 * cin + 3))))
        idx += [pix * cin + int(c) for c in chans]
        val += [int(v) for v in rng.choice(values, chans.size)]
    return np.array(idx, np.int64), np.array(val, np.int64)


def sequential_conv(idx, val, weight, geom, cur):
    """One spike at a time, one addition (or subtraction) per unit of spike value and element,
    in ``cur``'s dtype: the order the grouped kernel must reproduce. Returns the (+, −) SOPs."""
    cin, h, w, cout, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, cin_g, cout_g = (int(g) for g in geom)
    sops = [0, 0]
    for i, s in zip(idx, val):
        pix, ci = divmod(int(i), cin)
        y, x = divmod(pix, w)
        g = ci // cin_g
        for ky in range(kh):
            for kx in range(kw):
                ny, nx = y + ph - ky * dh, x + pw - kx * dw
                if ny % sh or nx % sw or not (0 <= ny // sh < ho and 0 <= nx // sw < wo):
                    continue
                t = ((ny // sh) * wo + nx // sw) * cout + g * cout_g
                row = weight[g * cout_g:(g + 1) * cout_g, ci - g * cin_g, ky, kx].astype(cur.dtype)
                for _ in range(abs(int(s))):
                    if s > 0:
                        cur[t:t + cout_g] += row
                    else:
                        cur[t:t + cout_g] -= row
                sops[0 if s > 0 else 1] += abs(int(s)) * cout_g
    return sops


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["float32", "float64", "int32", "int64"]),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2), st.integers(1, 2),
       st.sampled_from([1, 2, "depthwise"]), st.booleans())
def test_scatter_conv_equals_one_spike_at_a_time(seed, dtype, kh, kw, stride, pad, dil, groups, counts):
    rng = np.random.default_rng(seed)
    cin = int(rng.integers(1, 20)) if groups == 1 else 2 * int(rng.integers(1, 6))
    g = cin if groups == "depthwise" else groups
    cout = g * int(rng.integers(1, 5))
    h, w = int(rng.integers(2, 8)), int(rng.integers(2, 8))
    ho, wo = (conv_output_size(n, k, stride, pad, dil) for n, k in ((h, kh), (w, kw)))
    if ho < 1 or wo < 1:
        return
    if dtype.startswith("int"):
        weight = rng.integers(-2000, 2001, (cout, cin // g, kh, kw)).astype(np.int16)
    else:
        weight = rng.normal(size=(cout, cin // g, kh, kw)).astype(dtype)
    proj = Projection("c", "conv2d", "input", "t", weight=weight.astype(np.float64), stride=stride,
                      padding=pad, dilation=dil, groups=g)
    pops = [Population("input", "input", (cin, h, w)), Population("t", "readout", (cout, ho, wo))]
    net = Network("k", pops, [proj], ["input", "t"], input=InputSpec(kind="frames"))
    q = compile_plan(net, "float64").projections[0]
    wt = q.weight.ravel().astype(weight.dtype)  # the plan's layout, the exact values of ``weight``
    idx, val = runs_at_pixels(rng, cin, h, w, [1, -1, 1, -1, 2, -3] if counts else [1, -1])
    cur = np.zeros(ho * wo * cout, dtype)
    cur[:] = rng.normal(size=cur.size) if dtype.startswith("float") else rng.integers(-9, 9, cur.size)
    want = cur.copy()
    sops = np.zeros(2, np.int64)
    kernels.scatter_conv(idx, val, idx.size, q.geom, wt, cur, sops)
    assert sops.tolist() == sequential_conv(idx, val, weight, q.geom, want)
    assert np.array_equal(cur.view(np.uint8), want.view(np.uint8))  # bits, so −0 and +0 differ


def test_a_short_group_keeps_negative_zero():
    """A group smaller than the widest pass subtracts +0 stand-in rows: −0 must stay −0 (adding +0
    would turn it into +0)."""
    proj = Projection("c", "conv2d", "input", "t", weight=np.zeros((1, 2, 1, 1)))
    net = Network("k", [Population("input", "input", (2, 1, 1)), Population("t", "readout", (1, 1, 1))],
                  [proj], ["input", "t"], input=InputSpec(kind="frames"))
    q = compile_plan(net, "float32").projections[0]
    for dtype in (np.float32, np.float64):
        cur = np.array([-0.0], dtype)
        sops = np.zeros(2, np.int64)
        kernels.scatter_conv(np.array([0, 1]), np.array([-1, -1]), 2, q.geom, np.zeros(2, dtype), cur, sops)
        assert cur[0] == 0 and np.signbit(cur[0]) and sops.tolist() == [0, 2]


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65])
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 1.0])
def test_compact_marks_on_every_size(n, density):
    rng = np.random.default_rng(n)
    marks = np.zeros(-(-n // 8) * 8, np.int8)
    marks[:n] = np.where(rng.random(n) < density, rng.choice([-1, 1], n), 0)
    out_idx = np.full(n, -7, np.int64)  # exactly n entries: an all-spiking step fills them all
    out_val = np.full(n, -7, np.int64)
    counts = np.zeros(2, np.int64)
    m = kernels._compact_marks(marks, n, out_idx, out_val, counts)
    want = np.flatnonzero(marks[:n])
    assert m == want.size and out_idx[:m].tolist() == want.tolist()
    assert out_val[:m].tolist() == marks[want].tolist()
    assert counts.tolist() == [int((marks > 0).sum()), int((marks < 0).sum())]
    with pytest.raises(ValueError):  # not whole words
        size = n + 1 if (n + 1) % 8 else n + 2
        kernels._compact_marks(np.zeros(size, np.int8), n, out_idx, out_val, counts)
    with pytest.raises(ValueError):  # shorter than the population
        kernels._compact_marks(np.zeros(n // 8 * 8, np.int8), n + 1, out_idx, out_val, counts)


def channel_heavy_network(seed: int, quantised: bool) -> Network:
    """input -> wide 3x3 conv -> {3x3 conv, strided 1x1 conv, grouped conv} -> dense: many channels per
    pixel, so that spike lists carry long same-pixel runs through every conv path."""
    rng = np.random.default_rng(seed)
    c, h, w = int(rng.integers(12, 40)), int(rng.integers(3, 7)), int(rng.integers(3, 7))

    def weights(shape):
        return rng.integers(-6, 7, shape) / 8.0 if quantised else rng.normal(0, 0.5, shape)

    def lif(name, shape):
        return Population(name, "ternary_lif", shape, threshold=float(rng.choice([0.5, 1.0, 2.0, 4.0])),
                          decay=float(rng.choice([0.25, 0.5, 1.0])))
    h2, w2 = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    pops = [Population("input", "input", (2, h, w)), lif("a", (c, h, w)), lif("b", (c, h, w)),
            lif("s", (c, h2, w2)), lif("g", (c, h, w)), Population("out", "readout", (3,))]
    projs = [Projection("in", "conv2d", "input", "a", weight=weights((c, 2, 3, 3)), padding=1),
             Projection("ab", "conv2d", "a", "b", weight=weights((c, c, 3, 3)), padding=1),
             Projection("as", "conv2d", "a", "s", weight=weights((c, c, 1, 1)), stride=2),
             Projection("bg", "conv2d", "b", "g", weight=weights((c, c // 2, 3, 3)), padding=2, dilation=2,
                        groups=2) if c % 2 == 0 else
             Projection("bg", "conv2d", "b", "g", weight=weights((c, c, 3, 3)), padding=2, dilation=2),
             Projection("gs", "dense", "g", "out", weight=weights((3, c * h * w))),
             Projection("ss", "dense", "s", "out", weight=weights((3, c * h2 * w2)))]
    return Network(f"heavy{seed}", pops, projs, [p.name for p in pops], timesteps=3,
                   input=InputSpec(kind="events", polarity="split", sensor=(w, h)))


def heavy_inputs(net: Network, seed: int):
    """Dense input counts (split polarity: ``neg`` empty), with a burst at one pixel."""
    rng = np.random.default_rng(seed + 1)
    shape = (net.timesteps,) + tuple(net.input_shape)
    pos = rng.poisson(rng.choice([0.3, 1.0]), shape)
    pos[0, :, 0, 0] += 5
    return pos, np.zeros(shape, np.int64)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_channel_heavy_networks_float64_and_int(seed):
    net = channel_heavy_network(seed, quantised=True)
    pos, neg = heavy_inputs(net, seed)
    ref = forward(net, pos, neg)
    for threads in sorted({1, min(2, jit.max_threads())}):
        result = Simulator(net, "float64", threads=threads).run_counts(pos, neg, record=True)
        assert_same_as_reference(net, result, ref)
        assert np.array_equal(result.output, ref.output)  # exact weight sums: the same bits
    assert_bit_exact(net, pos, neg)
    assert_bit_exact(net, pos, neg, threads=min(2, jit.max_threads()))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_channel_heavy_networks_float32_same_on_any_thread_count(seed):
    net = channel_heavy_network(seed, quantised=False)
    pos, neg = heavy_inputs(net, seed)
    runs = [Simulator(net, "float32", threads=t).run_counts(pos, neg, record=True)
            for t in sorted({1, min(2, jit.max_threads()), jit.max_threads()})]
    for other in runs[1:]:
        _assert_identical(runs[0], other)
    assert sum(int(runs[0].spike_counts[p].sum()) for p in ("a", "b")) > 0


@pytest.mark.parametrize("count", [300_000, 100_000, 60_000])
def test_int_ternary_update_with_currents_near_the_int32_limit(count):
    """A halving decay with currents of just under 2**30 (the int32 update's limit), above it, and
    past 2**31: the int32 update must be used only where no sum can overflow; the others run (and
    saturate) in int64, as the reference does."""
    net = _chain(kind="ternary_lif", w=1.0, threshold=1.0, decay=0.5, reset="subtract")
    pos = np.zeros((3, 1, 1, 2), np.int64)
    pos[:2, 0, 0, 0] = count  # count · 2**14 from 1e9 to 5e9
    neg = np.zeros_like(pos)
    neg[1, 0, 0, 1] = count
    got, want = assert_bit_exact(net, pos, neg)
    assert got.saturations["n"].sum() > 0 or count < 300_000
