"""One module per event file format, all with the same small interface.

Every format module in this package defines:

- ``NAME: str`` — the stable format name shown to users (``"aedat2"``, ``"evt2"``, ...);
- ``sniff(head: bytes, path: str) -> bool`` — True when the first bytes (up to 64 KiB) of the
  file are this format; detection is by content, ``path`` (its extension) only breaks ties for
  formats without a magic number (N-MNIST ``.bin``);
- ``read_info(path: str) -> FileInfo`` — sensor size and metadata from the header, cheaply;
- ``iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]`` — the events as EVENT_DTYPE
  arrays of at most ``chunk`` events each, in file order, in bounded memory;
- ``read_all(path: str) -> np.ndarray`` — every event in one EVENT_DTYPE array, decoded into an
  array sized from the file (``_output.EventBuffer``), never a list of chunks concatenated;
- optionally ``write(path: str, events: np.ndarray, sensor: tuple[int, int], **meta)`` and
  ``EXTENSIONS: tuple[str, ...]`` (the extensions that select this writer).

``FORMAT_MODULES`` lists them in detection order (formats with strong magic first); the
functions in ``eventsim.events.io`` are the only users of this registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FORMAT_MODULES = (
    "native_h5",  # eventsim .h5 (HDF5 with /events)
    "native_npz",  # eventsim .npz
    "aedat4",  # DV AEDAT 4.0
    "aedat3",  # AEDAT 3.1
    "aedat2",  # jAER AEDAT 2.0
    "prophesee_raw",  # Prophesee EVT 2.0 / EVT 3.0 .raw
    "prophesee_dat",  # Prophesee .dat
    "nmnist_bin",  # N-MNIST / N-Caltech101 .bin (no magic: last)
)


@dataclass
class FileInfo:
    """What a reader learns from a file's header."""

    format: str  # NAME of the format module
    sensor: tuple[int, int] | None  # (width, height) if the file says (or implies) it
    metadata: dict = field(default_factory=dict)  # camera, header text, version, ...
