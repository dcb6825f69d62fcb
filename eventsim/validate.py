"""``eventsim validate``: proof that a deployed network needs no multiplications.

:func:`validate` runs a list of checks and returns a :class:`ValidationReport`; a check has a
status ``pass``, ``fail``, ``warn`` (a listed exception, a failure under ``strict``) or
``info`` (a measurement). Checks:

Static, on the compiled plan (no input needed):
- ``spike-values``: every spiking population emits values in {−1, 0, +1}. A multi-spike
  population (``floor(v/θ)`` spikes, sinabs style) is a **failure**: its spikes are integers
  > 1 (the engine applies them as repeated additions, but the net is not a Ternary Spike net,
  and an unfolded amplitude would hide there).
- ``weights-only``: every projection is applied by adding/subtracting stored weights (conv and
  dense rows, the per-channel scale of an identity -- a folded α --, the 1 of a sum-pool); no
  amplitude, BatchNorm or pooling factor is applied at run time. The converter's recorded
  folds are listed.
- ``decay``: λ = 1 needs nothing, λ = 2^-m is a shift, λ = 0 a reset; any other λ is one
  multiplication per neuron per step: ``warn``, or ``fail`` with ``strict``.
- ``encoder``: the encoder's MACs (frame input), listed apart; zero for event input.
- ``quantisation``: the int scale of every population and its error; any clipped weight fails.

Dynamic, on one input (a file, or a seeded random one):
- ``float64-vs-reference``: engine spikes, spike counts and SOPs identical to
  ``engine/reference.py`` at every layer and step, outputs within 1e-9 (relative).
- ``float32-agreement``: the float32 engine's spike agreement with the reference (reported).
- ``observed-spikes``: the spike values seen at every layer are in {−1, 0, +1}.
- ``int-vs-int-reference``: the integer engine and the integer reference agree bit for bit.
- ``int-saturation``: no membrane hit the int32 limits.
- ``int-vs-float``: prediction and spike agreement of the int engine with the float64 reference.

Kernel audit (``kernel-audit``): the LLVM IR of the integer kernels this model uses, checked
by :mod:`eventsim.engine.kernel_audit` for multiplications on data values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from numba import types as nbt

from .engine import kernels, kernels_int
from .engine.kernel_audit import KernelAudit, audit_dispatcher
from .engine.modes import IntPlan, compile_int_plan
from .engine.quantize import DECAY_MULTIPLY, decay_code, quantize
from .engine.reference import forward
from .engine.reference_int import forward_int
from .engine.simulator import Simulator
from .errors import InputFormatError, ValidationError
from .events.binning import dense_counts
from .inputs import InputSpec, prepare_file
from .network.counts import dense_macs
from .network.ir import Network
from .network.kinds import PROJECTION_KINDS

PASS, FAIL, WARN, INFO = "pass", "fail", "warn", "info"
SCHEMA = "eventsim.validate/1"


@dataclass
class Check:
    """One validation check and its outcome."""

    name: str  # stable identifier, e.g. "spike-values"
    status: str  # PASS, FAIL, WARN or INFO
    summary: str  # one line
    details: list[str] = field(default_factory=list)  # offending items / measurements
    fix: str = ""  # what to do when it fails


@dataclass
class ValidationReport:
    """All checks of one validation run."""

    model: str
    strict: bool
    input: dict  # what input the dynamic checks used
    checks: list[Check] = field(default_factory=list)
    quantisation: dict = field(default_factory=dict)
    kernel_audit: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def passed(self) -> bool:
        return not self.failed

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "model": self.model, "strict": self.strict, "input": self.input,
                "passed": self.passed, "checks": [vars(c).copy() for c in self.checks],
                "quantisation": self.quantisation, "kernel_audit": self.kernel_audit}


# -- static checks ------------------------------------------------------------------------
def check_spike_values(net: Network) -> Check:
    spiking = [p for p in net.ordered_populations() if p.spiking]
    bad = [p for p in spiking if p.multi_spike]
    multi = "{0, 1, 2, ...} (multi-spike floor(v/θ))"
    details = [f"{p.name} ({p.kind}): emits {multi if p.multi_spike else p.kind_info.emits}" for p in spiking]
    if net.input.kind == "events":
        details.insert(0, f"input: every event is one {'+1' if net.input.polarity == 'split' else '±1'} "
                          "spike (n events at a pixel are n additions)")
    if bad:
        names = ", ".join(repr(p.name) for p in bad)
        return Check("spike-values", FAIL, f"{len(bad)} population(s) emit multi-valued spikes: {names}",
                     details, fix="a spike of value n > 1 carries an amplitude: fold it into the weights of "
                                  "the consuming projections and convert the layer without multi_spike "
                                  "(ternary_lif/binary_lif/lif emit unit spikes)")
    return Check("spike-values", PASS, f"all {len(spiking)} spiking populations emit values in {{-1, 0, +1}}",
                 details)


def check_weights_only(iplan: IntPlan) -> Check:
    """Every projection of the compiled integer plan adds stored integer weights, nothing else."""
    net = iplan.qnet.network
    details, bad = [], []
    for q, planned, w in zip(net.projections, iplan.plan.projections, iplan.weights):
        where = f"{q.name} ({q.kind}, {q.source} -> {q.target})"
        if planned.encoder:
            details.append(f"{where}: analog encoder, MACs (see 'encoder')")
            continue
        if w.dtype != np.int16 or w.size == 0:
            bad.append(f"{where}: runs without a stored int16 weight array ({w.dtype}, {w.size} values)")
            continue
        extra = " (a folded α)" if q.kind == "identity" and q.scale is not None else ""
        details.append(f"{where}: {PROJECTION_KINDS[q.kind].applies}{extra}; {w.size:,} stored int16 weights")
    folds = net.provenance.get("folds") or []
    if folds:
        kinds: dict[str, int] = {}
        for f in folds:
            kinds[str(f.get("fold", "?"))] = kinds.get(str(f.get("fold", "?")), 0) + 1
        details.append("folds recorded by the converter: " + ", ".join(f"{k} x{n}" for k, n in kinds.items()))
    if bad:
        return Check("weights-only", FAIL,
                     f"{len(bad)} projection(s) are not plain additions of stored weights", bad + details,
                     fix="fold every scale into the projection's weights")
    n = sum(1 for q in iplan.plan.projections if not q.encoder)
    return Check("weights-only", PASS, f"{n} projections applied by additions of stored weights; no runtime "
                 "amplitude, BN or pooling scale", details)


def check_decays(net: Network, strict: bool) -> Check:
    details, mults = [], []
    for p in net.ordered_populations():
        if not p.spiking:
            continue
        # the membrane's λ, and a cuba_lif's synaptic α (same rule, on the synaptic current)
        for sym, var, decay in (("λ", "v", p.decay), ("α", "i", p.syn_decay)):
            if decay is None:
                continue
            code, param = decay_code(decay)
            how = {0: f"none ({sym} = 1)", 1: f"shift {var} >> {param}", 2: f"{var} = 0"}.get(code)
            if code == DECAY_MULTIPLY:
                how = f"MULTIPLY by {sym} = {decay:g}: {p.size:,} multiplications per step"
                mults.append((p, sym, decay))
            details.append(f"{p.name}: {sym} = {decay:g} -> {how}")
    if mults:
        names = ", ".join(f"{p.name!r} ({sym} = {decay:g})" for p, sym, decay in mults)
        return Check("decay", FAIL if strict else WARN,
                     f"{len(mults)} population(s) decay by a non-power-of-two λ, a per-neuron "
                     f"multiplication each step: {names}", details,
                     fix="retrain/convert with λ a power of two (Ternary Spike uses 0.25) or λ = 1"
                         + ("" if strict else "; listed as an exception (fails with --strict)"))
    return Check("decay", PASS, "every decay is a shift, a reset or a no-op", details)


def check_encoder(net: Network, timesteps: int) -> Check:
    if net.input.kind == "events":
        return Check("encoder", PASS, "event input: 0 encoder MACs (every input is an event)")
    details, total = [], 0
    for q in net.projections:
        if q.source == "input":
            n = dense_macs(q, net.input_shape, net.population(q.target).shape)
            total += n
            details.append(f"{q.name} ({q.kind}): {n:,} MACs per step")
    return Check("encoder", INFO, f"analog encoder: {total:,} MACs per step, {total * timesteps:,} over "
                 f"T = {timesteps} (counted as MACs, never as SOPs)", details)


def check_quantisation(qnet) -> Check:
    rep = qnet.report
    details = [f"{e.name}: scale 2^{e.frac_bits}, weight error {e.weight_abs_error:.3g} "
               f"(rel {e.weight_rel_error:.2g}), threshold error {e.threshold_error:.3g}, decay {e.decay}"
               + (f", {e.clipped} clipped" if e.clipped else "") for e in rep.populations]
    if rep.clipped:
        return Check("quantisation", FAIL, f"{rep.clipped} weight(s) clipped to int16", details,
                     fix="the forced scale is too large for the weights: let quantize choose it")
    worst = max((e.weight_rel_error for e in rep.populations), default=0.0)
    return Check("quantisation", PASS, f"int16 weights / int32 membranes, power-of-two scale per population; "
                 f"largest relative weight error {worst:.2g}, nothing clipped", details)


# -- dynamic checks -----------------------------------------------------------------------
@dataclass
class Inputs:
    """One input for the dynamic checks: event counts or frames, ``(T, C, H, W)``."""

    pos: np.ndarray  # +1 counts (events) or analog values (frames)
    neg: np.ndarray | None  # −1 counts (signed events) or None
    description: dict


def random_inputs(net: Network, timesteps: int | None = None, seed: int = 0, density: float = 0.1) -> Inputs:
    """A seeded random input: Poisson event counts (``density`` per pixel and step) or frames in [0, 1)."""
    steps = int(timesteps or net.timesteps)
    rng = np.random.default_rng(seed)
    shape = (steps,) + tuple(net.input_shape)
    desc = {"kind": "random", "seed": seed, "timesteps": steps}
    if net.input.kind == "frames":
        frame = rng.random(net.input_shape)
        return Inputs(np.repeat(frame[None], steps, axis=0), None, {**desc, "frames": "uniform [0, 1)"})
    pos = rng.poisson(density, shape)
    neg = rng.poisson(density, shape) if net.input.polarity == "signed" else np.zeros(shape, np.int64)
    return Inputs(pos, neg, {**desc, "density": density, "events": int(pos.sum() + neg.sum())})


def inputs_from_file(net: Network, path: str | os.PathLike, timesteps: int | None = None,
                     bin_us: int | None = None) -> Inputs:
    """An event recording or a .npy/.png frame as the input of the dynamic checks, read as
    ``eventsim run`` reads it (:mod:`eventsim.inputs`, the model's polarity): events binned into
    ``timesteps`` equal-time steps (default the model's T), or into windows of ``bin_us``
    microseconds (exactly ``timesteps`` of them when both are given).
    """
    path = os.fspath(path)
    try:
        prepared = prepare_file(path, net, InputSpec(timesteps=timesteps, bin_us=bin_us))
    except InputFormatError as exc:
        what = "event input" if net.input.kind == "events" else "frame input"
        raise ValidationError(f"{exc} (model {net.name!r} takes {what})") from None
    info, steps = prepared.info, prepared.timesteps
    desc = {"kind": "file", "path": path, "timesteps": int(steps)}
    if prepared.frames is not None:
        frames = prepared.frames
        if frames.shape[0] != steps:  # one static frame, the same in every step
            frames = np.repeat(frames, steps, axis=0)
        return Inputs(frames, None, desc)
    if steps < 1:
        raise ValidationError(f"{path}: the binning gives 0 time steps; give --timesteps")
    pos, neg = dense_counts(prepared.binned) if prepared.binned is not None else prepared.counts
    desc["events"] = int(info["events"])
    if "dropped_events" in info:
        desc["dropped_events"] = int(info["dropped_events"])
    return Inputs(pos, neg, desc)


def _run(sim: Simulator, inputs: Inputs):
    if sim.network.input.kind == "frames":
        return sim.run_frames(inputs.pos, record=True)
    return sim.run_counts(inputs.pos, inputs.neg, record=True)


def _layers(net: Network) -> list[str]:
    return [p.name for p in net.ordered_populations() if p.spiking]


def _agreement(a: dict, b: dict, names: list[str]) -> tuple[float, list[str]]:
    """Fraction of (step, neuron) spike values equal, overall and per layer."""
    same = total = 0
    lines = []
    for n in names:
        eq = int(np.count_nonzero(a[n] == b[n]))
        same, total = same + eq, total + a[n].size
        lines.append(f"{n}: {eq / a[n].size:.4%} of {a[n].size:,} (step, neuron) spike values agree")
    return (same / total if total else 1.0), lines


def check_float64(net: Network, ref, res) -> Check:
    bad = []
    for name, spikes in ref.spikes.items():
        if not np.array_equal(res.spikes[name], spikes):
            bad.append(f"{name}: spikes differ at {int(np.count_nonzero(res.spikes[name] != spikes))} "
                       "(step, neuron) positions")
    bad += [f"{n}: SOPs differ ({res.sops[n].sum()} vs {ref.sops[n].sum()})" for n in ref.sops
            if not np.array_equal(res.sops[n], ref.sops[n])]
    scale = max(1.0, float(np.abs(ref.output).max(initial=0.0)))
    err = float(np.abs(res.output - ref.output).max(initial=0.0))
    if err > 1e-9 * scale:
        bad.append(f"output differs by {err:.3g}")
    if bad:
        return Check("float64-vs-reference", FAIL, "the float64 engine disagrees with engine/reference.py",
                     bad, fix="an engine bug: report it with this model and input")
    sops = sum(int(s.sum()) for s in ref.sops.values())
    return Check("float64-vs-reference", PASS, f"spikes and SOPs identical at every layer and step "
                 f"({sops:,} SOPs), max output difference {err:.2g}")


def check_float32(net: Network, ref, res) -> Check:
    frac, lines = _agreement(res.spikes, ref.spikes, _layers(net))
    err = float(np.abs(res.output - ref.output).max(initial=0.0))
    same = res.prediction == ref.prediction
    return Check("float32-agreement", INFO, f"float32: {frac:.4%} spike agreement, prediction "
                 f"{'same' if same else 'DIFFERENT'}, max output error {err:.3g}", lines)


def check_observed(net: Network, ref) -> Check:
    details, bad = [], []
    for n in _layers(net):
        values = sorted(int(v) for v in np.unique(ref.spikes[n]))
        shown = str(values) if len(values) <= 6 else \
            f"[{', '.join(map(str, values[:4]))}, ..., {values[-1]}] ({len(values)} distinct)"
        if set(values) <= {-1, 0, 1}:
            details.append(f"{n}: observed {shown}")
        else:
            bad.append(f"{n}: spike values {shown} outside {{-1, 0, +1}}")
    if bad:
        return Check("observed-spikes", FAIL, "spike values outside {-1, 0, +1} were emitted", bad + details,
                     fix="fold the spike amplitude into the consuming weights (no multi-spike neurons)")
    return Check("observed-spikes", PASS, "every spike observed at every layer is -1, 0 or +1", details)


def check_int_exact(net: Network, iref, ires) -> Check:
    bad = []
    for name, spikes in iref.spikes.items():
        if not np.array_equal(ires.spikes[name], spikes):
            n = int(np.count_nonzero(ires.spikes[name] != spikes))
            bad.append(f"{name}: spikes differ at {n} (step, neuron) positions")
    bad += [f"{n}: SOPs differ" for n in iref.sops if not np.array_equal(ires.sops[n], iref.sops[n])]
    bad += [f"{n}: saturation counts differ" for n in iref.saturations
            if not np.array_equal(ires.saturations[n], iref.saturations[n])]
    if not np.array_equal(ires.output, iref.output_float):
        bad.append("integer outputs differ")
    if bad:
        return Check("int-vs-int-reference", FAIL, "the integer engine is not bit-exact with reference_int",
                     bad, fix="an engine bug: report it with this model and input")
    return Check("int-vs-int-reference", PASS, "integer engine and integer reference bit-exact "
                 "(spikes, SOPs, saturations, outputs)")


def check_saturation(iref) -> Check:
    sat = {n: int(s.sum()) for n, s in iref.saturations.items() if s.sum()}
    if sat:
        return Check("int-saturation", FAIL, f"int32 membranes saturated {sum(sat.values()):,} times",
                     [f"{n}: {k:,} clipped updates" for n, k in sat.items()],
                     fix="the input drives membranes beyond the headroom of the scale rule (many events per "
                         "pixel and step?): bin into more steps or lower the input rate")
    return Check("int-saturation", PASS, "no membrane reached the int32 limits")


def check_int_vs_float(net: Network, ref, iref) -> Check:
    frac, lines = _agreement(iref.spikes, ref.spikes, _layers(net))
    scale = max(1e-300, float(np.abs(ref.output).max(initial=0.0)))
    err = float(np.abs(iref.output_float - ref.output).max(initial=0.0))
    same = iref.prediction == ref.prediction
    return Check("int-vs-float", INFO, f"int vs float64: {frac:.4%} spike agreement, prediction "
                 f"{'same' if same else 'DIFFERENT'} ({iref.prediction} vs {ref.prediction}), output error "
                 f"{err / scale:.2g} of max |output|", lines)


# -- kernel audit -------------------------------------------------------------------------
def _arr(dtype) -> nbt.Array:
    return nbt.Array(dtype, 1, "C")


def int_kernel_signatures(net: Network) -> list[tuple]:
    """(dispatcher, [signature]) of the integer kernels that run ``net`` (see engine/modes.py):
    currents are int32 when a step cannot overflow them, else int64; both variants are audited."""
    i64, a64, a16 = nbt.int64, _arr(nbt.int64), _arr(nbt.int16)
    curs = (_arr(nbt.int32), a64)
    kinds = {q.kind for q in net.projections if not net.is_encoder(q)}
    out = []
    if kinds & {"conv2d", "sumpool2d"}:
        out.append((kernels.scatter_conv, [(a64, a64, i64, a64, a16, c, a64) for c in curs]))
    if "dense" in kinds:
        out.append((kernels.scatter_dense, [(a64, a64, i64, i64, a16, c, a64) for c in curs]))
    if "identity" in kinds:
        out.append((kernels.scatter_identity, [(a64, a64, i64, i64, a16, c, a64) for c in curs]))
    out.append((kernels_int.update_neurons_int,
                [(_arr(nbt.int32), c, a64, nbt.boolean, i64, a64, a64, a64, a64, a64) for c in curs]))
    if any(p.kind == "ternary_lif" and p.v_min is None for p in net.populations):
        out.append((kernels_int.update_ternary_int,
                    [(_arr(nbt.int32), c, a64, nbt.boolean, a64, a64, _arr(nbt.int8), a64, a64, a64)
                     for c in curs]))
    if any(p.kind == "cuba_lif" for p in net.populations):
        out.append((kernels_int.update_cuba_int,
                    [(_arr(nbt.int32), _arr(nbt.int32), a64, c, a64, nbt.boolean, a64, nbt.boolean, a64, a64,
                      a64) for c in curs]))
    if any(p.spiking and DECAY_MULTIPLY in (decay_code(p.decay)[0], decay_code(p.syn_decay or 1.0)[0])
           for p in net.populations):
        out.append((kernels_int.decay_multiply, [(_arr(nbt.int32), i64, i64)]))
    return out


_AUDITS: dict[tuple, KernelAudit] = {}  # recompiling for the audit takes seconds: once per process


def audit_int_kernels(net: Network) -> KernelAudit:
    """The kernel audit of the integer kernels that run ``net``."""
    audit = KernelAudit()
    for disp, sigs in int_kernel_signatures(net):
        key = (disp.py_func.__module__, disp.py_func.__qualname__, tuple(str(s) for s in sigs))
        if key not in _AUDITS:
            _AUDITS[key] = audit_dispatcher(disp, sigs)
        part = _AUDITS[key]
        audit.kernels += part.kernels
        audit.findings += part.findings
        audit.data_stores.update(part.data_stores)
    return audit


def check_kernel_audit(audit: KernelAudit, strict: bool) -> Check:
    names = sorted({k.split("(")[0] for k in audit.kernels})
    data = audit.data
    decay = [f for f in data if f.kernel == "decay_multiply"]
    other = [f for f in data if f.kernel != "decay_multiply"]
    summary_tail = (f"{audit.count('address')} address and {audit.count('bookkeeping')} bookkeeping "
                    "(SOP/spike counter) multiplications/divisions are not on data")
    details = [f"audited: {', '.join(names)}", summary_tail]
    blind = sorted(k for k, n in audit.data_stores.items() if n == 0)
    if blind:
        return Check("kernel-audit", FAIL,
                     f"the audit found no store into a data array in {', '.join(blind)}", details,
                     fix="name the kernel's membrane/current/weight parameters as in "
                         "kernel_audit.DATA_ARRAYS so the audit can follow them")
    if other:
        return Check("kernel-audit", FAIL,
                     f"{len(other)} multiplication(s) on data values in the integer kernels",
                     [f"{f.kernel}: {f.line}" for f in other] + details,
                     fix="a kernel multiplies weights or membranes: rewrite it with additions/shifts")
    if decay:
        return Check("kernel-audit", FAIL if strict else WARN,
                     f"only the non-power-of-two decay multiplies ({len(decay)} instruction(s) in "
                     "decay_multiply)",
                     [f"{f.kernel}: {f.line}" for f in decay] + details,
                     fix="use power-of-two decays to make the model multiplication-free")
    return Check("kernel-audit", PASS, f"0 multiplications on data values in the LLVM IR of {len(names)} "
                 "integer kernels", details)


# -- driver -------------------------------------------------------------------------------
def validate(net: Network, inputs: Inputs | None = None, timesteps: int | None = None, strict: bool = False,
             seed: int = 0, kernel_audit: bool = True, progress=None,
             threads: int | None = None) -> ValidationReport:
    """Run every check on ``net`` (dynamic checks on ``inputs`` or a seeded random input).

    ``progress``, if given, is called as ``progress(stage, done, total)`` before each slow stage
    (``done`` stages of ``total`` finished) and once more at the end with ``done == total``.
    ``threads``: of the engines (default all cores).
    """
    stages = ["static checks", "float64 reference", "float64 engine", "float32 engine",
              "integer reference", "integer engine"] + (["LLVM IR audit"] if kernel_audit else [])
    step = iter(range(len(stages) + 1))

    def stage(name: str) -> None:
        if progress is not None:
            progress(name, next(step), len(stages))

    stage("static checks")
    inputs = inputs or random_inputs(net, timesteps, seed)
    steps = int(inputs.pos.shape[0])
    report = ValidationReport(model=net.name, strict=strict, input=inputs.description)
    qnet = quantize(net)
    report.quantisation = qnet.report.to_dict()
    report.checks += [check_spike_values(net), check_weights_only(compile_int_plan(qnet)),
                      check_decays(net, strict),
                      check_encoder(net, steps), check_quantisation(qnet)]
    neg = inputs.neg if net.input.kind == "events" else None
    stage("float64 reference")
    ref = forward(net, inputs.pos, neg)
    stage("float64 engine")
    report.checks.append(check_float64(net, ref, _run(Simulator(net, "float64", threads=threads), inputs)))
    stage("float32 engine")
    report.checks.append(check_float32(net, ref, _run(Simulator(net, "float32", threads=threads), inputs)))
    report.checks.append(check_observed(net, ref))
    stage("integer reference")
    iref = forward_int(qnet, inputs.pos, neg)
    stage("integer engine")
    report.checks.append(check_int_exact(net, iref, _run(Simulator(net, "int", threads=threads), inputs)))
    report.checks.append(check_saturation(iref))
    report.checks.append(check_int_vs_float(net, ref, iref))
    if kernel_audit:
        stage("LLVM IR audit")
        audit = audit_int_kernels(net)
        report.kernel_audit = audit.to_dict()
        report.checks.append(check_kernel_audit(audit, strict))
    stage("done")
    return report
