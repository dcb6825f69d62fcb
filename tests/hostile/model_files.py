"""Small hostile model-side files (NIR graphs, model.h5, checkpoints), generated on the spot.

Each function writes one file into a folder the test gives and returns its path. They are
shared by tests/hostile/test_models.py (CLI in a sandboxed child) and the fuzz runner.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np


# -- NIR -------------------------------------------------------------------------------------
def write_nir(path, nodes: dict, edges: list) -> Path:
    """A NIR file as the nir package writes it: /version, /node/{type,edges,nodes/<name>/...}."""
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0.0", dtype=h5py.string_dtype())
        root = f.create_group("node")
        root.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        root.create_dataset("edges", data=np.array(edges, dtype=object).reshape(-1, 2),
                            dtype=h5py.string_dtype())
        group = root.create_group("nodes")
        for name, params in nodes.items():
            g = group.create_group(name)
            for k, v in params.items():
                if isinstance(v, str):
                    g.create_dataset(k, data=v, dtype=h5py.string_dtype())
                else:
                    g.create_dataset(k, data=np.asarray(v))
    return Path(path)


def _if(n: int) -> dict:
    return {"type": "IF", "r": np.ones(n), "v_threshold": np.ones(n)}


def _affine(n_out: int, n_in: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"type": "Affine", "weight": rng.normal(size=(n_out, n_in)), "bias": np.zeros(n_out)}


def nir_small(path, n: int = 4) -> Path:
    """Input(N) -> Affine -> IF -> Affine -> Output: the smallest useful graph."""
    nodes = {"in": {"type": "Input", "shape": np.array([n])}, "fc1": _affine(n, n, 1),
             "lif": _if(n), "fc2": _affine(3, n, 2), "out": {"type": "Output", "shape": np.array([3])}}
    return write_nir(path, nodes, [("in", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "out")])


def nir_diamonds(path, stages: int = 40, linear: bool = True, n: int = 2) -> Path:
    """``stages`` diamonds in a row: each stage splits into two branches that join again.

    ``linear``: the branches and joins are Affine nodes (2^stages chains between the input
    and the first neuron); else every branch is an IF population (a wide but tame graph).
    """
    nodes = {"in": {"type": "Input", "shape": np.array([n])}}
    edges = []
    prev = "in"
    for k in range(stages):
        a, b, j = f"s{k}a", f"s{k}b", f"s{k}j"
        if linear:
            nodes[a], nodes[b] = _affine(n, n, 3 * k), _affine(n, n, 3 * k + 1)
            nodes[j] = {"type": "Identity"}
            edges += [(prev, a), (prev, b), (a, j), (b, j)]
            prev = j
        else:
            fa, fb = f"s{k}fa", f"s{k}fb"
            nodes[fa], nodes[fb], nodes[a], nodes[b] = (_affine(n, n, 3 * k), _affine(n, n, 3 * k + 1),
                                                        _if(n), _if(n))
            nodes[j] = _if(n)
            fj, gj = f"s{k}fj", f"s{k}gj"
            nodes[fj], nodes[gj] = _affine(n, n, 3 * k + 2), _affine(n, n, 3 * k + 3)
            edges += [(prev, fa), (prev, fb), (fa, a), (fb, b), (a, fj), (b, gj), (fj, j), (gj, j)]
            prev = j
    nodes["lif"] = _if(n)
    nodes["fc"] = _affine(3, n, 99)
    nodes["out"] = {"type": "Output", "shape": np.array([3])}
    edges += [(prev, "lif"), ("lif", "fc"), ("fc", "out")]
    return write_nir(path, nodes, edges)


def nir_chain(path, length: int = 3000, n: int = 2) -> Path:
    """Input -> (Affine -> IF) x length/2 -> Affine -> Output: ``length`` nodes in one line."""
    nodes = {"in": {"type": "Input", "shape": np.array([n])}}
    edges = []
    prev = "in"
    for k in range(length // 2):
        nodes[f"fc{k}"], nodes[f"if{k}"] = _affine(n, n, k), _if(n)
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"if{k}")]
        prev = f"if{k}"
    nodes["fc"], nodes["out"] = _affine(3, n, 7), {"type": "Output", "shape": np.array([3])}
    edges += [(prev, "fc"), ("fc", "out")]
    return write_nir(path, nodes, edges)


def nir_linear_chain(path, length: int = 3000, n: int = 2) -> Path:
    """Input -> Identity x length -> IF -> Affine -> Output: one projection through ``length`` nodes."""
    nodes = {"in": {"type": "Input", "shape": np.array([n])}}
    names = [f"id{k}" for k in range(length)]
    nodes.update({k: {"type": "Identity"} for k in names})
    nodes["lif"], nodes["fc"] = _if(n), _affine(3, n, 5)
    nodes["out"] = {"type": "Output", "shape": np.array([3])}
    seq = ["in", *names, "lif", "fc", "out"]
    return write_nir(path, nodes, list(zip(seq, seq[1:])))


def nir_huge_input(path, side: int = 60000) -> Path:
    """An Input of 1 x side x side feeding an IF through a 1x1 conv (declares side^2 neurons)."""
    nodes = {"in": {"type": "Input", "shape": np.array([1, side, side])},
             "conv": {"type": "Conv2d", "weight": np.ones((1, 1, 1, 1)), "bias": np.zeros(1)},
             "lif": {"type": "IF", "r": np.ones(1), "v_threshold": np.ones(1)},
             "flat": {"type": "Flatten", "start_dim": 0, "end_dim": -1},
             "fc": _affine(3, 1, 0), "out": {"type": "Output", "shape": np.array([3])}}
    edges = [("in", "conv"), ("conv", "lif"), ("lif", "flat"), ("flat", "fc"), ("fc", "out")]
    return write_nir(path, nodes, edges)


# -- model.h5 --------------------------------------------------------------------------------
def tiny_network(timesteps: int = 2):
    """input (2,4,4) -> conv -> ternary (3,2,2) -> dense -> readout (3,), seeded weights."""
    from eventsim.network.ir import Network, Population, Projection

    rng = np.random.default_rng(0)
    pops = [Population("input", "input", (2, 4, 4)),
            Population("l1", "ternary_lif", (3, 2, 2), threshold=0.5, decay=0.25, reset="zero"),
            Population("out", "readout", (3,), bias=np.zeros(3))]
    projs = [Projection("c1", "conv2d", "input", "l1", weight=rng.normal(size=(3, 2, 3, 3)),
                        stride=(2, 2), padding=(1, 1)),
             Projection("fc", "dense", "l1", "out", weight=rng.normal(size=(3, 12)))]
    return Network("tiny", pops, projs, ["input", "l1", "out"], timesteps=timesteps)


def model_h5(path, timesteps: int = 2) -> Path:
    from eventsim.network.h5io import save_model

    save_model(tiny_network(timesteps), path)
    return Path(path)


def edit_h5(path, fn) -> Path:
    """Apply ``fn(h5py.File)`` to an existing file (opened r+)."""
    with h5py.File(path, "r+") as f:
        fn(f)
    return Path(path)


# -- checkpoints -----------------------------------------------------------------------------
class _G:
    """A pickle global reference written by hand (the torch classes are not needed)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def pth_zip(path, pickle_bytes: bytes, storages: dict[str, bytes] | None = None,
            compress: int = zipfile.ZIP_STORED) -> Path:
    """A torch-format zip: archive/data.pkl plus archive/data/<key> storages."""
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, raw in (storages or {}).items():
            z.writestr(f"archive/data/{key}", raw)
    return Path(path)


