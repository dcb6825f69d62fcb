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
    if doc.get("latency"):
        lines += _latency_lines(doc["latency"])
    if doc.get("throughput"):
        lines.append(throughput_line(doc["throughput"]))
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


_LATENCY = (("decision_step", "decision step"), ("first_output_spike", "first output spike"))
_MAX_STEP_COLUMNS = 24  # longer histograms show only the steps that hold a sample


def _latency_lines(lat: dict) -> list[str]:
    """The latency statistics and per-step histograms (steps are 0-based)."""
    present = [(key, label, lat[key]) for key, label in _LATENCY if lat.get(key)]
    if not present:
        return []
    keys = ("mean", "std", "median", "p90", "p95", "min", "max")
    rows, hist = [], []
    for _, label, d in present:
        for name, s, h in ((label, d["stats"], d["histogram"]["all"]),
                           (f"{label}, correct", d["correct"], d["histogram"]["correct"])):
            rows.append([name, f"{sum(h):,}"] + ([_num(s[k]) for k in keys] if s else ["-"] * len(keys)))
            hist.append([name] + h)
    lines = ["", "latency (0-based step; decision step: the first after which the prediction no longer "
             "changes)"]
    lines += _table(["latency in steps", "samples", *keys], rows, "lrrrrrrrr")
    steps: list[int] = list(range(lat["steps"]))
    if len(steps) > _MAX_STEP_COLUMNS:
        steps = [k for k in steps if any(h[1 + k] for h in hist)]
    lines += _table(["samples at step"] + [str(k) for k in steps],
                    [[h[0]] + [f"{h[1 + k]:,}" for k in steps] for h in hist], "l" + "r" * len(steps))
    for _, label, d in present:
        if d["never"]:
            what = "the output never fired" if label == "first output spike" else "none"
            lines.append(f"{label}: {what} in {d['never']:,} sample(s)")
        if d["without"]:
            lines.append(f"{label}: not recorded for {d['without']:,} sample(s) (results written by an "
                         "older eventsim)")
    return lines


def throughput_line(tp: dict) -> str:
    """``throughput: 11 samples in 1.52 s wall time, 7.24 samples/s (1 worker process x 2 threads)``."""
    if not tp["samples"]:
        return "throughput: - (every sample was already in the results file)"
    threads = tp.get("threads")
    each = "" if threads is None else f" x {threads} thread{'s' if threads != 1 else ''}"
    if tp.get("mode") == "dask":
        where = f"Dask cluster{each} per task"
    elif tp.get("mode") == "in-process":
        where = "in this process" + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")
    else:
        n = tp.get("workers") or 1
        where = f"{n} worker process{'es' if n != 1 else ''}{each}"
    return (f"throughput: {tp['samples']:,} samples in {tp['seconds']:.2f} s wall time, "
            f"{tp['samples_per_second']:.3g} samples/s ({where})")


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
              "energy_pJ", "timesteps", "decision_step", "first_output_spike", "seconds", "error"]


def _csv_columns(records: list[dict], layer_names: list[str]) -> tuple[list[str], list[str]]:
    """The header and the NeuroBench keys (when any record has them) of a per-sample CSV."""
    nb_keys = [k for k, _ in _NEUROBENCH_ROWS] if any(r.get("neurobench") for r in records) else []
    return (CSV_FIELDS + [f"{n}_{what}" for n in layer_names for what in ("spikes", "sops")]
            + [f"nb_{k}" for k in nb_keys]), nb_keys


def _csv_row(r: dict, layer_names: list[str], nb_keys: list[str]) -> list:
    row = ["" if r.get(f) is None else r[f] for f in CSV_FIELDS]
    row[CSV_FIELDS.index("energy_pJ")] = repr(r["energy_pJ"]) if "energy_pJ" in r else ""
    by_name = {lay["name"]: lay for lay in r.get("layers", [])}
    for n in layer_names:
        lay = by_name.get(n)
        row += ([lay["spikes_pos"] + lay["spikes_neg"], lay["sops"]] if lay else ["", ""])
    nb = r.get("neurobench") or {}
    return row + ["" if nb.get(k) is None else nb[k] for k in nb_keys]


def format_csv(records, layer_names: list[str]) -> str:
    """One row per sample (sorted by index): the record fields, then per layer spikes and SOPs."""
    return format_sweep_csv([(None, list(records))], layer_names)


def format_sweep_csv(groups: list[tuple[int | None, list[dict]]], layer_names: list[str]) -> str:
    """:func:`format_csv` of several evaluations ``(T, records)`` one after the other, each row
    led by its evaluation's T (a first column ``T``, absent when every T is None)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    lead = any(t is not None for t, _ in groups)
    header, nb_keys = _csv_columns([r for _, recs in groups for r in recs], layer_names)
    w.writerow((["T"] if lead else []) + header)
    for t, recs in groups:
        for r in sorted_records(recs):
            w.writerow(([t] if lead else []) + _csv_row(r, layer_names, nb_keys))
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
    """Confusion matrix, the per-sample SOP histogram and the decision-step histogram (when the
    records have one), written atomically (png/svg/pdf)."""
    path = Path(path)
    fmt = check_plot_path(path)  # ConfigError for a bad extension or without matplotlib
    from matplotlib.figure import Figure

    decision = (doc.get("latency") or {}).get("decision_step")
    fig = Figure(figsize=(15 if decision else 10, 4.2))
    axes = fig.subplots(1, 3 if decision else 2)
    ax1, ax2 = axes[:2]
    _confusion_axes(fig, ax1, doc["confusion"])
    acc = doc["accuracy"]
    ax1.set_title("confusion" + (f" (accuracy {acc:.3f})" if acc is not None else ""))
    sops = [r["sops"] for r in records if "error" not in r]
    if sops:
        ax2.hist(sops, bins=min(40, max(5, len(sops) // 5)), color="#0072B2")
    ax2.set_xlabel("SOPs per sample")
    ax2.set_ylabel("samples")
    ax2.set_title(f"{len(sops):,} samples")
    if decision:
        _decision_axes(axes[2], decision)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)


def _decision_axes(ax, decision: dict) -> None:
    """Samples per decision step: all of them, and the correct ones in front."""
    hist = decision["histogram"]
    steps = range(len(hist["all"]))
    ax.bar(steps, hist["all"], color="#999999", label="all")
    ax.bar(steps, hist["correct"], width=0.5, color="#009E73", label="correct")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("decision step (prediction final from this step on)")
    ax.set_ylabel("samples")
    ax.set_title("latency")
    ax.legend()
