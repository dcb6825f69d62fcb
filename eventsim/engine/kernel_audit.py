"""Machine check of "no multiplication on data values" in the LLVM IR Numba generates.

The audited kernels are recompiled from their Python source with the engine's Numba options
(``jit.JIT_OPTIONS``, cache off: Numba cannot show the IR of cached code) for the exact
signatures the integer engine uses, and every multiplication-like instruction of the
optimised IR is classified:

- multiplication-like: ``mul``, ``sdiv``, ``udiv``, ``srem``, ``urem`` (integer; also as
  vectors), ``fmul``, ``fdiv``, ``frem``, and the intrinsics ``*mul.with.overflow``,
  ``fma``, ``fmuladd``.
- **on data** when it computes a value that ends up in a data array -- membranes ``v``,
  currents ``cur``, weights ``wt``/``scale``, ``bias``: the instruction lies in the backward
  value slice of a ``store`` whose address derives (through ``getelementptr``/``phi``/
  ``select``) from such an array's data pointer. The slice follows value operands through
  arithmetic, casts, ``phi``, ``select`` and intrinsic calls, and into callees (a scalar
  parameter a callee stores into a data array pulls the caller's argument into the slice);
  it stops at loads (a loaded value is a leaf, its address is not data), at
  ``getelementptr`` (address arithmetic), at arguments and constants. Every floating-point
  multiplication is counted as on data, wherever it is.
- otherwise **address** arithmetic (index computations from loop counters, strides, spike
  indices: they only reach addresses and branch conditions) or **bookkeeping** (they reach a
  store into a counter array -- SOP and spike counts -- or the return value).

Array names are Numba's argument names (``%arg.<name>.4`` is the data pointer of argument
``<name>``), so the rule needs the kernels to keep the parameter names listed in
:data:`DATA_ARRAYS`.

Which kernels and signatures: every serial kernel the integer engine runs declares, with
:func:`audited` next to its definition, the argument types the engine calls it with
(:data:`AUDITED`). A test runs the integer engine on every kind and fails when a kernel took
integer data it did not declare, so a new kernel cannot be left out of the audit.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numba
from numba import types as nbt

from ..jit import JIT_OPTIONS

DATA_ARRAYS = ("v", "syn", "cur", "wt", "scale", "bias")
INT_OPS = ("mul", "sdiv", "udiv", "srem", "urem")
FLOAT_OPS = ("fmul", "fdiv", "frem")
MUL_INTRINSICS = ("mul.with.overflow", "llvm.fma.", "llvm.fmuladd.")

_NAME = r'%(?:"[^"]*"|[-\w$.]+)'
_DEFINE = re.compile(r"^define [^@]*@(\"[^\"]+\"|[\w.$]+)\((.*)\)[^)]*\{\s*$")
_ASSIGN = re.compile(rf"^\s*({_NAME}) = (.*)$")
_STORE = re.compile(rf"^\s*store (?:volatile )?(.+?) ({_NAME}|[-\w.]+), ptr ({_NAME})")
_CALL = re.compile(r"call [^@]*@(\"[^\"]+\"|[\w.$]+)\((.*)\)")
_NAME_RE = re.compile(_NAME)
_ARG_ARRAY = re.compile(r'^%"?arg\.([A-Za-z_]\w*)\.\d+')


#: the integer kernels the audit covers: dispatcher -> argument types the integer engine calls it with
AUDITED: dict = {}

#: 1-D C-contiguous arrays of the integer engine
I8, I16, I32, I64 = (nbt.Array(t, 1, "C") for t in (nbt.int8, nbt.int16, nbt.int32, nbt.int64))
#: the current buffers: int32 when no step can overflow them, else int64 (``modes.IntMode``)
CURRENTS = (I32, I64)


def audited(*signatures):
    """Declare the decorated kernel as run by the integer engine with these argument-type tuples
    (see :func:`per_current`); the LLVM audit recompiles it for exactly these."""
    if not signatures:
        raise ValueError("audited: no signature given")

    def register(dispatcher):
        AUDITED[dispatcher] = tuple(tuple(sig) for sig in signatures)
        return dispatcher
    return register


def per_current(make) -> list[tuple]:
    """``make(cur)`` for each current width the integer engine may use."""
    return [make(cur) for cur in CURRENTS]


def audited_signatures(dispatcher) -> tuple:
    """The declared signatures of an integer kernel (KeyError when it declares none)."""
    return AUDITED[dispatcher]


@dataclass
class Finding:
    """One multiplication-like instruction of an audited kernel."""

    kernel: str  # Python name of the kernel (or callee) it was found in
    signature: str  # Numba signature audited
    kind: str  # "data", "address" or "bookkeeping"
    line: str  # the LLVM instruction


@dataclass
class KernelAudit:
    """The audit of a set of kernels."""

    kernels: list[str] = field(default_factory=list)  # "name(signature)" audited
    findings: list[Finding] = field(default_factory=list)
    # kernel name -> stores into data arrays found; 0 means the audit could not see the kernel's
    # data (renamed parameters?) and proves nothing about it
    data_stores: dict[str, int] = field(default_factory=dict)

    @property
    def data(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "data"]

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def to_dict(self) -> dict:
        return {"kernels": self.kernels, "data_stores": self.data_stores,
                "data_multiplications": [vars(f) for f in self.data],
                "address_arithmetic": self.count("address"), "bookkeeping": self.count("bookkeeping"),
                "rule": "a mul/div/rem/fmul is on data when it lies in the backward value slice of "
                        f"a store into one of the arrays {', '.join(DATA_ARRAYS)} (loads, "
                        "getelementptr, arguments and constants end the slice); all float "
                        "multiplications count as data"}


@dataclass
class _Function:
    name: str
    params: list[str]  # parameter value names in order
    defs: dict[str, str] = field(default_factory=dict)  # value name -> instruction text
    lines: list[str] = field(default_factory=list)


def _split_top(text: str) -> list[str]:
    """Split an argument list at commas outside parentheses/brackets/braces."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def _last_value(arg: str) -> str:
    names = _NAME_RE.findall(arg)
    return names[-1] if names else ""


