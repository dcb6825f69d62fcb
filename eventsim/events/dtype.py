"""The one in-memory event type of eventsim.

``t`` is in microseconds as stored in the file, ``x``/``y`` are image coordinates (origin top
left, y down), ``p`` is 1 for ON (brightness increase) and 0 for OFF.
"""

from __future__ import annotations

import numpy as np

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])


def empty_events(n: int = 0) -> np.ndarray:
    """An uninitialised event array of length ``n``."""
    return np.empty(n, dtype=EVENT_DTYPE)


def make_events(t, x, y, p) -> np.ndarray:
    """Build an EVENT_DTYPE array from four equally long sequences."""
    t = np.asarray(t)
    ev = np.empty(len(t), dtype=EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = x
    ev["y"] = y
    ev["p"] = p
    return ev
