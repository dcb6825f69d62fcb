"""Symbolic construction of an IR network from PyTorch-style layer calls, with folding.

An architecture map calls ``conv``, ``batchnorm``, ``avgpool``, ``add``, ``lif``, ``readout`` on
:class:`Value` objects, in the order the PyTorch forward does. A Value is the input current
a layer would see, kept as a sum of :class:`Term` s (linear maps of one population's spikes)
plus a per-channel bias. Nothing runs: each call folds into the pending terms, in float64:

- BatchNorm (eval statistics, eps) scales the rows of the pending weights and shifts the bias;
- the amplitude alpha of a LIF scales the input channels of every map that reads its spikes
  (an identity shortcut becomes an identity with a per-channel scale);
- average pooling stays pending and is composed with the next linear map;
- the readout takes 1/T of the temporal mean into its weights and bias.

``lif`` and ``readout`` turn the pending terms into projections. Every fold is appended to
``Builder.folds`` for the model's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ConversionError, ModelFormatError
from ..network.compose import compose_pool
from ..network.ir import Population, Projection, conv_output_size

LIF_DECAY = 0.25  # the paper's membrane decay per step
LIF_THRESHOLD = 0.5  # fires at |v / V_th| >= 0.5 with V_th = 1, i.e. theta = 0.5


@dataclass
class Pool:
    """A pending average pool: sum over windows times ``factor``."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    factor: float


@dataclass
class Term:
    """One linear map of the spikes of population ``source`` (shape ``source_shape``).

    Applied as: multiply channel c by ``scale[c]`` (only while ``linear`` is None; once a
    linear map exists the scale lives in its weights), pool with ``pool``, then ``linear``.
    """

    source: str  # population whose spikes (values in {-1, 0, 1}) this term reads
    source_shape: tuple[int, ...]
    label: str  # module path that defines the map (names the projection)
    scale: np.ndarray | None = None  # (C,) per-channel factor, while linear is None
    pool: Pool | None = None  # pending average pool on the source
    linear: Projection | None = None  # conv2d or dense, weights already scaled


@dataclass
class Value:
    """A pre-activation: ``sum(terms) + bias`` per channel, of shape ``shape``."""

    terms: list[Term]
    bias: np.ndarray  # (C,) (or (N,) for a flat value)
    shape: tuple[int, ...]


