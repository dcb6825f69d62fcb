"""The torch-free checkpoint reader: exact tensors, safety, and clear errors on bad files."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.convert.checkpoint import load_state_dict
from eventsim.errors import ConversionError

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[dev]')")


def _zip_checkpoint(path, pkl: bytes, extra: dict | None = None) -> None:
    """A torch-style zip archive around an arbitrary data.pkl (for hostile inputs)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")
        for name, data in (extra or {}).items():
            z.writestr(f"archive/{name}", data)


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_reads_every_dtype_and_strided_views(tmp_path):
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    state = {
        "f64": base,
        "f32": base.float() / 7,
        "f16": base.half() / 3,
        "bf16": (base / 5).bfloat16(),
        "i64": torch.arange(-3, 3),
        "i32": torch.arange(5, dtype=torch.int32),
        "u8": torch.arange(5, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "transposed": base.t(),  # non-contiguous strides over a shared storage
        "slice": base[1:, 2:5],  # storage offset
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    path = tmp_path / "all.pth"
    torch.save(state, path)
    got = load_state_dict(path)
    assert set(got) == set(state)
    for key, value in state.items():
        want = value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()
        assert got[key].shape == want.shape, key
        assert got[key].dtype == want.dtype, key
        np.testing.assert_array_equal(got[key], want, err_msg=key)


@pytest.mark.parametrize("wrap", ["state_dict", "model", None])
def test_unwraps_and_strips_module_prefix(tmp_path, wrap):
    sd = {"module.conv.weight": torch.ones(2, 2), "module.fc.bias": torch.zeros(3)}
    obj = sd if wrap is None else {wrap: sd, "epoch": 12, "best_acc": torch.tensor(0.9)}
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    assert sorted(load_state_dict(path)) == ["conv.weight", "fc.bias"]


def test_os_system_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    pkl = pickle.dumps({"w": _Evil(f"touch {marker}")}, protocol=2)
    path = tmp_path / "evil.pth"
    _zip_checkpoint(path, pkl)
    with pytest.raises(ConversionError, match=r"refused to load global '(posix|os)\.system'"):
        load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("builtins", "getattr"),
                                         ("subprocess", "Popen"), ("torch", "load"),
                                         ("numpy.core.multiarray", "_reconstruct")])
def test_any_other_global_is_refused(tmp_path, module, name):
    # GLOBAL opcode, empty tuple, REDUCE, STOP: a call of module.name() written by hand
    pkl = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    path = tmp_path / "g.pth"
    _zip_checkpoint(path, pkl)
    with pytest.raises(ConversionError, match=f"refused to load global '{module}.{name}'"):
        load_state_dict(path)


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "ok.pth"
    torch.save({"w": torch.randn(64, 64)}, path)
    blob = path.read_bytes()
    for cut in (len(blob) // 2, len(blob) - 30, 5, 0):
        bad = tmp_path / f"cut{cut}.pth"
        bad.write_bytes(blob[:cut])
        with pytest.raises(ConversionError, match=str(bad)):
            load_state_dict(bad)


def test_storage_overrun_and_missing_storage(tmp_path):
    path = tmp_path / "ok.pth"
    torch.save({"w": torch.randn(4, 4)}, path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    prefix = next(n for n in members if n.endswith("data.pkl"))[: -len("data.pkl")]
    short = dict(members)
    short[prefix + "data/0"] = members[prefix + "data/0"][:8]  # 2 floats for a 4x4 tensor
    bad = tmp_path / "short.pth"
    with zipfile.ZipFile(bad, "w") as z:
        for n, d in short.items():
            z.writestr(n, d)
    # the storage's declared element count (in the persistent id) no longer matches its bytes
    with pytest.raises(ConversionError, match="declares 16 elements of 4 bytes but holds 8 bytes"):
        load_state_dict(bad)
    missing = {n: d for n, d in members.items() if n != prefix + "data/0"}
    bad2 = tmp_path / "missing.pth"
    with zipfile.ZipFile(bad2, "w") as z:
        for n, d in missing.items():
            z.writestr(n, d)
    with pytest.raises(ConversionError, match="storage .* is missing"):
        load_state_dict(bad2)


def test_legacy_format_asks_to_resave(tmp_path):
    path = tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ConversionError, match="legacy .*re-save"):
        load_state_dict(path)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.ones(2)], path)
    with pytest.raises(ConversionError, match="expected a state dict"):
        load_state_dict(path)
    with pytest.raises(ConversionError, match="no such file"):
        load_state_dict(tmp_path / "absent.pth")


