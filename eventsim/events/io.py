"""The public event I/O API: detect a file's format, read it whole or in chunks, write it.

Every function here goes through the registry in :mod:`eventsim.events.formats`: a format is
one module with ``NAME``, ``sniff``, ``read_info``, ``iter_chunks``, ``read_all`` and optionally ``write`` /
``write_stream`` and ``EXTENSIONS``. There are no per-format branches in this module, so a new
format is one new module plus one entry in ``FORMAT_MODULES``.

Detection is by content: the first 64 KiB of the file are offered to each module's ``sniff``
in registry order; the path (its extension) only breaks ties for formats without magic.
Writing picks the writer by the output's extension and is atomic (temp file + rename), so a
failed write never leaves a partial file behind.
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import InputFormatError
from ..files import atomic_output
from .dtype import EVENT_DTYPE
from .formats import FORMAT_MODULES, FileInfo

SNIFF_BYTES = 64 * 1024  # how much of the head every sniffer sees
DEFAULT_CHUNK = 1_000_000  # events per chunk when streaming

__all__ = [
    "FileInfo",
    "detect_format",
    "detect_head",
    "read_info",
    "stream_events",
    "read_events",
    "write_events",
    "write_events_stream",
    "format_module",
    "writable_extensions",
    "EventStats",
    "scan_events",
]


def _modules() -> Iterator[ModuleType]:
    """The format modules, in detection order (every name of FORMAT_MODULES is one)."""
    for name in FORMAT_MODULES:
        yield importlib.import_module(f"{__package__}.formats.{name}")


def format_module(name: str) -> ModuleType:
    """The format module whose ``NAME`` is ``name`` (raises InputFormatError if unknown)."""
    for mod in _modules():
        if mod.NAME == name:
            return mod
    raise InputFormatError(f"unknown event format {name!r}; known: {', '.join(_known_names())}")


def _known_names() -> list[str]:
    return [mod.NAME for mod in _modules()]


_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def require_regular_file(path: str | os.PathLike, what: str = "an event recording") -> None:
    """Raise InputFormatError unless ``path`` is (a symlink to) a regular file.

    Reading a FIFO blocks until a writer appears and a device such as /dev/zero never ends, so
    inputs are refused by their kind before they are opened. A missing file is left to
    ``open`` (FileNotFoundError, which the CLI reports with the path).
    """
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "of an unknown kind")
    raise InputFormatError(f"{os.fspath(path)}: is {kind}, not a regular file; {what} must be a "
                           "regular file")


def detect_format(path: str | os.PathLike) -> str:
    """The format NAME of the event file at ``path``, decided by its content.

    Raises InputFormatError for a non-regular file, an empty file or when no format recognises
    the content.
    """
    path = os.fspath(path)
    require_regular_file(path)
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    return detect_head(head, path)


def detect_head(head: bytes, path: str) -> str:
    """The format NAME whose sniffer recognises ``head``, the first bytes of ``path`` (a name for
    messages: also ``<stdin>``); InputFormatError when it is empty or no format does."""
    if not head:
        raise InputFormatError(f"{path}: empty file (0 bytes), not an event recording")
    for mod in _modules():
        if mod.sniff(head, path):
            return mod.NAME
    raise InputFormatError(
        f"{path}: unknown event file format (content matches none of: {', '.join(_known_names())})"
    )


def _module_for(path: str, fmt: str | None) -> ModuleType:
    require_regular_file(path)
    return format_module(fmt if fmt is not None else detect_format(path))


def read_info(path: str | os.PathLike, fmt: str | None = None) -> FileInfo:
    """Sensor size and header metadata of an event file, without decoding its events."""
    path = os.fspath(path)
    return _module_for(path, fmt).read_info(path)


def stream_events(
    path: str | os.PathLike, chunk: int = DEFAULT_CHUNK, fmt: str | None = None
) -> Iterator[np.ndarray]:
    """Yield the file's events as EVENT_DTYPE arrays of at most ``chunk`` events, in file order.

    Memory stays bounded by the chunk size whatever the file size. Empty chunks are not yielded.
    """
    path = os.fspath(path)
    if int(chunk) < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    mod = _module_for(path, fmt)
    for part in mod.iter_chunks(path, int(chunk)):
        if len(part):
            yield part


def read_events(
    path: str | os.PathLike, fmt: str | None = None
) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The whole file as one EVENT_DTYPE array, and the sensor size (width, height) or None.

    The events are decoded straight into one array sized from the file (see each format's
    ``read_all``), so the peak holds them once. Metadata (camera, header text, ...) is available
    through :func:`read_info`.
    """
    path = os.fspath(path)
    mod = _module_for(path, fmt)
    info = mod.read_info(path)
    try:
        events = mod.read_all(path)
    except MemoryError:  # e.g. a small EVT 3.0 file of vector words: up to 6 events per byte
        raise InputFormatError(f"{path}: its events do not fit in memory (a whole read holds "
                               f"{EVENT_DTYPE.itemsize} bytes per event; stream_events reads it in "
                               "chunks)") from None
    return events, info.sensor


def writable_extensions() -> dict[str, str]:
    """Map of output extension (``".npz"``) to the format NAME that writes it."""
    out: dict[str, str] = {}
    for mod in _modules():
        if hasattr(mod, "write"):
            for ext in getattr(mod, "EXTENSIONS", ()):
                out.setdefault(ext.lower(), mod.NAME)
    return out


