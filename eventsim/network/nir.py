"""Read and write NIR graphs (HDF5, github.com/neuromorphs/NIR) directly with h5py.

Layout read (NIR 0.1 to 1.x; the ``nir`` package is not needed): dataset ``/version``, group
``/node`` with ``type = "NIRGraph"``, ``/node/edges`` (pairs of node names, in no particular
order) and ``/node/nodes/<name>/`` holding a ``type`` string and the node's datasets.

Import: neuron nodes become populations, the chains of linear nodes between them become one
projection each (pools composed into the next conv/dense, scales and input gains folded into the
weights; see :mod:`eventsim.network.nir_nodes` for every rule), the NIR ``Output`` becomes the
readout (the per-class sum of spikes when it is fed by a spiking node). Everything that cannot
be expressed exactly is listed in one :class:`~eventsim.errors.ModelFormatError`.

Export writes NIR for networks it can express exactly and keeps eventsim's own neuron
definitions in each node's ``metadata`` group, so that a round trip is exact.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np

from ..errors import ModelFormatError, brief
from ..files import atomic_output, sha256_file
from . import nir_nodes as nn
from .h5audit import audit_hdf5, check_global_heaps
from .h5io import open_hdf5
from .ir import InputSpec, Network, Population, back_edges, strongly_connected, topological_order
from .limits import (
    MAX_DEPTH,
    MAX_GRAPH_EDGES,
    MAX_GRAPH_NODES,
    MAX_NEURONS,
    MAX_PATHS,
    LimitExceeded,
    check_cap,
    load_json,
)
from .nir_export import write_graph
from .sources import require_regular_file

READ_MAJOR_VERSIONS = (0, 1)  # NIR file versions this reader understands


@dataclass
class NirGraph:
    """A NIR file's graph: nodes by name, edges, version and graph-level metadata."""

    version: str
    nodes: dict[str, nn.NirNode]
    edges: list[tuple[str, str]]
    metadata: dict


def is_nir_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is an HDF5 file with the NIR layout (``/node/type == NIRGraph``)."""
    require_regular_file(path, "a model", ModelFormatError)
    check_global_heaps(str(path))
    try:
        with h5py.File(path, "r") as f:
            return _small_text(f, "node/type") == "NIRGraph"
    except (OSError, RuntimeError, KeyError, ValueError):  # not HDF5, or a corrupt one
        return False


def _small_text(f: h5py.File, key: str) -> str | None:
    """The text dataset ``key`` when it is a short one stored in the file itself, else None.

    Read before the whole file is audited, so it must not follow links or external storage.
    """
    group = f
    parts = key.split("/")
    for part in parts:
        if not isinstance(group, h5py.Group) or part not in group or \
                not isinstance(group.get(part, getlink=True), h5py.HardLink):
            return None
        group = group[part]
    ds = group
    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "OSU" or ds.shape not in ((), (1,)) \
            or ds.is_virtual or ds.id.get_create_plist().get_external_count():
        return None
    try:
        return nn.as_text(ds[()] if ds.shape == () else ds[0])
    except UnicodeDecodeError:
        return None


# -- reading ---------------------------------------------------------------------------------
def _group_values(group: h5py.Group) -> dict:
    """A group's datasets as a dict of values, sub-groups as nested dicts (walked iteratively)."""
    top: dict = {}
    stack = [(group, top, 0)]
    while stack:
        g, out, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelFormatError(f"{brief(g.name)}: groups nested more than {MAX_DEPTH} levels deep")
        for key, item in g.items():
            if isinstance(item, h5py.Group):
                out[key] = {}
                stack.append((item, out[key], depth + 1))
                continue
            value = item[()]
            if isinstance(value, h5py.Empty):  # a None the writer stored: same as absent
                continue
            out[key] = nn.as_text(value) if isinstance(value, bytes) or (
                isinstance(value, np.ndarray) and value.dtype.kind in "OS" and value.shape == ()) \
                else value
    return top


def read_graph(path: str | os.PathLike) -> NirGraph:
    """The raw NIR graph of ``path``; ModelFormatError if it is not a NIR file we can read."""
    path = str(path)
    try:
        return _read_graph(path)
    except MemoryError:
        raise ModelFormatError(f"{path}: not enough memory to read this NIR graph") from None
    except (KeyError, ValueError, TypeError, OSError, RuntimeError, OverflowError, IndexError) as exc:
        # h5py's view of a corrupt file: a bad heap, an address past the end, a broken type
        raise ModelFormatError(f"{path}: corrupt or malformed NIR file ({type(exc).__name__}: "
                               f"{brief(str(exc), 120)})") from None


