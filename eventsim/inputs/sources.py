"""Event sources that are read as a stream: a file in chunks, standard input, a growing file.

What ``eventsim run --input -``, ``--follow``, ``--window-us`` and ``--continuous`` read from;
the windows and step blocks cut from a source are prepared by :mod:`eventsim.inputs.events`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..events.dtype import EVENT_DTYPE
from ..events.io import detect_format, read_info, require_regular_file, stream_events
from ..events.streams import open_stream
from ..network.ir import Network
from .events import prepare_events
from .spec import InputOptions, PreparedInput


@dataclass
class Source:
    """Where the events come from."""

    name: str  # path, or "<stdin>"
    format: str  # format NAME
    sensor: tuple[int, int] | None  # stated by the header (None: the sensor rule decides)
    chunks: Iterator[np.ndarray]  # EVENT_DTYPE arrays in file order
    close: Callable[[], None] | None = None  # closes what was opened


def open_source(path: str, fmt: str | None = None, follow: bool = False) -> Source:
    """``path`` read in chunks; ``-`` is standard input; ``follow``: a file still being written."""
    if path == "-":
        stream = open_stream(sys.stdin.buffer, "<stdin>", fmt)
        return Source(stream.name, stream.format, stream.sensor, stream.chunks)
    if follow:
        require_regular_file(path)
        f = open(path, "rb")  # noqa: SIM115 - closed by Source.close when the run ends
        try:
            stream = open_stream(f, path, fmt, follow=True)
        except BaseException:
            f.close()
            raise
        return Source(path, stream.format, stream.sensor, stream.chunks, f.close)
    fmt = fmt or detect_format(path)
    return Source(path, fmt, read_info(path, fmt).sensor, stream_events(path, fmt=fmt))


def read_whole(source: Source) -> np.ndarray:
    """Every event of ``source`` in one array (a plain run of standard input)."""
    parts = list(source.chunks)
    return np.concatenate(parts) if parts else np.empty(0, dtype=EVENT_DTYPE)


def prepare_whole(source: Source, net: Network, spec: InputOptions) -> PreparedInput:
    """Every event of ``source`` prepared for ``net`` as a file of them is (a plain run of
    standard input)."""
    return prepare_events(read_whole(source), net, spec, stated=source.sensor,
                          info={"path": source.name, "format": source.format})
