"""A sweep of the step count T (``eventsim eval -T 1,2,4,8``): one evaluation per T, one table.

Each T is evaluated exactly as ``eventsim eval -T k`` alone evaluates it (same records, same
summary); this module holds what is particular to the sweep: parsing the list of T, the results
file of each T, the checks of the binning options against a sweep, the table with one row per T,
its JSON document and its figure.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..energy.plots import check_plot_path
from ..errors import ConfigError, InputFormatError
from ..events.binning import binning_method
from ..files import atomic_output

SCHEMA = "eventsim.eval-sweep/1"


def parse_timesteps(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``; ValueError naming what is wrong (an empty item, a value that
    is not an integer or is below 1, a value given twice)."""
    values: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"{text!r}: an empty value (expected T or T1,T2,... e.g. 1,2,4,8)")
        try:
            value = int(item)
        except ValueError:
            raise ValueError(f"{text!r}: {item!r} is not an integer") from None
        if value < 1:
            raise ValueError(f"{text!r}: {value} steps; every T must be at least 1")
        if value in values:
            raise ValueError(f"{text!r}: T = {value} is given twice")
        values.append(value)
    return tuple(values)


def results_path_for(path: str, timesteps: int) -> str:
    """The results file of one T of a sweep: ``.T<k>`` inserted before the suffix
    (``runs/r.jsonl`` -> ``runs/r.T4.jsonl``; no suffix: appended)."""
    root, ext = os.path.splitext(path)
    return f"{root}.T{timesteps}{ext}"


def check_sweep_binning(values: tuple[int, ...], bin_us: int | None, method: str | None) -> None:
    """Refuse binning options that a sweep of T cannot honour, before any sample runs.

    With ``--bin-us B`` every T is the number of B-µs windows (the recording's first T·B µs);
    ``--binning time|count`` splits the whole recording into T steps and would ignore B, and
    ``--binning window`` without B has no window length.
    """
    if method == "window" and bin_us is None:
        raise ConfigError("--binning window needs --bin-us N (the window length in microseconds)")
    if bin_us is not None and method not in (None, "window"):
        raise ConfigError(f"--bin-us has no effect with --binning {method} (T equal {method} steps "
                          "of the whole recording); drop one of them")
    for t in values:
        try:
            binning_method(t, bin_us, method)
        except InputFormatError as exc:
            raise ConfigError(f"-T {t}: {str(exc).removeprefix('binning: ')}") from None


def sweep_row(doc: dict) -> dict:
    """The numbers of one T: accuracy, means per sample, mean decision step, samples per second."""
    ps = doc["per_sample"]
    decision = ((doc.get("latency") or {}).get("decision_step") or {}).get("stats")
    return {"timesteps": doc["options"]["timesteps"], "samples": doc["samples"],
            "evaluated": doc["evaluated"], "errors": doc["errors"], "accuracy": doc["accuracy"],
            "sops_mean": ps["sops"]["mean"] if ps["sops"] else None,
            "energy_pJ_mean": ps["energy_pJ"]["mean"] if ps["energy_pJ"] else None,
            "decision_step_mean": decision["mean"] if decision else None,
            "samples_per_second": (doc.get("throughput") or {}).get("samples_per_second")}


def sweep_document(head: dict, docs: list[dict]) -> dict:
    """``--json`` of a sweep: the run information, the table's rows, and per T the whole document
    that ``eventsim eval -T k --json`` writes (summary and records)."""
    return {"schema": SCHEMA, **head, "timesteps": [d["options"]["timesteps"] for d in docs],
            "rows": [sweep_row(d) for d in docs], "sweep": docs}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_sweep(head: dict, docs: list[dict]) -> str:
    """One line naming the run, then the table: one row per T, in the order given."""
    first = docs[0]
    lines = [f"model {head.get('model_name', head.get('model'))!r} on {head.get('dataset')}: "
             f"{first['samples']:,} samples, {len(first['confusion']['labels'])} classes, "
             f"{head.get('precision', '')}, sweep of T ({head.get('energy_table', '')} energy)"]
    rows = [sweep_row(d) for d in docs]
    errors = any(r["errors"] for r in rows)
    headers = ["T", "accuracy", "SOPs/sample", "energy pJ/sample", "decision step", "samples/s"]
    cells = [[str(r["timesteps"]), _fmt(r["accuracy"], ".4f"), _fmt(r["sops_mean"], ",.0f"),
              _fmt(r["energy_pJ_mean"], ",.0f"), _fmt(r["decision_step_mean"], ".3g"),
              _fmt(r["samples_per_second"], ".3g")] + ([f"{r['errors']:,}"] if errors else [])
             for r in rows]
    if errors:
        headers.append("failed")
    widths = [max(len(c[i]) for c in cells + [headers]) for i in range(len(headers))]
    for n, row in enumerate([headers] + cells):
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("accuracy over the samples that ran; SOPs, energy and decision step (0-based, the "
                 "first step after which the prediction no longer changes): means per sample")
    return "\n".join(lines)


def save_sweep_plot(docs: list[dict], path: str | os.PathLike, dpi: int = 120) -> None:
    """Accuracy, and SOPs and energy per sample (two y axes), against T; written atomically."""
    path = Path(path)
    fmt = check_plot_path(path)  # ConfigError for a bad extension or without matplotlib
    from matplotlib.figure import Figure

    rows = sorted((sweep_row(d) for d in docs), key=lambda r: r["timesteps"])
    ts = [r["timesteps"] for r in rows]
    fig = Figure(figsize=(10, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    _line(ax1, ts, [r["accuracy"] for r in rows], "#0072B2", "accuracy")
    ax1.set_ylabel("accuracy")
    ax1.set_ylim(0, 1.05)
    ax1.set_title("accuracy against T")
    _line(ax2, ts, [r["sops_mean"] for r in rows], "#0072B2", "SOPs per sample")
    ax2.set_ylabel("SOPs per sample", color="#0072B2")
    energy = ax2.twinx()
    _line(energy, ts, [r["energy_pJ_mean"] for r in rows], "#D55E00", "energy per sample", dashed=True)
    energy.set_ylabel("energy per sample (pJ)", color="#D55E00")
    ax2.set_title("operations and energy against T")
    for ax in (ax1, ax2):
        ax.set_xlabel("time steps T")
        if len(ts) > 1 and ts[-1] / ts[0] >= 8:  # doubling sweeps spread evenly on a log axis
            ax.set_xscale("log", base=2)
        ax.set_xticks(ts, [str(t) for t in ts])
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)


def _line(ax, xs, ys, colour: str, label: str, dashed: bool = False) -> None:
    """A line with markers through the points that have a value (a T where nothing ran has none)."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o--" if dashed else "o-", color=colour,
                label=label)
