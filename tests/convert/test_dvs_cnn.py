"""dvs_cnn: PyTorch float64 forward == eventsim on the converted --dtype float64 model."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from eventsim.cli import cli  # noqa: E402
from eventsim.network.h5io import load_model  # noqa: E402
from models.dvs import dvs_cnn  # noqa: E402
from tests.convert.torchref import assert_matches, draw_input, randomise  # noqa: E402


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
    import hashlib

    assert prov["source"] == {"file": "dvs.pth", "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest()}
    assert prov["arch"] == "dvs_cnn" and prov["timesteps"] == 2
    kinds = [f["fold"] for f in prov["folds"]]
    for k in ("batchnorm", "alpha", "avgpool", "temporal_mean"):
        assert k in kinds
    # float32 by default
    with h5py.File(out) as f:
        assert f["projections/fc/weight"].dtype == np.float32
