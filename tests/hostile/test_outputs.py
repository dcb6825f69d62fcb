"""Outputs never replace what they should write to, never overwrite an input, and end cleanly.

Issues 15 and 23: special files and links as outputs, inputs given as outputs, the eval results
file shared by two runs, strict JSON, signals, temp names that fit, one-line usage errors and
closed pipes. Device nodes, FIFOs, sockets and links are made in tmp_path (never the system's
/dev). Cases that need no child process use CliRunner; signals and pipes run ``python -m
eventsim`` under the sandbox's memory cap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from eventsim.cli import cli
from eventsim.cli.base import EventsimCommand, InputPath, OutputPath, Terminated, emit_json
from eventsim.errors import OutputError
from eventsim.events.dtype import EVENT_DTYPE
from eventsim.events.io import write_events
from eventsim.files import atomic_output, json_text, open_locked_append, temp_affixes
from tests.eval.evaldata import write_dataset, write_model
from tests.hostile.sandbox import MEMORY_MB, ROOT, assert_clean, run_cli

DEMO_MODEL = ROOT / "eventsim" / "data" / "demo_model.h5"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error(r, expect: int = 2, mention: str | None = None) -> str:
    """The single ``error:`` line of a CliRunner result that exited ``expect``."""
    assert r.exit_code == expect, f"exit {r.exit_code}\n{r.output}\n{r.exception!r}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output and ".tmp" not in lines[0], lines[0]
    if mention is not None:
        assert mention in lines[0], lines[0]
    return lines[0]


def temps(*folders: Path) -> list[str]:
    return [p.name for f in folders for p in f.iterdir() if ".tmp" in p.name]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def rec(tmp_path) -> Path:
    rng = np.random.default_rng(7)
    ev = np.zeros(500, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 10**6, ev.size))
    ev["x"], ev["y"] = rng.integers(0, 34, ev.size), rng.integers(0, 34, ev.size)
    ev["p"] = rng.integers(0, 2, ev.size)
    path = tmp_path / "rec.npz"
    write_events(path, ev, (34, 34))
    return path


@pytest.fixture
def model(tmp_path) -> Path:
    return Path(shutil.copy(DEMO_MODEL, tmp_path / "model.h5"))


class Reader(threading.Thread):
    """Reads a FIFO to the end, as the program on the other side of it would."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path, self.data = path, None
        self.start()

    def run(self) -> None:
        with open(self.path, "rb") as f:
            self.data = f.read()


# -- issue 23.1: atomic for regular files only ---------------------------------------------

def test_fifo_output_is_written_straight_into_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    reader = Reader(fifo)
    r = invoke("energy", "--json", fifo)
    reader.join(10)
    assert r.exit_code == 0, r.output
    assert json.loads(reader.data)["tables"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert temps(tmp_path) == []


def test_binary_writer_into_a_fifo_and_a_seeking_one_refused_cleanly(tmp_path, rec):
    npz = tmp_path / "out.npz"
    os.mkfifo(npz)
    reader = Reader(npz)
    r = invoke("events", "convert", rec, npz)
    reader.join(10)
    assert r.exit_code == 0, r.output
    assert reader.data[:2] == b"PK" and stat.S_ISFIFO(os.stat(npz).st_mode)
    h5 = tmp_path / "out.h5"  # HDF5 seeks: a pipe cannot hold it
    os.mkfifo(h5)
    reader = Reader(h5)
    one_error(invoke("events", "convert", rec, h5), mention=str(h5))
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(h5).st_mode) and temps(tmp_path) == []


