"""What differs between the engine's precisions: weights, neuron parameters, update kernels.

The driver (``simulator.py``) is the same for every precision: it steps the network layer by
layer, dispatches the projections to the scatter kernels and records counts. A mode supplies
only the arithmetic:

- :class:`FloatMode` (``float32``/``float64``): the plan's weights in that precision, the float
  neuron update (``kernels.update_ternary`` / ``update_neurons``), the dense float encoder.
- :class:`IntMode` (``int``): fixed point from :func:`~eventsim.engine.quantize.quantize`, bit-exact
  with ``reference_int.py``: int16 weights (a sum-pool runs as a depthwise conv whose weight is the
  target's unit ``2**k``), int32 membranes, the integer update of ``kernels_int.py`` with shift
  decays and saturation counts, a non-power-of-two decay by ``kernels_int.decay_multiply`` (the
  only multiplication of the mode), and the analog encoder computed exactly in integers (frames
  quantised to int16 at scale ``2**a``, integer MACs, shift right by ``a``), as the reference does.

``multiplications`` (per step) counts what the engine multiplies after the encoder: ``λ·v`` for
every neuron of a population whose decay is not 1, 0 or a power of two (a shift on a fixed-point
machine); float multi-spike neurons add their divisions and products at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..network.ir import Network
from ..network.linear import apply_projection
from . import kernels, kernels_int, kernels_steps
from .kernels_int import NARROW_BOUND
from .plan import (
    POP_CUBA,
    POP_INPUT,
    POP_TERNARY,
    PROJ_CONV,
    PROJ_DENSE,
    PROJ_IDENTITY,
    PROJ_SUMPOOL,
    Plan,
    chw_shape,
    compile_plan,
    from_internal,
)
from .quantize import (
    DECAY_MULT_BITS,
    DECAY_MULTIPLY,
    DECAY_NONE,
    MEMBRANE_MAX,
    QuantizedNetwork,
    quantize,
    quantize_frames,
)
from .reference_int import exact_projection, integer_projection


def _is_shift(decay: float) -> bool:
    """True when ``λ·v`` needs no multiplication: λ is 0, 1 or a power of two (a shift)."""
    return decay in (0.0, 1.0) or math.frexp(decay)[0] == 0.5


def decay_multiplications(network: Network) -> int:
    """Per-step multiplications of the neuron decays of ``network`` (see module docstring): the
    membrane's ``λ·v`` and a ``cuba_lif``'s synaptic ``α·i``, one per neuron each unless a shift."""
    return sum(p.size * (int(not _is_shift(p.decay_value))
                         + int(p.syn_decay is not None and not _is_shift(p.syn_decay)))
               for p in network.populations if p.spiking)


class FloatMode:
    """float32 / float64 arithmetic."""

    counts_width = 2  # per step: + units, − units

    def __init__(self, network: Network, precision: str):
        self.network = network
        self.plan: Plan = compile_plan(network, precision)
        self.v_dtype = self.plan.dtype
        self.kinds = [q.kind for q in self.plan.projections]
        self.weights = [q.weight.ravel() for q in self.plan.projections]
        self.bias = [p.bias for p in self.plan.populations]
        self.params = [np.array([p.threshold, p.decay, p.syn_decay, 0.0] if p.kind == POP_CUBA else
                                [p.threshold, p.decay, p.v_min, 0.0, 0.0], self.plan.dtype)
                       for p in self.plan.populations]
        self.flags = [np.array([p.decay == 1.0, p.reset_subtract, p.has_v_min, p.multi_spike], np.int64)
                      for p in self.plan.populations]
        self.mults_per_step = decay_multiplications(network)
        self._frames: np.ndarray | None = None

    def current_dtype(self, pi: int, trains) -> np.dtype:
        return self.plan.dtype

    def update(self, pi: int, v, cur, steps: int, bounds, sidx, sval, nout, counts, aux=()) -> int:
        """Run the update of population ``pi`` over ``steps``; returns run-time multiplications.

        ``aux``: the population's state beyond its membranes (``Workspace.aux``)."""
        pop = self.plan.populations[pi]
        if pop.kind == POP_CUBA:
            kernels_steps.update_cuba_steps(v, aux[0], cur, self.bias[pi], pop.has_bias, self.params[pi],
                                            pop.reset_subtract, bounds, steps, sidx, sval, nout, counts)
            return 0
        mults = np.zeros(bounds.size - 1, np.int64)
        fast = pop.kind == POP_TERNARY and not pop.has_v_min
        kernels_steps.update_float_steps(v, cur, self.bias[pi], pop.has_bias, pop.kind, self.params[pi],
                                         self.flags[pi], fast, bounds, steps, sidx, sval, nout, counts,
                                         mults)
        return int(mults.sum())

    def set_frames(self, frames: np.ndarray | None) -> None:
        self._frames = frames

    def encode(self, qi: int, k: int) -> np.ndarray:
        """Dense encoder current of projection ``qi`` for frame ``k``, internal order."""
        proj = self.network.projections[qi]
        tshape = self.network.population(proj.target).shape
        if self._frames is None:
            raise ConfigError("encode: no frames were set for this run")
        enc = apply_projection(proj, self._frames[k], tshape).ravel()
        return enc[from_internal(tshape)].astype(self.plan.dtype)

    def output(self, v: np.ndarray) -> np.ndarray:
        return v.astype(np.float64)

    def extras(self, counts: np.ndarray) -> dict:
        return {}


