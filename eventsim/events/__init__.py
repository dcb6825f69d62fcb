"""Event I/O: readers and writers per format, detection, streaming and binning."""

from .dtype import EVENT_DTYPE

__all__ = ["EVENT_DTYPE"]
