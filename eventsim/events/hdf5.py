"""h5py for files eventsim did not write: nothing outside the file is ever loaded.

A dataset can name a compression filter by number. When HDF5 does not have it built in, it
searches its plugin folders (``HDF5_PLUGIN_PATH``, ``/usr/local/hdf5/lib/plugin``) and loads
every shared library there to find one: a file would make eventsim open and run code from
other files. The plugin search path is emptied when this module is imported (h5py has no
switch for HDF5's plugin loading state), and a dataset whose filter is not available is
named before any of its data is read.
"""

from __future__ import annotations

import h5py

while h5py.h5pl.size():
    h5py.h5pl.remove(0)


def missing_filter(dataset_id) -> str | None:
    """``filter N ('name')`` of the first filter of a dataset that HDF5 cannot apply, or None."""
    plist = dataset_id.get_create_plist()
    for index in range(plist.get_nfilters()):
        code, _flags, _values, name = plist.get_filter(index)
        if not h5py.h5z.filter_avail(code):
            return f"filter {code} ({name.decode('utf-8', 'replace')[:40]!r})"
    return None
