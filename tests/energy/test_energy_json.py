"""`eventsim run --json -` carries the NeuroBench section and the memory-aware energy, as a user runs it."""

import json
from importlib import resources

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.energy.memory import TERMS
from eventsim.network.h5io import save_model
from tests.randnet import random_inputs, random_network

NEUROBENCH_KEYS = {"effective_acs", "effective_macs", "dense", "activation_sparsity", "membrane_updates",
                   "footprint_bytes", "connection_sparsity", "parameter_count"}


def run_json(*args) -> dict:
    res = CliRunner().invoke(cli, ["run", *args, "--json", "-"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def check_sections(doc: dict) -> None:
    nb = doc["neurobench"]
    assert NEUROBENCH_KEYS <= set(nb) and "missing" not in nb
    assert all(nb[k] is not None for k in NEUROBENCH_KEYS)
    assert set(nb["footprint_bytes"]["deployed"]) == {"float32", "float64", "int"}
    mem = doc["energy"]["memory"]
    for side in ("snn", "ann"):
        assert set(mem[side]["terms"]) == set(TERMS)
        assert sum(mem[side]["terms"].values()) == pytest.approx(mem[side]["pJ"])
        assert [lay["name"] for lay in mem[side]["per_layer"]] == [lay["name"] for lay in doc["layers"][1:]]
    assert mem["ann_over_snn"] == pytest.approx(mem["ann"]["pJ"] / mem["snn"]["pJ"])
    # the schema stays additive: the first report's keys are all there
    assert {"layers", "totals", "energy", "comparison", "per_step", "policy"} <= set(doc)
    assert {"table", "pJ", "ann_pJ", "ann_over_snn", "per_layer"} <= set(doc["energy"])


def test_demo_json_has_both_sections():
    if not (resources.files("eventsim") / "data" / "demo_model.h5").is_file():
        pytest.skip("the bundled demo is not installed")
    doc = run_json()
    check_sections(doc)
    # the effective SOPs skip zero weights; NeuroBench's ACs also binarise repeated input events
    assert doc["neurobench"]["effective_acs"] + doc["neurobench"]["effective_macs"] <= \
        doc["comparison"]["effective"]["sops"]


def test_nir_model_json_has_both_sections(shared_data):
    doc = run_json(str(shared_data / "nir" / "cnn_sinabs.nir"), "--input",
                   str(shared_data / "nmnist" / "sample_nmnist.bin"), "--bin-us", "1000")
    check_sections(doc)
    assert doc["neurobench"]["connection_sparsity"] is not None


def test_frame_input_json_counts_the_encoder(tmp_path):
    net = random_network(4, frames=True)
    save_model(net, tmp_path / "f.h5")
    frames, _ = random_inputs(net, 4)
    np.save(tmp_path / "x.npy", frames[0])
    doc = run_json(str(tmp_path / "f.h5"), "--input", str(tmp_path / "x.npy"))
    check_sections(doc)
    first = doc["neurobench"]["per_layer"][0]
    assert first["effective_macs"] > 0 and first["effective_acs"] == 0  # analog input: MACs