def test_symlink_output_writes_its_target_in_another_folder_and_keeps_the_link(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "report.json"
    target.write_text("old\n")
    link = tmp_path / "out" / "report.json"
    link.symlink_to("../results/report.json")
    r = invoke("energy", "--json", link)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == "../results/report.json"
    assert json.loads(target.read_text())["tables"]
    assert temps(tmp_path / "out", tmp_path / "results") == []


def test_symlink_chain_to_a_new_file_creates_the_final_target(tmp_path, rec):
    (tmp_path / "other").mkdir()
    (tmp_path / "b.npz").symlink_to(tmp_path / "other" / "c.npz")  # dangling until written
    (tmp_path / "a.npz").symlink_to("b.npz")
    r = invoke("events", "convert", rec, tmp_path / "a.npz")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.npz").is_symlink() and (tmp_path / "b.npz").is_symlink()
    assert (tmp_path / "other" / "c.npz").is_file() and not (tmp_path / "other" / "c.npz").is_symlink()
    assert invoke("events", "info", tmp_path / "a.npz").exit_code == 0
    assert temps(tmp_path, tmp_path / "other") == []


def test_character_device_output_stays_a_device(tmp_path, rec):
    null = tmp_path / "null.npz"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is, made here
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    for args in (["energy", "--json", null], ["events", "convert", rec, null]):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        assert stat.S_ISCHR(os.stat(null).st_mode)
    assert temps(tmp_path) == []


def _refused_targets(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "folder").mkdir()
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    (tmp_path / "to_folder").symlink_to("folder")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "x.json")
    return {"folder": tmp_path / "folder", "loop": tmp_path / "loop1", "link to a folder":
            tmp_path / "to_folder", "missing folder": tmp_path / "missing" / "x.json",
            "dangling link into a missing folder": tmp_path / "dangling"}


def test_what_cannot_be_written_is_refused_in_one_line(tmp_path):
    for why, path in _refused_targets(tmp_path).items():
        line = one_error(invoke("energy", "--json", path), mention=str(path))
        assert "Usage" not in line, why
    assert temps(tmp_path) == [] and not (tmp_path / "nowhere").exists()


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s"
    if len(os.fsencode(path)) > 100:
        pytest.skip("tmp_path too long for a unix socket")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        one_error(invoke("energy", "--json", path), mention="socket")


def test_refusals_in_a_real_process(tmp_path):
    targets = _refused_targets(tmp_path)
    out = run_cli(["energy", "--json", targets["missing folder"]], cwd=tmp_path)
    assert_clean(out, expect=2, mention=str(targets["missing folder"]))
    out = run_cli(["energy", "--json", "folder"], cwd=tmp_path)
    assert_clean(out, expect=2, mention="folder: is a folder")


def test_writer_errors_name_the_users_path_not_the_temp_file(tmp_path):
    out = tmp_path / "model.h5"
    with pytest.raises(OutputError) as err:
        with atomic_output(out) as tmp:
            raise OSError(28, "No space left on device", tmp)
    assert str(out) in str(err.value) and ".tmp" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_files_permissions_are_kept(tmp_path):
    out = tmp_path / "r.json"
    out.write_text("{}")
    out.chmod(0o640)
    assert invoke("energy", "--json", out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and json.loads(out.read_text())["tables"]


# -- issue 15.6: temp names that fit ---------------------------------------------------------

@pytest.mark.parametrize("size", [240, 247, 251, 254, 255])
def test_output_names_up_to_the_limit_work(tmp_path, size):
    name = "r" * (size - len(".json")) + ".json"
    r = invoke("energy", "--json", tmp_path / name)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / name).read_text())["tables"] and temps(tmp_path) == []


def test_a_name_over_the_limit_is_one_line_naming_the_size(tmp_path):
    one_error(invoke("energy", "--json", tmp_path / ("r" * 251 + ".json")), mention="256 bytes")


