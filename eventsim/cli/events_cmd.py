"""``eventsim events``: look at, convert and picture event recordings (any supported format)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import numpy as np

from ..errors import InputFormatError
from ..events.binstream import frame_block, frame_counts
from ..events.io import (
    DEFAULT_CHUNK,
    EventStats,
    read_info,
    scan_events,
    stream_events,
    writable_extensions,
    write_events_stream,
)
from ..events.sensor import STATED, resolve_sensor
from ..files import atomic_output
from .base import EventsimCommand, InputPath, OutputPath, UserError, emit_json, format_table, say_written

# Metadata that is too long for a summary (whole header texts) stays out of `info`.
_BULKY_META = ("header", "info_xml")


def _progress(desc: str, path: str):
    """A tqdm bar on stderr, shown only on a terminal; its ``update`` takes event counts."""
    from tqdm import tqdm

    return tqdm(desc=desc, unit=" ev", unit_scale=True, file=sys.stderr, leave=False,
                disable=not sys.stderr.isatty(), postfix=os.path.basename(path))


def _parse_sensor(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().replace("x", ",").split(","))
    except ValueError:
        raise click.BadParameter(f"expected W,H (e.g. 128,128), got {value!r}") from None
    if w <= 0 or h <= 0:
        raise click.BadParameter(f"sensor size must be positive, got {value!r}")
    return w, h


def _sensor(info, stats: EventStats) -> tuple[tuple[int, int] | None, str]:
    """The file's sensor size, or its events' extent (the rule of eventsim.events.sensor)."""
    span = None
    if stats.x_max is not None and stats.y_max is not None:
        span = (int(stats.x_max) + 1, int(stats.y_max) + 1)
    return resolve_sensor(info.sensor, span)


def info_doc(path: str, info, stats: EventStats) -> dict:
    """The JSON document of ``events info`` (schema ``eventsim.events-info/1``)."""
    meta = {k: v for k, v in info.metadata.items() if k not in _BULKY_META and k != "camera"}
    sensor, sensor_from = _sensor(info, stats)
    return {
        "schema": "eventsim.events-info/1",
        "path": path,
        "format": info.format,
        "sensor": None if sensor is None else list(sensor),
        "sensor_from": sensor_from,
        "camera": info.metadata.get("camera"),
        "events": stats.events,
        "on": stats.on,
        "off": stats.off,
        "t_first": stats.t_first,
        "t_last": stats.t_last,
        "t_min": stats.t_min,
        "t_max": stats.t_max,
        "duration_us": stats.duration_us,
        "rate_hz": stats.rate_hz,
        "out_of_order": stats.out_of_order,
        "metadata": meta,
    }


def _order_text(stats: EventStats) -> str:
    """How far the timestamps are from running forwards (the time row shows min .. max)."""
    if not stats.out_of_order:
        return "0 events earlier than their predecessor"
    return (f"{stats.out_of_order:,} events earlier than their predecessor: the timestamps go backwards "
            f"(first event at {stats.t_first} us, last at {stats.t_last} us)")


@click.group()
def events() -> None:
    """Inspect, convert and picture event-camera recordings.

    Formats are detected by content: AEDAT 2.0 / 3.1 / 4.0, Prophesee .raw (EVT 2.0/3.0) and
    .dat, N-MNIST / N-Caltech101 .bin, and eventsim's own .npz / .h5.
    """


@events.command(cls=EventsimCommand)
@click.argument("file", type=InputPath(dir_okay=False))
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the summary as JSON ('-' = stdout only).")
def info(file: str, json_out: str | None) -> None:
    """Summarise FILE: format, sensor, camera, event count, ON/OFF split, time span and rate.

    Reads the whole file once, streaming (bounded memory); a progress bar shows on a terminal.
    """
    meta = read_info(file)
    with _progress("counting", file) as bar:
        stats = scan_events(file, fmt=meta.format, progress=bar.update)
    doc = info_doc(file, meta, stats)
    if json_out:
        emit_json(doc, json_out)
        if json_out == "-":
            return
    size, size_from = _sensor(meta, stats)
    sensor = "unknown (no events)" if size is None else f"{size[0]} x {size[1]}"
    if size is not None and size_from != STATED:
        sensor += f" (from {size_from})"
    rows = [
        ["file", file],
        ["format", meta.format],
        ["sensor", sensor],
        ["camera", doc["camera"] or "-"],
        ["events", f"{stats.events:,} (ON {stats.on:,} / OFF {stats.off:,})"],
    ]
    if stats.events:
        rows += [
            ["time", f"{stats.t_min} .. {stats.t_max} us (earliest .. latest event)"],
            ["duration", f"{stats.duration_us / 1e6:.6g} s"],
            ["rate", f"{stats.rate_hz:,.0f} events/s"],
            ["out of order", _order_text(stats)],
        ]
    for key in ("version", "compression", "layout"):
        if meta.metadata.get(key) is not None:
            rows.append([key, str(meta.metadata[key])])
    click.echo(format_table(["field", "value"], rows, align="ll"))


@events.command(cls=EventsimCommand)
@click.argument("src", metavar="IN", type=InputPath(dir_okay=False))
@click.argument("dst", metavar="OUT", type=OutputPath())
@click.option("--sensor", "sensor_opt", metavar="W,H",
              help="Sensor size to record when IN does not state one (or to override it).")
@click.option("--compression", type=click.Choice(["lz4", "lz4_high", "zstd", "zstd_high", "none"]),
              default="lz4", show_default=True, help="Packet compression of an .aedat4 OUT.")
@click.option("--chunk", type=click.IntRange(min=1), default=DEFAULT_CHUNK, show_default=True,
              help="Events per chunk while streaming.")
def convert(src: str, dst: str, sensor_opt: str | None, compression: str, chunk: int) -> None:
    """Convert IN (any supported format) to OUT, whose extension picks the format.

    Writable: .npz, .h5 and .aedat4 (also .aedat3). Streams chunk by chunk where the output
    format allows (.h5, .aedat4); OUT appears only when complete (temp file + rename).
    """
    exts = writable_extensions()
    ext = Path(dst).suffix.lower()
    if ext not in exts:
        raise UserError(f"{dst}: cannot write a {ext or 'extension-less'} file; "
                        f"choose one of {', '.join(sorted(exts))}")
    meta = read_info(src)
    sensor, sensor_from = _parse_sensor(sensor_opt), "given by --sensor"
    if sensor is None and meta.sensor is None:
        with _progress("measuring", src) as bar:
            sensor, sensor_from = _sensor(meta, scan_events(src, fmt=meta.format, progress=bar.update))
        if sensor is None:
            raise UserError(f"{src}: the file has no events and does not state its sensor size; "
                            "pass --sensor W,H")
        click.echo(f"{src}: sensor {sensor[0]}x{sensor[1]} from {sensor_from}", err=True)
    sensor = sensor or meta.sensor
    assert sensor is not None  # given, stated by the file, or measured above
    extra = {"camera": meta.metadata.get("camera")}
    if exts[ext] == "aedat4":
        extra["compression"] = compression
    with _progress("converting", src) as bar:
        def chunks():
            for c in stream_events(src, chunk=chunk, fmt=meta.format):
                bar.update(len(c))
                yield c

        n = write_events_stream(dst, chunks(), sensor, **extra)
    say_written(dst, f"{n:,} events ({meta.format} -> {exts[ext]}, sensor {sensor[0]}x{sensor[1]})")


def _require_matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise UserError("`eventsim events show` needs matplotlib: pip install eventsim[plot]") from None
    return matplotlib


_DPI = 100
_PANEL_MIN_PX = 320  # small sensors (34x34) are enlarged to this many image pixels across
_PANEL_MAX_PX = 1800  # the width of all panels of a row together, in image pixels


def block_sum(frames: np.ndarray, factor: int) -> np.ndarray:
    """Sum ``factor x factor`` pixel blocks of ``(bins, 2, H, W)`` counts (edges padded with 0)."""
    bins, c, h, w = frames.shape
    hh, ww = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.zeros((bins, c, hh, ww), frames.dtype)
    padded[..., :h, :w] = frames
    return padded.reshape(bins, c, hh // factor, factor, ww // factor, factor).sum(axis=(3, 5))


def _render(frames: np.ndarray, stats: EventStats, out: str, title: str, block: int = 1) -> None:
    """Draw the panels; ``frames`` may already count blocks of ``block`` x ``block`` pixels."""
    _require_matplotlib().use("Agg")
    import matplotlib.pyplot as plt

    bins, _, h, w = frames.shape
    cols = min(bins, 5)
    rows = -(-bins // cols)
    # A panel shows up to _PANEL_MAX_PX sensor pixels across (a 1280-wide sensor in 5 panels of
    # 320 image pixels each would lose 3 of every 4 columns to resampling): larger sensors are
    # block-summed down first, so every event still counts in the panel.
    target = max(_PANEL_MIN_PX, _PANEL_MAX_PX // cols)
    factor = -(-w // target)
    if factor > 1:
        frames = block_sum(frames, factor)
        bins, _, h, w = frames.shape
    # the panel's size follows the sensor's, not the counters' (already summed for memory)
    panel_in = max(_PANEL_MIN_PX, min(w * block * factor, target)) / _DPI
    fig, axes = plt.subplots(rows, cols, figsize=(panel_in * cols, panel_in * rows * h / w + 0.8),
                             squeeze=False)
    # White background; ON events tint towards blue, OFF towards red (saturating at the
    # 99th percentile of the non-zero counts, so a few hot pixels do not wash out the rest).
    nz = frames[frames > 0]
    scale = float(np.percentile(nz, 99)) if nz.size else 1.0
    span = stats.duration_us + 1
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= bins:
            continue
        off = np.clip(frames[k, 0] / scale, 0, 1)
        on = np.clip(frames[k, 1] / scale, 0, 1)
        rgb = np.stack([1 - on, 1 - np.maximum(on, off), 1 - off], axis=-1)
        ax.imshow(rgb, interpolation="nearest")
        a = k * span / bins / 1e3
        b = (k + 1) * span / bins / 1e3
        ax.set_title(f"{a:.1f}-{b:.1f} ms" if bins > 1 else f"{span / 1e3:.1f} ms", fontsize=9)
    fig.suptitle(title, fontsize=10)
    try:
        with atomic_output(out) as tmp:
            # tight: the title is never cut off, whatever the panel size
            fig.savefig(tmp, dpi=_DPI, format=(Path(out).suffix[1:] or "png").lower(), bbox_inches="tight")
    except ValueError as exc:
        raise UserError(f"{out}: cannot write this image format ({exc})") from None
    finally:
        plt.close(fig)


@events.command(cls=EventsimCommand)
@click.argument("file", type=InputPath(dir_okay=False))
@click.option("-o", "--output", required=True, type=OutputPath(),
              help="Image to write (.png, .pdf, .svg).")
@click.option("--bins", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Number of equal time windows, one panel each.")
def show(file: str, output: str, bins: int) -> None:
    """Picture FILE as accumulated ON (blue) / OFF (red) event frames.

    Needs matplotlib (pip install eventsim[plot]).
    """
    _require_matplotlib()
    meta = read_info(file)
    with _progress("scanning", file) as bar:
        stats = scan_events(file, fmt=meta.format, progress=bar.update)
    if not stats.events:
        raise InputFormatError(f"{file}: no events to show")
    sensor, _ = _sensor(meta, stats)
    assert sensor is not None  # the file has events: their extent at least
    block = frame_block(sensor, bins)
    frames = frame_counts(stream_events(file, fmt=meta.format), stats, sensor, bins, block, where=file)
    _render(frames, stats, output, f"{os.path.basename(file)}: {stats.events:,} events, "
                                    f"{sensor[0]}x{sensor[1]}"
                                    + (f" (blocks of {block}x{block} pixels)" if block > 1 else ""),
            block)
    say_written(output, f"{bins} frame{'s' if bins > 1 else ''}, {stats.events:,} events")
