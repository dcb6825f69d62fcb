"""eventsim.validate: the checks pass on a multiplication-free net and fail where they must."""

import inspect

import numba
import numpy as np
import pytest
from numba import types as nbt
from numba.core.registry import CPUDispatcher

from eventsim.engine import kernels, kernels_int, kernels_steps
from eventsim.engine.kernel_audit import AUDITED, DATA_ARRAYS, audit_dispatcher, audit_module
from eventsim.engine.modes import IntMode
from eventsim.engine.quantize import quantize
from eventsim.engine.reference import forward
from eventsim.engine.reference_int import forward_int
from eventsim.engine.simulator import Simulator
from eventsim.errors import ValidationError
from eventsim.events.dtype import make_events
from eventsim.events.io import write_events
from eventsim.network.ir import InputSpec, Network, Population, Projection
from eventsim.validate import (
    FAIL,
    INFO,
    PASS,
    WARN,
    Inputs,
    check_float64,
    check_int_exact,
    check_quantisation,
    inputs_from_file,
    random_inputs,
    validate,
)
from tests.randnet import random_inputs as random_inputs_counts
from tests.randnet import random_network


def ternary_net(decay=0.25, relay=None) -> Network:
    """A small Ternary Spike net: conv -> ternary -> (sum-pool -> ternary) + α-shortcut -> dense.

    ``relay`` inserts, between the first layer and the readout, a multi-spike IF population fed
    by an identity: with θ = 0.5 a +1 spike becomes a spike of value 2 -- an amplitude α = 2 left
    in the spikes instead of folded into the readout weights.
    """
    rng = np.random.default_rng(0)
    pops = [Population("input", "input", (2, 6, 6)),
            Population("c1", "ternary_lif", (4, 6, 6), threshold=0.5, decay=decay),
            Population("p1", "ternary_lif", (4, 3, 3), threshold=0.5, decay=decay),
            Population("out", "readout", (3,))]
    projs = [Projection("conv1", "conv2d", "input", "c1", weight=rng.normal(0, 0.5, (4, 2, 3, 3)), padding=1),
             Projection("pool", "sumpool2d", "c1", "p1", kernel_size=2, stride=2),
             Projection("fc", "dense", "p1", "out", weight=rng.normal(0, 0.3, (3, 36)))]
    order = ["input", "c1", "p1", "out"]
    if relay is not None:
        pops.insert(2, Population("relay", "if", (4, 6, 6), threshold=0.5, reset="subtract",
                                  multi_spike=True))
        projs.append(Projection("alpha", "identity", "c1", "relay", scale=np.full(4, relay)))
        projs.append(Projection("fc2", "dense", "relay", "out", weight=rng.normal(0, 0.3, (3, 144))))
        order.insert(2, "relay")
    return Network("ternary", pops, projs, order, timesteps=4, input=InputSpec(polarity="split"))


def test_multiplication_free_net_passes():
    net = ternary_net()
    rep = validate(net, random_inputs(net, seed=1, density=0.3), kernel_audit=True)
    status = {c.name: c.status for c in rep.checks}
    assert rep.passed, [(c.name, c.summary) for c in rep.failed]
    assert all(s in (PASS, INFO) for s in status.values()), status
    assert status["kernel-audit"] == PASS
    audit = rep.kernel_audit
    assert audit["data_multiplications"] == []
    assert all(n > 0 for n in audit["data_stores"].values())  # the audit saw every kernel's data
    audited = {k.split("(")[0] for k in audit["kernels"]}
    assert audited == {"scatter_conv", "scatter_dense", "update_neurons_int", "update_ternary_int"}
    # the input really produced activity, so the dynamic checks compared something
    assert "0 SOPs" not in rep.check("float64-vs-reference").summary
    doc = rep.to_dict()
    assert doc["schema"] == "eventsim.validate/1" and doc["passed"] is True


def test_unfolded_alpha_fails_with_a_fix():
    net = ternary_net(relay=1.0)
    rep = validate(net, random_inputs(net, seed=1, density=0.5), kernel_audit=False)
    assert not rep.passed
    spike = rep.check("spike-values")
    assert spike.status == FAIL and "relay" in spike.summary
    assert "fold" in spike.fix
    observed = rep.check("observed-spikes")
    assert observed.status == FAIL and "[0, 2]" in " ".join(observed.details)
    # the engines still agree with their references (the failure is the model, not the engine)
    assert rep.check("float64-vs-reference").status == PASS
    assert rep.check("int-vs-int-reference").status == PASS


def test_non_power_of_two_decay_is_an_exception_then_a_failure():
    net = ternary_net(decay=0.9)
    loose = validate(net, random_inputs(net, seed=2), kernel_audit=False)
    assert loose.passed and loose.check("decay").status == WARN
    strict = validate(net, random_inputs(net, seed=2), strict=True, kernel_audit=False)
    decay = strict.check("decay")
    assert not strict.passed and decay.status == FAIL
    assert "'c1' (λ = 0.9)" in decay.summary and "power of two" in decay.fix
    assert [c.name for c in strict.failed] == ["decay"]


