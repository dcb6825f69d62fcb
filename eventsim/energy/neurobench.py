"""NeuroBench's metrics of one run, under NeuroBench's names and with its definitions.

NeuroBench (v2.3, ``neurobench/metrics``) measures a PyTorch model through hooks. eventsim computes
the same numbers for **the PyTorch twin of the network**: one ``nn.Conv2d`` / ``nn.Linear`` per
``conv2d`` / ``dense`` projection (no bias: biases belong to the populations), one
``snntorch.SpikingNeuron`` per spiking population holding its membrane in ``mem``, stepped one time
step per forward call (as NeuroBench's ``SNNTorchModel`` does) on the same binned input. Identity
and sum-pool projections are elementwise operations there, not connection layers, so NeuroBench
does not count them; a readout is a plain accumulator, not a neuron layer. The definitions:

- ``synaptic_operations`` (``SynapticOperations``): per connection layer and step, the layer's input
  is binarised (``x != 0 -> 1``), its weights too, bias dropped, and the outputs summed:
  ``Σ_i [x_i != 0] · (non-zero in-bounds synapses of i)``. The step's count is an AC when every input
  value is in {-1, 0, 1}, else a MAC. ``Dense`` is the same with all inputs and weights set to 1.
- ``activation_sparsity`` (``ActivationSparsity``): zero outputs / all outputs of the spiking
  populations, pooled over populations and steps (a −1 spike is a non-zero output).
- ``membrane_updates`` (``MembraneUpdates``): per spiking population, every neuron at the first step,
  then the neurons whose membrane after the step differs from the one before it.
- ``footprint`` (``Footprint``), ``connection_sparsity`` (``ConnectionSparsity``, zero weights over
  all conv/dense weights, rounded to 4 decimals) and ``parameter_count`` (``ParameterCount``).

Everything is per sample (one run). ``docs/energy.md`` lists where these counts differ from
eventsim's exact SOPs.
"""

from __future__ import annotations

import numpy as np

from ..engine.result import RunResult
from ..network.counts import parameter_count
from ..network.ir import Network, Projection
from ..network.linear import apply_projection
from .compare import fanout

NEUROBENCH_VERSION = "2.3.0"  # the release whose metric code these definitions follow
CONNECTION_KINDS = ("conv2d", "dense")


def _source_signal(result: RunResult, proj: Projection, frames: np.ndarray | None) -> np.ndarray | None:
    """(T, *source shape) values the twin's layer for ``proj`` receives, before any pre-pool.

    Event input: the binned events per pixel (a count for ``split`` polarity, ON minus OFF for
    ``signed``: what the recorded input holds). Frame input: the frames, when given.
    """
    net = result.network
    if proj.source == "input" and net.input.kind == "frames":
        if frames is None:
            return None
        frames = np.asarray(frames, np.float64)
        if frames.ndim == len(net.input_shape):  # one static frame, repeated over the steps
            frames = frames[None]
        if frames.shape[0] == 1 and result.timesteps > 1:
            frames = np.repeat(frames, result.timesteps, axis=0)
        return frames
    if result.spikes is None:
        return None
    return np.asarray(result.spikes[proj.source])


def _pool_projection(proj: Projection, pre_pool: tuple) -> Projection:
    """The sum-pool ``pre_pool`` that conv ``proj`` applies first, as a projection of its own."""
    kernel, stride, padding = pre_pool
    return Projection(f"{proj.name}.pre_pool", "sumpool2d", proj.source, proj.target,
                      kernel_size=kernel, stride=stride, padding=padding)


def layer_input(result: RunResult, proj: Projection, frames: np.ndarray | None = None) -> np.ndarray | None:
    """(T, *shape) input of the twin's connection layer for ``proj`` (pre-pooled where it has one)."""
    x = _source_signal(result, proj, frames)
    if x is None or proj.pre_pool is None:
        return x
    pool = _pool_projection(proj, proj.pre_pool)
    src = result.network.population(proj.source).shape
    pooled = proj.pooled_shape(src)
    return np.stack([apply_projection(pool, x[t], pooled) for t in range(x.shape[0])])


def _layer_fanouts(net: Network, proj: Projection) -> tuple[np.ndarray, np.ndarray]:
    """Per input element of the twin's layer: (non-zero synapses, all in-bounds synapses)."""
    conv = proj if proj.pre_pool is None else Projection(
        proj.name, proj.kind, proj.source, proj.target, weight=proj.weight, stride=proj.stride,
        padding=proj.padding, dilation=proj.dilation, groups=proj.groups)
    src = proj.pooled_shape(net.population(proj.source).shape)
    tgt = net.population(proj.target).shape
    return (fanout(conv, src, tgt, nonzero_only=True).ravel(),
            fanout(conv, src, tgt, nonzero_only=False).ravel())


