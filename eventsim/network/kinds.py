"""The registry of neuron and projection kinds: what each kind is, in one place.

A kind string is a stable identifier stored in ``model.h5``; it never depends on a class name.
Each entry says what the rest of eventsim needs to know without a chain of ``if kind == ...``:
which population parameters the kind has (so the IR validates them and ``h5io`` writes and
reads exactly those), which state variables a neuron keeps, what values its spikes take (the
multiplication-free audit), which kernel code the engine runs it with, and the first
``model.h5`` format version that can hold it. The update equations are in each entry's
``rule``; the executable definition is ``engine/reference.py`` (float) and
``engine/reference_int.py`` (integer), with the fast twins in ``engine/kernels*.py``.

Adding a neuron kind: one :class:`NeuronKind` here, its step in the two references, its update
kernels (float and, if it has an int mode, integer), tests. See DESIGN.md "Adding a neuron kind".
"""

from __future__ import annotations

from dataclasses import dataclass

# Population parameters an entry may list (Population fields of the same name):
#   threshold θ, decay λ (membrane), syn_decay α (synaptic current), reset, v_min, multi_spike.
PARAMETERS = ("threshold", "decay", "syn_decay", "reset", "v_min", "multi_spike")

# engine kernel codes (``engine/kernels*.py`` mirror them as module constants)
CODE_INPUT, CODE_TERNARY, CODE_BINARY, CODE_LIF, CODE_READOUT, CODE_CUBA = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class NeuronKind:
    """One population kind."""

    name: str  # stable string stored in model.h5
    code: int  # CODE_*: which update kernel the engine runs
    params: tuple[str, ...]  # Population parameters the kind has (subset of PARAMETERS)
    state: tuple[str, ...]  # per-neuron state variables ("v": membrane, "i": synaptic current)
    emits: str  # the values one neuron's spike can take in one step ("" for non-spiking kinds)
    rule: str  # the update of one step (documentation; the references are the definition)
    fixed_decay: float | None = None  # a kind whose λ is fixed ("if": 1)
    since_version: int = 1  # first model.h5 format_version that can hold this kind

    @property
    def spiking(self) -> bool:
        return bool(self.emits)

    @property
    def signed(self) -> bool:
        """Its spikes carry a sign (a queue entry needs a sign bit)."""
        return self.emits.startswith("{-")


@dataclass(frozen=True)
class ProjectionKind:
    """One projection kind."""

    name: str  # stable string stored in model.h5
    code: int  # engine scatter kernel (PROJ_* in engine/plan.py)
    weighted: bool  # carries a ``weight`` dataset
    spatial: bool  # needs a (C,H,W) source; has stride/padding
    applies: str  # how one spike is applied (the multiplication-free audit)


_UNIT = "{0, +1}"
NEURON_KINDS: dict[str, NeuronKind] = {k.name: k for k in (
    NeuronKind("input", CODE_INPUT, (), (), "", "holds the input (event counts or analog values)"),
    NeuronKind("ternary_lif", CODE_TERNARY, ("threshold", "decay", "reset", "v_min"), ("v",),
               "{-1, 0, +1}", "v = λ·v + I; s = +1 if v >= θ, −1 if v <= −θ; reset where s != 0"),
    NeuronKind("binary_lif", CODE_BINARY, ("threshold", "decay", "reset", "v_min"), ("v",), _UNIT,
               "v = λ·v + I; s = 1 if v > θ; reset where s = 1"),
    NeuronKind("lif", CODE_LIF, ("threshold", "decay", "reset", "v_min", "multi_spike"), ("v",), _UNIT,
               "v = λ·v + I; s = 1 (or floor(v/θ) with multi_spike) if v >= θ; reset where s > 0"),
    NeuronKind("if", CODE_LIF, ("threshold", "decay", "reset", "v_min", "multi_spike"), ("v",), _UNIT,
               "lif with λ = 1", fixed_decay=1.0),
    NeuronKind("cuba_lif", CODE_CUBA, ("threshold", "decay", "syn_decay", "reset"), ("i", "v"), _UNIT,
               "r = v > θ (spiked last step); i = α·i + I; v = λ·v + i; then where r: v −= θ "
               "(subtract) or v = 0 (zero); s = 1 if v > θ", since_version=3),
    NeuronKind("readout", CODE_READOUT, (), ("v",), "", "v = v + I; never spikes; the output is v"),
)}

PROJECTION_KINDS: dict[str, ProjectionKind] = {k.name: k for k in (
    ProjectionKind("conv2d", 0, True, True, "adds/subtracts a stored kernel row per tap"),
    ProjectionKind("dense", 1, True, False, "adds/subtracts a stored row"),
    ProjectionKind("identity", 2, False, False, "adds/subtracts the stored per-channel scale"),
    ProjectionKind("sumpool2d", 3, False, True, "adds/subtracts the stored unit weight per window"),
)}

SPIKING_KINDS = tuple(n for n, k in NEURON_KINDS.items() if k.spiking)


def neuron_kind(name: str) -> NeuronKind:
    """The registry entry of population kind ``name`` (KeyError when unknown)."""
    return NEURON_KINDS[name]