def parse_module(ir: str) -> dict[str, _Function]:
    """Functions of an LLVM module (text), with their instructions indexed by result name."""
    funcs: dict[str, _Function] = {}
    cur: _Function | None = None
    for raw in ir.splitlines():
        line = raw.split(";", 1)[0].rstrip()
        if cur is None:
            m = _DEFINE.match(raw.strip())
            if m:
                cur = _Function(m.group(1), [_last_value(p) for p in _split_top(m.group(2))])
                funcs[cur.name] = cur
            continue
        if raw.startswith("}"):
            cur = None
            continue
        if not line.strip() or line.rstrip().endswith(":"):
            continue
        cur.lines.append(line.strip())
        m = _ASSIGN.match(line)
        if m:
            cur.defs[m.group(1)] = m.group(2)
    return funcs


def _opcode(text: str) -> str:
    return text.split(" ", 1)[0]


def _is_mul(text: str) -> bool:
    op = _opcode(text)
    if op in INT_OPS or op in FLOAT_OPS:
        return True
    if op in ("call", "tail"):
        m = _CALL.search(text)
        return m is not None and any(k in m.group(1) for k in MUL_INTRINSICS)
    return False


def _base_array(fn: _Function, ptr: str) -> str | None:
    """Name of the array argument whose data pointer ``ptr`` derives from (or None)."""
    seen, todo = set(), [ptr]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        m = _ARG_ARRAY.match(p)
        if m:
            return m.group(1)
        text = fn.defs.get(p)
        if text is None:
            continue
        op = _opcode(text)
        if op == "getelementptr":
            names = _NAME_RE.findall(text)
            if names:
                todo.append(names[0])
        elif op in ("phi", "select", "bitcast", "freeze"):
            todo.extend(_NAME_RE.findall(text))
    return None


