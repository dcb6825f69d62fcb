"""Decode-speed benchmark for the event readers (issue 4): M events/s and peak memory.

Generates large synthetic recordings in Prophesee EVT 2.0 (``.raw``) and jAER AEDAT 2.0
(DAVIS240C layout), then streams each through ``eventsim.events.io.stream_events`` -- the
same path every user of the library takes (format detection, header parsing, Numba decode
kernel, chunking) -- and reports:

- decode throughput in M events/s: the median of ``--runs`` timed passes, after one untimed
  pass that compiles (or loads from cache) the kernels and warms the page cache, so neither
  compile time nor disk speed is measured. One thread (the kernels are serial). The headline
  figure uses the process's CPU time (user + system, i.e. reading included): it is the cost on
  one core and stays meaningful on a loaded machine; the wall-clock rate is printed beside it;
- peak resident memory (``VmHWM``) of a fresh subprocess that streams a file of
  ``--peak-events`` events, next to that subprocess's RSS after imports, before decoding.

Usage::

    python tools/bench_decode.py                       # 30 M events, 100 M for peak RSS
    python tools/bench_decode.py --events 5e6 --peak-events 0 --keep /tmp/bench

The synthetic streams look like a busy scene: 640x480 (EVT 2.0) / 240x180 (AEDAT 2.0)
uniform pixels, random polarity, ~5 events per microsecond.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GEN_CHUNK = 1 << 21  # events generated per block (bounded memory while writing)
STREAM_CHUNK = 1_000_000  # events per chunk when decoding (eventsim's default)


# ---------------------------------------------------------------------------------------------
# generators


def _times(rng: np.random.Generator, n: int, t_start: int) -> np.ndarray:
    # Non-decreasing microseconds, on average 5 events per microsecond.
    return t_start + np.cumsum(rng.random(n) < 0.2, dtype=np.int64)


def write_evt2(path: Path, n_events: int, seed: int = 0) -> None:
    """An EVT 2.0 file: TIME_HIGH words whenever time bits 33..6 change, then CD words."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(b"% evt 2.0\n% format EVT2;height=480;width=640\n% geometry 640x480\n"
                b"% integrator_name eventsim-bench\n% end\n")
        t_last = 1_000_000
        prev_high = -1
        for start in range(0, n_events, GEN_CHUNK):
            n = min(GEN_CHUNK, n_events - start)
            t = _times(rng, n, t_last)
            t_last = int(t[-1])
            x = rng.integers(0, 640, n, dtype=np.uint32)
            y = rng.integers(0, 480, n, dtype=np.uint32)
            p = rng.integers(0, 2, n, dtype=np.uint32)
            high = t >> 6
            new_high = np.empty(n, dtype=bool)
            new_high[0] = high[0] != prev_high
            new_high[1:] = high[1:] != high[:-1]
            prev_high = int(high[-1])
            cd = (p << 28) | ((t & 0x3F).astype(np.uint32) << 22) | (x << 11) | y
            # Place each CD word after the TIME_HIGH words inserted before it.
            pos = np.arange(n) + np.cumsum(new_high)
            words = np.empty(n + int(new_high.sum()), dtype="<u4")
            words[pos] = cd
            th = (high[new_high] & 0x0FFFFFFF).astype(np.uint32)
            words[pos[new_high] - 1] = (np.uint32(0x8) << 28) | th
            words.tofile(f)


