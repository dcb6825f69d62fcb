"""DV AEDAT 4.0 (``.aedat4``): FlatBuffers packets, LZ4 / ZSTD compressed or plain.

Layout (all integers little-endian), as written by iniVation's DV / dv-processing::

    "#!AER-DAT4.0\\r\\n"                         14-byte version line
    u32 n, then n bytes: IOHeader FlatBuffer     file identifier "IOHE"; fields
        0 compression: i32 (0 NONE, 1 LZ4, 2 LZ4_HIGH, 3 ZSTD, 4 ZSTD_HIGH)
        1 dataTablePosition: i64 (byte offset of the packet index at the end, -1 if none)
        2 infoNode: string, XML: one <node name="<stream id>"> per stream with attributes
          typeIdentifier (EVTS, FRME, IMUS, TRIG), compression and an "info" node with
          sizeX, sizeY, source (camera name), tsOffset
    packets, until dataTablePosition (or the end of the file):
        i32 streamID, i32 size, then `size` bytes: the packet body compressed as a whole
        (LZ4 frame / ZSTD frame / plain) per the header's compression.
        The decompressed body is a size-prefixed FlatBuffer (u32 size, u32 root offset,
        4-byte file identifier, ...). For "EVTS" the root table's field 0 is a vector of
        Event structs, 16 bytes each: t i64 (absolute Unix microseconds), x i16, y i16,
        on bool, 3 padding bytes.
    the data table (an index of packets) at dataTablePosition, compressed, not needed here.

Only the first EVTS stream is decoded; frame, IMU and trigger packets are skipped by their
stream ID without decompressing them. FlatBuffers are read by hand with bounds checks (no
``flatbuffers`` dependency): every offset is checked before use, and every packet size is
checked against the file size and a per-packet limit before anything is allocated, so a
corrupt file raises InputFormatError with the byte offset instead of crashing. A compressed
packet is inflated in bounded steps, never past the size its FlatBuffer size prefix declares
(and never past ``_MAX_PACKET``), so a small file of highly compressed packets cannot make
the reader allocate gigabytes.
"""

from __future__ import annotations

import os
import struct
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape

import lz4.frame
import numpy as np
import zstandard

from ...errors import InputFormatError
from ...jit import inline_kernel, kernel
from ..dtype import EVENT_DTYPE
from . import FileInfo
from ._chunks import rechunk
from ._output import EventBuffer

NAME = "aedat4"
EXTENSIONS = (".aedat4",)
MAGIC = b"#!AER-DAT4.0\r\n"
COMPRESSIONS = {0: "none", 1: "lz4", 2: "lz4_high", 3: "zstd", 4: "zstd_high"}
_MAX_HEADER = 64 << 20  # an IOHeader beyond 64 MiB is corrupt (real ones are a few kB)
# Inflated packet size limit: 4 M events. DV writes packets of a few thousand events (the
# largest in the shared fixtures is 48 kB inflated); a packet may not declare or inflate to more.
_MAX_PACKET = 64 << 20
# Inflation ratio limit: event packets compress about 2x (1.9-2.7x in every real and synthetic
# file we have); a packet inflating more than 32x is a compression bomb, not a recording. With
# it a file can never decode to more than ~32x its own size. Tiny packets get _RATIO_FLOOR.
_MAX_RATIO = 32
_RATIO_FLOOR = 64 << 10
_PACKET_EVENTS = 8192  # events per packet when writing (DV writes packets of similar size)
# The on-disk Event struct of DV's EventPacket (16 bytes, explicit padding).
DV_EVENT = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"],
                     "offsets": [0, 8, 10, 12], "itemsize": 16})


def sniff(head: bytes, path: str) -> bool:
    return head.startswith(MAGIC)


# ---------------------------------------------------------------------------------------------
# bounds-checked FlatBuffers reading