def _slice(fn: _Function, roots: list[str]) -> set[str]:
    """Value names in the backward value slice of ``roots`` (see module docstring)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = fn.defs.get(name)
        if text is None:
            continue
        op = _opcode(text)
        if op in ("load", "getelementptr", "alloca"):
            continue
        if op in ("call", "tail"):
            m = _CALL.search(text)
            if not m:
                continue
            args = [_last_value(a) for a in _split_top(m.group(2))]
            if m.group(1).startswith("llvm."):
                todo.extend(a for a in args if a)
            continue
        todo.extend(_NAME_RE.findall(text.split(" ", 1)[1] if " " in text else ""))
    return seen


def _call_sink_args(fn: _Function, sinks: dict[str, set[int]]) -> list[str]:
    """Caller operands passed at callee parameter positions that reach a data store."""
    out = []
    for line in fn.lines:
        m = _CALL.search(line)
        if m and m.group(1) in sinks:
            args = [_last_value(a) for a in _split_top(m.group(2))]
            out += [args[i] for i in sinks[m.group(1)] if i < len(args) and args[i]]
    return out


def _data_roots(fn: _Function) -> tuple[list[str], list[str]]:
    """(values stored into data arrays, values stored elsewhere or returned)."""
    data: list[str] = []
    other: list[str] = []
    for line in fn.lines:
        m = _STORE.match(line)
        if m:
            ty, value, ptr = m.groups()
            if ty.strip() == "ptr":
                continue
            (data if _base_array(fn, ptr) in DATA_ARRAYS else other).append(value)
        elif line.startswith("ret ") and _NAME_RE.search(line):
            other.append(_NAME_RE.findall(line)[-1])
    return data, other


def count_data_stores(ir: str) -> int:
    """Stores into data arrays in a kernel's module (wrappers excluded)."""
    return sum(len(_data_roots(fn)[0]) for fn in _kernel_functions(ir).values())


def _kernel_functions(ir: str) -> dict[str, _Function]:
    return {n: f for n, f in parse_module(ir).items()
            if not n.startswith(("cpython.", "cfunc.", "\"cpython.", "\"cfunc.", "NRT_", "nrt_"))}


def audit_module(ir: str, kernel: str, signature: str) -> list[Finding]:
    """Classify every multiplication-like instruction of one compiled kernel's module."""
    funcs = _kernel_functions(ir)
    # callee first: which scalar parameters of each function reach a data store
    sinks: dict[str, set[int]] = {}
    for _ in range(len(funcs) + 1):
        for name, fn in funcs.items():
            data, _other = _data_roots(fn)
            sl = _slice(fn, data + _call_sink_args(fn, sinks))
            sinks[name] = {i for i, p in enumerate(fn.params) if p in sl}
    findings = []
    for name, fn in funcs.items():
        data, other = _data_roots(fn)
        on_data = _slice(fn, data + _call_sink_args(fn, sinks))
        bookkeeping = _slice(fn, other)
        label = _short_name(name) or kernel
        for value, text in fn.defs.items():
            if not _is_mul(text):
                continue
            floating = _opcode(text) in FLOAT_OPS or "fma" in text
            kind = "data" if value in on_data or floating else \
                "bookkeeping" if value in bookkeeping else "address"
            findings.append(Finding(label, signature, kind, f"{value} = {text}"))
    return findings


def _short_name(mangled: str) -> str:
    """``_ZN8eventsim6engine7kernels8_add_rowB2v5...`` -> ``_add_row`` (Itanium nested name)."""
    m = re.match(r"_ZN(.*)", mangled.strip('"'))
    text, names = (m.group(1) if m else ""), []
    while (length := re.match(r"\d+", text)) is not None:
        n = length.group(0)
        names.append(text[len(n):len(n) + int(n)])
        text = text[len(n) + int(n):]
    return names[-1] if names else ""


def audit_dispatcher(dispatcher, signatures) -> KernelAudit:
    """Recompile ``dispatcher``'s Python function for ``signatures`` and audit its IR."""
    fresh = numba.njit(**{**JIT_OPTIONS, "cache": False})(dispatcher.py_func)
    audit = KernelAudit()
    for sig in signatures:
        fresh.compile(sig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modules = fresh.inspect_llvm()
    for sig, ir in modules.items():
        name = dispatcher.py_func.__name__
        audit.kernels.append(f"{name}{sig}")
        audit.findings += audit_module(ir, name, str(sig))
        audit.data_stores[name] = audit.data_stores.get(name, 0) + count_data_stores(ir)
    return audit
