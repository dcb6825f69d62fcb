"""The public I/O API: detection, atomic writing, statistics, and a seeded fuzz loop over
truncated / bit-flipped files (valid events or InputFormatError, never a crash or a hang)."""

from __future__ import annotations

import signal
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.errors import InputFormatError
from eventsim.events import detect_format, read_events, stream_events, write_events
from eventsim.events.dtype import EVENT_DTYPE, make_events
from eventsim.events.io import EventStats, scan_events, writable_extensions, write_events_stream


def small_events(n=50, seed=0, sensor=(32, 24)):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, 10**6, n)), rng.integers(0, sensor[0], n),
                       rng.integers(0, sensor[1], n), rng.integers(0, 2, n))


def test_detects_every_fixture(shared_data):
    for folder in ("aedat2", "aedat4"):
        files = sorted(p for p in (shared_data / folder).iterdir() if p.suffix in (".aedat", ".aedat4"))
        assert files
        for p in files:
            assert detect_format(p) == folder


def test_empty_and_unknown_files(tmp_path):
    (tmp_path / "e.aedat").write_bytes(b"")
    with pytest.raises(InputFormatError, match="empty file"):
        detect_format(tmp_path / "e.aedat")
    (tmp_path / "u.bin2").write_bytes(b"hello world" * 10)
    with pytest.raises(InputFormatError, match=r"u\.bin2: unknown event file format.*aedat2"):
        read_events(tmp_path / "u.bin2")


def test_top_level_api():
    assert eventsim.read_events is read_events and eventsim.stream_events is stream_events
    assert {".npz", ".h5", ".aedat4"} <= set(writable_extensions())


def test_write_rejects_bad_requests(tmp_path):
    ev = small_events()
    with pytest.raises(InputFormatError, match="cannot write"):
        write_events(tmp_path / "a.csv", ev, (32, 24))
    with pytest.raises(InputFormatError, match="sensor size"):
        write_events(tmp_path / "a.npz", ev, None)
    with pytest.raises(InputFormatError, match="fields t, x, y, p"):
        write_events(tmp_path / "a.npz", np.zeros(3), (32, 24))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        next(stream_events(__file__, chunk=0))


def test_failed_write_keeps_the_old_file(tmp_path):
    out = tmp_path / "keep.aedat3"
    write_events(out, small_events(), (32, 24))
    before = out.read_bytes()
    bad = make_events([-5], [0], [0], [1])  # AEDAT 3.1 cannot store t < 0
    with pytest.raises(InputFormatError):
        write_events(out, bad, (32, 24))
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.aedat3"]


@pytest.mark.parametrize("ext", [".npz", ".h5", ".aedat4", ".aedat3"])
def test_write_stream_every_writer(tmp_path, ext):
    ev = small_events(1000, 3)
    n = write_events_stream(tmp_path / f"s{ext}", (ev[i:i + 77] for i in range(0, 1000, 77)), (32, 24))
    back, sensor = read_events(tmp_path / f"s{ext}")
    assert n == 1000 and sensor == (32, 24) and np.array_equal(back, ev)


def test_write_accepts_compatible_structured_arrays(tmp_path):
    other = np.zeros(3, dtype=[("t", "<i4"), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
    other["t"] = [1, 2, 3]
    write_events(tmp_path / "c.npz", other, (4, 4))
    back, _ = read_events(tmp_path / "c.npz")
    assert back.dtype == EVENT_DTYPE and back["t"].tolist() == [1, 2, 3]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-50, 50), max_size=60), st.integers(1, 10))
def test_stats_match_naive(ts, chunk):
    ev = make_events(ts, np.arange(len(ts)) % 5, np.arange(len(ts)) % 3, np.arange(len(ts)) % 2)
    stats = EventStats()
    for i in range(0, len(ev), chunk):
        stats.add(ev[i:i + chunk])
    assert stats.events == len(ts)
    assert stats.on == int(np.sum(np.arange(len(ts)) % 2))
    assert stats.out_of_order == sum(1 for a, b in zip(ts, ts[1:]) if b < a)
    if ts:
        assert (stats.t_first, stats.t_last, stats.t_min, stats.t_max) == (ts[0], ts[-1], min(ts), max(ts))
        assert stats.duration_us == max(ts) - min(ts)
    else:
        assert stats.t_first is None and stats.duration_us == 0 and stats.rate_hz == 0.0


