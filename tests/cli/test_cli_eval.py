"""``eventsim eval`` through click's CliRunner (and one killed subprocess for --resume)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.eval.sample import comparable
from tests.eval.evaldata import CLASSES, write_dataset, write_model
from tests.procs import psutil, wait_session

pytestmark = pytest.mark.usefixtures("no_leftover_processes")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalcli")
    return str(write_model(root / "model.h5")), str(write_dataset(root / "ds", per_class=4))


def _eval(*args):
    res = CliRunner().invoke(cli, ["eval", *map(str, args)])
    return res


def _records(path):
    lines = open(path).read().splitlines()
    return json.loads(lines[0]), [json.loads(x) for x in lines[1:]]


def test_text_json_csv_and_plot(data, tmp_path):
    model, ds = data
    res = _eval(model, ds, "--json", tmp_path / "e.json", "--csv", tmp_path / "e.csv",
                "--plot", tmp_path / "e.png")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "e.json").read_text())
    recs = doc["results"]
    assert [r["index"] for r in recs] == list(range(12))
    assert [r["label"] for r in recs] == [0] * 4 + [1] * 4 + [2] * 4
    correct = sum(r["prediction"] == r["label"] for r in recs)
    assert doc["correct"] == correct and doc["accuracy"] == correct / 12
    assert sum(map(sum, doc["confusion"]["matrix"])) == 12
    assert doc["confusion"]["labels"] == list(CLASSES)
    assert f"accuracy: {correct / 12:.4f} ({correct} / 12)" in res.output
    assert "confusion matrix" in res.output and "slowest samples:" in res.output
    rows = (tmp_path / "e.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[0].startswith("index,path,label,prediction,correct")
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_stdout_manifest_classes_and_limit(data, tmp_path):
    model, ds = data
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + "".join(
        f"{os.path.join(ds, c, f)},{c}\n" for c in CLASSES for f in sorted(os.listdir(os.path.join(ds, c)))))
    res = _eval(model, manifest, "--classes", "gamma,beta", "--limit", "2", "--json", "-")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # only JSON on stdout
    assert [(r["label"], os.path.basename(r["path"])) for r in doc["results"]] == [
        (1, "s00.h5"), (1, "s01.aedat4"), (2, "s00.aedat4"), (2, "s01.npz")]


def test_corrupt_sample_is_reported_and_counted(data, tmp_path):
    model, ds = data
    bad = tmp_path / "ds"
    for c in CLASSES[:2]:
        (bad / c).mkdir(parents=True)
        for f in os.listdir(os.path.join(ds, c))[:2]:
            (bad / c / f).write_bytes(open(os.path.join(ds, c, f), "rb").read())
    (bad / "beta" / "zz.aedat4").write_bytes(b"#!AER-DAT4.0\r\n" + b"\x07" * 64)
    (bad / "beta" / "zz.npz").write_text("not events")
    (bad / "beta" / "notes.txt").write_text("not a sample: skipped, not failed")
    res = _eval(model, bad, "--json", tmp_path / "e.json")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "e.json").read_text())
    assert (doc["samples"], doc["evaluated"], doc["errors"]) == (6, 4, 2)
    assert sorted(f["path"] for f in doc["failed"]) == ["beta/zz.aedat4", "beta/zz.npz"]
    assert doc["skipped"] == ["beta/notes.txt"]
    assert "unreadable or failed samples: 2" in res.output and "failed: beta/zz.aedat4:" in res.output
    assert "skipped: 1 file(s) that are not samples (by extension and content): beta/notes.txt" in res.output
    only_bad = tmp_path / "bad2"
    (only_bad / "x").mkdir(parents=True)
    (only_bad / "x" / "a.aedat4").write_text("no")
    res = _eval(model, only_bad)
    assert res.exit_code == 2 and "error: " in res.output and "no sample could be evaluated" in res.output


def test_integer_class_folders_are_the_labels(data, tmp_path):
    # folders 0 and 2 hold alpha's and gamma's samples: labels 0 and 2, as the model's outputs
    model, ds = data
    for folder, c in (("0", "alpha"), ("2", "gamma")):
        shutil.copytree(os.path.join(ds, c), tmp_path / "num" / folder)
    res = _eval(model, tmp_path / "num", "--json", tmp_path / "num.json")
    assert res.exit_code == 0, res.output
    assert "labels: the class folder names (all integers): 0 -> 0, 2 -> 2" in res.output
    recs = json.loads((tmp_path / "num.json").read_text())["results"]
    ref = json.loads(_eval(model, ds, "--json", "-").stdout)["results"]
    want = [(r["label"], r["prediction"]) for r in ref if r["label"] in (0, 2)]
    assert [(r["label"], r["prediction"]) for r in recs] == want
    assert [r["correct"] for r in recs] == [lab == pred for lab, pred in want]
    assert "labels: class folders in sorted name order: alpha -> 0, beta -> 1, gamma -> 2" in \
        _eval(model, ds).output


@pytest.mark.slow
def test_resume_after_kill_gives_every_sample_once(data, tmp_path):
    model, ds = data
    big = write_dataset(tmp_path / "big", per_class=10, seed=3)
    results = tmp_path / "r.jsonl"
    exe = shutil.which("eventsim")  # the console script, as users run it (cwd not on sys.path)
    if exe is None:
        pytest.skip("the eventsim console script is not on PATH")
    cmd = [exe, "eval", model, str(big), "--results", str(results), "--precision", "float64",
           "--workers", "2"]
    # A folder named eventsim in the working directory must not shadow the package in the workers
    (tmp_path / "eventsim" / "data").mkdir(parents=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 4:  # header + 3 samples
                break
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
        proc.send_signal(signal.SIGKILL)  # only the eval process, as the out-of-memory killer would
    finally:
        proc.wait(30)
        # its workers, forkserver and resource tracker notice and end by themselves
        left = wait_session(proc.pid, grace=30)
    assert psutil is None or not left, f"processes outlived the killed eval: {left}"
    _, before = _records(results)
    assert 3 <= len(before) < 30
    res = _eval(model, big, "--results", results, "--resume", "--precision", "float64", "--json", "-")
    assert res.exit_code == 0, res.output
    header, after = _records(results)
    assert sorted(r["index"] for r in after) == list(range(30))  # every sample exactly once
    assert [comparable(r) for r in after[:len(before)]] == [comparable(r) for r in before]
    fresh = _eval(model, big, "--precision", "float64", "--json", "-")
    fresh_recs = json.loads(fresh.stdout)["results"]
    resumed = json.loads(res.stdout)["results"]
    assert [comparable(r) for r in resumed] == [comparable(r) for r in fresh_recs]
    assert header["options"]["precision"] == "float64"
    # a different option is refused, with the reason
    res = _eval(model, big, "--results", results, "--resume", "--precision", "float32")
    assert res.exit_code == 2 and "cannot resume" in res.output and "precision" in res.output


@pytest.mark.slow
def test_dask_scheduler_from_the_cli(data):
    distributed = pytest.importorskip("dask.distributed")
    model, ds = data
    local = json.loads(_eval(model, ds, "--json", "-").stdout)["results"]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        res = _eval(model, ds, "--scheduler", cluster.scheduler_address, "--json", "-")
    assert res.exit_code == 0, res.output
    assert [comparable(r) for r in json.loads(res.stdout)["results"]] == [comparable(r) for r in local]


def test_usage_errors(data, tmp_path, monkeypatch):
    model, ds = data
    res = _eval(model, ds, "--resume")
    assert res.exit_code == 2 and "--resume needs --results" in res.output
    res = _eval(model, ds, "--workers", "2", "--scheduler", "tcp://x:1")
    assert res.exit_code == 2 and "not both" in res.output
    (tmp_path / "r.jsonl").write_text("x\n")
    res = _eval(model, ds, "--results", tmp_path / "r.jsonl")
    assert res.exit_code == 2 and "give --resume" in res.output
    res = _eval(model, ds, "--plot", tmp_path / "fig.gif")
    assert res.exit_code == 2 and "fig.gif" in res.output and "accuracy" not in res.output
    res = _eval(model, ds, "--json", tmp_path / "no" / "such" / "e.json")
    assert res.exit_code == 2 and "does not exist" in res.output
    res = _eval(model, tmp_path / "missing")
    assert res.exit_code == 2 and "no such dataset" in res.output
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if not installed
    res = _eval(model, ds, "--scheduler", "tcp://127.0.0.1:1")
    assert res.exit_code == 2 and "pip install 'eventsim[dask]'" in res.output


def test_bundled_demo_digits_give_the_manifest_predictions(tmp_path):
    from importlib import resources

    data = resources.files("eventsim") / "data"
    if not (data / "MANIFEST").is_file():
        pytest.skip("the demo artefacts are not bundled")
    arts = json.loads((data / "MANIFEST").read_text())["artefacts"]
    digits = {k: v for k, v in arts.items() if k.startswith("demo/digit")}
    manifest = tmp_path / "demo.json"
    manifest.write_text(json.dumps([{"path": str(data / k), "label": v["label"]} for k, v in digits.items()]))
    res = _eval(data / "demo_model.h5", manifest, "--json", "-")
    assert res.exit_code == 0, res.output
    recs = json.loads(res.stdout)["results"]
    by_file = {os.path.relpath(str(data / r["path"]), str(data)): r for r in recs}
    assert len(recs) == len(digits) == 10
    # MANIFEST records each demo file's label, prediction and event count (tools/make_demo.py)
    assert {k: (r["label"], r["prediction"], r["events"]) for k, r in by_file.items()} == {
        k: (v["label"], v["prediction"], v["events"]) for k, v in digits.items()}


def test_readme_eval_output_agrees_with_the_manifest():
    """The README's demo evaluation prints the MANIFEST's accuracy and per-sample means."""
    from importlib import resources
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "README.md"
    manifest = resources.files("eventsim") / "data" / "MANIFEST"
    if not (readme.is_file() and manifest.is_file()):
        pytest.skip("README or demo MANIFEST absent")
    text = readme.read_text().split("## Evaluating a dataset", 1)[1]
    block = text.split("```\nmodel ", 1)[1].split("```", 1)[0]  # the output block
    m = json.loads(manifest.read_text())["models"]["ternary"]
    n = m["test_samples"]
    acc = m["engine_test_accuracy"]
    assert f"accuracy: {acc:.4f} ({round(acc * n):,} / {n:,})" in block
    rows = {line.split("  ")[0]: line.split()[-5] for line in block.splitlines()
            if line.startswith(("spikes ", "SOPs ", "energy pJ"))}
    assert rows["spikes"] == f"{m['spikes_per_sample']:,.0f}"
    assert rows["SOPs"] == f"{m['sops_per_sample']:,.0f}"
    assert rows["energy pJ (horowitz45-fp32)"] == f"{m['energy_pJ_per_sample']:,.0f}"
