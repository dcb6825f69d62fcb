"""Each kernel against the dense definitions (network.linear / reference.neuron_step)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.engine import kernels
from eventsim.engine.plan import compile_plan, from_internal, to_internal
from eventsim.engine.reference import neuron_step
from eventsim.network.ir import InputSpec, Network, Population, Projection, conv_output_size
from eventsim.network.linear import apply_projection


def spike_list(rng, shape, density, multi):
    """Random signed spike values on ``shape`` -> (dense C-H-W values, internal idx, val)."""
    n = int(np.prod(shape))
    vals = np.zeros(n, np.int64)
    hit = rng.random(n) < density
    vals[hit] = rng.choice([1, -1, 2, 3] if multi else [1, -1], size=hit.sum())
    dense = vals.reshape(shape)
    internal = np.zeros(n, np.int64)
    internal[to_internal(shape)] = vals
    idx = np.flatnonzero(internal)
    return dense, idx.astype(np.int64), internal[idx]


def net_with(proj, src_shape, tgt_shape):
    pops = [Population("input", "input", src_shape), Population("t", "readout", tgt_shape)]
    return Network("k", pops, [proj], ["input", "t"], input=InputSpec(kind="frames"))


def check_scatter(net, dense, idx, val, call):
    """Run ``call`` (kernel invocation) and compare current and SOPs with the definitions."""
    proj = net.projections[0]
    tshape = net.population("t").shape
    cur = np.zeros(int(np.prod(tshape)))
    sops = np.zeros(2, np.int64)
    call(idx, val, idx.size, cur, sops)
    got = np.empty_like(cur)
    got[from_internal(tshape)] = cur
    want = apply_projection(proj, dense, tshape).ravel()
    assert np.allclose(got, want, rtol=0, atol=1e-9)
    for k, part in enumerate((np.maximum(dense, 0), np.maximum(-dense, 0))):
        assert sops[k] == int(apply_projection(proj, part, tshape, unit_weights=True).sum())


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2), st.integers(1, 2), st.sampled_from([1, 2]), st.booleans())
def test_scatter_conv_matches_dense_conv(seed, kh, kw, sh, sw, pad, dil, groups, multi):
    rng = np.random.default_rng(seed)
    cin = groups * int(rng.integers(1, 3))
    cout = groups * int(rng.integers(1, 4))
    h, w = int(rng.integers(3, 9)), int(rng.integers(3, 9))
    ho = conv_output_size(h, kh, sh, pad, dil)
    wo = conv_output_size(w, kw, sw, pad, dil)
    if ho < 1 or wo < 1:
        return
    proj = Projection("c", "conv2d", "input", "t", weight=rng.normal(size=(cout, cin // groups, kh, kw)),
                      stride=(sh, sw), padding=pad, dilation=dil, groups=groups)
    net = net_with(proj, (cin, h, w), (cout, ho, wo))
    q = compile_plan(net, "float64").projections[0]
    dense, idx, val = spike_list(rng, (cin, h, w), 0.3, multi)
    check_scatter(net, dense, idx, val,
                  lambda i, v, n, cur, sops: kernels.scatter_conv(i, v, n, q.geom, q.weight.ravel(), cur,
                                                                  sops))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.booleans())
def test_scatter_sumpool_matches_dense_pool(seed, k, s, pad, multi):
    rng = np.random.default_rng(seed)
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    if pad * 2 > k:
        pad = 0
    ho, wo = conv_output_size(h, k, s, pad, 1), conv_output_size(w, k, s, pad, 1)
    proj = Projection("p", "sumpool2d", "input", "t", kernel_size=k, stride=s, padding=pad)
    net = net_with(proj, (c, h, w), (c, ho, wo))
    q = compile_plan(net, "float64").projections[0]
    dense, idx, val = spike_list(rng, (c, h, w), 0.4, multi)
    check_scatter(net, dense, idx, val,
                  lambda i, v, n, cur, sops: kernels.scatter_sumpool(i, v, n, q.geom, cur, sops))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.booleans(), st.booleans())
def test_scatter_dense_and_identity(seed, multi, scaled):
    rng = np.random.default_rng(seed)
    src = (int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    n_out = int(rng.integers(1, 6))
    proj = Projection("d", "dense", "input", "t", weight=rng.normal(size=(n_out, int(np.prod(src)))))
    net = net_with(proj, src, (n_out,))
    q = compile_plan(net, "float64").projections[0]
    dense, idx, val = spike_list(rng, src, 0.4, multi)
    check_scatter(net, dense, idx, val,
                  lambda i, v, n, cur, sops: kernels.scatter_dense(i, v, n, n_out, q.weight.ravel(),
                                                                   cur, sops))
    scale = rng.normal(size=src[0]) if scaled else None
    proj = Projection("i", "identity", "input", "t", scale=scale)
    net = net_with(proj, src, src)
    q = compile_plan(net, "float64").projections[0]
    check_scatter(net, dense, idx, val,
                  lambda i, v, n, cur, sops: kernels.scatter_identity(i, v, n, src[0], q.weight, cur, sops))


def test_scatter_conv_float32_accumulates_in_float32():
    proj = Projection("c", "conv2d", "input", "t", weight=np.full((4, 1, 1, 1), 0.1))
    net = net_with(proj, (1, 2, 2), (4, 2, 2))
    q = compile_plan(net, "float32").projections[0]
    cur = np.zeros(16, np.float32)
    sops = np.zeros(2, np.int64)
    idx = np.zeros(3, np.int64)
    kernels.scatter_conv(idx, np.array([1, 1, -1]), 3, q.geom, q.weight.ravel(), cur, sops)
    # float32(0.1) + float32(0.1) - float32(0.1), each rounded in float32
    want = np.float32(np.float32(np.float32(0.1) + np.float32(0.1)) - np.float32(0.1))
    assert cur[0] == want and sops.tolist() == [8, 4]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["ternary_lif", "binary_lif", "lif", "if", "readout"]),
       st.sampled_from(["zero", "subtract"]), st.booleans(), st.booleans(), st.booleans())
def test_update_neurons_matches_reference(seed, kind, reset, floor, multi, bias):
    rng = np.random.default_rng(seed)
    n = 40
    spiking = kind != "readout"
    kw = {}
    if spiking:
        kw = dict(threshold=float(rng.choice([0.25, 0.5, 1.0])),
                  decay=1.0 if kind == "if" else float(rng.choice([0.25, 0.5, 0.9, 1.0])),
                  reset=reset if kind != "readout" else None,
                  v_min=-0.5 if floor and kind in ("lif", "if") else None,
                  multi_spike=multi and kind in ("lif", "if"))
    pop = Population("p", kind, (n,), bias=rng.integers(-4, 5, n) / 8 if bias else None, **kw)
    pops = [Population("input", "input", (1, 1, 1)), pop, Population("out", "readout", (1,))]
    projs = [Projection("a", "dense", "input", "p", weight=np.ones((n, 1)))]
    if spiking:
        projs.append(Projection("b", "dense", "p", "out", weight=np.ones((1, n))))
    else:
        pops = pops[:2]
    net = Network("u", pops, projs, [p.name for p in pops], input=InputSpec(polarity="signed"))
    planned = compile_plan(net, "float64").populations[1]
    fast = kind == "ternary_lif" and seed % 2 == 0
    v_ref = np.zeros(n)
    v = np.zeros(n)
    params = np.array([planned.threshold, planned.decay, planned.v_min, 0.0, 0.0])
    flags = np.array([planned.decay == 1.0, planned.reset_subtract, planned.has_v_min,
                      planned.multi_spike], np.int64)
    out_idx, out_val = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for _ in range(6):
        current = rng.integers(-16, 17, n) / 8  # multiples of 1/8: exact ties with the thresholds
        counts = np.zeros(2, np.int64)
        cur = current.copy()
        if fast:  # the ternary fast path must equal the general kernel and the reference
            marks = np.zeros(-(-n // 8) * 8, np.int8)
            k, _ = kernels.update_ternary(v, cur, planned.bias, planned.has_bias, params,
                                          planned.reset_subtract, marks, out_idx, out_val, counts)
        else:
            k, _ = kernels.update_neurons(v, cur, planned.bias, planned.has_bias, planned.kind, params,
                                          flags, out_idx, out_val, counts)
        full = current + (0 if pop.bias is None else pop.bias)
        v_ref, s = neuron_step(pop, v_ref, full)
        assert np.array_equal(v, v_ref) and not cur.any()
        if s is None:
            assert k == 0
            continue
        assert out_idx[:k].tolist() == np.flatnonzero(s).tolist()
        assert out_val[:k].tolist() == s[s != 0].tolist()
        assert counts.tolist() == [int(s[s > 0].sum()), int(-s[s < 0].sum())]
