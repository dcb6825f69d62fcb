"""Seeded random IR networks covering every neuron and projection kind, for differential tests."""

from __future__ import annotations

import numpy as np

from eventsim.network.ir import InputSpec, Network, Population, Projection, conv_output_size

SPIKING = ("ternary_lif", "binary_lif", "lif", "if")


def random_population(rng: np.random.Generator, name: str, shape, kind: str | None = None) -> Population:
    kind = kind or SPIKING[rng.integers(len(SPIKING))]
    if kind == "readout":
        bias = rng.normal(0, 0.1, shape[0]) if rng.random() < 0.5 else None
        return Population(name, "readout", shape, bias=bias)
    # thresholds and decays that are exact in binary floating point make ties reachable
    threshold = float(rng.choice([0.5, 1.0, 0.25, 0.75]))
    decay = 1.0 if kind == "if" else float(rng.choice([0.25, 0.5, 1.0, 0.9]))
    reset = "zero" if kind in ("ternary_lif", "binary_lif") and rng.random() < 0.7 else \
        str(rng.choice(["zero", "subtract"]))
    v_min = float(rng.choice([-1.0, -0.5])) if kind in ("if", "lif") and rng.random() < 0.4 else None
    multi = bool(kind in ("if", "lif") and rng.random() < 0.3)
    bias = rng.normal(0, 0.2, shape[0]) if rng.random() < 0.4 else None
    return Population(name, kind, shape, threshold=threshold, decay=decay, reset=reset,
                      v_min=v_min, multi_spike=multi, bias=bias)


def _weights(rng, shape, quantised: bool) -> np.ndarray:
    if quantised:  # multiples of 1/8 keep float64 sums exact, so ties happen and are exact
        return rng.integers(-6, 7, size=shape).astype(np.float64) / 8.0
    return rng.normal(0, 0.6, size=shape)


