"""Event I/O: readers and writers per format, detection, streaming and binning."""

from .dtype import EVENT_DTYPE
from .io import detect_format, read_events, read_info, stream_events, write_events

__all__ = ["EVENT_DTYPE", "detect_format", "read_events", "read_info", "stream_events", "write_events"]
