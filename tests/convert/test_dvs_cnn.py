"""dvs_cnn: PyTorch float64 forward == eventsim on the converted --dtype float64 model."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")

from click.testing import CliRunner  # noqa: E402

from eventsim.cli import cli  # noqa: E402
from eventsim.convert import convert_checkpoint  # noqa: E402
from eventsim.engine.reference import forward  # noqa: E402
from eventsim.engine.simulator import Simulator  # noqa: E402
from eventsim.network.h5io import load_model  # noqa: E402
from models.dvs import dvs_cnn  # noqa: E402
from tests.convert.torchref import assert_matches, draw_input, randomise, torch_run  # noqa: E402


@pytest.mark.parametrize("mode", ["ternary", "binary"])
@pytest.mark.parametrize("seed", [0, 1])
def test_dvs_cnn_cli_matches_torch(tmp_path, mode, seed):
    timesteps = 2 + seed
    model = randomise(dvs_cnn(timesteps, mode=mode), seed)
    ckpt = tmp_path / "dvs.pth"
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / "model.h5"
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "--arch", "dvs_cnn", "--timesteps",
                                   str(timesteps), "--input-shape", "2,34,34", "--input-kind",
                                   "events", "--neuron", mode, "--dtype", "float64", "-o", str(out)])
    assert res.exit_code == 0, res.output
    net = load_model(out)
    assert net.input.kind == "events" and net.timesteps == timesteps
    with h5py.File(out) as f:
        assert f["projections/conv1/weight"].dtype == np.float64
    x, logits, counts = draw_input(model, (2, 34, 34), timesteps, "events", seed)
    # the network must actually spike, or spike-count equality proves little
    assert counts["relu1"][0] > 0 and counts["relu2"][0] > 0
    if mode == "ternary":
        assert counts["relu1"][1] > 0
    assert_matches(net, x, "events", timesteps, logits, counts)


def test_dvs_cnn_provenance(tmp_path):
    model = randomise(dvs_cnn(2), 3)
    ckpt = tmp_path / "dvs.pth"
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / "model.h5"
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "--arch", "dvs_cnn", "-T", "2",
                                   "--input-shape", "2,34,34", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    net = load_model(out)
    prov = net.provenance
    assert prov["source"] == {"file": "dvs.pth", "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest()}
    assert prov["arch"] == "dvs_cnn" and prov["timesteps"] == 2
    kinds = [f["fold"] for f in prov["folds"]]
    for k in ("batchnorm", "alpha", "avgpool", "temporal_mean"):
        assert k in kinds
    # float32 by default
    with h5py.File(out) as f:
        assert f["projections/fc/weight"].dtype == np.float32


def test_signed_polarity_input(tmp_path):
    """1-channel signed event input (ON +1, OFF -1): a ternary input layer."""
    torch.manual_seed(5)
    model = randomise(dvs_cnn(2, in_channels=1), 5)
    ckpt = tmp_path / "signed.pth"
    torch.save(model.state_dict(), ckpt)
    net = convert_checkpoint(ckpt, "dvs_cnn", 2, (1, 34, 34), input_kind="events", polarity="signed")
    rng = np.random.default_rng(5)
    for _ in range(20):
        pos = rng.poisson(0.3, size=(2, 1, 34, 34)).astype(np.float64)
        neg = rng.poisson(0.3, size=(2, 1, 34, 34)).astype(np.float64)
        logits, counts, margin = torch_run(model, torch.from_numpy((pos - neg)[None]))
        if margin >= 1e-9:
            break
    ref = forward(net, pos, neg)
    sim = Simulator(net, precision="float64").run_counts(pos, neg)
    for out, spk in ((ref.output, ref.spike_counts), (sim.output, sim.spike_counts)):
        np.testing.assert_allclose(out, logits, rtol=1e-5, atol=1e-5 * np.abs(logits).max())
        for pop, c in counts.items():
            assert list(spk[pop].sum(0)) == c
    assert int(ref.sops["conv1"][:, 1].sum()) > 0  # negative input events reached the first layer
