"""The SOP / energy report of one run: exact counts per layer, time step and spike sign, priced.

:func:`build_report` extends ``RunResult.to_report()`` (the DESIGN.md report schema) with:

- per layer (in ``layers``): ``rate`` (spike units / neurons / T; None where a layer has no
  spikes to count: readouts and analog input), ``sops_effective`` (zero weights skipped; None when
  not computed), ``sops_rate_mac`` (the rate × MAC estimate), ``pJ`` and ``ann_pJ``;
- ``energy``: ``{"table", "pJ", "per_layer", ...}`` with Energy = E_MAC·MACs + E_AC·SOPs, the ANN
  energy of one dense forward pass (E_MAC · dense MACs) and the ratio ANN / SNN;
- ``policy``: how the first layer is counted (analog encoder MACs vs event-input SOPs), in words;
- ``comparison``: totals of the three counts (exact, effective, rate × MAC) and their energies;
- ``per_step``: per layer, per step and per sign: spikes, rate, SOPs, MACs, energy;
- ``energy.memory``: the memory-aware model after Lemaire et al. 2022 (``snn`` and ``ann``, each
  ``pJ`` and ``terms``, per layer and in total; :mod:`eventsim.energy.memory`);
- ``footprint``: weights, membranes and spike queues per layer for each engine precision;
- ``neurobench``: NeuroBench's metrics of the run under their names (:mod:`eventsim.energy.neurobench`).
"""

from __future__ import annotations

import numpy as np

from ..engine.result import RunResult
from .compare import effective_sops_from_spikes, rate_mac_sops
from .footprint import deployed_bytes, footprint
from .memory import MemoryCosts, memory_energy
from .neurobench import neurobench_metrics
from .tables import CostTable, get_table, mac_pricing

SCHEMA_NOTE = ("Energy = E_MAC*MACs + E_AC*SOPs over T steps; the ANN energy is one dense forward "
               "pass (E_MAC * dense MACs); ratio = ANN / SNN.")


def _policy(result: RunResult) -> dict:
    net = result.network
    first = sorted({p.target for p in net.projections if p.source == "input"},
                   key=net.order.index)
    if net.input.kind == "frames":
        macs = sum(int(result.layer_macs(n).sum()) for n in first)
        return {"first_layer": "analog_encoder", "layers": first, "macs": macs,
                "statement": (f"Analog (frame) input: layer(s) {', '.join(first)} are a dense encoder. "
                              f"Their {macs:,} multiply-accumulates (Cout*Cin*kh*kw*Hout*Wout per step, "
                              "padding taps included, as thop counts, times T) are counted as MACs "
                              "and priced at E_MAC; every later layer is event-driven (SOPs at E_AC).")}
    events = int(result.spike_counts["input"].sum())
    return {"first_layer": "event_input", "layers": first, "macs": 0,
            "statement": (f"Event input: each of the {events:,} input events is one spike unit; the "
                          f"synaptic operations into {', '.join(first)} are counted as SOPs (additions, "
                          "priced at E_AC). No layer is counted as MACs.")}


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def _memory_costs(table: CostTable, memory: MemoryCosts | dict | None) -> MemoryCosts:
    """The memory model's figures: ``memory`` if given, else the table's own (with the ``memory``
    section of a user table, when the table carries one)."""
    if isinstance(memory, MemoryCosts):
        return memory
    overrides = memory if memory is not None else table.memory
    return MemoryCosts.for_table(table, overrides, where=table.name)


