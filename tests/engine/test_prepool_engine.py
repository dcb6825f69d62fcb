"""Pre-pooled conv2d projections in both engines: float64 identical to the reference, int bit-exact."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.engine.reference import forward
from eventsim.engine.simulator import Simulator
from eventsim.jit import max_threads
from tests.engine.test_kernels_int import assert_bit_exact
from tests.engine.test_simulator import assert_same_as_reference
from tests.randnet import random_inputs, random_network


def test_generator_makes_pre_pools():
    assert sum(q.pre_pool is not None for s in range(20)
               for q in random_network(s, pre_pool=True).projections) >= 10


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**6), st.booleans(), st.integers(1, 4), st.sampled_from([1, 2]))
def test_float64_identical_to_reference(seed, frames, depth, threads):
    net = random_network(seed, depth=depth, frames=frames, pre_pool=True)
    pos, neg = random_inputs(net, seed)
    ref = forward(net, pos, neg)
    sim = Simulator(net, "float64", threads=min(threads, max_threads()))
    result = sim.run(pos, record=True) if frames else sim.run_counts(pos, neg, record=True)
    assert_same_as_reference(net, result, ref)


@pytest.mark.parametrize("seed", range(20))
def test_int_bit_exact(seed):
    net = random_network(seed, pre_pool=True)
    pos, neg = random_inputs(net, seed)
    assert_bit_exact(net, pos, neg)


@pytest.mark.parametrize("seed", range(4))
def test_int_bit_exact_frames(seed):
    net = random_network(200 + seed, frames=True, pre_pool=True)
    pos, _ = random_inputs(net, seed)
    assert_bit_exact(net, pos)
