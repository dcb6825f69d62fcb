"""Readers trust a file only as far as it holds what it declares (issue 15 items 2-5, issue 23).

In-process checks of the library functions behind the CLI cases in tests/hostile/test_readers.py:
what each reader refuses, and that the limits leave valid files untouched.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib

import h5py
import lz4.frame
import numpy as np
import pytest

from eventsim.errors import InputFormatError
from eventsim.events import read_events, read_info, write_events
from eventsim.events.dtype import EVENT_DTYPE, make_events
from eventsim.events.emulator import read_images
from eventsim.events.formats import aedat4, nmnist_bin
from eventsim.events.frames import MAX_PIXELS, PNG_MAGIC, read_frames, read_png
from eventsim.events.io import detect_format, require_regular_file


def _events(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return make_events(np.cumsum(rng.integers(1, 50, n)), rng.integers(0, 34, n),
                       rng.integers(0, 34, n), rng.integers(0, 2, n))


# -- regular files only ------------------------------------------------------------------------


def test_only_regular_files_are_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.npz")
    (tmp_path / "dev.bin").symlink_to("/dev/null")
    (tmp_path / "dir.aedat4").mkdir()
    for name, kind in (("pipe.npz", "a FIFO"), ("dev.bin", "a character device"),
                       ("dir.aedat4", "a directory")):
        for call in (require_regular_file, detect_format, read_info, read_events, read_frames):
            with pytest.raises(InputFormatError, match=f"{name}: is {kind}.*, not a regular file"):
                call(tmp_path / name)
    write_events(tmp_path / "ok.npz", _events(), (34, 34))
    (tmp_path / "link.npz").symlink_to(tmp_path / "ok.npz")  # a symlink to a file is fine
    assert read_events(tmp_path / "link.npz")[0].size == 500


def test_nmnist_detection_needs_positive_evidence(tmp_path):
    zeros = bytes(5 * 1000)  # a valid-looking stream of one pixel at t = 0 (what /dev/zero gives)
    (tmp_path / "z.bin").write_bytes(zeros)
    assert not nmnist_bin.sniff(zeros, str(tmp_path / "z.bin"))
    with pytest.raises(InputFormatError, match="unknown event file format"):
        read_events(tmp_path / "z.bin")
    good = bytes([1, 2, 0x80, 0, 10, 3, 4, 0, 0, 20])  # two pixels, time advancing
    (tmp_path / "g.bin").write_bytes(good)
    assert detect_format(tmp_path / "g.bin") == "nmnist_bin"
    same_pixel = bytes([1, 2, 0x80, 0, 10, 1, 2, 0, 0, 20])
    (tmp_path / "s.bin").write_bytes(same_pixel)
    assert not nmnist_bin.sniff(same_pixel, str(tmp_path / "s.bin"))


# -- AEDAT 4.0 packets never inflate past what they may hold -----------------------------------


def _packet(events: int, zero_bytes: int, compression: str = "lz4") -> bytes:
    head = bytearray(aedat4._event_packet(np.zeros(0, EVENT_DTYPE)))
    struct.pack_into("<I", head, 0, len(head) - 4 + 16 * events)
    struct.pack_into("<I", head, len(head) - 4, events)
    body = bytes(head) + bytes(zero_bytes)
    return lz4.frame.compress(body) if compression == "lz4" else aedat4._compress(body, compression)


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_aedat4_inflation_limits(compression):
    where = 100
    # honest and normal: 1000 events of zeros -> inflates to exactly the declared size
    body = _packet(1000, 16000, compression)
    assert len(aedat4._decompress(body, compression, "f", where)) == 32 + 16000
    # declares more than the ratio allows: refused before inflating
    big = _packet(4 << 20, 0, compression)
    with pytest.raises(InputFormatError, match=r"f: .* packet at byte 100 declares 67,108,896 inflated"):
        aedat4._decompress(big, compression, "f", where)
    # declares little, inflates to more
    liar = _packet(10, 1 << 20, compression)
    with pytest.raises(InputFormatError, match="inflates beyond its declared 192 bytes"):
        aedat4._decompress(liar, compression, "f", where)
    # declares more than it holds
    short = _packet(1000, 160, compression)
    with pytest.raises(InputFormatError, match="truncated: it inflates to 192 of its declared 16,032"):
        aedat4._decompress(short, compression, "f", where)


def test_aedat4_limits_leave_real_packets_alone(tmp_path):
    ev = _events(20000)
    ev["t"] = 0  # constant timestamps compress best; still far below the ratio limit
    for comp in ("lz4", "zstd_high"):
        write_events(tmp_path / f"c.{comp}.aedat4", ev, (34, 34), compression=comp)
        assert np.array_equal(read_events(tmp_path / f"c.{comp}.aedat4")[0], ev)


# -- eventsim .h5 / .npz -----------------------------------------------------------------------


def test_h5_partly_written_and_huge_chunks_are_refused(tmp_path):
    path = tmp_path / "part.h5"
    write_events(path, _events(100), (34, 34))
    with h5py.File(path, "a") as f:
        for k in ("t", "x", "y", "p"):
            f["events"][k].resize((200_000,))  # 4 chunks declared, 1 written
    with pytest.raises(InputFormatError, match=r"part.h5: /events/t declares 200,000 events but stores "
                                               r"only 1 of the 4 chunks"):
        read_info(path)
    path = tmp_path / "chunky.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.attrs["sensor"] = [34, 34]
        for k in ("t", "x", "y", "p"):
            g.create_dataset(k, shape=(10,), dtype=EVENT_DTYPE[k], chunks=(1 << 24,), maxshape=(None,))
    with pytest.raises(InputFormatError, match="chunky.h5: /events/t has chunks of 16,777,216 events"):
        read_events(path)


def test_h5_attributes_are_checked_before_reading(tmp_path):
    path = tmp_path / "a.h5"
    write_events(path, _events(10), (34, 34), camera="DVS128")
    assert read_info(path).metadata["camera"] == "DVS128"
    with h5py.File(path, "a") as f:
        f["events"].attrs["sensor"] = np.zeros(5000, np.int64)
    with pytest.raises(InputFormatError, match="attribute 'sensor' declares 5,000 items"):
        read_info(path)
    with h5py.File(path, "a") as f:
        f["events"].attrs["sensor"] = "34,34"  # a variable-length string: never read
    with pytest.raises(InputFormatError, match="attribute 'sensor' has type object"):
        read_info(path)


def test_polarity_must_be_0_or_1_in_every_free_byte_format(tmp_path):
    ev = _events(50)
    ev["p"][[7, 30]] = [2, 255]
    for ext in (".npz", ".h5"):
        write_events(tmp_path / f"p{ext}", ev, (34, 34))
        with pytest.raises(InputFormatError, match=rf"p\{ext}: polarity must be 0 \(OFF\) or 1 \(ON\); "
                                                   r"found 2, 255 \(first at event 7\)"):
            read_events(tmp_path / f"p{ext}")


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_npz_headers_are_checked(tmp_path):
    def npz(name: str, t_member: bytes):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("t.npy", t_member)
            for k, v in (("x", np.zeros(3, np.uint16)), ("y", np.zeros(3, np.uint16)),
                         ("p", np.zeros(3, np.uint8)), ("sensor", np.array([34, 34]))):
                zf.writestr(f"{k}.npy", _npy_bytes(v))
        return tmp_path / name

    t = _npy_bytes(np.zeros(3, np.int64))
    assert read_events(npz("ok.npz", t))[0].size == 3
    with pytest.raises(InputFormatError, match=r"more.npz: array 't': header declares shape \(9,\) "
                                               r"\(72 bytes\) but the member holds"):
        read_events(npz("more.npz", t.replace(b"(3,)", b"(9,)")))
    with pytest.raises(InputFormatError, match=r"tok.npz: array 't': corrupt .npy header \(TokenError"):
        read_info(npz("tok.npz", t.replace(b"(3,)", b"[3, ")))
    with pytest.raises(InputFormatError, match=r"neg.npz: array 't': .npy header declares a negative"):
        read_info(npz("neg.npz", t.replace(b"(3,)", b"(-3,)")))
    with pytest.raises(InputFormatError, match=r"obj.npz: array 't': holds Python objects"):
        read_info(npz("obj.npz", _npy_bytes(np.array([1, None, 3], dtype=object))[:128]))


# -- frames: one PNG / .npy reader, checked before decoding ------------------------------------


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def _naive_filter(rows: np.ndarray, bpp: int, ftypes) -> bytes:
    """PNG filtering written from the specification, one byte at a time."""
    out = bytearray()
    h, stride = rows.shape
    for r in range(h):
        out.append(ftypes[r])
        for i in range(stride):
            a = int(rows[r, i - bpp]) if i >= bpp else 0
            b = int(rows[r - 1, i]) if r else 0
            c = int(rows[r - 1, i - bpp]) if r and i >= bpp else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (
                b if abs(p - b) <= abs(p - c) else c)
            pred = [0, a, b, (a + b) // 2, paeth][ftypes[r]]
            out.append((int(rows[r, i]) - pred) & 0xFF)
    return bytes(out)


@pytest.mark.parametrize("colour,chans", [(0, 1), (2, 3), (4, 2), (6, 4)])
def test_png_every_filter_matches_the_specification(tmp_path, colour, chans):
    rng = np.random.default_rng(colour)
    h, w = 11, 9
    px = rng.integers(0, 256, (h, w * chans), dtype=np.uint8)
    raw = _naive_filter(px, chans, [r % 5 for r in range(h)])
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    path = tmp_path / "f.png"
    path.write_bytes(PNG_MAGIC + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw))
                     + _chunk(b"IEND", b""))
    keep = {1: 1, 2: 1, 3: 3, 4: 3}[chans]
    want = px.reshape(h, w, chans)[:, :, :keep].transpose(2, 0, 1) / 255.0
    assert np.array_equal(read_png(path), want)
    img = read_images(path)  # the emulator reads through the same decoder
    lum = want[0] if keep == 1 else np.tensordot([0.299, 0.587, 0.114], want, axes=1)
    assert img.shape == (h, w) and np.allclose(img, lum)


def test_png_and_npy_are_checked_before_decoding(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 5000, 5000, 8, 0, 0, 0, 0)
    big = tmp_path / "big.png"
    big.write_bytes(PNG_MAGIC + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"x") + _chunk(b"IEND", b""))
    assert 5000 * 5000 > MAX_PIXELS
    with pytest.raises(InputFormatError, match="big.png: PNG is 5000x5000 .* more than the 16,777,216"):
        read_frames(big)
    small = tmp_path / "small.png"
    ihdr = struct.pack(">IIBBBBB", 8, 6, 8, 0, 0, 0, 0)
    small.write_bytes(PNG_MAGIC + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b""))
    with pytest.raises(InputFormatError, match=r"small.png: PNG of 1 channel\(s\), 8x6 \(WxH\) does not fit "
                                               r"the model input \(1, 8, 8\)"):
        read_frames(small, expect=(1, 8, 8))  # refused on IHDR: the bad IDAT is never touched
    bad_crc = bytearray(small.read_bytes())
    bad_crc[20] ^= 1
    small.write_bytes(bytes(bad_crc))
    with pytest.raises(InputFormatError, match="fails its CRC check"):
        read_frames(small)
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros((2, 3, 4)))
    assert read_frames(npy, expect=(2, 3, 4)).shape == (2, 3, 4)
    with pytest.raises(InputFormatError, match=r"a.npy: frame array of shape \(2, 3, 4\) does not fit"):
        read_frames(npy, expect=(1, 3, 4))
    data = npy.read_bytes()
    npy.write_bytes(data.replace(b"(2, 3, 4)", b"(9, 3, 4)"))
    with pytest.raises(InputFormatError, match=r"header declares shape \(9, 3, 4\) \(864 bytes"):
        read_frames(npy)
