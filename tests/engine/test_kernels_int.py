"""The integer engine (precision="int") against the integer reference: bit for bit."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsim.engine.quantize import quantize
from eventsim.engine.reference_int import forward_int
from eventsim.engine.simulator import Simulator
from eventsim.network.ir import InputSpec, Network, Population, Projection
from tests.randnet import random_inputs, random_network


def assert_bit_exact(net, pos, neg=None, threads=None):
    sim = Simulator(net, precision="int", threads=threads)
    frames = net.input.kind == "frames"
    q = quantize(net)
    want = forward_int(q, pos, neg)
    got = sim.run_frames(pos, record=True) if frames else sim.run_counts(pos, neg, record=True)
    for name, spikes in want.spikes.items():
        if not (frames and name == "input"):
            np.testing.assert_array_equal(got.spikes[name], spikes, err_msg=name)
    for name in want.sops:
        np.testing.assert_array_equal(got.sops[name], want.sops[name], err_msg=name)
        np.testing.assert_array_equal(got.macs[name], want.macs[name], err_msg=name)
    for name in want.spike_counts:
        np.testing.assert_array_equal(got.spike_counts[name], want.spike_counts[name], err_msg=name)
    for name in want.saturations:
        np.testing.assert_array_equal(got.saturations[name], want.saturations[name], err_msg=name)
    np.testing.assert_array_equal(got.output, want.output_float)  # V * 2**-k: exact, so V equal
    assert got.prediction == want.prediction
    assert got.precision == "int"
    membranes = sim.membranes()  # hidden membranes too, after the run
    for name, v in want.membranes.items():
        np.testing.assert_array_equal(membranes[name], v, err_msg=name)
    return got, want


@pytest.mark.parametrize("seed", range(25))
def test_random_event_networks(seed):
    net = random_network(seed)
    pos, neg = random_inputs(net, seed)
    assert_bit_exact(net, pos, neg)


@pytest.mark.parametrize("seed", range(8))
def test_random_frame_networks(seed):
    net = random_network(100 + seed, frames=True)
    pos, _ = random_inputs(net, seed)
    assert_bit_exact(net, pos)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), depth=st.integers(1, 4), density=st.sampled_from([0.0, 0.1, 0.5, 2.0]),
       steps=st.integers(1, 6))
def test_hypothesis_networks_and_inputs(seed, depth, density, steps):
    net = random_network(seed, depth=depth)
    rng = np.random.default_rng(seed)
    shape = (steps,) + net.input_shape
    pos = rng.poisson(density, shape)
    neg = rng.poisson(density, shape) if net.input.polarity == "signed" else np.zeros(shape, np.int64)
    assert_bit_exact(net, pos, neg)


def _chain(kind="ternary_lif", w=1.0, **pop):
    pops = [Population("input", "input", (1, 1, 2)), Population("n", kind, (2,), **pop),
            Population("out", "readout", (2,))]
    projs = [Projection("a", "dense", "input", "n", weight=np.array([[w, 0.0], [0.0, -w]])),
             Projection("b", "dense", "n", "out", weight=np.eye(2))]
    return Network("chain", pops, projs, ["input", "n", "out"], input=InputSpec(polarity="signed"))


def test_saturation_is_counted_identically():
    net = _chain(kind="if", w=1.0, threshold=1.0, reset="subtract")
    pos = np.zeros((2, 1, 1, 2), np.int64)
    pos[0, 0, 0, 0] = 300_000  # 300000 * 2**14 > 2**31: clipped, once
    got, want = assert_bit_exact(net, pos)
    assert got.saturations["n"].tolist() == [1, 0]


def test_multispike_repeated_subtraction():
    net = _chain(kind="if", w=0.75, threshold=0.5, reset="subtract", multi_spike=True, v_min=-1.0)
    pos = np.array([[[[5, 0]]], [[[0, 3]]], [[[1, 1]]]])
    got, want = assert_bit_exact(net, pos)
    assert got.spikes["n"][0].tolist() == [7, 0]  # 3.75 / 0.5 -> 7 spikes, 0.25 left


def test_ties_and_negative_spikes():
    # membrane exactly on ±θ fires (ternary); binary needs strictly above
    for kind in ("ternary_lif", "binary_lif"):
        net = _chain(kind=kind, w=0.5, threshold=0.5, decay=0.25)
        pos = np.array([[[[1, 0]]], [[[0, 1]]], [[[1, 1]]]])
        neg = np.array([[[[0, 1]]], [[[1, 0]]], [[[0, 0]]]])
        got, _ = assert_bit_exact(net, pos, neg)
        if kind == "ternary_lif":
            assert got.spikes["n"][0].tolist() == [1, 1]


def test_no_events():
    net = random_network(3)
    pos = np.zeros((3,) + net.input_shape, np.int64)
    got, _ = assert_bit_exact(net, pos)
    assert sum(int(s.sum()) for s in got.sops.values()) == 0


def test_multiply_decay_counted():
    net = _chain(kind="lif", w=0.3, threshold=1.0, decay=0.9)
    got, _ = assert_bit_exact(net, np.ones((4, 1, 1, 2), np.int64))
    assert got.multiplications == 2 * 4  # two neurons, four steps, one multiply each
    net = _chain(kind="lif", w=0.3, threshold=1.0, decay=0.5)
    got, _ = assert_bit_exact(net, np.ones((4, 1, 1, 2), np.int64))
    assert got.multiplications == 0


def test_current_width_follows_the_bound(monkeypatch):
    """int32 currents when no step can overflow them, int64 for a burst that could: bit-exact both."""
    from eventsim.engine.workspace import Workspace

    seen = []
    real = Workspace.current
    monkeypatch.setattr(Workspace, "current", lambda self, dtype, steps: seen.append(np.dtype(dtype))
                        or real(self, dtype, steps))
    net = _chain(kind="if", w=1.0, threshold=1.0, reset="subtract")
    assert_bit_exact(net, np.ones((2, 1, 1, 2), np.int64))
    assert set(seen) == {np.dtype(np.int32)}
    seen.clear()
    pos = np.zeros((2, 1, 1, 2), np.int64)
    pos[0, 0, 0, 0] = 300_000  # 300000 units * 2**14 per unit exceed int32
    assert_bit_exact(net, pos)
    assert np.dtype(np.int64) in seen
