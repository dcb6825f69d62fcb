"""What a run produces: outputs and exact per-layer, per-step, per-sign operation counts.

Both the fast engine and the reference can be summarised in this form; the report builders in
``eventsim.energy`` and the CLI read it. ``layers()`` follows the report schema of DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..network.counts import layer_dense_macs
from ..network.ir import Network


@dataclass
class RunResult:
    """Outputs and counts of one run of ``network`` over ``timesteps`` steps."""

    network: Network  # the network that ran
    timesteps: int  # number of steps run
    output: np.ndarray  # readout value after the last step (float64, flat)
    spike_counts: dict[str, np.ndarray]  # population -> (T, 2) int64 [+ units, − units]; input: events
    sops: dict[str, np.ndarray]  # projection -> (T, 2) int64 SOPs from + / − source spikes
    macs: dict[str, np.ndarray]  # projection -> (T,) int64 encoder MACs (frame input only)
    precision: str = "float64"  # "float32" | "float64" | "int"
    multiplications: int = 0  # multiplications performed after the encoder
    input_info: dict = field(default_factory=dict)  # path, format, events, sensor, binning
    spikes: dict[str, np.ndarray] | None = None  # population -> (T, *shape) spike values, if recorded
    saturations: dict[str, np.ndarray] | None = None  # int mode: population -> (T,) int32 clips
    #: float engines, when recorded: spiking population -> (T, *shape) float64 input current of
    #: each step (the sum of its projections, bias not included)
    currents: dict[str, np.ndarray] | None = None
    #: (T, N) float64: what the readout added in each step (its input current plus bias, in the
    #: run's arithmetic); adding the rows up in order gives ``output`` (and every step's value)
    readout_steps: np.ndarray | None = None

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.output))

    def __repr__(self) -> str:
        # the default dataclass repr would print every array and the whole network
        t = self.totals
        return (f"RunResult(network={self.network.name!r}, timesteps={self.timesteps}, "
                f"precision={self.precision!r}, prediction={self.prediction}, sops={t['sops']:,}, "
                f"macs={t['macs']:,}, multiplications={t['multiplications']:,})")

    def layer_sops(self, name: str) -> np.ndarray:
        """(T, 2) SOPs of all projections into population ``name``."""
        total = np.zeros((self.timesteps, 2), np.int64)
        for proj in self.network.incoming(name):
            total += self.sops[proj.name]
        return total

    def layer_macs(self, name: str) -> np.ndarray:
        """(T,) encoder MACs of all projections into population ``name``."""
        total = np.zeros(self.timesteps, np.int64)
        for proj in self.network.incoming(name):
            total += self.macs[proj.name]
        return total

    @property
    def layers(self) -> list[dict]:
        """One entry per population in order, as in the report schema."""
        out = []
        for pop in self.network.ordered_populations():
            spikes = self.spike_counts.get(pop.name, np.zeros((self.timesteps, 2), np.int64))
            sops = self.layer_sops(pop.name)
            out.append({
                "name": pop.name, "kind": pop.kind, "neurons": pop.size,
                "spikes_pos": int(spikes[:, 0].sum()), "spikes_neg": int(spikes[:, 1].sum()),
                "sops": int(sops.sum()), "sops_pos": int(sops[:, 0].sum()),
                "sops_neg": int(sops[:, 1].sum()),
                "macs": int(self.layer_macs(pop.name).sum()),
                "dense_macs": layer_dense_macs(self.network, pop.name),
            })
        return out

    @property
    def projections(self) -> list[dict]:
        """SOPs itemised per projection."""
        return [{"name": q.name, "kind": q.kind, "source": q.source, "target": q.target,
                 "sops": int(self.sops[q.name].sum()), "sops_pos": int(self.sops[q.name][:, 0].sum()),
                 "sops_neg": int(self.sops[q.name][:, 1].sum()),
                 "macs": int(self.macs[q.name].sum())} for q in self.network.projections]

    @property
    def totals(self) -> dict:
        layers = self.layers
        return {"sops": sum(lay["sops"] for lay in layers), "macs": sum(lay["macs"] for lay in layers),
                "dense_macs": sum(lay["dense_macs"] for lay in layers),
                "multiplications": int(self.multiplications)}

    def readout_trace(self) -> np.ndarray:
        """(T, N) float64: the readout's value after every step (the last row is ``output``),
        summed in the run's arithmetic (float32 runs in float32) so it matches the engine exactly."""
        if self.readout_steps is None:
            raise ValueError("the readout's steps were not recorded (run with record=True)")
        dtype = np.float32 if self.precision == "float32" else np.float64
        return np.cumsum(self.readout_steps.astype(dtype), axis=0, dtype=dtype).astype(np.float64)

    @property
    def latency(self) -> dict:
        """``decision_step``: the first step (0-based) after which the prediction no longer changes;
        ``first_output_spike``: the first step in which a spiking output fired (None when the
        output is not a spike count, or never fired)."""
        decided = None if self.readout_steps is None else decision_step(self.readout_trace())
        return {"decision_step": decided, "first_output_spike": first_output_spike(self)}

    def to_report(self) -> dict:
        """The report document of DESIGN.md, without the energy section."""
        return {"schema": "eventsim.report/1", "model": self.network.name, "input": self.input_info,
                "timesteps": self.timesteps, "precision": self.precision,
                "prediction": self.prediction, "output": [float(v) for v in self.output],
                "layers": self.layers, "projections": self.projections, "totals": self.totals,
                "latency": self.latency}


def decision_step(trace: np.ndarray) -> int | None:
    """First step after which ``argmax`` of the readout ``trace`` (T, N) no longer changes."""
    if trace is None or not len(trace):
        return None
    preds = np.argmax(trace.reshape(len(trace), -1), axis=1)
    changed = np.flatnonzero(preds != preds[-1])
    return int(changed[-1] + 1) if changed.size else 0


def spiking_outputs(network: Network) -> list[str] | None:
    """The spiking populations whose spikes the readout counts (identity projections only, the
    NIR/sinabs "spike count" output), or None when the readout integrates weighted currents."""
    incoming = network.incoming(network.output_population.name)
    sources = [network.population(q.source) for q in incoming]
    if not incoming or any(q.kind != "identity" or not p.spiking for q, p in zip(incoming, sources)):
        return None
    return [p.name for p in sources]


def first_output_spike(result: RunResult) -> int | None:
    """First step in which a population of :func:`spiking_outputs` fired (None if none or never)."""
    names = spiking_outputs(result.network)
    if names is None:
        return None
    fired = sum(np.abs(result.spike_counts[n]).sum(axis=1) for n in names)
    steps = np.flatnonzero(fired)
    return int(steps[0]) if steps.size else None
