"""The results file of an evaluation: JSON lines, one per sample, flushed as they arrive.

Line 1 is a header ``{"schema": "eventsim.eval-results/1", "model_sha256", "dataset_sha256",
"options", ...}``; every later line is one sample record (:func:`~.sample.evaluate_sample`), in
completion order. Each line is appended with one ``write`` while the file is locked, so two runs
never interleave; an interrupted run leaves a valid prefix (at worst a torn last line, which
resume drops with a warning), so ``--resume`` can skip the samples already done. Resuming is
refused when the model file, the sample list or any option that changes results differs from the
header's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..errors import ConfigError, InputFormatError
from ..files import append_record, json_text, open_locked_append

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


def read_results(path: str) -> ResultsFile:
    """Parse a results file: its header and records, and the torn lines a resume must drop."""
    with open(path, "rb") as f:
        return parse_results(f.read(), path)


@dataclass
class ResultsFile:
    """A parsed results file."""

    header: dict  # line 1
    records: dict[int, dict]  # sample index -> record (the first one wins)
    dropped: list[int]  # line numbers that are not JSON: torn by a killed (or, before the lock, a
    #                     concurrent) run; their samples run again
    keep_bytes: int  # length of the prefix of the file before the first dropped line
    tail: bytes  # the complete lines after that prefix that are kept


def parse_results(data: bytes, path: str) -> ResultsFile:
    lines = data.split(b"\n")  # the last item is what follows the last newline: b"" or a torn line
    if len(lines) < 2:
        raise InputFormatError(f"{path}: empty results file (no header line)")
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        raise InputFormatError(f"{path}: not an eventsim eval results file (line 1 is not a "
                               f"{SCHEMA} header)")
    records: dict[int, dict] = {}
    dropped: list[int] = []
    keep_bytes, tail, offset = None, [], len(lines[0]) + 1
    for n, line in enumerate(lines[1:], 2):
        complete = n < len(lines)  # the last item has no newline after it
        rec = _record(line, path, n) if complete else None
        if rec is None and line:
            dropped.append(n)
            keep_bytes = offset if keep_bytes is None else keep_bytes
        elif rec is not None:
            records.setdefault(int(rec["index"]), rec)
            if keep_bytes is not None:
                tail.append(line + b"\n")
        offset += len(line) + 1
    if keep_bytes is None:
        keep_bytes = len(data) - len(lines[-1])
    return ResultsFile(header, records, dropped, keep_bytes, b"".join(tail))


def _record(line: bytes, path: str, n: int) -> dict | None:
    """The record on line ``n``; None for a torn line (not JSON); InputFormatError for JSON that
    is not a sample record (a foreign file, which eventsim must not rewrite)."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    try:
        int(rec["index"])
    except (KeyError, TypeError, ValueError):
        raise InputFormatError(f"{path}: line {n} is not a sample record") from None
    return rec


def _exists(path: str) -> ConfigError:
    return ConfigError(f"{path} exists; give --resume to continue that evaluation, or remove it")


def _cannot_resume(path: str, why: str) -> ConfigError:
    return ConfigError(f"{path}: cannot resume: {why}; use another --results file")


def check_results_file(path: str, header: ResultsHeader, resume: bool) -> None:
    """The refusals of :class:`ResultsWriter` (an existing file without ``resume``, a resume of
    another evaluation), without opening ``path`` for writing: a sweep of T checks the file of
    every T before the first one runs."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    if data and not resume:
        raise _exists(path)
    if resume and b"\n" in data:
        why = header.mismatch(parse_results(data, path).header)
        if why:
            raise _cannot_resume(path, why)


def _has_header_line(fd: int) -> bool:
    return b"\n" in os.pread(fd, 1 << 20, 0)


class ResultsWriter:
    """Appends records to a results file, one whole JSON line per ``write``.

    The file is locked while the writer is open (a second run on it is refused, naming the
    first); on resume, torn lines are dropped (listed in ``dropped``, for a warning) and the
    file is rewritten from the first of them on.
    """

    def __init__(self, path: str, header: ResultsHeader, resume: bool):
        self.path = path
        self.done: dict[int, dict] = {}
        self.dropped: list[int] = []
        self._fd = open_locked_append(path)
        try:
            self._open(header, resume)
        except BaseException:
            os.close(self._fd)
            raise

    def _open(self, header: ResultsHeader, resume: bool) -> None:
        size = os.fstat(self._fd).st_size
        if resume and _has_header_line(self._fd):  # else a run killed before its header was written
            with open(self.path, "rb") as f:
                theirs = parse_results(f.read(), self.path)
            why = header.mismatch(theirs.header)
            if why:
                raise _cannot_resume(self.path, why)
            self.done, self.dropped = theirs.records, theirs.dropped
            if theirs.keep_bytes + len(theirs.tail) != size:  # torn lines: drop them in place
                os.ftruncate(self._fd, theirs.keep_bytes)
                append_record(self._fd, theirs.tail)
        elif size and not resume:
            raise _exists(self.path)
        else:
            os.ftruncate(self._fd, 0)
            self._write(header.to_dict())

    def _write(self, doc: dict) -> None:
        line = json_text(doc, what=f"{self.path} (index {doc.get('index', 'header')})",
                         separators=(",", ":"))
        append_record(self._fd, (line + "\n").encode())

    def append(self, rec: dict) -> None:
        self._write(rec)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
