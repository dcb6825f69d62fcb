"""``eventsim bench``: the engine benchmark of :mod:`eventsim.bench` (torch for the PyTorch side)."""

from __future__ import annotations

import click

from ..bench.engine import estimate_seconds, require_dense, run_all
from ..jit import resolve_threads
from .base import EventsimCommand, OutputPath, emit_json
from .options import threads_option


def _duration(seconds: float) -> str:
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.0f} min"


def _densities(ctx, param, text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated fractions, got {text!r}") from None
    if not values or any(not 0 < v < 1 for v in values):
        raise click.BadParameter("densities must lie strictly between 0 and 1")
    return values


@click.command(cls=EventsimCommand)
@click.option("--densities", default="0.01,0.05,0.1,0.2,0.3,0.5", show_default=True, callback=_densities,
              help="Average spike densities (fractions) for the end-to-end comparison.")
@click.option("--timesteps", "-T", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per measurement; the best is reported.")
@click.option("--kernel/--no-kernel", default=True, help="Measure the 128-channel conv kernel figure.")
@click.option("--e2e/--no-e2e", default=True,
              help="Measure end to end against dense PyTorch on the ResNet-19-style network.")
@click.option("--cold", is_flag=True, help="Also time a cold Numba compile in a fresh process.")
@threads_option
@click.option("--one-thread/--no-one-thread", default=True, show_default=True,
              help="Also run both tools on one thread (a second table and the thread scaling).")
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the results as JSON ('-' = stdout).")
def bench(densities, timesteps, repeat, kernel, e2e, cold, threads, one_thread, json_out) -> None:
    """Benchmark the event engine: G SOP/s of the conv scatter kernel and the speed-up over
    dense PyTorch CPU inference of the same network at several spike densities, both tools on
    all cores (--threads), then both on one thread.

    Says how long it will take before it starts (about 1 min with the defaults on a 2-core
    machine); needs PyTorch unless --no-e2e.
    """
    if e2e:
        require_dense()  # a missing torch is an error before the "running" line
    try:
        runs = 2 if one_thread and resolve_threads(threads) > 1 else 1
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    seconds = estimate_seconds(densities * runs, timesteps, repeat, kernel, e2e, cold)
    click.echo(f"running: {_duration(seconds)} (estimated from the options) ...", err=True)
    doc = run_all(densities, timesteps, repeat, kernel, e2e, cold, threads=threads,
                         one_thread=one_thread)
    if json_out:
        emit_json(doc, json_out)
        if json_out == "-":
            return
    click.echo(doc["table"])