class _FlatBuffer:
    """Read tables, scalars, strings and vectors of one FlatBuffer, checking every offset."""

    def __init__(self, buf: bytes, path: str, where: int):
        self.buf = buf
        self.path = path
        self.where = where  # file offset of the packet, for messages

    def fail(self, what: str) -> InputFormatError:
        return InputFormatError(f"{self.path}: corrupt FlatBuffer in the packet at byte {self.where}: {what}")

    def u16(self, off: int) -> int:
        if off < 0 or off + 2 > len(self.buf):
            raise self.fail(f"offset {off} out of bounds")
        return struct.unpack_from("<H", self.buf, off)[0]

    def u32(self, off: int) -> int:
        if off < 0 or off + 4 > len(self.buf):
            raise self.fail(f"offset {off} out of bounds")
        return struct.unpack_from("<I", self.buf, off)[0]

    def scalar(self, fmt: str, off: int):
        size = struct.calcsize(fmt)
        if off < 0 or off + size > len(self.buf):
            raise self.fail(f"offset {off} out of bounds")
        return struct.unpack_from(fmt, self.buf, off)[0]

    def root(self, base: int = 0) -> int:
        return base + self.u32(base)

    def field(self, table: int, index: int) -> int | None:
        """Absolute offset of field ``index`` of the table at ``table``; None if absent."""
        vtable = table - self.scalar("<i", table)
        vt_size = self.u16(vtable)
        if vt_size < 4 or vt_size % 2:
            raise self.fail(f"bad vtable size {vt_size}")
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        rel = self.u16(vtable + slot)
        return table + rel if rel else None

    def indirect(self, off: int) -> int:
        return off + self.u32(off)

    def vector(self, off: int, item_size: int) -> tuple[int, int]:
        """(start, count) of the vector referenced at ``off``, checked to lie in the buffer."""
        vec = self.indirect(off)
        n = self.u32(vec)
        if vec + 4 + n * item_size > len(self.buf):
            raise self.fail(f"vector of {n} x {item_size} bytes at {vec} runs past the end")
        return vec + 4, n


# ---------------------------------------------------------------------------------------------
# header


def _read_header(f, path: str) -> tuple[dict, int]:
    """Parse the version line and IOHeader -> (header dict, offset of the first packet)."""
    head = f.read(len(MAGIC) + 4)
    if not head.startswith(MAGIC):
        raise InputFormatError(f"{path}: not an AEDAT 4.0 file (no {MAGIC!r} version line)")
    if len(head) < len(MAGIC) + 4:
        raise InputFormatError(f"{path}: truncated AEDAT 4.0 header at byte {len(MAGIC)}")
    n = struct.unpack_from("<I", head, len(MAGIC))[0]
    if n > _MAX_HEADER:
        raise InputFormatError(f"{path}: AEDAT 4.0 IOHeader size {n} at byte {len(MAGIC)} is implausible")
    buf = f.read(n)
    if len(buf) != n:
        raise InputFormatError(f"{path}: truncated AEDAT 4.0 IOHeader (expected {n} bytes at byte 18)")
    fb = _FlatBuffer(buf, path, len(MAGIC))
    table = fb.root()
    comp_off = fb.field(table, 0)
    dtp_off = fb.field(table, 1)
    info_off = fb.field(table, 2)
    compression = fb.scalar("<i", comp_off) if comp_off is not None else 0
    if compression not in COMPRESSIONS:
        raise InputFormatError(f"{path}: unknown AEDAT 4.0 compression code {compression}")
    dtp = fb.scalar("<q", dtp_off) if dtp_off is not None else -1
    if info_off is None:
        raise InputFormatError(f"{path}: AEDAT 4.0 IOHeader has no infoNode (stream description)")
    start, length = fb.vector(info_off, 1)
    xml = buf[start:start + length].decode("utf-8", "replace")
    streams = _parse_streams(xml, path)
    header = {"compression": COMPRESSIONS[compression], "data_table_position": int(dtp),
              "info_xml": xml, "streams": streams}
    return header, len(MAGIC) + 4 + n


def _parse_streams(xml: str, path: str) -> dict[int, dict]:
    """Stream id -> {type, width?, height?, source?, ts_offset?} from the info XML."""
    try:
        root = ET.fromstring(xml.strip("\x00 \r\n\t"))
    except ET.ParseError as exc:
        raise InputFormatError(f"{path}: AEDAT 4.0 infoNode XML is malformed ({exc})") from None
    streams: dict[int, dict] = {}
    out = root.find("node[@name='outInfo']")
    for node in (out if out is not None else []):
        try:
            sid = int(node.get("name", ""))
        except ValueError:
            continue
        attrs = {a.get("key"): (a.text or "") for a in node.findall("attr")}
        info = {a.get("key"): (a.text or "") for a in node.findall("node[@name='info']/attr")}
        s: dict = {"type": attrs.get("typeIdentifier", ""), "name": attrs.get("originalOutputName", "")}
        try:
            if "sizeX" in info and "sizeY" in info:
                s["width"], s["height"] = int(info["sizeX"]), int(info["sizeY"])
            if "tsOffset" in info:
                s["ts_offset"] = int(info["tsOffset"])
        except ValueError:
            raise InputFormatError(f"{path}: AEDAT 4.0 stream {sid} has a non-integer size") from None
        if "source" in info:
            s["source"] = info["source"]
        streams[sid] = s
    return streams


