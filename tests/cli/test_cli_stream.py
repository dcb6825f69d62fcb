"""``eventsim run`` on long recordings: windows against cut files, continuous steps against the
whole-file run, standard input against the file, option checks, warnings, the timeline."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.events.dtype import make_events
from eventsim.events.io import write_events
from eventsim.network.h5io import save_model
from tests.events.test_streams import evt2_bytes
from tests.randnet import random_network

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args, stdin: bytes | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin)


def _json(r) -> dict:
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture(params=[3, 8])
def recording(request, tmp_path):
    """A random net, and a recording with bursts, a gap and a sensor twice the input (downscaled)."""
    net = random_network(request.param)
    save_model(net, tmp_path / "m.h5")
    c, h, w = net.input_shape
    rng = np.random.default_rng(request.param)
    n = 1500
    t = np.sort(rng.integers(0, 400_000, n))
    t[n // 2:] += 150_000  # a gap longer than the windows
    ev = make_events(t, rng.integers(0, 2 * w, n), rng.integers(0, 2 * h, n), rng.integers(0, 2, n))
    sensor = (2 * w, 2 * h)
    write_events(tmp_path / "rec.npz", ev, sensor)
    (tmp_path / "rec.raw").write_bytes(evt2_bytes(ev, sensor))
    return net, ev, sensor, tmp_path


def _cut_run(tmp, ev, sensor, rec, opts) -> dict:
    cut = ev[(ev["t"] >= rec["t_start"]) & (ev["t"] < rec["t_end"])]
    write_events(tmp / "cut.npz", cut, sensor)
    r = invoke("run", tmp / "m.h5", "--input", tmp / "cut.npz", "--json", "-", *opts)
    if rec["prediction"] is None:  # the window the run refuses (--bin-us: no complete step)
        assert r.exit_code == 2 and "0 time steps" in r.output
        return {}
    return _json(r)


@pytest.mark.parametrize("opts", [
    ["-T", "3"],
    ["--bin-us", "9000", "--keep-partial"],
    ["--bin-us", "7000", "-T", "5", "--polarity", "signed", "--crop", "1,1,7,9"],
    ["--binning", "count", "-T", "4", "--precision", "int"],
])
def test_each_window_is_the_run_of_its_cut_file(recording, opts):
    net, ev, sensor, tmp = recording
    if "--polarity" in opts and net.input_shape[0] != 1:
        opts = opts[:opts.index("--polarity")] + opts[opts.index("--polarity") + 2:]
    opts = [*opts, "--downscale", "sum"]
    precision = [] if "--precision" in opts else ["--precision", "float64"]
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "--window-us", 40_000, "--hop-us", 25_000,
               "--jsonl", tmp / "w.jsonl", "-q", *precision, *opts)
    assert r.exit_code == 0, r.output
    records = _lines(tmp / "w.jsonl")
    t0, tmax = int(ev["t"][0]), int(ev["t"].max())
    full = (tmax - t0 - 40_000) // 25_000 + 1
    assert [x["window"] for x in records] == list(range(len(records)))
    assert len(records) == full + (1 if "--keep-partial" in opts else 0)
    assert any(x["events"] == 0 for x in records)  # the gap gives empty windows, run as empty inputs
    for rec in records:
        assert rec["t_start"] == t0 + 25_000 * rec["window"] and rec["t_end"] == rec["t_start"] + 40_000
        whole = _cut_run(tmp, ev, sensor, rec, [*precision, *opts])
        if not whole:
            continue
        assert rec["events"] == whole["input"]["events"]
        assert rec["prediction"] == whole["prediction"]
        assert rec["output"] == whole["output"]  # exact: the same run
        assert rec["sops"] == whole["totals"]["sops"]
        assert rec["timesteps"] == whole["timesteps"]
        assert rec["decision_step"] == whole["latency"]["decision_step"]


def test_standard_input_gives_what_the_file_gives(recording):
    net, ev, sensor, tmp = recording
    data = (tmp / "rec.raw").read_bytes()
    base = ["run", tmp / "m.h5", "--precision", "float64", "-T", "3", "--downscale", "sum"]
    from_file = _json(invoke(*base, "--input", tmp / "rec.raw", "--json", "-"))
    from_stdin = _json(invoke(*base, "--input", "-", "--json", "-", stdin=data))
    assert from_stdin["input"]["path"] == "<stdin>" and from_stdin["input"]["format"] == "prophesee_raw"
    for doc in (from_file, from_stdin):
        doc["input"].pop("path")
        doc.pop("model_path")
    assert from_stdin == from_file
    args = ["--window-us", 30_000, "--jsonl", "-", "-q"]
    r_file = invoke(*base, "--input", tmp / "rec.raw", *args)
    r_stdin = invoke(*base, "--input", "-", "--format", "prophesee_raw", *args, stdin=data)
    assert r_file.exit_code == 0 and r_stdin.exit_code == 0, r_stdin.output
    assert r_stdin.stdout == r_file.stdout and len(r_file.stdout.splitlines()) > 5


@pytest.mark.parametrize("keep_partial", [False, True])
def test_continuous_increments_add_up_to_the_whole_run(recording, keep_partial):
    net, ev, sensor, tmp = recording
    b = 6000
    extra = ["--keep-partial"] if keep_partial else []
    opts = ["--precision", "float64", "--downscale", "sum", "--bin-us", b, *extra]
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.raw", "--continuous", "-T", 4, "--jsonl",
               tmp / "c.jsonl", "-q", *opts)
    assert r.exit_code == 0, r.output
    steps = _lines(tmp / "c.jsonl")
    n = (int(ev["t"].max()) - int(ev["t"][0])) // b + (1 if keep_partial else 0)
    assert [s["step"] for s in steps] == list(range(n))
    inc = np.array([s["increment"] for s in steps])
    whole = _json(invoke("run", tmp / "m.h5", "--input", tmp / "rec.raw", "-T", n, "--json", "-", *opts))
    assert np.cumsum(inc, axis=0)[-1].tolist() == whole["output"]  # in order, float64: exact
    assert sum(s["sops"] for s in steps) == whole["totals"]["sops"]
    assert sum(s["events"] for s in steps) == whole["input"]["events"] - whole["input"]["dropped_events"] \
        + whole["input"]["outside_map_events"]
    for k, s in enumerate(steps):  # the running output: the last T = 4 increments
        assert s["t_start"] == int(ev["t"][0]) + k * b and s["t_end"] == s["t_start"] + b
        assert np.allclose(s["output"], inc[max(0, k - 3):k + 1].sum(axis=0), rtol=0, atol=1e-12)
        assert s["prediction"] == int(np.argmax(s["output"]))


@pytest.mark.parametrize("args,needle", [
    (["--window-us", 0], "--window-us must be a positive"),
    (["--window-us", -3], "--window-us must be a positive"),
    (["--window-us", 10, "--hop-us", 0], "--hop-us must be a positive"),
    (["--window-us", 10, "--hop-us", 20], "--allow-gaps"),
    (["--hop-us", 20], "--hop-us needs --window-us"),
    (["--continuous"], "--continuous needs --bin-us"),
    (["--continuous", "--bin-us", 10, "--window-us", 10], "exclude each other"),
    (["--follow"], "--follow needs --window-us"),
    (["--jsonl", "-"], "--jsonl needs --window-us"),
    (["--window-us", 10, "--json", "-"], "use --jsonl"),
    (["--window-us", 10, "--format", "npz"], "'npz' is not one of"),
])
def test_bad_options_are_one_error_line(recording, args, needle):
    net, ev, sensor, tmp = recording
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", *args)
    assert r.exit_code == 2, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in errors[0], r.output


def test_stdin_with_a_format_that_cannot_stream(recording):
    net, ev, sensor, tmp = recording
    r = invoke("run", tmp / "m.h5", "--input", "-", "--window-us", 1000, stdin=(tmp / "rec.npz").read_bytes())
    assert r.exit_code == 2 and "error: <stdin>: format npz cannot be read from a stream" in r.output


def test_timeline_summary_warnings_and_plot(recording):
    pytest.importorskip("matplotlib")
    net, ev, sensor, tmp = recording
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "--window-us", 50_000, "-T", 7,
               "--downscale", "nearest", "--plot", tmp / "t.png")
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert out[0].split()[:5] == ["window", "start", "s", "end", "s"]
    assert out[1].split()[:3] == ["0", "0.000", "0.050"]
    assert "windows of" in r.stdout and "decision step" in r.stdout and "total SOPs" in r.stdout
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert any(f"ran 7 time steps; the model was trained with T={net.timesteps}" in w for w in warnings) \
        or net.timesteps == 7
    assert any("--crop/--downscale dropped" in w for w in warnings)  # nearest 2x keeps about 1/4
    assert any("had no events" in w for w in warnings)
    assert (tmp / "t.png").read_bytes()[:4] == b"\x89PNG"
    quiet = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "--window-us", 50_000, "-T", 7,
                   "--downscale", "nearest", "-q")
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr


def test_a_single_run_warns_about_t_crop_and_empty_input(recording):
    net, ev, sensor, tmp = recording
    t = net.timesteps + 2
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "-T", t, "--downscale", "nearest")
    assert f"warning: {t} time steps; the model was trained with T={net.timesteps}" in r.stderr
    assert "warning: --crop/--downscale dropped" in r.stderr
    write_events(tmp / "empty.npz", ev[:0], sensor)
    r = invoke("run", tmp / "m.h5", "--input", tmp / "empty.npz", "--downscale", "sum")
    assert r.exit_code == 0 and "warning: the input had no events" in r.stderr
    # -T with --bin-us keeps the first T windows only: most of a 550 ms recording falls outside
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "-T", 2, "--bin-us", 10_000,
               "--downscale", "sum", "--json", "-")
    late = json.loads(r.stdout)["input"]["dropped_events"]
    assert late * 2 > ev.size and f"{late:,} fall outside them" in r.stderr
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "-T", 2, "--bin-us", 10_000,
               "--downscale", "sum", "-q")
    assert "warning" not in r.stderr


def test_follow_reads_a_growing_file_until_ctrl_c(recording):
    net, ev, sensor, tmp = recording
    data = (tmp / "rec.raw").read_bytes()
    grow = tmp / "grow.raw"
    grow.write_bytes(data[: len(data) // 3])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["run", tmp / "m.h5", "--input", grow, "--follow", "--window-us", 20000, "-T", 2, "--downscale",
            "sum", "--jsonl", "-"]
    proc = subprocess.Popen([sys.executable, "-m", "eventsim", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    full = (int(ev["t"].max()) - int(ev["t"][0])) // 20_000
    watchdog = threading.Timer(120, proc.kill)  # a child that stops answering fails, never hangs
    watchdog.start()
    try:
        records = [json.loads(proc.stdout.readline())]  # the first window, from the first third
        with open(grow, "ab") as f:
            f.write(data[len(data) // 3:])
        while len(records) < full:  # every full window of the whole file, as the file grew
            records.append(json.loads(proc.stdout.readline()))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out == b""  # nothing more: the partial window is not full
    assert [x["window"] for x in records] == list(range(full))
    assert "the summary so far" in err.decode() and "windows of" in err.decode()


def test_realtime_paces_by_event_time_and_reports_it(recording):
    net, ev, sensor, tmp = recording
    span = (int(ev["t"].max()) - int(ev["t"][0])) * 1e-6
    start = time.monotonic()
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.raw", "--window-us", 100_000, "-T", 2,
               "--downscale", "sum", "--realtime", "-q")
    assert r.exit_code == 0, r.output
    assert time.monotonic() - start >= 0.9 * (span // 0.1) * 0.1  # waited for the last full window's end
    line = next(x for x in r.stdout.splitlines() if x.startswith("real time: factor "))
    assert "lag max" in line and "dropped" in line
