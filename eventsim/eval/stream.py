"""Classifying a long recording or a live stream over time: windows, continuous state, timelines.

What ``eventsim run --window-us`` / ``--continuous`` do, as library functions:

- the source: :func:`eventsim.inputs.sources.open_source` (a file in chunks, standard input,
  a growing file).
- :func:`window_records`: one record per window (``Simulator.stream``): ``t_start``, ``t_end``,
  ``events``, ``prediction``, ``output``, ``sops``, ``timesteps`` and the latency fields.
- :func:`step_records`: one record per step of one network state over the whole stream
  (``Simulator.stream_steps``): the readout's ``increment`` in that step, the ``output`` summed
  over the last ``T`` increments and its argmax, the running ``prediction``.
- :class:`Timeline`: what the summary, the text timeline and the plot are made of.
- :class:`Pacer`: ``--realtime``: waits for each window's end in wall-clock time (as a camera
  would deliver it), measures the lag and drops windows it is too late for.

Times in records are file times in microseconds; the timeline shows seconds from the first event.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..energy.plots import _matplotlib, check_plot_path
from ..engine.result import RunResult, decision_step, spiking_outputs
from ..engine.simulator import Simulator
from ..engine.streaming import WindowResult, run_window
from ..errors import ConfigError
from ..events.windows import StreamStats, iter_windows
from ..files import atomic_output
from ..inputs.sources import Source

#: ``--realtime`` drops a window when it starts more than this many hops after its end.
LATE_HOPS = 1


# ---------------------------------------------------------------------------------------------
# real-time pacing


class Pacer:
    """Paces a run by event time (``--realtime``) and measures how far behind it falls.

    The wall clock starts at the first event; a result due at stream time ``t`` (its window's or
    step's end) can be made at the earliest ``(t - t0)`` µs later, so the pacer waits until then.
    ``lag`` is how long after that the result was ready; the real-time factor is the time not
    spent waiting (reading and computing) over the stream time covered.
    """

    def __init__(self, enabled: bool, clock=time.monotonic, sleep=time.sleep):
        self.enabled = enabled
        self._clock, self._sleep = clock, sleep
        self._origin: tuple[float, int] | None = None  # (wall clock, stream time) at start()
        self.slept = 0.0  # seconds spent waiting for event time
        self.lags: list[float] = []  # seconds, one per result
        self.dropped_windows = 0
        self.dropped_events = 0
        self.stream_seconds = 0.0  # stream time covered

    def start(self, t0: int) -> None:
        if self._origin is None:
            self._origin = (self._clock(), int(t0))

    def _started(self) -> tuple[float, int]:
        if self._origin is None:  # a caller's mistake: every run starts the pacer on its first events
            raise RuntimeError("Pacer.start() must come before wait(), done() and drop()")
        return self._origin

    def _due(self, t_end: int) -> float:
        wall0, t0 = self._started()
        return wall0 + (t_end - t0) * 1e-6

    def _covered(self, t_end: int) -> float:
        """Stream seconds from the start to ``t_end``."""
        return (t_end - self._started()[1]) * 1e-6

    def wait(self, t_end: int, hop_us: int | None = None) -> bool:
        """Wait until stream time ``t_end`` has come; False when it is already more than
        ``LATE_HOPS`` hops of ``hop_us`` past (the caller drops the window, as a live system would)."""
        if not self.enabled:
            return True
        now = self._clock()
        due = self._due(t_end)
        if now < due:
            self._sleep(due - now)
            self.slept += due - now
        return hop_us is None or now - due <= LATE_HOPS * hop_us * 1e-6

    def done(self, t_end: int) -> None:
        self.stream_seconds = max(self.stream_seconds, self._covered(t_end))
        if self.enabled:
            self.lags.append(max(0.0, self._clock() - self._due(t_end)))

    def drop(self, t_end: int, events: int) -> None:
        self.dropped_windows += 1
        self.dropped_events += events
        self.stream_seconds = max(self.stream_seconds, self._covered(t_end))

    def summary(self) -> dict:
        lags = np.asarray(self.lags) if self.lags else np.zeros(1)
        busy = (self._clock() - self._origin[0] - self.slept) if self._origin is not None else 0.0
        factor = busy / self.stream_seconds if self.stream_seconds > 0 else None
        return {"realtime_factor": factor, "lag_max_ms": float(lags.max() * 1e3),
                "lag_mean_ms": float(lags.mean() * 1e3), "dropped_windows": self.dropped_windows,
                "dropped_events": self.dropped_events}


# ---------------------------------------------------------------------------------------------
# records


def _output_list(values) -> list[float]:
    return [float(v) for v in np.asarray(values, np.float64).ravel()]


def window_record(wr: WindowResult) -> dict:
    """The JSON record of one window (``prediction``/``output`` None when the run refused it)."""
    rec: dict = {"window": wr.window.index, "t_start": wr.t_start, "t_end": wr.t_end,
                 "events": wr.events, "partial": wr.window.partial}
    r = wr.result
    if r is None:
        rec.update(prediction=None, output=None, sops=0, timesteps=0, decision_step=None,
                   first_output_spike=None, error=wr.error)
        return rec
    rec.update(prediction=r.prediction, output=_output_list(r.output), sops=int(r.totals["sops"]),
               timesteps=r.timesteps, **r.latency)
    rec["outside_map_events"] = int(r.input_info.get("outside_map_events", 0))
    return rec


def window_records(sim: Simulator, source: Source, window_us: int, hop_us: int | None = None, *,
                   keep_partial: bool = False, allow_gaps: bool = False, stats: StreamStats | None = None,
                   pacer: Pacer | None = None, **options) -> Iterator[dict]:
    """One record per window of ``source`` (see :func:`window_record`); ``options`` as ``Simulator.run``."""
    hop = window_us if hop_us is None else hop_us
    pacer = pacer or Pacer(False)
    for window in iter_windows(source.chunks, window_us, hop_us, keep_partial=keep_partial,
                               allow_gaps=allow_gaps, stats=stats):
        pacer.start(window.t_start)
        if not pacer.wait(window.t_end, hop):
            pacer.drop(window.t_end, len(window.events))
            continue
        rec = window_record(run_window(sim, window, source.sensor, where=source.name,
                                       keep_partial=keep_partial, **options))
        if stats is not None:
            stats.outside_map += rec.get("outside_map_events", 0)
        pacer.done(window.t_end)
        yield rec


class RunningOutput:
    """The running output of continuous mode: the sum of the last ``T`` readout increments."""

    def __init__(self, timesteps: int):
        self.timesteps = int(timesteps)
        self._last: deque = deque(maxlen=self.timesteps)

    def add(self, increment: np.ndarray) -> np.ndarray:
        self._last.append(np.asarray(increment, np.float64))
        total = np.zeros_like(self._last[0])
        for inc in self._last:  # oldest first
            total = total + inc
        return total


def _step_events(block) -> np.ndarray:
    """Events per step of a block (their count, whatever the crop keeps)."""
    rel = block.events["t"].astype(np.uint64) - np.uint64(block.origin % (1 << 64))
    return np.bincount((rel // np.uint64(block.bin_us)).astype(np.int64), minlength=block.steps)[:block.steps]


def step_records(sim: Simulator, source: Source, bin_us: int, *, timesteps: int | None = None,
                 keep_partial: bool = False, stats: StreamStats | None = None, pacer: Pacer | None = None,
                 **options) -> Iterator[dict]:
    """One record per step of one network state over ``source`` (``Simulator.stream_steps``).

    ``timesteps``: how many of the last increments the running output sums (default: the
    model's T). ``options``: ``polarity``, ``crop``, ``downscale``.
    """
    running = RunningOutput(timesteps or sim.network.timesteps)
    pacer = pacer or Pacer(False)
    chunks = _paced(source.chunks, pacer, bin_us) if pacer.enabled else source.chunks
    blocks = sim.stream_steps(chunks, bin_us, sensor=source.sensor, keep_partial=keep_partial,
                              stats=stats, where=source.name, **options)
    for block, result in blocks:
        pacer.start(block.origin)
        pacer.done(block.t_start(block.steps))
        counts = _step_events(block)
        sops = sum(s.sum(axis=1) for s in result.sops.values())
        for k in range(block.steps):
            inc = result.readout_steps[k]
            out = running.add(inc)
            yield {"step": block.first + k, "t_start": block.t_start(k), "t_end": block.t_start(k + 1),
                   "events": int(counts[k]), "prediction": int(np.argmax(out)), "output": _output_list(out),
                   "increment": _output_list(inc), "sops": int(sops[k]),
                   "output_spikes": _output_spikes(result, k)}


def _paced(chunks, pacer: Pacer, piece_us: int):
    """Hand the events on no earlier than their time (continuous ``--realtime``), in pieces of
    about ``piece_us`` so that each step is computed as soon as its events have come."""
    for chunk in chunks:
        if not len(chunk):
            continue
        pacer.start(int(chunk["t"][0]))
        t = chunk["t"]
        cuts = np.arange(int(t[0]) + piece_us, int(t[-1]) + 1, piece_us, dtype=np.int64)
        bounds = [0, *np.searchsorted(t, cuts, side="left").tolist(), len(chunk)] \
            if bool(np.all(t[1:] >= t[:-1])) else [0, len(chunk)]
        for a, b in zip(bounds, bounds[1:]):
            if b > a:
                pacer.wait(int(chunk["t"][a:b].max()))
                yield chunk[a:b]


def _output_spikes(result: RunResult, k: int) -> int | None:
    names = spiking_outputs(result.network)
    if names is None:
        return None
    return int(sum(np.abs(result.spike_counts[n][k]).sum() for n in names))


# ---------------------------------------------------------------------------------------------
# timeline: summary, text, plot


@dataclass
class Timeline:
    """Everything shown about a stream run, collected record by record (small: one row per record)."""

    mode: str  # "windows" | "continuous"
    classes: int
    t0: int | None = None
    times: list[float] = field(default_factory=list)  # seconds from t0 (window / step end)
    starts: list[float] = field(default_factory=list)
    predictions: list[int | None] = field(default_factory=list)
    outputs: list[list[float] | None] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    sops: int = 0
    decisions: list[int] = field(default_factory=list)  # per window
    first_spikes: list[int] = field(default_factory=list)  # per window (or the stream's first)
    errors: int = 0
    empty: int = 0

    @property
    def origin(self) -> int:
        """``t0``: the first record's start (µs)."""
        if self.t0 is None:  # a caller's mistake: the timeline line of a record comes after add()
            raise RuntimeError("Timeline.origin before the first record was added")
        return self.t0

    def add(self, rec: dict) -> None:
        if self.t0 is None:
            self.t0 = rec["t_start"]
        self.starts.append((rec["t_start"] - self.t0) * 1e-6)
        self.times.append((rec["t_end"] - self.t0) * 1e-6)
        self.predictions.append(rec["prediction"])
        self.outputs.append(rec["output"])
        self.events.append(rec["events"])
        self.sops += rec["sops"]
        self.empty += rec["events"] == 0
        if rec.get("error"):
            self.errors += 1
        if rec.get("decision_step") is not None:
            self.decisions.append(rec["decision_step"])
        if rec.get("first_output_spike") is not None:
            self.first_spikes.append(rec["first_output_spike"])
        if rec.get("output_spikes") and not self.first_spikes:
            self.first_spikes.append(rec["step"])

    def stream_decision(self) -> int | None:
        """Continuous mode: the first step after which the running prediction no longer changes."""
        preds = [p for p in self.predictions if p is not None]
        if not preds:
            return None
        onehot = np.zeros((len(preds), max(preds) + 1))
        onehot[np.arange(len(preds)), preds] = 1
        return decision_step(onehot)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def timeline_header(mode: str) -> str:
    first = "window" if mode == "windows" else "step"
    return f"{first:>6}  {'start s':>9}  {'end s':>9}  {'events':>9}  {'pred':>4}  top outputs"


def timeline_line(rec: dict, t0: int, top_k: int = 3) -> str:
    """One line of the text timeline."""
    index = rec.get("window", rec.get("step"))
    start, end = (rec["t_start"] - t0) * 1e-6, (rec["t_end"] - t0) * 1e-6
    pred = "-" if rec["prediction"] is None else str(rec["prediction"])
    if rec["output"] is None:
        tops = rec.get("error", "")
    else:
        out = np.asarray(rec["output"])
        order = np.argsort(-out, kind="stable")[:top_k]
        tops = "  ".join(f"{int(i)}: {out[i]:.3g}" for i in order)
    return f"{index:>6}  {_seconds(start):>9}  {_seconds(end):>9}  {rec['events']:>9,}  {pred:>4}  {tops}"


def _changes(preds: list) -> int:
    known = [p for p in preds if p is not None]
    return sum(a != b for a, b in zip(known, known[1:]))


def summary_dict(tl: Timeline, stats: StreamStats, pacer: Pacer | None = None) -> dict:
    """The numbers of the summary (also what the CLI prints)."""
    counts = Counter(p for p in tl.predictions if p is not None)
    doc = {"mode": tl.mode, "records": len(tl.predictions), "events": stats.events, "late_events": stats.late,
           "duration_s": 0.0 if stats.t_first is None or stats.t_last is None
           else (stats.t_last - stats.t_first) * 1e-6,
           "predictions": {int(k): v for k, v in sorted(counts.items())},
           "prediction_changes": _changes(tl.predictions), "sops": tl.sops, "empty": tl.empty,
           "refused": tl.errors}
    if tl.mode == "windows":
        d = np.asarray(tl.decisions) if tl.decisions else None
        doc["decision_step"] = None if d is None else {
            "min": int(d.min()), "median": float(np.median(d)), "max": int(d.max())}
        doc["first_output_spike"] = None if not tl.first_spikes else {
            "min": int(min(tl.first_spikes)), "median": float(np.median(tl.first_spikes)),
            "max": int(max(tl.first_spikes))}
    else:
        doc["decision_step"] = tl.stream_decision()
        doc["first_output_spike"] = tl.first_spikes[0] if tl.first_spikes else None
    if pacer is not None and pacer.enabled:
        doc["realtime"] = pacer.summary()
    return doc


def summary_text(doc: dict, name: str, what: str) -> str:
    """The human summary printed after the timeline."""
    lines = [f"{what} of {name}: {doc['records']:,} {'windows' if doc['mode'] == 'windows' else 'steps'}, "
             f"{doc['events']:,} events over {doc['duration_s']:.3f} s"]
    preds = ", ".join(f"{k} x {v:,}" for k, v in sorted(doc["predictions"].items(), key=lambda kv: -kv[1]))
    lines.append(f"predictions: {preds or 'none'} ({doc['prediction_changes']:,} changes)")
    lines.append(f"total SOPs: {doc['sops']:,}")
    d = doc["decision_step"]
    if doc["mode"] == "windows":
        lines.append("decision step (first step after which a window's prediction no longer changes): " + (
            "-" if d is None else f"min {d['min']}, median {d['median']:g}, max {d['max']}"))
        f = doc["first_output_spike"]
        if f is not None:
            lines.append(f"first output spike: step min {f['min']}, median {f['median']:g}, max {f['max']}")
    else:
        lines.append("decision step (after which the running prediction no longer changes): "
                     + ("-" if d is None else f"{d:,}"))
        if doc["first_output_spike"] is not None:
            lines.append(f"first output spike: step {doc['first_output_spike']:,}")
    if doc["late_events"]:
        lines.append(f"late events (time inside an already closed window, dropped): {doc['late_events']:,}")
    rt = doc.get("realtime")
    if rt is not None:
        factor = "-" if rt["realtime_factor"] is None else f"{rt['realtime_factor']:.3g}"
        lines.append(f"real time: factor {factor} (compute time / stream time), lag max "
                     f"{rt['lag_max_ms']:.1f} ms, mean {rt['lag_mean_ms']:.1f} ms, dropped "
                     f"{rt['dropped_windows']:,} windows ({rt['dropped_events']:,} events)")
    return "\n".join(lines)


def stream_warnings(tl: Timeline, stats: StreamStats, trained_t: int, timesteps: set[int],
                    cropped: bool) -> list[str]:
    """The one-line warnings of a stream run (see :func:`run_warnings`)."""
    out = []
    other = sorted(t for t in timesteps if t != trained_t)
    if other:
        out.append(f"the windows ran {', '.join(map(str, other))} time steps; the model was trained with "
                   f"T={trained_t} (outputs scale with the number of steps)")
    delivered = sum(tl.events)  # windows may overlap: an event counts once per window holding it
    if cropped and delivered and stats.outside_map * 2 > delivered:
        out.append(f"--crop/--downscale dropped {stats.outside_map:,} of {delivered:,} events "
                   f"({100 * stats.outside_map / delivered:.0f}%)")
    if stats.events == 0:
        out.append("the input had no events")
    elif tl.empty:
        unit = "windows" if tl.mode == "windows" else "steps"
        out.append(f"{tl.empty:,} of {len(tl.predictions):,} {unit} had no events (their prediction is "
                   "that of an empty input)")
    if tl.errors:
        out.append(f"{tl.errors:,} windows gave no time step and were not run (--bin-us longer than their "
                   "events span; give --timesteps)")
    return out


def run_warnings(result: RunResult, cropped: bool) -> list[str]:
    """One-line warnings of a single run: T differs from the trained T, crop/downscale or the kept
    time steps dropped more than half of the events, no events at all."""
    out = []
    trained = result.network.timesteps
    if result.timesteps != trained and result.network.input.kind == "events":
        out.append(f"{result.timesteps} time steps; the model was trained with T={trained} (outputs "
                   "scale with the number of steps)")
    info = result.input_info
    events = int(info.get("events", 0))
    outside = int(info.get("outside_map_events", 0))
    if cropped and events and outside * 2 > events:
        out.append(f"--crop/--downscale dropped {outside:,} of {events:,} events "
                   f"({100 * outside / events:.0f}%)")
    late = int(info.get("dropped_events", 0)) - outside  # outside the kept time steps
    if events and late * 2 > events:
        out.append(f"the {result.timesteps} time steps kept {events - late - outside:,} of {events:,} "
                   f"events; {late:,} fall outside them (--timesteps with --bin-us keeps only the "
                   "first windows; a dropped last partial window needs --keep-partial)")
    if "events" in info and events == 0:
        out.append("the input had no events: the prediction is that of an empty input")
    return out


def save_timeline_plot(tl: Timeline, path: str | os.PathLike, title: str = "", dpi: int = 150) -> None:
    """Prediction, outputs and event rate over time, one x axis (seconds from the first event)."""
    fmt = check_plot_path(path)
    figure = _matplotlib()
    if not tl.times:
        raise ConfigError(f"{path}: nothing to plot (the stream gave no window or step)")
    fig = figure(figsize=(9, 6.5), layout="constrained")
    ax_p, ax_o, ax_r = fig.subplots(3, 1, sharex=True, height_ratios=[1, 2, 1])
    mid = [(a + b) / 2 for a, b in zip(tl.starts, tl.times)]
    known = [(t, p) for t, p in zip(mid, tl.predictions) if p is not None]
    if known:
        ax_p.step([t for t, _ in known], [p for _, p in known], where="mid", color="#0072B2")
        ax_p.plot([t for t, _ in known], [p for _, p in known], ".", color="#0072B2", markersize=3)
    ax_p.set_ylabel("prediction")
    ax_p.set_yticks(range(tl.classes) if tl.classes <= 12 else ax_p.get_yticks())
    rows = [(t, o) for t, o in zip(mid, tl.outputs) if o is not None]
    if rows:
        outs = np.asarray([o for _, o in rows])
        for c in range(outs.shape[1]):
            ax_o.plot([t for t, _ in rows], outs[:, c], linewidth=1, label=str(c))
        if outs.shape[1] <= 12:
            ax_o.legend(ncols=min(outs.shape[1], 6), fontsize="small", title="class")
    ax_o.set_ylabel("output" if tl.mode == "windows" else "output (last T steps)")
    widths = [b - a for a, b in zip(tl.starts, tl.times)]
    rates = [n / w if w > 0 else 0 for n, w in zip(tl.events, widths)]
    ax_r.fill_between(mid, rates, step="mid", color="#999999")
    ax_r.set_ylabel("events / s")
    ax_r.set_xlabel("time from the first event (s)")
    if title:
        fig.suptitle(title)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