def _event_stream(header: dict, path: str) -> tuple[int | None, tuple[int, int] | None]:
    for sid in sorted(header["streams"]):
        s = header["streams"][sid]
        if s["type"] == "EVTS":
            sensor = (s["width"], s["height"]) if "width" in s else None
            if sensor is not None and not (0 < sensor[0] <= 32768 and 0 < sensor[1] <= 32768):
                raise InputFormatError(f"{path}: AEDAT 4.0 event stream has invalid size {sensor}")
            return sid, sensor
    return None, None


def read_info(path: str) -> FileInfo:
    with open(path, "rb") as f:
        header, _ = _read_header(f, path)
    sid, sensor = _event_stream(header, path)
    camera = header["streams"][sid].get("source") if sid is not None else None
    meta = {"version": "4.0", "camera": camera, "compression": header["compression"],
            "event_stream": sid, "streams": header["streams"], "header": header["info_xml"],
            "data_table_position": header["data_table_position"]}
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


# ---------------------------------------------------------------------------------------------
# packets


class _Inflater:
    """``read(n)`` over one compressed packet body: at most ``n`` inflated bytes per call.

    Inflating in bounded steps means a packet is never inflated further than the size it
    declares, whatever its compressed stream would expand to.
    """

    def __init__(self, data: bytes, compression: str):
        if compression.startswith("lz4"):
            self._lz4 = lz4.frame.LZ4FrameDecompressor()
            self._pending = data
        else:
            self._lz4 = None
            self._zstd = zstandard.ZstdDecompressor().stream_reader(data)

    def read(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            if self._lz4 is not None:
                if self._lz4.eof:
                    break
                piece = self._lz4.decompress(self._pending, max_length=n - got)
                self._pending = b""
            else:
                piece = self._zstd.read(n - got)
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)


def _declared_size(head: bytes) -> int | None:
    """Inflated size a packet declares: its FlatBuffer size prefix + 4 (None: not prefixed)."""
    if len(head) >= 12 and head[8:12] == b"EVTS":
        return struct.unpack_from("<I", head, 0)[0] + 4
    return None


def _inflate_limit(compressed: int) -> int:
    """Most bytes a packet of ``compressed`` bytes may inflate to (see ``_MAX_RATIO``)."""
    return min(_MAX_PACKET, max(_MAX_RATIO * compressed, _RATIO_FLOOR))


def _decompress(data: bytes, compression: str, path: str, where: int) -> bytes:
    """The inflated body of the packet at byte ``where``, never inflated past what it may hold.

    A size-prefixed packet (what DV writes) must inflate to exactly its prefix + 4 bytes; no
    packet may inflate past ``_inflate_limit`` of its compressed size. Both are checked while
    inflating in bounded steps, so the limit is what is allocated at most.
    """
    if compression == "none":
        return data
    what = f"{path}: {compression.upper()} packet at byte {where}"
    limit = _inflate_limit(len(data))
    try:
        inflater = _Inflater(data, compression)
        head = inflater.read(12)
        declared = _declared_size(head)
        if declared is not None and declared > limit:
            raise InputFormatError(f"{what} declares {declared:,} inflated bytes from {len(data):,} "
                                   f"compressed; at most {limit:,} are accepted (event data compresses "
                                   f"about 2x; packets are limited to {_MAX_RATIO}x and "
                                   f"{_MAX_PACKET:,} bytes)")
        if declared is not None:
            limit = declared
        body = head + inflater.read(limit + 1 - len(head))
    except InputFormatError:
        raise
    except (RuntimeError, ValueError, zstandard.ZstdError, MemoryError) as exc:
        raise InputFormatError(f"{what}: cannot decompress ({exc}); wrong compression flag or "
                               "corrupt data") from None
    if len(body) > limit:
        raise InputFormatError(f"{what} inflates beyond " + (
            f"its declared {declared:,} bytes" if declared is not None else
            f"{limit:,} bytes ({_MAX_RATIO}x its compressed size or {_MAX_PACKET:,} bytes)"))
    if declared is not None and len(body) < declared:
        raise InputFormatError(f"{what} is truncated: it inflates to {len(body):,} of its declared "
                               f"{declared:,} bytes")
    return body


