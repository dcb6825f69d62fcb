"""``eventsim run``: run a model on a recording or a static input; print counts, write JSON."""

from __future__ import annotations

import csv
import sys
from importlib import resources

import click
import numpy as np
from tqdm import tqdm

from ..energy.report import build_report
from ..energy.tables import get_table
from ..engine.simulator import Simulator
from ..errors import InputFormatError
from ..eval.stream import run_warnings
from ..events.sensor import STATED
from ..inputs import InputSpec, PreparedInput, prepare_file
from ..network.loading import load_network
from .base import EventsimCommand, InputPath, OutputPath, emit_json, format_table
from .energy_cmd import emit_report, energy_line, report_format, report_options
from .options import binning_options, input_options, precision_option, threads_option
from .stream_run import StreamArgs, check_stream_args, read_stdin, run_stream, stream_options

DEMO_MODEL = "demo_model.h5"
DEMO_INPUT = "demo.aedat4"
DEMO_LABELS = "demo_labels.csv"


def demo_paths() -> tuple[str, str]:
    """The bundled demo model and recording; InputFormatError when they are not installed."""
    data = resources.files("eventsim") / "data"
    model, rec = data / DEMO_MODEL, data / DEMO_INPUT
    if not (model.is_file() and rec.is_file()):
        raise InputFormatError(f"the bundled demo data is missing ({data}/{DEMO_MODEL}, {DEMO_INPUT}); "
                               "give MODEL and --input")
    return str(model), str(rec)


def _fmt_count(n: int) -> str:
    return f"{n:,}"


def format_summary(report: dict, top_k: int = 5) -> str:
    """The human summary of a run report (``energy.report.build_report``): input, prediction,
    top outputs, the per-layer table and the totals (the energy line is ``energy_line``)."""
    lines = []
    inp = report.get("input", {})
    src = inp.get("path", "input")
    what = (f"{_fmt_count(inp['events'])} events" if "events" in inp else
            f"{inp.get('frames', '?')} frame(s)")
    extra = f", sensor {inp['sensor'][0]}x{inp['sensor'][1]}" if inp.get("sensor") else ""
    if inp.get("sensor") and inp.get("sensor_from", STATED) != STATED:
        extra += f" (from {inp['sensor_from']})"
    fmt = f" [{inp['format']}]" if inp.get("format") else ""
    lines.append(f"model {report['model']!r} on {src}{fmt}: {what}{extra}, "
                 f"{report['timesteps']} time steps, {report.get('precision', '')}")
    if inp.get("dropped_events"):
        lines.append(f"  ({_fmt_count(inp['dropped_events'])} events outside the kept windows or map)")
    output = np.asarray(report["output"], dtype=np.float64)
    lines.append(f"prediction: {report['prediction']}")
    k = max(1, min(int(top_k), output.size))
    order = np.argsort(-output, kind="stable")[:k]
    lines.append("top-" + str(k) + ": " + ", ".join(f"{int(i)} ({output[i]:.4g})" for i in order))
    lines.append("")
    rows = [[lay["name"], lay["kind"], lay["neurons"], lay["spikes_pos"], lay["spikes_neg"],
             lay["sops"], lay.get("macs", 0), lay["dense_macs"]] for lay in report["layers"]]
    lines.append(format_table(["layer", "kind", "neurons", "spikes +", "spikes -", "SOPs", "MACs",
                               "dense MACs"], rows, align="llrrrrrr"))
    tot = report["totals"]
    steps = max(1, int(report["timesteps"]))
    dense = tot["dense_macs"] * steps
    ratio = f" ({tot['sops'] / dense:.3g} of the {_fmt_count(dense)} dense MACs over T)" if dense else ""
    lines.append("")
    lines.append(f"total SOPs: {_fmt_count(tot['sops'])}{ratio}")
    lines.append(f"encoder MACs: {_fmt_count(tot['macs'])}; "
                 f"multiplications after the encoder: {_fmt_count(tot['multiplications'])}")
    return "\n".join(lines)


@click.command(cls=EventsimCommand)
@click.argument("model", required=False, type=InputPath(dir_okay=False))
@click.option("--input", "-i", "input_path", type=InputPath(dir_okay=False), metavar="FILE",
              help="Event recording (any supported format, detected by content), a static "
                   ".npy (C,H,W)/(T,C,H,W) array or .png image for frame-input models, or a .npy "
                   "(T, *input shape) of one row per step (spike counts for event-input models).")
