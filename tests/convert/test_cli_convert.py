"""``eventsim convert`` through click's CliRunner: success, listing, and exit 2 on bad input."""

from __future__ import annotations

import json
import pickle
import zipfile

import pytest
from click.testing import CliRunner

from eventsim.cli import cli

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")

from models.dvs import dvs_cnn  # noqa: E402

ARGS = ["--arch", "dvs_cnn", "-T", "2", "--input-shape", "2,34,34"]


@pytest.fixture(scope="module")
def state():
    torch.manual_seed(0)
    return dvs_cnn(2).state_dict()


def _convert(tmp_path, sd, *extra):
    ckpt = tmp_path / "ckpt.pth"
    torch.save(sd, ckpt)
    out = tmp_path / "model.h5"
    res = CliRunner().invoke(cli, ["convert", str(ckpt), *ARGS, "-o", str(out), *extra])
    return res, out


def _no_leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth"]


def test_list_archs_text_and_json():
    res = CliRunner().invoke(cli, ["convert", "--list-archs"])
    assert res.exit_code == 0
    for arch in ("dvs_cnn", "resnet19_cifar", "resnet20_cifar", "resnet20_cifar_modified",
                 "resnet18", "resnet34", "vgg16"):
        assert arch in res.output
    res = CliRunner().invoke(cli, ["convert", "--list-archs", "--json"])
    doc = json.loads(res.output)
    assert {"name": "dvs_cnn", "input_kind": "events"} == {k: doc[0][k] for k in ("name", "input_kind")}


def test_json_summary(tmp_path, state):
    res, out = _convert(tmp_path, state, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # the "wrote PATH (size)" line goes to stderr
    assert res.stderr.startswith(f"wrote {out} (")
    assert doc["populations"] == 4 and doc["projections"] == 3 and doc["dtype"] == "float32"
    assert out.exists()


def test_missing_key(tmp_path, state):
    sd = dict(state)
    del sd["model.bn2.conv.running_var"]
    res, out = _convert(tmp_path, sd)
    assert res.exit_code == 2
    assert "error: " in res.output and "missing key 'model.bn2.conv.running_var'" in res.output
    assert "Traceback" not in res.output
    assert _no_leftovers(tmp_path)


def test_extra_key(tmp_path, state):
    sd = dict(state)
    sd["model.conv3.pool.weight"] = torch.ones(3)
    res, _ = _convert(tmp_path, sd)
    assert res.exit_code == 2 and "unexpected key 'model.conv3.pool.weight'" in res.output
    assert _no_leftovers(tmp_path)


def test_shape_mismatch(tmp_path, state):
    sd = dict(state)
    sd["model.conv2.pool.weight"] = torch.ones(32, 16, 5, 5)
    res, _ = _convert(tmp_path, sd)
    assert res.exit_code == 2
    assert "model.conv2.pool.weight: expected shape (32, 16, 3, 3), got (32, 16, 5, 5)" in res.output
    assert _no_leftovers(tmp_path)


def test_bad_fire_ratio_shape(tmp_path, state):
    sd = dict(state)
    sd["model.relu1.fire_ratio"] = torch.ones(1, 7, 1, 1)
    res, _ = _convert(tmp_path, sd)
    assert res.exit_code == 2 and "model.relu1.fire_ratio: expected shape" in res.output


def test_unknown_arch(tmp_path, state):
    ckpt = tmp_path / "ckpt.pth"
    torch.save(state, ckpt)
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "--arch", "resnet50", "-T", "2",
                                   "--input-shape", "2,34,34", "-o", str(tmp_path / "m.h5")])
    assert res.exit_code == 2 and "unknown arch 'resnet50'" in res.output
    assert _no_leftovers(tmp_path)


def test_wrong_input_shape_for_events(tmp_path, state):
    res, _ = _convert(tmp_path, state, "--input-shape", "3,34,34")
    assert res.exit_code == 2 and "needs 2 channels" in res.output


def test_evil_checkpoint_exit_2(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    ckpt = tmp_path / "ckpt.pth"
    with zipfile.ZipFile(ckpt, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    res = CliRunner().invoke(cli, ["convert", str(ckpt), *ARGS, "-o", str(tmp_path / "m.h5")])
    assert res.exit_code == 2 and "refused to load global" in res.output
    assert not marker.exists() and _no_leftovers(tmp_path)


@pytest.mark.parametrize("args,msg", [
    (["--arch", "dvs_cnn"], "missing --timesteps, --input-shape"),
    (["--arch", "dvs_cnn", "-T", "2", "--input-shape", "2,34"], "expected C,H,W"),
])
def test_usage_errors(tmp_path, state, args, msg):
    ckpt = tmp_path / "ckpt.pth"
    torch.save(state, ckpt)
    res = CliRunner().invoke(cli, ["convert", str(ckpt), *args, "-o", str(tmp_path / "m.h5")])
    assert res.exit_code == 2 and msg in res.output
    assert _no_leftovers(tmp_path)
