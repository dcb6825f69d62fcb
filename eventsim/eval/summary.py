"""Statistics of an evaluation: accuracy, per-class accuracy, confusion matrix, count statistics.

Everything here is computed from the per-sample records (sorted by index first), so the summary
of a run is the same whatever order the workers finished in. Statistics (``mean``, ``std``
(population, ddof = 0), the 5th / 50th / 95th percentiles with NumPy's default linear
interpolation, ``min``, ``max``) are over the samples that ran; failed samples are counted and
listed, and count neither as right nor as wrong in the accuracy.

Latency (``latency``): the distribution of the records' ``decision_step`` and, for spike-count
outputs, ``first_output_spike``: statistics (mean, std, median, p90, p95, min, max) and a
histogram with one count per step (``histogram["all"][k]``: samples whose value is k), over all
samples that ran and over the correct ones. Records without the fields (a results file written
before they existed, continued with ``--resume``) are left out and counted in ``without``.
"""

from __future__ import annotations

import numpy as np

SCHEMA = "eventsim.eval/1"
PERCENTILES = (5, 50, 95)


def stats(values) -> dict | None:
    """mean, std, p5, p50, p95, min, max of ``values`` (None when empty)."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return None
    p = np.percentile(a, PERCENTILES)
    return {"mean": float(a.mean()), "std": float(a.std()),
            **{f"p{q}": float(v) for q, v in zip(PERCENTILES, p)},
            "min": float(a.min()), "max": float(a.max())}


def latency_stats(values) -> dict | None:
    """mean, std, median, p90, p95, min, max of step indices (None when empty)."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return None
    p50, p90, p95 = np.percentile(a, (50, 90, 95))
    return {"mean": float(a.mean()), "std": float(a.std()), "median": float(p50), "p90": float(p90),
            "p95": float(p95), "min": float(a.min()), "max": float(a.max())}


def _histogram(values: list[int], steps: int) -> list[int]:
    return np.bincount(np.asarray(values, np.int64), minlength=steps).tolist()


def _distribution(ok: list[dict], key: str, steps: int) -> dict | None:
    """Statistics and per-step histogram of ``key`` over the records that carry it (a None value:
    the event never happened, counted in ``never``); None when no record carries it."""
    have = [r for r in ok if key in r]
    if not have:
        return None
    known = [r for r in have if r[key] is not None]
    right = [r for r in known if r.get("correct")]
    values, right_values = [int(r[key]) for r in known], [int(r[key]) for r in right]
    return {"samples": len(known), "never": len(have) - len(known), "without": len(ok) - len(have),
            "stats": latency_stats(values), "correct": latency_stats(right_values),
            "histogram": {"all": _histogram(values, steps), "correct": _histogram(right_values, steps)}}


def latency_summary(ok: list[dict]) -> dict:
    """``steps`` (the longest run's steps: the histograms' length), ``decision_step`` and
    ``first_output_spike`` (see the module docstring; None when no record has them)."""
    steps = max([int(r.get("timesteps", 0)) for r in ok]
                + [int(r[k]) + 1 for r in ok for k in ("decision_step", "first_output_spike")
                   if r.get(k) is not None] + [0])
    return {"steps": steps, "decision_step": _distribution(ok, "decision_step", steps),
            "first_output_spike": _distribution(ok, "first_output_spike", steps)}


def throughput(samples: int, seconds: float, mode: str, workers: int | None, threads: int | None) -> dict:
    """Samples evaluated by this run (not those a --resume found done), the wall time it took
    (worker start and model loading included, as a user waits for them), and where it ran
    (``mode``: "processes", "in-process" or "dask"; ``threads``: engine threads per worker)."""
    return {"samples": samples, "seconds": seconds, "mode": mode, "workers": workers, "threads": threads,
            "samples_per_second": samples / seconds if samples and seconds > 0 else None}


def _neurobench_stats(ok: list[dict]) -> dict | None:
    """Per-sample statistics of NeuroBench's workload metrics (None: records without them)."""
    recs = [r["neurobench"] for r in ok if r.get("neurobench")]
    if not recs or len(recs) != len(ok):
        return None
    return {key: None if any(r[key] is None for r in recs) else stats(r[key] for r in recs)
            for key in recs[0]}


def sorted_records(records) -> list[dict]:
    return sorted(records, key=lambda r: r["index"])


def summarize(records, classes: list[str], n_outputs: int | None = None, slowest: int = 5) -> dict:
    """The summary document of ``records`` (sample records, any order) over ``classes``.

    The confusion matrix is ``K x K`` with ``K = max(len(classes), n_outputs)`` (a model may
    predict a class the dataset does not hold); rows are true labels, columns predictions.
    """
    recs = sorted_records(records)
    ok = [r for r in recs if "error" not in r]
    failed = [r for r in recs if "error" in r]
    k = max([len(classes), n_outputs or 0] + [r["prediction"] + 1 for r in ok]
            + [r["label"] + 1 for r in recs])
    names = list(classes) + [str(i) for i in range(len(classes), k)]
    confusion = np.zeros((k, k), np.int64)
    for r in ok:
        confusion[r["label"], r["prediction"]] += 1
    correct = int(np.trace(confusion))
    per_class = []
    for c in range(k):
        n = int(confusion[c].sum())
        errs = sum(1 for r in failed if r["label"] == c)
        if n or errs:
            per_class.append({"label": c, "name": names[c], "samples": n, "correct": int(confusion[c, c]),
                              "accuracy": int(confusion[c, c]) / n if n else None, "errors": errs})
    layer_names = [lay["name"] for lay in ok[0]["layers"]] if ok else []
    layers = []
    for i, name in enumerate(layer_names):
        layers.append({"name": name,
                       "spikes": stats(r["layers"][i]["spikes_pos"] + r["layers"][i]["spikes_neg"]
                                       for r in ok),
                       "sops": stats(r["layers"][i]["sops"] for r in ok)})
    slow = sorted(ok, key=lambda r: (-r["seconds"], r["index"]))[:slowest]
    return {
        "schema": SCHEMA,
        "samples": len(recs), "evaluated": len(ok), "errors": len(failed), "correct": correct,
        "accuracy": correct / len(ok) if ok else None,
        "classes": per_class,
        "confusion": {"labels": names, "matrix": confusion.tolist()},
        "per_sample": {"events": stats(r["events"] for r in ok), "spikes": stats(r["spikes"] for r in ok),
                       "sops": stats(r["sops"] for r in ok), "macs": stats(r["macs"] for r in ok),
                       "energy_pJ": stats(r["energy_pJ"] for r in ok),
                       "seconds": stats(r["seconds"] for r in ok)},
        "latency": latency_summary(ok),
        "neurobench": _neurobench_stats(ok),
        "multiplications": sum(r["multiplications"] for r in ok),
        "saturations": sum(r.get("saturations", 0) for r in ok),
        "layers": layers,
        "slowest": [{"index": r["index"], "path": r["path"], "seconds": r["seconds"],
                     "events": r["events"]} for r in slow],
        "failed": [{"index": r["index"], "path": r["path"], "error": r["error"]} for r in failed],
    }
