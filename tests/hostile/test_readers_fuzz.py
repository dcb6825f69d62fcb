"""A standing, seeded fuzz of every event reader and the frame readers (issue 15's fuzz suite).

Small valid recordings of every format are made here (with eventsim's own writers where it has
one, with minimal encoders written from the format descriptions otherwise), plus short valid
prefixes of the real recordings in the shared data folder when it is present. Each is mutated
(truncations, byte flips, extreme values written into length and offset fields, deleted or
duplicated regions); the mutated copies live in ``tmp_path`` only. One child process reads all
of them the way ``events info`` and ``run`` do, under an address-space cap, a per-case alarm and
a peak-memory margin (``fuzz_worker``). Anything but events or an EventsimError fails the test,
naming the source, the mutation and the exception.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.formats import aedat4
from eventsim.events.io import read_info, write_events
from tests.conftest import SHARED_DATA
from tests.hostile.sandbox import MEMORY_MB, ROOT

SEED = 20250615
MUTATIONS = 400  # per source
CASE_SECONDS = 10.0  # per mutated file (a hang in Python code)
TOTAL_SECONDS = 240.0  # the whole batch (a hang in compiled code ends here)
SENSOR = (64, 48)
# Extreme values written into length/offset fields: zero, sign boundaries, all ones, huge.
EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 30,
            1 << 40, (1 << 62), (1 << 63) - 1, 1 << 63, (1 << 64) - 1)


# ---------------------------------------------------------------------------------------------
# small valid sources


def _events(n: int = 1200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.empty(n, EVENT_DTYPE)
    ev["t"] = 1_000_000 + np.cumsum(rng.integers(0, 40, n))
    ev["x"] = rng.integers(0, SENSOR[0], n)
    ev["y"] = rng.integers(0, SENSOR[1], n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def _evt2(ev: np.ndarray) -> bytes:
    words = []
    high = None
    for t, x, y, p in ev.tolist():
        if t >> 6 != high:
            high = t >> 6
            words.append((0x8 << 28) | (high & 0x0FFFFFFF))
        words.append((p << 28) | ((t & 0x3F) << 22) | (x << 11) | y)
    head = f"% format EVT2;height={SENSOR[1]};width={SENSOR[0]}\n% end\n".encode()
    return head + np.array(words, "<u4").tobytes()


def _evt3(ev: np.ndarray) -> bytes:
    words = []
    for t, x, y, p in ev.tolist():  # one event per word group: TIME_HIGH, TIME_LOW, ADDR_Y, ADDR_X
        words += [(0x8 << 12) | ((t >> 12) & 0xFFF), (0x6 << 12) | (t & 0xFFF), y,
                  (0x2 << 12) | (p << 11) | x]
    words += [(0x3 << 12) | 3, (0x4 << 12) | 0xA5A, (0x5 << 12) | 0x81]  # a vector group
    head = f"% evt 3.0\n% format EVT3;height={SENSOR[1]};width={SENSOR[0]}\n% end\n".encode()
    return head + np.array(words, "<u2").tobytes()


def _dat(ev: np.ndarray) -> bytes:
    rec = np.empty(2 * len(ev), "<u4")
    rec[0::2] = ev["t"]
    rec[1::2] = (ev["p"].astype(np.uint32) << 28) | (ev["y"].astype(np.uint32) << 14) | ev["x"]
    head = f"% Data file containing CD events.\n% Version 2\n% Width {SENSOR[0]}\n% Height {SENSOR[1]}\n"
    return head.encode() + bytes([12, 8]) + rec.tobytes()


def _aedat2(ev: np.ndarray, davis: bool) -> bytes:
    x, y, p = (ev[k].astype(np.uint32) for k in ("x", "y", "p"))
    if davis:  # DAVIS240C: 240x180, raw coordinates mirrored by the reader
        addr, chip = (y << 22) | (x << 12) | (p << 11), "eu.seebetter.ini.chips.davis.DAVIS240C"
    else:
        addr, chip = (y << 8) | (x << 1) | (1 - p), "ch.unizh.ini.jaer.chip.retina.DVS128"
    rec = np.empty((len(ev), 2), ">u4")
    rec[:, 0], rec[:, 1] = addr, ev["t"] & 0xFFFFFFFF
    return f"#!AER-DAT2.0\r\n# AEChip: {chip}\r\n".encode() + rec.tobytes()


def _nmnist(ev: np.ndarray) -> bytes:
    t = (ev["t"] - ev["t"][0]).astype(np.int64)  # 23-bit timestamps from 0
    rec = np.empty((len(ev), 5), np.uint8)
    rec[:, 0], rec[:, 1] = ev["x"] % 34, ev["y"] % 34
    rec[:, 2] = (ev["p"] << 7) | ((t >> 16) & 0x7F)
    rec[:, 3], rec[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return rec.tobytes()


def _png(rng: np.random.Generator, colour: int) -> bytes:
    h, w, chans = 10, 7, {0: 1, 2: 3, 6: 4}[colour]
    rows = rng.integers(0, 256, (h, w * chans), dtype=np.uint8)
    raw = b"".join(bytes([r % 5]) + rows[r].tobytes() for r in range(h))  # every filter type

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def _written(tmp: Path, name: str, ev: np.ndarray, **meta) -> bytes:
    path = tmp / name
    write_events(path, ev, SENSOR, **meta)
    return path.read_bytes()


def _npz_uncompressed(tmp: Path, ev: np.ndarray) -> bytes:
    path = tmp / "plain.npz"  # np.savez: the .npy headers are visible to byte flips
    np.savez(path, t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"], sensor=np.array(SENSOR, np.int64))
    return path.read_bytes()


def synthetic_sources(tmp: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (content, kind); the name's extension is kept for the mutated copies."""
    ev = _events()
    rng = np.random.default_rng(SEED)
    npy = tmp / "frame.npy"
    np.save(npy, rng.random((1, 10, 7)))
    return {
        "w.npz": (_written(tmp, "w.npz", ev, camera="fuzz"), "events"),
        "plain.npz": (_npz_uncompressed(tmp, ev), "events"),
        "w.h5": (_written(tmp, "w.h5", ev, camera="fuzz"), "events"),
        "lz4.aedat4": (_written(tmp, "lz4.aedat4", ev, compression="lz4"), "events"),
        "zstd.aedat4": (_written(tmp, "zstd.aedat4", ev, compression="zstd"), "events"),
        "none.aedat4": (_written(tmp, "none.aedat4", ev, compression="none"), "events"),
        "w.aedat3": (_written(tmp, "w.aedat3", ev), "events"),
        "evt2.raw": (_evt2(ev), "events"),
        "evt3.raw": (_evt3(ev[:400]), "events"),
        "cd.dat": (_dat(ev), "events"),
        "dvs128.aedat": (_aedat2(ev, davis=False), "events"),
        "davis.aedat": (_aedat2(ev, davis=True), "events"),
        "digit.bin": (_nmnist(ev), "events"),
        "gray.png": (_png(rng, 0), "frames"),
        "rgba.png": (_png(rng, 6), "frames"),
        "frame.npy": (npy.read_bytes(), "frames"),
    }


