"""Event recordings -> prepared input: the sensor rule, the fit check and the binning, once.

A whole array (:func:`prepare_events`), a file streamed in bounded memory
(:func:`prepare_event_file`) and the blocks of steps of a continuous stream (:class:`BlockBinner`)
share :func:`event_setup`, so every command applies the same defaults: the sensor size a file
states, else the rule of :mod:`eventsim.events.sensor`; the spec's polarity, else the model's; the
spec's step count, else the model's T unless ``bin_us`` decides it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputFormatError
from ..events.binning import BinnedEvents, bin_events, binning_info, check_fit
from ..events.binstream import Replay, bin_stream, stream_stats
from ..events.io import read_info, stream_events
from ..events.sensor import GIVEN, extent, resolve_sensor
from ..network.ir import Network
from .spec import InputOptions, PreparedInput


@dataclass(frozen=True)
class EventSetup:
    """What the binning of one recording for one model needs besides its events."""

    sensor: tuple[int, int]  # (W, H) the events' coordinates live in
    sensor_from: str  # where that size came from (events.sensor)
    polarity: str  # "split" | "signed"
    timesteps: int | None  # steps asked for (None: as many bin_us windows as there are)


def require_events_model(net: Network, where: str) -> None:
    if net.input.kind != "events":
        raise InputFormatError(f"{where}: model {net.name!r} takes {net.input.kind} input, got events")


def event_setup(net: Network, spec: InputOptions, stated: tuple[int, int] | None,
                events_extent: tuple[int, int] | None, where: str,
                sensor: tuple[int, int] | None = None) -> EventSetup:
    """Resolve the sensor (``sensor`` overrides what the file states), polarity and step count of
    a recording for ``net`` and check that it fits the model input (InputFormatError if not)."""
    require_events_model(net, where)
    size: tuple[int, int] | None
    if sensor is not None:
        size, sensor_from = (int(sensor[0]), int(sensor[1])), GIVEN
    else:
        size, sensor_from = resolve_sensor(stated, events_extent, net.sensor_size)
    if size is None:  # no stated size, no events, no model sensor: the input map itself
        size = net.input.sensor or (net.input_shape[2], net.input_shape[1])
    polarity = spec.polarity or net.input.polarity
    check_fit(size, input_chw(net), polarity, spec.crop, spec.downscale, where=where)
    return EventSetup((int(size[0]), int(size[1])), sensor_from, polarity, spec.event_steps(net.timesteps))


def input_chw(net: Network) -> tuple[int, int, int]:
    """The model's event input map ``(C, H, W)``."""
    c, h, w = net.input_shape
    return int(c), int(h), int(w)


def _prepared(binned: BinnedEvents, setup: EventSetup, spec: InputOptions, events: int,
              info: dict) -> PreparedInput:
    info.setdefault("events", int(events))
    info.setdefault("sensor", list(setup.sensor))
    info.setdefault("sensor_from", setup.sensor_from)
    info.update(binning_info(binned, setup.polarity, spec.bin_us, spec.method, spec.keep_partial,
                             spec.crop, spec.downscale))
    return PreparedInput(binned.timesteps, info, binned=binned)


def prepare_events(events: np.ndarray, net: Network, spec: InputOptions = InputOptions(), *,
                   stated: tuple[int, int] | None = None, sensor: tuple[int, int] | None = None,
                   info: dict | None = None) -> PreparedInput:
    """An EVENT_DTYPE array (``stated``: the sensor size its file gives) binned for ``net``."""
    info = dict(info or {})
    where = info.get("path", "input")
    setup = event_setup(net, spec, stated, extent(events), where, sensor)
    binned = bin_events(events, setup.sensor, input_chw(net), setup.polarity, setup.timesteps, spec.bin_us,
                        spec.method, spec.keep_partial, spec.crop, spec.downscale, where=where)
    return _prepared(binned, setup, spec, events.size, info)


def prepare_event_file(path: str, fmt: str, net: Network, spec: InputOptions = InputOptions(), *,
                       info: dict | None = None) -> PreparedInput:
    """The events of the ``fmt`` file ``path`` binned for ``net`` from the stream: the events are
    never all in memory, only the spikes they deliver (equal to :func:`prepare_events` on the
    whole array; a test holds the two equal)."""
    info = {"path": path, "format": fmt, **(info or {})}
    require_events_model(net, path)
    chunks = Replay(lambda: stream_events(path, fmt=fmt))
    stats = stream_stats(chunks, path)
    events_extent = None
    if stats.events and stats.x_max is not None and stats.y_max is not None:
        events_extent = (stats.x_max + 1, stats.y_max + 1)
    setup = event_setup(net, spec, read_info(path, fmt).sensor, events_extent, path)
    binned = bin_stream(chunks, stats, setup.sensor, input_chw(net), setup.polarity, setup.timesteps,
                        spec.bin_us, spec.method, spec.keep_partial, spec.crop, spec.downscale, where=path)
    return _prepared(binned, setup, spec, stats.events, info)


class BlockBinner:
    """Bins the blocks of ``bin_us`` steps of one continuous stream (``--continuous``).

    The stream's extent is not known until it ends, so the sensor is the one it states, else
    the model's; polarity, crop and downscale come from ``spec``.
    """

    def __init__(self, net: Network, spec: InputOptions, bin_us: int, stated: tuple[int, int] | None,
                 where: str):
        self.net, self.spec, self.bin_us, self.where = net, spec, int(bin_us), where
        self.setup = event_setup(net, spec, stated, None, where)

    def __call__(self, events: np.ndarray, steps: int, origin: int) -> PreparedInput:
        """The ``steps`` complete steps of ``events``, step 0 starting at ``origin`` (µs)."""
        s, spec = self.setup, self.spec
        binned = bin_events(events, s.sensor, input_chw(self.net), s.polarity, steps, self.bin_us,
                            "window", False, spec.crop, spec.downscale, where=self.where, origin=origin)
        info = {"path": self.where, "events": int(len(events)), "sensor": list(s.sensor),
                "dropped_events": binned.dropped, "outside_map_events": binned.outside_map}
        return PreparedInput(binned.timesteps, info, binned=binned)