def _read_graph(path: str) -> NirGraph:
    with open_hdf5(path) as f:
        audit_hdf5(f, path)
        root = f.get("node")
        if not isinstance(root, h5py.Group) or "type" not in root:
            raise ModelFormatError(f"{path}: /node: missing NIR graph group (not a NIR file)")
        if nn.as_text(root["type"][()]) != "NIRGraph":
            raise ModelFormatError(f"{path}: /node/type is {nn.as_text(root['type'][()])!r}, "
                                   "expected 'NIRGraph'")
        version = nn.as_text(f["version"][()]) if "version" in f else "0.0.0"
        try:
            major = int(version.split(".")[0])
        except ValueError:
            major = -1
        if major not in READ_MAJOR_VERSIONS:
            raise ModelFormatError(f"{path}: /version: unknown NIR version {version!r} (this "
                                   f"eventsim reads 0.x and 1.x)")
        if "nodes" not in root or not isinstance(root["nodes"], h5py.Group):
            raise ModelFormatError(f"{path}: /node/nodes: missing group")
        _check_graph_size(root, path)
        nodes = {}
        for name, g in root["nodes"].items():
            if not isinstance(g, h5py.Group) or "type" not in g:
                raise ModelFormatError(f"{path}: /node/nodes/{name}: missing 'type'")
            params = _group_values(g)
            meta = params.pop("metadata", {})
            typ = nn.as_text(params.pop("type"))
            if typ == "NIRGraph":
                params = {}  # a nested subgraph: reported as unsupported by the loader
            _check_finite(params, name, path)
            nodes[name] = nn.NirNode(name, typ, params, meta if isinstance(meta, dict) else {})
        raw = root["edges"][()] if "edges" in root else np.zeros((0, 2), object)
        raw = np.asarray(raw).reshape(-1, 2) if np.size(raw) else np.zeros((0, 2), object)
        edges = [(nn.as_text(a), nn.as_text(b)) for a, b in raw]
        meta = _group_values(root["metadata"]) if "metadata" in root else {}
    return NirGraph(version, nodes, edges, meta)


def _check_finite(params: dict, node: str, path: str) -> None:
    """NaN or infinity in a weight, threshold or time constant has no meaning in a network
    (and turns every later product into NaN, with NumPy warnings on the way)."""
    for key, value in params.items():
        if isinstance(value, np.ndarray | np.floating | float) and np.asarray(value).dtype.kind in "fc" \
                and not np.all(np.isfinite(value)):
            raise ModelFormatError(f"{path}: node {brief(node)}: {brief(key)} holds NaN or infinite values")


