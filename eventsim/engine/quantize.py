"""Fixed-point conversion of an IR network: the ``int`` precision mode.

Rule (one scale per *target* population, chosen from what flows into it):

- Every value that lands in population P's membrane -- the weights and identity scales of all
  projections into P, the implicit weight 1 of an unscaled identity or a sum-pool, P's bias,
  threshold and ``v_min`` -- is stored as the integer ``round(x * 2**k_P)``. Rounding is
  **half to even** (``np.rint``, as NumPy and PyTorch round).
- ``k_P`` is the largest integer such that (a) every stored weight fits int16:
  ``max|w| * 2**k <= 32767 - 0.5`` (so rounding cannot reach 32768), and (b) the membrane keeps
  headroom in int32: ``M * 2**k <= 2**31 - 1`` with ``M`` the bound on ``|v|`` for unit spikes:
  ``M = θ + |v_min| + S`` for a spiking population and ``M = T * S`` for a readout, where
  ``S = Σ_projections max_neuron Σ|w| + max|bias|`` is the largest current one step can
  deliver when every source spike is ±1 (``T`` is the network's default number of steps). A
  ``cuba_lif`` accumulates ``S`` in its synaptic current (bound ``S/(1 − α)``, or ``T·S`` for
  α = 1) and that in its membrane (times ``1/(1 − λ)``, or ``T``): ``M = θ + that``.
  Sources that exceed ±1 (input pixels with several events in a bin, multi-spike neurons)
  can exceed ``S``: that is caught at run time (membranes saturate at the int32 limits, every
  saturated update is counted and reported, never silent).
- Decay ``λ`` (and a ``cuba_lif``'s ``α``, by the same rule on its synaptic current, which is
  stored at the population's scale too): ``λ = 1`` is a no-op; ``λ = 2**-m`` is an arithmetic
  right shift ``v >> m`` (floor: ``-5 >> 2 == -2``, i.e. rounding toward −∞, also for negative
  ``v``); ``λ = 0`` sets ``v = 0``; any other ``λ`` is an integer multiply and shift ``(v * L) >> 16`` with
  ``L = round(λ * 2**16)`` -- one multiplication per neuron per step, flagged by the audit.
- Weights can only be clipped when a caller forces ``frac_bits``; each clipped weight is counted
  in the report.

The quantisation error of every population (largest absolute and relative error of its
weights, threshold and bias) is reported in :class:`QuantReport`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ValidationError
from ..network.ir import Network, Population, Projection

WEIGHT_MAX = 2**15 - 1  # int16
MEMBRANE_MAX = 2**31 - 1  # int32
MEMBRANE_MIN = -(2**31)
DECAY_MULT_BITS = 16  # λ ≈ L / 2**16 for decays that are not powers of two
FRAME_MAX = 2**15 - 1  # analog frame input is quantised to int16 too

# Decay codes shared with the integer kernels.
DECAY_NONE, DECAY_SHIFT, DECAY_ZERO, DECAY_MULTIPLY = 0, 1, 2, 3
DECAY_NAMES = {DECAY_NONE: "none", DECAY_SHIFT: "shift", DECAY_ZERO: "zero", DECAY_MULTIPLY: "multiply"}


def round_half_even(x) -> np.ndarray:
    """The rounding used for every conversion to integers (ties to the even neighbour)."""
    return np.rint(np.asarray(x, dtype=np.float64))


def decay_code(decay: float) -> tuple[int, int]:
    """(code, parameter) of a decay: (NONE, 0), (SHIFT, m), (ZERO, 0) or (MULTIPLY, L)."""
    if decay == 1.0:
        return DECAY_NONE, 0
    if decay == 0.0:
        return DECAY_ZERO, 0
    mant, exp = math.frexp(decay)  # decay = mant * 2**exp, mant in [0.5, 1)
    if mant == 0.5:
        return DECAY_SHIFT, 1 - exp  # decay = 2**(exp-1) = 2**-m
    return DECAY_MULTIPLY, int(round_half_even(decay * 2**DECAY_MULT_BITS))


@dataclass
class PopulationQuant:
    """Integer parameters of one non-input population at scale ``2**frac_bits``."""

    name: str
    frac_bits: int  # k: a membrane value v is stored as round(v * 2**k)
    threshold: int = 0  # round(θ * 2**k), at least 1 (spiking kinds)
    bias: np.ndarray | None = None  # int64 (C,) or (N,), added every step
    v_min: int | None = None  # round(v_min * 2**k)
    decay_code: int = DECAY_NONE  # one of DECAY_NONE/SHIFT/ZERO/MULTIPLY
    decay_param: int = 0  # shift m (SHIFT) or multiplier L (MULTIPLY)
    syn_decay_code: int = DECAY_NONE  # cuba_lif: the synaptic current's α, same codes
    syn_decay_param: int = 0

    @property
    def scale(self) -> float:
        """Float value of one integer unit: ``2**-k`` (exact in binary floating point)."""
        return math.ldexp(1.0, -self.frac_bits)


@dataclass
class ProjectionQuant:
    """Integer weights of one projection, at its target's scale."""

    name: str
    weight: np.ndarray | None = None  # int16, IR layout (conv2d, dense)
    scale: np.ndarray | None = None  # int16 (C,) identity: the stored per-channel weight
    unit: int = 0  # int16 weight of a sum-pool tap (2**k)
    clipped: int = 0  # weights clipped to the int16 range (only with forced frac_bits)


