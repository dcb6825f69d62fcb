"""The README's "Converting a checkpoint" commands work as shown (dvs_cnn from models/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eventsim.cli import cli

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")

from models.dvs import dvs_cnn  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_convert_and_run(shared_data, tmp_path):
    section = README.read_text(encoding="utf-8").split("## Converting a checkpoint", 1)[1]
    assert ("eventsim convert scratch/dvs.pth --arch dvs_cnn -T 8 --input-shape 2,34,34 "
            "-o scratch/dvs.h5") in section
    torch.manual_seed(0)
    ckpt = tmp_path / "dvs.pth"
    torch.save(dvs_cnn(8).state_dict(), ckpt)
    out = tmp_path / "dvs.h5"
    runner = CliRunner()
    res = runner.invoke(cli, ["convert", str(ckpt), "--arch", "dvs_cnn", "-T", "8",
                              "--input-shape", "2,34,34", "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["run", str(out), "--input", str(shared_data / "nmnist" / "sample_nmnist.bin")])
    assert res.exit_code == 0, res.output
    assert "multiplications after the encoder: 0" in res.output
