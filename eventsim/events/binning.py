"""Events -> per-step input spikes: time binning, polarity channels, crop and downscale.

Everything here is vectorised NumPy over whole event arrays (no per-event Python loop).

Time binning (``t`` relative to the earliest event ``t0``, ``D = t_max - t0``: the first and last
event of a recording in time order; computed exactly for any int64 timestamps, ``t - t0`` in
uint64 and step boundaries in Python integers, so no overflow and no wrong bins even at ±2^63;
at most ``MAX_STEPS`` steps):

- ``window`` (``bin_us = w``): step ``k = (t - t0) // w``; windows start at ``t0`` and
  are half-open ``[t0 + k·w, t0 + (k+1)·w)``. A window is *complete* when the recording reaches
  its end (``t0 + (k+1)·w <= t_max``), so there are ``floor(D / w)`` complete windows — tonic's
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
A crop entirely outside the sensor is an error (it would drop every event).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError
from .dtype import check_polarity

BIN_METHODS = ("window", "time", "count")
#: Most time steps a binning may produce. Every step costs the engine per-step records (spike
#: offsets, SOP and spike counts per layer) and a pass over every population, so a step count
#: from a mistyped option (``-T 1000000``, ``--bin-us 1`` over minutes, one stray event at
#: t = 2^62) is refused with the number it would need instead of exhausting memory.
MAX_STEPS = 100_000
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
    outside_map: int = 0  # of those, the events outside the crop/grid (whatever their time)

    @property
    def count(self) -> int:
        return int(self.index.size)

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-step counts of +1 and −1 spikes, two int64 arrays ``(T, C, H, W)``."""
        return dense_counts(self)


def _check_steps(n_steps: int, why: str | None = None) -> None:
    if n_steps <= MAX_STEPS:
        return
    if why is None:
        raise InputFormatError(f"binning: {n_steps:,} time steps asked for; at most {MAX_STEPS:,} are "
                               "allowed")
    raise InputFormatError(f"binning: {why} needs {n_steps:,} time steps; at most {MAX_STEPS:,} are "
                           "allowed (give a longer --bin-us, or --timesteps to keep only the first windows)")


