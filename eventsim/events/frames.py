"""Static (analog) inputs for frame-input networks: ``.npy`` arrays and ``.png`` images.

Detected by content: ``.npy`` by its magic ``\\x93NUMPY``, PNG by its 8-byte signature. This is
the one reader of both for the whole package (``eventsim run``/``eval`` frames and the DVS
emulator's images).

- ``.npy``: a numeric array; loaded without pickle, after checking that the file really holds
  the bytes its header declares (a 100-byte file cannot make us allocate gigabytes).
- ``.png``: 8-bit grayscale, grayscale+alpha, RGB or RGBA, not interlaced, decoded here with
  ``zlib`` and a Numba kernel for the row filters (no imaging dependency); alpha is dropped,
  values scaled to ``[0, 1]``; returned as ``(C,H,W)`` float64 with C = 1 (gray) or 3 (RGB).
  The IHDR size is checked against ``MAX_PIXELS`` (and against the shape the caller expects)
  *before* any image data is inflated, and inflating stops at the size IHDR implies.

Inputs must be regular files (a FIFO or a device is refused before it is opened).
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..errors import InputFormatError
from ..jit import kernel
from .formats import _npy
from .io import require_regular_file

NPY_MAGIC = b"\x93NUMPY"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Largest image accepted (H·W), far above any model input (ImageNet models use 224x224): a
#: 16-megapixel frame is ~400 MB as float64 (C,H,W) RGB.
MAX_PIXELS = 4096 * 4096
# PNG colour type -> (channels in the file, channels kept)
_PNG_COLOURS = {0: (1, 1), 4: (2, 1), 2: (3, 3), 6: (4, 3)}
_PNG_MAX_CHUNK = (1 << 31) - 1  # the PNG spec's limit on a chunk length


def frame_kind(path: str | os.PathLike) -> str | None:
    """``"npy"``, ``"png"`` or None (not a static frame file), by content."""
    require_regular_file(path, "an input file")
    with open(path, "rb") as f:
        return frame_kind_of(f.read(8))


def frame_kind_of(head: bytes) -> str | None:
    """``"npy"``, ``"png"`` or None, from the first bytes of a file."""
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(PNG_MAGIC):
        return "png"
    return None


def read_frames(path: str | os.PathLike, expect: tuple[int, int, int] | None = None,
                kind: str | None = None) -> np.ndarray:
    """The static input in ``path`` as a float64 array ``(C,H,W)`` or ``(T,C,H,W)``.

    ``expect`` (C, H, W), e.g. a model's input shape, is checked against the file's declared
    shape before its data is read: a mismatching file is refused without being decoded.
    ``kind``: ``"npy"`` or ``"png"`` when the caller has already looked (else by content).
    """
    path = os.fspath(path)
    kind = kind or frame_kind(path)
    if kind == "npy":
        arr = read_npy(path, ndims=(3, 4), expect=expect)
        return arr.astype(np.float64)
    if kind == "png":
        return read_png(path, expect=expect)
    raise InputFormatError(f"{path}: not a .npy array or a PNG image")


def read_step_array(path: str | os.PathLike, row_shape: tuple[int, ...]) -> np.ndarray:
    """A ``.npy`` array of one row per time step, ``(T, *row_shape)``, as float64.

    For models whose input is not an image (a vector of N channels, stored as ``(1, 1, N)``),
    ``(T, N)`` is accepted too. The declared shape is checked before any data is read.
    """
    path = os.fspath(path)
    row_shape = tuple(int(v) for v in row_shape)
    n = int(np.prod(row_shape))
    with open(path, "rb") as f:
        shape, _, dtype = _npy.read_header(f, path)
    flat = len(shape) == 2 and shape[1] == n and row_shape[:-1] == (1,) * (len(row_shape) - 1)
    if len(shape) < 2 or (shape[1:] != row_shape and not flat):
        vector = len(row_shape) > 1 and row_shape[:-1] == (1,) * (len(row_shape) - 1)
        want = f"(T, {', '.join(map(str, row_shape))})" + (f" or (T, {n})" if vector else "")
        raise InputFormatError(f"{path}: array of shape {shape} does not fit the model input: expected "
                               f"one row per time step, {want}")
    arr = read_npy(path, ndims=(len(shape),))
    return arr.reshape((shape[0],) + row_shape).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# .npy


def _check_expected(path: str, shape: tuple[int, ...], expect: tuple[int, int, int] | None) -> None:
    if expect is None:
        return
    want = tuple(int(v) for v in expect)
    if shape != want and shape[1:] != want:
        raise InputFormatError(f"{path}: frame array of shape {shape} does not fit the model input "
                               f"{expect} (expected (C,H,W) or (T,C,H,W))")


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def read_npy(path: str, ndims: tuple[int, ...], expect: tuple[int, int, int] | None = None) -> np.ndarray:
    """A numeric ``.npy`` array with ``ndim`` in ``ndims``; header checked before any allocation."""
    with open(path, "rb") as f:
        shape, fortran, dtype = _npy.read_header(f, path)
        if dtype.kind not in "fiub" or len(shape) not in ndims:
            dims = " or ".join(f"{n}-D" for n in ndims)
            raise InputFormatError(f"{path}: expected a numeric {dims} array, got dtype {dtype} "
                                   f"shape {shape}")
        _check_expected(path, shape, expect)
        need = _npy.nbytes(shape, dtype)
        have = os.fstat(f.fileno()).st_size - f.tell()
        if need > have:
            raise InputFormatError(f"{path}: header declares shape {shape} ({need:,} bytes of "
                                   f"{dtype}) but the file holds {have:,} bytes of data")
        count = need // dtype.itemsize
        data = np.fromfile(f, dtype=dtype, count=count)
    if data.size != count:
        raise InputFormatError(f"{path}: truncated .npy data ({data.size} of {count} items)")
    if dtype.kind == "f" and data.size and not np.all(np.abs(data) <= _FLOAT32_MAX):
        # NaN never compares true: it fails here too
        raise InputFormatError(f"{path}: holds NaN, infinite or out-of-float32-range values; "
                               "frames are finite intensities")
    return data.reshape(shape, order="F" if fortran else "C")


# ---------------------------------------------------------------------------------------------
# PNG


@kernel
def _unfilter(rows, bpp, out):
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth) of ``rows`` (H, 1 + stride).

    Writes the (H, stride) image into ``out``; returns the index of the first row with an
    unknown filter type, or -1.
    """
    height, stride = out.shape
    for r in range(height):
        ftype = rows[r, 0]
        if ftype > 4:
            return r
        for i in range(stride):
            raw = np.int64(rows[r, i + 1])
            a = np.int64(out[r, i - bpp]) if i >= bpp else np.int64(0)
            b = np.int64(out[r - 1, i]) if r > 0 else np.int64(0)
            c = np.int64(out[r - 1, i - bpp]) if r > 0 and i >= bpp else np.int64(0)
            if ftype == 0:
                pred = np.int64(0)
            elif ftype == 1:
                pred = a
            elif ftype == 2:
                pred = b
            elif ftype == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[r, i] = (raw + pred) & 0xFF
    return -1


