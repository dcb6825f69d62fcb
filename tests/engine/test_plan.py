"""The compiled plan's layouts: checked by re-deriving PyTorch-layout results from them."""

import numpy as np
import pytest

from eventsim.engine.plan import (
    ALIGN_BYTES,
    G_COUTG,
    POP_LIF,
    POP_TERNARY,
    PROJ_CONV,
    PROJ_DENSE,
    aligned_zeros,
    compile_plan,
    from_internal,
    to_internal,
)
from eventsim.engine.simulator import Simulator
from eventsim.errors import ModelFormatError
from eventsim.network.ir import InputSpec, Network, Population, Projection
from eventsim.network.linear import apply_projection
from tests.randnet import random_network


@pytest.mark.parametrize("shape", [(3, 4, 5), (7,), (1, 1, 1), (2, 3, 1)])
def test_internal_order_is_channels_last_and_invertible(shape):
    fwd, inv = to_internal(shape), from_internal(shape)
    assert np.array_equal(fwd[inv], np.arange(fwd.size))
    if len(shape) == 3:
        c, h, w = shape
        x = np.arange(c * h * w).reshape(shape)
        internal = np.empty(x.size, int)
        internal[fwd] = x.ravel()
        assert np.array_equal(internal, x.transpose(1, 2, 0).ravel())


def conv_net(groups=2, dtype=np.float32):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 4 // groups, 3, 2)).astype(dtype)
    pops = [Population("input", "input", (4, 5, 6)),
            Population("a", "ternary_lif", (6, 3, 3), threshold=0.5, decay=0.25, bias=np.arange(6.0)),
            Population("out", "readout", (3,))]
    projs = [Projection("c", "conv2d", "input", "a", weight=w, stride=(1, 2), padding=(1, 0),
                        dilation=(2, 1), groups=groups),
             Projection("d", "dense", "a", "out", weight=rng.normal(size=(3, 54)).astype(dtype))]
    spec = InputSpec(kind="frames")
    return Network("n", pops, projs, ["input", "a", "out"], input=spec)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_weight_rows_reproduce_the_convolution(groups):
    net = conv_net(groups)
    plan = compile_plan(net, "float64")
    q = plan.projections[0]
    assert q.kind == PROJ_CONV and q.weight.shape == (4, 3, 2, 6 // groups)
    assert q.weight.flags.c_contiguous and q.weight.dtype == np.float64
    assert q.geom[G_COUTG] == 6 // groups
    # one unit input at (ci, y, x): the target gets, per tap, row weight[ci, ky, kw-1-kx] at its group
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 5, 6))
    want = apply_projection(net.projections[0], x, (6, 3, 3))
    got = np.zeros((3, 3, 6))  # target, channels-last
    proj = net.projections[0]
    cin_g, cout_g = 4 // groups, 6 // groups
    for ci in range(4):
        g = ci // cin_g
        for yi in range(5):
            for xi in range(6):
                for ky in range(3):
                    for kx in range(2):
                        ny, nx = yi + 1 - 2 * ky, xi - kx
                        if ny % 1 or nx % 2 or ny < 0 or nx < 0:
                            continue
                        oy, ox = ny, nx // 2
                        if oy < 3 and ox < 3:
                            row = q.weight[ci, ky, 1 - kx]
                            got[oy, ox, g * cout_g:(g + 1) * cout_g] += x[ci, yi, xi] * row
    assert proj.groups == groups
    assert np.allclose(got.transpose(2, 0, 1), want)


def test_dense_rows_follow_internal_order_and_bias_per_neuron():
    net = conv_net()
    plan = compile_plan(net, "float32")
    q = plan.projections[1]
    assert q.kind == PROJ_DENSE and q.weight.shape == (54, 3) and q.weight.dtype == np.float32
    s = np.random.default_rng(3).normal(size=(6, 3, 3))
    internal = np.empty(54)
    internal[to_internal((6, 3, 3))] = s.ravel()
    want = net.projections[1].weight.astype(np.float64) @ s.ravel()
    assert np.allclose(internal @ q.weight.astype(np.float64), want, atol=1e-4)
    pop = plan.populations[plan.index["a"]]
    assert pop.kind == POP_TERNARY and pop.bias.dtype == np.float32
    assert np.array_equal(pop.bias[from_internal((6, 3, 3)).argsort()], np.repeat(np.arange(6.0), 9))
    assert plan.projections[0].encoder and not plan.projections[1].encoder


@pytest.mark.parametrize("seed", range(10))
def test_random_networks_compile_in_both_precisions(seed):
    net = random_network(seed)
    for precision, dtype in (("float32", np.float32), ("float64", np.float64)):
        plan = compile_plan(net, precision)
        assert all(q.weight.dtype == dtype for q in plan.projections)
        assert [p.name for p in plan.populations] == net.order
        assert sum(len(p.incoming) for p in plan.populations) == len(net.projections)
        for p in plan.populations:
            if net.population(p.name).kind == "if":
                assert p.kind == POP_LIF and p.decay == 1.0


def test_unknown_precision():
    with pytest.raises(ModelFormatError, match="unknown precision"):
        compile_plan(random_network(0), "float16")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_aligned_buffers(dtype):
    for size in (1, 7, 1000):  # (an empty array has no data to align)
        a = aligned_zeros(size, dtype)
        assert a.size == size and a.dtype == dtype and not a.any()
        assert a.ctypes.data % ALIGN_BYTES == 0 and a.flags.c_contiguous and a.flags.writeable


def test_weights_and_engine_buffers_are_aligned():
    """Conv/dense weights and the simulator's membrane/current buffers start on ALIGN_BYTES."""
    net = random_network(3, frames=False)
    for precision in ("float32", "float64"):
        sim = Simulator(net, precision)
        for q in sim.plan.projections:
            if q.kind in (PROJ_CONV, PROJ_DENSE):
                assert q.weight.ctypes.data % ALIGN_BYTES == 0
        sim.workspace.prepare(3)
        assert all(v.ctypes.data % ALIGN_BYTES == 0 for v in sim.workspace.v)
        cur = sim.workspace.current(sim.plan.dtype, 3)  # every step's row starts aligned
        assert all(row.ctypes.data % ALIGN_BYTES == 0 for row in cur)