def _safetensors(tensors: dict[str, tuple[str, np.ndarray]]) -> bytes:
    """The safetensors layout, written from its specification (8-byte length, JSON, buffers)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, raw) in tensors.items():
        data = raw.tobytes()
        header[name] = {"dtype": dtype, "shape": list(raw.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def test_safetensors(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 4)).astype("<f4")
    b = rng.normal(size=5)
    bf = np.array([0x3F80, 0xC000], dtype="<u2")  # bfloat16 1.0 and -2.0
    path = tmp_path / "m.safetensors"
    path.write_bytes(_safetensors({"model.w": ("F32", w), "model.b": ("F64", b), "h": ("BF16", bf),
                                   "n": ("I64", np.arange(3, dtype="<i8"))}))
    got = load_state_dict(path)
    np.testing.assert_array_equal(got["model.w"], w)
    np.testing.assert_array_equal(got["model.b"], b)
    np.testing.assert_array_equal(got["h"], np.array([1.0, -2.0], np.float32))
    np.testing.assert_array_equal(got["n"], [0, 1, 2])
    blob = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[:-4])
    with pytest.raises(ConversionError, match="overruns"):
        load_state_dict(tmp_path / "cut.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", 4) + b"{{{{")
    with pytest.raises(ConversionError, match="not valid JSON"):
        load_state_dict(tmp_path / "bad.safetensors")


def test_safetensors_header_length_is_not_mistaken_for_a_pickle(tmp_path):
    # header lengths of 128 (0x80, the pickle PROTO opcode) or 99 ('c', GLOBAL) in the first byte
    for pad in range(0, 300):
        blob = _safetensors({"w": ("F32", np.ones(2, "<f4"))})
        n = struct.unpack("<Q", blob[:8])[0]
        if (n + pad) % 256 in (0x80, 0x63):
            text = blob[8:8 + n] + b" " * pad
            path = tmp_path / f"p{pad}.safetensors"
            path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n:])
            np.testing.assert_array_equal(load_state_dict(path)["w"], [1.0, 1.0])


def test_converter_runs_with_torch_import_blocked(tmp_path):
    from models.dvs import dvs_cnn

    ckpt = tmp_path / "dvs.pth"
    torch.save(dvs_cnn(2).state_dict(), ckpt)
    out = tmp_path / "model.h5"
    code = f"""
import sys
sys.modules['torch'] = None  # any 'import torch' now raises ImportError
from eventsim.cli import cli
from eventsim.convert import convert_checkpoint
convert_checkpoint({str(ckpt)!r}, 'dvs_cnn', 2, (2, 34, 34))
try:
    cli(['convert', {str(ckpt)!r}, '--arch', 'dvs_cnn', '-T', '2', '--input-shape', '2,34,34',
         '-o', {str(out)!r}], standalone_mode=False)
except SystemExit as exc:
    assert not exc.code, exc.code
assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]
print('ok')
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("ok")
    assert out.exists()



@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_tensors_roundtrip(tmp_path_factory, data):
    """Any dtype, shape, permutation and slice torch saves is read back exactly."""
    dtype = data.draw(st.sampled_from([torch.float64, torch.float32, torch.float16, torch.int64,
                                       torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]))
    shape = data.draw(st.lists(st.integers(1, 5), min_size=0, max_size=4))
    seed = data.draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    t = (torch.randn(shape, generator=g, dtype=torch.float64) * 50).to(dtype)
    if t.dim() >= 2:
        perm = data.draw(st.permutations(list(range(t.dim()))))
        t = t.permute(*perm)
    if t.dim() >= 1 and t.shape[0] > 1:
        t = t[1:]
    path = tmp_path_factory.mktemp("rt") / "t.pth"
    torch.save({"t": t, "nested": {"u": t * 0 if dtype != torch.bool else t}}, path)
    got = load_state_dict(path)
    np.testing.assert_array_equal(got["t"], t.numpy())
    assert got["t"].dtype == t.numpy().dtype and got["t"].shape == tuple(t.shape)
    assert "nested.u" in got


def test_shared_sub_dicts_are_walked_once(tmp_path):
    """A pickle that shares one sub-dict under two keys at 63 levels names 2^63 tensors; each
    dict is expanded once (its first place), so loading is linear in the pickle's size."""
    from tests.hostile import model_files as mf

    inner = {"x": torch.ones(2)}
    for _ in range(63):
        inner = {"a": inner, "b": inner}
    path = tmp_path / "dag.pth"
    torch.save(inner, path)
    state = load_state_dict(path)
    assert list(state) == ["a." * 63 + "x"]  # the first place of each shared dict, in key order
    cyclic = mf.pth_zip(tmp_path / "cyc.pth", mf.self_ref_pickle())
    with pytest.raises(ConversionError, match="no tensors"):
        load_state_dict(cyclic)
