"""The resumable results file: header checks, torn last line, refusal to overwrite."""

from __future__ import annotations

import json

import pytest

from eventsim.errors import ConfigError, InputFormatError
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
    header, recs, good = read_results(path)
    assert header["model_sha256"] == "aa" and sorted(recs) == [0, 1]
    with ResultsWriter(path, _header(), resume=True) as w:
        assert sorted(w.done) == [0, 1]
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
    path.write_text(json.dumps(_header().to_dict()) + "\nnot json\n")
    with pytest.raises(InputFormatError, match="line 2"):
        read_results(str(path))


@pytest.mark.parametrize("torn", [b"", b'{"schema": "eventsim.ev'])
def test_resume_without_a_complete_header_starts_afresh(tmp_path, torn):
    path = tmp_path / "r.jsonl"
    path.write_bytes(torn)  # a run killed before its header was written
    with ResultsWriter(str(path), _header(), resume=True) as w:
        assert w.done == {}
    assert read_results(str(path))[0]["model_sha256"] == "aa"