def random_network(seed: int, depth: int | None = None, frames: bool = False,
                   quantised: bool | None = None, pre_pool: bool = False, recurrent: bool = False) -> Network:
    """A random feed-forward DAG: conv / sumpool / identity / residual blocks, then dense.

    With ``pre_pool`` about half the plain convs get a random sum-pool before them (drawn from a
    separate stream, so the networks of existing seeds are otherwise unchanged). With
    ``recurrent`` (another separate stream) some hidden populations become ``cuba_lif`` and
    delayed projections are added: self-loops, backward edges (cycles) and forward skips.
    """
    rng = np.random.default_rng(seed)
    rng_pool = np.random.default_rng(seed + 104729)
    quantised = bool(rng.random() < 0.5) if quantised is None else quantised
    # recurrent nets feed spikes back for many steps: exact weight sums keep float64 comparable
    quantised = quantised or recurrent
    polarity = "split" if frames or rng.random() < 0.5 else "signed"
    c = 2 if polarity == "split" else 1
    if frames:
        c = int(rng.integers(1, 4))
    h, w = int(rng.integers(4, 12)), int(rng.integers(4, 12))
    pops = [Population("input", "input", (c, h, w))]
    projs: list[Projection] = []
    cur, cur_shape = "input", (c, h, w)
    depth = int(rng.integers(1, 4)) if depth is None else depth
    for i in range(depth):
        op = rng.choice(["conv", "conv", "pool", "residual"]) if i > 0 or not frames else "conv"
        name = f"l{i}"
        cin, hh, ww = cur_shape
        if op == "pool" and min(hh, ww) >= 2:
            k = int(rng.integers(1, 3))
            s = int(rng.integers(1, 3))
            shape = (cin, conv_output_size(hh, k, s, 0, 1), conv_output_size(ww, k, s, 0, 1))
            pops.append(random_population(rng, name, shape))
            projs.append(Projection(f"p{i}", "sumpool2d", cur, name, kernel_size=k, stride=s))
        elif op == "residual" and cur != "input":
            # block: a = LIF(conv(cur)); b = LIF(conv(a) + shortcut(cur))
            k = 3
            shape = cur_shape
            pops.append(random_population(rng, name + "a", shape))
            projs.append(Projection(f"p{i}a", "conv2d", cur, name + "a",
                                    weight=_weights(rng, (cin, cin, k, k), quantised), padding=1))
            pops.append(random_population(rng, name, shape))
            projs.append(Projection(f"p{i}b", "conv2d", name + "a", name,
                                    weight=_weights(rng, (cin, cin, k, k), quantised), padding=1))
            scale = _weights(rng, (cin,), quantised) if rng.random() < 0.6 else None
            projs.append(Projection(f"p{i}s", "identity", cur, name, scale=scale))
        else:
            groups = int(rng.choice([g for g in (1, 2) if cin % g == 0]))
            cout = groups * int(rng.integers(1, 4))
            k = int(rng.integers(1, 4))
            s = int(rng.integers(1, 3))
            p = int(rng.integers(0, 2))
            d = int(rng.integers(1, 3)) if k > 1 and rng.random() < 0.3 else 1
            pool = None
            if pre_pool and rng_pool.random() < 0.6 and min(hh, ww) >= 2:
                pk = int(rng_pool.integers(1, 4))
                pool = (pk, int(rng_pool.integers(1, 3)), int(rng_pool.integers(0, pk // 2 + 1)))
                hp = conv_output_size(hh, pk, pool[1], pool[2], 1)
                wp = conv_output_size(ww, pk, pool[1], pool[2], 1)
                if min(hp, wp) >= 1:
                    hh, ww = hp, wp
                else:
                    pool = None
            ho = conv_output_size(hh, k, s, p, d)
            wo = conv_output_size(ww, k, s, p, d)
            if ho < 1 or wo < 1:
                k, s, p, d = 1, 1, 0, 1
                ho, wo = hh, ww
            shape = (cout, ho, wo)
            pops.append(random_population(rng, name, shape))
            projs.append(Projection(f"p{i}", "conv2d", cur, name,
                                    weight=_weights(rng, (cout, cin // groups, k, k), quantised),
                                    stride=s, padding=p, dilation=d, groups=groups, pre_pool=pool))
        cur, cur_shape = name, pops[-1].shape
    n_out = int(rng.integers(2, 6))
    pops.append(random_population(rng, "out", (n_out,), kind="readout"))
    projs.append(Projection("fc", "dense", cur, "out",
                            weight=_weights(rng, (n_out, int(np.prod(cur_shape))), quantised)))
    if recurrent:
        _add_recurrence(np.random.default_rng(seed + 15485863), pops, projs, quantised, frames)
    spec = InputSpec(kind="frames" if frames else "events", polarity=polarity, sensor=(w, h))
    return Network(f"random{seed}", pops, projs, [p.name for p in pops],
                   timesteps=int(rng.integers(1, 6)), input=spec, provenance={"seed": seed})


def random_inputs(net: Network, seed: int, steps: int | None = None):
    """Random per-step input counts (pos, neg) for event nets, analog values for frame nets."""
    rng = np.random.default_rng(seed + 7919)
    steps = net.timesteps if steps is None else steps
    shape = (steps,) + net.input_shape
    if net.input.kind == "frames":
        return rng.normal(0, 1, shape), None
    density = rng.choice([0.0, 0.05, 0.3])
    pos = rng.poisson(density, shape)
    neg = rng.poisson(density, shape) if net.input.polarity == "signed" else np.zeros(shape, np.int64)
    return pos, neg


def _cuba(rng: np.random.Generator, pop: Population) -> Population:
    """``pop`` as a cuba_lif with random binary-exact parameters (ties stay reachable)."""
    return Population(pop.name, "cuba_lif", pop.shape, threshold=float(rng.choice([0.25, 0.5, 1.0])),
                      decay=float(rng.choice([0.0, 0.5, 0.75, 0.9, 1.0])),
                      syn_decay=float(rng.choice([0.0, 0.25, 0.5, 0.55, 1.0])),
                      reset=str(rng.choice(["zero", "subtract"])), bias=pop.bias)


def _add_recurrence(rng: np.random.Generator, pops: list, projs: list, quantised: bool, frames: bool) -> None:
    """Turn some hidden populations into cuba_lif and add 1-3 delayed projections between hidden
    populations (any direction, self-loops included) and maybe a delayed skip from the input.

    With frame input the analog encoder's targets get no second input: inexact analog currents
    summed with other projections in another order would round differently (the engine adds
    projection after projection, as the reference does, but within one projection it adds spike
    by spike where the reference multiplies a matrix)."""
    hidden = [i for i, p in enumerate(pops) if p.kind not in ("input", "readout")]
    fed_by_input = {q.target for q in projs if q.source == "input"}
    targets = [i for i in hidden if not (frames and pops[i].name in fed_by_input)] or hidden[:0]
    for i in hidden:
        if rng.random() < 0.5:
            pops[i] = _cuba(rng, pops[i])
    for k in range(int(rng.integers(1, 4)) if targets else 0):
        a, b = pops[int(rng.choice(hidden))], pops[int(rng.choice(targets))]
        delay = int(rng.integers(1, 3))
        if a.shape == b.shape and rng.random() < 0.3:
            scale = _weights(rng, (a.shape[0],), quantised) if rng.random() < 0.5 else None
            projs.append(Projection(f"r{k}", "identity", a.name, b.name, scale=scale, delay=delay))
        elif len(a.shape) == 3 and a.shape[1:] == b.shape[1:] and rng.random() < 0.5:
            weight = _weights(rng, (b.shape[0], a.shape[0], 3, 3), quantised)
            projs.append(Projection(f"r{k}", "conv2d", a.name, b.name, weight=weight, padding=1, delay=delay))
        else:
            weight = _weights(rng, (int(np.prod(b.shape)), int(np.prod(a.shape))), quantised)
            projs.append(Projection(f"r{k}", "dense", a.name, b.name, weight=weight, delay=delay))
    if rng.random() < 0.4 and not frames:  # a delayed forward skip (feed-forward, no cycle)
        b = pops[int(rng.choice(hidden))]
        src = pops[0]
        weight = _weights(rng, (int(np.prod(b.shape)), int(np.prod(src.shape))), quantised)
        delay = int(rng.integers(1, 4))
        projs.append(Projection("skip", "dense", "input", b.name, weight=weight, delay=delay))
