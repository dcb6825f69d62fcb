"""The DVS emulator: determinism, polarity, refractory period, timing, no motion -> no events."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import InputFormatError
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.emulator import EmulatorConfig, emulate, emulate_batch, saccade_path


def _digit_like(seed: int = 0) -> np.ndarray:
    """A blurry random stroke image, 8-bit, 28x28 (no real digits needed here)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((28, 28))
    for _ in range(3):
        r, c = rng.integers(6, 22, 2)
        img[r - 4:r + 4, c - 1:c + 2] = 255.0
        img[r - 1:r + 2, c - 4:c + 4] = 255.0
    return img


def _bar(width: int = 4) -> np.ndarray:
    img = np.zeros((28, 28))
    img[4:24, 12:12 + width] = 1.0
    return img


def test_events_are_typed_sorted_and_in_range():
    cfg = EmulatorConfig()
    ev = emulate(_digit_like(), cfg, seed=3, index=1, t0=1_000_000)
    assert ev.dtype == EVENT_DTYPE
    assert len(ev) > 100
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"].min() >= 1_000_000 and ev["t"].max() < 1_000_000 + cfg.duration_us
    assert ev["x"].max() < cfg.sensor[0] and ev["y"].max() < cfg.sensor[1]
    assert set(np.unique(ev["p"])) <= {0, 1}


def test_deterministic_and_independent_of_batch():
    img = _digit_like(1)
    a = emulate(img, seed=7, index=2)
    b = emulate(img, seed=7, index=2)
    np.testing.assert_array_equal(a, b)
    batch = emulate_batch(np.stack([_digit_like(5), _digit_like(6), img]), seed=7)
    np.testing.assert_array_equal(batch[2], a)  # recording i depends on (seed, i) only
    c = emulate(img, seed=8, index=2)
    assert not np.array_equal(a, c)


def test_noise_free_events_follow_the_brightness_change():
    """A vertical bright bar moving right: ON at its leading (right) edge, OFF at its trailing one.

    Single saccade (0,0) -> (6,0): every pixel the leading edge enters gets brighter.
    """
    cfg = EmulatorConfig(corners=((0.0, 0.0), (6.0, 0.0)), threshold_sigma=0.0)
    ev = emulate(_bar(4), cfg)
    first = ev[ev["t"] < cfg.saccade_us]  # the first saccade only: moving right
    x_on = first["x"][first["p"] == 1].astype(float)
    x_off = first["x"][first["p"] == 0].astype(float)
    assert len(x_on) > 50 and len(x_off) > 50
    # the bar spans columns 12..15 at offset 0 and 18..21 at offset 6: ON at 16..21, OFF at 12..17
    assert x_on.min() >= 15 and x_off.max() <= 18
    assert x_on.mean() > x_off.mean() + 3
    # the way back (second saccade, moving left) swaps the roles
    back = ev[ev["t"] >= cfg.saccade_us]
    assert back["x"][back["p"] == 1].mean() < back["x"][back["p"] == 0].mean() - 3


def test_brightening_and_darkening_polarity_balance():
    """A full closed path returns every pixel to its start, so ON and OFF nearly balance."""
    cfg = EmulatorConfig(threshold_sigma=0.0, refractory_us=0)
    ev = emulate(_digit_like(2), cfg)
    on = int((ev["p"] == 1).sum())
    off = int((ev["p"] == 0).sum())
    # per pixel |#ON - #OFF| <= 1 (the memorised level ends within one threshold of the start)
    key = ev["y"].astype(np.int64) * cfg.sensor[0] + ev["x"]
    net = np.bincount(key, weights=np.where(ev["p"] == 1, 1, -1), minlength=34 * 34)
    assert np.abs(net).max() <= 1
    assert abs(on - off) <= np.count_nonzero(net)


