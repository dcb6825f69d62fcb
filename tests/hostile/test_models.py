"""Hostile and careless MODEL-side input, through the CLI, under a memory cap and time limits.

Issues 15 (memory bombs, tracebacks, hangs, silently accepted model.h5 fields) and 23
(external storage, exponential DAG pickles and diamond NIR graphs, absurd energy costs,
echoed values). Every case is generated here in tmp_path; every case must finish within its
limit with exit 0 or one ``error:`` line and exit 2 (tests/hostile/sandbox.assert_clean).

The cases run in a few sandboxed children (tests/hostile/batch.py): one per group, not one
per case, so the whole file stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.hostile import model_files as mf
from tests.hostile.batch import run_batch
from tests.hostile.sandbox import assert_clean

CONVERT = ["--arch", "dvs_cnn", "--timesteps", "4", "--input-shape", "2,34,34"]


def _events(path: Path) -> Path:
    """A tiny event recording for the tiny model (sensor 4x4)."""
    rng = np.random.default_rng(1)
    n = 50
    np.savez(path, t=np.sort(rng.integers(0, 10_000, n)).astype("<i8"),
             x=rng.integers(0, 4, n).astype("<u2"), y=rng.integers(0, 4, n).astype("<u2"),
             p=rng.integers(0, 2, n).astype("u1"), sensor=np.array([4, 4]))
    return path


def _patch_central(path: Path, member: str, offset: int, fmt: str, value: int) -> Path:
    """Overwrite one field of ``member``'s central-directory record (what zipfile trusts)."""
    raw = bytearray(path.read_bytes())
    pos = 0
    while True:
        pos = raw.index(b"PK\x01\x02", pos)
        name_len = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46:pos + 46 + name_len].decode() == member:
            struct.pack_into(fmt, raw, pos + offset, value)
            path.write_bytes(bytes(raw))
            return path
        pos += 4


# -- cases: (id, args, expected exit or None, text the error line must contain) ----------------
def _model_cases(d: Path) -> list:
    cases = []
    good = mf.model_h5(d / "good.h5")
    rec = _events(d / "rec.npz")
    cases.append(("good model runs", ["run", good, "-i", rec], 0, None))

    def variant(name, fn):
        path = d / f"{name}.h5"
        path.write_bytes(good.read_bytes())
        return mf.edit_h5(path, fn)

    def unwritten_weight(f):  # 10^5 x 10^5 floats declared, never written (40 GB if read)
        del f["projections/fc/weight"]
        f["projections/fc"].create_dataset("weight", shape=(10**5, 10**5), dtype="f4", chunks=(100, 100))

    def float16(f):
        w = f["projections/fc/weight"][()]
        del f["projections/fc/weight"]
        f["projections/fc"].create_dataset("weight", data=w.astype("f2"))

    def external_storage(f):  # the weight's bytes come from another file ("password database")
        w = f["projections/fc/weight"]
        shape = w.shape
        del f["projections/fc/weight"]
        f["projections/fc"].create_dataset("weight", shape=shape, dtype="f4",
                                           external=[(str(d / "passwd"), 0, 4 * int(np.prod(shape)))])

    def external_link(f):
        del f["projections/fc/weight"]
        f["projections/fc/weight"] = h5py.ExternalLink(str(d / "other.h5"), "/w")

    def virtual(f):
        w = f["projections/fc/weight"]
        shape = w.shape
        del f["projections/fc/weight"]
        layout = h5py.VirtualLayout(shape=shape, dtype="f4")
        layout[:] = h5py.VirtualSource(str(d / "other.h5"), "w", shape=shape)
        f["projections/fc"].create_virtual_dataset("weight", layout)

    def soft_loop(f):
        del f["projections/fc/weight"]
        f["projections/fc/weight"] = h5py.SoftLink("/projections/fc/weight")

    def deep_provenance(f):
        f.attrs["provenance"] = "[" * 100_000 + "]" * 100_000

    def delay(value, version=3):  # recurrence came with format_version 3
        def edit(f):
            f.attrs["format_version"] = version
            f["projections/fc"].attrs["delay"] = value
        return edit

    def zero_delay_loop(f):  # l1 -> l1 without a delay: each step would need its own result
        f.attrs["format_version"] = 3
        g = f["projections"].create_group("loop")
        for key in ("stride", "padding", "dilation", "groups"):
            g.attrs[key] = f["projections/fc"].attrs[key]
        g.attrs.update({"kind": "dense", "source": "l1", "target": "l1"})
        g.create_dataset("weight", data=np.ones((12, 12), "f4"))

    def cuba_in_v1(f):
        f["populations/l1"].attrs.update({"kind": "cuba_lif", "syn_decay": 0.5})

    (d / "passwd").write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 10)
    with h5py.File(d / "other.h5", "w") as f:
        f["w"] = np.ones((3, 12), "f4")
    edits = {
        "unwritten_weight": (unwritten_weight, "/projections/fc/weight"),
        "timesteps_1e9": (lambda f: f.attrs.__setitem__("timesteps", 10**9), "100,000"),
        "float_stride": (lambda f: f["projections/c1"].attrs.__setitem__("stride", np.array([1.5, 2.0])),
                         "stride"),
        "float16_weight": (float16, "float16"),
        "negative_sensor": (lambda f: f["input"].attrs.__setitem__("sensor", np.array([-4, 4])), "sensor"),
        "zero_sensor": (lambda f: f["input"].attrs.__setitem__("sensor", np.array([0, 4])), "sensor"),
        "external_storage": (external_storage, "/projections/fc/weight"),
        "external_link": (external_link, "/projections/fc/weight"),
        "virtual_dataset": (virtual, "/projections/fc/weight"),
        "soft_link_loop": (soft_loop, "/projections/fc/weight"),
        "format_version_1e300": (lambda f: f.attrs.__setitem__("format_version", 1e300), "format_version"),
        "deep_provenance": (deep_provenance, "provenance"),
        "huge_population": (lambda f: f["populations/l1"].attrs.__setitem__(
            "shape", np.array([3, 60000, 60000])), "neurons"),
        "delay_1e15": (delay(10**15), "delay"),
        "delay_negative": (delay(-1), "delay"),
        "delay_float": (delay(1.5), "delay"),
        "delay_in_version_1": (delay(1, version=1), "format_version"),
        "zero_delay_loop": (zero_delay_loop, "without a delay"),
        "cuba_lif_in_version_1": (cuba_in_v1, "format_version"),
    }
    # a free-space object of size 0 in the global heap (where the attribute texts live): libhdf5
    # loops forever in C when it reads any of them (found by the fuzz test below)
    raw = bytearray(good.read_bytes())
    heap = raw.index(b"GCOL")
    raw[heap + 16:heap + 18] = b"\0\0"
    raw[heap + 24:heap + 32] = bytes(8)
    (d / "heap_loop.h5").write_bytes(bytes(raw))
    cases.append(("model.h5 global heap loop (inspect)", ["inspect", d / "heap_loop.h5"], 2, "global heap"))
    for name, (fn, mention) in edits.items():
        path = variant(name, fn)
        cases.append((f"model.h5 {name} (inspect)", ["inspect", path], 2, mention))
        cases.append((f"model.h5 {name} (run)", ["run", path, "-i", rec], 2, path.name))
    return cases


