"""Running one input file through a simulator, and the per-sample record an evaluation keeps.

:func:`run_file` is what ``eventsim run`` and ``eventsim eval`` both do with a file: a static
``.npy``/``.png`` goes to the frame encoder, anything else is read as events (format detected by
content) and binned with :class:`InputOptions`. :func:`evaluate_sample` turns one run into a
plain, JSON-ready dict (the line an evaluation writes to its results file); a file that cannot be
read or run gives a record with an ``error`` instead of raising.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..energy.neurobench import sample_metrics
from ..energy.tables import CostTable, default_table
from ..engine.result import RunResult, spiking_outputs
from ..engine.simulator import Simulator
from ..errors import InputFormatError
from ..events.binning import binning_info, check_fit
from ..events.binstream import Replay, bin_stream, stream_stats
from ..events.frames import frame_kind, read_frames, read_step_array
from ..events.io import detect_format, read_info, stream_events
from ..events.sensor import resolve_sensor
from .dataset import Sample


@dataclass(frozen=True)
class InputOptions:
    """How an input file is turned into time steps (the options of ``eventsim run``)."""

    timesteps: int | None = None  # number of steps (None: the model's, or as many --bin-us windows)
    bin_us: int | None = None  # fixed window length in microseconds
    method: str | None = None  # "window" | "time" | "count" (None: from the two above)
    keep_partial: bool = False  # keep the last incomplete --bin-us window
    polarity: str | None = None  # "split" | "signed" (None: the model's)
    crop: tuple[int, int, int, int] | None = None  # X0, Y0, W, H kept before downscaling
    downscale: str | None = None  # "nearest" | "sum"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["crop"] = None if self.crop is None else list(self.crop)
        return d


def run_file(path: str, sim: Simulator, options: InputOptions = InputOptions(), *, progress=None,
             record: bool = False) -> RunResult:
    """Read ``path`` (events by content, or a static .npy/.png) and run ``sim`` on it.

    An event file without a sensor size gets one by the rule of :mod:`eventsim.events.sensor`
    (the model's sensor when its events fit in it, else the extent of its events); the result's
    ``input_info["sensor_from"]`` says which.
    """
    info: dict = {"path": path}
    kind = frame_kind(path)
    net = sim.network
    if kind == "npy" and (net.input.kind == "events" or len(net.input_shape) != 3):
        # a non-image model: one row per step, spike counts (event input) or analog values
        rows = read_step_array(path, net.input_shape)
        info.update(format=kind, shape=list(rows.shape))
        return sim.run(rows, timesteps=options.timesteps, input_info=info, progress=progress, record=record)
    if kind is not None:
        # the model's input shape is checked on the file's header, before its data is decoded
        expect = sim.network.input_shape if sim.network.input.kind == "frames" else None
        frames = read_frames(path, expect=expect)
        info.update(format=kind, shape=list(frames.shape))
        return sim.run(frames, timesteps=options.timesteps, input_info=info, progress=progress,
                       record=record)
    info["format"] = detect_format(path)
    return _run_events(path, sim, options, info, progress=progress, record=record)


def _run_events(path: str, sim: Simulator, options: InputOptions, info: dict, *, progress,
                record: bool) -> RunResult:
    """``sim.run`` on the events of ``path``, binned from the stream in bounded memory.

    The same defaults, checks and ``input_info`` as ``Simulator.run`` on the whole array (a test
    holds the two equal); the events are never all in memory, only the spikes they deliver.
    """
    net = sim.network
    if net.input.kind != "events":
        raise InputFormatError(f"model {net.name!r} takes {net.input.kind} input, got events")
    stated = read_info(path, info["format"]).sensor
    chunks = Replay(lambda: stream_events(path, fmt=info["format"]))
    stats = stream_stats(chunks, path)
    events_extent = None if stats.events == 0 else (stats.x_max + 1, stats.y_max + 1)
    sensor, info["sensor_from"] = resolve_sensor(stated, events_extent, net.sensor_size)
    if sensor is None:
        sensor = net.input.sensor or (net.input_shape[2], net.input_shape[1])
    polarity = options.polarity or net.input.polarity
    check_fit(sensor, net.input_shape, polarity, options.crop, options.downscale, where=path)
    timesteps = options.timesteps
    if timesteps is None and options.bin_us is None:
        timesteps = net.timesteps
    binned = bin_stream(chunks, stats, sensor, net.input_shape, polarity, timesteps, options.bin_us,
                        options.method, options.keep_partial, options.crop, options.downscale, where=path)
    info["events"] = stats.events
    info["sensor"] = [int(sensor[0]), int(sensor[1])]
    info.update(binning_info(binned, polarity, options.bin_us, options.method, options.keep_partial,
                             options.crop, options.downscale))
    return sim.run_binned(binned, record=record, input_info=info, progress=progress)


def static_input(path: str, net) -> np.ndarray | None:
    """The analog frames of a static input file for ``net`` (what its encoder multiplies), or None
    for an event recording or a spike-count array (an event-input model has no encoder)."""
    if net.input.kind != "frames" or frame_kind(path) is None:
        return None
    if len(net.input_shape) != 3:
        return read_step_array(path, net.input_shape)
    return read_frames(path)


def evaluate_sample(sim: Simulator, sample: Sample, options: InputOptions,
                    table: CostTable | None = None) -> dict:
    """The result record of ``sample``: prediction, output, per-layer spikes and SOPs, energy,
    steps run and latency (``decision_step``, ``first_output_spike``: see :func:`_latency`).

    Every count is an exact integer and ``output`` holds the float64 readout values, so records
    are identical whatever process computed them (``seconds``, the wall time, is the only field
    that varies). Any exception while reading or running the file is caught and recorded in
    ``error`` (``"Type: message"``): one bad file never stops an evaluation.
    """
    table = table or default_table()
    rec = {"index": sample.index, "path": sample.name, "label": sample.label}
    start = time.perf_counter()
    try:
        result = run_file(sample.path, sim, options, record=True)  # per-neuron spikes for NeuroBench
        frames = static_input(sample.path, sim.network)
    except Exception as exc:  # noqa: BLE001 - reported per sample, never fatal (see docstring)
        rec.update(error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
        return rec
    seconds = time.perf_counter() - start
    layers = result.layers
    totals = result.totals
    spiking = {p.name for p in result.network.populations if p.spiking}
    # E = E_MAC * MACs + E_AC * SOPs (DESIGN.md, Reports); MACs are 0 on event input
    mac_pj = table.mac_pJ if table.mac_pJ is not None else default_table().mac_pJ
    energy = table.ac_pJ * totals["sops"] + mac_pj * totals["macs"]
    rec.update(
        prediction=result.prediction,
        correct=bool(result.prediction == sample.label),
        output=[float(v) for v in np.asarray(result.output, np.float64)],
        events=int(result.input_info.get("events", 0)),
        spikes=sum(lay["spikes_pos"] + lay["spikes_neg"] for lay in layers if lay["name"] in spiking),
        sops=int(totals["sops"]), macs=int(totals["macs"]),
        multiplications=int(totals["multiplications"]),
        energy_pJ=float(energy),
        layers=[{"name": lay["name"], "spikes_pos": lay["spikes_pos"], "spikes_neg": lay["spikes_neg"],
                 "sops": lay["sops"]} for lay in layers],
        seconds=seconds,
        neurobench=sample_metrics(result, frames),
    )
    rec.update(_latency(result))
    if result.saturations:
        rec["saturations"] = sum(int(s.sum()) for s in result.saturations.values())
    return rec


def _latency(result: RunResult) -> dict:
    """``timesteps`` (steps run), ``decision_step`` and, for spike-count outputs only,
    ``first_output_spike`` (None: the output never fired). The key is absent for other readouts,
    so that a summary can tell "never fired" from "not a spiking output"."""
    latency = result.latency
    out = {"timesteps": int(result.timesteps), "decision_step": latency["decision_step"]}
    if spiking_outputs(result.network) is not None:
        out["first_output_spike"] = latency["first_output_spike"]
    return out


#: Record fields that depend on timing, not on the computation (excluded from comparisons).
TIMING_FIELDS = ("seconds",)


def comparable(rec: dict) -> dict:
    """``rec`` without its timing fields: what must be identical across workers and runs."""
    return {k: v for k, v in rec.items() if k not in TIMING_FIELDS}
