"""Static (analog) inputs for frame-input networks: ``.npy`` arrays and ``.png`` images.

Detected by content: ``.npy`` by its magic ``\\x93NUMPY``, PNG by its 8-byte signature.

- ``.npy``: a float (or integer) array ``(C,H,W)`` (repeated over the time steps, as the Ternary
  Spike paper feeds static images) or ``(T,C,H,W)``; loaded with ``allow_pickle=False``.
- ``.png``: 8-bit grayscale, grayscale+alpha, RGB or RGBA, not interlaced, decoded here with
  ``zlib`` (no imaging dependency); alpha is dropped, values scaled to ``[0, 1]``; returned as
  ``(C,H,W)`` float64 with C = 1 (gray) or 3 (RGB).
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..errors import InputFormatError

NPY_MAGIC = b"\x93NUMPY"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> (channels in the file, channels kept)
_PNG_COLOURS = {0: (1, 1), 4: (2, 1), 2: (3, 3), 6: (4, 3)}


def frame_kind(path: str | os.PathLike) -> str | None:
    """``"npy"``, ``"png"`` or None (not a static frame file), by content."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head == PNG_MAGIC:
        return "png"
    return None


def read_frames(path: str | os.PathLike) -> np.ndarray:
    """The static input in ``path`` as a float64 array ``(C,H,W)`` or ``(T,C,H,W)``."""
    path = os.fspath(path)
    kind = frame_kind(path)
    if kind == "npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputFormatError(f"{path}: unreadable .npy file ({exc})") from None
        if arr.dtype.kind not in "fiub" or arr.ndim not in (3, 4):
            raise InputFormatError(f"{path}: expected a numeric (C,H,W) or (T,C,H,W) array, got "
                                   f"dtype {arr.dtype} shape {arr.shape}")
        return arr.astype(np.float64)
    if kind == "png":
        return read_png(path)
    raise InputFormatError(f"{path}: not a .npy array or a PNG image")


def _unfilter(raw: bytes, height: int, stride: int, bpp: int, path: str) -> np.ndarray:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    if len(raw) != height * (stride + 1):
        raise InputFormatError(f"{path}: PNG image data has {len(raw)} bytes, expected "
                               f"{height * (stride + 1)}")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    out = np.zeros((height + 1, stride + bpp), np.int64)  # row 0 and the first bpp columns: zeros
    for r in range(height):
        ftype, line = rows[r, 0], rows[r, 1:].astype(np.int64)
        prev = out[r]
        cur = out[r + 1]
        if ftype == 0:
            cur[bpp:] = line
        elif ftype == 2:
            cur[bpp:] = (line + prev[bpp:]) & 0xFF
        elif ftype in (1, 3, 4):
            # Sub / Average / Paeth depend on the reconstructed byte to the left: sequential
            for i in range(stride):
                a, b, c = cur[i], prev[i + bpp], prev[i]
                if ftype == 1:
                    pred = a
                elif ftype == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i + bpp] = (line[i] + pred) & 0xFF
        else:
            raise InputFormatError(f"{path}: PNG row {r} has unknown filter type {ftype}")
    return out[1:, bpp:].astype(np.uint8)


def read_png(path: str) -> np.ndarray:
    """An 8-bit PNG as float64 ``(C,H,W)`` in ``[0, 1]`` (C = 1 gray, 3 colour; alpha dropped)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(PNG_MAGIC):
        raise InputFormatError(f"{path}: not a PNG file")
    pos, header, idat = 8, None, []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise InputFormatError(f"{path}: PNG chunk {ctype!r} at byte {pos} is truncated")
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise InputFormatError(f"{path}: PNG without IHDR or image data")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in _PNG_COLOURS or interlace != 0:
        raise InputFormatError(f"{path}: only 8-bit, non-interlaced gray/RGB(A) PNGs are supported "
                               f"(bit depth {depth}, colour type {colour}, interlace {interlace})")
    chans, keep = _PNG_COLOURS[colour]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise InputFormatError(f"{path}: corrupt PNG image data ({exc})") from None
    pixels = _unfilter(raw, height, width * chans, chans, path).reshape(height, width, chans)
    return pixels[:, :, :keep].transpose(2, 0, 1).astype(np.float64) / 255.0
