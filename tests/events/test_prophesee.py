"""Prophesee EVT 2.0 / EVT 3.0 ``.raw`` and ``.dat`` readers.

- the real fixtures in shared/data/prophesee reproduce GROUND_TRUTH.json (third-party readers);
- streaming with odd chunk and block sizes gives the same events as one read (decoder state
  crosses block boundaries);
- round trips through small test-only encoders written from the format specification
  (vectorised EVT 3.0 words, 24-bit and 34-bit time wrap-around);
- truncated and byte-flipped fixtures give events or InputFormatError, nothing else.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsim.errors import InputFormatError
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.formats import prophesee_dat, prophesee_raw
from eventsim.events.io import detect_format, read_events, read_info, stream_events
from tests.events.truth import check_ground_truth

FIXTURES = {
    # file -> (detected module, metadata encoding, sensor, reader whose numbers we must match)
    "faery_evt2.raw": ("prophesee_raw", "evt2", (640, 480), "evlib 0.13.2"),
    # EVT 3.0: the readers disagree on timestamps (SOURCES.md). evlib's plain
    # (TIME_HIGH << 12 | TIME_LOW) decode is the specification's; expelliarmus adds 4096 us on
    # every TIME_LOW decrease and ends past the last TIME_HIGH, faery clamps time to be
    # non-decreasing. See the docstring of eventsim/events/formats/prophesee_raw.py.
    "expelliarmus_evt3_sample.raw": ("prophesee_raw", "evt3", (1280, 720), "evlib 0.13.2"),
    "tonic_sample_ncars.dat": ("prophesee_dat", None, None, "expelliarmus 1.1.12"),
}


@pytest.fixture(scope="module")
def prophesee_dir(shared_data):
    return shared_data / "prophesee"


@pytest.fixture(scope="module")
def ground_truth(prophesee_dir):
    return json.loads((prophesee_dir / "GROUND_TRUTH.json").read_text())


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_matches_ground_truth(prophesee_dir, ground_truth, name):
    module, encoding, sensor, reader = FIXTURES[name]
    path = prophesee_dir / name
    assert detect_format(path) == module
    info = read_info(path)
    assert info.format == module
    assert info.metadata.get("encoding") == encoding
    assert info.sensor == sensor
    ev, sensor_read = read_events(path)
    assert sensor_read == sensor
    check_ground_truth(ev, ground_truth[name][reader])


def test_evt3_times_stay_within_time_high(prophesee_dir):
    # The argument against expelliarmus's decode, checked on the data itself: every event
    # time lies in [min TIME_HIGH << 12, (max TIME_HIGH + 1) << 12).
    path = prophesee_dir / "expelliarmus_evt3_sample.raw"
    words = np.fromfile(path, dtype="<u2", offset=166)
    highs = (words[(words >> 12) == 8] & 0xFFF).astype(np.int64)
    ev, _ = read_events(path)
    assert ev["t"].min() >= highs.min() << 12
    assert ev["t"].max() < (highs.max() + 1) << 12


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("chunk", [1, 7, 4099, 100_003])
def test_chunked_streaming_equals_one_read(prophesee_dir, tmp_path, monkeypatch, name, chunk):
    path = prophesee_dir / name
    if chunk < 100:
        # Tiny chunks yield one Python object per event: use the first ~20 kB of the file,
        # cut at a whole number of 8-byte units after the header (words and records fit).
        start = read_info(path).metadata["data_offset"]
        data = path.read_bytes()[:20_000]
        path = tmp_path / name
        path.write_bytes(data[: len(data) - (len(data) - start) % 8])
    whole, _ = read_events(path)
    # Odd word-block sizes so that decoder state crosses many block boundaries.
    monkeypatch.setattr(prophesee_raw, "_BLOCK_WORDS_MIN", 997)
    monkeypatch.setattr(prophesee_raw, "_BLOCK_WORDS_MAX", 997)
    monkeypatch.setattr(prophesee_dat, "_BLOCK_RECORDS", 997)
    parts = list(stream_events(path, chunk=chunk))
    assert all(0 < len(p) <= chunk for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


# ---------------------------------------------------------------------------------------------
# test-only encoders, written from the EVT 2.0 / EVT 3.0 specifications


def _raw_file(path, encoding: str, words: np.ndarray, sensor=(2048, 2048)) -> None:
    w, h = sensor
    fmt = "EVT2" if encoding == "evt2" else "EVT3"
    header = (f"% date 2024-01-01 00:00:00\n% format {fmt};height={h};width={w}\n"
              f"% integrator_name test\n% end\n").encode()
    path.write_bytes(header + words.tobytes())


def _encode_evt2(ev: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """EVT 2.0 words for time-sorted events, with a TIME_HIGH whenever bits 33..6 change
    (keep-alive TIME_HIGHs across long gaps, as a camera sends them) and skippable noise."""
    out: list[int] = []
    high = None
    for t, x, y, p in ev.tolist():
        th = t >> 6
        if high is None or th != high:
            if high is not None:
                # Gaps longer than half the 34-bit range would be ambiguous: step through them.
                step = 1 << 26
                while th - high > step:
                    high += step
                    out.append((0x8 << 28) | (high & 0x0FFFFFFF))
            high = th
            out.append((0x8 << 28) | (th & 0x0FFFFFFF))
        if rng.random() < 0.05:
            out.append((0xA << 28) | ((t & 0x3F) << 22) | 1)  # EXT_TRIGGER, skipped
        if rng.random() < 0.05:
            out.append(0xE << 28)  # OTHERS, skipped
        out.append((p << 28) | ((t & 0x3F) << 22) | (x << 11) | y)
    return np.array(out, dtype="<u4")


def _encode_evt3(ev: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """EVT 3.0 words and the events in the order they are encoded.

    Events of one time stamp are grouped by (y, p); each group's sorted x are sent as single
    ADDR_X words or as VECT_BASE_X followed by VECT_12 / VECT_8 masks (empty masks included).
    """
    out: list[int] = []
    order: list[tuple[int, int, int, int]] = []
    high = low = None
    y_cur = None
    ev = np.sort(ev, order=["t", "y", "p", "x"])
    for t in np.unique(ev["t"]).tolist():
        h, lo = (t >> 12) & 0xFFF, t & 0xFFF
        full_high = t >> 12
        if high is None or full_high != high:
            if high is not None:
                step = 1 << 10  # keep-alive TIME_HIGHs so no gap reaches half the 24-bit range
                while full_high - high > step:
                    high += step
                    out.append((0x8 << 12) | (high & 0xFFF))
            high = full_high
            out.append((0x8 << 12) | h)
            low = None
        if low != lo:
            out.append((0x6 << 12) | lo)
            low = lo
        same_t = ev[ev["t"] == t]
        for y, p in sorted({(int(a), int(b)) for a, b in zip(same_t["y"], same_t["p"])}):
            xs = sorted(int(v) for v in same_t["x"][(same_t["y"] == y) & (same_t["p"] == p)])
            if y_cur != y or rng.random() < 0.1:
                out.append(y)  # EVT_ADDR_Y (type 0)
                y_cur = y
            i = 0
            while i < len(xs):
                if rng.random() < 0.4:
                    out.append((0x2 << 12) | (p << 11) | xs[i])
                    order.append((t, xs[i], y, p))
                    i += 1
                    continue
                base = xs[i]
                out.append((0x3 << 12) | (p << 11) | base)
                while i < len(xs) and xs[i] < base + 24:
                    n = 12 if rng.random() < 0.5 else 8
                    mask = 0
                    while i < len(xs) and xs[i] < base + n:
                        mask |= 1 << (xs[i] - base)
                        order.append((t, xs[i], y, p))
                        i += 1
                    out.append(((0x4 if n == 12 else 0x5) << 12) | mask)
                    base += n
            if rng.random() < 0.05:
                out.append(0xA << 12)  # EXT_TRIGGER, skipped
    order_arr = np.array(order, dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    return np.array(out, dtype="<u2"), order_arr.astype(EVENT_DTYPE)


def _random_events(rng: np.random.Generator, n: int, t0: int, max_gap: int, width: int, height: int):
    ev = np.empty(n, dtype=EVENT_DTYPE)
    gaps = rng.integers(0, max_gap + 1, n)
    gaps[rng.random(n) < 0.3] = 0  # many simultaneous events, as in real vectorised data
    ev["t"] = t0 + np.cumsum(gaps) - (gaps[0] if n else 0)  # the first event at t0
    ev["x"] = rng.integers(0, width, n)
    ev["y"] = rng.integers(0, height, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400),
       max_gap=st.sampled_from([0, 3, 100, 5000, 1 << 22, 1 << 28]), chunk=st.integers(1, 300))
def test_evt2_round_trip(tmp_path, seed, n, max_gap, chunk):
    rng = np.random.default_rng(seed)
    # Start near the end of the 34-bit counter so large gaps cross its wrap-around.
    t0 = int(rng.integers(0, 1 << 34)) if max_gap < (1 << 22) else (1 << 34) - int(rng.integers(1, 1 << 30))
    t0 = min(t0, (1 << 34) - 1)
    ev = _random_events(rng, n, t0, max_gap, 2048, 2048)
    ev = np.sort(ev, order=["t"], kind="stable")
    words = _encode_evt2(ev, rng)
    path = tmp_path / "rt.raw"
    _raw_file(path, "evt2", words)
    parts = list(prophesee_raw.iter_chunks(str(path), chunk))
    got = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
    assert all(len(p) <= chunk for p in parts)
    np.testing.assert_array_equal(got, ev)


@_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400),
       max_gap=st.sampled_from([0, 2, 50, 4096, 1 << 16, 1 << 22]), chunk=st.integers(1, 300))
def test_evt3_round_trip(tmp_path, seed, n, max_gap, chunk):
    rng = np.random.default_rng(seed)
    # t0 < 2^24 (the decoder starts at wrap 0); large gaps cross several 24-bit wraps.
    t0 = int(rng.integers(0, 1 << 24))
    ev = _random_events(rng, n, t0, max_gap, 2048, 2048)
    ev = np.unique(ev)  # one pixel fires once per time stamp in a vector
    words, expected = _encode_evt3(ev, rng)
    path = tmp_path / "rt.raw"
    # Half of the cases declare a smaller sensor: the events outside it must be dropped.
    width, height = (2048, 2048) if seed % 2 else (1000, 1500)
    _raw_file(path, "evt3", words, sensor=(width, height))
    expected = expected[(expected["x"] < width) & (expected["y"] < height)]
    parts = list(prophesee_raw.iter_chunks(str(path), chunk))
    got = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
    assert all(len(p) <= chunk for p in parts)
    np.testing.assert_array_equal(got, expected)


def test_evt3_24bit_wrap_and_low_reset(tmp_path):
    # Hand-written stream: TIME_HIGH 0xFFF, TIME_LOW 0xFFE, event; TIME_HIGH 0 (wrap: +2^24),
    # event before any TIME_LOW (low resets to 0, as OpenEB does), TIME_LOW 5, event.
    words = np.array([0x0000 | 3, 0x2000 | 9,  # before the first TIME_HIGH: skipped
                      0x8FFF, 0x6FFE, 0x0000 | 7, 0x2800 | 100,
                      0x8000, 0x2000 | 101,
                      0x6005, 0x2000 | 102], dtype="<u2")
    path = tmp_path / "wrap.raw"
    _raw_file(path, "evt3", words)
    ev = np.concatenate(list(prophesee_raw.iter_chunks(str(path), 10)))
    assert ev.tolist() == [((0xFFF << 12) | 0xFFE, 100, 7, 1), (1 << 24, 101, 7, 0),
                           ((1 << 24) + 5, 102, 7, 0)]


def test_events_outside_sensor_are_dropped(tmp_path):
    # Sensor 16x8 from the header: x=16 and y=8 are outside, x=15/y=7 inside.
    words = np.array([0x8001, 0x6000, 0x0007, 0x2000 | 15, 0x2000 | 16, 0x0008, 0x2000 | 1,
                      0x0002, 0x3000 | 10, 0x4000 | 0b111111], dtype="<u2")
    path = tmp_path / "small.raw"
    _raw_file(path, "evt3", words, sensor=(16, 8))
    ev = np.concatenate(list(prophesee_raw.iter_chunks(str(path), 100)))
    assert ev[["x", "y"]].tolist() == [(15, 7), (10, 2), (11, 2), (12, 2), (13, 2), (14, 2), (15, 2)]
    assert np.all(ev["t"] == 1 << 12)


def test_header_variants(tmp_path):
    # '% evt 3.0' + plugin name (no geometry) and '% geometry WxH' both give a sensor.
    path = tmp_path / "a.raw"
    words = np.array([0x8000], "<u2").tobytes()
    path.write_bytes(b"% evt 3.0\n% plugin_name hal_plugin_imx636_evk4\n" + words)
    assert detect_format(path) == "prophesee_raw"
    assert read_info(path).sensor == (1280, 720)
    path.write_bytes(b"% evt 2.0\r\n% geometry 320x240\r\n% end\r\n")
    info = read_info(path)
    assert (info.metadata["encoding"], info.metadata["version"]) == ("evt2", "EVT 2.0")
    assert info.sensor == (320, 240)
    assert read_events(path)[0].size == 0  # a header-only file has no events


@pytest.mark.parametrize("header, message", [
    (b"% format EVT21;height=720;width=1280\n% end\n", "not supported"),
    (b"% plugin_name hal_plugin_gen41_evk3\n% end\n", "names no encoding"),
    (b"% format EVT3;height=99999999999999999999999;width=1280\n% end\n", "impossible sensor size"),
    (b"% evt 3.0\n% geometry 0x720\n% end\n", "impossible sensor size"),
])
def test_unsupported_headers(tmp_path, header, message):
    path = tmp_path / "x.raw"
    path.write_bytes(header + b"\x00" * 16)
    with pytest.raises(InputFormatError, match=message):
        read_events(path)


def test_truncated_word_names_offset(tmp_path):
    path = tmp_path / "t.raw"
    path.write_bytes(b"% evt 2.0\n" + b"\x00" * 9)
    with pytest.raises(InputFormatError, match=r"t\.raw: truncated.*offset 18"):
        read_events(path)


def test_dat_layout_and_wrap(tmp_path):
    # x in bits 13..0, y in 27..14, polarity bit 28; bits 31..29 ignored. Times wrap at 2^32.
    t = np.array([5, 0xFFFFFFF0, 3], dtype="<u4")
    data = np.array([(1 << 28) | (200 << 14) | 300, (7 << 14) | 16383, (7 << 29) | (16383 << 14)],
                    dtype="<u4")
    rec = np.empty(6, dtype="<u4")
    rec[0::2], rec[1::2] = t, data
    path = tmp_path / "x.dat"
    path.write_bytes(b"% Data file containing CD events.\n% Version 2\n" + bytes([12, 8]) + rec.tobytes())
    assert detect_format(path) == "prophesee_dat"
    assert read_info(path).sensor is None
    ev, _ = read_events(path)
    assert ev.tolist() == [(5, 300, 200, 1), (0xFFFFFFF0, 16383, 7, 0), ((1 << 32) + 3, 0, 16383, 0)]
    # With a sensor size in the header, events outside it are dropped.
    path.write_bytes(b"% Data file containing CD events.\n% Version 2\n% Width 640\n% Height 480\n"
                     + bytes([12, 8]) + rec.tobytes())
    assert read_info(path).sensor == (640, 480)
    assert read_events(path)[0].tolist() == [(5, 300, 200, 1)]


# ---------------------------------------------------------------------------------------------
# fuzzing: truncations and byte flips of the real fixtures


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fuzz_truncate_and_flip(prophesee_dir, tmp_path, name):
    rng = np.random.default_rng(sum(name.encode()))
    data = (prophesee_dir / name).read_bytes()[:12_000]
    path = tmp_path / name
    outcomes = {"events": 0, "error": 0}
    for case in range(100):
        if case < 30:
            mutated = data[: int(rng.integers(0, len(data)))]
        else:
            buf = bytearray(data)
            # Mostly flip bytes of the binary part, sometimes of the header.
            lo = 0 if case % 5 == 0 else 200
            for pos in rng.integers(lo, len(buf), int(rng.integers(1, 20))):
                buf[pos] = int(rng.integers(0, 256))
            mutated = bytes(buf)
        path.write_bytes(mutated)
        try:
            ev, sensor = read_events(path)
        except InputFormatError as exc:
            assert str(path) in str(exc)
            outcomes["error"] += 1
            continue
        outcomes["events"] += 1
        assert ev.dtype == EVENT_DTYPE
        if sensor is not None and len(ev):
            assert ev["x"].max() < sensor[0] and ev["y"].max() < sensor[1]
    assert outcomes["events"] > 0 and outcomes["error"] > 0


def test_sniffers_do_not_claim_each_other(prophesee_dir):
    for name, (module, *_rest) in FIXTURES.items():
        path = prophesee_dir / name
        head = path.read_bytes()[:65536]
        assert prophesee_raw.sniff(head, str(path)) == (module == "prophesee_raw")
        assert prophesee_dat.sniff(head, str(path)) == (module == "prophesee_dat")