# Real recordings: (path in the shared data folder, record size of its payload) -> a valid prefix.
REAL = (("aedat2/TranslatingSquare.aedat", 8), ("aedat4/dvSave-2024_06_13_16_16_25.aedat4", None),
        ("prophesee/expelliarmus_evt3_sample.raw", 2), ("prophesee/faery_evt2.raw", 4),
        ("prophesee/tonic_sample_ncars.dat", 8), ("nmnist/sample_nmnist.bin", 5),
        ("ncaltech101/faces_easy_0001.bin", 5))
REAL_PREFIX = 48 << 10


def real_sources() -> dict[str, tuple[bytes, str]]:
    out: dict[str, tuple[bytes, str]] = {}
    if not SHARED_DATA.is_dir():
        return out
    for rel, record in REAL:
        path = SHARED_DATA / rel
        data = path.read_bytes()
        if record is not None and len(data) > REAL_PREFIX:
            start = int(read_info(path).metadata.get("data_offset", 0))
            data = data[: start + (REAL_PREFIX - start) // record * record]
        out["real-" + path.name] = (data, "events")
    return out


# ---------------------------------------------------------------------------------------------
# mutations


def field_offsets(name: str, data: bytes) -> list[int]:
    """Offsets of length / count / offset fields the format has (where they are known)."""
    offs: list[int] = []
    if name.endswith(".aedat4"):
        offs.append(len(aedat4.MAGIC))  # IOHeader size
        pos = len(aedat4.MAGIC) + 4 + struct.unpack_from("<I", data, len(aedat4.MAGIC))[0]
        while pos + 8 <= len(data):
            offs += [pos, pos + 4, pos + 8, pos + 12]  # stream id, size, start of the body
            pos += 8 + max(struct.unpack_from("<i", data, pos + 4)[0], 0)
    elif name.endswith(".aedat3"):
        pos = data.find(b"#!END-HEADER\r\n") + 14
        while pos + 28 <= len(data):
            offs += range(pos, pos + 28, 4)
            size, _, _, _, cap = struct.unpack_from("<iiiii", data, pos + 4)
            pos += 28 + max(size * cap, 0)
    elif name.endswith(".npz"):
        for magic, fields in ((b"PK\x03\x04", (14, 18, 22, 26, 28)), (b"PK\x01\x02", (20, 24, 28, 30, 42)),
                              (b"PK\x05\x06", (8, 10, 12, 16)), (b"\x93NUMPY", (8,))):
            at = data.find(magic)
            while at >= 0:
                offs += [at + f for f in fields]
                at = data.find(magic, at + 1)
    elif name.endswith(".png"):
        pos = 8
        while pos + 8 <= len(data):
            offs += [pos, pos + 8, pos + 12]  # chunk length, IHDR width / height
            pos += 12 + struct.unpack_from(">I", data, pos)[0]
    elif name.endswith(".h5"):
        offs += range(0, min(len(data), 4096), 8)  # superblock and object headers: 8-byte fields
    return [o for o in offs if o < len(data)]


def mutate(name: str, data: bytes, rng: np.random.Generator, k: int) -> tuple[bytes, str]:
    """The ``k``-th mutation of ``data`` and a description of it."""
    kind = k % 4
    head = min(len(data), 4096)
    if kind == 0:  # truncation, half of the time inside the header region
        cut = int(rng.integers(1, head if k % 8 == 0 else len(data)))
        return data[:cut], f"truncated at {cut}"
    buf = bytearray(data)
    if kind == 1:  # byte flips
        where = rng.integers(0, head if k % 8 == 1 else len(buf), int(rng.integers(1, 9)))
        for pos in where:
            buf[pos] ^= int(rng.integers(1, 256))
        return bytes(buf), f"flipped bytes at {sorted(int(p) for p in where)}"
    if kind == 2:  # an extreme value in a length / offset field
        offs = field_offsets(name, data)
        pos = int(rng.choice(offs)) if offs and rng.random() < 0.8 else int(rng.integers(0, head)) & ~3
        width = int(rng.choice([2, 4, 8]))
        value = int(rng.choice(EXTREMES)) & ((1 << (8 * width)) - 1)
        order = "little" if rng.random() < 0.7 else "big"
        buf[pos:pos + width] = value.to_bytes(width, order)
        return bytes(buf[:len(data)]), f"wrote {value:#x} ({width} bytes, {order}) at {pos}"
    a, b = sorted(int(v) for v in rng.integers(0, len(buf), 2))  # delete or duplicate a region
    if rng.random() < 0.5:
        return bytes(buf[:a] + buf[b:]), f"deleted [{a}, {b})"
    return bytes(buf[:b] + buf[a:b] + buf[b:]), f"duplicated [{a}, {b})"


# ---------------------------------------------------------------------------------------------
# the test


def _run_worker(cases: list[tuple[str, str]], tmp: Path
                ) -> tuple[dict[int, str], dict[int, int | None], int | None, str]:
    """Run the batch in one child.

    -> ({case: why} failures, {case: values read}, the case running at a crash, stderr).
    """
    listing = tmp / "cases.json"
    listing.write_text(json.dumps(cases))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache_hostile"))
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.hostile.fuzz_worker", str(listing),
                               str(MEMORY_MB), str(CASE_SECONDS)], cwd=tmp, env=env,
                              capture_output=True, timeout=TOTAL_SECONDS)
        stdout, stderr, died = proc.stdout, proc.stderr, proc.returncode != 0
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, died = exc.stdout or b"", exc.stderr or b"", True
    failures, read, running = {}, {}, None
    for line in stdout.decode(errors="replace").splitlines():
        rec = json.loads(line)
        if "start" in rec:
            running = rec["start"]
            continue
        read[rec["i"]] = rec["read"]
        if not rec["ok"]:
            failures[rec["i"]] = rec["why"]
        if rec["i"] == running:
            running = None
    return failures, read, running if died else None, stderr.decode(errors="replace")[-2000:]