class _Inflate:
    """Inflates one packet body after another with one reused LZ4 / ZSTD context.

    The fast path inflates a packet in one call capped at its ``_inflate_limit`` and accepts it
    when it is what DV writes (a size prefix matching the inflated size exactly). Anything else
    (too large, a size mismatch, a decompression error) is handed to :func:`_decompress`, the
    bounded step-by-step inflation, which refuses it with its exact message or accepts it, so
    the fast path changes speed only, never a result or an error.
    """

    def __init__(self, compression: str, path: str):
        self.compression = compression
        self.path = path
        self._lz4 = lz4.frame.LZ4FrameDecompressor() if compression.startswith("lz4") else None
        self._zstd = zstandard.ZstdDecompressor() if compression.startswith("zstd") else None

    def __call__(self, data, where: int) -> bytes:
        if self.compression == "none":
            return bytes(data)
        body = self._fast(data, _inflate_limit(len(data)))
        if body is None:
            return _decompress(bytes(data), self.compression, self.path, where)
        return body

    def _fast(self, data, limit: int) -> bytes | None:
        try:
            if self._lz4 is not None:
                self._lz4.reset()
                body = self._lz4.decompress(data, max_length=limit + 1)
                if not self._lz4.eof:
                    return None
            elif self._zstd is not None:
                # a ZSTD frame header may state its content size, which python-zstandard then
                # allocates whatever max_output_size says: check it first
                size = zstandard.frame_content_size(data)
                if not 0 < size <= limit:
                    return None
                body = self._zstd.decompress(data, max_output_size=limit + 1)
            else:
                return None
        except (RuntimeError, ValueError, zstandard.ZstdError, MemoryError):
            return None
        declared = _declared_size(body)
        if len(body) > limit or (declared is not None and declared != len(body)):
            return None
        return body


class _Blocks:
    """Byte ranges of a file through one large read buffer (one read per block, not per packet)."""

    BLOCK = 8 << 20

    def __init__(self, f):
        self.f = f
        self.start = 0  # file offset of buf[0]
        self.buf = memoryview(b"")

    def get(self, pos: int, n: int) -> memoryview:
        """Up to ``n`` bytes at file offset ``pos`` (fewer only at the end of the file)."""
        if not (self.start <= pos and pos + n <= self.start + len(self.buf)):
            self.f.seek(pos)
            self.buf = memoryview(self.f.read(max(n, self.BLOCK)))
            self.start = pos
        off = pos - self.start
        return self.buf[off:off + n]


def _iter_packets(f, path: str, header: dict, pos: int, want_stream: int | None
                  ) -> Iterator[tuple[int, bytes]]:
    """Yield (file offset, decompressed body) of every packet of ``want_stream`` in the open
    file ``f`` whose header is ``header`` and whose first packet is at ``pos``."""
    f.seek(0, 2)
    size = f.tell()
    dtp = header["data_table_position"]
    end = dtp if pos <= dtp <= size else size
    known = header["streams"]
    inflate = _Inflate(header["compression"], path)
    blocks = _Blocks(f)
    unpack = struct.Struct("<ii").unpack
    while pos < end:
        ph = blocks.get(pos, 8)
        if len(ph) < 8 or pos + 8 > end:
            raise InputFormatError(f"{path}: truncated AEDAT 4.0 packet header at byte {pos}")
        sid, n = unpack(ph)
        if sid not in known:
            raise InputFormatError(f"{path}: packet at byte {pos} has stream id {sid}, "
                                   f"not in the header's stream list {sorted(known)}")
        if n < 0 or pos + 8 + n > end:
            raise InputFormatError(f"{path}: packet at byte {pos} claims {n} bytes; "
                                   f"only {end - pos - 8} remain")
        if sid == want_stream:
            if n > _MAX_PACKET:
                raise InputFormatError(f"{path}: packet at byte {pos} is {n:,} bytes long; "
                                       f"packets are limited to {_MAX_PACKET:,} bytes")
            body = blocks.get(pos + 8, n)
            if len(body) != n:
                raise InputFormatError(f"{path}: truncated AEDAT 4.0 packet at byte {pos}")
            yield pos, inflate(body, pos)
        pos += 8 + n


