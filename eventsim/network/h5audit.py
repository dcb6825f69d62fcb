"""Check an HDF5 model file's structure before any of its data is read.

A model (model.h5 or NIR) must be self-contained and plain: HDF5 can make a dataset read the
bytes of another file (external storage, external links, virtual datasets), a soft link can
loop, a hard link can put a group inside itself, and a dataset can declare 10^10 elements that
were never written (reading it allocates all of them). :func:`audit_hdf5` walks every object
once, iteratively, reading only metadata, and raises ModelFormatError naming the first problem.
"""

from __future__ import annotations

import h5py
import numpy as np

from ..errors import ModelFormatError, brief
from .limits import MAX_GRAPH_NODES, MAX_PARAMETER_BYTES

MAX_OBJECTS = 32 * MAX_GRAPH_NODES  # groups + datasets (a NIR node holds a handful of datasets)
MAX_ATTRIBUTE_ELEMENTS = 1 << 20  # an attribute holds a shape, a name or a JSON text
_PLAIN_KINDS = "biufSUO"  # numbers, booleans and strings; no compound, reference or opaque data


def audit_hdf5(f: h5py.File, path: str) -> None:
    """Raise ModelFormatError unless every object of ``f`` is a plain, self-contained one."""
    seen: set = set()
    declared = 0
    stack: list[h5py.Group] = [f]
    while stack:
        group = stack.pop()
        _check_attributes(group, path)
        for name in group:
            where = f"{group.name.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                _fail(path, where, f"is an external link to {brief(link.filename)}; a model must "
                                   "be self-contained")
            if isinstance(link, h5py.SoftLink):
                _fail(path, where, f"is a soft link (to {brief(link.path)}); a model file holds "
                                   "no links")
            obj = group[name]
            if obj.id in seen:
                _fail(path, where, "is a second name of an object already in the file (a hard "
                                   "link); a model file holds every object once")
            seen.add(obj.id)
            if len(seen) > MAX_OBJECTS:
                _fail(path, "/", f"holds more than {MAX_OBJECTS:,} objects")
            if isinstance(obj, h5py.Group):
                stack.append(obj)
            elif isinstance(obj, h5py.Dataset):
                declared += _check_dataset(obj, path, where)
                if declared > MAX_PARAMETER_BYTES:
                    _fail(path, where, f"datasets declare more than {MAX_PARAMETER_BYTES:,} bytes "
                                       "in all (eventsim's limit for one model)")
            else:
                _fail(path, where, f"is an HDF5 {type(obj).__name__}, not a group or a dataset")


def _fail(path: str, where: str, msg: str):
    raise ModelFormatError(f"{path}: {where}: {msg}")


def _check_dataset(ds: h5py.Dataset, path: str, where: str) -> int:
    """The bytes ``ds`` declares, after refusing storage outside the file and exotic types."""
    plist = ds.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        _fail(path, where, "is a virtual dataset (its data lives in other files); a model must "
                           "be self-contained")
    if plist.get_external_count() > 0:
        target = plist.get_external(0)[0]
        _fail(path, where, f"has external storage (its data is read from {brief(target)}); a "
                           "model must be self-contained")
    if ds.dtype.kind not in _PLAIN_KINDS or ds.dtype.fields is not None:
        _fail(path, where, f"has data type {brief(str(ds.dtype))}, not numbers or text")
    if ds.shape is None:  # an empty dataspace: no data
        return 0
    return int(np.prod(ds.shape, dtype=object)) * max(ds.dtype.itemsize, 1)


def _check_attributes(obj, path: str) -> None:
    for name in obj.attrs:
        attr = h5py.h5a.open(obj.id, name.encode("utf-8"))
        shape = attr.shape or ()
        if int(np.prod(shape, dtype=object)) > MAX_ATTRIBUTE_ELEMENTS:
            _fail(path, f"{obj.name}", f"attribute {brief(name)} declares {shape} elements")
        if attr.dtype.kind not in _PLAIN_KINDS or attr.dtype.fields is not None:
            _fail(path, f"{obj.name}", f"attribute {brief(name)} has data type "
                                       f"{brief(str(attr.dtype))}, not numbers or text")
