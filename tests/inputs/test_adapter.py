"""The input adapter: every way in gives the same prepared input, and the format is sniffed once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eventsim.events.frames as frames_mod
import eventsim.events.io as io_mod
from eventsim.engine.simulator import Simulator
from eventsim.errors import InputFormatError
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.io import read_events, write_events
from eventsim.events.sensor import GIVEN, MODEL, STATED
from eventsim.inputs import InputOptions, prepare, prepare_file, sniff
from eventsim.network.loading import load_network
from tests.randnet import random_network

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "eventsim" / "data"


def _events(n: int, seed: int, size=(34, 34)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 50_000, n))
    ev["x"], ev["y"] = rng.integers(0, size[0], n), rng.integers(0, size[1], n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def _same_binned(a, b) -> None:
    assert a.timesteps == b.timesteps
    for k in ("ptr", "index", "sign"):
        assert np.array_equal(getattr(a.binned, k), getattr(b.binned, k)), k


@pytest.mark.parametrize("spec", [InputOptions(), InputOptions(timesteps=3, method="count"),
                                  InputOptions(bin_us=7_000, keep_partial=True, polarity="split"),
                                  InputOptions(timesteps=5, crop=(2, 3, 30, 28), downscale="sum")])
def test_a_file_and_its_events_in_memory_prepare_alike(tmp_path, spec):
    net = load_network(DEMO / "demo_model.h5")
    path = tmp_path / "rec.aedat4"
    write_events(path, _events(3_000, 1), (34, 34))
    from_file = prepare_file(path, net, spec)
    from_array = prepare(read_events(path), net, spec, info={"path": str(path), "format": "aedat4"})
    _same_binned(from_file, from_array)
    assert from_file.info == from_array.info
    assert from_file.info["sensor_from"] == STATED and from_file.frames is None
    # and the engine gives one result whichever way the input came
    sim = Simulator(net, "float64")
    a, b = sim.run_prepared(from_file), sim.run(str(path), **spec.__dict__)
    assert np.array_equal(a.output, b.output) and a.totals == b.totals


def test_the_format_is_detected_once(tmp_path, monkeypatch):
    net = load_network(DEMO / "demo_model.h5")
    path = tmp_path / "rec.npz"
    write_events(path, _events(500, 2), (34, 34))
    assert sniff(str(path)) == "npz"

    def again(*_a, **_k):
        raise AssertionError("the format was detected a second time")

    monkeypatch.setattr(io_mod, "detect_format", again)
    monkeypatch.setattr(frames_mod, "frame_kind", again)
    prepared = prepare_file(path, net, InputOptions(timesteps=2))
    assert prepared.info["format"] == "npz" and prepared.info["events"] == 500


def test_sensor_rule_and_override():
    net = load_network(DEMO / "demo_model.h5")
    ev = _events(200, 3, size=(20, 20))
    assert prepare(ev, net).info["sensor_from"] == MODEL  # no stated size, fits the model's 34x34
    given = prepare(ev, net, sensor=(34, 34))
    assert given.info["sensor_from"] == GIVEN and given.info["sensor"] == [34, 34]
    with pytest.raises(InputFormatError, match="rec.bin: .*larger than the model input"):
        prepare(ev, net, sensor=(64, 64), info={"path": "rec.bin"})


def test_frames_rows_and_counts(tmp_path):
    fnet = random_network(4, frames=True)
    x = np.random.default_rng(0).random(fnet.input_shape)
    np.save(tmp_path / "x.npy", x)
    prepared = prepare_file(tmp_path / "x.npy", fnet, InputOptions(timesteps=3))
    assert prepared.kind == "frames" and prepared.timesteps == 3 and prepared.frames.shape == (1, *x.shape)
    assert np.array_equal(prepared.frames[0], x)
    enet = random_network(5)
    rows = np.random.default_rng(1).integers(0, 3, (4, *enet.input_shape))
    pr = prepare(rows, enet)
    assert pr.kind == "events" and pr.timesteps == 4 and np.array_equal(pr.counts[0], rows)
    assert pr.info["events"] == int(rows.sum())
    with pytest.raises(InputFormatError, match="takes frames input, got events"):
        prepare(_events(10, 0), fnet)
    with pytest.raises(InputFormatError, match="x.npy: array of shape .* does not fit the model input"):
        prepare_file(tmp_path / "x.npy", load_network(DEMO / "demo_model.h5"))
