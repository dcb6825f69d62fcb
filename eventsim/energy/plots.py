"""Figures of a report: operations and energy per layer, spike rate over time, +/- spike split.

matplotlib is optional (the ``plot`` extra) and imported only when a figure is made; the figure is
built with the object-oriented API (no pyplot, no global backend change), so it works headless.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import ConfigError
from ..files import atomic_output

PLOT_FORMATS = ("png", "svg", "pdf")

# colour-blind-safe palette (Okabe & Ito)
_BLUE, _ORANGE, _GREEN, _VERMILION, _PURPLE, _GREY = ("#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                       "#CC79A7", "#999999")


def _matplotlib():
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ConfigError("plots need matplotlib: pip install 'eventsim[plot]'") from None
    return Figure


def _energy_unit(max_pj: float) -> tuple[str, float]:
    for unit, scale in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if max_pj >= scale:
            return unit, scale
    return "pJ", 1.0


def _bars(ax, labels, series, width=0.8):
    """Grouped bars; ``series`` is a list of (name, values, colour); zeros are not drawn (log axis)."""
    n = len(series)
    w = width / n
    for k, (name, values, colour) in enumerate(series):
        xs = [i - width / 2 + (k + 0.5) * w for i in range(len(labels))]
        pts = [(x, v) for x, v in zip(xs, values) if v and v > 0]
        if pts:
            ax.bar([p[0] for p in pts], [p[1] for p in pts], w, label=name, color=colour)
    _xlabels(ax, labels)


def _xlabels(ax, labels) -> None:
    """Layer names under the bars, slanted when there are many."""
    many = len(labels) > 4
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30 if many else 0, ha="right" if many else "center")


def _log_headroom(ax, values) -> None:
    """Log y axis from the decade below the smallest bar, with room above the tallest for a legend."""
    ax.set_yscale("log")
    positive = [v for v in values if v and v > 0]
    if positive:
        ax.set_ylim(10.0 ** math.floor(math.log10(min(positive))), max(positive) * 20)


_TERM_COLOURS = {"ops": _BLUE, "addressing": _ORANGE, "inout": _GREEN, "params": _VERMILION,
                 "potentials": _PURPLE}


def _memory_panel(ax, doc: dict, names: list[str]) -> None:
    """Per layer two stacked bars, SNN (solid) and ANN (hatched): compute (ops) and memory terms."""
    en, mem = doc["energy"], doc["energy"]["memory"]
    sides = {side: {lay["name"]: lay["terms"] for lay in mem[side]["per_layer"]} for side in ("snn", "ann")}
    unit, scale = _energy_unit(max([sum(t.values()) for s in sides.values() for t in s.values()] + [1.0]))
    width = 0.38
    for k, side in enumerate(("snn", "ann")):
        xs = [i + (k - 0.5) * width for i in range(len(names))]
        bottom = [0.0] * len(names)
        for term, colour in _TERM_COLOURS.items():
            values = [sides[side].get(n, {}).get(term, 0.0) / scale for n in names]
            ax.bar(xs, values, width * 0.95, bottom=bottom, color=colour,
                   hatch="//" if side == "ann" else None, edgecolor="white", linewidth=0.3,
                   label=term if side == "snn" else None)
            bottom = [b + v for b, v in zip(bottom, values)]
    from matplotlib.patches import Patch  # matplotlib is optional: imported with the figure

    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="hatched: ANN, plain: SNN"))
    _xlabels(ax, names)
    ax.set_ylim(0, max(max(bottom, default=0.0) for bottom in _stack_tops(sides, names, scale)) * 1.4 or 1.0)
    ax.set_ylabel(f"energy per inference ({unit})")
    ratio = "-" if mem["ann_over_snn"] is None else f"{mem['ann_over_snn']:.3g}x"
    compute = "-" if en["ann_over_snn"] is None else f"{en['ann_over_snn']:.3g}x"
    ax.set_title(f"(b) energy per layer with memory traffic (Lemaire et al. 2022)\n"
                 f"SNN {mem['snn']['pJ'] / scale:.3g} {unit} vs ANN {mem['ann']['pJ'] / scale:.3g} {unit}: "
                 f"ANN/SNN {ratio} (compute only {compute})", loc="left", fontsize=10)
    ax.legend(handles=handles, fontsize=7, frameon=False, ncol=3, loc="upper left")


def _stack_tops(sides: dict, names: list[str], scale: float) -> list[list[float]]:
    """Per side, the height of each layer's stacked bar."""
    return [[sum(sides[side].get(n, {}).values()) / scale for n in names] for side in sides]


