"""IR network -> NIR graph (HDF5 layout of NIR 1.x), for the networks NIR can express exactly.

Mapping (the inverse of the import rules in :mod:`eventsim.network.nir_nodes`):

- ``binary_lif`` (one spike at ``v > θ``) with decay 1 -> ``IF`` (``r = 1``); with decay λ < 1 ->
  ``LIF`` with ``tau = dt/(1 − λ)`` and ``r = tau/dt`` (so the Euler input gain ``dt·r/tau`` is 1),
  ``v_leak = 0``. Reset ``zero`` writes ``v_reset = 0``; reset ``subtract`` omits ``v_reset``
  (the NIR < 1.0.6 rule, which reset by subtraction).
- ``if`` with ``multi_spike``, reset ``subtract`` and ``v_min = −θ`` -> ``IF`` without ``v_reset``:
  exactly what sinabs builds from such a node.
- ``cuba_lif`` -> ``CubaLIF`` with ``tau_syn = dt/(1 − α)``, ``tau_mem = dt/(1 − λ)``,
  ``w_in = tau_syn/dt``, ``r = tau_mem/dt`` (input gain 1, as snnTorch exports its ``Synaptic``),
  ``v_leak = 0``; α or λ = 1 (no leak: an infinite τ) is not expressible.
- A projection with ``delay = 1`` that closes a cycle -> ordinary edges: a NIR cycle is a
  recurrent connection, one step late. Written only when a reader's depth-first walk from the
  Input (the import rule) cuts the cycles at exactly the delayed projections; any other delay is
  refused.
- ``readout`` fed by one plain identity from a spiking population -> that population's edge to
  the ``Output`` node (the output is the per-class spike count); any other readout -> an ``I``
  node (``r = 1``: it accumulates its input) followed by ``Output``.
- Projections: ``conv2d`` -> ``Conv2d`` (with ``input_shape``), ``dense`` -> (``Flatten`` +)
  ``Affine``, ``sumpool2d`` -> ``SumPool2d``, ``identity`` -> an edge, or a ``Scale`` node.
  A population's bias becomes the bias of its first incoming ``Conv2d``/``Affine``.

Not expressible, with the reason in the error: ``ternary_lif`` (NIR neurons emit 0/1 spikes; a
−1 spike and the shared reset of a ternary membrane have no exact NIR encoding), ``lif``/``if``
firing at ``v >= θ`` with one spike (NIR fires at ``v > θ``), membrane floors other than
sinabs' ``−θ``. eventsim's exact neuron definition is kept in each node's ``metadata`` group.
"""

from __future__ import annotations

import h5py
import numpy as np

from ..errors import ModelFormatError
from ..files import json_text
from .ir import Network, Population, Projection, back_edges

NIR_VERSION_RESET = "1.0.6"  # first NIR release with v_reset datasets
NIR_VERSION = "1.0.0"  # written when no node needs v_reset


def _neuron_problem(p: Population) -> str | None:
    if p.kind == "cuba_lif" and (p.decay == 1.0 or p.syn_decay == 1.0):
        return (f"population {p.name!r} is cuba_lif without leak (λ = {p.decay:g}, α = {p.syn_decay:g}): "
                "NIR's CubaLIF would need an infinite time constant")
    if p.kind == "ternary_lif":
        return (f"population {p.name!r} is ternary_lif: NIR neurons emit only 0/1 spikes, and a "
                "ternary neuron's −1 spikes with their shared reset have no exact NIR encoding")
    if p.kind == "binary_lif":
        return None if p.v_min is None else \
            f"population {p.name!r}: membrane floor v_min={p.v_min:g} has no NIR equivalent"
    if p.kind == "if" and p.multi_spike and p.reset == "subtract" and p.v_min == -p.threshold_value:
        return None  # sinabs' IAF: multi-spike, subtractive reset, floor −θ
    if p.kind in ("if", "lif"):
        return (f"population {p.name!r} is {p.kind} (fires at v >= θ"
                f"{', multi-spike' if p.multi_spike else ''}): NIR neurons fire once at v > θ; only "
                "sinabs' IAF (if, multi-spike, subtract, v_min = −θ) is exported")
    return None


