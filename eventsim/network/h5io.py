"""Read and write ``model.h5`` (format_versions 1 to 3), as specified in DESIGN.md.

This is the only module that knows the HDF5 layout of a model. Writing goes to a temporary
file in the target directory, renamed into place once complete, so a failed write never
leaves a partial model behind.
"""

from __future__ import annotations

import os
from typing import Literal, NoReturn, overload

import h5py
import numpy as np

from ..errors import ModelFormatError, brief
from ..files import atomic_output, json_text
from .h5audit import audit_hdf5, check_global_heaps
from .ir import InputSpec, Network, Population, Projection
from .kinds import NEURON_KINDS
from .limits import MAX_GRAPH_NODES, MAX_NEURONS, LimitExceeded, check_cap, load_json
from .sources import require_regular_file

FORMAT = "eventsim-model"
FORMAT_VERSION = 1
# Version 2 = version 1 + conv2d projections with a pre-pool. A file is written as version 2 only
# when it uses one, so every other model stays readable by readers that know only version 1,
# and a reader that knows only version 1 refuses a pre-pooled model instead of misreading it.
PRE_POOL_VERSION = 2
# Version 3 = version 2 + delayed projections (recurrent networks) and the cuba_lif kind; written
# only for networks that use one of them, for the same reason.
RECURRENT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


def format_version(net: Network) -> int:
    """The lowest format_version that holds ``net``."""
    if any(q.delay for q in net.projections) or \
            any(p.kind_info.since_version >= RECURRENT_VERSION for p in net.populations):
        return RECURRENT_VERSION
    if any(q.pre_pool is not None for q in net.projections):
        return PRE_POOL_VERSION
    return FORMAT_VERSION


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
    f.attrs["format_version"] = format_version(net)
    f.attrs["name"] = net.name
    f.attrs["timesteps"] = net.timesteps
    f.attrs["input_kind"] = net.input.kind
    f.attrs["provenance"] = json_text(net.provenance, what="model provenance", sort_keys=True)
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
        for key in p.kind_info.params:  # the kind's parameters; optional ones only when set
            value = getattr(p, key)
            if value is not None and value is not False:
                g.attrs[key] = value
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
        if q.pre_pool is not None:  # absent = no pre-pool (as in every file before format_version 2)
            for key, value in zip(("pre_pool_kernel", "pre_pool_stride", "pre_pool_padding"), q.pre_pool):
                g.attrs[key] = np.asarray(value, dtype=np.int64)
        if q.delay:  # absent = 0 (files before format_version 3 have none)
            g.attrs["delay"] = np.int64(q.delay)
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

    def fail(self, where: str, msg: str) -> NoReturn:
        raise ModelFormatError(f"{self.path}: {where}: {msg}")

    def attr(self, obj, key: str, required: bool = True):
        if key not in obj.attrs:
            if required:
                self.fail(obj.name, f"missing attribute {key!r}")
            return None
        return obj.attrs[key]

    @overload
    def text(self, obj, key: str, required: Literal[True] = True) -> str: ...
    @overload
    def text(self, obj, key: str, required: bool) -> str | None: ...

    def text(self, obj, key: str, required: bool = True) -> str | None:
        value = self.attr(obj, key, required)
        if value is None:
            return None
        if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "OSU":
            value = value.item()
        if not isinstance(value, (str, bytes)):
            self.fail(obj.name, f"attribute {key!r} must be text, got {brief(value)}")
        try:
            return _str(value)
        except UnicodeDecodeError:
            self.fail(obj.name, f"attribute {key!r} is not UTF-8 text")

    def ints(self, obj, key: str, count: int | None = None, required: bool = True):
        """An integer attribute (``count`` None: a scalar) as int or tuple; floats refused."""
        value = self.attr(obj, key, required)
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu":
            self.fail(obj.name, f"attribute {key!r} must be {'an integer' if count is None else 'integers'}"
                                f", got {brief(value)}")
        if count is None:
            if arr.size != 1:
                self.fail(obj.name, f"attribute {key!r} must be one integer, got {brief(value)}")
            return int(arr.reshape(-1)[0])
        flat = arr.reshape(-1)
        if count > 0 and flat.size != count or count < 0 and not 1 <= flat.size <= -count:
            self.fail(obj.name, f"attribute {key!r} must hold {abs(count)} integers, got {brief(value)}")
        return tuple(int(v) for v in flat)

    def flag(self, obj, key: str) -> bool:
        value = self.attr(obj, key, required=False)
        if value is None:
            return False
        arr = np.asarray(value)
        if arr.dtype.kind not in "biu" or arr.size != 1 or arr.reshape(-1)[0] not in (0, 1):
            self.fail(obj.name, f"attribute {key!r} must be true or false, got {brief(value)}")
        return bool(arr.reshape(-1)[0])

    def number(self, obj, key: str, required: bool) -> float | None:
        value = self.attr(obj, key, required)
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf" or arr.size != 1:
            self.fail(obj.name, f"attribute {key!r} must be a number, got {brief(value)}")
        return float(arr.reshape(-1)[0])

    def group(self, f, key: str):
        if key not in f or not isinstance(f[key], h5py.Group):
            self.fail("/" + key, "missing group")
        return f[key]

    def data(self, g, key: str, expect=None):
        """Dataset ``key`` of ``g`` (None if absent), float32/float64, its shape checked first.

        ``expect(shape)`` returns a message when the declared shape does not fit the network,
        so a dataset declared far larger than the IR implies is never read.
        """
        if key not in g:
            return None
        ds = g[key]
        if not isinstance(ds, h5py.Dataset):
            self.fail(ds.name, "expected a dataset")
        if ds.dtype not in (np.dtype("<f4"), np.dtype("<f8"), np.dtype(">f4"), np.dtype(">f8")):
            self.fail(ds.name, f"data type {brief(str(ds.dtype))}: model.h5 stores float32 or float64")
        if ds.shape is None:
            self.fail(ds.name, "is empty (no dataspace)")
        problem = expect(tuple(ds.shape)) if expect else None
        if problem:
            self.fail(ds.name, f"shape {tuple(ds.shape)}: {problem}")
        return np.asarray(ds[()])


