"""Human and machine forms of an evaluation: text summary, per-sample CSV, figure.

matplotlib is optional (the ``plot`` extra) and imported only when a figure is made, with the
object-oriented API (no pyplot), so it works headless.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from ..energy.plots import check_plot_path
from ..files import atomic_output
from .summary import sorted_records

_MAX_MATRIX = 20  # larger confusion matrices are summarised by their most frequent errors


def _table(headers: list[str], rows: list[list[str]], align: str) -> list[str]:
    cells = [headers] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        out.append("  ".join(c.rjust(w) if a == "r" else c.ljust(w)
                             for c, w, a in zip(row, widths, align)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"


def _stat_row(label: str, s: dict | None) -> list[str]:
    keys = ("mean", "std", "p5", "p50", "p95")
    return [label] + ([_num(s[k]) for k in keys] if s else ["-"] * len(keys))


#: NeuroBench's per-sample workload metrics, in the order of its own report
_NEUROBENCH_ROWS = (("effective_acs", "NeuroBench effective ACs"),
                    ("effective_macs", "NeuroBench effective MACs"), ("dense", "NeuroBench dense"),
                    ("activation_sparsity", "NeuroBench activation sparsity"),
                    ("membrane_updates", "NeuroBench membrane updates"))


def format_text(doc: dict) -> str:
    """The human summary of an evaluation document (:func:`~.summary.summarize` plus run info)."""
    lines = [f"model {doc.get('model_name', doc.get('model'))!r} on {doc.get('dataset')}: "
             f"{doc['samples']:,} samples, {len(doc['confusion']['labels'])} classes, "
             f"{doc.get('precision', '')}"]
    acc = doc["accuracy"]
    lines.append(f"accuracy: {acc:.4f} ({doc['correct']:,} / {doc['evaluated']:,})" if acc is not None
                 else "accuracy: - (no sample could be evaluated)")
    if doc["errors"]:
        lines.append(f"unreadable or failed samples: {doc['errors']:,} (not counted in the accuracy)")
    if doc.get("skipped"):
        lines.append(f"skipped: {len(doc['skipped']):,} file(s) that are not samples (by extension and "
                     f"content): {_names(doc['skipped'])}")
    if doc.get("labels"):
        lines.append(f"labels: {doc['labels']}: "
                     + _names([f"{c['name']} -> {c['label']}" for c in doc["classes"]]))
    lines.append("")
    rows = [[str(c["label"]), c["name"], f"{c['samples']:,}", f"{c['correct']:,}",
             "-" if c["accuracy"] is None else f"{c['accuracy']:.4f}"] for c in doc["classes"]]
    lines += _table(["class", "name", "samples", "correct", "accuracy"], rows, "rlrrr")
    lines.append("")
    lines += _confusion_lines(doc["confusion"])
    lines.append("")
    ps = doc["per_sample"]
    rows = [_stat_row("input events", ps["events"]), _stat_row("spikes", ps["spikes"]),
            _stat_row("SOPs", ps["sops"])]
    if ps["macs"] and ps["macs"]["max"] > 0:
        rows.append(_stat_row("encoder MACs", ps["macs"]))
    rows.append(_stat_row(f"energy pJ ({doc.get('energy_table', '')})", ps["energy_pJ"]))
    for lay in doc["layers"][1:]:  # the input's "spikes" are its events, listed above
        if lay["sops"] and lay["sops"]["max"] > 0:
            rows.append(_stat_row(f"{lay['name']} SOPs", lay["sops"]))
        if lay["spikes"] and lay["spikes"]["max"] > 0:
            rows.append(_stat_row(f"{lay['name']} spikes", lay["spikes"]))
    for key, label in _NEUROBENCH_ROWS:
        if (doc.get("neurobench") or {}).get(key):
            rows.append(_stat_row(label, doc["neurobench"][key]))
    lines += _table(["per sample", "mean", "std", "p5", "p50", "p95"], rows, "lrrrrr")
    lines.append(f"multiplications after the encoder: {doc['multiplications']:,}")
    if doc.get("saturations"):
        lines.append(f"int32 saturations: {doc['saturations']:,}")
    if doc["slowest"]:
        lines.append("")
        lines.append("slowest samples: " + ", ".join(
            f"{s['path']} ({s['seconds'] * 1e3:.1f} ms, {s['events']:,} events)" for s in doc["slowest"]))
    for f in doc["failed"][:10]:
        lines.append(f"failed: {f['path']}: {f['error']}")
    if len(doc["failed"]) > 10:
        lines.append(f"... and {len(doc['failed']) - 10} more failed samples (see --json)")
    return "\n".join(lines)


def _names(items: list[str], n: int = 10) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items):,} in all)" if len(items) > n else "")


def _confusion_lines(conf: dict) -> list[str]:
    names, m = conf["labels"], conf["matrix"]
    k = len(names)
    if k <= _MAX_MATRIX:
        rows = [[str(i)] + [str(v) for v in row] for i, row in enumerate(m)]
        return ["confusion matrix (rows: true class, columns: predicted)"] + \
            _table(["true"] + [str(i) for i in range(k)], rows, "r" * (k + 1))
    pairs = sorted(((m[i][j], i, j) for i in range(k) for j in range(k) if i != j and m[i][j]),
                   key=lambda t: (-t[0], t[1], t[2]))[:10]
    if not pairs:
        return ["confusion: no errors"]
    return ["most frequent confusions (true -> predicted: samples): " +
            ", ".join(f"{names[i]} -> {names[j]}: {n}" for n, i, j in pairs)]


CSV_FIELDS = ["index", "path", "label", "prediction", "correct", "events", "spikes", "sops", "macs",
              "energy_pJ", "seconds", "error"]


def format_csv(records, layer_names: list[str]) -> str:
    """One row per sample (sorted by index): the record fields, then per layer spikes and SOPs."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    records = list(records)
    nb_keys = [k for k, _ in _NEUROBENCH_ROWS] if any(r.get("neurobench") for r in records) else []
    w.writerow(CSV_FIELDS + [f"{n}_{what}" for n in layer_names for what in ("spikes", "sops")]
               + [f"nb_{k}" for k in nb_keys])
    for r in sorted_records(records):
        row = [r.get(f, "") for f in CSV_FIELDS]
        row[CSV_FIELDS.index("energy_pJ")] = repr(r["energy_pJ"]) if "energy_pJ" in r else ""
        by_name = {lay["name"]: lay for lay in r.get("layers", [])}
        for n in layer_names:
            lay = by_name.get(n)
            row += ([lay["spikes_pos"] + lay["spikes_neg"], lay["sops"]] if lay else ["", ""])
        nb = r.get("neurobench") or {}
        w.writerow(row + ["" if nb.get(k) is None else nb[k] for k in nb_keys])
    return buf.getvalue()


