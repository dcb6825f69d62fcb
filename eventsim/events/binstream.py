"""Binning a recording chunk by chunk: the same :class:`BinnedEvents` as ``bin_events`` on the
whole file, in memory bounded by the chunk size plus the delivered spikes.

``bin_events`` needs every event at once for three things: the time origin and span (``t_min``,
``t_max``), the event count, and, for ``count`` binning, each event's rank in time order. Here
they come from passes over the stream instead:

1. a statistics pass (:class:`EventStats`: count, ``t_min``/``t_max``, whether time ever goes
   backwards, the coordinate extent). A full decode, not file metadata: it is exact for every
   format, and decoding is cheap next to the engine;
2. only for ``count`` binning of a recording whose timestamps go backwards: passes that find the
   ``T - 1`` step boundaries in time order exactly, by refining a histogram of timestamps
   (:func:`_count_boundaries`; a few passes, memory independent of the recording);
3. the binning pass: each chunk's events get their step, polarity channel and spatial map by the
   functions ``bin_events`` uses, and the delivered spikes are kept per chunk; at the end they
   are placed step by step, in file order within a step (what ``bin_events``' stable sort does).

A small recording is decoded once: the first pass keeps its chunks while they total at most
``replay_events`` events and the later passes replay them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..errors import InputFormatError
from .binning import (
    BinnedEvents,
    binning_method,
    equal_time_bins,
    equal_time_bounds,
    polarity_channels,
    relative_to,
    spatial_map,
    window_bins,
)
from .dtype import check_polarity
from .io import DEFAULT_CHUNK, EventStats, stream_events

#: Counters per histogram pass when locating ``count`` boundaries (8 MiB of int64).
_HIST_BUDGET = 1 << 20


class Replay:
    """Iterate a stream of event chunks several times; a short one is decoded only once.

    ``open_stream()`` returns a fresh iterator over the chunks. The first iteration keeps them
    while they total at most ``keep_events`` events; if the whole stream fitted, later
    iterations replay the kept chunks, else they open the stream again.
    """

    def __init__(self, open_stream: Callable[[], Iterable[np.ndarray]], keep_events: int = DEFAULT_CHUNK):
        self._open = open_stream
        self._keep = keep_events
        self._kept: list[np.ndarray] | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._kept is not None:
            yield from self._kept
            return
        kept: list[np.ndarray] | None = []
        have = 0
        for part in self._open():
            if kept is not None:
                have += len(part)
                if have <= self._keep:
                    kept.append(part)
                else:
                    kept = None
            yield part
        self._kept = kept


def stream_stats(chunks: Iterable[np.ndarray], where: str) -> EventStats:
    """One pass: the :class:`EventStats` of the stream; polarity checked (0/1) on the way."""
    stats = EventStats()
    for part in chunks:
        check_polarity(part["p"], where, stats.events)
        stats.add(part)
    return stats


# ---------------------------------------------------------------------------------------------
# step of each event, chunk by chunk


class _Steps:
    """Step per event of a chunk (−1: dropped), given the events before it (``first``)."""

    def __init__(self, stats: EventStats, chunks: Iterable[np.ndarray], method: str,
                 timesteps: int | None, bin_us: int | None, keep_partial: bool):
        self.method = method
        self.n = stats.events
        self.t0 = stats.origin
        self.span = stats.duration_us
        self.bin_us = 0 if bin_us is None else int(bin_us)  # window binning always has one
        self.keep_partial = keep_partial
        self.timesteps = timesteps
        if method == "window":
            self.n_steps = int(timesteps or 0)
            if self.n:  # the step count (and its MAX_STEPS check) from the whole span, as bin_events
                self.n_steps = window_bins(np.zeros(0, np.uint64), self.span, self.bin_us, timesteps,
                                            keep_partial)[1]
        else:
            assert timesteps is not None  # binning_method requires it for time and count
            self.n_steps = int(timesteps)
        if method == "time":
            self.bounds = equal_time_bounds(self.span, self.n_steps)
        self.keys = None
        if method == "count" and self.n and stats.out_of_order:
            self.keys = _count_boundaries(chunks, stats, self.n_steps)

    def __call__(self, t: np.ndarray, first: int) -> np.ndarray:
        if self.method == "window":
            return window_bins(relative_to(t, self.t0), self.span, self.bin_us, self.timesteps,
                                self.keep_partial)[0]
        if self.method == "time":
            return equal_time_bins(relative_to(t, self.t0), self.span, self.n_steps, self.bounds)
        if self.keys is None:  # time never goes back: the rank in time order is the file index
            return np.arange(first, first + t.size, dtype=np.int64) * self.n_steps // self.n
        return self.keys.steps(t)


class _RankKeys:
    """``count`` steps of a stream whose time goes backwards, from its step boundaries.

    The event of rank ``r`` in time order (ties in file order: ``bin_events``' stable sort) has
    step ``floor(r·T/N)``, so it reaches step ``k`` when ``r >= ceil(k·N/T)``. The event at that
    boundary rank has time ``v_k`` and is the ``m_k``-th (from 0) event of time ``v_k`` in file
    order, so an event (time ``t``, ``o``-th of its time) has step
    ``#{k: v_k < t} + #{k: v_k = t, m_k <= o}``.
    """

    def __init__(self, values: np.ndarray, ordinals: np.ndarray):
        order = np.lexsort((ordinals, values))
        self.values = values[order]  # v_k, sorted
        self.distinct = np.unique(self.values)
        self.seen = np.zeros(self.distinct.size, np.int64)  # events of each boundary time so far
        self.stride = int(ordinals.max(initial=0)) + 2
        # (index of v_k among the distinct times, m_k) as one sortable integer
        self.codes = np.searchsorted(self.distinct, self.values) * self.stride + ordinals[order]

    def steps(self, t: np.ndarray) -> np.ndarray:
        step = np.searchsorted(self.values, t, side="left").astype(np.int64)
        tie = np.flatnonzero(np.isin(t, self.distinct))
        if tie.size:
            uid = np.searchsorted(self.distinct, t[tie])
            order = np.argsort(uid, kind="stable")  # file order within each time
            counts = np.bincount(uid, minlength=self.distinct.size)
            first = np.cumsum(counts) - counts
            ordinal = np.empty(tie.size, np.int64)
            ordinal[order] = np.arange(tie.size) - first[uid[order]]
            ordinal += self.seen[uid]
            self.seen += counts
            # ordinals beyond the largest m_k all count the same: clip so the code cannot overflow
            code = uid * self.stride + np.minimum(ordinal, self.stride - 1)
            step[tie] += (np.searchsorted(self.codes, code, side="right")
                          - np.searchsorted(self.codes, uid * self.stride, side="left"))
        return step


def _count_boundaries(chunks: Iterable[np.ndarray], stats: EventStats, n_steps: int) -> _RankKeys:
    """The boundary keys ``(v_k, m_k)`` of :class:`_RankKeys`, found in passes over ``chunks``.

    Each unresolved boundary rank lies in an interval of times whose lower end and the number
    of events below it are known; a pass histograms the events of every such interval and
    narrows each to the bucket holding its rank, until the interval is a single time.
    """
    n = stats.events
    ranks = [-(-k * n // n_steps) for k in range(1, n_steps)]
    ranks = [r for r in ranks if r < n]  # rank n does not exist: those steps stay empty
    todo = sorted(set(ranks))
    lo = dict.fromkeys(todo, 0)  # interval start (time - t_min)
    width = dict.fromkeys(todo, stats.duration_us + 1)
    below = dict.fromkeys(todo, 0)  # events before the interval
    while any(width[r] > 1 for r in todo):
        groups = sorted({(lo[r], width[r]) for r in todo if width[r] > 1})
        buckets = max(2, _HIST_BUDGET // len(groups))
        sizes = [-(-w // buckets) for _, w in groups]
        counts = _histogram(chunks, stats.origin, groups, sizes, buckets)
        for r in todo:
            if width[r] == 1:
                continue
            g = groups.index((lo[r], width[r]))
            cum = np.cumsum(counts[g])
            b = int(np.searchsorted(cum, r - below[r], side="right"))
            below[r] += int(cum[b - 1]) if b else 0
            lo[r] += b * sizes[g]
            width[r] = min(sizes[g], width[r] - b * sizes[g])
    values = np.array([stats.origin + lo[r] for r in ranks], np.int64)
    ordinals = np.array([r - below[r] for r in ranks], np.int64)
    return _RankKeys(values, ordinals)


def _histogram(chunks: Iterable[np.ndarray], t_min: int, groups: list[tuple[int, int]],
               sizes: list[int], buckets: int) -> np.ndarray:
    """Events per bucket ``(groups, buckets)``: group g covers times ``t_min + [lo, lo + width)``
    in buckets of ``sizes[g]``."""
    starts = np.array([g[0] for g in groups], np.uint64)
    last = np.array([g[1] - 1 for g in groups], np.uint64)  # width - 1: fits even for 2^64
    size = np.array(sizes, np.uint64)
    counts = np.zeros(len(groups) * buckets, np.int64)
    for part in chunks:
        rel = relative_to(part["t"], t_min)
        g = np.searchsorted(starts, rel, side="right").astype(np.int64) - 1
        g[g < 0] = 0
        d = rel - starts[g]
        inside = (rel >= starts[g]) & (d <= last[g])
        b = (d[inside] // size[g[inside]]).astype(np.int64)
        counts += np.bincount(g[inside] * buckets + b, minlength=counts.size)
    return counts.reshape(len(groups), buckets)


# ---------------------------------------------------------------------------------------------
# the binning pass


def bin_stream(chunks: Iterable[np.ndarray], stats: EventStats, sensor: tuple[int, int],
               shape: tuple[int, int, int], polarity: str = "split", timesteps: int | None = None,
               bin_us: int | None = None, method: str | None = None, keep_partial: bool = False,
               crop: tuple[int, int, int, int] | None = None, downscale: str | None = None,
               where: str = "events") -> BinnedEvents:
    """``bin_events`` over a re-iterable stream of chunks (see :class:`Replay`) whose
    :class:`EventStats` are ``stats`` (from :func:`stream_stats` on the same stream).

    The result is identical to ``bin_events`` on the concatenated chunks, whatever the chunking.
    """
    c, h, w = (int(s) for s in shape)
    want_c = 2 if polarity == "split" else 1
    if polarity in ("split", "signed") and c != want_c:
        raise InputFormatError(f"polarity {polarity!r} needs {want_c} input channel(s), "
                               f"the model input has shape {tuple(shape)}")
    method = binning_method(timesteps, bin_us, method)
    polarity_channels(np.zeros(0, np.uint8), polarity)  # an unknown polarity fails before a pass
    spatial_map(np.zeros(0), np.zeros(0), sensor, (h, w), crop, downscale)  # so do crop/downscale
    steps = _Steps(stats, chunks, method, timesteps, bin_us, keep_partial)
    try:
        return _bin_pass(chunks, stats, steps, sensor, (c, h, w), polarity, crop, downscale, where)
    except MemoryError:
        # what is held is the delivered spikes, whatever the recording's length: say how to bin fewer
        raise InputFormatError(f"{where}: the input spikes of its {stats.events:,} events do not fit in "
                               "memory (13 bytes each while binning); deliver fewer (--crop, --downscale "
                               "nearest, or --bin-us with --timesteps)") from None


def _bin_pass(chunks: Iterable[np.ndarray], stats: EventStats, steps: _Steps, sensor: tuple[int, int],
              shape: tuple[int, int, int], polarity: str, crop, downscale, where: str) -> BinnedEvents:
    """The binning pass of :func:`bin_stream` (its options already checked)."""
    c, h, w = shape
    n_steps = steps.n_steps
    parts = []  # per chunk: (step, input neuron, sign) of its delivered spikes
    per_step = np.zeros(n_steps, np.int64)
    first = outside_map = 0
    for part in chunks:
        check_polarity(part["p"], where, first)
        step = steps(part["t"], first)
        first += part.size
        chan, sign = polarity_channels(part["p"], polarity)
        x, y, keep = spatial_map(part["x"], part["y"], sensor, (h, w), crop, downscale)
        outside_map += int(keep.size - np.count_nonzero(keep))
        keep &= step >= 0
        idx = np.flatnonzero(keep)
        parts.append(((step[idx]).astype(np.int32 if n_steps < 2**31 else np.int64),
                      (chan[idx] * h + y[idx]) * w + x[idx], sign[idx]))
        per_step += np.bincount(parts[-1][0], minlength=n_steps)[:n_steps]
    if first != stats.events:
        raise InputFormatError(f"{where}: the recording changed while it was read "
                               f"({stats.events:,} then {first:,} events)")
    ptr = np.zeros(n_steps + 1, np.int64)
    np.cumsum(per_step, out=ptr[1:])
    index, sign = _place(parts, ptr)
    return BinnedEvents(timesteps=n_steps, shape=(c, h, w), ptr=ptr, index=index, sign=sign,
                        dropped=int(stats.events - index.size), outside_map=outside_map)


def _place(parts: list, ptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spikes of every chunk at their step's place, in chunk (= file) order within a step."""
    total = int(ptr[-1])
    index = np.empty(total, np.int64)
    sign = np.empty(total, np.int8)
    cursor = ptr[:-1].copy()
    n_steps = cursor.size
    while parts:
        step, idx, sgn = parts.pop(0)  # dropped as soon as placed
        order = np.argsort(step, kind="stable")
        step = step[order]
        counts = np.bincount(step, minlength=n_steps)[:n_steps]
        start = np.cumsum(counts) - counts
        dest = cursor[step] + (np.arange(step.size) - start[step])
        index[dest] = idx[order]
        sign[dest] = sgn[order]
        cursor += counts
    return index, sign


# ---------------------------------------------------------------------------------------------
# counts per pixel (pictures of a recording)

#: counters of :func:`frame_counts` (bins x 2 x H x W); a larger sensor is counted in k x k blocks
MAX_FRAME_CELLS = 1 << 22


def frame_block(sensor: tuple[int, int], bins: int) -> int:
    """Side k (a power of two) of the pixel blocks one counter of :func:`frame_counts` covers, so
    that the counters fit :data:`MAX_FRAME_CELLS` (a file can declare a 65535 x 65535 sensor: 64 GiB
    of counters at one per pixel)."""
    w, h = sensor
    k = 1
    while bins * 2 * (-(-h // k)) * (-(-w // k)) > MAX_FRAME_CELLS:
        k *= 2
    return k


def frame_counts(chunks: Iterable[np.ndarray], stats: EventStats, sensor: tuple[int, int], bins: int,
                 block: int = 1, where: str = "events") -> np.ndarray:
    """OFF/ON event counts per pixel in ``bins`` steps of the ``time`` binning (equal time split,
    as :func:`bin_stream`): int64 ``(bins, 2, ceil(H/block), ceil(W/block))``, channel 0 OFF.

    One pass over ``chunks``, whose :class:`EventStats` are ``stats``; memory is the counters.
    Events outside the ``sensor`` (W, H) are not counted; a counter sums a ``block`` x ``block``
    square of pixels (see :func:`frame_block`).
    """
    w0, h0 = int(sensor[0]), int(sensor[1])
    w, h = -(-w0 // block), -(-h0 // block)
    counts = np.zeros(bins * 2 * h * w, dtype=np.int64)
    steps = _Steps(stats, chunks, "time", bins, None, False)
    first = 0
    for part in chunks:
        check_polarity(part["p"], where, first)
        step = steps(part["t"], first)
        first += part.size
        chan, _ = polarity_channels(part["p"], "split")
        x, y = part["x"].astype(np.int64), part["y"].astype(np.int64)
        ok = np.flatnonzero((x < w0) & (y < h0))
        idx = ((step[ok] * 2 + chan[ok]) * h + y[ok] // block) * w + x[ok] // block
        counts += np.bincount(idx, minlength=counts.size)
    return counts.reshape(bins, 2, h, w)


def bin_file(path: str, sensor: tuple[int, int], shape: tuple[int, int, int], *,
             stats: EventStats | None = None, chunk: int = DEFAULT_CHUNK, fmt: str | None = None,
             **options) -> BinnedEvents:
    """:func:`bin_stream` over the events of the file at ``path`` (``options``: those of
    ``bin_events``); ``stats`` from an earlier :func:`stream_stats` pass saves one."""
    chunks = Replay(lambda: stream_events(path, chunk=chunk, fmt=fmt), keep_events=chunk)
    if stats is None:
        stats = stream_stats(chunks, path)
    return bin_stream(chunks, stats, sensor, shape, where=path, **options)
