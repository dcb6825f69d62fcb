"""The one in-memory event type of eventsim.

``t`` is in microseconds as stored in the file, ``x``/``y`` are image coordinates (origin top
left, y down), ``p`` is 1 for ON (brightness increase) and 0 for OFF. Any other polarity value
is an error everywhere (readers of formats that store ``p`` as a free byte, and binning), never
silently read as ON: see :func:`check_polarity`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputFormatError

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


def check_polarity(p: np.ndarray, where: str, first: int = 0) -> None:
    """InputFormatError naming ``where`` and the bad values unless every ``p`` is 0 or 1.

    ``first`` is the index of ``p[0]`` in the whole recording (for the message).
    """
    bad = np.flatnonzero(np.asarray(p) > 1)
    if bad.size:
        values = ", ".join(str(v) for v in np.unique(np.asarray(p)[bad])[:5])
        raise InputFormatError(f"{where}: polarity must be 0 (OFF) or 1 (ON); found {values} "
                               f"(first at event {first + int(bad[0]):,})")


# NumPy copies a packed (unaligned) structured array field by field, element by element: ~20x
# slower than the bytes underneath. Whole-event copies therefore go through uint8 views.


def _raw(a: np.ndarray) -> np.ndarray | None:
    """The bytes of a contiguous EVENT_DTYPE array (None if it is not one)."""
    return a.view(np.uint8) if a.dtype == EVENT_DTYPE and a.flags.c_contiguous else None


def copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for equally long event arrays, as a byte copy when both allow it."""
    d, s = _raw(dst), _raw(src)
    if d is not None and s is not None:
        d[...] = s
    else:
        dst[...] = src


def copy_events(a: np.ndarray) -> np.ndarray:
    """A copy of the event array ``a`` (owning its memory); other arrays: ``a.copy()``."""
    if a.dtype != EVENT_DTYPE:
        return a.copy()
    out = np.empty(len(a), dtype=EVENT_DTYPE)
    copy_into(out, a)
    return out


def concat_events(parts: list[np.ndarray]) -> np.ndarray:
    """The event arrays ``parts`` one after the other in a new array (other arrays:
    ``np.concatenate``)."""
    if any(p.dtype != EVENT_DTYPE for p in parts):
        return np.concatenate(parts)
    out = np.empty(sum(len(p) for p in parts), dtype=EVENT_DTYPE)
    pos = 0
    for p in parts:
        copy_into(out[pos:pos + len(p)], p)
        pos += len(p)
    return out
