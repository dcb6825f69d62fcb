"""Reading a recording from a byte stream: standard input (``--input -``) or a growing file (``--follow``).

The file readers (``formats/*``) seek, and check the file size before they yield anything (a
trailing partial record is refused first). A stream can do neither, so the formats whose layout
is a header followed by records or packets read in order have a stream decoder here, built from
the same header parsers and decode kernels as their file reader, so a stream decodes to exactly
the events of the file:

- Prophesee EVT 2.0 / EVT 3.0 ``.raw`` and ``.dat``: ``%`` header, then words / 8-byte records;
- AEDAT 2.0: ``#`` header, then 8-byte records;
- AEDAT 4.0: IOHeader, then packets (the packet index at the end, if any, is not read).

The others need the whole file (``.npz``, ``.h5``: indexes; N-MNIST ``.bin``: the sensor size
comes from every event; AEDAT 3.1 is not offered) and are refused by name.

The format is detected from the first bytes (as for files) or forced (``fmt``). What differs from
a file: a stream that ends inside a record fails when it ends (the events before it have been
handed out); a growing file (``follow=True``) never ends, the reader waits for more bytes.
"""

from __future__ import annotations

import struct
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputFormatError
from .dtype import EVENT_DTYPE
from .formats import aedat2, aedat4, prophesee_dat, prophesee_raw
from .io import SNIFF_BYTES, detect_head, format_module

#: Formats that can be read from a stream, by NAME.
STREAM_FORMATS = (prophesee_raw.NAME, prophesee_dat.NAME, aedat2.NAME, aedat4.NAME)
READ_BYTES = 1 << 20  # most bytes decoded at a time
POLL_SECONDS = 0.05  # how often a followed file is checked for new bytes


class ByteSource:
    """Bytes of a binary file object, in order, with give-back (for header parsers that read ahead).

    ``read(n)`` returns what is there, at least one byte unless the stream has ended (a pipe's
    ``read1``), so a live stream's events are decoded as they come. With ``follow`` the end of a
    regular file is not the end: the source waits for the file to grow.
    """

    def __init__(self, f, name: str, follow: bool = False, poll: float = POLL_SECONDS,
                 sleep: Callable[[float], None] = time.sleep):
        self._f = f
        self.name = name
        self.follow = follow
        self._poll = poll
        self._sleep = sleep
        self._back = b""  # bytes given back, read again first
        self.offset = 0  # bytes handed out (stream offset of the next byte)

    def _raw(self, n: int, wait: bool) -> bytes:
        read = getattr(self._f, "read1", self._f.read)
        while True:
            data = read(n)
            if data or not (self.follow and wait):
                return data
            self._sleep(self._poll)

    def read(self, n: int, wait: bool = True) -> bytes:
        """Up to ``n`` bytes: at least one unless the stream ended (or, ``wait=False``, nothing is
        there yet)."""
        if self._back:
            data, self._back = self._back[:n], self._back[n:]
        else:
            data = self._raw(n, wait)
        self.offset += len(data)
        return data

    def read_exact(self, n: int, wait: bool = True) -> bytes:
        """``n`` bytes, fewer only when the stream ends first."""
        parts, got = [], 0
        while got < n:
            data = self.read(n - got, wait)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def give_back(self, data: bytes | bytearray) -> None:
        """Make ``data`` (the last bytes read) the next bytes read."""
        self._back = bytes(data) + self._back
        self.offset -= len(data)


class _Exact:
    """A file-like view of a source whose ``read(n)`` returns ``n`` bytes unless the stream ends
    (what the AEDAT header parsers expect of a file)."""

    def __init__(self, source: ByteSource):
        self.source = source

    def read(self, n: int) -> bytes:
        return self.source.read_exact(n)


class _Tape(_Exact):
    """:class:`_Exact` that keeps every byte it read, to give back what a parser read ahead."""

    def __init__(self, source: ByteSource):
        super().__init__(source)
        self.data = bytearray()

    def read(self, n: int) -> bytes:
        out = super().read(n)
        self.data += out
        return out


@dataclass
class EventStream:
    """A recording being read from a stream: its header, then its events chunk by chunk."""

    name: str  # "<stdin>" or the followed file's path
    format: str  # format NAME
    sensor: tuple[int, int] | None  # (width, height) as the header states it
    metadata: dict = field(default_factory=dict)
    chunks: Iterator[np.ndarray] = iter(())  # EVENT_DTYPE arrays in stream order, never empty


def _records(source: ByteSource, record: int, truncated: Callable[[int, int], str]) -> Iterator[np.ndarray]:
    """Whole ``record``-byte records of the rest of the stream, as writable uint8 blocks."""
    rest = b""
    while True:
        data = source.read(READ_BYTES)
        if not data:
            break
        data = rest + data
        whole = len(data) - len(data) % record
        rest = data[whole:]
        if whole:
            yield np.frombuffer(bytearray(data[:whole]), dtype=np.uint8)
    if rest:
        raise InputFormatError(truncated(len(rest), source.offset - len(rest)))