@dataclass
class PopulationError:
    """Quantisation error of everything stored at one population's scale."""

    name: str
    frac_bits: int
    weight_max: float  # largest |w| into the population (implicit 1s included)
    weight_abs_error: float  # largest |w_q * 2**-k - w|
    weight_rel_error: float  # weight_abs_error / weight_max
    threshold_error: float  # |θ_q * 2**-k - θ| (0 for a readout)
    bias_error: float  # largest bias error (0 without bias)
    clipped: int  # weights clipped to int16
    decay: str  # "none", "shift", "zero" or "multiply"


@dataclass
class QuantReport:
    """What quantisation did: per-population errors and any clipped weights."""

    populations: list[PopulationError] = field(default_factory=list)

    @property
    def clipped(self) -> int:
        return sum(p.clipped for p in self.populations)

    @property
    def multiply_decays(self) -> list[str]:
        return [p.name for p in self.populations if p.decay == "multiply"]

    def to_dict(self) -> dict:
        return {"clipped_weights": self.clipped,
                "populations": [vars(p).copy() for p in self.populations]}


@dataclass
class QuantizedNetwork:
    """An IR network with integer parameters for the ``int`` precision mode."""

    network: Network
    populations: dict[str, PopulationQuant]  # every population but the input
    projections: dict[str, ProjectionQuant]
    report: QuantReport

    def output_scale(self) -> float:
        """Float value of one integer unit of the output (readout) population."""
        return self.populations[self.network.output_population.name].scale


def _row_l1(proj: Projection) -> float:
    """Largest current one target neuron gets from ``proj`` when every source spike is ±1."""
    if proj.kind == "conv2d":
        w = np.abs(proj.weight_array.astype(np.float64))
        # a pre-pool sums up to kh·kw spikes into each cell the kernel reads
        pool = 1 if proj.pre_pool is None else proj.pre_pool[0][0] * proj.pre_pool[0][1]
        return float(w.reshape(w.shape[0], -1).sum(axis=1).max()) * pool
    if proj.kind == "dense":
        return float(np.abs(proj.weight_array.astype(np.float64)).sum(axis=1).max())
    if proj.kind == "identity":
        return 1.0 if proj.scale is None else float(np.abs(proj.scale).max(initial=0.0))
    return float(proj.pool_kernel[0] * proj.pool_kernel[1])


def _weight_max(proj: Projection) -> float:
    if proj.weight is not None:
        return float(np.abs(proj.weight.astype(np.float64)).max(initial=0.0))
    if proj.scale is not None:
        return float(np.abs(proj.scale.astype(np.float64)).max(initial=0.0))
    return 1.0  # unscaled identity, sum-pool: the stored weight is 1


def _largest_k(limit: float, magnitude: float) -> int:
    """Largest k with magnitude * 2**k <= limit (a large k when magnitude is 0)."""
    if magnitude <= 0.0:
        return 30
    k = math.floor(math.log2(limit / magnitude))
    while magnitude * 2.0**k > limit:  # guard log2 rounding at exact powers of two
        k -= 1
    while magnitude * 2.0 ** (k + 1) <= limit:
        k += 1
    return k


def choose_frac_bits(net: Network, pop: Population) -> int:
    """The scale exponent ``k`` of ``pop`` by the rule in the module docstring."""
    incoming = net.incoming(pop.name)
    wmax = max((_weight_max(q) for q in incoming), default=0.0)
    bias = 0.0 if pop.bias is None else float(np.abs(pop.bias).max(initial=0.0))
    wmax = max(wmax, bias)  # the bias is stored like a weight: keep it within int16 as well
    step = sum(_row_l1(q) for q in incoming) + bias
    if pop.kind == "readout":
        bound = net.timesteps * step
    elif pop.kind == "cuba_lif":
        gain = lambda f: 1.0 / (1.0 - f) if f < 1.0 else float(net.timesteps)  # noqa: E731
        bound = pop.threshold_value + step * gain(pop.syn_decay_value) * gain(pop.decay_value)
    else:
        bound = pop.threshold_value + abs(pop.v_min or 0.0) + step
    k = min(_largest_k(WEIGHT_MAX - 0.5, wmax), _largest_k(MEMBRANE_MAX, bound))
    return min(k, 30)


