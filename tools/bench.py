"""Engine benchmark (issue 5): the scatter kernel figure and end-to-end speed-up vs dense PyTorch.

(a) Kernel: one 128-channel 3x3 conv (padding 1) at 32x32, a random input spike map of 5%
    density (signed +/-1), float32: SOPs per second on one core of ``kernels.scatter_conv`` on
    the spike list in the order neurons emit it (pixel-major), and of the engine's path for this
    layer, which first reorders the spikes for cache blocking (``kernels.order_for_conv``; the
    plan blocks every conv above 256 KiB). Best of 500 calls each (~1 s in all, so that a burst of
    load from other processes on the shared L3 does not decide the figure), alternating; the SOP
    count is the kernel's own. Weight and current buffers are 64-byte aligned, as the engine
    allocates them (``plan.aligned_zeros``).
(b) End to end: a Ternary-Spike ResNet-19-style network built directly in the IR with random
    (He-normal) weights -- stem conv 128, stages of 3/3/2 basic blocks at 128/256/512 channels
    (stride 2 and a 1x1 conv shortcut entering stages 2 and 3), global average pool folded into
    the dense readout (10 classes) -- on a 2x48x48 event input, T = 10, ternary LIF neurons
    (decay 0.25, hard reset). Per target density d the thresholds are calibrated layer by layer
    (bisection on the dense PyTorch model) so that every layer fires on about a fraction d of
    its neurons per step; the input has density d too. Both sides run the same network:
    eventsim ``Simulator(float32)`` vs PyTorch CPU dense inference in multi-step mode (T folded
    into the batch for every convolution, as the Ternary Spike reference code does; batch 1),
    both on one thread. Times are the best of ``--repeat`` runs after a warm-up, the two sides
    alternating (so that load from other processes affects both alike); the first
    engine run (Numba compile or cache load) is reported separately, as is a cold compile in a
    fresh process with an empty Numba cache (``--cold``).

Usage::

    python tools/bench.py                       # everything, prints the table
    python tools/bench.py --densities 0.05 --repeat 2 --json bench.json
    eventsim bench                              # the same through the CLI
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # only the end-to-end comparison needs torch: --no-e2e runs without it
    torch = F = None

from eventsim.engine import kernels
from eventsim.engine.plan import aligned_zeros, compile_plan
from eventsim.engine.simulator import Simulator
from eventsim.network.compose import compose_pool
from eventsim.network.ir import InputSpec, Network, Population, Projection

TARGETS = {0.01: 10.0, 0.05: 3.0, 0.10: 1.5, 0.20: 1.0}  # issue 5: minimum speed-ups


# -- (a) kernel ------------------------------------------------------------------------------
def kernel_bench(channels: int = 128, size: int = 32, density: float = 0.05, repeat: int = 500,
                 seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    c, h, w = channels, size, size
    pops = [Population("input", "input", (c, h, w)),
            Population("a", "ternary_lif", (c, h, w), threshold=0.5, decay=0.25),
            Population("out", "readout", (1,))]
    projs = [Projection("c", "conv2d", "input", "a", padding=1,
                        weight=rng.normal(0, 0.1, (c, c, 3, 3)).astype(np.float32)),
             Projection("d", "dense", "a", "out", weight=np.ones((1, c * h * w), np.float32))]
    net = Network("kernel", pops, projs, ["input", "a", "out"], input=InputSpec(kind="frames"))
    q = compile_plan(net, "float32").projections[0]
    n = c * h * w
    idx = np.flatnonzero(rng.random(n) < density).astype(np.int64)  # internal (y, x, c) order
    val = rng.choice(np.array([1, -1], np.int64), idx.size)
    cur = aligned_zeros(n, np.float32)  # as the engine allocates its current buffer
    sops = np.zeros(2, np.int64)
    wt = q.weight.ravel()
    # the engine's path for this layer: the cache-blocking reorder (timed too), then the scatter
    bands = -(-h // max(q.band_rows, 1))
    scratch = (np.zeros(bands * c + 1, np.int64), *(np.zeros(idx.size, np.int64) for _ in range(3)))

    def propagate():
        if q.band_rows:
            kernels.order_for_conv(idx, val, idx.size, c, w, q.band_rows, *scratch)
            kernels.scatter_conv(scratch[2], scratch[3], idx.size, q.geom, wt, cur, sops)
        else:
            kernels.scatter_conv(idx, val, idx.size, q.geom, wt, cur, sops)

    def scatter_only():
        kernels.scatter_conv(idx, val, idx.size, q.geom, wt, cur, sops)

    t0 = time.perf_counter()
    propagate()
    first = time.perf_counter() - t0
    best = best_engine = float("inf")
    for _ in range(repeat):  # alternate, so that machine load hits both figures alike
        sops[:] = 0
        t0 = time.perf_counter()
        scatter_only()
        best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        propagate()
        best_engine = min(best_engine, time.perf_counter() - t0)
    total = int(sops.sum()) // 2
    return {"channels": c, "size": size, "density": density, "spikes": int(idx.size), "sops": total,
            "band_rows": int(q.band_rows),
            "seconds": best, "gsops": total / best / 1e9, "engine_path_seconds": best_engine,
            "engine_path_gsops": total / best_engine / 1e9, "first_call_s": first}


# -- (b) the network ---------------------------------------------------------------------------
def resnet19_ir(seed: int = 0, in_shape=(2, 48, 48), classes: int = 10, decay: float = 0.25) -> Network:
    """A Ternary-Spike ResNet-19-style IR network with random He-normal weights, thresholds 1."""
    rng = np.random.default_rng(seed)
    pops = [Population("input", "input", in_shape)]
    projs: list[Projection] = []

    def conv_w(cout, cin, k):
        return rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)

    def neuron(name, shape):
        pops.append(Population(name, "ternary_lif", shape, threshold=1.0, decay=decay))

    c, h, w = in_shape
    neuron("stem", (128, h, w))
    projs.append(Projection("stem.conv", "conv2d", "input", "stem", weight=conv_w(128, c, 3), padding=1))
    cur, cin = "stem", 128
    for stage, (width, blocks) in enumerate([(128, 3), (256, 3), (512, 2)], start=1):
        for b in range(blocks):
            stride = 2 if stage > 1 and b == 0 else 1
            h, w = (h - 1) // stride + 1, (w - 1) // stride + 1
            name = f"s{stage}b{b}"
            neuron(name + ".a", (width, h, w))
            projs.append(Projection(name + ".conv1", "conv2d", cur, name + ".a",
                                    weight=conv_w(width, cin, 3), stride=stride, padding=1))
            neuron(name + ".out", (width, h, w))
            projs.append(Projection(name + ".conv2", "conv2d", name + ".a", name + ".out",
                                    weight=conv_w(width, width, 3), padding=1))
            if stride == 1 and cin == width:
                projs.append(Projection(name + ".short", "identity", cur, name + ".out"))
            else:
                projs.append(Projection(name + ".short", "conv2d", cur, name + ".out",
                                        weight=conv_w(width, cin, 1), stride=stride))
            cur, cin = name + ".out", width
    pool = Projection("pool", "sumpool2d", cur, "out", kernel_size=(h, w), stride=(h, w))
    fc = Projection("fc", "dense", cur, "out",
                    weight=rng.normal(0, np.sqrt(1.0 / cin), (classes, cin)).astype(np.float32))
    projs.append(compose_pool(pool, fc, (cin, h, w), factor=1.0 / (h * w), name="fc", verify=False))
    pops.append(Population("out", "readout", (classes,)))
    return Network("resnet19-bench", pops, projs, [p.name for p in pops], timesteps=10,
                   input=InputSpec(kind="events", polarity="split", sensor=(in_shape[2], in_shape[1])))


def with_thresholds(net: Network, thresholds: dict[str, float]) -> Network:
    pops = [Population(p.name, p.kind, p.shape, threshold=thresholds[p.name], decay=p.decay,
                       reset=p.reset) if p.name in thresholds else p for p in net.populations]
    return Network(net.name, pops, net.projections, net.order, net.timesteps, net.input, net.provenance)


# -- dense PyTorch twin ------------------------------------------------------------------------
def no_grad(fn):
    """``torch.no_grad()`` entered at call time, so that importing this file needs no torch."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)
    return wrapper


