"""eventsim's own ``.h5`` event format.

An HDF5 file with a group ``/events`` holding 1-D datasets ``t`` (int64), ``x`` (uint16),
``y`` (uint16), ``p`` (uint8) of equal length; the group's attribute ``sensor`` = ``[W, H]``.
The group also carries ``format = "eventsim-events"``, ``format_version = 1`` and optional
``camera`` (fixed-length UTF-8 bytes). Datasets are chunked and gzip-compressed, and grow while
writing, so both reading and writing stream in bounded memory.

A file is trusted only as far as it holds what it declares, checked on metadata before any
event is read (so ``eventsim events info`` fails at once): every dataset and the group must be
stored in this file (external links, HDF5 external storage and virtual datasets, which would
read other files, are refused), a dataset's stored chunks or bytes must cover its declared
length (10^12 declared, never-written events are refused, not read as fill values), chunks
and attributes must be small. Polarity must be 0 or 1 (``p`` is a free byte here).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np

from ...errors import InputFormatError
from ..dtype import EVENT_DTYPE, check_polarity
from ..hdf5 import missing_filter
from . import FileInfo
from ._output import COLLECT_CHUNK, collect

NAME = "h5"
EXTENSIONS = (".h5", ".hdf5")
FORMAT_VERSION = 1
_FIELDS = ("t", "x", "y", "p")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_H5_CHUNK = 1 << 16  # events per HDF5 chunk
_MAX_CHUNK_BYTES = 64 << 20  # an HDF5 chunk is inflated whole: larger ones are refused
_MAX_ATTR_ITEMS = 64  # sensor, format_version, camera are scalars or pairs
_MAX_CAMERA = 256  # bytes of the camera name kept when writing
# What h5py raises on a corrupt file's structure (bad B-tree signatures, heap free lists, ...).
_H5_ERRORS = (OSError, RuntimeError, ValueError, KeyError, TypeError)


def sniff(head: bytes, path: str) -> bool:
    if not head.startswith(_HDF5_MAGIC):
        return False
    # model.h5 files are HDF5 too: only a file with an /events group is ours.
    try:
        with h5py.File(path, "r") as f:
            return isinstance(f.get("events"), h5py.Group)
    except _H5_ERRORS:
        return False


def _open(path: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise InputFormatError(f"{path}: not a readable HDF5 file ({exc})") from None


def _self_contained(parent: h5py.Group, name: str, path: str) -> None:
    """Refuse ``parent[name]`` when it is an external link (its data would come from elsewhere)."""
    where = f"{path}: {parent.name.rstrip('/')}/{name}"
    try:
        link = parent.get(name, getlink=True)
    except (KeyError, RuntimeError, OSError, ValueError) as exc:
        raise InputFormatError(f"{where}: unresolvable link ({exc})") from None
    if isinstance(link, h5py.ExternalLink):
        raise InputFormatError(f"{where} is an external link to "
                               f"{link.filename}:{link.path}; event files must be self-contained")


def _group(f: h5py.File, path: str) -> h5py.Group:
    if "events" in f:
        _self_contained(f, "events", path)
    g = f.get("events")
    if not isinstance(g, h5py.Group):
        raise InputFormatError(f"{path}: HDF5 file has no /events group (not an eventsim event file)")
    return g


def _attr(g: h5py.Group, name: str, path: str, default=None):
    """Attribute ``name`` of ``g``, its size checked before it is read."""
    if name not in g.attrs:
        return default
    try:
        aid = g.attrs.get_id(name)
        if aid.dtype.kind not in "iufbS":  # variable-length data lives in the global heap: see _camera
            raise InputFormatError(f"{path}: /events attribute {name!r} has type {aid.dtype}; "
                                   "expected numbers or a fixed-length string")
        size = aid.shape
        n = 1
        for d in size or ():
            n *= d
        if n > _MAX_ATTR_ITEMS:
            raise InputFormatError(f"{path}: /events attribute {name!r} declares {n:,} items; "
                                   f"at most {_MAX_ATTR_ITEMS} expected")
        return g.attrs[name]
    except InputFormatError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InputFormatError(f"{path}: /events attribute {name!r} is unreadable ({exc})") from None


def _camera(g: h5py.Group, path: str) -> str | None:
    """The ``camera`` attribute if it is a fixed-length string; None otherwise.

    A variable-length string lives in the file's global heap, and HDF5 loops forever on some
    damaged heaps (found by the fuzz suite), with no way to interrupt it. eventsim writes the
    camera as fixed-length bytes; a variable-length one (written by earlier versions) is not
    read, so the camera shows as unknown.
    """
    if "camera" not in g.attrs or g.attrs.get_id("camera").dtype.kind != "S":
        return None
    cam = np.asarray(_attr(g, "camera", path))
    return bytes(cam.reshape(-1)[0]).decode("utf-8", "replace") if cam.size == 1 else None


def _sensor(g: h5py.Group, path: str) -> tuple[int, int]:
    s = np.asarray(_attr(g, "sensor", path, []))
    if s.shape != (2,) or s.dtype.kind not in "iu" or not all(0 < int(v) <= 65535 for v in s):
        raise InputFormatError(f"{path}: /events attribute 'sensor' must be [W, H], got {s!r}")
    return int(s[0]), int(s[1])


def _check_storage(d: h5py.Dataset, n: int, path: str) -> None:
    """Refuse data from outside the file, huge chunks, and declared-but-unwritten events."""
    where = f"{path}: {d.name}"
    if d.is_virtual:
        raise InputFormatError(f"{where} is a virtual dataset (its data lives in other files); "
                               "event files must be self-contained")
    if d.external:
        raise InputFormatError(f"{where} uses HDF5 external storage ({d.external[0][0]!r}); "
                               "event files must be self-contained")
    missing = missing_filter(d.id)
    if missing:
        raise InputFormatError(f"{where} is compressed with {missing}, which this eventsim cannot decode")
    need = n * d.dtype.itemsize
    if d.chunks is not None:
        chunk = d.chunks[0]
        if chunk * d.dtype.itemsize > _MAX_CHUNK_BYTES:
            raise InputFormatError(f"{where} has chunks of {chunk:,} events; at most "
                                   f"{_MAX_CHUNK_BYTES // d.dtype.itemsize:,} are accepted")
        stored, wanted = d.id.get_num_chunks(), -(-n // chunk)
        if stored < wanted:
            raise InputFormatError(f"{where} declares {n:,} events but stores only {stored:,} of the "
                                   f"{wanted:,} chunks they need (never written or truncated)")
    elif d.id.get_storage_size() < need:
        raise InputFormatError(f"{where} declares {n:,} events ({need:,} bytes) but stores only "
                               f"{d.id.get_storage_size():,} bytes")


def _datasets(g: h5py.Group, path: str) -> tuple[dict, int]:
    ds = {}
    n = None
    for k in _FIELDS:
        if k in g:
            _self_contained(g, k, path)
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
        _check_storage(d, int(n), path)
        ds[k] = d
    assert n is not None  # _FIELDS is not empty
    return ds, int(n)


@contextmanager
def _corrupt_is_format_error(path: str) -> Iterator[None]:
    """Turn h5py's errors on a damaged file into one InputFormatError naming the file."""
    try:
        yield
    except (InputFormatError, FileNotFoundError):
        raise
    except _H5_ERRORS as exc:
        raise InputFormatError(f"{path}: corrupt HDF5 file ({type(exc).__name__}: {exc})") from None


