"""``eventsim eval``: latency in records and summary, throughput, and the sweep of T (``-T 1,2,4``)."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.eval.sample import comparable
from eventsim.network.h5io import save_model
from eventsim.network.ir import InputSpec, Network, Population, Projection
from tests.eval.evaldata import SENSOR, write_dataset, write_model

pytestmark = pytest.mark.usefixtures("no_leftover_processes")

DATA = resources.files("eventsim") / "data"
README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_block(after: str) -> list[str]:
    """The lines of the first block that opens after the text ``after`` in the README's eval section."""
    if not README.is_file():
        pytest.skip("README absent")
    text = README.read_text().split("## Evaluating a dataset", 1)[1].split(after, 1)[1]
    return text.split("```\n", 2)[1].splitlines()


def _eval(*args):
    return CliRunner().invoke(cli, ["eval", *map(str, args)])


def _json(*args) -> dict:
    res = _eval(*args, "--json", "-")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def demo():
    """The bundled demo model and its labelled digits (eventsim/data/demo_labels.csv)."""
    if not (DATA / "demo_labels.csv").is_file():
        pytest.skip("the demo artefacts are not bundled")
    return str(DATA / "demo_model.h5"), str(DATA / "demo_labels.csv")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    return str(write_model(root / "model.h5")), str(write_dataset(root / "ds", per_class=3))


def test_sweep_in_process_equals_separate_runs(small):
    # the inner-loop twin of the next test: small dataset, everything in this process
    model, ds = small
    doc = _json(model, ds, "-T", "1,2,4", "--no-isolate")
    for k, row, per_t in zip((1, 2, 4), doc["rows"], doc["sweep"]):
        alone = _json(model, ds, "-T", k, "--no-isolate")
        assert (row["timesteps"], row["accuracy"], row["sops_mean"]) == (
            k, alone["accuracy"], alone["per_sample"]["sops"]["mean"])
        assert [comparable(r) for r in per_t["results"]] == [comparable(r) for r in alone["results"]]


@pytest.mark.slow
def test_sweep_rows_equal_separate_runs(demo, tmp_path):
    model, ds = demo
    res = _eval(model, ds, "-T", "1,2,4", "--json", tmp_path / "s.json", "--csv", tmp_path / "s.csv",
                "--plot", tmp_path / "s.png", "--results", tmp_path / "r.jsonl")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["schema"] == "eventsim.eval-sweep/1" and doc["timesteps"] == [1, 2, 4]
    csv_rows = (tmp_path / "s.csv").read_text().splitlines()
    assert csv_rows[0].startswith("T,index,path,") and len(csv_rows) == 1 + 3 * 11
    for k, row, per_t in zip((1, 2, 4), doc["rows"], doc["sweep"]):
        # in this process (through Simulator.iter_batch), not in a worker as the sweep ran
        alone = _json(model, ds, "-T", k, "--no-isolate")
        assert row["timesteps"] == k and per_t["options"]["timesteps"] == k
        assert (row["accuracy"], row["sops_mean"], row["energy_pJ_mean"]) == (
            alone["accuracy"], alone["per_sample"]["sops"]["mean"], alone["per_sample"]["energy_pJ"]["mean"])
        assert row["decision_step_mean"] == alone["latency"]["decision_step"]["stats"]["mean"]
        assert [comparable(r) for r in per_t["results"]] == [comparable(r) for r in alone["results"]]
        assert {r["timesteps"] for r in per_t["results"]} == {k}
        assert row["samples_per_second"] > 0 and per_t["throughput"]["samples"] == 11
        # one results file per T, each the results file of `eval -T k`
        lines = (tmp_path / f"r.T{k}.jsonl").read_text().splitlines()
        assert json.loads(lines[0])["options"]["timesteps"] == k and len(lines) == 12
        assert sum(1 for r in csv_rows[1:] if r.startswith(f"{k},")) == 11
        # the table: T, accuracy, SOPs, energy, decision step, samples/s
        line = next(x for x in res.output.splitlines() if x.split()[:1] == [str(k)])
        assert line.split()[1:4] == [f"{row['accuracy']:.4f}", f"{row['sops_mean']:,.0f}",
                                     f"{row['energy_pJ_mean']:,.0f}"]
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "r.jsonl").exists()
    # the README's sweep table (T = 1, 2, 4 of its 1, 2, 4, 8), all but the timing column
    def rows(lines):
        return [x.split()[:5] for x in lines if x.split()[:1] in (["1"], ["2"], ["4"])]

    ours = rows(res.output.splitlines())
    assert ours == rows(_readme_block("--results scratch/sweep.jsonl\n```")) and len(ours) == 3


