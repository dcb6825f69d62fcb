"""``eventsim run`` through click's CliRunner on tiny models and in-memory recordings."""

import json
import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.cli.run_cmd import demo_paths
from eventsim.engine.reference import forward
from eventsim.errors import InputFormatError
from eventsim.events.binning import bin_events
from eventsim.events.dtype import make_events
from eventsim.events.frames import read_png
from eventsim.events.io import read_events, write_events
from eventsim.network.h5io import save_model
from eventsim.network.ir import InputSpec, Network, Population, Projection
from tests.randnet import random_network


@pytest.fixture
def event_case(tmp_path):
    net = random_network(3)
    save_model(net, tmp_path / "m.h5")
    c, h, w = net.input_shape
    rng = np.random.default_rng(0)
    n = 400
    ev = make_events(np.sort(rng.integers(0, 10_000, n)), rng.integers(0, w, n), rng.integers(0, h, n),
                     rng.integers(0, 2, n))
    write_events(tmp_path / "rec.npz", ev, (w, h))
    return net, ev, tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_run_summary_and_json_match_the_reference(event_case):
    net, ev, tmp = event_case
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "-T", 4, "--precision", "float64",
               "--top-k", 2)
    assert r.exit_code == 0, r.output
    assert "prediction:" in r.output and "top-2:" in r.output
    assert "encoder MACs: 0; multiplications after the encoder: " in r.output
    for pop in net.order:
        assert pop in r.output
    r = invoke("run", tmp / "m.h5", "--input", tmp / "rec.npz", "-T", 4, "--precision", "float64",
               "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # only JSON on stdout
    ref = forward(net, *bin_events(ev, net.input.sensor, net.input_shape, net.input.polarity,
                                   timesteps=4).dense())
    assert doc["schema"] == "eventsim.report/1" and doc["timesteps"] == 4
    assert doc["prediction"] == ref.prediction
    assert np.allclose(doc["output"], ref.output, atol=1e-9)
    by_name = {lay["name"]: lay for lay in doc["layers"]}
    for q in net.projections:
        assert by_name[q.target]["sops"] >= int(ref.sops[q.name].sum())
    assert doc["totals"]["sops"] == sum(int(s.sum()) for s in ref.sops.values())
    assert doc["input"]["format"] == "npz" and doc["input"]["events"] == ev.size
    assert doc["input"]["path"].endswith("rec.npz")


def test_run_json_to_file_and_window_binning(event_case):
    _, ev, tmp = event_case
    out = tmp / "report.json"
    r = invoke("run", tmp / "m.h5", "-i", tmp / "rec.npz", "--bin-us", 2000, "--keep-partial",
               "--json", out)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    # window rule: floor(D / 2000) + 1 windows with --keep-partial, D = t_last - t0
    assert doc["timesteps"] == int(ev["t"][-1] - ev["t"][0]) // 2000 + 1
    assert doc["layers"][0]["spikes_pos"] == ev.size
    assert "prediction:" in r.output


def test_run_bad_fit_is_one_line_error(event_case):
    _, ev, tmp = event_case
    big = make_events(ev["t"], ev["x"], ev["y"], ev["p"])
    write_events(tmp / "big.npz", big, (64, 48))
    r = invoke("run", tmp / "m.h5", "-i", tmp / "big.npz")
    assert r.exit_code == 2
    assert r.output.startswith("error: ") and "64x48" in r.output and "Traceback" not in r.output
    assert invoke("run", tmp / "m.h5", "-i", tmp / "big.npz", "--downscale", "sum").exit_code == 0
    r = invoke("run", tmp / "m.h5", "-i", tmp / "big.npz", "--crop", "1,2,3")
    assert r.exit_code == 2 and "X0,Y0,W,H" in r.output


def test_run_needs_model_and_input_together(event_case):
    _, _, tmp = event_case
    r = invoke("run", tmp / "m.h5")
    assert r.exit_code == 2 and "--input" in r.output


def test_run_without_arguments_uses_the_demo_or_says_it_is_missing():
    try:
        demo_paths()
    except InputFormatError:
        r = invoke("run")
        assert r.exit_code == 2 and "demo data is missing" in r.output
        return
    r = invoke("run", "--json", "-")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["totals"]["sops"] > 0


def write_png(path, pixels: np.ndarray) -> None:
    """A minimal 8-bit PNG (gray or RGB) with the Sub/Up/Paeth filters on alternate rows."""
    h, w = pixels.shape[:2]
    chans = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = pixels.reshape(h, w * chans).astype(np.int64)
    raw = bytearray()
    for r in range(h):
        ftype = [0, 1, 2, 4][r % 4]
        prev = rows[r - 1] if r else np.zeros(w * chans, np.int64)
        line = rows[r]
        left = np.concatenate([np.zeros(chans, np.int64), line[:-chans]])
        upleft = np.concatenate([np.zeros(chans, np.int64), prev[:-chans]])
        if ftype == 0:
            pred = np.zeros_like(line)
        elif ftype == 1:
            pred = left
        elif ftype == 2:
            pred = prev
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        raw += bytes([ftype]) + bytes(((line - pred) & 0xFF).astype(np.uint8))

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    colour = 0 if chans == 1 else 2
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    path.write_bytes(data)


def test_png_decoder_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    for shape in ((5, 7), (6, 4, 3)):
        px = rng.integers(0, 256, shape).astype(np.uint8)
        write_png(tmp_path / "a.png", px)
        got = read_png(str(tmp_path / "a.png"))
        want = (px[None] if px.ndim == 2 else px.transpose(2, 0, 1)) / 255.0
        assert np.array_equal(got, want)


def test_run_static_npy_and_png_count_encoder_macs(tmp_path):
    net = random_network(5, frames=True)
    save_model(net, tmp_path / "f.h5")
    c, h, w = net.input_shape
    frame = np.random.default_rng(2).random((c, h, w))
    np.save(tmp_path / "x.npy", frame)
    r = invoke("run", tmp_path / "f.h5", "-i", tmp_path / "x.npy", "-T", 3, "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ref = forward(net, np.repeat(frame[None], 3, axis=0))
    assert doc["totals"]["macs"] == sum(int(m.sum()) for m in ref.macs.values()) > 0
    assert np.allclose(doc["output"], ref.output, atol=1e-4)
    assert doc["input"]["format"] == "npy"
    png_frame = (frame * 255).round().astype(np.uint8)
    write_png(tmp_path / "x.png", png_frame[0] if c == 1 else np.moveaxis(png_frame, 0, -1))
    r = invoke("run", tmp_path / "f.h5", "-i", tmp_path / "x.png", "-T", 2)
    if c in (1, 3):
        assert r.exit_code == 0, r.output
        assert "encoder MACs:" in r.output
    else:
        assert r.exit_code == 2 and "does not fit the model input" in r.output


def test_bench_command_loads_the_benchmark_and_checks_options():
    pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")
    r = invoke("bench", "--no-kernel", "--no-e2e", "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["kernel"] is None and doc["end_to_end"] == []
    r = invoke("bench", "--densities", "0.5,x")
    assert r.exit_code == 2 and "densities" in r.output


def test_run_on_real_recordings_matches_the_reference(shared_data, tmp_path):
    rng = np.random.default_rng(0)
    pops = [Population("input", "input", (2, 32, 32)),
            Population("a", "ternary_lif", (8, 16, 16), threshold=0.5, decay=0.25),
            Population("out", "readout", (4,))]
    projs = [Projection("c", "conv2d", "input", "a", weight=rng.normal(0, 0.3, (8, 2, 3, 3)), stride=2,
                        padding=1),
             Projection("d", "dense", "a", "out", weight=rng.normal(0, 0.1, (4, 8 * 16 * 16)))]
    net = Network("fix", pops, projs, ["input", "a", "out"], timesteps=5, input=InputSpec(polarity="split"))
    save_model(net, tmp_path / "fix.h5")
    for rec in ("aedat4/tonic_sample.aedat4", "aedat2/neal_walking.aedat"):
        path = shared_data / rec
        r = invoke("run", tmp_path / "fix.h5", "--input", path, "--downscale", "sum", "--precision",
                   "float64", "--json", "-")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        events, sensor = read_events(path)
        ref = forward(net, *bin_events(events, sensor, (2, 32, 32), "split", timesteps=5,
                                       downscale="sum").dense())
        assert doc["input"]["events"] == events.size and doc["layers"][0]["spikes_pos"] == events.size
        assert doc["totals"]["sops"] == sum(int(s.sum()) for s in ref.sops.values())
        assert np.allclose(doc["output"], ref.output, atol=1e-9)
