"""Energy cost tables: per-operation energies in pJ, each with its source and process node.

A table prices the two operations eventsim counts: a multiply-accumulate (MAC, the encoder's and
an ANN's operation) and an accumulate (AC, one synaptic operation: one stored weight added to one
membrane). Energy = ``mac_pJ`` · MACs + ``ac_pJ`` · SOPs (DESIGN.md, "Reports").

The built-in tables are data with their citations; the figures were checked against the sources
(see ``docs/energy.md`` for what each figure does and does not include). User tables come from a
TOML or JSON file with the same fields, plus an optional ``memory`` section that replaces the
figures of the memory-aware model (``energy/memory.py``); anything missing, negative or
non-finite is a :class:`~eventsim.errors.ConfigError` naming the file and the field.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, brief
from ..network.limits import MAX_DEPTH, MAX_JSON_BYTES, check_depth, load_json
from ..network.sources import require_regular_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - on 3.10 only JSON tables can be read
    tomllib = None

HOROWITZ_2014 = ('M. Horowitz, "Computing\'s energy problem (and what we can do about it)", '
                 "IEEE International Solid-State Circuits Conference (ISSCC) 2014, pp. 10-14")
DAVIES_2018 = ('M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning", '
               "IEEE Micro 38(1):82-99, 2018")
MEROLLA_2014 = ('P. A. Merolla et al., "A million spiking-neuron integrated circuit with a scalable '
                'communication network and interface", Science 345(6197):668-673, 2014')

#: Horowitz (ISSCC 2014), 45 nm, 0.9 V: a 64-bit read from an 8 KB SRAM costs 10 pJ, i.e. 1.25 pJ/byte.
SRAM_8KB_PJ_PER_BYTE = 10.0 / 8


@dataclass(frozen=True)
class CostTable:
    """Per-operation energies of one technology, with the source they come from."""

    name: str  # short identifier used on the command line
    citation: str  # where the figures come from
    process: str  # process node (and voltage, where the source gives it)
    ac_pJ: float  # one accumulate = one synaptic operation (SOP)
    mac_pJ: float | None  # one multiply-accumulate; None: the source prices no MAC
    memory_pJ_per_byte: float | None = None  # optional: one byte read from weight memory
    weight_bytes: float | None = None  # bytes read per weight when memory is priced
    notes: str = ""  # what the figures include, how they were derived
    #: a user table's ``memory`` section: the memory-aware model's figures it replaces
    #: (``add_pJ``, ``mul_pJ``, ``word_bits``, ``sram``, ``source``; see ``energy/memory.py``)
    memory: dict | None = None

    def __post_init__(self) -> None:
        if (self.memory_pJ_per_byte is None) != (self.weight_bytes is None):
            raise ConfigError(f"energy table {self.name!r}: memory_pJ_per_byte and weight_bytes go together")

    def to_dict(self) -> dict:
        doc = {"name": self.name, "citation": self.citation, "process": self.process,
               "ac_pJ": self.ac_pJ, "mac_pJ": self.mac_pJ,
               "memory_pJ_per_byte": self.memory_pJ_per_byte, "weight_bytes": self.weight_bytes,
               "notes": self.notes}
        if self.memory is not None:
            doc["memory"] = self.memory
        return doc


def _horowitz(bits: str, mult: float, add: float, weight_bytes: int) -> CostTable:
    return CostTable(
        name=f"horowitz45-{bits}", citation=HOROWITZ_2014, process="45 nm, 0.9 V",
        ac_pJ=add, mac_pJ=round(mult + add, 6), memory_pJ_per_byte=SRAM_8KB_PJ_PER_BYTE,
        weight_bytes=weight_bytes,
        notes=f"{bits}: multiply {mult} pJ + add {add} pJ = MAC {round(mult + add, 6)} pJ; "
              "arithmetic only. Memory: 8 KB SRAM, 10 pJ per 64-bit read.")


#: Built-in tables, by name. The first is the default (fp32, as most SNN papers use).
BUILTIN_TABLES: dict[str, CostTable] = {t.name: t for t in (
    # Horowitz ISSCC 2014, 45 nm: FP mult 32b 3.7 / 16b 1.1; FP add 32b 0.9 / 16b 0.4;
    # int mult 32b 3.1 / 8b 0.2; int add 32b 0.1 / 8b 0.03 (pJ).
    _horowitz("fp32", 3.7, 0.9, 4),
    _horowitz("fp16", 1.1, 0.4, 2),
    _horowitz("int8", 0.2, 0.03, 1),
    _horowitz("int32", 3.1, 0.1, 4),
    CostTable(
        name="loihi-2018", citation=DAVIES_2018, process="Intel 14 nm FinFET, 0.75 V",
        ac_pJ=23.6, mac_pJ=None,
        notes="Energy per synaptic spike op (min), from the paper's pre-silicon energy table "
              "(simulation, not a chip measurement); excludes spike routing (1.7 pJ within a tile, "
              "3.0/4.0 pJ per tile hop) and neuron updates (52 pJ inactive / 81 pJ active). "
              "The chip has no MAC: MACs are priced with the default table."),
    CostTable(
        name="truenorth-2014", citation=MEROLLA_2014, process="Samsung 28 nm LPP, 0.775 V",
        ac_pJ=26.0, mac_pJ=None,
        notes="Total (passive plus active) chip energy per synaptic event, measured at one "
              "operating point (neurons firing at 20 Hz, 128 active synapses each, 72 mW): "
              "leakage, routing and neuron updates are inside it. The chip has no MAC: MACs are "
              "priced with the default table."),
)}

DEFAULT_TABLE = "horowitz45-fp32"

#: Above this a cost is not a real operation's (the largest built-in figure is 26 pJ); it would
#: only make energies overflow to infinity once multiplied by billions of operations.
MAX_COST_PJ = 1e6
MAX_WEIGHT_BYTES = 1024

_REQUIRED = ("name", "citation", "process", "ac_pJ", "mac_pJ")
_OPTIONAL_NUMBERS = ("memory_pJ_per_byte", "weight_bytes")
_KNOWN = set(_REQUIRED) | set(_OPTIONAL_NUMBERS) | {"notes", "memory"}


def default_table() -> CostTable:
    return BUILTIN_TABLES[DEFAULT_TABLE]


def mac_pricing(table: CostTable) -> tuple[CostTable, float]:
    """The table that prices MACs for ``table``, and its MAC energy: ``table`` itself, or the
    default table when ``table`` is a chip's per-SOP figure without a MAC."""
    mac_table = table if table.mac_pJ is not None else default_table()
    if mac_table.mac_pJ is None:  # not for the packaged default (Horowitz prices a MAC)
        raise ConfigError(f"neither table {table.name!r} nor the default {mac_table.name!r} prices a MAC")
    return mac_table, mac_table.mac_pJ


