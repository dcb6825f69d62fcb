"""Events -> per-step input spikes: time binning, polarity channels, crop and downscale.

Everything here is vectorised NumPy over whole event arrays (no per-event Python loop).

Time binning (``t`` relative to the first event ``t0``, ``D = t_last - t0``):

- ``window`` (``bin_us = w``): step ``k = (t - t0) // w``; windows start at the first event and
  are half-open ``[t0 + k·w, t0 + (k+1)·w)``. A window is *complete* when the recording reaches
  its end (``t0 + (k+1)·w <= t_last``), so there are ``floor(D / w)`` complete windows — tonic's
  ``ToFrame(time_window=w)`` convention (``slice_by_time``, ``include_incomplete=False``): the
  last partial window is dropped by default. ``keep_partial=True`` keeps it
  (``floor(D / w) + 1`` windows, every event kept; tonic's ``include_incomplete=True`` uses
  ``ceil(D / w)`` and so loses the events at ``t_last`` when ``D`` is a multiple of ``w``, which
  we do not copy). With ``timesteps = T`` also given there are exactly ``T`` windows: missing
  ones are empty steps, extra ones are dropped.
- ``time`` (equal time split into ``T`` bins): ``k = floor((t - t0) · T / (D + 1))``; the default
  when only ``timesteps`` is given. Every event is kept.
- ``count`` (equal event count): the i-th event in time order goes to ``floor(i · T / N)``.

Polarity: ``split`` gives 2 channels (OFF = 0, ON = 1), each event a +1 spike; ``signed`` gives
1 channel, ON a +1 and OFF a −1 spike.

Spatial (applied in this order): ``crop = (x0, y0, w, h)`` keeps ``x0 <= x < x0 + w`` and
``y0 <= y < y0 + h`` and shifts the origin; then, to fit a target ``(H_out, W_out)``:
``nearest`` keeps only events on the grid torch's NEAREST resize samples
(``src = floor(dst · in / out)``), ``sum`` maps ``x -> x · W_out // W_in`` (all events kept).
A map that already fits (``in <= out``) is left alone: a smaller sensor lands top-left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError

BIN_METHODS = ("window", "time", "count")
DOWNSCALE_MODES = ("nearest", "sum")


@dataclass
class BinnedEvents:
    """Input spikes per step, sorted by step, as the engine consumes them.

    Step ``k``'s spikes are ``index[ptr[k]:ptr[k+1]]`` / ``sign[...]``; ``index`` is the flat
    input neuron ``c·H·W + y·W + x`` (C, H, W order, as in the IR). Within a step the events
    keep their time order. Repeated events at one pixel stay repeated (n additions, not n·w).
    """

    timesteps: int  # T
    shape: tuple[int, int, int]  # (C, H, W) of the input population
    ptr: np.ndarray  # (T+1,) int64 offsets into index/sign
    index: np.ndarray  # (n,) int64 flat input neuron, C-H-W order
    sign: np.ndarray  # (n,) int8, +1 or -1
    dropped: int = 0  # events not delivered (outside the crop/grid or outside the kept windows)

    @property
    def count(self) -> int:
        return int(self.index.size)

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-step counts of +1 and −1 spikes, two int64 arrays ``(T, C, H, W)``."""
        return dense_counts(self)


def time_bins(t: np.ndarray, timesteps: int | None = None, bin_us: int | None = None,
              method: str | None = None, keep_partial: bool = False) -> tuple[np.ndarray, int]:
    """Step index per event (−1 = dropped) and the number of steps ``T``.

    ``method`` defaults to ``window`` when ``bin_us`` is given, else ``time``.
    """
    t = np.asarray(t, dtype=np.int64)
    if method is None:
        method = "window" if bin_us is not None else "time"
    if method not in BIN_METHODS:
        raise InputFormatError(f"binning: unknown method {method!r} (known: {', '.join(BIN_METHODS)})")
    if timesteps is not None and int(timesteps) < 1:
        raise InputFormatError(f"binning: timesteps must be >= 1, got {timesteps}")
    if method == "window":
        if bin_us is None or int(bin_us) < 1:
            raise InputFormatError(f"binning: window binning needs bin_us >= 1, got {bin_us}")
        bin_us = int(bin_us)
        if t.size == 0:
            return np.zeros(0, np.int64), int(timesteps or 0)
        t0 = t.min()
        rel = t - t0
        step = rel // bin_us
        n_win = int(rel.max()) // bin_us + (1 if keep_partial else 0)
        n_steps = n_win if timesteps is None else int(timesteps)
        step[step >= min(n_win, n_steps)] = -1
        return step, n_steps
    if timesteps is None:
        raise InputFormatError(f"binning: method {method!r} needs timesteps")
    n_steps = int(timesteps)
    if t.size == 0:
        return np.zeros(0, np.int64), n_steps
    if method == "time":
        t0 = t.min()
        span = int(t.max() - t0) + 1
        return (t - t0) * n_steps // span, n_steps
    order = np.argsort(t, kind="stable")
    step = np.empty(t.size, np.int64)
    step[order] = np.arange(t.size, dtype=np.int64) * n_steps // t.size
    return step, n_steps


def polarity_channels(p: np.ndarray, polarity: str) -> tuple[np.ndarray, np.ndarray]:
    """(channel, sign) per event: ``split`` -> (p, +1); ``signed`` -> (0, +1 ON / −1 OFF)."""
    p = np.asarray(p)
    if polarity == "split":
        return p.astype(np.int64), np.ones(p.size, np.int8)
    if polarity == "signed":
        return np.zeros(p.size, np.int64), np.where(p > 0, 1, -1).astype(np.int8)
    raise InputFormatError(f"binning: unknown polarity {polarity!r} (known: split, signed)")


