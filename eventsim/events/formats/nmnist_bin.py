"""N-MNIST / N-Caltech101 ``.bin`` files (ATIS recordings by Orchard et al., 2015).

No header and no magic: the file is a sequence of 5-byte (40-bit) records::

    byte 0   x (u8)
    byte 1   y (u8)
    byte 2   bit 7: polarity (1 = ON); bits 6..0: timestamp bits 22..16
    byte 3   timestamp bits 15..8
    byte 4   timestamp bits 7..0          (timestamp in microseconds)

A record with y == 240 is not an event but a timestamp-overflow marker: from there on 8192 us
(2^13) are added to every timestamp. This is exactly what the dataset authors' reader does
(``read_dataset`` in gorchard/event-Python, ported as ``tonic.io.read_mnist_file``), so
timestamps agree with every published use of the data, even though 2^13 is not the 2^23 the
field width suggests.

Detection: the extension ``.bin``, a size that is a whole number of records, and positive
evidence in the first records: no y above 240, timestamps non-decreasing *and* advancing, and
at least two different pixels. Without magic, "nothing contradicts it" is not enough: a file
of zeros (or ``/dev/zero``) would be a valid, endless N-MNIST recording of one pixel at t = 0.

Sensor size: N-MNIST is 34x34, N-Caltech101 recordings differ per sample (cropped ATIS
recordings up to 240x180). ``read_info`` scans the coordinates (these files are small; the scan
streams in bounded memory): 34x34 when every event fits in it, else (max x + 1, max y + 1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ...errors import InputFormatError
from ...jit import kernel
from ..dtype import EVENT_DTYPE, copy_events
from . import FileInfo
from ._output import COLLECT_CHUNK, collect

NAME = "nmnist_bin"
RECORD = 5
OVERFLOW_Y = 240  # y of a timestamp-overflow record
OVERFLOW_US = 1 << 13  # what one overflow record adds (dataset authors' reader)
NMNIST_SENSOR = (34, 34)
_BLOCK_RECORDS = 1 << 20
_SNIFF_RECORDS = 256


def _check_size(path: str) -> int:
    size = os.path.getsize(path)
    tail = size % RECORD
    if tail:
        raise InputFormatError(f"{path}: truncated: the last {tail} byte(s) at offset {size - tail} "
                               f"do not form a whole {RECORD}-byte .bin record")
    return size


def sniff(head: bytes, path: str) -> bool:
    if not path.lower().endswith(".bin") or not head:
        return False
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    if size % RECORD:
        return False
    n = min(len(head) // RECORD, _SNIFF_RECORDS)
    rec = np.frombuffer(head[: n * RECORD], dtype=np.uint8).reshape(n, RECORD).astype(np.int64)
    y = rec[:, 1]
    if n == 0 or np.any(y > OVERFLOW_Y):
        return False
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    t = t + OVERFLOW_US * np.cumsum(y == OVERFLOW_Y)
    events = y != OVERFLOW_Y
    t = t[events]
    pixels = np.unique(rec[events, 0] * 256 + y[events])
    return bool(t.size >= 2 and np.all(np.diff(t) >= 0) and t[-1] > t[0] and pixels.size >= 2)


# state (int64[1]): overflow offset in us
@kernel
def _decode(raw, state, out_t, out_x, out_y, out_p):
    """Decode 5-byte records (uint8, length a multiple of 5); returns the number of events."""
    offset = state[0]
    n = 0
    for i in range(raw.shape[0] // 5):
        b = 5 * i
        y = raw[b + 1]
        if y == 240:
            offset += 8192  # timestamp overflow marker, not an event
            continue
        out_x[n] = raw[b]
        out_y[n] = y
        out_p[n] = raw[b + 2] >> 7
        out_t[n] = offset + ((np.int64(raw[b + 2]) & 0x7F) << 16) + (np.int64(raw[b + 3]) << 8) \
            + np.int64(raw[b + 4])
        n += 1
    state[0] = offset
    return n


@kernel
def _max_xy(raw, acc):
    """acc[0], acc[1] = max(acc, max x / y of the events in ``raw``)."""
    for i in range(raw.shape[0] // 5):
        y = raw[5 * i + 1]
        if y == 240:
            continue
        acc[0] = max(acc[0], np.int64(raw[5 * i]))
        acc[1] = max(acc[1], np.int64(y))


def _blocks(path: str, chunk: int) -> Iterator[np.ndarray]:
    records = max(1, min(chunk, _BLOCK_RECORDS))
    with open(path, "rb") as f:
        while True:
            raw = np.fromfile(f, dtype=np.uint8, count=RECORD * records)
            if raw.size == 0:
                return
            yield raw


def read_info(path: str) -> FileInfo:
    size = _check_size(path)
    acc = np.full(2, -1, dtype=np.int64)
    for raw in _blocks(path, _BLOCK_RECORDS):
        _max_xy(raw, acc)
    if acc[0] < 0:
        sensor = NMNIST_SENSOR  # no events at all: the common case is an N-MNIST sample
    elif acc[0] < NMNIST_SENSOR[0] and acc[1] < NMNIST_SENSOR[1]:
        sensor = NMNIST_SENSOR
    else:
        sensor = (int(acc[0]) + 1, int(acc[1]) + 1)
    meta = {"camera": "ATIS", "records": size // RECORD,
            "sensor_from": "N-MNIST 34x34" if sensor == NMNIST_SENSOR else "max coordinates + 1"}
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    _check_size(path)
    state = np.zeros(1, dtype=np.int64)
    for raw in _blocks(path, chunk):
        out = np.empty(raw.size // RECORD, dtype=EVENT_DTYPE)
        n = _decode(raw, state, out["t"], out["x"], out["y"], out["p"])
        if n:
            yield out[:n] if n == len(out) else copy_events(out[:n])


def read_all(path: str) -> np.ndarray:
    # at most one event per record
    return collect(iter_chunks(path, COLLECT_CHUNK), os.path.getsize(path) // RECORD)
