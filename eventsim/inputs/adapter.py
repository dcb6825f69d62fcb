"""The one way in: any input (a file, an array, a recording read earlier) -> :class:`PreparedInput`.

``eventsim run``, ``eval``, ``validate``, the streaming modes and ``Simulator.run`` all come
through here, so an input is read, checked and binned the same way whatever the command.

>>> prepared = prepare_file("rec.aedat4", network, InputOptions(timesteps=10, downscale="sum"))
>>> result = Simulator(network).run_prepared(prepared)
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputFormatError
from ..events.binning import BinnedEvents
from ..events.dtype import EVENT_DTYPE
from ..events.frames import frame_kind_of, read_frames, read_step_array
from ..events.io import SNIFF_BYTES, detect_head, require_regular_file
from ..network.ir import Network
from .arrays import prepare_frames, prepare_spike_rows
from .events import input_chw, prepare_event_file, prepare_events, require_events_model
from .spec import InputOptions, PreparedInput


def sniff(path: str) -> str:
    """What the file at ``path`` holds, by content, read once: ``"npy"``, ``"png"`` or the event
    format NAME (InputFormatError when it is none of them)."""
    require_regular_file(path, "an input file")
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    return frame_kind_of(head) or detect_head(head, path)


def prepare_file(path: str | os.PathLike, net: Network, spec: InputOptions = InputOptions(), *,
                 fmt: str | None = None) -> PreparedInput:
    """Read ``path`` for ``net``: an event recording (any format, detected by content unless
    ``fmt`` names it; binned from the stream), a static ``.npy``/``.png`` frame, or a ``.npy`` of
    one row per step (spike counts for an event-input model, analog values for a non-image one)."""
    path = os.fspath(path)
    kind = fmt or sniff(path)
    info: dict = {"path": path, "format": kind}
    if kind == "npy" and (net.input.kind == "events" or len(net.input_shape) != 3):
        rows = read_step_array(path, net.input_shape)
        info["shape"] = list(rows.shape)
        if net.input.kind == "events":
            return prepare_spike_rows(rows, net, spec.timesteps, info=info)
        return prepare_frames(rows, net, spec.timesteps, info=info)
    if kind in ("npy", "png"):
        # the model's input shape is checked on the file's header, before its data is decoded
        if net.input.kind != "frames":
            raise InputFormatError(f"{path}: a static frame, but model {net.name!r} takes event input")
        frames = read_frames(path, expect=input_chw(net), kind=kind)
        info["shape"] = list(frames.shape)
        return prepare_frames(frames, net, spec.timesteps, info=info)
    return prepare_event_file(path, kind, net, spec, info=info)


def prepare(data, net: Network, spec: InputOptions = InputOptions(), *, sensor: tuple[int, int] | None = None,
            info: dict | None = None) -> PreparedInput:
    """Any input for ``net``: a file path (:func:`prepare_file`), an EVENT_DTYPE array or the
    ``(events, sensor)`` pair :func:`~eventsim.events.io.read_events` returns (binned by ``spec``;
    ``sensor`` overrides the stated size), :class:`BinnedEvents`, frames ``(C,H,W)``/``(T,C,H,W)``,
    or for an event-input model one row of spike counts per step. A :class:`PreparedInput` is
    returned as it is."""
    if isinstance(data, PreparedInput):
        return data
    if isinstance(data, (str, os.PathLike)):
        return prepare_file(data, net, spec)
    info = dict(info or {})
    where = info.get("path", "input")
    if isinstance(data, BinnedEvents):
        require_events_model(net, where)
        if tuple(data.shape) != tuple(net.input_shape):
            raise InputFormatError(f"{where}: binned input has shape {tuple(data.shape)}, the model "
                                   f"input is {tuple(net.input_shape)}")
        return PreparedInput(data.timesteps, info, binned=data)
    stated = None
    if isinstance(data, tuple) and len(data) == 2 and getattr(data[0], "dtype", None) == EVENT_DTYPE:
        data, stated = data
    data = np.asarray(data)
    if data.dtype == EVENT_DTYPE:
        return prepare_events(data, net, spec, stated=stated, sensor=sensor, info=info)
    if data.dtype.kind not in "fiub":
        raise InputFormatError(f"{where}: expected events or a numeric frame array, got dtype {data.dtype}")
    if net.input.kind == "events":
        return prepare_spike_rows(data, net, spec.timesteps, info=info)
    return prepare_frames(data, net, spec.timesteps, info=info)