def _png_chunks(f, path: str, size: int):
    """Yield (type, body) of each chunk until IEND, checking lengths and CRCs."""
    pos = len(PNG_MAGIC)
    f.seek(pos)
    while True:
        head = f.read(8)
        if len(head) < 8:
            raise InputFormatError(f"{path}: PNG ends at byte {pos} without an IEND chunk")
        length, ctype = struct.unpack(">I4s", head)
        if length > _PNG_MAX_CHUNK or pos + 12 + length > size:
            raise InputFormatError(f"{path}: PNG chunk {ctype!r} at byte {pos} claims {length:,} bytes; "
                                   f"only {size - pos - 12:,} remain")
        body = f.read(length)
        crc = f.read(4)
        if len(body) != length or len(crc) != 4:
            raise InputFormatError(f"{path}: PNG chunk {ctype!r} at byte {pos} is truncated")
        if zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
            raise InputFormatError(f"{path}: PNG chunk {ctype!r} at byte {pos} fails its CRC check")
        yield ctype, body
        if ctype == b"IEND":
            return
        pos += 12 + length


def _png_header(path: str, body: bytes, expect: tuple[int, int, int] | None) -> tuple[int, int, int, int]:
    """(width, height, channels in the file, channels kept) from IHDR, checked before decoding."""
    if len(body) != 13:
        raise InputFormatError(f"{path}: PNG IHDR chunk has {len(body)} bytes, expected 13")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
    if depth != 8 or colour not in _PNG_COLOURS or interlace != 0:
        raise InputFormatError(f"{path}: only 8-bit, non-interlaced gray/RGB(A) PNGs are supported "
                               f"(bit depth {depth}, colour type {colour}, interlace {interlace})")
    if not (0 < width and 0 < height):
        raise InputFormatError(f"{path}: PNG IHDR declares an empty image {width}x{height}")
    if width * height > MAX_PIXELS:
        raise InputFormatError(f"{path}: PNG is {width}x{height} (WxH), more than the "
                               f"{MAX_PIXELS:,} pixels eventsim reads")
    chans, keep = _PNG_COLOURS[colour]
    if expect is not None and (keep, height, width) != tuple(int(v) for v in expect):
        raise InputFormatError(f"{path}: PNG of {keep} channel(s), {width}x{height} (WxH) does not fit "
                               f"the model input {tuple(int(v) for v in expect)} (C,H,W)")
    return width, height, chans, keep


