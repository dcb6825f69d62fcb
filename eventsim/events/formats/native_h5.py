"""eventsim's own ``.h5`` event format.

An HDF5 file with a group ``/events`` holding 1-D datasets ``t`` (int64), ``x`` (uint16),
``y`` (uint16), ``p`` (uint8) of equal length; the group's attribute ``sensor`` = ``[W, H]``.
The group also carries ``format = "eventsim-events"``, ``format_version = 1`` and optional
``camera``. Datasets are chunked and gzip-compressed, and grow while writing, so both reading
and writing stream in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import h5py
import numpy as np

from ...errors import InputFormatError
from ..dtype import EVENT_DTYPE
from . import FileInfo

NAME = "h5"
EXTENSIONS = (".h5", ".hdf5")
FORMAT_VERSION = 1
_FIELDS = ("t", "x", "y", "p")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_H5_CHUNK = 1 << 16  # events per HDF5 chunk


def sniff(head: bytes, path: str) -> bool:
    if not head.startswith(_HDF5_MAGIC):
        return False
    # model.h5 files are HDF5 too: only a file with an /events group is ours.
    try:
        with h5py.File(path, "r") as f:
            return isinstance(f.get("events"), h5py.Group)
    except (OSError, ValueError):
        return False


def _open(path: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise InputFormatError(f"{path}: not a readable HDF5 file ({exc})") from None


def _group(f: h5py.File, path: str) -> h5py.Group:
    g = f.get("events")
    if not isinstance(g, h5py.Group):
        raise InputFormatError(f"{path}: HDF5 file has no /events group (not an eventsim event file)")
    return g


def _sensor(g: h5py.Group, path: str) -> tuple[int, int]:
    s = np.asarray(g.attrs.get("sensor", []))
    if s.shape != (2,) or s.dtype.kind not in "iu" or not all(0 < int(v) <= 65535 for v in s):
        raise InputFormatError(f"{path}: /events attribute 'sensor' must be [W, H], got {s!r}")
    return int(s[0]), int(s[1])


def _datasets(g: h5py.Group, path: str) -> tuple[dict, int]:
    ds = {}
    n = None
    for k in _FIELDS:
        d = g.get(k)
        if not isinstance(d, h5py.Dataset):
            raise InputFormatError(f"{path}: /events/{k} dataset is missing")
        if d.dtype != EVENT_DTYPE[k]:
            raise InputFormatError(f"{path}: /events/{k} has dtype {d.dtype}, expected {EVENT_DTYPE[k]}")
        if d.ndim != 1:
            raise InputFormatError(f"{path}: /events/{k} must be 1-D, got shape {d.shape}")
        if n is None:
            n = d.shape[0]
        elif d.shape[0] != n:
            raise InputFormatError(f"{path}: /events datasets differ in length "
                                   f"(/events/{k} has {d.shape[0]}, /events/t has {n})")
        ds[k] = d
    return ds, int(n)


def read_info(path: str) -> FileInfo:
    with _open(path) as f:
        g = _group(f, path)
        sensor = _sensor(g, path)
        version = g.attrs.get("format_version", FORMAT_VERSION)
        if int(version) != FORMAT_VERSION:
            raise InputFormatError(f"{path}: unknown eventsim events format_version {version}")
        _, n = _datasets(g, path)
        meta = {"events": n, "format_version": int(version)}
        cam = g.attrs.get("camera")
        if cam is not None:
            meta["camera"] = cam.decode() if isinstance(cam, bytes) else str(cam)
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    with _open(path) as f:
        g = _group(f, path)
        _sensor(g, path)
        ds, n = _datasets(g, path)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            out = np.empty(stop - start, dtype=EVENT_DTYPE)
            try:
                for k, d in ds.items():
                    out[k] = d[start:stop]
            except (OSError, ValueError) as exc:
                raise InputFormatError(f"{path}: /events unreadable near event {start} ({exc})") from None
            yield out


def write_stream(path: str, chunks: Iterable[np.ndarray], sensor: tuple[int, int], **meta) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.attrs["format"] = "eventsim-events"
        g.attrs["format_version"] = FORMAT_VERSION
        g.attrs["sensor"] = np.asarray(sensor, dtype=np.int64)
        if meta.get("camera"):
            g.attrs["camera"] = str(meta["camera"])
        ds = {k: g.create_dataset(k, shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE[k],
                                  chunks=(_H5_CHUNK,), compression="gzip", shuffle=True)
              for k in _FIELDS}
        n = 0
        for c in chunks:
            m = len(c)
            if not m:
                continue
            for k, d in ds.items():
                d.resize((n + m,))
                d[n:n + m] = c[k]
            n += m


def write(path: str, events: np.ndarray, sensor: tuple[int, int], **meta) -> None:
    write_stream(path, [events], sensor, **meta)
