"""The report's counts on hand-computed tiny networks, and the comparison counts on random ones."""

from dataclasses import replace

import numpy as np
import pytest

from eventsim.energy.compare import (
    effective_sops,
    effective_sops_from_spikes,
    fanout,
    rate_mac_sops,
)
from eventsim.energy.report import build_report
from eventsim.engine.reference import forward
from eventsim.engine.simulator import Simulator
from eventsim.network.counts import dense_macs
from eventsim.network.ir import InputSpec, Network, Population, Projection
from eventsim.network.linear import apply_projection
from tests.energy.wrap import effective_sops_reference, reference_run
from tests.randnet import random_inputs, random_network


def event_net() -> Network:
    """input (2,1,3) split --conv 1x2--> a (1,1,2) ternary --dense--> out (2,) readout.

    Conv weight: channel 0 taps [1, 0], channel 1 taps [-2, 0.5]; dense [[1, 0], [0.5, -1]].
    """
    w1 = np.array([[[[1.0, 0.0]], [[-2.0, 0.5]]]])  # (1, 2, 1, 2)
    w2 = np.array([[1.0, 0.0], [0.5, -1.0]])
    pops = [Population("input", "input", (2, 1, 3)),
            Population("a", "ternary_lif", (1, 1, 2), threshold=0.5, decay=0.25),
            Population("out", "readout", (2,))]
    projs = [Projection("p1", "conv2d", "input", "a", weight=w1),
             Projection("p2", "dense", "a", "out", weight=w2)]
    return Network("hand", pops, projs, ["input", "a", "out"], timesteps=2,
                   input=InputSpec(polarity="split"))


def event_inputs():
    pos = np.zeros((2, 2, 1, 3))
    pos[0, 0, 0, 0] = 1  # step 0: channel 0 at x=0 once
    pos[0, 1, 0, 2] = 2  # step 0: channel 1 at x=2 twice
    pos[1, 1, 0, 1] = 1  # step 1: channel 1 at x=1
    pos[1, 0, 0, 1] = 1  # step 1: channel 0 at x=1
    return pos