def open_hdf5(path: str) -> h5py.File:
    """``path`` opened read-only; ModelFormatError when it is missing, special or not HDF5."""
    require_regular_file(path, "a model", ModelFormatError)
    try:
        check_global_heaps(path)
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: not a readable HDF5 file ({brief(str(exc), 120)})") from None


def load_model(path: str | os.PathLike) -> Network:
    """Read a ``model.h5`` file; raises ModelFormatError naming what is wrong and where."""
    path = str(path)
    f = open_hdf5(path)
    r = _Reader(path)
    try:
        with f:
            audit_hdf5(f, path)
            return _read(f, r)
    except ModelFormatError as exc:
        if str(exc).startswith(path):
            raise
        raise ModelFormatError(f"{path}: {exc}") from None
    except LimitExceeded as exc:
        raise ModelFormatError(f"{path}: {exc}") from None
    except MemoryError:
        raise ModelFormatError(f"{path}: not enough memory to load this model") from None
    except (KeyError, ValueError, TypeError, OSError, RuntimeError, OverflowError) as exc:
        raise ModelFormatError(f"{path}: malformed model file ({brief(str(exc), 120)})") from None


def _read(f: h5py.File, r: _Reader) -> Network:
    fmt = r.text(f, "format")
    if fmt != FORMAT:
        r.fail("/", f"attribute format is {brief(fmt)}, expected {FORMAT!r}")
    version = r.ints(f, "format_version")
    if version not in READABLE_VERSIONS:
        r.fail("/", f"unknown format_version {brief(version)} (this eventsim reads "
                    f"{', '.join(map(str, READABLE_VERSIONS))})")
    prov_text = r.text(f, "provenance", required=False)
    try:
        provenance = load_json(prov_text, "attribute provenance") if prov_text is not None else {}
    except ValueError as exc:
        r.fail("/", str(exc))
    if not isinstance(provenance, dict):
        r.fail("/", "attribute provenance is not a JSON object")
    inp = r.group(f, "input")
    sensor = r.ints(inp, "sensor", 2, required=False)
    spec = InputSpec(kind=r.text(f, "input_kind"), polarity=r.text(inp, "polarity"), sensor=sensor)
    pops_g = r.group(f, "populations")
    projs_g = r.group(f, "projections")
    check_cap("number of populations and projections", len(pops_g) + len(projs_g), MAX_GRAPH_NODES)
    shapes = _population_shapes(pops_g, r)
    populations = [_read_population(pops_g[name], name, shapes[name], version, r) for name in pops_g]
    names = list(projs_g)
    if "projection_order" in f:
        stored = [_str(n) for n in _strings(f, "projection_order", r)]
        if sorted(stored) == sorted(names):
            names = stored
    projections = [_read_projection(projs_g[name], name, shapes, version, r) for name in names]
    order = [_str(n) for n in _strings(f, "order", r)]
    input_pop = next((p for p in populations if p.name == "input"), None)
    shape = r.ints(inp, "shape", -3)
    if input_pop is not None and input_pop.shape != shape:
        r.fail("/input", f"shape {shape} differs from /populations/input shape {input_pop.shape}")
    return Network(name=r.text(f, "name"), populations=populations,
                   projections=projections, order=order,
                   timesteps=r.ints(f, "timesteps"), input=spec, provenance=provenance)


def _strings(f, key: str, r: _Reader) -> list:
    if key not in f or not isinstance(f[key], h5py.Dataset):
        r.fail("/" + key, "missing dataset")
    ds = f[key]
    if ds.dtype.kind not in "OS" or ds.ndim != 1:
        r.fail(ds.name, "must be a 1-D list of names")
    check_cap(f"/{key} length", ds.shape[0], MAX_GRAPH_NODES)
    return list(ds[()])


