"""Prophesee / Metavision ``.raw`` recordings in EVT 2.0 and EVT 3.0 encoding.

A file is an ASCII header of lines starting with ``%`` (``% evt 3.0``, or in newer files
``% format EVT3;height=720;width=1280``, ``% geometry 1280x720``, ``% plugin_name ...``,
optionally closed by ``% end``), followed by little-endian words of one encoding:

EVT 2.0, 32-bit words, type in bits 31..28 (Prophesee "EVT 2.0 Format" documentation, and
OpenEB ``evt2_event_types.h``):

- ``0x0`` CD_OFF / ``0x1`` CD_ON: bits 27..22 time (6 LSBs), 21..11 x, 10..0 y;
- ``0x8`` EVT_TIME_HIGH: bits 27..0 are time bits 33..6 (``t = time_high << 6 | low``);
- ``0xA`` EXT_TRIGGER, ``0xD`` IMU, ``0xE`` OTHERS, ``0xF`` CONTINUED: no CD event, skipped.

EVT 3.0, 16-bit words, type in bits 15..12 (Prophesee "EVT 3.0 Format", OpenEB
``evt3_event_types.h``). The stream is stateful: each word updates part of a state and only
ADDR_X and the vector words emit events.

- ``0x0`` EVT_ADDR_Y: bits 10..0 y (bit 11 master/slave origin, ignored); CD events follow;
- ``0x1`` (ATIS exposure-measurement y address): the events that follow are not CD events and
  are skipped until the next ``0x0`` word (as OpenEB's decoder does);
- ``0x2`` EVT_ADDR_X: one event at x = bits 10..0, polarity bit 11, current y and time;
- ``0x3`` VECT_BASE_X: bits 10..0 base x, bit 11 polarity of the vector events that follow;
- ``0x4`` VECT_12 / ``0x5`` VECT_8: bit i of the 12 (8) valid bits set -> an event at
  ``base_x + i``; base x then advances by 12 (8) whether bits are set or not;
- ``0x6`` EVT_TIME_LOW: time bits 11..0; ``0x8`` EVT_TIME_HIGH: time bits 23..12;
- ``0x7``/``0xF`` CONTINUED, ``0xA`` EXT_TRIGGER, ``0xE`` OTHERS, others: skipped.

**EVT 3.0 timestamps** (third-party readers disagree on the fixture, see
``shared/data/prophesee/SOURCES.md``). Per the specification the time is 24 bits,
``t = TIME_HIGH << 12 | TIME_LOW``; TIME_HIGH is sent whenever bits 23..12 change, so a
TIME_LOW smaller than the previous one under the same TIME_HIGH is simply an earlier low part
(the encoder interleaves pixel groups), not a wrap-around. The only wrap is that of the whole
24-bit counter (every 16.8 s), seen as TIME_HIGH going back by at least half its range; we then
add 2^24 us, exactly as OpenEB's ``EVT3Decoder`` (``bitfield_time.loop``) does. When TIME_HIGH
changes, TIME_LOW is reset to 0 until the next TIME_LOW word (OpenEB does the same).
expelliarmus adds 4096 us whenever TIME_LOW decreases, which makes its times run ahead of
TIME_HIGH (up to 11,772,513 us in a file whose TIME_HIGH words all lie in 2861..2863, i.e.
below 2864 << 12 = 11,730,944 us): wrong. faery clamps time so it never decreases, shifting
some events by 1..11 us: a policy, not the encoding. Our reader gives evlib's plain decode.

EVT 2.0 time is 34 bits; a TIME_HIGH going back by at least half of that range is taken as a
wrap and 2^34 us is added from there on (OpenEB also unwraps; it uses a near-full-range
threshold, which gives the same result on any real recording).

Words before the first TIME_HIGH carry no defined time and are skipped (OpenEB's rule).
Events whose coordinates lie outside the sensor named by the header are dropped, as OpenEB's
EVT 3.0 decoder drops rows beyond the sensor height; without a known sensor every 11-bit
coordinate is kept. Timestamps are absolute, as stored (no shift to the first event).

The hot loops are Numba kernels over the word array; decoder state lives in a small int64
array that carries over from one block of words to the next, so a file streams through in
blocks of bounded size and chunking never changes the decoded events.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ...errors import InputFormatError
from ...jit import kernel
from ..dtype import copy_events
from . import FileInfo
from ._chunks import read_blocks
from ._output import EventBuffer

NAME = "prophesee_raw"

_MAX_HEADER = 1 << 20  # a '%' header longer than 1 MiB means this is not one
_MIN_BUF = 64  # the output buffer always holds a whole VECT_12 word's 12 events
_BLOCK_WORDS_MIN = 1 << 16
_BLOCK_WORDS_MAX = 1 << 22

# Sensor size (width, height) of Metavision HAL plugins, for headers without geometry
# (Prophesee sensor generations: Gen3/Gen3.1 VGA, Gen4.1 and IMX636 HD, GenX320).
_PLUGIN_SENSORS = (
    ("gen31", (640, 480)),
    ("gen3_", (640, 480)),
    ("gen41", (1280, 720)),
    ("imx636", (1280, 720)),
    ("evk4", (1280, 720)),
    ("genx320", (320, 320)),
)

# Header line -> encoding. EVT 2.1 and others exist but are not decoded here.
_ENCODINGS = {"2.0": "evt2", "evt2": "evt2", "3.0": "evt3", "evt3": "evt3", "2.1": "evt2.1",
              "evt21": "evt2.1"}


@dataclass
class PercentHeader:
    """The ``%``-prefixed ASCII header shared by Prophesee ``.raw`` and ``.dat`` files."""

    data_offset: int  # byte offset of the first binary byte
    lines: list[str] = field(default_factory=list)  # header lines without '%' and line ending
    fields: dict[str, str] = field(default_factory=dict)  # first word (lowercase) -> rest


def _is_header_line(line: bytes) -> bool:
    # Printable ASCII only: binary data that happens to start with '%' (0x25) is almost never
    # printable up to the next newline, so this keeps data from being eaten as header.
    body = line.rstrip(b"\r\n")
    return all(32 <= b < 127 or b == 9 for b in body)


def parse_percent_header(buf: bytes, eof: bool) -> PercentHeader | None:
    """Parse the ``%`` header at the start of ``buf`` (the first bytes of a file).

    The header is the run of lines starting with ``%``; a ``% end`` line closes it
    explicitly. Returns None when ``buf`` does not start with such a header, or when the header
    does not end within ``buf`` while ``eof`` is False (it may be longer than the bytes given).
    """
    pos = 0
    out = PercentHeader(data_offset=0)
    while pos < len(buf) and buf[pos:pos + 1] == b"%":
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if not eof:
                return None
            nl = len(buf) - 1  # header-only file without a final newline
        line = buf[pos:nl + 1]
        if not _is_header_line(line):
            break
        text = line.decode("ascii").rstrip("\r\n")[1:].strip()
        pos = nl + 1
        if text == "end":
            break
        out.lines.append(text)
        if text:
            key, _, rest = text.partition(" ")
            out.fields.setdefault(key.lower(), rest.strip())
    if pos == 0:
        return None
    out.data_offset = pos
    return out


def read_percent_header(path: str, kind: str) -> PercentHeader:
    """Read and parse the ``%`` header of the file at ``path`` (InputFormatError if absent)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        buf = f.read(min(size, _MAX_HEADER))
    header = parse_percent_header(buf, eof=len(buf) >= size)
    if header is None:
        if buf[:1] == b"%":
            raise InputFormatError(f"{path}: {kind} header does not end within {_MAX_HEADER} bytes")
        raise InputFormatError(f"{path}: not a {kind} file (no '%' header at byte 0)")
    return header