def test_hand_computed_event_network():
    # Conv 1x2 over width 3 -> width 2: input x=0 feeds output 0 (1 tap), x=1 feeds both (2 taps),
    # x=2 feeds output 1 (1 tap).
    # step 0: ch0 x0 (1 unit, 1 tap) + ch1 x2 (2 units, 1 tap) = 3 SOPs, all non-zero weights (1, 0.5).
    #   currents a = [1*1, 0.5*2] = [1, 1] -> both fire +1 (theta 0.5), reset to 0.
    # step 1: ch1 x1 (2 taps: -2 -> out 1, 0.5 -> out 0) + ch0 x1 (2 taps: 1 -> out 1, 0 -> out 0)
    #   = 4 SOPs, 3 effective (the weight 0 tap is skipped).
    #   currents a = [0.5, -2 + 1] = [0.5, -1] -> a0 fires +1, a1 fires -1.
    # p2 (dense 2x2, column 0 = [1, 0.5], column 1 = [0, -1]): every spike costs 2 SOPs;
    #   effective: a0 costs 2, a1 costs 1.  step 0: +4 (eff 3); step 1: +2 (eff 2), -2 (eff 1).
    # out = [1 + 1, (0.5 - 1) + (0.5 + 1)] = [2, 1] -> prediction 0.
    net = event_net()
    pos = event_inputs()
    result = reference_run(net, pos)
    doc = build_report(result, "horowitz45-fp32", effective_sops_reference(net, pos))
    assert doc["output"] == [2.0, 1.0] and doc["prediction"] == 0
    lay = {d["name"]: d for d in doc["layers"]}
    assert (lay["input"]["spikes_pos"], lay["input"]["spikes_neg"]) == (5, 0)
    assert (lay["a"]["spikes_pos"], lay["a"]["spikes_neg"]) == (3, 1)
    assert (lay["a"]["sops"], lay["a"]["sops_pos"], lay["a"]["sops_neg"]) == (7, 7, 0)
    assert (lay["out"]["sops"], lay["out"]["sops_pos"], lay["out"]["sops_neg"]) == (8, 6, 2)
    assert lay["a"]["sops_effective"] == 6 and lay["out"]["sops_effective"] == 6
    # rates: input 5 units / 6 neurons / 2 steps; a: 4 units / 2 neurons / 2 steps
    assert lay["input"]["rate"] == pytest.approx(5 / 12)
    assert lay["a"]["rate"] == pytest.approx(1.0) and lay["out"]["rate"] is None
    # rate x MAC: a: 5 input units / 6 neurons * 8 dense MACs (2 outputs * 2 ch * 1x2 taps);
    # out (dense): 4 units / 2 neurons * 4 MACs = 8, equal to the exact count for a dense layer
    assert lay["a"]["dense_macs"] == 8 and lay["out"]["dense_macs"] == 4
    assert lay["a"]["sops_rate_mac"] == pytest.approx(5 / 6 * 8)
    assert lay["out"]["sops_rate_mac"] == pytest.approx(8.0)
    # energy (fp32 45 nm: E_AC 0.9, E_MAC 4.6): SNN 0.9 * 15 SOPs; ANN 4.6 * 12 MACs
    en = doc["energy"]
    assert en["table"] == "horowitz45-fp32"
    assert en["pJ"] == pytest.approx(13.5) and en["ann_pJ"] == pytest.approx(55.2)
    assert en["ann_over_snn"] == pytest.approx(55.2 / 13.5)
    assert [e["pJ"] for e in en["per_layer"]] == pytest.approx([0.0, 6.3, 7.2])
    # per layer ANN / SNN: a: 4.6 * 8 / 6.3; out: 4.6 * 4 / 7.2; the input has no energy
    assert [e["ann_over_snn"] for e in en["per_layer"]] == [None, pytest.approx(36.8 / 6.3),
                                                            pytest.approx(18.4 / 7.2)]
    # per step and sign
    steps = {s["name"]: s for s in doc["per_step"]}
    assert steps["a"]["sops_pos"] == [3, 4] and steps["a"]["sops_neg"] == [0, 0]
    assert steps["a"]["sops_effective_pos"] == [3, 3]
    assert steps["out"]["sops_pos"] == [4, 2] and steps["out"]["sops_neg"] == [0, 2]
    assert steps["out"]["sops_effective_pos"] == [3, 2] and steps["out"]["sops_effective_neg"] == [0, 1]
    assert steps["a"]["spikes_pos"] == [2, 1] and steps["a"]["spikes_neg"] == [0, 1]
    assert steps["a"]["rate"] == [1.0, 1.0] and steps["input"]["rate"] == [0.5, pytest.approx(2 / 6)]
    assert steps["a"]["pJ"] == pytest.approx([2.7, 3.6])
    cmp_ = doc["comparison"]
    assert (cmp_["exact"]["sops"], cmp_["effective"]["sops"]) == (15, 12)
    assert cmp_["rate_mac"]["sops"] == pytest.approx(5 / 6 * 8 + 8)
    assert doc["policy"]["first_layer"] == "event_input" and doc["policy"]["macs"] == 0
    assert "5 input events" in doc["policy"]["statement"]
    assert doc["totals"]["multiplications"] == 0


