"""Finding the samples of a labelled dataset: a folder of class folders, or a manifest file.

Two layouts are understood:

- a **folder** with one sub-folder per class (N-MNIST, N-Caltech101). When every class folder
  is named by a non-negative integer, that integer is the label (folders ``0`` and ``4`` are
  classes 0 and 4, so a model's output index matches whatever folders are present); otherwise
  class ``k`` is the ``k``-th sub-folder in sorted name order (N-Caltech101's names, as tonic
  does). A file inside (recursively) is a sample when its extension is one of
  :data:`SAMPLE_EXTENSIONS` or, for any other extension, its content is a known event or frame
  format; anything else (``notes.txt``, ``.DS_Store``) is skipped and listed in ``skipped``;
- a **manifest**, ``.csv`` (columns ``path,label``; or a header row naming the columns
  ``path`` (or ``file``) and ``label``, in any position, among others) or
  ``.json`` (a list of ``{"path": ..., "label": ...}`` objects or ``[path, label]`` pairs).
  Relative paths are resolved against the manifest's folder. Integer labels are class indices
  (names are their decimal text); otherwise labels are names and class ``k`` is the ``k``-th
  name in sorted order.

Samples are ordered by class, then by path; their position in that order (after ``limit`` and
``classes`` are applied) is the sample index used in results files and outputs. Whether a file
is readable is not checked here: an unreadable sample is reported when it is evaluated.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass

from ..errors import EventsimError, InputFormatError, brief
from ..events.frames import frame_kind
from ..events.io import detect_format
from ..network.limits import MAX_CLASSES, MAX_DEPTH, check_depth
from ..network.sources import require_regular_file

#: extensions of the event and frame files eventsim reads; a file with another extension in a
#: class folder is a sample only when its content is recognised (see _is_sample)
SAMPLE_EXTENSIONS = frozenset({".aedat", ".aedat3", ".aedat4", ".dat", ".raw", ".bin", ".npz", ".h5",
                               ".hdf5", ".npy", ".png"})


@dataclass(frozen=True)
class Sample:
    """One labelled input file."""

    index: int  # position in the dataset's order (after limit/classes)
    path: str  # absolute path of the file
    label: int  # class index
    name: str  # path relative to the dataset root (what reports show)


@dataclass(frozen=True)
class Dataset:
    """The samples to evaluate and the class names, in index order."""

    root: str  # the folder or manifest given
    classes: list[str]  # class names; class k is classes[k]
    samples: list[Sample]  # in index order
    skipped: tuple[str, ...] = ()  # files in class folders that are not samples (relative names)
    label_rule: str = ""  # how labels were assigned, for the reports

    def digest(self) -> str:
        """SHA-256 of the sample list (names and labels): identifies the set for --resume."""
        h = hashlib.sha256()
        for s in self.samples:
            h.update(f"{s.name}\t{s.label}\n".encode())
        return h.hexdigest()


def discover(path: str | os.PathLike, limit: int | None = None,
             classes: list[str] | None = None, n_outputs: int | None = None) -> Dataset:
    """The :class:`Dataset` at ``path`` (class folder or .csv/.json manifest).

    ``classes`` keeps only the named classes (labels keep their index among all classes, so
    they still match the model's outputs); ``limit`` keeps the first ``limit`` samples of every
    class (in path order), which keeps a quick run balanced over the classes.
    """
    path = os.fspath(path)
    skipped: list[str] = []
    if os.path.isdir(path):
        names, entries, rule = _from_folder(path, skipped)
    elif os.path.exists(path):
        require_regular_file(path, "a dataset manifest", InputFormatError)
        names, entries = _from_manifest(path)
        integers = all(n == str(k) for k, n in enumerate(names))
        rule = "the manifest's labels (integers)" if integers else "manifest labels in sorted name order"
    else:
        raise InputFormatError(f"{path}: no such dataset folder or manifest file")
    if n_outputs is not None and entries:
        top = max(e[2] for e in entries)
        if top >= n_outputs:
            where = next(e[1] for e in entries if e[2] == top)
            raise InputFormatError(f"{path}: label {top:,} (of {brief(where)}) is not one of the model's "
                                   f"{n_outputs:,} outputs (labels 0..{n_outputs - 1})")
    if classes is not None:
        unknown = [c for c in classes if c not in names]
        if unknown:
            raise InputFormatError(f"{path}: unknown class(es) {', '.join(map(repr, unknown))} "
                                   f"(classes: {_short_list(names)})")
        keep = {names.index(c) for c in classes}
        entries = [e for e in entries if e[2] in keep]
    entries.sort(key=lambda e: (e[2], e[1]))
    if limit is not None:
        seen: dict[int, int] = {}
        kept = []
        for e in entries:
            seen[e[2]] = seen.get(e[2], 0) + 1
            if seen[e[2]] <= limit:
                kept.append(e)
        entries = kept
    if not entries:
        raise InputFormatError(f"{path}: the dataset has no samples"
                               + (" in the selected classes" if classes else ""))
    samples = [Sample(i, full, label, name) for i, (full, name, label) in enumerate(entries)]
    return Dataset(root=path, classes=names, samples=samples, skipped=tuple(skipped), label_rule=rule)


def _short_list(names: list[str], n: int = 12) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _from_folder(root: str, skipped: list[str]) -> tuple[list[str], list[tuple[str, str, int]], str]:
    folders = sorted(d.name for d in os.scandir(root) if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise InputFormatError(f"{root}: expected one sub-folder per class, found none")
    labels, names, rule = _folder_labels(root, folders)
    entries = []
    for label, folder in zip(labels, folders):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, root)
                if _is_sample(full):
                    entries.append((os.path.abspath(full), rel, label))
                else:
                    skipped.append(rel)
    return names, entries, rule


def _folder_labels(root: str, folders: list[str]) -> tuple[list[int], list[str], str]:
    """Labels of the class folders (in ``folders`` order), class names by label, and the rule."""
    if all(f.isascii() and f.isdigit() for f in folders):
        labels = [int(f) for f in folders]
        by_label: dict[int, str] = {}
        for label, folder in zip(labels, folders):
            if label in by_label:
                raise InputFormatError(f"{root}: class folders {by_label[label]!r} and {folder!r} "
                                       f"are both label {label}")
            by_label[label] = folder
        names = [by_label.get(k, str(k)) for k in range(max(labels) + 1)]
        return labels, names, "the class folder names (all integers)"
    return list(range(len(folders))), folders, "class folders in sorted name order"


def _is_sample(path: str) -> bool:
    """A known extension, or content eventsim recognises; hidden files never are."""
    name = os.path.basename(path)
    if name.startswith("."):
        return False
    if os.path.splitext(name)[1].lower() in SAMPLE_EXTENSIONS:
        return True
    try:
        return frame_kind(path) is not None or bool(detect_format(path))
    except (EventsimError, OSError):
        return False


def _from_manifest(path: str) -> tuple[list[str], list[tuple[str, str, int]]]:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        rows = _csv_rows(path)
    elif ext == ".json":
        rows = _json_rows(path)
    else:
        raise InputFormatError(f"{path}: a dataset is a folder of class folders or a .csv/.json "
                               "manifest of path,label")
    base = os.path.dirname(os.path.abspath(path))
    raw = [label for _, label in rows]
    if all(_is_int(v) for v in raw):
        too_long = next((v for v in raw if len(str(v).strip()) > 18), None)
        if too_long is not None:  # beyond any class count, and int() of 5,000 digits fails
            raise InputFormatError(f"{path}: class label {brief(too_long)} is beyond eventsim's limit "
                                   f"of {MAX_CLASSES:,} classes")
        idx = [int(v) for v in raw]
        if min(idx) < 0:
            raise InputFormatError(f"{path}: class labels must be >= 0, got {brief(min(idx))}")
        if max(idx) >= MAX_CLASSES:
            raise InputFormatError(f"{path}: class label {brief(max(idx))} is beyond eventsim's limit "
                                   f"of {MAX_CLASSES:,} classes")
        names = [str(k) for k in range(max(idx) + 1)]
    else:
        names = sorted({str(v) for v in raw})
        idx = [names.index(str(v)) for v in raw]
    entries = []
    for (rel, _), label in zip(rows, idx):
        full = rel if os.path.isabs(rel) else os.path.join(base, rel)
        entries.append((os.path.abspath(full), rel, label))
    return names, entries


def _is_int(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


def _csv_rows(path: str) -> list[tuple[str, str | int]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a spreadsheet's BOM is not a column name
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputFormatError(f"{path}: not a readable CSV manifest ({brief(str(exc), 80)})") from None
    pcol, lcol = 0, 1
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if "label" in header and ("path" in header or "file" in header):
        # a header row: take the columns by name (e.g. eventsim/data/demo_labels.csv: file,label,...)
        pcol = header.index("path") if "path" in header else header.index("file")
        lcol = header.index("label")
        rows = rows[1:]
    out: list[tuple[str, str | int]] = []
    for n, r in enumerate(rows, 1):
        if len(r) <= max(pcol, lcol) or not r[pcol].strip() or not r[lcol].strip():
            raise InputFormatError(f"{path}: row {n}: expected path,label, got {brief(','.join(r))}")
        out.append((r[pcol].strip(), r[lcol].strip()))
    if not out:
        raise InputFormatError(f"{path}: the manifest lists no samples")
    return out


def _json_rows(path: str) -> list[tuple[str, str | int]]:
    with open(path, encoding="utf-8-sig") as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as exc:
            raise InputFormatError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        except RecursionError:
            raise InputFormatError(f"{path}: nested more than {MAX_DEPTH} levels deep") from None
        except (UnicodeDecodeError, ValueError) as exc:  # e.g. an integer of 5,000 digits
            raise InputFormatError(f"{path}: not valid JSON ({brief(str(exc), 80)})") from None
    try:
        check_depth(doc, "the manifest")
    except ValueError as exc:
        raise InputFormatError(f"{path}: {exc}") from None
    if not isinstance(doc, list) or not doc:
        raise InputFormatError(f"{path}: expected a non-empty JSON list of {{path, label}} objects")
    out = []
    for n, item in enumerate(doc):
        if isinstance(item, dict) and "path" in item and "label" in item:
            p, lab = item["path"], item["label"]
        elif isinstance(item, list) and len(item) == 2:
            p, lab = item
        else:
            raise InputFormatError(f"{path}: item {n}: expected {{\"path\": ..., \"label\": ...}} "
                                   "or [path, label]")
        if not isinstance(p, str) or not isinstance(lab, (str, int)) or isinstance(lab, bool):
            raise InputFormatError(f"{path}: item {n}: path must be text and label text or an integer")
        out.append((p, lab))
    return out
