"""``eventsim events emulate``: record still images with an emulated DVS (N-MNIST style)."""

from __future__ import annotations

import click

from ..events.emulator import EmulatorConfig, emulate_sequence, read_images
from ..events.io import write_events
from .base import EventsimCommand, FiniteRange, InputPath, OutputPath, emit_json, say_written


@click.command(cls=EventsimCommand)
@click.argument("images", type=InputPath(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=OutputPath(),
              help="Event file to write; the format follows the extension (.aedat4, .npz, .h5, ...).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds every random draw (initial pixel levels, noise); same seed, same events.")
@click.option("--threshold", type=FiniteRange(min=0, min_open=True), default=0.4, show_default=True,
              help="Contrast threshold in log-intensity units (ON and OFF).")
@click.option("--threshold-sigma", type=FiniteRange(min=0), default=0.05, show_default=True,
              help="Relative per-pixel threshold mismatch (Gaussian sigma).")
@click.option("--refractory-us", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Dead time of a pixel after each event, microseconds.")
@click.option("--noise-hz", type=FiniteRange(min=0), default=0.0, show_default=True,
              help="Shot noise: random events per pixel per second.")
@click.option("--sensor-seed", type=int, default=0, show_default=True,
              help="Fixes the threshold mismatch map (one emulated camera).")
@click.option("--t0-us", type=click.IntRange(min=0), default=0, show_default=True,
              help="Timestamp of the start of the recording, microseconds.")
@click.option("--gap-us", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pause between consecutive images of a stack.")
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the per-image time windows as JSON.")
def emulate(images, output, seed, threshold, threshold_sigma, refractory_us, noise_hz, sensor_seed,
            t0_us, gap_us, json_out) -> None:
    """Turn IMAGES into an event recording the way N-MNIST was recorded.

    IMAGES is a .npy array (H,W) or a stack (N,H,W), 8-bit (0..255) or [0,1], or a .png. Each
    image, at most 28x28, moves along three 100 ms saccades (an isosceles triangle spanning
    6 pixels) in front of an emulated 34x34 DVS: per-pixel log-intensity change against a
    contrast threshold with mismatch, refractory period, ON/OFF polarity, microsecond
    timestamps. A stack becomes one recording, image after image (every 300 ms + --gap-us).
    """
    config = EmulatorConfig(threshold=threshold, threshold_sigma=threshold_sigma,
                            refractory_us=refractory_us, shot_noise_hz=noise_hz, sensor_seed=sensor_seed)
    events, windows = emulate_sequence(read_images(images), config, seed=seed, t0=t0_us, gap_us=gap_us)
    write_events(output, events, config.sensor)
    emit_json({"schema": "eventsim.emulate/1", "output": output, "events": int(events.size),
               "sensor": list(config.sensor),
               "windows_us": [[int(a), int(b)] for a, b in windows]}, json_out)
    say_written(output, f"{events.size:,} events ({len(windows)} image(s), sensor "
                        f"{config.sensor[0]}x{config.sensor[1]})")