def test_temp_names_fit_and_keep_the_extension():
    for ext in (".json", ".npz", ".aedat4", ".h5", ""):
        for size in range(1, 256):
            name = "é" * (size // 2) + "x" * (size % 2)  # two bytes per é: cuts inside none
            name = name[: max(1, len(name) - len(ext))] + ext
            prefix, suffix = temp_affixes(name)
            assert len(os.fsencode(prefix)) + 8 + len(os.fsencode(suffix)) <= 255
            assert suffix == ".tmp" + ext


# -- issue 15.1: an output is never an input --------------------------------------------------

def _input_cases(tmp_path: Path, rec: Path, model: Path):
    ck = tmp_path / "ck.pth"
    ck.write_bytes(b"PK\x03\x04 not really")
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"name": "t", "citation": "c", "process": "p", "ac_pJ": 1, "mac_pJ": 2}))
    img = tmp_path / "img.npy"
    np.save(img, np.zeros((28, 28)))
    (tmp_path / "link.npz").symlink_to(rec)
    os.link(rec, tmp_path / "hard.npz")
    (tmp_path / "m.png").symlink_to(model)
    ds = write_dataset(tmp_path / "ds", per_class=1)
    sample = next(p for p in sorted(ds.rglob("*")) if p.is_file())
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"{sample},0\n")
    return [
        (["events", "convert", rec, rec], rec),
        (["events", "convert", rec, tmp_path / "link.npz"], rec),
        (["events", "convert", rec, tmp_path / "hard.npz"], rec),
        (["events", "info", rec, "--json", rec], rec),
        (["events", "show", rec, "-o", tmp_path / "hard.npz"], rec),
        (["events", "emulate", img, "-o", img], img),
        (["inspect", model, "--json", model], model),
        (["run", model, "-i", rec, "--json", rec], rec),
        (["run", model, "-i", rec, "--report", "json", "-o", model], model),
        (["run", model, "-i", rec, "--plot", tmp_path / "m.png"], model),
        (["convert", ck, "--arch", "x", "-T", "1", "--input-shape", "2,3,3", "-o", ck], ck),
        (["export", model, "-o", model], model),
        (["energy", "--table", table, "--json", table], table),
        (["validate", model, "-i", rec, "--json", rec], rec),
        (["validate", model, "--json", model], model),
        (["eval", model, ds, "--results", model], model),
        (["eval", model, ds, "--json", sample], sample),
        (["eval", model, manifest, "--csv", manifest], manifest),
    ]


def test_no_command_overwrites_its_input(tmp_path, rec, model):
    for args, protected in _input_cases(tmp_path, rec, model):
        before = digest(protected)
        line = one_error(invoke(*args))
        assert "is an input of this command" in line, (args, line)
        assert digest(protected) == before, args
    assert temps(tmp_path) == []


def test_two_outputs_on_one_file_are_refused(tmp_path, rec, model):
    one_error(invoke("run", model, "-i", rec, "--json", tmp_path / "r.json", "-o", tmp_path / "r.json"),
              mention="given as two outputs")
    assert not (tmp_path / "r.json").exists()


def test_input_as_output_in_a_real_process(tmp_path, rec):
    before = digest(rec)
    out = run_cli(["events", "convert", rec.name, rec.name], cwd=tmp_path)
    assert_clean(out, expect=2, mention="rec.npz: is an input")
    assert digest(rec) == before


def _commands(group: click.Group, path: str = ""):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{path}{name} ")
        else:
            yield f"{path}{name}", cmd


def test_every_command_tags_its_paths_so_the_checks_apply():
    outputs = {"json_out", "csv_out", "output", "report_out", "plot", "results_path", "dst"}
    for name, cmd in _commands(cli):
        assert isinstance(cmd, EventsimCommand), name
        for p in cmd.params:
            if p.name in outputs:
                assert isinstance(p.type, OutputPath), f"{name} {p.name}"
            elif isinstance(p.type, click.Path):
                assert isinstance(p.type, InputPath), f"{name} {p.name}: a path that is neither"


# -- issue 15.1: the eval results file -------------------------------------------------------

@pytest.fixture
def evalset(tmp_path):
    return str(write_model(tmp_path / "m.h5")), str(write_dataset(tmp_path / "ds", per_class=2))


