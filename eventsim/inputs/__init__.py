"""Inputs, prepared for the engine: one adapter from files, arrays and streams to time steps.

Below the engine and above the event readers: ``spec`` (the options and the prepared form),
``events`` (recordings: sensor rule, fit check, binning), ``arrays`` (frames and spike counts),
``adapter`` (what a file or an object is, and the one entry point).
"""

from .adapter import prepare, prepare_file, sniff
from .spec import InputSpec, PreparedInput

__all__ = ["InputSpec", "PreparedInput", "prepare", "prepare_file", "sniff"]
