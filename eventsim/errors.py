"""The one error family of eventsim.

Every expected failure (bad file, bad shape, unsupported layer, failed check) raises a
subclass of :class:`EventsimError` with a message a user can act on: which file, where in it,
what was expected. The CLI turns these into a one-line ``error: ...`` and exit code 2.
"""

from __future__ import annotations


class EventsimError(Exception):
    """Base class of every error eventsim raises on purpose."""


class InputFormatError(EventsimError):
    """An event or input file is unreadable, truncated, corrupt or of an unknown format."""


class NoStepsError(InputFormatError):
    """The binning of an input gives no time step (e.g. ``--bin-us`` longer than its events span)."""


class ModelFormatError(EventsimError):
    """A model file (model.h5, NIR) or an IR object is malformed or of an unknown version."""


class ConversionError(EventsimError):
    """A checkpoint cannot be converted (unsafe content, unknown architecture, bad keys)."""


class ValidationError(EventsimError):
    """A validation check could not be carried out (not: a check that failed)."""


class ConfigError(EventsimError):
    """A user-supplied option or configuration file (e.g. an energy table) is invalid."""


class OutputError(EventsimError):
    """An output cannot be written: a folder, a missing folder, one of the command's inputs, a
    value JSON cannot hold, a file another eventsim process holds."""


def brief(value, limit: int = 40) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for echoing a value read from a file.

    A hostile file can hold a 300-digit number or a megabyte string; an error message repeats
    only its start. A value whose repr cannot be made (too deep) is named by its type.
    """
    try:
        text = repr(value)
    except (RecursionError, MemoryError, ValueError):  # ValueError: int too large to print
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
