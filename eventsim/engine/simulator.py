"""The event engine's driver, one for every precision: steps the network on prepared input, counts.

>>> sim = Simulator(network, precision="float32", threads=2)
>>> result = sim.run("rec.aedat4", timesteps=10)                   # a file, as `eventsim run` reads it
>>> result = sim.run(events, sensor=(128, 128), timesteps=10)     # EVENT_DTYPE array
>>> result = sim.run(frame)                                        # (C,H,W) or (T,C,H,W) floats
>>> batch = sim.run_batch(list_of_inputs, timesteps=10)            # many samples; samples/s
>>> for r in sim.iter_batch(files, each=read_and_run): ...          # one at a time, as done
>>> result.output, result.prediction, result.layers

Layer-major stepping: in a feed-forward network a population's step-t current needs only its
sources' spikes of step t (or t − delay). The driver runs one population through all T steps
before the next:
every incoming projection scatters its source's whole spike train, each step into its own
current buffer (``kernels_steps.scatter_*_steps``: steps in parallel, additions of weight rows
only), then the neuron update runs through the T steps (``update_*_steps``: neuron blocks in
parallel) and the population's own spike train is gathered in step and neuron order. Every
current element receives its additions in the same order as when stepping the whole network one
step at a time on one thread, so results (float32 included) do not depend on the number of
threads. The populations of a recurrent group (a cycle through a delayed projection, see
``Network.recurrent_groups``) cannot wait for each other's whole train: ``recurrent.py`` steps
such a group time by time (inputs from outside the group still arrive layer-major), with the
same kernels and so the same arithmetic as the reference's time-major loop.

Input reaches the driver prepared by :mod:`eventsim.inputs` (binned events, spike counts or
frames; ``run`` calls that adapter for convenience); ``run_prepared`` only simulates.
What differs between precisions (weights, neuron update, encoder arithmetic, output scale) is in
``modes.py``; the buffers are in ``workspace.py``. Frame input reaches the network through the
dense encoder (the projections out of the input population); its multiply-accumulates are counted
as MACs in the conventional way (``network.counts.dense_macs`` per step), never as SOPs.
``multiplications`` counts what the engine multiplies after the encoder (see ``modes.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputFormatError, NoStepsError
from ..events.binning import BinnedEvents
from ..inputs import InputOptions, PreparedInput, prepare
from ..inputs.arrays import prepare_counts, prepare_frames, prepare_spike_rows
from ..jit import resolve_threads, using_threads
from ..network.counts import dense_macs
from ..network.ir import Network
from . import kernels_steps
from .modes import FloatMode, IntMode, decay_multiplications
from .plan import (
    POP_INPUT,
    POP_READOUT,
    PRECISIONS,
    PROJ_CONV,
    PROJ_DENSE,
    PROJ_IDENTITY,
    chw_shape,
    from_internal,
    to_internal,
)
from .recurrent import run_group
from .result import RunResult
from .streaming import Stepper, stream_steps, stream_windows
from .workspace import Workspace


@dataclass
class BatchResult:
    """The results of :meth:`Simulator.run_batch`, in input order, and the throughput."""

    results: list[RunResult]  # in input order (with ``each``: what it returned)
    seconds: float  # wall-clock time of the whole batch
    threads: int  # threads the engine used

    @property
    def samples_per_second(self) -> float:
        return len(self.results) / self.seconds if self.seconds > 0 else float("inf")


def _count_train(pos: np.ndarray, neg: np.ndarray, perm: np.ndarray):
    """Dense (T, *shape) counts as the engine's input train: per step the nonzero + then −
    entries (internal neuron order), a count of n as one entry of value n (n additions)."""
    steps = pos.shape[0]
    ptr = np.zeros(steps + 1, np.int64)
    idx_parts, val_parts = [], []
    for t in range(steps):
        ip = np.flatnonzero(pos[t].ravel())
        ineg = np.flatnonzero(neg[t].ravel())
        idx_parts += [perm[ip], perm[ineg]]
        val_parts += [pos[t].ravel()[ip].astype(np.int64), -neg[t].ravel()[ineg].astype(np.int64)]
        ptr[t + 1] = ptr[t] + ip.size + ineg.size
    idx = np.concatenate(idx_parts).astype(np.int64) if idx_parts else np.zeros(0, np.int64)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, np.int64)
    return ptr, idx, val


class Simulator:
    """Runs one network on event streams or frames; reusable across inputs.

    ``threads``: threads of the parallel kernels (default: all that Numba may use, i.e. the
    cores or ``NUMBA_NUM_THREADS``). Results are identical whatever the number.
    """

    def __init__(self, network: Network, precision: str = "float32", threads: int | None = None):
        if precision not in (*PRECISIONS, "int"):
            raise ConfigError(f"unknown precision {precision!r} (known: {', '.join((*PRECISIONS, 'int'))})")
        self.network = network
        self.precision = precision
        try:
            self.threads = resolve_threads(threads)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.mode = IntMode(network) if precision == "int" else FloatMode(network, precision)
        self.plan = self.mode.plan
        self.workspace = Workspace(self.plan, self.mode.v_dtype)
        # recurrent groups by their first member (in order), as population indices
        self._groups = {g[0]: g for g in ([self.plan.index[n] for n in names]
                                          for names in network.recurrent_groups())}
        self._grouped = {pi for g in self._groups.values() for pi in g}
        self._output = self.plan.index[self.plan.output.name]
        # neuron blocks of the parallel update, per population (they depend only on its size)
        self._blocks = [kernels_steps.neuron_blocks(p.size, self.threads) for p in self.plan.populations]

    @property
    def int_plan(self):
        """The integer plan (``precision="int"`` only)."""
        if not isinstance(self.mode, IntMode):
            raise ConfigError(f"precision {self.precision!r} has no integer plan (only 'int' does)")
        return self.mode.int_plan

    # -- public entry point ------------------------------------------------------------------
    def run(self, data, timesteps: int | None = None, bin_us: int | None = None, *,
            sensor: tuple[int, int] | None = None, method: str | None = None,
            keep_partial: bool = False, polarity: str | None = None,
            crop: tuple[int, int, int, int] | None = None, downscale: str | None = None,
            record: bool = False, input_info: dict | None = None, progress=None) -> RunResult:
        """Run on ``data`` and return a :class:`RunResult`.

        ``data`` is anything :func:`eventsim.inputs.prepare` takes: a file path (read as ``eventsim
        run`` reads it), an EVENT_DTYPE array or the ``(events, sensor)`` pair that
        :func:`~eventsim.events.io.read_events` returns (binned with ``timesteps``/``bin_us``/
        ``method``/``keep_partial``, polarity ``polarity`` or the model's, spatially mapped with
        ``crop`` and ``downscale``; ``sensor`` (W, H) overrides the stated size), a
        :class:`~eventsim.events.binning.BinnedEvents`, a float array of frames
        ``(C,H,W)`` (repeated over ``timesteps``, default the model's) or ``(T,C,H,W)``, or a
        :class:`~eventsim.inputs.PreparedInput`. ``record`` keeps every population's spikes per
        step in ``result.spikes`` (C-H-W order). ``progress``, if given, is called with the number
        of steps done after every step (for progress bars).
        """
        spec = InputOptions(timesteps, bin_us, method, keep_partial, polarity, crop, downscale)
        prepared = prepare(data, self.network, spec, sensor=sensor, info=input_info)
        return self.run_prepared(prepared, record=record, progress=progress)

    def run_prepared(self, prepared: PreparedInput, record: bool = False, progress=None,
                     keep_state: bool = False) -> RunResult:
        """Run on input made ready by :mod:`eventsim.inputs` (simulation only).

        ``keep_state``: start from the membranes the previous run left instead of zero, so that
        runs on consecutive stretches of steps add up to one run over all of them (what
        :class:`~eventsim.engine.streaming.Stepper` builds on).
        """
        self._need(prepared.kind)
        info, steps = prepared.info, prepared.timesteps
        if prepared.frames is not None:
            return self._run(steps, None, None, None, prepared.frames, record, info, progress, keep_state)
        perm = to_internal(self.network.input_shape)
        if prepared.binned is not None:
            b = prepared.binned
            return self._run(steps, b.ptr, perm[b.index], b.sign.astype(np.int64), None, record, info,
                             progress, keep_state)
        pos, neg = prepared.event_counts()
        ptr, idx, val = _count_train(pos, neg, perm)
        return self._run(steps, ptr, idx, val, None, record, info, progress, keep_state)

    def run_binned(self, binned: BinnedEvents, record: bool = False,
                   input_info: dict | None = None, progress=None, keep_state: bool = False) -> RunResult:
        """Run on already binned input spikes (see :meth:`run_prepared` for ``keep_state``)."""
        return self.run_prepared(prepare(binned, self.network, info=input_info), record, progress, keep_state)

    def run_spike_rows(self, rows: np.ndarray, timesteps: int | None = None, record: bool = False,
                       input_info: dict | None = None) -> RunResult:
        """Run an event-input model on one row of spike counts per step, ``(T, *input_shape)``
        (``(T, N)`` for an input of shape ``(1, 1, N)``): integers, negative values only for
        ``signed`` polarity (−n is n spikes of −1)."""
        return self.run_prepared(prepare_spike_rows(rows, self.network, timesteps, info=input_info), record)

    def run_counts(self, pos: np.ndarray, neg: np.ndarray | None = None, record: bool = False,
                   input_info: dict | None = None) -> RunResult:
        """Run on dense per-step spike counts ``(T, *input_shape)`` (as ``reference.forward`` takes).

        A count of n at a pixel is n unit spikes (n additions per synapse, n SOPs).
        """
        return self.run_prepared(prepare_counts(pos, neg, self.network, info=input_info), record)

    def run_frames(self, frames: np.ndarray, timesteps: int | None = None, record: bool = False,
                   input_info: dict | None = None, progress=None) -> RunResult:
        """Run on analog frames ``(C,H,W)`` (repeated ``timesteps`` times) or ``(T,C,H,W)``."""
        return self.run_prepared(prepare_frames(frames, self.network, timesteps, info=input_info), record,
                                 progress)

    def run_batch(self, inputs, timesteps: int | None = None, *, each=None, **options) -> BatchResult:
        """Run every input of ``inputs`` (each as :meth:`run` takes it, with the same ``options``)
        and report the throughput. The samples run one after the other, each on all the
        simulator's threads; the workspace is reused, so nothing is allocated per sample once
        the largest sample has run. ``each``: see :meth:`iter_batch`."""
        t0 = time.perf_counter()
        results = list(self.iter_batch(inputs, timesteps, each=each, **options))
        return BatchResult(results, time.perf_counter() - t0, self.threads)

    def iter_batch(self, inputs, timesteps: int | None = None, *, each=None, **options):
        """Yield the result of every input of ``inputs`` (any iterable) in order, each as soon as
        it is done, so that a caller can keep it (write it out) before the next one runs.

        ``each(simulator, item)``, when given, replaces ``run(item, timesteps, **options)``: it
        turns an item that is not yet an input (a file, a dataset sample) into a result of its own
        making, and decides what an error does; ``eventsim eval`` passes one that records the
        error of a bad file in that sample's result, so that one bad file never ends the batch.
        """
        for item in inputs:
            yield self.run(item, timesteps, **options) if each is None else each(self, item)

    def stream(self, chunks, window_us: int, hop_us: int | None = None, **options):
        """Yield a :class:`~eventsim.engine.streaming.WindowResult` per window ``[t0 + k·hop_us,
        t0 + k·hop_us + window_us)`` of the event chunks ``chunks`` (e.g. ``stream_events(path)``),
        each run as :meth:`run` runs a file of just its events; memory is bounded by the window.
        ``options``: those of :func:`~eventsim.engine.streaming.stream_windows` and :meth:`run`."""
        return stream_windows(self, chunks, window_us, hop_us, **options)

    def stepper(self) -> Stepper:
        """A :class:`~eventsim.engine.streaming.Stepper`: one network state across calls."""
        return Stepper(self)

    def stream_steps(self, chunks, bin_us: int, **options):
        """One network state over the stream: yield ``(StepBlock, RunResult)`` per block of steps
        of ``bin_us`` (see :func:`~eventsim.engine.streaming.stream_steps`)."""
        return stream_steps(self, chunks, bin_us, **options)

    def membranes(self) -> dict[str, np.ndarray]:
        """Final membranes of the last run (C-H-W order; int32 values in the int mode)."""
        out = {}
        for pi, p in enumerate(self.plan.populations):
            if p.kind != POP_INPUT:
                m = np.empty(p.size, self.workspace.v[pi].dtype)
                m[from_internal(p.shape)] = self.workspace.v[pi]
                out[p.name] = m.reshape(p.shape)
        return out

    # -- internals ---------------------------------------------------------------------------
    def _need(self, kind: str) -> None:
        if self.network.input.kind != kind:
            raise InputFormatError(f"model {self.network.name!r} takes {self.network.input.kind} "
                                   f"input, got {kind}")

    def _run(self, steps: int, ev_ptr, ev_idx, ev_val, frames, record: bool,
             input_info: dict | None, progress=None, keep_state: bool = False) -> RunResult:
        if keep_state and self.network.recurrent:
            # the spikes a delayed projection still owes at the end of one stretch are not carried
            # into the next, so stretches would not add up to one run
            raise ConfigError(f"model {self.network.name!r} has delayed (recurrent) projections: "
                              "continuous/streamed runs that keep state between stretches do not "
                              "support them yet; run the whole input at once")
        if steps < 1:
            raise NoStepsError(f"{(input_info or {}).get('path', 'input')}: the binning gives 0 "
                                   "time steps (recording shorter than one window?); give --timesteps "
                                   "or --keep-partial")
        plan, mode, ws = self.plan, self.mode, self.workspace
        pops, projs = plan.populations, plan.projections
        trains: list = [None] * len(pops)  # per population: (ptr, idx, val) of all its steps
        sops = np.zeros((len(projs), steps, 2), np.int64)
        macs = np.zeros((len(projs), steps), np.int64)
        counts = np.zeros((len(pops), steps, mode.counts_width), np.int64)
        rec = {p.name: np.zeros((steps,) + tuple(p.shape), np.int64) for p in pops
               if p.kind != POP_READOUT} if record else None
        # what each spiking population received per step: lets per-neuron analyses (NeuroBench's
        # membrane updates) replay the membranes without recomputing every projection densely
        currents: dict | None = {} if record and self.precision != "int" else None
        mults = mode.mults_per_step * steps
        ws.prepare(steps)
        mode.set_frames(frames)
        with using_threads(self.threads):
            for pi, pop in enumerate(pops):
                if pi in self._grouped:
                    if pi in self._groups:
                        mults += run_group(self, self._groups[pi], trains, steps, sops, macs, counts,
                                           frames, currents)
                elif pop.kind == POP_INPUT:
                    if frames is None:
                        trains[pi] = (np.asarray(ev_ptr, np.int64), ev_idx, ev_val)
                        self._count_input(trains[pi], counts[pi])
                else:
                    cur = ws.current(mode.current_dtype(pi, trains), steps)
                    encoded: dict[int, np.ndarray] = {}
                    for qi in pop.incoming:
                        self._project(qi, trains, cur, sops[qi], macs[qi], frames, encoded)
                    if currents is not None and pop.kind != POP_READOUT:
                        currents[pop.name] = self._chw_rows(cur, steps, pop)
                    if pi == self._output:
                        increments = self._increments(pi, cur, steps)
                    trains[pi], m = self._update(pi, cur, steps, counts[pi], keep_state)
                    mults += m
                ready = [pi] if pi not in self._grouped else self._groups.get(pi, [])
                for ri in ready:
                    if rec is not None and pops[ri].kind != POP_READOUT and trains[ri] is not None:
                        self._record(rec[pops[ri].name], pops[ri].shape, trains[ri])
                if progress is not None:
                    progress(steps * (pi + 1) // len(pops))
        ws.finish()
        result = RunResult(
            network=self.network, timesteps=steps,
            output=mode.output(ws.v[self._output][to_internal(plan.output.shape)]),
            spike_counts={p.name: counts[i, :, :2] for i, p in enumerate(pops)},
            sops={q.name: sops[k] for k, q in enumerate(projs)},
            macs={q.name: macs[k] for k, q in enumerate(projs)},
            precision=self.precision, multiplications=int(mults), input_info=dict(input_info or {}),
            readout_steps=increments, **mode.extras(counts))
        if rec is not None:
            result.spikes = rec
            result.currents = currents
        return result

    @staticmethod
    def _chw_rows(cur: np.ndarray, steps: int, pop) -> np.ndarray:
        """The first ``steps`` rows of a population's internal-order currents, as (T, *shape) float64."""
        rows = np.asarray(cur[:steps, :pop.size], np.float64)
        return rows[:, to_internal(pop.shape)].reshape((steps,) + tuple(pop.shape))

    def _project(self, qi: int, trains, cur, sops, macs, frames, encoded) -> None:
        """Add projection ``qi`` of every step into ``cur`` (T rows), counting SOPs (or MACs).

        A delay d shifts the source's train: its step t lands in row t + d (rows < d get nothing).
        """
        q, net, mode = self.plan.projections[qi], self.network, self.mode
        tgt = self.plan.populations[q.target]
        d = q.delay
        if d >= len(cur):
            return
        if q.encoder:  # dense analog encoder: MACs, computed once per distinct frame
            proj = net.projections[qi]
            for t in range(d, len(cur)):
                k = t - d if frames.shape[0] > 1 else 0
                if k not in encoded:
                    encoded[k] = mode.encode(qi, k)
                cur[t, :tgt.size] += encoded[k]
            macs[d:] = dense_macs(proj, net.population(proj.source).shape, tgt.shape)
            return
        ptr, idx, val = trains[q.source]
        self.scatter(qi, (ptr[:len(cur) - d + 1], idx, val), cur[d:], sops[d:])

    def scatter(self, qi: int, train, cur, sops) -> None:
        """Scatter the steps of ``train`` (a source train, or a slice of one) into the rows of ``cur``."""
        q, mode = self.plan.projections[qi], self.mode
        tgt = self.plan.populations[q.target]
        if q.pool_geom is not None:
            train = self.workspace.pooled(qi, q, train)
        kind, wt = mode.kinds[qi], mode.weights[qi]
        if kind == PROJ_CONV:
            kernels_steps.scatter_conv_steps(*train, q.geom, wt, cur, sops)
        elif kind == PROJ_DENSE:
            kernels_steps.scatter_dense_steps(*train, tgt.size, wt, cur, sops)
        elif kind == PROJ_IDENTITY:
            channels = chw_shape(self.plan.populations[q.source].shape)[0]
            kernels_steps.scatter_identity_steps(*train, tgt.size, channels, wt, cur, sops)
        else:
            kernels_steps.scatter_sumpool_steps(*train, q.geom, cur, sops)

    def _increments(self, pi: int, cur, steps: int) -> np.ndarray:
        """What the readout ``pi`` adds in each step, ``(T, N)`` float64 in C-H-W order: the
        kernel's ``c = cur + bias`` in the run's arithmetic (so that adding the rows up in order,
        in that arithmetic, gives the readout's value after every step), before the update
        clears ``cur``."""
        pop = self.plan.populations[pi]
        rows = np.array(cur[:steps, :pop.size])
        if pop.has_bias:
            rows = rows + self.mode.bias[pi][:pop.size]
        return self.mode.output(rows[:, to_internal(pop.shape)])

    def _update(self, pi: int, cur, steps: int, counts, keep_state: bool = False):
        """Neuron update of population ``pi`` through all steps; returns (its train, multiplications)."""
        ws = self.workspace
        pop = self.plan.populations[pi]
        bounds = self._blocks[pi]
        nout = np.zeros((bounds.size - 1, steps), np.int64)
        block_counts = np.zeros((bounds.size - 1, steps, counts.shape[1]), np.int64)
        if not keep_state:
            ws.reset_state(pi)
        mults = self.mode.update(pi, ws.v[pi], cur, steps, bounds, ws.sidx, ws.sval, nout, block_counts,
                                 ws.aux[pi])
        counts += block_counts.sum(axis=0)
        if pop.kind == POP_READOUT:
            return None, mults
        ptr = np.empty(steps + 1, np.int64)
        total = kernels_steps.train_offsets(nout, steps, ptr)
        idx, val = ws.store(pi, total)
        kernels_steps.gather_spikes(bounds, nout, ws.sidx, ws.sval, ptr, idx, val)
        return (ptr, idx, val), mults

    @staticmethod
    def _count_input(train, counts) -> None:
        """+ and − units of every step of the input train."""
        ptr, _, val = train
        for t in range(ptr.size - 1):
            vals = val[ptr[t]:ptr[t + 1]]
            counts[t, 0] = vals[vals > 0].sum()
            counts[t, 1] = -vals[vals < 0].sum()

    @staticmethod
    def _record(dst: np.ndarray, shape, train) -> None:
        """Add every step's spike list (internal indices) into ``dst`` (T, C, H, W)."""
        ptr, idx, val = train
        perm = from_internal(shape)
        for t in range(ptr.size - 1):
            a, b = ptr[t], ptr[t + 1]
            np.add.at(dst[t].reshape(-1), perm[idx[a:b]], val[a:b])


__all__ = ["BatchResult", "Simulator", "decay_multiplications"]
