"""`eventsim energy` and the energy options of `eventsim run`, through click's CliRunner."""

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.io import write_events
from eventsim.network.h5io import save_model
from tests.randnet import random_network


def test_list_tables_text_and_json():
    r = CliRunner().invoke(cli, ["energy", "--list-tables"])
    assert r.exit_code == 0, r.output
    for name in ("horowitz45-fp32 ", "horowitz45-int8", "loihi-2018", "truenorth-2014"):
        assert name in r.output
    assert "Horowitz" in r.output and "(default)" in r.output
    r = CliRunner().invoke(cli, ["energy", "--list-tables", "--json", "-"])
    doc = json.loads(r.stdout)
    assert doc["default"] == "horowitz45-fp32"
    fp32 = next(t for t in doc["tables"] if t["name"] == "horowitz45-fp32")
    assert (fp32["mac_pJ"], fp32["ac_pJ"]) == (4.6, 0.9)


def test_show_user_table_and_reject_a_bad_one(tmp_path):
    good = tmp_path / "chip.toml"
    good.write_text('name = "chip"\ncitation = "X et al. 2025"\nprocess = "7 nm"\n'
                    'ac_pJ = 0.05\nmac_pJ = 0.2\n')
    r = CliRunner().invoke(cli, ["energy", "--table", str(good)])
    assert r.exit_code == 0 and "chip" in r.output and "0.05 pJ" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "chip"\ncitation = "X"\nprocess = "7 nm"\nac_pJ = -1\nmac_pJ = 0.2\n')
    r = CliRunner().invoke(cli, ["energy", "--table", str(bad)])
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and str(bad) in r.stderr and "'ac_pJ'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def model_and_events(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    net = random_network(2)  # event input, split or signed polarity
    save_model(net, d / "m.h5")
    rng = np.random.default_rng(0)
    c, h, w = net.input_shape
    n = 400
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 10_000, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n)
    write_events(str(d / "ev.npz"), ev, (w, h))
    return d, net


def _run(d, *args):
    return CliRunner().invoke(cli, ["run", str(d / "m.h5"), "-i", str(d / "ev.npz"), "-T", "4", *args])


def test_run_report_json_md_csv(model_and_events):
    d, net = model_and_events
    r = _run(d, "--report", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [lay["name"] for lay in doc["layers"]] == net.order
    assert doc["energy"]["table"] == "horowitz45-fp32"
    assert doc["energy"]["pJ"] == pytest.approx(0.9 * doc["totals"]["sops"] + 4.6 * doc["totals"]["macs"])
    assert doc["policy"]["first_layer"] == "event_input"
    cmp_ = doc["comparison"]
    assert cmp_["exact"]["sops"] == doc["totals"]["sops"]
    assert cmp_["effective"]["sops"] is not None and cmp_["effective"]["sops"] <= cmp_["exact"]["sops"]
    assert len(doc["per_step"][0]["sops_pos"]) == 4
    r = _run(d, "--report", "md", "--energy-table", "truenorth-2014")
    assert r.exit_code == 0 and "| layer |" in r.stdout and "truenorth-2014" in r.stdout
    r = _run(d, "-o", str(d / "r.csv"))  # format from the extension, summary still printed
    assert r.exit_code == 0 and "prediction" in r.stdout and "energy (horowitz45-fp32)" in r.stdout
    rows = list(csv.DictReader(io.StringIO((d / "r.csv").read_text())))
    assert [row["name"] for row in rows] == net.order + ["total"]


def test_run_json_has_energy_section_and_plot(model_and_events):
    d, _ = model_and_events
    out = d / "rep.json"
    r = _run(d, "--json", str(out), "--plot", str(d / "layers.svg"))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert set(doc["energy"]) >= {"table", "pJ", "per_layer"} and doc["schema"] == "eventsim.report/1"
    assert "<svg" in (d / "layers.svg").read_text()
    r = _run(d, "--json", "-", "--plot", str(d / "layers2.svg"))  # JSON on stdout, figure still saved
    assert r.exit_code == 0 and json.loads(r.stdout)["energy"]["pJ"] == doc["energy"]["pJ"]
    assert (d / "layers2.svg").stat().st_size > 0


def test_run_bad_energy_options(model_and_events, tmp_path):
    d, _ = model_and_events
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"name": "x", "citation": "c", "process": "p", "ac_pJ": 1}))
    r = _run(d, "--energy-table", str(bad), "--report", "md", "-o", str(tmp_path / "r.md"))
    assert r.exit_code == 2 and "missing field 'mac_pJ'" in r.stderr and str(bad) in r.stderr
    assert not (tmp_path / "r.md").exists()
    r = _run(d, "--energy-table", "nope")
    assert r.exit_code == 2 and "unknown energy table 'nope'" in r.stderr
    r = _run(d, "--json", "-", "--report", "md")
    assert r.exit_code == 2
    r = _run(d, "--plot", str(tmp_path / "x.gif"))
    assert r.exit_code == 2 and "plot file must end in" in r.stderr
