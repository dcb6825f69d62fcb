"""One rule for a recording's sensor size when the file does not state one."""

import json

import numpy as np
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.events.dtype import make_events
from eventsim.events.io import read_events
from eventsim.events.sensor import EXTENT, MODEL, STATED, extent, resolve_sensor
from eventsim.network.h5io import save_model
from eventsim.network.ir import InputSpec, Network, Population, Projection


def test_the_rule():
    assert resolve_sensor((128, 128), (20, 10), (34, 34)) == ((128, 128), STATED)
    assert resolve_sensor(None, (20, 10), (34, 34)) == ((34, 34), MODEL)
    assert resolve_sensor(None, (40, 10), (34, 34)) == ((40, 10), EXTENT)  # does not fit
    assert resolve_sensor(None, (20, 10)) == ((20, 10), EXTENT)
    assert resolve_sensor(None, None) == (None, EXTENT)
    ev = make_events(np.array([0, 1]), np.array([3, 7]), np.array([5, 2]), np.array([1, 0]))
    assert extent(ev) == (8, 6) and extent(ev[:0]) is None


def test_every_command_uses_it_on_a_file_without_a_sensor(shared_data, tmp_path):
    ncars = str(shared_data / "prophesee" / "tonic_sample_ncars.dat")  # no geometry in its header
    events, stated = read_events(ncars)
    assert stated is None
    want = [int(events["x"].max()) + 1, int(events["y"].max()) + 1]
    doc = json.loads(CliRunner().invoke(cli, ["events", "info", ncars, "--json", "-"]).stdout)
    assert doc["sensor"] == want and doc["sensor_from"] == EXTENT
    out = tmp_path / "n.npz"
    res = CliRunner().invoke(cli, ["events", "convert", ncars, str(out)])
    assert res.exit_code == 0, res.output
    assert f"sensor {want[0]}x{want[1]} from {EXTENT}" in res.stderr
    assert list(read_events(str(out))[1]) == want
    res = CliRunner().invoke(cli, ["run", "eventsim/data/demo_model.h5", "-i", ncars, "--downscale", "sum",
                                   "--json", "-"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["input"]["sensor"] == want and report["input"]["sensor_from"] == EXTENT


def test_events_that_fit_the_model_get_its_sensor(shared_data, tmp_path):
    # a 2x64x96 model that states no sensor: the 78x42 N-CARS sample fits inside its input
    pops = [Population("input", "input", (2, 64, 96)), Population("out", "readout", (3,))]
    projs = [Projection("fc", "dense", "input", "out", weight=np.ones((3, 2 * 64 * 96)) / 100)]
    net = Network("wide", pops, projs, ["input", "out"], timesteps=2,
                  input=InputSpec(kind="events", polarity="split"))
    save_model(net, tmp_path / "m.h5")
    ncars = str(shared_data / "prophesee" / "tonic_sample_ncars.dat")
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "m.h5"), "-i", ncars, "--json", "-"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["input"]["sensor"] == [96, 64] and report["input"]["sensor_from"] == MODEL
