"""Bursty input against the oracles: more events in one step than the input has neurons.

A fast sensor, ``--downscale sum`` or a short recording binned into few steps put many events on
one pixel in one step. Every buffer of the engine must be sized by what arrives, not by the
population (issue: a cache-blocking scratch sized by the source wrote out of bounds). These
tests drive both engines with such steps — up to 10x more events than input neurons on a few
pixels, empty steps, a single event, T = 1 — on random networks, wide convs, and pre-pooled
convs, on one and on two threads. float64 must equal the reference exactly, the
int engine the integer reference bit for bit. CI also runs this file with NUMBA_BOUNDSCHECK=1.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.engine import kernels, kernels_steps
from eventsim.engine.quantize import quantize
from eventsim.engine.reference import forward
from eventsim.engine.reference_int import forward_int
from eventsim.engine.simulator import Simulator
from eventsim.events.binning import BinnedEvents, bin_events
from eventsim.events.io import read_events
from eventsim.jit import max_threads
from eventsim.network.ir import InputSpec, Network, Population, Projection
from tests.engine.test_kernels_int import assert_bit_exact
from tests.engine.test_simulator import assert_same_as_reference
from tests.randnet import random_network


def bursty_counts(net: Network, seed: int, steps: int):
    """Per-step (pos, neg) counts: each step empty, one event, sparse, or a burst of up to 10x the
    input's neurons piled on at most three pixels."""
    rng = np.random.default_rng(seed)
    shape = (steps,) + tuple(net.input_shape)
    pos = np.zeros(shape, np.int64)
    neg = np.zeros(shape, np.int64)
    size = int(np.prod(net.input_shape))
    signed = net.input.polarity == "signed"
    for t in range(steps):
        mode = rng.choice(["empty", "one", "sparse", "burst", "burst"])
        flat_p, flat_n = pos[t].reshape(-1), neg[t].reshape(-1)
        if mode == "one":
            (flat_n if signed and rng.random() < 0.5 else flat_p)[rng.integers(size)] += 1
        elif mode == "sparse":
            flat_p += rng.poisson(0.3, size)
            if signed:
                flat_n += rng.poisson(0.3, size)
        elif mode == "burst":
            total = int(rng.integers(size, 10 * size + 1))
            pixels = rng.choice(size, size=min(size, int(rng.integers(1, 4))), replace=False)
            split = rng.multinomial(total, np.ones(pixels.size) / pixels.size)
            for px, k in zip(pixels, split):
                if signed and rng.random() < 0.5:
                    flat_n[px] += k
                else:
                    flat_p[px] += k
    return pos, neg


def unit_events(net: Network, pos, neg, seed: int) -> BinnedEvents:
    """The counts as the binning delivers events: one ±1 entry per event, repeats kept, shuffled
    within each step (a count of n at a pixel is n entries, not one entry of value n)."""
    rng = np.random.default_rng(seed)
    ptr, index, sign = [0], [], []
    for t in range(len(pos)):
        idx = np.concatenate([np.repeat(np.arange(pos[t].size), pos[t].ravel()),
                              np.repeat(np.arange(neg[t].size), neg[t].ravel())])
        sgn = np.concatenate([np.ones(int(pos[t].sum()), np.int8), -np.ones(int(neg[t].sum()), np.int8)])
        order = rng.permutation(idx.size)
        index.append(idx[order])
        sign.append(sgn[order])
        ptr.append(ptr[-1] + idx.size)
    return BinnedEvents(len(pos), tuple(net.input_shape), np.array(ptr, np.int64),
                        np.concatenate(index).astype(np.int64), np.concatenate(sign))


def assert_int_events_bit_exact(net: Network, pos, neg, seed: int, events: BinnedEvents | None = None):
    """The int engine on unit events (``events``, default: made from the counts) equals the
    integer reference on the same counts."""
    want = forward_int(quantize(net), pos, neg)
    events = unit_events(net, pos, neg, seed) if events is None else events
    got = Simulator(net, precision="int").run_binned(events, record=True)
    for name in want.sops:
        np.testing.assert_array_equal(got.sops[name], want.sops[name], err_msg=name)
    for name in want.spike_counts:
        np.testing.assert_array_equal(got.spike_counts[name], want.spike_counts[name], err_msg=name)
    for name, spikes in want.spikes.items():
        np.testing.assert_array_equal(got.spikes[name], spikes, err_msg=name)
    np.testing.assert_array_equal(got.output, want.output_float)


