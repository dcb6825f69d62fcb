"""One growable EVENT_DTYPE array that whole-file decoders write into directly.

``read_events`` used to collect the decoded chunks in a list and ``np.concatenate`` them: every
event was written twice and the peak held both copies. A reader that implements ``read_all``
decodes into an :class:`EventBuffer` instead: its capacity starts at a bound (or an estimate)
from the file size, the decode kernels write straight into its fields, and :meth:`finish` trims
it in place (a shrinking ``realloc``: no copy, the unused tail is returned to the system).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..dtype import EVENT_DTYPE, copy_events, copy_into


class EventBuffer:
    """``events[:n]`` holds the events decoded so far; the rest is spare capacity."""

    def __init__(self, capacity: int):
        self.events = np.empty(max(int(capacity), 0), dtype=EVENT_DTYPE)  # untouched pages cost nothing
        self.n = 0  # events written

    @property
    def spare(self) -> int:
        return self.events.shape[0] - self.n

    def reserve(self, k: int) -> None:
        """Make room for ``k`` more events (growing by at least half the capacity)."""
        if k <= self.spare:
            return
        # A new array and one copy: ndarray.resize would zero-fill the new tail (touching it all).
        bigger = np.empty(max(self.n + k, self.events.shape[0] * 3 // 2, 1024), dtype=EVENT_DTYPE)
        copy_into(bigger[:self.n], self.events[:self.n])
        self.events = bigger

    def free(self) -> np.ndarray:
        """A view of the spare capacity, for a kernel to fill (drop it before :meth:`reserve` or
        :meth:`finish`)."""
        return self.events[self.n:]

    def append(self, part: np.ndarray) -> None:
        self.reserve(len(part))
        copy_into(self.events[self.n:self.n + len(part)], part)
        self.n += len(part)

    def finish(self) -> np.ndarray:
        """The ``n`` decoded events as one array (the buffer must not be used afterwards)."""
        out, self.events = self.events, np.empty(0, dtype=EVENT_DTYPE)
        if out.shape[0] == self.n:
            return out
        try:
            out.resize(self.n, refcheck=True)  # shrinking realloc: no copy
        except ValueError:  # a view of it is still alive somewhere: copy instead
            out = copy_events(out[:self.n])
        return out


#: Events per chunk when a ``read_all`` copies a reader's chunks into one array.
COLLECT_CHUNK = 1 << 20


def collect(chunks: Iterable[np.ndarray], capacity: int) -> np.ndarray:
    """The events of ``chunks`` in one array of initial ``capacity`` (grown if they need more).

    For readers whose chunks are cheap to produce: each event is copied once, and the peak is
    the result plus one chunk (a chunk list and ``np.concatenate`` would hold everything twice).
    """
    out = EventBuffer(capacity)
    for part in chunks:
        out.append(part)
    return out.finish()
