"""One sample of an evaluation: the per-sample record an evaluation keeps.

:func:`evaluate_sample` reads a sample through the input adapter (:mod:`eventsim.inputs`, as
``eventsim run`` does), runs it and turns the run into a plain, JSON-ready dict (the line an
evaluation writes to its results file); a file that cannot be read or run gives a record with an
``error`` instead of raising.
"""

from __future__ import annotations

import time

import numpy as np

from ..energy.neurobench import sample_metrics
from ..energy.tables import CostTable, default_table
from ..engine.result import RunResult, spiking_outputs
from ..engine.simulator import Simulator
from ..inputs import InputOptions, prepare_file
from .dataset import Sample


def evaluate_sample(sim: Simulator, sample: Sample, options: InputOptions,
                    table: CostTable | None = None) -> dict:
    """The result record of ``sample``: prediction, output, per-layer spikes and SOPs, energy,
    steps run and latency (``decision_step``, ``first_output_spike``: see :func:`_latency`).

    Every count is an exact integer and ``output`` holds the float64 readout values, so records
    are identical whatever process computed them (``seconds``, the wall time, is the only field
    that varies). Any exception while reading or running the file is caught and recorded in
    ``error`` (``"Type: message"``): one bad file never stops an evaluation.
    """
    table = table or default_table()
    rec = {"index": sample.index, "path": sample.name, "label": sample.label}
    start = time.perf_counter()
    try:
        prepared = prepare_file(sample.path, sim.network, options)
        result = sim.run_prepared(prepared, record=True)  # per-neuron spikes for NeuroBench
    except Exception as exc:  # noqa: BLE001 - reported per sample, never fatal (see docstring)
        rec.update(error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
        return rec
    seconds = time.perf_counter() - start
    layers = result.layers
    totals = result.totals
    spiking = {p.name for p in result.network.populations if p.spiking}
    # E = E_MAC * MACs + E_AC * SOPs (DESIGN.md, Reports); MACs are 0 on event input
    mac_pj = table.mac_pJ if table.mac_pJ is not None else default_table().mac_pJ
    energy = table.ac_pJ * totals["sops"] + mac_pj * totals["macs"]
    rec.update(
        prediction=result.prediction,
        correct=bool(result.prediction == sample.label),
        output=[float(v) for v in np.asarray(result.output, np.float64)],
        events=int(result.input_info.get("events", 0)),
        spikes=sum(lay["spikes_pos"] + lay["spikes_neg"] for lay in layers if lay["name"] in spiking),
        sops=int(totals["sops"]), macs=int(totals["macs"]),
        multiplications=int(totals["multiplications"]),
        energy_pJ=float(energy),
        layers=[{"name": lay["name"], "spikes_pos": lay["spikes_pos"], "spikes_neg": lay["spikes_neg"],
                 "sops": lay["sops"]} for lay in layers],
        seconds=seconds,
        neurobench=sample_metrics(result, prepared.frames),
    )
    rec.update(_latency(result))
    if result.saturations:
        rec["saturations"] = sum(int(s.sum()) for s in result.saturations.values())
    return rec


def _latency(result: RunResult) -> dict:
    """``timesteps`` (steps run), ``decision_step`` and, for spike-count outputs only,
    ``first_output_spike`` (None: the output never fired). The key is absent for other readouts,
    so that a summary can tell "never fired" from "not a spiking output"."""
    latency = result.latency
    out = {"timesteps": int(result.timesteps), "decision_step": latency["decision_step"]}
    if spiking_outputs(result.network) is not None:
        out["first_output_spike"] = latency["first_output_spike"]
    return out


#: Record fields that depend on timing, not on the computation (excluded from comparisons).
TIMING_FIELDS = ("seconds",)


def comparable(rec: dict) -> dict:
    """``rec`` without its timing fields: what must be identical across workers and runs."""
    return {k: v for k, v in rec.items() if k not in TIMING_FIELDS}