@dataclass
class Builder:
    """Accumulates populations and projections; records every fold."""

    populations: list[Population] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)
    folds: list[dict] = field(default_factory=list)

    # -- sources ---------------------------------------------------------------------------
    def spikes(self, population: str, shape: tuple[int, ...], alpha: np.ndarray | None = None,
               label: str | None = None) -> Value:
        """The output of population ``population`` as seen by its consumers (alpha * s)."""
        scale = None if alpha is None else np.asarray(alpha, np.float64)
        return Value([Term(population, tuple(shape), label or population, scale=scale)],
                     np.zeros(shape[0]), tuple(shape))

    # -- linear layers ---------------------------------------------------------------------
    def conv(self, x: Value, label: str, weight: np.ndarray, bias: np.ndarray | None,
             stride=(1, 1), padding=(0, 0)) -> Value:
        """A 2-D convolution (PyTorch semantics, groups 1) of ``x``."""
        c, h, w = x.shape
        cout, cin, kh, kw = weight.shape
        if cin != c:
            raise ConversionError(f"{label}: weight expects {cin} input channels, gets {c}")
        if np.any(x.bias != 0):
            raise ConversionError(f"{label}: a convolution of a biased value cannot be folded")
        stride, padding = _pair(stride), _pair(padding)
        ho = conv_output_size(h, kh, stride[0], padding[0], 1)
        wo = conv_output_size(w, kw, stride[1], padding[1], 1)
        if ho < 1 or wo < 1:
            raise ConversionError(f"{label}: input {x.shape} is too small for this layer")
        terms = []
        for t in x.terms:
            if t.linear is not None:
                raise ConversionError(f"{label}: two linear maps without a neuron in between")
            wt = weight if t.scale is None else weight * t.scale[None, :, None, None]
            proj = Projection(label, "conv2d", t.source, "?", weight=wt, stride=stride,
                              padding=padding)
            terms.append(replace(t, label=label, scale=None, linear=proj))
            self._record_alpha(t, label)
        b = np.zeros(cout) if bias is None else np.asarray(bias, np.float64)
        return Value(terms, b, (cout, ho, wo))

    def dense(self, x: Value, label: str, weight: np.ndarray, bias: np.ndarray | None) -> Value:
        """A Linear layer on the flattened (C, H, W order) ``x``."""
        n_in = int(np.prod(x.shape))
        if weight.shape[1] != n_in:
            raise ConversionError(f"{label}: weight expects {weight.shape[1]} inputs, gets {n_in}")
        if np.any(x.bias != 0):
            raise ConversionError(f"{label}: a linear layer on a biased value cannot be folded")
        terms = []
        per_pixel = n_in // x.shape[0]
        for t in x.terms:
            if t.linear is not None:
                raise ConversionError(f"{label}: two linear maps without a neuron in between")
            wt = weight if t.scale is None else weight * np.repeat(t.scale, per_pixel)[None, :]
            proj = Projection(label, "dense", t.source, "?", weight=wt)
            terms.append(replace(t, label=label, scale=None, linear=proj))
            self._record_alpha(t, label)
        b = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, np.float64)
        return Value(terms, b, (weight.shape[0],))

    def batchnorm(self, x: Value, label: str, gamma, beta, mean, var, eps: float) -> Value:
        """Eval-mode BatchNorm folded as a per-channel affine map ``g * x + h``."""
        var = np.asarray(var, np.float64)
        if np.any(var + eps <= 0):  # checked first: its square root is not a number
            raise ConversionError(f"{label}: running_var must be > -eps, got {var.min():g}")
        g = np.asarray(gamma, np.float64) / np.sqrt(var + eps)
        h = np.asarray(beta, np.float64) - g * np.asarray(mean, np.float64)
        self.folds.append({"fold": "batchnorm", "bn": label, "into": [t.label for t in x.terms],
                           "eps": eps})
        return self._affine(x, g, h)

    def avgpool(self, x: Value, label: str, kernel, stride=None, padding=(0, 0)) -> Value:
        """AvgPool2d (count_include_pad, floor mode), kept pending for the next linear map."""
        kernel = _pair(kernel)
        stride = kernel if stride is None else _pair(stride)
        padding = _pair(padding)
        c, h, w = x.shape
        ho = conv_output_size(h, kernel[0], stride[0], padding[0], 1)
        wo = conv_output_size(w, kernel[1], stride[1], padding[1], 1)
        if ho < 1 or wo < 1:
            raise ConversionError(f"{label}: input {x.shape} is too small for this pooling")
        if np.any(x.bias != 0):
            raise ConversionError(f"{label}: pooling a biased value cannot be folded")
        factor = 1.0 / (kernel[0] * kernel[1])
        terms = []
        for t in x.terms:
            if t.linear is not None:
                raise ConversionError(f"{label}: pooling after a linear map cannot be folded")
            pool = Pool(kernel, stride, padding, factor)
            if t.pool is not None:
                pool = _merge_pools(t.pool, pool, label)
            terms.append(replace(t, pool=pool))
        self.folds.append({"fold": "avgpool", "pool": label, "kernel": list(kernel),
                           "stride": list(stride), "padding": list(padding)})
        return Value(terms, np.zeros(c), (c, ho, wo))

    def global_avgpool(self, x: Value, label: str) -> Value:
        """AdaptiveAvgPool2d(1): one window over the whole map."""
        _, h, w = x.shape
        return self.avgpool(x, label, (h, w), (h, w))

    def relabel(self, x: Value, label: str) -> Value:
        """The same value, its projections named ``label`` (e.g. a residual shortcut)."""
        return Value([replace(t, label=label) for t in x.terms], x.bias, x.shape)

    def add(self, a: Value, b: Value) -> Value:
        """Elementwise sum (a residual connection)."""
        if a.shape != b.shape:
            raise ConversionError(f"residual shapes differ: {a.shape} vs {b.shape}")
        return Value(a.terms + b.terms, a.bias + b.bias, a.shape)

    # -- neurons ---------------------------------------------------------------------------
    def lif(self, x: Value, name: str, kind: str, alpha: np.ndarray) -> Value:
        """A LIF layer (``ternary_lif`` or ``binary_lif``) named ``name``; returns alpha * s."""
        self.populations.append(Population(
            name, kind, x.shape, threshold=LIF_THRESHOLD, decay=LIF_DECAY, reset="zero",
            bias=None if not np.any(x.bias) else x.bias))
        self._emit(x, name)
        return self.spikes(name, x.shape, alpha)

    def readout(self, x: Value, name: str, timesteps: int) -> None:
        """The per-step classifier summed over T steps; 1/T of the mean folded into it."""
        inv = 1.0 / timesteps
        scaled = self._affine(x, np.full(x.shape[0], inv), np.zeros(x.shape[0]))
        self.folds.append({"fold": "temporal_mean", "into": [t.label for t in x.terms],
                           "factor": inv})
        self.populations.append(Population(name, "readout", x.shape,
                                           bias=None if not np.any(scaled.bias) else scaled.bias))
        self._emit(scaled, name)

    # -- internals -------------------------------------------------------------------------
    def _affine(self, x: Value, g: np.ndarray, h: np.ndarray) -> Value:
        terms = []
        for t in x.terms:
            if t.linear is not None:
                lin = t.linear
                shape = (-1,) + (1,) * (lin.weight_array.ndim - 1)
                terms.append(replace(t, linear=replace(lin, weight=lin.weight_array * g.reshape(shape))))
            else:
                scale = g if t.scale is None else t.scale * g
                terms.append(replace(t, scale=scale))
        return Value(terms, g * x.bias + h, x.shape)

    def _record_alpha(self, t: Term, into: str) -> None:
        if t.scale is not None and t.source != "input":
            self.folds.append({"fold": "alpha", "from": t.source, "into": into})

    def _emit(self, x: Value, target: str) -> None:
        names = {q.name for q in self.projections}
        for t in x.terms:
            name = t.label
            k = 2
            while name in names:
                name, k = f"{t.label}.{k}", k + 1
            names.add(name)
            self.projections.append(self._materialise(t, name, target, x.shape))

    def _materialise(self, t: Term, name: str, target: str, shape) -> Projection:
        if t.linear is None and t.pool is None:
            scale = None if t.scale is None or np.all(t.scale == 1.0) else t.scale
            if t.scale is not None:
                self._record_alpha(t, name)
            return Projection(name, "identity", t.source, target, scale=scale)
        if t.linear is None:
            # pooled spikes feeding a neuron directly: a depthwise 1x1 conv carries the scale
            c = t.source_shape[0]
            scale = np.ones(c) if t.scale is None else t.scale
            if t.scale is not None:
                self._record_alpha(t, name)
            lin = Projection(name, "conv2d", t.source, target, weight=scale.reshape(c, 1, 1, 1),
                             groups=c)
        else:
            lin = replace(t.linear, name=name, source=t.source, target=target)
        if t.pool is None:
            return lin
        pool = Projection(f"{name}.pool", "sumpool2d", t.source, target, kernel_size=t.pool.kernel,
                          stride=t.pool.stride, padding=t.pool.padding)
        try:
            return compose_pool(pool, lin, t.source_shape, factor=t.pool.factor, name=name)
        except ModelFormatError as exc:
            if lin.kind == "conv2d" and lin.pre_pool is None:
                # not one kernel (e.g. ResNet-18's stem pool before a padded conv on an even map):
                # keep the pool as the conv's pre-pool, its average factor folded into the weight
                self.folds.append({"fold": "pre_pool", "into": name, "kernel": list(t.pool.kernel),
                                   "stride": list(t.pool.stride), "padding": list(t.pool.padding)})
                return replace(lin, weight=lin.weight_array * t.pool.factor,
                               pre_pool=(t.pool.kernel, t.pool.stride, t.pool.padding))
            raise ConversionError(f"{name}: average pooling on a {t.source_shape} map cannot be "
                                  f"folded into the next layer exactly ({exc}); try another input "
                                  "size") from None


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _merge_pools(first: Pool, second: Pool, label: str) -> Pool:
    """Two average pools in a row as one: exact when the first has no overlap and no padding.

    With ``k1 == s1`` the windows of the first pool tile the map, so a window of ``k2`` pooled
    cells with stride ``s2`` is a window of ``k1 * k2`` input cells with stride ``s1 * s2``;
    the floor-mode output sizes agree as well.
    """
    if first.kernel != first.stride or first.padding != (0, 0) or second.padding != (0, 0):
        raise ConversionError(f"{label}: two overlapping or padded average pools in a row cannot "
                              "be folded")
    k = (first.kernel[0] * second.kernel[0], first.kernel[1] * second.kernel[1])
    s = (first.stride[0] * second.stride[0], first.stride[1] * second.stride[1])
    return Pool(k, s, (0, 0), first.factor * second.factor)
