"""What the engine is given: the options that turn an input into time steps, and the result.

:class:`InputOptions` holds the options of ``eventsim run`` that decide how a recording, a frame
or an array becomes time steps (binning, polarity, crop, downscale). :class:`PreparedInput` is
what the adapter (:mod:`eventsim.inputs.adapter`) makes of any input with a spec: the engine's
``Simulator.run_prepared`` takes nothing else, so the rules for defaults (the model's T, its
polarity, the sensor size of a file that states none) live in this package only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..events.binning import BinnedEvents


@dataclass(frozen=True)
class InputOptions:
    """How an input becomes time steps (the binning options of ``eventsim run``)."""

    timesteps: int | None = None  # number of steps (None: the model's, or as many --bin-us windows)
    bin_us: int | None = None  # fixed window length in microseconds
    method: str | None = None  # "window" | "time" | "count" (None: from the two above)
    keep_partial: bool = False  # keep the last incomplete --bin-us window
    polarity: str | None = None  # "split" | "signed" (None: the model's)
    crop: tuple[int, int, int, int] | None = None  # X0, Y0, W, H kept before downscaling
    downscale: str | None = None  # "nearest" | "sum"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["crop"] = None if self.crop is None else list(self.crop)
        return d

    def event_steps(self, model_timesteps: int) -> int | None:
        """The step count event binning asks for: the given one, else the model's unless
        ``bin_us`` decides it (as many windows as the recording holds)."""
        if self.timesteps is None and self.bin_us is None:
            return int(model_timesteps)
        return self.timesteps


@dataclass
class PreparedInput:
    """An input ready to run: exactly one of ``binned``, ``counts`` and ``frames`` is set.

    ``info`` becomes the run report's ``input`` section (path, format, events, sensor and where
    its size came from, binning, dropped events).
    """

    timesteps: int
    info: dict
    binned: BinnedEvents | None = None  # event input: unit ±1 spikes per step
    counts: tuple[np.ndarray, np.ndarray] | None = None  # event input: (pos, neg) (T, *shape) int64
    frames: np.ndarray | None = None  # frame input: (1 or T, *shape) float64; 1 = same every step

    def __post_init__(self) -> None:
        given = sum(x is not None for x in (self.binned, self.counts, self.frames))
        if given != 1:
            raise ValueError(f"a PreparedInput holds exactly one of binned, counts, frames ({given} given)")

    def event_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``(pos, neg)`` counts of an input given as dense counts (ValueError otherwise)."""
        if self.counts is None:
            raise ValueError("this prepared input holds no dense spike counts")
        return self.counts

    @property
    def kind(self) -> str:
        """``"events"`` or ``"frames"``: which kind of model input this feeds."""
        return "frames" if self.frames is not None else "events"
