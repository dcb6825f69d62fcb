"""What a chip must hold to run the network: stored weights, membranes and spike queues, per layer.

For each engine precision (``float32``, ``float64``, ``int``: int16 weights and biases, int32
membranes, as :mod:`eventsim.engine.quantize` stores them), per population:

- ``weights_bits``: the stored weights of every projection into it (an identity's per-channel scale
  counts; the implicit weight 1 of a sum-pool or an unscaled identity does not) plus its bias;
- ``membrane_bits``: one membrane per neuron (spiking populations and readouts);
- ``spike_queue_bits``: a queue that can hold one step's spikes of the population, one entry per
  neuron: an address of ``ceil(log2 N)`` bits plus the spike's value (1 sign bit for ternary spikes
  and signed input, none for binary spikes and split-polarity input, 8 bits for a multi-spike
  count); ``spike_queue_peak_bits``: the same for the most spike units one step of this run emitted.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine.result import RunResult
from ..network.ir import Network, Population
from ..network.kinds import neuron_kind

#: bits of a stored weight / bias and of a membrane, per engine precision
ENGINE_BITS = {"float32": (32, 32), "float64": (64, 64), "int": (16, 32)}
MULTI_SPIKE_BITS = 8  # value field of a multi-spike queue entry


def entry_bits(net: Network, pop: Population) -> int:
    """Bits of one spike-queue entry of ``pop``: address plus spike value."""
    address = max(1, math.ceil(math.log2(pop.size))) if pop.size > 1 else 1
    if pop.kind == "input":
        value = 1 if net.input.polarity == "signed" else 0
    elif neuron_kind(pop.kind).signed:
        value = 1
    elif pop.multi_spike:
        value = MULTI_SPIKE_BITS
    else:
        value = 0
    return address + value


def _stored_words(net: Network, pop: Population) -> int:
    words = 0 if pop.bias is None else int(pop.bias.size)
    for proj in net.incoming(pop.name):
        if proj.weight is not None:
            words += int(proj.weight.size)
        elif proj.scale is not None:
            words += int(proj.scale.size)
    return words


def _queues(net: Network, pop: Population) -> bool:
    return pop.spiking or (pop.kind == "input" and net.input.kind == "events")


def layer_footprint(net: Network, pop: Population, precision: str, peak_units: int | None = None) -> dict:
    """One population's entry: weights, membranes and spike queue in bits."""
    wbits, vbits = ENGINE_BITS[precision]
    queue = _queues(net, pop)
    entry = entry_bits(net, pop) if queue else 0
    return {"name": pop.name,
            "weights_bits": _stored_words(net, pop) * wbits,
            "membrane_bits": 0 if pop.kind == "input" else pop.size * vbits,
            "spike_queue_bits": pop.size * entry if queue else 0,
            "spike_queue_peak_bits": None if peak_units is None or not queue else peak_units * entry}


def _peak_units(result: RunResult | None, name: str) -> int | None:
    if result is None or name not in result.spike_counts:
        return None
    return int(np.max(result.spike_counts[name].sum(axis=1), initial=0))


def footprint(net: Network, result: RunResult | None = None) -> dict:
    """``report["footprint"]``: per engine precision, per layer and in total (bits and bytes)."""
    engines = {}
    for precision in ENGINE_BITS:
        layers = [layer_footprint(net, pop, precision, _peak_units(result, pop.name))
                  for pop in net.ordered_populations()]
        total = {k: sum(lay[k] for lay in layers)
                 for k in ("weights_bits", "membrane_bits", "spike_queue_bits")}
        peaks = [lay["spike_queue_peak_bits"] for lay in layers]
        total["spike_queue_peak_bits"] = None if result is None else sum(p or 0 for p in peaks)
        bits = total["weights_bits"] + total["membrane_bits"] + total["spike_queue_bits"]
        engines[precision] = {"per_layer": layers, "total": total, "bytes": math.ceil(bits / 8),
                              "weight_bits": ENGINE_BITS[precision][0],
                              "membrane_bits": ENGINE_BITS[precision][1]}
    return {"engines": engines,
            "what": "stored weights and biases, one membrane per neuron, and a spike queue that holds "
                    "one step of every neuron's spikes (address + value bits per entry); bytes = all "
                    "three, rounded up"}


def deployed_bytes(doc: dict) -> dict:
    """Bytes per engine precision of a :func:`footprint` document (NeuroBench's deployed view)."""
    return {precision: eng["bytes"] for precision, eng in doc["engines"].items()}
