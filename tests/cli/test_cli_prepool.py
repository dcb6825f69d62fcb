"""``eventsim inspect`` shows a conv2d's pre-pool (table marker, JSON geometry)."""

import json

from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.network.counts import synapse_count
from eventsim.network.h5io import save_model
from tests.randnet import random_network


def test_inspect_shows_pre_pool(tmp_path):
    net = next(n for n in (random_network(s, pre_pool=True) for s in range(50))
               if any(q.pre_pool for q in n.projections))
    q = next(q for q in net.projections if q.pre_pool)
    save_model(net, tmp_path / "m.h5")
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "m.h5")])
    assert r.exit_code == 0, r.output
    assert "conv2d +pre-pool" in r.output
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "m.h5"), "--json", "-"])
    entry = next(e for e in json.loads(r.stdout)["projections"] if e["name"] == q.name)
    assert entry["pre_pool"] == dict(zip(("kernel_size", "stride", "padding"), map(list, q.pre_pool)))
    s, t = net.population(q.source).shape, net.population(q.target).shape
    assert entry["synapses"] == synapse_count(q, s, t)
