import json

from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.network.h5io import save_model
from tests.randnet import random_network


def test_version():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and "eventsim" in r.output


def test_inspect_table_and_json(tmp_path):
    net = random_network(11)
    save_model(net, tmp_path / "m.h5")
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "m.h5")])
    assert r.exit_code == 0, r.output
    for pop in net.populations:
        assert pop.name in r.output
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "m.h5"), "--json", "-"])
    doc = json.loads(r.stdout)
    assert [p["name"] for p in doc["populations"]] == net.order
    assert doc["totals"]["parameters"] > 0


def test_bad_file_is_one_line_error_exit_2(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    r = CliRunner().invoke(cli, ["inspect", str(bad)])
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and str(bad) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_debug_shows_traceback(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    r = CliRunner().invoke(cli, ["--debug", "inspect", str(bad)])
    assert r.exit_code != 0 and r.exception is not None
