"""The README's "Validation" section shows what `eventsim validate` prints on the bundled demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eventsim.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MODEL, RECORDING = "eventsim/data/demo_model.h5", "eventsim/data/demo.aedat4"


def test_readme_validate_output(monkeypatch):
    if not (ROOT / MODEL).is_file() or not (ROOT / RECORDING).is_file():
        pytest.skip("the bundled demo files are absent")
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Validation", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert f"eventsim validate {MODEL} --input {RECORDING}" in section
    shown = section.split("```text\n", 1)[1].split("```", 1)[0].strip()
    monkeypatch.chdir(ROOT)  # the README runs from the repository root
    res = CliRunner().invoke(cli, ["validate", MODEL, "--input", RECORDING])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == shown