def test_hand_computed_frame_encoder():
    # frames x = [1, 0.5, 0.25] (1 channel, width 3), T = 2; encoder conv taps [1, 2] ->
    # a = [1 + 1, 0.5 + 0.5] = [2, 1]: both fire every step. Encoder MACs per step:
    # 2 outputs * 1 channel * 1x2 taps = 4 -> 8 over T = 2, priced at E_MAC; the readout gets
    # 2 spikes * 1 synapse per step = 4 SOPs. Energy = 4.6 * 8 + 0.9 * 4 = 40.4 pJ;
    # ANN = 4.6 * (4 + 2) = 27.6 pJ.
    pops = [Population("input", "input", (1, 1, 3)),
            Population("a", "ternary_lif", (1, 1, 2), threshold=0.5, decay=0.25),
            Population("out", "readout", (1,))]
    projs = [Projection("enc", "conv2d", "input", "a", weight=np.array([[[[1.0, 2.0]]]])),
             Projection("fc", "dense", "a", "out", weight=np.array([[1.0, 1.0]]))]
    net = Network("frames", pops, projs, ["input", "a", "out"], timesteps=2,
                  input=InputSpec(kind="frames"))
    x = np.tile(np.array([1.0, 0.5, 0.25]).reshape(1, 1, 1, 3), (2, 1, 1, 1))
    doc = build_report(reference_run(net, x), None, effective_sops_reference(net, x))
    lay = {d["name"]: d for d in doc["layers"]}
    assert lay["a"]["macs"] == 8 and lay["a"]["sops"] == 0 and lay["a"]["sops_rate_mac"] == 0
    assert lay["out"]["sops"] == 4 and lay["out"]["sops_effective"] == 4
    assert lay["input"]["rate"] is None  # analog input has no spikes to rate
    assert doc["energy"]["pJ"] == pytest.approx(40.4) and doc["energy"]["ann_pJ"] == pytest.approx(27.6)
    assert doc["policy"] == {**doc["policy"], "first_layer": "analog_encoder", "layers": ["a"], "macs": 8}
    assert "8 multiply-accumulates" in doc["policy"]["statement"]


def test_chip_table_prices_macs_with_the_default_and_says_so():
    net = event_net()
    doc = build_report(reference_run(net, event_inputs()), "loihi-2018")
    en = doc["energy"]
    assert en["ac_pJ"] == 23.6 and en["mac_pJ"] == 4.6 and en["mac_table"] == "horowitz45-fp32"
    assert en["pJ"] == pytest.approx(23.6 * 15) and "prices no MAC" in en["note"]
    assert "Davies" in en["citation"] and "snn_pJ" not in en["memory"]  # no weight-fetch figures
    # the memory model prices arithmetic with Horowitz: Loihi's per-SOP figure holds its own memory
    assert en["memory"]["costs"]["add_pJ"] == 0.9 and "horowitz45-fp32" in en["memory"]["costs"]["source"]
    assert doc["comparison"]["effective"]["sops"] is None  # not computed without spikes
    assert all(lay["sops_effective"] is None for lay in doc["layers"])


def test_memory_estimate_is_one_weight_fetch_per_operation():
    # int8 table: 1-byte weights at 1.25 pJ/byte (8 KB SRAM, 10 pJ per 64-bit read)
    net = event_net()
    doc = build_report(reference_run(net, event_inputs()), "horowitz45-int8")
    mem = doc["energy"]["memory"]
    assert mem["snn_pJ"] == pytest.approx(15 * 1.25) and mem["ann_pJ"] == pytest.approx(12 * 1.25)


def test_recorded_spikes_give_the_effective_count():
    net = event_net()
    pos = event_inputs()
    result = reference_run(net, pos)
    result.spikes = forward(net, pos).spikes  # what Simulator.run(record=True) provides
    doc = build_report(result)
    assert doc["comparison"]["effective"]["sops"] == 12


@pytest.mark.parametrize("seed", range(20))
def test_fanout_dot_units_is_the_exact_sop_count(seed):
    """sum(units * fanout) reproduces the reference's SOPs on random networks of every kind."""
    net = random_network(seed)
    pos, neg = random_inputs(net, seed)
    ref = forward(net, pos, neg)
    counts = effective_sops_from_spikes(net, ref.spikes, pos, neg)
    exact = effective_sops(net, {n: np.maximum(s, 0) for n, s in ref.spikes.items()} | {"input": pos},
                           {n: np.maximum(-s, 0) for n, s in ref.spikes.items()} | {"input": neg},
                           nonzero_only=False)
    for proj in net.projections:
        np.testing.assert_array_equal(exact[proj.name], ref.sops[proj.name])
        assert (counts[proj.name] <= ref.sops[proj.name]).all()


def _naive_effective(proj, src_shape, tgt_shape, units):
    """Apply the projection with weights replaced by (weight != 0) to the units and sum."""
    if proj.weight is not None:
        proj = replace(proj, weight=(proj.weight != 0).astype(float))
    elif proj.scale is not None:
        proj = replace(proj, scale=(proj.scale != 0).astype(float))
    return int(round(apply_projection(proj, units, tgt_shape).sum()))