def _inflate_idat(path: str, chunks, expected: int) -> bytes:
    """Concatenated IDAT data inflated to exactly ``expected`` bytes (never further)."""
    d = zlib.decompressobj()
    out = bytearray()
    seen = False
    try:
        for ctype, body in chunks:
            if ctype != b"IDAT":
                continue
            seen = True
            out += d.decompress(body, expected + 1 - len(out))
            if len(out) > expected:
                break
    except zlib.error as exc:
        raise InputFormatError(f"{path}: corrupt PNG image data ({exc})") from None
    if not seen:
        raise InputFormatError(f"{path}: PNG without image data (no IDAT chunk)")
    if len(out) != expected:
        more = "more" if len(out) > expected else "fewer"
        raise InputFormatError(f"{path}: PNG image data inflates to {more} than the {expected:,} bytes "
                               "its IHDR size implies")
    return bytes(out)


def read_png(path: str, expect: tuple[int, int, int] | None = None) -> np.ndarray:
    """An 8-bit PNG as float64 ``(C,H,W)`` in ``[0, 1]`` (C = 1 gray, 3 colour; alpha dropped).

    ``expect`` (C, H, W), if given, must match the image's kept channels and size (checked on
    the IHDR chunk, before any image data is inflated).
    """
    path = os.fspath(path)
    require_regular_file(path, "an input file")
    with open(path, "rb") as f:
        if f.read(8) != PNG_MAGIC:
            raise InputFormatError(f"{path}: not a PNG file")
        chunks = _png_chunks(f, path, os.fstat(f.fileno()).st_size)
        ctype, body = next(chunks)
        if ctype != b"IHDR":
            raise InputFormatError(f"{path}: PNG does not start with an IHDR chunk (got {ctype!r})")
        width, height, chans, keep = _png_header(path, body, expect)
        stride = width * chans
        raw = _inflate_idat(path, chunks, height * (stride + 1))
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    pixels = np.empty((height, stride), np.uint8)
    bad = _unfilter(rows, chans, pixels)
    if bad >= 0:
        raise InputFormatError(f"{path}: PNG row {bad} has unknown filter type {rows[bad, 0]}")
    return pixels.reshape(height, width, chans)[:, :, :keep].transpose(2, 0, 1).astype(np.float64) / 255.0
