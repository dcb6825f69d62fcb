"""The sensor size of a recording that does not state one: one rule for every command.

A file that states its sensor size (AEDAT, EVT headers, eventsim's .npz/.h5) is taken at its word.
One that does not (an N-CARS ``.dat`` without geometry, some EVT files) gets the extent of its
events, ``(max x + 1, max y + 1)`` — except when it is run through a model whose sensor the events
fit inside: then the model's sensor, so that a small recording is not stretched by a downscale
or refused by the shape check. Every command says which it used (``sensor_from``).
"""

from __future__ import annotations

import numpy as np

STATED = "stated by the file"
EXTENT = "the events' extent; the file states no sensor size"
MODEL = "the model's sensor; the file states none and its events fit inside it"
GIVEN = "given by the caller"


def extent(events: np.ndarray) -> tuple[int, int] | None:
    """``(max x + 1, max y + 1)`` of an EVENT_DTYPE array, None when it is empty."""
    if events.size == 0:
        return None
    return int(events["x"].max()) + 1, int(events["y"].max()) + 1


def resolve_sensor(stated: tuple[int, int] | None, events_extent: tuple[int, int] | None,
                   model_sensor: tuple[int, int] | None = None) -> tuple[tuple[int, int] | None, str]:
    """``(sensor, where it comes from)`` by the rule of this module's docstring.

    ``None`` when nothing gives a size (no stated size, no events, no model).
    """
    if stated is not None:
        return (int(stated[0]), int(stated[1])), STATED
    if model_sensor is not None and (events_extent is None or (
            events_extent[0] <= model_sensor[0] and events_extent[1] <= model_sensor[1])):
        return (int(model_sensor[0]), int(model_sensor[1])), MODEL
    if events_extent is not None:
        return events_extent, EXTENT
    return None, EXTENT