def test_fuzzed_recordings_give_events_or_one_clean_error(tmp_path):
    src_dir, mut_dir = tmp_path / "src", tmp_path / "mut"
    src_dir.mkdir()
    mut_dir.mkdir()
    sources = {**synthetic_sources(src_dir), **real_sources()}
    cases, what, valid = [], [], []
    for s, (name, (data, kind)) in enumerate(sorted(sources.items())):
        rng = np.random.default_rng([SEED, s])
        ext = "." + name.rsplit(".", 1)[-1]
        valid.append(len(cases))
        cases.append((str(src_dir / f"valid{s}{ext}"), kind))  # the unmutated source reads fine
        (src_dir / f"valid{s}{ext}").write_bytes(data)
        what.append(f"{name} (unmutated)")
        for k in range(MUTATIONS):
            blob, desc = mutate(name, data, rng, k)
            path = mut_dir / f"m{s}_{k}{ext}"
            path.write_bytes(blob)
            cases.append((str(path), kind))
            what.append(f"{name}: {desc}")
    failures, read, crashed, stderr = _run_worker(cases, tmp_path)
    report = [f"{what[i]}: {why}" for i, why in sorted(failures.items())]
    if crashed is not None:
        report.append(f"{what[crashed]}: the worker died or hung (stderr: {stderr})")
    assert not report, f"{len(report)} of {len(cases)} fuzz cases failed:\n" + "\n\n".join(report[:20])
    assert len(read) == len(cases)
    assert all(read[i] for i in valid), [what[i] for i in valid if not read[i]]  # sources are valid
    assert sum(bool(read[i]) for i in read) > len(cases) // 4  # many mutants still decode


@pytest.mark.parametrize("name", ["w.npz", "lz4.aedat4", "gray.png"])
def test_mutations_are_seeded(tmp_path, name):
    data = synthetic_sources(tmp_path)[name][0]
    one = [mutate(name, data, np.random.default_rng([SEED, 1]), k) for k in range(8)]
    two = [mutate(name, data, np.random.default_rng([SEED, 1]), k) for k in range(8)]
    assert one == two and len({m[0] for m in one}) >= 4