class TorchTwin:
    """The same IR network as dense PyTorch ops, multi-step (T in the batch dimension)."""

    def __init__(self, net: Network):
        self.net = net
        self.w = {q.name: torch.from_numpy(np.asarray(q.weight, np.float32)) for q in net.projections
                  if q.weight is not None}
        self.scale = {q.name: torch.from_numpy(np.asarray(q.scale, np.float32)).view(1, -1, 1, 1)
                      for q in net.projections if q.scale is not None}

    def project(self, q: Projection, x: torch.Tensor) -> torch.Tensor:
        if q.kind == "conv2d":
            return F.conv2d(x, self.w[q.name], stride=q.stride, padding=q.padding, dilation=q.dilation,
                            groups=q.groups)
        if q.kind == "dense":
            return x.reshape(x.shape[0], -1) @ self.w[q.name].T
        if q.kind == "identity":
            return x * self.scale[q.name] if q.name in self.scale else x
        k = q.kernel_size
        return F.avg_pool2d(x, k, q.stride, q.padding) * (k[0] * k[1])

    def current(self, name: str, spikes: dict) -> torch.Tensor:
        total = None
        for q in self.net.incoming(name):
            part = self.project(q, spikes[q.source])
            total = part if total is None else total + part
        return total

    @staticmethod
    def lif(pop: Population, current: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(current[0])
        out = torch.empty_like(current)
        th, lam = pop.threshold, pop.decay
        for t in range(current.shape[0]):
            v = lam * v + current[t]
            s = (v >= th).float() - (v <= -th).float()
            v = torch.where(s != 0, torch.zeros_like(v), v)
            out[t] = s
        return out

    @no_grad
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        spikes = {"input": x}
        out = None
        for pop in self.net.ordered_populations()[1:]:
            cur = self.current(pop.name, spikes)
            if pop.kind == "readout":
                out = cur.sum(0)
            else:
                spikes[pop.name] = self.lif(pop, cur)
        return out, spikes


@no_grad
def calibrate(net: Network, x: torch.Tensor, density: float, iters: int = 14) -> Network:
    """Thresholds giving each ternary layer about ``density`` firing per neuron and step."""
    twin = TorchTwin(net)
    spikes = {"input": x}
    thresholds = {}
    for pop in net.ordered_populations()[1:]:
        cur = twin.current(pop.name, spikes)
        if pop.kind == "readout":
            break
        lo, hi = 1e-6, float(cur.abs().max()) * 2 + 1e-6
        for _ in range(iters):  # geometric bisection: firing falls as the threshold rises
            mid = (lo * hi) ** 0.5
            probe = Population(pop.name, pop.kind, pop.shape, threshold=mid, decay=pop.decay)
            rate = float(twin.lif(probe, cur).abs().mean())
            lo, hi = (mid, hi) if rate > density else (lo, mid)
        thresholds[pop.name] = (lo * hi) ** 0.5
        probe = Population(pop.name, pop.kind, pop.shape, threshold=thresholds[pop.name], decay=pop.decay)
        spikes[pop.name] = twin.lif(probe, cur)
    return with_thresholds(net, thresholds)


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def end_to_end(densities, timesteps: int = 10, repeat: int = 3, seed: int = 0) -> list[dict]:
    torch.set_num_threads(1)
    base = resnet19_ir(seed)
    rows = []
    rng = np.random.default_rng(seed + 1)
    for d in densities:
        pos = (rng.random((timesteps,) + base.input_shape) < d).astype(np.int64)
        x = torch.from_numpy(pos.astype(np.float32))
        net = calibrate(base, x, d)
        twin = TorchTwin(net)
        sim = Simulator(net, "float32")
        t0 = time.perf_counter()
        result = sim.run_counts(pos)
        first = time.perf_counter() - t0
        twin.forward(x)  # warm-up
        # alternate the two sides so that load from other processes hits both alike
        t_engine = t_torch = float("inf")
        for _ in range(repeat):
            t_engine = min(t_engine, best_time(lambda: sim.run_counts(pos), 1))  # noqa: B023
            t_torch = min(t_torch, best_time(lambda: twin.forward(x), 1))  # noqa: B023
        out_t, spk_t = twin.forward(x)
        spiking = [p for p in net.populations if p.spiking]
        fired = sum(int(result.spike_counts[p.name].sum()) for p in spiking)
        neurons = sum(p.size for p in spiking) * timesteps
        torch_fired = sum(int(spk_t[p.name].abs().sum()) for p in spiking)
        totals = result.totals()
        rows.append({
            "target_density": d, "density": fired / neurons, "input_density": float(pos.mean()),
            "sops": totals["sops"], "dense_macs": totals["dense_macs"] * timesteps,
            "engine_s": t_engine, "torch_s": t_torch, "speedup": t_torch / t_engine,
            "target_speedup": TARGETS.get(d), "engine_first_s": first,
            "gsops": totals["sops"] / t_engine / 1e9, "multiplications": totals["multiplications"],
            "spikes_engine": fired, "spikes_torch": torch_fired,
            "same_prediction": int(result.prediction) == int(torch.argmax(out_t)),
        })
    return rows


def cold_compile_seconds() -> float:
    """First run of a small network in a fresh process with an empty Numba cache."""
    code = ("import time; t=time.perf_counter(); import numpy as np; "
            "from tools.bench import resnet19_ir; from eventsim.engine.simulator import Simulator; "
            "net=resnet19_ir(0,(2,8,8)); Simulator(net).run_counts(np.ones((1,2,8,8),np.int64)); "
            "print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True, cwd=root)
    return float(out.stdout.strip().splitlines()[-1])


def format_table(kernel: dict | None, rows: list[dict], cold: float | None) -> str:
    lines = []
    if kernel:
        ok = "met" if kernel["gsops"] >= 8 else "MISSED"
        lines.append(f"kernel: 128-ch 3x3 conv at {kernel['size']}x{kernel['size']}, "
                     f"{kernel['density']:.0%} input spikes, float32, 1 core: "
                     f"{kernel['gsops']:.2f} G SOP/s (target >= 8: {ok}; {kernel['sops']:,} SOPs "
                     f"in {kernel['seconds'] * 1e3:.2f} ms); with the engine's cache-blocking "
                     f"reorder: {kernel['engine_path_gsops']:.2f} G SOP/s")
    if rows:
        lines.append("end to end: ResNet-19-style ternary SNN, 2x48x48 events, T=10, batch 1, 1 thread")
        head = (f"{'density':>8} {'measured':>8} {'SOPs':>14} {'dense MACs':>14} {'eventsim':>9} "
                f"{'PyTorch':>9} {'speed-up':>8} {'target':>7}  status")
        lines.append(head)
        lines.append("-" * len(head))
        for r in rows:
            tgt = r["target_speedup"]
            status = "" if tgt is None else ("met" if r["speedup"] >= tgt else "MISSED")
            lines.append(f"{r['target_density']:>8.0%} {r['density']:>8.2%} {r['sops']:>14,} "
                         f"{r['dense_macs']:>14,} {r['engine_s']:>8.3f}s {r['torch_s']:>8.3f}s "
                         f"{r['speedup']:>7.2f}x {'' if tgt is None else f'{tgt:g}x':>7}  {status}")
        first = max(r["engine_first_s"] - r["engine_s"] for r in rows)
        lines.append(f"first engine run overhead (compile or cache load): {first:.2f} s; "
                     f"multiplications after the encoder: {max(r['multiplications'] for r in rows)}")
    if cold is not None:
        lines.append(f"cold Numba compile of all engine kernels (empty cache, fresh process): {cold:.1f} s")
    return "\n".join(lines)


def run_all(densities=(0.01, 0.05, 0.10, 0.20), timesteps: int = 10, repeat: int = 3,
            kernel: bool = True, e2e: bool = True, cold: bool = False) -> dict:
    doc = {"kernel": kernel_bench() if kernel else None,
           "end_to_end": end_to_end(densities, timesteps, repeat) if e2e else [],
           "cold_compile_s": cold_compile_seconds() if cold else None}
    doc["table"] = format_table(doc["kernel"], doc["end_to_end"], doc["cold_compile_s"])
    return doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--densities", type=lambda s: [float(v) for v in s.split(",")],
                    default=[0.01, 0.05, 0.10, 0.20])
    ap.add_argument("--timesteps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-kernel", action="store_true")
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--cold", action="store_true", help="also time a cold compile in a fresh process")
    ap.add_argument("--json", help="write the results as JSON to this path")
    args = ap.parse_args(argv)
    doc = run_all(args.densities, args.timesteps, args.repeat, not args.no_kernel, not args.no_e2e,
                  args.cold)
    print(doc["table"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
