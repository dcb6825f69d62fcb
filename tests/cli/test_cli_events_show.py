"""``eventsim events show`` on a large sensor: block-summed panels, every event kept, readable size."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.cli.events_cmd import block_sum
from eventsim.events.dtype import make_events
from eventsim.events.io import write_events


def test_block_sum_keeps_every_count():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 5, (2, 2, 7, 10))
    out = block_sum(frames, 3)
    assert out.shape == (2, 2, 3, 4)
    assert out.sum() == frames.sum()
    assert out[1, 0, 2, 3] == frames[1, 0, 6:, 9:].sum()  # the padded corner block


def test_large_sensor_panels_are_summed_down_not_resampled(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image  # matplotlib depends on pillow

    # a line of ON events on every 3rd column of a 1280x720 sensor, once in each of 3 time bins:
    # resampled to small panels, most columns would be lost; block-summed, every block keeps one
    xs = np.tile(np.arange(1, 1280, 3), 3)
    ts = np.repeat([0, 1000, 2000], xs.size // 3)
    ev = make_events(ts, xs, np.full(xs.size, 360), np.ones(xs.size, np.int8))
    write_events(tmp_path / "big.h5", ev, (1280, 720))
    r = CliRunner().invoke(cli, ["events", "show", str(tmp_path / "big.h5"), "-o", str(tmp_path / "s.png"),
                                 "--bins", "3"])
    assert r.exit_code == 0, r.output
    img = np.asarray(Image.open(tmp_path / "s.png").convert("RGB")).astype(int)
    assert img.shape[1] >= 1000  # three panels of ~400 pixels, not of 320 or less
    tinted = (img[..., 2] - img[..., 0]) > 60  # ON events tint blue
    assert tinted.any(axis=0).sum() >= 800  # the line runs across every panel