# ---------------------------------------------------------------------------------------------
# header -> encoding, sensor, metadata


def _encoding(fields: dict[str, str]) -> str | None:
    """'evt2', 'evt3', another encoding name, or None when the header names none."""
    fmt = fields.get("format")
    if fmt is not None:
        name = fmt.split(";", 1)[0].strip().lower()
        return _ENCODINGS.get(name, name or None)
    evt = fields.get("evt")
    if evt is not None:
        return _ENCODINGS.get(evt.strip().lower(), f"evt {evt.strip()}")
    return None


def _sensor(fields: dict[str, str]) -> tuple[int, int] | None:
    fmt = fields.get("format", "")
    w = re.search(r"width=(\d+)", fmt)
    h = re.search(r"height=(\d+)", fmt)
    if w and h:
        return int(w.group(1)), int(h.group(1))
    geo = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", fields.get("geometry", ""))
    if geo:
        return int(geo.group(1)), int(geo.group(2))
    plugin = fields.get("plugin_name", "").lower()
    for key, size in _PLUGIN_SENSORS:
        if key in plugin:
            return size
    return None


def check_sensor(sensor: tuple[int, int] | None, path: str) -> tuple[int, int] | None:
    """``sensor`` if both sides are in 1..65535 (uint16 coordinates), else InputFormatError."""
    if sensor is not None and not all(0 < v <= 65535 for v in sensor):
        raise InputFormatError(f"{path}: header gives an impossible sensor size {sensor[0]}x{sensor[1]}")
    return sensor


