"""The memory-aware energy (Lemaire et al. 2022) and the footprint, on a hand-computed network."""

import pytest

from eventsim.energy.footprint import footprint
from eventsim.energy.memory import TERMS, MemoryCosts
from eventsim.energy.report import build_report
from eventsim.energy.tables import get_table, load_table_file
from eventsim.errors import ConfigError
from tests.energy.test_energy_report import event_inputs, event_net
from tests.energy.wrap import reference_run
from tests.randnet import random_inputs, random_network

# every access 100 pJ (one SRAM point), add 1 pJ, multiply 10 pJ (so a MAC is 11 pJ)
FLAT = MemoryCosts(add_pJ=1.0, mul_pJ=10.0, word_bits=8, sram=((1.0, 100.0),))


def test_hand_computed_terms():
    # event_net: input (2,1,3) --conv 1x2 (4 weights)--> a: 2 ternary neurons (λ 0.25) --dense 2x2-->
    # out: 2 readout neurons; T = 2, no biases. The run (see test_energy_report): 5 input events,
    # 7 SOPs into a, a emits 4 spike units, 8 SOPs into out.
    doc = build_report(reference_run(event_net(), event_inputs()), memory=FLAT)
    mem = doc["energy"]["memory"]
    snn = {lay["name"]: lay["terms"] for lay in mem["snn"]["per_layer"]}
    ann = {lay["name"]: lay["terms"] for lay in mem["ann"]["per_layer"]}
    # a: ops = add·(7 SOPs + T·N 4 + 4 resets) + mul·(T·N 4 leaks) = 15 + 40
    #    addressing = MAC·2·5 input spikes (conv window) + add·7 = 110 + 7
    #    inout = 100·(5 spike reads + 4 spike writes); params = 100·7 weight reads
    #    potentials = 2·100·(7 + T·N 4)
    assert snn["a"] == {"ops": 55, "addressing": 117, "inout": 900, "params": 700, "potentials": 2200}
    # out (readout, no leak, no spikes): ops = 8 + 4; addressing = 8 (dense: no window);
    # inout = 100·4 reads; params = 100·8; potentials = 2·100·(8 + 4)
    assert snn["out"] == {"ops": 12, "addressing": 8, "inout": 400, "params": 800, "potentials": 2400}
    # ANN a: 8 dense MACs; addressing = 6 inputs + 2 outputs + 1·1·2 kernel taps; inout = 100·8
    # reads (no reuse) + 100·2 writes; params = 100·8
    assert ann["a"] == {"ops": 88, "addressing": 10, "inout": 1000, "params": 800, "potentials": 0}
    # ANN out: 4 MACs; addressing 2·2; inout = 100·2 reads + 100·2 writes; params 100·4
    assert ann["out"] == {"ops": 44, "addressing": 4, "inout": 400, "params": 400, "potentials": 0}
    assert mem["snn"]["pJ"] == 3972 + 3620 and mem["ann"]["pJ"] == 1898 + 848
    assert mem["ann_over_snn"] == pytest.approx(2746 / 7592)


@pytest.mark.parametrize("seed", range(6))
def test_terms_add_up(seed):
    net = random_network(seed, frames=seed % 3 == 2)
    pos, neg = random_inputs(net, seed)
    mem = build_report(reference_run(net, pos, neg))["energy"]["memory"]
    for side in ("snn", "ann"):
        total = mem[side]
        assert sum(total["terms"].values()) == pytest.approx(total["pJ"])
        for lay in total["per_layer"]:
            assert set(lay["terms"]) == set(TERMS) and min(lay["terms"].values()) >= 0
            assert sum(lay["terms"].values()) == pytest.approx(lay["pJ"])
        for term in TERMS:
            by_layer = sum(lay["terms"][term] for lay in total["per_layer"])
            assert by_layer == pytest.approx(total["terms"][term])


def test_sram_access_energy_follows_horowitz():
    costs = MemoryCosts.for_table(get_table("horowitz45-fp32"))
    assert costs.word_bits == 32 and (costs.add_pJ, costs.mac_pJ) == (0.9, 4.6)
    assert costs.access_pJ(2048) == 10.0  # 8 KB of 32-bit words
    assert costs.access_pJ(8192) == 20.0  # 32 KB
    assert costs.access_pJ(20 * 1024) == pytest.approx(20 + 48 / 992 * 80)  # 80 KB, between 32 KB and 1 MB
    assert costs.access_pJ(10) == 10.0  # smaller than 8 KB: the smallest SRAM listed
    assert costs.access_pJ(512 * 1024) == pytest.approx(100 + 80 / 992 * 1024)  # 2 MB: last segment extended
    assert MemoryCosts.for_table(get_table("horowitz45-int8")).word_bits == 8