def write_graph(f: h5py.File, net: Network, dt: float) -> dict:
    """Write ``net`` into the open HDF5 file ``f``; ModelFormatError listing what NIR cannot hold.

    Returns a summary: ``{"nir_version", "nodes", "edges"}``.
    """
    pops = {p.name: p for p in net.populations}
    problems = [m for m in (_neuron_problem(p) for p in net.populations) if m]
    # a pre-pooled conv would need its own SumPool2d node; not exported yet, refused by name
    problems += [f"projection {q.name!r} is a conv2d with a pre_pool (export not supported)"
                 for q in net.projections if q.pre_pool is not None]
    problems += [f"projection {q.name!r} has delay {q.delay} (a NIR cycle delays by one step; longer "
                 "delays have no NIR encoding)" for q in net.projections if q.delay > 1]
    carriers: dict[str, str] = {}  # population -> projection that carries its bias
    for p in net.populations:
        if p.bias is not None:
            carrier = next((q.name for q in net.incoming(p.name) if q.kind in ("conv2d", "dense")), None)
            if carrier is None:
                problems.append(f"population {p.name!r} has a bias but no conv2d/dense input to "
                                "carry it (NIR neurons have no bias)")
            else:
                carriers[p.name] = carrier
    if problems:
        raise ModelFormatError("cannot export to NIR: " + "; ".join(problems))
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str]] = []
    names_map: dict[str, str] = {}

    def node_name(want: str) -> str:
        name = want
        while name in nodes or (name in pops and name != want):
            name += "_"
        return name

    out_pop = net.output_population
    inc = net.incoming(out_pop.name)
    spike_count_readout = (len(inc) == 1 and inc[0].kind == "identity" and inc[0].scale is None
                           and out_pop.bias is None and pops[inc[0].source].spiking)
    for p in net.ordered_populations():
        nodes[p.name] = _population_node(p, dt, spike_count_readout and p is out_pop)
    if not spike_count_readout:
        out_name = node_name("output")
        nodes[out_name] = {"type": "Output", "shape": np.asarray(out_pop.shape, np.int64)}
        edges.append((out_pop.name, out_name))
    path_edges: dict[str, list[tuple[str, str]]] = {}  # projection -> the edges it became
    for q in net.projections:
        src, tgt = pops[q.source], pops[q.target]
        bias = tgt.bias if carriers.get(tgt.name) == q.name else None
        first = len(edges)
        if q.kind == "identity" and q.scale is None:
            edges.append((q.source, q.target))
            names_map[f"{q.source}->{q.target}"] = q.name
            path_edges[q.name] = edges[first:]
            continue
        name = node_name(q.name)
        names_map[name] = q.name
        chain = _projection_nodes(q, src, tgt, bias)
        if len(chain) == 2:  # Flatten, then Affine
            flat = node_name(f"{name}.flatten")
            nodes[flat] = chain[0]
            edges += [(q.source, flat), (flat, name)]
        else:
            edges.append((q.source, name))
        nodes[name] = chain[-1]
        edges.append((name, q.target))
        path_edges[q.name] = edges[first:]
    _check_recurrence(net, nodes, edges, path_edges)
    version = NIR_VERSION_RESET if any("v_reset" in n for n in nodes.values()) else NIR_VERSION
    f.create_dataset("version", data=version, dtype=h5py.string_dtype())
    root = f.create_group("node")
    root.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
    root.create_dataset("edges", data=np.array(edges, dtype=object).reshape(-1, 2),
                        dtype=h5py.string_dtype())
    meta = {"name": net.name, "timesteps": net.timesteps, "provenance": net.provenance,
            "input": {"kind": net.input.kind, "polarity": net.input.polarity,
                      "sensor": None if net.input.sensor is None else list(net.input.sensor)},
            "projection_names": names_map}
    text = json_text(meta, what="NIR metadata", sort_keys=True)
    root.create_group("metadata").create_dataset("eventsim", data=text, dtype=h5py.string_dtype())
    group = root.create_group("nodes")
    for name, node in nodes.items():
        g = group.create_group(name)
        for key, value in node.items():
            if key == "metadata":
                g.create_group("metadata").create_dataset("eventsim", data=value,
                                                          dtype=h5py.string_dtype())
            elif isinstance(value, str):
                g.create_dataset(key, data=value, dtype=h5py.string_dtype())
            else:
                g.create_dataset(key, data=value)
    return {"nir_version": version, "nodes": len(nodes), "edges": len(edges)}


