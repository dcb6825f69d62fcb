"""Comparing decoded events with a GROUND_TRUTH.json entry of ../shared/data (third-party readers)."""

from __future__ import annotations

import numpy as np

from eventsim.events.dtype import EVENT_DTYPE


def check_ground_truth(ev: np.ndarray, gt: dict) -> None:
    assert ev.dtype == EVENT_DTYPE
    assert len(ev) == gt["n"]
    assert int((ev["p"] == 1).sum()) == gt["p1"]
    assert int((ev["p"] == 0).sum()) == gt["p0"]
    assert (int(ev["x"].min()), int(ev["x"].max())) == (gt["x_min"], gt["x_max"])
    assert (int(ev["y"].min()), int(ev["y"].max())) == (gt["y_min"], gt["y_max"])
    assert int(ev["x"].sum(dtype=np.int64)) == gt["sum_x"]
    assert int(ev["y"].sum(dtype=np.int64)) == gt["sum_y"]
    assert (int(ev["t"][0]), int(ev["t"][-1])) == (gt["t_first"], gt["t_last"])
    assert bool(np.all(np.diff(ev["t"]) >= 0)) == gt["monotonic"]
    assert [list(map(int, e)) for e in ev[:3]] == gt["first3"]
    assert list(map(int, ev[-1])) == gt["last"]
