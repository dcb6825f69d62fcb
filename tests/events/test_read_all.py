"""Whole-file reads (issue 18): ``read_events`` decodes into one array sized from the file, equal
to the streamed chunks for every format; the AEDAT 4.0 batch decoder and fast inflation agree
with their plain twins (``_packet_events``, ``_decompress``) on honest and corrupt packets."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import InputFormatError
from eventsim.events.dtype import EVENT_DTYPE, make_events
from eventsim.events.formats import aedat4
from eventsim.events.formats._output import EventBuffer
from eventsim.events.io import read_events, stream_events, write_events
from tests.events.test_binstream import SHARED, _written


def _owns_exactly(ev: np.ndarray) -> bool:
    """One array of its own, no spare capacity and no view of a larger buffer."""
    return ev.base is None and ev.flags.owndata and ev.dtype == EVENT_DTYPE


def test_whole_read_equals_the_stream_on_every_format(shared_data, tmp_path):
    for path in [shared_data / p for p in SHARED] + _written(tmp_path):
        ev, _ = read_events(path)
        parts = list(stream_events(path, chunk=977))
        assert len(ev) > 0 and np.array_equal(ev, np.concatenate(parts)), path
        assert _owns_exactly(ev), path


def test_buffer_grows_past_its_estimate(tmp_path):
    # events that compress ~10x: more than the file size / 4 estimate of the AEDAT 4.0 reader
    n = 200_000
    ev = make_events(np.arange(n) // 4, np.full(n, 3), np.full(n, 5), np.arange(n) // 64 % 2)
    write_events(tmp_path / "dense.aedat4", ev, (34, 34))
    assert (tmp_path / "dense.aedat4").stat().st_size // 4 < n
    got, _ = read_events(tmp_path / "dense.aedat4")
    assert np.array_equal(got, ev) and _owns_exactly(got)


def test_event_buffer():
    buf = EventBuffer(2)
    one = make_events([1], [2], [3], [1])
    for _ in range(5):
        buf.append(one)
    assert buf.n == 5 and buf.events.shape[0] >= 5
    out = buf.finish()
    assert np.array_equal(out, np.concatenate([one] * 5)) and _owns_exactly(out)
    assert len(EventBuffer(10).finish()) == 0


# ---------------------------------------------------------------------------------------------
# AEDAT 4.0: batch kernel vs _packet_events, fast inflation vs _decompress


def _packet(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ev = make_events(np.sort(rng.integers(0, 10**6, n)), rng.integers(0, 34, n), rng.integers(0, 34, n),
                     rng.integers(0, 2, n))
    return aedat4._event_packet(ev)


def _kernel_view(body: bytes) -> tuple[int, int]:
    b = np.frombuffer(body, np.uint8)
    return aedat4._vector(b, 0, len(body))


def test_flatbuffer_kernel_matches_its_plain_twin():
    """Seeded byte flips and cuts in the FlatBuffer head: the kernel refuses exactly what
    ``_packet_events`` refuses, and finds the same event vector otherwise."""
    rng = np.random.default_rng(18)
    for case in range(3000):
        body = bytearray(_packet(int(rng.integers(0, 5)), case))
        for _ in range(int(rng.integers(1, 4))):
            body[int(rng.integers(0, min(len(body), 40)))] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            body = body[:int(rng.integers(0, len(body) + 1))]
        body = bytes(body)
        start, count = _kernel_view(body)
        try:
            dv = aedat4._packet_events(body, "f", 0)
        except InputFormatError:
            assert count < 0, body[:40]
            continue
        assert count == len(dv), body[:40]
        if count:
            assert start == dv.ctypes.data - np.frombuffer(body, np.uint8).ctypes.data


def test_batch_decode_reports_the_twins_message(tmp_path):
    good, bad = _packet(10, 1), bytearray(_packet(10, 2))
    bad[4:8] = (10**6).to_bytes(4, "little")  # root offset far past the end
    batch = aedat4._Batch()
    batch.add(100, good)
    batch.add(200, bytes(bad))
    out = EventBuffer(0)
    with pytest.raises(InputFormatError, match="packet at byte 200: offset 1000004 out of bounds"):
        batch.decode_into(out, (34, 34), "f", np.zeros(2, np.int64))


def _outcome(fn, *args):
    try:
        return fn(*args)
    except InputFormatError as exc:
        return str(exc)


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_fast_inflation_matches_the_bounded_one(compression):
    """Honest packets, liars (size prefix smaller or larger than the data), bombs, garbage: the
    reused-context fast path gives the same body or the same error as ``_decompress``."""
    inflate = aedat4._Inflate(compression, "f")
    rng = np.random.default_rng(3)
    for case in range(40):
        body = bytearray(_packet(int(rng.integers(0, 3000)), case))
        kind = case % 5
        if kind == 1:  # declares less than it holds
            body[0:4] = (len(body) // 2).to_bytes(4, "little")
        elif kind == 2:  # declares more than it holds
            body[0:4] = (len(body) * 3).to_bytes(4, "little")
        elif kind == 3:  # a bomb: a large run of zeros behind an honest-looking prefix
            body = bytearray(body[:32]) + bytes(3 << 20)
            body[0:4] = (len(body) - 4).to_bytes(4, "little")
        data = aedat4._compress(bytes(body), compression)  # lz4: one LZ4 frame, as DV writes
        if kind == 4:  # a cut compressed stream (inflates to nothing: refused later as not a packet)
            data = data[:len(data) // 2] + bytes(8)
        expect = _outcome(aedat4._decompress, data, compression, "f", 7)
        assert _outcome(inflate, memoryview(data), 7) == expect, (case, kind)
        assert _outcome(inflate, data, 7) == expect  # the context is reset between packets
