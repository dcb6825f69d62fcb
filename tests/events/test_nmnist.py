"""N-MNIST / N-Caltech101 ``.bin`` reader.

The real samples reproduce GROUND_TRUTH.json (tonic's port of the dataset authors' reader);
chunked reads equal one read; a test-only encoder with overflow records round-trips; detection
needs the extension, whole records and plausible content; truncated or byte-flipped files give
events or InputFormatError.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsim.errors import InputFormatError
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.formats import nmnist_bin
from eventsim.events.io import detect_format, read_events, read_info, stream_events
from tests.events.truth import check_ground_truth

READER = "tonic.io.read_mnist_file"
FIXTURES = {
    # folder/file -> sensor reported: N-MNIST's 34x34; N-Caltech101 max coordinates + 1
    "nmnist/sample_nmnist.bin": (34, 34),
    "ncaltech101/faces_easy_0001.bin": (151, 173),
}


@pytest.mark.parametrize("rel", sorted(FIXTURES))
def test_fixture_matches_ground_truth(shared_data, rel):
    path = shared_data / rel
    gt = json.loads((path.parent / "GROUND_TRUTH.json").read_text())[path.name][READER]
    assert detect_format(path) == "nmnist_bin"
    assert read_info(path).sensor == FIXTURES[rel]
    ev, sensor = read_events(path)
    assert sensor == FIXTURES[rel]
    check_ground_truth(ev, gt)


@pytest.mark.parametrize("rel", sorted(FIXTURES))
@pytest.mark.parametrize("chunk", [1, 13, 4096, 1_000_003])
def test_chunked_streaming_equals_one_read(shared_data, tmp_path, monkeypatch, rel, chunk):
    path = shared_data / rel
    if chunk < 100:
        # Tiny chunks yield one Python object per event: use the first 4000 records.
        path = tmp_path / "head.bin"
        path.write_bytes((shared_data / rel).read_bytes()[:20_000])
    whole, _ = read_events(path)
    monkeypatch.setattr(nmnist_bin, "_BLOCK_RECORDS", 997)  # odd blocks: state crosses them
    parts = list(stream_events(path, chunk=chunk))
    assert all(0 < len(p) <= chunk for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def _encode(ev: np.ndarray, rng: np.random.Generator) -> bytes:
    """5-byte records; an overflow record (y = 240) adds 8192 us to every later timestamp.

    Overflow records are inserted at random wherever the stored 23-bit time stays >= 0.
    """
    out = bytearray()
    offset = 0
    for t, x, y, p in ev.tolist():
        while t - offset - 8192 >= 0 and (t - offset >= (1 << 23) or rng.random() < 0.3):
            out += bytes([int(rng.integers(0, 256)), 240, 0, 0, 0])
            offset += 8192
        stored = t - offset
        out += bytes([x, y, (p << 7) | (stored >> 16), (stored >> 8) & 0xFF, stored & 0xFF])
    return bytes(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300),
       max_gap=st.sampled_from([0, 10, 3000, 20000, 1 << 20]), chunk=st.integers(1, 200))
def test_round_trip_with_overflow_records(tmp_path, seed, n, max_gap, chunk):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=EVENT_DTYPE)
    gaps = rng.integers(0, max_gap + 1, n)
    ev["t"] = int(rng.integers(0, 1 << 16)) + np.cumsum(gaps) - (gaps[0] if n else 0)
    ev["x"] = rng.integers(0, 256, n)
    ev["y"] = rng.integers(0, 240, n)
    ev["p"] = rng.integers(0, 2, n)
    path = tmp_path / "rt.bin"
    path.write_bytes(_encode(ev, rng))
    parts = list(nmnist_bin.iter_chunks(str(path), chunk))
    got = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
    np.testing.assert_array_equal(got, ev)


def test_overflow_record_adds_8192(tmp_path):
    # Event at stored time 100, overflow marker, event at stored time 5 -> 5 + 8192.
    path = tmp_path / "o.bin"
    path.write_bytes(bytes([1, 2, 0x80, 0, 100, 9, 240, 0, 0, 0, 3, 4, 0, 0, 5]))
    ev = np.concatenate(list(nmnist_bin.iter_chunks(str(path), 10)))
    assert ev.tolist() == [(100, 1, 2, 1), (8197, 3, 4, 0)]


def test_sniff_needs_extension_whole_records_and_plausible_content(shared_data, tmp_path):
    data = (shared_data / "nmnist/sample_nmnist.bin").read_bytes()
    good = tmp_path / "s.bin"
    good.write_bytes(data)
    assert nmnist_bin.sniff(data[:65536], str(good))
    other_ext = tmp_path / "s.dat"
    other_ext.write_bytes(data)
    assert not nmnist_bin.sniff(data[:65536], str(other_ext))
    partial = tmp_path / "p.bin"
    partial.write_bytes(data[:-2])
    assert not nmnist_bin.sniff(data[:65536], str(partial))
    noise = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    noisy = tmp_path / "n.bin"
    noisy.write_bytes(noise)
    assert not nmnist_bin.sniff(noise, str(noisy))
    with pytest.raises(InputFormatError, match="unknown event file format"):
        read_events(noisy)


def test_truncated_record_names_offset(shared_data, tmp_path):
    data = (shared_data / "nmnist/sample_nmnist.bin").read_bytes()
    path = tmp_path / "t.bin"
    path.write_bytes(data[:-3])
    with pytest.raises(InputFormatError, match=rf"t\.bin: truncated.*offset {len(data) - 5}"):
        read_events(path, fmt="nmnist_bin")


@pytest.mark.parametrize("rel", sorted(FIXTURES))
def test_fuzz_truncate_and_flip(shared_data, tmp_path, rel):
    rng = np.random.default_rng(len(rel))
    data = (shared_data / rel).read_bytes()[:20_000]
    path = tmp_path / "f.bin"
    outcomes = {"events": 0, "error": 0}
    for case in range(100):
        if case < 30:
            mutated = data[: int(rng.integers(0, len(data)))]
        else:
            buf = bytearray(data)
            for pos in rng.integers(0, len(buf), int(rng.integers(1, 20))):
                buf[pos] = int(rng.integers(0, 256))
            mutated = bytes(buf)
        path.write_bytes(mutated)
        try:
            # Forced format: flips often make the content implausible for detection, and
            # the reader itself must cope with any bytes.
            ev, sensor = read_events(path, fmt="nmnist_bin")
        except InputFormatError as exc:
            assert str(path) in str(exc)
            outcomes["error"] += 1
            continue
        outcomes["events"] += 1
        assert ev.dtype == EVENT_DTYPE
        if len(ev):
            assert ev["x"].max() < sensor[0] and ev["y"].max() < sensor[1]
    assert outcomes["events"] > 0 and outcomes["error"] > 0
