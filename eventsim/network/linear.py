"""Dense NumPy application of projections: the plain definition of what each kind computes.

Used by the reference forward (the oracle), by projection composition (to verify a composed
projection numerically) and by tests. Clarity first; nothing here is on a fast path.
"""

from __future__ import annotations

import numpy as np

from .ir import Projection


def _conv2d(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups) -> np.ndarray:
    """PyTorch-semantics 2-D cross-correlation of one (C,H,W) map, tap by tap."""
    cin, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    ph, pw = padding
    sh, sw = stride
    dh, dw = dilation
    xp = np.zeros((cin, h + 2 * ph, wd + 2 * pw))
    xp[:, ph:ph + h, pw:pw + wd] = x
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((cout, ho, wo))
    cout_g = cout // groups
    for g in range(groups):
        xs = xp[g * cin_g:(g + 1) * cin_g]
        wg = w[g * cout_g:(g + 1) * cout_g]
        for ky in range(kh):
            for kx in range(kw):
                patch = xs[:, ky * dh: ky * dh + sh * (ho - 1) + 1: sh,
                           kx * dw: kx * dw + sw * (wo - 1) + 1: sw]
                out[g * cout_g:(g + 1) * cout_g] += np.einsum("oc,chw->ohw", wg[:, :, ky, kx], patch)
    return out


def apply_projection(proj: Projection, x: np.ndarray, target_shape: tuple[int, ...],
                     unit_weights: bool = False) -> np.ndarray:
    """Current that ``proj`` delivers for source values ``x`` (source shape), float64.

    With ``unit_weights`` every weight (and scale) is 1: summing the result of that on |s|
    gives the SOP count.
    """
    x = np.asarray(x, dtype=np.float64)
    if proj.kind == "dense":
        w = np.ones(proj.weight_array.shape) if unit_weights else proj.weight_array.astype(np.float64)
        return (w @ x.ravel()).reshape(target_shape)
    if proj.kind == "identity":
        if proj.scale is None or unit_weights:
            return x.copy()
        return x * proj.scale.astype(np.float64).reshape((-1,) + (1,) * (x.ndim - 1))
    if proj.kind == "sumpool2d":
        c = x.shape[0]
        kh, kw = proj.pool_kernel
        w = np.zeros((c, 1, kh, kw))
        w[:] = 1.0
        return _conv2d(x, w, proj.stride, proj.padding, (1, 1), c)
    if proj.pre_pool is not None:  # sum-pool first (unit weights: its ones count paths too)
        (kh, kw), stride, padding = proj.pre_pool
        x = _conv2d(x, np.ones((x.shape[0], 1, kh, kw)), stride, padding, (1, 1), x.shape[0])
    w = np.ones(proj.weight_array.shape) if unit_weights else proj.weight_array.astype(np.float64)
    return _conv2d(x, w, proj.stride, proj.padding, proj.dilation, proj.groups)
