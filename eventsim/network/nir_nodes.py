"""NIR node types -> IR pieces: one small mapper per node type, and linear-chain composition.

NIR (github.com/neuromorphs/NIR) describes a network as a graph of continuous-time nodes.
eventsim runs discrete time steps, so every neuron node is discretised here, with the rule
written next to the code that applies it. Conventions (see also README "NIR"):

- ``dt`` is the length of one time step in seconds (default 1e-4 s, the step the NIR paper
  used for its LIF and Braille graphs). Leaky nodes use the forward-Euler step of
  ``tau·dv/dt = (v_leak − v) + R·I``, as Norse and snnTorch do:
  ``v += dt/tau·(v_leak − v + R·I)``, i.e. decay ``λ = 1 − dt/tau``, input gain ``dt·R/tau``
  (folded into the incoming weights) and a constant current ``dt·v_leak/tau`` (the bias).
- IF (``dv/dt = R·I``) has no time constant: one step adds ``R·I`` (dt-free, as sinabs and
  snnTorch's ``Leaky(beta=1)`` do).
- Reset: a node with a ``v_reset`` dataset (NIR >= 1.0.6) resets to it (only 0 is expressible);
  a node without one follows the NIR spec of its time, which reset by subtracting the threshold
  (``load_nir(reset=...)`` overrides that default, e.g. for graphs whose file name says "zero").
- CubaLIF: Euler on both equations, the synaptic current first and the membrane with the new
  current, as snnTorch's ``Synaptic`` (which exported the NIR paper's Braille graphs):
  ``I = (1 − dt/τ_syn)·I + dt/τ_syn·w_in·S``; ``v = (1 − dt/τ_mem)·v + dt/τ_mem·(v_leak + r·I)``.
  With the scaled current ``J = dt/τ_mem·r·I`` this is IR kind ``cuba_lif``: ``α = 1 − dt/τ_syn``,
  ``λ = 1 − dt/τ_mem``, ``J = α·J + g·S`` with input gain ``g = dt/τ_syn·w_in·dt/τ_mem·r`` (folded
  into the incoming weights and biases), ``v = λ·v + J``; ``v_leak`` must be 0 (a constant pushed
  through the synaptic filter is not a constant). The reset of a spike applies in the next step
  (snnTorch; DESIGN.md "cuba_lif").
- Recurrent edges: a cycle of the graph (through at least one neuron node) is cut at its back
  edges, found by a depth-first walk from the Input node; a projection whose chain of linear
  nodes contains a back edge gets ``delay = 1``: it delivers the previous step's spikes, as
  snnTorch's ``RSynaptic``/``RLeaky`` and the NIR paper's simulators run a recurrent weight.
- Semantics ``"nir"``: one spike per step when ``v > v_threshold`` (strict, as the spec and
  Norse/snnTorch) -> IR kind ``binary_lif``. Semantics ``"sinabs"`` (IF nodes only): sinabs'
  ``IAFSqueeze`` as ``sinabs.from_nir`` builds it: multi-spike ``floor(v/θ)`` at ``v >= θ``,
  subtractive reset, membrane floor ``−θ`` -> IR kind ``if`` with ``multi_spike``.

A mapper returns a :class:`NeuronSpec` (a population), a list of :class:`LinearOp` (linear
nodes between populations, composed later by :func:`compose_path`), or raises
:class:`Unsupported` with a reason; the loader collects every reason before failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import brief
from .compose import compose_pool
from .ir import Projection
from .linear import apply_projection

SEMANTICS = ("nir", "sinabs")
DEFAULT_DT = 1e-4  # seconds per step; the NIR paper's LIF and Braille graphs use dt = 1e-4


class Unsupported(Exception):
    """A node (or path) that eventsim cannot express exactly; the message says why."""


@dataclass
class NirNode:
    """One node as stored in a NIR file: its type name and its datasets."""

    name: str  # node name (HDF5 group name under /node/nodes)
    type: str  # NIR class name, e.g. "Conv2d"
    params: dict[str, np.ndarray]  # every dataset of the node except "type"
    metadata: dict = field(default_factory=dict)  # the node's "metadata" group, if any

    def get(self, key: str, default=None):
        return self.params.get(key, default)

    def need(self, key: str) -> np.ndarray:
        if key not in self.params:
            raise Unsupported(f"{self.type} node {self.name!r} lacks its {key!r} dataset")
        return np.asarray(self.params[key])


@dataclass
class MapContext:
    dt: float  # seconds per time step
    semantics: str  # "nir" or "sinabs"
    reset: str | None = None  # reset of nodes without v_reset (None: "subtract", the old spec)


@dataclass
class NeuronSpec:
    """An IR population made from a NIR neuron node (parameters still in full shape)."""

    kind: str  # IR kind: binary_lif, if, lif, cuba_lif, readout
    threshold: np.ndarray | None  # θ per neuron (must be uniform in the end)
    decay: float | None  # λ
    reset: str | None  # "zero" | "subtract"
    v_min: float | None = None
    syn_decay: float | None = None  # α (cuba_lif)
    multi_spike: bool = False
    gain: np.ndarray | float = 1.0  # input gain per neuron, folded into incoming weights
    bias: np.ndarray | float = 0.0  # constant current per step per neuron (from v_leak)
    rule: str = ""  # the discretisation applied, for provenance


@dataclass
class LinearOp:
    """One linear NIR node on a path between two populations."""

    node: str  # NIR node name
    kind: str  # dense | conv2d | sumpool2d | scale | flatten | identity
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None  # conv: (Cout,), dense: (N,)
    stride: tuple = (1, 1)
    padding: tuple | str = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    kernel_size: tuple | None = None
    scale: np.ndarray | float | None = None  # scale: elementwise factor; avg pool: 1/(kh·kw)
    input_hw: tuple | None = None  # Conv2d input_shape, checked against the real shape
    flatten_dims: tuple = (0, -1)

    @property
    def weight_array(self) -> np.ndarray:
        """The weight of a dense or conv2d op; Unsupported for a kind without one."""
        if self.weight is None:
            raise Unsupported(f"node {self.node!r}: a {self.kind} has no weight")
        return self.weight


# -- helpers ---------------------------------------------------------------------------------
def whole_numbers(value, what: str) -> tuple[int, ...]:
    """``value`` as integers; whole floats (``2.0``) pass, ``1.5``, text and NaN do not
    (a cast would silently turn a stride of 1.5 into 1, or the text "4" into a shape)."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) \
            and np.all(np.abs(arr) < 2.0 ** 62):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise Unsupported(f"{what} must be whole numbers, got {brief(value)}")
    return tuple(int(v) for v in arr)


