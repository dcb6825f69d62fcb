"""AEDAT 3.1 (cAER / libcaer, e.g. DVS128 Gesture ``.aedat``): text header, then event packets.

Layout, following libcaer's ``events/common.h`` and ``events/polarity.h`` (all integers
little-endian)::

    #!AER-DAT3.1\\r\\n                 magic line
    #Format: RAW\\r\\n                 further '#' lines: format, "#Source <id>: <chip>",
    #Source 1: DVS128\\r\\n            start time, optional source-info lines with
    ...                               dvsSizeX / dvsSizeY
    #!END-HEADER\\r\\n                 end of the header
    packets, each a 28-byte header
        i16 eventType       1 = polarity; 0 special, 2 frame, 3 IMU6, ... are skipped
        i16 eventSource     id of the source ("#Source <id>")
        i32 eventSize       bytes per event (8 for polarity)
        i32 eventTSOffset   offset of the timestamp inside an event (4 for polarity)
        i32 eventTSOverflow high bits of every timestamp in the packet
        i32 eventCapacity   events stored in the packet (the data is capacity * size bytes)
        i32 eventNumber     events in use (the first eventNumber of the capacity)
        i32 eventValid      events with the valid bit set
    followed by eventCapacity * eventSize bytes. A polarity event is
        u32 data: bit 0 valid, bit 1 polarity (1 = ON), bits 2..16 y, bits 17..31 x
        i32 timestamp (microseconds); the full timestamp is eventTSOverflow << 31 | timestamp.

libcaer's addresses are already image coordinates ((0, 0) upper left, as in OpenCV), so no
flip is applied. Events whose valid bit is 0 (filtered out on the camera side) are dropped.
The sensor size comes from a ``dvsSizeX``/``dvsSizeY`` header entry if present, else from
the chip name of the first source (DVS128 -> 128x128, DAVIS240 -> 240x180, ...), else None.
No real 3.1 recording was available to us; the writer below produces files with this layout
(one source, polarity packets only; the sensor size goes into an extra header comment line
``#-Source 1: dvsSizeX=W dvsSizeY=H``, which other readers skip like any '#' line) and the
tests read them back.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Iterator

import numpy as np

from ...errors import InputFormatError
from ..dtype import EVENT_DTYPE
from . import FileInfo
from ._chunks import rechunk
from ._output import collect

NAME = "aedat3"
EXTENSIONS = (".aedat3",)
MAGIC = b"#!AER-DAT3.1"
END = b"#!END-HEADER"
PACKET_HEADER = struct.Struct("<hhiiiiii")  # 28 bytes, fields as in the module docstring
POLARITY_EVENT = 1
POLARITY_DTYPE = np.dtype([("data", "<u4"), ("t", "<i4")])
_MAX_HEADER = 64 << 20
_MAX_PACKET = 1 << 30  # bytes; a packet claiming more is corrupt
_PACKET_EVENTS = 8192  # events per packet when writing
_CHIP_SIZES = (("dvs128", (128, 128)), ("davis240", (240, 180)), ("davis346", (346, 260)),
               ("davis640", (640, 480)), ("davis128", (128, 128)), ("davis208", (208, 192)),
               ("dvxplorer", (640, 480)))


def sniff(head: bytes, path: str) -> bool:
    return head.startswith(MAGIC)


def _read_header(f, path: str) -> tuple[list[str], int]:
    lines: list[str] = []
    total = 0
    while True:
        line = f.readline(_MAX_HEADER)
        total += len(line)
        if not line:
            raise InputFormatError(f"{path}: AEDAT 3.1 header has no {END.decode()} line")
        if total > _MAX_HEADER or not line.startswith(b"#"):
            raise InputFormatError(f"{path}: AEDAT 3.1 header line at byte {total - len(line)} "
                                   f"does not start with '#' (no {END.decode()} before it)")
        if not lines and not line.startswith(MAGIC):
            raise InputFormatError(f"{path}: not an AEDAT 3.1 file")
        text = line.rstrip(b"\r\n").decode("latin-1")
        if line.startswith(END):
            return lines, total
        lines.append(text)


def _sensor(lines: list[str]) -> tuple[tuple[int, int] | None, str | None]:
    camera = None
    for line in lines:
        m = re.match(r"#Source\s+-?\d+:\s*(.+)", line)
        if m and camera is None:
            camera = m.group(1).strip()
    text = "\n".join(lines)
    mx = re.search(r"dvsSizeX\D{0,40}?(\d+)", text)
    my = re.search(r"dvsSizeY\D{0,40}?(\d+)", text)
    if mx and my and 0 < int(mx.group(1)) <= 32768 and 0 < int(my.group(1)) <= 32768:
        return (int(mx.group(1)), int(my.group(1))), camera
    if camera:
        low = camera.lower().replace(" ", "")
        for key, size in _CHIP_SIZES:
            if key in low:
                return size, camera
    return None, camera


def read_info(path: str) -> FileInfo:
    with open(path, "rb") as f:
        lines, data_start = _read_header(f, path)
    sensor, camera = _sensor(lines)
    meta = {"version": "3.1", "camera": camera, "header": "\n".join(lines), "data_offset": data_start}
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


def _iter_polarity_packets(path: str) -> Iterator[np.ndarray]:
    """Yield the valid polarity events of each packet as EVENT_DTYPE arrays."""
    with open(path, "rb") as f:
        _, pos = _read_header(f, path)
        f.seek(0, 2)
        size = f.tell()
        f.seek(pos)
        while pos < size:
            raw = f.read(PACKET_HEADER.size)
            if len(raw) < PACKET_HEADER.size:
                raise InputFormatError(f"{path}: truncated AEDAT 3.1 packet header at byte {pos}")
            etype, _src, esize, tsoff, overflow, capacity, number, _valid = PACKET_HEADER.unpack(raw)
            nbytes = capacity * esize
            if esize <= 0 or capacity < 0 or not 0 <= number <= capacity or nbytes > _MAX_PACKET:
                raise InputFormatError(f"{path}: corrupt AEDAT 3.1 packet header at byte {pos} "
                                       f"(size {esize}, capacity {capacity}, number {number})")
            body_at = pos + PACKET_HEADER.size
            if body_at + nbytes > size:
                raise InputFormatError(f"{path}: truncated AEDAT 3.1 packet at byte {pos}: it needs "
                                       f"{nbytes} bytes, {size - body_at} remain")
            if etype == POLARITY_EVENT:
                if esize != 8 or tsoff != 4 or overflow < 0:
                    raise InputFormatError(f"{path}: polarity packet at byte {pos} has event size "
                                           f"{esize}, timestamp offset {tsoff}, overflow {overflow}")
                body = f.read(number * esize)
                yield _decode(np.frombuffer(body, dtype=POLARITY_DTYPE), overflow)
            pos = body_at + nbytes
            f.seek(pos)


def _decode(raw: np.ndarray, overflow: int) -> np.ndarray:
    data = raw["data"]
    keep = (data & 1) == 1  # valid mark
    data = data[keep]
    out = np.empty(len(data), dtype=EVENT_DTYPE)
    out["t"] = (np.int64(overflow) << 31) | raw["t"][keep].astype(np.int64)
    out["x"] = (data >> 17) & 0x7FFF
    out["y"] = (data >> 2) & 0x7FFF
    out["p"] = (data >> 1) & 1
    return out


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    yield from rechunk(_iter_polarity_packets(path), chunk)


def _packet(ev: np.ndarray, overflow: int) -> bytes:
    raw = np.empty(len(ev), dtype=POLARITY_DTYPE)
    raw["data"] = ((ev["x"].astype(np.uint32) << 17) | (ev["y"].astype(np.uint32) << 2)
                   | ((ev["p"] != 0).astype(np.uint32) << 1) | 1)
    raw["t"] = (ev["t"] & 0x7FFFFFFF).astype(np.int32)
    n = len(ev)
    return PACKET_HEADER.pack(POLARITY_EVENT, 1, 8, 4, overflow, n, n, n) + raw.tobytes()


def write_stream(path: str, chunks: Iterable[np.ndarray], sensor: tuple[int, int], **meta) -> None:
    """Write polarity packets from one source; ``camera`` names the source (default eventsim)."""
    camera = re.sub(r"[\r\n]", " ", str(meta.get("camera") or "eventsim"))
    header = (f"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: {camera}\r\n"
              f"#-Source 1: dvsSizeX={int(sensor[0])} dvsSizeY={int(sensor[1])}\r\n#!END-HEADER\r\n")
    with open(path, "wb") as f:
        f.write(header.encode("latin-1", "replace"))
        for c in chunks:
            if not len(c):
                continue
            if c["t"].min() < 0 or c["x"].max() > 0x7FFF or c["y"].max() > 0x7FFF:
                raise InputFormatError(f"{path}: AEDAT 3.1 stores t >= 0 and x, y < 32768 only")
            # A packet shares one timestamp overflow: split where t >> 31 changes.
            hi = c["t"] >> 31
            cuts = np.flatnonzero(np.diff(hi)) + 1
            for part in np.split(c, cuts):
                for start in range(0, len(part), _PACKET_EVENTS):
                    sub = part[start:start + _PACKET_EVENTS]
                    f.write(_packet(sub, int(sub["t"][0] >> 31)))


def write(path: str, events: np.ndarray, sensor: tuple[int, int], **meta) -> None:
    write_stream(path, [events], sensor, **meta)


def read_all(path: str) -> np.ndarray:
    # every polarity event takes 8 bytes of the file
    return collect(_iter_polarity_packets(path), os.path.getsize(path) // POLARITY_DTYPE.itemsize)
