"""Render a report dict (from :func:`eventsim.energy.report.build_report`) as text, JSON, CSV or Markdown.

Text and Markdown are for people (thousands separators, energies in adaptive units); JSON is the
whole report; CSV has one row per layer plus a ``total`` row, numbers unformatted, energies in pJ.
"""

from __future__ import annotations

import csv
import io

from ..errors import ConfigError
from ..files import json_text

FORMATS = ("text", "json", "csv", "md")

#: CSV columns, in order: the layer fields of the report.
CSV_COLUMNS = ("name", "kind", "neurons", "spikes_pos", "spikes_neg", "rate", "sops", "sops_pos",
               "sops_neg", "sops_effective", "sops_rate_mac", "macs", "dense_macs", "pJ", "ann_pJ")

_HEADERS = ("layer", "kind", "neurons", "spikes +", "spikes -", "rate", "SOPs", "SOPs +", "SOPs -",
            "SOPs eff.", "rate x MAC", "enc. MACs", "dense MACs", "energy", "ANN energy")


def format_energy(pj: float | None) -> str:
    """``pj`` picojoules in the largest unit that keeps the value >= 1 (pJ ... J), 4 digits."""
    if pj is None:
        return "-"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


def _num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _rate(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _totals_row(doc: dict) -> dict:
    layers = doc["layers"]
    eff = [lay["sops_effective"] for lay in layers]
    neurons = sum(lay["neurons"] for lay in layers if lay["kind"] != "input")
    row = {"name": "total", "kind": "", "neurons": neurons, "rate": None,
           "sops_effective": None if None in eff else sum(eff)}
    for key in ("spikes_pos", "spikes_neg", "sops", "sops_pos", "sops_neg", "sops_rate_mac", "macs",
                "dense_macs", "pJ", "ann_pJ"):
        row[key] = sum(lay[key] for lay in layers)
    return row


def _cells(row: dict) -> list[str]:
    return [row["name"], row["kind"], _num(row["neurons"]), _num(row["spikes_pos"]),
            _num(row["spikes_neg"]), _rate(row["rate"]), _num(row["sops"]), _num(row["sops_pos"]),
            _num(row["sops_neg"]), _num(row["sops_effective"]), _num(row["sops_rate_mac"]),
            _num(row["macs"]), _num(row["dense_macs"]), format_energy(row["pJ"]),
            format_energy(row["ann_pJ"])]


def _summary_lines(doc: dict) -> list[str]:
    en = doc["energy"]
    ratio = en["ann_over_snn"]
    inp = doc.get("input") or {}
    src = inp.get("path") or "array input"
    lines = [f"model {doc['model']!r} on {src}: T = {doc['timesteps']} steps, prediction {doc['prediction']}",
             f"energy table {en['table']}: E_AC = {en['ac_pJ']:g} pJ, E_MAC = {en['mac_pJ']:g} pJ "
             f"({en['process']}); {en['citation']}"]
    if "note" in en:
        lines.append(f"note: {en['note']}")
    lines.append(f"SNN energy {format_energy(en['pJ'])}  |  ANN energy (one dense pass) "
                 f"{format_energy(en['ann_pJ'])}  |  ANN / SNN = "
                 + ("-" if ratio is None else f"{ratio:.3g}x"))
    cmp_ = doc["comparison"]
    eff = cmp_["effective"]["sops"]
    lines.append(f"SOPs: exact {_num(cmp_['exact']['sops'])}  |  effective (non-zero weights) "
                 f"{_num(eff)}  |  rate x MAC estimate {_num(cmp_['rate_mac']['sops'])}  |  "
                 f"multiplications after the encoder {_num(doc['totals']['multiplications'])}")
    lines.append(f"first layer: {doc['policy']['statement']}")
    if "memory" in en:
        mem = en["memory"]
        lines.append(f"weight-memory estimate (one {mem['weight_bytes']:g}-byte fetch per operation, "
                     f"{mem['pJ_per_byte']:g} pJ/byte, not in the totals): "
                     f"SNN {format_energy(mem['snn_pJ'])}, "
                     f"ANN {format_energy(mem['ann_pJ'])}")
    return lines


def render_text(doc: dict) -> str:
    rows = [_cells(lay) for lay in doc["layers"]] + [_cells(_totals_row(doc))]
    table = [list(_HEADERS)] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(_HEADERS))]
    out = []
    for k, row in enumerate(table):
        parts = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(parts).rstrip())
        if k == 0 or k == len(table) - 2:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(_summary_lines(doc) + [""] + out) + "\n"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def render_markdown(doc: dict) -> str:
    en = doc["energy"]
    ratio = en["ann_over_snn"]
    head = "| " + " | ".join(_HEADERS) + " |"
    sep = "|" + "|".join(["---"] * 2 + ["---:"] * (len(_HEADERS) - 2)) + "|"
    body = ["| " + " | ".join(_md_escape(c) for c in _cells(lay)) + " |" for lay in doc["layers"]]
    total = _cells(_totals_row(doc))
    body.append("| " + " | ".join(f"**{c}**" if c else "" for c in total) + " |")
    cmp_ = doc["comparison"]
    lines = [
        f"**{_md_escape(doc['model'])}**, T = {doc['timesteps']}, energy table `{en['table']}` "
        f"(E_AC = {en['ac_pJ']:g} pJ, E_MAC = {en['mac_pJ']:g} pJ, {en['process']}; {en['citation']})",
        "", head, sep, *body, "",
        f"- SNN energy **{format_energy(en['pJ'])}**; ANN energy (one dense pass) "
        f"{format_energy(en['ann_pJ'])}; ANN / SNN = " + ("-" if ratio is None else f"**{ratio:.3g}x**"),
        f"- SOPs: exact {_num(cmp_['exact']['sops'])}; effective (non-zero weights) "
        f"{_num(cmp_['effective']['sops'])}; rate x MAC estimate {_num(cmp_['rate_mac']['sops'])}; "
        f"multiplications after the encoder: {_num(doc['totals']['multiplications'])}",
        f"- First layer: {doc['policy']['statement']}",
    ]
    if "note" in en:
        lines.append(f"- Note: {en['note']}")
    return "\n".join(lines) + "\n"


def render_csv(doc: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in doc["layers"] + [_totals_row(doc)]:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return buf.getvalue()


def render_json(doc: dict) -> str:
    """Strict JSON: a NaN or infinity (e.g. from an absurd cost table) fails, naming its field."""
    return json_text(doc, what="--report json", indent=2) + "\n"


def render(doc: dict, fmt: str) -> str:
    """``doc`` as ``fmt`` (one of :data:`FORMATS`)."""
    renderers = {"text": render_text, "json": render_json, "csv": render_csv, "md": render_markdown}
    if fmt not in renderers:
        raise ConfigError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    return renderers[fmt](doc)