def _packet_events(body: bytes, path: str, where: int) -> np.ndarray:
    """The DV_EVENT array of a decompressed EVTS packet (a view into ``body``).

    The plain twin of ``_decode_packets``' FlatBuffer walk, and the source of its error messages.
    """
    fb = _FlatBuffer(body, path, where)
    # Size-prefixed (what DV writes): u32 size, root, "EVTS"; tolerate a plain buffer too.
    if body[8:12] == b"EVTS":
        if fb.u32(0) > len(body) - 4:
            raise fb.fail("size prefix larger than the packet")
        base = 4
    elif body[4:8] == b"EVTS":
        base = 0
    else:
        raise fb.fail(f"not an event packet (identifier {body[4:12]!r})")
    table = fb.root(base)
    elements = fb.field(table, 0)
    if elements is None:
        return np.empty(0, dtype=DV_EVENT)
    start, n = fb.vector(elements, DV_EVENT.itemsize)
    return np.frombuffer(body, dtype=DV_EVENT, count=n, offset=start)


def _to_events(dv: np.ndarray, sensor: tuple[int, int] | None, skipped: list[int]) -> np.ndarray:
    """EVENT_DTYPE events of one packet's DV_EVENT array, those outside ``sensor`` counted in
    ``skipped[0]`` and left out (the per-packet twin of ``_decode_packets``, for byte streams)."""
    x = dv["x"]
    y = dv["y"]
    if sensor is not None:
        ok = (x >= 0) & (x < sensor[0]) & (y >= 0) & (y < sensor[1])
    else:
        ok = (x >= 0) & (y >= 0)
    if not ok.all():
        skipped[0] += int(len(ok) - ok.sum())
        dv = dv[ok]
    out = np.empty(len(dv), dtype=EVENT_DTYPE)
    out["t"] = dv["t"]
    out["x"] = dv["x"]
    out["y"] = dv["y"]
    out["p"] = dv["on"] != 0
    return out


# ---------------------------------------------------------------------------------------------
# batch decoding: many packets per kernel call

_BATCH_BYTES = 4 << 20  # inflated packet bytes decoded per kernel call


@inline_kernel
def _u16(b, o):
    return np.int64(b[o]) | (np.int64(b[o + 1]) << 8)


@inline_kernel
def _u32(b, o):
    return _u16(b, o) | (_u16(b, o + 2) << 16)


@kernel
def _vector(b, lo, hi):
    """(start, count) of the event vector of the packet in ``b[lo:hi]``; count -1 if corrupt.

    The checks of ``_packet_events`` / ``_FlatBuffer``, on offsets relative to ``lo``.
    """
    size = hi - lo
    if size >= 12 and b[lo + 8] == 69 and b[lo + 9] == 86 and b[lo + 10] == 84 and b[lo + 11] == 83:
        if _u32(b, lo) > size - 4:
            return 0, -1
        base = 4
    elif size >= 8 and b[lo + 4] == 69 and b[lo + 5] == 86 and b[lo + 6] == 84 and b[lo + 7] == 83:
        base = 0
    else:  # "EVTS" at neither place
        return 0, -1
    if base + 4 > size:
        return 0, -1
    table = base + _u32(b, lo + base)
    if table + 4 > size:
        return 0, -1
    soff = _u32(b, lo + table)
    vtable = table - (soff - (np.int64(1) << 32) if soff >= (np.int64(1) << 31) else soff)
    if vtable < 0 or vtable + 2 > size:
        return 0, -1
    vt_size = _u16(b, lo + vtable)
    if vt_size < 4 or vt_size % 2:
        return 0, -1
    if 6 > vt_size:
        return 0, 0  # no field 0: an empty packet
    if vtable + 6 > size:
        return 0, -1
    rel = _u16(b, lo + vtable + 4)
    if rel == 0:
        return 0, 0
    elements = table + rel
    if elements + 4 > size:
        return 0, -1
    vec = elements + _u32(b, lo + elements)
    if vec + 4 > size:
        return 0, -1
    n = _u32(b, lo + vec)
    if vec + 4 + n * 16 > size:
        return 0, -1
    return lo + vec + 4, n


