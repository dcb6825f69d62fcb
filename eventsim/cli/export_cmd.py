"""``eventsim export``: a model -> a NIR graph other SNN frameworks can load."""

from __future__ import annotations

import click

from ..files import json_text
from ..network.loading import load_network
from ..network.nir import save_nir
from ..network.nir_nodes import DEFAULT_DT
from .base import EventsimCommand, FiniteRange, InputPath, OutputPath, say_written


@click.command("export", cls=EventsimCommand)
@click.argument("model", type=InputPath(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=OutputPath(),
              help="NIR file to write (HDF5, NIR 1.x layout).")
@click.option("--dt", type=FiniteRange(min=0, min_open=True), default=DEFAULT_DT,
              show_default=True,
              help="Seconds per time step, used to write LIF time constants (tau = dt/(1-decay)).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def export(model: str, output: str, dt: float, as_json: bool) -> None:
    """Write MODEL (a model.h5 or a NIR file) as a NIR graph (github.com/neuromorphs/NIR).

    Exported exactly: binary_lif neurons (IF/LIF, one spike at v > threshold, zero or
    subtractive reset), sinabs-style IF (multi-spike, subtractive reset, floor -threshold),
    readouts, conv2d/dense/sumpool2d/identity projections. Ternary neurons cannot be expressed
    in NIR (its neurons emit 0/1 spikes only): such models are refused with the reason.
    eventsim's exact neuron definitions are kept in each node's metadata, so importing the
    file back gives the same network.

    \b
    Example:
      eventsim export model.h5 -o net.nir
    """
    net = load_network(model)
    written = save_nir(net, output, dt=dt)
    summary = {"output": output, **written, "dt": dt, "populations": len(net.populations),
               "projections": len(net.projections)}
    if as_json:
        click.echo(json_text(summary, what="stdout", indent=2))
    say_written(output, f"NIR {written['nir_version']}, {written['nodes']} nodes, {written['edges']} edges "
                        f"(from {len(net.populations)} populations, {len(net.projections)} projections, "
                        f"dt={dt:g} s)")
