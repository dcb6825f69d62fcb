"""report["neurobench"] equals what NeuroBench's own hooks measure on the PyTorch twin of the network.

The twin (tests/energy/nbtwin.py) is fed exactly the input the engine recorded (binned events per
pixel, or the frames), one step per call, and must emit the engine's spikes; then every metric
NeuroBench computes on it must equal eventsim's. Needs ``neurobench`` and ``snntorch`` (installed
with ``--no-deps`` by .ci/run); skipped without them.
"""

from importlib import resources

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")
pytest.importorskip("snntorch")
pytest.importorskip("neurobench")

from eventsim.energy.neurobench import neurobench_metrics  # noqa: E402
from eventsim.energy.report import build_report  # noqa: E402
from eventsim.engine.simulator import Simulator  # noqa: E402
from eventsim.network.loading import load_network  # noqa: E402
from tests.energy.nbtwin import neurobench_run, static_metrics  # noqa: E402
from tests.randnet import random_inputs, random_network  # noqa: E402

DATA = resources.files("eventsim") / "data"


def _twin_input(result, frames=None) -> np.ndarray:
    """What the twin is fed each step: the frames, or the engine's recorded input."""
    if frames is not None:
        frames = np.asarray(frames, np.float64)
        return np.repeat(frames, result.timesteps, axis=0) if frames.shape[0] == 1 else frames
    return result.spikes["input"].astype(np.float64)


def assert_equal_to_neurobench(result, frames=None) -> dict:
    ours = neurobench_metrics(result, frames)
    theirs, twin_spikes = neurobench_run(result.network, _twin_input(result, frames))
    for name, spikes in twin_spikes.items():  # the twin ran the same dynamics
        np.testing.assert_array_equal(spikes, result.spikes[name], err_msg=name)
    syn = theirs["SynapticOperations"]
    assert ours["effective_acs"] == syn["Effective_ACs"]
    assert ours["effective_macs"] == syn["Effective_MACs"]
    assert ours["dense"] == syn["Dense"]
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-12)
    assert ours["membrane_updates"] == theirs["MembraneUpdates"]
    static = static_metrics(result.network)
    assert ours["parameter_count"] == static["ParameterCount"] == theirs["ParameterCount"]
    assert ours["connection_sparsity"] == static["ConnectionSparsity"]
    assert ours["footprint_bytes"]["twin"] == static["Footprint"]
    for key in ("effective_acs", "effective_macs", "dense", "membrane_updates"):  # by eventsim layer
        assert sum(row[key] or 0 for row in ours["per_population"]) == ours[key]
    return ours


def test_demo_model_matches_neurobench():
    """The trained dvs_cnn of models/ (converted, bundled) on the demo recording, float64 engine."""
    if not (DATA / "demo_model.h5").is_file():
        pytest.skip("the bundled demo is not installed")
    sim = Simulator(load_network(str(DATA / "demo_model.h5")), precision="float64")
    result = sim.run(str(DATA / "demo.aedat4"), record=True)
    ours = assert_equal_to_neurobench(result)
    # event counts > 1 per pixel and bin make the first layer's input non-binary: MACs
    assert ours["per_layer"][0]["effective_macs"] > 0 and ours["per_layer"][0]["effective_acs"] == 0
    assert ours["effective_acs"] > 0


# seeds chosen for activity in every layer kind: multi-spike, identity, sum-pool, pre-pool,
# signed input and ternary spikes (tests/randnet.py draws the networks)
@pytest.mark.parametrize("seed", [3, 4, 9, 21, 28, 33, 39])
def test_random_event_networks_match_neurobench(seed):
    """Every neuron and projection kind (ternary/binary/multi-spike, identity, sum-pool, pre-pool)."""
    net = random_network(seed, pre_pool=True)
    pos, neg = random_inputs(net, seed)
    result = Simulator(net, precision="float64").run_counts(pos, neg, record=True)
    assert_equal_to_neurobench(result)


@pytest.mark.parametrize("seed", [4, 6])
def test_frame_networks_match_neurobench(seed):
    """An analog encoder: its operations are MACs, counted from the frames given to the report."""
    net = random_network(seed, frames=True)
    frames, _ = random_inputs(net, seed)
    result = Simulator(net, precision="float64").run_frames(frames, record=True)
    ours = assert_equal_to_neurobench(result, frames)
    assert ours["effective_macs"] > 0


def test_report_carries_neurobench_and_says_what_is_missing():
    net = random_network(1)
    pos, neg = random_inputs(net, 1)
    sim = Simulator(net, precision="float64")
    full = build_report(sim.run_counts(pos, neg, record=True))["neurobench"]
    bare = build_report(sim.run_counts(pos, neg))["neurobench"]
    assert full["effective_acs"] is not None and "missing" not in full
    assert bare["effective_acs"] is None and bare["membrane_updates"] is None
    assert "record=True" in bare["missing"][0]
    assert bare["dense"] == full["dense"] and bare["parameter_count"] == full["parameter_count"]


def test_eval_records_and_summary_carry_neurobench():
    """`eventsim eval` keeps NeuroBench's workload metrics per sample and summarises them."""
    from eventsim.eval.dataset import Sample
    from eventsim.eval.render import format_csv, format_text
    from eventsim.eval.sample import evaluate_sample
    from eventsim.eval.summary import summarize
    from eventsim.inputs import InputSpec

    if not (DATA / "demo_model.h5").is_file():
        pytest.skip("the bundled demo is not installed")
    sim = Simulator(load_network(str(DATA / "demo_model.h5")), precision="float64")
    recs = [evaluate_sample(sim, Sample(k, str(DATA / "demo" / f"digit{k}.aedat4"), k, f"digit{k}"),
                            InputSpec()) for k in range(3)]
    for rec in recs:
        result = sim.run(str(DATA / "demo" / f"digit{rec['label']}.aedat4"), record=True)
        full = neurobench_metrics(result)
        assert rec["neurobench"] == {k: full[k] for k in rec["neurobench"]}
    doc = summarize(recs, ["0", "1", "2"])
    acs = [r["neurobench"]["effective_acs"] for r in recs]
    assert doc["neurobench"]["effective_acs"]["mean"] == pytest.approx(np.mean(acs))
    assert "NeuroBench membrane updates" in format_text({**doc, "model": "m", "dataset": "d"})
    assert format_csv(recs, ["input"]).splitlines()[0].endswith("nb_membrane_updates")
