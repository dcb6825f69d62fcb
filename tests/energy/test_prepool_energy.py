"""Effective (nonzero-weight) SOP counts of pre-pooled conv2d projections (energy/compare.py)."""

import numpy as np
import pytest

from eventsim.energy.compare import effective_sops, fanout
from eventsim.engine.reference import forward
from tests.energy.test_energy_report import _naive_effective
from tests.randnet import random_inputs, random_network


@pytest.mark.parametrize("seed", range(15))
def test_fanout_dot_units_is_the_exact_sop_count(seed):
    net = random_network(seed, pre_pool=True)
    pos, neg = random_inputs(net, seed)
    ref = forward(net, pos, neg)
    exact = effective_sops(net, {n: np.maximum(s, 0) for n, s in ref.spikes.items()} | {"input": pos},
                           {n: np.maximum(-s, 0) for n, s in ref.spikes.items()} | {"input": neg},
                           nonzero_only=False)
    for proj in net.projections:
        np.testing.assert_array_equal(exact[proj.name], ref.sops[proj.name])


@pytest.mark.parametrize("seed", range(15))
def test_nonzero_fanout_matches_naive_masked_projection(seed):
    net = random_network(seed, quantised=True, pre_pool=True)
    rng = np.random.default_rng(seed)
    for proj in net.projections:
        s, t = net.population(proj.source).shape, net.population(proj.target).shape
        units = rng.poisson(0.7, s)
        got = int((units * fanout(proj, s, t, nonzero_only=True)).sum())
        assert got == _naive_effective(proj, s, t, units)
