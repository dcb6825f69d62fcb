"""Every output format parsed back and compared with the report it came from."""

import csv
import io
import json

import numpy as np
import pytest

from eventsim.energy.render import CSV_COLUMNS, format_energy, render
from eventsim.energy.report import build_report
from eventsim.errors import ConfigError
from tests.energy.wrap import effective_sops_reference, reference_run
from tests.randnet import random_inputs, random_network


@pytest.fixture(scope="module")
def doc():
    net = random_network(3)
    pos, neg = random_inputs(net, 3, steps=4)
    return build_report(reference_run(net, pos, neg), None, effective_sops_reference(net, pos, neg))


def _int(cell: str) -> int:
    return int(cell.replace(",", "").strip("*"))


def test_json_round_trip(doc):
    back = json.loads(render(doc, "json"))
    assert back == json.loads(json.dumps(doc))
    assert back["schema"] == "eventsim.report/1"
    assert set(back["energy"]) >= {"table", "pJ", "per_layer"}
    assert [e["name"] for e in back["energy"]["per_layer"]] == [lay["name"] for lay in doc["layers"]]


def test_csv_rows(doc):
    rows = list(csv.DictReader(io.StringIO(render(doc, "csv"))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert [r["name"] for r in rows] == [lay["name"] for lay in doc["layers"]] + ["total"]
    for row, lay in zip(rows, doc["layers"]):
        for key in ("neurons", "spikes_pos", "spikes_neg", "sops", "sops_pos", "sops_neg", "macs",
                    "dense_macs", "sops_effective"):
            assert int(row[key]) == lay[key]
        assert float(row["pJ"]) == pytest.approx(lay["pJ"])
        assert (row["rate"] == "") == (lay["rate"] is None)
    total = rows[-1]
    assert int(total["sops"]) == doc["totals"]["sops"] == doc["comparison"]["exact"]["sops"]
    assert float(total["pJ"]) == pytest.approx(doc["energy"]["pJ"])
    assert float(total["ann_pJ"]) == pytest.approx(doc["energy"]["ann_pJ"])


def test_markdown_table_rows(doc):
    text = render(doc, "md")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[:2] == ["layer", "kind"] and "SOPs" in header and "energy" in header
    assert set(rows[1].replace("|", "")) <= set("-: ")
    body = [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]
    assert len(body) == len(doc["layers"]) + 1
    isops, ieff = header.index("SOPs"), header.index("SOPs eff.")
    for cells, lay in zip(body, doc["layers"]):
        assert cells[0] == lay["name"]
        assert _int(cells[isops]) == lay["sops"] and _int(cells[ieff]) == lay["sops_effective"]
    assert body[-1][0] == "**total**" and _int(body[-1][isops]) == doc["totals"]["sops"]
    assert doc["policy"]["statement"] in text and doc["energy"]["table"] in text


def test_text_table(doc):
    text = render(doc, "text")
    for lay in doc["layers"]:
        assert any(line.startswith(lay["name"] + " ") for line in text.splitlines())
    assert "total" in text and format_energy(doc["energy"]["pJ"]) in text
    assert "first layer:" in text and "ANN / SNN" in text


def test_unknown_format(doc):
    with pytest.raises(ConfigError, match="unknown report format 'xml'"):
        render(doc, "xml")


def test_format_energy_units():
    assert format_energy(0.9) == "0.9 pJ"
    assert format_energy(1234.0) == "1.234 nJ"
    assert format_energy(2.5e6) == "2.5 uJ"
    assert format_energy(3e9) == "3 mJ" and format_energy(None) == "-"
    assert np.isclose(float(format_energy(5e12).split()[0]), 5.0)
