"""AEDAT 3.1: no real fixture exists, so files are built here from the libcaer layout
(packet header + polarity events) and by our writer, then read back."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import InputFormatError
from eventsim.events import detect_format, read_events, read_info, stream_events, write_events
from eventsim.events.dtype import make_events

HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01\r\n#!END-HEADER\r\n"


def packet(etype, events_bytes, size, number, overflow=0, capacity=None, tsoff=4):
    """A 28-byte libcaer packet header (+ payload), fields as in common.h."""
    capacity = number if capacity is None else capacity
    return struct.pack("<hhiiiiii", etype, 1, size, tsoff, overflow, capacity, number, number) + events_bytes


def polarity(x, y, p, t, valid=1):
    """One 8-byte polarity event: data bits 17-31 x, 2-16 y, 1 polarity, 0 valid; i32 t."""
    return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, t)


def test_hand_built_file(tmp_path):
    body = (packet(1, polarity(3, 4, 1, 100) + polarity(5, 6, 0, 101, valid=0) + polarity(127, 0, 0, 102),
                   8, 3)
            + packet(0, b"\x00" * 16, 8, 2)  # special events: skipped
            + packet(2, b"\x00" * 40, 20, 2)  # a "frame" packet of another event size: skipped
            + packet(1, polarity(1, 2, 1, 5), 8, 1, overflow=3))
    path = tmp_path / "h.aedat"
    path.write_bytes(HEADER + body)
    assert detect_format(path) == "aedat3"
    ev, sensor = read_events(path)
    assert sensor == (128, 128)  # from "#Source 1: DVS128"
    # the invalid event is dropped; libcaer coordinates are image coordinates (no flip);
    # t = overflow << 31 | ts
    assert ev.tolist() == [(100, 3, 4, 1), (102, 127, 0, 0), ((3 << 31) | 5, 1, 2, 1)]
    assert read_info(path).metadata["camera"] == "DVS128"


def test_capacity_beyond_number_is_skipped(tmp_path):
    # capacity 3, number 1: the payload holds 3 slots, only the first is in use
    body = packet(1, polarity(1, 1, 1, 1) + polarity(2, 2, 1, 2) * 2, 8, 1, capacity=3)
    body += packet(1, polarity(9, 9, 0, 9), 8, 1)
    (tmp_path / "c.aedat").write_bytes(HEADER + body)
    ev, _ = read_events(tmp_path / "c.aedat")
    assert ev["t"].tolist() == [1, 9]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 30000), seed=st.integers(0, 2**32 - 1), tmax=st.sampled_from([2**20, 2**34, 2**40]))
def test_round_trip(tmp_path_factory, n, seed, tmax):
    rng = np.random.default_rng(seed)
    ev = make_events(np.sort(rng.integers(0, tmax, n)), rng.integers(0, 346, n),
                     rng.integers(0, 260, n), rng.integers(0, 2, n))
    path = tmp_path_factory.mktemp("a3") / "r.aedat3"
    write_events(path, ev, (346, 260), camera="DAVIS346B")
    back, sensor = read_events(path)
    assert sensor == (346, 260) and np.array_equal(back, ev)
    chunks = list(stream_events(path, chunk=4096))
    assert all(len(c) <= 4096 for c in chunks)
    if n:
        assert np.array_equal(np.concatenate(chunks), ev)


def test_unknown_sensor_is_none(tmp_path):
    header = HEADER.replace(b"DVS128", b"Mystery")
    (tmp_path / "u.aedat").write_bytes(header + packet(1, polarity(1, 1, 1, 1), 8, 1))
    assert read_info(tmp_path / "u.aedat").sensor is None


def test_corrupt_files(tmp_path):
    p = tmp_path / "x.aedat"
    p.write_bytes(b"#!AER-DAT3.1\r\n#Format: RAW\r\n")  # header never ends
    with pytest.raises(InputFormatError, match="END-HEADER"):
        read_events(p)
    p.write_bytes(HEADER + packet(1, polarity(1, 1, 1, 1), 8, 5))  # claims 5 events, holds 1
    with pytest.raises(InputFormatError, match=r"truncated AEDAT 3.1 packet at byte \d+"):
        read_events(p)
    p.write_bytes(HEADER + packet(1, polarity(1, 1, 1, 1), 8, 1)[:20])
    with pytest.raises(InputFormatError, match="packet header"):
        read_events(p)
    p.write_bytes(HEADER + packet(1, b"\x00" * 12, 12, 1))  # polarity events must be 8 bytes
    with pytest.raises(InputFormatError, match="event size 12"):
        read_events(p)
    p.write_bytes(HEADER + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 2**30, 1, 1))
    with pytest.raises(InputFormatError, match="corrupt AEDAT 3.1 packet header"):
        read_events(p)


def test_writer_rejects_unrepresentable(tmp_path):
    with pytest.raises(InputFormatError):
        write_events(tmp_path / "n.aedat3", make_events([-1], [0], [0], [0]), (4, 4))
    assert not (tmp_path / "n.aedat3").exists()
