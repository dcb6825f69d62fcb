"""Compile an IR network into flat, contiguous arrays laid out for the engine kernels.

Layout decisions (all for the scatter kernels in ``kernels.py``):

- Neuron state of a ``(C, H, W)`` population is stored channels-last (``H, W, C``): internal
  index ``(y·W + x)·C + c``. A 1-D population keeps its order. Spike lists carry internal
  indices; ``to_internal`` / ``from_internal`` convert to and from the IR's C-H-W order.
- ``conv2d`` weights become ``[Cin, kh, kw, Cout/groups]`` with the ``kw`` axis reversed: one
  source spike at channel ``ci`` adds, per kernel tap, one contiguous row of its group's
  ``Cout/groups`` outputs to a target pixel, which is contiguous in the channels-last target; and
  with stride 1, dilation 1 and one group, the taps of one kernel row land on consecutive target
  pixels in the order of the reversed ``kw`` axis, so the whole kernel row is a single
  contiguous run of ``kw·Cout`` additions. Channel-major: all ``kh·kw`` rows one input channel
  uses are one contiguous block (4.6 KB for 128 channels in float32), which the hardware
  prefetcher streams; with ``kh`` outermost they were ``Cin·kw·Cout`` apart (measured: 128-channel
  conv kernel ~8.0 -> ~9.5 G SOP/s).
- ``dense`` weights become ``[N_in, N_out]`` by input row, rows and columns permuted to the
  internal order of source and target.
- ``identity`` keeps a per-channel scale (ones when absent); ``sumpool2d`` has no weights.
- Per population: kind code, threshold, decay, reset, floor, multi-spike flag, and the bias
  expanded per neuron (internal order).

Everything is converted to the requested precision (float32 or float64) whatever the stored
dtype, so the kernels never mix precisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelFormatError
from ..network import kinds
from ..network.ir import Network

# population kind codes (the registry's; the kernels mirror them)
POP_INPUT, POP_TERNARY, POP_BINARY, POP_LIF, POP_READOUT, POP_CUBA = (
    kinds.CODE_INPUT, kinds.CODE_TERNARY, kinds.CODE_BINARY, kinds.CODE_LIF, kinds.CODE_READOUT,
    kinds.CODE_CUBA)
_POP_CODES = {name: k.code for name, k in kinds.NEURON_KINDS.items()}
# projection kind codes
PROJ_CONV, PROJ_DENSE, PROJ_IDENTITY, PROJ_SUMPOOL = (kinds.PROJECTION_KINDS[k].code for k in
                                                      ("conv2d", "dense", "identity", "sumpool2d"))
_PROJ_CODES = {name: k.code for name, k in kinds.PROJECTION_KINDS.items()}

# columns of PlannedProjection.geom (int64), shared by all kinds that have a spatial map
(G_CIN, G_H, G_W, G_COUT, G_HO, G_WO, G_KH, G_KW, G_SH, G_SW, G_PH, G_PW, G_DH, G_DW,
 G_CING, G_COUTG) = range(16)
PRECISIONS = {"float32": np.float32, "float64": np.float64}  # the float plans; "int" is modes.IntMode
#: byte alignment of weight and current buffers: with Cout a multiple of 8, every float32 row the
#: scatter kernels add then starts on a 32-byte boundary, so no AVX load or store splits a cache
#: line (measured: a 48-byte-offset current buffer costs the 128-channel conv kernel ~15%)
ALIGN_BYTES = 64


def aligned_zeros(size: int, dtype) -> np.ndarray:
    """A zeroed 1-D array of ``size`` items whose data starts on an ``ALIGN_BYTES`` boundary."""
    dtype = np.dtype(dtype)
    raw = np.zeros(size * dtype.itemsize + ALIGN_BYTES, np.uint8)
    start = -raw.ctypes.data % ALIGN_BYTES
    return raw[start:start + size * dtype.itemsize].view(dtype)


def aligned_copy(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` converted to ``dtype``, C-contiguous, in an ``ALIGN_BYTES``-aligned buffer."""
    out = aligned_zeros(array.size, dtype).reshape(array.shape)
    out[...] = array
    return out