def layer_figure(doc: dict):
    """A 2x2 matplotlib Figure of report ``doc`` (from :func:`~eventsim.energy.report.build_report`)."""
    Figure = _matplotlib()
    layers = [lay for lay in doc["layers"] if lay["kind"] != "input"]
    names = [lay["name"] for lay in layers]
    steps = doc["timesteps"]
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2)
    en = doc["energy"]
    fig.suptitle(f"{doc['model']}: T = {steps}, energy table {en['table']} "
                 f"(E_AC {en['ac_pJ']:g} pJ, E_MAC {en['mac_pJ']:g} pJ)", fontsize=11)

    # (a) operations per layer: exact, effective, rate x MAC estimate, encoder MACs, ANN MACs
    ax = axes[0, 0]
    series = [("SOPs (exact, this run)", [lay["sops"] for lay in layers], _BLUE)]
    if any(lay["sops_effective"] is not None for lay in layers):
        series.append(("SOPs (non-zero weights)", [lay["sops_effective"] or 0 for lay in layers], _GREEN))
    series.append(("rate x MAC estimate", [lay["sops_rate_mac"] for lay in layers], _ORANGE))
    if any(lay["macs"] for lay in layers):
        series.append(("encoder MACs", [lay["macs"] for lay in layers], _VERMILION))
    series.append(("ANN MACs (one pass)", [lay["dense_macs"] for lay in layers], _GREY))
    _bars(ax, names, series)
    _log_headroom(ax, [v for _, vals, _ in series for v in vals])
    ax.set_ylabel(f"operations per inference (T = {steps})")
    ax.set_title("(a) operations per layer", loc="left", fontsize=10)
    ax.legend(fontsize=7, frameon=False, ncol=2, loc="upper center")

    # (b) energy per layer with memory traffic (Lemaire et al. 2022): terms stacked, SNN next to ANN
    _memory_panel(axes[0, 1], doc, names)

    # (c) spike rate of each spiking layer over time
    ax = axes[1, 0]
    rates = {s["name"]: s["rate"] for s in doc["per_step"]}
    spiking = [lay for lay in layers if rates.get(lay["name"]) is not None]
    for k, lay in enumerate(spiking):
        style = {"marker": "os^vD<>"[k % 7], "markersize": 4} if steps <= 30 else {"linewidth": 1.0}
        ax.plot(range(1, steps + 1), rates[lay["name"]], label=lay["name"], **style)
    ax.set_xlabel("time step")
    ax.set_ylabel("spike rate (spikes / neuron / step)")
    ax.set_xlim(0.5, steps + 0.5)
    ax.set_ylim(bottom=0)
    if steps <= 20:
        ax.set_xticks(range(1, steps + 1))
    ax.set_title("(c) spike rate per layer over time", loc="left", fontsize=10)
    if spiking:
        ax.legend(fontsize=7, frameon=False, ncol=2)
    ax.grid(alpha=0.3)

    # (d) share of +1 and -1 spikes per spiking layer, with the total count on top
    ax = axes[1, 1]
    totals = [lay["spikes_pos"] + lay["spikes_neg"] for lay in spiking]
    pos = [lay["spikes_pos"] / t if t else 0 for lay, t in zip(spiking, totals)]
    neg = [lay["spikes_neg"] / t if t else 0 for lay, t in zip(spiking, totals)]
    xs = range(len(spiking))
    ax.bar(xs, pos, 0.6, color=_BLUE, label="+1 spikes")
    ax.bar(xs, neg, 0.6, bottom=pos, color=_VERMILION, label="-1 spikes")
    for x, t in zip(xs, totals):
        ax.text(x, 1.02, f"{t:,}", ha="center", va="bottom", fontsize=7)
    _xlabels(ax, [lay["name"] for lay in spiking])
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("share of spikes")
    ax.set_title("(d) +1 / -1 spike split (total spikes on top)", loc="left", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    for a in axes.flat:
        a.spines["top"].set_visible(False)
        a.spines["right"].set_visible(False)
    return fig


def check_plot_path(path: str | os.PathLike) -> str:
    """The plot format of ``path`` (from its extension); ConfigError for an unknown extension or
    when matplotlib is missing, so a command can fail before doing the work."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise ConfigError(f"{path}: plot file must end in {', '.join('.' + f for f in PLOT_FORMATS)}")
    _matplotlib()
    return fmt


def save_plot(doc: dict, path: str | os.PathLike, dpi: int = 150) -> None:
    """Save :func:`layer_figure` of ``doc`` to ``path``; the format follows the extension."""
    path = Path(path)
    fmt = check_plot_path(path)
    fig = layer_figure(doc)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
