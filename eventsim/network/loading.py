"""Open any model file eventsim understands, detected by content, not by extension."""

from __future__ import annotations

import os

from ..errors import ModelFormatError
from .h5io import load_model
from .ir import Network
from .nir import is_nir_file, load_nir
from .sources import require_regular_file

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def load_network(path: str | os.PathLike) -> Network:
    """A ``model.h5`` (eventsim) or NIR file as an IR network.

    Both are HDF5; a NIR file is recognised by its layout (``/node/type == "NIRGraph"``) and
    imported with :func:`eventsim.network.nir.load_nir`'s defaults (dt = 1e-4 s, semantics
    ``auto``); call ``load_nir`` directly to choose them.
    """
    path = str(path)
    require_regular_file(path, "a model", ModelFormatError)  # a FIFO would block the open below
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head != HDF5_MAGIC:
        raise ModelFormatError(f"{path}: not an HDF5 file (expected a model.h5 or a .nir file)")
    if is_nir_file(path):
        return load_nir(path)
    return load_model(path)
