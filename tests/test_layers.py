"""The dependency direction of DESIGN.md, checked on the import graph of the package.

cli -> eval / validate / energy -> engine -> inputs -> network -> events, errors;  convert -> network.
errors, files and jit (the Numba options) sit below every layer.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "eventsim"

# what each top-level part of the package may import (besides itself)
BASE = {"errors", "files", "jit"}  # usable from every layer
#: base modules that import nothing from eventsim, not even each other
LEAVES = {"errors", "jit"}
ALLOWED = {
    "errors": set(),
    "files": set(),
    "jit": set(),
    "events": {"errors"},
    "network": {"events", "errors"},
    "inputs": {"network", "events", "errors"},
    "engine": {"inputs", "network", "events", "errors"},
    "convert": {"network", "events", "errors"},
    "energy": {"inputs", "engine", "network", "events", "errors"},
    "validate": {"inputs", "engine", "network", "events", "errors", "energy"},
    "eval": {"inputs", "engine", "network", "events", "errors", "energy"},
    "bench": {"inputs", "engine", "network", "events", "errors"},
    "cli": {"inputs", "eval", "validate", "energy", "engine", "network", "events", "errors", "convert",
            "data", "bench"},
    "data": set(),
    "__main__": {"cli"},  # python -m eventsim: the command line and nothing else
}


def _part(module_parts: list[str]) -> str:
    name = module_parts[0] if module_parts else ""
    return name[:-3] if name.endswith(".py") else name


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(PKG).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-node.level]) if node.level <= len(rel) else []
                mod = base + (node.module.split(".") if node.module else [])
                if not mod:  # "from .. import x": x are submodules of the package
                    for alias in node.names:
                        yield [alias.name]
                    continue
                yield mod
            elif node.module and node.module.startswith("eventsim."):
                yield node.module.split(".")[1:]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("eventsim."):
                    yield alias.name.split(".")[1:]


def test_no_import_goes_against_the_layering():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts == ("__init__.py",):
            continue  # the lazy public API table
        own = _part(list(rel.parts))
        if own not in ALLOWED:
            bad.append(f"{rel}: part {own!r} is not in the layering table")
            continue
        for mod in _imports(path):
            other = _part(mod)
            if other in ("", "__init__") or other == own:
                continue
            if not (PKG / other).is_dir() and not (PKG / f"{other}.py").is_file():
                continue  # an attribute of eventsim/__init__ (e.g. __version__)
            if other not in ALLOWED[own] | BASE:
                bad.append(f"{rel} imports eventsim.{'.'.join(mod)} ({own} -> {other})")
    assert not bad, "\n".join(bad)


def test_leaf_modules_import_nothing_from_eventsim():
    bad = [f"{name}.py imports eventsim.{'.'.join(mod)}" for name in sorted(LEAVES)
           for mod in _imports(PKG / f"{name}.py")]
    assert not bad, "\n".join(bad)


#: the oracles: only the engine (its integer twin shares exact arithmetic) and validate use them
ORACLES = {("engine", "reference"), ("engine", "reference_int")}


def test_only_validate_imports_the_oracles():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        own = _part(list(rel.parts))
        if own in ("engine", "validate"):
            continue
        bad += [f"{rel} imports eventsim.{'.'.join(mod)}" for mod in _imports(path)
                if tuple(mod[:2]) in ORACLES]
    assert not bad, "\n".join(bad)


def test_only_the_dense_benchmark_imports_torch():
    """torch is an optional extra: one module holds the PyTorch side, imported only when needed."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module and not n.level]
        if any(name.split(".")[0] == "torch" for name in names):
            bad.append(str(path.relative_to(PKG)))
    assert bad == ["bench/dense.py"]


def test_import_eventsim_is_light():
    import subprocess
    import sys

    heavy = "('numba', 'h5py', 'torch', 'matplotlib', 'scipy')"
    code = f"import eventsim, sys; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
