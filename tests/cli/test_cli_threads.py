"""``--threads`` on run, eval and validate, as a user runs them (CliRunner)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from eventsim import jit
from eventsim.cli import cli
from eventsim.events.dtype import make_events
from eventsim.events.io import write_events
from eventsim.network.h5io import save_model
from tests.eval.evaldata import write_dataset, write_model
from tests.randnet import random_network


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _case(tmp_path):
    net = random_network(7, depth=3)
    save_model(net, tmp_path / "m.h5")
    c, h, w = net.input_shape
    rng = np.random.default_rng(1)
    n = 600
    ev = make_events(np.sort(rng.integers(0, 10_000, n)), rng.integers(0, w, n), rng.integers(0, h, n),
                     rng.integers(0, 2, n))
    write_events(tmp_path / "rec.npz", ev, (w, h))
    return tmp_path / "m.h5", tmp_path / "rec.npz"


def test_run_is_identical_on_every_thread_count(tmp_path):
    model, rec = _case(tmp_path)
    docs = []
    for threads in sorted({1, jit.max_threads()}):
        r = invoke("run", model, "-i", rec, "-T", 4, "--threads", threads, "--json", "-")
        assert r.exit_code == 0, r.output
        docs.append(json.loads(r.stdout))
    assert all(d["output"] == docs[0]["output"] and d["layers"] == docs[0]["layers"] for d in docs)


def test_too_many_threads_is_one_error_line(tmp_path):
    model, rec = _case(tmp_path)
    r = invoke("run", model, "-i", rec, "--threads", jit.max_threads() + 1)
    assert r.exit_code == 2
    assert r.output.startswith("error: ") and "at most" in r.output and "Traceback" not in r.output
    r = invoke("run", model, "-i", rec, "--threads", 0)
    assert r.exit_code == 2 and "--threads" in r.output


def test_validate_takes_threads(tmp_path):
    model, rec = _case(tmp_path)
    r = invoke("validate", model, "--threads", 1, "--no-kernel-audit", "--json", "-")
    assert r.exit_code in (0, 1), r.output
    checks = {c["name"]: c["status"] for c in json.loads(r.stdout)["checks"]}
    assert checks["float64-vs-reference"] == "pass" and checks["int-vs-int-reference"] == "pass"


def test_eval_splits_the_cores_between_workers(tmp_path, monkeypatch):
    model = write_model(tmp_path / "model.h5")
    ds = write_dataset(tmp_path / "ds", per_class=1)
    monkeypatch.setattr(jit, "max_threads", lambda: 4)
    r = invoke("eval", model, ds, "--workers", 2, "--threads", 3)
    assert r.exit_code == 2 and "oversubscribe" in r.output
    jobs = []
    import eventsim.cli.eval_cmd as eval_cmd

    def capture(job, todo, *args):
        jobs.append(job)
        return iter(())

    monkeypatch.setattr(eval_cmd, "evaluate_all", lambda job, todo, **kw: capture(job, todo))
    for args, want in ((["--workers", 2], 2), (["--workers", 3], 1), ([], 4), (["--threads", 1], 1)):
        jobs.clear()
        invoke("eval", model, ds, *args)
        assert jobs and jobs[0].threads == want, args
