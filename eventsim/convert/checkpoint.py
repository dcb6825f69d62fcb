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
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from ..errors import ConversionError, brief
from ..network.limits import MAX_DEPTH, MAX_KEYS, MAX_PARAMETER_BYTES, load_json
from ..network.sources import require_regular_file

# torch storage type name -> NumPy dtype (little endian; byte-swapped if the archive says so)
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2", "BFloat16Storage": "bf16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}

MAX_PICKLE_BYTES = 64 << 20  # data.pkl of a state dict: names and tensor headers only
MAX_TENSOR_DIMS = 32
#: a tensor may repeat storage elements (stride 0, as expand() saves) up to this many bytes
MAX_EXPANDED_BYTES = 64 << 20

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


class _StateDict(OrderedDict):
    """What ``collections.OrderedDict`` means inside a checkpoint. torch pickles a state dict's
    ``_metadata`` as instance state (pickle BUILD); a BUILD could just as well set ``items``
    or ``get`` on the instance and shadow the methods the loader calls. The state is dropped."""

    def __setstate__(self, state):
        pass


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
        self._tensor_bytes = 0  # bytes of all tensors built so far, capped

    def find_class(self, module: str, name: str):
        full = f"{module}.{name}"
        if full == "collections.OrderedDict":
            return _StateDict
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
            raise ConversionError(f"{self._path}: unsupported persistent id {brief(pid, 80)}")
        stype, key = pid[1], str(pid[2])
        cache_key = f"{key}:{stype.name}"
        if cache_key not in self._storages:
            member = f"{self._prefix}data/{key}"
            info = _member_info(self._archive, member, self._path)
            item = 2 if stype.dtype == "bf16" else np.dtype(stype.dtype).itemsize
            if len(pid) >= 5 and isinstance(pid[4], int) and pid[4] * item != info.file_size:
                raise ConversionError(f"{self._path}: storage {brief(member)} declares "
                                      f"{brief(pid[4])} elements of {item} bytes but holds "
                                      f"{info.file_size:,} bytes")
            raw = _read_member(self._archive, info, self._path)
            if stype.dtype == "bf16":
                arr = _bf16_to_f32(np.frombuffer(raw, dtype=">u2" if self._big else "<u2",
                                                 count=len(raw) // 2))
            else:
                dt = np.dtype(stype.dtype)
                if self._big:
                    dt = dt.newbyteorder(">")
                if len(raw) % dt.itemsize:
                    raise ConversionError(f"{self._path}: storage {brief(member)} has {len(raw)} bytes, "
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
        except (TypeError, ValueError, OverflowError):
            raise ConversionError(f"{self._path}: malformed tensor header") from None
        if len(size) != len(stride) or len(size) > MAX_TENSOR_DIMS or offset < 0 \
                or min(size, default=1) < 0 or min(stride, default=0) < 0:
            raise ConversionError(f"{self._path}: malformed tensor header (size {brief(size)}, "
                                  f"stride {brief(stride)})")
        # Highest element index the view touches must lie inside the storage.
        last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
        if last >= storage.size:
            raise ConversionError(f"{self._path}: tensor of size {brief(size)} overruns its storage "
                                  f"({storage.size} elements)")
        # Declared size vs storage: a stride-0 view of one element can declare 10^10 of them.
        numel = int(np.prod(size, dtype=object))
        nbytes = numel * storage.itemsize
        if numel > storage.size and nbytes > MAX_EXPANDED_BYTES:
            raise ConversionError(f"{self._path}: a tensor of size {brief(size)} repeats the "
                                  f"{storage.size:,} elements of its storage ({nbytes:,} bytes); "
                                  "save contiguous tensors (tensor.contiguous())")
        self._tensor_bytes += nbytes
        if self._tensor_bytes > MAX_PARAMETER_BYTES:
            raise ConversionError(f"{self._path}: tensors of more than {MAX_PARAMETER_BYTES:,} bytes "
                                  "in all (eventsim's limit for one checkpoint)")
        if not all(size):
            return _Tensor(np.zeros(size, dtype=storage.dtype.newbyteorder("=")))
        item = storage.itemsize
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                               strides=tuple(s * item for s in stride),
                                               writeable=False)
        return _Tensor(np.array(view, dtype=storage.dtype.newbyteorder("=")))


def _member_info(archive: zipfile.ZipFile, member: str, path: str) -> zipfile.ZipInfo:
    """The zip entry ``member``, refused when encrypted, oddly compressed or declared too large."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise ConversionError(f"{path}: storage {brief(member)} is missing") from None
    if info.flag_bits & 0x1:
        raise ConversionError(f"{path}: zip member {brief(member)} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ConversionError(f"{path}: zip member {brief(member)} uses compression method "
                              f"{info.compress_type} (torch writes stored members; deflate is read too)")
    limit = MAX_PICKLE_BYTES if member.endswith("data.pkl") else MAX_PARAMETER_BYTES
    if info.file_size > limit:
        raise ConversionError(f"{path}: zip member {brief(member)} declares {info.file_size:,} bytes "
                              f"uncompressed, more than eventsim's limit of {limit:,}")
    return info


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> bytes:
    """The member's bytes; zipfile stops inflating at the declared (capped) size."""
    try:
        with archive.open(info) as f:
            raw = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as exc:
        raise ConversionError(f"{path}: storage {brief(info.filename)} unreadable "
                              f"({brief(str(exc), 80)})") from None
    if len(raw) != info.file_size:
        raise ConversionError(f"{path}: storage {brief(info.filename)} holds {len(raw):,} bytes, "
                              f"its header says {info.file_size:,}")
    return raw


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *_ignored):
    if not isinstance(data, _Tensor):
        raise ConversionError("checkpoint: a parameter without tensor data")
    return data


def _read_pth_zip(path: str) -> object:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, struct.error):
        raise ConversionError(f"{path}: not a valid zip checkpoint (truncated or corrupt)") from None
    with archive:
        names = archive.namelist()
        if len(names) > MAX_KEYS:
            raise ConversionError(f"{path}: the zip archive lists {len(names):,} members, more than "
                                  f"eventsim's limit of {MAX_KEYS:,}")
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ConversionError(f"{path}: not a torch checkpoint (no single <name>/data.pkl "
                                  "in the zip archive)")
        prefix = pkl[0][: -len("data.pkl")]
        big = False
        try:
            if f"{prefix}byteorder" in names:
                info = _member_info(archive, f"{prefix}byteorder", path)
                big = _read_member(archive, info, path)[:16].strip() == b"big"
            data = _read_member(archive, _member_info(archive, pkl[0], path), path)
            obj = _SafeUnpickler(data, archive, prefix, path, big).load()
        except ConversionError:
            raise
        except RecursionError:
            raise ConversionError(f"{path}: checkpoint pickle is nested too deeply") from None
        except MemoryError:
            raise ConversionError(f"{path}: not enough memory to read this checkpoint") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, OverflowError) as exc:
            raise ConversionError(f"{path}: truncated or corrupt checkpoint "
                                  f"({brief(str(exc), 80)})") from None
        except (pickle.UnpicklingError, TypeError, AttributeError, IndexError, KeyError,
                UnicodeDecodeError) as exc:
            raise ConversionError(f"{path}: malformed checkpoint pickle "
                                  f"({type(exc).__name__}: {brief(str(exc), 80)})") from None
    return obj


