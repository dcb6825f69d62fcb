"""Dataset discovery: class folders and manifests, ordering, --limit / --classes, bad input."""

from __future__ import annotations

import json

import pytest

from eventsim.errors import InputFormatError
from eventsim.eval.dataset import discover


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_folder_layout_labels_are_sorted_folder_indices(tmp_path):
    for rel in ["b/2.bin", "b/1.bin", "a/z.bin", "c/sub/q.bin", "c/.hidden", ".cache/x.bin"]:
        _touch(tmp_path / rel)
    ds = discover(tmp_path)
    assert ds.classes == ["a", "b", "c"]  # hidden folder skipped
    assert [(s.name, s.label) for s in ds.samples] == [
        ("a/z.bin", 0), ("b/1.bin", 1), ("b/2.bin", 1), ("c/sub/q.bin", 2)]
    assert [s.index for s in ds.samples] == [0, 1, 2, 3]
    assert all(s.path.startswith(str(tmp_path)) for s in ds.samples)
    assert ds.skipped == ("c/.hidden",) and ds.label_rule == "class folders in sorted name order"


def test_integer_class_folders_are_their_own_labels(tmp_path):
    # folders 0, 4 and 10: sorted by position they would be classes 0, 2, 1 ("10" < "4")
    for rel in ["4/a.bin", "0/a.bin", "10/b.bin", "10/a.bin"]:
        _touch(tmp_path / rel)
    ds = discover(tmp_path)
    assert [(s.name, s.label) for s in ds.samples] == [
        ("0/a.bin", 0), ("4/a.bin", 4), ("10/a.bin", 10), ("10/b.bin", 10)]
    assert len(ds.classes) == 11 and (ds.classes[0], ds.classes[4], ds.classes[10]) == ("0", "4", "10")
    assert ds.label_rule == "the class folder names (all integers)"
    assert [s.label for s in discover(tmp_path, classes=["4"]).samples] == [4]
    # one non-integer folder: back to sorted positions for all
    _touch(tmp_path / "x" / "a.bin")
    assert sorted({s.label for s in discover(tmp_path).samples}) == [0, 1, 2, 3]
    (tmp_path / "x" / "a.bin").unlink()
    (tmp_path / "x").rmdir()
    _touch(tmp_path / "04" / "a.bin")
    with pytest.raises(InputFormatError, match="'04' and '4' are both label 4"):
        discover(tmp_path)


def test_files_that_are_not_samples_are_skipped_by_extension_and_content(tmp_path):
    from eventsim.events.io import write_events
    from tests.eval.evaldata import SENSOR, sample_events

    for rel in ["0/notes.txt", "0/.DS_Store", "0/a.npz", "1/README", "1/b.bin"]:
        _touch(tmp_path / rel)
    # an event recording under an unusual extension is recognised by its content
    write_events(tmp_path / "1" / "rec.aedat4", sample_events(1, 0), SENSOR)
    (tmp_path / "1" / "rec.aedat4").rename(tmp_path / "1" / "rec.data")
    ds = discover(tmp_path)
    assert [s.name for s in ds.samples] == ["0/a.npz", "1/b.bin", "1/rec.data"]
    assert sorted(ds.skipped) == ["0/.DS_Store", "0/notes.txt", "1/README"]


def test_limit_is_per_class_and_classes_keep_their_index(tmp_path):
    for c in "abc":
        for k in range(3):
            _touch(tmp_path / c / f"{k}.bin")
    ds = discover(tmp_path, limit=2)
    assert [(s.name, s.label) for s in ds.samples] == [
        ("a/0.bin", 0), ("a/1.bin", 0), ("b/0.bin", 1), ("b/1.bin", 1), ("c/0.bin", 2), ("c/1.bin", 2)]
    ds = discover(tmp_path, limit=1, classes=["c", "b"])
    assert [(s.index, s.name, s.label) for s in ds.samples] == [(0, "b/0.bin", 1), (1, "c/0.bin", 2)]
    assert ds.classes == ["a", "b", "c"]
    assert discover(tmp_path).digest() != ds.digest()
    with pytest.raises(InputFormatError, match="unknown class.*'d'"):
        discover(tmp_path, classes=["d"])


def test_csv_manifest_relative_to_its_folder_with_named_labels(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "list.csv").write_text("path,label\nrec/one.aedat4,dog\n/abs/two.raw,cat\n\n")
    ds = discover(tmp_path / "m" / "list.csv")
    assert ds.classes == ["cat", "dog"]
    assert [(s.path, s.label) for s in ds.samples] == [("/abs/two.raw", 0),
                                                        (str(tmp_path / "m" / "rec" / "one.aedat4"), 1)]


def test_csv_header_columns_are_taken_by_name(tmp_path):
    # the layout of eventsim/data/demo_labels.csv: file,label among other columns
    (tmp_path / "labels.csv").write_text("file,label,events\na.aedat4,3,10\nb.aedat4,1,20\n")
    ds = discover(tmp_path / "labels.csv")
    assert [(s.name, s.label) for s in ds.samples] == [("b.aedat4", 1), ("a.aedat4", 3)]
    (tmp_path / "swapped.csv").write_text("label,path\n2,c.npy\n")
    assert [(s.name, s.label) for s in discover(tmp_path / "swapped.csv").samples] == [("c.npy", 2)]


def test_json_manifest_integer_labels(tmp_path):
    (tmp_path / "l.json").write_text(json.dumps([{"path": "x.npy", "label": 2}, ["y.npy", 0]]))
    ds = discover(tmp_path / "l.json")
    assert ds.classes == ["0", "1", "2"]
    assert [(s.name, s.label) for s in ds.samples] == [("y.npy", 0), ("x.npy", 2)]


@pytest.mark.parametrize("name, text, match", [
    ("a.csv", "path,label\nonly-a-path\n", "row 1: expected path,label"),
    ("a.csv", "path,label\n", "lists no samples"),
    ("a.json", "{not json", "not valid JSON"),
    ("a.json", "{}", "non-empty JSON list"),
    ("a.json", '[{"path": 3, "label": 1}]', "item 0"),
    ("a.txt", "x,1\n", "folder of class folders"),
])
def test_bad_manifests(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(InputFormatError, match=match):
        discover(tmp_path / name)


def test_missing_and_empty(tmp_path):
    with pytest.raises(InputFormatError, match="no such dataset"):
        discover(tmp_path / "nope")
    with pytest.raises(InputFormatError, match="one sub-folder per class"):
        discover(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(InputFormatError, match="no samples"):
        discover(tmp_path)