def _one(value, what: str) -> int:
    vals = whole_numbers(value, what)
    if len(vals) != 1:
        raise Unsupported(f"{what} must be one whole number, got {brief(value)}")
    return vals[0]


def _pair(value, what: str = "a size") -> tuple[int, int]:
    vals = whole_numbers(value, what)
    if len(vals) not in (1, 2):
        raise Unsupported(f"{what} must be one or two whole numbers, got {brief(value)}")
    return (vals[0], vals[0]) if len(vals) == 1 else (vals[0], vals[1])


def as_text(value) -> str:
    value = value.item() if isinstance(value, np.ndarray) and value.shape == () else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def uniform_value(node: NirNode, key: str, values) -> float:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or not np.all(arr == arr.flat[0]):
        raise Unsupported(f"{node.type} node {node.name!r}: {key} differs between neurons "
                          "(eventsim has one value per population)")
    return float(arr.flat[0])


def _reset(node: NirNode, ctx: MapContext | None = None) -> str:
    """NIR >= 1.0.6 stores v_reset (reset to it); older files reset by subtraction (or as the
    caller says: ``ctx.reset``)."""
    if "v_reset" not in node.params:
        return (ctx.reset if ctx is not None else None) or "subtract"
    v_reset = np.asarray(node.params["v_reset"], dtype=np.float64)
    if np.any(v_reset != 0):
        raise Unsupported(f"{node.type} node {node.name!r}: v_reset != 0 (eventsim resets to 0 "
                          "or by subtraction)")
    return "zero"


