"""The network IR: populations of neurons and the projections between them.

A network is a DAG of :class:`Population` objects connected by :class:`Projection` objects.
Each time step, every population (in ``Network.order``) sums the currents of all projections
into it (each applied to its source's spikes of the same step), adds its bias and updates its
neurons. Everything is validated on construction: an invalid object raises
:class:`~eventsim.errors.ModelFormatError` and cannot exist.

Kind strings are stable identifiers stored in ``model.h5``; they do not depend on class names.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelFormatError, brief
from .limits import MAX_NEURONS, MAX_TIMESTEPS

#: Population kinds. ``input`` holds the input (event counts or analog frame values);
#: the spiking kinds are documented in :class:`Population`; ``readout`` integrates without
#: spiking and its final value is the network output.
POPULATION_KINDS = ("input", "ternary_lif", "binary_lif", "lif", "if", "readout")
SPIKING_KINDS = ("ternary_lif", "binary_lif", "lif", "if")
RESETS = ("zero", "subtract")
PROJECTION_KINDS = ("conv2d", "dense", "identity", "sumpool2d")
INPUT_KINDS = ("events", "frames")
POLARITIES = ("split", "signed")


def _fail(where: str, msg: str) -> None:
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
    - ``readout``: ``v = v + I``, never spikes; the network output is ``v`` after the last step.

    For every spiking kind the optional floor ``v_min`` is applied right after integration
    (``v = max(v, v_min)``), before the threshold test.
    """

    name: str  # unique name; "input" for the input population
    kind: str  # one of POPULATION_KINDS
    shape: tuple[int, ...]  # (C, H, W) or (N,)
    threshold: float | None = None  # θ, spiking kinds only
    decay: float | None = None  # λ, spiking kinds only (1.0 for "if")
    reset: str | None = None  # "zero" or "subtract", spiking kinds only
    v_min: float | None = None  # membrane floor after integration, or None
    multi_spike: bool = False  # "if"/"lif": emit floor(v/θ) spikes per step
    bias: np.ndarray | None = None  # (C,) for (C,H,W) shapes, (N,) for 1-D; added every step

    def __post_init__(self) -> None:
        where = f"population {brief(self.name)}"
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            _fail(where, "name must be a non-empty string without '/'")
        if self.kind not in POPULATION_KINDS:
            _fail(where, f"unknown kind {brief(self.kind)} (known: {', '.join(POPULATION_KINDS)})")
        shape = tuple(int(s) for s in np.atleast_1d(np.asarray(self.shape, dtype=np.int64)))
        if len(shape) not in (1, 3) or min(shape) < 1:
            _fail(where, f"shape must be (C,H,W) or (N,) of positive ints, got {brief(self.shape)}")
        self.shape = shape
        if self.kind in SPIKING_KINDS:
            if self.threshold is None or not math.isfinite(self.threshold) or self.threshold <= 0:
                _fail(where, f"threshold must be a finite positive number, got {brief(self.threshold)}")
            self.threshold = float(self.threshold)
            if self.decay is None:
                self.decay = 1.0
            self.decay = float(self.decay)
            if not 0.0 <= self.decay <= 1.0:
                _fail(where, f"decay must lie in [0, 1], got {self.decay}")
            if self.kind == "if" and self.decay != 1.0:
                _fail(where, f"kind 'if' has decay 1.0, got {self.decay} (use kind 'lif')")
            if self.reset is None:
                self.reset = "zero"
            if self.reset not in RESETS:
                _fail(where, f"reset must be one of {RESETS}, got {brief(self.reset)}")
            if self.v_min is not None:
                self.v_min = float(self.v_min)
                if not math.isfinite(self.v_min):
                    _fail(where, "v_min must be finite")
            self.multi_spike = bool(self.multi_spike)
            if self.multi_spike and self.kind not in ("if", "lif"):
                _fail(where, "multi_spike is only defined for kinds 'if' and 'lif'")
        else:
            if self.threshold is not None or self.decay is not None or self.reset is not None:
                _fail(where, f"kind {brief(self.kind)} has no threshold, decay or reset")
            if self.v_min is not None or self.multi_spike:
                _fail(where, f"kind {brief(self.kind)} has no v_min or multi_spike")
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

    def __post_init__(self) -> None:
        where = f"projection {brief(self.name)}"
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            _fail(where, "name must be a non-empty string without '/'")
        if self.kind not in PROJECTION_KINDS:
            _fail(where, f"unknown kind {brief(self.kind)} (known: {', '.join(PROJECTION_KINDS)})")
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
            if self.weight.shape[1] != n_in:
                _fail(where, f"weight has {self.weight.shape[1]} inputs, source has {n_in} neurons")
            return None
        if self.kind == "identity":
            if self.scale is not None and self.scale.shape != (source_shape[0],):
                _fail(where, f"scale must have shape ({source_shape[0]},), got {self.scale.shape}")
            return tuple(source_shape)
        if len(source_shape) != 3:
            _fail(where, f"{self.kind} needs a (C,H,W) source, got shape {source_shape}")
        c, h, w = self.pooled_shape(source_shape)
        if self.kind == "sumpool2d":
            kh, kw = self.kernel_size
            cout = c
        else:
            cout, cin_g, kh, kw = self.weight.shape
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
        for proj in self.projections:
            where = f"projection {proj.name!r}"
            for end in (proj.source, proj.target):
                if end not in pops:
                    _fail(where, f"unknown population {end!r}")
            if pops[proj.target].kind == "input":
                _fail(where, "cannot project into the input population")
            if pops[proj.source].kind == "readout":
                _fail(where, "a readout has no spikes to project")
            if rank[proj.source] >= rank[proj.target]:
                _fail(where, f"goes from {proj.source!r} back to {proj.target!r}: projections "
                      "must follow /order (no recurrence)")
            out = proj.output_shape(pops[proj.source].shape)
            tshape = pops[proj.target].shape
            if out is None:
                if proj.weight.shape[0] != int(np.prod(tshape)):
                    _fail(where, f"weight has {proj.weight.shape[0]} outputs, target has "
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


def topological_order(populations: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Order ``populations`` so every edge goes forward; ``input`` first; stable otherwise.

    Raises ModelFormatError naming the populations on a cycle.
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
        _fail("network", f"recurrent connections are not supported (cycle through {brief(cyc, 200)})")
    return out
