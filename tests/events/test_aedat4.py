"""AEDAT 4.0 (DV): real fixtures against third-party ground truth, writer round trips for
every compression, and corrupt-input handling."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import InputFormatError
from eventsim.events import detect_format, read_events, read_info, stream_events, write_events
from eventsim.events.dtype import EVENT_DTYPE, make_events
from eventsim.events.formats import aedat4

CASES = ["tonic_sample.aedat4", "event-vision-library_sample.aedat4",
         "dvSave-2024_06_13_16_16_25.aedat4", "dvSave-2024_06_20_16_13_00.aedat4"]


def _truth(shared_data, name):
    gt = json.loads((shared_data / "aedat4" / "GROUND_TRUTH.json").read_text())[name]
    readers = [v for v in gt.values() if isinstance(v, dict)]
    keys = ["n", "p1", "p0", "sum_x", "sum_y", "first3", "last", "t_first", "t_last"]
    for other in readers[1:]:  # aedat, dv-processing and faery agree
        assert {k: other[k] for k in keys} == {k: readers[0][k] for k in keys}
    return gt


@pytest.mark.parametrize("name", CASES)
def test_fixture_matches_ground_truth(shared_data, name):
    gt = _truth(shared_data, name)
    truth = gt["dv-processing 2.0.4"]
    path = shared_data / "aedat4" / name
    assert detect_format(path) == "aedat4"
    ev, sensor = read_events(path)
    # AEDAT 4.0 is already in image coordinates with p=1 ON: compared field by field.
    assert len(ev) == truth["n"]
    assert int(ev["p"].sum()) == truth["p1"] and int((ev["p"] == 0).sum()) == truth["p0"]
    assert int(ev["x"].sum(dtype=np.int64)) == truth["sum_x"]
    assert int(ev["y"].sum(dtype=np.int64)) == truth["sum_y"]
    assert (int(ev["x"].min()), int(ev["x"].max())) == (truth["x_min"], truth["x_max"])
    assert (int(ev["y"].min()), int(ev["y"].max())) == (truth["y_min"], truth["y_max"])
    as_list = [list(e) for e in ev[:3].tolist()]
    assert as_list == truth["first3"] and list(ev[-1].tolist()) == truth["last"]
    assert list(sensor) == truth["resolution"]
    info = read_info(path)
    assert info.metadata["camera"] == truth["camera"]
    assert info.metadata["compression"] == "lz4"
    types = {str(k): v["type"] for k, v in info.metadata["streams"].items()}
    expected = {"events": "EVTS", "frame": "FRME", "imus": "IMUS", "triggers": "TRIG"}
    assert types == {k: expected[v["type"]] for k, v in gt["aedat 2.3.0"]["streams"].items()}


@pytest.mark.parametrize("chunk", [1, 333, 10**6])
def test_streaming_equals_whole(shared_data, chunk):
    path = shared_data / "aedat4" / "event-vision-library_sample.aedat4"
    whole, _ = read_events(path)
    parts = list(stream_events(path, chunk=chunk))
    assert all(0 < len(p) <= chunk for p in parts)
    assert np.array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("compression", ["none", "lz4", "lz4_high", "zstd", "zstd_high"])
def test_fixture_round_trip_every_compression(shared_data, tmp_path, compression):
    ev, sensor = read_events(shared_data / "aedat4" / "dvSave-2024_06_13_16_16_25.aedat4")
    out = tmp_path / "rt.aedat4"
    write_events(out, ev, sensor, compression=compression, camera="DVS128_0279")
    back, sensor2 = read_events(out)
    info = read_info(out)
    assert np.array_equal(back, ev) and sensor2 == sensor
    assert info.metadata["compression"] == compression and info.metadata["camera"] == "DVS128_0279"


def random_events(draw_n, rng, sensor):
    n = draw_n
    t = np.sort(rng.integers(0, 2**52, n))
    return make_events(t, rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n), rng.integers(0, 2, n))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 20000), seed=st.integers(0, 2**32 - 1),
       w=st.integers(1, 2048), h=st.integers(1, 2048), compression=st.sampled_from(["none", "lz4", "zstd"]))
def test_random_round_trip(tmp_path_factory, n, seed, w, h, compression):
    rng = np.random.default_rng(seed)
    ev = random_events(n, rng, (w, h))
    out = tmp_path_factory.mktemp("a4") / "r.aedat4"
    write_events(out, ev, (w, h), compression=compression)
    back, sensor = read_events(out)
    assert sensor == (w, h) and back.dtype == EVENT_DTYPE and np.array_equal(back, ev)


def test_written_layout_is_dv_like(tmp_path):
    """The IOHeader and packet FlatBuffers follow DV's layout: identifiers, size prefixes."""
    ev = make_events([5, 6], [1, 2], [3, 4], [1, 0])
    write_events(tmp_path / "l.aedat4", ev, (10, 10), compression="none")
    data = (tmp_path / "l.aedat4").read_bytes()
    assert data.startswith(b"#!AER-DAT4.0\r\n")
    n = struct.unpack_from("<I", data, 14)[0]
    assert data[22:26] == b"IOHE"
    pos = 18 + n
    sid, size = struct.unpack_from("<ii", data, pos)
    body = data[pos + 8:pos + 8 + size]
    assert sid == 0 and body[8:12] == b"EVTS" and struct.unpack_from("<I", body)[0] == len(body) - 4
    # the event vector: 2 structs of 16 bytes at the end, t i64, x i16, y i16, on u8
    t, x, y, on = struct.unpack_from("<qhhB", body, len(body) - 32)
    assert (t, x, y, on) == (5, 1, 3, 1)