def test_latency_histogram_matches_the_records(demo, tmp_path):
    model, ds = demo
    res = _eval(model, ds, "--json", tmp_path / "e.json", "--plot", tmp_path / "e.png")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "e.json").read_text())
    recs = doc["results"]
    lat = doc["latency"]
    d = lat["decision_step"]
    steps = [r["decision_step"] for r in recs]
    assert lat["steps"] == 4 == max(r["timesteps"] for r in recs)  # the demo model's T
    assert sum(d["histogram"]["all"]) == doc["evaluated"] == d["samples"] == 11
    assert d["histogram"]["all"] == [Counter(steps)[k] for k in range(4)]
    assert d["histogram"]["correct"] == [Counter(s for s, r in zip(steps, recs) if r["correct"])[k]
                                         for k in range(4)]
    assert d["stats"]["mean"] == np.mean(steps) and d["stats"]["p90"] == np.percentile(steps, 90)
    assert d["stats"]["median"] == np.median(steps) and d["stats"]["max"] == max(steps)
    # the demo's readout integrates weighted currents: no output spikes to time
    assert lat["first_output_spike"] is None and all("first_output_spike" not in r for r in recs)
    text = res.output
    assert "latency (0-based step" in text
    stats_row, hist_row = [x.split()[2:] for x in text.splitlines() if x.startswith("decision step ")]
    assert stats_row[:2] == ["11", f"{d['stats']['mean']:.4g}"]  # samples, mean
    assert hist_row == [str(n) for n in d["histogram"]["all"]]
    readme = [x.split() for x in _readme_block("demo_labels.csv`):") if x.startswith("decision step")]
    assert readme[-2:] == [x.split() for x in text.splitlines() if x.startswith("decision step")][-2:]
    tp = doc["throughput"]
    assert tp["samples"] == 11 and tp["samples_per_second"] == pytest.approx(11 / tp["seconds"])
    assert f"throughput: 11 samples in {tp['seconds']:.2f} s wall time" in text
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _spiking_output_model(path):
    """input -> conv -> ternary LIF -> dense -> IF (3) -> identity -> readout: a spike-count output."""
    rng = np.random.default_rng(5)
    pops = [Population("input", "input", (2, 16, 16)),
            Population("l1", "ternary_lif", (4, 8, 8), threshold=0.5, decay=0.25, reset="zero"),
            Population("l2", "if", (3,), threshold=2.0, decay=1.0, reset="zero"),
            Population("out", "readout", (3,))]
    projs = [Projection("c1", "conv2d", "input", "l1", weight=rng.normal(0, 0.5, (4, 2, 3, 3)),
                        stride=2, padding=1),
             Projection("fc", "dense", "l1", "l2", weight=rng.normal(0, 0.3, (3, 256))),
             Projection("o", "identity", "l2", "out")]
    net = Network("spikeout", pops, projs, [p.name for p in pops], timesteps=4,
                  input=InputSpec(kind="events", polarity="split", sensor=SENSOR))
    save_model(net, path, dtype="float64")
    return str(path)


def test_first_output_spike_of_a_spike_count_output(small, tmp_path):
    _, ds = small
    model = _spiking_output_model(tmp_path / "spikeout.h5")
    doc = _json(model, ds, "--no-isolate")
    recs = doc["results"]
    fos = doc["latency"]["first_output_spike"]
    fired = [r["first_output_spike"] for r in recs if r["first_output_spike"] is not None]
    assert len(recs) == 9 and all("first_output_spike" in r for r in recs)
    assert fired, "the test model should fire its output for some samples"
    assert fos["never"] == 9 - len(fired) and sum(fos["histogram"]["all"]) == len(fired)
    assert fos["histogram"]["all"] == [fired.count(k) for k in range(4)]
    r = next(r for r in recs if r["first_output_spike"] is not None)
    report = json.loads(CliRunner().invoke(cli, ["run", model, "--input", f"{ds}/{r['path']}",
                                                 "--json", "-"]).stdout)
    assert (r["decision_step"], r["first_output_spike"]) == (  # as `eventsim run` reports them
        report["latency"]["decision_step"], report["latency"]["first_output_spike"])


@pytest.mark.parametrize("args, message", [
    (["-T", "0"], "at least 1"),
    (["-T", "1,,2"], "an empty value"),
    (["-T", "a"], "'a' is not an integer"),
    (["-T", "2,4,2"], "T = 2 is given twice"),
    (["-T", "4,"], "an empty value"),
    (["-T", "1,2", "--bin-us", "1000", "--binning", "count"], "--bin-us has no effect with --binning count"),
    (["-T", "1,2", "--binning", "window"], "--binning window needs --bin-us"),
    (["-T", "1,200000"], "-T 200000"),
    (["-T", "1,2", "--results", "-"], "one --results file per T"),
])
def test_bad_timesteps_exit_2(small, tmp_path, args, message):
    model, ds = small
    res = _eval(model, ds, *args, "--json", tmp_path / "e.json")
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.output
    assert list(tmp_path.iterdir()) == []