@dataclass
class IntPlan:
    """A plan whose weights, thresholds and biases are the quantised integers."""

    plan: Plan  # layout (geometry, kinds, order) of the network
    qnet: QuantizedNetwork
    kinds: list[int]  # projection kind as run: a sum-pool runs as a depthwise PROJ_CONV
    weights: list[np.ndarray]  # flat int16 per projection, plan layout
    params: list[np.ndarray]  # per population int64 [Θ, decay code, shift, v_min]
    flags: list[np.ndarray]  # per population int64 [reset_subtract, has_v_min, multi_spike, 0]: the
    # last is set per run where the update may run in int32 (``IntMode.update``)
    bias: list[np.ndarray]  # per population int64 per neuron (internal order)
    mult: list[int]  # per population decay multiplier L (0: no multiplying decay)
    syn_mult: list[int]  # cuba_lif: multiplier of the synaptic decay α (0: none)
    cuba_params: list[np.ndarray]  # cuba_lif: int64 [Θ, v decay code, v shift, syn code, syn shift]


def compile_int_plan(qnet: QuantizedNetwork) -> IntPlan:
    """Lay out the integer parameters of ``qnet`` for the kernels."""
    net = qnet.network
    # the integer-valued float64 twin of the network gives the layout of every weight array
    twin = Network(net.name, net.populations, [integer_projection(p, qnet) for p in net.projections],
                   net.order, net.timesteps, net.input, net.provenance)
    plan = compile_plan(twin, "float64")
    kinds, weights = [], []
    for q, proj in zip(plan.projections, net.projections):
        if q.kind == PROJ_SUMPOOL:
            kh, kw = proj.pool_kernel
            c = chw_shape(net.population(proj.source).shape)[0]
            kinds.append(PROJ_CONV)  # geometry is already that of a depthwise conv (plan._geom)
            weights.append(np.full(kh * kw * c, qnet.projections[proj.name].unit, np.int16))
        else:
            kinds.append(q.kind)
            weights.append(np.ascontiguousarray(q.weight.ravel()).astype(np.int16))
    params, flags, bias, mult, syn_mult, cuba = [], [], [], [], [], []
    for pop in plan.populations:
        pq = qnet.populations.get(pop.name)
        b = np.zeros(pop.size, np.int64)
        code, shift, m = DECAY_NONE, 0, 0
        if pq is not None:
            if pq.bias is not None:
                c, h, w = chw_shape(pop.shape)
                b[:] = np.broadcast_to(pq.bias, (h, w, c)).ravel()
            if pq.decay_code == DECAY_MULTIPLY:
                m = pq.decay_param
            else:
                code, shift = pq.decay_code, pq.decay_param
        params.append(np.array([0 if pq is None else pq.threshold, code, shift,
                                0 if pq is None or pq.v_min is None else pq.v_min], np.int64))
        flags.append(np.array([pop.reset_subtract, pop.has_v_min, pop.multi_spike, 0], np.int64))
        bias.append(b)
        mult.append(m)
        scode, sshift, sm = DECAY_NONE, 0, 0
        if pq is not None and pq.syn_decay_code == DECAY_MULTIPLY:
            sm = pq.syn_decay_param
        elif pq is not None:
            scode, sshift = pq.syn_decay_code, pq.syn_decay_param
        syn_mult.append(sm)
        cuba.append(np.array([0 if pq is None else pq.threshold, code, shift, scode, sshift], np.int64))
    return IntPlan(plan, qnet, kinds, weights, params, flags, bias, mult, syn_mult, cuba)


