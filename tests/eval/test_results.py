"""The resumable results file: header checks, torn last line, refusal to overwrite."""

from __future__ import annotations

import json
import os

import pytest

from eventsim.errors import ConfigError, InputFormatError, OutputError
from eventsim.eval.results import ResultsHeader, ResultsWriter, read_results


def _header(**kw):
    base = dict(model="m.h5", model_sha256="aa", dataset="d", dataset_sha256="bb", samples=3,
                options={"precision": "float32", "timesteps": None})
    base.update(kw)
    return ResultsHeader(**base)


def test_append_then_resume_drops_torn_line(tmp_path):
    path = str(tmp_path / "r.jsonl")
    with ResultsWriter(path, _header(), resume=False) as w:
        w.append({"index": 1, "prediction": 0})
        w.append({"index": 0, "prediction": 2})
    with open(path, "ab") as f:
        f.write(b'{"index": 2, "predic')  # a run killed mid-write
    parsed = read_results(path)
    assert parsed.header["model_sha256"] == "aa" and sorted(parsed.records) == [0, 1]
    assert parsed.dropped == [4]
    with ResultsWriter(path, _header(), resume=True) as w:
        assert sorted(w.done) == [0, 1] and w.dropped == [4]
        w.append({"index": 2, "prediction": 1})
    lines = open(path).read().splitlines()
    assert [json.loads(x)["index"] for x in lines[1:]] == [1, 0, 2]


@pytest.mark.parametrize("kw, match", [
    ({"model_sha256": "zz"}, "model file differs"),
    ({"dataset_sha256": "zz"}, "samples differ"),
    ({"options": {"precision": "int", "timesteps": None}}, "precision: 'float32' there, 'int' now"),
])
def test_resume_refuses_other_model_samples_or_options(tmp_path, kw, match):
    path = str(tmp_path / "r.jsonl")
    ResultsWriter(path, _header(), resume=False).close()
    with pytest.raises(ConfigError, match=match):
        ResultsWriter(path, _header(**kw), resume=True)


def test_existing_file_needs_resume_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultsWriter(str(path), _header(), resume=False).close()
    with pytest.raises(ConfigError, match="give --resume"):
        ResultsWriter(str(path), _header(), resume=False)
    path.write_text('{"something": "else"}\n')
    with pytest.raises(InputFormatError, match="not an eventsim eval results file"):
        ResultsWriter(str(path), _header(), resume=True)
    path.write_text(json.dumps(_header().to_dict()) + '\n{"no": "index"}\n')
    with pytest.raises(InputFormatError, match="line 2 is not a sample record"):
        ResultsWriter(str(path), _header(), resume=True)
    assert path.read_text().endswith('{"no": "index"}\n')  # a foreign file is left as it was


@pytest.mark.parametrize("torn", [b"", b'{"schema": "eventsim.ev'])
def test_resume_without_a_complete_header_starts_afresh(tmp_path, torn):
    path = tmp_path / "r.jsonl"
    path.write_bytes(torn)  # a run killed before its header was written
    with ResultsWriter(str(path), _header(), resume=True) as w:
        assert w.done == {}
    assert read_results(str(path)).header["model_sha256"] == "aa"


def test_torn_lines_between_records_are_dropped_and_the_file_repaired(tmp_path):
    # Two runs on one file before the lock existed: a torn line followed by complete ones.
    path = tmp_path / "r.jsonl"
    good = [json.dumps({"index": i, "prediction": i}) for i in range(4)]
    path.write_text("\n".join([json.dumps(_header().to_dict()), good[0], '{"index": 1, "pre' + good[1],
                               good[2], "{torn", good[3]]) + "\n")
    with ResultsWriter(str(path), _header(), resume=True) as w:
        assert sorted(w.done) == [0, 2, 3] and w.dropped == [3, 5]
        w.append({"index": 1, "prediction": 1})
    lines = path.read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines[1:]] == [0, 2, 3, 1]
    assert read_results(str(path)).dropped == []


def test_a_second_writer_on_the_same_file_is_refused_naming_the_first(tmp_path):
    path = str(tmp_path / "r.jsonl")
    with ResultsWriter(path, _header(), resume=False) as w:
        w.append({"index": 0, "prediction": 1})
        before = open(path, "rb").read()
        with pytest.raises(OutputError, match=rf"in use by another eventsim run \(pid {os.getpid()}"):
            ResultsWriter(path, _header(), resume=True)
        with pytest.raises(OutputError, match="in use"):
            ResultsWriter(path, _header(), resume=False)
        assert open(path, "rb").read() == before
    with ResultsWriter(path, _header(), resume=True) as w:  # free again once the first closed
        assert sorted(w.done) == [0]


def test_records_with_non_finite_values_are_refused_naming_the_field(tmp_path):
    path = str(tmp_path / "r.jsonl")
    with ResultsWriter(path, _header(), resume=False) as w:
        with pytest.raises(OutputError, match=r"index 3.*output\[1\] is inf"):
            w.append({"index": 3, "output": [0.5, float("inf")]})
    assert len(open(path).read().splitlines()) == 1  # nothing of the refused record was written
