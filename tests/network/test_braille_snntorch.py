"""The NIR paper's Braille RNNs against snnTorch, the framework that trained and exported them.

snnTorch runs the original models (checkpoint + JSON, float64); eventsim must produce the same
spikes in both layers, step by step, from an IR built from the checkpoint's exact α, β and
weights, and from the NIR graphs (whose τ round-trip gives the same α, β and an input gain
within a few ulp of 1) once their reset is the checkpoint's. ``braille_ref.main`` prints the
full table (README "Recurrent networks").
"""

import numpy as np
import pytest

from tests.network import braille_ref as br

pytestmark = pytest.mark.slow
pytest.importorskip("torch")
pytest.importorskip("snntorch")


@pytest.fixture(scope="module")
def inputs():
    # 12 random spike trains of 256 steps (rates 2-40 %) and the six hand-made patterns
    return np.concatenate([br.random_inputs(12, 256, seed=5), br.patterns(256)])


@pytest.mark.parametrize("model", list(br.MODELS))
def test_eventsim_spikes_identical_to_snntorch(shared_data, inputs, model):
    from eventsim.network.nir import load_nir

    nir_dir = shared_data / "nir"
    sd, hyper = br.load_checkpoint(nir_dir, model)
    ref = br.run_snntorch(br.snntorch_model(sd, hyper), inputs)
    assert ref["lif1"].sum() > 1000 and ref["lif2"].sum() > 100  # the comparison is not vacuous
    exact = br.run_eventsim(br.checkpoint_network(sd, int(hyper["nb_hidden"])), inputs)
    reset = br.RESETS[int(sd["lif1.reset_mechanism_val"])]
    graph = br.run_eventsim(load_nir(nir_dir / br.MODELS[model][0], reset=reset), inputs)
    for ours in (exact, graph):
        for layer in br.LAYERS:
            assert np.array_equal(ours[layer], ref[layer]), layer


def test_the_reset_mechanism_matters(shared_data, inputs):
    """bias_zero was trained with reset to zero, which its NIR file (version 0.2.0, no v_reset) cannot
    say: imported by the NIR rule of its time (subtract) it spikes differently, so the test above
    would catch a reset applied at the wrong time or in the wrong way."""
    from eventsim.network.nir import load_nir

    nir_dir = shared_data / "nir"
    sd, hyper = br.load_checkpoint(nir_dir, "bias_zero")
    ref = br.run_snntorch(br.snntorch_model(sd, hyper), inputs)
    default = br.agreement(br.run_eventsim(load_nir(nir_dir / br.MODELS["bias_zero"][0]), inputs), ref)
    assert default.identical_samples < default.samples and default.spikes_equal["lif2"] < 0.95
