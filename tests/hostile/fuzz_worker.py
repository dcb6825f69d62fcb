"""Child process of the reader fuzz test: read many mutated files under hard limits.

``python -m tests.hostile.fuzz_worker CASES.json MEMORY_MB SECONDS`` reads every file listed in
CASES.json (``[[path, kind], ...]``, kind ``events`` or ``frames``) the ways a user does
(``events info``: read_info then a streaming scan; ``run``: read_events; frames: read_frames and
the emulator's read_images), under an address-space cap and a per-case alarm. It prints one JSON
line per case: ``{"i": index, "ok": true, "read": n}`` (n values read, None after an
EventsimError) or ``{"i": ..., "ok": false, "why": ...}`` for
anything but events or an EventsimError: another exception (a traceback), a MemoryError, a
timeout, a numpy RuntimeWarning, or peak memory growing by more than the allowed margin. A
crash or a hang inside compiled code ends the process; the parent then names the last case
started.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import traceback
import warnings

#: peak RSS may grow by this much over the largest seen after the first cases (files are small)
RSS_MARGIN_MB = 256


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _read(path: str, kind: str) -> int:
    """Read ``path`` as the CLI would; the number of events (or frame values) read."""
    from eventsim.events.emulator import read_images
    from eventsim.events.frames import read_frames
    from eventsim.events.io import read_events, read_info, scan_events

    if kind == "frames":
        read_images(path)
        return int(read_frames(path).size)
    info = read_info(path)
    stats = scan_events(path, fmt=info.format, chunk=4096)
    events, _ = read_events(path)
    if stats.events != events.size:
        raise AssertionError(f"events info counts {stats.events}, read_events {events.size}")
    return int(events.size)


def main() -> None:
    cases_file, memory_mb, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    cap = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from eventsim.errors import EventsimError

    warnings.simplefilter("ignore")  # readers warn about skipped events: expected
    warnings.simplefilter("error", RuntimeWarning)  # numpy overflow / invalid value: a bug
    signal.signal(signal.SIGALRM, _alarm)
    with open(cases_file) as f:
        cases = json.load(f)
    baseline = None
    for i, (path, kind) in enumerate(cases):
        print(json.dumps({"start": i}), flush=True)
        why, n = None, None
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            n = _read(path, kind)
        except EventsimError:
            pass
        except CaseTimeout:
            why = f"no answer within {seconds} s"
        except MemoryError:
            why = "MemoryError (memory cap reached)"
        except Exception as exc:  # noqa: BLE001 - every other exception is the finding
            why = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            why += "\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        peak = _peak_mb()
        if i == 9:
            baseline = peak  # after warm-up: imports, kernels, first buffers
        if why is None and baseline is not None and peak > baseline + RSS_MARGIN_MB:
            why = f"peak memory grew to {peak:.0f} MB (baseline {baseline:.0f} MB)"
            baseline = peak  # report each blow-up once
        print(json.dumps({"i": i, "ok": why is None, "why": why, "read": n}), flush=True)


if __name__ == "__main__":
    main()