# ---------------------------------------------------------------------------------------------
# Prophesee .raw and .dat


def _percent_header(source: ByteSource, kind: str):
    """Parse the ``%`` header at the start of ``source``; the bytes after it are given back."""
    buf = bytearray()
    while True:
        more = source.read(READ_BYTES)
        buf += more
        header = prophesee_raw.parse_percent_header(bytes(buf), eof=not more)
        # a header is known to have ended once a byte after it has been seen (or the stream ended)
        if header is not None and (header.data_offset < len(buf) or not more):
            source.give_back(buf[header.data_offset:])
            return header
        if buf[:1] != b"%" or len(buf) > prophesee_raw._MAX_HEADER:
            what = "does not end within" if buf[:1] == b"%" else "is not at byte 0 of"
            raise InputFormatError(f"{source.name}: the {kind} '%' header {what} the stream")


def _raw_kernel(kernel, words, state, width, height, out):
    return kernel(words, state, width, height, out)


def _raw_events(source: ByteSource, h, state, kernel, word: str, width: int, height: int):
    itemsize = np.dtype(word).itemsize

    def truncated(tail: int, at: int) -> str:
        return (f"{source.name}: truncated: the last {tail} byte(s) at offset {at} do not form a whole "
                f"{8 * itemsize}-bit word")

    for block in _records(source, itemsize, truncated):
        words = block.view(word)
        pos = 0
        while pos < words.size:
            out = np.empty(max(words.size - pos, 64), dtype=EVENT_DTYPE)
            used, n = _raw_kernel(kernel, words[pos:], state, width, height, out)
            pos += used
            if n:
                yield out[:n]


def _open_raw(source: ByteSource) -> EventStream:
    header = _percent_header(source, "Prophesee RAW")
    h = prophesee_raw.raw_header(header, source.name)
    width, height = h.sensor if h.sensor is not None else (1 << 16, 1 << 16)
    if h.encoding == "evt2":
        state = np.zeros(prophesee_raw._EVT2_STATE, dtype=np.int64)
        chunks = _raw_events(source, h, state, prophesee_raw._decode_evt2, "<u4", width, height)
    else:
        state = np.zeros(prophesee_raw._EVT3_STATE, dtype=np.int64)
        chunks = _raw_events(source, h, state, prophesee_raw._decode_evt3, "<u2", width, height)
    return EventStream(source.name, prophesee_raw.NAME, h.sensor, h.metadata, chunks)


