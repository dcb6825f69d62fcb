"""eventsim's own ``.npz`` event format.

A NumPy ``.npz`` archive with arrays ``t`` (int64), ``x`` (uint16), ``y`` (uint16), ``p``
(uint8), all of the same length, and ``sensor`` = ``[W, H]``. Optional ``camera`` (a 0-d
string array). The archive is written compressed (deflate). Reading streams each member through
``zipfile`` and the ``.npy`` header, so a large file is read in bounded memory.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import InputFormatError
from ..dtype import EVENT_DTYPE, check_polarity
from . import FileInfo, _npy
from ._output import COLLECT_CHUNK, collect

NAME = "npz"
EXTENSIONS = (".npz",)
_FIELDS = ("t", "x", "y", "p")
_ZIP_MAGIC = b"PK\x03\x04"


def sniff(head: bytes, path: str) -> bool:
    # A zip whose first member is one of our arrays (np.savez writes them in argument order).
    if not head.startswith(_ZIP_MAGIC) or len(head) < 30:
        return False
    name_len = int.from_bytes(head[26:28], "little")
    name = head[30:30 + name_len]
    return name in {f"{k}.npy".encode() for k in (*_FIELDS, "sensor")}


def _open(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, UnicodeDecodeError,
            NotImplementedError) as exc:  # NotImplementedError: a zip version zipfile lacks
        if isinstance(exc, FileNotFoundError):
            raise
        raise InputFormatError(f"{path}: not a readable .npz archive ({exc})") from None


def _member_header(zf: zipfile.ZipFile, name: str, path: str):
    """Open member ``name`` and parse its .npy header -> (stream, shape, dtype).

    The member must hold (by its declared uncompressed size) the bytes its header declares.
    """
    where = f"{path}: array {name[:-4]!r}"
    try:
        member = zf.getinfo(name)
        f = zf.open(member)
    except KeyError:
        raise InputFormatError(f"{path}: .npz event file lacks the array {name[:-4]!r}") from None
    except (ValueError, NotImplementedError, RuntimeError, zipfile.BadZipFile, EOFError, OSError,
            zlib.error) as exc:
        # NotImplementedError: an unknown compression method; RuntimeError: an encrypted member
        raise InputFormatError(f"{where} cannot be opened ({exc})") from None
    shape, _, dtype = _npy.read_header(f, where)
    need, have = _npy.nbytes(shape, dtype), member.file_size - f.tell()
    if need > have:
        raise InputFormatError(f"{where}: header declares shape {shape} ({need:,} bytes) but the member "
                               f"holds {have:,} bytes of data")
    return f, shape, dtype


def _read_small(zf: zipfile.ZipFile, name: str, path: str) -> np.ndarray:
    f, shape, dtype = _member_header(zf, name, path)
    n = _npy.nbytes(shape, dtype) // max(dtype.itemsize, 1)
    if n > 4096:
        raise InputFormatError(f"{path}: array {name[:-4]!r} is unexpectedly large ({n} items)")
    data = _read_exact(f, n * dtype.itemsize, path, name)
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _read_exact(f, nbytes: int, path: str, name: str) -> bytes:
    try:
        data = f.read(nbytes)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, RuntimeError,
            NotImplementedError) as exc:
        raise InputFormatError(f"{path}: array {name[:-4]!r} is corrupt ({exc})") from None
    if len(data) != nbytes:
        raise InputFormatError(f"{path}: array {name[:-4]!r} is truncated")
    return data


def _sensor(zf: zipfile.ZipFile, path: str) -> tuple[int, int]:
    if "sensor.npy" not in zf.namelist():
        raise InputFormatError(f"{path}: .npz event file lacks the array 'sensor' ([W, H])")
    s = _read_small(zf, "sensor.npy", path)
    if s.shape != (2,) or s.dtype.kind not in "iu" or not all(0 < int(v) <= 65535 for v in s):
        raise InputFormatError(f"{path}: 'sensor' must be two positive integers [W, H], got {s!r}")
    return int(s[0]), int(s[1])


def read_info(path: str) -> FileInfo:
    with _open(path) as zf:
        sensor = _sensor(zf, path)
        meta: dict = {}
        if "camera.npy" in zf.namelist():
            cam = _read_small(zf, "camera.npy", path)
            if cam.dtype.kind == "U":
                meta["camera"] = str(cam.reshape(-1)[0]) if cam.size else ""
        fields = {}
        for k in _FIELDS:
            f, shape, _ = _member_header(zf, f"{k}.npy", path)
            f.close()
            fields[k] = shape
        meta["events"] = int(fields["t"][0]) if len(fields["t"]) == 1 else None
    return FileInfo(format=NAME, sensor=sensor, metadata=meta)


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    with _open(path) as zf:
        _sensor(zf, path)
        streams = {}
        n = None
        for k in _FIELDS:
            f, shape, dtype = _member_header(zf, f"{k}.npy", path)
            want = EVENT_DTYPE[k]
            # Same kind and byte order as EVENT_DTYPE's field; exact width checked too.
            if dtype != want:
                raise InputFormatError(f"{path}: array {k!r} has dtype {dtype}, expected {want}")
            if len(shape) != 1:
                raise InputFormatError(f"{path}: array {k!r} must be 1-D, got shape {shape}")
            if n is None:
                n = shape[0]
            elif shape[0] != n:
                raise InputFormatError(f"{path}: arrays t, x, y, p differ in length "
                                       f"({k!r} has {shape[0]}, 't' has {n})")
            streams[k] = (f, dtype)
        assert n is not None  # _FIELDS is not empty
        done = 0
        while done < n:
            m = min(chunk, n - done)
            out = np.empty(m, dtype=EVENT_DTYPE)
            for k, (f, dtype) in streams.items():
                out[k] = np.frombuffer(_read_exact(f, m * dtype.itemsize, path, f"{k}.npy"), dtype=dtype)
            check_polarity(out["p"], path, done)
            done += m
            yield out


def write(path: str, events: np.ndarray, sensor: tuple[int, int], **meta) -> None:
    arrays: dict[str, Any] = {k: np.ascontiguousarray(events[k]) for k in _FIELDS}
    arrays["sensor"] = np.asarray(sensor, dtype=np.int64)
    if meta.get("camera"):
        arrays["camera"] = np.asarray(str(meta["camera"]))
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def read_all(path: str) -> np.ndarray:
    declared = read_info(path).metadata["events"] or 0
    # Start from the declared count, but never beyond a byte per event of the (compressed) file:
    # a lying archive then costs a few copies while growing, not a huge allocation up front.
    return collect(iter_chunks(path, COLLECT_CHUNK), min(declared, os.path.getsize(path)))
