"""The results file of an evaluation: JSON lines, one per sample, flushed as they arrive.

Line 1 is a header ``{"schema": "eventsim.eval-results/1", "model_sha256", "dataset_sha256",
"options", ...}``; every later line is one sample record (:func:`~.sample.evaluate_sample`), in
completion order. An interrupted run leaves a valid prefix (at worst a torn last line, which
resume drops), so ``--resume`` can skip the samples already done. Resuming is refused when the
model file, the sample list or any option that changes results differs from the header's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..errors import ConfigError, InputFormatError

SCHEMA = "eventsim.eval-results/1"


@dataclass
class ResultsHeader:
    """What a results file was computed from; must match exactly for --resume."""

    model: str  # model path as given (informative)
    model_sha256: str  # SHA-256 of the model file's bytes
    dataset: str  # dataset folder or manifest as given (informative)
    dataset_sha256: str  # Dataset.digest(): sample names and labels, after limit/classes
    samples: int  # number of samples
    options: dict = field(default_factory=dict)  # input options, precision, energy table

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "model": self.model, "model_sha256": self.model_sha256,
                "dataset": self.dataset, "dataset_sha256": self.dataset_sha256,
                "samples": self.samples, "options": self.options}

    def mismatch(self, other: dict) -> str | None:
        """Why a header read from a file does not describe the same evaluation (None: it does)."""
        if other.get("model_sha256") != self.model_sha256:
            return "the model file differs (SHA-256)"
        if other.get("dataset_sha256") != self.dataset_sha256:
            return "the samples differ (dataset, --limit or --classes)"
        theirs = other.get("options") or {}
        diff = sorted(k for k in set(theirs) | set(self.options) if theirs.get(k) != self.options.get(k))
        if diff:
            shown = ", ".join(f"{k}: {theirs.get(k)!r} there, {self.options.get(k)!r} now" for k in diff)
            return f"the options differ ({shown})"
        return None


def read_results(path: str) -> tuple[dict, dict[int, dict], int]:
    """The header, the records by sample index (first one wins) and the byte length of the
    complete lines (a torn last line, left by a killed run, is not counted)."""
    with open(path, "rb") as f:
        data = f.read()
    good = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
    lines = data[:good].split(b"\n")[:-1]
    if not lines:
        raise InputFormatError(f"{path}: empty results file (no header line)")
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        raise InputFormatError(f"{path}: not an eventsim eval results file (line 1 is not a "
                               f"{SCHEMA} header)")
    records: dict[int, dict] = {}
    for n, line in enumerate(lines[1:], 2):
        try:
            rec = json.loads(line)
            idx = int(rec["index"])
        except (ValueError, KeyError, TypeError):
            raise InputFormatError(f"{path}: line {n} is not a sample record") from None
        records.setdefault(idx, rec)
    return header, records, good


def _has_header_line(path: str) -> bool:
    if not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        return b"\n" in f.read(1 << 20)


class ResultsWriter:
    """Appends records to a results file, one flushed JSON line each."""

    def __init__(self, path: str, header: ResultsHeader, resume: bool):
        self.path = path
        self.done: dict[int, dict] = {}
        if resume and _has_header_line(path):  # else a run killed before its header was written
            theirs, self.done, good = read_results(path)
            why = header.mismatch(theirs)
            if why:
                raise ConfigError(f"{path}: cannot resume: {why}; use another --results file")
            self._f = open(path, "r+b")
            self._f.truncate(good)  # drop a torn last line before appending
            self._f.seek(good)
        elif os.path.exists(path) and not resume:
            raise ConfigError(f"{path} exists; give --resume to continue that evaluation, or "
                              "remove it")
        else:
            self._f = open(path, "wb")
            self._write(header.to_dict())

    def _write(self, doc: dict) -> None:
        self._f.write((json.dumps(doc, separators=(",", ":")) + "\n").encode())
        self._f.flush()

    def append(self, rec: dict) -> None:
        self._write(rec)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