def _open_dat(source: ByteSource) -> EventStream:
    header = _percent_header(source, "Prophesee DAT")
    start, _, sensor, meta = prophesee_dat.dat_header(header, source.read_exact(2), source.name)
    width, height = sensor if sensor is not None else (1 << 16, 1 << 16)
    record = prophesee_dat.RECORD

    def truncated(tail: int, at: int) -> str:
        return (f"{source.name}: truncated: the last {tail} byte(s) at offset {at} do not form a whole "
                f"{record}-byte DAT record")

    def chunks() -> Iterator[np.ndarray]:
        state = np.array([-1, 0, 0], dtype=np.int64)
        for block in _records(source, record, truncated):
            words = block.view("<u4")
            out = np.empty(words.size // 2, dtype=EVENT_DTYPE)
            n = prophesee_dat._decode(words, state, width, height, out["t"], out["x"], out["y"], out["p"])
            if n:
                yield out[:n]

    return EventStream(source.name, prophesee_dat.NAME, sensor, meta, chunks())


# ---------------------------------------------------------------------------------------------
# AEDAT 2.0 and 4.0


def _open_aedat2(source: ByteSource) -> EventStream:
    tape = _Tape(source)
    data_start, lines = aedat2.parse_header(tape, source.name)
    source.give_back(tape.data[data_start:])

    def guess() -> int:
        blob = source.read_exact(aedat2.GUESS_BYTES)
        source.give_back(blob)
        return aedat2.guess_layout(blob)

    _, layout, sensor, meta = aedat2.header_from(data_start, lines, guess, source.name)
    record = aedat2.RECORD

    def truncated(tail: int, at: int) -> str:
        return (f"{source.name}: truncated: {tail} bytes at byte {at} do not form a whole "
                f"{record}-byte record")

    def chunks() -> Iterator[np.ndarray]:
        state = aedat2.new_state()
        for block in _records(source, record, truncated):
            events = aedat2.decode_words(block.view("<u4"), layout, sensor, state)
            if len(events):
                yield events
        if state[2]:
            warnings.warn(f"{source.name}: skipped {state[2]} events with coordinates outside the "
                          f"{sensor[0]}x{sensor[1]} sensor", stacklevel=2)

    return EventStream(source.name, aedat2.NAME, sensor, meta, chunks())


def _skip(source: ByteSource, n: int) -> int:
    left = n
    while left:
        data = source.read(min(left, READ_BYTES))
        if not data:
            break
        left -= len(data)
    return n - left


def _aedat4_packets(source: ByteSource, header: dict, pos: int, sid: int) -> Iterator[tuple[int, bytes]]:
    """(stream offset, decompressed body) of every packet of stream ``sid``, checked as the file
    reader checks them (a stream has no size to check a packet against: a short read is)."""
    name = source.name
    dtp = header["data_table_position"]
    end = dtp if dtp >= pos else None
    known = header["streams"]
    while end is None or pos < end:
        ph = source.read_exact(8)
        if not ph:
            return
        if len(ph) < 8 or (end is not None and pos + 8 > end):
            raise InputFormatError(f"{name}: truncated AEDAT 4.0 packet header at byte {pos}")
        stream, n = struct.unpack("<ii", ph)
        if stream not in known:
            raise InputFormatError(f"{name}: packet at byte {pos} has stream id {stream}, "
                                   f"not in the header's stream list {sorted(known)}")
        if n < 0 or (end is not None and pos + 8 + n > end):
            # a negative size in a stream without a packet index used to fail on end - pos (None)
            room = ("a negative size" if end is None
                    else f"only {end - pos - 8} remain before the packet index")
            raise InputFormatError(f"{name}: packet at byte {pos} claims {n} bytes; {room}")
        if stream == sid:
            if n > aedat4._MAX_PACKET:
                raise InputFormatError(f"{name}: packet at byte {pos} is {n:,} bytes long; "
                                       f"packets are limited to {aedat4._MAX_PACKET:,} bytes")
            body = source.read_exact(n)
            if len(body) != n:
                raise InputFormatError(f"{name}: truncated AEDAT 4.0 packet at byte {pos}")
            yield pos, aedat4._decompress(body, header["compression"], name, pos)
        elif _skip(source, n) != n:
            raise InputFormatError(f"{name}: truncated AEDAT 4.0 packet at byte {pos}")
        pos += 8 + n


def _open_aedat4(source: ByteSource) -> EventStream:
    header, pos = aedat4._read_header(_Exact(source), source.name)
    sid, sensor = aedat4._event_stream(header, source.name)
    camera = header["streams"][sid].get("source") if sid is not None else None
    meta = {"version": "4.0", "camera": camera, "compression": header["compression"],
            "event_stream": sid}

    def chunks() -> Iterator[np.ndarray]:
        if sid is None:
            return
        skipped = [0]
        for where, body in _aedat4_packets(source, header, pos, sid):
            events = aedat4._to_events(aedat4._packet_events(body, source.name, where), sensor, skipped)
            if len(events):
                yield events
        if skipped[0]:
            warnings.warn(f"{source.name}: skipped {skipped[0]} events with coordinates outside the "
                          "sensor", stacklevel=2)

    return EventStream(source.name, aedat4.NAME, sensor, meta, chunks())


_OPENERS = {prophesee_raw.NAME: _open_raw, prophesee_dat.NAME: _open_dat, aedat2.NAME: _open_aedat2,
            aedat4.NAME: _open_aedat4}


def check_stream_format(fmt: str, name: str = "<stdin>") -> str:
    """``fmt`` if it can be read from a stream; InputFormatError naming the ones that can."""
    format_module(fmt)  # an unknown name fails with the list of known formats
    if fmt not in _OPENERS:
        raise InputFormatError(f"{name}: format {fmt} cannot be read from a stream (it needs the whole "
                               f"file); formats that can: {', '.join(STREAM_FORMATS)}")
    return fmt


def open_stream(f, name: str = "<stdin>", fmt: str | None = None, follow: bool = False) -> EventStream:
    """Read the header of the recording arriving on the binary file object ``f``.

    ``fmt``: the format NAME (None: detected from the first bytes, as for files). ``follow``:
    ``f`` is a regular file that is still being written; wait for more instead of ending.
    Returns an :class:`EventStream` whose ``chunks`` decode the rest as it arrives.
    """
    if fmt is not None:
        check_stream_format(fmt, name)
    source = ByteSource(f, name, follow=follow)
    if fmt is None:
        # a followed file may hold less than SNIFF_BYTES so far: look at what is there
        head = _available(source) if follow else source.read_exact(SNIFF_BYTES)
        source.give_back(head)
        fmt = check_stream_format(detect_head(head, name), name)
    return _OPENERS[fmt](source)


def _available(source: ByteSource) -> bytes:
    """What a followed file holds so far (up to SNIFF_BYTES; waits for its first byte)."""
    head = source.read(SNIFF_BYTES)
    return head + source.read_exact(SNIFF_BYTES - len(head), wait=False)
