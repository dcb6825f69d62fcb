"""Commands that write files say so on stderr (``wrote PATH (size)``); long ones show progress on a
terminal and nothing elsewhere."""

from __future__ import annotations

import io
import os
import re
import sys

import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.cli.base import format_size, stage_bar
from eventsim.network.h5io import save_model
from eventsim.validate import validate
from tests.test_validate import ternary_net


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def written(stderr: str) -> dict[str, str]:
    """{path: size} of the ``wrote PATH (SIZE)`` lines."""
    return {m[1]: m[2] for m in re.finditer(r"^wrote (\S+) \(([^)]+)\)", stderr, re.M)}


def test_format_size():
    assert [format_size(n) for n in (0, 999, 1000, 15_234, 999_999, 3_400_000)] == [
        "0 B", "999 B", "1 KB", "15.2 KB", "1 MB", "3.4 MB"]


def test_run_says_what_it_wrote(tmp_path):
    pytest.importorskip("matplotlib")
    out = {k: tmp_path / f"r.{k}" for k in ("json", "md", "png")}
    r = invoke("run", "--json", out["json"], "-o", out["md"], "--plot", out["png"])
    assert r.exit_code == 0, r.output
    assert written(r.stderr) == {str(p): format_size(os.path.getsize(p)) for p in out.values()}
    r = invoke("run", "--json", "-")  # stdout: nothing to announce
    assert r.exit_code == 0 and "wrote" not in r.stderr


def test_eval_convert_export_events_say_what_they_wrote(tmp_path):
    from tests.eval.evaldata import write_dataset, write_model

    model = write_model(tmp_path / "m.h5")
    ds = write_dataset(tmp_path / "ds", per_class=1)
    csv, res, js = tmp_path / "e.csv", tmp_path / "e.jsonl", tmp_path / "e.json"
    r = invoke("eval", model, ds, "--csv", csv, "--results", res, "--json", js, "--no-isolate")
    assert r.exit_code == 0, r.output
    assert set(written(r.stderr)) == {str(csv), str(res), str(js)}
    r = invoke("events", "convert", next(ds.glob("alpha/*")), tmp_path / "a.npz")
    assert r.exit_code == 0 and written(r.stderr) == {str(tmp_path / "a.npz"): format_size(
        os.path.getsize(tmp_path / "a.npz"))}


def test_validate_progress_only_on_a_terminal(tmp_path, monkeypatch):
    net = ternary_net()
    seen = []
    validate(net, kernel_audit=False, progress=lambda *a: seen.append(a))
    stages = ["static checks", "float64 reference", "float64 engine", "float32 engine", "integer reference",
              "integer engine", "done"]
    assert seen == [(s, k, 6) for k, s in enumerate(stages)]
    save_model(net, tmp_path / "v.h5", dtype="float64")
    r = invoke("validate", tmp_path / "v.h5", "--no-kernel-audit")
    assert r.exit_code == 0 and r.stderr == ""  # not a terminal: no bar, no messages

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    with stage_bar("validating") as progress:
        for k, s in enumerate(stages):
            progress(s, k, 6)
    assert "validating" in tty.getvalue() and "6/6" in tty.getvalue() and "integer engine" in tty.getvalue()
