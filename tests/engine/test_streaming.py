"""One state across calls (Stepper), per-step readout increments, latency, Simulator.stream."""

import numpy as np
import pytest

from eventsim.engine.result import decision_step, spiking_outputs
from eventsim.engine.simulator import Simulator
from eventsim.events.binning import BinnedEvents, bin_events
from eventsim.events.dtype import make_events
from eventsim.network.ir import InputSpec, Network, Population, Projection
from tests.randnet import random_inputs, random_network


def _binned(net, seed, steps):
    pos, neg = random_inputs(net, seed, steps)
    flat = pos.reshape(steps, -1)
    neg_flat = (neg if neg is not None else np.zeros_like(pos)).reshape(steps, -1)
    idx, sign, ptr = [], [], [0]
    for t in range(steps):
        i_pos = np.repeat(np.arange(flat.shape[1]), flat[t])
        i_neg = np.repeat(np.arange(flat.shape[1]), neg_flat[t])
        idx += [i_pos, i_neg]
        sign += [np.ones(i_pos.size, np.int8), -np.ones(i_neg.size, np.int8)]
        ptr.append(ptr[-1] + i_pos.size + i_neg.size)
    return BinnedEvents(steps, net.input_shape, np.array(ptr, np.int64), np.concatenate(idx).astype(np.int64),
                        np.concatenate(sign))


def _slice(b: BinnedEvents, lo: int, hi: int) -> BinnedEvents:
    a, z = b.ptr[lo], b.ptr[hi]
    return BinnedEvents(hi - lo, b.shape, b.ptr[lo:hi + 1] - a, b.index[a:z], b.sign[a:z])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("precision", ["float64", "float32", "int"])
def test_stretches_of_steps_add_up_to_one_run(seed, precision):
    net = random_network(seed)
    steps = 9
    binned = _binned(net, seed, steps)
    sim = Simulator(net, precision=precision, threads=1)
    whole = sim.run_binned(binned)
    stepper = sim.stepper()
    parts = []
    for lo, hi in [(0, 2), (2, 3), (3, 7), (7, 9)]:
        parts.append(stepper.run_binned(_slice(binned, lo, hi)))
        sim.run_binned(_binned(net, seed + 1, 3))  # other runs in between do not disturb the stepper
    assert stepper.steps == steps
    inc = np.concatenate([p.readout_steps for p in parts])
    assert np.array_equal(inc, whole.readout_steps)
    assert np.array_equal(stepper.output, whole.output)
    for q in whole.sops:
        assert np.array_equal(np.concatenate([p.sops[q] for p in parts]), whole.sops[q])
    trace = whole.readout_trace()
    assert np.array_equal(trace[-1], whole.output)  # the increments in the run's arithmetic
    stepper.reset()
    assert stepper.steps == 0 and not np.any(stepper.output)


def test_decision_step():
    trace = np.array([[1, 0], [0, 2], [3, 0], [3, 1]], float)
    assert decision_step(trace) == 2
    assert decision_step(trace[:1]) == 0
    assert decision_step(np.array([[0, 1], [0, 2]], float)) == 0


def test_first_output_spike_of_a_spike_count_output():
    inp = InputSpec(kind="events", polarity="split")
    pops = [Population("input", "input", (2, 1, 2)),
            Population("hid", "if", (2,), threshold=1.5, decay=1.0, reset="zero"),
            Population("out", "readout", (2,))]
    projs = [Projection("d", "dense", "input", "hid", weight=np.ones((2, 4))),
             Projection("o", "identity", "hid", "out")]
    net = Network("count", pops, projs, ["input", "hid", "out"], 3, inp)
    assert spiking_outputs(net) == ["hid"]
    ev = make_events([0, 10, 20, 25], [0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1])
    r = Simulator(net, precision="float64").run(ev, timesteps=3, sensor=(2, 1))
    # step 0 gets 1 event (v=1 < 1.5), step 1 one more (v=2 >= 1.5: fires)
    assert r.latency["first_output_spike"] == 1
    assert spiking_outputs(random_network(0)) is None


def test_simulator_stream_runs_each_window_as_its_own_input():
    net = random_network(2)
    c, h, w = net.input_shape
    rng = np.random.default_rng(0)
    n = 500
    ev = make_events(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, w, n), rng.integers(0, h, n),
                     rng.integers(0, 2, n))
    sim = Simulator(net, precision="float64")
    chunks = np.array_split(ev, 7)
    got = list(sim.stream(chunks, window_us=20_000, hop_us=10_000, sensor=(w, h), timesteps=3))
    assert len(got) == (int(ev["t"][-1]) - int(ev["t"][0]) - 20_000) // 10_000 + 1
    for wr in got:
        cut = ev[(ev["t"] >= wr.t_start) & (ev["t"] < wr.t_end)]
        want = sim.run(cut, timesteps=3, sensor=(w, h))
        assert wr.events == len(cut) and np.array_equal(wr.result.output, want.output)
    binned = bin_events(ev, (w, h), net.input_shape, net.input.polarity, 4, 20_000)
    blocks = list(sim.stream_steps(chunks, 20_000, sensor=(w, h)))
    inc = np.concatenate([r.readout_steps for _, r in blocks])
    assert np.array_equal(inc, sim.run_binned(binned).readout_steps)
