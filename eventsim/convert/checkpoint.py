"""Read PyTorch checkpoints WITHOUT torch and without executing anything they contain.

- ``.pth`` (torch's zip format, torch >= 1.6): ``<archive>/data.pkl`` is a pickle whose only
  legitimate globals rebuild tensors. A restricted unpickler maps exactly those globals
  (``torch._utils._rebuild_tensor_v2``, ``torch._utils._rebuild_parameter``, the ``torch.*Storage``
  types, ``collections.OrderedDict``, ``torch.Size``) to NumPy-building functions here; any other
  global is refused with a ConversionError naming it, before anything is called. Storages are
  read from ``<archive>/data/<key>`` with NumPy (dtype from the storage type, byte order from
  ``<archive>/byteorder``, little endian by default), honouring offset, shape and strides.
- ``.safetensors``: 8-byte little-endian header length, JSON header, raw buffers; parsed by hand.
- The legacy non-zip ``.pth`` format is refused with a hint on how to re-save it.

:func:`load_state_dict` returns a flat ``{name: float/int ndarray}`` with wrappers
``{"state_dict": ...}`` / ``{"model": ...}`` unwrapped and a ``module.`` prefix stripped.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from ..errors import ConversionError

# torch storage type name -> NumPy dtype (little endian; byte-swapped if the archive says so)
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2", "BFloat16Storage": "bf16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}

# safetensors dtype name -> NumPy dtype
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bf16", "I64": "<i8", "I32": "<i4",
    "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}


class _StorageType:
    """Stands for a ``torch.<X>Storage`` class inside the pickle: only its dtype matters."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Tensor:
    """A rebuilt tensor; refuses pickle BUILD so the stream cannot poke at it."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __setstate__(self, state):
        raise ConversionError("checkpoint pickle tries to set state on a tensor (refused)")


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    # bfloat16 is the upper half of a float32: shift the 16 bits into place.
    return (raw.astype("<u4") << 16).view("<f4")


class _SafeUnpickler(pickle.Unpickler):
    """Rebuilds tensors from a torch zip checkpoint; refuses every other global."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, path: str,
                 big_endian: bool):
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix
        self._path = path
        self._big = big_endian
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        full = f"{module}.{name}"
        if full == "collections.OrderedDict":
            return OrderedDict
        if full == "torch._utils._rebuild_tensor_v2":
            return self._rebuild_tensor
        if full == "torch._utils._rebuild_parameter":
            return _rebuild_parameter
        if full == "torch.Size":
            return tuple
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ConversionError(f"{self._path}: refused to load global {full!r}: a checkpoint may "
                              "only contain tensors and plain containers (save model.state_dict())")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise ConversionError(f"{self._path}: unsupported persistent id {pid!r:.80}")
        stype, key = pid[1], str(pid[2])
        cache_key = f"{key}:{stype.name}"
        if cache_key not in self._storages:
            member = f"{self._prefix}data/{key}"
            try:
                raw = self._archive.read(member)
            except KeyError:
                raise ConversionError(f"{self._path}: storage {member!r} is missing") from None
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise ConversionError(f"{self._path}: storage {member!r} unreadable ({exc})") from None
            if stype.dtype == "bf16":
                arr = _bf16_to_f32(np.frombuffer(raw, dtype=">u2" if self._big else "<u2",
                                                 count=len(raw) // 2))
            else:
                dt = np.dtype(stype.dtype)
                if self._big:
                    dt = dt.newbyteorder(">")
                if len(raw) % dt.itemsize:
                    raise ConversionError(f"{self._path}: storage {member!r} has {len(raw)} bytes, "
                                          f"not a multiple of {dt.itemsize}")
                arr = np.frombuffer(raw, dtype=dt)
            self._storages[cache_key] = arr
        return self._storages[cache_key]

    def _rebuild_tensor(self, storage, offset, size, stride, *_ignored):
        if not isinstance(storage, np.ndarray):
            raise ConversionError(f"{self._path}: tensor without a storage")
        try:
            offset = int(offset)
            size = tuple(int(s) for s in size)
            stride = tuple(int(s) for s in stride)
        except (TypeError, ValueError):
            raise ConversionError(f"{self._path}: malformed tensor header") from None
        if len(size) != len(stride) or offset < 0 or min(size, default=1) < 0 or min(stride, default=0) < 0:
            raise ConversionError(f"{self._path}: malformed tensor header (size {size}, stride {stride})")
        # Highest element index the view touches must lie inside the storage.
        last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
        if last >= storage.size:
            raise ConversionError(f"{self._path}: tensor of size {size} overruns its storage "
                                  f"({storage.size} elements)")
        if not all(size):
            return _Tensor(np.zeros(size, dtype=storage.dtype.newbyteorder("=")))
        item = storage.itemsize
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                               strides=tuple(s * item for s in stride),
                                               writeable=False)
        return _Tensor(np.array(view, dtype=storage.dtype.newbyteorder("=")))


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *_ignored):
    if not isinstance(data, _Tensor):
        raise ConversionError("checkpoint: a parameter without tensor data")
    return data


