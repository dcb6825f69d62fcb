"""NeuroBench's membrane updates from the engine's recorded currents equal the dense replay."""

from dataclasses import replace

import numpy as np
import pytest

from eventsim.energy.neurobench import membrane_updates
from eventsim.engine.simulator import Simulator
from tests.randnet import random_inputs, random_network


@pytest.mark.parametrize("seed", range(12))
def test_recorded_currents_give_the_replayed_membrane_updates(seed):
    net = random_network(seed, quantised=True)  # dyadic weights: float64 sums are exact either way
    pos, neg = random_inputs(net, seed)
    result = Simulator(net, "float64").run_counts(pos, neg, record=True)
    assert result.currents is not None and set(result.currents) == {
        p.name for p in net.populations if p.kind not in ("input", "readout")}
    fast = membrane_updates(result)
    assert fast == membrane_updates(replace(result, currents=None))
    assert fast >= sum(p.size for p in net.populations if p.spiking)


def test_int_runs_record_no_float_currents():
    net = random_network(1)
    pos, neg = random_inputs(net, 1)
    assert Simulator(net, "int").run_counts(pos, neg, record=True).currents is None
    assert np.isfinite(membrane_updates(Simulator(net, "int").run_counts(pos, neg, record=True)))
