"""The README's "Validation" example prints exactly what the README shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eventsim.cli import cli

torch = pytest.importorskip("torch")

from models.dvs import dvs_cnn  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_validate_output(tmp_path):
    section = README.read_text(encoding="utf-8").split("## Validation", 1)[1]
    assert "eventsim validate dvs.h5 " in section
    shown = section.split("```text\n", 1)[1].split("```", 1)[0].strip()
    torch.manual_seed(0)  # the README's checkpoint: dvs_cnn(8) as initialised after seed 0
    ckpt = tmp_path / "dvs.pth"
    torch.save(dvs_cnn(8).state_dict(), ckpt)
    model = tmp_path / "dvs.h5"
    runner = CliRunner()
    res = runner.invoke(cli, ["convert", str(ckpt), "--arch", "dvs_cnn", "-T", "8",
                              "--input-shape", "2,34,34", "-o", str(model)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["validate", str(model)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == shown
