"""``eventsim bench``: runs without torch when the PyTorch comparison is off; says how long it takes."""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

import eventsim.bench
from eventsim.bench.engine import estimate_seconds
from eventsim.cli import cli


def test_no_e2e_needs_no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import fails as if torch were not installed
    monkeypatch.delitem(sys.modules, "torch.nn.functional", raising=False)
    monkeypatch.delitem(sys.modules, "eventsim.bench.dense", raising=False)  # imported by another test
    monkeypatch.delattr(eventsim.bench, "dense", raising=False)
    r = CliRunner().invoke(cli, ["bench", "--no-kernel", "--no-e2e", "--json", "-"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["kernel"] is None and doc["end_to_end"] == doc["end_to_end_one_thread"] == []
    assert doc["cold_compile_s"] is None and doc["table"] == ""
    assert "running: ~3 s (estimated from the options)" in r.stderr
    r = CliRunner().invoke(cli, ["bench", "--no-kernel"])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "error: eventsim bench needs PyTorch for the dense comparison" in r.output
    assert "--no-e2e" in r.output


def test_estimate_follows_the_options():
    base = dict(densities=[0.05], timesteps=10, repeat=3, kernel=False, e2e=True, cold=False)
    one = estimate_seconds(**base) - estimate_seconds(**{**base, "e2e": False})
    assert 10 < one < 30  # one density of the ResNet-19 comparison at T = 10
    two = estimate_seconds(**{**base, "densities": [0.05, 0.05]}) - estimate_seconds(**{**base, "e2e": False})
    assert two == 2 * one
    longer = estimate_seconds(**{**base, "timesteps": 20}) - estimate_seconds(**{**base, "e2e": False})
    assert longer == 2 * one  # every part of a run scales with T
    assert estimate_seconds(**{**base, "densities": [0.2]}) > estimate_seconds(**base)
    assert estimate_seconds(**{**base, "repeat": 5}) > estimate_seconds(**base)
    assert estimate_seconds(**{**base, "cold": True}) > estimate_seconds(**base)
