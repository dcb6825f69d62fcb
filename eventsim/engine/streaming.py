"""Runs over long recordings and live streams: independent windows, or one state over time.

- :func:`stream_windows` (``Simulator.stream``): every window of the stream
  (:func:`~eventsim.events.windows.iter_windows`) is one independent inference, run exactly as
  :meth:`Simulator.run` runs a file holding only that window's events (same sensor rule, same
  binning relative to the window's first event, same options), so a window's prediction, output
  and SOPs equal those of ``eventsim run`` on the cut file.
- :class:`Stepper` (``Simulator.stepper``): one network state carried across calls; each call runs
  the next stretch of steps from the membranes the previous one left. Because the engine's
  arithmetic per step does not depend on how the steps are grouped, runs over consecutive
  stretches add up to one run over all of them: the readout increments of every stretch
  (``RunResult.readout_steps``), concatenated, are those of the whole run.
- :func:`stream_steps` (``Simulator.stream_steps``): a stream cut into steps of ``bin_us``
  (:func:`~eventsim.events.windows.iter_step_blocks`) and run through one :class:`Stepper`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import NoStepsError
from ..events.windows import StepBlock, StreamStats, Window, iter_step_blocks, iter_windows
from ..inputs import InputOptions, PreparedInput, prepare
from ..inputs.events import BlockBinner, prepare_events
from .plan import to_internal
from .result import RunResult


@dataclass
class WindowResult:
    """One window of a stream and its inference (``result`` None when the run refused the window,
    e.g. ``--bin-us`` longer than the window's events span: ``error`` says why)."""

    window: Window
    result: RunResult | None
    error: str | None = None

    @property
    def t_start(self) -> int:
        return self.window.t_start

    @property
    def t_end(self) -> int:
        return self.window.t_end

    @property
    def events(self) -> int:
        return int(len(self.window.events))


def run_window(sim, window: Window, stated_sensor=None, *, where: str = "stream", record: bool = False,
               **options) -> WindowResult:
    """Run ``window``'s events as :meth:`Simulator.run` runs a file of just those events.

    ``options``: the fields of :class:`~eventsim.inputs.InputOptions`.
    """
    info = {"path": f"{where} window {window.index}"}
    try:
        prepared = prepare_events(window.events, sim.network, InputOptions(**options), stated=stated_sensor,
                                  info=info)
        result = sim.run_prepared(prepared, record=record)
    except NoStepsError as exc:  # a window's own fault; any other error is the whole stream's
        return WindowResult(window, None, str(exc))
    return WindowResult(window, result)


def stream_windows(sim, chunks: Iterable[np.ndarray], window_us: int, hop_us: int | None = None, *,
                   sensor: tuple[int, int] | None = None, keep_partial: bool = False,
                   allow_gaps: bool = False, stats: StreamStats | None = None, where: str = "stream",
                   **options) -> Iterator[WindowResult]:
    """Yield one :class:`WindowResult` per window of the event stream ``chunks`` (file order).

    ``sensor``: the size the stream states (None: the sensor rule applies per window, as for a
    cut file). ``keep_partial`` keeps the last partial window and, as for ``eventsim run``, the
    last partial ``bin_us`` step inside each window. ``stats`` collects events read and late
    events (see :mod:`eventsim.events.windows`).
    """
    for window in iter_windows(chunks, window_us, hop_us, keep_partial=keep_partial,
                               allow_gaps=allow_gaps, stats=stats):
        wr = run_window(sim, window, sensor, where=where, keep_partial=keep_partial, **options)
        if stats is not None and wr.result is not None:
            stats.outside_map += int(wr.result.input_info.get("outside_map_events", 0))
        yield wr


class Stepper:
    """One network state over successive runs (membranes kept between calls).

    >>> stepper = sim.stepper()
    >>> a = stepper.run_binned(first_steps)     # from zero membranes
    >>> b = stepper.run_binned(next_steps)      # continues where ``a`` ended
    >>> stepper.output                          # readout after all steps so far

    The stepper keeps its own copy of the membranes and loads it into the simulator for each call,
    so other runs on the same simulator in between do not disturb it.
    """

    def __init__(self, sim):
        self.sim = sim
        self._v = [np.zeros_like(v) for v in sim.workspace.v]
        self.steps = 0  # steps run so far

    def reset(self) -> None:
        """Back to zero membranes and no steps."""
        for s in self._v:
            s.fill(0)
        self.steps = 0

    def run_prepared(self, prepared: PreparedInput, record: bool = False) -> RunResult:
        """Run the next ``prepared.timesteps`` steps from the current state; returns their result."""
        ws = self.sim.workspace
        for v, s in zip(ws.v, self._v):
            v[...] = s
        result = self.sim.run_prepared(prepared, record=record, keep_state=True)
        for v, s in zip(ws.v, self._v):
            s[...] = v
        self.steps += prepared.timesteps
        return result

    def run_binned(self, binned, record: bool = False, input_info: dict | None = None) -> RunResult:
        """:meth:`run_prepared` on already binned input spikes."""
        return self.run_prepared(prepare(binned, self.sim.network, info=input_info), record)

    @property
    def output(self) -> np.ndarray:
        """The readout's value after the steps run so far (float64, C-H-W order)."""
        plan = self.sim.plan
        pop = plan.output
        v = self._v[plan.index[pop.name]]
        return self.sim.mode.output(v[to_internal(pop.shape)])


def stream_steps(sim, chunks: Iterable[np.ndarray], bin_us: int, *, sensor: tuple[int, int] | None = None,
                 keep_partial: bool = False, polarity: str | None = None,
                 crop: tuple[int, int, int, int] | None = None, downscale: str | None = None,
                 max_steps: int = 64, stats: StreamStats | None = None, where: str = "stream",
                 record: bool = False) -> Iterator[tuple[StepBlock, RunResult]]:
    """One state over the stream: yield each block of complete ``bin_us`` steps and its result.

    The steps are those of ``eventsim run --bin-us B`` on the whole recording (from its first
    event; the last partial one only with ``keep_partial``); the increments of all blocks together
    are that run's with ``-T`` = the number of steps. ``sensor``: the stream's stated size, else
    the model's (the extent of a stream's events is not known until it ends).
    """
    spec = InputOptions(bin_us=bin_us, polarity=polarity, crop=crop, downscale=downscale)
    binner = BlockBinner(sim.network, spec, bin_us, sensor, where)
    stepper = Stepper(sim)
    for block in iter_step_blocks(chunks, bin_us, keep_partial=keep_partial, max_steps=max_steps,
                                  stats=stats):
        prepared = binner(block.events, block.steps, block.origin)
        if stats is not None:
            stats.outside_map += prepared.info["outside_map_events"]
        yield block, stepper.run_prepared(prepared, record=record)