def test_user_figures_replace_every_cost():
    table = get_table("horowitz45-fp32")
    # Lemaire et al.'s own fit of the same Horowitz points: 1.09e-5 pJ per bit + 13.2 pJ
    lemaire = {"sram": [[0, 13.2], [1048576, 13.2 + 1.09e-5 * 8388608]], "word_bits": 16,
               "add_pJ": 0.1, "mul_pJ": 3.1, "source": "Lemaire et al. 2022, Sect. 3"}
    costs = MemoryCosts.for_table(table, lemaire)
    assert (costs.add_pJ, costs.mul_pJ, costs.word_bits, costs.source) == (0.1, 3.1, 16, lemaire["source"])
    assert costs.access_pJ(1000) == pytest.approx(13.2 + 1.09e-5 * 16000)
    doc = build_report(reference_run(event_net(), event_inputs()), table, memory=lemaire)
    assert doc["energy"]["memory"]["costs"]["word_bits"] == 16
    for bad, message in [({"sram": [[2, 1], [1, 2]]}, "must increase"), ({"wordbits": 8}, "unknown field"),
                         ({"add_pJ": -1}, "finite number"), ({"word_bits": 0}, "1..1024"),
                         ({"sram": []}, "non-empty list")]:
        with pytest.raises(ConfigError, match=message):
            MemoryCosts.for_table(table, bad, where="my.toml")


def test_legacy_weight_fetch_keys_are_kept():
    mem = build_report(reference_run(event_net(), event_inputs()), "horowitz45-int8")["energy"]["memory"]
    assert mem["snn_pJ"] == pytest.approx(15 * 1.25) and {"snn", "ann", "ann_over_snn"} <= set(mem)


def test_footprint_hand_computed():
    result = reference_run(event_net(), event_inputs())
    doc = footprint(result.network, result)
    f32 = {lay["name"]: lay for lay in doc["engines"]["float32"]["per_layer"]}
    # weights: 4 conv + 4 dense, 32 bits each; membranes 2 + 2 neurons; queues: input 6 neurons x
    # (3 address bits, split polarity: no sign), a 2 neurons x (1 address + 1 sign bit)
    assert (f32["a"]["weights_bits"], f32["out"]["weights_bits"]) == (128, 128)
    assert (f32["a"]["membrane_bits"], f32["input"]["membrane_bits"]) == (64, 0)
    queues = [f32[name]["spike_queue_bits"] for name in ("input", "a", "out")]
    assert queues == [18, 4, 0]
    # peaks: 3 input events in step 0, 2 spikes of a per step
    assert (f32["input"]["spike_queue_peak_bits"], f32["a"]["spike_queue_peak_bits"]) == (9, 4)
    integer = doc["engines"]["int"]
    assert integer["total"]["weights_bits"] == 8 * 16 and integer["total"]["membrane_bits"] == 4 * 32
    assert integer["bytes"] == -(-(128 + 128 + 22) // 8)
    assert doc["engines"]["float64"]["total"]["weights_bits"] == 8 * 64


def test_a_user_table_file_sets_the_memory_costs(tmp_path):
    good = tmp_path / "chip.toml"
    good.write_text('name = "chip"\ncitation = "test"\nprocess = "7 nm"\nac_pJ = 0.1\nmac_pJ = 0.5\n'
                    '[memory]\nword_bits = 8\nsram = [[1024, 1.0], [65536, 4.0]]\nadd_pJ = 0.05\n')
    table = load_table_file(good)
    mem = build_report(reference_run(event_net(), event_inputs()), table)["energy"]["memory"]
    assert mem["costs"]["word_bits"] == 8 and mem["costs"]["add_pJ"] == 0.05
    assert mem["costs"]["sram"] == [[1024.0, 1.0], [65536.0, 4.0]]
    assert table.to_dict()["memory"]["word_bits"] == 8
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("word_bits = 8", "word_bits = 0"))
    with pytest.raises(ConfigError, match="bad.toml.*memory.word_bits"):
        load_table_file(bad)
