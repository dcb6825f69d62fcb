"""The oracle itself, checked on hand-computed tiny networks and against torch's conv."""

import numpy as np
import pytest

from eventsim.engine.reference import forward
from eventsim.network.counts import synapse_count
from eventsim.network.ir import InputSpec, Network, Population, Projection
from eventsim.network.linear import apply_projection
from tests.randnet import random_network


def one_neuron_net(kind, w=1.0, **pop):
    """input (1,1,1) signed --w--> one neuron --1--> readout."""
    pops = [Population("input", "input", (1, 1, 1)), Population("n", kind, (1,), **pop),
            Population("out", "readout", (1,))]
    projs = [Projection("a", "dense", "input", "n", weight=np.array([[w]])),
             Projection("b", "dense", "n", "out", weight=np.array([[1.0]]))]
    return Network("one", pops, projs, ["input", "n", "out"], input=InputSpec(polarity="signed"))


def run_one(net, pos, neg=None):
    pos = np.asarray(pos, float).reshape(-1, 1, 1, 1)
    neg = None if neg is None else np.asarray(neg, float).reshape(-1, 1, 1, 1)
    return forward(net, pos, neg)


def test_ternary_lif_hand_computed():
    # w=0.3, decay 0.25, theta 0.5.  v1=0.3 (no spike); v2=0.075+0.3=0.375; v3=0.09375+0.3=0.39375;
    # with 2 input spikes in step 4: v4 = 0.0984375+0.6 = 0.6984375 >= 0.5 -> +1, reset to 0.
    net = one_neuron_net("ternary_lif", w=0.3, threshold=0.5, decay=0.25)
    r = run_one(net, [1, 1, 1, 2])
    assert r.spikes["n"].ravel().tolist() == [0, 0, 0, 1]
    assert r.membranes["n"][0] == 0.0
    # SOPs of the input projection: one per input spike unit; readout gets one per output spike
    assert r.sops["a"][:, 0].tolist() == [1, 1, 1, 2]
    assert r.sops["b"][:, 0].tolist() == [0, 0, 0, 1]
    assert r.output.tolist() == [1.0]


def test_ternary_negative_spike_and_ties():
    net = one_neuron_net("ternary_lif", w=0.5, threshold=0.5, decay=0.25)
    # v == theta fires (+1); v == -theta fires (-1)
    r = run_one(net, [1, 0], [0, 1])
    assert r.spikes["n"].ravel().tolist() == [1, -1]
    assert r.spike_counts["n"].tolist() == [[1, 0], [0, 1]]
    assert r.sops["a"].tolist() == [[1, 0], [0, 1]]
    assert r.sops["b"].tolist() == [[1, 0], [0, 1]]
    assert r.output.tolist() == [0.0]


def test_binary_lif_tie_does_not_fire_and_no_negative():
    net = one_neuron_net("binary_lif", w=0.5, threshold=0.5, decay=0.5)
    # v1 = 0.5 == theta: no spike (strict); v2 = 0.25 + 0.5 = 0.75 > 0.5: spike, reset 0
    r = run_one(net, [1, 1, 0], [0, 0, 3])
    assert r.spikes["n"].ravel().tolist() == [0, 1, 0]
    assert r.membranes["n"][0] == -1.5  # three -0.5 inputs, never a negative spike


def test_if_subtract_multispike_and_floor():
    net = one_neuron_net("if", w=1.0, threshold=1.0, reset="subtract", v_min=-1.0, multi_spike=True)
    # step1: v=2.5 -> s=2, v=0.5; step2: v=0.5-3=-2.5 -> floor -1; step3: v=-1+1=0
    r = run_one(net, [3, 0, 1], [0.5, 3, 0])
    assert r.spikes["n"].ravel().tolist() == [2, 0, 0]
    assert r.membranes["n"][0] == 0.0
    assert r.sops["b"][:, 0].tolist() == [2, 0, 0]  # a spike of value 2 is two SOP units
    assert r.output.tolist() == [2.0]


def test_if_zero_reset_and_lif_decay():
    net = one_neuron_net("if", w=0.6, threshold=1.0)
    r = run_one(net, [1, 1, 1, 1])
    assert r.spikes["n"].ravel().tolist() == [0, 1, 0, 1]
    net = one_neuron_net("lif", w=0.8, threshold=1.0, decay=0.5)
    r = run_one(net, [1, 1, 1])  # 0.8, 1.2 -> spike, 0.8
    assert r.spikes["n"].ravel().tolist() == [0, 1, 0]


def test_readout_bias_every_step():
    pops = [Population("input", "input", (2, 1, 1)), Population("out", "readout", (2,), bias=[0.5, -1])]
    projs = [Projection("a", "dense", "input", "out", weight=np.eye(2))]
    net = Network("r", pops, projs, ["input", "out"])
    r = forward(net, np.ones((3, 2, 1, 1)))
    assert r.output.tolist() == [4.5, 0.0]


def test_conv_matches_torch():
    torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")
    rng = np.random.default_rng(0)
    for _ in range(20):
        groups = int(rng.choice([1, 2]))
        cin, cout = 2 * groups, 2 * groups
        k, s, p, d = (int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2)),
                      int(rng.integers(1, 3)))
        x = rng.normal(size=(cin, 9, 8))
        w = rng.normal(size=(cout, cin // groups, k, k))
        proj = Projection("c", "conv2d", "a", "b", weight=w, stride=s, padding=p, dilation=d,
                          groups=groups)
        want = torch.nn.functional.conv2d(torch.tensor(x)[None], torch.tensor(w), stride=s,
                                          padding=p, dilation=d, groups=groups)[0].numpy()
        got = apply_projection(proj, x, want.shape)
        np.testing.assert_allclose(got, want, atol=1e-12)
        p = min(p, k // 2)  # torch's pooling limit
        pool = Projection("q", "sumpool2d", "a", "b", kernel_size=k, stride=s, padding=p)
        want = torch.nn.functional.avg_pool2d(torch.tensor(x)[None], k, s, p,
                                              count_include_pad=True)[0].numpy() * k * k
        np.testing.assert_allclose(apply_projection(pool, x, want.shape), want, atol=1e-12)


@pytest.mark.parametrize("seed", range(15))
def test_all_ones_input_sops_equal_synapse_count(seed):
    """Every source neuron spiking once gives exactly one SOP per in-bounds synapse."""
    net = random_network(seed)
    for proj in net.projections:
        s = net.population(proj.source).shape
        t = net.population(proj.target).shape
        ones = apply_projection(proj, np.ones(s), t, unit_weights=True)
        assert int(ones.sum()) == synapse_count(proj, s, t)


def test_frame_input_counts_macs_not_sops():
    net = random_network(4, frames=True)
    x = np.random.default_rng(0).normal(size=(3,) + net.input_shape)
    r = forward(net, x)
    for proj in net.incoming(net.order[1]):
        assert r.sops[proj.name].sum() == 0
        assert (r.macs[proj.name] > 0).all()
