"""Regroup a stream of event arrays of any sizes into chunks of exactly ``chunk`` events.

Packet-based formats (AEDAT 3.1 / 4.0) decode one packet at a time; this turns their packets
into the fixed-size chunks that ``iter_chunks`` promises (the last one may be shorter),
copying each event at most twice whatever the packet and chunk sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


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
        merged = np.concatenate(pending) if len(pending) > 1 else pending[0]
        full = (len(merged) // chunk) * chunk
        for start in range(0, full, chunk):
            yield merged[start:start + chunk]
        rest = merged[full:]
        pending = [rest.copy()] if len(rest) else []  # copy: do not pin the whole merged block
        have = len(rest)
    if have:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]
