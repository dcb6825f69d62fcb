"""Reading ``.npy`` array headers (plain files and ``.npz`` members) without trusting them.

NumPy parses the header's Python-literal dict with ``tokenize`` and ``ast``; a corrupt header
raises any of ValueError, SyntaxError, ``tokenize.TokenError`` (an unclosed bracket),
RecursionError or UnicodeDecodeError. :func:`read_header` turns all of them into one
InputFormatError naming the file and the array, and refuses object arrays (they would need
pickle). Callers check the declared size against the bytes really present before allocating.
"""

from __future__ import annotations

import tokenize
import zipfile
import zlib

import numpy as np

from ...errors import InputFormatError

_HEADER_ERRORS = (ValueError, SyntaxError, tokenize.TokenError, RecursionError, UnicodeDecodeError,
                  EOFError, OSError, zipfile.BadZipFile, zlib.error)


def read_header(f, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the ``.npy`` header at ``f``'s position.

    ``where`` names the array in messages (``"x.npz: array 't'"`` or ``"x.npy"``).
    """
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise InputFormatError(f"{where}: .npy format version {version[0]}.{version[1]} is not "
                                   "supported (1.0 and 2.0 are)")
    except InputFormatError:
        raise
    except _HEADER_ERRORS as exc:
        raise InputFormatError(f"{where}: corrupt .npy header ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise InputFormatError(f"{where}: holds Python objects (would need pickle); refused")
    if any(int(n) < 0 for n in shape):
        raise InputFormatError(f"{where}: .npy header declares a negative shape {tuple(shape)}")
    return tuple(int(n) for n in shape), bool(fortran), dtype


def nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` needs (exact Python int, no overflow)."""
    n = dtype.itemsize
    for d in shape:
        n *= d
    return n