def _writer_for(path: str) -> ModuleType:
    ext = Path(path).suffix.lower()
    exts = writable_extensions()
    if ext not in exts:
        known = ", ".join(sorted(exts)) or "none"
        raise InputFormatError(f"{path}: cannot write events to a {ext or 'extension-less'} file "
                               f"(writable extensions: {known})")
    return format_module(exts[ext])


def _check_events(events: np.ndarray, path: str) -> np.ndarray:
    events = np.asarray(events)
    if events.dtype != EVENT_DTYPE:
        names = events.dtype.names or ()
        if not all(n in names for n in ("t", "x", "y", "p")):
            raise InputFormatError(f"{path}: events must be a structured array with fields t, x, y, p "
                                   f"(got dtype {events.dtype})")
        events = events.astype(EVENT_DTYPE)
    return events


def _check_sensor(sensor, path: str) -> tuple[int, int]:
    if sensor is None:
        raise InputFormatError(f"{path}: a sensor size (width, height) is needed to write events")
    w, h = (int(v) for v in sensor)
    if not (0 < w <= 65535 and 0 < h <= 65535):
        raise InputFormatError(f"{path}: invalid sensor size {w}x{h}")
    return w, h


def _atomic(path: str, write_tmp) -> None:
    """Run ``write_tmp(tmp_path)`` on a temp file next to ``path`` then rename it into place."""
    with atomic_output(path) as tmp:
        write_tmp(tmp)


def write_events(
    path: str | os.PathLike, events: np.ndarray, sensor: tuple[int, int] | None, **meta
) -> None:
    """Write ``events`` to ``path``, format chosen by the extension; atomic (temp + rename).

    ``meta`` is passed to the writer (e.g. ``camera="DVS128"``, ``compression="lz4"``).
    """
    path = os.fspath(path)
    mod = _writer_for(path)
    events = _check_events(events, path)
    sensor = _check_sensor(sensor, path)
    _atomic(path, lambda tmp: mod.write(tmp, events, sensor, **meta))


def write_events_stream(
    path: str | os.PathLike, chunks: Iterable[np.ndarray], sensor: tuple[int, int] | None, **meta
) -> int:
    """Write an iterable of event chunks to ``path``; returns the number of events written.

    Formats whose module has ``write_stream`` are written chunk by chunk in bounded memory;
    the others collect the chunks first. Atomic like :func:`write_events`.
    """
    path = os.fspath(path)
    mod = _writer_for(path)
    sensor = _check_sensor(sensor, path)
    count = [0]

    def checked() -> Iterator[np.ndarray]:
        for c in chunks:
            c = _check_events(c, path)
            count[0] += len(c)
            yield c

    if hasattr(mod, "write_stream"):
        _atomic(path, lambda tmp: mod.write_stream(tmp, checked(), sensor, **meta))
    else:
        def whole(tmp: str) -> None:
            parts = list(checked())
            events = np.concatenate(parts) if parts else np.empty(0, dtype=EVENT_DTYPE)
            mod.write(tmp, events, sensor, **meta)

        _atomic(path, whole)
    return count[0]


@dataclass
class EventStats:
    """What one streaming pass over a file measures (``eventsim events info``)."""

    events: int = 0  # number of events
    on: int = 0  # events with p = 1
    off: int = 0  # events with p = 0
    t_first: int | None = None  # timestamp of the first event in file order (us)
    t_last: int | None = None  # timestamp of the last event in file order (us)
    t_min: int | None = None  # smallest timestamp
    t_max: int | None = None  # largest timestamp
    out_of_order: int = 0  # events whose timestamp is smaller than the one before
    x_max: int | None = None  # largest x seen
    y_max: int | None = None  # largest y seen

    @property
    def duration_us(self) -> int:
        return 0 if self.t_min is None or self.t_max is None else int(self.t_max - self.t_min)

    @property
    def origin(self) -> int:
        """``t_min``, or 0 when there are no events (a time origin nothing is measured from)."""
        return 0 if self.t_min is None else int(self.t_min)

    @property
    def rate_hz(self) -> float:
        """Mean event rate over the span of timestamps (0 for fewer than 2 distinct times)."""
        return self.events / (self.duration_us * 1e-6) if self.duration_us > 0 else 0.0

    def add(self, ev: np.ndarray) -> None:
        """Fold one chunk into the statistics (chunks in file order)."""
        if not len(ev):
            return
        t = ev["t"]
        on = int(np.count_nonzero(ev["p"]))
        prev = self.t_last
        self.out_of_order += int(np.count_nonzero(t[1:] < t[:-1]))
        if prev is not None and t[0] < prev:
            self.out_of_order += 1
        self.events += len(ev)
        self.on += on
        self.off += len(ev) - on
        if self.t_first is None:
            self.t_first = int(t[0])
        self.t_last = int(t[-1])
        lo, hi = int(t.min()), int(t.max())
        self.t_min = lo if self.t_min is None else min(self.t_min, lo)
        self.t_max = hi if self.t_max is None else max(self.t_max, hi)
        xm, ym = int(ev["x"].max()), int(ev["y"].max())
        self.x_max = xm if self.x_max is None else max(self.x_max, xm)
        self.y_max = ym if self.y_max is None else max(self.y_max, ym)


def scan_events(
    path: str | os.PathLike, chunk: int = DEFAULT_CHUNK, fmt: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> EventStats:
    """One streaming pass over the file: counts, polarity split, time span, out-of-order events.

    ``progress`` (optional) is called with the number of events of each chunk.
    """
    stats = EventStats()
    for ev in stream_events(path, chunk=chunk, fmt=fmt):
        stats.add(ev)
        if progress is not None:
            progress(len(ev))
    return stats