def test_kernel_audit_flags_the_multiplying_decay_kernel():
    net = ternary_net(decay=0.75)
    rep = validate(net, random_inputs(net, seed=3), strict=True, kernel_audit=True)
    audit = rep.check("kernel-audit")
    assert audit.status == FAIL
    assert any("decay_multiply" in d and " mul " in d for d in audit.details)


def test_audit_sees_float_multiplications_in_the_float_kernel():
    """Negative control: the float32 neuron update multiplies by λ (fmul) -- the audit must say so."""
    from numba import types as t

    a32, a64 = t.Array(t.float32, 1, "C"), t.Array(t.int64, 1, "C")
    audit = audit_dispatcher(kernels.update_neurons,
                             [(a32, a32, a32, t.boolean, t.int64, a32, a64, a64, a64, a64)])
    assert any("fmul" in f.line for f in audit.data)
    assert audit_dispatcher(kernels_int.decay_multiply, [(t.Array(t.int32, 1, "C"), t.int64, t.int64)]).data


IR = """
define i32 @_ZN4test6kernelE(ptr %retptr, ptr %arg.cur.4, ptr %arg.wt.4, ptr %arg.sops.4, i64 %arg.n) {
B0:
  %w = load i16, ptr %arg.wt.4, align 2
  %w64 = sext i16 %w to i64
  %idx = mul i64 %arg.n, 8
  %p = getelementptr i8, ptr %arg.cur.4, i64 %idx
  %old = load i64, ptr %p, align 8
  %scaled = mul nsw i64 %w64, 3
  %new = add i64 %old, %scaled
  store i64 %new, ptr %p, align 8
  %cnt = mul i64 %arg.n, 5
  store i64 %cnt, ptr %arg.sops.4, align 8
  ret i32 0
}
"""


def test_audit_rule_on_hand_written_ir():
    """data: a product stored into `cur`; address: feeds a getelementptr; bookkeeping: into `sops`."""
    kinds = {f.line.split(" =")[0]: f.kind for f in audit_module(IR, "kernel", "sig")}
    assert kinds == {"%scaled": "data", "%idx": "address", "%cnt": "bookkeeping"}


def test_clipped_weights_fail():
    net = ternary_net()
    check = check_quantisation(quantize(net, frac_bits={"c1": 20}))
    assert check.status == FAIL and "clipped" in check.summary


def test_engine_disagreement_is_reported():
    net = random_network(5)
    inputs = random_inputs(net, seed=5, density=0.5)
    ref = forward(net, inputs.pos, inputs.neg)
    res = Simulator(net, "float64").run_counts(inputs.pos, inputs.neg, record=True)
    assert check_float64(net, ref, res).status == PASS
    name = next(n for n in ref.spikes if n != "input")
    res.spikes[name] = res.spikes[name].copy()
    res.spikes[name].flat[0] += 1
    bad = check_float64(net, ref, res)
    assert bad.status == FAIL and name in bad.details[0]
    q = quantize(net)
    iref = forward_int(q, inputs.pos, inputs.neg)
    ires = Simulator(net, "int").run_counts(inputs.pos, inputs.neg, record=True)
    assert check_int_exact(net, iref, ires).status == PASS
    ires.output = ires.output + 2.0**-30
    assert check_int_exact(net, iref, ires).status == FAIL


def test_saturation_fails():
    net = ternary_net()
    pos = np.zeros((1, 2, 6, 6), np.int64)
    pos[0, 0, 3, 3] = 10**6  # a million events in one pixel and step: beyond the int32 headroom
    rep = validate(net, Inputs(pos, np.zeros_like(pos), {"kind": "test"}), kernel_audit=False)
    assert rep.check("int-saturation").status == FAIL
    assert rep.check("int-vs-int-reference").status == PASS  # saturation is reproduced bit for bit


def test_inputs_from_event_file_and_frames(tmp_path):
    net = ternary_net()
    rng = np.random.default_rng(0)
    n = 400
    ev = make_events(np.sort(rng.integers(0, 10_000, n)), rng.integers(0, 6, n), rng.integers(0, 6, n),
                     rng.integers(0, 2, n))
    path = tmp_path / "rec.npz"
    write_events(path, ev, (6, 6))
    inputs = inputs_from_file(net, path, timesteps=5)
    assert inputs.pos.shape == (5, 2, 6, 6) and inputs.pos.sum() == n
    assert validate(net, inputs, kernel_audit=False).passed
    frame_net = random_network(2, frames=True)
    x = np.random.default_rng(1).random(frame_net.input_shape)
    np.save(tmp_path / "x.npy", x)
    fin = inputs_from_file(frame_net, tmp_path / "x.npy", timesteps=3)
    assert fin.pos.shape == (3,) + frame_net.input_shape
    rep = validate(frame_net, fin, kernel_audit=False)
    assert rep.check("encoder").status == INFO and "MACs per step" in rep.check("encoder").summary
    with pytest.raises(ValidationError, match="event input"):
        inputs_from_file(net, tmp_path / "x.npy")


