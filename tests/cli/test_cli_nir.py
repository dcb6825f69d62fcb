import json

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.engine.simulator import Simulator
from eventsim.network.h5io import load_model, save_model
from eventsim.network.ir import Projection
from eventsim.network.linear import apply_projection
from eventsim.network.loading import load_network
from eventsim.network.nir import load_nir
from tests.network.test_h5io import assert_same_network
from tests.network.test_nir import nmnist_frames
from tests.randnet import random_network


@pytest.fixture(scope="module")
def cnn_report(shared_data):
    """`eventsim run cnn_sinabs.nir --input sample_nmnist.bin --bin-us 1000 --json -`."""
    res = CliRunner().invoke(cli, ["run", str(shared_data / "nir" / "cnn_sinabs.nir"), "--input",
                                   str(shared_data / "nmnist" / "sample_nmnist.bin"),
                                   "--bin-us", "1000", "--json", "-"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_run_cnn_sinabs_predicts_4(cnn_report):
    assert cnn_report["prediction"] == 4
    assert cnn_report["timesteps"] == 310  # 310 whole 1 ms windows in a 310,521 us recording
    layers = {lay["name"]: lay for lay in cnn_report["layers"]}
    assert list(layers) == ["input", "1", "3", "6", "10", "12", "output"]
    # output = per-class count of the last IF layer's spikes
    assert sum(cnn_report["output"]) == layers["12"]["spikes_pos"] == layers["output"]["sops"]
    assert all(lay["spikes_neg"] == 0 and lay["sops_neg"] == 0 for lay in cnn_report["layers"])


def test_run_cnn_sinabs_sops_follow_the_definition(cnn_report, shared_data):
    layers = {lay["name"]: lay for lay in cnn_report["layers"]}
    # dense layers: every presynaptic spike reaches every target neuron (pool 7 composed into 9)
    assert layers["10"]["sops"] == layers["6"]["spikes_pos"] * 256
    assert layers["12"]["sops"] == layers["10"]["spikes_pos"] * 10
    # first conv: each kept input event counts its in-bounds taps (5x5, stride 2, padding 1) x 16
    *_, frames = nmnist_frames(shared_data / "nmnist" / "sample_nmnist.bin")
    assert layers["input"]["spikes_pos"] == int(frames.sum()) == 4323  # 2 events in the dropped tail
    conv = Projection("c", "conv2d", "a", "b", weight=np.ones((16, 2, 5, 5)), stride=2, padding=1)
    assert layers["1"]["sops"] == int(apply_projection(conv, frames.sum(axis=0), (16, 16, 16)).sum())


def test_convert_nir_then_export_back(shared_data, tmp_path):
    runner = CliRunner()
    nir_path = shared_data / "nir" / "cnn_sinabs.nir"
    res = runner.invoke(cli, ["convert", str(nir_path), "-o", str(tmp_path / "m.h5"),
                              "--dtype", "float64"])
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith(f"wrote {tmp_path / 'm.h5'} (") and "NIR graph 'cnn_sinabs'" in res.stderr
    net = load_nir(nir_path)
    net.provenance["stored_dtype"] = "float64"  # what convert adds to the import's provenance
    assert_same_network(net, load_model(tmp_path / "m.h5"))
    res = runner.invoke(cli, ["export", str(tmp_path / "m.h5"), "-o", str(tmp_path / "back.nir"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert res.stderr.startswith(f"wrote {tmp_path / 'back.nir'} (") and "13 nodes" in res.stderr
    # 13 nodes: Input, 5 IF, 3 Conv2d, Flatten + Affine, Affine, Output (the pools were composed)
    assert (summary["nodes"], summary["populations"], summary["projections"]) == (13, 7, 6)
    assert_same_network(net, load_nir(tmp_path / "back.nir"))


def test_export_refuses_ternary_models_in_one_line(tmp_path):
    save_model(random_network(1), tmp_path / "t.h5")  # seed 1 has ternary_lif populations
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "t.h5"), "-o", str(tmp_path / "t.nir")])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot export to NIR")
    assert "ternary_lif" in lines[0] and "0/1 spikes" in lines[0]
    assert not (tmp_path / "t.nir").exists()


def test_run_recurrent_nir_on_a_spike_array(shared_data, tmp_path):
    """``eventsim run braille.nir --input x.npy``: one row of 12 taxel spikes per step; the output is
    each output neuron's spike count, the prediction its argmax (the NIR paper's convention)."""
    model = str(shared_data / "nir" / "braille_noDelay_noBias_subtract.nir")
    x = (np.random.default_rng(3).random((64, 12)) < 0.3).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    res = CliRunner().invoke(cli, ["run", model, "--input", str(tmp_path / "x.npy"), "--json", "-"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    want = Simulator(load_network(model), "float32").run(x, record=True)  # the Python API
    counts = want.spikes["lif2"].sum(axis=0)
    assert report["output"] == counts.tolist() and report["prediction"] == int(np.argmax(counts))
    assert report["timesteps"] == 64 and report["layers"][0]["spikes_pos"] == int(x.sum())
    rec = next(q for q in report["projections"] if q["name"] == "lif1.w_rec")
    # a spike of step t arrives at t + 1 on all 40 synapses: the last step's spikes never arrive
    assert rec["sops"] == 40 * int(want.spikes["lif1.lif"][:-1].sum())


def test_run_spike_array_refuses_what_it_cannot_take(shared_data, tmp_path):
    model = str(shared_data / "nir" / "braille_noDelay_bias_zero.nir")
    np.save(tmp_path / "half.npy", np.full((4, 12), 0.5))
    np.save(tmp_path / "wide.npy", np.zeros((4, 13)))
    for name, what in [("half.npy", "integer spike counts"), ("wide.npy", "(T, 12)")]:
        res = CliRunner().invoke(cli, ["run", model, "--input", str(tmp_path / name)])
        assert res.exit_code == 2 and "Traceback" not in res.output
        assert res.stderr.startswith(f"error: {tmp_path / name}") and what in res.stderr


def test_export_help_explains_what_is_exported():
    res = CliRunner().invoke(cli, ["export", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())  # click re-wraps the docstring
    assert "Ternary neurons cannot be expressed in NIR" in text and "--dt" in text


def test_convert_nir_dt_and_semantics_options(shared_data, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["convert", str(shared_data / "nir" / "two_lif_neurons.nir"), "--nir-dt",
                              "1e-3", "-o", str(tmp_path / "t.h5")])
    assert res.exit_code == 0, res.output
    net = load_model(tmp_path / "t.h5")
    assert net.population("lif1").decay == pytest.approx(0.9)  # 1 - dt/tau = 1 - 1e-3/1e-2
    res = runner.invoke(cli, ["convert", str(shared_data / "nir" / "cnn_sinabs.nir"), "--nir-semantics",
                              "nir", "-o", str(tmp_path / "c.h5")])
    assert res.exit_code == 0, res.output
    assert load_model(tmp_path / "c.h5").population("1").kind == "binary_lif"


def test_convert_nir_json_summary_and_provenance(shared_data, tmp_path):
    src = shared_data / "nir" / "cnn_sinabs.nir"
    res = CliRunner().invoke(cli, ["convert", str(src), "--dtype", "float64", "--json",
                                   "-o", str(tmp_path / "c.h5")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    net = load_model(tmp_path / "c.h5")
    assert doc["arch"] == "nir" and doc["dtype"] == "float64" and doc["populations"] == len(net.populations)
    assert net.provenance["stored_dtype"] == "float64"
    assert net.provenance["file"] == "cnn_sinabs.nir" and net.provenance["sha256"] == doc["sha256"]


def test_inspect_reads_nir_files(shared_data):
    res = CliRunner().invoke(cli, ["inspect", str(shared_data / "nir" / "cnn_sinabs.nir"), "--json", "-"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["provenance"]["semantics"] == "sinabs"
    # 39,584 weights in the file; pools 4 and 7 composed: conv 5 becomes 8x16x6x6 (4,608 instead
    # of 8x16x3x3 = 1,152) and dense 9 256x512 (131,072 instead of 256x128 = 32,768)
    assert doc["totals"]["parameters"] == 39584 - 1152 + 4608 - 32768 + 131072


def test_readme_nir_run_output_is_current(shared_data):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## NIR", 1)[1].split("\n## ", 1)[0]
    command, *shown = section.split("```text\n$ ", 1)[1].split("```", 1)[0].rstrip().splitlines()
    # the README runs from the repository root, with the data in ../shared/data
    assert command == ("eventsim run ../shared/data/nir/cnn_sinabs.nir --input "
                       "../shared/data/nmnist/sample_nmnist.bin --bin-us 1000")
    args = [str(shared_data / a.removeprefix("../shared/data/")) if a.startswith("../shared/data/") else a
            for a in command.split()[1:]]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.rstrip().replace(str(shared_data) + "/", "../shared/data/").splitlines() == shown


def test_readme_recurrent_run_output_is_current(shared_data, tmp_path, monkeypatch):
    """The README's Braille example: its python one-liner makes the input, its run prints the block."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Recurrent networks", 1)[1].split("\n## ", 1)[0]
    make, run = section.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    shown = section.split("```text\n", 1)[1].split("```", 1)[0].rstrip().splitlines()
    monkeypatch.chdir(tmp_path)
    code = re.search(r'python -c "(.*)"$', make).group(1)
    (tmp_path / "scratch").mkdir()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    args = [str(shared_data / a.removeprefix("../shared/data/")) if a.startswith("../shared/data/") else a
            for a in run.split()[1:]]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.rstrip().splitlines() == shown


def test_convert_nir_reset_option(shared_data, tmp_path):
    model = shared_data / "nir" / "braille_noDelay_bias_zero.nir"
    res = CliRunner().invoke(cli, ["convert", str(model), "--nir-reset", "zero",
                                   "-o", str(tmp_path / "b.h5")])
    assert res.exit_code == 0, res.output
    net = load_model(tmp_path / "b.h5")
    assert [net.population(n).reset for n in ("lif1.lif", "lif2")] == ["zero", "zero"]
    assert net.provenance["reset"] == "zero" and net.projections[0].delay == 1