def _read_safetensors(path: str, f) -> dict:
    """Tensors of an open ``.safetensors`` file, each shape checked against its byte range first."""
    head = f.read(8)
    if len(head) < 8:
        raise ConversionError(f"{path}: truncated safetensors file")
    (n,) = struct.unpack("<Q", head)
    size = os.fstat(f.fileno()).st_size
    if 8 + n > size:
        raise ConversionError(f"{path}: safetensors header of {n:,} bytes overruns the file")
    try:
        header = load_json(f.read(n), "safetensors header")
    except ValueError as exc:
        raise ConversionError(f"{path}: {exc}") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path}: safetensors header is not a JSON object")
    if len(header) > MAX_KEYS:
        raise ConversionError(f"{path}: {len(header):,} tensors, more than eventsim's limit of {MAX_KEYS:,}")
    data_size = size - 8 - n
    entries = [(name, _safetensors_entry(path, name, info, data_size))
               for name, info in header.items() if name != "__metadata__"]
    total = sum(end - begin for _, (_, _, begin, end) in entries)
    if total > MAX_PARAMETER_BYTES:
        raise ConversionError(f"{path}: tensors of {total:,} bytes, more than eventsim's limit of "
                              f"{MAX_PARAMETER_BYTES:,}")
    out: dict[str, _Tensor] = {}
    for name, (code, shape, begin, end) in entries:
        f.seek(8 + n + begin)
        raw = np.frombuffer(f.read(end - begin), dtype="<u2" if code == "bf16" else code)
        arr = _bf16_to_f32(raw) if code == "bf16" else raw
        out[name] = _Tensor(np.array(arr.reshape(shape), dtype=arr.dtype.newbyteorder("=")))
    return out