def _scaled_scatter(idx, val, n, wt, cur):  # an unfolded amplitude: weight times spike value
    for e in range(n):
        cur[idx[e]] += wt[idx[e]] * val[e]


def _additive_scatter(idx, val, n, wt, cur):  # the multiplication-free way
    for e in range(n):
        if val[e] > 0:
            cur[idx[e]] += wt[idx[e]]
        else:
            cur[idx[e]] -= wt[idx[e]]


@pytest.mark.parametrize("fn, flagged", [(_scaled_scatter, True), (_additive_scatter, False)])
def test_audit_integer_negative_control(fn, flagged):
    import numba
    from numba import types as t

    a64 = t.Array(t.int64, 1, "C")
    sig = (a64, a64, t.int64, t.Array(t.int16, 1, "C"), a64)
    audit = audit_dispatcher(numba.njit(fn), [sig])
    assert bool(audit.data) is flagged
    if flagged:
        assert all(" mul " in f.line for f in audit.data)


def test_weights_only_reads_the_plan():
    from eventsim.engine.modes import compile_int_plan
    from eventsim.validate import check_weights_only

    iplan = compile_int_plan(quantize(ternary_net()))
    assert check_weights_only(iplan).status == PASS
    iplan.weights[1] = iplan.weights[1].astype(np.float32)  # a runtime float scale sneaked in
    bad = check_weights_only(iplan)
    assert bad.status == FAIL and "pool" in bad.details[0] and "fold" in bad.fix


def _renamed_scatter(idx, val, n, weights, acc):  # parameter names the audit does not know
    for e in range(n):
        acc[idx[e]] += weights[idx[e]] * val[e]


def test_audit_that_cannot_see_the_data_fails():
    import numba
    from numba import types as t

    from eventsim.validate import check_kernel_audit

    a64 = t.Array(t.int64, 1, "C")
    sig = (a64, a64, t.int64, t.Array(t.int16, 1, "C"), a64)
    audit = audit_dispatcher(numba.njit(_renamed_scatter), [sig])
    assert audit.data_stores == {"_renamed_scatter": 0}
    check = check_kernel_audit(audit, strict=False)
    assert check.status == FAIL and "_renamed_scatter" in check.summary and "DATA_ARRAYS" in check.fix


def _integer_data(disp, sig) -> bool:
    """Does this signature of ``disp`` take one of the audit's data arrays as integers?"""
    names = inspect.signature(disp.py_func).parameters
    return any(name in DATA_ARRAYS and isinstance(ty, nbt.Array) and isinstance(ty.dtype, nbt.Integer)
               for name, ty in zip(names, sig))


def _dispatchers(module):
    return {obj for obj in vars(module).values()
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__}


def test_every_integer_kernel_the_engine_runs_is_audited():
    """Run the integer engine on networks of every kind, recompile its dispatch kernels (uncached,
    so that Numba types every call they make), and require each serial kernel they call with
    integer data to declare that exact signature for the LLVM audit (``kernel_audit.audited``)."""
    nets = [ternary_net(), ternary_net(relay=0.5, decay=0.75)]
    nets += [random_network(seed, pre_pool=seed % 2 == 0, recurrent=seed >= 6) for seed in range(10)]
    for net in nets:
        Simulator(net, precision="int").run_counts(*random_inputs_counts(net, seed=1))
    called: dict = {}
    for disp in _dispatchers(kernels_steps):
        for sig in [s for s in disp.signatures if _integer_data(disp, s)]:
            numba.njit(cache=False)(disp.py_func).compile(sig)
            for name in disp.py_func.__code__.co_names:
                callee = disp.py_func.__globals__.get(name)
                if isinstance(callee, CPUDispatcher) and callee not in _dispatchers(kernels_steps):
                    called[callee] = {s for s in callee.signatures if _integer_data(callee, s)}
    unaudited = [f"{k.py_func.__name__}{tuple(s)}" for k, sigs in called.items() for s in sigs
                 if tuple(s) not in AUDITED.get(k, ())]
    assert not unaudited, "integer kernels run with signatures the audit does not declare"
    # the warm-up reached every audited kernel, so the check above saw them all
    assert {k for k, sigs in called.items() if sigs} == set(AUDITED)
    assert set().union(*(IntMode(net).serial_kernels() for net in nets)) == set(AUDITED)
