import math
import shutil

import h5py
import numpy as np
import pytest

from eventsim.engine.reference import forward
from eventsim.errors import ModelFormatError
from eventsim.network import nir_nodes as nn
from eventsim.network.h5io import save_model
from eventsim.network.ir import InputSpec, Network, Population, Projection
from eventsim.network.linear import apply_projection
from eventsim.network.loading import load_network
from eventsim.network.nir import is_nir_file, load_nir, read_graph, save_nir
from tests.network.test_h5io import assert_same_network
from tests.randnet import random_inputs, random_network


def write_nir(path, nodes: dict, edges: list, version="0.2.0"):
    """A NIR file as the nir package writes it: /version, /node/{type,edges,nodes/<name>/...}."""
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=version, dtype=h5py.string_dtype())
        root = f.create_group("node")
        root.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        root.create_dataset("edges", data=np.array(edges, dtype=object), dtype=h5py.string_dtype())
        for name, params in nodes.items():
            g = root.create_group("nodes").create_group(name) if "nodes" not in root else \
                root["nodes"].create_group(name)
            for k, v in params.items():
                if isinstance(v, str):
                    g.create_dataset(k, data=v, dtype=h5py.string_dtype())
                else:
                    g.create_dataset(k, data=np.asarray(v))
    return path


def chain(*names):
    return [(a, b) for a, b in zip(names, names[1:])]


