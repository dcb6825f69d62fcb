"""The multi-threaded engine gives the same results whatever the thread count and neuron-block split.

float64 must equal the reference and int the integer reference on every thread count; float32 must
be bitwise identical across thread counts (every sum is made in a fixed order). The neuron blocks
are forced small (``kernels_steps.MIN_BLOCK``) so that the small random networks are split into
many blocks, as large layers are. Thread counts run through ``numba.set_num_threads`` (via
``Simulator(threads=N)``); on a one-core machine the two-thread cases run on one.
"""

import importlib
import pkgutil
import re
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim.engine
import eventsim.events
from eventsim import jit
from eventsim.engine import kernels_steps
from eventsim.engine.reference import forward
from eventsim.engine.simulator import Simulator
from eventsim.errors import ConfigError
from eventsim.events.binning import BinnedEvents
from tests.engine.test_bursty import bursty_counts, wide_network
from tests.engine.test_kernels_int import assert_bit_exact
from tests.engine.test_simulator import assert_same_as_reference
from tests.randnet import random_inputs, random_network

THREADS = sorted({1, min(2, jit.max_threads()), jit.max_threads()})


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(kernels_steps, "MIN_BLOCK", 16)


def _run(net, precision, threads, pos, neg, frames):
    sim = Simulator(net, precision, threads=threads)
    return sim.run(pos, record=True) if frames else sim.run_counts(pos, neg, record=True)


def _assert_identical(a, b):
    assert np.array_equal(a.output, b.output)  # bitwise, not within a tolerance
    for name in a.sops:
        assert np.array_equal(a.sops[name], b.sops[name]), name
    for name in a.spikes:
        assert np.array_equal(a.spikes[name], b.spikes[name]), name
    assert a.multiplications == b.multiplications


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.booleans(), st.integers(1, 4), st.booleans())
def test_float32_identical_across_thread_counts(seed, frames, depth, pre_pool):
    net = random_network(seed, depth=depth, frames=frames, pre_pool=pre_pool)
    pos, neg = random_inputs(net, seed)
    with pytest.MonkeyPatch.context() as mp:
        results = []
        for threads, block in [(1, 2048)] + [(t, 16) for t in THREADS]:
            mp.setattr(kernels_steps, "MIN_BLOCK", block)
            results.append(_run(net, "float32", threads, pos, neg, frames))
    for other in results[1:]:
        _assert_identical(results[0], other)


@pytest.mark.parametrize("seed", range(6))
def test_float64_equals_reference_on_every_thread_count(seed, small_blocks):
    net = random_network(300 + seed, depth=3, pre_pool=seed % 2 == 0)
    pos, neg = bursty_counts(net, seed, 4)
    ref = forward(net, pos, neg)
    for threads in THREADS:
        assert_same_as_reference(net, _run(net, "float64", threads, pos, neg, False), ref)


@pytest.mark.parametrize("seed", range(4))
def test_int_bit_exact_on_every_thread_count(seed, small_blocks):
    net = random_network(400 + seed, depth=3, pre_pool=True)
    pos, neg = random_inputs(net, seed)
    for threads in THREADS:
        assert_bit_exact(net, pos, neg, threads=threads)


def test_wide_layers_identical_across_threads():
    """Layers larger than one default block: the default split, on every thread count."""
    net = wide_network(5, channels=16)
    pos, neg = bursty_counts(net, 7, 3)
    ref = forward(net, pos, neg)
    runs = [_run(net, "float32", t, pos, neg, False) for t in THREADS]
    for other in runs[1:]:
        _assert_identical(runs[0], other)
    assert_same_as_reference(net, _run(net, "float64", THREADS[-1], pos, neg, False), ref)


def test_run_batch_equals_single_runs():
    net = random_network(11, depth=3)
    inputs = [random_inputs(net, s)[0] for s in range(4)]
    sim = Simulator(net, "float32", threads=THREADS[-1])
    singles = [sim.run_counts(x, record=True) for x in inputs]
    batch = sim.run_batch([_binned(net, x) for x in inputs], record=True)
    assert len(batch.results) == 4 and batch.samples_per_second > 0 and batch.threads == THREADS[-1]
    for a, b in zip(singles, batch.results):
        _assert_identical(a, b)


