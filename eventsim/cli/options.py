"""Option decorators shared by the commands that run a model (run, eval, validate, bench)."""

from __future__ import annotations

import click

from ..eval.sweep import parse_timesteps
from ..events.binning import BIN_METHODS, DOWNSCALE_MODES
from ..inputs import InputOptions


def parse_crop(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        parts = tuple(int(v) for v in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise click.BadParameter(f"expected X0,Y0,W,H (four integers), got {text!r}", param_hint="--crop")
    return parts


class TimestepsList(click.ParamType):
    """``-T 4`` or a sweep ``-T 1,2,4,8``: a tuple of distinct step counts >= 1."""

    name = "T[,T...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_timesteps(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


_TIMESTEPS = click.option(
    "--timesteps", "-T", type=click.IntRange(min=1),
    help="Number of time steps (default: the model's; with --bin-us: exactly T windows).")
_TIMESTEPS_SWEEP = click.option(
    "--timesteps", "-T", type=TimestepsList(),
    help="Number of time steps (default: the model's; with --bin-us: exactly T windows of N us). "
         "A list (-T 1,2,4,8) sweeps T: every T is evaluated and one table compares them.")

_BINNING = [
    click.option("--bin-us", type=click.IntRange(min=1), metavar="N",
                 help="Fixed time window of N microseconds per step, starting at the first event."),
    click.option("--binning", "method", type=click.Choice(BIN_METHODS),
                 help="window (needs --bin-us), time (equal time split, default with -T) or count "
                      "(equal event count per step)."),
    click.option("--keep-partial", is_flag=True,
                 help="Keep the last, incomplete --bin-us window (dropped by default, as tonic's ToFrame)."),
    click.option("--polarity", type=click.Choice(["split", "signed"]),
                 help="split: 2 channels (OFF, ON); signed: 1 channel, ON +1 / OFF -1 "
                      "(default: the model's)."),
    click.option("--crop", metavar="X0,Y0,W,H", help="Keep only this sensor window before downscaling."),
    click.option("--downscale", type=click.Choice(DOWNSCALE_MODES),
                 help="Fit a larger sensor to the model input: nearest (drop events off the sampled "
                      "grid) or sum (x*W_out//W_in; every event kept)."),
]

precision_option = click.option(
    "--precision", type=click.Choice(["float32", "float64", "int"]), default="float32",
    show_default=True,
    help="Arithmetic of membranes and weights; int: fixed point (int16 weights, int32 "
         "membranes, power-of-two decays as shifts), as a digital chip runs it.")


threads_option = click.option(
    "--threads", type=click.IntRange(min=1), metavar="N",
    help="Threads of the event engine (default: all cores, or NUMBA_NUM_THREADS when set). "
         "Results are identical whatever N.")


def binning_options(f):
    """--timesteps, --bin-us, --binning, --keep-partial, --polarity, --crop, --downscale."""
    for opt in reversed([_TIMESTEPS] + _BINNING):
        f = opt(f)
    return f


def sweep_binning_options(f):
    """:func:`binning_options` with ``--timesteps`` a tuple: one T, or several to sweep."""
    for opt in reversed([_TIMESTEPS_SWEEP] + _BINNING):
        f = opt(f)
    return f


def input_options(timesteps, bin_us, method, keep_partial, polarity, crop, downscale) -> InputOptions:
    """The :class:`~eventsim.inputs.InputOptions` of :func:`binning_options`' values (``crop`` as text)."""
    return InputOptions(timesteps=timesteps, bin_us=bin_us, method=method, keep_partial=keep_partial,
                        polarity=polarity, crop=parse_crop(crop), downscale=downscale)
