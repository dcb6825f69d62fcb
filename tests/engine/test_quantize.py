"""Fixed-point conversion (engine/quantize.py) and the integer reference (engine/reference_int.py)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.engine.quantize import (
    DECAY_MULTIPLY,
    DECAY_NONE,
    DECAY_SHIFT,
    DECAY_ZERO,
    MEMBRANE_MAX,
    WEIGHT_MAX,
    choose_frac_bits,
    decay_code,
    decay_int,
    quantize,
    quantize_frames,
    round_half_even,
)
from eventsim.engine.reference import forward
from eventsim.engine.reference_int import forward_int
from eventsim.network.ir import InputSpec, Network, Population, Projection
from eventsim.network.linear import apply_projection
from tests.randnet import random_inputs, random_network


def one_neuron_net(w=1.0, kind="ternary_lif", **pop):
    pops = [Population("input", "input", (1, 1, 1)), Population("n", kind, (1,), **pop),
            Population("out", "readout", (1,))]
    projs = [Projection("a", "dense", "input", "n", weight=np.array([[w]])),
             Projection("b", "dense", "n", "out", weight=np.array([[1.0]]))]
    return Network("one", pops, projs, ["input", "n", "out"], input=InputSpec(polarity="signed"))


def test_decay_codes():
    assert decay_code(1.0) == (DECAY_NONE, 0)
    assert decay_code(0.0) == (DECAY_ZERO, 0)
    assert decay_code(0.5) == (DECAY_SHIFT, 1)
    assert decay_code(0.25) == (DECAY_SHIFT, 2)
    assert decay_code(2.0**-7) == (DECAY_SHIFT, 7)
    # 0.9 * 2**16 = 58982.4 -> 58982
    assert decay_code(0.9) == (DECAY_MULTIPLY, 58982)
    assert decay_code(0.75) == (DECAY_MULTIPLY, 49152)


def test_shift_decay_floors_negative_values():
    v = np.array([-5, -4, -1, 0, 1, 5, 7], np.int64)
    # floor(v / 4): -5/4 = -1.25 -> -2; -1/4 -> -1 (toward -inf, not toward zero)
    assert decay_int(v, DECAY_SHIFT, 2).tolist() == [-2, -1, -1, 0, 0, 1, 1]
    assert decay_int(v, DECAY_NONE, 0).tolist() == v.tolist()
    assert decay_int(v, DECAY_ZERO, 0).tolist() == [0] * 7
    # (v * 49152) >> 16 = floor(0.75 v): -5 -> -3.75 -> -4
    assert decay_int(v, DECAY_MULTIPLY, 49152).tolist() == [-4, -3, -1, 0, 0, 3, 5]


def test_round_half_to_even():
    assert round_half_even([0.5, 1.5, 2.5, -0.5, -1.5]).tolist() == [0, 2, 2, 0, -2]


@pytest.mark.parametrize("seed", range(30))
def test_scale_rule_is_maximal_and_fits(seed):
    """k fits int16 weights and int32 headroom, and k+1 would break one of the two."""
    net = random_network(seed)
    q = quantize(net)
    for pop in net.ordered_populations():
        if pop.kind == "input":
            continue
        k = q.populations[pop.name].frac_bits
        assert k == choose_frac_bits(net, pop)
        for proj in net.incoming(pop.name):
            qq = q.projections[proj.name]
            stored = qq.weight if qq.weight is not None else qq.scale if qq.scale is not None else \
                np.array([qq.unit])
            assert np.abs(stored.astype(np.int64)).max() <= WEIGHT_MAX
            assert qq.clipped == 0
            # rounding error at most half a unit
            src = proj.weight if proj.weight is not None else proj.scale
            if src is not None:
                assert np.abs(np.ldexp(stored.astype(float), -k) - src).max() <= 2.0 ** -(k + 1)
        err = next(e for e in q.report.populations if e.name == pop.name)
        assert err.weight_rel_error <= 2.0 ** -(k + 1) / err.weight_max + 1e-15
        wmax = max(err.weight_max, 0 if pop.bias is None else np.abs(pop.bias).max())
        step = 0.0
        for proj in net.incoming(pop.name):
            if proj.kind == "conv2d":
                step += np.abs(proj.weight).reshape(proj.weight.shape[0], -1).sum(1).max()
            elif proj.kind == "dense":
                step += np.abs(proj.weight).sum(1).max()
            elif proj.kind == "identity":
                step += 1.0 if proj.scale is None else np.abs(proj.scale).max()
            else:
                step += proj.kernel_size[0] * proj.kernel_size[1]
        step += 0 if pop.bias is None else np.abs(pop.bias).max()
        bound = net.timesteps * step if pop.kind == "readout" else \
            pop.threshold + abs(pop.v_min or 0) + step
        fits = wmax * 2.0**k <= WEIGHT_MAX - 0.5 and bound * 2.0**k <= MEMBRANE_MAX
        fits_next = wmax * 2.0**(k + 1) <= WEIGHT_MAX - 0.5 and bound * 2.0**(k + 1) <= MEMBRANE_MAX
        assert fits and (not fits_next or k == 30)


def test_forced_scale_clips_and_reports():
    net = one_neuron_net(w=3.0, threshold=0.5, decay=0.25)
    q = quantize(net, frac_bits={"n": 14})  # 3 * 2**14 = 49152 > 32767
    assert q.projections["a"].clipped == 1
    assert int(q.projections["a"].weight[0, 0]) == WEIGHT_MAX
    assert q.report.clipped == 1
    assert quantize(net).report.clipped == 0


def test_int_reference_hand_computed():
    # w = 0.3, θ = 0.5, λ = 0.25; quantize picks k for 'n': weights 0.3 -> int16 limit gives
    # k <= log2(32766.5 / 0.3) = 16.7 -> 16; headroom (0.5 + 0.3) * 2**16 is far below 2**31.
    net = one_neuron_net(w=0.3, threshold=0.5, decay=0.25)
    q = quantize(net)
    pq = q.populations["n"]
    assert pq.frac_bits == 16
    w = int(q.projections["a"].weight[0, 0])
    assert w == round(0.3 * 2**16) == 19661
    assert pq.threshold == 2**15
    r = forward_int(q, np.array([1, 1, 1, 2]).reshape(-1, 1, 1, 1))
    # V1 = 19661; V2 = 19661>>2 + 19661 = 4915 + 19661 = 24576; V3 = 6144 + 19661 = 25805;
    # V4 = 6451 + 2*19661 = 45773 >= 32768 -> spike, reset 0 (as the float reference)
    assert r.spikes["n"].ravel().tolist() == [0, 0, 0, 1]
    assert r.membranes["n"].tolist() == [0]
    assert r.sops["a"][:, 0].tolist() == [1, 1, 1, 2]
    assert r.output_float.tolist() == [1.0]


def test_int_multispike_by_integer_division():
    net = one_neuron_net(w=1.0, kind="if", threshold=1.0, reset="subtract", v_min=-1.0, multi_spike=True)
    q = quantize(net)
    r = forward_int(q, np.array([3, 0, 1]).reshape(-1, 1, 1, 1), np.array([0.5, 3, 0]).reshape(-1, 1, 1, 1)
                    .round().astype(int))
    rf = forward(net, np.array([3, 0, 1.0]).reshape(-1, 1, 1, 1), np.array([0, 3, 0.0]).reshape(-1, 1, 1, 1))
    assert r.spikes["n"].ravel().tolist() == rf.spikes["n"].ravel().tolist() == [3, 0, 0]


def _dyadic(net: Network) -> Network:
    """Make every parameter exact in a few binary digits, with power-of-two decays."""
    for pop in net.populations:
        if pop.spiking and pop.decay not in (1.0, 0.5, 0.25):
            pop.decay = 0.5
        if pop.bias is not None:
            pop.bias = np.round(pop.bias * 8) / 8
    return net


@pytest.mark.parametrize("seed", range(40))
def test_int_reference_equals_float_reference_on_dyadic_nets(seed):
    """With weights/biases multiples of 1/8, thresholds multiples of 1/4 and decays 2**-m, every
    float64 membrane value is a multiple of 2**-(3 + 2T) (T <= 5 steps, each shift at most 2 bits),
    which the int scale (k >= 13 here) represents exactly: int and float must agree exactly."""
    net = _dyadic(random_network(seed, quantised=True))
    q = quantize(net)
    if min(p.frac_bits for p in q.populations.values()) < 3 + 2 * net.timesteps:
        pytest.skip("scale too coarse for the exactness argument")
    pos, neg = random_inputs(net, seed)
    rf = forward(net, pos, neg)
    ri = forward_int(q, pos, neg)
    for name in rf.spikes:
        np.testing.assert_array_equal(ri.spikes[name], rf.spikes[name])
    for name in rf.sops:
        np.testing.assert_array_equal(ri.sops[name], rf.sops[name])
    np.testing.assert_array_equal(ri.output_float, rf.output)
    assert all(s.sum() == 0 for s in ri.saturations.values())


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_int_reference_sops_follow_spikes(seed):
    """SOPs are a function of the spikes: recomputed from the int spikes, they match."""
    net = random_network(seed)
    q = quantize(net)
    pos, neg = random_inputs(net, seed)
    ri = forward_int(q, pos, neg)
    frames = net.input.kind == "frames"
    for proj in net.projections:
        if frames and proj.source == "input":
            continue
        tshape = net.population(proj.target).shape
        for t in range(len(pos)):
            s = ri.spikes[proj.source][t]
            parts = (np.maximum(s, 0), np.maximum(-s, 0))
            if proj.source == "input":  # an input pixel can have + and - events in one step
                parts = (pos[t], neg[t])
            want = [apply_projection(proj, part, tshape, unit_weights=True).sum() for part in parts]
            assert ri.sops[proj.name][t].tolist() == [int(round(x)) for x in want]


def test_membrane_saturation_detected_and_clipped():
    net = one_neuron_net(w=1.0, kind="if", threshold=1.0)  # k from the int16 limit: 2**14 per unit
    q = quantize(net)
    # 200,000 events in one step: 200000 * 2**14 = 3.3e9 > 2**31 - 1
    r = forward_int(q, np.array([200_000, 0]).reshape(-1, 1, 1, 1))
    assert r.saturations["n"].tolist() == [1, 0]
    assert r.spikes["n"].ravel().tolist() == [1, 0]


def test_frames_quantised_to_int16():
    x = np.array([0.5, -1.0, 0.25])
    q, a = quantize_frames(x)
    # 1.0 * 2**a <= 32766.5 -> a = 14
    assert a == 14
    assert q.tolist() == [8192, -16384, 4096]
    assert math.isclose(np.ldexp(q.astype(float), -a)[1], -1.0)


@pytest.mark.parametrize("seed", range(6))
def test_frame_networks_run_in_int(seed):
    net = random_network(seed, frames=True)
    q = quantize(net)
    pos, _ = random_inputs(net, seed)
    ri = forward_int(q, pos)
    rf = forward(net, pos)
    for proj in net.incoming(net.order[1]):
        np.testing.assert_array_equal(ri.macs[proj.name], rf.macs[proj.name])
    # same analog encoder up to quantisation: output close on scale of the weights
    assert np.isfinite(ri.output_float).all()
