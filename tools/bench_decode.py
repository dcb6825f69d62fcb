"""Decode-speed benchmark for the event readers (issues 4 and 18): M events/s and peak memory.

Three measurements, each printed as a Markdown table:

- **whole-file reads**: ``eventsim.read_events`` next to the native readers when they are
  installed (``pip install 'eventsim[bench]'``: expelliarmus, C, for Prophesee EVT 2.0 / 3.0;
  aedat, Rust, for AEDAT 4.0; never runtime dependencies). Each reader reads the same file into
  memory; the best of ``--runs`` passes (interleaved, after an untimed warm-up pass that compiles
  or loads the kernels and warms the page cache) is reported, in M events/s of wall-clock time.
  Best-of rather than median because the machine may be shared: other jobs only ever slow a
  pass down. The aedat reader is timed iterating its packets (decode only, no concatenation);
- **streaming**: ``eventsim.events.io.stream_events`` (1 M-event chunks), best of ``--runs``;
- **peak memory** (``--peak-events``, default 100 M): the peak RSS of a fresh process streaming
  a generated EVT 2.0 file, and of ``eventsim run`` on it with the bundled demo model
  (``--downscale nearest`` to its 34x34 input), as ``/usr/bin/time -f %M`` reports it.

Usage::

    python tools/bench_decode.py --aedat4 ../shared/data/aedat4/*.aedat4
    python tools/bench_decode.py --events 5e6 --peak-events 0 --formats evt2,evt3

The synthetic streams look like a busy scene: 640x480 (EVT 2.0) / 240x180 (AEDAT 2.0) / 1280x720
(EVT 3.0, vectorised) uniform pixels, random polarity, ~5 events per microsecond.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GEN_CHUNK = 1 << 21  # events generated per block (bounded memory while writing)
STREAM_CHUNK = 1_000_000  # events per chunk when decoding (eventsim's default)
ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "eventsim" / "data" / "demo_model.h5"


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
# readers: each returns the number of events it decoded from the whole file


def read_eventsim(path: Path) -> int:
    from eventsim.events.io import read_events

    return len(read_events(path)[0])


def stream_eventsim(path: Path) -> int:
    from eventsim.events.io import stream_events

    return sum(len(c) for c in stream_events(path, chunk=STREAM_CHUNK))


def _expelliarmus(encoding: str):
    try:
        from expelliarmus import Wizard
    except ImportError:
        return None
    wizard = Wizard(encoding=encoding)
    return lambda path: len(wizard.read(path))


def _aedat():
    try:
        import aedat
    except ImportError:
        return None

    def read(path: Path) -> int:
        packets = [p["events"] for p in aedat.Decoder(str(path)) if "events" in p]
        return sum(len(e) for e in packets)

    return read


def native_reader(fmt: str):
    """(name, read function) of the installed native reader for ``fmt``, or None."""
    if fmt in ("evt2", "evt3"):
        read = _expelliarmus(fmt)
        return ("expelliarmus", read) if read else None
    if fmt == "aedat4":
        read = _aedat()
        return ("aedat (Rust)", read) if read else None
    return None


def best_of(readers: dict, path: Path, runs: int) -> dict:
    """Events and best wall-clock seconds of each reader on ``path``, runs interleaved."""
    counts = {name: read(path) for name, read in readers.items()}  # warm-up
    best = dict.fromkeys(readers, float("inf"))
    for _ in range(runs):
        for name, read in readers.items():
            t0 = time.perf_counter()
            read(path)
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: {"events": counts[name], "seconds": best[name],
                   "mev_per_s": counts[name] / best[name] / 1e6} for name in readers}


# ---------------------------------------------------------------------------------------------
# peak memory

_PEAK_SCRIPT = """
import sys
from eventsim.events.io import stream_events
n = sum(len(c) for c in stream_events(sys.argv[1], chunk=int(sys.argv[2])))
print(n)
"""


def peak_kb(args: list[str]) -> tuple[int, str]:
    """Peak RSS (KB) of ``args`` run as a fresh process, and its stdout."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if Path("/usr/bin/time").exists():
        out = subprocess.run(["/usr/bin/time", "-f", "%M", *args], check=True, capture_output=True,
                             text=True, env=env)
        return int(out.stderr.strip().splitlines()[-1]), out.stdout
    # no GNU time: the children's rusage (wait4), which is what it reports
    import resource

    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, out.stdout