def _is_spiking(x: np.ndarray) -> np.ndarray:
    """Per step: every value in {-1, 0, 1} (NeuroBench's test for an AC layer input)."""
    flat = x.reshape(x.shape[0], -1)
    return ~np.any((flat != 0) & (flat != 1) & (flat != -1), axis=1)


def synaptic_operations(result: RunResult, frames: np.ndarray | None = None) -> dict:
    """``Effective_ACs``, ``Effective_MACs``, ``Dense`` (as NeuroBench's keys) and per layer.

    ``Dense`` needs no spikes; the effective counts need the per-neuron input of every layer (a
    run with ``record=True``, and the frames for a frame-input network), else they are None.
    """
    net = result.network
    acs = macs = dense = 0
    known = True
    layers = []
    for proj in net.projections:
        if proj.kind not in CONNECTION_KINDS:
            continue
        nonzero, every = _layer_fanouts(net, proj)
        layer_dense = int(every.sum()) * result.timesteps
        dense += layer_dense
        x = layer_input(result, proj, frames)
        entry = {"name": proj.name, "target": proj.target, "dense": layer_dense, "effective_acs": None,
                 "effective_macs": None}
        if x is None:
            known = False
        else:
            per_step = (x.reshape(x.shape[0], -1) != 0).astype(np.int64) @ nonzero
            spiking = _is_spiking(x)
            layer_acs, layer_macs = int(per_step[spiking].sum()), int(per_step[~spiking].sum())
            entry["effective_acs"], entry["effective_macs"] = layer_acs, layer_macs
            acs += layer_acs
            macs += layer_macs
        layers.append(entry)
    return {"Effective_ACs": acs if known else None, "Effective_MACs": macs if known else None,
            "Dense": dense, "per_layer": layers}


def _nonzero_outputs(result: RunResult, name: str) -> int | None:
    """Non-zero outputs of spiking population ``name`` over all steps (None: not knowable)."""
    if result.spikes is not None:
        return int(np.count_nonzero(result.spikes[name]))
    if result.network.population(name).multi_spike:
        return None  # a unit count over-counts neurons that emitted several units
    return int(result.spike_counts[name].sum())


def activation_sparsity(result: RunResult) -> float | None:
    """Zero outputs over all outputs of the spiking populations, over all steps (0.0 if none)."""
    total = nonzero = 0
    for pop in result.network.ordered_populations():
        if not pop.spiking:
            continue
        n = _nonzero_outputs(result, pop.name)
        if n is None:
            return None
        total += pop.size * result.timesteps
        nonzero += n
    return 0.0 if total == 0 else (total - nonzero) / total


def membrane_trace(result: RunResult, name: str, frames: np.ndarray | None = None) -> np.ndarray | None:
    """(T, *shape) float64 membranes of spiking population ``name`` after each step.

    Replayed from the recorded spikes: the current is the engine's own (``result.currents``, when
    a float engine recorded it) or recomputed from the sources' spikes; the population integrates
    it as the engine does and resets where the run recorded a spike, so a
    float32 run's spikes are kept even where float64 would round the other way.
    """
    net = result.network
    pop = net.population(name)
    if result.spikes is None:
        return None
    recorded = None if result.currents is None else result.currents.get(name)
    inputs = []
    for proj in net.incoming(name) if recorded is None else ():
        x = _source_signal(result, proj, frames)
        if x is None:
            return None
        inputs.append((proj, x))
    spikes = np.asarray(result.spikes[name], np.float64)
    per_channel = (-1,) + (1,) * (len(pop.shape) - 1)
    bias = 0.0 if pop.bias is None else pop.bias.astype(np.float64).reshape(per_channel)
    v = np.zeros(pop.shape)
    i = np.zeros(pop.shape)  # a cuba_lif's synaptic current
    out = np.empty((result.timesteps,) + tuple(pop.shape))
    for t in range(result.timesteps):
        current = recorded[t] if recorded is not None else sum(
            (apply_projection(q, x[t - q.delay], pop.shape) for q, x in inputs if t >= q.delay),
            np.zeros(pop.shape))
        if pop.kind == "cuba_lif":  # the reset of last step's spike follows the integration
            i = pop.syn_decay_value * i + (current + bias)
            v = pop.decay_value * v + i
            s = spikes[t - 1] if t else np.zeros(pop.shape)
            v = np.where(s != 0, 0.0, v) if pop.reset == "zero" else v - s * pop.threshold_value
            out[t] = v
            continue
        v = pop.decay_value * v + (current + bias)
        if pop.v_min is not None:
            v = np.maximum(v, pop.v_min)
        s = spikes[t]
        v = np.where(s != 0, 0.0, v) if pop.reset == "zero" else v - s * pop.threshold_value
        out[t] = v
    return out


def population_updates(result: RunResult, name: str, frames: np.ndarray | None = None) -> int | None:
    """NeuroBench's membrane updates of one spiking population: all neurons at the first step,
    then those whose membrane after a step differs from the one before it."""
    trace = membrane_trace(result, name, frames)
    if trace is None:
        return None
    return result.network.population(name).size + int(np.count_nonzero(np.diff(trace, axis=0)))


