"""Hostile and careless event / frame input, run as the CLI in a child under a memory cap.

Issue 15 (memory bombs, options that grow memory, hangs, tracebacks) and issue 23 (event .h5
files that read other files, a crop outside the sensor), event side. Every hostile file is
generated here in ``tmp_path``; every case goes through ``sandbox.run_cli`` and must end with
exit 0 or one ``error:`` line (exit 2) within its limits. The bombs run under a tighter memory
cap than the sandbox default, so a reader that inflates what a file declares fails the test.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import h5py
import lz4.frame
import numpy as np
import pytest

from eventsim.events.binning import MAX_STEPS
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.formats import aedat4
from eventsim.events.frames import MAX_PIXELS, PNG_MAGIC
from eventsim.network.h5io import save_model
from tests.hostile.sandbox import ROOT, assert_clean, run_cli
from tests.randnet import random_network

DEMO_MODEL = ROOT / "eventsim" / "data" / "demo_model.h5"  # 2x34x34 event input, T = 4
#: tight enough that inflating one 1 GiB packet (or 3.6 GB of PNG data) cannot succeed
BOMB_MB = 1536
#: a bomb must be refused from what the file declares, not after inflating it
BOMB_SECONDS = 20.0


def _npz(path: Path, t, x=None, y=None, p=None, sensor=(34, 34)) -> Path:
    n = len(t)
    np.savez(path, t=np.asarray(t, np.int64),
             x=np.asarray(x if x is not None else np.arange(n) % 34, np.uint16),
             y=np.asarray(y if y is not None else np.arange(n) % 34, np.uint16),
             p=np.asarray(p if p is not None else np.arange(n) % 2, np.uint8),
             sensor=np.asarray(sensor, np.int64))
    return path


def _one_error(out) -> str:
    assert_clean(out, expect=2)
    return [ln for ln in out.stderr.splitlines() if ln.startswith("error: ")][0]


# ---------------------------------------------------------------------------------------------
# memory bombs (issue 15 item 2)


def _lz4_packet(events: int, zero_bytes: int) -> bytes:
    """An LZ4-compressed EVTS packet declaring ``events`` events, inflating to 32 + zero_bytes."""
    head = bytearray(aedat4._event_packet(np.zeros(0, EVENT_DTYPE)))  # prefix, header, count
    struct.pack_into("<I", head, 0, len(head) - 4 + 16 * events)
    struct.pack_into("<I", head, len(head) - 4, events)
    comp = lz4.frame.LZ4FrameCompressor()
    parts = [comp.begin(), comp.compress(bytes(head))]
    block = bytes(16 << 20)
    for _ in range(zero_bytes // len(block)):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    return b"".join(parts)


def _aedat4(path: Path, packets: list[bytes]) -> Path:
    info = aedat4._info_xml((34, 34), "lz4", "hostile", 0)
    body = [aedat4.MAGIC, aedat4._io_header(1, -1, info)]
    for blob in packets:
        body += [struct.pack("<ii", 0, len(blob)), blob]
    path.write_bytes(b"".join(body))
    return path


def test_aedat4_lz4_bomb_is_refused_from_the_declared_size(tmp_path):
    gib = 1 << 30
    honest = _lz4_packet((gib - 32) // 16, gib - 32 - (16 << 20))  # declares ~1 GiB of events
    path = _aedat4(tmp_path / "bomb.aedat4", [honest] * 3)
    assert path.stat().st_size < 16 << 20  # ~13 MB on disk
    out = run_cli(["events", "info", path.name], cwd=tmp_path, memory_mb=BOMB_MB)
    assert "declares" in _one_error(out) and "bomb.aedat4" in out.stderr
    assert out.seconds < BOMB_SECONDS

    lying = _lz4_packet(1000, gib)  # declares 16 kB, inflates to 1 GiB
    path = _aedat4(tmp_path / "liar.aedat4", [lying] * 3)
    out = run_cli(["run", DEMO_MODEL, "-i", path.name], cwd=tmp_path, memory_mb=BOMB_MB)
    assert "inflates beyond its declared" in _one_error(out) and "liar.aedat4" in out.stderr
    assert out.seconds < BOMB_SECONDS


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def _png(path: Path, width: int, height: int, idat: bytes, colour: int = 0) -> Path:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    path.write_bytes(PNG_MAGIC + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))
    return path


def _deflate_zeros(total: int) -> bytes:
    """A zlib stream of ``total`` zero bytes, built in milliseconds.

    After a full flush the compressor forgets its history, so every further 16 MiB block of
    zeros compresses to the same bytes: one block is repeated (the trailer's checksum is never
    reached by a reader that stops at the declared size).
    """
    block = bytes(16 << 20)
    c = zlib.compressobj(9)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    return first + again * (total // len(block) - 1) + c.flush()


FRAMES_SEED = 5  # random_network(5, frames=True) takes one gray 10x7 (C,H,W = 1,10,7) frame
FRAMES_SHAPE = (1, 10, 7)


@pytest.fixture(scope="module")
def frames_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "frames.h5"
    net = random_network(FRAMES_SEED, frames=True)
    assert tuple(net.input_shape) == FRAMES_SHAPE
    save_model(net, path)
    return path


def test_png_bombs_are_refused_before_decoding(tmp_path, frames_model):
    # the model's 7x10 (WxH) gray input declared (80 bytes of rows), IDAT inflating to 3.6 GB
    c, h, w = FRAMES_SHAPE
    bomb = _png(tmp_path / "idat.png", w, h, _deflate_zeros(3_600_000_000))
    assert bomb.stat().st_size < 4 << 20
    for args in (["run", frames_model, "-i", bomb.name], ["events", "emulate", bomb.name, "-o", "o.npz"]):
        out = run_cli(args, cwd=tmp_path, memory_mb=BOMB_MB)
        assert "inflates to more than" in _one_error(out) and "idat.png" in out.stderr
        assert out.seconds < BOMB_SECONDS and not (tmp_path / "o.npz").exists()

    # 6000x6000: refused on its IHDR, before any row is inflated or unfiltered
    side = 6000
    assert side * side > MAX_PIXELS
    big = _png(tmp_path / "big.png", side, side, zlib.compress(bytes(side + 1) * side, 1))
    out = run_cli(["run", frames_model, "-i", big.name], cwd=tmp_path)
    assert "6000x6000" in _one_error(out) and "big.png" in out.stderr
    assert out.seconds < BOMB_SECONDS

    # within the pixel cap but not the model's input: refused on IHDR too, naming both shapes
    mid = _png(tmp_path / "mid.png", 640, 480, zlib.compress(bytes(641) * 480))
    err = _one_error(run_cli(["run", frames_model, "-i", mid.name], cwd=tmp_path))
    assert "640x480" in err and "does not fit the model input" in err


def test_npy_declaring_more_than_it_holds(tmp_path, frames_model):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (100000, 3, 10000, 10000)})
        f.write(bytes(64))
    err = _one_error(run_cli(["run", frames_model, "-i", path.name], cwd=tmp_path, memory_mb=BOMB_MB))
    assert "huge.npy" in err and "does not fit the model input" in err


def test_h5_declaring_never_written_events(tmp_path):
    path = tmp_path / "ghost.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.attrs["sensor"] = np.array([34, 34])
        for k in ("t", "x", "y", "p"):
            g.create_dataset(k, shape=(10**12,), maxshape=(None,), dtype=EVENT_DTYPE[k],
                             chunks=(1 << 16,), compression="gzip")
    out = run_cli(["events", "info", path.name], cwd=tmp_path)
    err = _one_error(out)
    assert "ghost.h5" in err and "/events/t" in err and "1,000,000,000,000" in err
    assert out.seconds < BOMB_SECONDS


# ---------------------------------------------------------------------------------------------
# event .h5 files that would read other files (issue 23 item 2)


def _h5_events(path: Path, n: int = 10, **overrides) -> Path:
    """A valid event .h5, with ``overrides[k](group, name, data)`` creating dataset k instead."""
    rng = np.random.default_rng(0)
    data = {"t": np.arange(n, dtype=np.int64) * 10, "x": rng.integers(0, 34, n).astype(np.uint16),
            "y": rng.integers(0, 34, n).astype(np.uint16), "p": rng.integers(0, 2, n).astype(np.uint8)}
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.attrs["sensor"] = np.array([34, 34])
        for k, v in data.items():
            (overrides.get(k) or (lambda grp, name, d: grp.create_dataset(name, data=d)))(g, k, v)
    return path


def test_h5_external_storage_links_and_virtual_datasets_are_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(256)) * 4)
    other = _h5_events(tmp_path / "other.h5")
    cases = {
        "external.h5": {"x": lambda g, k, d: g.create_dataset(k, shape=d.shape, dtype=d.dtype,
                                                             external=[(str(secret), 0, d.nbytes)])},
        "extlink.h5": {"y": lambda g, k, d: g.__setitem__(k, h5py.ExternalLink(str(other), "/events/y"))},
        "virtual.h5": {"t": lambda g, k, d: g.create_virtual_dataset(
            k, _virtual_layout(other, "/events/t", d))},
    }
    names = {"external.h5": "/events/x", "extlink.h5": "/events/y", "virtual.h5": "/events/t"}
    for name, override in cases.items():
        _h5_events(tmp_path / name, **override)
        for args in (["events", "info", name], ["run", DEMO_MODEL, "-i", name]):
            err = _one_error(run_cli(args, cwd=tmp_path))
            assert name in err and names[name] in err, err


def _virtual_layout(source: Path, dataset: str, like: np.ndarray) -> h5py.VirtualLayout:
    layout = h5py.VirtualLayout(shape=like.shape, dtype=like.dtype)
    layout[:] = h5py.VirtualSource(str(source), dataset, shape=like.shape)
    return layout


# ---------------------------------------------------------------------------------------------
# hangs: devices, FIFOs, all-zero files (issue 15 item 4)


def test_devices_fifos_and_zero_files_are_refused_at_once(tmp_path):
    (tmp_path / "zero.bin").symlink_to("/dev/zero")  # read only, as an input
    os.mkfifo(tmp_path / "pipe.aedat4")  # nothing ever writes to it
    (tmp_path / "zeros.bin").write_bytes(bytes(5000))
    cases = [
        (["events", "info", "zero.bin"], "zero.bin", "character device"),
        (["run", DEMO_MODEL, "-i", "zero.bin"], "zero.bin", "character device"),
        (["events", "info", "pipe.aedat4"], "pipe.aedat4", "FIFO"),
        (["run", DEMO_MODEL, "-i", "pipe.aedat4"], "pipe.aedat4", "FIFO"),
        (["events", "convert", "pipe.aedat4", "o.npz"], "pipe.aedat4", "FIFO"),
        (["events", "emulate", "pipe.aedat4", "-o", "o.npz"], "pipe.aedat4", "FIFO"),
        (["events", "info", "zeros.bin"], "zeros.bin", "unknown event file format"),
    ]
    for args, name, what in cases:
        out = run_cli(args, cwd=tmp_path, timeout=30)
        err = _one_error(out)
        assert name in err and what in err, err
    assert not (tmp_path / "o.npz").exists()


def test_a_fifo_sample_does_not_stop_an_evaluation(tmp_path):
    for cls in ("0", "1"):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        _npz(tmp_path / "ds" / cls / "a.npz", np.arange(50) * 100)
    os.mkfifo(tmp_path / "ds" / "1" / "pipe.npz")
    out = run_cli(["eval", DEMO_MODEL, "ds", "--results", "r.jsonl"], cwd=tmp_path, timeout=60)
    assert_clean(out, expect=0)
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines[1:]]  # after the run's header line
    failed = [r for r in records if "error" in r]
    assert len(records) == 3 and len(failed) == 1 and "pipe.npz: is a FIFO" in failed[0]["error"]


# ---------------------------------------------------------------------------------------------
# tracebacks and silent misreadings (issue 15 item 5, 6; issue 23 item 6)


def test_polarity_other_than_0_1_is_refused_everywhere(tmp_path):
    _npz(tmp_path / "pol.npz", np.arange(20) * 100, p=[0, 1] * 9 + [2, 7])
    for args in (["events", "info", "pol.npz"], ["events", "show", "pol.npz", "-o", "f.png"],
                 ["run", DEMO_MODEL, "-i", "pol.npz"], ["events", "convert", "pol.npz", "o.h5"]):
        err = _one_error(run_cli(args, cwd=tmp_path))
        assert "pol.npz" in err and "polarity" in err and "2, 7" in err, err
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "o.h5").exists()


def test_corrupt_npy_header_inside_npz(tmp_path):
    # an unclosed bracket in t.npy's header dict: tokenize.TokenError inside numpy
    with zipfile.ZipFile(tmp_path / "tok.npz", "w") as zf:  # zipfile keeps the member CRCs valid
        zf.writestr("t.npy", _npy_bytes(np.arange(10, dtype=np.int64)).replace(b"(10,)", b"[10, "))
        for k, v in (("x", np.zeros(10, np.uint16)), ("y", np.zeros(10, np.uint16)),
                     ("p", np.zeros(10, np.uint8)), ("sensor", np.array([34, 34]))):
            zf.writestr(f"{k}.npy", _npy_bytes(v))
    for args in (["events", "info", "tok.npz"], ["run", DEMO_MODEL, "-i", "tok.npz"]):
        err = _one_error(run_cli(args, cwd=tmp_path))
        assert "tok.npz" in err and "'t'" in err and "header" in err, err


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_step_counts_from_options_and_spans_are_refused_with_their_need(tmp_path):
    _npz(tmp_path / "long.npz", [0, 5_000_000, 10_000_000])  # 10 s
    _npz(tmp_path / "stray.npz", [0, 10, 1 << 62])  # one stray event at t = 2^62
    cases = [
        (["-i", "long.npz", "-T", "1000000"], "1,000,000"),
        (["-i", "long.npz", "--bin-us", "1"], "10,000,000"),
        (["-i", "stray.npz", "--bin-us", "1000"], f"{(1 << 62) // 1000:,}"),
    ]
    for extra, need in cases:
        out = run_cli(["run", DEMO_MODEL, *extra], cwd=tmp_path)
        err = _one_error(out)
        assert need in err and f"{MAX_STEPS:,}" in err, err


def test_extreme_timestamps_and_windows_give_exact_bins_without_warnings(tmp_path):
    lo, hi = -(1 << 63), (1 << 63) - 1
    _npz(tmp_path / "edge.npz", [lo, lo + 1, 0, hi - 1, hi])
    out = run_cli(["run", DEMO_MODEL, "-i", "edge.npz", "--json", "-"], cwd=tmp_path)
    assert_clean(out, expect=0)
    assert "Warning" not in out.stderr, out.stderr
    doc = json.loads(out.stdout)
    assert doc["input"]["events"] == 5 and doc["input"]["dropped_events"] == 0
    # T = 4 over a span of 2^64 - 1 us: floor(rel * 4 / 2^64) = 0, 0, 2, 3, 3
    assert [lay["spikes_pos"] for lay in doc["layers"]][0] == 5

    out = run_cli(["run", DEMO_MODEL, "-i", "edge.npz", "--bin-us", str(10**20), "--keep-partial",
                   "--json", "-"], cwd=tmp_path)
    assert_clean(out, expect=0)
    assert "Warning" not in out.stderr and json.loads(out.stdout)["timesteps"] == 1

    out = run_cli(["events", "info", "edge.npz", "--json", "-"], cwd=tmp_path)
    assert_clean(out, expect=0)
    doc = json.loads(out.stdout)
    assert (doc["t_min"], doc["t_max"], doc["duration_us"]) == (lo, hi, (1 << 64) - 1)
    out = run_cli(["events", "show", "edge.npz", "-o", "e.png", "--bins", "4"], cwd=tmp_path)
    assert_clean(out, expect=0)
    assert "Warning" not in out.stderr, out.stderr


def test_crop_outside_the_sensor_is_an_error_naming_both(tmp_path):
    _npz(tmp_path / "rec.npz", np.arange(50) * 1000)
    err = _one_error(run_cli(["run", DEMO_MODEL, "-i", "rec.npz", "--crop", "40,0,10,10"], cwd=tmp_path))
    assert "40,0,10,10" in err and "34x34" in err and "rec.npz" in err


def test_info_on_backwards_timestamps_is_consistent(tmp_path):
    _npz(tmp_path / "back.npz", [5000, 4000, 3000, 2000, 1000])
    out = run_cli(["events", "info", "back.npz"], cwd=tmp_path)
    assert_clean(out, expect=0)
    assert "1000 .. 5000 us" in out.stdout and "go backwards" in out.stdout, out.stdout
    assert "0.004 s" in out.stdout  # duration = t_max - t_min, same as the range shown