def peak_stream(path: Path) -> int:
    return peak_kb([sys.executable, "-c", _PEAK_SCRIPT, str(path), str(STREAM_CHUNK)])[0]


def peak_run(path: Path) -> int:
    return peak_kb([sys.executable, "-m", "eventsim", "run", str(DEMO_MODEL), "-i", str(path),
                    "--downscale", "nearest", "--threads", "1"])[0]


# ---------------------------------------------------------------------------------------------


def _row(label: str, res: dict, native: str | None) -> str:
    es = res["eventsim"]
    if native is None:
        return f"| {label} | {es['events'] / 1e6:.2f} M | {es['mev_per_s']:.1f} | - | - |"
    nat = res[native]
    return (f"| {label} | {es['events'] / 1e6:.2f} M | {es['mev_per_s']:.1f} | {native}: "
            f"{nat['mev_per_s']:.1f} | {es['mev_per_s'] / nat['mev_per_s']:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=float, default=20e6, help="events per generated file (default 20e6)")
    ap.add_argument("--peak-events", type=float, default=100e6,
                    help="events in the peak-memory file (default 100e6; 0 skips the measurement)")
    ap.add_argument("--runs", type=int, default=5, help="timed passes per reader; the best is reported")
    ap.add_argument("--formats", default="evt2,evt3,aedat2", help="generated formats: evt2, evt3, aedat2")
    ap.add_argument("--aedat4", type=Path, nargs="*", default=[], help="real AEDAT 4.0 recordings to read")
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
    n_events, n_peak = int(args.events), int(args.peak_events)
    results: dict = {"runs": args.runs, "reads": {}, "streams": {}, "peak_kb": {}}
    rows = []
    try:
        inputs = []
        for fmt in formats:  # all files first, flushed: writeback must not overlap the timing
            ext, gen = GENERATORS[fmt]
            path = workdir / f"bench_{fmt}_{n_events}{ext}"
            if not path.exists():
                print(f"[{fmt}] generating {n_events:,} events -> {path}", file=sys.stderr)
                gen(path, n_events)
            inputs.append((fmt, f"{fmt} (synthetic)", path))
        inputs += [("aedat4", p.name, p) for p in args.aedat4]
        os.sync()
        for fmt, label, path in inputs:
            native = native_reader(fmt)
            readers = {"eventsim": read_eventsim, **({native[0]: native[1]} if native else {})}
            res = best_of(readers, path, args.runs)
            counts = {r["events"] for r in res.values()}
            if len(counts) != 1:
                print(f"[{label}] note: the readers decode different event counts {res}", file=sys.stderr)
            results["reads"][label] = res
            rows.append(_row(label, res, native[0] if native else None))
            print(rows[-1], file=sys.stderr)
            if fmt != "aedat4":
                streamed = best_of({"eventsim": stream_eventsim}, path, args.runs)
                results["streams"][label] = streamed["eventsim"]
                if args.keep is None:
                    path.unlink()
        if n_peak:
            big = workdir / f"bench_evt2_{n_peak}.raw"
            if not big.exists():
                print(f"[peak] generating {n_peak:,} EVT 2.0 events -> {big}", file=sys.stderr)
                write_evt2(big, n_peak)
            os.sync()
            results["peak_kb"] = {"stream_events": peak_stream(big), "eventsim run": peak_run(big),
                                  "events": n_peak, "file_mb": big.stat().st_size / 2**20}
            if args.keep is None:
                big.unlink()
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"whole-file reads, M events/s (wall clock, best of {args.runs}):\n")
    print("| file | events | eventsim `read_events` | native reader | ratio |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    if results["streams"]:
        print(f"\nstreaming (`stream_events`, 1 M-event chunks), M events/s (best of {args.runs}):\n")
        print("| file | M events/s |\n|---|---:|")
        for label, r in results["streams"].items():
            print(f"| {label} | {r['mev_per_s']:.1f} |")
    if results["peak_kb"]:
        pk = results["peak_kb"]
        print(f"\npeak RSS on a {pk['events'] / 1e6:.0f} M-event EVT 2.0 file ({pk['file_mb']:.0f} MB):\n")
        print("| process | peak RSS |\n|---|---:|")
        print(f"| `stream_events` over the file | {pk['stream_events'] / 1024:.0f} MB |")
        print(f"| `eventsim run` demo model `--downscale nearest` | {pk['eventsim run'] / 1024:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