def test_a_second_eval_on_a_results_file_in_use_is_refused_naming_the_first(tmp_path, evalset):
    results = tmp_path / "r.jsonl"
    fd = open_locked_append(results)  # what a running eval holds
    try:
        os.write(fd, b"kept\n")
        for extra in ([], ["--resume"]):
            one_error(invoke("eval", *evalset, "--results", results, *extra),
                      mention=f"in use by another eventsim run (pid {os.getpid()}")
    finally:
        os.close(fd)
    assert results.read_bytes() == b"kept\n"


def test_resume_drops_torn_lines_with_one_warning(tmp_path, evalset):
    results = tmp_path / "r.jsonl"
    assert invoke("eval", *evalset, "--results", results).exit_code == 0
    lines = results.read_text().splitlines(keepends=True)
    n = len(lines) - 1  # header + one line per sample
    assert n >= 5
    # what two unlocked runs left: a torn record glued to a whole one, and a torn tail
    results.write_text(lines[0] + lines[1] + lines[2][:20] + "".join(lines[3:-1]) + lines[-1][:9])
    r = invoke("eval", *evalset, "--results", results, "--resume", "--json", "-")
    assert r.exit_code == 0, r.output
    warnings = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("wrote ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ")
    assert f"line(s) 3, {n} " in warnings[0], warnings[0]  # the glued line and the tail
    indices = [json.loads(x)["index"] for x in results.read_text().splitlines()[1:]]
    assert sorted(indices) == list(range(n))
    assert len(json.loads(r.stdout)["results"]) == n


# -- issue 23.4: strict JSON ------------------------------------------------------------------

def test_non_finite_values_fail_naming_the_field_and_write_nothing(tmp_path, capsys):
    doc = {"energy": {"pJ": 1.0, "layers": [0.5, float("inf")]}, "ok": [float("nan")]}
    with pytest.raises(OutputError, match=r"r.json: energy.layers\[1\] is inf"):
        emit_json(doc, str(tmp_path / "r.json"))
    with pytest.raises(OutputError, match=r"stdout: energy.layers\[1\] is inf"):
        emit_json(doc, "-")
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().out == ""
    deep = current = {}
    for _ in range(5000):  # nesting deeper than the recursion limit: still one clear error
        current["a"] = current = {}
    current["x"] = float("-inf")
    with pytest.raises((OutputError, RecursionError)):
        json_text(deep, what="deep")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_float_options_refuse_nan_and_infinity(tmp_path, value, model):
    one_error(invoke("export", model, "-o", tmp_path / "n.nir", "--dt", value), mention="finite")


# -- issue 23.5 / 15.6: signals -----------------------------------------------------------

