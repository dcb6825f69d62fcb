"""Run the reference forward and wrap its counts as a RunResult (the engine's result type)."""

from __future__ import annotations

import numpy as np

from eventsim.energy.compare import effective_sops_from_spikes
from eventsim.engine.reference import forward
from eventsim.engine.result import RunResult


def reference_run(net, pos, neg=None, input_info=None) -> RunResult:
    ref = forward(net, pos, neg)
    return RunResult(network=net, timesteps=len(pos), output=ref.output, spike_counts=ref.spike_counts,
                     sops=ref.sops, macs=ref.macs, precision="float64",
                     input_info=input_info or {"path": "synthetic", "format": "array",
                                               "events": int(np.asarray(pos).sum()
                                                             + (0 if neg is None else np.asarray(neg).sum())),
                                               "sensor": None})


def effective_sops_reference(net, inputs_pos, inputs_neg=None):
    """The effective count from the per-neuron spikes of the reference forward (the oracle)."""
    ref = forward(net, inputs_pos, inputs_neg)
    return effective_sops_from_spikes(net, ref.spikes, inputs_pos, inputs_neg)
