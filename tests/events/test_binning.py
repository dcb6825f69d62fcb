"""Binning against straightforward per-event loops, tonic's ToFrame window rule, and edge cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import InputFormatError
from eventsim.events.binning import (
    MAX_STEPS,
    bin_events,
    check_fit,
    dense_counts,
    polarity_channels,
    spatial_map,
    time_bins,
)
from eventsim.events.dtype import make_events


# -- naive twins: one event at a time, written from the definitions in binning.py's docstring --
def naive_step(t, timesteps, bin_us, method, keep_partial):
    t = [int(v) for v in t]
    n = len(t)
    if method == "window":
        if n == 0:
            return [], timesteps or 0
        t0, d = min(t), max(t) - min(t)
        n_win = d // bin_us + (1 if keep_partial else 0)
        steps = n_win if timesteps is None else timesteps
        out = []
        for v in t:
            k = (v - t0) // bin_us
            out.append(k if k < n_win and k < steps else -1)
        return out, steps
    if method == "time":
        if n == 0:
            return [], timesteps
        t0, span = min(t), max(t) - min(t) + 1
        return [(v - t0) * timesteps // span for v in t], timesteps  # exact Python integers
    ranks = sorted(range(n), key=lambda i: (t[i], i))
    out = [0] * n
    for r, i in enumerate(ranks):
        out[i] = r * timesteps // n
    return out, timesteps


def naive_dense(events, sensor, shape, polarity, step, crop, downscale):
    c, h, w = shape
    steps = max(step) + 1 if len(step) else 0
    pos = np.zeros((steps, c, h, w), np.int64)
    neg = np.zeros_like(pos)
    win, hin = sensor
    for ev, k in zip(events, step):
        if k < 0:
            continue
        x, y = int(ev["x"]), int(ev["y"])
        if crop is not None:
            x0, y0, cw, ch = crop
            if not (x0 <= x < x0 + cw and y0 <= y < y0 + ch):
                continue
            x, y, win, hin = x - x0, y - y0, cw, ch
        if x >= win or y >= hin:
            continue
        coords = []
        for v, size_in, size_out in ((x, win, w), (y, hin, h)):
            if size_in <= size_out or downscale is None:
                coords.append(v if v < size_out else None)
            elif downscale == "sum":
                coords.append(v * size_out // size_in)
            else:  # nearest: the dst whose sampled source floor(dst*in/out) is v, if any
                hits = [d for d in range(size_out) if d * size_in // size_out == v]
                coords.append(hits[0] if hits else None)
        if None in coords:
            continue
        ch_ = int(ev["p"]) if polarity == "split" else 0
        sign = 1 if polarity == "split" or ev["p"] else -1
        (pos if sign > 0 else neg)[k, ch_, coords[1], coords[0]] += 1
    return pos, neg


event_lists = st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 15), st.integers(0, 11),
                                 st.integers(0, 1)), max_size=60)


def to_events(items, sort=True):
    items = sorted(items) if sort else items
    if not items:
        return make_events([], [], [], [])
    t, x, y, p = zip(*items)
    return make_events(t, x, y, p)


@settings(max_examples=150, deadline=None)
@given(event_lists, st.sampled_from(["window", "time", "count"]), st.integers(1, 7),
       st.integers(1, 2000), st.booleans(), st.booleans(), st.booleans())
def test_time_bins_match_naive(items, method, steps, bin_us, keep, give_steps, sort):
    ev = to_events(items, sort)
    timesteps = steps if (method != "window" or give_steps) else None
    got, n = time_bins(ev["t"], timesteps, bin_us if method == "window" else None, method, keep)
    want, n_want = naive_step(ev["t"], timesteps, bin_us, method, keep)
    assert n == n_want
    assert got.tolist() == want
    assert all(-1 <= k < n for k in got.tolist())


@settings(max_examples=120, deadline=None)
@given(event_lists, st.sampled_from(["split", "signed"]), st.integers(1, 5),
       st.sampled_from([None, (2, 1, 9, 7), (0, 0, 16, 12), (5, 3, 4, 4)]),
       st.sampled_from([None, "nearest", "sum"]), st.sampled_from([(12, 16), (6, 8), (5, 7), (3, 3)]))
def test_bin_events_matches_naive(items, polarity, steps, crop, downscale, hw):
    ev = to_events(items)
    c = 2 if polarity == "split" else 1
    shape = (c,) + hw
    b = bin_events(ev, (16, 12), shape, polarity, timesteps=steps, crop=crop, downscale=downscale)
    step, _ = time_bins(ev["t"], steps)
    pos, neg = naive_dense(ev, (16, 12), shape, polarity, step.tolist(), crop, downscale)
    gpos, gneg = b.dense()
    assert gpos.shape == (steps,) + shape
    assert np.array_equal(gpos[:pos.shape[0]], pos) and not gpos[pos.shape[0]:].any()
    assert np.array_equal(gneg[:neg.shape[0]], neg) and not gneg[neg.shape[0]:].any()
    assert b.count + b.dropped == ev.size
    assert b.ptr[-1] == b.count and np.all(np.diff(b.ptr) >= 0)


def test_tonic_to_frame_window_convention():
    # tonic's slice_by_time (ToFrame(time_window=w), include_incomplete=False) makes
    # floor((D - w)/w) + 1 = floor(D/w) windows [t0 + k w, t0 + (k+1) w); D = t_last - t0.
    t = np.array([100, 150, 199, 200, 260, 299, 300, 350])  # D = 250, w = 100 -> 2 windows
    step, n = time_bins(t, bin_us=100)
    assert n == 2
    assert step.tolist() == [0, 0, 0, 1, 1, 1, -1, -1]
    # keep_partial keeps the third, partial window [300, 400)
    step, n = time_bins(t, bin_us=100, keep_partial=True)
    assert n == 3 and step.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    # D an exact multiple of w: the event at t_last opens a window of its own, dropped by default
    step, n = time_bins(np.array([0, 50, 200]), bin_us=100)
    assert n == 2 and step.tolist() == [0, 0, -1]
    # exactly T windows: pad with empty steps, drop extra ones
    step, n = time_bins(t, timesteps=5, bin_us=100)
    assert n == 5 and step.tolist() == [0, 0, 0, 1, 1, 1, -1, -1]
    step, n = time_bins(t, timesteps=1, bin_us=100, keep_partial=True)
    assert n == 1 and step.tolist() == [0, 0, 0, -1, -1, -1, -1, -1]


def test_equal_time_and_count_split():
    t = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])  # span 10 into 5 bins: two per bin
    assert time_bins(t, 5)[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    t = np.array([0, 0, 0, 0, 1000, 1001])  # equal count: 6 events into 3 bins of 2
    assert time_bins(t, 3, method="count")[0].tolist() == [0, 0, 1, 1, 2, 2]


def test_polarity_channels():
    ch, sign = polarity_channels(np.array([0, 1, 1]), "split")
    assert ch.tolist() == [0, 1, 1] and sign.tolist() == [1, 1, 1]
    ch, sign = polarity_channels(np.array([0, 1, 1]), "signed")
    assert ch.tolist() == [0, 0, 0] and sign.tolist() == [-1, 1, 1]


def test_nearest_matches_torch_grid():
    torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")
    # a frame with a unique value per pixel, resized by torch NEAREST, shows which sources survive
    w_in, w_out = 34, 16
    img = torch.arange(w_in, dtype=torch.float32).reshape(1, 1, 1, w_in)
    sampled = torch.nn.functional.interpolate(img, size=(1, w_out), mode="nearest")
    src = sampled.reshape(-1).long().tolist()
    x, _, keep = spatial_map(np.arange(w_in), np.zeros(w_in, int), (w_in, 1), (1, w_out),
                             downscale="nearest")
    assert sorted(np.arange(w_in)[keep].tolist()) == src
    assert x[keep].tolist() == list(range(w_out))


def test_simultaneous_events_at_one_pixel_are_repeated():
    ev = make_events([5, 5, 5], [1, 1, 1], [2, 2, 2], [1, 1, 0])
    b = bin_events(ev, (4, 4), (1, 4, 4), "signed", timesteps=1)
    assert b.count == 3 and sorted(b.sign.tolist()) == [-1, 1, 1]
    pos, neg = dense_counts(b)
    assert pos[0, 0, 2, 1] == 2 and neg[0, 0, 2, 1] == 1


def test_empty_and_errors():
    ev = make_events([], [], [], [])
    b = bin_events(ev, (4, 4), (2, 4, 4), timesteps=3)
    assert b.timesteps == 3 and b.count == 0 and b.ptr.tolist() == [0, 0, 0, 0]
    with pytest.raises(InputFormatError, match="needs 1 input channel"):
        bin_events(ev, (4, 4), (2, 4, 4), "signed", timesteps=1)
    with pytest.raises(InputFormatError, match="needs timesteps"):
        time_bins(np.array([1]), method="time")
    with pytest.raises(InputFormatError, match="128x128.*larger than the model input 32x32"):
        check_fit((128, 128), (2, 32, 32), "split", None, None, where="rec.aedat4")
    check_fit((128, 128), (2, 32, 32), "split", None, "sum")
    check_fit((128, 128), (2, 32, 32), "split", (0, 0, 32, 32), None)


int64s = st.integers(-(1 << 63), (1 << 63) - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(int64s, st.sampled_from([-(1 << 63), (1 << 63) - 1, 0, 1 << 62])),
                min_size=1, max_size=30),
       st.sampled_from(["window", "time"]), st.integers(1, 9),
       st.one_of(st.integers(1, 1 << 70), st.sampled_from([1 << 62, 10**20, (1 << 64) - 1, 1 << 64])),
       st.booleans())
def test_time_bins_exact_over_the_whole_int64_range(t, method, steps, bin_us, keep):
    # Any int64 timestamps and any window: exact against Python integers, no overflow, and no
    # numpy warning (-W error is what `python -W error` users and the CLI's stderr would see).
    t = np.array(t, dtype=np.int64)
    timesteps = steps if method == "time" or keep else None  # window without T: T from the span
    want, n_want = naive_step(t, timesteps, bin_us, method, keep)
    if n_want > MAX_STEPS:
        with pytest.raises(InputFormatError, match=f"{n_want:,} time steps"):
            time_bins(t, timesteps, bin_us if method == "window" else None, method, keep)
        return
    with np.errstate(all="raise"):
        got, n = time_bins(t, timesteps, bin_us if method == "window" else None, method, keep)
    assert n == n_want and got.tolist() == want


def test_step_counts_above_the_cap_are_refused_with_their_need():
    with pytest.raises(InputFormatError, match="1,000,000 time steps asked for; at most 100,000"):
        time_bins(np.array([0, 10]), timesteps=1_000_000)
    with pytest.raises(InputFormatError, match=f"needs {(1 << 62) // 1000:,} time steps"):
        time_bins(np.array([0, 1 << 62]), bin_us=1000)
    # with --timesteps the windows beyond T are dropped, so any span is fine
    step, n = time_bins(np.array([0, 1 << 62]), timesteps=3, bin_us=1000)
    assert n == 3 and step.tolist() == [0, -1]


def test_polarity_outside_0_1_and_crops_outside_the_sensor_are_refused():
    ev = make_events([0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 3])
    with pytest.raises(InputFormatError, match=r"rec: polarity must be 0 \(OFF\) or 1 \(ON\); found 3"):
        bin_events(ev, (16, 12), (2, 12, 16), timesteps=2, where="rec")
    with pytest.raises(InputFormatError, match=r"rec.npz: crop 16,0,4,4 .* outside the 16x12 \(WxH\) sensor"):
        check_fit((16, 12), (2, 12, 16), "split", (16, 0, 4, 4), None, where="rec.npz")
    with pytest.raises(InputFormatError, match="outside the 16x12"):
        spatial_map(ev["x"], ev["y"], (16, 12), (12, 16), crop=(0, 12, 4, 4))
    check_fit((16, 12), (2, 12, 16), "split", (15, 11, 4, 4), None)  # overlaps the sensor: fine