@pytest.mark.parametrize("seed", range(20))
def test_nonzero_fanout_matches_naive_masked_projection(seed):
    net = random_network(seed, quantised=True)  # weights k/8 with k in -6..6: many zeros
    rng = np.random.default_rng(seed)
    for proj in net.projections:
        s, t = net.population(proj.source).shape, net.population(proj.target).shape
        units = rng.poisson(0.7, s)
        got = int((units * fanout(proj, s, t, nonzero_only=True)).sum())
        assert got == _naive_effective(proj, s, t, units)


@pytest.mark.parametrize("seed", range(10))
def test_rate_mac_estimate_formula(seed):
    """Per layer: sum over incoming projections of rate_src * T * dense_macs, rate = units/(N*T)."""
    net = random_network(seed)
    pos, neg = random_inputs(net, seed)
    result = reference_run(net, pos, neg)
    est = rate_mac_sops(result)
    doc = build_report(result)
    steps = result.timesteps
    for lay in doc["layers"]:
        want = 0.0
        for proj in net.incoming(lay["name"]):
            src = net.population(proj.source)
            units = result.spike_counts[src.name].sum()
            rate = units / (src.size * steps)
            macs = dense_macs(proj, src.shape, net.population(proj.target).shape)
            want += rate * steps * macs
            if proj.kind == "dense":  # every source neuron reaches every target: exact
                assert est[proj.name].sum() == pytest.approx(result.sops[proj.name].sum())
        assert lay["sops_rate_mac"] == pytest.approx(want)


def test_no_spikes_gives_zero_energy_and_no_ratio():
    net = event_net()
    doc = build_report(reference_run(net, np.zeros((3, 2, 1, 3))))
    assert doc["energy"]["pJ"] == 0 and doc["energy"]["ann_over_snn"] is None
    assert doc["energy"]["ann_pJ"] == pytest.approx(4.6 * 12)


def test_signed_input_cancellation_is_flagged():
    """Recorded input spikes are signed sums: ON and OFF at one pixel in one step cancel."""
    pops = [Population("input", "input", (1, 1, 1)), Population("out", "readout", (1,))]
    net = Network("s", pops, [Projection("p", "dense", "input", "out", weight=np.array([[1.0]]))],
                  ["input", "out"], input=InputSpec(polarity="signed"))
    pos, neg = np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1))
    result = reference_run(net, pos, neg)
    result.spikes = forward(net, pos, neg).spikes  # input recorded as 1 - 1 = 0
    doc = build_report(result)
    assert doc["totals"]["sops"] == 2 and doc["comparison"]["effective"]["sops"] == 0
    assert doc["comparison"]["effective"]["exact"] is False
    assert "lower bound" in doc["comparison"]["effective"]["what"]
    exact = build_report(result, effective=effective_sops_reference(net, pos, neg))
    eff = exact["comparison"]["effective"]
    assert (eff["sops"], eff["pJ"], eff["exact"]) == (2, pytest.approx(1.8), True)


@pytest.mark.parametrize("seed", range(12))
def test_engine_recorded_spikes_give_the_reference_effective_count(seed):
    """Simulator.run_counts(record=True) -> build_report: the effective count of the reference."""
    net = random_network(seed)
    pos, neg = random_inputs(net, seed)
    result = Simulator(net, precision="float64").run_counts(pos, neg, record=True)
    doc = build_report(result)
    want = effective_sops_reference(net, pos, neg)
    got = {lay["name"]: lay["sops_effective"] for lay in doc["layers"]}
    for pop in net.order:
        expect = sum(int(want[q.name].sum()) for q in net.incoming(pop))
        if doc["comparison"]["effective"]["exact"]:
            assert got[pop] == expect
        else:  # a signed input pixel got ON and OFF events in one step: a lower bound
            assert got[pop] <= expect
    ref_sops = forward(net, pos, neg).sops.values()
    assert doc["comparison"]["exact"]["sops"] == sum(int(v.sum()) for v in ref_sops)