def membrane_updates(result: RunResult, frames: np.ndarray | None = None) -> int | None:
    """``MembraneUpdates``: the sum of :func:`population_updates` over the spiking populations."""
    counts = [population_updates(result, p.name, frames) for p in result.network.populations if p.spiking]
    known = [n for n in counts if n is not None]
    return None if len(known) < len(counts) else sum(known)


def _per_population(result: RunResult, syn: dict, frames: np.ndarray | None) -> list[dict]:
    """The counts by eventsim layer: synaptic operations of the connection layers into it, its
    membrane updates and non-zero outputs."""
    net = result.network
    by_target: dict[str, list[dict]] = {}
    for entry in syn["per_layer"]:
        by_target.setdefault(entry["target"], []).append(entry)
    rows = []
    for pop in net.ordered_populations():
        if pop.kind == "input":
            continue
        entries = by_target.get(pop.name, [])
        row = {"name": pop.name, "dense": sum(e["dense"] for e in entries)}
        for key in ("effective_acs", "effective_macs"):
            values = [e[key] for e in entries]
            row[key] = None if None in values else sum(values)
        row["membrane_updates"] = population_updates(result, pop.name, frames) if pop.spiking else None
        row["nonzero_activations"] = _nonzero_outputs(result, pop.name) if pop.spiking else None
        rows.append(row)
    return rows


def _stored_arrays(net: Network):
    """The twin's parameters: conv/dense weights, identity scales, population biases."""
    for proj in net.projections:
        for arr in (proj.weight, proj.scale):
            if arr is not None:
                yield np.asarray(arr)
    for pop in net.populations:
        if pop.bias is not None:
            yield np.asarray(pop.bias)


def twin_footprint(net: Network) -> int:
    """Bytes of the twin's parameters in the model's stored dtypes (NeuroBench's ``Footprint``)."""
    return int(sum(a.nbytes for a in _stored_arrays(net)))


def connection_sparsity(net: Network) -> dict:
    """Zero weights / all weights of the conv and dense projections (NeuroBench rounds to 4 places)."""
    zeros = weights = 0
    for proj in net.projections:
        if proj.kind in CONNECTION_KINDS:
            zeros += int(np.count_nonzero(proj.weight_array == 0))
            weights += int(proj.weight_array.size)
    return {"value": None if weights == 0 else round(zeros / weights, 4), "zero_weights": zeros,
            "weights": weights}


#: the per-sample metrics an evaluation keeps (workload metrics; the static ones do not vary)
SAMPLE_METRICS = ("effective_acs", "effective_macs", "dense", "activation_sparsity", "membrane_updates")


def sample_metrics(result: RunResult, frames: np.ndarray | None = None) -> dict:
    """NeuroBench's workload metrics of one run, for an evaluation's per-sample record."""
    syn = synaptic_operations(result, frames)
    return {"effective_acs": syn["Effective_ACs"], "effective_macs": syn["Effective_MACs"],
            "dense": syn["Dense"], "activation_sparsity": activation_sparsity(result),
            "membrane_updates": membrane_updates(result, frames)}


def neurobench_metrics(result: RunResult, frames: np.ndarray | None = None,
                       deployed_footprint: dict | None = None) -> dict:
    """``report["neurobench"]``: NeuroBench's metrics of this run (one sample), by their names.

    ``deployed_footprint`` (bytes per engine, from :mod:`eventsim.energy.footprint`) is reported
    beside the twin's footprint. A metric that needs data the run did not keep is None, and
    ``missing`` says why.
    """
    net = result.network
    syn = synaptic_operations(result, frames)
    sparsity = connection_sparsity(net)
    missing = []
    if syn["Effective_ACs"] is None or result.spikes is None:
        missing.append("per-neuron spikes were not recorded (Simulator.run(..., record=True))"
                       if result.spikes is None else
                       "the frames of a frame-input run are not in the result (pass frames=...)")
    doc = {
        "version": NEUROBENCH_VERSION,
        "effective_acs": syn["Effective_ACs"], "effective_macs": syn["Effective_MACs"],
        "dense": syn["Dense"],
        "activation_sparsity": activation_sparsity(result),
        "membrane_updates": membrane_updates(result, frames),
        "footprint_bytes": {"twin": twin_footprint(net), "deployed": deployed_footprint},
        "connection_sparsity": sparsity["value"],
        "connection_sparsity_counts": {"zero_weights": sparsity["zero_weights"],
                                       "weights": sparsity["weights"]},
        "parameter_count": parameter_count(net),
        "per_layer": syn["per_layer"],
        "per_population": _per_population(result, syn, frames),
        "twin": ("one nn.Conv2d/nn.Linear per conv2d/dense projection, one snntorch SpikingNeuron per "
                 "spiking population, one time step per forward call, batch 1"),
    }
    if missing:
        doc["missing"] = missing
    return doc
