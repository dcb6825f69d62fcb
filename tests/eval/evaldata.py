"""A small labelled event dataset and a small model for the eval tests.

Each class puts most of its events in its own vertical band of a 16x16 sensor, so the samples
differ in where they drive the network; the files mix the writable formats (.npz, .h5,
.aedat4) to cover "any readable event format".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.io import write_events
from eventsim.network.h5io import save_model
from eventsim.network.ir import InputSpec, Network, Population, Projection

SENSOR = (16, 16)
CLASSES = ("alpha", "beta", "gamma")
FORMATS = (".npz", ".h5", ".aedat4")


def small_network(seed: int = 0) -> Network:
    """input (2,16,16) -> conv 3x3/2 -> ternary LIF (4,8,8) -> dense -> readout (3)."""
    rng = np.random.default_rng(seed)
    pops = [Population("input", "input", (2, 16, 16)),
            Population("l1", "ternary_lif", (4, 8, 8), threshold=0.5, decay=0.25, reset="zero"),
            Population("out", "readout", (3,))]
    projs = [Projection("c1", "conv2d", "input", "l1", weight=rng.normal(0, 0.5, (4, 2, 3, 3)),
                        stride=2, padding=1),
             Projection("fc", "dense", "l1", "out", weight=rng.normal(0, 0.3, (3, 256)))]
    return Network("evalnet", pops, projs, [p.name for p in pops], timesteps=4,
                   input=InputSpec(kind="events", polarity="split", sensor=SENSOR))


def write_model(path: Path, seed: int = 0) -> Path:
    save_model(small_network(seed), path, dtype="float64")
    return path


def sample_events(label: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, label, k])
    n = int(rng.integers(40, 400))
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 100_000, n))
    band = rng.random(n) < 0.8  # 80 % of the events in the class's band of columns
    x = rng.integers(0, 16, n)
    x[band] = rng.integers(5 * label, 5 * label + 6, int(band.sum()))
    ev["x"] = x
    ev["y"] = rng.integers(0, 16, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def write_dataset(root: Path, per_class: int = 4, seed: int = 0) -> Path:
    """root/<class>/s<k>.<fmt>, per_class samples of each class in CLASSES."""
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            ext = FORMATS[(label + k) % len(FORMATS)]
            write_events(root / name / f"s{k:02d}{ext}", sample_events(label, k, seed), SENSOR)
    return root