def _child(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache_hostile")))

    def limits():
        import resource

        cap = MEMORY_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job may inherit SIGINT ignored

    return subprocess.Popen([sys.executable, "-m", "eventsim", *map(str, args)], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=limits)


@pytest.fixture(scope="module")
def big_recording(tmp_path_factory) -> Path:
    """Two million events: converting them with zstd level 19 takes seconds."""
    rng = np.random.default_rng(3)
    ev = np.zeros(2_000_000, EVENT_DTYPE)
    ev["t"] = np.cumsum(rng.integers(0, 5, ev.size))
    ev["x"], ev["y"] = rng.integers(0, 640, ev.size), rng.integers(0, 480, ev.size)
    ev["p"] = rng.integers(0, 2, ev.size)
    path = tmp_path_factory.mktemp("big") / "big.h5"
    write_events(path, ev, (640, 480))
    return path


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize("ext", [".aedat4", ".npz"])
def test_a_signal_during_a_write_leaves_no_temp_and_the_old_output(tmp_path, big_recording, sig, code,
                                                                   word, ext):
    out = tmp_path / f"out{ext}"
    out.write_bytes(b"the previous output")
    proc = _child(["events", "convert", big_recording, out.name, "--compression", "zstd_high",
                   "--chunk", "20000"], tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not temps(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert temps(tmp_path), f"no temp file appeared: {proc.poll()} {proc.stderr.read()!r}"
        time.sleep(0.3)  # well inside the write
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert proc.returncode == code, err.decode()
    assert len(lines) == 1 and lines[0].startswith(f"error: {word}"), lines
    assert temps(tmp_path) == [] and out.read_bytes() == b"the previous output"


def test_interrupts_inside_any_command_take_the_one_rule(monkeypatch, tmp_path, evalset):
    import eventsim.cli.eval_cmd as eval_cmd

    for exc, code, word in ((KeyboardInterrupt(), 130, "interrupted"), (Terminated(), 143, "terminated")):
        def boom(*a, exc=exc, **k):
            raise exc
        monkeypatch.setattr(eval_cmd, "_run", boom)
        line = one_error(invoke("eval", *evalset, "--results", tmp_path / f"{code}.jsonl"), expect=code)
        assert line.startswith(f"error: {word}") and "--resume" in line


# -- issue 15.6: usage errors and closed pipes -------------------------------------------

@pytest.mark.parametrize("args", [["run", "--bogus"], ["eval"], ["nosuchcommand"], ["--bogus"],
                                  ["run", "--precision", "int8"], ["events", "convert"],
                                  ["events", "info", "a", "b"]])
def test_usage_errors_are_one_line(args):
    line = one_error(invoke(*args))
    assert "--help" in line


def test_help_is_unchanged():
    for args in (["--help"], ["run", "--help"], ["events", "convert", "--help"]):
        r = invoke(*args)
        assert r.exit_code == 0 and r.stdout.startswith("Usage: ") and r.stderr == ""


def test_usage_error_in_a_real_process(tmp_path):
    out = run_cli(["run", "--bogus"], cwd=tmp_path)
    assert_clean(out, expect=2, mention="--bogus")
    assert "Usage:" not in out.stderr


def test_a_closed_stdout_ends_quietly(tmp_path):
    proc = _child(["energy", "--json", "-"], tmp_path)
    proc.stdout.close()  # the reader is gone before eventsim writes, as `| head -0` does
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert proc.returncode == 141 and err == ""


# -- every writer goes through eventsim.files ----------------------------------------------

PKG = ROOT / "eventsim"
# Format writers write the path events/io.py hands them from atomic_output.
FORMAT_WRITERS = "events/formats/"
# Strict JSON not yet routed: these modules belong to the network part (model provenance and NIR
# metadata); each json.dumps there should become files.json_text. Remove entries as they go.
JSON_NOT_YET_ROUTED: set[str] = set()
WRITE_CALL = (r"open\([^)]*['\"][wax]b?\+?['\"]|h5py\.File\([^)]*['\"][wax]['\"]|\.savefig\(|np\.save|"
              r"\.write_text\(|\.write_bytes\(|os\.replace\(|os\.rename\(")


def test_every_writer_in_the_package_goes_through_files():
    import re

    stray, json_calls = [], []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel == "files.py":
            continue
        if re.search(r"json\.dumps?\(", text) and rel not in JSON_NOT_YET_ROUTED:
            json_calls.append(rel)
        if rel.startswith(FORMAT_WRITERS):
            continue
        for m in re.finditer(WRITE_CALL, text):
            if "atomic_output" not in text:
                stray.append(f"{rel}: {m.group(0)}")
    assert not stray, "writers that bypass eventsim.files:\n" + "\n".join(stray)
    assert not json_calls, ("json.dumps outside files.json_text (NaN/Infinity unchecked): "
                            + ", ".join(json_calls))


def test_dash_is_stdout_for_writers_that_need_a_path(capsysbinary):
    with atomic_output("-") as tmp:
        with open(tmp, "wb") as f:
            f.write(b"\x89HDF all of it")
    assert capsysbinary.readouterr().out == b"\x89HDF all of it"
    with pytest.raises(ValueError):
        with atomic_output("-") as tmp:
            Path(tmp).write_bytes(b"half")
            raise ValueError("the writer failed")
    assert capsysbinary.readouterr().out == b""  # a failed write prints nothing
