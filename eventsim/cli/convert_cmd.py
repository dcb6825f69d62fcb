"""``eventsim convert``: a trained checkpoint -> a deployable ``model.h5``."""

from __future__ import annotations

import click

from ..convert import convert_nir_to_file, convert_to_file, list_archs
from ..files import json_text
from ..network.counts import parameter_count
from ..network.nir import is_nir_file
from ..network.nir_nodes import DEFAULT_DT, SEMANTICS
from .base import EventsimCommand, FiniteRange, InputPath, OutputPath, format_table, say_written


def _shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise click.BadParameter(f"expected C,H,W (e.g. 2,34,34), got {text!r}",
                                 param_hint="--input-shape")
    return shape


@click.command("convert", cls=EventsimCommand)
@click.argument("checkpoint", required=False, type=InputPath(dir_okay=False))
@click.option("--arch", metavar="NAME", help="Architecture of the checkpoint (see --list-archs).")
@click.option("--timesteps", "-T", type=click.IntRange(min=1),
              help="Time steps T the network runs for; 1/T of the mean over time is folded in.")
@click.option("--input-shape", metavar="C,H,W",
              help="Input shape, e.g. 3,32,32 (images) or 2,48,48 (split-polarity events).")
@click.option("--input-kind", type=click.Choice(["frames", "events"]), default=None,
              help="frames: static image repeated over T, the first layer an analog encoder "
                   "(MACs); events: event counts per step (SOPs). Default: the arch's.")
@click.option("--polarity", type=click.Choice(["split", "signed"]), default="split", show_default=True,
              help="Event input: 2 channels (OFF, ON) or 1 signed channel.")
@click.option("--neuron", type=click.Choice(["ternary", "binary"]), default="ternary",
              show_default=True, help="Spiking neuron the network was trained with.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True, help="Stored weight precision (folding is always float64).")
@click.option("-o", "--output", type=OutputPath(), help="model.h5 to write.")
@click.option("--list-archs", "show_archs", is_flag=True,
              help="List the supported architectures and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--nir-dt", type=FiniteRange(min=0, min_open=True), default=DEFAULT_DT,
              show_default=True, help="NIR input: seconds per time step (discretises tau).")
@click.option("--nir-semantics", type=click.Choice(["auto", *SEMANTICS]), default="auto",
              show_default=True, help="NIR input: spec rules, sinabs' IAF for IF nodes, or auto "
                                      "(sinabs when every neuron is IF).")
@click.option("--nir-reset", type=click.Choice(["zero", "subtract"]), default=None,
              help="NIR input: reset of neuron nodes that store no v_reset (default: subtract, the "
                   "rule of NIR < 1.0.6).")
def convert(checkpoint, arch, timesteps, input_shape, input_kind, polarity, neuron, dtype, output,
            show_archs, as_json, nir_dt, nir_semantics, nir_reset):
    """Convert a trained Ternary Spike checkpoint into a multiplication-free model.h5.

    CHECKPOINT is a PyTorch state dict (.pth zip format, or .safetensors), in the naming of the
    paper's code (github.com/yfguo91/Ternary-Spike), of this project's models/, or plain
    torchvision-style. It is read without torch and nothing in it is executed. BatchNorm,
    the spike amplitude alpha, average pooling and 1/T are folded into weights and biases.

    \b
    Example:
      eventsim convert ckpt.pth --arch dvs_cnn --timesteps 8 --input-shape 2,34,34 -o model.h5
    """
    if show_archs:
        rows = list_archs()
        if as_json:
            click.echo(json_text([{"name": n, "input_kind": k, "summary": s} for n, k, s in rows],
                                  what="stdout", indent=2))
        else:
            click.echo(format_table(["arch", "input", "description"], [list(r) for r in rows]))
        return
    if checkpoint is None:
        raise click.UsageError("missing CHECKPOINT (or use --list-archs)")
    if output is None:
        raise click.UsageError("missing -o/--output model.h5")
    if is_nir_file(checkpoint):  # a NIR graph (detected by content) needs no --arch
        net = convert_nir_to_file(checkpoint, output, dtype=dtype, dt=nir_dt, semantics=nir_semantics,
                                  timesteps=timesteps, reset=nir_reset)
        source = f"NIR graph {net.name!r} ({net.provenance['semantics']} semantics, " \
                 f"dt={net.provenance['dt']:g} s)"
    else:
        missing = [name for name, v in (("--arch", arch), ("--timesteps", timesteps),
                                        ("--input-shape", input_shape)) if v is None]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)} for a PyTorch checkpoint")
        net = convert_to_file(checkpoint, output, dtype=dtype, arch=arch, timesteps=timesteps,
                              input_shape=_shape(input_shape), input_kind=input_kind,
                              polarity=polarity, neuron=neuron)
        source = arch
    summary = {"output": str(output), "arch": arch if arch else "nir", "timesteps": net.timesteps,
               "input_kind": net.input.kind, "input_shape": list(net.input_shape),
               "populations": len(net.populations), "projections": len(net.projections),
               "parameters": parameter_count(net), "dtype": dtype,
               "sha256": net.provenance.get("sha256") or net.provenance["source"]["sha256"]}
    if as_json:
        click.echo(json_text(summary, what="stdout", indent=2))
    say_written(output, f"{source}, {summary['populations']} populations, "
                        f"{summary['projections']} projections, {summary['parameters']:,} parameters "
                        f"({dtype}), input {net.input.kind} {','.join(map(str, net.input_shape))}, "
                        f"T={net.timesteps}")
