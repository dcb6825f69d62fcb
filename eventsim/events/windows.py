"""Cutting a chunked event stream into time windows or blocks of steps, in bounded memory.

A long recording (or a live stream) arrives as chunks of events in file order
(:func:`~eventsim.events.io.stream_events`, :mod:`eventsim.events.streams`). Two ways to cut it,
both with ``t0`` = the first event's time:

- **windows** (:func:`iter_windows`): window ``k`` is ``[t0 + k·H, t0 + k·H + W)`` (``W`` the
  window, ``H`` the hop, ``H = W`` by default). A window is *full* once the stream has reached its
  end (an event at ``t >= t0 + k·H + W`` has been seen), the rule of ``--bin-us`` windows
  (``binning.py``): every full window is yielded, empty ones too; ``keep_partial`` adds the first
  window that is not full when the stream ends, if it starts at or before the last event (it holds
  every event after the full windows). ``H > W`` leaves gaps whose events belong to no window;
  callers must ask for it (``allow_gaps``).
- **steps** (:func:`iter_step_blocks`): step ``k`` is ``[t0 + k·B, t0 + (k+1)·B)``; complete
  steps are handed out as soon as the stream passes their end, in blocks of at most
  ``max_steps`` consecutive steps, for a network state that is carried from block to block.

Events are kept from the start of the oldest window (step) not yet handed out: memory is bounded
by the window (and one chunk), not by the recording. A window (step) is closed when the stream
passes its end, so an event that arrives later with a time inside a closed window is *late*: it
is dropped and counted in :class:`StreamStats` (a recording in time order has none).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .dtype import EVENT_DTYPE

_EMPTY = np.empty(0, dtype=EVENT_DTYPE)


def check_window_options(window_us: int, hop_us: int | None = None, allow_gaps: bool = False
                         ) -> tuple[int, int]:
    """``(W, H)`` checked: both positive, and ``H <= W`` unless gaps are allowed."""
    w = int(window_us)
    h = w if hop_us is None else int(hop_us)
    if w < 1:
        raise ConfigError(f"--window-us must be a positive number of microseconds, got {w}")
    if h < 1:
        raise ConfigError(f"--hop-us must be a positive number of microseconds, got {h}")
    if h > w and not allow_gaps:
        raise ConfigError(f"--hop-us {h} is longer than --window-us {w}: the events between windows "
                          "would be skipped; give --allow-gaps if that is meant")
    return w, h


@dataclass
class StreamStats:
    """What the cutting saw of the stream (updated while it runs)."""

    events: int = 0  # events read
    late: int = 0  # events dropped: their window (step) was already closed
    t_first: int | None = None  # time of the first event (t0)
    t_last: int | None = None  # largest time seen
    outside_map: int = 0  # events the crop / downscale dropped (counted by whoever bins them)

    def add(self, chunk: np.ndarray) -> None:
        self.events += len(chunk)
        if self.t_first is None:
            self.t_first = int(chunk["t"][0])
        top = int(chunk["t"].max())
        self.t_last = top if self.t_last is None else max(self.t_last, top)


@dataclass
class Window:
    """One window of a stream: its events (file order) with ``t_start <= t < t_end``."""

    index: int  # k
    t_start: int  # t0 + k·H (µs, file time)
    t_end: int  # t_start + W (exclusive)
    events: np.ndarray  # EVENT_DTYPE
    partial: bool = False  # the stream ended before t_end (kept with keep_partial)


@dataclass
class StepBlock:
    """Consecutive complete steps ``first .. first + steps - 1`` of a stream and their events."""

    first: int  # index of the first step (0 = the step starting at the first event)
    steps: int  # number of steps
    origin: int  # t_start of the block's first step (µs, file time)
    bin_us: int  # B
    events: np.ndarray  # EVENT_DTYPE, file order, origin <= t < origin + steps·B

    def t_start(self, k: int) -> int:
        """Start time of step ``first + k``."""
        return self.origin + k * self.bin_us


class _Pending:
    """Events not yet handed out, in file order; slices by time (binary search while sorted)."""

    def __init__(self) -> None:
        self.events = _EMPTY
        self.ordered = True  # times non-decreasing: slices by searchsorted

    def add(self, chunk: np.ndarray) -> None:
        if not len(chunk):
            return
        t = chunk["t"]
        if self.ordered and (np.any(t[1:] < t[:-1]) or (len(self.events) and t[0] < self.events["t"][-1])):
            self.ordered = False
        self.events = np.concatenate([self.events, chunk]) if len(self.events) else chunk

    def between(self, lo: int, hi: int) -> np.ndarray:
        t = self.events["t"]
        if self.ordered:
            a, b = np.searchsorted(t, [lo, hi], side="left")
            return self.events[a:b]
        return self.events[(t >= lo) & (t < hi)]

    def drop_before(self, lo: int) -> None:
        t = self.events["t"]
        if self.ordered:
            a = int(np.searchsorted(t, lo, side="left"))
            if a:
                self.events = self.events[a:].copy() if 2 * a > len(t) else self.events[a:]
        elif len(t) and t.min() < lo:
            self.events = self.events[t >= lo]


def _late(t: np.ndarray, closed_before: int, t0: int, window: int, hop: int) -> int:
    """Events of ``t`` before ``closed_before`` that lay in a window (a gap's events are not late)."""
    old = t[t < closed_before]
    if not old.size:
        return 0
    before_t0 = old < t0
    rel = old[~before_t0].astype(np.uint64) - np.uint64(t0 % (1 << 64))
    return int(before_t0.sum() + np.count_nonzero(rel % np.uint64(hop) < np.uint64(window)))


def _intake(chunk: np.ndarray, stats: StreamStats, pending: _Pending, index: int, width: int,
            hop: int) -> tuple[int, int, int]:
    """Take a non-empty ``chunk`` of a stream cut into pieces ``[t0 + k·hop, t0 + k·hop + width)``
    of which ``index`` is the oldest still open: count it (late events too), keep its events from
    that piece's start on (all of them before the first piece), and return ``(t0, last, start)``."""
    stats.add(chunk)
    t0, last = stats.t_first, stats.t_last
    assert t0 is not None and last is not None  # set by a chunk with events
    start = t0 + index * hop
    stats.late += _late(chunk["t"], start, t0, width, hop)
    pending.add(chunk[chunk["t"] >= start] if index else chunk)
    return t0, last, start


def iter_windows(chunks: Iterable[np.ndarray], window_us: int, hop_us: int | None = None, *,
                 keep_partial: bool = False, allow_gaps: bool = False,
                 stats: StreamStats | None = None) -> Iterator[Window]:
    """The windows of the stream ``chunks`` (see the module docstring), as soon as each is full."""
    w, h = check_window_options(window_us, hop_us, allow_gaps)
    stats = stats if stats is not None else StreamStats()
    pending = _Pending()
    k = 0
    for chunk in chunks:
        if not len(chunk):
            continue
        t0, last, start = _intake(chunk, stats, pending, k, w, h)
        while start + w <= last:
            yield Window(k, start, start + w, pending.between(start, start + w))
            k += 1
            start = t0 + k * h
            pending.drop_before(start)
    if keep_partial and stats.t_first is not None and stats.t_last is not None:
        start = stats.t_first + k * h
        if start <= stats.t_last:
            yield Window(k, start, start + w, pending.between(start, start + w), partial=True)


def iter_step_blocks(chunks: Iterable[np.ndarray], bin_us: int, *, keep_partial: bool = False,
                     max_steps: int = 64, stats: StreamStats | None = None) -> Iterator[StepBlock]:
    """The complete steps of ``bin_us`` of the stream ``chunks``, in blocks of at most ``max_steps``.

    With ``keep_partial`` the step holding the last event, incomplete, ends the stream (the
    ``floor(D/B) + 1`` steps of ``--bin-us B --keep-partial``).
    """
    b = int(bin_us)
    if b < 1:
        raise ConfigError(f"--bin-us must be a positive number of microseconds, got {b}")
    stats = stats if stats is not None else StreamStats()
    pending = _Pending()
    done = 0  # steps handed out
    for chunk in chunks:
        if not len(chunk):
            continue
        t0, last, start = _intake(chunk, stats, pending, done, b, b)
        complete = (last - t0) // b
        while done < complete:
            n = min(max_steps, complete - done)
            start = t0 + done * b
            yield StepBlock(done, n, start, b, pending.between(start, start + n * b))
            done += n
            pending.drop_before(t0 + done * b)
    if keep_partial and stats.t_first is not None:
        start = stats.t_first + done * b
        yield StepBlock(done, 1, start, b, pending.between(start, start + b))
