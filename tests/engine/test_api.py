"""The Python API a notebook uses: obvious calls work, objects print short."""

import numpy as np
import pytest

import eventsim
from eventsim.errors import ConfigError

DEMO = "eventsim/data/demo_model.h5"
REC = "eventsim/data/demo.aedat4"


def test_read_events_result_runs_directly():
    model = eventsim.load_model(DEMO)
    sim = eventsim.Simulator(model, precision="float64")
    pair = eventsim.read_events(REC)
    events, sensor = pair
    whole = sim.run(pair, timesteps=4)
    apart = sim.run(events, timesteps=4, sensor=sensor)
    assert np.array_equal(whole.output, apart.output) and whole.totals == apart.totals
    assert whole.input_info["sensor"] == list(sensor)


def test_results_and_networks_print_short():
    model = eventsim.load_model(DEMO)
    result = eventsim.Simulator(model).run(eventsim.read_events(REC), timesteps=4)
    for text in (repr(model), repr(result), str(result)):
        assert len(text) < 200 and "array" not in text
    assert repr(model).startswith("Network('dvs_cnn'")
    assert f"prediction={result.prediction}" in repr(result)


def test_values_are_properties():
    result = eventsim.Simulator(eventsim.load_model(DEMO)).run(eventsim.read_events(REC), timesteps=4)
    assert result.totals["sops"] == sum(lay["sops"] for lay in result.layers)
    assert [p["name"] for p in result.projections] == [q.name for q in result.network.projections]


def test_unknown_precision_lists_every_precision():
    with pytest.raises(ConfigError, match="known: float32, float64, int"):
        eventsim.Simulator(eventsim.load_model(DEMO), precision="fp16")