def _fan_in_l1(proj, qq) -> int:
    """Largest Σ|w| (stored integers) over the fan-in of one target neuron of ``proj``, per unit
    of source spike (a pre-pool adds up to kh·kw source values into one pooled input)."""
    if proj.kind == "conv2d":
        w = np.abs(qq.weight.astype(np.int64))
        pool = 1 if proj.pre_pool is None else proj.pre_pool[0][0] * proj.pre_pool[0][1]
        return int(w.reshape(w.shape[0], -1).sum(axis=1).max(initial=0)) * pool
    if proj.kind == "dense":
        return int(np.abs(qq.weight.astype(np.int64)).sum(axis=1).max(initial=0))
    if proj.kind == "identity":
        return int(np.abs(qq.scale.astype(np.int64)).max(initial=0))
    return proj.kernel_size[0] * proj.kernel_size[1] * abs(int(qq.unit))


class IntMode:
    """Fixed-point arithmetic (see module docstring)."""

    counts_width = 3  # per step: + units, − units, saturated updates

    def __init__(self, network: Network):
        self.network = network
        self.int_plan = compile_int_plan(quantize(network))
        self.plan: Plan = self.int_plan.plan
        self.v_dtype = np.dtype(np.int32)
        self.kinds, self.weights = self.int_plan.kinds, self.int_plan.weights
        self.bias = self.int_plan.bias
        self.mults_per_step = sum(p.size * (bool(m) + bool(sm)) for p, m, sm in
                                  zip(self.plan.populations, self.int_plan.mult, self.int_plan.syn_mult))
        self._fan_in_l1 = [_fan_in_l1(p, self.int_plan.qnet.projections[p.name]) for p in network.projections]
        self._frames_q: np.ndarray | None = None
        self._frame_bits = 0
        self._narrow: dict[int, bool] = {}  # population -> this run's steps fit the int32 update
        self._scratch = np.zeros(0, np.int64)

    def current_dtype(self, pi: int, trains) -> np.dtype:
        """int32 currents (the width of the weights' sums on a chip, and half the memory traffic
        of int64) when no step can exceed the int32 range, else int64.

        Bound of one neuron's current in one step: Σ over its projections of (most spike units one
        source neuron sends in a step) × (largest Σ|w| over one target's fan-in), plus max|bias|.
        Unit spikes always fit (the scale rule of ``quantize`` keeps such a step within int32);
        bursts of input events or multi-spikes may not, and then the population runs in int64.
        """
        bound = int(np.abs(self.bias[pi]).max(initial=0))
        for qi in self.plan.populations[pi].incoming:
            q = self.plan.projections[qi]
            if q.encoder:
                return np.dtype(np.int64)
            bound += self._max_units(q.source, trains[q.source]) * self._fan_in_l1[qi]
        self._narrow[pi] = bound <= NARROW_BOUND
        return np.dtype(np.int32 if bound <= MEMBRANE_MAX else np.int64)

    def _max_units(self, source: int, train) -> int:
        """Most spike units one neuron of population ``source`` sends in one step of ``train``.

        The input may repeat a pixel within a step (``kernels_steps.max_units`` sums them); a
        spiking population's train holds each neuron at most once per step (one entry per neuron
        and update), so there it is the largest |value|."""
        ptr, idx, val = train
        if self.plan.populations[source].kind != POP_INPUT:
            return int(np.abs(val[ptr[0]:ptr[-1]]).max(initial=0))
        if self._scratch.size < self.plan.populations[source].size:
            self._scratch = np.zeros(self.plan.populations[source].size, np.int64)  # max_units leaves it 0
        return int(kernels_steps.max_units(ptr, idx, val, self._scratch[:self.plan.populations[source].size]))

    def update(self, pi: int, v, cur, steps: int, bounds, sidx, sval, nout, counts, aux=()) -> int:
        pop, ip = self.plan.populations[pi], self.int_plan
        if pop.kind == POP_CUBA:
            kernels_steps.update_cuba_int_steps(v, aux[0], aux[1], cur, ip.bias[pi], pop.has_bias,
                                                ip.cuba_params[pi], pop.reset_subtract, ip.mult[pi],
                                                ip.syn_mult[pi], DECAY_MULT_BITS, bounds, steps, sidx, sval,
                                                nout, counts)
            return 0
        fast = pop.kind == POP_TERNARY and not pop.has_v_min
        flags = ip.flags[pi].copy()
        flags[3] = self._narrow.pop(pi, False)  # set by current_dtype for this run's steps only
        kernels_steps.update_int_steps(v, cur, ip.bias[pi], pop.has_bias, pop.kind, ip.params[pi],
                                       flags, fast, ip.mult[pi], DECAY_MULT_BITS, bounds, steps, sidx,
                                       sval, nout, counts)
        return 0

    def serial_kernels(self) -> list:
        """The serial integer kernels a run of this network calls, for the LLVM audit: the scatter
        of every projection but the encoder, as the driver dispatches ``kinds`` (a sum-pool runs
        as a conv), and the updates :meth:`update` picks per population."""
        scatter = {PROJ_CONV: kernels.scatter_conv, PROJ_DENSE: kernels.scatter_dense,
                   PROJ_IDENTITY: kernels.scatter_identity}
        used = [scatter[k] for q, k in zip(self.plan.projections, self.kinds) if not q.encoder]
        ip = self.int_plan
        for pi, pop in enumerate(self.plan.populations):
            if pop.kind == POP_INPUT:
                continue
            if ip.mult[pi] or ip.syn_mult[pi]:
                used.append(kernels_int.decay_multiply)
            if pop.kind == POP_CUBA:
                used.append(kernels_int.update_cuba_int)
            elif pop.kind == POP_TERNARY and not pop.has_v_min:
                used.append(kernels_int.update_ternary_int)
            else:
                used.append(kernels_int.update_neurons_int)
        return list(dict.fromkeys(used))

    def set_frames(self, frames: np.ndarray | None) -> None:
        if frames is not None:
            self._frames_q, self._frame_bits = quantize_frames(frames)

    def encode(self, qi: int, k: int) -> np.ndarray:
        """Exact integer encoder current: integer MACs at scale ``2**(k+a)``, floor-shifted by ``a``."""
        proj = self.network.projections[qi]
        shape = self.network.population(proj.target).shape
        if self._frames_q is None:
            raise ConfigError("encode: no frames were set for this run")
        enc = exact_projection(proj, self.int_plan.qnet, self._frames_q[k], shape) >> self._frame_bits
        return enc.ravel()[from_internal(shape)]

    def output(self, v: np.ndarray) -> np.ndarray:
        frac = self.int_plan.qnet.populations[self.plan.output.name].frac_bits
        return np.ldexp(v.astype(np.float64), -frac)

    def extras(self, counts: np.ndarray) -> dict:
        return {"saturations": {p.name: counts[i, :, 2] for i, p in enumerate(self.plan.populations)
                                if p.kind != POP_INPUT}}


__all__ = ["FloatMode", "IntMode", "IntPlan", "compile_int_plan", "decay_multiplications"]
