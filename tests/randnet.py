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
                   quantised: bool | None = None, pre_pool: bool = False) -> Network:
    """A random feed-forward DAG: conv / sumpool / identity / residual blocks, then dense.

    With ``pre_pool`` about half the plain convs get a random sum-pool before them (drawn from a
    separate stream, so the networks of existing seeds are otherwise unchanged).
    """
    rng = np.random.default_rng(seed)
    rng_pool = np.random.default_rng(seed + 104729)
    quantised = bool(rng.random() < 0.5) if quantised is None else quantised
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
