"""The NIR paper's Braille RNNs in snnTorch (the independent reference) and in eventsim.

snnTorch builds the original models from the checkpoints in ``<shared data>/nir/checkpoints``
(``fc1 -> RSynaptic -> fc2 -> Synaptic``, hyper-parameters in the matching JSON files, the reset
mechanism from the checkpoint's ``reset_mechanism_val``), exactly as the paper's training code
does; eventsim runs (a) the NIR graphs through ``load_nir`` and (b) an IR built directly from the
checkpoint's α, β and weights. ``python -m tests.network.braille_ref`` prints the agreement table
quoted in the README.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventsim.engine.simulator import Simulator
from eventsim.network.ir import InputSpec, Network, Population, Projection

#: (NIR graph, checkpoint, parameters) of the two Braille models
MODELS = {
    "bias_zero": ("braille_noDelay_bias_zero.nir", "model_noDelay_bias_ref_zero.pt",
                  "parameters_noDelay_bias_ref_zero.json"),
    "noBias_subtract": ("braille_noDelay_noBias_subtract.nir", "model_noDelay_noBias_ref_subtract.pt",
                        "parameters_noDelay_noBias_ref_subtract.json"),
}
RESETS = {0: "subtract", 1: "zero"}  # snnTorch's reset_mechanism_val
LAYERS = ("lif1", "lif2")


def load_checkpoint(nir_dir: Path, model: str) -> tuple[dict, dict]:
    """(state dict as float64 NumPy arrays, hyper-parameters) of ``model``."""
    import torch

    _, ckpt, params = MODELS[model]
    sd = torch.load(nir_dir / "checkpoints" / ckpt, map_location="cpu", weights_only=True)
    with open(nir_dir / "checkpoints" / params) as f:
        hyper = json.load(f)
    return {k: v.double().numpy() for k, v in sd.items()}, hyper


def snntorch_model(sd: dict, hyper: dict):
    """The paper's network (``generate_rnn_nir_graph.py``'s ``Net``) with the checkpoint loaded, float64."""
    import snntorch as snn
    import torch
    from torch import nn

    hidden = int(hyper["nb_hidden"])
    reset = RESETS[int(sd["lif1.reset_mechanism_val"])]

    def heaviside(x):  # the forward of every snnTorch surrogate, (x > 0), kept in x's dtype (float64)
        return (x > 0).to(x.dtype)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(12, hidden, bias="fc1.bias" in sd)
            self.lif1 = snn.RSynaptic(alpha=hyper["alpha_r"], beta=hyper["beta_r"], linear_features=hidden,
                                      reset_mechanism=reset, spike_grad=heaviside)
            self.fc2 = nn.Linear(hidden, 7, bias="fc2.bias" in sd)
            self.lif2 = snn.Synaptic(alpha=hyper["alpha_out"], beta=hyper["beta_out"],
                                     reset_mechanism=RESETS[int(sd["lif2.reset_mechanism_val"])],
                                     spike_grad=heaviside)

        def forward(self, x):
            spk1, syn1, mem1 = self.lif1.init_rsynaptic()
            syn2, mem2 = self.lif2.init_synaptic()
            rec1, rec2 = [], []
            for step in range(x.shape[0]):
                spk1, syn1, mem1 = self.lif1(self.fc1(x[step]), spk1, syn1, mem1)
                spk2, syn2, mem2 = self.lif2(self.fc2(spk1), syn2, mem2)
                rec1.append(spk1)
                rec2.append(spk2)
            return torch.stack(rec1), torch.stack(rec2)

    net = Net()
    state = {k: torch.from_numpy(v) for k, v in sd.items()}
    if "lif1.recurrent.bias" not in state:  # trained without recurrent bias
        state["lif1.recurrent.bias"] = torch.zeros(hidden, dtype=torch.float64)
    net.double()
    net.load_state_dict(state, strict=True)
    return net.eval()


def run_snntorch(net, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Spikes (B, T, N) of both layers for inputs (B, T, 12)."""
    import torch

    with torch.no_grad():
        s1, s2 = net(torch.from_numpy(np.ascontiguousarray(inputs.transpose(1, 0, 2), np.float64)))
    return {"lif1": s1.numpy().transpose(1, 0, 2).astype(np.int64),
            "lif2": s2.numpy().transpose(1, 0, 2).astype(np.int64)}


def checkpoint_network(sd: dict, hidden: int) -> Network:
    """The Braille RNN as an eventsim IR with the checkpoint's exact α, β, weights and resets."""
    def bias(n, *keys):  # every bias into a layer is one constant current per step
        total = sum((sd[k] for k in keys if k in sd), np.zeros(n))
        return total if np.any(total) else None

    def cuba(layer, n, b):
        return Population(layer, "cuba_lif", (n,), threshold=float(sd[f"{layer}.threshold"]),
                          decay=float(sd[f"{layer}.beta"]), syn_decay=float(sd[f"{layer}.alpha"]),
                          reset=RESETS[int(sd[f"{layer}.reset_mechanism_val"])], bias=b)

    pops = [Population("input", "input", (1, 1, 12)),
            cuba("lif1", hidden, bias(hidden, "fc1.bias", "lif1.recurrent.bias")),
            cuba("lif2", 7, bias(7, "fc2.bias")), Population("output", "readout", (7,))]
    projs = [Projection("fc1", "dense", "input", "lif1", weight=sd["fc1.weight"]),
             Projection("w_rec", "dense", "lif1", "lif1", weight=sd["lif1.recurrent.weight"], delay=1),
             Projection("fc2", "dense", "lif1", "lif2", weight=sd["fc2.weight"]),
             Projection("out", "identity", "lif2", "output")]
    return Network("braille-checkpoint", pops, projs, ["input", "lif1", "lif2", "output"], timesteps=256,
                   input=InputSpec("events", "signed"))