def _euler(node: NirNode, tau, ctx: MapContext, key: str) -> np.ndarray:
    """Forward Euler: λ = 1 − dt/τ per neuron; needs dt <= τ for a decay in [0, 1]."""
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(tau <= 0) or not np.all(np.isfinite(tau)):
        raise Unsupported(f"{node.type} node {node.name!r}: {key} must be positive and finite")
    ratio = ctx.dt / tau
    if np.any(ratio > 1):
        raise Unsupported(f"{node.type} node {node.name!r}: dt={ctx.dt:g} s exceeds {key}="
                          f"{float(tau.min()):g} s (Euler step unstable; pass a smaller dt)")
    return ratio


def _spiking(node: NirNode, ctx: MapContext, decay: float, gain, bias, rule: str) -> NeuronSpec:
    theta = node.need("v_threshold")
    reset = _reset(node, ctx)
    return NeuronSpec("binary_lif", theta, decay, reset, gain=gain, bias=bias,
                      rule=f"{rule}; fires once at v > θ; reset {reset}")


# -- neuron mappers --------------------------------------------------------------------------
def map_if(node: NirNode, ctx: MapContext) -> NeuronSpec:
    # dv/dt = R·I, one step adds R·I (no dt: IF has no time constant to scale it by)
    r = node.need("r")
    if ctx.semantics == "sinabs":
        theta = node.need("v_threshold")
        # sinabs.from_nir: IAFSqueeze(spike_threshold=θ, min_v_mem=−θ), MultiSpike, MembraneSubtract
        v_min = -uniform_value(node, "v_threshold", theta)
        return NeuronSpec("if", theta, 1.0, "subtract", v_min=v_min, multi_spike=True, gain=r,
                          rule="IF as sinabs IAF: v += R·I, floor(v/θ) spikes at v >= θ, "
                               "subtract, v >= −θ")
    return _spiking(node, ctx, 1.0, r, 0.0, "IF: v += R·I")


def map_lif(node: NirNode, ctx: MapContext) -> NeuronSpec:
    # Euler: v += dt/τ·(v_leak − v + R·I)  ->  λ = 1 − dt/τ, gain dt·R/τ, bias dt·v_leak/τ
    k = _euler(node, node.need("tau"), ctx, "tau")
    decay = 1.0 - uniform_value(node, "tau", k)
    r = node.need("r")
    bias = k * np.asarray(node.need("v_leak"), np.float64)
    return _spiking(node, ctx, decay, k * r, bias, f"LIF Euler dt={ctx.dt:g}: λ = 1 − dt/τ = {decay:g}")


def _synapse_is_instant(node: NirNode, ctx: MapContext) -> None:
    # Euler on τ_syn·dI/dt = −I + w_in·S gives I = (1 − dt/τ_syn)·I + dt/τ_syn·w_in·S: the
    # current has its own state unless dt == τ_syn (then I = w_in·S, a plain input gain).
    k = _euler(node, node.need("tau_syn"), ctx, "tau_syn")
    if not np.allclose(k, 1.0, rtol=1e-9, atol=0):
        raise Unsupported(f"{node.type} node {node.name!r}: a synaptic current with its own "
                          f"state (dt/tau_syn = {float(np.min(k)):.3g} != 1); eventsim neurons "
                          "have a membrane state only")


def _cuba(node: NirNode, ctx: MapContext, mapper) -> NeuronSpec:
    # with an instantaneous synapse a Cuba node is its LIF/LI part with input gain w_in
    _synapse_is_instant(node, ctx)
    proxy = NirNode(node.name, node.type, {**node.params, "tau": node.need("tau_mem")})
    spec = mapper(proxy, ctx)
    spec.gain = spec.gain * np.asarray(node.get("w_in", 1.0), np.float64)
    return spec


