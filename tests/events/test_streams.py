"""Reading recordings from a byte stream: the same events as the file readers, in any pieces."""

import io

import numpy as np
import pytest

from eventsim.errors import InputFormatError
from eventsim.events.dtype import make_events
from eventsim.events.io import detect_format, read_events, write_events
from eventsim.events.streams import STREAM_FORMATS, ByteSource, open_stream

FIXTURES = ["aedat2/neal_walking.aedat", "aedat2/IMU_translBoxes.aedat", "aedat2/sample_aedat_header.aedat",
            "aedat4/dvSave-2024_06_13_16_16_25.aedat4", "aedat4/tonic_sample.aedat4",
            "prophesee/faery_evt2.raw", "prophesee/expelliarmus_evt3_sample.raw",
            "prophesee/tonic_sample_ncars.dat"]


class Trickle(io.RawIOBase):
    """A pipe that hands out the bytes in random small pieces (as a live stream does)."""

    def __init__(self, data: bytes, seed: int):
        self.data, self.pos, self.rng = data, 0, np.random.default_rng(seed)

    def readable(self):
        return True

    def read1(self, n=-1):
        k = min(n if n >= 0 else len(self.data), int(self.rng.integers(1, 3000)), len(self.data) - self.pos)
        out = self.data[self.pos:self.pos + k]
        self.pos += k
        return out

    read = read1


def _decode(data: bytes, name: str, seed: int = 0, fmt=None):
    stream = open_stream(Trickle(data, seed), name, fmt)
    parts = list(stream.chunks)
    events = np.concatenate(parts) if parts else None
    return stream, events


def evt2_bytes(ev, sensor=(640, 480)) -> bytes:
    """A minimal EVT 2.0 ``.raw``: header, then a TIME_HIGH word whenever t >> 6 changes."""
    words = []
    high = None
    for t, x, y, p in zip(ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist()):
        if t >> 6 != high:
            high = t >> 6
            words.append((0x8 << 28) | (high & 0x0FFFFFFF))
        words.append((int(p) << 28) | ((t & 0x3F) << 22) | (x << 11) | y)
    head = f"% evt 2.0\n% format EVT2;height={sensor[1]};width={sensor[0]}\n% end\n".encode()
    return head + np.asarray(words, "<u4").tobytes()


@pytest.mark.parametrize("rel", FIXTURES)
def test_fixture_streams_decode_like_the_file(shared_data, rel):
    path = shared_data / rel
    events, sensor = read_events(path)
    data = path.read_bytes()
    for seed in (0, 1):
        stream, got = _decode(data, str(path), seed)
        assert stream.format == detect_format(path) and stream.sensor == sensor
        assert (got is None and len(events) == 0) or np.array_equal(got, events)


def test_written_aedat4_and_generated_evt2_stream_like_the_file(tmp_path):
    rng = np.random.default_rng(5)
    n = 20_000
    ev = make_events(np.sort(rng.integers(0, 3_000_000, n)), rng.integers(0, 640, n), rng.integers(0, 480, n),
                     rng.integers(0, 2, n))
    write_events(tmp_path / "a.aedat4", ev, (640, 480))
    (tmp_path / "b.raw").write_bytes(evt2_bytes(ev))
    for name in ("a.aedat4", "b.raw"):
        path = tmp_path / name
        want, _ = read_events(path)
        assert np.array_equal(want, ev)
        _, got = _decode(path.read_bytes(), name, 3)
        assert np.array_equal(got, want)


def test_forced_format_and_formats_that_cannot_stream(tmp_path):
    ev = make_events([1, 2, 3], [0, 1, 2], [0, 0, 0], [1, 0, 1])
    write_events(tmp_path / "a.npz", ev, (4, 4))
    with pytest.raises(InputFormatError, match="npz cannot be read from a stream"):
        _decode((tmp_path / "a.npz").read_bytes(), "<stdin>")
    with pytest.raises(InputFormatError, match="aedat3 cannot be read from a stream"):
        open_stream(io.BytesIO(b""), "<stdin>", fmt="aedat3")  # refused before reading
    with pytest.raises(InputFormatError, match="empty"):
        _decode(b"", "<stdin>")
    data = evt2_bytes(ev)
    stream, got = _decode(data, "<stdin>", fmt="prophesee_raw")
    assert np.array_equal(got, ev)
    with pytest.raises(InputFormatError, match="not an AEDAT 4.0"):
        _decode(data, "<stdin>", fmt="aedat4")
    assert set(STREAM_FORMATS) == {"prophesee_raw", "prophesee_dat", "aedat2", "aedat4"}


@pytest.mark.parametrize("cut", [1, 3, 7])
def test_a_stream_ending_inside_a_record_fails_naming_the_offset(tmp_path, cut):
    ev = make_events(np.arange(0, 1000, 10), np.arange(100) % 64, np.arange(100) % 48, np.arange(100) % 2)
    data = evt2_bytes(ev)
    with pytest.raises(InputFormatError, match=r"<stdin>: truncated: the last \d byte\(s\) at offset \d+"):
        _decode(data[:-cut], "<stdin>")
    write_events(tmp_path / "a.aedat4", ev, (64, 48))
    blob = (tmp_path / "a.aedat4").read_bytes()
    with pytest.raises(InputFormatError, match="truncated AEDAT 4.0 packet"):
        _decode(blob[:-cut], "<stdin>")


def test_a_followed_source_waits_for_the_file_to_grow(tmp_path):
    path = tmp_path / "grow.bin"
    path.write_bytes(b"ab")
    waits = []
    with open(path, "rb") as f:
        def sleep(seconds):
            waits.append(seconds)
            if len(waits) == 3:
                with open(path, "ab") as g:
                    g.write(b"cd")

        src = ByteSource(f, str(path), follow=True, sleep=sleep)
        assert src.read_exact(4) == b"abcd" and len(waits) == 3
        assert src.read(10, wait=False) == b""
        src.give_back(b"cd")
        assert src.offset == 2 and src.read(10) == b"cd"