def test_resume_with_records_of_an_older_eventsim(small, tmp_path):
    model, ds = small
    results = tmp_path / "r.jsonl"
    full = _json(model, ds, "--results", results, "--no-isolate")
    header, *lines = results.read_text().splitlines()
    old = [json.loads(x) for x in lines[:5]]
    for r in old:  # as written before records had latency fields
        for key in ("timesteps", "decision_step", "first_output_spike"):
            r.pop(key, None)
    results.write_text("\n".join([header] + [json.dumps(r) for r in old]) + "\n")
    res = _eval(model, ds, "--results", results, "--resume", "--csv", tmp_path / "e.csv",
                "--json", tmp_path / "e.json", "--plot", tmp_path / "e.png")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "e.json").read_text())
    d = doc["latency"]["decision_step"]
    assert (doc["evaluated"], d["without"], d["samples"], sum(d["histogram"]["all"])) == (9, 5, 4, 4)
    assert doc["accuracy"] == full["accuracy"] and doc["throughput"]["samples"] == 4
    assert "decision step: not recorded for 5 sample(s)" in res.output
    new = {r["index"]: r["decision_step"] for r in doc["results"] if "decision_step" in r}
    assert d["histogram"]["all"] == [list(new.values()).count(k) for k in range(doc["latency"]["steps"])]
    assert len((tmp_path / "e.csv").read_text().splitlines()) == 10


def test_sweep_results_files_resume_and_bin_us(small, tmp_path):
    model, ds = small
    results = tmp_path / "r.jsonl"
    args = ["-T", "1,3", "--bin-us", "20000", "--no-isolate", "--results", results]
    # T = 3 was evaluated alone before: the sweep refuses to overwrite it, before T = 1 runs
    alone = _json(model, ds, "-T", "3", "--bin-us", "20000", "--results", tmp_path / "r.T3.jsonl",
                  "--no-isolate")
    res = _eval(model, ds, *args)
    assert res.exit_code == 2 and "r.T3.jsonl exists; give --resume" in res.output
    assert not (tmp_path / "r.T1.jsonl").exists()
    doc = _json(model, ds, *args, "--resume")
    t1, t3 = doc["sweep"]
    assert t3["throughput"]["samples"] == 0 and t1["throughput"]["samples"] == 9  # T = 3 was done
    assert [comparable(r) for r in t3["results"]] == [comparable(r) for r in alone["results"]]
    # with --bin-us every T is that many 20 ms windows
    assert {r["timesteps"] for r in t1["results"]} == {1} and {r["timesteps"] for r in t3["results"]} == {3}
    again = _json(model, ds, *args, "--resume")  # everything done: the same table, nothing run
    assert again["rows"][0]["accuracy"] == doc["rows"][0]["accuracy"]
    assert [t["throughput"]["samples"] for t in again["sweep"]] == [0, 0]
    res = _eval(model, ds, *args, "--resume")
    assert "samples/s" in res.output and res.output.count("\n1  ") + res.output.count("\n3  ") == 2


def test_single_t_keeps_its_results_file_name(small, tmp_path):
    model, ds = small
    doc = _json(model, ds, "-T", "2", "--results", tmp_path / "r.jsonl", "--no-isolate")
    assert doc["options"]["timesteps"] == 2 and "sweep" not in doc
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


def test_a_derived_results_file_that_is_an_input_is_refused(small, tmp_path):
    model, ds = small
    (tmp_path / "r.T2.jsonl").symlink_to(model)  # the T = 2 file would overwrite the model
    res = _eval(model, ds, "-T", "1,2", "--results", tmp_path / "r.jsonl", "--resume", "--no-isolate")
    assert res.exit_code == 2 and "r.T2.jsonl: is an input of this command" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.T2.jsonl"]  # T = 1 did not start


def test_a_t_other_than_the_trained_one_is_warned_about(small):
    model, ds = small  # trained with T = 4
    res = _eval(model, ds, "-T", "2,4,8", "--no-isolate")
    assert res.exit_code == 0, res.output
    assert "warning: T=2,8; the model was trained with T=4" in res.stderr
    assert "warning" not in _eval(model, ds, "-T", "4", "--no-isolate").stderr
    assert "warning" not in _eval(model, ds, "-T", "2", "--no-isolate", "-q").stderr