def run_eventsim(net: Network, inputs: np.ndarray, precision: str = "float64") -> dict[str, np.ndarray]:
    """Spikes (B, T, N) of the two CubaLIF layers (the NIR names mapped to lif1/lif2) for (B, T, 12)."""
    sim = Simulator(net, precision, threads=1)
    names = [p.name for p in net.populations if p.kind == "cuba_lif"]
    out = {k: [] for k in LAYERS}
    for x in inputs:
        res = sim.run_counts(x.reshape(x.shape[0], 1, 1, 12).astype(np.int64), record=True)
        for layer, name in zip(LAYERS, names):
            out[layer].append(res.spikes[name].reshape(x.shape[0], -1))
    return {k: np.stack(v) for k, v in out.items()}


def random_inputs(batch: int, steps: int, seed: int) -> np.ndarray:
    """Bernoulli spike inputs (B, T, 12), each sample with its own rate in [0.02, 0.4]."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.02, 0.4, (batch, 1, 1))
    return (rng.random((batch, steps, 12)) < rates).astype(np.int64)


def patterns(steps: int) -> np.ndarray:
    """Hand-made inputs (B, T, 12): silence, one taxel always on, every taxel always on, a taxel
    sweep (taxel t mod 12 at step t), two halves alternating every 8 steps, a single burst."""
    x = np.zeros((6, steps, 12), np.int64)
    x[1, :, 3] = 1
    x[2] = 1
    x[3, np.arange(steps), np.arange(steps) % 12] = 1
    halves = (np.arange(steps) // 8) % 2
    x[4, halves == 0, :6] = 1
    x[4, halves == 1, 6:] = 1
    x[5, 10:20, :] = 1
    return x


@dataclass
class Agreement:
    """How eventsim's spikes compare with snnTorch's, per layer."""

    spikes_equal: dict[str, float]  # fraction of (sample, step, neuron) spike values equal
    counts_equal: dict[str, float]  # fraction of (sample, neuron) spike counts over the run equal
    totals: dict[str, tuple[int, int]]  # total spikes (eventsim, snnTorch)
    identical_samples: int  # samples whose every spike of both layers is equal
    predictions_equal: int  # samples with the same argmax of output spike counts
    samples: int


def agreement(ours: dict, ref: dict) -> Agreement:
    eq_s = {k: float((ours[k] == ref[k]).mean()) for k in LAYERS}
    eq_c = {k: float((ours[k].sum(1) == ref[k].sum(1)).mean()) for k in LAYERS}
    totals = {k: (int(ours[k].sum()), int(ref[k].sum())) for k in LAYERS}
    same = np.ones(len(ours["lif1"]), bool)
    for k in LAYERS:
        same &= (ours[k] == ref[k]).reshape(len(same), -1).all(axis=1)
    preds = int((ours["lif2"].sum(1).argmax(1) == ref["lif2"].sum(1).argmax(1)).sum())
    return Agreement(eq_s, eq_c, totals, int(same.sum()), preds, len(same))


def compare(nir_dir: Path, model: str, inputs: np.ndarray) -> dict[str, Agreement]:
    """Agreement with snnTorch of: the NIR graph as imported, the NIR graph with the checkpoint's
    reset, and the IR built from the checkpoint (float64 and float32)."""
    from eventsim.network.nir import load_nir

    sd, hyper = load_checkpoint(nir_dir, model)
    ref = run_snntorch(snntorch_model(sd, hyper), inputs)
    reset = RESETS[int(sd["lif1.reset_mechanism_val"])]
    graph = nir_dir / MODELS[model][0]
    return {
        "NIR graph (default import)": agreement(run_eventsim(load_nir(graph), inputs), ref),
        f"NIR graph, reset={reset}": agreement(run_eventsim(load_nir(graph, reset=reset), inputs), ref),
        "checkpoint IR, float64": agreement(run_eventsim(checkpoint_network(sd, int(hyper["nb_hidden"])),
                                                          inputs), ref),
        "checkpoint IR, float32": agreement(run_eventsim(checkpoint_network(sd, int(hyper["nb_hidden"])),
                                                          inputs, "float32"), ref),
    }


def main(nir_dir: str) -> None:
    inputs = {"random": random_inputs(100, 256, seed=1), "patterns": patterns(256)}
    for model in MODELS:
        for name, x in inputs.items():
            for what, a in compare(Path(nir_dir), model, x).items():
                cells = " ".join(f"{k}: spikes {a.spikes_equal[k]:.4%} counts {a.counts_equal[k]:.2%} "
                                 f"total {a.totals[k][0]}/{a.totals[k][1]};" for k in LAYERS)
                print(f"{model:16} {name:8} {what:28} {cells} identical {a.identical_samples}/{a.samples}, "
                      f"prediction {a.predictions_equal}/{a.samples}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/nir")