def chw_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """A population shape as (C, H, W); a 1-D population of N neurons is (N, 1, 1)."""
    return (int(shape[0]), int(shape[1]), int(shape[2])) if len(shape) == 3 else (int(shape[0]), 1, 1)


def to_internal(shape: tuple[int, ...]) -> np.ndarray:
    """``perm[chw_index] = internal_index`` for a population of ``shape``."""
    c, h, w = chw_shape(shape)
    internal = np.arange(c * h * w, dtype=np.int64).reshape(h, w, c)
    return np.ascontiguousarray(internal.transpose(2, 0, 1)).ravel()


def from_internal(shape: tuple[int, ...]) -> np.ndarray:
    """``perm[internal_index] = chw_index`` (the inverse of :func:`to_internal`)."""
    c, h, w = chw_shape(shape)
    chw = np.arange(c * h * w, dtype=np.int64).reshape(c, h, w)
    return np.ascontiguousarray(chw.transpose(1, 2, 0)).ravel()


@dataclass
class PlannedPopulation:
    """One population, ready for ``kernels.update_neurons``."""

    name: str
    kind: int  # POP_* code
    shape: tuple[int, ...]  # IR shape
    size: int  # neurons
    threshold: float  # θ (spiking kinds; 0 otherwise)
    decay: float  # λ (1 for readout/if)
    reset_subtract: bool  # reset "subtract" (else "zero")
    v_min: float  # floor, meaningful when has_v_min
    has_v_min: bool
    multi_spike: bool
    bias: np.ndarray  # (size,) per neuron, internal order (zeros when absent)
    has_bias: bool
    incoming: list[int]  # indices into Plan.projections, file order
    syn_decay: float = 0.0  # α of the synaptic current (cuba_lif)


@dataclass
class PlannedProjection:
    """One projection, ready for a ``kernels.scatter_*`` kernel."""

    name: str
    kind: int  # PROJ_* code
    source: int  # index into Plan.populations
    target: int
    geom: np.ndarray  # (16,) int64, columns G_* (conv / sumpool); zeros for dense/identity
    weight: np.ndarray  # conv [Cin,kh,kw reversed,Cout_g]; dense [N_in,N_out]; identity (C,); sumpool (0,)
    encoder: bool  # frame input -> this projection is the dense analog encoder (MACs, not SOPs)
    pool_geom: np.ndarray | None = None  # conv2d with pre_pool: pool_geometry(); geom: the pooled map
    pool_fan: int = 0  # most pooled cells one source pixel lands in (ceil(kh/sh)·ceil(kw/sw))
    delay: int = 0  # steps: step t receives the source's spikes of step t − delay


@dataclass
class Plan:
    """A network compiled for the engine in one precision."""

    network: Network
    dtype: np.dtype  # float32 or float64
    populations: list[PlannedPopulation]  # in network order
    projections: list[PlannedProjection]  # in network.projections order
    index: dict[str, int]  # population name -> position

    @property
    def output(self) -> PlannedPopulation:
        return self.populations[self.index[self.network.output_population.name]]


def _geom(kind: str, proj, src_shape, tgt_shape) -> np.ndarray:
    g = np.zeros(16, np.int64)
    if kind not in ("conv2d", "sumpool2d"):
        return g
    cin, h, w = src_shape
    cout, ho, wo = tgt_shape
    if kind == "conv2d":
        _, cin_g, kh, kw = proj.weight.shape
        groups = proj.groups
        dil = proj.dilation
    else:  # a sum-pool is a depthwise conv with all-ones kernels
        (kh, kw), cin_g, groups, dil = proj.kernel_size, 1, cin, (1, 1)
    g[[G_CIN, G_H, G_W, G_COUT, G_HO, G_WO]] = cin, h, w, cout, ho, wo
    g[[G_KH, G_KW, G_SH, G_SW, G_PH, G_PW, G_DH, G_DW]] = (kh, kw, *proj.stride, *proj.padding, *dil)
    g[G_CING], g[G_COUTG] = cin_g, cout // groups
    return g