def _read_pth_zip(path: str) -> object:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ConversionError(f"{path}: not a valid zip checkpoint (truncated or corrupt)") from None
    with archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ConversionError(f"{path}: not a torch checkpoint (no single <name>/data.pkl "
                                  "in the zip archive)")
        prefix = pkl[0][: -len("data.pkl")]
        big = False
        if f"{prefix}byteorder" in names:
            big = archive.read(f"{prefix}byteorder").strip() == b"big"
        try:
            data = archive.read(pkl[0])
            obj = _SafeUnpickler(data, archive, prefix, path, big).load()
        except ConversionError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise ConversionError(f"{path}: truncated or corrupt checkpoint ({exc})") from None
        except (pickle.UnpicklingError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise ConversionError(f"{path}: malformed checkpoint pickle ({exc})") from None
    return obj


def _read_safetensors(path: str, blob: bytes) -> dict:
    if len(blob) < 8:
        raise ConversionError(f"{path}: truncated safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ConversionError(f"{path}: safetensors header of {n} bytes overruns the file")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConversionError(f"{path}: safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path}: safetensors header is not a JSON object")
    buf = memoryview(blob)[8 + n:]
    out: dict[str, _Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape = info["dtype"], tuple(int(s) for s in info["shape"])
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConversionError(f"{path}: safetensors entry {name!r} is malformed") from None
        if dtype not in _SAFETENSORS_DTYPES:
            raise ConversionError(f"{path}: tensor {name!r} has unsupported dtype {dtype!r}")
        code = _SAFETENSORS_DTYPES[dtype]
        item = 2 if code == "bf16" else np.dtype(code).itemsize
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(buf) or end - begin != count * item:
            raise ConversionError(f"{path}: tensor {name!r} byte range [{begin}, {end}) does not "
                                  f"match shape {shape} / dtype {dtype} or overruns the file")
        raw = np.frombuffer(buf[begin:end], dtype="<u2" if code == "bf16" else code, count=count)
        arr = _bf16_to_f32(raw) if code == "bf16" else raw
        out[name] = _Tensor(np.array(arr.reshape(shape), dtype=arr.dtype.newbyteorder("=")))
    return out


def _flatten(obj, path: str, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of tensors -> flat ``{dotted.name: ndarray}``; non-tensor leaves dropped."""
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, _Tensor):
            out[name] = value.array
        elif isinstance(value, dict):
            out.update(_flatten(value, path, name + "."))
    return out


def _unwrap(obj, path: str) -> dict:
    if not isinstance(obj, dict):
        raise ConversionError(f"{path}: checkpoint holds a {type(obj).__name__}, expected a state "
                              "dict (save model.state_dict(), not the model object)")
    for key in ("state_dict", "model", "net", "model_state_dict"):
        inner = obj.get(key)
        if isinstance(inner, dict) and any(isinstance(v, _Tensor) for v in inner.values()):
            return inner
    return obj


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``.pth`` (zip) or ``.safetensors`` checkpoint, by name, as NumPy arrays."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ConversionError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(b"PK"):
        obj = _read_pth_zip(path)
    elif _looks_like_safetensors(path, head):
        with open(path, "rb") as f:
            blob = f.read()
        obj = _read_safetensors(path, blob)
    elif head[:2] == b"\x80\x02":
        raise ConversionError(f"{path}: legacy (non-zip) torch checkpoint; re-save it with a recent "
                              "torch: torch.save(torch.load(path), new_path)")
    elif len(head) < 8:
        raise ConversionError(f"{path}: empty or truncated checkpoint")
    else:
        raise ConversionError(f"{path}: not a PyTorch checkpoint (.pth zip) or .safetensors file")
    state = _flatten(_unwrap(obj, path), path)
    if not state:
        raise ConversionError(f"{path}: checkpoint contains no tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _looks_like_safetensors(path: str, head: bytes) -> bool:
    """An 8-byte header length, then a JSON object (a bad length is reported when read)."""
    if len(head) < 8:
        return False
    with open(path, "rb") as f:
        f.seek(8)
        return f.read(1) == b"{"


