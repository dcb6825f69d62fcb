"""``eventsim inspect``: what a model file holds."""

from __future__ import annotations

import click
import numpy as np

from ..network.counts import dense_macs, parameter_count, synapse_count
from ..network.loading import load_network
from .base import EventsimCommand, InputPath, OutputPath, emit_json, format_table


def describe(net) -> dict:
    """A JSON-able summary of a network (populations, projections, totals, provenance)."""
    pops = []
    for p in net.ordered_populations():
        entry = {"name": p.name, "kind": p.kind, "shape": list(p.shape), "neurons": p.size}
        if p.spiking:
            entry.update(threshold=p.threshold, decay=p.decay, reset=p.reset)
            if p.v_min is not None:
                entry["v_min"] = p.v_min
            if p.multi_spike:
                entry["multi_spike"] = True
        entry["bias"] = p.bias is not None
        pops.append(entry)
    projs = []
    for q in net.projections:
        s, t = net.population(q.source).shape, net.population(q.target).shape
        entry = {"name": q.name, "kind": q.kind, "source": q.source, "target": q.target,
                 "weight_shape": None if q.weight is None else list(q.weight.shape),
                 "synapses": synapse_count(q, s, t), "dense_macs": dense_macs(q, s, t)}
        if q.kind in ("conv2d", "sumpool2d"):
            entry.update(stride=list(q.stride), padding=list(q.padding))
        if q.kind == "conv2d":
            entry.update(dilation=list(q.dilation), groups=q.groups)
        if q.kind == "sumpool2d":
            entry["kernel_size"] = list(q.kernel_size)
        if q.pre_pool is not None:
            entry["pre_pool"] = dict(zip(("kernel_size", "stride", "padding"), map(list, q.pre_pool)))
        projs.append(entry)
    return {
        "name": net.name, "timesteps": net.timesteps,
        "input": {"kind": net.input.kind, "polarity": net.input.polarity,
                  "shape": list(net.input_shape),
                  "sensor": None if net.input.sensor is None else list(net.input.sensor)},
        "populations": pops, "projections": projs,
        "totals": {"neurons": int(sum(p.size for p in net.populations if p.kind != "input")),
                   "synapses": int(sum(e["synapses"] for e in projs)),
                   "parameters": parameter_count(net)},
        "provenance": net.provenance,
    }


@click.command(cls=EventsimCommand)
@click.argument("model", type=InputPath(dir_okay=False))
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the description as JSON ('-' = stdout).")
def inspect(model: str, json_out: str | None) -> None:
    """Show the populations, projections and provenance of MODEL (a model.h5 or NIR file)."""
    net = load_network(model)
    doc = describe(net)
    if json_out:
        emit_json(doc, json_out)
        if json_out == "-":
            return
    inp = doc["input"]
    click.echo(f"model {doc['name']!r}: {doc['timesteps']} time steps, input {inp['kind']} "
               f"{'x'.join(map(str, inp['shape']))} ({inp['polarity']})")
    click.echo("")
    rows = [[p["name"], p["kind"], "x".join(map(str, p["shape"])), p["neurons"],
             "" if "threshold" not in p else f"{p['threshold']:g}",
             "" if "decay" not in p else f"{p['decay']:g}", p.get("reset", "")]
            for p in doc["populations"]]
    click.echo(format_table(["population", "kind", "shape", "neurons", "threshold", "decay", "reset"],
                            rows, align="lllrrrl"))
    click.echo("")
    rows = [[q["name"], q["kind"] + (" +pre-pool" if "pre_pool" in q else ""),
             f"{q['source']} -> {q['target']}",
             "" if q["weight_shape"] is None else "x".join(map(str, q["weight_shape"])),
             q["synapses"]] for q in doc["projections"]]
    click.echo(format_table(["projection", "kind", "from -> to", "weight", "synapses"], rows,
                            align="llllr"))
    tot = doc["totals"]
    click.echo("")
    click.echo(f"neurons {tot['neurons']:,}  synapses {tot['synapses']:,}  "
               f"parameters {tot['parameters']:,}")
    if doc["provenance"]:
        click.echo("provenance: " + ", ".join(f"{k}={_short(v)}" for k, v in doc["provenance"].items()))


def _short(value) -> str:
    text = str(value) if not isinstance(value, (list, dict, np.ndarray)) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