def build_report(result: RunResult, table: CostTable | str | None = None,
                 effective: dict[str, np.ndarray] | None = None, *,
                 memory: MemoryCosts | dict | None = None, frames: np.ndarray | None = None) -> dict:
    """The full report dict for ``result`` priced with ``table`` (name, file, CostTable or default).

    ``effective`` optionally maps projection name -> (T, 2) SOPs that skip zero weights (see
    :mod:`eventsim.energy.compare`). Without it they are computed from ``result.spikes`` when the
    run recorded spikes (exact except where a signed input pixel got ON and OFF events in one
    step, see :func:`~eventsim.energy.compare.effective_sops_from_spikes`); else they are None.
    ``memory`` replaces the memory model's figures (a :class:`MemoryCosts` or the fields of a
    user table's ``memory`` section); ``frames`` are the input frames of a frame-input run, which
    NeuroBench's per-neuron counts of the encoder need.
    """
    table = get_table(table)
    effective_exact = effective is not None
    if effective is None and result.spikes is not None:
        effective = effective_sops_from_spikes(result.network, result.spikes)
        # A signed input pixel with ON and OFF events in one step is recorded as their sum, which
        # loses units; the all-synapses count then falls short of the engine's, and says so.
        check = effective_sops_from_spikes(result.network, result.spikes, nonzero_only=False)
        effective_exact = all(np.array_equal(check[q], result.sops[q]) for q in check)
    mac_table, e_mac = mac_pricing(table)
    e_ac = table.ac_pJ
    net, steps = result.network, result.timesteps
    doc = result.to_report()
    estimate = rate_mac_sops(result)
    per_step, per_energy = [], []
    tot = {"sops": 0, "macs": 0, "effective": 0, "rate_mac": 0.0, "dense_macs": 0}
    for layer in doc["layers"]:
        pop = net.population(layer["name"])
        spikes = result.spike_counts.get(pop.name, np.zeros((steps, 2), np.int64))
        sops = result.layer_sops(pop.name)
        macs = result.layer_macs(pop.name)
        est = np.zeros(steps)
        eff = None if effective is None else np.zeros((steps, 2), np.int64)
        for proj in net.incoming(pop.name):
            est += estimate[proj.name]
            if eff is not None and effective is not None:
                eff += effective[proj.name]
        has_rate = pop.spiking or (pop.kind == "input" and net.input.kind == "events")
        rate_t = spikes.sum(axis=1) / pop.size if has_rate else None
        step_pj = e_ac * sops.sum(axis=1) + e_mac * macs
        layer["rate"] = None if rate_t is None else float(rate_t.mean())
        layer["sops_effective"] = None if eff is None else int(eff.sum())
        layer["sops_rate_mac"] = float(est.sum())
        layer["pJ"] = float(step_pj.sum())
        layer["ann_pJ"] = e_mac * layer["dense_macs"]
        per_energy.append({"name": pop.name, "pJ": layer["pJ"], "sops_pJ": e_ac * layer["sops"],
                           "macs_pJ": e_mac * layer["macs"], "ann_pJ": layer["ann_pJ"],
                           "ann_over_snn": _ratio(layer["ann_pJ"], layer["pJ"])})
        per_step.append({
            "name": pop.name, "spikes_pos": spikes[:, 0].tolist(), "spikes_neg": spikes[:, 1].tolist(),
            "rate": None if rate_t is None else [float(r) for r in rate_t],
            "sops_pos": sops[:, 0].tolist(), "sops_neg": sops[:, 1].tolist(),
            "sops_effective_pos": None if eff is None else eff[:, 0].tolist(),
            "sops_effective_neg": None if eff is None else eff[:, 1].tolist(),
            "sops_rate_mac": [float(v) for v in est], "macs": macs.tolist(),
            "pJ": [float(v) for v in step_pj]})
        tot["sops"] += layer["sops"]
        tot["macs"] += layer["macs"]
        tot["dense_macs"] += layer["dense_macs"]
        tot["rate_mac"] += layer["sops_rate_mac"]
        tot["effective"] += 0 if eff is None else layer["sops_effective"]
    snn_pj = e_ac * tot["sops"] + e_mac * tot["macs"]
    ann_pj = e_mac * tot["dense_macs"]
    energy = {"table": table.name, "pJ": snn_pj, "per_layer": per_energy,
              "ac_pJ": e_ac, "mac_pJ": e_mac, "mac_table": mac_table.name,
              "citation": table.citation, "process": table.process, "ann_pJ": ann_pj,
              "ann_over_snn": _ratio(ann_pj, snn_pj), "formula": SCHEMA_NOTE}
    memory_doc = memory_energy(result, table, _memory_costs(table, memory))
    if table.memory_pJ_per_byte is not None and table.weight_bytes is not None:  # both or neither
        # one weight fetch per operation, no reuse: an upper bound, reported apart from "pJ"
        per_byte = table.memory_pJ_per_byte * table.weight_bytes
        memory_doc.update({"pJ_per_byte": table.memory_pJ_per_byte, "weight_bytes": table.weight_bytes,
                           "snn_pJ": per_byte * (tot["sops"] + tot["macs"]),
                           "ann_pJ": per_byte * tot["dense_macs"]})
    energy["memory"] = memory_doc
    if table.mac_pJ is None:
        energy["note"] = (f"table {table.name!r} prices no MAC; MACs (encoder and ANN) are priced "
                          f"with {mac_table.name!r}")
    doc["energy"] = energy
    doc["policy"] = _policy(result)
    doc["comparison"] = {
        "exact": {"sops": tot["sops"], "pJ": snn_pj,
                  "what": "eventsim: one SOP per unit of source spike per in-bounds synapse, zero "
                          "weights included"},
        "effective": {"sops": None if effective is None else tot["effective"],
                      "pJ": None if effective is None else e_ac * tot["effective"] + e_mac * tot["macs"],
                      "exact": effective_exact if effective is not None else None,
                      "what": "NeuroBench-style: as exact, but synapses with weight 0 are skipped"
                              + ("" if effective is None or effective_exact else
                                 "; a lower bound here: some input pixels got ON and OFF events in "
                                 "one step and were recorded as their sum")},
        "rate_mac": {"sops": tot["rate_mac"], "pJ": e_ac * tot["rate_mac"] + e_mac * tot["macs"],
                     "what": "SpikingJelly-style estimate: input firing rate x T x dense MACs per layer"},
        "ann": {"macs": tot["dense_macs"], "pJ": ann_pj,
                "what": "the same layers as a dense ANN, one forward pass"},
    }
    doc["per_step"] = per_step
    doc["footprint"] = footprint(net, result)
    doc["neurobench"] = neurobench_metrics(result, frames, deployed_bytes(doc["footprint"]))
    return doc