def pool_geometry(proj, src_shape) -> np.ndarray:
    """``(11,)`` int64 ``[C, H, W, Hp, Wp, kh, kw, sh, sw, ph, pw]`` of ``proj.pre_pool`` on ``src_shape``."""
    c, h, w = src_shape
    _, hp, wp = proj.pooled_shape(src_shape)
    (kh, kw), stride, padding = proj.pre_pool
    return np.array([c, h, w, hp, wp, kh, kw, *stride, *padding], np.int64)


def _weight(proj, src_shape, tgt_shape, dtype) -> np.ndarray:
    if proj.kind == "conv2d":
        w = np.asarray(proj.weight, dtype=np.float64)
        cout, cin_g, kh, kw = w.shape
        groups = proj.groups
        cout_g = cout // groups
        # [g, Cout_g, Cin_g, kh, kw] -> [g, Cin_g, kh, kw, Cout_g] -> [Cin, kh, kw (reversed), Cout_g]
        w = w.reshape(groups, cout_g, cin_g, kh, kw).transpose(0, 2, 3, 4, 1)[:, :, :, ::-1]
        return aligned_copy(w.reshape(groups * cin_g, kh, kw, cout_g), dtype)
    if proj.kind == "dense":
        w = np.asarray(proj.weight, dtype=np.float64)  # (N_out, N_in), C-H-W order on both sides
        rows = from_internal(src_shape)  # internal source index -> C-H-W input column
        cols = from_internal(tgt_shape)
        return aligned_copy(w.T[rows][:, cols], dtype)
    if proj.kind == "identity":
        c = src_shape[0]
        scale = np.ones(c) if proj.scale is None else np.asarray(proj.scale, np.float64)
        return np.ascontiguousarray(scale, dtype=dtype)
    return np.zeros(0, dtype=dtype)


def compile_plan(net: Network, precision: str = "float32") -> Plan:
    """Compile ``net`` for the kernels in ``precision`` (``float32`` or ``float64``)."""
    if precision not in PRECISIONS:
        raise ModelFormatError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    dtype = np.dtype(PRECISIONS[precision])
    index = {name: i for i, name in enumerate(net.order)}
    projections = []
    for proj in net.projections:
        src, tgt = net.population(proj.source), net.population(proj.target)
        # a pre-pooled conv scatters the pooled spike list: its conv geometry is the pooled map's
        geom = _geom(proj.kind, proj, proj.pooled_shape(src.shape), tgt.shape)
        weight = _weight(proj, src.shape, tgt.shape, dtype)
        pool_geom, fan = None, 0
        if proj.pre_pool is not None:
            pool_geom = pool_geometry(proj, src.shape)
            fan = int(-(-pool_geom[5] // pool_geom[7]) * -(-pool_geom[6] // pool_geom[8]))
        projections.append(PlannedProjection(
            name=proj.name, kind=_PROJ_CODES[proj.kind], source=index[src.name],
            target=index[tgt.name], geom=geom, weight=weight, encoder=net.is_encoder(proj), delay=proj.delay,
            pool_geom=pool_geom, pool_fan=fan))
    populations = []
    for pop in net.ordered_populations():
        bias = np.zeros(pop.size, dtype=dtype)
        if pop.bias is not None:
            c, h, w = chw_shape(pop.shape)
            # per channel -> per neuron, channels-last
            bias[:] = np.broadcast_to(np.asarray(pop.bias, np.float64), (h, w, c)).ravel()
        populations.append(PlannedPopulation(
            name=pop.name, kind=_POP_CODES[pop.kind], shape=pop.shape, size=pop.size,
            threshold=float(pop.threshold or 0.0), decay=float(1.0 if pop.decay is None else pop.decay),
            syn_decay=float(pop.syn_decay or 0.0),
            reset_subtract=pop.reset == "subtract", v_min=float(pop.v_min or 0.0),
            has_v_min=pop.v_min is not None, multi_spike=bool(pop.multi_spike), bias=bias,
            has_bias=pop.bias is not None,
            incoming=[k for k, q in enumerate(net.projections) if q.target == pop.name]))
    return Plan(network=net, dtype=dtype, populations=populations, projections=projections, index=index)