def sniff(head: bytes, path: str) -> bool:
    header = parse_percent_header(head, eof=True)
    if header is None:
        return False
    f = header.fields
    if "data" in f and f["data"].startswith("file containing"):
        return False  # a .dat file
    # Claim any Prophesee RAW header, so an unsupported encoding gets a clear message on read.
    return "evt" in f or f.get("format", "").upper().startswith("EVT") or "plugin_name" in f


@dataclass
class RawHeader:
    """What the header of a ``.raw`` file says."""

    encoding: str  # "evt2" | "evt3"
    data_offset: int  # first byte of the word stream
    sensor: tuple[int, int] | None  # (width, height) if known
    metadata: dict


def read_header(path: str) -> RawHeader:
    """Parse the header of a Prophesee ``.raw`` file; InputFormatError if unusable."""
    return raw_header(read_percent_header(path, "Prophesee RAW"), path)


def raw_header(header: PercentHeader, path: str) -> RawHeader:
    """What a parsed ``%`` header says about a ``.raw`` stream; InputFormatError if unusable."""
    enc = _encoding(header.fields)
    if enc is None:
        raise InputFormatError(f"{path}: Prophesee RAW header names no encoding "
                               f"(no '% evt' or '% format' line)")
    if enc not in ("evt2", "evt3"):
        raise InputFormatError(f"{path}: Prophesee RAW encoding {enc!r} is not supported "
                               f"(EVT 2.0 and EVT 3.0 are)")
    f = header.fields
    camera = " ".join(v for v in (f.get("integrator_name"), f.get("plugin_name")) if v) or None
    meta = {
        "encoding": enc,
        "version": "EVT 2.0" if enc == "evt2" else "EVT 3.0",
        "camera": camera,
        "serial_number": f.get("serial_number"),
        "date": f.get("date"),
        "header": "\n".join("% " + line for line in header.lines),
        "data_offset": header.data_offset,
    }
    sensor = check_sensor(_sensor(f), path)
    return RawHeader(encoding=enc, data_offset=header.data_offset, sensor=sensor, metadata=meta)


def read_info(path: str) -> FileInfo:
    h = read_header(path)
    word = 4 if h.encoding == "evt2" else 2
    h.metadata["words"] = (os.path.getsize(path) - h.data_offset) // word
    # format is the module NAME (the registry looks modules up by it); the encoding is metadata.
    return FileInfo(format=NAME, sensor=h.sensor, metadata=h.metadata)


# ---------------------------------------------------------------------------------------------
# decode kernels

# EVT 2.0 state (int64[4]): time high in us incl. wrap offset, have a time high (0/1),
# wrap offset in us, events dropped (outside the sensor).
_EVT2_STATE = 4
_EVT2_HALF = np.int64(1) << 33  # half of the 34-bit time range


@kernel
def _decode_evt2(words, state, width, height, out):
    """Decode EVT 2.0 ``words`` (uint32) into the EVENT_DTYPE array ``out`` until either runs out.

    Returns (words consumed, events written); ``state`` is updated in place.
    """
    th = state[0]
    have = state[1]
    wrap = state[2]
    dropped = state[3]
    cap = out.shape[0]
    nw = words.shape[0]
    n = 0
    i = 0
    while i < nw and n < cap:
        w = np.int64(words[i])
        typ = w >> 28
        if typ <= 1:  # CD_OFF / CD_ON
            if have:
                x = (w >> 11) & 0x7FF
                y = w & 0x7FF
                if x < width and y < height:
                    ev = out[n]  # one record: its fields at fixed offsets (faster than 4 strided views)
                    ev["t"] = th + ((w >> 22) & 0x3F)
                    ev["x"] = x
                    ev["y"] = y
                    ev["p"] = typ
                    n += 1
                else:
                    dropped += 1
        elif typ == 8:  # EVT_TIME_HIGH
            new = (w & 0x0FFFFFFF) << 6
            if have and th - wrap - new >= _EVT2_HALF:
                wrap += np.int64(1) << 34  # the 34-bit counter wrapped
            th = new + wrap
            have = 1
        i += 1
    state[0] = th
    state[1] = have
    state[2] = wrap
    state[3] = dropped
    return i, n


