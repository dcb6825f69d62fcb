"""Check an HDF5 model file's structure before any of its data is read.

A model (model.h5 or NIR) must be self-contained and plain: HDF5 can make a dataset read the
bytes of another file (external storage, external links, virtual datasets), a soft link can
loop, a hard link can put a group inside itself, and a dataset can declare 10^10 elements that
were never written (reading it allocates all of them). :func:`audit_hdf5` walks every object
once, iteratively, reading only metadata, and raises ModelFormatError naming the first problem.
"""

from __future__ import annotations

import mmap
import os

import h5py
import numpy as np

from ..errors import ModelFormatError, brief
from ..events.hdf5 import missing_filter
from .limits import MAX_DEPTH, MAX_GRAPH_NODES, MAX_PARAMETER_BYTES

MAX_OBJECTS = 16 * MAX_GRAPH_NODES  # groups + datasets (a NIR conv node holds about ten)
MAX_ATTRIBUTE_ELEMENTS = 1 << 20  # an attribute holds a shape, a name or a JSON text
_PLAIN_KINDS = "biufSUO"  # numbers, booleans and strings; no compound, reference or opaque data


def audit_hdf5(f: h5py.File, path: str) -> None:
    """Raise ModelFormatError unless every object of ``f`` is a plain, self-contained one.

    Two passes of HDF5's own iterators (each object and each link once, metadata only): links
    first (soft and external links refused, so nothing is resolved), then objects. A callback
    returns the first problem, which stops the iteration (raising inside one is not allowed).
    """
    counts = {"links": 0, "bytes": 0}

    def check_link(name: bytes, info) -> str | None:
        if name.count(b"/") >= MAX_DEPTH:  # opening objects by path costs HDF5 its depth each
            return f"/: groups nested more than {MAX_DEPTH} levels deep"
        where = "/" + name.decode("utf-8", "replace")
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            target = f.id.links.get_val(name)[0].decode("utf-8", "replace")
            return f"{where}: is an external link to {_file_name(target)}; a model must be self-contained"
        if info.type != h5py.h5l.TYPE_HARD:
            return f"{where}: is a soft link; a model file holds no links"
        counts["links"] += 1
        return f"/: holds more than {MAX_OBJECTS:,} objects" if counts["links"] > MAX_OBJECTS else None

    def check_object(name: bytes, info) -> str | None:
        where = "/" + name.decode("utf-8", "replace")
        if info.rc > 1:
            return f"{where}: has a second name (a hard link); a model file holds every object once"
        if info.type == h5py.h5o.TYPE_DATASET:
            dsid = h5py.h5d.open(f.id, name)
            nbytes = _check_dataset(dsid)
            if isinstance(nbytes, str):
                return f"{where}: {nbytes}"
            counts["bytes"] += nbytes
            if counts["bytes"] > MAX_PARAMETER_BYTES:
                return (f"{where}: datasets declare more than {MAX_PARAMETER_BYTES:,} bytes in all "
                        "(eventsim's limit for one model)")
            if nbytes and not _stored(dsid, nbytes):
                return (f"{where}: declares shape {brief(dsid.shape)} ({nbytes:,} bytes) but its data "
                        "was never written (reading it would allocate fill values)")
        elif info.type != h5py.h5o.TYPE_GROUP:
            return f"{where}: is a named data type, not a group or a dataset"
        problem = _check_attributes(h5py.h5o.open(f.id, name), info.num_attrs)
        return f"{where}: {problem}" if problem else None

    problem = f.id.links.visit(check_link, info=True)
    if problem is None:
        problem = _check_attributes(f.id, h5py.h5a.get_num_attrs(f.id))
        problem = problem and f"/: {problem}"
    if problem is None:
        problem = h5py.h5o.visit(f.id, check_object, info=True)
    if problem:
        raise ModelFormatError(f"{path}: {problem}")


def check_global_heaps(path: str) -> None:
    """Refuse a global heap collection that would make libhdf5 loop forever while reading it.

    Variable-length strings (names, JSON texts) live in global heap collections ("GCOL"). HDF5
    walks a collection's objects by their declared sizes; a free-space object (index 0) of size
    0 never advances the walk, and the read spins in C code that no signal interrupts (found by
    the fuzz test). The file is scanned for collections and each is walked here first, the way
    HDF5 walks it; only that never-advancing object is refused, so random weight bytes that
    happen to spell "GCOL" practically never trip it.
    """
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size:  # mmap refuses an empty file (not HDF5 anyway)
            _walk_global_heaps(path, f)


def _walk_global_heaps(path: str, f) -> None:
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        size = len(data)
        start = data.find(b"GCOL")
        while start >= 0:
            if start + 16 <= size and data[start + 4] == 1:
                declared = int.from_bytes(data[start + 8:start + 16], "little")
                end = start + min(declared, size - start)
                p = start + 16
                while p + 16 <= end:
                    index = int.from_bytes(data[p:p + 2], "little")
                    length = int.from_bytes(data[p + 8:p + 16], "little")
                    if index == 0 and length == 0:
                        raise ModelFormatError(f"{path}: corrupt HDF5 global heap at byte {start} "
                                               "(an empty free-space object)")
                    p += length if index == 0 else 16 + (length + 7) // 8 * 8
            start = data.find(b"GCOL", start + 4)


def _file_name(name: str) -> str:
    """A file name from a hostile file, quoted; long ones keep their end (the file's own name)."""
    return repr(name) if len(name) <= 80 else repr("..." + name[-77:])


def _check_dataset(dsid) -> int | str:
    """The bytes a dataset declares, or what is wrong with it (storage outside the file, type)."""
    plist = dsid.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        return "is a virtual dataset (its data lives in other files); a model must be self-contained"
    if plist.get_external_count() > 0:
        target = plist.get_external(0)[0].decode("utf-8", "replace")
        return (f"has external storage (its data is read from {_file_name(target)}); a model must be "
                "self-contained")
    dtype = dsid.dtype
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None:
        return f"has data type {brief(str(dtype))}, not numbers or text"
    missing = missing_filter(dsid)
    if missing:
        return f"is compressed with {missing}, which this eventsim cannot decode"
    shape = dsid.shape
    if shape is None:  # an empty dataspace: no data
        return 0
    return int(np.prod(shape, dtype=object)) * max(dtype.itemsize, 1)


def _stored(dsid, nbytes: int) -> bool:
    """Whether every chunk (or every byte) a dataset declares is stored in the file."""
    plist = dsid.get_create_plist()
    shape = dsid.shape
    layout = plist.get_layout()
    if layout == h5py.h5d.COMPACT:  # the data sits in the object header
        return True
    if layout == h5py.h5d.CHUNKED:
        chunks = plist.get_chunk()
        need = 1
        for n, c in zip(shape, chunks):
            need *= -(-n // c)
        return dsid.get_num_chunks() >= need
    return dsid.get_storage_size() >= nbytes


def _check_attributes(oid, count: int) -> str | None:
    for index in range(count):
        attr = h5py.h5a.open(oid, index=index)
        name = brief(attr.name.decode("utf-8", "replace"))
        shape = attr.shape or ()
        if int(np.prod(shape, dtype=object)) > MAX_ATTRIBUTE_ELEMENTS:
            return f"attribute {name} declares {shape} elements"
        if attr.dtype.kind not in _PLAIN_KINDS or attr.dtype.fields is not None:
            return f"attribute {name} has data type {brief(str(attr.dtype))}, not numbers or text"
    return None
