"""Recurrent networks (delayed projections, cycles, cuba_lif) in the engine against the oracles.

float64 must reproduce the time-major reference exactly (spikes, counts, SOPs per projection,
step and sign, MACs; outputs within 1e-9), whatever the thread count; the int engine must match
the integer reference bit for bit (spikes, SOPs, saturations, final membranes).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.engine.quantize import quantize
from eventsim.engine.reference import forward
from eventsim.engine.reference_int import forward_int
from eventsim.engine.simulator import Simulator, decay_multiplications
from eventsim.errors import ModelFormatError
from eventsim.jit import max_threads
from eventsim.network.ir import InputSpec, Network, Population, Projection
from tests.engine.test_simulator import assert_same_as_reference
from tests.randnet import random_inputs, random_network


def _run(sim, net, pos, neg):
    return sim.run(pos, record=True) if net.input.kind == "frames" else sim.run_counts(pos, neg, record=True)


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 10**6), st.booleans(), st.integers(1, 4), st.integers(1, 12), st.sampled_from([1, 2]))
def test_recurrent_float64_identical_to_reference(seed, frames, depth, steps, threads):
    net = random_network(seed, depth=depth, frames=frames, recurrent=True)
    pos, neg = random_inputs(net, seed, steps=steps)
    ref = forward(net, pos, neg)
    result = _run(Simulator(net, "float64", threads=min(threads, max_threads())), net, pos, neg)
    assert_same_as_reference(net, result, ref)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**6), st.booleans(), st.integers(1, 10))
def test_recurrent_int_bit_exact_with_integer_reference(seed, frames, steps):
    net = random_network(seed, frames=frames, recurrent=True)
    pos, neg = random_inputs(net, seed, steps=steps)
    want = forward_int(quantize(net), pos, neg)
    sim = Simulator(net, "int", threads=min(2, max_threads()))
    got = _run(sim, net, pos, neg)
    assert np.array_equal(got.output, want.output_float)
    for name in want.spikes:
        if name != "input" or not frames:
            assert np.array_equal(got.spikes[name], want.spikes[name]), name
    for name in want.sops:
        assert np.array_equal(got.sops[name], want.sops[name]), name
    for name, sat in want.saturations.items():
        assert np.array_equal(got.saturations[name], sat), name
    membranes = sim.membranes()
    for name, v in want.membranes.items():
        assert np.array_equal(membranes[name], v), name


def test_random_recurrent_nets_have_cycles_and_cuba():
    """The generator really produces what the tests above claim to cover."""
    nets = [random_network(s, recurrent=True) for s in range(60)]
    assert sum(bool(n.recurrent_groups()) for n in nets) > 20
    assert sum(any(p.kind == "cuba_lif" for p in n.populations) for n in nets) > 20
    assert sum(any(q.delay > 1 for q in n.projections) for n in nets) > 10
    # recurrent=False keeps the feed-forward networks of every seed
    assert all(not random_network(s).recurrent for s in range(60))


def _loop_net(reset: str, alpha: float = 0.5, beta: float = 0.75, delay: int = 1) -> Network:
    pops = [Population("input", "input", (1, 1, 2)),
            Population("h", "cuba_lif", (2,), threshold=1.0, decay=beta, syn_decay=alpha, reset=reset),
            Population("out", "readout", (2,))]
    projs = [Projection("in", "dense", "input", "h", weight=np.array([[1.0, 0.0], [0.0, 0.5]])),
             Projection("rec", "dense", "h", "h", weight=np.array([[0.0, -2.0], [1.5, 0.0]]), delay=delay),
             Projection("o", "identity", "h", "out")]
    return Network("loop", pops, projs, ["input", "h", "out"], timesteps=6,
                   input=InputSpec("events", "signed"))


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_cuba_lif_by_hand(reset):
    """Two neurons, a delayed cross connection; every value derived on paper (α = 0.5, λ = 0.75)."""
    net = _loop_net(reset)
    pos = np.zeros((4, 1, 1, 2))
    pos[0, 0, 0, 0] = 2  # neuron 0 gets 2, once
    ref = forward(net, pos)
    # step 0: i0 = 2, v0 = 2 > 1: spike. step 1: i0 = 1, v0 = 0.75·2 + 1 = 2.5, reset of step 0's
    # spike: zero -> 0 (no spike), subtract -> 1.5 (spike); neuron 1 gets 1.5 (rec, delayed):
    # i1 = 1.5, v1 = 1.5 > 1: spike.
    assert ref.spikes["h"][0].tolist() == [1, 0]
    assert ref.spikes["h"][1].tolist() == ([0, 1] if reset == "zero" else [1, 1])
    got = Simulator(net, "float64").run_counts(pos, record=True)
    assert np.array_equal(got.spikes["h"], ref.spikes["h"])
    # the recurrent projection's SOPs: one spike of step t arrives at t + 1 on 2 synapses
    assert got.sops["rec"][0].tolist() == [0, 0] and got.sops["rec"][1].tolist() == [2, 0]


def test_state_updates_are_counted_as_multiplications_not_sops():
    net = _loop_net("zero", alpha=0.55, beta=0.9)
    # per step: λ·v and α·i, one each per neuron (neither is a power of two)
    assert decay_multiplications(net) == 2 * 2
    assert decay_multiplications(_loop_net("zero", alpha=0.5, beta=0.25)) == 0
    res = Simulator(net, "float64").run_counts(np.ones((5, 1, 1, 2)))
    assert res.multiplications == 4 * 5


def test_zero_delay_cycle_is_refused_naming_it():
    with pytest.raises(ModelFormatError, match=r"without a delay \(\['rec'\]\)"):
        _loop_net("zero", delay=0)


def test_threads_do_not_change_recurrent_results():
    net = random_network(11, depth=3, recurrent=True)
    pos, neg = random_inputs(net, 11, steps=9)
    a = Simulator(net, "float32", threads=1).run_counts(pos, neg, record=True)
    b = Simulator(net, "float32", threads=max_threads()).run_counts(pos, neg, record=True)
    assert np.array_equal(a.output, b.output)
    for name in a.spikes:
        assert np.array_equal(a.spikes[name], b.spikes[name])


def test_stretches_that_keep_state_refuse_delays():
    """Streamed stretches would drop the spikes a delayed projection owes at a stretch's end."""
    from eventsim.errors import ConfigError
    from eventsim.events.binning import bin_events
    from eventsim.events.dtype import make_events

    net = _loop_net("zero")
    binned = bin_events(make_events([0, 5], [0, 1], [0, 0], [1, 0]), (2, 1), net.input_shape, "signed", 2)
    Simulator(net).run_binned(binned)
    with pytest.raises(ConfigError, match="delayed"):
        Simulator(net).run_binned(binned, keep_state=True)