def _check_graph_size(root: h5py.Group, path: str) -> None:
    """Node and edge counts from metadata only, before any node is read."""
    try:
        check_cap("number of NIR nodes", len(root["nodes"]), MAX_GRAPH_NODES)
        edges = root.get("edges")
        if isinstance(edges, h5py.Dataset) and edges.shape:
            check_cap("number of NIR edges", int(np.prod(edges.shape)) // 2, MAX_GRAPH_EDGES)
    except LimitExceeded as exc:
        raise ModelFormatError(f"{path}: {exc}") from None


# -- graph analysis --------------------------------------------------------------------------
def _recurrent_edges(names: list[str], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Edges inside a strongly connected component, i.e. on some cycle."""
    comp = strongly_connected(names, edges)
    return [(a, b) for a, b in edges if comp[a] == comp[b]]


def _choose_semantics(graph: NirGraph, semantics: str) -> str:
    if semantics != "auto":
        if semantics not in nn.SEMANTICS:
            raise ModelFormatError(f"semantics must be auto, {' or '.join(nn.SEMANTICS)}, "
                                   f"got {semantics!r}")
        return semantics
    # Graphs of IF neurons only are ANN->SNN conversions; sinabs writes them and defines how
    # they run (multi-spike IAF). Anything with leaky neurons follows the NIR spec.
    kinds = {n.type for n in graph.nodes.values() if n.type in nn.NEURON_MAPPERS}
    return "sinabs" if kinds == {"IF"} else "nir"


def load_nir(path: str | os.PathLike, dt: float = nn.DEFAULT_DT, semantics: str = "auto",
             timesteps: int | None = None, reset: str | None = None) -> Network:
    """A NIR file as an IR network.

    ``dt`` (seconds) discretises time constants; ``semantics`` is ``"nir"`` (the spec), ``"sinabs"``
    (IF nodes run as sinabs' IAF) or ``"auto"`` (``sinabs`` for graphs whose neurons are all IF,
    else ``nir``). ``timesteps`` is the default step count stored in the network. ``reset``
    (``"zero"``/``"subtract"``) is the reset of neuron nodes that store no ``v_reset`` (default:
    subtract, the NIR spec before 1.0.6).
    """
    path = str(path)
    if reset not in (None, "zero", "subtract"):
        raise ModelFormatError(f"reset must be zero or subtract, got {reset!r}")
    graph = read_graph(path)
    try:
        return _build(graph, path, float(dt), _choose_semantics(graph, semantics), timesteps, reset)
    except ModelFormatError as exc:
        raise ModelFormatError(str(exc) if str(exc).startswith(path) else f"{path}: {exc}") from None
    except LimitExceeded as exc:
        raise ModelFormatError(f"{path}: {exc}") from None
    except MemoryError:
        raise ModelFormatError(f"{path}: not enough memory to import this NIR graph") from None
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError) as exc:
        # a dataset of an unexpected form
        raise ModelFormatError(f"{path}: malformed NIR graph ({type(exc).__name__}: "
                               f"{brief(str(exc), 120)})") from None


def _build(graph: NirGraph, path: str, dt: float, semantics: str, timesteps, reset=None) -> Network:
    if not dt > 0:
        raise ModelFormatError(f"dt must be positive, got {dt}")
    ctx = nn.MapContext(dt, semantics, reset)
    names = list(graph.nodes)
    problems: list[str] = []
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                problems.append(f"edge {a} -> {b} names an unknown node {end!r}")
    if problems:
        raise ModelFormatError(_listed(problems))
    preds: dict[str, list[str]] = {n: [] for n in names}
    succs: dict[str, list[str]] = {n: [] for n in names}
    for a, b in graph.edges:
        preds[b].append(a)
        succs[a].append(b)
    inputs = [n for n in names if graph.nodes[n].type == "Input"]
    outputs = [n for n in names if graph.nodes[n].type == "Output"]
    if len(inputs) != 1:
        problems.append(f"{len(inputs)} Input nodes (eventsim needs exactly one)")
    if len(outputs) != 1:
        problems.append(f"{len(outputs)} Output nodes (eventsim needs exactly one)")
    for name in outputs:
        if succs[name]:
            problems.append(f"Output node {brief(name)} feeds {_listed(succs[name], ', ')} (an Output "
                            "node ends the graph)")
    neurons = [n for n in names if graph.nodes[n].type in nn.NEURON_MAPPERS]
    stateless = [n for n in names if n not in neurons]
    loops = _recurrent_edges(stateless, [(a, b) for a, b in graph.edges
                                         if a not in neurons and b not in neurons])
    if loops:  # every step's value would depend on itself
        problems.append("a cycle through no neuron node (nothing holds a step's result): "
                        + _listed([f"{a} -> {b}" for a, b in loops], ", "))
    unsupported: dict[str, list[str]] = {}
    specs: dict[str, nn.NeuronSpec] = {}
    ops: dict[str, list[nn.LinearOp]] = {}
    for name, node in graph.nodes.items():
        try:
            if node.type in nn.NEURON_MAPPERS:
                specs[name] = _with_metadata(nn.NEURON_MAPPERS[node.type](node, ctx), node)
            elif node.type in nn.LINEAR_MAPPERS:
                ops[name] = nn.LINEAR_MAPPERS[node.type](node, ctx)
            elif node.type not in ("Input", "Output"):
                unsupported.setdefault(node.type, []).append(name)
        except nn.Unsupported as exc:
            problems.append(str(exc))
    for typ, which in sorted(unsupported.items()):
        problems.append(f"unsupported node type {typ if len(typ) <= 40 else typ[:37] + '...'} "
                        f"({_listed(sorted(which), ', ')})")
    if problems:
        raise ModelFormatError("cannot import: " + _listed(problems))
    back = back_edges(names, graph.edges, inputs[0])
    return _assemble(graph, path, ctx, specs, ops, preds, succs, inputs[0], outputs[0], timesteps, back)


def _listed(items: list[str], sep: str = "; ", shown: int = 4) -> str:
    """The first few of ``items`` (each cut short), and how many more: a hostile graph can
    have 50,000 bad edges, and the error must stay one readable line."""
    text = sep.join(item if len(item) <= 160 else item[:157] + "..." for item in items[:shown])
    return text + (f"{sep}... ({len(items) - shown:,} more)" if len(items) > shown else "")


def _with_metadata(spec: nn.NeuronSpec, node: nn.NirNode) -> nn.NeuronSpec:
    """Nodes written by eventsim carry the exact IR neuron in metadata; it wins over the rules."""
    text = node.metadata.get("eventsim")
    if not text:
        return spec
    meta = load_json(text, f"metadata of node {brief(node.name)}")
    return nn.NeuronSpec(meta["kind"], None if meta.get("threshold") is None
                         else np.asarray(meta["threshold"]), meta.get("decay"), meta.get("reset"),
                         v_min=meta.get("v_min"), multi_spike=bool(meta.get("multi_spike")),
                         syn_decay=meta.get("syn_decay"), gain=1.0, bias=0.0,
                         rule="eventsim metadata (exact)")


def _assemble(graph, path, ctx, specs, ops, preds, succs, inp, out, timesteps, back) -> Network:
    nodes = graph.nodes
    meta = load_json(graph.metadata["eventsim"], "graph metadata") if "eventsim" in graph.metadata else {}
    order = topological_order(list(nodes), [(a, b) for b, ps in preds.items() for a in ps
                                            if (a, b) not in back])
    problems: list[str] = []
    # -- shapes, input to output
    shape: dict[str, tuple[int, ...]] = {}
    try:
        nir_in = nn.whole_numbers(nodes[inp].need("shape"), f"Input node {brief(inp)}: shape")
    except nn.Unsupported as exc:
        raise ModelFormatError(str(exc)) from None
    if len(nir_in) == 1 and meta.get("input", {}).get("kind") == "frames":
        shape[inp] = nir_in  # an analog vector input written by eventsim
    elif len(nir_in) == 1:
        shape[inp] = (1, 1, nir_in[0])  # a vector input: one channel of 1 x N ("signed" events)
    elif len(nir_in) == 3:
        shape[inp] = nir_in
    else:
        raise ModelFormatError(f"Input node {inp!r}: shape {brief(nir_in)} is neither (N,) nor (C,H,W)")
    if min(shape[inp]) < 1:
        raise ModelFormatError(f"Input node {inp!r}: shape {brief(nir_in)} must be positive")
    neurons = _neurons(shape[inp], 0, inp)
    for name in order:
        if name == inp:
            continue
        ins = {shape[p] for p in preds[name] if p in shape}
        if not preds[name] or len(ins) != 1:
            problems.append(f"node {name!r} " + ("is not reachable from the input" if not ins
                                                 else f"receives different shapes {sorted(ins)}"))
            continue
        s = ins.pop()
        try:
            for op in ops.get(name, []):
                s = nn.op_output_shape(op, s) if op.kind != "flatten" else (int(np.prod(s)),)
        except nn.Unsupported as exc:
            problems.append(str(exc))
            continue
        shape[name] = s
        if name in specs:
            neurons = _neurons(s, neurons, name)
    if problems:
        raise ModelFormatError("cannot import: " + "; ".join(problems))
    # -- populations: the input, every neuron node, and a readout for the Output node
    popname = {inp: "input"}
    taken = {"input"}
    for name in order:
        if name in specs or name == out:
            pname = name if name not in taken else f"{name}_"
            popname[name] = pname
            taken.add(pname)
    readouts = [n for n in specs if specs[n].kind == "readout"]
    for n in readouts:
        if any(s != out for s in succs[n]):
            problems.append(f"non-spiking node {n!r} feeds {succs[n]} (an eventsim readout has "
                            "no output but the network's)")
    out_src = preds[out]
    out_is_readout = not (len(out_src) == 1 and out_src[0] in readouts)
    if not out_is_readout:
        del popname[out]  # the LI/I node before Output is the readout
    elif readouts:
        problems.append(f"non-spiking nodes {readouts} do not end the network")
    pop_nodes = [n for n in order if n in popname]
    populations, projections, rules = [], [], {}
    names_map = meta.get("projection_names", {})
    used: set[str] = set()
    for name in pop_nodes:
        if name == inp:
            populations.append(Population("input", "input", shape[inp]))
            continue
        spec = specs.get(name) or nn.NeuronSpec("readout", None, None, None, rule="Output: sum")
        tshape = shape[name]
        try:
            bias = _target_bias(name, preds, ops, shape, spec)
            for src, path_ops, last, delayed in _paths(name, preds, popname, ops, back):
                if not np.all(np.asarray(spec.gain) == 1.0):  # the input gain ends the path
                    path_ops = path_ops + [nn.LinearOp(name, "scale", scale=_full(spec.gain, tshape))]
                key = last or f"{popname[src]}->{popname[name]}"
                pname = names_map.get(key) or last or f"{popname[src]}_to_{popname[name]}"
                while pname in used:
                    pname += "_"
                used.add(pname)
                proj = nn.compose_path(path_ops, popname[src], popname[name], pname, shape[src], tshape)
                projections.append(replace(proj, delay=1) if delayed else proj)
            populations.append(_population(popname[name], spec, tshape, bias))
            rules[popname[name]] = spec.rule
        except nn.Unsupported as exc:
            problems.append(str(exc) if repr(name) in str(exc) else f"node {name!r}: {exc}")
        except ModelFormatError as exc:
            problems.append(f"node {name!r}: {exc}")
    if problems:
        raise ModelFormatError("cannot import: " + "; ".join(problems))
    pops = [p.name for p in populations]
    ir_order = topological_order(pops, [(q.source, q.target) for q in projections if not q.delay])
    spec_in = _input_spec(shape[inp], meta)
    provenance = meta.get("provenance") or {
        "source": "nir", "file": os.path.basename(path), "sha256": sha256_file(path),
        "nir_version": graph.version, "dt": ctx.dt, "semantics": ctx.semantics, "neurons": rules}
    return Network(meta.get("name") or Path(path).stem, populations, projections, ir_order,
                   timesteps=int(timesteps or meta.get("timesteps") or 1), input=spec_in,
                   provenance=provenance)


def _neurons(shape, total: int, name: str) -> int:
    """``total`` plus the neurons of ``shape``; refused above the cap before anything is allocated."""
    total += int(np.prod(shape, dtype=object))
    if total > MAX_NEURONS:
        raise ModelFormatError(f"node {brief(name)}: the network reaches {total:,} neurons, more "
                               f"than eventsim's limit of {MAX_NEURONS:,}")
    return total


def _full(value, shape) -> np.ndarray:
    arr = np.asarray(value, np.float64)
    if arr.size not in (1, int(np.prod(shape))):
        raise nn.Unsupported(f"parameter of shape {arr.shape} does not fit the population {shape}")
    return np.broadcast_to(arr.reshape(-1) if arr.size > 1 else arr, (int(np.prod(shape)),)).reshape(shape)


def _paths(target, preds, popname, ops, back=frozenset()):
    """(source population node, linear ops in forward order, last linear node, delayed) per path;
    ``delayed`` when the path contains one of the ``back`` edges (a recurrent connection).

    Chains of linear nodes may branch and join (diamonds): their number can grow as 2^stages,
    so they are counted first (each node once) and refused above MAX_PATHS; then walked with
    an explicit stack (a chain of thousands of nodes needs no recursion).
    """
    _count_paths(target, preds, popname)
    out = []
    # (node, ops after it, last linear node, delayed)
    stack: list[tuple[str, list[nn.LinearOp], str | None, bool]] = [
        (p, [], None, (p, target) in back) for p in reversed(preds[target])]
    while stack:
        node, tail, last, delayed = stack.pop()
        if node in popname:  # a population: the path starts here
            out.append((node, tail, last, delayed))
            continue
        tail = ops.get(node, []) + tail
        stack.extend((p, tail, last or node, delayed or (p, node) in back) for p in reversed(preds[node]))
    return out


def _count_paths(target, preds, popname) -> None:
    """Number of linear-node chains ending in ``target``, each node visited once."""
    count: dict[str, int] = {}
    stack = [(target, False)]
    while stack:
        node, expanded = stack.pop()
        if node in count:
            continue
        todo = [p for p in preds[node] if p not in popname and p not in count]
        if todo and not expanded:
            stack.append((node, True))
            stack.extend((p, False) for p in todo)
            continue
        count[node] = sum(1 if p in popname else count[p] for p in preds[node])
        if count[node] > MAX_PATHS:
            raise nn.Unsupported(f"node {target!r} is reached through more than {MAX_PATHS:,} "
                                 "chains of linear nodes (each would become one projection)")


def _target_bias(target, preds, ops, shape, spec) -> np.ndarray | None:
    """Constant current into ``target`` per step: linear-node biases carried to it, times its
    input gain, plus the neuron's own constant (v_leak) term; full target shape."""
    memo: dict[str, np.ndarray | None] = {}

    def bias_out(start):  # bias leaving a linear node, in that node's output shape
        stack = [start]  # sources first, without recursion (chains can be thousands long)
        while stack:
            node = stack[-1]
            if node in memo or node not in ops:
                stack.pop()
                continue
            todo = [p for p in preds[node] if p in ops and p not in memo]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            memo[node] = _bias_through(node, preds, ops, shape, memo)
        return memo.get(start)

    tshape = shape[target]
    total = np.zeros(tshape)
    for p in preds[target]:
        b = bias_out(p)
        if b is not None:
            total += b.reshape(tshape)
    total = total * _full(spec.gain, tshape) + _full(spec.bias, tshape)
    return None if not np.any(total) else total


def _bias_through(node, preds, ops, shape, memo) -> np.ndarray | None:
    """The bias leaving linear node ``node``: its inputs' biases carried through its ops, plus its own."""
    b = None
    s = shape[preds[node][-1]]  # _assemble refused a node without inputs
    for p in preds[node]:
        pb = memo.get(p)
        if pb is not None:
            b = pb if b is None else b + pb
    for op in ops[node]:
        if b is not None:
            b = nn.apply_op(op, b, s)
        s = nn.op_output_shape(op, s) if op.kind != "flatten" else (int(np.prod(s)),)
        if op.bias is not None and np.any(op.bias != 0):
            add = op.bias.reshape((-1,) + (1,) * (len(s) - 1))
            b = np.broadcast_to(add, s).copy() if b is None else b + add
    return b


def _population(name: str, spec: nn.NeuronSpec, shape, bias_full) -> Population:
    bias = None
    if bias_full is not None:
        bias = nn.per_channel(bias_full, shape, f"constant input current of {name!r}")
    if spec.kind == "readout":
        return Population(name, "readout", shape, bias=bias)
    theta = _full(spec.threshold, shape)  # a parameter of another shape than the input: error
    node = nn.NirNode(name, spec.kind, {})
    threshold = nn.uniform_value(node, "v_threshold", theta)
    if not threshold > 0:
        raise nn.Unsupported(f"node {name!r}: threshold {threshold:g} must be positive")
    return Population(name, spec.kind, shape, threshold=threshold, decay=spec.decay,
                      reset=spec.reset, v_min=spec.v_min, multi_spike=spec.multi_spike, bias=bias,
                      syn_decay=spec.syn_decay)


def _input_spec(shape, meta) -> InputSpec:
    if "input" in meta:
        m = meta["input"]
        return InputSpec(kind=m["kind"], polarity=m["polarity"],
                         sensor=None if m.get("sensor") is None else tuple(m["sensor"]))
    c, h, w = shape
    if c == 2:  # two polarity channels: OFF = 0, ON = 1, as tonic's ToFrame and eventsim
        return InputSpec("events", "split", (w, h))
    if c == 1:
        return InputSpec("events", "signed", (w, h))
    return InputSpec("frames", "split", (w, h))


# -- writing ---------------------------------------------------------------------------------
def save_nir(net: Network, path: str | os.PathLike, dt: float = nn.DEFAULT_DT) -> dict:
    """Write ``net`` as a NIR file, atomically; ModelFormatError if NIR cannot express it.

    ``dt`` (seconds per step) sets the LIF time constants written. Returns
    ``{"nir_version", "nodes", "edges"}``.
    """
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        summary = write_graph(f, net, float(dt))
    return summary
