"""The Markdown table in the README's "Energy report" section is what the demo command prints."""

from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventsim.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _section_table(text: str) -> list[str]:
    section = text.split("## Energy report", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_readme_energy_table_is_current(tmp_path):
    if not (resources.files("eventsim") / "data" / "demo_model.h5").is_file():
        pytest.skip("the bundled demo is not installed")
    section = README.read_text(encoding="utf-8").split("## Energy report", 1)[1]
    assert "eventsim run --report md --plot scratch/layers.png" in section
    r = CliRunner().invoke(cli, ["run", "--report", "md", "--plot", str(tmp_path / "layers.png")])
    assert r.exit_code == 0, r.output
    want = _section_table(README.read_text(encoding="utf-8"))
    assert want, "README has no energy table"
    assert [line for line in r.stdout.splitlines() if line.startswith("|")] == want
    assert (tmp_path / "layers.png").stat().st_size > 0