def test_scan_events_counts_fixture(shared_data):
    seen = []
    stats = scan_events(shared_data / "aedat2" / "alex_walking_again.aedat", chunk=5000, progress=seen.append)
    # 19,182 events, ON = raw bit0 == 0 events = ground truth p0 (7,102): see test_aedat2
    assert stats.events == 19182 == sum(seen) and stats.on == 7102 and stats.out_of_order == 0


# ------------------------------------------------------------------------------------------
# fuzzing: truncated and corrupted files


@contextmanager
def time_limit(seconds):
    def boom(signum, frame):
        raise TimeoutError("reader hung")

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _read_or_format_error(path):
    """Read the whole file; only valid events or an InputFormatError are acceptable."""
    with time_limit(20), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ev, _ = read_events(path)
        except InputFormatError as exc:
            assert str(path) in str(exc)  # the message names the file
            return None
    assert ev.dtype == EVENT_DTYPE
    return ev


def _fuzz_sources(shared_data, tmp_path):
    sources = {}
    if shared_data is not None:
        for rel in ("aedat2/alex_walking_again.aedat", "aedat2/TranslatingSquare.aedat",
                    "aedat2/sample_aedat_header.aedat", "aedat4/dvSave-2024_06_13_16_16_25.aedat4",
                    "aedat4/event-vision-library_sample.aedat4"):
            sources[rel] = (shared_data / rel).read_bytes()
    ev = small_events(3000, 7, sensor=(64, 48))
    for ext, meta in ((".aedat3", {}), (".npz", {}), (".aedat4", {"compression": "zstd"})):
        p = tmp_path / f"src{ext}"
        write_events(p, ev, (64, 48), **meta)
        sources[p.name] = p.read_bytes()
    return sources


@pytest.fixture
def maybe_shared():
    from tests.conftest import SHARED_DATA

    return SHARED_DATA if SHARED_DATA.is_dir() else None


def test_fuzz_truncation_and_byte_flips(maybe_shared, tmp_path):
    rng = np.random.default_rng(20240613)
    sources = _fuzz_sources(maybe_shared, tmp_path)
    cases = 0
    for name, data in sources.items():
        suffix = "." + name.rsplit(".", 1)[-1]
        target = tmp_path / f"fuzz{suffix}"
        for k in range(50):
            if k < 20:  # truncate at a random offset (more often inside the header)
                limit = len(data) if k % 2 else min(len(data), 4096)
                blob = data[: int(rng.integers(1, limit))]
            else:  # flip 1..8 random bytes, half of the time inside the first 4 KiB
                buf = bytearray(data)
                limit = len(buf) if k % 2 else min(len(buf), 4096)
                for pos in rng.integers(0, limit, int(rng.integers(1, 9))):
                    buf[pos] ^= int(rng.integers(1, 256))
                blob = bytes(buf)
            target.write_bytes(blob)
            try:
                _read_or_format_error(target)
            except Exception as exc:  # report which case broke, then fail
                raise AssertionError(f"{name} case {k}: {type(exc).__name__}: {exc}") from exc
            cases += 1
    assert cases >= 150


def test_truncated_h5(tmp_path):
    p = tmp_path / "t.h5"
    write_events(p, small_events(2000, 1), (32, 24))
    data = p.read_bytes()
    for cut in (8, 100, 1000, len(data) // 2, len(data) - 10):
        p.write_bytes(data[:cut])
        _read_or_format_error(p)


HEADERS = {
    "a.aedat": b"#!AER-DAT2.0\r\n# AEChip: eu.seebetter.ini.chips.davis.DAVIS240C\r\n",
    "b.aedat": b"#!AER-DAT2.0\n",
    "c.aedat": b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n",
    "d.aedat4": b"#!AER-DAT4.0\r\n",
}


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(HEADERS)), payload=st.binary(max_size=400))
def test_fuzz_random_payload_after_magic(tmp_path_factory, name, payload):
    """Any bytes after a valid magic/header: events or InputFormatError, nothing else."""
    path = tmp_path_factory.mktemp("fz") / name
    path.write_bytes(HEADERS[name] + payload)
    _read_or_format_error(path)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=12), st.integers(1, 50))
def test_rechunk(sizes, chunk):
    from eventsim.events.formats._chunks import rechunk

    parts = [np.arange(sum(sizes[:i]), sum(sizes[:i + 1])) for i in range(len(sizes))]
    out = list(rechunk(parts, chunk))
    total = sum(sizes)
    assert [len(o) for o in out] == [chunk] * (total // chunk) + ([total % chunk] if total % chunk else [])
    assert np.array_equal(np.concatenate(out) if out else np.arange(0), np.arange(total))
