"""Executing an evaluation: in this process, in worker processes, or on a Dask cluster.

Every mode runs the same function, :func:`evaluate_one`, on one sample at a time; it keeps
one :class:`~eventsim.engine.simulator.Simulator` per thread and job (the model is loaded and
its plan compiled once per worker, and Numba's on-disk cache means the kernels compile once per
machine). Records come back in completion order; callers sort by ``index``. Because every
record holds exact integer counts and the float64 readout of a run that depends only on the
sample (a Simulator resets its state at every run), records are identical whatever the mode,
the number of workers or their completion order.

Worker processes use the ``forkserver`` start method where it exists, else ``spawn`` (never
``fork``: the parent may hold threads, e.g. a progress bar or a Dask client). Dask workers must
be able to read the model and the sample files at the same paths (a shared file system).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from ..energy.tables import get_table
from ..engine.simulator import Simulator
from ..errors import ConfigError
from ..network.loading import load_network
from .dataset import Sample
from .sample import InputOptions, evaluate_sample


@dataclass(frozen=True)
class EvalJob:
    """What every worker needs to evaluate a sample (small and picklable)."""

    model: str  # path of the model file, readable by every worker
    precision: str = "float32"  # "float32" | "float64" | "int"
    options: InputOptions = InputOptions()  # binning of event files
    energy_table: str | None = None  # built-in table name or table file (None: the default)
    threads: int | None = None  # engine threads per worker (None: all cores; see jit.threads_per_worker)


_local = threading.local()  # per thread: {EvalJob: (Simulator, CostTable)}


def _prepared(job: EvalJob):
    cache = getattr(_local, "jobs", None)
    if cache is None:
        cache = _local.jobs = {}
    if job not in cache:
        cache.clear()  # one model per worker thread at a time
        sim = Simulator(load_network(job.model), precision=job.precision, threads=job.threads)
        _warm_up(sim)
        cache[job] = (sim, get_table(job.energy_table))
    return cache[job]


def _warm_up(sim: Simulator) -> None:
    """One empty step, so that loading the compiled kernels is not timed as the first sample's."""
    net = sim.network
    shape = (1,) + tuple(net.input_shape)
    if net.input.kind == "frames":
        sim.run_frames(np.zeros(shape))
    else:
        sim.run_counts(np.zeros(shape, np.int64))


def evaluate_one(job: EvalJob, sample: Sample) -> dict:
    """The record of one sample (see :func:`~.sample.evaluate_sample`), in any process."""
    sim, table = _prepared(job)
    return evaluate_sample(sim, sample, job.options, table)


def evaluate_all(job: EvalJob, samples: Iterable[Sample], workers: int = 1,
                 scheduler: str | None = None) -> Iterator[dict]:
    """Records of ``samples`` in completion order: locally (``workers`` = 1), in ``workers``
    processes, or on the Dask cluster whose scheduler is at ``scheduler``."""
    samples = list(samples)
    if scheduler is not None:
        return _dask(job, samples, scheduler)
    if workers <= 1 or len(samples) <= 1:
        return (evaluate_one(job, s) for s in samples)
    return _processes(job, samples, workers)


def _context():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    # No forkserver preload: the fork server runs with the current directory first on sys.path,
    # so it could import another ``eventsim`` folder than the parent's; the workers set the
    # parent's sys.path before they import anything.
    return multiprocessing.get_context("forkserver")


def _processes(job: EvalJob, samples: list[Sample], workers: int) -> Iterator[dict]:
    # A bounded window of tasks in flight: memory stays flat on 10,000-sample sets and an
    # interrupt does not leave thousands of queued tasks to cancel.
    window = 4 * workers
    todo = iter(samples)
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        pending = set()
        try:
            for s in todo:
                pending.add(pool.submit(evaluate_one, job, s))
                if len(pending) >= window:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending.add(pool.submit(evaluate_one, job, nxt))
        finally:
            for fut in pending:
                fut.cancel()


def dask_client(scheduler: str, timeout: float = 30.0):
    """A dask.distributed Client connected to ``scheduler`` (ConfigError when dask is missing)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs dask.distributed: pip install 'eventsim[dask]'") from None
    try:
        return Client(scheduler, timeout=timeout)
    except OSError as exc:
        raise ConfigError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None


def _dask(job: EvalJob, samples: list[Sample], scheduler: str) -> Iterator[dict]:
    client = dask_client(scheduler)  # first: a clear error when dask is missing
    from dask.distributed import as_completed

    try:
        # pure=False: a sample is evaluated once per submission, never served from another key
        futures = client.map(evaluate_one, [job] * len(samples), samples, pure=False)
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            client.cancel(futures)
    finally:
        client.close()

