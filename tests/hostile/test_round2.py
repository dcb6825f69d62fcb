"""Second adversarial round (issues 14, 15, 23): each case is a probe that found a problem.

Every case runs the CLI in a sandboxed child (memory cap, time limit) and must end with exit 0
or one ``error:`` line (exit 2), leave no temp file and change no file it was not asked to
write. Classes: HDF5 tricks (filter plugins, never-written data within the caps, deep groups),
pickle shapes (BUILD shadowing dict methods, keys without a text form), NaN/inf in NIR
parameters and frames, output names that name a folder, newlines in names, BOMs, huge
sensors, EVT 3.0 vector storms, and signals that Python drops inside weakref callbacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim import files
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.io import write_events
from eventsim.files import deferred_commits, write_text_atomic
from tests.hostile import model_files as mf
from tests.hostile.batch import run_batch
from tests.hostile.sandbox import ROOT, _limits, assert_clean, run_cli

DEMO_MODEL = ROOT / "eventsim" / "data" / "demo_model.h5"


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _rec(path: Path, sensor=(4, 4), n: int = 50, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 10_000, n))
    ev["x"], ev["y"] = rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n)
    ev["p"] = rng.integers(0, 2, n)
    write_events(path, ev, sensor)
    return path


def _replace(f: h5py.File, path: str, **kw) -> None:
    group, leaf = path.rsplit("/", 1)
    del f[path]
    f[group].create_dataset(leaf, **kw)


# -- model-side files ----------------------------------------------------------------------------
def _model_cases(d: Path) -> list:
    good = mf.model_h5(d / "good.h5")

    def variant(name, fn):
        path = d / f"{name}.h5"
        shutil.copy(good, path)
        return mf.edit_h5(path, fn).name

    def unwritten(f):  # 1.9 GB declared (within the 2 GiB cap), a 30 KB file
        f["populations/out"].attrs["shape"] = np.array([40_000_000])
        _replace(f, "populations/out/bias", shape=(40_000_000,), dtype="f4", chunks=(1 << 20,))
        _replace(f, "projections/fc/weight", shape=(40_000_000, 12), dtype="f4", chunks=(1 << 18, 12))

    def lzf(f):
        _replace(f, "projections/fc/weight", data=np.zeros((3, 12), "f4"), chunks=(3, 12), compression="lzf")

    nofilter = d / variant("nofilter", lzf)
    raw = bytearray(nofilter.read_bytes())
    name = raw.find(b"lzf\x00")
    at = raw.rfind((32000).to_bytes(2, "little"), 0, name)
    raw[at : at + 2] = (32001).to_bytes(2, "little")  # a filter HDF5 does not have: a plugin search
    nofilter.write_bytes(bytes(raw))

    nested = mf.nir_small(d / "nested.nir")
    with h5py.File(nested, "r+") as f:
        g = f["node/nodes"].create_group("sub")
        for _ in range(2000):  # every object's path costs HDF5 its depth: quadratic without a cap
            g = g.create_group("nodes").create_group("x")

    def nir(name, edit):
        nodes = {
            "in": {"type": "Input", "shape": np.array([4])},
            "fc1": mf._affine(4, 4, 1),
            "lif": mf._if(4),
            "fc2": mf._affine(3, 4, 2),
            "out": {"type": "Output", "shape": np.array([3])},
        }
        edges = [("in", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "out")]
        edges = edit(nodes) or edges
        return mf.write_nir(d / f"{name}.nir", nodes, edges).name

    def conv(nodes):
        nodes["fc1"] = {"type": "Conv2d", "weight": np.ones((4, 4, 1, 1)), "stride": np.array([1.5, 1.0])}

    return [
        ("unavailable filter", ["run", nofilter.name, "-i", "rec.npz"], 2, "filter 32001"),
        (
            "never-written data within the caps",
            ["inspect", variant("unwritten", unwritten)],
            2,
            "never written",
        ),
        ("NIR groups 2000 deep", ["inspect", nested.name], 2, "64 levels"),
        (
            "NIR r = inf",
            ["inspect", nir("r_inf", lambda n: n["lif"].__setitem__("r", np.full(4, np.inf)))],
            2,
            "NaN or infinite",
        ),
        (
            "NIR input shape 4.5",
            ["inspect", nir("shape", lambda n: n["in"].__setitem__("shape", np.array([4.5])))],
            2,
            "whole numbers",
        ),
        ("NIR stride 1.5", ["inspect", nir("stride", conv)], 2, "whole numbers"),
        (
            "NIR 20,000 unknown edges",
            ["inspect", nir("edges", lambda n: [("in", f"x{k}") for k in range(20_000)])],
            2,
            "more)",
        ),
        (
            "NIR type of 100,000 characters",
            ["inspect", nir("type", lambda n: n["fc1"].__setitem__("type", "M" * 100_000))],
            2,
            "unsupported node type",
        ),
    ]


def _od_build(attr: str) -> bytes:
    """An OrderedDict whose instance attribute ``attr`` is set by pickle BUILD (slot state)."""
    name = attr.encode()
    return b"\x80\x02ccollections\nOrderedDict\n)RN}X" + struct.pack("<I", len(name)) + name + b"K\x01s\x86b."


def _checkpoint_cases(d: Path) -> list:
    convert = ["--arch", "dvs_cnn", "-T", "4", "--input-shape", "2,34,34"]
    cases = []
    blobs = {
        "shadow_get": _od_build("get"),
        "shadow_items": _od_build("items"),
        "int_key": pickle.dumps({10**100_000: 1, "x": {"y": 2}}, protocol=2),
    }
    for name, blob in blobs.items():
        mf.pth_zip(d / f"{name}.pth", blob)
        cases.append(
            (f"checkpoint {name}", ["convert", f"{name}.pth", *convert, "-o", "o.h5"], 2, f"{name}.pth")
        )
    return cases


def _input_cases(d: Path) -> list:
    frames = d / "frames.h5"
    from eventsim.network.h5io import save_model
    from tests.randnet import random_network

    net = random_network(5, frames=True)
    save_model(net, frames)
    shape = tuple(net.input_shape)
    np.save(d / "nan.npy", np.full(shape, np.nan, "f4"))
    np.save(d / "big.npy", np.full(shape, 1e308))
    (d / "ds").mkdir()
    _rec(d / "ds" / "a.npz")
    _rec(d / "ds" / "b.npz", seed=2)
    (d / "ds" / "bom.csv").write_bytes(b"\xef\xbb\xbfpath,label\na.npz,0\nb.npz,1\n")
    (d / "ds" / "nul.csv").write_bytes(b"path,label\na.npz\x00,0\n")
    _rec(d / "huge_sensor.npz", sensor=(65535, 65535))
    ev = np.zeros(10, EVENT_DTYPE)
    ev["t"] = np.arange(10)
    ev["x"] = 60000
    np.savez(d / "outside.npz", t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"], sensor=np.array([34, 34]))
    return [
        ("NaN frames", ["run", frames.name, "-i", "nan.npy"], 2, "nan.npy"),
        ("1e308 frames", ["run", frames.name, "-i", "big.npy"], 2, "float32"),
        (
            "manifest with a BOM",
            ["eval", "good.h5", "ds/bom.csv", "--no-isolate", "--json", "bom.json"],
            0,
            None,
        ),
        ("manifest with a NUL", ["eval", "good.h5", "ds/nul.csv", "--no-isolate"], 2, "nul.csv"),
        ("validate --seed -1", ["validate", "good.h5", "--seed", "-1"], 2, "--seed"),
        ("show a 65535x65535 sensor", ["events", "show", "huge_sensor.npz", "-o", "show.png"], 0, None),
        ("events outside the sensor warn in one line", ["events", "info", "outside.npz"], 0, None),
        (
            "output r.npz/ (realpath drops the slash)",
            ["inspect", "good.h5", "--json", "rec.npz/"],
            2,
            "names a folder",
        ),
        ("empty output name", ["inspect", "good.h5", "--json", ""], 2, "empty output name"),
        ("newline in an input name", ["run", "good.h5", "-i", "bad\n\x1b[31m.npz"], 2, "bad\\n\\x1b"),
    ]


GROUPS = {"models": _model_cases, "checkpoints": _checkpoint_cases, "inputs": _input_cases}
WRITES = {"bom.json", "show.png"}


@pytest.mark.parametrize("group", list(GROUPS))
def test_round2_probes(tmp_path, group):
    mf.model_h5(tmp_path / "good.h5")
    _rec(tmp_path / "rec.npz")
    cases = GROUPS[group](tmp_path)
    before = _digest(tmp_path)
    outcomes = run_batch([args for _, args, _, _ in cases], cwd=tmp_path, per_case=30.0)
    failures = []
    for (name, _, expect, mention), out in zip(cases, outcomes):
        try:
            assert_clean(out, expect=expect, mention=mention)
            assert out.seconds < 20, f"took {out.seconds:.1f} s"
            lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
            assert all(ln.startswith(("error: ", "warning: ", "wrote ")) for ln in lines), lines[:3]
            assert all(len(ln) < 400 for ln in lines), f"a line of {max(map(len, lines))} characters"
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    after = _digest(tmp_path)
    changed = [k for k in before if after.get(k) != before[k]]
    new = [k for k in after if k not in before and k not in WRITES]
    assert not failures, "\n".join(failures)
    assert not changed and not new, f"changed {changed}, new {new}"
    if group == "inputs":
        doc = json.loads((tmp_path / "bom.json").read_text())
        names = [c["name"] for c in doc["classes"]]
        assert doc["samples"] == 2 and names == ["0", "1"], names


def test_an_evt3_vector_storm_too_large_for_memory_is_one_line(tmp_path):
    # 32 MB of VECT_12 words: 100 M events (1.3 GB) for `run`, which holds a whole recording
    words = np.empty(2 + 2 * (8 << 20), "<u2")
    words[:2] = (0x8000, 0x0005)  # TIME_HIGH, ADDR_Y
    words[2::2], words[3::2] = 0x3000, 0x4FFF  # VECT_BASE_X 0, twelve events
    path = tmp_path / "storm.raw"
    path.write_bytes(b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n" + words.tobytes())
    out = run_cli(["run", DEMO_MODEL, "-i", path.name, "--downscale", "sum"], cwd=tmp_path, memory_mb=1536)
    assert_clean(out, expect=2, mention="storm.raw")
    assert "memory" in out.stderr


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to see which files are opened")
def test_an_unknown_filter_opens_no_plugin_folder(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "libevil.so").write_bytes(b"\x7fELF not really")
    model = mf.model_h5(tmp_path / "m.h5")
    with h5py.File(model, "r+") as f:
        _replace(f, "projections/fc/weight", data=np.zeros((3, 12), "f4"), chunks=(3, 12), compression="lzf")
    raw = bytearray(model.read_bytes())
    at = raw.rfind((32000).to_bytes(2, "little"), 0, raw.find(b"lzf\x00"))
    raw[at : at + 2] = (32001).to_bytes(2, "little")
    model.write_bytes(bytes(raw))
    log = tmp_path / "trace.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HDF5_PLUGIN_PATH": str(plugins)}
    proc = subprocess.run(
        [
            "strace",
            "-f",
            "-e",
            "trace=openat,open",
            "-o",
            str(log),
            sys.executable,
            "-m",
            "eventsim",
            "inspect",
            model.name,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 2 and b"filter 32001" in proc.stderr, proc.stderr[-500:]
    assert str(plugins) not in log.read_text()


# -- outputs are committed together, never after a signal ------------------------------------------
def test_outputs_of_a_failed_or_signalled_command_are_not_committed(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text("old a")
    with pytest.raises(RuntimeError), deferred_commits():
        write_text_atomic(a, "new a")
        raise RuntimeError("the second output failed")
    assert a.read_text() == "old a"
    with pytest.raises(KeyboardInterrupt), deferred_commits():  # Python dropped the interrupt
        write_text_atomic(a, "new a")
        write_text_atomic(b, "new b")
        files.note_signal(signal.SIGINT)
    assert a.read_text() == "old a" and not b.exists()
    with deferred_commits():
        write_text_atomic(a, "new a")
        write_text_atomic(b, "new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_wrote_lines_appear_only_for_committed_outputs(tmp_path, capsys):
    from eventsim.cli.base import say_written

    out = tmp_path / "a.json"
    with pytest.raises(KeyboardInterrupt), deferred_commits():
        write_text_atomic(out, "new")
        say_written(out)
        files.note_signal(signal.SIGINT)  # Ctrl-C after the output was written, before the commit
    assert not out.exists() and "wrote" not in capsys.readouterr().err
    with deferred_commits():
        write_text_atomic(out, "new")
        say_written(out)
        assert "wrote" not in capsys.readouterr().err  # not before the commit
    assert out.read_text() == "new" and capsys.readouterr().err.startswith(f"wrote {out} (3 B)")


def test_ctrl_c_at_any_moment_of_events_convert_is_all_or_nothing(tmp_path):
    rng = np.random.default_rng(3)
    ev = np.zeros(1_500_000, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 10**7, ev.size))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 34, ev.size), rng.integers(0, 34, ev.size), 1
    write_events(tmp_path / "big.npz", ev, (34, 34))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    codes = set()
    for delay in (0.02, 0.3, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5):
        out = tmp_path / "out.h5"
        out.write_bytes(b"OLD")
        proc = subprocess.Popen(
            [sys.executable, "-m", "eventsim", "events", "convert", "big.npz", out.name],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_limits(2048),
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        err = err.decode(errors="replace")
        codes.add(proc.returncode)
        assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
        if proc.returncode in (130, -signal.SIGINT):
            # 130, or (seen once on a loaded CI machine, a fresh venv) ended by the signal itself
            # after the message: a shell reports both as 130; what matters is nothing was written
            assert out.read_bytes() == b"OLD", f"interrupted at {delay} s but the output changed"
            assert err.strip() == "error: interrupted", err[-800:]
        elif "error: interrupted" not in err and "KeyboardInterrupt" in err and proc.returncode != 0:
            # Python itself was still starting up (imports before eventsim's entry point; on a
            # loaded machine that can take longer than any fixed delay): its own traceback, and
            # nothing written
            assert out.read_bytes() == b"OLD", f"interrupted at start-up ({delay} s) but the output changed"
        else:
            assert proc.returncode == 0, f"exit {proc.returncode} at {delay} s\n{err[-800:]}"
            assert out.read_bytes()[:4] == b"\x89HDF" and "Traceback" not in err
    assert 130 in codes