def wide_network(seed: int, channels: int = 64, size: int = 24, timesteps: int = 2) -> Network:
    """input -> conv(channels) -> conv(channels) -> dense: wide layers, as in a CIFAR10-DVS ResNet."""
    rng = np.random.default_rng(seed)
    h = w = size
    w1 = rng.integers(-6, 7, (channels, 2, 3, 3)) / 8.0
    w2 = rng.integers(-6, 7, (channels, channels, 3, 3)) / 8.0
    w3 = rng.integers(-6, 7, (4, channels * h * w)) / 8.0
    pops = [Population("input", "input", (2, h, w)),
            Population("a", "ternary_lif", (channels, h, w), threshold=0.5, decay=0.25),
            Population("b", "ternary_lif", (channels, h, w), threshold=0.5, decay=0.25),
            Population("out", "readout", (4,))]
    projs = [Projection("c1", "conv2d", "input", "a", weight=w1, padding=1),
             Projection("c2", "conv2d", "a", "b", weight=w2, padding=1),
             Projection("fc", "dense", "b", "out", weight=w3)]
    return Network(f"wide{seed}", pops, projs, [p.name for p in pops], timesteps=timesteps,
                   input=InputSpec(kind="events", polarity="split", sensor=(w, h)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 4), st.integers(1, 4), st.sampled_from([1, 2]),
       st.booleans())
def test_float64_bursts_identical_to_reference(seed, depth, steps, threads, pre_pool):
    net = random_network(seed, depth=depth, pre_pool=pre_pool)
    pos, neg = bursty_counts(net, seed, steps)
    sim = Simulator(net, "float64", threads=min(threads, max_threads()))
    ref = forward(net, pos, neg)
    result = sim.run_binned(unit_events(net, pos, neg, seed), record=True)
    assert_same_as_reference(net, result, ref)
    assert result.spike_counts["input"].sum() == pos.sum() + neg.sum()
    assert_same_as_reference(net, sim.run_counts(pos, neg, record=True), ref)  # counts > 1 per entry


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_int_bursts_bit_exact(seed, depth, steps, pre_pool):
    net = random_network(seed, depth=depth, pre_pool=pre_pool)
    pos, neg = bursty_counts(net, seed, steps)
    assert_int_events_bit_exact(net, pos, neg, seed)
    assert_bit_exact(net, pos, neg)


@pytest.mark.parametrize("seed", range(3))
def test_wide_conv_bursts(seed):
    net = wide_network(seed)
    sim = Simulator(net, "float64")
    pos, neg = bursty_counts(net, seed + 11, 3)
    pos[0, 0, 3, 4] += 3 * int(np.prod(net.input_shape))  # one step far beyond the input's size
    ref = forward(net, pos, neg)
    events = unit_events(net, pos, neg, seed)
    assert_same_as_reference(net, sim.run_binned(events, record=True), ref)
    # the same simulator again: the grown buffers are reused, results unchanged
    assert_same_as_reference(net, sim.run_binned(events, record=True), ref)
    assert_int_events_bit_exact(net, pos, neg, seed)


def test_one_event_and_one_step():
    net = random_network(3, depth=3, pre_pool=True)
    pos = np.zeros((1,) + tuple(net.input_shape), np.int64)
    pos[0, 0, 0, 0] = 1
    neg = np.zeros_like(pos)
    assert_same_as_reference(net, Simulator(net, "float64").run_binned(
        unit_events(net, pos, neg, 0), record=True), forward(net, pos, neg))


# The kernels refuse what their sizing contract does not allow, instead of writing out of bounds.

def _conv_args():
    net = wide_network(0, channels=8)
    q = Simulator(net, "float64").plan.projections[0]
    return q, np.zeros(8 * 24 * 24), np.zeros(2, np.int64)


def test_scatter_conv_refuses_an_index_outside_the_source():
    q, cur, sops = _conv_args()
    idx, val = np.array([2 * 24 * 24], np.int64), np.ones(1, np.int64)
    with pytest.raises(IndexError):
        kernels.scatter_conv(idx, val, 1, q.geom, q.weight.ravel(), cur, sops)
    with pytest.raises(ValueError):
        kernels.scatter_conv(idx[:0], val[:0], 1, q.geom, q.weight.ravel(), cur, sops)
    with pytest.raises(ValueError):
        kernels.scatter_conv(idx[:0], val[:0], 0, q.geom, q.weight.ravel(), cur[:-1], sops)