def _population_shapes(pops_g, r: _Reader) -> dict[str, tuple[int, ...]]:
    """Every population's shape, read from attributes only and capped in total neurons."""
    shapes = {}
    total = 0
    for name in pops_g:
        g = pops_g[name]
        if not isinstance(g, h5py.Group):
            r.fail(f"/populations/{name}", "expected a group")
        shape = r.ints(g, "shape", -3)
        if min(shape) < 1:
            r.fail(g.name, f"shape must be positive, got {shape}")
        total += int(np.prod(shape, dtype=object))
        check_cap("total number of neurons", total, MAX_NEURONS)
        shapes[name] = shape
    return shapes


_REQUIRED = ("threshold", "decay", "syn_decay", "reset")  # written for every population of the kind


def _read_population(g, name: str, shape, version: int, r: _Reader) -> Population:
    kind_name = r.text(g, "kind")
    kind = NEURON_KINDS.get(kind_name)
    if kind is not None and kind.since_version > version:
        r.fail(g.name, f"kind {kind_name!r} needs format_version {kind.since_version}, the file says "
                       f"{version}")

    def required(key: str) -> bool:
        # a parameter of another kind is read too, so that Population refuses it by name
        return kind is not None and key in kind.params and key in _REQUIRED

    def number(key: str) -> float | None:
        return r.number(g, key, required(key))

    # read in a fixed order (threshold first): of two bad attributes, the first one is reported
    threshold, decay, syn_decay = number("threshold"), number("decay"), number("syn_decay")
    reset = r.text(g, "reset", required("reset"))
    v_min, multi_spike = number("v_min"), r.flag(g, "multi_spike")
    bias_shape = (shape[0],)
    return Population(name=name, kind=kind_name, shape=shape, threshold=threshold, decay=decay,
                      reset=reset, v_min=v_min, multi_spike=multi_spike, syn_decay=syn_decay,
                      bias=r.data(g, "bias", lambda s: None if s == bias_shape else f"expected {bias_shape}"))


def _read_projection(g, name: str, shapes, version: int, r: _Reader) -> Projection:
    if not isinstance(g, h5py.Group):
        r.fail(f"/projections/{name}", "expected a group")
    source, target = r.text(g, "source"), r.text(g, "target")
    for end in (source, target):
        if end not in shapes:
            r.fail(g.name, f"unknown population {brief(end)}")
    kernel = r.ints(g, "kernel_size", 2, required=False)
    pool = [r.ints(g, k, 2, required=False)
            for k in ("pre_pool_kernel", "pre_pool_stride", "pre_pool_padding")]
    if any(a is not None for a in pool) and any(a is None for a in pool):
        r.fail(g.name, "pre_pool_kernel, pre_pool_stride and pre_pool_padding go together")
    if pool[0] is not None and version < PRE_POOL_VERSION:
        r.fail(g.name, f"a pre-pool needs format_version {PRE_POOL_VERSION}, "
                       f"the file says {version}")
    delay = r.ints(g, "delay", required=False)
    if delay is not None and version < RECURRENT_VERSION:
        r.fail(g.name, f"a delay needs format_version {RECURRENT_VERSION}, the file says {version}")
    stride, padding = r.ints(g, "stride", 2), r.ints(g, "padding", 2)
    groups = r.ints(g, "groups")
    expect = _weight_check(shapes[source], shapes[target], padding, groups)
    return Projection(
        name=name, kind=r.text(g, "kind"), source=source, target=target,
        weight=r.data(g, "weight", expect), stride=stride, padding=padding,
        dilation=r.ints(g, "dilation", 2), groups=groups, kernel_size=kernel,
        scale=r.data(g, "scale", lambda s: None if s == (shapes[source][0],)
                     else f"expected ({shapes[source][0]},)"),
        pre_pool=None if pool[0] is None else tuple(pool), delay=0 if delay is None else delay,
    )


def _weight_check(src, tgt, padding, groups):
    """The weight shapes a projection between ``src`` and ``tgt`` can have (before reading it)."""
    n_src, n_tgt = int(np.prod(src)), int(np.prod(tgt))

    def check(shape):
        if len(shape) == 2:  # dense
            return None if shape == (n_tgt, n_src) else f"a dense weight here is ({n_tgt}, {n_src})"
        if len(shape) == 4 and len(src) == 3 and len(tgt) == 3:
            cout, cin_g, kh, kw = shape
            max_k = (src[1] + 2 * max(padding[0], 0), src[2] + 2 * max(padding[1], 0))
            if cout != tgt[0] or groups < 1 or cin_g * groups != src[0] or kh > max_k[0] or kw > max_k[1]:
                return (f"a conv weight here is ({tgt[0]}, {src[0]}/groups, kh <= {max_k[0]}, "
                        f"kw <= {max_k[1]})")
            return None
        return "a weight is 2-D (dense) or 4-D (conv2d) between these populations"

    return check
