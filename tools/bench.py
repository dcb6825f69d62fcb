"""Engine benchmark (:mod:`eventsim.bench`): the scatter kernel figure and the end-to-end speed-up
over dense PyTorch, as ``eventsim bench`` with argparse options.

Usage::

    python tools/bench.py                       # everything, prints the tables
    python tools/bench.py --densities 0.05 --repeat 2 --json bench.json
    eventsim bench                              # the same through the CLI
"""

from __future__ import annotations

import argparse
import json

from eventsim.bench.engine import DENSITIES, run_all


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--densities", type=lambda s: [float(v) for v in s.split(",")], default=list(DENSITIES))
    ap.add_argument("--timesteps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="threads of both tools (default: all cores)")
    ap.add_argument("--no-one-thread", action="store_true", help="skip the one-thread table")
    ap.add_argument("--no-kernel", action="store_true")
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--cold", action="store_true", help="also time a cold compile in a fresh process")
    ap.add_argument("--json", help="write the results as JSON to this path")
    args = ap.parse_args(argv)
    doc = run_all(args.densities, args.timesteps, args.repeat, not args.no_kernel, not args.no_e2e,
                  args.cold, args.threads, not args.no_one_thread)
    print(doc["table"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
