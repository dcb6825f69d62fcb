"""The event engine's driver: bins the input, steps the network, collects exact counts.

>>> sim = Simulator(network, precision="float32")
>>> result = sim.run(events, sensor=(128, 128), timesteps=10)     # EVENT_DTYPE array
>>> result = sim.run(frame)                                        # (C,H,W) or (T,C,H,W) floats
>>> result.output, result.prediction, result.layers()

Each step runs the populations in network order. A population's input current is the sum of
its incoming projections, each scattering its source's spike list of the same step
(``kernels.scatter_*``: additions of weight rows only), plus the bias; then
``kernels.update_neurons`` integrates, fires and resets and writes the population's own spike
list. Because networks are feed-forward, the driver runs one population through all T steps
before the next (layer-major; each population's spike lists of all steps are kept), which keeps
a projection's weights in cache across steps and gives exactly the same arithmetic as stepping
the whole network one step at a time. Large convolutions get their spike lists reordered for
cache blocking first (``kernels.order_for_conv``).

Frame input reaches the network through the dense encoder (the projections out of the input
population), computed densely in NumPy; its multiply-accumulates are counted as MACs in
the conventional way (``network.counts.dense_macs`` per step), never as SOPs.

``multiplications`` counts what the engine multiplies after the encoder: ``λ·v`` for every
neuron of a population whose decay is not 1, 0 or a power of two (those are shifts on a
fixed-point machine), per step; and for multi-spike neurons one division ``floor(v/θ)`` per
emitted spike plus one product ``s·θ`` per subtract-reset with ``s > 1``. Weight application
is always by addition (a spike of value n is n additions), so it contributes none.

``precision="int"`` runs the fixed-point twin in ``simulator_int.py`` (parameters from
``quantize.py``, bit-exact with ``reference_int.py``).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputFormatError
from ..events.binning import BinnedEvents, bin_events, check_fit
from ..events.dtype import EVENT_DTYPE
from ..network.counts import dense_macs
from ..network.ir import Network
from ..network.linear import apply_projection
from . import kernels
from .plan import (
    CACHE_BYTES,
    G_CIN,
    G_H,
    G_W,
    POP_INPUT,
    POP_READOUT,
    POP_TERNARY,
    PROJ_CONV,
    PROJ_DENSE,
    PROJ_IDENTITY,
    Plan,
    aligned_zeros,
    chw_shape,
    compile_plan,
    from_internal,
    to_internal,
)
from .prepool import PooledSpikes
from .quantize import quantize
from .result import RunResult
from .simulator_int import IntPlan, compile_int_plan, run_int


def _is_shift(decay: float) -> bool:
    """True when ``λ·v`` needs no multiplication: λ is 0, 1 or a power of two (a shift)."""
    return decay in (0.0, 1.0) or math.frexp(decay)[0] == 0.5


def decay_multiplications(network: Network) -> int:
    """Per-step multiplications of the neuron decays of ``network`` (see module docstring)."""
    return sum(p.size for p in network.populations if p.spiking and not _is_shift(p.decay))


class Simulator:
    """Runs one network on event streams or frames; reusable across inputs."""

    def __init__(self, network: Network, precision: str = "float32", cache_bytes: int = CACHE_BYTES):
        self.network = network
        self.precision = precision
        if precision == "int":  # fixed point: quantised parameters, integer kernels (simulator_int)
            self.int_plan: IntPlan = compile_int_plan(quantize(network))
            self.plan: Plan = self.int_plan.plan
        else:
            self.plan = compile_plan(network, precision, cache_bytes)

    # -- public entry point ------------------------------------------------------------------
    def run(self, data, timesteps: int | None = None, bin_us: int | None = None, *,
            sensor: tuple[int, int] | None = None, method: str | None = None,
            keep_partial: bool = False, polarity: str | None = None,
            crop: tuple[int, int, int, int] | None = None, downscale: str | None = None,
            record: bool = False, input_info: dict | None = None, progress=None) -> RunResult:
        """Run on ``data`` and return a :class:`RunResult`.

        ``data`` is an EVENT_DTYPE array (binned with ``timesteps``/``bin_us``/``method``/
        ``keep_partial``, polarity ``polarity`` or the model's, spatially mapped with ``crop``
        and ``downscale``; ``sensor`` (W, H) defaults to the model's sensor or input size), a
        :class:`~eventsim.events.binning.BinnedEvents`, or a float array of frames ``(C,H,W)``
        (repeated over ``timesteps``, default the model's) or ``(T,C,H,W)``. ``record`` keeps
        every population's spikes per step in ``result.spikes`` (C-H-W order). ``progress``,
        if given, is called with the number of steps done after every step (for progress bars).
        """
        info = dict(input_info or {})
        net = self.network
        if isinstance(data, BinnedEvents):
            return self.run_binned(data, record=record, input_info=info, progress=progress)
        data = np.asarray(data)
        if data.dtype == EVENT_DTYPE:
            self._need("events")
            if sensor is None:
                sensor = net.input.sensor or (net.input_shape[2], net.input_shape[1])
            polarity = polarity or net.input.polarity
            check_fit(sensor, net.input_shape, polarity, crop, downscale, where=info.get("path", "input"))
            if timesteps is None and bin_us is None:
                timesteps = net.timesteps
            binned = bin_events(data, sensor, net.input_shape, polarity, timesteps, bin_us, method,
                                keep_partial, crop, downscale)
            info.setdefault("events", int(data.size))
            info.setdefault("sensor", [int(sensor[0]), int(sensor[1])])
            info["binning"] = {"method": method or ("window" if bin_us is not None else "time"),
                               "timesteps": binned.timesteps, "bin_us": bin_us,
                               "keep_partial": bool(keep_partial), "polarity": polarity,
                               "crop": None if crop is None else list(crop), "downscale": downscale}
            info["dropped_events"] = binned.dropped
            return self.run_binned(binned, record=record, input_info=info, progress=progress)
        if data.dtype.kind not in "fiu":
            raise InputFormatError(f"{info.get('path', 'input')}: expected events or a numeric "
                                   f"frame array, got dtype {data.dtype}")
        return self.run_frames(data, timesteps=timesteps, record=record, input_info=info,
                               progress=progress)

    def run_binned(self, binned: BinnedEvents, record: bool = False,
                   input_info: dict | None = None, progress=None) -> RunResult:
        """Run on already binned input spikes."""
        self._need("events")
        if tuple(binned.shape) != tuple(self.network.input_shape):
            raise InputFormatError(f"binned input has shape {tuple(binned.shape)}, the model input "
                                   f"is {tuple(self.network.input_shape)}")
        perm = to_internal(self.network.input_shape)
        return self._run(binned.timesteps, binned.ptr, perm[binned.index],
                         binned.sign.astype(np.int64), None, record, input_info, progress)

    def run_counts(self, pos: np.ndarray, neg: np.ndarray | None = None, record: bool = False,
                   input_info: dict | None = None) -> RunResult:
        """Run on dense per-step spike counts ``(T, C, H, W)`` (as ``reference.forward`` takes).

        A count of n at a pixel is n unit spikes (n additions per synapse, n SOPs).
        """
        self._need("events")
        pos = np.asarray(pos)
        shape = tuple(self.network.input_shape)
        if pos.ndim != 4 or pos.shape[1:] != shape:
            raise InputFormatError(f"counts have shape {pos.shape}, expected (T, "
                                   f"{', '.join(map(str, shape))})")
        neg = np.zeros_like(pos) if neg is None else np.asarray(neg)
        steps = pos.shape[0]
        perm = to_internal(shape)
        ptr = np.zeros(steps + 1, np.int64)
        idx_parts, val_parts = [], []
        for t in range(steps):
            ip = np.flatnonzero(pos[t].ravel())
            ineg = np.flatnonzero(neg[t].ravel())
            idx_parts += [perm[ip], perm[ineg]]
            val_parts += [pos[t].ravel()[ip].astype(np.int64), -neg[t].ravel()[ineg].astype(np.int64)]
            ptr[t + 1] = ptr[t] + ip.size + ineg.size
        idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
        val = np.concatenate(val_parts) if val_parts else np.zeros(0, np.int64)
        return self._run(steps, ptr, idx.astype(np.int64), val, None, record, input_info)

    def run_frames(self, frames: np.ndarray, timesteps: int | None = None, record: bool = False,
                   input_info: dict | None = None, progress=None) -> RunResult:
        """Run on analog frames ``(C,H,W)`` (repeated ``timesteps`` times) or ``(T,C,H,W)``."""
        self._need("frames")
        shape = tuple(self.network.input_shape)
        frames = np.asarray(frames, dtype=np.float64)
        where = (input_info or {}).get("path", "input")
        if frames.shape == shape:
            steps = int(timesteps or self.network.timesteps)
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
        info = dict(input_info or {})
        info.setdefault("frames", int(frames.shape[0]))
        return self._run(steps, None, None, None, frames, record, info, progress)

    # -- internals ---------------------------------------------------------------------------
    def _need(self, kind: str) -> None:
        if self.network.input.kind != kind:
            raise InputFormatError(f"model {self.network.name!r} takes {self.network.input.kind} "
                                   f"input, got {kind}")

    def _encoder_current(self, frame: np.ndarray, qi: int, dtype) -> np.ndarray:
        """Dense encoder current of projection ``qi`` for one frame, internal order."""
        proj = self.network.projections[qi]
        tshape = self.network.population(proj.target).shape
        enc = apply_projection(proj, frame, tshape).ravel()
        return enc[from_internal(tshape)].astype(dtype)

    def _run(self, steps: int, ev_ptr, ev_idx, ev_val, frames, record: bool,
             input_info: dict | None, progress=None) -> RunResult:
        if steps < 1:
            raise InputFormatError(f"{(input_info or {}).get('path', 'input')}: the binning gives 0 "
                                   "time steps (recording shorter than one window?); give --timesteps "
                                   "or --keep-partial")
        if self.precision == "int":
            return run_int(self.int_plan, steps, ev_ptr, ev_idx, ev_val, frames, record, input_info,
                           progress)[0]
        plan, net = self.plan, self.network
        dtype = plan.dtype
        pops, projs = plan.populations, plan.projections
        v_all, cur_all = self._state()
        sptr: list = [None] * len(pops)  # per population: (T+1,) offsets into its spike store
        sidx: list = [None] * len(pops)  # spike store: internal indices of all steps, step-major
        sval: list = [None] * len(pops)  # spike store: signed values
        sops = np.zeros((len(projs), steps, 2), np.int64)
        macs = np.zeros((len(projs), steps), np.int64)
        counts = np.zeros((len(pops), steps, 2), np.int64)
        weights = [q.weight.ravel() for q in projs]
        blocked = {k for k, q in enumerate(projs) if q.band_rows}
        pooled = self.__dict__.setdefault("_pooled", PooledSpikes())
        mults = decay_multiplications(net) * steps
        rec = {p.name: np.zeros((steps,) + tuple(p.shape), np.int64) for p in pops
               if p.kind != POP_READOUT} if record else None
        output = None
        enc_cache: dict[tuple[int, int], np.ndarray] = {}
        # Layer-major order: the network is feed-forward, so a population's step-t current needs
        # only its sources' step-t spikes. Running one population through all T steps before the
        # next keeps its projections' weights in cache across steps; the arithmetic (and so every
        # result and count) is the same as stepping the whole network one step at a time.
        for pi, pop in enumerate(pops):
            if pop.kind == POP_INPUT:
                if frames is None:
                    sptr[pi], sidx[pi], sval[pi] = ev_ptr, ev_idx, ev_val
                    for t in range(steps):
                        vals = ev_val[ev_ptr[t]:ev_ptr[t + 1]]
                        counts[pi, t] = vals[vals > 0].sum(), -vals[vals < 0].sum()
                        if rec is not None:
                            self._record(rec[pop.name][t], pop.shape, ev_idx[ev_ptr[t]:], vals, vals.size)
                continue
            v, cur = v_all[:pop.size], cur_all[:pop.size]
            v.fill(0)
            params = np.array([pop.threshold, pop.decay, pop.v_min, 0.0, 0.0], dtype)
            flags = np.array([pop.decay == 1.0, pop.reset_subtract, pop.has_v_min, pop.multi_spike],
                             np.int64)
            ptr = np.zeros(steps + 1, np.int64)
            store_idx, store_val = self._spike_store(pi, 0, pop.size)
            for t in range(steps):
                for qi in pop.incoming:
                    q = projs[qi]
                    if q.encoder:
                        key = (qi, t if frames.shape[0] > 1 else 0)  # a static frame is encoded once
                        if key not in enc_cache:
                            enc_cache[key] = self._encoder_current(frames[key[1]], qi, dtype)
                        cur += enc_cache[key]
                        src_shape = net.population(net.projections[qi].source).shape
                        macs[qi, t] = dense_macs(net.projections[qi], src_shape, pop.shape)
                        continue
                    s = q.source
                    a, b = sptr[s][t], sptr[s][t + 1]
                    args = (sidx[s][a:b], sval[s][a:b], b - a)
                    if q.pool_geom is not None:
                        args = pooled.map(qi, q, *args)
                    if q.kind == PROJ_CONV:
                        if qi in blocked:
                            cnt, keys, bidx, bval = self._blocking_scratch(qi, args[2])
                            kernels.order_for_conv(*args, q.geom[G_CIN], q.geom[G_W], q.band_rows, cnt,
                                                   keys, bidx, bval)
                            args = (bidx, bval, args[2])
                        kernels.scatter_conv(*args, q.geom, weights[qi], cur, sops[qi, t])
                    elif q.kind == PROJ_DENSE:
                        kernels.scatter_dense(*args, pop.size, weights[qi], cur, sops[qi, t])
                    elif q.kind == PROJ_IDENTITY:
                        channels = chw_shape(pops[s].shape)[0]
                        kernels.scatter_identity(*args, channels, weights[qi], cur, sops[qi, t])
                    else:
                        kernels.scatter_sumpool(*args, q.geom, cur, sops[qi, t])
                if pop.kind != POP_READOUT and store_idx.size < ptr[t] + pop.size:
                    store_idx, store_val = self._spike_store(pi, ptr[t], ptr[t] + pop.size)
                out_idx, out_val = store_idx[ptr[t]:], store_val[ptr[t]:]
                if pop.kind == POP_TERNARY and not pop.has_v_min:
                    n, m = kernels.update_ternary(v, cur, pop.bias, pop.has_bias, params,
                                                  pop.reset_subtract, out_idx, out_val, counts[pi, t])
                else:
                    n, m = kernels.update_neurons(v, cur, pop.bias, pop.has_bias, pop.kind, params, flags,
                                                  out_idx, out_val, counts[pi, t])
                ptr[t + 1] = ptr[t] + n
                mults += m
                if rec is not None and pop.kind != POP_READOUT:
                    self._record(rec[pop.name][t], pop.shape, out_idx, out_val, n)
            sptr[pi], sidx[pi], sval[pi] = ptr, store_idx, store_val
            if pi == plan.index[plan.output.name]:
                output = np.empty(pop.size, np.float64)
                output[from_internal(pop.shape)] = v
            if progress is not None:
                progress(steps * (pi + 1) // len(pops))
        result = RunResult(
            network=net, timesteps=steps, output=output,
            spike_counts={p.name: counts[i] for i, p in enumerate(pops)},
            sops={q.name: sops[k] for k, q in enumerate(projs)},
            macs={q.name: macs[k] for k, q in enumerate(projs)},
            precision=self.precision, multiplications=int(mults), input_info=dict(input_info or {}))
        if rec is not None:
            result.spikes = rec
        return result

    def _state(self):
        """One membrane and one current buffer as large as the largest population, reused.

        Layer-major stepping needs the state of one population at a time. ``cur`` is kept zero
        by the update kernels; it is cleared here too in case a previous run was interrupted.
        """
        if getattr(self, "_buffers", None) is None:
            size = max(p.size for p in self.plan.populations)
            # aligned: the scatter kernels' vector loads and stores then never split a cache line
            self._buffers = (aligned_zeros(size, self.plan.dtype), aligned_zeros(size, self.plan.dtype))
        self._buffers[1].fill(0)
        return self._buffers

    def _spike_store(self, pi: int, used: int, need: int):
        """Spike store of population ``pi`` with room for ``need`` entries (first ``used`` kept).

        Grown by doubling and kept across runs; starts at two steps' worth of every neuron firing.
        """
        stores = self.__dict__.setdefault("_stores", {})
        size = self.plan.populations[pi].size
        idx, val = stores.get(pi, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        if idx.size < need:
            cap = max(need, 2 * idx.size, 2 * size)
            new_idx, new_val = np.empty(cap, np.int64), np.empty(cap, np.int64)
            new_idx[:used], new_val[:used] = idx[:used], val[:used]
            idx, val = new_idx, new_val
            stores[pi] = (idx, val)
        return idx, val

    def _blocking_scratch(self, qi: int, n: int):
        """(counts, keys, idx, val) scratch of ``order_for_conv`` for ``n`` spikes of conv ``qi``.

        Sized by the spike list, not by the source population: one step of input can carry more
        events than the input has neurons (repeated events at a pixel). Grown by doubling, reused.
        """
        scratch = self.__dict__.setdefault("_blocked", {})
        q = self.plan.projections[qi]
        if qi not in scratch or scratch[qi][1].size < n:
            g = q.geom
            bands = -(-int(g[G_H]) // q.band_rows)
            size = max(n, 2 * (scratch[qi][1].size if qi in scratch else 0),
                       self.plan.populations[q.source].size)
            scratch[qi] = (np.zeros(bands * int(g[G_CIN]) + 1, np.int64),
                           *(np.zeros(size, np.int64) for _ in range(3)))
        return scratch[qi]

    @staticmethod
    def _record(dst: np.ndarray, shape, idx, val, n) -> None:
        """Add a spike list (internal indices) into a C-H-W array of one step."""
        flat = dst.reshape(-1)
        np.add.at(flat, from_internal(shape)[idx[:n]], val[:n])


__all__ = ["Simulator", "decay_multiplications"]
