"""`eventsim validate` through click's CliRunner: table, JSON, exit codes 0 / 1 / 2."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.events.dtype import make_events
from eventsim.events.io import write_events
from eventsim.network.h5io import save_model
from tests.test_validate import ternary_net


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    paths = {}
    for name, net in {"good": ternary_net(), "alpha": ternary_net(relay=1.0),
                      "decay": ternary_net(decay=0.9)}.items():
        paths[name] = str(d / f"{name}.h5")
        save_model(net, paths[name], dtype="float64")
    return paths


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_pass_prints_table_and_exits_0(models):
    r = run("validate", models["good"], "--seed", "1")
    assert r.exit_code == 0, r.output
    for name in ("spike-values", "weights-only", "decay", "encoder", "quantisation", "float64-vs-reference",
                 "float32-agreement", "observed-spikes", "int-vs-int-reference", "int-saturation",
                 "int-vs-float", "kernel-audit"):
        assert name in r.output
    assert "PASSED" in r.output and "FAIL" not in r.output


def test_json_to_stdout_only(models):
    r = run("validate", models["good"], "--no-kernel-audit", "--json", "-")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["schema"] == "eventsim.validate/1" and doc["passed"] is True
    assert {c["status"] for c in doc["checks"]} <= {"pass", "info"}
    assert doc["quantisation"]["clipped_weights"] == 0


def test_unfolded_alpha_exits_1_with_fix(models, tmp_path):
    out = tmp_path / "report.json"
    r = run("validate", models["alpha"], "--no-kernel-audit", "--json", str(out))
    assert r.exit_code == 1
    assert "FAILED: spike-values" in r.output
    assert "fix: a spike of value n > 1 carries an amplitude: fold it" in r.output
    doc = json.loads(out.read_text())
    assert doc["passed"] is False


def test_strict_decay(models):
    r = run("validate", models["decay"], "--no-kernel-audit")
    assert r.exit_code == 0 and "WARN" in r.output and "listed exceptions: decay" in r.output
    r = run("validate", models["decay"], "--no-kernel-audit", "--strict")
    assert r.exit_code == 1 and "FAILED: decay" in r.output and "power of two" in r.output


def test_event_file_input(models, tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    ev = make_events(np.sort(rng.integers(0, 5000, n)), rng.integers(0, 6, n), rng.integers(0, 6, n),
                     rng.integers(0, 2, n))
    path = tmp_path / "rec.npz"
    write_events(path, ev, (6, 6))
    r = run("validate", models["good"], "--input", str(path), "-T", "3", "--no-kernel-audit")
    assert r.exit_code == 0, r.output
    assert str(path) in r.output and "3 time steps" in r.output
    # 1 ms windows over ~5 ms of events: the last partial window is dropped, as eventsim run does
    r = run("validate", models["good"], "--input", str(path), "--bin-us", "1000", "--no-kernel-audit")
    assert r.exit_code == 0, r.output
    span = int(ev["t"].max() - ev["t"].min())
    assert f"{span // 1000} time steps" in r.output


@pytest.mark.parametrize("case", ["missing-model", "not-a-model", "bad-input"])
def test_bad_input_exits_2(models, tmp_path, case):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an event file at all")
    args = {"missing-model": ["validate", str(tmp_path / "nope.h5")],
            "not-a-model": ["validate", str(junk)],
            "bad-input": ["validate", models["good"], "--input", str(junk)]}[case]
    r = run(*args)
    assert r.exit_code == 2
    assert r.output.startswith("error: ") or "error: " in r.output
    assert "Traceback" not in r.output


def test_run_precision_int(models, tmp_path):
    """`eventsim run --precision int` gives the integer reference's prediction and SOPs."""
    from eventsim.engine.quantize import quantize
    from eventsim.engine.reference_int import forward_int
    from eventsim.events.binning import bin_events, dense_counts
    from eventsim.network.h5io import load_model

    rng = np.random.default_rng(4)
    n = 500
    ev = make_events(np.sort(rng.integers(0, 8000, n)), rng.integers(0, 6, n), rng.integers(0, 6, n),
                     rng.integers(0, 2, n))
    path = tmp_path / "rec.npz"
    write_events(path, ev, (6, 6))
    r = run("run", models["good"], "--input", str(path), "-T", "4", "--precision", "int", "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["precision"] == "int" and doc["totals"]["multiplications"] == 0
    net = load_model(models["good"])
    pos, neg = dense_counts(bin_events(ev, (6, 6), net.input_shape, "split", 4))
    want = forward_int(quantize(net), pos, neg)
    assert doc["prediction"] == want.prediction
    assert doc["output"] == want.output_float.tolist()
    assert doc["totals"]["sops"] == sum(int(s.sum()) for s in want.sops.values())
