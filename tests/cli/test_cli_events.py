"""`eventsim events info|convert|show` through click's CliRunner."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.events import read_events, write_events
from eventsim.events.dtype import make_events


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def sample(tmp_path, n=500):
    rng = np.random.default_rng(5)
    ev = make_events(np.sort(rng.integers(1000, 2_001_000, n)), rng.integers(0, 40, n),
                     rng.integers(0, 30, n), rng.integers(0, 2, n))
    path = tmp_path / "s.npz"
    write_events(path, ev, (40, 30), camera="TestCam")
    return path, ev


def test_info_json_matches_events(tmp_path):
    path, ev = sample(tmp_path)
    r = run("events", "info", path, "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schema"] == "eventsim.events-info/1" and doc["format"] == "npz"
    assert doc["sensor"] == [40, 30] and doc["camera"] == "TestCam"
    assert doc["events"] == len(ev) and doc["on"] == int(ev["p"].sum())
    assert doc["off"] == len(ev) - doc["on"]
    assert (doc["t_first"], doc["t_last"]) == (int(ev["t"][0]), int(ev["t"][-1]))
    assert doc["duration_us"] == int(ev["t"][-1] - ev["t"][0]) and doc["out_of_order"] == 0
    assert doc["rate_hz"] == pytest.approx(len(ev) / (doc["duration_us"] / 1e6))


def test_info_table_and_json_file(tmp_path):
    path, ev = sample(tmp_path)
    r = run("events", "info", path, "--json", tmp_path / "i.json")
    assert r.exit_code == 0, r.output
    assert "npz" in r.output and "40 x 30" in r.output and f"{len(ev):,}" in r.output
    assert json.loads((tmp_path / "i.json").read_text())["events"] == len(ev)


def test_info_real_fixture(shared_data):
    r = run("events", "info", shared_data / "aedat4" / "tonic_sample.aedat4", "--json", "-")
    doc = json.loads(r.stdout)
    # GROUND_TRUTH.json: 111,954 events, 55,023 ON, span 589,917 us, DVXplorer 320x240
    assert (doc["events"], doc["on"], doc["duration_us"]) == (111954, 55023, 589917)
    assert doc["sensor"] == [320, 240] and doc["camera"] == "DVXplorer_DXB00010"
    assert "header" not in doc["metadata"]


def test_info_reports_out_of_order(tmp_path):
    ev = make_events([5, 3, 4, 1], [0, 1, 2, 3], [0, 0, 0, 0], [1, 0, 1, 0])
    write_events(tmp_path / "o.h5", ev, (4, 1))
    doc = json.loads(run("events", "info", tmp_path / "o.h5", "--json", "-").stdout)
    assert doc["out_of_order"] == 2 and doc["t_min"] == 1 and doc["t_max"] == 5


@pytest.mark.parametrize("ext", [".npz", ".h5", ".aedat4"])
def test_convert_round_trip(tmp_path, ext):
    path, ev = sample(tmp_path)
    out = tmp_path / f"c{ext}"
    r = run("events", "convert", path, out)
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith(f"wrote {out} (") and f"): {len(ev)} events" in r.stderr and r.stdout == ""
    back, sensor = read_events(out)
    assert sensor == (40, 30) and np.array_equal(back, ev)


def test_convert_fixture_to_aedat4_zstd(shared_data, tmp_path):
    src = shared_data / "aedat2" / "alex_walking_again.aedat"
    out = tmp_path / "a.aedat4"
    r = run("events", "convert", src, out, "--compression", "zstd", "--chunk", "1000")
    assert r.exit_code == 0, r.output
    a, s1 = read_events(src)
    b, s2 = read_events(out)
    assert s1 == s2 == (128, 128) and np.array_equal(a, b)
    doc = json.loads(run("events", "info", out, "--json", "-").stdout)
    assert doc["metadata"]["compression"] == "zstd" and doc["camera"] == "DVS128"


def test_convert_without_a_stated_sensor_uses_the_extent_or_the_option(tmp_path):
    # an AEDAT 3.1 file whose source names no known chip has no sensor size
    head = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: Mystery\r\n#!END-HEADER\r\n"
    # one valid ON event at x=3, y=2, t=9 (bits: x 17-31, y 2-16, polarity 1, valid 0)
    pkt = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 1, 1, 1) + struct.pack("<Ii", (3 << 17) | (2 << 2) | 3, 9)
    (tmp_path / "m.aedat").write_bytes(head + pkt)
    r = run("events", "convert", tmp_path / "m.aedat", tmp_path / "m.npz")
    assert r.exit_code == 0 and "sensor 4x3 from the events' extent" in r.stderr, r.output
    assert read_events(tmp_path / "m.npz")[1] == (4, 3)
    r = run("events", "convert", tmp_path / "m.aedat", tmp_path / "m.npz", "--sensor", "8,6")
    assert r.exit_code == 0, r.output
    ev, sensor = read_events(tmp_path / "m.npz")
    assert sensor == (8, 6) and ev.tolist() == [(9, 3, 2, 1)]


def test_show_writes_png(tmp_path):
    path, _ = sample(tmp_path)
    r = run("events", "show", path, "-o", tmp_path / "f.png", "--bins", "3")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_show_frames_count_every_event(tmp_path):
    from eventsim.events.binstream import frame_counts
    from eventsim.events.io import scan_events, stream_events

    path, ev = sample(tmp_path)
    stats = scan_events(path)
    frames = frame_counts(stream_events(path), stats, (40, 30), bins=4)
    assert frames.shape == (4, 2, 30, 40) and frames.sum() == len(ev)
    # per-pixel ON counts over all bins equal a direct histogram
    on = ev[ev["p"] == 1]
    direct = np.zeros((30, 40), int)
    np.add.at(direct, (on["y"], on["x"]), 1)
    assert np.array_equal(frames[:, 1].sum(axis=0), direct)
    # the first event falls in bin 0, the last in bin 3 (equal time split of DESIGN.md)
    assert frames[0].sum() > 0 and frames[3].sum() > 0


def test_show_without_matplotlib(tmp_path, monkeypatch):
    path, _ = sample(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = run("events", "show", path, "-o", tmp_path / "f.png")
    assert r.exit_code == 2
    assert "pip install eventsim[plot]" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["info", "{bad}"],
    ["convert", "{bad}", "{tmp}/o.npz"],
    ["show", "{bad}", "-o", "{tmp}/o.png"],
    ["info", "{tmp}/missing.aedat4"],
    ["convert", "{good}", "{tmp}/o.txt"],
])
def test_bad_input_is_one_line_error(tmp_path, args):
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    good, _ = sample(tmp_path)
    argv = [a.format(bad=bad, tmp=tmp_path, good=good) for a in args]
    r = run("events", *argv)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output
    assert not (tmp_path / "o.npz").exists() and not (tmp_path / "o.png").exists()


def test_help_texts():
    r = run("events", "--help")
    assert r.exit_code == 0 and all(c in r.output for c in ("info", "convert", "show"))
    assert "extension" in run("events", "convert", "--help").output