def nmnist_frames(path, bin_us=1000):
    """Our own decoding of the N-MNIST .bin (5-byte records) and 1 ms binning, as tonic does:
    x = byte0, y = byte1, p = bit 7 of byte2, t = 23-bit µs; windows start at the first event,
    the last partial window is dropped; channel 0 = OFF, 1 = ON."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y, p = raw[:, 0], raw[:, 1], raw[:, 2] >> 7
    t = ((raw[:, 2] & 127) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    steps = (t[-1] - t[0] - bin_us) // bin_us + 1
    b = (t - t[0]) // bin_us
    keep = b < steps
    frames = np.zeros((steps, 2, 34, 34))
    np.add.at(frames, (b[keep], p[keep], y[keep], x[keep]), 1)
    return t, x, y, p, frames


# -- the third-party files -------------------------------------------------------------------
@pytest.mark.parametrize("name,hidden", [("braille_noDelay_bias_zero.nir", 38),
                                         ("braille_noDelay_noBias_subtract.nir", 40)])
def test_braille_rnns_import_as_recurrent_cuba_lif(shared_data, name, hidden):
    net = load_nir(shared_data / "nir" / name)
    lif1, lif2 = net.population("lif1.lif"), net.population("lif2")
    assert (lif1.kind, lif1.shape, lif2.kind, lif2.shape) == ("cuba_lif", (hidden,), "cuba_lif", (7,))
    # the recurrent edge lif1.lif -> lif1.w_rec -> lif1.lif is one dense projection of delay 1
    rec = [q for q in net.projections if q.delay]
    assert [(q.name, q.source, q.target, q.kind, q.delay) for q in rec] == \
        [("lif1.w_rec", "lif1.lif", "lif1.lif", "dense", 1)]
    assert net.recurrent_groups() == [["lif1.lif"]]
    assert net.order == ["input", "lif1.lif", "lif2", "output"]
    # snnTorch's export: tau_syn = dt/(1-alpha), tau_mem = dt/(1-beta), w_in = tau_syn/dt, r = tau_mem/dt,
    # so the Euler input gain dt/tau_syn*w_in*dt/tau_mem*r is 1 (to a few ulp) and alpha/beta come back
    g = h5py.File(shared_data / "nir" / name, "r")["node/nodes"]
    np.testing.assert_allclose(rec[0].weight, g["lif1.w_rec/weight"][()], rtol=1e-12)
    np.testing.assert_allclose(1 - 1e-4 / g["lif1.lif/tau_syn"][0], lif1.syn_decay, rtol=0, atol=0)
    assert lif1.reset == "subtract" and net.output_population.name == "output"
    assert load_nir(shared_data / "nir" / name, reset="zero").population("lif2").reset == "zero"


@pytest.mark.parametrize("name", ["cnn_sinabs.nir", "lif_norse.nir", "lif_rockpool.nir",
                                  "two_lif_neurons.nir"])
def test_feed_forward_files_load_and_are_detected(shared_data, name):
    path = shared_data / "nir" / name
    assert is_nir_file(path)
    net = load_network(path)
    assert net.provenance["source"] == "nir" and net.provenance["dt"] == nn.DEFAULT_DT


def test_lif_norse_matches_hand_computed_euler_trace(shared_data):
    net = load_nir(shared_data / "nir" / "lif_norse.nir")
    lif = net.population("1")
    assert lif.kind == "binary_lif" and lif.reset == "subtract"  # NIR 0.1.1: no v_reset dataset
    # NIR: tau dv/dt = (v_leak - v) + R I, tau = 2.5 ms, R = 1, W = 1, theta = 0.1; Euler with
    # dt = 0.1 ms: v += dt/tau (-v + I). An input spike every step: v_n = 1 - 0.96^n, which
    # passes 0.1 at n = 3 (0.115264); the spike subtracts 0.1, and so on. Plain scalar loop:
    tau, theta = float(np.float32(0.0025)), float(np.float32(0.1))
    v, expect = 0.0, []
    for _ in range(12):
        v = v + 1e-4 / tau * (0.0 - v + 1.0)
        s = int(v > theta)
        v -= s * theta
        expect.append(s)
    assert expect[:6] == [0, 0, 1, 0, 0, 1]
    res = forward(net, np.ones((12, 1, 1, 1)))
    assert res.spikes["1"][:, 0].tolist() == expect
    assert res.output[0] == sum(expect)  # the readout counts output spikes
    assert res.membranes["1"][0] == pytest.approx(v, abs=1e-12)


def test_lif_rockpool_folds_r_and_dt_into_the_weight(shared_data):
    net = load_nir(shared_data / "nir" / "lif_rockpool.nir")
    # input gain dt R / tau = 1e-4 * 24.019737 / 0.0025, times the Linear weight 0.04
    r, tau, w = (float(np.float32(v)) for v in (24.019737, 0.0025, 0.04))
    assert net.projections[0].weight[0, 0] == pytest.approx(w * 1e-4 * r / tau, rel=1e-12)


@pytest.mark.parametrize("dt, first", [(1e-4, 179), (1e-3, 18)])
def test_two_lif_neurons_self_spiking_via_v_leak(shared_data, dt, first):
    net = load_nir(shared_data / "nir" / "two_lif_neurons.nir", dt=dt)
    # lif1: tau = 10 ms, v_leak = 1.2 -> a constant current dt/tau * 1.2 (the bias). From v = 0,
    # v_n = 1.2 (1 - (1 - dt/tau)^n) > 1 first when n > ln 6 / -ln(1 - dt/tau):
    assert first == math.floor(math.log(6) / -math.log(1 - dt / 0.01)) + 1
    res = forward(net, np.zeros((first + 1, 1, 1, 1)))
    spikes = res.spikes["lif1"][:, 0]
    assert spikes[:first - 1].sum() == 0 and spikes[first - 1] == 1
    assert res.spikes["lif2"].sum() == 0 and res.output[0] == 0  # threshold 20 never reached


def test_cnn_sinabs_predicts_4_with_sinabs_sop_counts(shared_data):
    net = load_nir(shared_data / "nir" / "cnn_sinabs.nir")
    assert net.provenance["semantics"] == "sinabs"
    for name in ("1", "3", "6", "10", "12"):
        p = net.population(name)
        assert (p.kind, p.threshold, p.reset, p.v_min, p.multi_spike) == ("if", 1.0, "subtract", -1.0, True)
    t, x, y, p, frames = nmnist_frames(shared_data / "nmnist" / "sample_nmnist.bin")
    assert (len(t), int(x.sum()), int(y.sum()), int(p.sum())) == (4325, 74457, 71931, 2145)  # GROUND_TRUTH
    assert frames.shape[0] == 310  # span 310,521 us: 310 whole 1 ms windows
    res = forward(net, frames)
    assert res.prediction == 4
    out_spikes = res.spikes["12"].sum(axis=0)
    np.testing.assert_array_equal(res.output, out_spikes)  # per-class sum of output spikes
    # the sum-pools are composed into conv 5 and dense 9; their SOPs must equal sinabs' count:
    # pooled spikes x fan-out of the following layer, step by step
    pool = {"5": (net.population("3"), (16, 8, 8)), "9": (net.population("6"), (8, 4, 4))}
    for proj, (src, pooled_shape) in pool.items():
        sp = Projection("pool", "sumpool2d", "a", "b", kernel_size=2, stride=2)
        want = 0
        for step in range(frames.shape[0]):
            pooled = apply_projection(sp, res.spikes[src.name][step], pooled_shape)
            if proj == "5":
                conv = Projection("c", "conv2d", "a", "b", weight=np.ones((8, 16, 3, 3)), padding=1)
                want += apply_projection(conv, pooled, (8, 8, 8)).sum()
            else:
                want += pooled.sum() * 256
        assert res.sops[proj][:, 0].sum() == want


# -- errors ----------------------------------------------------------------------------------
def _lif_nodes(**lif):
    base = {"tau": [0.001], "r": [1.0], "v_leak": [0.0], "v_threshold": [1.0]}
    base.update(lif)
    return {"input": {"type": "Input", "shape": [3]},
            "fc": {"type": "Linear", "weight": np.ones((1, 3))},
            "lif": {"type": "LIF", **base},
            "output": {"type": "Output", "shape": [1]}}


@pytest.mark.parametrize("lif, needle", [
    ({"v_reset": [0.5]}, "v_reset != 0"),
    ({"tau": [0.5e-4]}, "exceeds tau"),
])
def test_inexpressible_neuron_parameters_are_named(tmp_path, lif, needle):
    path = write_nir(tmp_path / "x.nir", _lif_nodes(**lif), chain("input", "fc", "lif", "output"))
    with pytest.raises(ModelFormatError, match=needle):
        load_nir(path)


def test_per_neuron_thresholds_and_unsupported_nodes_are_all_listed(tmp_path):
    nodes = {"input": {"type": "Input", "shape": [3]},
             "fc": {"type": "Linear", "weight": np.ones((2, 3))},
             "lif": {"type": "LIF", "tau": [1e-3] * 2, "r": [1.0] * 2, "v_leak": [0.0] * 2,
                     "v_threshold": [1.0, 2.0]},
             "d": {"type": "Delay", "delay": [1.0, 1.0]},
             "li": {"type": "LI", "tau": [1e-3] * 2, "r": [1.0] * 2, "v_leak": [0.0] * 2},
             "output": {"type": "Output", "shape": [2]}}
    path = write_nir(tmp_path / "x.nir", nodes, chain("input", "fc", "lif", "d", "li", "output"))
    with pytest.raises(ModelFormatError) as err:
        load_nir(path)
    msg = str(err.value)
    assert "unsupported node type Delay (d)" in msg and "LI node 'li'" in msg and "accumulates" in msg
    path = write_nir(tmp_path / "y.nir", {k: v for k, v in nodes.items() if k not in ("d", "li")},
                     chain("input", "fc", "lif", "output"))
    with pytest.raises(ModelFormatError, match="v_threshold differs between neurons"):
        load_nir(path)


def _small(**changes):
    nodes = {"input": {"type": "Input", "shape": [3]},
             "fc": {"type": "Linear", "weight": np.ones((4, 3))},
             "if": {"type": "IF", "r": [1.0] * 4, "v_threshold": [1.0] * 4},
             "output": {"type": "Output", "shape": [4]}}
    nodes.update(changes)
    return nodes


@pytest.mark.parametrize("nodes, edges, needle", [
    (_small(**{"if": {"type": "IF", "r": [1.0] * 4, "v_threshold": [1.0] * 5}}),
     chain("input", "fc", "if", "output"), "node 'if': parameter of shape (5,) does not fit"),
    (_small(), chain("input", "fc", "if", "out"), "edge if -> out names an unknown node 'out'"),
    (_small(in2={"type": "Input", "shape": [3]}), chain("input", "fc", "if", "output"),
     "2 Input nodes"),
    ({k: v for k, v in _small().items() if k != "fc"}, chain("input", "if", "output"),
     "node 'if': parameter of shape (4,) does not fit the population (1, 1, 3)"),
    (_small(), chain("input", "if", "output"), "node 'fc' is not reachable from the input"),
    (_small(fc={"type": "Linear", "weight": np.ones((4, 5))}), chain("input", "fc", "if", "output"),
     "weight takes 5 inputs"),
    # an Output after an I node (the readout) that feeds on: it used to fail as "KeyError: 'None'"
    (_small(i={"type": "I", "r": [1.0] * 4}, fc2={"type": "Linear", "weight": np.ones((4, 4))}),
     chain("input", "fc", "i", "output", "fc2", "if"), "Output node 'output' feeds fc2"),
    (_small(fc2={"type": "Linear", "weight": np.ones((4, 4))}),
     chain("input", "fc", "if", "output", "fc2"), "Output node 'output' feeds fc2"),
])
def test_malformed_graphs_are_named(tmp_path, nodes, edges, needle):
    path = write_nir(tmp_path / "x.nir", nodes, edges)
    with pytest.raises(ModelFormatError) as err:
        load_nir(path)
    assert needle in str(err.value)


def test_unknown_version_and_non_nir_files(tmp_path):
    path = write_nir(tmp_path / "v.nir", _lif_nodes(), chain("input", "fc", "lif", "output"),
                     version="2.0.0")
    with pytest.raises(ModelFormatError, match="unknown NIR version '2.0.0'"):
        load_nir(path)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=[1])
    assert not is_nir_file(tmp_path / "plain.h5")
    with pytest.raises(ModelFormatError, match="not a NIR file"):
        load_nir(tmp_path / "plain.h5")


def test_lif_toy_euler_rule_and_defaults(tmp_path):
    path = write_nir(tmp_path / "x.nir", _lif_nodes(r=[2.0], v_leak=[0.5]),
                     chain("input", "fc", "lif", "output"), version="1.0.8")
    net = load_nir(path, dt=2e-4)
    lif = net.population("lif")
    # lambda = 1 - dt/tau = 0.8; gain dt R / tau = 0.4 folded into W; bias dt v_leak / tau = 0.1
    assert lif.decay == pytest.approx(0.8) and lif.bias[0] == pytest.approx(0.1)
    np.testing.assert_allclose(net.projections[0].weight, 0.4 * np.ones((1, 3)))


def test_threshold_instant_cuba_lif_and_integrator_nodes(tmp_path):
    nodes = {"input": {"type": "Input", "shape": [2]},
             "fc": {"type": "Linear", "weight": np.array([[1.0, -1.0], [0.5, 0.5]])},
             "th": {"type": "Threshold", "threshold": [0.25, 0.25]},
             "w2": {"type": "Linear", "weight": np.array([[2.0, 1.0]])},
             # tau_syn = dt: alpha = 0, the synaptic current is just the scaled input
             "cuba": {"type": "CubaLIF", "tau_syn": [1e-4], "tau_mem": [2e-4], "r": [1.0],
                      "v_leak": [0.0], "v_threshold": [1.0], "w_in": [3.0], "v_reset": [0.0]},
             "w3": {"type": "Affine", "weight": np.array([[1.0], [-1.0]]), "bias": [0.5, 0.0]},
             "acc": {"type": "I", "r": [2.0, 2.0]},
             "output": {"type": "Output", "shape": [2]}}
    path = write_nir(tmp_path / "x.nir", nodes, chain(*nodes), version="1.0.8")
    net = load_nir(path)
    th, cuba, acc = (net.population(n) for n in ("th", "cuba", "acc"))
    assert (th.kind, th.decay, th.threshold) == ("binary_lif", 0.0, 0.25)
    # CubaLIF: alpha = 1 - dt/tau_syn = 0, lambda = 1 - dt/tau_mem = 0.5, gain
    # dt/tau_syn w_in dt/tau_mem R = 1.5, reset to 0
    assert (cuba.kind, cuba.syn_decay, cuba.decay, cuba.reset) == ("cuba_lif", 0.0, 0.5, "zero")
    np.testing.assert_allclose(net.incoming("cuba")[0].weight, [[3.0, 1.5]])
    # I: v += R I -> the readout, weights and bias times R = 2
    assert acc.kind == "readout" and net.output_population is acc
    np.testing.assert_allclose(net.incoming("acc")[0].weight, [[2.0], [-2.0]])
    np.testing.assert_allclose(acc.bias, [1.0, 0.0])
    # Threshold is stateless: input (1, 0) every step gives fc = (1, 0.5) > 0.25 -> both spike
    res = forward(net, np.tile(np.array([1.0, 0.0]).reshape(1, 1, 1, 2), (3, 1, 1, 1)))
    assert res.spikes["th"].tolist() == [[1, 1]] * 3


# -- composition of linear chains --------------------------------------------------------------
def _random_chain(rng):
    """Input (C,H,W) -> Scale? -> pool? -> [Conv2d | Flatten+Affine]? -> Scale? -> IF -> Output."""
    c, h, w = int(rng.integers(1, 3)), 8, 8
    nodes = {"input": {"type": "Input", "shape": [c, h, w]}}
    names = ["input"]
    shape = (c, h, w)

    def add(name, params):
        nodes[name] = params
        names.append(name)

    if rng.random() < 0.5:
        add("s0", {"type": "Scale", "scale": np.broadcast_to(
            rng.normal(size=(c, 1, 1)), shape).copy()})
    if rng.random() < 0.7:
        kind = "AvgPool2d" if rng.random() < 0.5 else "SumPool2d"
        add("pool", {"type": kind, "kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]})
        shape = (c, 4, 4)
    end = rng.random()
    if end < 0.2:  # no weighted node: a (scaled / averaged) pool becomes a depthwise conv
        pass
    elif end < 0.6:
        cout = int(rng.integers(1, 4))
        add("conv", {"type": "Conv2d", "weight": rng.normal(size=(cout, c, 3, 3)),
                     "bias": rng.normal(size=cout), "stride": [1, 1], "padding": [1, 1],
                     "dilation": [1, 1], "groups": 1, "input_shape": list(shape[1:])})
        shape = (cout,) + shape[1:]
        if rng.random() < 0.5:
            add("s1", {"type": "Scale", "scale": np.broadcast_to(
                rng.normal(size=(cout, 1, 1)), shape).copy()})
    else:
        n = int(rng.integers(2, 5))
        add("flat", {"type": "Flatten", "start_dim": 0, "end_dim": -1, "input_type": list(shape)})
        add("fc", {"type": "Affine", "weight": rng.normal(size=(n, int(np.prod(shape)))),
                   "bias": rng.normal(size=n)})
        shape = (n,)
        if rng.random() < 0.5:
            add("s1", {"type": "Scale", "scale": rng.normal(size=n)})
    add("if", {"type": "IF", "r": np.full(shape, 1.5), "v_threshold": np.ones(shape)})
    add("output", {"type": "Output", "shape": list(shape)})
    return nodes, names, (c, h, w)


@pytest.mark.parametrize("seed", range(40))
def test_composed_chain_equals_the_node_by_node_chain(tmp_path, seed):
    rng = np.random.default_rng(seed)
    nodes, names, in_shape = _random_chain(rng)
    path = write_nir(tmp_path / "c.nir", nodes, chain(*names))
    net = load_nir(path)
    graph = read_graph(path)
    ctx = nn.MapContext(1e-4, "nir")
    x = rng.poisson(0.7, size=in_shape).astype(np.float64)
    want, shape = x, in_shape
    for name in names[1:-2]:  # apply each linear node as NIR defines it
        for op in nn.LINEAR_MAPPERS[graph.nodes[name].type](graph.nodes[name], ctx):
            out = nn.op_output_shape(op, shape) if op.kind != "flatten" else (int(np.prod(shape)),)
            want = nn.apply_op(op, want, shape)
            if op.bias is not None:
                want = want + op.bias.reshape((-1,) + (1,) * (len(out) - 1))
            shape = out
    want = 1.5 * want  # IF: v += R I with R = 1.5
    (proj,) = net.incoming("if")
    target = net.population("if")
    got = apply_projection(proj, x, target.shape)
    if target.bias is not None:
        got = got + target.bias.reshape((-1,) + (1,) * (len(target.shape) - 1))
    np.testing.assert_allclose(got.reshape(want.shape), want, atol=1e-9)


# -- export and round trips ----------------------------------------------------------------------
def expressible(net: Network, seed: int) -> Network:
    """``net`` with every neuron made NIR-expressible (binary_lif or sinabs' IAF) and biases kept
    only where a conv/dense projection can carry them."""
    rng = np.random.default_rng(seed)
    pops = []
    for p in net.populations:
        bias = p.bias
        if bias is not None and not any(q.kind in ("conv2d", "dense") for q in net.incoming(p.name)):
            bias = None
        if p.spiking:
            if rng.random() < 0.3:
                p = Population(p.name, "if", p.shape, threshold=p.threshold, reset="subtract",
                               v_min=-p.threshold, multi_spike=True, bias=bias)
            else:
                p = Population(p.name, "binary_lif", p.shape, threshold=p.threshold, decay=p.decay,
                               reset=p.reset, bias=bias)
        elif p.kind == "readout":
            p = Population(p.name, "readout", p.shape, bias=bias)
        pops.append(p)
    return Network(net.name, pops, net.projections, net.order, net.timesteps, net.input, net.provenance)


@pytest.mark.parametrize("seed", range(40))
def test_ir_nir_ir_round_trip_is_exact(tmp_path, seed):
    net = expressible(random_network(seed, frames=seed % 4 == 0), seed)
    save_nir(net, tmp_path / "n.nir")
    back = load_nir(tmp_path / "n.nir")
    assert_same_network(net, back)
    pos, neg = random_inputs(net, seed)
    np.testing.assert_array_equal(forward(net, pos, neg).output, forward(back, pos, neg).output)


@pytest.mark.parametrize("seed", range(12))
def test_exported_file_means_the_same_under_the_nir_rules(tmp_path, seed):
    # Strip eventsim's metadata: a third-party reader sees only NIR parameters. Decays of
    # 0.25/0.5/1 (randnet) give tau = dt/(1 - decay) whose Euler rule returns the same decay.
    net = random_network(seed, quantised=False)
    net = expressible(net, seed)
    sinabs = any(p.kind == "if" for p in net.populations)
    if sinabs:  # one convention per file: make every spiking population sinabs' IAF
        net = Network(net.name, [Population(p.name, "if", p.shape, threshold=p.threshold,
                                            reset="subtract", v_min=-p.threshold, multi_spike=True,
                                            bias=p.bias) if p.spiking else p for p in net.populations],
                      net.projections, net.order, net.timesteps, net.input)
    path = tmp_path / "n.nir"
    save_nir(net, path)
    with h5py.File(path, "a") as f:
        del f["node/metadata"]
        for g in f["node/nodes"].values():
            if "metadata" in g:
                del g["metadata"]
    back = load_nir(path, semantics="sinabs" if sinabs else "nir")
    pos, neg = random_inputs(net, seed)
    a, b = forward(net, pos, neg), forward(back, pos, neg)
    np.testing.assert_allclose(a.output, b.output, rtol=1e-9, atol=1e-9)


def test_ternary_and_inexact_neurons_are_refused_with_reasons(tmp_path):
    net = random_network(1)  # has ternary_lif populations
    with pytest.raises(ModelFormatError, match="ternary_lif: NIR neurons emit only 0/1 spikes"):
        save_nir(net, tmp_path / "t.nir")
    assert not list(tmp_path.iterdir())  # no partial file


def test_cnn_round_trip_and_model_h5_still_loads(shared_data, tmp_path):
    net = load_nir(shared_data / "nir" / "cnn_sinabs.nir")
    save_nir(net, tmp_path / "cnn.nir")
    assert_same_network(net, load_nir(tmp_path / "cnn.nir"))
    with h5py.File(tmp_path / "cnn.nir") as f:  # the sinabs idiom: last IF -> Output directly
        edges = [tuple(e.decode() for e in row) for row in f["node/edges"][()]]
        assert ("12", "output") in edges and f["node/nodes/output/type"][()] == b"Output"
    save_model(net, tmp_path / "m.h5")
    assert_same_network(net, load_network(tmp_path / "m.h5"))
    shutil.copy(tmp_path / "cnn.nir", tmp_path / "renamed.h5")  # detection is by content
    assert load_network(tmp_path / "renamed.h5").population("12").multi_spike


# -- interoperability with the reference `nir` package (skipped when it is not installed) --------
def _naive_nir_run(g, frames, dt):
    """The NIR equations stepped node by node (forward Euler, spikes at v > threshold, reset to
    v_reset or, without it, by subtraction), for a sequential graph; returns the Output node's
    input summed over the steps (eventsim's readout)."""
    order = [n for n in g.nodes if n != "input" and n != "output"]
    state = {}
    total = 0.0
    for x in frames:
        for name in order:
            node = g.nodes[name]
            kind = type(node).__name__
            if kind in ("Affine", "Linear"):
                x = node.weight @ x.reshape(-1) + (node.bias if kind == "Affine" else 0)
            elif kind == "Conv2d":
                p = Projection(name, "conv2d", "a", "b", weight=np.asarray(node.weight, np.float64),
                               stride=node.stride, padding=node.padding)
                shape = p.output_shape(x.shape)
                x = apply_projection(p, x, shape) + node.bias.reshape(-1, 1, 1)
            elif kind in ("SumPool2d", "AvgPool2d"):
                p = Projection(name, "sumpool2d", "a", "b", kernel_size=node.kernel_size,
                               stride=node.stride)
                x = apply_projection(p, x, p.output_shape(x.shape))
                if kind == "AvgPool2d":
                    x = x / np.prod(node.kernel_size)
            elif kind == "Flatten":
                x = x.reshape(-1)
            else:  # IF / LIF
                v = state.get(name, np.zeros(x.shape))
                if kind == "IF":
                    v = v + node.r * x
                else:
                    v = v + dt / node.tau * (node.v_leak - v + node.r * x)
                z = (v > node.v_threshold).astype(np.float64)
                subtract = getattr(node, "metadata", {}).get("subtract", False)
                v = v - z * node.v_threshold if subtract else np.where(z > 0, node.v_reset, v)
                state[name] = v
                x = z
        total = total + x
    return total


@pytest.mark.parametrize("seed", range(12))
def test_graphs_written_by_the_nir_package_run_as_the_nir_equations(tmp_path, seed):
    nir = pytest.importorskip("nir")
    rng = np.random.default_rng(seed)
    dt = 1e-4

    def neuron(shape):
        thr = np.full(shape, float(rng.choice([0.5, 1.0])))
        if rng.random() < 0.5:
            return nir.IF(r=np.full(shape, float(rng.choice([1.0, 1.5]))), v_threshold=thr)
        return nir.LIF(tau=np.full(shape, float(rng.choice([2e-4, 5e-4]))), r=np.full(shape, 2.0),
                       v_leak=np.full(shape, float(rng.choice([0.0, 0.3]))), v_threshold=thr)

    c1 = int(rng.integers(1, 4))
    nodes = [nir.Input(np.array([2, 8, 8])),
             nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0, 0.8, (c1, 2, 3, 3)), stride=1,
                        padding=1, dilation=1, groups=1, bias=rng.normal(0, 0.1, c1)),
             neuron((c1, 8, 8))]
    pool = nir.AvgPool2d if rng.random() < 0.5 else nir.SumPool2d
    nodes += [pool(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
              nir.Flatten(input_type={"input": np.array([c1, 4, 4])}, start_dim=0, end_dim=-1),
              nir.Affine(weight=rng.normal(0, 0.5, (6, c1 * 16)), bias=rng.normal(0.5, 0.1, 6)),
              neuron((6,)), nir.Affine(weight=rng.normal(0, 1, (3, 6)), bias=np.zeros(3))]
    g = nir.NIRGraph.from_list(*nodes)  # nodes "input", "conv2d", ..., "output", in order
    path = tmp_path / "g.nir"
    nir.write(path, g)
    subtract = rng.random() < 0.5
    if subtract:  # a node without v_reset (NIR < 1.0.6) resets by subtraction
        with h5py.File(path, "a") as f:
            for grp in f["node/nodes"].values():
                if "v_reset" in grp:
                    del grp["v_reset"]
        for n in g.nodes.values():
            n.metadata = {"subtract": True}
    net = load_nir(path, dt=dt, semantics="nir")
    frames = rng.poisson(0.8, (6, 2, 8, 8)).astype(np.float64)
    want = _naive_nir_run(g, frames, dt)
    res = forward(net, frames)
    assert sum(int(c.sum()) for name, c in res.spike_counts.items() if name != "input") > 0
    np.testing.assert_allclose(res.output, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_exported_files_pass_the_nir_package_type_check(tmp_path, seed):
    nir = pytest.importorskip("nir")
    net = expressible(random_network(seed, frames=seed % 4 == 0), seed)
    save_nir(net, tmp_path / "n.nir")
    # nir's type inference takes a grouped Conv2d's input channels as weight.shape[1] (Cin/groups)
    grouped = any(q.groups > 1 for q in net.projections)
    graph = nir.read(tmp_path / "n.nir", type_check=not grouped)
    assert set(graph.nodes) >= {p.name for p in net.populations}


def test_recurrent_cuba_export_round_trip(shared_data, tmp_path):
    """A Braille RNN written as NIR and read back (with and without eventsim's metadata) runs the
    same spikes; the nir package reads the file as a CubaLIF graph with the recurrent edge."""
    import nir

    from eventsim.engine.simulator import Simulator

    net = load_nir(shared_data / "nir" / "braille_noDelay_bias_zero.nir", reset="zero")
    save_nir(net, tmp_path / "b.nir")
    graph = nir.read(tmp_path / "b.nir")
    assert type(graph.nodes["lif1.lif"]).__name__ == "CubaLIF"
    assert ("lif1.w_rec", "lif1.lif") in graph.edges and ("lif1.lif", "lif1.w_rec") in graph.edges
    with h5py.File(tmp_path / "b.nir", "r+") as f:  # a reader without eventsim's notes: the rules alone
        for name in f["node/nodes"]:
            if "metadata" in f["node/nodes"][name]:
                del f["node/nodes"][name]["metadata"]
    x = (np.random.default_rng(1).random((80, 12)) < 0.3).astype(np.int64)
    want = Simulator(net, "float64").run_spike_rows(x, record=True)
    got = Simulator(load_nir(tmp_path / "b.nir"), "float64").run_spike_rows(x, record=True)
    for name in ("lif1.lif", "lif2"):
        assert np.array_equal(got.spikes[name], want.spikes[name])


def test_export_refuses_delays_nir_cannot_express(tmp_path):
    pops = [Population("input", "input", (1, 1, 2)),
            Population("h", "cuba_lif", (2,), threshold=1.0, decay=0.5, syn_decay=0.5),
            Population("out", "readout", (2,))]
    for delay, why in [(2, "delay 2"), (1, "not where a NIR reader")]:
        rec = Projection("rec", "dense", "h", "h", weight=np.eye(2), delay=delay)
        skip = Projection("skip", "dense", "input", "out", weight=np.eye(2), delay=1)  # no cycle
        projs = [Projection("in", "dense", "input", "h", weight=np.eye(2)), rec,
                 Projection("o", "identity", "h", "out")] + ([] if delay == 2 else [skip])
        net = Network("n", pops, projs, ["input", "h", "out"], input=InputSpec("events", "signed"))
        with pytest.raises(ModelFormatError, match=why):
            save_nir(net, tmp_path / "x.nir")
        assert not (tmp_path / "x.nir").exists()