def _check_recurrence(net: Network, nodes: dict, edges: list, path_edges: dict) -> None:
    """The NIR reader delays exactly the projections whose edges its walk finds closing a cycle;
    they must be the delayed ones, or the written graph would run differently."""
    back = back_edges(list(nodes), edges, "input")
    cut = {name for name, es in path_edges.items() if any(e in back for e in es)}
    delayed = {q.name for q in net.projections if q.delay}
    if cut != delayed:
        raise ModelFormatError(
            "cannot export to NIR: the recurrence is not where a NIR reader would put it (delayed "
            f"projections {sorted(delayed)}, cycles closed at {sorted(cut)}; a NIR cycle delays the "
            "edge a depth-first walk from the input reaches last, and a delay outside a cycle has "
            "no NIR encoding)")


def _population_node(p: Population, dt: float, spike_count_output: bool) -> dict:
    shape = p.shape
    if p.kind == "input":
        return {"type": "Input", "shape": np.asarray(shape, np.int64)}
    if p.kind == "readout":
        if spike_count_output:
            return {"type": "Output", "shape": np.asarray(shape, np.int64)}
        return {"type": "I", "r": np.ones(shape)}  # dv/dt = R·I, one step adds I
    exact = json_text({"kind": p.kind, "threshold": p.threshold, "decay": p.decay,
                       "reset": p.reset, "v_min": p.v_min, "multi_spike": p.multi_spike,
                       "syn_decay": p.syn_decay}, what=f"NIR metadata of {p.name}")
    theta = np.full(shape, p.threshold)
    if p.kind == "cuba_lif":  # Euler with input gain 1 (nir_nodes.map_cuba_lif inverts it)
        tau_syn, tau_mem = dt / (1.0 - p.syn_decay_value), dt / (1.0 - p.decay_value)
        node = {"type": "CubaLIF", "tau_syn": np.full(shape, tau_syn), "tau_mem": np.full(shape, tau_mem),
                "w_in": np.full(shape, tau_syn / dt), "r": np.full(shape, tau_mem / dt),
                "v_leak": np.zeros(shape), "v_threshold": theta}
    elif p.decay == 1.0:
        node = {"type": "IF", "r": np.ones(shape), "v_threshold": theta}
    else:
        tau = dt / (1.0 - p.decay_value)  # Euler: λ = 1 − dt/τ
        node = {"type": "LIF", "tau": np.full(shape, tau), "r": np.full(shape, tau / dt),
                "v_leak": np.zeros(shape), "v_threshold": theta}
    if p.reset == "zero":
        node["v_reset"] = np.zeros(shape)
    node["metadata"] = exact
    return node


def _projection_nodes(q: Projection, src: Population, tgt: Population, bias) -> list[dict]:
    pair = lambda v: np.asarray(v, np.int64)  # noqa: E731
    if q.kind == "identity":  # unscaled: write_graph writes a plain edge instead; ones keep this total
        scale = np.ones(src.shape[0]) if q.scale is None else q.scale
        full = np.broadcast_to(scale.reshape((-1,) + (1,) * (len(src.shape) - 1)), src.shape)
        return [{"type": "Scale", "scale": np.array(full, dtype=np.float64)}]
    if q.kind == "sumpool2d":
        return [{"type": "SumPool2d", "kernel_size": pair(q.kernel_size), "stride": pair(q.stride),
                 "padding": pair(q.padding)}]
    weight = q.weight_array
    cout = weight.shape[0]
    b = np.zeros(cout, weight.dtype) if bias is None else np.asarray(bias, weight.dtype)
    if q.kind == "conv2d":
        return [{"type": "Conv2d", "weight": weight, "bias": b, "stride": pair(q.stride),
                 "padding": pair(q.padding), "dilation": pair(q.dilation),
                 "groups": np.int64(q.groups), "input_shape": pair(src.shape[1:])}]
    affine = {"type": "Affine", "weight": weight, "bias": b}
    if len(src.shape) == 1:
        return [affine]
    flatten = {"type": "Flatten", "start_dim": np.int64(0), "end_dim": np.int64(-1),
               "input_type": pair(src.shape)}
    return [flatten, affine]
