"""Windows and step blocks over a chunked stream, against a naive cut of the whole array."""

import numpy as np
import pytest

from eventsim.errors import ConfigError
from eventsim.events.dtype import make_events
from eventsim.events.windows import StreamStats, check_window_options, iter_step_blocks, iter_windows


def _stream(seed: int, n: int = 3000, span: int = 200_000):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(1_000_000, 1_000_000 + span, n))
    t[n // 3: n // 2] = t[n // 3]  # a burst of simultaneous events
    t[n // 2:] += 50_000  # and a gap
    return make_events(t, rng.integers(0, 30, n), rng.integers(0, 20, n), rng.integers(0, 2, n))


def _chunks(ev, seed: int):
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, len(ev)), size=min(25, len(ev) - 1), replace=False))
    return [c for c in np.split(ev, cuts)]


def _naive_windows(ev, w, h, keep_partial):
    t0, tmax = int(ev["t"][0]), int(ev["t"].max())
    out, k = [], 0
    while t0 + k * h + w <= tmax:
        s = t0 + k * h
        out.append((s, s + w, ev[(ev["t"] >= s) & (ev["t"] < s + w)], False))
        k += 1
    if keep_partial and t0 + k * h <= tmax:
        s = t0 + k * h
        out.append((s, s + w, ev[(ev["t"] >= s) & (ev["t"] < s + w)], True))
    return out


@pytest.mark.parametrize("w,h", [(10_000, 10_000), (25_000, 5_000), (7_000, 3_001), (5_000, 12_000),
                                 (1_000_000, 1_000)])
@pytest.mark.parametrize("keep_partial", [False, True])
def test_windows_equal_a_naive_cut_whatever_the_chunks(w, h, keep_partial):
    ev = _stream(w + h)
    want = _naive_windows(ev, w, h, keep_partial)
    for seed in range(3):
        stats = StreamStats()
        got = list(iter_windows(_chunks(ev, seed), w, h, keep_partial=keep_partial, allow_gaps=True,
                                stats=stats))
        assert [(g.t_start, g.t_end, g.partial) for g in got] == [x[:2] + x[3:] for x in want]
        for g, x in zip(got, want):
            assert np.array_equal(g.events, x[2])
        assert [g.index for g in got] == list(range(len(got)))
        assert stats.events == len(ev) and stats.late == 0
        assert stats.t_first == ev["t"][0] and stats.t_last == ev["t"].max()


def test_a_window_ending_on_the_last_event_is_full_and_half_open():
    ev = make_events([0, 5, 10], [0, 0, 0], [0, 0, 0], [1, 1, 1])
    got = list(iter_windows([ev], 10))
    assert [(g.t_start, g.t_end, len(g.events)) for g in got] == [(0, 10, 2)]
    got = list(iter_windows([ev], 10, keep_partial=True))
    assert [(g.t_start, len(g.events), g.partial) for g in got] == [(0, 2, False), (10, 1, True)]


def test_late_events_are_counted_not_placed():
    ev = make_events([0, 30, 5, 40, 41], [0] * 5, [0] * 5, [1] * 5)
    stats = StreamStats()
    got = list(iter_windows([ev[:2], ev[2:]], 10, stats=stats))
    assert stats.late == 1  # t=5 arrives after window [0, 10) was closed by t=30
    assert [len(g.events) for g in got] == [1, 0, 0, 1]


def test_options_are_checked():
    for w, h, gaps in [(0, None, False), (-5, None, False), (10, 0, False), (10, -1, False), (10, 11, False)]:
        with pytest.raises(ConfigError):
            check_window_options(w, h, gaps)
    assert check_window_options(10, 11, True) == (10, 11)
    assert check_window_options(10) == (10, 10)


@pytest.mark.parametrize("b", [1_000, 3_333, 40_000])
@pytest.mark.parametrize("keep_partial", [False, True])
def test_step_blocks_cover_every_step_in_order(b, keep_partial):
    ev = _stream(b)
    t0, d = int(ev["t"][0]), int(ev["t"].max() - ev["t"][0])
    n_steps = d // b + (1 if keep_partial else 0)
    for seed in range(2):
        blocks = list(iter_step_blocks(_chunks(ev, seed), b, keep_partial=keep_partial, max_steps=7))
        assert all(1 <= blk.steps <= 7 for blk in blocks)
        assert [blk.first for blk in blocks] == list(np.cumsum([0] + [blk.steps for blk in blocks[:-1]]))
        assert sum(blk.steps for blk in blocks) == n_steps
        for blk in blocks:
            lo, hi = t0 + blk.first * b, t0 + (blk.first + blk.steps) * b
            assert blk.origin == lo
            assert np.array_equal(blk.events, ev[(ev["t"] >= lo) & (ev["t"] < hi)])
