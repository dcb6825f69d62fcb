"""Arrays -> prepared input: analog frames, and spike counts per step for event-input models.

Shapes and values are checked here, before the engine sees them: a frame array must be the
model's ``(C,H,W)`` (repeated over the steps) or ``(T,C,H,W)`` and finite; spike counts must be
integers, negative only for ``signed`` polarity.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputFormatError
from ..network.ir import Network
from .spec import PreparedInput

#: Largest spike count per neuron and step an array may give (the engine adds counts in int64).
MAX_COUNT = 2**31


def _where(info: dict | None) -> str:
    return (info or {}).get("path", "input")


def require_kind(net: Network, kind: str, where: str) -> None:
    if net.input.kind != kind:
        raise InputFormatError(f"{where}: model {net.name!r} takes {net.input.kind} input, got {kind}")


def prepare_frames(frames, net: Network, timesteps: int | None = None, *,
                   info: dict | None = None) -> PreparedInput:
    """Analog frames ``(C,H,W)`` (the same in each of ``timesteps`` steps, default the model's T)
    or ``(T,C,H,W)``, as float64."""
    where = _where(info)
    require_kind(net, "frames", where)
    shape = tuple(net.input_shape)
    frames = np.asarray(frames, dtype=np.float64)
    if frames.shape == shape:
        steps = int(timesteps or net.timesteps)
        frames = frames[None]
    elif frames.ndim == len(shape) + 1 and frames.shape[1:] == shape:
        steps = frames.shape[0]
        if timesteps is not None and int(timesteps) != steps:
            raise InputFormatError(f"{where}: {steps} frames given but timesteps={timesteps}")
    else:
        raise InputFormatError(f"{where}: frame array of shape {frames.shape} does not fit the "
                               f"model input {shape} (expected (C,H,W) or (T,C,H,W))")
    if not np.all(np.isfinite(frames)):
        raise InputFormatError(f"{where}: frame array contains non-finite values")
    info = dict(info or {})
    info.setdefault("frames", int(frames.shape[0]))
    return PreparedInput(steps, info, frames=frames)


def prepare_counts(pos, neg, net: Network, *, info: dict | None = None) -> PreparedInput:
    """Dense per-step spike counts ``(T, *input_shape)`` (as ``reference.forward`` takes): a count
    of n at a pixel is n unit spikes (n additions per synapse, n SOPs); ``neg`` (or None) the
    −1 spikes of a ``signed`` input."""
    require_kind(net, "events", _where(info))
    pos = np.asarray(pos)
    shape = tuple(net.input_shape)
    if pos.ndim != len(shape) + 1 or pos.shape[1:] != shape:
        raise InputFormatError(f"{_where(info)}: counts have shape {pos.shape}, expected (T, "
                               f"{', '.join(map(str, shape))})")
    neg = np.zeros_like(pos) if neg is None else np.asarray(neg)
    if neg.shape != pos.shape:
        raise InputFormatError(f"{_where(info)}: negative counts have shape {neg.shape}, "
                               f"the positive ones {pos.shape}")
    return PreparedInput(int(pos.shape[0]), dict(info or {}), counts=(pos, neg))


def prepare_spike_rows(rows, net: Network, timesteps: int | None = None, *,
                       info: dict | None = None) -> PreparedInput:
    """One row of spike counts per step, ``(T, *input_shape)`` (``(T, N)`` for an input of shape
    ``(1, 1, N)``): integers, negative values only for ``signed`` polarity (−n is n spikes of −1)."""
    where = _where(info)
    require_kind(net, "events", where)
    shape = tuple(net.input_shape)
    rows = np.asarray(rows)
    if rows.ndim == 2 and shape[:-1] == (1,) * (len(shape) - 1) and rows.shape[1:] == shape[-1:]:
        rows = rows.reshape((rows.shape[0],) + shape)
    if rows.ndim != len(shape) + 1 or rows.shape[1:] != shape:
        raise InputFormatError(f"{where}: model {net.name!r} takes events input: an array "
                               f"of shape {rows.shape} does not fit; expected one row of spike counts "
                               f"per step, (T, {', '.join(map(str, shape))})")
    if timesteps is not None and int(timesteps) != rows.shape[0]:
        raise InputFormatError(f"{where}: {rows.shape[0]} rows (steps) given but timesteps={timesteps}")
    values = rows.astype(np.float64)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.rint(values)):
        raise InputFormatError(f"{where}: an event-input model takes integer spike counts per step; "
                               "the array holds non-integer values")
    if np.abs(values).max(initial=0) > MAX_COUNT:
        raise InputFormatError(f"{where}: spike counts above 2^31 per neuron and step")
    counts = values.astype(np.int64)
    if net.input.polarity == "split" and counts.min(initial=0) < 0:
        raise InputFormatError(f"{where}: negative spike counts, but the model's input polarity is "
                               "'split' (only 'signed' inputs take −1 spikes)")
    info = dict(info or {})
    info.setdefault("events", int(np.abs(counts).sum()))
    return prepare_counts(np.maximum(counts, 0), np.maximum(-counts, 0), net, info=info)