def _energy(raw: dict, key: str, where: str) -> float:
    """Field ``key`` as a finite number in [0, cap] (an energy in pJ, or a byte count)."""
    what = "a byte count" if key == "weight_bytes" else "an energy"
    cap = MAX_WEIGHT_BYTES if key == "weight_bytes" else MAX_COST_PJ
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: field {key!r} must be a number ({what}), got {brief(value)}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range
        value = math.inf
    if not math.isfinite(value) or not 0 <= value <= cap:
        raise ConfigError(f"{where}: field {key!r} must be a finite {what.split()[-1]} in [0, {cap:g}], "
                          f"got {brief(value)}")
    return value


def table_from_dict(raw: dict, where: str = "energy table") -> CostTable:
    """Validate a table given as a mapping (the content of a TOML/JSON file)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of fields, got {type(raw).__name__}")
    for key in _REQUIRED:
        if key not in raw:
            raise ConfigError(f"{where}: missing field {key!r} (required: {', '.join(_REQUIRED)})")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})")
    for key in ("name", "citation", "process"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ConfigError(f"{where}: field {key!r} must be a non-empty string")
    if "notes" in raw and not isinstance(raw["notes"], str):
        raise ConfigError(f"{where}: field 'notes' must be a string")
    optional = {k: _energy(raw, k, where) for k in _OPTIONAL_NUMBERS if k in raw}
    if ("memory_pJ_per_byte" in optional) != ("weight_bytes" in optional):
        raise ConfigError(f"{where}: fields 'memory_pJ_per_byte' and 'weight_bytes' go together")
    table = CostTable(name=raw["name"].strip(), citation=raw["citation"].strip(),
                      process=raw["process"].strip(), ac_pJ=_energy(raw, "ac_pJ", where),
                      mac_pJ=_energy(raw, "mac_pJ", where), notes=raw.get("notes", ""),
                      memory=raw.get("memory"), **optional)
    if table.memory is not None:
        # checked now, with the file's name, not when the first report is priced; a local import
        # because the memory model builds on this module's tables
        from .memory import MemoryCosts

        MemoryCosts.for_table(table, table.memory, where=where)
    return table


def load_table_file(path: str | os.PathLike) -> CostTable:
    """Read a user table from a ``.toml`` or ``.json`` file (decided by the extension)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ConfigError(f"{path}: an energy table file must end in .toml or .json")
    require_regular_file(path, "an energy table", ConfigError)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read energy table ({exc.strerror or exc})") from None
    if len(data) > MAX_JSON_BYTES:
        raise ConfigError(f"{path}: an energy table larger than {MAX_JSON_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")  # a BOM from an editor is not part of the table
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if suffix == ".json":
        try:
            raw = load_json(text, "the energy table")
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    else:
        raw = _load_toml(path, text)
    return table_from_dict(raw, where=f"energy table {path}")


def _load_toml(path: Path, text: str):
    if tomllib is None:
        raise ConfigError(f"{path}: reading TOML needs Python >= 3.11 (use a .json table)")
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{path}: the energy table is nested more than {MAX_DEPTH} levels deep") from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({brief(str(exc), 80)})") from None
    try:
        check_depth(raw, "the energy table")
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return raw


def get_table(spec: str | CostTable | None) -> CostTable:
    """A built-in table by name, a user table from a file path, or the default for None."""
    if spec is None:
        return default_table()
    if isinstance(spec, CostTable):
        return spec
    if spec in BUILTIN_TABLES:
        return BUILTIN_TABLES[spec]
    if os.path.splitext(spec)[1].lower() in (".toml", ".json") or os.path.exists(spec):
        return load_table_file(spec)
    raise ConfigError(f"unknown energy table {spec!r} (built-in: {', '.join(BUILTIN_TABLES)}; "
                      "or give a .toml/.json file)")