def _checkpoint_cases(d: Path) -> list:
    out = d / "out.h5"
    cases = []

    def convert(name, path, mention=None):
        cases.append((f"checkpoint {name}", ["convert", path, *CONVERT, "-o", out], 2, mention or path.name))

    # a 380-byte .pth whose tensor is a stride-0 view of one float: 6.4 GB if materialised
    convert("stride-0 expanded tensor",
            mf.pth_zip(d / "stride0.pth", mf.tensor_pickle((40000, 40000), (0, 0), 1), {"0": b"\0" * 4}),
            "repeats")
    # a storage whose zip entry declares 4 GB uncompressed (a zip bomb, checked before inflating)
    bomb = mf.pth_zip(d / "bomb.pth", mf.tensor_pickle((4,), (1,), 4), {"0": b"\0" * 16},
                      compress=zipfile.ZIP_DEFLATED)
    convert("zip bomb storage", _patch_central(bomb, "archive/data/0", 24, "<I", 0xF000_0000),
            "uncompressed")
    enc = mf.pth_zip(d / "encrypted.pth", mf.tensor_pickle((4,), (1,), 4), {"0": b"\0" * 16})
    convert("encrypted member", _patch_central(enc, "archive/data/0", 8, "<H", 1), "encrypted")
    odd = mf.pth_zip(d / "method99.pth", mf.tensor_pickle((4,), (1,), 4), {"0": b"\0" * 16})
    convert("unknown compression method", _patch_central(odd, "archive/data/0", 10, "<H", 99),
            "compression method")
    dag = mf.pth_zip(d / "dag.pth", mf.dag_pickle(63))
    assert dag.stat().st_size < 3000  # 2^63 names in under 3 KB
    convert("DAG pickle of 63 shared levels", dag)
    convert("self-referencing dict", mf.pth_zip(d / "selfref.pth", mf.self_ref_pickle()))
    deep = mf.pth_zip(d / "deep.pth", b"\x80\x02}" + b"X\x01\x00\x00\x00a}" * 5000 + b"s" * 5000 + b".")
    convert("5000 nested dicts", deep)
    for name, shape in (("negative dim", [-1, 4]), ("overflowing product", [2**40, 2**40, 2**40]),
                        ("100 dims", [1] * 100)):
        path = mf.safetensors(d / f"{name.replace(' ', '_')}.safetensors",
                              {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
        convert(f"safetensors {name}", path, "shape")
    deep_st = d / "deep.safetensors"
    text = b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    deep_st.write_bytes(struct.pack("<Q", len(text)) + text)
    convert("safetensors deeply nested header", deep_st, "nested")
    return cases


def _nir_cases(d: Path) -> list:
    cases = []
    diamonds = mf.nir_diamonds(d / "diamonds.nir", stages=40, linear=True)
    wide = mf.nir_diamonds(d / "wide.nir", stages=40, linear=False)
    chain = mf.nir_chain(d / "chain.nir", length=3000)
    for cmd in (["inspect"], ["convert", "-o", d / "nir_out.h5"], ["export", "-o", d / "nir_out.nir"]):
        cases.append((f"NIR 40 linear diamonds ({cmd[0]})", [cmd[0], diamonds, *cmd[1:]], 2, "chains"))
        cases.append((f"NIR 40 diamond stages of neurons ({cmd[0]})", [cmd[0], wide, *cmd[1:]], None, None))
    cases.append(("NIR 40 linear diamonds (run)", ["run", diamonds, "-i", d / "rec.npz"], 2, "chains"))
    cases.append(("NIR chain of 3000 nodes (inspect)", ["inspect", chain], 0, None))
    cases.append(("NIR input 60000x60000", ["inspect", mf.nir_huge_input(d / "huge.nir")], 2, "neurons"))
    ext = mf.nir_small(d / "ext.nir")
    with h5py.File(ext, "r+") as f:
        del f["node/nodes/fc1/weight"]
        f["node/nodes/fc1"].create_dataset("weight", shape=(4, 4), dtype="f8",
                                           external=[(str(d / "passwd"), 0, 128)])
    cases.append(("NIR external storage", ["inspect", ext], 2, "external storage"))
    return cases


def _table_and_manifest_cases(d: Path) -> list:
    cases = []
    base = {"name": "t", "citation": "c", "process": "p", "ac_pJ": 1.0, "mac_pJ": 2.0}
    for name, value in (("1e308", 1e308), ("negative", -1.0), ("nan", float("nan"))):
        path = d / f"table_{name}.json"
        path.write_text(json.dumps({**base, "mac_pJ": value}))  # NaN is written as the NaN literal
        cases.append((f"energy table {name}", ["energy", "--table", path], 2, "mac_pJ"))
    deep = d / "deep_table.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    cases.append(("energy table nested 100,000 deep (JSON)", ["energy", "--table", deep], 2, "nested"))
    deep_toml = d / "deep_table.toml"
    deep_toml.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    cases.append(("energy table nested 50,000 deep (TOML)", ["energy", "--table", deep_toml], 2, "nested"))
    good = d / "good.h5"
    (d / "s.npz").write_bytes((d / "rec.npz").read_bytes())
    manifest = d / "labels.csv"
    manifest.write_text("s.npz,99999999999\n")
    cases.append(("manifest label 99999999999", ["eval", good, manifest], 2, "99999999999"))
    outside = d / "labels3.csv"
    outside.write_text("s.npz,0\ns.npz,3\n")  # the tiny model has 3 outputs: labels 0..2
    cases.append(("manifest label beyond the model's outputs", ["eval", good, outside], 2, "outputs"))
    deep_manifest = d / "deep.json"
    deep_manifest.write_text("[" * 100_000 + "]" * 100_000)
    cases.append(("manifest nested 100,000 deep", ["eval", good, deep_manifest], 2, "nested"))
    return cases


def _special_file_cases(d: Path) -> list:
    fifo = d / "fifo.h5"
    os.mkfifo(fifo)
    cases = [("FIFO as model (inspect)", ["inspect", fifo], 2, "FIFO"),
             ("FIFO as model (run)", ["run", fifo, "-i", d / "rec.npz"], 2, "FIFO"),
             ("FIFO as checkpoint", ["convert", fifo, *CONVERT, "-o", d / "o.h5"], 2, "FIFO"),
             ("FIFO as energy table", ["energy", "--table", _fifo(d / "fifo.json")], 2, "FIFO"),
             ("FIFO as manifest", ["eval", d / "good.h5", _fifo(d / "fifo.csv")], 2, "FIFO")]
    zero = d / "zero.h5"
    try:  # a character device made here (the system's /dev files are never used)
        os.mknod(zero, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except (PermissionError, OSError):
        return cases
    cases.append(("character device as model", ["inspect", zero], 2, "character device"))
    link = d / "link_to_device.pth"
    link.symlink_to(zero)
    cases.append(("symlink to a character device as checkpoint",
                  ["convert", link, *CONVERT, "-o", d / "o.h5"], 2, "character device"))
    return cases


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


GROUPS = {"model.h5": _model_cases, "checkpoints": _checkpoint_cases, "nir": _nir_cases,
          "tables and manifests": _table_and_manifest_cases, "special files": _special_file_cases}


@pytest.mark.parametrize("group", list(GROUPS))
def test_hostile_model_side_input(tmp_path, group):
    mf.model_h5(tmp_path / "good.h5")
    _events(tmp_path / "rec.npz")
    (tmp_path / "passwd").write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 10)
    cases = GROUPS[group](tmp_path)
    outcomes = run_batch([args for _, args, _, _ in cases], cwd=tmp_path, per_case=30.0)
    failures = []
    for (name, _, expect, mention), out in zip(cases, outcomes):
        try:
            assert_clean(out, expect=expect, mention=mention)
            if out.returncode == 2:
                line = next(ln for ln in out.stderr.splitlines() if ln.startswith("error: "))
                assert len(line) < 400, f"error line of {len(line)} characters: {line[:200]}..."
                assert "Traceback" not in out.stdout
            assert out.seconds < 20, f"took {out.seconds:.1f} s"
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n\n".join(failures)


# -- seeded fuzzing ----------------------------------------------------------------------------
def _mutate(blob: bytes, rng: np.random.Generator) -> bytes:
    """One mutation: byte flips, a truncation, or a 2/4/8-byte field set to an extreme value.

    Positions favour the first and last 2 KB, where HDF5 superblocks, zip directories and
    pickles keep their lengths and offsets.
    """
    data = bytearray(blob)

    def position() -> int:
        zone = rng.integers(3)
        if zone == 0:
            return int(rng.integers(min(len(data), 2048)))
        if zone == 1:
            return int(rng.integers(max(0, len(data) - 2048), len(data)))
        return int(rng.integers(len(data)))

    kind = rng.integers(3)
    if kind == 0:
        for _ in range(int(rng.integers(1, 9))):
            data[position()] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        return bytes(data[:position()])
    else:
        width = int(rng.choice([2, 4, 8]))
        pos = min(position(), len(data) - width)
        value = [0, 1, 2**(8 * width - 1) - 1, 2**(8 * width) - 1, 2**(8 * width - 1)][int(rng.integers(5))]
        data[pos:pos + width] = value.to_bytes(width, "little")
    return bytes(data)


def _seed_files(d: Path) -> dict[str, tuple[Path, list]]:
    """Valid seeds made by the project's own writers, with the commands each mutation gets."""
    rec = _events(d / "rec.npz")
    seeds = {"model.h5": (mf.model_h5(d / "seed.h5"), [["inspect"], ["run", "-i", rec]]),
             "nir": (mf.nir_small(d / "seed.nir"), [["inspect"], ["export", "-o", d / "fz_out.nir"]])}
    try:
        import torch

        from models.dvs import dvs_cnn
    except ImportError:  # torch is optional: the checkpoint seed needs it
        return seeds
    torch.manual_seed(0)
    torch.save(dvs_cnn(4).state_dict(), d / "seed.pth")
    seeds["pth"] = (d / "seed.pth", [["convert", *CONVERT, "-o", d / "fz_out.h5"]])
    return seeds


FUZZ_MUTATIONS = 60  # per seed; ~30 s for all of them on two cores


def test_fuzzed_model_files_fail_cleanly(tmp_path):
    rng = np.random.default_rng(20240615)
    cases = []
    for kind, (seed, commands) in _seed_files(tmp_path).items():
        blob = seed.read_bytes()
        for k in range(FUZZ_MUTATIONS):
            path = tmp_path / f"{kind.replace('.', '_')}_{k}{seed.suffix}"
            path.write_bytes(_mutate(blob, rng))
            for cmd in commands:
                cases.append([cmd[0], path, *cmd[1:]])
    outcomes = run_batch(cases, cwd=tmp_path, per_case=20.0, timeout=600)
    failures = []
    for out in outcomes:
        try:
            assert_clean(out)
            assert out.seconds < 10, f"took {out.seconds:.1f} s"
        except AssertionError as exc:
            tail = "\n".join(out.stderr.strip().splitlines()[-4:])
            failures.append(f"{str(exc).splitlines()[0]}\n{tail}")
    head = f"{len(failures)} of {len(cases)} fuzzed cases failed:\n\n"
    assert not failures, head + "\n\n".join(failures[:20])
