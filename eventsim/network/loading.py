"""Open any model file eventsim understands, detected by content, not by extension."""

from __future__ import annotations

import os

from ..errors import ModelFormatError
from .h5io import load_model
from .ir import Network

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def load_network(path: str | os.PathLike) -> Network:
    """A ``model.h5`` (eventsim) file as an IR network.

    NIR files (also HDF5) are recognised by their content once NIR import exists.
    """
    path = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    if head != HDF5_MAGIC:
        raise ModelFormatError(f"{path}: not an HDF5 file (expected a model.h5 or a .nir file)")
    return load_model(path)
