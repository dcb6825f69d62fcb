"""Prophesee / Chronocam ``.dat`` event files (N-CARS, the Prophesee automotive datasets).

Layout (Prophesee's ``dat_events_tools`` / ``psee_loader``, DAT "Version 2")::

    % Data file containing CD events.      ASCII header lines, each starting with "% "
    % Version 2                            (Height / Width lines give the sensor size)
    % Date 2017-10-31 11:29:21
    <event type: u8> <event size: u8>      0 = Event2D (ATIS TD), 12 = CD; size 8
    records: t u32 (us), data u32, little-endian, repeated

The data word of a CD / Event2D record holds x in bits 13..0, y in bits 27..14 and the
polarity in bit 28 (1 = ON); bits 31..29 are unused. This is the mask set Prophesee's own
readers apply (``& 0x3FFF``, ``& 0x0FFFC000 >> 14``, ``& 0x10000000 >> 28``), and it
reproduces the N-CARS sample's ground truth (tests/events/test_prophesee.py).

Events outside the header's Width x Height (when given) are dropped, as in the ``.raw``
reader. Timestamps are 32-bit: a backward jump of more than 2^31 us is taken as a wrap (after ~71 min)
and 2^32 us is added from there on; smaller backward jumps are kept as stored.

Sensor: the header's ``Width``/``Height`` when present; otherwise (N-CARS crops have none)
``None`` -- the crop size differs per sample, so no fixed size would be right.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ...errors import InputFormatError
from ...jit import kernel
from ..dtype import EVENT_DTYPE, copy_events
from . import FileInfo
from ._chunks import read_blocks
from ._output import COLLECT_CHUNK, collect
from .prophesee_raw import check_sensor, parse_percent_header, read_percent_header

NAME = "prophesee_dat"
RECORD = 8  # bytes per event record
_CD_TYPES = {0: "Event2D", 12: "CD"}  # event types whose records are (t, x/y/p) words
_BLOCK_RECORDS = 1 << 20


def sniff(head: bytes, path: str) -> bool:
    header = parse_percent_header(head, eof=True)
    if header is None or header.data_offset + 2 > len(head):
        return False
    f = header.fields
    is_dat = f.get("data", "").startswith("file containing") or "version" in f
    return is_dat and "evt" not in f and "format" not in f


def _header(path: str) -> tuple[int, int, tuple[int, int] | None, dict]:
    """(offset of the first record, event type, sensor, metadata)."""
    h = read_percent_header(path, "Prophesee DAT")
    with open(path, "rb") as f:
        f.seek(h.data_offset)
        type_size = f.read(2)
    return dat_header(h, type_size, path)


def dat_header(h, type_size: bytes, path: str) -> tuple[int, int, tuple[int, int] | None, dict]:
    """``_header`` of a parsed ``%`` header ``h`` and the two bytes after it (event type, size)."""
    if len(type_size) < 2:
        raise InputFormatError(f"{path}: truncated: the DAT header at byte {h.data_offset} is not "
                               f"followed by the event type and size bytes")
    ev_type, ev_size = type_size[0], type_size[1]
    if ev_size != RECORD:
        raise InputFormatError(f"{path}: DAT event size {ev_size} at byte {h.data_offset + 1} is not "
                               f"supported (CD records are {RECORD} bytes)")
    if ev_type not in _CD_TYPES:
        raise InputFormatError(f"{path}: DAT event type {ev_type} at byte {h.data_offset} holds no "
                               f"CD events (types {sorted(_CD_TYPES)} do)")
    f = h.fields
    sensor = None
    try:
        if "width" in f and "height" in f:
            sensor = (int(f["width"].split()[0]), int(f["height"].split()[0]))
    except (ValueError, IndexError):
        raise InputFormatError(f"{path}: DAT header Width/Height are not integers") from None
    sensor = check_sensor(sensor, path)
    meta = {
        "version": f.get("version"),
        "event_type": _CD_TYPES[ev_type],
        "date": f.get("date"),
        "camera": None,
        "header": "\n".join("% " + line for line in h.lines),
        "data_offset": h.data_offset + 2,
    }
    return h.data_offset + 2, ev_type, sensor, meta


def read_info(path: str) -> FileInfo:
    start, _, sensor, meta = _header(path)
    meta["records"] = (os.path.getsize(path) - start) // RECORD
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


# state (int64[3]): previous raw timestamp (-1 before the first), wrap offset in us,
# events dropped (outside the sensor)
@kernel
def _decode(words, state, width, height, out_t, out_x, out_y, out_p):
    """Decode (t, data) uint32 pairs into the out arrays; returns the number of events."""
    prev = state[0]
    wrap = state[1]
    dropped = state[2]
    k = 0
    for i in range(words.shape[0] // 2):
        t = np.int64(words[2 * i])
        d = np.int64(words[2 * i + 1])
        if prev >= 0 and prev - t > 0x80000000:
            wrap += np.int64(1) << 32  # a 32-bit wrap, not a jump back in time
        prev = t
        x = d & 0x3FFF
        y = (d >> 14) & 0x3FFF
        if x >= width or y >= height:
            dropped += 1
            continue
        out_t[k] = t + wrap
        out_x[k] = x
        out_y[k] = y
        out_p[k] = (d >> 28) & 1
        k += 1
    state[0] = prev
    state[1] = wrap
    state[2] = dropped
    return k


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    start, _, sensor, _ = _header(path)
    width, height = sensor if sensor is not None else (1 << 16, 1 << 16)
    size = os.path.getsize(path)
    tail = (size - start) % RECORD
    if tail:
        raise InputFormatError(f"{path}: truncated: the last {tail} byte(s) at offset {size - tail} "
                               f"do not form a whole {RECORD}-byte DAT record")
    state = np.array([-1, 0, 0], dtype=np.int64)
    block = np.empty(2 * max(1, min(chunk, _BLOCK_RECORDS)), dtype="<u4")  # reused between reads
    for words in read_blocks(path, start, block, RECORD):
        out = np.empty(words.size // 2, dtype=EVENT_DTYPE)
        n = _decode(words, state, width, height, out["t"], out["x"], out["y"], out["p"])
        if n:
            yield out if n == len(out) else copy_events(out[:n])


def read_all(path: str) -> np.ndarray:
    start = _header(path)[0]
    # at most one event per record
    return collect(iter_chunks(path, COLLECT_CHUNK), (os.path.getsize(path) - start) // RECORD)