@pytest.mark.parametrize("refractory", [0, 500, 3000])
def test_refractory_period_is_respected(refractory):
    cfg = EmulatorConfig(refractory_us=refractory)
    ev = emulate(_digit_like(3), cfg, seed=1)
    key = ev["y"].astype(np.int64) * cfg.sensor[0] + ev["x"]
    order = np.lexsort((ev["t"], key))
    same = np.diff(key[order]) == 0
    gaps = np.diff(ev["t"][order])[same]
    assert gaps.min() >= refractory
    if refractory == 3000:  # a longer dead time loses events
        assert len(ev) < len(emulate(_digit_like(3), EmulatorConfig(refractory_us=0), seed=1))


def test_static_image_gives_no_events():
    ev = emulate(_digit_like(4), motion=False)
    assert len(ev) == 0
    noisy = EmulatorConfig(shot_noise_hz=5.0)
    ev = emulate(_digit_like(4), noisy, seed=2, motion=False)
    # only shot noise: about 5 Hz * 0.3 s * 1156 pixels = 1734 events (Poisson, sd ~42)
    assert 1500 < len(ev) < 2000
    assert np.all(np.diff(ev["t"]) >= 0)


def test_timestamps_are_interpolated_inside_frame_steps():
    cfg = EmulatorConfig()
    ev = emulate(_digit_like(0), cfg)
    # with 2 ms frames, timestamps that were not interpolated would all be multiples of 2000
    assert np.mean(ev["t"] % cfg.frame_us != 0) > 0.9


def test_saccade_path_is_a_closed_triangle():
    cfg = EmulatorConfig()
    times, dx, dy = saccade_path(cfg)
    assert times[0] == 0 and times[-1] == cfg.duration_us
    for k, (cx, cy) in enumerate(cfg.corners):
        i = int(np.searchsorted(times, k * cfg.saccade_us))
        assert (dx[i], dy[i]) == pytest.approx((cx, cy))
    assert (dx[-1], dy[-1]) == pytest.approx(cfg.corners[0])
    assert dx.min() == 0 and dx.max() == 6 and dy.max() == 6  # 28 + 6 = 34 pixels


def test_bad_images_are_rejected():
    with pytest.raises(InputFormatError, match="larger than the sensor"):
        emulate(np.zeros((40, 40)))
    with pytest.raises(InputFormatError, match="2-D"):
        emulate(np.zeros((2, 28, 28)))
    with pytest.raises(InputFormatError, match=">= 0"):
        emulate(-np.ones((28, 28)))


def test_sequence_windows_and_cli(tmp_path):
    from click.testing import CliRunner

    from eventsim.cli import cli
    from eventsim.events.emulator import emulate_sequence
    from eventsim.events.io import read_events

    stack = np.stack([_digit_like(0), _digit_like(1)])
    ev, windows = emulate_sequence(stack, seed=5, t0=1000, gap_us=20_000)
    assert windows == [(1000, 301_000), (321_000, 621_000)]
    for i, (a, b) in enumerate(windows):  # image i is recording index i, shifted to its window
        part = ev[(ev["t"] >= a) & (ev["t"] < b)]
        expect = emulate(stack[i], seed=5, index=i, t0=a)
        np.testing.assert_array_equal(part, expect)

    np.save(tmp_path / "stack.npy", stack)
    out = tmp_path / "rec.npz"
    args = ["events", "emulate", str(tmp_path / "stack.npy"), "-o", str(out), "--seed", "5",
            "--t0-us", "1000", "--gap-us", "20000", "--json", "-"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert '"windows_us"' in res.output
    read, sensor = read_events(out)
    assert tuple(sensor) == (34, 34)
    np.testing.assert_array_equal(read, ev)

    np.save(tmp_path / "big.npy", np.zeros((40, 40)))
    res = CliRunner().invoke(cli, ["events", "emulate", str(tmp_path / "big.npy"),
                                   "-o", str(tmp_path / "b.npz")])
    assert res.exit_code == 2 and "larger than the sensor" in res.output
    assert not (tmp_path / "b.npz").exists()
