"""``eventsim --help`` and ``--version`` start without the heavy modules; the lazy table is true."""

import subprocess
import sys

import click
import pytest

from eventsim.cli import COMMANDS, cli

HEAVY = ("numpy", "numba", "h5py", "scipy")
PROBE = """
import sys
sys.argv = ["eventsim", {arg!r}]
from eventsim.cli import main
try:
    main()
except SystemExit:
    pass
print("loaded:", ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_help_and_version_import_no_heavy_module(arg):
    out = subprocess.run([sys.executable, "-c", PROBE.format(arg=arg, heavy=HEAVY)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().endswith("loaded:"), out.stderr


def test_every_command_is_listed_with_its_own_summary():
    ctx = click.Context(cli)
    for name, (_, _, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert summary == command.get_short_help_str(limit=10**6), name
    assert "emulate" in cli.get_command(ctx, "events").commands
