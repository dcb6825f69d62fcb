"""The network IR: populations of neurons and the projections between them.

A network is a graph of :class:`Population` objects connected by :class:`Projection` objects.
Each time step, every population (in ``Network.order``) sums the currents of all projections
into it, adds its bias and updates its neurons. A projection with ``delay = d`` delivers its
source's spikes of step ``t - d`` (nothing in the first ``d`` steps); with ``d = 0`` the spikes
of the same step. Projections with ``delay = 0`` form a DAG that ``order`` follows; a cycle is
legal only through a delayed projection (a recurrent network). Everything is validated on
construction: an invalid object raises :class:`~eventsim.errors.ModelFormatError` and cannot
exist.

Kind strings are stable identifiers stored in ``model.h5`` (the registry is
:mod:`eventsim.network.kinds`); they do not depend on class names.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np

from ..errors import ModelFormatError, brief
from .kinds import NEURON_KINDS, PROJECTION_KINDS, SPIKING_KINDS
from .limits import MAX_DELAY, MAX_NEURONS, MAX_TIMESTEPS

#: Population kinds (see :mod:`eventsim.network.kinds`). ``input`` holds the input (event counts
#: or analog frame values); the spiking kinds are documented in :class:`Population`; ``readout``
#: integrates without spiking and its final value is the network output.
POPULATION_KINDS = tuple(NEURON_KINDS)
RESETS = ("zero", "subtract")
INPUT_KINDS = ("events", "frames")
POLARITIES = ("split", "signed")


def _fail(where: str, msg: str) -> NoReturn:
    raise ModelFormatError(f"{where}: {msg}")


def _pair(value, where: str, name: str) -> tuple[int, int]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2:
        _fail(where, f"{name} must be an int or a pair of ints, got {brief(value)}")
    return int(arr[0]), int(arr[1])


@dataclass
class Population:
    """A group of neurons of one kind with a shape ``(C, H, W)`` or ``(N,)``.

    Per time step, with input current ``I`` (sum of projections + bias), membrane ``v``,
    threshold ``θ`` and decay ``λ``:

    - ``ternary_lif``: ``v = λ·v + I``; ``s = +1 if v >= θ, -1 if v <= -θ, else 0``;
      where ``s != 0``: ``v = 0`` (reset ``zero``) or ``v -= s·θ`` (``subtract``).
    - ``binary_lif``: as ternary, but ``s = 1 if v > θ`` (strict) and never −1.
    - ``lif``: ``v = λ·v + I``; ``s = 1 if v >= θ`` (with ``multi_spike``:
      ``s = floor(v/θ)`` for ``v >= θ``); reset ``zero`` or ``subtract`` (``v -= s·θ``).
    - ``if``: ``lif`` with ``λ = 1``.
    - ``cuba_lif`` (current-based LIF, snnTorch's ``Synaptic``; synaptic current ``i``,
      ``α = syn_decay``): ``r = [v > θ]`` (the neuron spiked in the previous step: ``v`` is kept
      un-reset); ``i = α·i + I``; ``v = λ·v + i``; where ``r``: ``v -= θ`` (``subtract``) or
      ``v = 0`` (``zero``); ``s = 1 if v > θ``. The reset of a spike takes effect in the next
      step, as snnTorch applies it (DESIGN.md, "cuba_lif").
    - ``readout``: ``v = v + I``, never spikes; the network output is ``v`` after the last step.

    For ``ternary_lif``/``binary_lif``/``lif``/``if`` the optional floor ``v_min`` is applied right
    after integration (``v = max(v, v_min)``), before the threshold test.
    """

    name: str  # unique name; "input" for the input population
    kind: str  # one of POPULATION_KINDS
    shape: tuple[int, ...]  # (C, H, W) or (N,)
    threshold: float | None = None  # θ, spiking kinds only
    decay: float | None = None  # λ (membrane), spiking kinds only (1.0 for "if")
    reset: str | None = None  # "zero" or "subtract", spiking kinds only
    v_min: float | None = None  # membrane floor after integration, or None
    multi_spike: bool = False  # "if"/"lif": emit floor(v/θ) spikes per step
    bias: np.ndarray | None = None  # (C,) for (C,H,W) shapes, (N,) for 1-D; added every step
    syn_decay: float | None = None  # α of the synaptic current, "cuba_lif" only

    def __post_init__(self) -> None:
        where = f"population {brief(self.name)}"
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            _fail(where, "name must be a non-empty string without '/'")
        if self.kind not in NEURON_KINDS:
            _fail(where, f"unknown kind {brief(self.kind)} (known: {', '.join(POPULATION_KINDS)})")
        kind = NEURON_KINDS[self.kind]
        shape = tuple(int(s) for s in np.atleast_1d(np.asarray(self.shape, dtype=np.int64)))
        if len(shape) not in (1, 3) or min(shape) < 1:
            _fail(where, f"shape must be (C,H,W) or (N,) of positive ints, got {brief(self.shape)}")
        self.shape = shape
        foreign = [n for n in ("threshold", "decay", "syn_decay", "reset", "v_min")
                   if n not in kind.params and getattr(self, n) is not None]
        if self.multi_spike and "multi_spike" not in kind.params:
            foreign.append("multi_spike")
        if foreign:
            have = [n for n in kind.params] or ["no parameters"]
            _fail(where, f"kind {brief(self.kind)} has no {', '.join(foreign)} (it has: {', '.join(have)})")
        if "threshold" in kind.params:
            if self.threshold is None or not math.isfinite(self.threshold) or self.threshold <= 0:
                _fail(where, f"threshold must be a finite positive number, got {brief(self.threshold)}")
            self.threshold = float(self.threshold)
        if "decay" in kind.params:
            self.decay = float(1.0 if self.decay is None else self.decay)
            if not 0.0 <= self.decay <= 1.0:
                _fail(where, f"decay must lie in [0, 1], got {self.decay}")
            if kind.fixed_decay is not None and self.decay != kind.fixed_decay:
                _fail(where, f"kind {self.kind!r} has decay {kind.fixed_decay}, got {self.decay} "
                      "(use kind 'lif')")
        if "syn_decay" in kind.params:
            if self.syn_decay is None or not 0.0 <= float(self.syn_decay) <= 1.0:
                _fail(where, f"syn_decay (α) must lie in [0, 1], got {brief(self.syn_decay)}")
            self.syn_decay = float(self.syn_decay)
        if "reset" in kind.params:
            if self.reset is None:
                self.reset = "zero"
            if self.reset not in RESETS:
                _fail(where, f"reset must be one of {RESETS}, got {brief(self.reset)}")
        if self.v_min is not None:
            self.v_min = float(self.v_min)
            if not math.isfinite(self.v_min):
                _fail(where, "v_min must be finite")
        self.multi_spike = bool(self.multi_spike)
        if self.bias is not None:
            if self.kind == "input":
                _fail(where, "the input population has no bias")
            bias = np.asarray(self.bias)
            if bias.shape != (self.shape[0],):
                _fail(where, f"bias must have shape ({self.shape[0]},), got {bias.shape}")
            if not np.all(np.isfinite(bias)):
                _fail(where, "bias contains non-finite values")
            self.bias = bias

    @property
    def size(self) -> int:
        """Number of neurons."""
        return int(np.prod(self.shape))

    @property
    def spiking(self) -> bool:
        return self.kind in SPIKING_KINDS

    def _param(self, name: str, value: float | None) -> float:
        if value is None:
            _fail(f"population {brief(self.name)}", f"kind {brief(self.kind)} has no {name}")
        return value

    @property
    def threshold_value(self) -> float:
        """θ of a spiking population; ModelFormatError for a kind without one."""
        return self._param("threshold", self.threshold)

    @property
    def decay_value(self) -> float:
        """λ of a spiking population; ModelFormatError for a kind without one."""
        return self._param("decay", self.decay)

    @property
    def syn_decay_value(self) -> float:
        """α of a ``cuba_lif`` population; ModelFormatError for other kinds."""
        return self._param("syn_decay", self.syn_decay)

    @property
    def kind_info(self):
        """This population's :class:`~eventsim.network.kinds.NeuronKind` registry entry."""
        return NEURON_KINDS[self.kind]


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution or pooling along one axis (PyTorch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass
class Projection:
    """A linear map from the spikes of ``source`` to the input current of ``target``.

    - ``conv2d``: ``weight`` ``(Cout, Cin/groups, kh, kw)``, PyTorch cross-correlation with
      ``stride``, ``padding`` (zeros), ``dilation``, ``groups``.
    - ``dense``: ``weight`` ``(N_out, N_in)``; a ``(C,H,W)`` source is flattened in C, H, W order.
    - ``identity``: source and target have the same shape; ``scale`` ``(C,)`` multiplies
      channel c (absent: 1). This is how a folded α lands on a residual shortcut.
    - ``sumpool2d``: per-channel sum over ``kernel_size`` windows with ``stride``/``padding``.

    ``delay`` (steps, default 0): the projection delivers its source's spikes of step ``t − delay``
    (nothing while ``t < delay``). A cycle of projections must contain a delayed one.

    A ``conv2d`` may carry ``pre_pool = ((kh, kw), (sh, sw), (ph, pw))``: the projection is then
    ``conv(sumpool(kernel, stride, padding)(x))`` (an average pool's factor folded into
    ``weight``); the weight geometry applies to the pooled map. ``None``: no pool. It exists for
    pool + padded conv chains that cannot be composed exactly into one kernel (ResNet stems with
    an even map, see ``compose.py``).
    """

    name: str  # unique name
    kind: str  # one of PROJECTION_KINDS
    source: str  # source population name
    target: str  # target population name
    weight: np.ndarray | None = None  # conv2d / dense only
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    kernel_size: tuple[int, int] | None = None  # sumpool2d only
    scale: np.ndarray | None = None  # identity only, (C,)
    pre_pool: tuple | None = None  # conv2d only: ((kh, kw), (sh, sw), (ph, pw)) sum-pool applied first
    delay: int = 0  # steps between a source spike and its arrival (0: the same step)

    def __post_init__(self) -> None:
        where = f"projection {brief(self.name)}"
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            _fail(where, "name must be a non-empty string without '/'")
        if self.kind not in PROJECTION_KINDS:
            _fail(where, f"unknown kind {brief(self.kind)} (known: {', '.join(PROJECTION_KINDS)})")
        if isinstance(self.delay, (bool, np.bool_)) or not isinstance(self.delay, (int, np.integer)) \
                or not 0 <= int(self.delay) <= MAX_DELAY:
            _fail(where, f"delay must be an integer number of steps in [0, {MAX_DELAY:,}], "
                  f"got {brief(self.delay)}")
        self.delay = int(self.delay)
        self.stride = _pair(self.stride, where, "stride")
        self.padding = _pair(self.padding, where, "padding")
        self.dilation = _pair(self.dilation, where, "dilation")
        self.groups = int(self.groups)
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            _fail(where, "stride and dilation must be >= 1 and padding >= 0")
        if self.groups < 1:
            _fail(where, "groups must be >= 1")
        if self.kind in ("conv2d", "dense"):
            if self.weight is None:
                _fail(where, f"kind {brief(self.kind)} needs a weight")
            self.weight = np.asarray(self.weight)
            if self.weight.dtype.kind != "f" or not np.all(np.isfinite(self.weight)):
                _fail(where, "weight must be a finite float array")
            want_ndim = 4 if self.kind == "conv2d" else 2
            if self.weight.ndim != want_ndim:
                _fail(where, f"weight must be {want_ndim}-D, got shape {self.weight.shape}")
        elif self.weight is not None:
            _fail(where, f"kind {brief(self.kind)} has no weight")
        if self.kind == "sumpool2d":
            if self.kernel_size is None:
                _fail(where, "sumpool2d needs kernel_size")
            self.kernel_size = _pair(self.kernel_size, where, "kernel_size")
            if min(self.kernel_size) < 1:
                _fail(where, "kernel_size must be >= 1")
        elif self.kernel_size is not None:
            _fail(where, f"kind {brief(self.kind)} has no kernel_size")
        if self.scale is not None:
            if self.kind != "identity":
                _fail(where, f"kind {brief(self.kind)} has no scale")
            self.scale = np.asarray(self.scale)
            if self.scale.ndim != 1 or not np.all(np.isfinite(self.scale)):
                _fail(where, "scale must be a finite 1-D array")
        if self.kind != "conv2d" and (self.groups != 1 or self.dilation != (1, 1)):
            _fail(where, f"kind {brief(self.kind)} has no groups or dilation")
        if self.kind in ("dense", "identity") and (self.stride != (1, 1) or self.padding != (0, 0)):
            _fail(where, f"kind {brief(self.kind)} has no stride or padding")
        if self.pre_pool is not None:
            if self.kind != "conv2d":
                _fail(where, f"kind {brief(self.kind)} has no pre_pool")
            if len(self.pre_pool) != 3:
                _fail(where, f"pre_pool must be (kernel_size, stride, padding), got {brief(self.pre_pool)}")
            k, st, pad = (_pair(v, where, f"pre_pool {n}")
                          for v, n in zip(self.pre_pool, ("kernel_size", "stride", "padding")))
            if min(k) < 1 or min(st) < 1 or min(pad) < 0:
                _fail(where, "pre_pool kernel_size and stride must be >= 1 and padding >= 0")
            self.pre_pool = (k, st, pad)

    @property
    def weight_array(self) -> np.ndarray:
        """The weight of a ``conv2d`` or ``dense`` projection; ModelFormatError for other kinds."""
        if self.weight is None:
            _fail(f"projection {brief(self.name)}", f"kind {brief(self.kind)} has no weight")
        return self.weight

    @property
    def pool_kernel(self) -> tuple[int, int]:
        """``kernel_size`` of a ``sumpool2d`` projection; ModelFormatError for other kinds."""
        if self.kernel_size is None:
            _fail(f"projection {brief(self.name)}", f"kind {brief(self.kind)} has no kernel_size")
        return self.kernel_size

    def pooled_shape(self, source_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape the conv of a ``pre_pool`` projection reads (``source_shape`` without one)."""
        if self.pre_pool is None:
            return tuple(source_shape)
        if len(source_shape) != 3:
            _fail(f"projection {brief(self.name)}", f"pre_pool needs a (C,H,W) source, got {source_shape}")
        (kh, kw), (sh, sw), (ph, pw) = self.pre_pool
        c, h, w = source_shape
        hp, wp = conv_output_size(h, kh, sh, ph, 1), conv_output_size(w, kw, sw, pw, 1)
        if hp < 1 or wp < 1:
            _fail(f"projection {brief(self.name)}",
                  f"pre_pool output would be empty for source {source_shape}")
        return (c, hp, wp)

    def output_shape(self, source_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The target shape this projection produces from ``source_shape`` (None: any of size N)."""
        where = f"projection {brief(self.name)}"
        if self.kind == "dense":
            n_in = int(np.prod(source_shape))
            if self.weight_array.shape[1] != n_in:
                _fail(where, f"weight has {self.weight_array.shape[1]} inputs, source has {n_in} neurons")
            return None
        if self.kind == "identity":
            if self.scale is not None and self.scale.shape != (source_shape[0],):
                _fail(where, f"scale must have shape ({source_shape[0]},), got {self.scale.shape}")
            return tuple(source_shape)
        if len(source_shape) != 3:
            _fail(where, f"{self.kind} needs a (C,H,W) source, got shape {source_shape}")
        c, h, w = self.pooled_shape(source_shape)
        if self.kind == "sumpool2d":
            kh, kw = self.pool_kernel
            cout = c
        else:
            cout, cin_g, kh, kw = self.weight_array.shape
            if c % self.groups or cout % self.groups:
                _fail(where, f"groups={self.groups} must divide Cin={c} and Cout={cout}")
            if cin_g * self.groups != c:
                _fail(where, f"weight expects {cin_g * self.groups} input channels, source has {c}")
        dil = self.dilation
        ho = conv_output_size(h, kh, self.stride[0], self.padding[0], dil[0])
        wo = conv_output_size(w, kw, self.stride[1], self.padding[1], dil[1])
        if ho < 1 or wo < 1:
            _fail(where, f"output would be empty for source shape {source_shape}")
        return (cout, ho, wo)


@dataclass
class InputSpec:
    """How outside input reaches the ``input`` population."""

    kind: str = "events"  # "events" (spikes from an event stream) or "frames" (analog values)
    polarity: str = "split"  # events: "split" (2 channels, OFF=0, ON=1) or "signed" (1 channel)
    sensor: tuple[int, int] | None = None  # (W, H) of the camera the model expects, if known

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            _fail("input", f"input_kind must be one of {INPUT_KINDS}, got {brief(self.kind)}")
        if self.polarity not in POLARITIES:
            _fail("input", f"polarity must be one of {POLARITIES}, got {brief(self.polarity)}")
        if self.sensor is not None:
            self.sensor = _pair(self.sensor, "input", "sensor")
            if min(self.sensor) < 1:
                _fail("input", f"sensor size must be positive, got {self.sensor}")


@dataclass
class Network:
    """A validated SNN: populations, projections, execution order and input description."""

    name: str  # a human name for the model
    populations: list[Population]  # the input population included
    projections: list[Projection]
    order: list[str]  # population names in topological order, "input" first
    timesteps: int = 1  # default number of time steps
    input: InputSpec = field(default_factory=InputSpec)
    provenance: dict = field(default_factory=dict)  # source checkpoint, architecture, folds

    def __post_init__(self) -> None:
        names = [p.name for p in self.populations]
        if len(set(names)) != len(names):
            _fail("network", "population names are not unique")
        pnames = [p.name for p in self.projections]
        if len(set(pnames)) != len(pnames):
            _fail("network", "projection names are not unique")
        self.timesteps = int(self.timesteps)
        if not 1 <= self.timesteps <= MAX_TIMESTEPS:
            _fail("network", f"timesteps must lie in [1, {MAX_TIMESTEPS:,}], got {brief(self.timesteps)}")
        neurons = sum(p.size for p in self.populations)
        if neurons > MAX_NEURONS:
            _fail("network", f"{neurons:,} neurons, more than eventsim's limit of {MAX_NEURONS:,}")
        pops = {p.name: p for p in self.populations}
        if "input" not in pops or pops["input"].kind != "input":
            _fail("network", "needs a population named 'input' of kind 'input'")
        if [n for n in names if pops[n].kind == "input"] != ["input"]:
            _fail("network", "only the population named 'input' may have kind 'input'")
        self.order = [str(n) for n in self.order]
        if sorted(self.order) != sorted(names):
            _fail("network", "/order must list every population exactly once")
        if self.order[0] != "input":
            _fail("network", "/order must start with 'input'")
        if self.input.kind == "events":
            want_c = 2 if self.input.polarity == "split" else 1
            shp = pops["input"].shape
            if len(shp) != 3 or shp[0] != want_c:
                _fail("network", f"event input with polarity {self.input.polarity!r} needs an "
                      f"input shape ({want_c},H,W), got {shp}")
        rank = {n: i for i, n in enumerate(self.order)}
        _check_zero_delay_cycles(self.order, self.projections)
        for proj in self.projections:
            where = f"projection {proj.name!r}"
            for end in (proj.source, proj.target):
                if end not in pops:
                    _fail(where, f"unknown population {end!r}")
            if pops[proj.target].kind == "input":
                _fail(where, "cannot project into the input population")
            if pops[proj.source].kind == "readout":
                _fail(where, "a readout has no spikes to project")
            if proj.delay == 0 and rank[proj.source] >= rank[proj.target]:
                _fail(where, f"goes from {proj.source!r} back to {proj.target!r}: projections "
                      "without a delay must follow /order")
            out = proj.output_shape(pops[proj.source].shape)
            tshape = pops[proj.target].shape
            if out is None:
                if proj.weight_array.shape[0] != int(np.prod(tshape)):
                    _fail(where, f"weight has {proj.weight_array.shape[0]} outputs, target has "
                          f"{int(np.prod(tshape))} neurons")
            elif out != tshape:
                _fail(where, f"produces shape {out}, target {proj.target!r} has shape {tshape}")
        fed = {p.target for p in self.projections}
        for name in names:
            if name != "input" and name not in fed:
                _fail(f"population {name!r}", "has no incoming projection")
        if not any(p.kind == "readout" for p in self.populations):
            _fail("network", "needs a readout population (the output)")

    # -- lookups ---------------------------------------------------------------------------
    def population(self, name: str) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(name)

    def incoming(self, name: str) -> list[Projection]:
        """Projections into population ``name``, in file order."""
        return [p for p in self.projections if p.target == name]

    @property
    def output_population(self) -> Population:
        """The readout population that comes last in ``order``."""
        readouts = [n for n in self.order if self.population(n).kind == "readout"]
        return self.population(readouts[-1])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.population("input").shape

    def __repr__(self) -> str:
        # the default dataclass repr would print every weight array
        shape = "x".join(map(str, self.input_shape))
        return (f"Network({self.name!r}, {len(self.populations)} populations, "
                f"{len(self.projections)} projections, {self.input.kind} input {shape}, "
                f"T={self.timesteps})")

    @property
    def sensor_size(self) -> tuple[int, int] | None:
        """(W, H) of the camera the model expects: its stated sensor, else its input map's size."""
        if self.input.sensor is not None:
            return self.input.sensor
        shape = self.input_shape
        return (int(shape[2]), int(shape[1])) if len(shape) == 3 else None

    def ordered_populations(self) -> list[Population]:
        return [self.population(n) for n in self.order]

    @property
    def recurrent(self) -> bool:
        """True when some projection is delayed (the network has state beyond its membranes)."""
        return any(q.delay for q in self.projections)

    def is_encoder(self, proj: Projection) -> bool:
        """True for a projection out of an analog (frame) input: its work counts as MACs."""
        return self.input.kind == "frames" and proj.source == "input"

    def recurrent_groups(self) -> list[list[str]]:
        """Populations that must step time by time together, in ``order``: each strongly
        connected component of the projection graph (delays included) that has a cycle.

        Everything else is feed-forward: a population outside every group can run all its steps
        before the next population starts (layer-major), as long as its sources ran first.
        """
        edges = [(q.source, q.target) for q in self.projections]
        comp = strongly_connected(self.order, edges)
        cyclic = {comp[a] for a, b in edges if comp[a] == comp[b]}
        groups: dict[str, list[str]] = {}
        for n in self.order:
            if comp[n] in cyclic:
                groups.setdefault(comp[n], []).append(n)
        return list(groups.values())


def strongly_connected(names: list[str], edges: list[tuple[str, str]]) -> dict[str, str]:
    """Strongly connected components (Tarjan, iterative): ``{node: its component's root}``."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    comp: dict[str, str] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in names:
        if root in index:
            continue
        work = [(root, 0)]  # (node, position in its successor list)
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            elif i <= len(succ[v]):  # back from the child succ[v][i - 1]
                low[v] = min(low[v], low[succ[v][i - 1]])
            while i < len(succ[v]) and succ[v][i] in index:
                w = succ[v][i]
                if w in on_stack:
                    low[v] = min(low[v], index[w])
                i += 1
            if i < len(succ[v]):
                work.append((v, i + 1))
                work.append((succ[v][i], 0))
                continue
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp[w] = v
                    if w == v:
                        break
    return comp


def back_edges(names: list[str], edges: list[tuple[str, str]], start: str) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first walk from ``start`` (then from every node not
    reached, in name order), iteratively; removing them leaves the graph acyclic."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {}  # 1: on the walk's stack, 2: done
    back: set[tuple[str, str]] = set()
    for root in [start] + sorted(names):
        if root in state:
            continue
        state[root] = 1
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if state.get(w) == 1:
                    back.add((v, w))
                elif w not in state:
                    state[w] = 1
                    work.append((w, 0))
            else:
                state[v] = 2
    return back


def _check_zero_delay_cycles(names: list[str], projections: list[Projection]) -> None:
    """Refuse cycles of projections without a delay, naming the projections on them."""
    zero = [q for q in projections if q.delay == 0]
    comp = strongly_connected(names, [(q.source, q.target) for q in zero])
    on_cycle = [q.name for q in zero if comp[q.source] == comp[q.target]]
    if on_cycle:
        _fail("network", f"a cycle of projections without a delay ({brief(on_cycle, 200)}): "
              "each step would need its own result; give one projection of the cycle delay >= 1")


def topological_order(populations: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Order ``populations`` so every edge goes forward; ``input`` first; stable otherwise.

    ``edges`` are the zero-delay connections (a delayed projection may go backward). Raises
    ModelFormatError naming the populations on a cycle.
    """
    rank = {n: (n != "input", i) for i, n in enumerate(populations)}
    indeg = {n: 0 for n in populations}
    succ: dict[str, list[str]] = {n: [] for n in populations}
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    # Kahn's algorithm, first-in first-out, in O(V + E)
    ready = deque(sorted((n for n in populations if indeg[n] == 0), key=rank.__getitem__))
    out: list[str] = []
    while ready:
        n = ready.popleft()
        out.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if len(out) != len(populations):
        cyc = sorted(n for n in populations if indeg[n] > 0)
        _fail("network", f"a cycle without a delay through {brief(cyc, 200)} (a recurrent connection "
              "needs a delayed projection)")
    return out