def _to_int(values, k: int, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """round(values * 2**k) clipped to [lo, hi], and the number of clipped entries."""
    q = round_half_even(np.ldexp(np.asarray(values, dtype=np.float64), k))
    clipped = int(np.count_nonzero((q < lo) | (q > hi)))
    return np.clip(q, lo, hi).astype(np.int64), clipped


def quantize(net: Network, frac_bits: dict[str, int] | None = None) -> QuantizedNetwork:
    """Integer parameters for ``net``; ``frac_bits`` forces the scale of named populations."""
    frac_bits = frac_bits or {}
    pops: dict[str, PopulationQuant] = {}
    projs: dict[str, ProjectionQuant] = {}
    report = QuantReport()
    for pop in net.ordered_populations():
        if pop.kind == "input":
            continue
        k = int(frac_bits.get(pop.name, choose_frac_bits(net, pop)))
        pq = PopulationQuant(pop.name, k)
        err = PopulationError(pop.name, k, 0.0, 0.0, 0.0, 0.0, 0.0, 0, "none")
        clipped = 0
        for proj in net.incoming(pop.name):
            qq = ProjectionQuant(proj.name)
            if proj.weight is not None:
                src = proj.weight
                w, qq.clipped = _to_int(src, k, -WEIGHT_MAX, WEIGHT_MAX)
                qq.weight = w.astype(np.int16)
            elif proj.kind == "identity":
                src = np.ones(net.population(proj.source).shape[0]) if proj.scale is None else proj.scale
                w, qq.clipped = _to_int(src, k, -WEIGHT_MAX, WEIGHT_MAX)
                qq.scale = w.astype(np.int16)
            else:
                src = np.ones(1)
                w, qq.clipped = _to_int(src, k, -WEIGHT_MAX, WEIGHT_MAX)
                qq.unit = int(w[0])
            src = np.asarray(src, dtype=np.float64)
            err.weight_max = max(err.weight_max, float(np.abs(src).max(initial=0.0)))
            err.weight_abs_error = max(err.weight_abs_error,
                                       float(np.abs(np.ldexp(w.astype(np.float64), -k) - src).max(initial=0)))
            clipped += qq.clipped
            projs[proj.name] = qq
        err.weight_rel_error = err.weight_abs_error / err.weight_max if err.weight_max else 0.0
        if pop.bias is not None:
            b, nb = _to_int(pop.bias, k, MEMBRANE_MIN, MEMBRANE_MAX)
            pq.bias = b
            clipped += nb
            err.bias_error = float(np.abs(np.ldexp(b.astype(np.float64), -k) - pop.bias).max())
        if pop.spiking:
            theta = pop.threshold_value
            th = max(1, int(round_half_even(math.ldexp(theta, k))))
            if th > MEMBRANE_MAX:
                raise ValidationError(f"population {pop.name!r}: threshold {theta} does "
                                      f"not fit int32 at scale 2^{k}")
            pq.threshold = th
            err.threshold_error = abs(math.ldexp(th, -k) - theta)
            if pop.v_min is not None:
                vm, nv = _to_int([pop.v_min], k, MEMBRANE_MIN, MEMBRANE_MAX)
                pq.v_min = int(vm[0])
                clipped += nv
            pq.decay_code, pq.decay_param = decay_code(pop.decay_value)
            err.decay = DECAY_NAMES[pq.decay_code]
            if pop.syn_decay is not None:
                pq.syn_decay_code, pq.syn_decay_param = decay_code(pop.syn_decay)
                if DECAY_MULTIPLY in (pq.decay_code, pq.syn_decay_code):
                    err.decay = DECAY_NAMES[DECAY_MULTIPLY]
        err.clipped = clipped
        pops[pop.name] = pq
        report.populations.append(err)
    return QuantizedNetwork(net, pops, projs, report)


def quantize_frames(frames: np.ndarray) -> tuple[np.ndarray, int]:
    """Analog frame input -> (int64 values at scale ``2**a``, ``a``).

    ``a`` is the largest exponent (at most 24) with ``max|x| * 2**a <= 32767 - 0.5``, so the
    values fit int16; the encoder's integer MAC result (scale ``2**(k+a)``) is brought back to
    the target's scale ``2**k`` by an arithmetic right shift by ``a`` (floor).
    """
    x = np.asarray(frames, dtype=np.float64)
    xmax = float(np.abs(x).max(initial=0.0))
    if xmax > FRAME_MAX - 0.5:
        raise ValidationError(f"frame input values reach {xmax:g}; the int mode needs |x| < 32767")
    a = min(24, _largest_k(FRAME_MAX - 0.5, xmax))
    q, _ = _to_int(x, a, -FRAME_MAX, FRAME_MAX)
    return q, a


def decay_int(v: np.ndarray, code: int, param: int) -> np.ndarray:
    """Integer decay of int64 membranes ``v`` (the rule in the module docstring)."""
    if code == DECAY_NONE:
        return v
    if code == DECAY_SHIFT:
        return np.right_shift(v, param)  # arithmetic: floor(v / 2**m), also for v < 0
    if code == DECAY_ZERO:
        return np.zeros_like(v)
    return np.right_shift(v * param, DECAY_MULT_BITS)
