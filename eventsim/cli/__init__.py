"""The ``eventsim`` command line: click commands only, no logic a library user would need.

Each command group lives in its own module, listed in :data:`COMMANDS` and imported on first use.
Expected failures (:class:`~eventsim.errors.EventsimError`) become one line
``error: ...`` on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__
from .base import EventsimGroup, install_signal_handlers

#: name -> (module, command object, summary for ``eventsim --help``). Command modules
#: are imported only when their command runs, so ``eventsim --help`` / ``--version`` start
#: without numpy, numba or h5py. The summaries must equal the commands' own short help
#: (tests/cli/test_cli_lazy.py checks it).
COMMANDS = {
    "bench": ("bench_cmd", "bench", "Benchmark the event engine: G SOP/s of the conv scatter kernel and "
              "the speed-up over dense PyTorch CPU inference of the same network at several spike "
              "densities, both tools on all cores (--threads), then both on one thread."),
    "convert": ("convert_cmd", "convert",
                "Convert a trained Ternary Spike checkpoint into a multiplication-free model.h5."),
    "energy": ("energy_cmd", "energy",
               "Energy cost tables used by `eventsim run --report` (Energy = E_MAC*MACs + E_AC*SOPs)."),
    "eval": ("eval_cmd", "eval_cmd",
             "Evaluate MODEL on every sample of DATASET: accuracy, spikes, SOPs and energy per sample."),
    "events": ("events_cmd", "events", "Inspect, convert and picture event-camera recordings."),
    "export": ("export_cmd", "export",
               "Write MODEL (a model.h5 or a NIR file) as a NIR graph (github.com/neuromorphs/NIR)."),
    "inspect": ("inspect_cmd", "inspect",
                "Show the populations, projections and provenance of MODEL (a model.h5 or NIR file)."),
    "run": ("run_cmd", "run",
            "Run MODEL (model.h5) on --input FILE event by event and count every operation."),
    "validate": ("validate_cmd", "validate_cmd",
                 "Prove that MODEL needs no multiplications, and that the engines agree."),
}


class LazyGroup(EventsimGroup):
    """The top-level group: commands are imported on first use (click's lazy-group pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        if name == "events" and "emulate" not in command.commands:
            from .emulate_cmd import emulate

            command.add_command(emulate)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)  # as click.Group does
        # shortened as click shortens a loaded command's help (its public API, not click.utils')
        rows = [(name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit))
                for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eventsim")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run trained spiking neural networks event by event and count every synaptic operation.

    Start with `eventsim run` (the bundled demo), then `eventsim run MODEL --input FILE`.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main() -> None:
    install_signal_handlers()
    cli(prog_name="eventsim")
