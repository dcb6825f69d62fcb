"""The one place that sets Numba options and thread counts (engine kernels and event decoders).

Policy:

- ``cache=True``: compiled code is stored beside the module, so only the first call on a machine
  compiles (a second CLI call loads the cache).
- No ``fastmath``: results must not depend on the build (float sums are never reassociated, so a
  float32 run gives the same bits on every machine and with every thread count).
- ``nogil=True``: a kernel releases the GIL, so a thread pool of Python callers runs in parallel.
- Bounds checking is not set here: ``NUMBA_BOUNDSCHECK=1`` in the environment turns it on for every
  kernel (CI runs the engine and decoder tests so); a kernel never sets its own options (a test
  checks it).
- Parallel kernels (``parallel_kernel``) use Numba's threading layer with ``prange``; they only
  dispatch independent work (steps, neuron blocks) to the serial kernels, each work item writing
  its own slice, so results never depend on the thread count.

This module imports nothing from eventsim: it sits below every layer (like ``errors`` and
``files``), so the event decoders and the engine compile with the same options.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numba

#: options of every serial kernel
JIT_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True}
#: options of the parallel dispatch kernels (the same plus Numba's parallel transform)
PARALLEL_OPTIONS: dict[str, Any] = {**JIT_OPTIONS, "parallel": True}


def kernel(fn):
    """Compile ``fn`` as a serial kernel with the project's Numba options."""
    return numba.njit(**JIT_OPTIONS)(fn)


def inline_kernel(fn):
    """:func:`kernel` inlined into its callers at the Numba IR level (small per-element helpers of
    the decoders' inner loops)."""
    return numba.njit(**JIT_OPTIONS, inline="always")(fn)


def parallel_kernel(fn):
    """Compile ``fn`` as a parallel dispatch kernel (``numba.prange`` loops run on threads)."""
    return numba.njit(**PARALLEL_OPTIONS)(fn)


def max_threads() -> int:
    """Threads Numba can use: ``NUMBA_NUM_THREADS`` when set, else the cores of this machine."""
    # set from the environment at import: not in numba's stubs
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def resolve_threads(threads: int | None) -> int:
    """``threads`` checked against :func:`max_threads` (``None``: all of them)."""
    limit = max_threads()
    if threads is None:
        return limit
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if threads > limit:
        where = "NUMBA_NUM_THREADS" if "NUMBA_NUM_THREADS" in os.environ else "the cores of this machine"
        raise ValueError(f"{threads} threads asked, at most {limit} available ({where})")
    return threads


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Threads each of ``workers`` processes on this machine may use so that together they do not
    oversubscribe it: ``max(1, max_threads() // workers)``, or ``threads`` when given (refused when
    ``workers · threads`` exceeds :func:`max_threads`)."""
    workers = max(1, int(workers))
    if threads is None:
        return max(1, max_threads() // workers)
    threads = resolve_threads(threads)
    if workers * threads > max_threads():
        raise ValueError(f"{workers} workers x {threads} threads would oversubscribe the {max_threads()} "
                         "threads available; lower --threads or --workers")
    return threads


@contextlib.contextmanager
def using_threads(threads: int):
    """Run the parallel kernels of the calling thread on ``threads`` threads, then restore."""
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    # dynamic scheduling, one item at a time: steps and neuron blocks differ in work (early steps
    # carry fewer spikes), so a static split would leave a thread idle
    chunk = numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(chunk)
        numba.set_num_threads(before)