@binning_options
@precision_option
@threads_option
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the JSON report to PATH ('-' = stdout, and no human summary).")
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many of the highest outputs to list.")
@report_options
@stream_options
def run(model, input_path, timesteps, bin_us, method, keep_partial, polarity, crop, downscale,
        precision, threads, json_out, top_k, report_fmt, report_out, plot, energy_table,
        **stream) -> None:
    """Run MODEL (model.h5) on --input FILE event by event and count every operation.

    Prints the prediction, the top outputs and per layer the +/- spikes, synaptic operations
    (SOPs: weights added), encoder MACs and the dense MACs an ANN layer would need. With no
    MODEL and no --input, runs the bundled demo model on the bundled demo recording.
    --input - reads the recording from standard input. With --window-us or --continuous, a long
    recording (or a live stream) is classified over time: a timeline, a summary, --jsonl records.
    """
    args = StreamArgs(**stream)
    demo = model is None and input_path is None
    if demo:
        model, input_path = demo_paths()
    elif model is None or input_path is None:
        raise click.UsageError("give both MODEL and --input FILE (or neither, for the demo)")
    check_stream_args(args, input_path, bin_us=bin_us, method=method, json_out=json_out,
                      report_fmt=report_fmt, report_out=report_out)
    fmt = report_format(report_fmt, report_out, plot)
    if json_out == "-" and fmt and report_out in (None, "-"):
        raise click.UsageError("--json - and --report both write to stdout; give -o FILE")
    table = get_table(energy_table)  # a bad table file fails before the run
    sim = Simulator(load_network(model), precision=precision, threads=threads)
    spec = input_options(timesteps, bin_us, method, keep_partial, polarity, crop, downscale)
    if args.active:
        return run_stream(sim, input_path, args, plot=plot, top_k=top_k, spec=spec)
    if input_path == "-":
        prepared = read_stdin(sim.network, args, spec)
    else:
        prepared = prepare_file(input_path, sim.network, spec)
    # per-neuron spikes (record) and a frame input feed the NeuroBench section's effective counts
    result = _run_with_progress(sim, prepared, record=bool(fmt or plot or json_out))
    if not args.quiet:
        for line in run_warnings(result, cropped=spec.crop is not None or spec.downscale is not None):
            click.echo(f"warning: {line}", err=True)
    report = build_report(result, table, frames=prepared.frames)
    report["model_path"] = model
    saturated = sum(int(s.sum()) for s in (result.saturations or {}).values())
    if saturated:  # int mode: never silent (see eventsim validate's int-saturation check)
        click.echo(f"warning: {saturated:,} membrane updates saturated at the int32 limits", err=True)
    if json_out:
        emit_json(report, json_out)
    if emit_report(report, fmt, report_out, plot) or json_out == "-":
        return
    click.echo(format_summary(report, top_k))
    click.echo(energy_line(report))
    if demo:
        click.echo("")
        click.echo(format_demo_digits(sim, table, spec))


def format_demo_digits(sim: Simulator, table, spec: InputSpec) -> str:
    """One line per bundled demo digit (``demo_labels.csv``): label, prediction, SOPs, energy."""
    data = resources.files("eventsim") / "data"
    with (data / DEMO_LABELS).open(encoding="utf-8") as f:
        # the main recording is also one of the per-class digits: list those once
        entries = [e for e in csv.DictReader(f) if e["file"] != DEMO_INPUT]
    rows, correct = [], 0
    for entry in entries:
        report = build_report(sim.run_prepared(prepare_file(str(data / entry["file"]), sim.network, spec)),
                              table)
        label, pred = int(entry["label"]), int(report["prediction"])
        correct += label == pred
        rows.append([entry["file"], label, pred, "yes" if label == pred else "NO",
                     report["totals"]["sops"], f"{report['energy']['pJ'] / 1e6:.3f}"])
    header = f"the bundled test digits, one per class ({correct} of {len(rows)} right):"
    return header + "\n" + format_table(["recording", "label", "prediction", "right", "SOPs",
                                         "energy uJ"], rows, align="lrrlrr")


def _run_with_progress(sim: Simulator, prepared: PreparedInput, record: bool):
    """Run with a tqdm bar on stderr when it is a terminal (steps as units)."""
    if not sys.stderr.isatty():
        return sim.run_prepared(prepared, record=record)
    with tqdm(desc="steps", unit="step", total=prepared.timesteps, file=sys.stderr, leave=False) as bar:
        def tick(done: int) -> None:
            bar.update(done - bar.n)

        return sim.run_prepared(prepared, record=record, progress=tick)