def write_aedat2(path: Path, n_events: int, seed: int = 0) -> None:
    """An AEDAT 2.0 file, jAER DAVIS240C layout: big-endian (address, timestamp) pairs with
    x_raw in bits 21..12, y_raw in bits 30..22, polarity bit 11."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(b"#!AER-DAT2.0\r\n# This is a raw AE data file created by eventsim tools/bench_decode.py\r\n"
                b"# AEChip: eu.seebetter.ini.chips.davis.DAVIS240C\r\n")
        t_last = 1_000_000
        for start in range(0, n_events, GEN_CHUNK):
            n = min(GEN_CHUNK, n_events - start)
            t = _times(rng, n, t_last)
            t_last = int(t[-1])
            x = rng.integers(0, 240, n, dtype=np.uint32)
            y = rng.integers(0, 180, n, dtype=np.uint32)
            p = rng.integers(0, 2, n, dtype=np.uint32)
            rec = np.empty(2 * n, dtype=">u4")
            rec[0::2] = (y << 22) | (x << 12) | (p << 11)
            rec[1::2] = (t & 0x7FFFFFFF).astype(np.uint32)
            rec.tofile(f)


def write_evt3(path: Path, n_events: int, seed: int = 0) -> None:
    """An EVT 3.0 file of vectorised bursts: per burst [TIME_HIGH if changed], TIME_LOW,
    EVT_ADDR_Y, VECT_BASE_X, VECT_12 with a random non-empty 12-bit mask (~6 events)."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(b"% evt 3.0\n% format EVT3;height=720;width=1280\n% geometry 1280x720\n"
                b"% integrator_name eventsim-bench\n% end\n")
        t_last = 1_000_000
        prev_high = -1
        written = 0
        while written < n_events:
            m = GEN_CHUNK // 6
            t = t_last + np.cumsum(rng.random(m) < 0.8, dtype=np.int64)  # ~1 burst per 1.25 us
            t_last = int(t[-1])
            mask = rng.integers(1, 1 << 12, m, dtype=np.uint16)
            counts = np.unpackbits(mask.view(np.uint8)).reshape(m, 16).sum(axis=1)
            keep = np.cumsum(counts) <= n_events - written  # stop exactly at n_events
            if not keep.all():
                m = int(keep.sum())
                t, mask, counts = t[:m], mask[:m], counts[:m]
            high = (t >> 12) & 0xFFF
            new_high = np.empty(m, dtype=bool)
            new_high[:1] = high[:1] != prev_high
            new_high[1:] = high[1:] != high[:-1]
            prev_high = int(high[-1]) if m else prev_high
            slots = np.empty((m, 5), dtype="<u2")
            slots[:, 0] = 0x8000 | high
            slots[:, 1] = 0x6000 | (t & 0xFFF)
            slots[:, 2] = rng.integers(0, 720, m)  # EVT_ADDR_Y
            slots[:, 3] = 0x3000 | (rng.integers(0, 2, m) << 11) | rng.integers(0, 1280 - 12, m)
            slots[:, 4] = 0x4000 | mask
            used = np.ones((m, 5), dtype=bool)
            used[:, 0] = new_high
            slots[used].tofile(f)
            written += int(counts.sum())
            if not keep.all():
                # The last burst did not fit: the remaining few as single EVT_ADDR_X events.
                rest = n_events - written
                head = [0x8000 | ((t_last >> 12) & 0xFFF), 0x6000 | (t_last & 0xFFF), 0x0000]
                np.array(head + [0x2000 | i for i in range(rest)], dtype="<u2").tofile(f)
                written += rest


GENERATORS = {"evt2": (".raw", write_evt2), "aedat2": (".aedat", write_aedat2), "evt3": (".raw", write_evt3)}


# ---------------------------------------------------------------------------------------------
# measurements


def stream_count(path: Path, chunk: int = STREAM_CHUNK) -> int:
    from eventsim.events.io import stream_events

    return sum(len(c) for c in stream_events(path, chunk=chunk))


def throughput(path: Path, n_expected: int, runs: int) -> dict:
    """Median decode rate over ``runs`` timed passes (after one untimed warm-up pass)."""
    n = stream_count(path)  # warm-up: kernel compile / cache load, page cache
    if n != n_expected:
        raise SystemExit(f"{path}: decoded {n} events, generated {n_expected}")
    cpu, wall = [], []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        stream_count(path)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"events": n, "cpu_s": cpu, "wall_s": wall,
            "mev_per_s": n / statistics.median(cpu) / 1e6,
            "mev_per_s_wall": n / statistics.median(wall) / 1e6}


