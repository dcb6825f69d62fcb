"""Fixed point against floating point on the demo's emulated test digits.

Runs every chosen test digit (regenerated as ``tools.eval_demo`` does, binned as ``eventsim
run`` bins it) through the engine in ``float64``, ``float32`` and ``int`` precision and reports
the accuracy of each, how often int and float32 predict what float64 predicts, and the spike
agreement: the fraction of (digit, step, neuron) spike values of the spiking layers that are
equal to float64's. ``saturations`` counts int32 clips (0 expected).

    python -m tools.int_agreement eventsim/data/demo_model.h5 [--subset-per-class 20] [--json -]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from eventsim.engine.simulator import Simulator
from eventsim.network.loading import load_network
from tools import dvs_emulator as demo_data
from tools.eval_demo import subset_indices

MODES = ("float64", "float32", "int")


def agreement(model_path: str, per_class: int | None = None, progress: bool = False) -> dict:
    images, labels = demo_data.load_mnist()
    _, test_idx = demo_data.split_indices(labels)
    chosen = subset_indices(labels, test_idx, per_class)
    net = load_network(model_path)
    sims = {m: Simulator(net, precision=m) for m in MODES}
    layers = [p.name for p in net.ordered_populations() if p.spiking]
    correct = dict.fromkeys(MODES, 0)
    same_pred = {"float32": 0, "int": 0}
    same_spikes = {"float32": 0, "int": 0}
    total_spikes, saturations = 0, 0
    it = chosen
    if progress and sys.stderr.isatty():
        from tqdm import tqdm
        it = tqdm(chosen, desc="digits", unit="digit", file=sys.stderr)
    for i in it:
        events = demo_data.record(images, int(i))
        res = {m: sims[m].run(events, sensor=demo_data.CONFIG.sensor, record=True) for m in MODES}
        for m in MODES:
            correct[m] += int(res[m].prediction == labels[i])
        for m in ("float32", "int"):
            same_pred[m] += int(res[m].prediction == res["float64"].prediction)
            same_spikes[m] += sum(int(np.count_nonzero(res[m].spikes[n] == res["float64"].spikes[n]))
                                  for n in layers)
        total_spikes += sum(res["float64"].spikes[n].size for n in layers)
        saturations += sum(int(s.sum()) for s in res["int"].saturations.values())
    n = len(chosen)
    return {"model": str(model_path), "samples": n, "subset_per_class": per_class,
            "accuracy": {m: correct[m] / n for m in MODES},
            "prediction_agreement_with_float64": {m: same_pred[m] / n for m in same_pred},
            "spike_agreement_with_float64": {m: same_spikes[m] / total_spikes for m in same_spikes},
            "int_saturations": saturations}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.int_agreement", description=(
        "Accuracy and spike agreement of the int (fixed-point) and float32 engines against "
        "float64 on the demo's emulated test digits."))
    ap.add_argument("model", help="converted model.h5 (e.g. eventsim/data/demo_model.h5)")
    ap.add_argument("--subset-per-class", type=int, default=None,
                    help="evaluate only the first N test digits of each class")
    ap.add_argument("--json", default=None, metavar="PATH|-", help="write the metrics as JSON")
    args = ap.parse_args(argv)
    res = agreement(args.model, args.subset_per_class, progress=True)
    if args.json == "-":
        print(json.dumps(res, indent=2))
        return 0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    acc, pred = res["accuracy"], res["prediction_agreement_with_float64"]
    spk = res["spike_agreement_with_float64"]
    print(f"{res['samples']} digits: accuracy float64 {acc['float64']:.4f}, float32 {acc['float32']:.4f}, "
          f"int {acc['int']:.4f}; same prediction as float64: float32 {pred['float32']:.4f}, "
          f"int {pred['int']:.4f}; spike agreement with float64: float32 {spk['float32']:.6f}, "
          f"int {spk['int']:.6f}; int32 saturations {res['int_saturations']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
