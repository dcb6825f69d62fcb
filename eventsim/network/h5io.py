"""Read and write ``model.h5`` (format_version 1), as specified in DESIGN.md.

This is the only module that knows the HDF5 layout of a model. Writing goes to a temporary
file in the target directory, renamed into place once complete, so a failed write never
leaves a partial model behind.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from ..errors import ModelFormatError
from ..files import atomic_output
from .ir import InputSpec, Network, Population, Projection

FORMAT = "eventsim-model"
FORMAT_VERSION = 1
# Version 2 = version 1 + conv2d projections with a pre-pool. A file is written as version 2 only
# when it uses one, so every other model stays readable by readers that know only version 1,
# and a reader that knows only version 1 refuses a pre-pooled model instead of misreading it.
PRE_POOL_VERSION = 2
READABLE_VERSIONS = (1, 2)


def save_model(net: Network, path: str | os.PathLike, dtype: str = "float32") -> None:
    """Write ``net`` to ``path`` atomically; weights stored as ``dtype`` (float32|float64)."""
    if dtype not in ("float32", "float64"):
        raise ModelFormatError(f"{path}: dtype must be float32 or float64, got {dtype!r}")
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        _write(f, net, np.dtype(dtype))


def _dataset(group, name: str, data: np.ndarray, dtype: np.dtype) -> None:
    group.create_dataset(name, data=np.asarray(data, dtype=dtype), compression="gzip")


def _write(f: h5py.File, net: Network, dtype: np.dtype) -> None:
    f.attrs["format"] = FORMAT
    uses_pre_pool = any(q.pre_pool is not None for q in net.projections)
    f.attrs["format_version"] = PRE_POOL_VERSION if uses_pre_pool else FORMAT_VERSION
    f.attrs["name"] = net.name
    f.attrs["timesteps"] = net.timesteps
    f.attrs["input_kind"] = net.input.kind
    f.attrs["provenance"] = json.dumps(net.provenance, sort_keys=True)
    inp = f.create_group("input")
    inp.attrs["shape"] = np.asarray(net.input_shape, dtype=np.int64)
    inp.attrs["polarity"] = net.input.polarity
    if net.input.sensor is not None:
        inp.attrs["sensor"] = np.asarray(net.input.sensor, dtype=np.int64)
    pops = f.create_group("populations")
    for p in net.populations:
        g = pops.create_group(p.name)
        g.attrs["kind"] = p.kind
        g.attrs["shape"] = np.asarray(p.shape, dtype=np.int64)
        if p.spiking:
            g.attrs["threshold"] = p.threshold
            g.attrs["decay"] = p.decay
            g.attrs["reset"] = p.reset
            if p.v_min is not None:
                g.attrs["v_min"] = p.v_min
            if p.multi_spike:
                g.attrs["multi_spike"] = True
        if p.bias is not None:
            _dataset(g, "bias", p.bias, dtype)
    projs = f.create_group("projections")
    for q in net.projections:
        g = projs.create_group(q.name)
        g.attrs["kind"] = q.kind
        g.attrs["source"] = q.source
        g.attrs["target"] = q.target
        g.attrs["stride"] = np.asarray(q.stride, dtype=np.int64)
        g.attrs["padding"] = np.asarray(q.padding, dtype=np.int64)
        g.attrs["dilation"] = np.asarray(q.dilation, dtype=np.int64)
        g.attrs["groups"] = q.groups
        if q.kernel_size is not None:
            g.attrs["kernel_size"] = np.asarray(q.kernel_size, dtype=np.int64)
        if q.pre_pool is not None:  # absent = no pre-pool (format_version 1 files stay valid)
            for key, value in zip(("pre_pool_kernel", "pre_pool_stride", "pre_pool_padding"), q.pre_pool):
                g.attrs[key] = np.asarray(value, dtype=np.int64)
        if q.weight is not None:
            _dataset(g, "weight", q.weight, dtype)
        if q.scale is not None:
            _dataset(g, "scale", q.scale, dtype)
    # HDF5 groups are listed alphabetically; keep the file order explicitly.
    f.create_dataset("order", data=np.array(net.order, dtype=h5py.string_dtype()))
    f.create_dataset("projection_order",
                     data=np.array([q.name for q in net.projections], dtype=h5py.string_dtype()))


def _str(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class _Reader:
    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, msg: str):
        raise ModelFormatError(f"{self.path}: {where}: {msg}")

    def attr(self, obj, key: str, required: bool = True):
        if key not in obj.attrs:
            if required:
                self.fail(obj.name, f"missing attribute {key!r}")
            return None
        return obj.attrs[key]

    def group(self, f, key: str):
        if key not in f or not isinstance(f[key], h5py.Group):
            self.fail("/" + key, "missing group")
        return f[key]

    def data(self, g, key: str):
        if key not in g:
            return None
        ds = g[key]
        if not isinstance(ds, h5py.Dataset):
            self.fail(ds.name, "expected a dataset")
        return np.asarray(ds[()])


def open_hdf5(path: str) -> h5py.File:
    """``path`` opened read-only; ModelFormatError when it is missing or not HDF5."""
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: not a readable HDF5 file ({exc})") from None


def load_model(path: str | os.PathLike) -> Network:
    """Read a ``model.h5`` file; raises ModelFormatError naming what is wrong and where."""
    path = str(path)
    f = open_hdf5(path)
    r = _Reader(path)
    try:
        with f:
            return _read(f, r)
    except ModelFormatError as exc:
        if str(exc).startswith(path):
            raise
        raise ModelFormatError(f"{path}: {exc}") from None
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise ModelFormatError(f"{path}: malformed model file ({exc})") from None


def _read(f: h5py.File, r: _Reader) -> Network:
    fmt = r.attr(f, "format")
    if _str(fmt) != FORMAT:
        r.fail("/", f"attribute format is {_str(fmt)!r}, expected {FORMAT!r}")
    version = r.attr(f, "format_version")
    if int(version) not in READABLE_VERSIONS:
        r.fail("/", f"unknown format_version {int(version)} (this eventsim reads "
                    f"{', '.join(map(str, READABLE_VERSIONS))})")
    prov_text = r.attr(f, "provenance", required=False)
    try:
        provenance = json.loads(_str(prov_text)) if prov_text is not None else {}
    except json.JSONDecodeError:
        r.fail("/", "attribute provenance is not valid JSON")
    inp = r.group(f, "input")
    sensor = r.attr(inp, "sensor", required=False)
    spec = InputSpec(kind=_str(r.attr(f, "input_kind")),
                     polarity=_str(r.attr(inp, "polarity")),
                     sensor=None if sensor is None else tuple(int(s) for s in sensor))
    pops_g = r.group(f, "populations")
    populations = []
    for name in pops_g:
        g = pops_g[name]
        kind = _str(r.attr(g, "kind"))
        spiking = kind not in ("input", "readout")
        v_min = r.attr(g, "v_min", required=False)
        populations.append(Population(
            name=name, kind=kind, shape=tuple(int(s) for s in r.attr(g, "shape")),
            threshold=float(r.attr(g, "threshold")) if spiking else None,
            decay=float(r.attr(g, "decay")) if spiking else None,
            reset=_str(r.attr(g, "reset")) if spiking else None,
            v_min=None if v_min is None else float(v_min),
            multi_spike=bool(r.attr(g, "multi_spike", required=False) or False),
            bias=r.data(g, "bias"),
        ))
    projs_g = r.group(f, "projections")
    names = list(projs_g)
    if "projection_order" in f:
        stored = [_str(n) for n in f["projection_order"][()]]
        if sorted(stored) == sorted(names):
            names = stored
    projections = []
    for name in names:
        g = projs_g[name]
        kernel = r.attr(g, "kernel_size", required=False)
        pool = [r.attr(g, k, required=False)
                for k in ("pre_pool_kernel", "pre_pool_stride", "pre_pool_padding")]
        if any(a is not None for a in pool) and any(a is None for a in pool):
            r.fail(g.name, "pre_pool_kernel, pre_pool_stride and pre_pool_padding go together")
        if pool[0] is not None and int(version) < PRE_POOL_VERSION:
            r.fail(g.name, f"a pre-pool needs format_version {PRE_POOL_VERSION}, "
                           f"the file says {int(version)}")
        projections.append(Projection(
            name=name, kind=_str(r.attr(g, "kind")),
            source=_str(r.attr(g, "source")), target=_str(r.attr(g, "target")),
            weight=r.data(g, "weight"),
            stride=tuple(r.attr(g, "stride")), padding=tuple(r.attr(g, "padding")),
            dilation=tuple(r.attr(g, "dilation")), groups=int(r.attr(g, "groups")),
            kernel_size=None if kernel is None else tuple(kernel),
            scale=r.data(g, "scale"),
            pre_pool=None if pool[0] is None else tuple(tuple(int(v) for v in a) for a in pool),
        ))
    if "order" not in f:
        r.fail("/order", "missing dataset")
    order = [_str(n) for n in f["order"][()]]
    input_pop = next((p for p in populations if p.name == "input"), None)
    shape = tuple(int(s) for s in r.attr(inp, "shape"))
    if input_pop is not None and input_pop.shape != shape:
        r.fail("/input", f"shape {shape} differs from /populations/input shape {input_pop.shape}")
    return Network(name=_str(r.attr(f, "name")), populations=populations,
                   projections=projections, order=order,
                   timesteps=int(r.attr(f, "timesteps")), input=spec, provenance=provenance)
