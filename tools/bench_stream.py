"""Peak memory of a long recording run in windows (issue 19: bounded by the window, not the file).

Writes a synthetic EVT 2.0 ``.raw`` recording of N events (uniform pixels on a 640x480 sensor,
a steady rate), runs ``eventsim run MODEL --input FILE --window-us W`` on it in a child process
under ``/usr/bin/time -f %M`` and prints the child's peak resident memory, the events, windows
and wall time. The recording is removed afterwards unless ``--keep``.

    python tools/bench_stream.py --events 100_000_000 --dir /tmp
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENSOR = (640, 480)


def write_evt2(path: Path, events: int, rate_hz: float, seed: int = 0, block: int = 4_000_000) -> None:
    """An EVT 2.0 file of ``events`` CD events at ``rate_hz``, written block by block.

    Every 64 µs of time gets one TIME_HIGH word, followed by that period's events (time low,
    x, y, polarity), as a Prophesee camera writes them.
    """
    rng = np.random.default_rng(seed)
    period = 64
    per_period = rate_hz * period * 1e-6
    header = (f"% evt 2.0\n% format EVT2;height={SENSOR[1]};width={SENSOR[0]}\n"
              "% generator eventsim tools/bench_stream.py\n% end\n").encode()
    with open(path, "wb") as f:
        f.write(header)
        done, t_next = 0, 0
        while done < events:
            n = min(block, events - done)
            t = t_next + np.sort(rng.integers(0, int(n / per_period * period), n))
            t_next = int(t[-1]) + 1
            x, y = rng.integers(0, SENSOR[0], n), rng.integers(0, SENSOR[1], n)
            p = rng.integers(0, 2, n)
            cd = (p.astype(np.uint32) << 28) | ((t & 0x3F).astype(np.uint32) << 22) \
                | (x.astype(np.uint32) << 11) | y.astype(np.uint32)
            high = t >> 6
            new = np.ones(n, bool)
            new[1:] = high[1:] != high[:-1]
            # interleave: a TIME_HIGH word before the first event of each 64 µs period
            out = np.empty(n + int(new.sum()), np.uint32)
            pos = np.arange(n) + np.cumsum(new)
            out[pos] = cd
            out[pos[new] - 1] = (np.uint32(0x8) << 28) | (high[new] & 0x0FFFFFFF).astype(np.uint32)
            f.write(out.astype("<u4").tobytes())
            done += n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=lambda s: int(s.replace("_", "")), default=100_000_000)
    ap.add_argument("--rate", type=float, default=2e6, help="events per second of the recording")
    ap.add_argument("--window-us", type=int, default=1_000_000)
    ap.add_argument("--model", default=str(ROOT / "eventsim" / "data" / "demo_model.h5"))
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("extra", nargs="*", help="more options for eventsim run (after --)")
    args = ap.parse_args()
    path = Path(args.dir) / f"bench_stream_{args.events}.raw"
    t0 = time.perf_counter()
    write_evt2(path, args.events, args.rate)
    print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB, {args.events:,} events) in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    cmd = ["/usr/bin/time", "-f", "%M %e", sys.executable, "-m", "eventsim", "run", args.model, "--input",
           str(path), "--window-us", str(args.window_us), "--downscale", "sum", "--jsonl", os.devnull, "-q",
           *args.extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    finally:
        if not args.keep:
            path.unlink()
    if proc.returncode:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        return proc.returncode
    peak_kb, wall = re.findall(r"^(\d+) ([\d.]+)$", proc.stderr, re.M)[-1]
    print(proc.stdout.strip())
    print(f"peak RSS {int(peak_kb) / 1024:.0f} MB, wall {float(wall):.0f} s, "
          f"{args.events / float(wall) / 1e6:.2f} M events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