# ------------------------------------------------------------------------------------------
# corrupt input


def _plain_file(tmp_path):
    ev = make_events(np.arange(100), np.arange(100) % 10, np.arange(100) % 7, np.arange(100) % 2)
    path = tmp_path / "p.aedat4"
    write_events(path, ev, (10, 10), compression="none")
    return path


def test_wrong_compression_flag(tmp_path):
    path = _plain_file(tmp_path)
    data = bytearray(path.read_bytes())
    # our IOHeader: compression i32 at table offset 16, table at 24 after the size prefix (18)
    assert struct.unpack_from("<i", data, 18 + 24 + 16)[0] == 0
    struct.pack_into("<i", data, 18 + 24 + 16, 1)  # claim LZ4, data is plain
    path.write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match=r"LZ4 packet at byte \d+"):
        read_events(path)
    struct.pack_into("<i", data, 18 + 24 + 16, 9)  # no such compression
    path.write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match="compression"):
        read_events(path)


def test_huge_packet_size_is_rejected_before_allocation(tmp_path):
    path = _plain_file(tmp_path)
    data = bytearray(path.read_bytes())
    first_packet = 18 + struct.unpack_from("<I", data, 14)[0]
    struct.pack_into("<i", data, first_packet + 4, 2**31 - 1)
    path.write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match=f"packet at byte {first_packet} claims"):
        read_events(path)


def test_unknown_stream_id(tmp_path):
    path = _plain_file(tmp_path)
    data = bytearray(path.read_bytes())
    first_packet = 18 + struct.unpack_from("<I", data, 14)[0]
    struct.pack_into("<i", data, first_packet, 7)
    path.write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match="stream id 7"):
        read_events(path)


def test_png_renamed_aedat4(tmp_path):
    png = tmp_path / "image.aedat4"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(InputFormatError, match="unknown event file format"):
        read_events(png)


def test_header_without_packets(tmp_path):
    write_events(tmp_path / "e.aedat4", np.empty(0, EVENT_DTYPE), (32, 24))
    ev, sensor = read_events(tmp_path / "e.aedat4")
    assert len(ev) == 0 and sensor == (32, 24)


def test_truncated_fixture(shared_data, tmp_path):
    data = (shared_data / "aedat4" / "event-vision-library_sample.aedat4").read_bytes()
    for cut in (10, 16, 30, 3000, len(data) // 2):
        (tmp_path / "t.aedat4").write_bytes(data[:cut])
        with pytest.raises(InputFormatError, match=r"t\.aedat4"):
            read_events(tmp_path / "t.aedat4")


def test_bad_writer_compression(tmp_path):
    with pytest.raises(InputFormatError, match="compression"):
        write_events(tmp_path / "x.aedat4", make_events([1], [1], [1], [1]), (4, 4), compression="gzip")
    assert not (tmp_path / "x.aedat4").exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind


def test_flatbuffer_reader_bounds():
    fb = aedat4._FlatBuffer(b"\x04\x00\x00\x00", "f", 0)
    with pytest.raises(InputFormatError, match="out of bounds"):
        fb.field(fb.root(), 0)


DATA = __import__("pathlib").Path(__file__).parent / "data"


@pytest.mark.parametrize("compression", ["zstd", "none", "lz4_high"])
def test_files_written_by_dv_processing(compression):
    """tests/events/data/dv_synthetic_*.aedat4 were written by iniVation's dv-processing 2.0.4
    (MonoCameraWriter, 3 packets of 1000 seeded random events, DAVIS346 geometry, with a packet
    index at dataTablePosition); dv_synthetic_events.npy holds the events it was given."""
    path = DATA / f"dv_synthetic_{compression}.aedat4"
    expected = np.load(DATA / "dv_synthetic_events.npy")
    ev, sensor = read_events(path)
    info = read_info(path)
    assert sensor == (346, 260) and info.metadata["camera"] == "DAVIS346_synthetic"
    assert info.metadata["compression"] == compression and info.metadata["data_table_position"] > 0
    assert np.array_equal(ev, expected.astype(EVENT_DTYPE))
