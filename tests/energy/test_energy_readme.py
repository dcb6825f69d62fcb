"""The Markdown table in the README's "Energy report" section is what the command prints."""

from pathlib import Path

from click.testing import CliRunner

from eventsim.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _section_table(text: str) -> list[str]:
    section = text.split("## Energy report", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_readme_energy_table_is_current(shared_data, tmp_path):
    model = shared_data / "nir" / "cnn_sinabs.nir"
    rec = shared_data / "nmnist" / "sample_nmnist.bin"
    out = tmp_path / "r.md"
    r = CliRunner().invoke(cli, ["run", str(model), "-i", str(rec), "--bin-us", "1000", "--report", "md",
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output
    want = _section_table(README.read_text(encoding="utf-8"))
    assert want, "README has no energy table"
    assert [line for line in out.read_text().splitlines() if line.startswith("|")] == want
