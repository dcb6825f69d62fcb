"""The long-recording options of ``eventsim run``: windows, continuous state, stdin, follow, realtime.

The command itself stays in ``run_cmd.py``; this module holds its stream options, their checks
and the loop that prints the timeline, writes the JSON lines and the summary (the work is done by
:mod:`eventsim.eval.stream`).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, replace

import click
import numpy as np

from ..engine.simulator import Simulator
from ..eval.stream import (
    Pacer,
    Timeline,
    save_timeline_plot,
    step_records,
    stream_warnings,
    summary_dict,
    summary_text,
    timeline_header,
    timeline_line,
    window_records,
)
from ..events.dtype import EVENT_DTYPE
from ..events.frames import frame_kind
from ..events.streams import STREAM_FORMATS
from ..events.windows import StreamStats, check_window_options
from ..files import atomic_output, interrupt_handled, json_text
from ..inputs import InputOptions, PreparedInput
from ..inputs.events import prepare_events
from ..inputs.sources import open_source, prepare_whole
from ..network.ir import Network
from .base import OutputPath

_STREAM = [
    click.option("--window-us", type=int, metavar="W",
                 help="Classify the recording over time: one independent inference per window of W "
                      "microseconds [t0 + k*H, t0 + k*H + W) from the first event t0."),
    click.option("--hop-us", type=int, metavar="H",
                 help="Start a window every H microseconds (default: W, windows side by side)."),
    click.option("--allow-gaps", is_flag=True, help="Allow --hop-us longer than --window-us (the "
                 "events between windows are skipped)."),
    click.option("--continuous", is_flag=True,
                 help="One network state over the whole recording, one step per --bin-us B; prints "
                      "each step's readout increment and a running prediction over the last T steps "
                      "(-T, default the model's)."),
    click.option("--jsonl", "jsonl_out", type=OutputPath(), metavar="PATH|-",
                 help="With --window-us / --continuous: one JSON object per window / step to PATH "
                      "('-' = stdout; the summary then goes to stderr)."),
    click.option("--format", "fmt", type=click.Choice(STREAM_FORMATS), metavar="NAME",
                 help=f"Event format of --input - or --follow, one of {', '.join(STREAM_FORMATS)} "
                      "(default: detected from the first bytes)."),
    click.option("--follow", is_flag=True, help="Keep reading --input FILE as it grows until Ctrl-C "
                 "(then the summary so far, exit 0). Needs --window-us or --continuous."),
    click.option("--realtime", is_flag=True, help="Pace the run by the event timestamps, as a live "
                 "camera delivers them; report the real-time factor, the lag and dropped windows."),
    click.option("--quiet", "-q", is_flag=True, help="No warnings on stderr."),
]


def stream_options(f):
    """--window-us, --hop-us, --allow-gaps, --continuous, --jsonl, --format, --follow, --realtime, -q."""
    for opt in reversed(_STREAM):
        f = opt(f)
    return f


@dataclass(frozen=True)
class StreamArgs:
    """The values of :func:`stream_options`."""

    window_us: int | None
    hop_us: int | None
    allow_gaps: bool
    continuous: bool
    jsonl_out: str | None
    fmt: str | None
    follow: bool
    realtime: bool
    quiet: bool

    @property
    def active(self) -> bool:
        """Windows or continuous mode asked for."""
        return self.window_us is not None or self.continuous


def check_stream_args(args: StreamArgs, input_path: str, *, bin_us, method, json_out, report_fmt,
                      report_out) -> None:
    """Refuse combinations that cannot work, before anything is read (one ``error:`` line)."""
    if args.window_us is not None or args.hop_us is not None:
        if args.window_us is None:
            raise click.UsageError("--hop-us needs --window-us")
        check_window_options(args.window_us, args.hop_us, args.allow_gaps)
    if args.continuous:
        if args.window_us is not None:
            raise click.UsageError("--continuous and --window-us exclude each other (one state over "
                                   "the whole stream, or independent windows)")
        if bin_us is None:
            raise click.UsageError("--continuous needs --bin-us B (one step per B microseconds)")
        if method not in (None, "window"):
            raise click.UsageError(f"--continuous steps by --bin-us; --binning {method} does not apply")
    needs = [name for name, on in (("--jsonl", args.jsonl_out), ("--follow", args.follow),
                                   ("--realtime", args.realtime), ("--allow-gaps", args.allow_gaps)) if on]
    if needs and not args.active:
        raise click.UsageError(f"{needs[0]} needs --window-us or --continuous")
    if args.active:
        if json_out or report_fmt or report_out:
            raise click.UsageError("--json/--report describe one inference; with --window-us or "
                                   "--continuous use --jsonl (one record per window or step)")
        if input_path != "-" and frame_kind(input_path) is not None:
            raise click.UsageError("--window-us/--continuous need an event recording, not a static "
                                   f"{frame_kind(input_path)} input")
    if args.fmt is not None and input_path != "-" and not args.active:  # a file's format is detected
        raise click.UsageError("--format applies to --input -, --follow, --window-us and --continuous")
    if args.follow and input_path == "-":
        raise click.UsageError("--follow reads a growing FILE; standard input is read until it ends anyway")


def read_stdin(net: Network, args: StreamArgs, spec: InputOptions) -> PreparedInput:
    """The recording on standard input prepared for a plain run (one inference)."""
    return prepare_whole(open_source("-", args.fmt), net, spec)


@contextlib.contextmanager
def _jsonl(path: str | None):
    """A function writing one record per line to ``path`` (stdout for '-', nothing for None)."""
    if path is None:
        yield lambda rec: None
    elif path == "-":
        def to_stdout(rec: dict) -> None:
            sys.stdout.write(json_text(rec, what="stdout") + "\n")
            sys.stdout.flush()
        yield to_stdout
    else:
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            def to_file(rec: dict) -> None:
                f.write(json_text(rec, what=path) + "\n")
                f.flush()
            yield to_file


def run_stream(sim: Simulator, input_path: str, args: StreamArgs, *, plot: str | None, top_k: int,
               spec: InputOptions) -> None:
    """``eventsim run`` with --window-us or --continuous: timeline, JSON lines, summary, plot."""
    net = sim.network
    mode = "windows" if args.window_us is not None else "continuous"
    source = open_source(input_path, args.fmt, args.follow)
    stats, pacer = StreamStats(), Pacer(args.realtime)
    if args.realtime:  # compile the kernels before the clock starts
        warm = replace(spec, timesteps=1, bin_us=None, method=None)
        sim.run_prepared(prepare_events(np.empty(0, EVENT_DTYPE), net, warm, stated=source.sensor))
    if args.window_us is not None:
        records = window_records(sim, source, args.window_us, args.hop_us, keep_partial=spec.keep_partial,
                                 allow_gaps=args.allow_gaps, stats=stats, pacer=pacer,
                                 timesteps=spec.timesteps, bin_us=spec.bin_us, method=spec.method,
                                 polarity=spec.polarity, crop=spec.crop, downscale=spec.downscale)
    elif spec.bin_us is not None:
        records = step_records(sim, source, spec.bin_us, timesteps=spec.timesteps,
                               keep_partial=spec.keep_partial, stats=stats, pacer=pacer,
                               polarity=spec.polarity, crop=spec.crop, downscale=spec.downscale)
    else:  # check_stream_args refuses this before anything is read
        raise click.UsageError("--continuous needs --bin-us B (one step per B microseconds)")
    tl = Timeline(mode, classes=net.output_population.size)
    text = args.jsonl_out is None
    steps_seen: set[int] = set()
    try:
        with _jsonl(args.jsonl_out) as write:
            if text:
                click.echo(timeline_header(mode))
            try:
                for rec in records:
                    tl.add(rec)
                    write(rec)
                    if rec.get("timesteps"):
                        steps_seen.add(rec["timesteps"])
                    if text:
                        click.echo(timeline_line(rec, tl.origin, min(top_k, 3)))
            except KeyboardInterrupt:
                if not args.follow:
                    raise
                interrupt_handled()  # --follow ends on Ctrl-C: the outputs so far are the result
                click.echo("interrupted: the summary so far", err=True)
    finally:
        if source.close is not None:
            source.close()
    if not args.quiet:
        cropped = spec.crop is not None or spec.downscale is not None
        for line in stream_warnings(tl, stats, net.timesteps, steps_seen, cropped):
            click.echo(f"warning: {line}", err=True)
    doc = summary_dict(tl, stats, pacer)
    what = "windows" if mode == "windows" else "continuous run"
    if text:
        click.echo("")
    click.echo(summary_text(doc, source.name, what), err=args.jsonl_out == "-")
    if plot:
        save_timeline_plot(tl, plot, title=f"{net.name} on {source.name}")