def _binned(net, pos):
    steps = pos.shape[0]
    index, sign, ptr = [], [], [0]
    for t in range(steps):
        idx = np.repeat(np.arange(pos[t].size), pos[t].ravel())
        index.append(idx)
        sign.append(np.ones(idx.size, np.int8))
        ptr.append(ptr[-1] + idx.size)
    return BinnedEvents(steps, tuple(net.input_shape), np.array(ptr, np.int64),
                        np.concatenate(index).astype(np.int64), np.concatenate(sign))


def test_thread_counts_are_checked_and_restored():
    net = random_network(1)
    with pytest.raises(ConfigError, match="at most"):
        Simulator(net, threads=jit.max_threads() + 1)
    with pytest.raises(ConfigError, match="at least 1"):
        Simulator(net, threads=0)
    assert Simulator(net).threads == jit.max_threads()
    before = numba.get_num_threads()
    Simulator(net, threads=1).run_counts(*random_inputs(net, 1))
    assert numba.get_num_threads() == before


def test_threads_per_worker_never_oversubscribes(monkeypatch):
    monkeypatch.setattr(jit, "max_threads", lambda: 16)
    assert jit.threads_per_worker(1) == 16
    assert jit.threads_per_worker(4) == 4
    assert jit.threads_per_worker(3) == 5
    assert jit.threads_per_worker(32) == 1
    assert jit.threads_per_worker(4, threads=2) == 2


def _compiled_modules():
    """Every module of the package that compiles Numba code: the engine's kernels and the events
    layer's decoders, emulator and PNG filters."""
    names = [m.name for pkg in (eventsim.engine, eventsim.events)
             for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return [importlib.import_module(n) for n in names]


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1 (the coverage run): no dispatchers")
def test_every_kernel_uses_the_options_of_jit_py():
    """No kernel sets its own Numba options: serial kernels (engine and decoders) have JIT_OPTIONS
    (plus inlining for ``inline_kernel``), dispatchers PARALLEL_OPTIONS, and all are cached."""
    found, decoders = 0, 0
    for module in _compiled_modules():
        for name, obj in vars(module).items():
            dispatcher = isinstance(obj, numba.core.registry.CPUDispatcher)
            if not dispatcher or obj.py_func.__module__ != module.__name__:
                continue
            found += 1
            decoders += module.__name__.startswith("eventsim.events.formats.")
            want = jit.PARALLEL_OPTIONS if obj.targetoptions.get("parallel") else jit.JIT_OPTIONS
            opts = {k: v for k, v in obj.targetoptions.items() if k not in ("nopython", "boundscheck")}
            if opts.pop("inline", None) not in (None, "always"):
                raise AssertionError(f"{name}: inlining other than inline_kernel's")
            assert opts == {k: v for k, v in want.items() if k != "cache"}, name
            assert obj.targetoptions.get("boundscheck") is None, name  # left to NUMBA_BOUNDSCHECK
            assert type(obj._cache).__name__ != "NullCache", name
    assert found >= 30 and decoders >= 8


def test_only_jit_py_calls_numba_jit():
    """The options test above sees module-level kernels only: a nested or aliased ``numba.njit``
    anywhere else in the package would escape it (kernel_audit recompiles with JIT_OPTIONS)."""
    pkg = Path(eventsim.__file__).parent
    allowed = {pkg / "jit.py", pkg / "engine" / "kernel_audit.py"}
    jit_call = re.compile(r"\b(njit|numba\.jit|from numba import .*\bjit\b)")
    bad = [str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
           if p not in allowed and jit_call.search(p.read_text())]
    assert not bad


def test_batch_with_a_callable_per_input_goes_on_after_a_bad_input():
    net = random_network(11, depth=3)
    inputs = [random_inputs(net, s)[0] for s in range(3)]
    sim = Simulator(net, "float32", threads=THREADS[-1])

    def each(s, item):  # what eval does with a file: its errors become that item's result
        try:
            return s.run_counts(item).prediction
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__

    bad = np.zeros((2, 1), np.int64)  # not the model's input shape
    batch = sim.run_batch([inputs[0], bad, inputs[1], inputs[2]], each=each)
    want = [sim.run_counts(x).prediction for x in inputs]
    assert batch.results == [want[0], "InputFormatError", want[1], want[2]]
    lazy = sim.iter_batch(iter(inputs), each=each)  # one result at a time, as each is done
    assert next(lazy) == want[0] and list(lazy) == want[1:]
