"""Chunking helpers shared by the format readers.

``rechunk``: packet-based formats (AEDAT 3.1 / 4.0) decode one packet at a time; it turns their
packets into the fixed-size chunks that ``iter_chunks`` promises (the last one may be shorter),
copying each event at most twice whatever the packet and chunk sizes.
``read_blocks``: word-stream formats (Prophesee) read fixed-size blocks into one reused buffer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ...errors import InputFormatError
from ..dtype import concat_events, copy_events


def rechunk(parts: Iterable[np.ndarray], chunk: int) -> Iterator[np.ndarray]:
    """Yield arrays of ``chunk`` elements (the last may be shorter, none is empty)."""
    pending: list[np.ndarray] = []
    have = 0
    for part in parts:
        if not len(part):
            continue
        pending.append(part)
        have += len(part)
        if have < chunk:
            continue
        merged = concat_events(pending) if len(pending) > 1 else pending[0]
        full = (len(merged) // chunk) * chunk
        for start in range(0, full, chunk):
            yield merged[start:start + chunk]
        rest = merged[full:]
        pending = [copy_events(rest)] if len(rest) else []  # copy: do not pin the whole merged block
        have = len(rest)
    if have:
        yield concat_events(pending) if len(pending) > 1 else pending[0]


def read_blocks(path: str, offset: int, block: np.ndarray, record: int) -> Iterator[np.ndarray]:
    """Fill ``block`` from ``path`` (from byte ``offset``) again and again; yield the filled part.

    Each view holds whole ``record``-byte records (the caller checked the file size, so a partial
    read means the file changed underneath). The buffer is reused: consume a view before the next.
    """
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            nbytes = f.readinto(block.data.cast("B"))
            if not nbytes:
                return
            if nbytes % record:
                raise InputFormatError(f"{path}: file changed while reading near byte {f.tell()}")
            yield block[: nbytes // block.itemsize]