_PEAK_SCRIPT = """
import json, sys
from eventsim.events.io import read_info, stream_events

def hwm_mb():
    # VmHWM: peak resident set of this process image. (ru_maxrss would not do: Linux carries
    # it over fork + exec, so it starts at the parent's size.)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

n = 0
read_info(sys.argv[1])  # imports the format modules (and Numba) before the baseline
rss0 = hwm_mb()
for c in stream_events(sys.argv[1], chunk=int(sys.argv[2])):
    n += len(c)
print(json.dumps({"events": n, "rss_after_import_mb": rss0, "peak_rss_mb": hwm_mb()}))
"""


def peak_rss(path: Path, chunk: int = STREAM_CHUNK) -> dict:
    """Peak RSS (MB) of a fresh process streaming ``path`` (Linux: /proc/self/status VmHWM)."""
    # The kernels are already in Numba's on-disk cache (the throughput pass ran first).
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(path), str(chunk)],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=float, default=30e6, help="events per throughput file (default 30e6)")
    ap.add_argument("--peak-events", type=float, default=100e6,
                    help="events in the peak-RSS file (default 100e6; 0 skips the measurement)")
    ap.add_argument("--runs", type=int, default=3, help="timed passes per format; the median is reported")
    ap.add_argument("--formats", default="evt2,aedat2", help="comma-separated: evt2, aedat2, evt3")
    ap.add_argument("--keep", type=Path, default=None,
                    help="directory for the generated files, kept afterwards (default: a temp dir, removed)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = set(formats) - set(GENERATORS)
    if unknown:
        ap.error(f"unknown format(s) {sorted(unknown)}; known: {sorted(GENERATORS)}")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="eventsim-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    n_events = int(args.events)
    n_peak = int(args.peak_events)
    results: dict = {"events": n_events, "runs": args.runs, "formats": {}}
    try:
        paths = {}
        for fmt in formats:  # all files first, flushed: writeback must not overlap the timing
            ext, gen = GENERATORS[fmt]
            paths[fmt] = workdir / f"bench_{fmt}_{n_events}{ext}"
            if not paths[fmt].exists():
                print(f"[{fmt}] generating {n_events:,} events -> {paths[fmt]}", file=sys.stderr)
                gen(paths[fmt], n_events)
        os.sync()
        for fmt in formats:
            res = throughput(paths[fmt], n_events, args.runs)
            res["file_mb"] = paths[fmt].stat().st_size / 2**20
            results["formats"][fmt] = res
            print(f"[{fmt}] {res['mev_per_s']:.1f} M events/s (CPU time), "
                  f"{res['mev_per_s_wall']:.1f} (wall clock)", file=sys.stderr)
            if args.keep is None:
                paths[fmt].unlink()
        for fmt in formats if n_peak else ():
            ext, gen = GENERATORS[fmt]
            big = workdir / f"bench_{fmt}_{n_peak}{ext}"
            if not big.exists():
                print(f"[{fmt}] generating {n_peak:,} events -> {big}", file=sys.stderr)
                gen(big, n_peak)
            os.sync()
            peak = peak_rss(big)
            peak["file_mb"] = big.stat().st_size / 2**20
            results["formats"][fmt]["peak"] = peak
            print(f"[{fmt}] peak RSS {peak['peak_rss_mb']:.0f} MB streaming {peak['events']:,} events",
                  file=sys.stderr)
            if args.keep is None:
                big.unlink()
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print("| format | events | file MB | M events/s, CPU time | M events/s, wall clock "
          "| peak RSS streaming |")
    print("|---|---:|---:|---:|---:|---|")
    for fmt, r in results["formats"].items():
        peak = r.get("peak")
        peak_txt = (f"{peak['peak_rss_mb']:.0f} MB ({peak['events'] / 1e6:.0f} M events, "
                    f"{peak['rss_after_import_mb']:.0f} MB after imports)") if peak else "-"
        print(f"| {fmt} | {r['events']:,} | {r['file_mb']:.0f} | {r['mev_per_s']:.1f} "
              f"| {r['mev_per_s_wall']:.1f} | {peak_txt} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
