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
               "sops_neg", "sops_effective", "sops_rate_mac", "macs", "dense_macs", "pJ", "ann_pJ",
               "memory_snn_pJ", "memory_ann_pJ", "nb_effective_acs", "nb_effective_macs", "nb_dense",
               "nb_membrane_updates")

#: the CSV columns after ``ann_pJ``: (column, report section, field) of the layer's entry there
_EXTRA_COLUMNS = (("memory_snn_pJ", "snn", "pJ"), ("memory_ann_pJ", "ann", "pJ"),
                  ("nb_effective_acs", "nb", "effective_acs"), ("nb_effective_macs", "nb", "effective_macs"),
                  ("nb_dense", "nb", "dense"), ("nb_membrane_updates", "nb", "membrane_updates"))

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
    lines += memory_lines(doc) + [neurobench_line(doc)]
    if "snn_pJ" in en.get("memory", {}):
        mem = en["memory"]
        lines.append(f"weight-memory estimate (one {mem['weight_bytes']:g}-byte fetch per operation, "
                     f"{mem['pJ_per_byte']:g} pJ/byte, not in the totals): "
                     f"SNN {format_energy(mem['snn_pJ'])}, "
                     f"ANN {format_energy(mem['ann_pJ'])}")
    return lines


def _ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3g}x"


def memory_lines(doc: dict) -> list[str]:
    """The memory-aware energy (Lemaire et al. 2022) beside the compute-only one, and its terms."""
    en, mem = doc["energy"], doc["energy"]["memory"]
    costs = mem["costs"]
    lines = [f"memory-aware energy (Lemaire et al. 2022; {costs['word_bits']}-bit words, SRAM access energy "
             f"by buffer size, Horowitz 45 nm): SNN {format_energy(mem['snn']['pJ'])}  |  ANN "
             f"{format_energy(mem['ann']['pJ'])}  |  ANN / SNN = {_ratio_text(mem['ann_over_snn'])}",
             f"ANN / SNN side by side: compute only {_ratio_text(en['ann_over_snn'])}  |  with memory "
             f"traffic {_ratio_text(mem['ann_over_snn'])}"]
    for side in ("snn", "ann"):
        terms = mem[side]["terms"]
        lines.append(f"  {side.upper()} terms: "
                     + ", ".join(f"{t} {format_energy(v)}" for t, v in terms.items()))
    return lines


def neurobench_line(doc: dict) -> str:
    """NeuroBench's metrics of the run, by their names."""
    nb = doc["neurobench"]
    spars = nb["activation_sparsity"]
    fp = nb["footprint_bytes"]
    deployed = ", ".join(f"{k} {_num(v)}" for k, v in (fp["deployed"] or {}).items())
    return (f"NeuroBench {nb['version']} (PyTorch twin): effective ACs {_num(nb['effective_acs'])}, "
            f"effective MACs {_num(nb['effective_macs'])}, dense {_num(nb['dense'])}, activation sparsity "
            f"{'-' if spars is None else f'{spars:.4f}'}, membrane updates {_num(nb['membrane_updates'])}, "
            f"connection sparsity {_num(nb['connection_sparsity'])}, "
            f"parameters {_num(nb['parameter_count'])}, "
            f"footprint {_num(fp['twin'])} bytes (deployed: {deployed})")


def _memory_rows(doc: dict) -> list[list[str]]:
    mem = doc["energy"]["memory"]
    rows = []
    for snn, ann in zip(mem["snn"]["per_layer"], mem["ann"]["per_layer"]):
        rows.append([snn["name"]] + [format_energy(snn["terms"][t]) for t in snn["terms"]]
                    + [format_energy(snn["pJ"]), format_energy(ann["pJ"])])
    total = ["total"] + [format_energy(v) for v in mem["snn"]["terms"].values()]
    return rows + [total + [format_energy(mem["snn"]["pJ"]), format_energy(mem["ann"]["pJ"])]]


def _plain_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    table = [headers] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    out = []
    for k, row in enumerate(table):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0 or k == len(table) - 2:
            out.append("  ".join("-" * w for w in widths))
    return out


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
    memory = _plain_table(["layer", "SNN ops", "addressing", "in/out", "params", "potentials", "SNN total",
                           "ANN total"], _memory_rows(doc))
    return "\n".join(_summary_lines(doc) + [""] + out + ["", "memory-aware energy per layer "
                                                          "(Lemaire et al. 2022):"] + memory) + "\n"


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
        _memory_bullet(doc),
        "- " + neurobench_line(doc),
    ]
    if "note" in en:
        lines.append(f"- Note: {en['note']}")
    return "\n".join(lines) + "\n"


def _memory_bullet(doc: dict) -> str:
    en, mem = doc["energy"], doc["energy"]["memory"]
    return (f"- Memory-aware energy (Lemaire et al. 2022, {mem['costs']['word_bits']}-bit words, SRAM access "
            f"energy by buffer size from Horowitz 45 nm): SNN **{format_energy(mem['snn']['pJ'])}**; ANN "
            f"{format_energy(mem['ann']['pJ'])}; ANN / SNN = **{_ratio_text(mem['ann_over_snn'])}** "
            f"(compute only: {_ratio_text(en['ann_over_snn'])})")


def _csv_rows(doc: dict) -> list[dict]:
    """The layer rows and the total row with the memory-model and NeuroBench columns added."""
    mem = doc["energy"]["memory"]
    sections = {"snn": {e["name"]: e for e in mem["snn"]["per_layer"]},
                "ann": {e["name"]: e for e in mem["ann"]["per_layer"]},
                "nb": {e["name"]: e for e in doc["neurobench"]["per_population"]}}
    rows = []
    for layer in doc["layers"]:
        row = dict(layer)
        for column, section, key in _EXTRA_COLUMNS:
            row[column] = sections[section].get(layer["name"], {}).get(key)
        rows.append(row)
    total = _totals_row(doc)
    nb = doc["neurobench"]
    total.update(memory_snn_pJ=mem["snn"]["pJ"], memory_ann_pJ=mem["ann"]["pJ"],
                 nb_effective_acs=nb["effective_acs"], nb_effective_macs=nb["effective_macs"],
                 nb_dense=nb["dense"], nb_membrane_updates=nb["membrane_updates"])
    return rows + [total]


def render_csv(doc: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _csv_rows(doc):
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