# EVT 3.0 state (int64[10]): time high (12 bits), time low (12 bits), wrap offset in us,
# have a time high (0/1), y, y is a CD row (0/1), vector base x, vector polarity,
# events dropped (outside the sensor), spare.
_EVT3_STATE = 10


@kernel
def _decode_evt3(words, state, width, height, out):
    """Decode EVT 3.0 ``words`` (uint16) into ``out`` until they run out or fewer than 12 slots remain.

    Returns (words consumed, events written); ``state`` is updated in place.
    """
    high = state[0]
    low = state[1]
    wrap = state[2]
    have = state[3]
    y = state[4]
    is_cd = state[5]
    base_x = state[6]
    vpol = state[7]
    dropped = state[8]
    cap = out.shape[0]
    nw = words.shape[0]
    n = 0
    i = 0
    while i < nw and n + 12 <= cap:
        w = np.int64(words[i])
        typ = w >> 12
        i += 1
        if typ == 8:  # EVT_TIME_HIGH
            new = w & 0xFFF
            if have:
                if high >= new + 2048:
                    wrap += np.int64(1) << 24  # the 24-bit counter wrapped
                if new != high:
                    low = 0
            else:
                low = 0
            high = new
            have = 1
            continue
        if not have:
            continue  # no time base yet: skip everything until the first TIME_HIGH
        if typ == 2:  # EVT_ADDR_X: a single event
            if is_cd:
                x = w & 0x7FF
                if x < width and y < height:
                    ev = out[n]
                    ev["t"] = wrap + (high << 12) + low
                    ev["x"] = x
                    ev["y"] = y
                    ev["p"] = (w >> 11) & 1
                    n += 1
                else:
                    dropped += 1
        elif typ == 4 or typ == 5:  # VECT_12 / VECT_8
            nbits = 12 if typ == 4 else 8
            if is_cd:
                valid = w & ((1 << nbits) - 1)
                t = wrap + (high << 12) + low
                x = base_x
                while valid:  # walk the set bits, lowest first; stops after the highest
                    if valid & 1:
                        if x < width and y < height:
                            ev = out[n]
                            ev["t"] = t
                            ev["x"] = x
                            ev["y"] = y
                            ev["p"] = vpol
                            n += 1
                        else:
                            dropped += 1
                    valid >>= 1
                    x += 1
            base_x += nbits
        elif typ == 0:  # EVT_ADDR_Y
            y = w & 0x7FF
            is_cd = 1
        elif typ == 6:  # EVT_TIME_LOW
            low = w & 0xFFF
        elif typ == 3:  # VECT_BASE_X
            base_x = w & 0x7FF
            vpol = (w >> 11) & 1
        elif typ == 1:  # y address of non-CD (exposure measurement) events
            y = w & 0x7FF
            is_cd = 0
        # other types (CONTINUED, EXT_TRIGGER, OTHERS, IMU, reserved) carry no CD event
    state[0] = high
    state[1] = low
    state[2] = wrap
    state[3] = have
    state[4] = y
    state[5] = is_cd
    state[6] = base_x
    state[7] = vpol
    state[8] = dropped
    return i, n


@kernel
def _evt3_bound(words):
    """Most events EVT 3.0 ``words`` can decode to: one per EVT_ADDR_X, one per set valid bit
    of a VECT_12 / VECT_8 (the decoder may drop some, never add any)."""
    n = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        typ = w >> 12
        if typ == 2:
            n += 1
        elif typ == 4 or typ == 5:
            bits = w & (0xFFF if typ == 4 else 0xFF)
            while bits:
                bits &= bits - 1
                n += 1
    return n


# ---------------------------------------------------------------------------------------------
# drivers: whole file into one array, or streamed in bounded chunks


def _check_payload(path: str, data_offset: int, itemsize: int) -> int:
    """Number of whole words after the header; InputFormatError if the last one is partial."""
    size = os.path.getsize(path)
    payload = max(size - data_offset, 0)
    tail = payload % itemsize
    if tail:
        raise InputFormatError(f"{path}: truncated: the last {tail} byte(s) at offset "
                               f"{size - tail} do not form a whole {8 * itemsize}-bit word")
    return payload // itemsize