def map_cuba_lif(node: NirNode, ctx: MapContext) -> NeuronSpec:
    # Euler, current first (module docstring): α = 1 − dt/τ_syn, λ = 1 − dt/τ_mem, the scaled
    # current J = dt/τ_mem·r·I, input gain dt/τ_syn·w_in·dt/τ_mem·r
    k_syn = _euler(node, node.need("tau_syn"), ctx, "tau_syn")
    k_mem = _euler(node, node.need("tau_mem"), ctx, "tau_mem")
    alpha = 1.0 - uniform_value(node, "tau_syn", k_syn)
    decay = 1.0 - uniform_value(node, "tau_mem", k_mem)
    if np.any(np.asarray(node.get("v_leak", 0.0), np.float64) != 0):
        raise Unsupported(f"{node.type} node {node.name!r}: v_leak != 0 (a constant drive through the "
                          "synaptic current is not a constant current; eventsim has no membrane bias)")
    gain = k_syn * np.asarray(node.get("w_in", 1.0), np.float64) * k_mem * node.need("r")
    reset = _reset(node, ctx)
    return NeuronSpec("cuba_lif", node.need("v_threshold"), decay, reset, syn_decay=alpha, gain=gain,
                      rule=f"CubaLIF Euler dt={ctx.dt:g}, current first: α = {alpha:.6g}, λ = {decay:.6g}; "
                           f"fires once at v > θ; reset {reset} (next step)")


def map_cuba_li(node: NirNode, ctx: MapContext) -> NeuronSpec:
    return _cuba(node, ctx, map_li)


def map_li(node: NirNode, ctx: MapContext) -> NeuronSpec:
    # Euler: v = (1 − dt/τ)·v + dt·R/τ·I. eventsim's readout is v = v + I (no leak), which this
    # matches only for dt/τ = 0, where the input is ignored too: an LI is never expressible.
    k = _euler(node, node.need("tau"), ctx, "tau")
    raise Unsupported(f"{node.type} node {node.name!r}: a leaky integrator (λ = 1 − dt/τ = "
                      f"{1 - float(np.max(k)):.4g}) cannot be expressed: eventsim's readout "
                      "accumulates without leak (an I node can be)")


def map_i(node: NirNode, ctx: MapContext) -> NeuronSpec:
    # dv/dt = R·I: the readout accumulates R·I per step (dt-free, as for IF)
    return NeuronSpec("readout", None, None, None, gain=node.need("r"), rule="I: v += R·I")


def map_threshold(node: NirNode, ctx: MapContext) -> NeuronSpec:
    # stateless Heaviside z = [I > θ]: a binary_lif with λ = 0 (no memory); the reset is moot
    theta = node.need("threshold")
    return NeuronSpec("binary_lif", theta, 0.0, "zero", rule="Threshold: λ = 0, fires at I > θ")


# -- linear mappers --------------------------------------------------------------------------
def _weight(node: NirNode, ndim: int) -> np.ndarray:
    w = np.asarray(node.need("weight"), dtype=np.float64)
    if w.ndim != ndim:
        raise Unsupported(f"{node.type} node {node.name!r}: weight must be {ndim}-D, got {w.shape}")
    return w


