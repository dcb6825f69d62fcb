"""jAER AEDAT 2.0 (``.aedat``, ``.dat``): a text header, then big-endian 8-byte records.

Layout of a file::

    #!AER-DAT2.0\\r\\n               first header line (the magic)
    # ... any number of lines starting with '#', CRLF or LF, of any length (jAER writes
    #     its whole preferences XML here, 175 kB in DAVIS recordings)
    records: (address u32 big-endian, timestamp i32 big-endian, microseconds), repeated

The header ends at the first line that does not start with ``#`` (this is how jAER's
``AEFileInputStream`` finds the data). The address layout depends on the chip, named by the
header line ``# AEChip: <java class>``:

- DVS128 (``...retina.DVS128``, ``Tmpdiff128``): a 16-bit address, x_raw = bits 7..1,
  y_raw = bits 14..8, polarity bit 0; bit 15 set marks a special (sync) event, skipped.
  jAER's extractor treats raw bit 0 == 0 as ON (iniVation's AEDAT doc says the opposite;
  DESIGN.md follows jAER, which is what the camera's own software displays).
- DAVIS (``...davis.DAVIS240C``, ``Davis346red``, ...): x_raw = bits 21..12,
  y_raw = bits 30..22, polarity bit 11 (1 = ON); bit 31 set marks an APS (frame) or IMU word
  and bit 10 an external-input event: all skipped.

jAER's y axis points up and its display mirrors x, so in eventsim's image coordinates
``x = W-1-x_raw`` and ``y = H-1-y_raw`` (DESIGN.md; an accumulated frame of a walking person
is upright under this rule). A file without an ``AEChip`` line (MATLAB ``saveaerdat.m``) gets
the DAVIS layout if any early address uses bits above 15, else DVS128; for a guessed DAVIS
layout the sensor is taken as DAVIS240 (240x180) and ``metadata["layout_guessed"]`` is set.

Timestamps are 32-bit and wrap after 2^32 us (~71 min, read unsigned): a backward jump of
more than 2^31 us is taken as a wrap and 2^32 is added from there on. Smaller backward jumps
are kept as they are (events out of order are the caller's to count).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator

import numpy as np

from ...errors import InputFormatError
from ...jit import kernel
from ..dtype import EVENT_DTYPE
from . import FileInfo
from ._output import COLLECT_CHUNK, collect

NAME = "aedat2"
MAGIC = b"#!AER-DAT2.0"
RECORD = 8  # bytes per record: address u32 + timestamp i32
LAYOUT_DVS128 = 0
LAYOUT_DAVIS = 1
_LAYOUT_NAMES = {LAYOUT_DVS128: "dvs128", LAYOUT_DAVIS: "davis"}
_MAX_LINE = 1 << 20  # a header line longer than 1 MiB means this is not a header
_MAX_HEADER = 64 << 20  # nor is a header longer than 64 MiB
_GUESS_WORDS = 8192  # records looked at to guess the layout when the header names no chip
GUESS_BYTES = _GUESS_WORDS * RECORD
# DAVIS chip family -> sensor (W, H); matched as 'davis<digits>' in the AEChip class name.
_DAVIS_SIZES = {"240": (240, 180), "346": (346, 260), "128": (128, 128), "208": (208, 192),
                "640": (640, 480)}


def sniff(head: bytes, path: str) -> bool:
    return head.startswith(MAGIC)


# ---------------------------------------------------------------------------------------------
# header


def _parse_header(path: str) -> tuple[int, list[str]]:
    """Return (offset of the first record, header lines without line endings)."""
    with open(path, "rb") as f:
        return parse_header(f, path)


def parse_header(f, path: str) -> tuple[int, list[str]]:
    """:func:`_parse_header` of the binary file object ``f`` (read from its start; it may read
    past the header, so a stream must be able to give those bytes back)."""
    lines: list[str] = []
    buf = f.read(1 << 16)
    if not buf.startswith(MAGIC):
        raise InputFormatError(f"{path}: not an AEDAT 2.0 file (first line is not {MAGIC.decode()})")
    pos = 0  # offset of buf[0] in the file is `base`
    base = 0
    eof = False
    while True:
        if pos >= len(buf) and eof:
            return base + pos, lines  # header only, no records
        if pos < len(buf) and buf[pos:pos + 1] != b"#":
            return base + pos, lines
        nl = buf.find(b"\n", pos)
        if nl < 0 and not eof:
            # Line continues past the buffer: keep the unparsed tail, read more.
            if len(buf) - pos > _MAX_LINE:
                raise InputFormatError(f"{path}: AEDAT 2.0 header line at byte {base + pos} "
                                       f"is longer than {_MAX_LINE} bytes; file corrupt")
            more = f.read(1 << 16)
            eof = not more
            base += pos
            buf = buf[pos:] + more
            pos = 0
            continue
        end = len(buf) if nl < 0 else nl + 1
        lines.append(buf[pos:end].rstrip(b"\r\n").decode("latin-1"))
        pos = end
        if base + pos > _MAX_HEADER:
            raise InputFormatError(f"{path}: AEDAT 2.0 header exceeds {_MAX_HEADER} bytes; file corrupt")


def _chip(lines: list[str]) -> str | None:
    for line in lines:
        m = re.match(r"#\s*AEChip:\s*(\S+)", line)
        if m:
            return m.group(1)
    return None


def _layout_from_chip(chip: str, path: str) -> tuple[int, tuple[int, int]]:
    short = chip.rsplit(".", 1)[-1].lower()
    if "dvs128" in short or "tmpdiff128" in short:
        return LAYOUT_DVS128, (128, 128)
    m = re.search(r"davis(\d+)", short) or re.search(r"sbret(\d+)", short)
    if m is not None or "davis" in chip.lower():
        digits = m.group(1) if m else ""
        size = _DAVIS_SIZES.get(digits[:3]) or (_DAVIS_SIZES["240"] if short.startswith("sbret") else None)
        if size is None:
            raise InputFormatError(f"{path}: AEDAT 2.0 chip {chip} has an unknown sensor size")
        return LAYOUT_DAVIS, size
    raise InputFormatError(f"{path}: AEDAT 2.0 chip {chip} is not supported (DVS128 and DAVIS are)")


def _guess_layout(path: str, data_start: int) -> int:
    with open(path, "rb") as f:
        f.seek(data_start)
        return guess_layout(f.read(GUESS_BYTES))


def guess_layout(blob: bytes) -> int:
    """The layout of records starting with ``blob`` (the first ``GUESS_BYTES`` of the data)."""
    raw = np.frombuffer(blob[: len(blob) // RECORD * RECORD], dtype=">u4")
    addr = raw[0::2]
    # DVS128 addresses are 16-bit; any higher bit means the 32-bit DAVIS layout.
    return LAYOUT_DAVIS if np.any(addr >> 16) else LAYOUT_DVS128


def _header(path: str) -> tuple[int, int, tuple[int, int], dict]:
    """(data_start, layout, sensor, metadata) of an AEDAT 2.0 file."""
    data_start, lines = _parse_header(path)
    return header_from(data_start, lines, lambda: _guess_layout(path, data_start), path)


def header_from(data_start: int, lines: list[str], guess, path: str
                ) -> tuple[int, int, tuple[int, int], dict]:
    """:func:`_header` of parsed header ``lines``; ``guess()`` gives the layout when no chip is named."""
    chip = _chip(lines)
    meta: dict = {"version": "2.0", "header": "\n".join(lines), "data_offset": data_start}
    if chip is not None:
        layout, sensor = _layout_from_chip(chip, path)
        meta["camera"] = chip.rsplit(".", 1)[-1]
        meta["chip_class"] = chip
    else:
        layout = guess()
        sensor = (128, 128) if layout == LAYOUT_DVS128 else _DAVIS_SIZES["240"]
        meta["camera"] = None
        meta["layout_guessed"] = True
    meta["layout"] = _LAYOUT_NAMES[layout]
    return data_start, layout, sensor, meta


def read_info(path: str) -> FileInfo:
    data_start, layout, sensor, meta = _header(path)
    payload = os.path.getsize(path) - data_start
    meta["records"] = payload // RECORD  # upper bound of the event count (skipped words included)
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


# ---------------------------------------------------------------------------------------------
# decoding


@kernel
def _bswap32(v):
    return ((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | ((v >> 24) & 0xFF)


@kernel
def _decode(words, layout, width, height, state, out_t, out_x, out_y, out_p):
    """Decode little-endian-read u32 word pairs (big-endian on disk) into the out arrays.

    ``state`` is int64[3]: [previous raw timestamp (-1 before the first), wrap offset,
    events skipped for coordinates outside the sensor]; updated in place so chunks chain.
    Returns the number of events written.
    """
    n = words.shape[0] // 2
    k = 0
    prev = state[0]
    offset = state[1]
    oob = state[2]
    for i in range(n):
        a = np.int64(_bswap32(np.int64(words[2 * i])))
        ts = np.int64(_bswap32(np.int64(words[2 * i + 1])))
        if prev >= 0 and prev - ts > 0x80000000:
            offset += np.int64(1) << 32  # a 32-bit wrap, not a jump back in time
        prev = ts
        if layout == 0:
            if a & 0x80008000:
                continue  # special / sync event
            xr = (a >> 1) & 0x7F
            yr = (a >> 8) & 0x7F
            pol = 1 - (a & 1)  # jAER: raw bit0 == 0 is ON
        else:
            if a & 0x80000400:
                continue  # APS or IMU word (bit 31), external input event (bit 10)
            xr = (a >> 12) & 0x3FF
            yr = (a >> 22) & 0x1FF
            pol = (a >> 11) & 1
        if xr >= width or yr >= height:
            oob += 1
            continue
        out_t[k] = ts + offset
        out_x[k] = width - 1 - xr
        out_y[k] = height - 1 - yr
        out_p[k] = pol
        k += 1
    state[0] = prev
    state[1] = offset
    state[2] = oob
    return k


def decode_words(words: np.ndarray, layout: int, sensor: tuple[int, int], state: np.ndarray) -> np.ndarray:
    """Decode a native-order u32 view of big-endian records into an EVENT_DTYPE array."""
    out = np.empty(len(words) // 2, dtype=EVENT_DTYPE)
    k = _decode(words, layout, sensor[0], sensor[1], state, out["t"], out["x"], out["y"], out["p"])
    return out[:k]


def new_state() -> np.ndarray:
    return np.array([-1, 0, 0], dtype=np.int64)


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    data_start, layout, sensor, _ = _header(path)
    state = new_state()
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        nrec = (size - data_start) // RECORD
        tail = (size - data_start) % RECORD
        if tail:  # checked before any event is yielded, as for the other fixed-record formats
            raise InputFormatError(f"{path}: truncated: {tail} bytes at byte {data_start + nrec * RECORD} "
                                   f"do not form a whole {RECORD}-byte record")
        f.seek(data_start)
        done = 0
        while done < nrec:
            m = min(chunk, nrec - done)
            # Read little-endian and byte-swap in the kernel: Numba has no big-endian arrays.
            words = np.fromfile(f, dtype="<u4", count=2 * m)
            if len(words) != 2 * m:
                raise InputFormatError(f"{path}: file shrank while reading at byte {f.tell()}")
            done += m
            ev = decode_words(words, layout, sensor, state)
            if len(ev):
                yield ev
    if state[2]:
        warnings.warn(f"{path}: skipped {state[2]} events with coordinates outside the "
                      f"{sensor[0]}x{sensor[1]} sensor", stacklevel=2)


def read_all(path: str) -> np.ndarray:
    data_start = _header(path)[0]
    # at most one event per 8-byte record
    return collect(iter_chunks(path, COLLECT_CHUNK), (os.path.getsize(path) - data_start) // RECORD)