def _fill(kernel, words: np.ndarray, state: np.ndarray, width: int, height: int, out: EventBuffer,
          grow: bool) -> int:
    """Decode ``words`` into ``out`` (grown as needed when ``grow``); returns the words consumed,
    fewer than given only when ``out`` is full and may not grow."""
    pos = 0
    while pos < words.size:
        if out.spare < _MIN_BUF:
            if not grow:
                break
            out.reserve(max(_MIN_BUF, words.size - pos))
        used, n = kernel(words[pos:], state, width, height, out.free())
        pos += used
        out.n += n
    return pos


def _block_words(chunk: int) -> int:
    return int(min(max(chunk, _BLOCK_WORDS_MIN), _BLOCK_WORDS_MAX))


def decode_stream(path: str, data_offset: int, word_dtype: str, kernel, state: np.ndarray,
                  width: int, height: int, chunk: int) -> Iterator[np.ndarray]:
    """Feed the words of ``path`` from ``data_offset`` through ``kernel`` in bounded blocks.

    Yields EVENT_DTYPE arrays of at most ``chunk`` events, in file order; the
    kernel's ``state`` carries over between blocks, so block boundaries never change the result.
    """
    itemsize = np.dtype(word_dtype).itemsize
    _check_payload(path, data_offset, itemsize)
    cap = max(min(chunk, _BLOCK_WORDS_MAX), _MIN_BUF)  # bounded whatever chunk is asked for
    out = EventBuffer(cap)
    block = np.empty(_block_words(chunk), dtype=word_dtype)  # reused: no page faults per block
    for words in read_blocks(path, data_offset, block, itemsize):
        pos = _fill(kernel, words, state, width, height, out, grow=False)
        while pos < words.size:  # the buffer is full: hand it out, continue in a new one
            yield from _split(out.finish(), chunk)
            out = EventBuffer(cap)
            pos += _fill(kernel, words[pos:], state, width, height, out, grow=False)
    if out.n:
        yield from _split(out.finish(), chunk)


def decode_all(path: str, data_offset: int, word_dtype: str, kernel, state: np.ndarray,
               width: int, height: int, capacity: int) -> np.ndarray:
    """Every event of ``path`` in one array, decoded straight into it (``capacity`` first)."""
    itemsize = np.dtype(word_dtype).itemsize
    _check_payload(path, data_offset, itemsize)
    out = EventBuffer(capacity)
    block = np.empty(_BLOCK_WORDS_MIN * 16, dtype=word_dtype)
    for words in read_blocks(path, data_offset, block, itemsize):
        _fill(kernel, words, state, width, height, out, grow=True)
    return out.finish()


def _split(events: np.ndarray, chunk: int) -> Iterator[np.ndarray]:
    if len(events) <= chunk:
        yield events
        return
    for s in range(0, len(events), chunk):
        yield copy_events(events[s:s + chunk])


def _setup(path: str):
    h = read_header(path)
    width, height = h.sensor if h.sensor is not None else (1 << 16, 1 << 16)
    if h.encoding == "evt2":
        return h, "<u4", _decode_evt2, np.zeros(_EVT2_STATE, dtype=np.int64), width, height
    return h, "<u2", _decode_evt3, np.zeros(_EVT3_STATE, dtype=np.int64), width, height


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    h, word, kernel, state, width, height = _setup(path)
    yield from decode_stream(path, h.data_offset, word, kernel, state, width, height, chunk)


def read_all(path: str) -> np.ndarray:
    h, word, kernel, state, width, height = _setup(path)
    if h.encoding == "evt2":  # one event per 32-bit word at most
        bound = max(os.path.getsize(path) - h.data_offset, 0) // 4
    else:  # up to 12 events per word: a quick pass over the words counts them
        _check_payload(path, h.data_offset, 2)
        block = np.empty(_BLOCK_WORDS_MIN * 16, dtype=word)
        bound = sum(_evt3_bound(words) for words in read_blocks(path, h.data_offset, block, 2))
    # + _MIN_BUF: the kernels stop while fewer slots remain, even when no event is left
    return decode_all(path, h.data_offset, word, kernel, state, width, height, bound + _MIN_BUF)