def relative_times(t: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``(t - t0, t0, D)``: times relative to the earliest event as uint64, ``t0``, ``D = t_max - t0``.

    Exact for any int64 timestamps: ``t - t0`` lies in ``[0, 2^64)``, which uint64 holds, so the
    subtraction is done modulo 2^64 (no overflow, no warning); ``t0`` and ``D`` are Python ints.
    """
    t = np.asarray(t, dtype=np.int64)
    t0 = int(t.min())
    return relative_to(t, t0), t0, int(t.max()) - t0


def relative_to(t: np.ndarray, t0: int) -> np.ndarray:
    """``t - t0`` as uint64, exact for int64 ``t >= t0`` (see :func:`relative_times`)."""
    # uint64 arithmetic wraps modulo 2^64: exact here, as the true difference is in [0, 2^64)
    return np.asarray(t, dtype=np.int64).astype(np.uint64) - np.uint64(t0 % (1 << 64))


def equal_time_bounds(span: int, n_steps: int) -> np.ndarray:
    """The ``n_steps - 1`` step boundaries ``ceil(j·(span+1)/n_steps)`` (uint64) of
    :func:`equal_time_bins`, computed with Python integers (no product that can overflow)."""
    size = span + 1
    return np.array([-(-j * size // n_steps) for j in range(1, n_steps)], dtype=np.uint64)


def equal_time_bins(rel: np.ndarray, span: int, n_steps: int,
                    bounds: np.ndarray | None = None) -> np.ndarray:
    """``floor(rel · n_steps / (span + 1))`` per event (int64), for uint64 ``rel <= span``.

    Computed without the product: step ``k >= j`` exactly when ``rel >= ceil(j·(span+1)/n)``,
    so the ``n - 1`` boundaries (``bounds``, from :func:`equal_time_bounds` unless given) are
    looked up with searchsorted.
    """
    if bounds is None:
        bounds = equal_time_bounds(span, n_steps)
    return np.searchsorted(bounds, rel, side="right").astype(np.int64)


def window_bins(rel: np.ndarray, span: int, bin_us: int, timesteps: int | None,
                 keep_partial: bool) -> tuple[np.ndarray, int]:
    """Step per event (−1: dropped) of ``--bin-us`` windows and the step count, for times
    ``rel`` relative to the first event of a recording spanning ``span`` us."""
    n_win = span // bin_us + (1 if keep_partial else 0)
    n_steps = n_win if timesteps is None else int(timesteps)
    if timesteps is None:
        _check_steps(n_win, f"--bin-us {bin_us:,} over the recording's {span:,} us")
    keep = min(n_win, n_steps)
    out = np.full(rel.size, -1, np.int64)
    if bin_us > span:  # every event in window 0 (and bin_us may not fit in uint64)
        out[:] = 0 if keep > 0 else -1
        return out, n_steps
    step = rel // np.uint64(bin_us)
    inside = step < np.uint64(keep)
    out[inside] = step[inside]  # < keep <= MAX_STEPS + 1: fits int64
    return out, n_steps


def _origin_bins(t: np.ndarray, origin: int, bin_us: int, timesteps: int) -> np.ndarray:
    """Window step ``(t - origin) // bin_us`` per event, −1 before ``origin`` or past the last step."""
    out = np.full(t.size, -1, np.int64)
    after = np.flatnonzero(t >= origin)
    rel = t[after].astype(np.uint64) - np.uint64(origin % (1 << 64))  # exact, as relative_times
    step = rel // np.uint64(bin_us)
    inside = step < np.uint64(timesteps)
    out[after[inside]] = step[inside]
    return out


def binning_method(timesteps: int | None, bin_us: int | None, method: str | None) -> str:
    """The binning method the options select (``window`` when ``bin_us`` is given, else
    ``time``), after checking them: InputFormatError for an unknown method, a step count below 1
    or above ``MAX_STEPS``, a window without ``bin_us >= 1``, or time/count without timesteps."""
    if method is None:
        method = "window" if bin_us is not None else "time"
    if method not in BIN_METHODS:
        raise InputFormatError(f"binning: unknown method {method!r} (known: {', '.join(BIN_METHODS)})")
    if timesteps is not None and int(timesteps) < 1:
        raise InputFormatError(f"binning: timesteps must be >= 1, got {timesteps}")
    if timesteps is not None:
        _check_steps(int(timesteps))
    if method == "window":
        if bin_us is None or int(bin_us) < 1:
            raise InputFormatError(f"binning: window binning needs bin_us >= 1, got {bin_us}")
    elif timesteps is None:
        raise InputFormatError(f"binning: method {method!r} needs timesteps")
    return method


def time_bins(t: np.ndarray, timesteps: int | None = None, bin_us: int | None = None,
              method: str | None = None, keep_partial: bool = False,
              origin: int | None = None) -> tuple[np.ndarray, int]:
    """Step index per event (−1 = dropped) and the number of steps ``T``.

    ``method`` defaults to ``window`` when ``bin_us`` is given, else ``time``. A step count
    above ``MAX_STEPS`` (asked for, or implied by ``bin_us`` and the time span) is refused
    before anything of that size is allocated. Exact for any int64 timestamps and any
    ``bin_us`` (see :func:`relative_times`). ``origin`` (window binning with ``timesteps``
    only): the windows start there instead of at the first event — one stretch of a longer
    stream whose steps began earlier (``eventsim.events.windows``).
    """
    t = np.asarray(t, dtype=np.int64)
    if origin is not None:
        if ((method or ("window" if bin_us is not None else "time")) != "window" or bin_us is None
                or timesteps is None or int(bin_us) < 1):
            raise InputFormatError("binning: an origin needs window binning with bin_us and timesteps")
        _check_steps(int(timesteps))
        return _origin_bins(t, int(origin), int(bin_us), int(timesteps)), int(timesteps)
    method = binning_method(timesteps, bin_us, method)
    if method == "window":
        assert bin_us is not None  # binning_method requires it for windows
        if t.size == 0:
            return np.zeros(0, np.int64), int(timesteps or 0)
        rel, _, span = relative_times(t)
        return window_bins(rel, span, int(bin_us), timesteps, keep_partial)
    assert timesteps is not None  # binning_method requires it for time and count
    n_steps = int(timesteps)
    if t.size == 0:
        return np.zeros(0, np.int64), n_steps
    if method == "time":
        rel, _, span = relative_times(t)
        return equal_time_bins(rel, span, n_steps), n_steps
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


def check_crop(crop: tuple[int, int, int, int], sensor: tuple[int, int], where: str = "input"
               ) -> tuple[int, int, int, int]:
    """``crop`` as ints; InputFormatError if it is malformed or lies entirely outside the sensor.

    A crop that misses the sensor would silently drop every event.
    """
    x0, y0, cw, ch = (int(v) for v in crop)
    if x0 < 0 or y0 < 0 or cw < 1 or ch < 1:
        raise InputFormatError(f"crop {x0},{y0},{cw},{ch}: origin must be >= 0 and size >= 1")
    w, h = int(sensor[0]), int(sensor[1])
    if x0 >= w or y0 >= h:
        raise InputFormatError(f"{where}: crop {x0},{y0},{cw},{ch} (X0,Y0,W,H) lies entirely outside "
                               f"the {w}x{h} (WxH) sensor; it would drop every event")
    return x0, y0, cw, ch


def spatial_map(x: np.ndarray, y: np.ndarray, sensor: tuple[int, int], out_hw: tuple[int, int],
                crop: tuple[int, int, int, int] | None = None, downscale: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map sensor coordinates onto an ``(H_out, W_out)`` grid -> (x, y, keep mask)."""
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    w_in, h_in = int(sensor[0]), int(sensor[1])
    keep = np.ones(x.size, bool)
    if crop is not None:
        x0, y0, cw, ch = check_crop(crop, sensor)
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


def binning_info(binned: BinnedEvents, polarity: str, bin_us: int | None, method: str | None,
                 keep_partial: bool, crop, downscale) -> dict:
    """The ``input_info`` fields a run reports about its binning: how events became steps and how
    many were not delivered (the same for a whole array and for a streamed recording)."""
    return {"binning": {"method": method or ("window" if bin_us is not None else "time"),
                        "timesteps": binned.timesteps, "bin_us": bin_us,
                        "keep_partial": bool(keep_partial), "polarity": polarity,
                        "crop": None if crop is None else list(crop), "downscale": downscale},
            "dropped_events": binned.dropped, "outside_map_events": binned.outside_map}


def bin_events(events: np.ndarray, sensor: tuple[int, int], shape: tuple[int, int, int],
               polarity: str = "split", timesteps: int | None = None, bin_us: int | None = None,
               method: str | None = None, keep_partial: bool = False,
               crop: tuple[int, int, int, int] | None = None, downscale: str | None = None,
               where: str = "events", origin: int | None = None) -> BinnedEvents:
    """Bin an EVENT_DTYPE array into per-step input spikes for an input of ``shape`` (C,H,W).

    The caller checks that the sensor fits ``shape`` (see ``check_fit``); events outside the
    map after crop/downscale are counted in ``dropped``. A polarity other than 0/1 is refused
    (``where`` names the input in that message).
    """
    c, h, w = (int(s) for s in shape)
    want_c = 2 if polarity == "split" else 1
    if polarity in ("split", "signed") and c != want_c:
        raise InputFormatError(f"polarity {polarity!r} needs {want_c} input channel(s), "
                               f"the model input has shape {tuple(shape)}")
    check_polarity(events["p"], where)
    step, n_steps = time_bins(events["t"], timesteps, bin_us, method, keep_partial, origin)
    chan, sign = polarity_channels(events["p"], polarity)
    x, y, keep = spatial_map(events["x"], events["y"], sensor, (h, w), crop, downscale)
    outside_map = int(keep.size - np.count_nonzero(keep))
    keep &= step >= 0
    order = np.flatnonzero(keep)
    # stable sort by step keeps time order inside a step
    order = order[np.argsort(step[order], kind="stable")]
    index = (chan[order] * h + y[order]) * w + x[order]
    ptr = np.zeros(n_steps + 1, np.int64)
    np.cumsum(np.bincount(step[order], minlength=n_steps)[:n_steps], out=ptr[1:])
    return BinnedEvents(timesteps=n_steps, shape=(c, h, w), ptr=ptr, index=index.astype(np.int64),
                        sign=sign[order], dropped=int(events.size - order.size), outside_map=outside_map)


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
        w_in, h_in = check_crop(crop, sensor, where)[2:]
    c, h, w = shape
    if (w_in > w or h_in > h) and downscale is None:
        what = "cropped sensor" if crop is not None else "sensor"
        raise InputFormatError(f"{where}: {what} {w_in}x{h_in} (WxH) is larger than the model input "
                               f"{w}x{h} (C,H,W = {c},{h},{w}); give --crop or --downscale")