def test_step_kernels_refuse_bad_trains_before_any_thread_starts():
    q, _, _ = _conv_args()
    cur, sops = np.zeros((2, 8 * 24 * 24)), np.zeros((2, 2), np.int64)
    wt = q.weight.ravel()
    idx, val = np.zeros(4, np.int64), np.ones(4, np.int64)
    for ptr in ([0, 3, 2], [0, 2, 5], [-1, 0, 1]):  # decreasing, beyond the list, negative
        with pytest.raises(ValueError):
            kernels_steps.scatter_conv_steps(np.array(ptr, np.int64), idx, val, q.geom, wt, cur, sops)
    bad = np.array([0, 2 * 24 * 24], np.int64)  # the second spike lies outside the source
    with pytest.raises(IndexError):
        kernels_steps.scatter_conv_steps(np.array([0, 1, 2], np.int64), bad, val, q.geom, wt, cur, sops)
    with pytest.raises(ValueError):  # three steps, two current rows
        kernels_steps.scatter_conv_steps(np.array([0, 1, 2, 3], np.int64), idx, val, q.geom, wt, cur, sops)
    with pytest.raises(ValueError):  # current rows shorter than the target
        kernels_steps.scatter_conv_steps(np.array([0, 1, 2], np.int64), idx, val, q.geom, wt, cur[:, :-1],
                                         sops)


def test_update_and_gather_refuse_inconsistent_blocks():
    v, cur, bias = np.zeros(6), np.zeros((2, 6)), np.zeros(6)
    params, flags = np.array([0.5, 1.0, 0.0, 0.0, 0.0]), np.zeros(4, np.int64)
    sidx, sval = np.zeros((2, 6), np.int64), np.zeros((2, 6), np.int64)
    nout, counts, mults = np.zeros((2, 2), np.int64), np.zeros((2, 2, 2), np.int64), np.zeros(2, np.int64)
    for bounds in ([0, 3, 5], [0, 4, 3, 6], [1, 6]):  # not covering, out of order, not from 0
        with pytest.raises(ValueError):
            kernels_steps.update_float_steps(v, cur, bias, False, 1, params, flags, False,
                                             np.array(bounds, np.int64), 2, sidx, sval, nout, counts, mults)
    with pytest.raises(ValueError):  # three steps asked, two rows of currents
        kernels_steps.update_float_steps(v, cur, bias, False, 1, params, flags, False,
                                         np.array([0, 3, 6], np.int64), 3, sidx, sval, nout, counts, mults)
    bounds = np.array([0, 3, 6], np.int64)
    out = np.zeros(6, np.int64)
    nout[:] = [[4, 0], [0, 0]]  # block 0 has 3 neurons: 4 spikes are impossible
    with pytest.raises(ValueError):
        kernels_steps.gather_spikes(bounds, nout, sidx, sval, np.array([0, 4, 4], np.int64), out, out)
    nout[:] = [[1, 0], [1, 0]]  # offsets that do not match the counts
    with pytest.raises(ValueError):
        kernels_steps.gather_spikes(bounds, nout, sidx, sval, np.array([0, 1, 2], np.int64), out, out)
    with pytest.raises(ValueError):  # output shorter than the train
        kernels_steps.gather_spikes(bounds, nout, sidx, sval, np.array([0, 2, 2], np.int64), out[:1], out[:1])


def test_update_and_pool_refuse_short_outputs():
    v, cur = np.zeros(5), np.zeros(5)
    params = np.zeros(5)
    flags = np.zeros(4, np.int64)
    short = np.zeros(4, np.int64)
    with pytest.raises(ValueError):
        kernels.update_neurons(v, cur, cur, False, 1, params, flags, short, short, np.zeros(2, np.int64))
    pgeom = np.array([1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0], np.int64)
    idx, val = np.zeros(3, np.int64), np.ones(3, np.int64)
    with pytest.raises(ValueError):
        kernels.pool_spikes(idx, val, 3, pgeom, short[:2], short[:2])
    with pytest.raises(IndexError):
        kernels.pool_spikes(np.array([16]), np.ones(1, np.int64), 1, pgeom, short, short)



RECORDINGS = ["aedat4/tonic_sample.aedat4", "aedat4/dvSave-2024_06_20_16_13_00.aedat4",
              "aedat2/neal_walking.aedat", "aedat2/IMU_translBoxes.aedat",
              "prophesee/faery_evt2.raw", "prophesee/expelliarmus_evt3_sample.raw"]


@pytest.mark.parametrize("name", RECORDINGS)
def test_high_rate_recordings_downscaled_by_sum(shared_data, name):
    # The README's CIFAR10-DVS setting: 2x48x48 input, --downscale sum, T = 10. Each of these
    # recordings puts more events into some step than the input has neurons.
    events, sensor = read_events(str(shared_data / name))
    net = wide_network(5, channels=32, size=48, timesteps=10)
    binned = bin_events(events, sensor, net.input_shape, "split", 10, downscale="sum")
    assert np.diff(binned.ptr).max() > int(np.prod(net.input_shape))
    pos, neg = binned.dense()
    sim = Simulator(net, "float64")
    assert_same_as_reference(net, sim.run_binned(binned, record=True), forward(net, pos, neg))
    Simulator(net, "float32").run_binned(binned)
    assert_int_events_bit_exact(net, pos, neg, 0, events=binned)