def map_affine(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    w = _weight(node, 2)
    bias = node.get("bias")
    bias = None if bias is None else np.asarray(bias, np.float64).reshape(-1)
    if bias is not None and bias.shape != (w.shape[0],):
        raise Unsupported(f"{node.type} node {node.name!r}: bias shape {bias.shape} != ({w.shape[0]},)")
    return [LinearOp(node.name, "dense", weight=w, bias=bias)]


def map_conv2d(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    w = _weight(node, 4)
    where = f"{node.type} node {node.name!r}"
    padding = node.get("padding", 0)
    if np.asarray(padding).dtype.kind in "OSU":
        padding = as_text(padding)
    else:
        padding = _pair(padding, f"{where}: padding")
    hw = node.get("input_shape")
    bias = node.get("bias")
    return [LinearOp(node.name, "conv2d", weight=w,
                     bias=None if bias is None else np.asarray(bias, np.float64).reshape(-1),
                     stride=_pair(node.get("stride", 1), f"{where}: stride"), padding=padding,
                     dilation=_pair(node.get("dilation", 1), f"{where}: dilation"),
                     groups=_one(node.get("groups", 1), f"{where}: groups"),
                     input_hw=None if hw is None else _pair(hw, f"{where}: input_shape"))]


def _pool(node: NirNode, factor_of_area: bool) -> list[LinearOp]:
    where = f"{node.type} node {node.name!r}"
    k = _pair(node.need("kernel_size"), f"{where}: kernel_size")
    stride = node.get("stride")
    op = LinearOp(node.name, "sumpool2d", kernel_size=k,
                  stride=k if stride is None else _pair(stride, f"{where}: stride"),
                  padding=_pair(node.get("padding", 0), f"{where}: padding"))
    if not factor_of_area:
        return [op]
    # average = sum over the window times 1/(kh·kw) (PyTorch's count_include_pad=True)
    return [op, LinearOp(node.name, "scale", scale=1.0 / (k[0] * k[1]))]


def map_sumpool(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    return _pool(node, False)


def map_avgpool(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    return _pool(node, True)


def map_scale(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    return [LinearOp(node.name, "scale", scale=np.asarray(node.need("scale"), np.float64))]


def map_linear(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    return map_affine(NirNode(node.name, node.type, {"weight": node.need("weight")}), ctx)


def map_flatten(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    return [LinearOp(node.name, "flatten",
                     flatten_dims=(_one(node.get("start_dim", 0), f"Flatten node {node.name!r}: start_dim"),
                                   _one(node.get("end_dim", -1), f"Flatten node {node.name!r}: end_dim")))]


def map_identity(node: NirNode, ctx: MapContext) -> list[LinearOp]:
    return []


#: NIR type -> mapper. Input and Output are handled by the graph loader.
NEURON_MAPPERS = {"IF": map_if, "LIF": map_lif, "CubaLIF": map_cuba_lif, "LI": map_li,
                  "CubaLI": map_cuba_li, "I": map_i, "Threshold": map_threshold}
LINEAR_MAPPERS = {"Affine": map_affine, "Linear": map_linear, "Conv2d": map_conv2d,
                  "SumPool2d": map_sumpool, "AvgPool2d": map_avgpool, "Scale": map_scale,
                  "Flatten": map_flatten, "Identity": map_identity}


# -- shapes ----------------------------------------------------------------------------------
def _same_padding(op: LinearOp) -> tuple[int, int]:
    if op.padding == "valid":
        return (0, 0)
    if op.padding != "same":
        raise Unsupported(f"Conv2d node {op.node!r}: padding {op.padding!r} is not same/valid/ints")
    _, _, kh, kw = op.weight_array.shape
    total = [op.dilation[0] * (kh - 1), op.dilation[1] * (kw - 1)]
    if op.stride != (1, 1) or any(t % 2 for t in total):
        raise Unsupported(f"Conv2d node {op.node!r}: padding 'same' is asymmetric here")
    return (total[0] // 2, total[1] // 2)


def op_output_shape(op: LinearOp, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape ``op`` produces from ``shape``; raises Unsupported when they do not fit."""
    where = f"node {op.node!r}"
    if op.kind in ("scale", "identity"):
        if op.scale is not None and np.ndim(op.scale) and np.size(op.scale) not in (1, int(np.prod(shape))):
            raise Unsupported(f"{where}: scale of shape {np.shape(op.scale)} does not fit {shape}")
        return shape
    if op.kind == "flatten":
        start, end = op.flatten_dims
        nd = len(shape)
        if start % nd != 0 or end % nd != nd - 1:
            raise Unsupported(f"{where}: Flatten(start_dim={start}, end_dim={end}) of {shape} is "
                              "not a full flatten (eventsim populations are (C,H,W) or (N,))")
        return (int(np.prod(shape)),)
    if op.kind == "dense":
        if op.weight_array.shape[1] != int(np.prod(shape)):
            raise Unsupported(f"{where}: weight takes {op.weight_array.shape[1]} inputs, gets {shape}")
        return (op.weight_array.shape[0],)
    if len(shape) != 3:
        raise Unsupported(f"{where}: {op.kind} needs a (C,H,W) input, gets {shape}")
    if op.kind == "conv2d":
        if isinstance(op.padding, str):
            op.padding = _same_padding(op)
        if op.input_hw is not None and tuple(op.input_hw) != tuple(shape[1:]):
            raise Unsupported(f"{where}: input_shape {op.input_hw} != actual {shape[1:]}")
        proj = Projection(op.node, "conv2d", "a", "b", weight=op.weight, stride=op.stride,
                          padding=op.padding, dilation=op.dilation, groups=op.groups)
    elif isinstance(op.padding, str):  # only a Conv2d node may say "same" or "valid"
        raise Unsupported(f"{where}: padding {op.padding!r} of a {op.kind}")
    else:
        proj = Projection(op.node, "sumpool2d", "a", "b", kernel_size=op.kernel_size,
                          stride=op.stride, padding=op.padding)
    try:
        out = proj.output_shape(shape)
    except Exception as exc:  # ModelFormatError from the IR: wrong channels, empty output
        raise Unsupported(f"{where}: {exc}") from None
    if out is None:  # only a dense projection leaves its target's shape open
        raise Unsupported(f"{where}: a {op.kind} without an output shape")
    return out


# -- composing a path of linear ops into one projection ----------------------------------------
def per_channel(full: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A full-shape factor as one value per channel, or Unsupported if it varies inside one."""
    chan = np.asarray(full, np.float64).reshape(shape[0], -1)
    if not np.all(chan == chan[:, :1]):
        raise Unsupported(f"{what} varies within a channel of a (C,H,W) map")
    return chan[:, 0].copy()


def _proj(kind: str, name: str, weight=None, like: Projection | LinearOp | None = None,
          **kw) -> Projection:
    # Projection checks every value it gets: a LinearOp's loosely typed geometry is validated there
    args: dict[str, Any] = {} if like is None else {"stride": like.stride, "padding": like.padding}
    if like is not None and kind == "conv2d" and getattr(like, "kernel_size", None) is None:
        args.update(dilation=like.dilation, groups=like.groups)
    args.update(kw)
    return Projection(name, kind, "a", "b", weight=weight, **args)


def compose_path(ops: list[LinearOp], source: str, target: str, name: str,
                 source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> Projection:
    """One IR projection equal to applying ``ops`` in order (biases are handled elsewhere).

    ``ops`` may end with a ``scale`` (the target's input gain). Passes, each exact:
    1. every scale moves forward past sum-pools (a per-channel factor commutes with a
       per-channel sum) and folds into the input side of the next conv/dense;
    2. a pool composes with the following conv/dense (``compose_pool``), dense maps multiply;
    3. a trailing scale folds into the output side of the conv/dense before it; after a lone
       pool the pair becomes a depthwise convolution; alone it is an identity with a scale.
    What cannot be made one exact projection raises Unsupported.
    """
    items: list[list] = []  # ["proj", Projection, in_shape] | ["scale", full-shape factor, shape]
    shape = tuple(source_shape)
    for op in ops:
        out = op_output_shape(op, shape)
        if op.kind == "scale":
            flat = np.asarray(op.scale, np.float64).reshape(-1)
            items.append(["scale", np.broadcast_to(flat, (int(np.prod(shape)),)).reshape(shape), shape])
        elif op.kind == "conv2d":
            items.append(["proj", _proj("conv2d", op.node, op.weight, like=op), shape])
        elif op.kind == "dense":
            items.append(["proj", _proj("dense", op.node, op.weight), shape])
        elif op.kind == "sumpool2d":
            items.append(["proj", _proj("sumpool2d", op.node, like=op, kernel_size=op.kernel_size),
                          shape])
        if op.kind != "flatten":  # a dense source is read flattened in C,H,W order anyway
            shape = out
    items = _push_scales(items)
    items = _compose_weights(items, name)
    items = _fold_trailing_scale(items)
    if len(items) > 1:
        kinds = " then ".join(it[1].kind if it[0] == "proj" else "scale" for it in items)
        raise Unsupported(f"path {source!r} -> {target!r}: {kinds} cannot be composed into one "
                          "projection")
    if not items or items[0][0] == "scale":
        return _identity(name, source, target, items[0][1] if items else None, source_shape,
                         target_shape)
    p = items[0][1]
    return Projection(name, p.kind, source, target, weight=p.weight, stride=p.stride,
                      padding=p.padding, dilation=p.dilation, groups=p.groups,
                      kernel_size=p.kernel_size)


def _push_scales(items: list[list]) -> list[list]:
    out: list[list] = []
    pending = None  # [factor, shape] waiting to land on the next weighted op
    for kind, obj, shape in items:
        if kind == "scale":
            pending = [obj, shape] if pending is None else [pending[0] * obj, shape]
            continue
        if pending is not None and obj.kind == "sumpool2d":
            chan = per_channel(pending[0], shape, f"scale before {obj.name!r}")
            pooled = obj.output_shape(shape)
            out.append([kind, obj, shape])
            pending = [np.broadcast_to(chan.reshape(-1, 1, 1), pooled).copy(), pooled]
            continue
        if pending is not None and obj.kind == "dense":  # columns, element by element
            obj = _proj("dense", obj.name, obj.weight * pending[0].reshape(1, -1))
            pending = None
        elif pending is not None:  # conv2d: per input channel
            chan = per_channel(pending[0], shape, f"scale before {obj.name!r}")
            cout, cin_g = obj.weight.shape[:2]
            w = obj.weight.reshape(obj.groups, cout // obj.groups, cin_g, *obj.weight.shape[2:])
            w = w * chan.reshape(obj.groups, 1, cin_g, 1, 1)
            obj = _proj("conv2d", obj.name, w.reshape(obj.weight.shape), like=obj)
            pending = None
        out.append([kind, obj, shape])
    if pending is not None:
        out.append(["scale", pending[0], pending[1]])
    return out


def _compose_weights(items: list[list], name: str) -> list[list]:
    i = 0
    while i < len(items) - 1:
        (ka, a, sa), (kb, b, _) = items[i], items[i + 1]
        merged = None
        if ka == kb == "proj" and a.kind == "sumpool2d" and b.kind in ("dense", "conv2d"):
            try:
                merged = compose_pool(a, b, sa, name=b.name)
            except Exception as exc:  # ModelFormatError: the composition would not be exact
                raise Unsupported(str(exc)) from None
        elif ka == kb == "proj" and a.kind == b.kind == "dense":
            merged = _proj("dense", b.name, b.weight @ a.weight)
        if merged is None:
            i += 1
        else:
            items[i:i + 2] = [["proj", merged, sa]]
    return items


def _fold_trailing_scale(items: list[list]) -> list[list]:
    if len(items) < 2 or items[-1][0] != "scale" or items[-2][0] != "proj":
        return items
    (_, p, sp), (_, factor, sf) = items[-2], items[-1]
    if p.kind == "dense":  # rows, element by element
        folded = _proj("dense", p.name, p.weight * factor.reshape(-1, 1))
    else:
        chan = per_channel(factor, sf, f"scale after {p.name!r}")
        if p.kind == "conv2d":
            folded = _proj("conv2d", p.name, p.weight * chan.reshape(-1, 1, 1, 1), like=p)
        else:  # a sum-pool times a per-channel factor is a depthwise convolution
            kh, kw = p.kernel_size
            w = np.ones((sp[0], 1, kh, kw)) * chan.reshape(-1, 1, 1, 1)
            folded = Projection(p.name, "conv2d", "a", "b", weight=w, stride=p.stride,
                                padding=p.padding, groups=sp[0])
    return items[:-2] + [["proj", folded, sp]]


def _identity(name, source, target, scale, source_shape, target_shape) -> Projection:
    if tuple(source_shape) != tuple(target_shape):
        raise Unsupported(f"edge {source!r} -> {target!r} joins shapes {source_shape} and "
                          f"{target_shape} without a linear node")
    shape = tuple(source_shape)
    chan = None if scale is None else per_channel(scale, shape, f"scale on {source!r} -> {target!r}")
    if chan is not None and np.all(chan == 1.0):
        chan = None
    return Projection(name, "identity", source, target, scale=chan)


def apply_op(op: LinearOp, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``op`` applied to the values ``x`` of ``shape`` (float64), for propagating biases."""
    out = op_output_shape(op, shape)
    if op.kind in ("flatten", "identity"):
        return x.reshape(out) if op.kind == "flatten" else x
    if op.kind == "scale":
        factor = np.asarray(op.scale, np.float64).reshape(-1)
        return x * factor.reshape(shape if factor.size > 1 else ())
    return apply_projection(_as_ir(op), x, out)


def _as_ir(op: LinearOp) -> Projection:
    if op.kind == "dense":
        return _proj("dense", op.node, op.weight)
    if op.kind == "conv2d":
        return _proj("conv2d", op.node, op.weight, like=op)
    return _proj("sumpool2d", op.node, like=op, kernel_size=op.kernel_size)