def _safetensors_entry(path: str, name: str, info, data_size: int):
    """(dtype code, shape, begin, end) of one header entry, every number checked."""
    where = f"{path}: safetensors tensor {brief(name)}"
    try:
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    except (KeyError, TypeError, IndexError):
        raise ConversionError(f"{where} is malformed (needs dtype, shape, data_offsets)") from None
    if not isinstance(dtype, str) or dtype not in _SAFETENSORS_DTYPES:
        raise ConversionError(f"{where} has unsupported dtype {brief(dtype)}")
    ints = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    if not isinstance(shape, list) or len(shape) > MAX_TENSOR_DIMS \
            or not all(ints(d) and d >= 0 for d in shape):
        raise ConversionError(f"{where} has shape {brief(shape)}: expected at most {MAX_TENSOR_DIMS} "
                              "sizes >= 0")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(ints(v) for v in offsets):
        raise ConversionError(f"{where} has data_offsets {brief(offsets)}: expected [begin, end]")
    begin, end = offsets
    code = _SAFETENSORS_DTYPES[dtype]
    item = 2 if code == "bf16" else np.dtype(code).itemsize
    count = 1
    for d in shape:  # Python integers: a product of many sizes cannot wrap around
        count *= d
    if not 0 <= begin <= end <= data_size or end - begin != count * item:
        raise ConversionError(f"{where}: byte range [{brief(begin)}, {brief(end)}) does not match shape "
                              f"{brief(tuple(shape))} / dtype {dtype} or overruns the file")
    return code, tuple(shape), begin, end


def _flatten(obj, path: str) -> dict[str, np.ndarray]:
    """Nested dicts of tensors -> flat ``{dotted.name: ndarray}``; non-tensor leaves dropped.

    Iterative, and each dict is expanded once: a pickle can share one sub-dict under two keys
    at every level (2^63 names from a 2 KB file) or hold itself. A dict met again keeps the
    names of its first place. Total names and depth are capped.
    """
    out: dict[str, np.ndarray] = {}
    seen = {id(obj)}
    stack = [(obj, "", 0)]
    keys = 0
    while stack:
        node, prefix, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConversionError(f"{path}: the state dict is nested more than {MAX_DEPTH} levels deep")
        for key, value in dict.items(node):
            keys += 1
            if keys > MAX_KEYS:
                raise ConversionError(f"{path}: the checkpoint holds more than {MAX_KEYS:,} names")
            name = _name(prefix, key)
            if name is None:  # e.g. an integer of 100,000 digits: no parameter is called that
                continue
            if isinstance(value, _Tensor):
                out[name] = value.array
            elif isinstance(value, dict) and id(value) not in seen:
                seen.add(id(value))
                stack.append((value, name + ".", depth + 1))
    return out


def _name(prefix: str, key) -> str | None:
    """``prefix + str(key)``, or None when the key has no short text form."""
    if isinstance(key, str):
        return prefix + key
    try:
        text = str(key)
    except (ValueError, RecursionError):
        return None
    return prefix + text if len(text) <= 1000 else None


def _unwrap(obj, path: str) -> dict:
    if not isinstance(obj, dict):
        raise ConversionError(f"{path}: checkpoint holds a {type(obj).__name__}, expected a state "
                              "dict (save model.state_dict(), not the model object)")
    for key in ("state_dict", "model", "net", "model_state_dict"):
        inner = dict.get(obj, key)
        if isinstance(inner, dict) and any(isinstance(v, _Tensor) for v in dict.values(inner)):
            return inner
    return obj


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``.pth`` (zip) or ``.safetensors`` checkpoint, by name, as NumPy arrays."""
    path = os.fspath(path)
    require_regular_file(path, "a checkpoint", ConversionError)
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            if head.startswith(b"PK"):
                obj = _read_pth_zip(path)
            elif len(head) == 9 and head[8:9] == b"{":  # 8-byte header length, then a JSON object
                f.seek(0)
                obj = _read_safetensors(path, f)
            elif head[:2] == b"\x80\x02":
                raise ConversionError(f"{path}: legacy (non-zip) torch checkpoint; re-save it with a "
                                      "recent torch: torch.save(torch.load(path), new_path)")
            elif len(head) < 8:
                raise ConversionError(f"{path}: empty or truncated checkpoint")
            else:
                raise ConversionError(f"{path}: not a PyTorch checkpoint (.pth zip) or .safetensors file")
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except MemoryError:
        raise ConversionError(f"{path}: not enough memory to read this checkpoint") from None
    state = _flatten(_unwrap(obj, path), path)
    if not state:
        raise ConversionError(f"{path}: checkpoint contains no tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
