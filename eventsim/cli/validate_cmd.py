"""``eventsim validate``: the multiplication-free audit of a model, as a pass/fail table."""

from __future__ import annotations

import sys

import click

from ..network.loading import load_network
from ..validate import FAIL, INFO, PASS, WARN, inputs_from_file, random_inputs, validate
from .base import EventsimCommand, InputPath, OutputPath, emit_json, format_table, stage_bar
from .options import threads_option

_MARK = {PASS: "PASS", FAIL: "FAIL", WARN: "WARN", INFO: "info"}


def format_report(report, verbose: bool = False) -> str:
    """The human form of a ValidationReport: table, then details of what needs attention."""
    inp = report.input
    what = inp.get("path") or (f"a random input (seed {inp.get('seed')}"
                               + (f", {inp['events']:,} events" if "events" in inp else "") + ")")
    lines = [f"validating model {report.model!r} on {what}, {inp.get('timesteps')} time steps"
             + (" (strict)" if report.strict else ""), ""]
    rows = [[c.name, _MARK[c.status], c.summary] for c in report.checks]
    lines.append(format_table(["check", "result", "summary"], rows, align="lll"))
    for c in report.checks:
        if c.status in (FAIL, WARN) or (verbose and c.details):
            lines += ["", f"{c.name} [{_MARK[c.status]}]"]
            lines += [f"  {d}" for d in c.details]
            if c.fix and c.status in (FAIL, WARN):
                lines.append(f"  fix: {c.fix}")
    lines.append("")
    if report.passed:
        warned = [c.name for c in report.checks if c.status == WARN]
        lines.append("PASSED: the model runs without multiplications on data values"
                     + (f" (listed exceptions: {', '.join(warned)})" if warned else ""))
    else:
        lines.append(f"FAILED: {', '.join(c.name for c in report.failed)}")
    return "\n".join(lines)


@click.command("validate", cls=EventsimCommand)
@click.argument("model", type=InputPath(dir_okay=False))
@click.option("--input", "-i", "input_path", type=InputPath(dir_okay=False), metavar="FILE",
              help="Event recording (binned with the model's polarity) or a .npy/.png frame for "
                   "frame-input models. Default: a seeded random input.")
@click.option("--timesteps", "-T", type=click.IntRange(min=1),
              help="Number of time steps of the dynamic checks (default: the model's).")
@click.option("--bin-us", type=click.IntRange(min=1), metavar="N",
              help="Bin events into windows of N microseconds (default: T equal-time steps).")
@click.option("--strict", is_flag=True,
              help="Fail on listed exceptions too: decays that are not powers of two (a per-neuron "
                   "multiplication each step).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random input.")
@click.option("--no-kernel-audit", is_flag=True,
              help="Skip the LLVM IR audit of the integer kernels (it recompiles them: ~10 s).")
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the report as JSON to PATH ('-' = stdout, and no table).")
@click.option("--verbose", "-v", is_flag=True, help="Show the details of every check.")
@threads_option
def validate_cmd(model, input_path, timesteps, bin_us, strict, seed, no_kernel_audit, json_out,
                 verbose, threads) -> None:
    """Prove that MODEL needs no multiplications, and that the engines agree.

    Static checks of the compiled model (spike values in {-1, 0, +1}; every projection applied
    by additions of stored weights; decays that are shifts; encoder MACs listed apart), dynamic
    checks on one input (float64 engine == reference, float32 agreement, observed spike values,
    the fixed-point engine bit-exact with its integer reference, int32 saturation, int vs float
    agreement) and an audit of the LLVM IR of the integer kernels for multiplications on data
    values. Exit code 0 when every check passes, 1 when one fails, 2 on bad input.
    """
    net = load_network(model)
    inputs = (inputs_from_file(net, input_path, timesteps, bin_us) if input_path
              else random_inputs(net, timesteps, seed))
    with stage_bar("validating") as progress:
        report = validate(net, inputs, strict=strict, kernel_audit=not no_kernel_audit, progress=progress,
                          threads=threads)
    if json_out:
        emit_json(report.to_dict(), json_out)
    if json_out != "-":
        click.echo(format_report(report, verbose))
    if not report.passed:
        sys.exit(1)
