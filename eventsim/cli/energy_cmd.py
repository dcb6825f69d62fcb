"""``eventsim energy``: the energy cost tables (built-in or from a file) and their sources."""

from __future__ import annotations

import os

import click

from ..energy.plots import check_plot_path, save_plot
from ..energy.render import format_energy, render
from ..energy.tables import BUILTIN_TABLES, DEFAULT_TABLE, get_table
from ..files import write_text_atomic
from .base import EventsimCommand, InputPath, OutputPath, emit_json, say_written


@click.command(cls=EventsimCommand)
@click.option("--list-tables", "list_tables", is_flag=True,
              help="List the built-in cost tables with their per-operation energies and sources.")
@click.option("--table", "table", type=InputPath(dir_okay=False), metavar="NAME|FILE",
              help="Show one table: a built-in name or a .toml/.json file (checked as a report would).")
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the table(s) as JSON ('-' = stdout).")
def energy(list_tables: bool, table: str | None, json_out: str | None) -> None:
    """Energy cost tables used by `eventsim run --report` (Energy = E_MAC*MACs + E_AC*SOPs).

    A user table is a TOML or JSON file with the fields name, citation, process, ac_pJ (one
    accumulate = one synaptic operation), mac_pJ (one multiply-accumulate) and optionally
    memory_pJ_per_byte with weight_bytes (a weight-fetch estimate reported beside the total) and
    notes. Energies are in pJ, finite and >= 0.
    """
    if not list_tables and table is None:
        list_tables = True
    tables = [get_table(table)] if table is not None else list(BUILTIN_TABLES.values())
    if json_out:
        emit_json({"default": DEFAULT_TABLE, "tables": [t.to_dict() for t in tables]}, json_out)
        if json_out == "-":
            return
    for t in tables:
        mac = "-" if t.mac_pJ is None else f"{t.mac_pJ:g} pJ"
        default = "  (default)" if t.name == DEFAULT_TABLE else ""
        click.echo(f"{t.name}{default}")
        click.echo(f"  E_AC (SOP) {t.ac_pJ:g} pJ   E_MAC {mac}   process {t.process}")
        if t.memory_pJ_per_byte is not None:
            click.echo(f"  memory {t.memory_pJ_per_byte:g} pJ/byte, {t.weight_bytes:g} byte(s) per weight")
        click.echo(f"  source: {t.citation}")
        if t.notes:
            click.echo(f"  notes: {t.notes}")
        click.echo("")


# -- the energy options of `eventsim run` (kept here so run_cmd only wires them in) -----------
_EXT_FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".txt": "text"}


def report_options(func):
    """``--report``, ``-o``, ``--plot`` and ``--energy-table`` for a command that runs a model."""
    func = click.option("--energy-table", "energy_table", type=InputPath(dir_okay=False), metavar="NAME|FILE",
                        help=f"Cost table for the energy columns: a built-in name (default "
                             f"{DEFAULT_TABLE}; see `eventsim energy --list-tables`) or a "
                             ".toml/.json file.")(func)
    func = click.option("--plot", "plot", metavar="FILE.png|svg", type=OutputPath(),
                        help="Save a figure: operations and energy per layer, spike rate per layer "
                             "over time, +/- spike split (needs matplotlib: pip install "
                             "'eventsim[plot]').")(func)
    func = click.option("-o", "--output", "report_out", metavar="FILE", type=OutputPath(),
                        help="Write the --report to FILE instead of stdout (format from the extension "
                             "when --report is not given: .json .csv .md .txt).")(func)
    func = click.option("--report", "report_fmt", type=click.Choice(["text", "json", "csv", "md"]),
                        help="Energy/SOP report per layer, step and sign: exact SOPs, non-zero-weight "
                             "SOPs, the rate x MAC estimate, encoder and dense MACs, energy, ANN/SNN "
                             "ratio and the first-layer policy.")(func)
    return func


def report_format(report_fmt: str | None, report_out: str | None, plot: str | None = None) -> str | None:
    """The report format asked for, inferred from ``-o FILE``'s extension when not given.

    Also checks ``plot`` (extension, matplotlib present) so that a bad option fails before the run.
    """
    if plot:
        check_plot_path(plot)
    if report_fmt or not report_out:
        return report_fmt
    return _EXT_FORMATS.get(os.path.splitext(report_out)[1].lower(), "text")


def emit_report(doc: dict, fmt: str | None, report_out: str | None, plot: str | None) -> bool:
    """Write the rendered report (file or stdout) and the figure; True if stdout was used."""
    if plot:
        save_plot(doc, plot)
        say_written(plot)
    if not fmt:
        return False
    text = render(doc, fmt)
    if report_out and report_out != "-":
        write_text_atomic(report_out, text)
        say_written(report_out)
        return False
    click.echo(text, nl=False)
    return True


def energy_line(doc: dict) -> str:
    """Two summary lines: energy, ANN energy and their ratio, compute only and with memory traffic."""
    en = doc["energy"]
    ratio = "-" if en["ann_over_snn"] is None else f"{en['ann_over_snn']:.3g}x"
    mem = en["memory"]
    mem_ratio = "-" if mem["ann_over_snn"] is None else f"{mem['ann_over_snn']:.3g}x"
    return (f"energy ({en['table']}): {format_energy(en['pJ'])}; dense ANN: "
            f"{format_energy(en['ann_pJ'])}; ANN/SNN {ratio}\n"
            f"with memory traffic (Lemaire et al. 2022, {mem['costs']['word_bits']}-bit SRAM words): "
            f"{format_energy(mem['snn']['pJ'])}; dense ANN: {format_energy(mem['ann']['pJ'])}; "
            f"ANN/SNN {mem_ratio}")
