"""Per-sample records are identical whatever the execution: in process, 2 processes, Dask."""

from __future__ import annotations

from contextlib import closing

import numpy as np
import pytest

from eventsim.engine.simulator import Simulator
from eventsim.eval.dataset import discover
from eventsim.eval.runner import EvalJob, evaluate_all, evaluate_one
from eventsim.eval.sample import comparable
from eventsim.events.io import read_events
from eventsim.inputs import InputSpec
from eventsim.network.loading import load_network
from tests.eval.evaldata import write_dataset, write_model

pytestmark = pytest.mark.usefixtures("no_leftover_processes")


def _all(job, samples, **kw) -> list[dict]:
    """Every record of evaluate_all; its workers stop even when the test fails half-way."""
    with closing(evaluate_all(job, samples, **kw)) as records:
        return list(records)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalrun")
    model = write_model(root / "model.h5")
    ds = write_dataset(root / "ds", per_class=3)
    (ds / "beta" / "s99.aedat4").write_bytes(b"#!AER-DAT4.0\r\n" + b"\x00" * 40)  # corrupt
    return str(model), discover(ds)


def _by_index(records):
    return [comparable(r) for r in sorted(records, key=lambda r: r["index"])]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float64", "int"])
def test_local_processes_and_reversed_order_agree(data, precision):
    model, ds = data
    job = EvalJob(model=model, precision=precision, options=InputSpec(timesteps=5))
    local = _by_index(_all(job, ds.samples))
    backwards = _by_index(evaluate_one(job, s) for s in reversed(ds.samples))  # reused Simulator
    procs = _by_index(_all(job, ds.samples, workers=2))
    assert local == backwards == procs
    assert len(local) == len(ds.samples)
    bad = [r for r in local if "error" in r]
    assert [r["path"] for r in bad] == ["beta/s99.aedat4"] and "InputFormatError" in bad[0]["error"]


def test_record_is_the_simulator_result(data):
    model, ds = data
    job = EvalJob(model=model, precision="float64")
    sample = ds.samples[4]
    rec = evaluate_one(job, sample)
    events, sensor = read_events(sample.path)
    res = Simulator(load_network(model), "float64").run(events, sensor=sensor)
    assert rec["output"] == [float(v) for v in res.output]  # bit for bit through JSON-ready floats
    assert rec["prediction"] == res.prediction and rec["correct"] == (res.prediction == sample.label)
    assert rec["sops"] == res.totals["sops"]
    assert [lay["sops"] for lay in rec["layers"]] == [lay["sops"] for lay in res.layers]
    # energy: 0.9 pJ per SOP (horowitz45-fp32, the default table); no MACs on event input
    assert rec["energy_pJ"] == pytest.approx(0.9 * rec["sops"])
    assert rec["spikes"] == int(res.spike_counts["l1"].sum())
    assert np.isfinite(rec["seconds"])


@pytest.mark.slow
def test_dask_local_cluster_agrees(data):
    distributed = pytest.importorskip("dask.distributed")
    model, ds = data
    job = EvalJob(model=model, precision="float64", options=InputSpec(timesteps=5))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        on_dask = _by_index(_all(job, ds.samples, scheduler=cluster.scheduler_address))
    assert on_dask == _by_index(_all(job, ds.samples))


def test_static_npy_samples_of_a_frame_model(tmp_path):
    from eventsim.network.h5io import save_model
    from tests.randnet import random_network

    net = random_network(5, frames=True)
    save_model(net, tmp_path / "frames.h5", dtype="float64")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "ds" / c).mkdir(parents=True)
        for k in range(2):
            np.save(tmp_path / "ds" / c / f"{k}.npy", rng.random(net.input_shape))
    ds = discover(tmp_path / "ds")
    job = EvalJob(model=str(tmp_path / "frames.h5"), precision="float64")
    recs = sorted(_all(job, ds.samples), key=lambda r: r["index"])
    sim = Simulator(load_network(tmp_path / "frames.h5"), "float64")
    for s, rec in zip(ds.samples, recs):
        res = sim.run(np.load(s.path))
        assert rec["output"] == [float(v) for v in res.output] and rec["macs"] == res.totals["macs"] > 0
        # E = E_MAC * MACs + E_AC * SOPs with horowitz45-fp32 (4.6 pJ / MAC, 0.9 pJ / SOP)
        assert rec["energy_pJ"] == pytest.approx(4.6 * rec["macs"] + 0.9 * rec["sops"])
