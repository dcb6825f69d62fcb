"""The ``eventsim`` command line: click commands only, no logic a library user would need.

Each command group lives in its own module and registers itself on :data:`cli` here.
Expected failures (:class:`~eventsim.errors.EventsimError`) become one line
``error: ...`` on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import click

from .. import __version__
from . import (
    bench_cmd,
    convert_cmd,
    emulate_cmd,
    energy_cmd,
    eval_cmd,
    events_cmd,
    export_cmd,
    inspect_cmd,
    run_cmd,
    validate_cmd,
)
from .base import EventsimGroup, install_signal_handlers


@click.group(cls=EventsimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eventsim")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run trained spiking neural networks event by event and count every synaptic operation.

    Start with `eventsim run` (the bundled demo), then `eventsim run MODEL --input FILE`.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# Each command module defines click commands only; the group gets them here.
cli.add_command(inspect_cmd.inspect)
cli.add_command(run_cmd.run)
cli.add_command(convert_cmd.convert)
cli.add_command(export_cmd.export)
cli.add_command(events_cmd.events)
events_cmd.events.add_command(emulate_cmd.emulate)
cli.add_command(energy_cmd.energy)
cli.add_command(validate_cmd.validate_cmd)
cli.add_command(eval_cmd.eval_cmd)
cli.add_command(bench_cmd.bench)


def main() -> None:
    install_signal_handlers()
    cli(prog_name="eventsim")