@kernel
def _decode_packets(b, bounds, width, height, out, status):
    """Decode the DV events of packets ``b[bounds[i]:bounds[i+1]]`` into ``out``; returns the
    number written. ``status[0]``: index of the first corrupt packet (-1: none), which stops the
    decode; ``status[1]`` += events skipped for coordinates outside ``width`` x ``height``."""
    n = 0
    skipped = 0
    status[0] = -1
    for i in range(bounds.shape[0] - 1):
        start, count = _vector(b, bounds[i], bounds[i + 1])
        if count < 0:
            status[0] = i
            break
        for k in range(count):
            o = start + 16 * k
            x = np.int16(_u16(b, o + 8))
            y = np.int16(_u16(b, o + 10))
            if x < 0 or y < 0 or x >= width or y >= height:
                skipped += 1
                continue
            t = np.int64(0)
            for j in range(7, -1, -1):
                t = (t << 8) | np.int64(b[o + j])
            ev = out[n]
            ev["t"] = t
            ev["x"] = x
            ev["y"] = y
            ev["p"] = 1 if b[o + 12] != 0 else 0
            n += 1
    status[1] += skipped
    return n


class _Batch:
    """Inflated event packets waiting for one ``_decode_packets`` call."""

    def __init__(self):
        self._empty()

    def _empty(self) -> None:
        self.bodies: list[bytes] = []
        self.where: list[int] = []
        self.nbytes = 0

    def add(self, where: int, body: bytes) -> None:
        self.bodies.append(body)
        self.where.append(where)
        self.nbytes += len(body)

    def decode_into(self, out: EventBuffer, sensor, path: str, status: np.ndarray) -> None:
        """Append the batch's events to ``out`` and empty the batch; InputFormatError (the
        message of ``_packet_events``) at the first corrupt packet."""
        if not self.bodies:
            return
        bounds = np.zeros(len(self.bodies) + 1, np.int64)
        np.cumsum([len(b) for b in self.bodies], out=bounds[1:])
        data = np.frombuffer(b"".join(self.bodies), np.uint8)
        out.reserve(self.nbytes // DV_EVENT.itemsize)  # an event takes 16 inflated bytes
        w, h = sensor if sensor is not None else (1 << 16, 1 << 16)
        out.n += _decode_packets(data, bounds, w, h, out.free(), status)
        bad = int(status[0])
        if bad >= 0:
            _packet_events(self.bodies[bad], path, self.where[bad])  # raises with the message
            raise InputFormatError(f"{path}: corrupt FlatBuffer in the packet at byte {self.where[bad]}")
        self._empty()


def _decode_file(path: str, out_for_batch) -> Iterator[None]:
    """Decode the event packets of ``path`` batch by batch into ``out_for_batch()``'s buffer;
    yields after each batch. Warns about events outside the sensor at the end."""
    status = np.zeros(2, np.int64)
    batch = _Batch()
    with open(path, "rb") as f:
        header, pos = _read_header(f, path)
        sid, sensor = _event_stream(header, path)
        if sid is None:
            return
        try:
            for where, body in _iter_packets(f, path, header, pos, sid):
                batch.add(where, body)
                if batch.nbytes >= _BATCH_BYTES:
                    batch.decode_into(out_for_batch(), sensor, path, status)
                    yield
        except InputFormatError:
            # packets before the bad one come first, as when they were decoded one by one
            batch.decode_into(out_for_batch(), sensor, path, status)
            raise
    batch.decode_into(out_for_batch(), sensor, path, status)
    yield
    if status[1]:
        warnings.warn(f"{path}: skipped {int(status[1])} events with coordinates outside the sensor",
                      stacklevel=3)


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    cur = [EventBuffer(0)]

    def batches() -> Iterator[np.ndarray]:
        for _ in _decode_file(path, lambda: cur[0]):
            if cur[0].n:
                done, cur[0] = cur[0], EventBuffer(0)
                yield done.finish()

    yield from rechunk(batches(), chunk)


def read_all(path: str) -> np.ndarray:
    # Event packets inflate about 2x (1.9-2.7x measured) into 16 bytes per event: a quarter of
    # the file size in events covers any real recording; more grows the buffer.
    out = EventBuffer(os.path.getsize(path) // 4)
    for _ in _decode_file(path, lambda: out):
        pass
    return out.finish()


# ---------------------------------------------------------------------------------------------
# writing


def _info_xml(sensor: tuple[int, int], compression: str, camera: str, ts_offset: int) -> bytes:
    p = "/mainloop/Recorder/outInfo/"
    comp = {"none": "NONE", "lz4": "LZ4", "lz4_high": "LZ4_HIGH", "zstd": "ZSTD",
            "zstd_high": "ZSTD_HIGH"}[compression]
    lines = [
        '<dv version="2.0">',
        f'    <node name="outInfo" path="{p}">',
        f'        <node name="0" path="{p}0/">',
        f'            <attr key="compression" type="string">{comp}</attr>',
        '            <attr key="originalModuleName" type="string">eventsim</attr>',
        '            <attr key="originalOutputName" type="string">events</attr>',
        '            <attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>',
        '            <attr key="typeIdentifier" type="string">EVTS</attr>',
        f'            <node name="info" path="{p}0/info/">',
        f'                <attr key="sizeX" type="int">{int(sensor[0])}</attr>',
        f'                <attr key="sizeY" type="int">{int(sensor[1])}</attr>',
        f'                <attr key="source" type="string">{escape(camera)}</attr>',
        f'                <attr key="tsOffset" type="long">{int(ts_offset)}</attr>',
        "            </node>",
        "        </node>",
        "    </node>",
        "</dv>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def _io_header(compression: int, data_table_position: int, info: bytes) -> bytes:
    """A size-prefixed IOHeader FlatBuffer, laid out as DV writes it."""
    # root offset 24 | "IOHE" | 6 pad | vtable (10 B) | table: soffset, info uoffset, i64, i32 | string
    vtable = struct.pack("<HHHHH", 10, 20, 16, 8, 4)
    body = (struct.pack("<I", 24) + b"IOHE" + bytes(6) + vtable
            + struct.pack("<iIqi", 24 - 14, 44 - 28, data_table_position, compression)
            + struct.pack("<I", len(info)) + info + b"\x00")
    body += bytes(-len(body) % 8)
    return struct.pack("<I", len(body)) + body


def _event_packet(ev: np.ndarray) -> bytes:
    """A size-prefixed EventPacket FlatBuffer holding ``ev`` (laid out as DV writes it)."""
    dv = np.zeros(len(ev), dtype=DV_EVENT)
    dv["t"] = ev["t"]
    dv["x"] = ev["x"]
    dv["y"] = ev["y"]
    dv["on"] = ev["p"] != 0
    # root 16 | "EVTS" | 2 pad | vtable (6 B) | table: soffset, vector uoffset | u32 n | structs
    head = (struct.pack("<I", 16) + b"EVTS" + bytes(2) + struct.pack("<HHH", 6, 8, 4)
            + struct.pack("<iI", 16 - 10, 4) + struct.pack("<I", len(ev)))
    body = head + dv.tobytes()
    return struct.pack("<I", len(body)) + body


def _compress(body: bytes, compression: str) -> bytes:
    if compression == "none":
        return body
    if compression == "lz4":
        return lz4.frame.compress(body)
    if compression == "lz4_high":
        return lz4.frame.compress(body, compression_level=lz4.frame.COMPRESSIONLEVEL_MINHC)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(body)
    return zstandard.ZstdCompressor(level=19).compress(body)


def write_stream(path: str, chunks: Iterable[np.ndarray], sensor: tuple[int, int], **meta) -> None:
    """Write an events-only AEDAT 4.0 file; ``compression`` in COMPRESSIONS' names (default lz4)."""
    compression = str(meta.get("compression", "lz4")).lower()
    codes = {v: k for k, v in COMPRESSIONS.items()}
    if compression not in codes:
        raise InputFormatError(f"{path}: unknown AEDAT 4.0 compression {compression!r} "
                               f"(choose from {', '.join(codes)})")
    camera = str(meta.get("camera") or "eventsim")
    info = _info_xml(sensor, compression, camera, int(meta.get("ts_offset", 0)))
    with open(path, "wb") as f:
        f.write(MAGIC)
        # No packet index (data table): -1 tells DV readers to walk the packets instead.
        f.write(_io_header(codes[compression], -1, info))
        for c in chunks:
            for start in range(0, len(c), _PACKET_EVENTS):
                blob = _compress(_event_packet(c[start:start + _PACKET_EVENTS]), compression)
                f.write(struct.pack("<ii", 0, len(blob)))
                f.write(blob)


def write(path: str, events: np.ndarray, sensor: tuple[int, int], **meta) -> None:
    write_stream(path, [events], sensor, **meta)