def tensor_pickle(size: tuple, stride: tuple, numel_storage: int, key: str = "0") -> bytes:
    """Protocol-2 pickle of {"w": _rebuild_tensor_v2(FloatStorage key, 0, size, stride)}."""
    out = io.BytesIO()
    out.write(b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01")
    out.write(_global("torch._utils", "_rebuild_tensor_v2"))
    out.write(b"(")  # args tuple
    out.write(b"(X\x07\x00\x00\x00storageq\x02" + _global("torch", "FloatStorage"))
    out.write(b"X" + struct.pack("<I", len(key)) + key.encode() + b"X\x03\x00\x00\x00cpuq\x03")
    out.write(b"J" + struct.pack("<i", numel_storage) + b"tQ")  # persistent id tuple -> BINPERSID
    out.write(b"K\x00")  # offset
    out.write(pickle.dumps(tuple(size), protocol=2)[2:-1])
    out.write(pickle.dumps(tuple(stride), protocol=2)[2:-1])
    out.write(b"\x89" + _global("collections", "OrderedDict") + b")Rtq\x04R")  # requires_grad, hooks
    out.write(b"s.")
    return out.getvalue()


def dag_pickle(levels: int = 63) -> bytes:
    """A dict whose two keys share one sub-dict, ``levels`` deep: 2^levels names, ~1 KB pickled."""
    inner: dict = {"x": 1}
    for _ in range(levels):
        inner = {"a": inner, "b": inner}
    return pickle.dumps(inner, protocol=2)


def self_ref_pickle() -> bytes:
    d: dict = {}
    d["me"] = d
    return pickle.dumps(d, protocol=2)


def safetensors(path, header: dict, data: bytes = b"") -> Path:
    text = json.dumps(header).encode()
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + data)
    return Path(path)