#: above this many classes the cells are too small for their counts and the ticks for every name
_MAX_ANNOTATED = 30


def _confusion_axes(fig, ax, conf: dict) -> None:
    """The confusion matrix with every class named on both axes and each cell's count in it."""
    import numpy as np

    m = np.asarray(conf["matrix"])
    names = conf["labels"]
    im = ax.imshow(m, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    k = len(names)
    if k > _MAX_ANNOTATED:
        return
    ax.set_xticks(range(k), names, rotation=90 if max(map(len, names)) > 2 else 0, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    half = m.max() / 2 if m.size else 0
    for (i, j), v in np.ndenumerate(m):
        if v:  # zeros stay blank so that the errors stand out
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7 if k > 12 else 9,
                    color="white" if v > half else "black")


def save_plot(doc: dict, records, path: str | os.PathLike, dpi: int = 120) -> None:
    """Confusion matrix and the per-sample SOP histogram, written atomically (png/svg/pdf)."""
    path = Path(path)
    fmt = check_plot_path(path)  # ConfigError for a bad extension or without matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    _confusion_axes(fig, ax1, doc["confusion"])
    acc = doc["accuracy"]
    ax1.set_title("confusion" + (f" (accuracy {acc:.3f})" if acc is not None else ""))
    sops = [r["sops"] for r in records if "error" not in r]
    if sops:
        ax2.hist(sops, bins=min(40, max(5, len(sops) // 5)), color="#0072B2")
    ax2.set_xlabel("SOPs per sample")
    ax2.set_ylabel("samples")
    ax2.set_title(f"{len(sops):,} samples")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
