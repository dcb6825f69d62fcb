"""Composing a chain of linear operations between two neuron layers into one projection.

DESIGN.md: pooling followed by a convolution or a dense layer is one projection, and its SOPs
are counted once, on the composed projection. A sum-pool (or an average pool: a sum-pool times
``factor = 1/(kh·kw)``) followed by ``next`` becomes:

- ``next`` dense: a dense projection over the un-pooled source (always exact);
- ``next`` conv2d: a conv2d whose kernel is the conv kernel spread over the pooling windows,
  ``K = s·d·(k2 − 1) + k``, stride ``s·s2``, padding ``s·p2 + p``; exact only where the pool's
  discarded border and the conv's zero padding coincide, so the result is verified numerically
  and a ModelFormatError is raised when it is not exact.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from .ir import Projection, conv_output_size
from .linear import apply_projection


def compose_pool(pool: Projection, nxt: Projection, source_shape: tuple[int, ...],
                 factor: float = 1.0, name: str | None = None, verify: bool = True) -> Projection:
    """One projection equal to ``nxt(factor · sumpool(x))`` for ``x`` of ``source_shape``."""
    if pool.kind != "sumpool2d":
        raise ModelFormatError(f"compose_pool: {pool.name!r} is not a sumpool2d projection")
    c, h, w = source_shape
    kh, kw = pool.pool_kernel
    sh, sw = pool.stride
    ph, pw = pool.padding
    hp = conv_output_size(h, kh, sh, ph, 1)
    wp = conv_output_size(w, kw, sw, pw, 1)
    name = name or nxt.name
    if nxt.kind == "dense":
        w2 = nxt.weight_array.astype(np.float64).reshape(-1, c, hp, wp)
        out = np.zeros((w2.shape[0], c, h + 2 * ph, w + 2 * pw))
        for i in range(kh):
            for j in range(kw):
                out[:, :, i:i + sh * (hp - 1) + 1:sh, j:j + sw * (wp - 1) + 1:sw] += w2
        weight = (out[:, :, ph:ph + h, pw:pw + w] * factor).reshape(w2.shape[0], -1)
        return Projection(name, "dense", pool.source, nxt.target,
                          weight=weight.astype(nxt.weight_array.dtype))
    if nxt.kind != "conv2d":
        raise ModelFormatError(f"compose_pool: cannot compose a pool with a {nxt.kind} projection")
    w2 = nxt.weight_array.astype(np.float64)
    cout, cin_g, k2h, k2w = w2.shape
    d2h, d2w = nxt.dilation
    big = np.zeros((cout, cin_g, sh * d2h * (k2h - 1) + kh, sw * d2w * (k2w - 1) + kw))
    for a in range(k2h):
        for b in range(k2w):
            ya, xb = sh * d2h * a, sw * d2w * b
            big[:, :, ya:ya + kh, xb:xb + kw] += w2[:, :, a:a + 1, b:b + 1]
    composed = Projection(
        name, "conv2d", pool.source, nxt.target, weight=(big * factor).astype(nxt.weight_array.dtype),
        stride=(sh * nxt.stride[0], sw * nxt.stride[1]),
        padding=(sh * nxt.padding[0] + ph, sw * nxt.padding[1] + pw), groups=nxt.groups)
    pooled_shape = (c, hp, wp)
    target_shape = nxt.output_shape(pooled_shape)  # None only for dense, never for this conv2d
    if target_shape is None or composed.output_shape(source_shape) != target_shape:
        raise ModelFormatError(f"cannot compose {pool.name!r} with {nxt.name!r} exactly: "
                               "the pooled map's border does not tile the input")
    if verify:
        rng = np.random.default_rng(0)
        x = rng.normal(size=source_shape)
        want = apply_projection(nxt, apply_projection(pool, x, pooled_shape) * factor, target_shape)
        got = apply_projection(composed, x, target_shape)
        if not np.allclose(got, want, rtol=1e-9, atol=1e-9):
            raise ModelFormatError(f"cannot compose {pool.name!r} with {nxt.name!r} exactly: "
                                   "the pool discards input the padded convolution would read")
    return composed
