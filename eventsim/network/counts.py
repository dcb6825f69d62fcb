"""Static operation counts of projections, shared by the engine, the reference and reports."""

from __future__ import annotations

import numpy as np

from .ir import Network, Projection


def dense_macs(proj: Projection, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one dense (ANN-style) application of ``proj``.

    Counted the conventional way (thop / ptflops): a convolution costs
    ``Cout · Cin/groups · kh · kw · Hout · Wout``, padding taps included; a dense layer
    ``N_in · N_out``; an identity ``N``; a sum-pool ``C · kh · kw · Hout · Wout``. A conv2d
    with a ``pre_pool`` costs its sum-pool (as a pool layer) plus the conv on the pooled map.
    """
    n_out = int(np.prod(target_shape))
    if proj.kind == "conv2d":
        _, cin_g, kh, kw = proj.weight_array.shape
        pool = 0
        if proj.pre_pool is not None:
            (ph, pw), _, _ = proj.pre_pool
            pool = int(np.prod(proj.pooled_shape(source_shape))) * ph * pw
        return n_out * cin_g * kh * kw + pool
    if proj.kind == "dense":
        return int(np.prod(source_shape)) * n_out
    if proj.kind == "sumpool2d":
        return n_out * proj.pool_kernel[0] * proj.pool_kernel[1]
    return n_out


def layer_dense_macs(net: Network, name: str) -> int:
    """Dense MACs of all projections into population ``name`` (one ANN forward pass)."""
    tshape = net.population(name).shape
    return sum(dense_macs(p, net.population(p.source).shape, tshape) for p in net.incoming(name))


def parameter_count(net: Network) -> int:
    """Stored weights, scales and biases."""
    n = 0
    for p in net.projections:
        n += 0 if p.weight is None else p.weight.size
        n += 0 if p.scale is None else p.scale.size
    for pop in net.populations:
        n += 0 if pop.bias is None else pop.bias.size
    return n


def _axis_taps(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int,
               weight: list[int] | None = None) -> int:
    """Sum over output positions of the kernel taps that land inside the input, one axis.

    With ``weight``, a tap landing on input position i counts ``weight[i]`` (paths into i).
    """
    total = 0
    for o in range(out):
        start = o * stride - padding
        total += sum(1 if weight is None else weight[start + k * dilation]
                     for k in range(kernel) if 0 <= start + k * dilation < size)
    return total


def synapse_count(proj: Projection, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> int:
    """Synapses that connect an existing source neuron to an existing target neuron.

    This is the SOP count of one step in which every source neuron emits one spike.
    """
    if proj.kind == "dense":
        return int(np.prod(source_shape)) * int(np.prod(target_shape))
    if proj.kind == "identity":
        return int(np.prod(source_shape))
    _, h, w = source_shape
    cout, ho, wo = target_shape
    wy = wx = None
    if proj.kind == "sumpool2d":
        (kh, kw), cin_g, dil = proj.pool_kernel, 1, (1, 1)
    else:
        _, cin_g, kh, kw = proj.weight_array.shape
        dil = proj.dilation
        if proj.pre_pool is not None:  # paths: taps into pooled cell i count i's in-bounds pool taps
            (pkh, pkw), (psh, psw), (pph, ppw) = proj.pre_pool
            _, hp, wp = proj.pooled_shape(source_shape)
            wy = [_axis_taps(h, 1, pkh, 1, pph - i * psh, 1) for i in range(hp)]
            wx = [_axis_taps(w, 1, pkw, 1, ppw - i * psw, 1) for i in range(wp)]
            h, w = hp, wp
    ty = _axis_taps(h, ho, kh, proj.stride[0], proj.padding[0], dil[0], wy)
    tx = _axis_taps(w, wo, kw, proj.stride[1], proj.padding[1], dil[1], wx)
    return cout * cin_g * ty * tx
