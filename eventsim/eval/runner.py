"""Executing an evaluation: in this process, in worker processes, or on a Dask cluster.

Every mode runs the same function, :func:`evaluate_one`, on one sample at a time; it keeps
one :class:`~eventsim.engine.simulator.Simulator` per thread and job (the model is loaded and
its plan compiled once per worker, and Numba's on-disk cache means the kernels compile once per
machine). Records come back in completion order; callers sort by ``index``. Because every
record holds exact integer counts and the float64 readout of a run that depends only on the
sample (a Simulator resets its state at every run), records are identical whatever the mode,
the number of workers or their completion order.

Worker processes use the ``forkserver`` start method where it exists, else ``spawn`` (never
``fork``: the parent may hold threads, e.g. a progress bar or a Dask client). Samples run in
worker processes by default, one worker included, so that a sample which kills its process
(a segfault in native code, an abort, the kernel's out-of-memory killer) is recorded as failed
(``worker died: signal 9 (SIGKILL)``) and the evaluation goes on with a new worker. Dask workers must
be able to read the model and the sample files at the same paths (a shared file system).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections import deque
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_ready

import numpy as np

from ..energy.tables import get_table
from ..engine.simulator import Simulator
from ..errors import ConfigError
from ..inputs import InputOptions
from ..network.loading import load_network
from .dataset import Sample
from .sample import evaluate_sample


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
                 scheduler: str | None = None, isolate: bool = True) -> Generator[dict, None, None]:
    """Records of ``samples`` in completion order: in ``workers`` child processes (``isolate``,
    the default, also for one worker), in this process (``isolate=False``, one worker), or on the
    Dask cluster whose scheduler is at ``scheduler``. A generator: ``close()`` (or
    ``contextlib.closing``) stops the workers at once, also when the caller stops early."""
    samples = list(samples)
    if scheduler is not None:
        return _dask(job, samples, scheduler)
    if not samples:
        none: tuple[dict, ...] = ()
        return (r for r in none)  # a generator as in every other case: callers close() it
    if not isolate and workers <= 1:
        return _in_process(job, samples)
    return _supervised(job, samples, max(1, min(workers, len(samples))))


def _in_process(job: EvalJob, samples: list[Sample]) -> Generator[dict, None, None]:
    """The samples through this process's simulator as one batch; ``evaluate_sample`` records a
    sample's error in its record, so a bad file does not end the batch."""
    sim, table = _prepared(job)
    yield from sim.iter_batch(samples, each=lambda s, sample: evaluate_sample(s, sample, job.options, table))


def _context():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    # No forkserver preload: the fork server runs with the current directory first on sys.path,
    # so it could import another ``eventsim`` folder than the parent's; the workers set the
    # parent's sys.path before they import anything.
    return multiprocessing.get_context("forkserver")


def _worker_main(conn, path: list[str]) -> None:
    """A worker process: evaluate the samples the parent sends until it sends ``None``."""
    sys.path[:] = path
    # Ctrl-C reaches the whole process group: the parent decides, the worker just stops with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        job, sample = task
        try:
            rec = evaluate_one(job, sample)
        except BaseException as exc:  # noqa: BLE001 - the parent records it; the worker lives on
            rec = {"index": sample.index, "path": sample.name, "label": sample.label,
                   "error": f"{type(exc).__name__}: {exc}"}
        conn.send(rec)


def death_reason(exitcode: int | None) -> str:
    """``worker died: signal 11 (SIGSEGV)`` / ``worker died: exit code 3``."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown"
        return f"worker died: signal {-exitcode} ({name})"
    return f"worker died: exit code {exitcode}"


#: samples sent ahead to each worker, so it never waits for the parent between two samples
_DEPTH = 2


class _Worker:
    """One child process and the samples sent to it, oldest (the one it is working on) first."""

    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, list(sys.path)), daemon=True)
        self.proc.start()
        child.close()
        self.queue: deque[Sample] = deque()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _supervised(job: EvalJob, samples: list[Sample], workers: int) -> Generator[dict, None, None]:
    """Evaluate in ``workers`` child processes; a worker that dies (segfault, abort, OOM kill)
    costs only its sample: that sample's record says why, a new worker takes its place.

    Not a ProcessPoolExecutor: there one dead worker breaks the whole pool and every sample in
    flight is lost. A worker here evaluates its queue in order, so when it dies the oldest
    sample it was sent is the one that killed it; the others are sent again to its successor.
    The loop waits on both the result pipes and the process sentinels.
    """
    ctx = _context()
    todo: deque[Sample] = deque(samples)
    pool = [_Worker(ctx) for _ in range(workers)]
    try:
        for w in pool:
            _fill(w, job, todo)
        while any(w.queue for w in pool):
            busy = [w for w in pool if w.queue]
            ready = wait_ready([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for k, w in enumerate(pool):
                if not w.queue or (w.conn not in ready and w.proc.sentinel not in ready):
                    continue
                rec = _receive(w)
                sample = w.queue.popleft()
                if rec is None:  # the process died with the sample: record it, replace the worker
                    w.proc.join()
                    rec = {"index": sample.index, "path": sample.name, "label": sample.label,
                           "error": death_reason(w.proc.exitcode)}
                    w.conn.close()
                    todo.extendleft(reversed(w.queue))
                    w = pool[k] = _Worker(ctx)
                yield rec
                _fill(w, job, todo)
    finally:
        for w in pool:
            w.stop()


def _fill(w: _Worker, job: EvalJob, todo: deque[Sample]) -> None:
    while todo and len(w.queue) < _DEPTH:
        sample = todo.popleft()
        w.queue.append(sample)
        w.conn.send((job, sample))


def _receive(w: _Worker) -> dict | None:
    """The worker's record, or None when the worker is gone without sending one."""
    try:
        if w.conn.poll():
            return w.conn.recv()
    except (EOFError, OSError):
        pass
    return None


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


def _dask(job: EvalJob, samples: list[Sample], scheduler: str) -> Generator[dict, None, None]:
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