def read_info(path: str) -> FileInfo:
    with _corrupt_is_format_error(path), _open(path) as f:
        g = _group(f, path)
        sensor = _sensor(g, path)
        version = _attr(g, "format_version", path, FORMAT_VERSION)
        if not isinstance(version, (int, np.integer)) or int(version) != FORMAT_VERSION:
            raise InputFormatError(f"{path}: unknown eventsim events format_version "
                                   f"{str(version)[:40]} (this eventsim reads {FORMAT_VERSION})")
        _, n = _datasets(g, path)
        meta: dict[str, Any] = {"events": n, "format_version": int(version)}
        cam = _camera(g, path)
        if cam is not None:
            meta["camera"] = cam
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    with _corrupt_is_format_error(path), _open(path) as f:
        g = _group(f, path)
        _sensor(g, path)
        ds, n = _datasets(g, path)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            out = np.empty(stop - start, dtype=EVENT_DTYPE)
            try:
                for k, d in ds.items():
                    out[k] = d[start:stop]
            except _H5_ERRORS as exc:
                raise InputFormatError(f"{path}: /events unreadable near event {start} ({exc})") from None
            check_polarity(out["p"], path, start)
            yield out


def write_stream(path: str, chunks: Iterable[np.ndarray], sensor: tuple[int, int], **meta) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.attrs["format"] = "eventsim-events"
        g.attrs["format_version"] = FORMAT_VERSION
        g.attrs["sensor"] = np.asarray(sensor, dtype=np.int64)
        if meta.get("camera"):
            # fixed-length bytes, stored in the attribute itself (see _camera)
            g.attrs["camera"] = np.bytes_(str(meta["camera"]).encode("utf-8")[:_MAX_CAMERA])
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


def read_all(path: str) -> np.ndarray:
    declared = read_info(path).metadata["events"]
    # as for .npz: no more than a byte per event of the file up front
    return collect(iter_chunks(path, COLLECT_CHUNK), min(declared, os.path.getsize(path)))
