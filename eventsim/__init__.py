"""eventsim: run trained spiking neural networks event by event, counting every operation.

The public API is imported lazily so that ``import eventsim`` stays fast::

    model = eventsim.load_model("model.h5")
    events, sensor = eventsim.read_events("rec.aedat4")
    result = eventsim.Simulator(model).run(events, timesteps=10)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_model": ("eventsim.network.loading", "load_network"),
    "save_model": ("eventsim.network.h5io", "save_model"),
    "Network": ("eventsim.network.ir", "Network"),
    "EVENT_DTYPE": ("eventsim.events.dtype", "EVENT_DTYPE"),
    "read_events": ("eventsim.events.io", "read_events"),
    "stream_events": ("eventsim.events.io", "stream_events"),
    "EventsimError": ("eventsim.errors", "EventsimError"),
    "Simulator": ("eventsim.engine.simulator", "Simulator"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'eventsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