def _axis_map(coord: np.ndarray, size_in: int, size_out: int, mode: str | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """New coordinate and keep-mask along one axis, for ``size_in`` -> ``size_out``."""
    keep = coord < size_in
    if size_in <= size_out or mode is None:
        return coord, keep & (coord < size_out)
    if mode == "sum":
        return coord * size_out // size_in, keep
    # nearest: dst samples src = floor(dst * in / out); keep events on sampled sources only
    lut = np.full(size_in, -1, np.int64)
    dst = np.arange(size_out, dtype=np.int64)
    lut[dst * size_in // size_out] = dst
    new = lut[np.minimum(coord, size_in - 1)]
    return new, keep & (new >= 0)


def spatial_map(x: np.ndarray, y: np.ndarray, sensor: tuple[int, int], out_hw: tuple[int, int],
                crop: tuple[int, int, int, int] | None = None, downscale: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map sensor coordinates onto an ``(H_out, W_out)`` grid -> (x, y, keep mask)."""
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    w_in, h_in = int(sensor[0]), int(sensor[1])
    keep = np.ones(x.size, bool)
    if crop is not None:
        x0, y0, cw, ch = (int(v) for v in crop)
        if x0 < 0 or y0 < 0 or cw < 1 or ch < 1:
            raise InputFormatError(f"crop {tuple(crop)}: origin must be >= 0 and size >= 1")
        keep &= (x >= x0) & (x < x0 + cw) & (y >= y0) & (y < y0 + ch)
        x, y = x - x0, y - y0
        w_in, h_in = cw, ch
    if downscale is not None and downscale not in DOWNSCALE_MODES:
        raise InputFormatError(f"unknown downscale mode {downscale!r} (known: nearest, sum)")
    h_out, w_out = int(out_hw[0]), int(out_hw[1])
    x = np.where(keep, x, 0)
    y = np.where(keep, y, 0)
    x, kx = _axis_map(x, w_in, w_out, downscale)
    y, ky = _axis_map(y, h_in, h_out, downscale)
    return x, y, keep & kx & ky


def bin_events(events: np.ndarray, sensor: tuple[int, int], shape: tuple[int, int, int],
               polarity: str = "split", timesteps: int | None = None, bin_us: int | None = None,
               method: str | None = None, keep_partial: bool = False,
               crop: tuple[int, int, int, int] | None = None, downscale: str | None = None
               ) -> BinnedEvents:
    """Bin an EVENT_DTYPE array into per-step input spikes for an input of ``shape`` (C,H,W).

    The caller checks that the sensor fits ``shape`` (see ``check_fit``); events outside the
    map after crop/downscale are counted in ``dropped``.
    """
    c, h, w = (int(s) for s in shape)
    want_c = 2 if polarity == "split" else 1
    if polarity in ("split", "signed") and c != want_c:
        raise InputFormatError(f"polarity {polarity!r} needs {want_c} input channel(s), "
                               f"the model input has shape {tuple(shape)}")
    step, n_steps = time_bins(events["t"], timesteps, bin_us, method, keep_partial)
    chan, sign = polarity_channels(events["p"], polarity)
    x, y, keep = spatial_map(events["x"], events["y"], sensor, (h, w), crop, downscale)
    keep &= step >= 0
    order = np.flatnonzero(keep)
    # stable sort by step keeps time order inside a step
    order = order[np.argsort(step[order], kind="stable")]
    index = (chan[order] * h + y[order]) * w + x[order]
    ptr = np.zeros(n_steps + 1, np.int64)
    np.cumsum(np.bincount(step[order], minlength=n_steps)[:n_steps], out=ptr[1:])
    return BinnedEvents(timesteps=n_steps, shape=(c, h, w), ptr=ptr, index=index.astype(np.int64),
                        sign=sign[order], dropped=int(events.size - order.size))


def dense_counts(binned: BinnedEvents) -> tuple[np.ndarray, np.ndarray]:
    """(pos, neg) count tensors ``(T, C, H, W)`` int64, e.g. for ``engine.reference.forward``."""
    n = int(np.prod(binned.shape))
    steps = np.repeat(np.arange(binned.timesteps, dtype=np.int64), np.diff(binned.ptr))
    flat = steps * n + binned.index
    size = binned.timesteps * n
    pos = np.bincount(flat[binned.sign > 0], minlength=size)
    neg = np.bincount(flat[binned.sign < 0], minlength=size)
    full = (binned.timesteps,) + tuple(binned.shape)
    return pos.astype(np.int64).reshape(full), neg.astype(np.int64).reshape(full)


def check_fit(sensor: tuple[int, int], shape: tuple[int, int, int], polarity: str,
              crop: tuple[int, int, int, int] | None, downscale: str | None, where: str = "input") -> None:
    """Raise InputFormatError when a ``sensor`` (W, H) recording cannot feed ``shape`` (C,H,W)."""
    w_in, h_in = int(sensor[0]), int(sensor[1])
    if crop is not None:
        w_in, h_in = int(crop[2]), int(crop[3])
    c, h, w = shape
    if (w_in > w or h_in > h) and downscale is None:
        what = "cropped sensor" if crop is not None else "sensor"
        raise InputFormatError(f"{where}: {what} {w_in}x{h_in} (WxH) is larger than the model input "
                               f"{w}x{h} (C,H,W = {c},{h},{w}); give --crop or --downscale")
